"""What the examples share: synthetic solar-like cutouts (no download), a small CNN, and a run printout."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.classification import MulticlassF1Score

IMAGE_SIZE = 32


def make_images(n: int, num_classes: int, seed: int, amplitude: float = 1.5) -> TensorDataset:
    """Noisy 1-channel images; class ``k`` carries ``k`` bright blobs (0 blobs = quiet / no flare)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, num_classes, (n,), generator=gen)
    images = 0.3 * torch.randn(n, 1, IMAGE_SIZE, IMAGE_SIZE, generator=gen)
    yy, xx = torch.meshgrid(torch.arange(IMAGE_SIZE), torch.arange(IMAGE_SIZE), indexing="ij")
    for i, label in enumerate(labels.tolist()):
        for _ in range(label):
            cy, cx = torch.randint(6, IMAGE_SIZE - 6, (2,), generator=gen).tolist()
            images[i, 0] += amplitude * torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0)
    # a few mislabelled cutouts, as in real catalogues: no model scores perfectly
    noisy = torch.rand(n, generator=gen) < 0.06
    labels[noisy] = torch.randint(0, num_classes, (int(noisy.sum()),), generator=gen)
    return TensorDataset(images, labels)


def loaders(
    num_classes: int, amplitude: float = 1.5, batch_size: int = 64
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train, validation and test loaders (512 / 128 / 256 images); a lower ``amplitude`` is a harder task."""
    train = DataLoader(make_images(512, num_classes, 0, amplitude), batch_size=batch_size, shuffle=True)
    val = DataLoader(make_images(128, num_classes, 1, amplitude), batch_size=batch_size)
    test = DataLoader(make_images(256, num_classes, 2, amplitude), batch_size=batch_size)
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


class FlareClassifier(pl.LightningModule):
    """The three-class flare model of the LightningCLI and Hydra examples: a SmallCNN, cross-entropy, macro F1."""

    def __init__(
        self,
        num_classes: int = 3,
        learning_rate: float = 3e-3,
        model_name: str = "smallcnn",
        loss_function: str = "cross_entropy",
        class_names: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = SmallCNN(num_classes)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.val_f1 = MulticlassF1Score(num_classes, average="macro")
        self.test_f1 = MulticlassF1Score(num_classes, average="macro")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("val_loss", self.loss_fn(logits, y))
        self.val_f1(logits, y)
        self.log("val_f1", self.val_f1)

    def test_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        x, y = batch
        logits = self(x)
        self.test_f1(logits, y)
        self.log("test_f1", self.test_f1)
        return {"logits": logits, "target": y}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)


def show_run(run_dir: str) -> None:
    """Print what the callback left behind: the files, the summary and the per-class report."""
    from pathlib import Path

    from arccnet_ckpt import load_run
    from arccnet_ckpt.runs.query import stop_reason

    run = load_run(run_dir)
    print(f"\nrun folder: {run.path}")
    for path in sorted(Path(run.path).iterdir()):
        print(f"  {path.name}")
    summary, report = run.summary, run.report
    assert summary is not None
    assert report is not None
    print(
        f"best epoch {summary.best_epoch} ({summary.monitor}={summary.best_metric_value:.3f}), "
        f"{summary.num_epochs_trained} epochs trained, stopped: {stop_reason(summary, run.config)}"
    )
    print(f"test metrics: {report.test_metrics}")
    if report.per_class is None:
        print(f"no per-class report: {report.per_class_note}")
        return
    print(f"{'class':>10} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>7}")
    for name, m in report.per_class.items():
        print(f"{name:>10} {m.precision:9.3f} {m.recall:7.3f} {m.f1:6.3f} {m.support:7d}")
    print(f"accuracy {report.accuracy:.3f}; confusion matrix (rows true, columns predicted): {report.confusion_matrix}")
