"""Three-class flare model (Quiet / C / M_X) with focal or cross-entropy loss and a per-class test report.

python examples/train_multiclass.py [--loss focal|cross_entropy] [--data-folder ./data]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as pl
import torch
from _shared import SmallCNN, loaders, show_run
from lightning.pytorch.callbacks import EarlyStopping
from torchmetrics.classification import MulticlassF1Score

from arccnet_ckpt import ArcCheckpointCallback


@dataclass
class Config:
    MODEL_NAME: str = "smallcnn"
    LOSS_TYPE: str = "focal"
    CLASS_NAMES: list[str] = field(default_factory=lambda: ["Quiet", "C", "M_X"])
    LEARNING_RATE: float = 3e-3
    FOCAL_GAMMA: float = 2.0
    MAX_EPOCHS: int = 8
    DATA_FOLDER: str | None = None


class FocalLoss(torch.nn.Module):
    def __init__(self, gamma: float = 2.0) -> None:
        super().__init__()
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = torch.nn.functional.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
        return (-((1 - log_p.exp()) ** self.gamma) * log_p).mean()


class MulticlassFlareModule(pl.LightningModule):
    def __init__(self, config: Config) -> None:
        super().__init__()
        self.save_hyperparameters({"learning_rate": config.LEARNING_RATE, "loss_type": config.LOSS_TYPE})
        num_classes = len(config.CLASS_NAMES)
        self.net = SmallCNN(num_classes)
        self.loss_fn = FocalLoss(config.FOCAL_GAMMA) if config.LOSS_TYPE == "focal" else torch.nn.CrossEntropyLoss()
        self.val_f1 = MulticlassF1Score(num_classes, average="macro")
        self.test_f1 = MulticlassF1Score(num_classes, average="macro")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return self.loss_fn(self(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("val_loss", self.loss_fn(logits, y))
        self.val_f1(logits, y)
        self.log("val_f1", self.val_f1)

    def test_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        x, y = batch
        logits = self(x)
        self.log("test_loss", self.loss_fn(logits, y))
        self.test_f1(logits, y)
        self.log("test_f1", self.test_f1)
        return {"logits": logits, "target": y}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loss", choices=["focal", "cross_entropy"], default="focal")
    parser.add_argument("--data-folder", default=None)
    parser.add_argument("--max-epochs", type=int, default=8)
    args = parser.parse_args()
    config = Config(LOSS_TYPE=args.loss, DATA_FOLDER=args.data_folder, MAX_EPOCHS=args.max_epochs)

    pl.seed_everything(42)
    train, val, test = loaders(num_classes=len(config.CLASS_NAMES))
    model = MulticlassFlareModule(config)
    checkpoint = ArcCheckpointCallback(root_name="flares/multiclass", data_folder=config.DATA_FOLDER, config=config)
    trainer = pl.Trainer(
        max_epochs=config.MAX_EPOCHS,
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
