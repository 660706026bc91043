"""A multiclass flare training script shaped like the users' real ones, written for the old manual manager; only the
import of the manager changed. Run by tests/test_real_scripts.py as a script, as users run theirs.

What makes it real: ``import pytorch_lightning as pl`` (and nothing from ``lightning``), a config module with
uppercase names whose ``CLASSES`` are in reading order while the label encoder sorts them, ``vars(config)``, a
LightningModule with ``save_hyperparameters()``, EarlyStopping, ``deterministic=True``, ``trainer.test(ckpt_path=
"best")``, the old manager's calls in the old order (``get_checkpoint_path()`` logged at start and end,
``training_metadata`` written into, ``best_val_f1`` read from a metric that does not exist), and two trainings (two
folds) in one process.

    python tests/helpers/real_multiclass_script.py DATA_FOLDER
"""

from __future__ import annotations

import json
import sys
import types

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from arccnet_ckpt import MulticlassFlareCheckpointManager  # was: from arccnet.models.checkpoint_manager import ...

config = types.ModuleType("config")
config.DATA_FOLDER = sys.argv[1]
config.MODEL_NAME = "resnet18"
config.LOSS_TYPE = "focal"
config.CLASSES = ["Quiet", "C", "M_X"]  # reading order, not the label encoder's
config.LEARNING_RATE = 1e-4
config.BATCH_SIZE = 8
config.MAX_EPOCHS = 3
config.COMET_API_KEY = "comet-secret-key"

TEST_COUNTS = {"Quiet": 21, "C": 14, "M_X": 7}


class LabelEncoder:
    """sklearn's LabelEncoder in two lines: classes sorted, label i is classes_[i]."""

    def __init__(self, labels: list[str]) -> None:
        self.classes_ = sorted(set(labels))

    def transform(self, labels: list[str]) -> torch.Tensor:
        return torch.tensor([self.classes_.index(label) for label in labels])


def flare_set(counts: dict[str, int], seed: int, encoder: LabelEncoder) -> TensorDataset:
    labels = [name for name, n in counts.items() for _ in range(n)]
    y = encoder.transform(labels)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(len(labels), 8, generator=gen) + nn.functional.one_hot(y, 8).float() * 3
    return TensorDataset(x, y)


class FlareDataModule(pl.LightningDataModule):
    def __init__(self, batch_size: int) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.encoder = LabelEncoder(["Quiet", "C", "M_X"])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(flare_set({"Quiet": 16, "C": 16, "M_X": 16}, 0, self.encoder), batch_size=self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(flare_set({"Quiet": 8, "C": 8, "M_X": 8}, 1, self.encoder), batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(flare_set(TEST_COUNTS, 2, self.encoder), batch_size=self.batch_size)


class FlareClassifier(pl.LightningModule):
    def __init__(self, class_names: list[str], learning_rate: float, loss_type: str) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.head = nn.Linear(8, len(class_names))
        self.criterion = nn.CrossEntropyLoss()

    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.criterion(self.head(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.head(x)
        self.log("val_loss", self.criterion(logits, y))
        self.log("val_f1", (logits.argmax(1) == y).float().mean())

    def test_step(self, batch, batch_idx):
        x, y = batch
        logits = self.head(x)
        self.log("test_loss", self.criterion(logits, y))
        self.log("test_f1", (logits.argmax(1) == y).float().mean())
        return {"logits": logits, "target": y}

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.learning_rate * 1000)


def train(fold: int) -> None:
    pl.seed_everything(fold)
    checkpoint_manager = MulticlassFlareCheckpointManager(
        data_folder=config.DATA_FOLDER, model_name=config.MODEL_NAME, loss_function=config.LOSS_TYPE
    )
    print(f"Checkpoints will be saved to: {checkpoint_manager.get_checkpoint_path()}")
    checkpoint_callback = checkpoint_manager.get_checkpoint_callback(monitor="val_f1", mode="max")
    checkpoint_manager.save_config(vars(config))

    dm = FlareDataModule(config.BATCH_SIZE)
    class_names = dm.encoder.classes_
    model = FlareClassifier(class_names=class_names, learning_rate=config.LEARNING_RATE, loss_type=config.LOSS_TYPE)
    early_stopping = EarlyStopping(monitor="val_f1", mode="max", patience=2)
    trainer = pl.Trainer(
        max_epochs=config.MAX_EPOCHS,
        callbacks=[checkpoint_callback, early_stopping],
        deterministic=True,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=dm)
    test_results = trainer.test(model, datamodule=dm, ckpt_path="best", verbose=False)

    best_f1 = trainer.callback_metrics.get("best_val_f1")  # never logged: None, as in the real scripts
    checkpoint_manager.training_metadata["class_names"] = class_names
    checkpoint_manager.training_metadata["fold"] = fold
    checkpoint_manager.save_training_metadata(
        {
            "best_epoch": trainer.current_epoch,
            "best_val_f1": best_f1,
            "num_epochs_trained": trainer.current_epoch + 1,
            "early_stopping_triggered": early_stopping.wait_count > 0,
            "test_results": test_results[0] if test_results else {},
        }
    )
    checkpoint_manager.save_classification_report(
        {
            "test_metrics": test_results[0],
            "model_name": config.MODEL_NAME,
            "loss_function": config.LOSS_TYPE,
            "class_names": class_names,
        }
    )
    checkpoint_manager.save_minimal_logging(
        best_epoch=trainer.current_epoch,
        best_metric_value=best_f1,
        best_metric_name="val_f1",
        num_epochs_trained=trainer.current_epoch + 1,
        early_stopping_triggered=early_stopping.wait_count > 0,
    )
    print(f"Training complete. Checkpoints saved to: {checkpoint_manager.get_checkpoint_path()}")
    print(checkpoint_manager)
    print("RESULT " + json.dumps({"fold": fold, "run_dir": checkpoint_manager.get_checkpoint_path()}))


if __name__ == "__main__":
    for fold in (0, 1):
        train(fold)
