"""Values a real training script records are true at every moment: epochs counted one way (running, killed,
requeued), the learning rate the epoch trained with, and a duration that counts training, not the time between
attempts."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import ScriptedClassifier, TinyData, make_trainer, read_json
from lightning.pytorch.callbacks import Callback, EarlyStopping, LearningRateMonitor

from arccnet_ckpt import ArcCheckpointCallback, ArcCkptWarning, load_run

SCORES = (0.5, 0.9, 0.7, 0.95, 0.1)


def _summary(run_dir: str | Path) -> dict[str, Any]:
    return read_json(Path(run_dir) / "training_summary.json")


class _Killed(BaseException):
    """What SIGKILL leaves: nothing after the point it struck runs, not even ``on_exception``'s writes."""


class _KillAfterEpochEnd(Callback):
    """Stands for a SIGKILL right after the records of epoch ``epoch`` were written: it snapshots the run folder's
    summary there (what a killed process leaves on disk) and stops the fit."""

    def __init__(self, run_dir: Any, epoch: int) -> None:
        self.run_dir = run_dir
        self.epoch = epoch
        self.left_on_disk: dict[str, Any] | None = None

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        # Lightning runs checkpoint callbacks last at an epoch's end: the next epoch's start is after our writes.
        if trainer.current_epoch == self.epoch + 1:
            self.left_on_disk = _summary(self.run_dir())
            raise _Killed


def test_a_killed_run_counts_every_validated_epoch(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="flares/binary_classification", data_folder=data_folder)
    kill = _KillAfterEpochEnd(lambda: cb.run_dir, epoch=2)
    trainer = make_trainer(tmp_path, [cb, kill], max_epochs=5)
    with pytest.raises(_Killed):
        trainer.fit(ScriptedClassifier(val_scores=(0.5, 0.6, 0.9, 0.1, 0.1)), datamodule=TinyData())
    on_disk = kill.left_on_disk
    assert on_disk is not None
    history = read_json(Path(cb.run_dir) / "history.json")
    assert [e["epoch"] for e in history["entries"]] == [0, 1, 2]
    assert (on_disk["status"], on_disk["best_epoch"]) == ("running", 2)
    assert on_disk["num_epochs_trained"] == 3  # epochs 0, 1 and 2 trained and validated


def test_epochs_are_counted_the_same_while_running_and_at_the_end(tmp_path, data_folder) -> None:
    seen: list[tuple[int, int]] = []

    class Watch(Callback):
        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            # what `ls` reads while the run is running: the records written at the previous epoch's end
            seen.append((trainer.current_epoch, _summary(cb.run_dir)["num_epochs_trained"]))

    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    trainer = make_trainer(tmp_path, [cb, Watch()], max_epochs=3)
    trainer.fit(ScriptedClassifier(), datamodule=TinyData())
    assert seen == [(0, 0), (1, 1), (2, 2)]
    assert _summary(cb.run_dir)["num_epochs_trained"] == 3


def test_a_requeue_of_a_finished_run_keeps_its_epoch_count(tmp_path, data_folder) -> None:
    """Completed 3 of max_epochs=3 with EarlyStopping, tested, then requeued from last.ckpt with the same settings."""

    def callbacks() -> list[Any]:
        cb = ArcCheckpointCallback(root_name="flares/multiclass", data_folder=data_folder, save_last=True)
        return [cb, EarlyStopping("val_f1", mode="max", patience=5)]

    first, stopper = callbacks()
    trainer = make_trainer(tmp_path, [first, stopper], max_epochs=3)
    model = ScriptedClassifier(val_scores=SCORES)
    trainer.fit(model, datamodule=TinyData())
    trainer.test(model, datamodule=TinyData(), ckpt_path="best")
    assert _summary(first.run_dir)["num_epochs_trained"] == 3

    again, stopper = callbacks()
    trainer = make_trainer(tmp_path, [again, stopper], max_epochs=3)
    trainer.fit(
        ScriptedClassifier(val_scores=SCORES), datamodule=TinyData(), ckpt_path=Path(first.run_dir, "last.ckpt")
    )
    assert again.run_dir == first.run_dir
    after = _summary(again.run_dir)
    assert (after["status"], after["num_epochs_trained"], after["global_step"]) == ("completed", 3, 6)
    assert after["resumes"][0]["num_epochs_trained"] == 3
    assert load_run(again.run_dir).summary.num_epochs_trained == 3


