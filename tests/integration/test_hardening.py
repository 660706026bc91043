"""Failure behaviour of the callback: lifecycle, fail-fast checks, bad input, secrets, resume."""

from __future__ import annotations

import math
import os
import shutil
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import torch
from conftest import ScriptedClassifier, TinyData, make_trainer, read_json, user_config
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException

from arccnet_ckpt import ArcCheckpointCallback, MinimalLogging, RunFolderError, TrainingSummary, store
from arccnet_ckpt.records.reader import read_record


def _fit(tmp_path, cb, model=None, callbacks=(), **kwargs):
    trainer = make_trainer(tmp_path, [cb, *callbacks], **kwargs)
    trainer.fit(model or ScriptedClassifier(), datamodule=TinyData())
    return trainer


class RaisesAtStep(ScriptedClassifier):
    def __init__(self, step: int, exc: BaseException, **kwargs):
        super().__init__(**kwargs)
        self.at_step = step
        self.exc = exc

    def training_step(self, batch, batch_idx):
        if self.global_step == self.at_step:
            raise self.exc
        return super().training_step(batch, batch_idx)


def test_the_original_exception_reaches_the_caller_unchanged(tmp_path, data_folder) -> None:
    original = ValueError("bad batch 17")
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    with pytest.raises(ValueError, match="bad batch 17") as caught:
        _fit(tmp_path, cb, model=RaisesAtStep(3, original))
    assert caught.value is original
    summary = read_json(Path(cb.run_dir) / "training_summary.json")
    assert summary["status"] == "failed"
    assert (summary["error"]["type"], summary["error"]["message"]) == ("ValueError", "bad batch 17")
    minimal = read_json(Path(cb.run_dir) / "minimal_logging.json")
    assert (minimal["status"], minimal["num_epochs_trained"]) == ("failed", 1)


class SigtermAtStep(ScriptedClassifier):
    def training_step(self, batch, batch_idx):
        if self.global_step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return super().training_step(batch, batch_idx)


def test_sigterm_is_recorded_as_interrupted(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SIGTERMException):
            _fit(tmp_path, cb, model=SigtermAtStep(), max_epochs=5)
    finally:
        signal.signal(signal.SIGTERM, previous)
    summary = TrainingSummary.model_validate(read_json(Path(cb.run_dir) / "training_summary.json"))
    assert summary.status == "interrupted"
    assert summary.error.type == "SIGTERMException"
    assert read_json(Path(cb.run_dir) / "minimal_logging.json")["status"] == "interrupted"


def test_a_monitor_that_is_never_logged_gives_lightnings_error(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, monitor="val_auc")
    expected = r"could not find the monitored key in the returned metrics: \['val_loss', 'val_f1'"
    with pytest.raises(MisconfigurationException, match=expected):
        _fit(tmp_path, cb)
    summary = read_json(Path(cb.run_dir) / "training_summary.json")
    assert summary["status"] == "failed"
    assert summary["error"]["type"] == "MisconfigurationException"


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_metrics_are_null_in_strict_json(tmp_path, data_folder, value) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    _fit(tmp_path, cb, model=ScriptedClassifier(val_scores=(value, value)), max_epochs=2)
    for name in ("training_summary.json", "minimal_logging.json"):
        data = read_json(Path(cb.run_dir) / name)  # a NaN/Infinity token fails here
        assert data["best_metric_value"] is None
        assert data["best_val_f1"] is None


class Unencodable:
    def __init__(self) -> None:
        self.raw = b"\x00\x01"

    def __repr__(self) -> str:
        return "Unencodable()"


def test_hparams_and_configs_json_cannot_encode_are_written_as_text(tmp_path, data_folder) -> None:
    cyclic: dict = {"name": "cfg"}
    cyclic["self"] = cyclic
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, config=cyclic)
    model = ScriptedClassifier(obj=Unencodable(), kinds={1, 2}, dtype=torch.bfloat16, raw=b"\x00")
    _fit(tmp_path, cb, model=model, max_epochs=1)
    written = read_json(Path(cb.run_dir) / "config.json")
    config = written["_arccnet"]
    assert user_config(written) == {"name": "cfg", "self": "<cycle: dict>"}
    assert config["hparams"]["obj"] == "Unencodable()"
    assert config["hparams"]["kinds"] == [1, 2]
    assert config["hparams"]["dtype"] == "torch.bfloat16"
    assert config["hparams"]["raw"] == "b'\\x00'"


