"""Three-class flare model configured with Hydra: a YAML config plus command-line overrides.

The record needs no code here beyond the callback: ``ArcCheckpointCallback`` sees that Hydra is running and records
the job's resolved config (as ``config.json``'s top-level keys and under ``_arccnet.hydra``), the overrides, Hydra's
output folder, and copies of ``.hydra/config.yaml``, ``overrides.yaml`` and ``hydra.yaml`` in the run folder's
``hydra/``.

    python examples/hydra_train.py learning_rate=0.005 data.amplitude=1.0
"""

from __future__ import annotations

import hydra
import lightning.pytorch as pl
from _shared import FlareClassifier, loaders, show_run
from lightning.pytorch.callbacks import EarlyStopping
from omegaconf import DictConfig

from arccnet_ckpt import ArcCheckpointCallback


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