class _StepLRClassifier(ScriptedClassifier):  # type: ignore[misc, valid-type]
    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=0.003)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def test_history_records_the_learning_rate_each_epoch_trained_with(tmp_path, data_folder) -> None:
    from lightning.pytorch.loggers import CSVLogger

    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    monitor = LearningRateMonitor(logging_interval="epoch")
    trainer = make_trainer(
        tmp_path, [cb, monitor], max_epochs=5, logger=CSVLogger(tmp_path / "logs"), log_every_n_steps=1
    )
    trainer.fit(_StepLRClassifier(), datamodule=TinyData())
    history = read_json(Path(cb.run_dir) / "history.json")
    recorded = {e["epoch"]: e["metrics"]["lr-Adam"] for e in history["entries"]}
    assert recorded == {0: 0.003, 1: 0.003, 2: 0.0015, 3: 0.0015, 4: 0.00075}
    # what Lightning's own LearningRateMonitor says each epoch trained with
    import csv

    (metrics_csv,) = (tmp_path / "logs").rglob("metrics.csv")
    rows = [r for r in csv.DictReader(metrics_csv.open()) if r.get("lr-Adam")]
    assert [float(r["lr-Adam"]) for r in rows] == list(recorded.values())


def test_a_mid_epoch_validation_records_the_rate_of_the_steps_before_it(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    trainer = make_trainer(tmp_path, [cb], max_epochs=3, limit_train_batches=4, val_check_interval=2)
    trainer.fit(_StepLRClassifier(), datamodule=TinyData())
    history = read_json(Path(cb.run_dir) / "history.json")
    assert [(e["epoch"], e["metrics"]["lr-Adam"]) for e in history["entries"]] == [
        (0, 0.003),
        (0, 0.003),
        (1, 0.003),
        (1, 0.003),
        (2, 0.0015),
        (2, 0.0015),
    ]


class _Interrupt(Callback):
    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.current_epoch == 1:
            raise KeyboardInterrupt  # what Lightning turns SIGTERM and Ctrl-C into: an interrupted run


def test_duration_is_the_sum_of_the_attempts_not_the_time_between_them(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, save_last=True)
    trainer = make_trainer(tmp_path, [cb, _Interrupt()], max_epochs=3)
    with pytest.raises(SystemExit):  # Lightning turns Ctrl-C (and SIGTERM) into a graceful shutdown and sys.exit(1)
        trainer.fit(ScriptedClassifier(), datamodule=TinyData())
    first = _summary(cb.run_dir)
    assert first["status"] == "interrupted"
    time.sleep(2.5)  # the job waits in the queue

    again = ArcCheckpointCallback(root_name="r", data_folder=data_folder, save_last=True)
    trainer = make_trainer(tmp_path, [again], max_epochs=3)
    trainer.fit(ScriptedClassifier(), datamodule=TinyData(), ckpt_path=Path(cb.run_dir, "last.ckpt"))
    after = _summary(again.run_dir)
    assert after["status"] == "completed"
    attempts = after["attempts"]
    assert [a["attempt"] for a in attempts] == [0, 1]
    assert attempts[0]["start_time"] == first["start_time"]
    assert attempts[0]["end_time"] == first["end_time"]
    assert attempts[1]["start_time"] == after["resumes"][0]["time"]
    assert attempts[1]["end_time"] == after["end_time"]
    assert after["duration_seconds"] == pytest.approx(sum(a["duration_seconds"] for a in attempts))
    wall = (_parse(after["end_time"]) - _parse(after["start_time"])).total_seconds()
    assert after["duration_seconds"] < wall - 2.0  # the 2.5 s in the queue are not counted
    assert after["start_time"] == first["start_time"]  # the first start and the last end as they are


def test_a_killed_attempt_counts_until_its_last_heartbeat(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, save_last=True)
    kill = _KillAfterEpochEnd(lambda: cb.run_dir, epoch=1)
    trainer = make_trainer(tmp_path, [cb, kill], max_epochs=3)
    with pytest.raises(_Killed):
        trainer.fit(ScriptedClassifier(), datamodule=TinyData())
    # SIGKILL: nothing after the kill reached the disk; put back what was there at that moment
    (Path(cb.run_dir) / "training_summary.json").write_text(__import__("json").dumps(kill.left_on_disk))
    killed = kill.left_on_disk
    time.sleep(1.5)
    again = ArcCheckpointCallback(root_name="r", data_folder=data_folder, save_last=True)
    trainer = make_trainer(tmp_path, [again], max_epochs=3)
    trainer.fit(ScriptedClassifier(), datamodule=TinyData(), ckpt_path=Path(cb.run_dir, "last.ckpt"))
    after = _summary(again.run_dir)
    first_attempt = after["attempts"][0]
    assert (first_attempt["start_time"], first_attempt["end_time"]) == (killed["start_time"], killed["updated_at"])
    assert first_attempt["ended"] == "last heartbeat"
    assert after["duration_seconds"] == pytest.approx(sum(a["duration_seconds"] for a in after["attempts"]))


def _parse(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


def test_a_fold_loop_sharing_its_dirpath_records_every_folds_time(tmp_path, data_folder) -> None:
    """The users' cross-validation loop: a new Trainer and callback per fold, one shared ``dirpath``, every fold a
    fresh fit of the same length. Each fold is a run of its own (the later ones nested in the dirpath), with its own
    start, end and duration, never an attempt of the first fold."""
    shared = data_folder / "cv"
    summaries = []
    for fold in range(3):
        cb = ArcCheckpointCallback(dirpath=shared, filename=f"fold{fold}-{{epoch}}", root_name="flares/cv")
        trainer = make_trainer(tmp_path, [cb, EarlyStopping("val_f1", mode="max", patience=3)], max_epochs=2)
        with pytest.warns(ArcCkptWarning) if fold else contextlib.nullcontext():
            trainer.fit(ScriptedClassifier(), datamodule=TinyData())
        summaries.append(_summary(Path(cb.run_dir)))
    assert [s["status"] for s in summaries] == ["completed"] * 3
    assert [s.get("resumes", []) for s in summaries] == [[], [], []]
    assert [[a["attempt"] for a in s["attempts"]] for s in summaries] == [[0], [0], [0]]  # each its own attempt
    assert all(s["duration_seconds"] == s["attempts"][0]["duration_seconds"] > 0 for s in summaries)
    assert all(s["end_time"] > s["start_time"] for s in summaries)
    assert len({s["run_name"] for s in summaries}) == 3
    assert _summary(shared) == summaries[0]  # the first fold's record is still the first fold's


def test_a_validation_metric_on_a_plateau_is_in_every_history_entry(tmp_path, data_folder) -> None:
    """val_f1 stays 0.5 (a plateau): every validation run, also those inside an epoch, records it; the previous
    epoch's training aggregate (train_loss_epoch) is still left out of the entries inside an epoch."""

    class Plateau(ScriptedClassifier):  # type: ignore[misc, valid-type]
        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            loss = super().training_step(batch, batch_idx)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    trainer = make_trainer(tmp_path, [cb], max_epochs=3, limit_train_batches=4, val_check_interval=2)
    trainer.fit(Plateau(val_scores=(0.5,)), datamodule=TinyData())
    entries = read_json(Path(cb.run_dir) / "history.json")["entries"]
    assert [(e["epoch"], e["step"]) for e in entries] == [(0, 2), (0, 4), (1, 6), (1, 8), (2, 10), (2, 12)]
    assert [e["metrics"].get("val_f1") for e in entries] == [0.5] * 6
    inside = [e for e in entries if e["step"] % 4 == 2]
    assert [("train_loss_epoch" in e["metrics"]) for e in inside] == [False, False, False]
    assert all("train_loss_epoch" in e["metrics"] for e in entries if e["step"] % 4 == 0)
