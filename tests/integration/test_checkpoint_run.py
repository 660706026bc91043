"""A checkpoint that knows its run: the ``arccnet_ckpt`` entry, ``load_run(path_to_ckpt)`` and ``Run.load_model``'s
check."""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from conftest import ScriptedClassifier, TinyData, make_trainer
from folders import CKPT, make_run

from arccnet_ckpt import ArcCheckpointCallback, ArcCkptWarning, CheckpointMismatchError, load_run


def _fit(tmp_path: Path, data: Path, model_name: str) -> Path:
    cb = ArcCheckpointCallback(
        root_name="flares/binary", data_folder=data, model_name=model_name, loss_function="ce", save_last=True
    )
    make_trainer(tmp_path, [cb]).fit(ScriptedClassifier(), datamodule=TinyData())
    return Path(cb.run_dir)


def test_every_checkpoint_names_its_run_and_its_config(tmp_path: Path, data_folder: Path) -> None:
    run_dir = _fit(tmp_path, data_folder, "m")
    digest = hashlib.sha256((run_dir / "config.json").read_bytes()).hexdigest()
    checkpoints = sorted(run_dir.glob("*.ckpt"))
    assert [p.name for p in checkpoints] == ["best-epoch01-val_f1-0.900.ckpt", "last.ckpt"]
    for path in checkpoints:
        entry = torch.load(path, map_location="cpu", weights_only=True)["arccnet_ckpt"]
        assert entry == {
            "run_name": run_dir.name,
            "run_dir": str(run_dir),
            "schema_version": 1,
            "config_sha256": digest,
        }


def test_a_checkpoint_finds_its_run_after_the_folder_moved(tmp_path: Path, data_folder: Path) -> None:
    run_dir = _fit(tmp_path, data_folder, "m")
    moved = tmp_path / "laptop" / run_dir.name
    shutil.move(run_dir, moved)  # an rsync to a laptop
    run = load_run(moved / "best-epoch01-val_f1-0.900.ckpt")
    assert Path(run.path) == moved
    assert run.summary.best_epoch == 1
    model = run.load_model(ScriptedClassifier, map_location="cpu")
    assert isinstance(model, ScriptedClassifier)


def test_load_model_refuses_a_checkpoint_of_another_run(tmp_path: Path, data_folder: Path) -> None:
    first = _fit(tmp_path, data_folder, "first")
    second = _fit(tmp_path, data_folder, "second")
    best = "best-epoch01-val_f1-0.900.ckpt"
    shutil.copyfile(first / best, second / best)  # a copy over the wrong folder
    run = load_run(second)
    with pytest.raises(
        CheckpointMismatchError, match=rf"belongs to run '{first.name}' .* not to '{second.name}' whose folder holds it"
    ):
        run.load_model(ScriptedClassifier)


def test_a_changed_config_is_a_warning_and_an_old_checkpoint_still_loads(tmp_path: Path, data_folder: Path) -> None:
    run_dir = _fit(tmp_path, data_folder, "m")
    config = run_dir / "config.json"
    config.write_text(config.read_text().replace('"_arccnet"', '"EDITED": 1, "_arccnet"', 1))
    with pytest.warns(ArcCkptWarning, match="config.json changed since this checkpoint was saved"):
        load_run(run_dir).load_model(ScriptedClassifier)
    # A checkpoint saved before checkpoints carried their run (no entry) loads as before.
    best = run_dir / "best-epoch01-val_f1-0.900.ckpt"
    data = torch.load(best, map_location="cpu", weights_only=True)
    del data["arccnet_ckpt"]
    torch.save(data, best)
    assert isinstance(load_run(best).load_model(ScriptedClassifier), ScriptedClassifier)


def test_load_model_with_a_real_checkpoint(tmp_path: Path) -> None:
    import torch
    from lightning.pytorch import Trainer
    from lightning.pytorch.demos.boring_classes import BoringModel

    folder = make_run(tmp_path, checkpoint=None)
    model = BoringModel()
    trainer = Trainer(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model)
    trainer.save_checkpoint(os.path.join(folder, CKPT))

    loaded = load_run(folder).load_model(BoringModel, map_location="cpu", weights_only=False)

    assert isinstance(loaded, BoringModel)
    assert torch.equal(loaded.layer.weight, model.layer.weight)
    assert not torch.equal(loaded.layer.weight, BoringModel().layer.weight)
