"""Three-class flare model trained through ``LightningCLI``: the config lives in YAML and on the command line.

The record needs no code here: ``ArcCheckpointCallback`` is listed in the YAML's ``trainer.callbacks``, and it finds
the CLI's parsed config itself. The run folder gets ``config.json`` (its ``_arccnet.lightning_cli`` section holds the
config, with the overrides applied) and ``config.yaml``, the same config as LightningCLI saves it.

    python examples/cli_train.py fit --config examples/configs/cli_multiclass.yaml --model.learning_rate 0.005

``data.num_classes`` is linked to ``model.num_classes``, so the two cannot disagree. After ``fit`` the best
checkpoint is tested (``after_fit``), which writes the per-class report.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from _shared import FlareClassifier, loaders, show_run
from lightning.pytorch.cli import LightningCLI

from arccnet_ckpt import ArcCheckpointCallback


class FlareData(pl.LightningDataModule):
    def __init__(self, num_classes: int = 3, amplitude: float = 1.5, batch_size: int = 64) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.num_classes = num_classes

    def setup(self, stage: str) -> None:
        self.train, self.val, self.test = loaders(self.num_classes, self.hparams.amplitude, self.hparams.batch_size)

    def train_dataloader(self) -> Any:
        return self.train

    def val_dataloader(self) -> Any:
        return self.val

    def test_dataloader(self) -> Any:
        return self.test


class FlareCLI(LightningCLI):
    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.link_arguments("data.num_classes", "model.num_classes")

    def after_fit(self) -> None:
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path="best")
        checkpoint = next(cb for cb in self.trainer.callbacks if isinstance(cb, ArcCheckpointCallback))
        show_run(checkpoint.run_dir)


if __name__ == "__main__":
    # The run folder keeps its own config.yaml, one per run: Lightning's copy in the log folder, which refuses to
    # overwrite the previous run's (and clashes under W&B), is not needed.
    FlareCLI(FlareClassifier, FlareData, seed_everything_default=42, save_config_callback=None)
