"""Flare / no-flare classifier with weighted BCE, F1, EarlyStopping and a test run.

The only line that concerns the record is the ``ArcCheckpointCallback`` in the Trainer's callbacks: the run folder,
its checkpoint, its JSON files and its HTML report are written without any other code.

    python examples/train_binary.py [--data-folder ./data] [--max-epochs 8]
"""

from __future__ import annotations

import argparse
from typing import Any

import lightning.pytorch as pl
import torch
from _shared import SmallCNN, loaders, show_run
from lightning.pytorch.callbacks import EarlyStopping
from torchmetrics.classification import BinaryAccuracy, BinaryF1Score

from arccnet_ckpt import ArcCheckpointCallback


class FlareModule(pl.LightningModule):
    def __init__(self, learning_rate: float = 3e-3, pos_weight: float = 1.2, model_name: str = "smallcnn") -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = SmallCNN(1)
        self.loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))
        self.val_f1 = BinaryF1Score()
        self.test_f1 = BinaryF1Score()
        self.test_acc = BinaryAccuracy()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self(x), y.float())
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("val_loss", self.loss_fn(logits, y.float()))
        self.val_f1(logits.sigmoid(), y)
        self.log("val_f1", self.val_f1)

    def test_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        x, y = batch
        logits = self(x)
        self.log("test_loss", self.loss_fn(logits, y.float()))
        self.test_f1(logits.sigmoid(), y)
        self.test_acc(logits.sigmoid(), y)
        self.log("test_f1", self.test_f1)
        self.log("test_accuracy", self.test_acc)
        return {"probs": logits.sigmoid(), "target": y}  # the per-class report comes from these

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-folder", default=None, help="default: $ARCCNET_DATA_FOLDER or ./data")
    parser.add_argument("--max-epochs", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    config = parser.parse_args()
    config.MODEL_NAME, config.LOSS_FUNCTION = "smallcnn", "weighted_bce"

    pl.seed_everything(42)
    train, val, test = loaders(num_classes=2, amplitude=1.0)
    model = FlareModule(learning_rate=config.learning_rate)
    checkpoint = ArcCheckpointCallback(
        root_name="flares/binary_classification", data_folder=config.data_folder, config=config
    )
    trainer = pl.Trainer(
        max_epochs=config.max_epochs,
        callbacks=[checkpoint, EarlyStopping("val_f1", mode="max", patience=3)],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, train, val)
    trainer.test(model, test, ckpt_path="best")

    show_run(checkpoint.run_dir)


if __name__ == "__main__":
    main()
