"""Synthetic solar-like cutouts shared by the examples: no download, a few seconds to make."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset

IMAGE_SIZE = 32


def make_images(n: int, num_classes: int, seed: int) -> TensorDataset:
    """Noisy 1-channel images; class ``k`` carries ``k`` bright blobs (0 blobs = quiet / no flare)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, num_classes, (n,), generator=gen)
    images = 0.3 * torch.randn(n, 1, IMAGE_SIZE, IMAGE_SIZE, generator=gen)
    yy, xx = torch.meshgrid(torch.arange(IMAGE_SIZE), torch.arange(IMAGE_SIZE), indexing="ij")
    for i, label in enumerate(labels.tolist()):
        for _ in range(label):
            cy, cx = torch.randint(6, IMAGE_SIZE - 6, (2,), generator=gen).tolist()
            images[i, 0] += 1.5 * torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0)
    return TensorDataset(images, labels)


def loaders(num_classes: int, batch_size: int = 64) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train, validation and test loaders (512 / 128 / 256 images)."""
    train = DataLoader(make_images(512, num_classes, 0), batch_size=batch_size, shuffle=True)
    val = DataLoader(make_images(128, num_classes, 1), batch_size=batch_size)
    test = DataLoader(make_images(256, num_classes, 2), batch_size=batch_size)
    return train, val, test


class SmallCNN(torch.nn.Sequential):
    """Two conv blocks and a linear head."""

    def __init__(self, num_outputs: int) -> None:
        super().__init__(
            torch.nn.Conv2d(1, 8, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 16, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveMaxPool2d(4),
            torch.nn.Flatten(),
            torch.nn.Linear(16 * 16, num_outputs),
        )
