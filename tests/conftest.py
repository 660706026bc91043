"""Tiny models, data and Trainer factories shared by the tests (CPU, a few batches, no downloads)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

NUM_FEATURES = 8


def _dataset(n: int, num_classes: int, seed: int) -> TensorDataset:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, NUM_FEATURES, generator=gen)
    y = torch.randint(0, num_classes, (n,), generator=gen)
    return TensorDataset(x, y)


def make_classes(namespace: str = "lightning.pytorch") -> tuple[type, type]:
    """A scripted classifier and a datamodule for one Lightning namespace.

    The classifier logs ``val_f1`` from ``val_scores`` (one per epoch, the last one repeating), so tests decide
    exactly which epoch is best and when EarlyStopping fires.
    """
    ns = importlib.import_module(namespace)

    class ScriptedClassifier(ns.LightningModule):  # type: ignore[name-defined,misc]
        def __init__(
            self,
            val_scores: tuple[float, ...] = (0.5, 0.9, 0.7),
            num_classes: int = 3,
            fail_at_step: int | None = None,
            monitor_name: str = "val_f1",
            **extra: Any,
        ) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = nn.Linear(NUM_FEATURES, num_classes)
            self.loss_fn = nn.CrossEntropyLoss()
            self.steps_run = 0

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            if self.hparams.fail_at_step is not None and self.global_step >= self.hparams.fail_at_step:
                raise RuntimeError("boom in training_step")
            self.steps_run += 1
            x, y = batch
            return self.loss_fn(self.layer(x), y)

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("val_loss", self.loss_fn(self.layer(x), y))
            scores = self.hparams.val_scores
            self.log(self.hparams.monitor_name, float(scores[min(self.current_epoch, len(scores) - 1)]))

        def test_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
            x, y = batch
            logits = self.layer(x)
            self.log("test_loss", self.loss_fn(logits, y))
            self.log("test_accuracy", (logits.argmax(1) == y).float().mean())
            return {"preds": logits, "target": y}

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    class TinyData(ns.LightningDataModule):  # type: ignore[name-defined,misc]
        def __init__(self, num_classes: int = 3, batch_size: int = 8, class_names: list[str] | None = None) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.class_names = class_names

        def train_dataloader(self) -> DataLoader:
            return DataLoader(_dataset(32, self.hparams.num_classes, 0), batch_size=self.hparams.batch_size)

        def val_dataloader(self) -> DataLoader:
            return DataLoader(_dataset(16, self.hparams.num_classes, 1), batch_size=self.hparams.batch_size)

        def test_dataloader(self) -> DataLoader:
            return DataLoader(_dataset(24, self.hparams.num_classes, 2), batch_size=self.hparams.batch_size)

    return ScriptedClassifier, TinyData


ScriptedClassifier, TinyData = make_classes()


def make_trainer(root: Path, callbacks: list[Any], namespace: str = "lightning.pytorch", **kwargs: Any) -> Any:
    ns = importlib.import_module(namespace)
    settings: dict[str, Any] = {
        "default_root_dir": root,
        "max_epochs": 3,
        "limit_train_batches": 2,
        "limit_val_batches": 1,
        "limit_test_batches": 3,
        "num_sanity_val_steps": 0,
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "accelerator": "cpu",
        "devices": 1,
    }
    settings.update(kwargs)
    return ns.Trainer(callbacks=callbacks, **settings)


def user_config(config_json: dict[str, Any]) -> dict[str, Any]:
    """The user's config in a version 2 ``config.json``: its top-level keys, less the package's ``_arccnet``."""
    return {k: v for k, v in config_json.items() if k != "_arccnet"}


def _reject_constant(token: str) -> Any:
    raise AssertionError(f"non-strict JSON token {token!r}")


def read_json(path: Path | str) -> Any:
    """Parse a file as strict JSON: NaN/Infinity tokens fail the test."""
    return json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_reject_constant)


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run the command line in-process: ``(exit code, stdout, stderr)``."""
    from arccnet_ckpt.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse's own usage errors
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def new_script() -> None:
    """Forget the process groups earlier fits in this pytest process started: what follows is a script of its own
    (the ``process`` group rule joins runs one process starts with the same names)."""
    from arccnet_ckpt.capture import groups

    groups._counters.clear()


@pytest.fixture(autouse=True)
def _each_test_is_a_script_of_its_own() -> None:
    new_script()


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def tmpfs(tmp_path: Path):
    """Mount a small tmpfs (root only), so tests can meet a real read-only or full file system.

    Yields a function ``mount(size="64k", read_only=False) -> Path``; every mount is undone afterwards. Skips the test
    where mounting is not possible (not root, or a sandbox that forbids it).
    """
    import subprocess

    mounted: list[Path] = []

    def mount(size: str = "64k", read_only: bool = False) -> Path:
        target = tmp_path / f"tmpfs{len(mounted)}"
        target.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)
