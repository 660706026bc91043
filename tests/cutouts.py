"""A Hale-class cutout classifier shaped like the users' (``import pytorch_lightning as pl``,
``save_hyperparameters()``, ``(N, 1, H, W)`` cutouts, ``x, y = batch; logits = self(x)``), and its data.

Its ``test_step`` returns ``{"loss", "preds": argmax labels, "targets"}``, as the users' cutout module does, and logs
``test_loss``, ``test_accuracy`` and ``test_f1`` (macro, from the batch's labels).
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

HALE = ["alpha", "beta", "beta-gamma"]
SIDE = 20


def cutouts(n: int, seed: int, batch_size: int = 16) -> DataLoader:
    """``n`` learnable (not perfectly) cutouts of the three Hale classes."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, len(HALE), (n,), generator=gen)
    x = torch.randn(n, 1, SIDE, SIDE, generator=gen)
    x[:, :, :4, :4] += y.view(-1, 1, 1, 1).float()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


class HaleCutoutModel(pl.LightningModule):
    def __init__(self, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.head = nn.Linear(16, len(HALE))
        self.loss_fn = nn.CrossEntropyLoss()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", self.loss_fn(self(x), y))

    def test_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        x, y = batch
        logits = self(x)
        loss = self.loss_fn(logits, y)
        preds = logits.argmax(dim=1)
        self.log("test_loss", loss)
        self.log("test_accuracy", (preds == y).float().mean())
        return {"loss": loss, "preds": preds, "targets": y}  # labels only, as theirs

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
