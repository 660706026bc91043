"""RunRecorder without a Trainer: every transition of the life cycle, every refused one, and the merge rules
(never downgrade, never lose a field, measured values stay measured)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import read_json

from arccnet_ckpt import ArtifactError, LifecycleError, ManagerWarning, load_run
from arccnet_ckpt.core.recorder import TRANSITIONS, Event, FitSnapshot, Phase, RunIdentity, RunRecorder, transition
from arccnet_ckpt.records import ClassificationReport, ConfigRecord, MinimalLogging, TrainingSummary
from arccnet_ckpt.records.reader import read_record

T0 = datetime(2025, 2, 12, 14, 30, 45, tzinfo=timezone.utc)

DONE = FitSnapshot(
    monitor="val_f1",
    mode="max",
    best_epoch=1,
    best_metric_value=0.9,
    best_model_path="best-epoch01-val_f1-0.900.ckpt",
    last_model_path="last.ckpt",
    num_epochs_trained=3,
    global_step=6,
    early_stopping=[
        {
            "monitor": "val_f1",
            "mode": "max",
            "patience": 1,
            "min_delta": 0.0,
            "wait_count": 1,
            "stopped_epoch": 2,
            "best_score": 0.9,
            "reason": "PATIENCE_EXHAUSTED",
            "message": "stopped",
        }
    ],
)


def _recorder(tmp_path: Path, name: str = "run") -> RunRecorder:
    folder = tmp_path / name
    folder.mkdir()
    identity = RunIdentity(
        run_dir=str(folder),
        run_name=name,
        model_name="resnet18",
        loss_function="weighted_bce",
        start_time=T0,
        root_name="flares/binary_classification",
        class_names=["negative", "positive"],
    )
    return RunRecorder(identity, read=read_record)


def _summary(recorder: RunRecorder) -> dict:
    return read_json(Path(recorder.run_dir) / "training_summary.json")


def _phase_with_record(recorder: RunRecorder, phase: Phase) -> None:
    """Bring a fresh recorder's folder to ``phase`` through allowed transitions."""
    if phase is Phase.NEW:
        return
    recorder.start(FitSnapshot(monitor="val_f1", mode="max"), now=T0)
    if phase is Phase.COMPLETED:
        recorder.finish(DONE, now=T0 + timedelta(minutes=5))
    elif phase is Phase.FAILED:
        recorder.fail(DONE, {"type": "RuntimeError", "message": "boom"}, now=T0 + timedelta(minutes=5))
    elif phase is Phase.INTERRUPTED:
        recorder.fail(DONE, {"type": "KeyboardInterrupt", "message": ""}, interrupted=True, now=T0)


def _apply(recorder: RunRecorder, event: Event) -> Phase:
    if event is Event.START:
        return recorder.start(FitSnapshot(monitor="val_f1", mode="max"), now=T0)
    if event is Event.EVALUATE:
        return recorder.start(FitSnapshot(), kind="evaluation", now=T0)
    if event is Event.RESUME:
        return recorder.start(FitSnapshot(monitor="val_f1", mode="max"), checkpoint="last.ckpt", now=T0)
    if event is Event.FINISH:
        return recorder.finish(DONE, now=T0)
    if event is Event.FAIL:
        return recorder.fail(DONE, {"type": "RuntimeError", "message": "boom"}, now=T0)
    if event is Event.INTERRUPT:
        return recorder.fail(DONE, {"type": "KeyboardInterrupt", "message": ""}, interrupted=True, now=T0)
    if event is Event.VALIDATE:
        return recorder.validated(DONE, {"val_f1": 0.9}, epoch=1, now=T0)
    if event is Event.LINK:
        return recorder.linked([{"type": "pkg.CSVLogger", "version": 0}], stage="fit", now=T0)
    return recorder.record_test({"test_f1": 0.8}, report_fields={}, checkpoint=None, now=T0)


# The transitions a recorder's public calls can ask for: START/EVALUATE/RESUME are all start() (which one depends
# on the folder), so start() on a folder with a record is always a resume.
_CALLABLE = [
    (phase, event)
    for phase in Phase
    for event in Event
    if not (event in (Event.START, Event.EVALUATE) and phase is not Phase.NEW)
    and not (event is Event.RESUME and phase is Phase.NEW)
]


@pytest.mark.parametrize(("phase", "event"), [pair for pair in _CALLABLE if pair in TRANSITIONS])
def test_every_allowed_transition_writes_its_phase(tmp_path: Path, phase: Phase, event: Event) -> None:
    recorder = _recorder(tmp_path)
    _phase_with_record(recorder, phase)
    assert recorder.phase is phase
    assert _apply(recorder, event) is TRANSITIONS[(phase, event)]
    assert recorder.phase is TRANSITIONS[(phase, event)]
    assert _summary(recorder)["status"] == TRANSITIONS[(phase, event)].value


