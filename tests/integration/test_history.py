"""``history.json`` and the summary's ``updated_at`` heartbeat, written by the callback at each validation run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import ScriptedClassifier, TinyData, make_trainer, read_json
from lightning.pytorch.callbacks import EarlyStopping

from arccnet_ckpt import ArcCheckpointCallback, ArcCkptWarning, History, HistoryEntry, TrainingSummary, load_run, store
from arccnet_ckpt.core.recorder import FitSnapshot, RunIdentity, RunRecorder
from arccnet_ckpt.records.reader import read_record

T0 = datetime(2025, 2, 12, 14, 30, 45, tzinfo=timezone.utc)


class LoggingClassifier(ScriptedClassifier):
    """Logs a training loss per step and per epoch, as users' modules do (``train_loss_epoch``)."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = super().training_step(batch, batch_idx)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss


def _callback(data_folder: Path) -> ArcCheckpointCallback:
    return ArcCheckpointCallback(
        root_name="flares/history", data_folder=data_folder, model_name="m", loss_function="ce"
    )


def test_one_entry_per_validation_with_every_scalar_metric(tmp_path: Path, data_folder: Path) -> None:
    cb = _callback(data_folder)
    make_trainer(tmp_path, [cb]).fit(LoggingClassifier(), datamodule=TinyData())

    history = History.model_validate(read_json(Path(cb.run_dir) / "history.json"))
    assert (history.monitor, history.mode) == ("val_f1", "max")
    assert [(e.epoch, e.step, e.attempt) for e in history.entries] == [(0, 2, 0), (1, 4, 0), (2, 6, 0)]
    assert [e.metrics["val_f1"] for e in history.entries] == pytest.approx([0.5, 0.9, 0.7])
    for entry in history.entries:
        # The epoch's own training aggregate, the last step's value, the validation loss and the learning rate.
        assert {"train_loss_epoch", "train_loss_step", "val_loss", "lr-SGD"} <= set(entry.metrics)
        assert entry.metrics["lr-SGD"] == pytest.approx(0.1)
    # Each epoch's aggregate is that epoch's: it changes as the weights do.
    epoch_losses = [e.metrics["train_loss_epoch"] for e in history.entries]
    assert len(set(epoch_losses)) == 3
    times = [e.time for e in history.entries]
    assert times == sorted(times)

    summary = TrainingSummary.model_validate(read_json(Path(cb.run_dir) / "training_summary.json"))
    assert summary.updated_at is not None
    assert summary.updated_at >= times[-1]
    assert load_run(cb.run_dir).history == history


