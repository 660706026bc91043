"""Each deliberate difference between ArcCheckpointCallback and Lightning's ModelCheckpoint, one test a line of the
README's "Differences from ModelCheckpoint" (found by running Lightning's own ``test_model_checkpoint.py`` with the
callback in place of ModelCheckpoint)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from conftest import ScriptedClassifier, TinyData, make_trainer, read_json
from lightning.pytorch.loggers import CSVLogger

from arccnet_ckpt import ArcCheckpointCallback

JSON_FILES = ["config.json", "history.json", "minimal_logging.json", "training_summary.json"]


def test_default_dirpath_is_the_run_folder_not_the_root_dir_or_the_loggers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cb = ArcCheckpointCallback(root_name="a/b", data_folder=data, model_name="m", loss_function="l")
    logger = CSVLogger(tmp_path / "logs", name="exp")
    trainer = make_trainer(tmp_path / "root", [cb], logger=logger, max_epochs=1)
    trainer.fit(ScriptedClassifier(), datamodule=TinyData())
    run_dir = Path(cb.dirpath)
    assert run_dir.parent == data / "checkpoints" / "a" / "b"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_m_l", run_dir.name)
    assert not (tmp_path / "root" / "checkpoints").exists()
    assert not list((tmp_path / "logs").rglob("checkpoints"))


def test_the_json_records_sit_beside_the_checkpoints(tmp_path: Path) -> None:
    cb = ArcCheckpointCallback(dirpath=tmp_path / "run", monitor=None, save_top_k=-1)
    make_trainer(tmp_path, [cb], max_epochs=2).fit(ScriptedClassifier(), datamodule=TinyData())
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.json",
        "epoch00-step2.ckpt",
        "epoch01-step4.ckpt",
        "history.json",
        "minimal_logging.json",
        "training_summary.json",
    ]


def test_default_file_names_and_auto_insert_metric_name(tmp_path: Path, data_folder: Path) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, save_last=True)
    cb.CHECKPOINT_NAME_LAST = "last-{epoch}"
    make_trainer(tmp_path, [cb], max_epochs=2).fit(ScriptedClassifier(), datamodule=TinyData())
    assert Path(cb.best_model_path).name == "best-epoch01-val_f1-0.900.ckpt"
    # auto_insert_metric_name applies to a filename= the user gives, not to the default template (nor "last")
    assert Path(cb.last_model_path).name == "last-1.ckpt"

    given = ArcCheckpointCallback(root_name="r", data_folder=data_folder, filename="{epoch}-{val_f1:.2f}")
    make_trainer(tmp_path, [given], max_epochs=2).fit(ScriptedClassifier(), datamodule=TinyData())
    assert Path(given.best_model_path).name == "epoch=1-val_f1=0.90.ckpt"  # Lightning's behaviour, as given


def test_defaults_monitor_val_f1_in_max_mode(tmp_path: Path, data_folder: Path) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    assert (cb.monitor, cb.mode, cb.save_top_k) == ("val_f1", "max", 1)
    make_trainer(tmp_path, [cb], max_epochs=3).fit(
        ScriptedClassifier(val_scores=(0.5, 0.9, 0.7)), datamodule=TinyData()
    )
    assert [p.name for p in Path(cb.run_dir).glob("*.ckpt")] == ["best-epoch01-val_f1-0.900.ckpt"]


def test_the_trainer_only_ever_sees_final_checkpoint_names(tmp_path: Path, data_folder: Path) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, save_last=True)
    trainer = make_trainer(tmp_path, [cb], max_epochs=2)
    seen: list[str] = []
    original = trainer.save_checkpoint

    def spy(filepath, weights_only=False, storage_options=None):
        seen.append(os.path.basename(filepath))
        return original(filepath, weights_only, storage_options)

    trainer.save_checkpoint = spy
    trainer.fit(ScriptedClassifier(), datamodule=TinyData())
    assert seen
    assert not [name for name in seen if name.startswith(".arc-tmp-")]
    assert set(seen) >= {"best-epoch01-val_f1-0.900.ckpt", "last.ckpt"}


def test_an_explicit_dirpath_is_the_run_folder_even_when_resuming_another_run(tmp_path: Path, data_folder) -> None:
    first = ArcCheckpointCallback(root_name="r", data_folder=data_folder, save_last=True)
    make_trainer(tmp_path, [first], max_epochs=2).fit(ScriptedClassifier(), datamodule=TinyData())
    before = {p.name: p.read_bytes() for p in Path(first.run_dir).iterdir()}

    new = tmp_path / "new"
    second = ArcCheckpointCallback(dirpath=new, save_last=True)
    last = Path(first.run_dir) / "last.ckpt"
    make_trainer(tmp_path, [second], max_epochs=3).fit(ScriptedClassifier(), datamodule=TinyData(), ckpt_path=last)

    assert second.run_dir == str(new)
    assert {p.name: p.read_bytes() for p in Path(first.run_dir).iterdir()} == before  # the other run: untouched
    summary = read_json(new / "training_summary.json")
    assert summary["resumed_from"] == str(last)  # outside this run folder: as given
    assert summary["num_epochs_trained"] == 3
    assert not os.path.isabs(summary["last_model_path"])
    assert sorted(p.name for p in new.iterdir() if p.suffix == ".json") == JSON_FILES
