"""The seed's training script, only the import changed, under 2-process CPU DDP (run by tests/test_ddp.py).

Shaped like the users' real scripts: ``import pytorch_lightning as pl``, a config module with uppercase names,
``vars(config)``, a LightningModule with ``save_hyperparameters()``, EarlyStopping, ``trainer.test(ckpt_path="best")``
and the old manager's calls in the old order. Lightning re-runs this whole script for rank 1, so the manager is
built in both processes before any Trainer exists.

    python tests/helpers/ddp_seed_script.py DATA_FOLDER
"""

from __future__ import annotations

import sys
import types

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from arccnet_ckpt import BinaryClassificationCheckpointManager

config = types.ModuleType("config")
config.DATA_FOLDER = sys.argv[1]
config.MODEL_NAME = "resnet18"
config.LOSS_FUNCTION = "weighted_bce"
config.BATCH_SIZE = 8
config.LEARNING_RATE = 0.05
config.MAX_EPOCHS = 3


class FlareModule(pl.LightningModule):
    def __init__(self, learning_rate: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = nn.Linear(8, 1)
        self.loss_fn = nn.BCEWithLogitsLoss()

    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.loss_fn(self.layer(x).squeeze(1), y.float())

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.layer(x).squeeze(1)
        self.log("val_loss", self.loss_fn(logits, y.float()), sync_dist=True)
        self.log("val_f1", ((logits > 0).long() == y).float().mean(), sync_dist=True)

    def test_step(self, batch, batch_idx):
        x, y = batch
        logits = self.layer(x).squeeze(1)
        self.log("test_f1", ((logits > 0).long() == y).float().mean(), sync_dist=True)
        return {"logits": logits, "target": y}

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.learning_rate)


def loader(seed: int) -> DataLoader:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 8, generator=gen)
    return DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=config.BATCH_SIZE)


checkpoint_manager = BinaryClassificationCheckpointManager(
    data_folder=config.DATA_FOLDER, model_name=config.MODEL_NAME, loss_function=config.LOSS_FUNCTION
)
checkpoint_callback = checkpoint_manager.get_checkpoint_callback(monitor="val_f1", mode="max")
checkpoint_manager.save_config(vars(config))
early_stopping = EarlyStopping(monitor="val_f1", mode="max", patience=5)
trainer = pl.Trainer(
    accelerator="cpu",
    devices=2,
    strategy="ddp",
    max_epochs=config.MAX_EPOCHS,
    num_sanity_val_steps=0,
    logger=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    callbacks=[checkpoint_callback, early_stopping],
)
model = FlareModule(learning_rate=config.LEARNING_RATE)
trainer.fit(model, train_dataloaders=loader(0), val_dataloaders=loader(1))
test_results = trainer.test(model, dataloaders=loader(2), ckpt_path="best")
checkpoint_manager.save_training_metadata(
    {
        "best_epoch": trainer.current_epoch,
        "num_epochs_trained": trainer.current_epoch + 1,
        "test_results": test_results[0] if test_results else {},
    }
)
checkpoint_manager.save_classification_report(
    {"test_metrics": test_results[0], "model_name": config.MODEL_NAME, "loss_function": config.LOSS_FUNCTION}
)
checkpoint_manager.save_minimal_logging(
    best_epoch=trainer.current_epoch,
    best_metric_value=float(checkpoint_callback.best_model_score),
    best_metric_name="val_f1",
    num_epochs_trained=trainer.current_epoch + 1,
)
print(f"rank {trainer.global_rank} checkpoint_dir {checkpoint_manager.checkpoint_dir}")