def test_the_summary_is_a_heartbeat_with_the_progress_so_far(
    tmp_path: Path, data_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[TrainingSummary] = []
    original = store.write_artifact

    def spy(run_dir: str, record: Any) -> str:
        if isinstance(record, TrainingSummary):
            written.append(record)
        return original(run_dir, record)

    monkeypatch.setattr(store, "write_artifact", spy)
    cb = _callback(data_folder)
    make_trainer(tmp_path, [cb]).fit(ScriptedClassifier(), datamodule=TinyData())

    beats = written[1:-1]  # between the start and the final record
    assert [s.status for s in beats] == ["running"] * 3
    assert [(s.num_epochs_trained, s.global_step, s.best_epoch) for s in beats] == [(1, 2, 0), (2, 4, 1), (3, 6, 1)]
    assert [s.best_metric_value for s in beats] == pytest.approx([0.5, 0.9, 0.9])
    heartbeats = [s.updated_at for s in written]
    assert all(b is not None for b in heartbeats)
    assert heartbeats == sorted(heartbeats)  # type: ignore[type-var]


def test_validation_inside_an_epoch_records_no_leftover_aggregate(tmp_path: Path, data_folder: Path) -> None:
    cb = _callback(data_folder)
    trainer = make_trainer(tmp_path, [cb], max_epochs=2, limit_train_batches=4, val_check_interval=2)
    trainer.fit(LoggingClassifier(), datamodule=TinyData())

    entries = History.model_validate(read_json(Path(cb.run_dir) / "history.json")).entries
    assert [(e.epoch, e.step) for e in entries] == [(0, 2), (0, 4), (1, 6), (1, 8)]
    assert "train_loss_epoch" not in entries[0].metrics  # no epoch has ended yet
    # Mid-epoch 1, Lightning still holds epoch 0's aggregate: not a measurement of step 6, so not recorded there.
    assert "train_loss_epoch" not in entries[2].metrics
    assert entries[1].metrics["train_loss_epoch"] != entries[3].metrics["train_loss_epoch"]
    assert all("val_loss" in e.metrics and "train_loss_step" in e.metrics for e in entries)


def test_a_resumed_fit_continues_the_history(tmp_path: Path, data_folder: Path) -> None:
    cb = ArcCheckpointCallback(
        root_name="flares/history", data_folder=data_folder, model_name="m", loss_function="ce", save_last=True
    )
    make_trainer(tmp_path, [cb], max_epochs=2).fit(ScriptedClassifier(), datamodule=TinyData())
    run_dir = Path(cb.run_dir)

    again = ArcCheckpointCallback(
        root_name="flares/history", data_folder=data_folder, model_name="m", loss_function="ce"
    )
    make_trainer(tmp_path, [again], max_epochs=4).fit(
        ScriptedClassifier(), datamodule=TinyData(), ckpt_path=run_dir / "last.ckpt"
    )
    assert Path(again.run_dir) == run_dir
    history = History.model_validate(read_json(run_dir / "history.json"))
    assert [(e.epoch, e.attempt) for e in history.entries] == [(0, 0), (1, 0), (2, 1), (3, 1)]
    assert [v for _, v in history.series("val_f1")] == pytest.approx([0.5, 0.9, 0.7, 0.7])


def test_an_unwritable_history_costs_a_warning_not_the_run(
    tmp_path: Path, data_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = store.write_artifact

    def failing(run_dir: str, record: Any) -> str:
        if isinstance(record, History):
            raise OSError(28, "No space left on device")
        return original(run_dir, record)

    monkeypatch.setattr(store, "write_artifact", failing)
    cb = _callback(data_folder)
    with pytest.warns(ArcCkptWarning, match=r"could not write the history of .*No space left on device"):
        make_trainer(tmp_path, [cb]).fit(ScriptedClassifier(), datamodule=TinyData())
    summary = TrainingSummary.model_validate(read_json(Path(cb.run_dir) / "training_summary.json"))
    assert (summary.status, summary.num_epochs_trained) == ("completed", 3)
    assert not (Path(cb.run_dir) / "history.json").exists()


def test_early_stopping_state_reaches_the_history_run(tmp_path: Path, data_folder: Path) -> None:
    cb = _callback(data_folder)
    stopper = EarlyStopping("val_f1", mode="max", patience=1)
    make_trainer(tmp_path, [cb, stopper], max_epochs=10).fit(
        ScriptedClassifier(val_scores=(0.5, 0.9, 0.7, 0.6)), datamodule=TinyData()
    )
    history = History.model_validate(read_json(Path(cb.run_dir) / "history.json"))
    assert [e.epoch for e in history.entries] == [0, 1, 2]  # stopped after one epoch without improvement


# ------------------------------------------------------------------------------------------- without a Trainer


def _recorder(tmp_path: Path) -> RunRecorder:
    identity = RunIdentity(
        run_dir=str(tmp_path / "run"), run_name="run", model_name="m", loss_function="l", start_time=T0
    )
    return RunRecorder(identity, read=read_record)


def test_the_same_validation_completed_at_epoch_end_replaces_its_entry(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    recorder.start(FitSnapshot(monitor="val_f1", mode="max"), now=T0)
    at = FitSnapshot(monitor="val_f1", mode="max", global_step=2)
    recorder.validated(at, {"val_f1": 0.5}, epoch=0, now=T0 + timedelta(seconds=1))
    recorder.validated(at, {"val_f1": 0.5, "train_loss_epoch": 1.2}, epoch=0, now=T0 + timedelta(seconds=2))
    history = History.model_validate(read_json(tmp_path / "run" / "history.json"))
    assert [e.metrics for e in history.entries] == [{"val_f1": 0.5, "train_loss_epoch": 1.2}]
    assert read_json(tmp_path / "run" / "training_summary.json")["updated_at"] == "2025-02-12T14:30:47+00:00"


def test_non_finite_metrics_are_null_in_the_file(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    recorder.start(FitSnapshot(), now=T0)
    recorder.validated(FitSnapshot(global_step=1), {"val_loss": float("nan")}, epoch=0, now=T0)
    text = (tmp_path / "run" / "history.json").read_text()
    assert "NaN" not in text
    assert read_json(tmp_path / "run" / "history.json")["entries"][0]["metrics"] == {"val_loss": None}


def test_series_takes_the_latest_attempt_at_each_step() -> None:
    entries = [
        HistoryEntry(epoch=0, step=2, time=T0, metrics={"val_f1": 0.5}),
        HistoryEntry(epoch=1, step=4, time=T0, metrics={"val_f1": 0.6}),
        HistoryEntry(epoch=1, step=4, time=T0, attempt=1, metrics={"val_f1": 0.65}),
        HistoryEntry(epoch=2, step=6, time=T0, attempt=1, metrics={"val_loss": 0.1}),
    ]
    history = History(entries=entries)
    assert [(e.step, v) for e, v in history.series("val_f1")] == [(2, 0.5), (4, 0.65)]
    assert history.metric_names() == ["val_f1", "val_loss"]
