"""A user's LightningCLI script, as they write it: ``import pytorch_lightning as pl``, ``run=False``, the CLI's own
``SaveConfigCallback`` left on, a CSV logger, and the callback added in ``trainer_defaults``.

    python cli_script.py --config cfg.yaml --model.lr 0.01 --data_folder DATA
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import LightningCLI
from torch import nn

from arccnet_ckpt.pytorch_lightning import ArcCheckpointCallback


class HaleNet(pl.LightningModule):
    def __init__(
        self,
        lr: float = 0.1,
        num_classes: int = 3,
        backbone: str = "tinynet",
        class_names: list[str] | None = None,
        wandb_api_key: str | None = None,
        score_fn: Callable[[float], float] = lambda x: x,  # jsonargparse cannot dump a lambda
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = nn.Linear(4, num_classes)
        self.criterion = nn.CrossEntropyLoss()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return self.criterion(self.layer(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_f1", (self.layer(x).argmax(1) == y).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class HaleData(pl.LightningDataModule):
    def __init__(self, num_classes: int = 3, class_names: list[str] | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes

    def _loader(self, seed: int) -> Any:
        gen = torch.Generator().manual_seed(seed)
        data = torch.utils.data.TensorDataset(torch.randn(16, 4, generator=gen), torch.randint(0, 3, (16,)))
        return torch.utils.data.DataLoader(data, batch_size=8)

    def train_dataloader(self) -> Any:
        return self._loader(0)

    def val_dataloader(self) -> Any:
        return self._loader(1)


class HaleCLI(LightningCLI):
    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.link_arguments("data.num_classes", "model.num_classes")
        parser.link_arguments("data.class_names", "model.class_names")
        parser.add_argument("--data_folder", type=str, required=True)


if __name__ == "__main__":
    data_folder = sys.argv[sys.argv.index("--data_folder") + 1]
    cli = HaleCLI(
        HaleNet,
        HaleData,
        run=False,
        trainer_defaults={
            "callbacks": [ArcCheckpointCallback(root_name="cutouts/hale", data_folder=data_folder)],
            "logger": {"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": data_folder}},
            "max_epochs": 2,
            "limit_train_batches": 1,
            "limit_val_batches": 1,
            "enable_progress_bar": False,
            "enable_model_summary": False,
        },
    )
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    print("RUN_DIR", cli.trainer.checkpoint_callback.run_dir)