class TrackerCallback(Callback):
    def __init__(self) -> None:
        self.project = "flares"
        self.api_key = "cb-secret-1"


def test_secrets_are_redacted_everywhere_the_package_writes(tmp_path, data_folder, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", "--wandb-api-key=argv-secret-2", "--lr", "0.1"])
    config = {"COMET_API_KEY": "cfg-secret-3", "nested": {"deeper": {"private_key": "cfg-secret-4"}}}
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, config=config)
    model = ScriptedClassifier(
        password="hp-secret-5",  # noqa: S106
        store="s3://me:hp-secret-6@bucket/x",
    )
    _fit(tmp_path, cb, model=model, callbacks=[TrackerCallback()], max_epochs=1)
    written = "".join(p.read_text() for p in Path(cb.run_dir).glob("*.json"))
    for i, secret in enumerate(["cb-secret-1", "argv-secret-2", "cfg-secret-3", "cfg-secret-4", "hp-secret-5"], 1):
        assert secret not in written, i
    assert "hp-secret-6" not in written
    config_json = read_json(Path(cb.run_dir) / "config.json")["_arccnet"]
    tracker = next(c for c in config_json["callbacks"] if c["class_path"].endswith("TrackerCallback"))
    assert tracker["settings"] == {"project": "flares", "api_key": "***"}
    assert config_json["environment"]["argv"] == ["train.py", "--wandb-api-key=***", "--lr", "0.1"]


def test_run_files_follow_the_umask_and_are_never_world_writable(tmp_path, data_folder) -> None:
    old = os.umask(0o027)
    try:
        cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
        _fit(tmp_path, cb, max_epochs=1)
    finally:
        os.umask(old)
    for path in Path(cb.run_dir).glob("*.json"):
        assert path.stat().st_mode & 0o777 == 0o640, path.name


def test_a_read_only_data_folder_fails_before_the_first_step(tmp_path, tmpfs) -> None:
    data = tmpfs(read_only=True) if os.geteuid() == 0 else tmp_path / "data"  # root ignores permission bits
    if os.geteuid() != 0:
        data.mkdir()
        data.chmod(0o555)
    model = ScriptedClassifier()
    cb = ArcCheckpointCallback(root_name="r", data_folder=data)
    with pytest.raises(RunFolderError, match=r"(Read-only file system|Permission denied)"):
        _fit(tmp_path, cb, model=model)
    assert model.steps_run == 0
    assert list(data.iterdir()) == []


def test_disk_full_while_writing_keeps_the_previous_version(tmpfs) -> None:
    folder = tmpfs(size="64k")
    first = MinimalLogging(timestamp=datetime.now(timezone.utc), best_epoch=1, additional_metrics={"v": 1})
    store.write_artifact(folder, first)
    (folder / "filler").write_bytes(b"x" * 40_000)
    big = first.model_copy(update={"additional_metrics": {"blob": "y" * 30_000}})
    with pytest.raises(RunFolderError, match=r"minimal_logging\.json: could not write \(disk full\)"):
        store.write_artifact(folder, big)
    assert read_record(folder, MinimalLogging) == first
    assert sorted(p.name for p in folder.iterdir()) == ["filler", "minimal_logging.json"]


def test_resume_from_a_checkpoint_outside_any_run_folder_starts_a_new_run_and_deletes_nothing(
    tmp_path, data_folder
) -> None:
    first = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    _fit(tmp_path, first, max_epochs=2)
    first_files = sorted(p.name for p in Path(first.run_dir).iterdir())
    outside = tmp_path / "elsewhere" / "copied.ckpt"
    outside.parent.mkdir()
    shutil.copy(first.best_model_path, outside)

    second = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    trainer = make_trainer(tmp_path, [second], max_epochs=4)
    trainer.fit(ScriptedClassifier(val_scores=(0.5, 0.9, 0.95, 0.97)), datamodule=TinyData(), ckpt_path=outside)

    assert second.run_dir != first.run_dir
    assert outside.is_file()
    assert sorted(p.name for p in Path(first.run_dir).iterdir()) == first_files
    summary = read_json(Path(second.run_dir) / "training_summary.json")
    assert summary["resumed_from"] == str(outside)  # outside any run folder: recorded as given
    assert summary["resumes"][0]["checkpoint"] == str(outside)
    assert summary["num_epochs_trained"] == 4
