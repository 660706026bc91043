"""Three-class flare model configured with Hydra: a YAML config plus command-line overrides.

The record needs no code here beyond the callback: ``ArcCheckpointCallback`` sees that Hydra is running and records
the job's resolved config (as ``config.json``'s top-level keys and under ``_arccnet.hydra``), the overrides, Hydra's
output folder, and copies of ``.hydra/config.yaml``, ``overrides.yaml`` and ``hydra.yaml`` in the run folder's
``hydra/``.

    python examples/hydra_train.py learning_rate=0.005 data.amplitude=1.0
"""

from __future__ import annotations

from typing import Any

import hydra
import lightning.pytorch as pl
import torch
from _shared import SmallCNN, loaders, show_run
from lightning.pytorch.callbacks import EarlyStopping
from omegaconf import DictConfig
from torchmetrics.classification import MulticlassF1Score

from arccnet_ckpt import ArcCheckpointCallback


class FlareClassifier(pl.LightningModule):
    def __init__(self, num_classes: int, learning_rate: float) -> None:
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


@hydra.main(version_base=None, config_path="configs/hydra", config_name="multiclass")
def main(cfg: DictConfig) -> None:
    pl.seed_everything(42)
    num_classes = len(cfg.class_names)
    train, val, test = loaders(num_classes, cfg.data.amplitude, cfg.data.batch_size)
    model = FlareClassifier(num_classes, cfg.learning_rate)
    checkpoint = ArcCheckpointCallback(root_name="flares/multiclass", data_folder=cfg.data_folder)
    trainer = pl.Trainer(
        max_epochs=cfg.max_epochs,
        limit_train_batches=cfg.limit_train_batches,
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