@pytest.mark.parametrize(("phase", "event"), [pair for pair in _CALLABLE if pair not in TRANSITIONS])
def test_every_refused_transition_raises_and_writes_nothing(tmp_path: Path, phase: Phase, event: Event) -> None:
    recorder = _recorder(tmp_path)
    _phase_with_record(recorder, phase)
    before = {p.name: p.read_bytes() for p in Path(recorder.run_dir).iterdir()}
    with pytest.raises(LifecycleError, match=rf"cannot {event.value} a run that is {phase.value}: .* allows"):
        _apply(recorder, event)
    assert {p.name: p.read_bytes() for p in Path(recorder.run_dir).iterdir()} == before


def test_transition_table_names_what_is_allowed() -> None:
    with pytest.raises(LifecycleError, match=r"cannot finish a run that is completed: .* allows link, resume, test$"):
        transition(Phase.COMPLETED, Event.FINISH)
    with pytest.raises(LifecycleError, match=r"cannot test a run that is new: .* allows evaluate, start$"):
        transition(Phase.NEW, Event.TEST)


def test_a_training_run_from_start_to_test(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    config = ConfigRecord(config={"LEARNING_RATE": 1e-4}, model_name="resnet18")
    recorder.start(FitSnapshot(monitor="val_f1", mode="max"), config=config, now=T0)
    running = _summary(recorder)
    assert (running["status"], running["kind"], running["end_time"]) == ("running", "training", None)
    written = read_json(Path(recorder.run_dir) / "config.json")
    assert written["LEARNING_RATE"] == 1e-4  # json.load(f)["LEARNING_RATE"], as on every old run
    assert written["_arccnet"]["model_name"] == "resnet18"

    recorder.finish(DONE, now=T0 + timedelta(minutes=5))
    done = _summary(recorder)
    assert done["status"] == "completed"
    assert (done["best_epoch"], done["best_metric_value"], done["best_val_f1"]) == (1, 0.9, 0.9)
    assert (done["num_epochs_trained"], done["global_step"], done["early_stopping_triggered"]) == (3, 6, True)
    assert done["duration_seconds"] == 300.0
    minimal = read_json(Path(recorder.run_dir) / "minimal_logging.json")
    assert (minimal["best_epoch"], minimal["best_val_f1"], minimal["status"]) == (1, 0.9, "completed")

    recorder.record_test({"test_f1": 0.85}, report_fields={}, checkpoint=DONE.best_model_path, now=T0)
    tested = _summary(recorder)
    assert tested["test_results"] == {"test_f1": 0.85}
    assert tested["tested_checkpoint"] == "best-epoch01-val_f1-0.900.ckpt"
    report = ClassificationReport.model_validate(read_json(Path(recorder.run_dir) / "classification_report.json"))
    assert (report.checkpoint, report.class_names, report.test_metrics) == (
        "best-epoch01-val_f1-0.900.ckpt",
        ["negative", "positive"],
        {"test_f1": 0.85},
    )


def test_requeue_of_a_finished_and_tested_run_that_trains_nothing_keeps_every_number(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    recorder.start(FitSnapshot(monitor="val_f1", mode="max"), now=T0)
    recorder.finish(DONE, now=T0 + timedelta(minutes=5))
    recorder.record_test({"test_f1": 0.85}, report_fields={}, checkpoint=DONE.best_model_path, now=T0)
    before = _summary(recorder)

    # The requeued job: Lightning has not restored the loops yet at fit start (step 0), and max_epochs is reached.
    requeue = T0 + timedelta(hours=2)
    recorder.start(FitSnapshot(monitor="val_f1", mode="max"), checkpoint="last.ckpt", restart_count=1, now=requeue)
    running = _summary(recorder)
    assert running["status"] == "running"
    assert running["num_epochs_trained"] == 3
    assert running["test_results"] == {"test_f1": 0.85}
    recorder.finish(DONE, now=requeue + timedelta(seconds=3))

    after = _summary(recorder)
    for key in ("best_epoch", "best_metric_value", "num_epochs_trained", "global_step", "test_results", "end_time"):
        assert after[key] == before[key], key
    assert after["status"] == "completed"
    assert after["duration_seconds"] == before["duration_seconds"]
    assert after["resumed_from"] == "last.ckpt"
    assert after["resumes"] == [
        {
            "time": requeue.isoformat(),
            "checkpoint": "last.ckpt",
            "previous_status": "completed",
            "previous_error": None,
            "previous_end_time": before["end_time"],
            "num_epochs_trained": 3,
            "global_step": 6,
            "restart_count": 1,  # SLURM_RESTART_COUNT of the requeued job
        }
    ]


def test_a_resume_that_trains_replaces_the_numbers_and_keeps_what_it_did_not_redo(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    recorder.start(FitSnapshot(monitor="val_f1", mode="max"), now=T0)
    recorder.fail(DONE, {"type": "RuntimeError", "message": "node lost"}, now=T0 + timedelta(minutes=1))
    recorder.record_test({"test_f1": 0.7}, report_fields={}, checkpoint=None, now=T0)
    recorder.start(FitSnapshot(monitor="val_f1", mode="max"), checkpoint="/scratch/elsewhere.ckpt", now=T0)
    further = FitSnapshot(
        monitor="val_f1",
        mode="max",
        best_epoch=4,
        best_metric_value=0.95,
        best_model_path="best-epoch04-val_f1-0.950.ckpt",
        num_epochs_trained=5,
        global_step=10,
    )
    recorder.finish(further, now=T0 + timedelta(minutes=10))
    after = _summary(recorder)
    assert (after["status"], after["error"]) == ("completed", None)
    assert (after["best_epoch"], after["best_metric_value"], after["num_epochs_trained"]) == (4, 0.95, 5)
    assert after["end_time"] == (T0 + timedelta(minutes=10)).isoformat()
    assert after["test_results"] == {"test_f1": 0.7}  # not redone: kept
    assert after["resumed_from"] == "/scratch/elsewhere.ckpt"  # outside the run folder: as given
    (entry,) = after["resumes"]
    assert (entry["previous_status"], entry["previous_error"]["message"]) == ("failed", "node lost")


def test_failure_and_interruption_record_the_error_and_the_progress(tmp_path: Path) -> None:
    failed, interrupted = _recorder(tmp_path, "a"), _recorder(tmp_path, "b")
    for recorder in (failed, interrupted):
        recorder.start(FitSnapshot(monitor="val_f1", mode="max"), now=T0)
    failed.fail(DONE, {"type": "RuntimeError", "message": "boom", "traceback": "..."}, now=T0)
    interrupted.fail(DONE, {"type": "KeyboardInterrupt", "message": ""}, interrupted=True, now=T0)
    assert _summary(failed)["status"] == "failed"
    assert _summary(failed)["error"] == {"type": "RuntimeError", "message": "boom", "traceback": "..."}
    assert _summary(interrupted)["status"] == "interrupted"
    assert read_json(Path(failed.run_dir) / "minimal_logging.json")["status"] == "failed"
    assert _summary(failed)["num_epochs_trained"] == 3


def test_an_evaluation_is_not_a_training_run(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    outside = "/models/shared/best.ckpt"
    recorder.start(FitSnapshot(), kind="evaluation", checkpoint=outside, now=T0)
    recorder.record_test({"test_f1": 0.8}, report_fields={}, checkpoint=outside, now=T0)
    recorder.finish(FitSnapshot(), now=T0 + timedelta(seconds=30))
    summary = _summary(recorder)
    assert (summary["kind"], summary["status"], summary["num_epochs_trained"]) == ("evaluation", "completed", 0)
    assert summary["tested_checkpoint"] == outside
    assert summary["resumed_from"] is None
    assert not (Path(recorder.run_dir) / "minimal_logging.json").exists()
    assert read_json(Path(recorder.run_dir) / "classification_report.json")["checkpoint"] == outside


def test_without_a_monitor_nothing_is_invented(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    recorder.start(FitSnapshot(), now=T0)
    recorder.finish(FitSnapshot(last_model_path="last.ckpt", num_epochs_trained=2, global_step=4), now=T0)
    summary, minimal = _summary(recorder), read_json(Path(recorder.run_dir) / "minimal_logging.json")
    assert (summary["monitor"], summary["mode"], summary["best_metric_value"]) == (None, None, None)
    assert (minimal["best_metric_name"], minimal["best_metric_value"]) == (None, None)
    fields = {*TrainingSummary.model_fields, *MinimalLogging.model_fields}
    assert not [k for k in (*summary, *minimal) if k.startswith("best_") and k not in fields]  # no best_none


def test_fields_added_by_others_survive_every_transition(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    recorder.start(FitSnapshot(monitor="val_f1", mode="max"), now=T0)
    recorder.merge_manual(TrainingSummary, {"notes": "augmentations v2", "class_names": ["no", "yes"]})
    recorder.finish(DONE, now=T0)
    recorder.record_test({"test_f1": 0.8}, report_fields={}, checkpoint=None, now=T0)
    recorder.start(FitSnapshot(monitor="val_f1", mode="max"), now=T0)
    recorder.finish(DONE, now=T0)
    summary = _summary(recorder)
    assert (summary["notes"], summary["class_names"]) == ("augmentations v2", ["no", "yes"])


def test_measured_values_stay_measured_and_the_callers_go_to_manual_values(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    recorder.start(FitSnapshot(monitor="val_f1", mode="max"), now=T0)
    recorder.finish(DONE, now=T0)
    with pytest.warns(ManagerWarning, match=r"best_epoch=2 differs from the value the callback measured \(1\)"):
        recorder.merge_manual(
            TrainingSummary,
            {"best_epoch": 2, "best_val_f1": None, "num_epochs_trained": 3, "test_results": {"test_f1": 0.5}},
        )
    summary = _summary(recorder)
    assert (summary["best_epoch"], summary["best_metric_value"], summary["best_val_f1"]) == (1, 0.9, 0.9)
    assert summary["manual_values"] == {"best_epoch": 2, "best_metric_value": None}  # 3 epochs agreed: not kept
    assert summary["test_results"] == {"test_f1": 0.5}  # not measured by the callback: the caller's value


def test_a_manual_only_run_takes_the_callers_values(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    recorder.merge_manual(
        MinimalLogging, {"timestamp": T0, "best_epoch": 4, "best_metric_value": 0.8, "num_epochs_trained": 5}
    )
    recorder.merge_manual(MinimalLogging, {"timestamp": T0, "best_epoch": 5, "best_metric_value": 0.81})
    minimal = read_json(Path(recorder.run_dir) / "minimal_logging.json")
    assert (minimal["best_epoch"], minimal["best_val_f1"], minimal["recorded_by"]) == (5, 0.81, "manual")
    assert minimal["manual_values"] == {}
    assert load_run(recorder.run_dir).minimal.num_epochs_trained == 5


def test_the_recorder_imports_neither_torch_nor_lightning() -> None:
    code = (
        "import sys, arccnet_ckpt.core.recorder\n"
        "heavy = [m for m in ('torch', 'lightning', 'pytorch_lightning') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_a_fit_in_an_evaluations_folder_makes_it_a_training_run(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    recorder.start(FitSnapshot(), kind="evaluation", now=T0)
    recorder.record_test({"test_f1": 0.8}, report_fields={}, checkpoint=None, now=T0)
    recorder.finish(FitSnapshot(), now=T0)
    recorder.start(FitSnapshot(monitor="val_f1", mode="max"), now=T0)
    recorder.finish(DONE, now=T0)
    summary = _summary(recorder)
    assert (summary["kind"], summary["status"], summary["num_epochs_trained"]) == ("training", "completed", 3)
    assert summary["test_results"] == {"test_f1": 0.8}


def _logger(version: int) -> dict[str, Any]:
    return {"type": "lightning.pytorch.loggers.csv_logs.CSVLogger", "name": "flares", "version": version}


def test_loggers_of_each_fit_and_test_are_kept_and_the_same_attempts_replaced(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    recorder.start(FitSnapshot(monitor="val_f1", mode="max"), now=T0)
    recorder.linked([_logger(0)], stage="fit", now=T0)
    recorder.finish(dataclasses.replace(DONE, loggers=[{**_logger(0), "log_dir": "logs/v0"}]), now=T0)
    recorder.start(FitSnapshot(monitor="val_f1", mode="max"), checkpoint="last.ckpt", now=T0)  # a resume
    recorder.linked([_logger(1)], stage="fit", now=T0)
    recorder.linked([_logger(7)], stage="test", now=T0)
    recorder.fail(FitSnapshot(), {"type": "RuntimeError", "message": "boom"}, now=T0)  # loggers not read: kept
    loggers = _summary(recorder)["loggers"]
    assert [(e["version"], e["attempt"], e["stage"], e["log_dir"]) for e in loggers] == [
        (0, 0, "fit", "logs/v0"),
        (1, 1, "fit", None),
        (7, 1, "test", None),
    ]
    assert all(e["errors"] == {} and e["url"] is None for e in loggers)


def test_a_logger_entry_with_an_unknown_key_is_refused_naming_it(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    recorder.start(FitSnapshot(), now=T0)
    with pytest.raises(ArtifactError, match=r"loggers\.0\.colour"):
        recorder.linked([{**_logger(0), "colour": "red"}], stage="fit", now=T0)
