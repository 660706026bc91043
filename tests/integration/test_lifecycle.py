"""Every way a Trainer can end, with a real Trainer: requeues, fits that train nothing, evaluations, no monitor,
a mocked save, and checkpoints that still reach their final name through the staged checkpoint IO."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest
from conftest import ScriptedClassifier, TinyData, make_trainer, read_json

from arccnet_ckpt import ArcCheckpointCallback, best_run, find_runs, load_run
from arccnet_ckpt.lightning.staging import StagedCheckpointIO

SCORES = (0.5, 0.9, 0.7, 0.95, 0.1)


def _summary(cb: ArcCheckpointCallback) -> dict:
    return read_json(Path(cb.run_dir) / "training_summary.json")


def _finished_and_tested_run(tmp_path: Path, data_folder: Path) -> ArcCheckpointCallback:
    cb = ArcCheckpointCallback(root_name="flares/multiclass", data_folder=data_folder, save_last=True)
    trainer = make_trainer(tmp_path, [cb], max_epochs=2)
    model = ScriptedClassifier(val_scores=SCORES)
    trainer.fit(model, datamodule=TinyData())
    trainer.test(model, datamodule=TinyData(), ckpt_path="best")
    return cb


def _requeue(
    tmp_path: Path, data_folder: Path, first: ArcCheckpointCallback, **trainer_kwargs
) -> ArcCheckpointCallback:
    """What a requeued cluster job does: a new process, a new callback, fit(ckpt_path=<run>/last.ckpt)."""
    cb = ArcCheckpointCallback(root_name="flares/multiclass", data_folder=data_folder, save_last=True)
    trainer = make_trainer(tmp_path, [cb], **trainer_kwargs)
    trainer.fit(
        ScriptedClassifier(val_scores=SCORES), datamodule=TinyData(), ckpt_path=Path(first.run_dir, "last.ckpt")
    )
    return cb


@pytest.mark.parametrize(
    "trainer_kwargs",
    [
        pytest.param({"max_epochs": 2}, id="max_epochs-already-reached"),
        pytest.param({"max_epochs": 5, "max_steps": 4}, id="max_steps-already-reached"),
    ],
)
def test_requeue_of_a_finished_and_tested_run_loses_nothing(tmp_path, data_folder, trainer_kwargs) -> None:
    first = _finished_and_tested_run(tmp_path, data_folder)
    before = _summary(first)
    assert (before["status"], before["num_epochs_trained"], before["best_epoch"]) == ("completed", 2, 1)
    assert set(before["test_results"]) == {"test_loss", "test_accuracy"}

    again = _requeue(tmp_path, data_folder, first, **trainer_kwargs)

    assert again.run_dir == first.run_dir
    after = _summary(again)
    assert after["status"] == "completed"
    for key in ("start_time", "end_time", "duration_seconds", "best_epoch", "best_metric_value", "best_model_path"):
        assert after[key] == before[key], key
    assert (after["num_epochs_trained"], after["global_step"]) == (2, 4)
    assert after["test_results"] == before["test_results"]
    assert after["resumed_from"] == "last.ckpt"
    (entry,) = after["resumes"]
    assert (entry["checkpoint"], entry["previous_status"], entry["global_step"]) == ("last.ckpt", "completed", 4)
    report = read_json(Path(first.run_dir) / "classification_report.json")
    assert report["test_metrics"] == before["test_results"]  # the report of the run is still there


def test_a_resume_that_trains_updates_the_numbers_and_keeps_the_test_results(tmp_path, data_folder) -> None:
    first = _finished_and_tested_run(tmp_path, data_folder)
    before = _summary(first)
    again = _requeue(tmp_path, data_folder, first, max_epochs=4)
    after = _summary(again)
    assert (after["status"], after["num_epochs_trained"], after["global_step"]) == ("completed", 4, 8)
    assert (after["best_epoch"], after["best_model_path"]) == (3, "best-epoch03-val_f1-0.950.ckpt")
    assert after["start_time"] == before["start_time"]
    assert after["end_time"] > before["end_time"]
    assert after["test_results"] == before["test_results"]
    assert [e["previous_status"] for e in after["resumes"]] == ["completed"]


def test_two_requeues_are_two_resume_entries(tmp_path, data_folder) -> None:
    first = _finished_and_tested_run(tmp_path, data_folder)
    _requeue(tmp_path, data_folder, first, max_epochs=3)
    last = _requeue(tmp_path, data_folder, first, max_epochs=3)
    after = _summary(last)
    assert [(e["checkpoint"], e["num_epochs_trained"]) for e in after["resumes"]] == [
        ("last.ckpt", 2),
        ("last.ckpt", 3),
    ]
    assert (after["status"], after["num_epochs_trained"]) == ("completed", 3)


def test_a_fit_that_trains_nothing_still_completes(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    model = ScriptedClassifier()
    make_trainer(tmp_path, [cb], limit_train_batches=0).fit(model, datamodule=TinyData())
    summary = _summary(cb)
    assert (summary["status"], summary["num_epochs_trained"], summary["global_step"]) == ("completed", 0, 0)
    assert summary["end_time"] is not None
    assert model.steps_run == 0
    assert read_json(Path(cb.run_dir) / "minimal_logging.json")["status"] == "completed"


def test_a_test_only_trainer_without_a_run_checkpoint_is_an_evaluation(tmp_path, data_folder) -> None:
    training = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    make_trainer(tmp_path, [training], max_epochs=2).fit(ScriptedClassifier(), datamodule=TinyData())
    outside = tmp_path / "shared-models" / "flare.ckpt"
    outside.parent.mkdir()
    outside.write_bytes(Path(training.best_model_path).read_bytes())

    evaluation = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    make_trainer(tmp_path, [evaluation]).test(ScriptedClassifier(), datamodule=TinyData(), ckpt_path=str(outside))

    assert evaluation.run_dir != training.run_dir
    summary = _summary(evaluation)
    assert (summary["kind"], summary["status"], summary["tested_checkpoint"]) == (
        "evaluation",
        "completed",
        str(outside),
    )
    assert set(summary["test_results"]) == {"test_loss", "test_accuracy"}
    assert read_json(Path(evaluation.run_dir) / "classification_report.json")["checkpoint"] == str(outside)
    captured = read_json(Path(evaluation.run_dir) / "config.json")["_arccnet"]
    assert captured["model"]["class_path"].endswith("ScriptedClassifier")
    assert not (Path(evaluation.run_dir) / "minimal_logging.json").exists()

    assert [r.path for r in find_runs(data_folder, "r")] == [training.run_dir]
    assert [r.path for r in find_runs(data_folder, "r", kind="evaluation")] == [evaluation.run_dir]
    assert len(find_runs(data_folder, "r", kind=None)) == 2
    assert best_run(data_folder, "r", metric="test_accuracy") is None  # the only tested folder is an evaluation
    assert best_run(data_folder, "r", metric="test_accuracy", kind="evaluation").path == evaluation.run_dir
    with pytest.raises(ValueError, match=r"kind must be one of 'training', 'evaluation' or None for both, got 'eval'"):
        find_runs(data_folder, "r", kind="eval")


def test_a_failing_evaluation_is_recorded_as_failed(tmp_path, data_folder) -> None:
    class Broken(ScriptedClassifier):
        def test_step(self, batch, batch_idx):
            raise RuntimeError("bad test batch")

    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    with pytest.raises(RuntimeError, match="bad test batch"):
        make_trainer(tmp_path, [cb]).test(Broken(), datamodule=TinyData())
    summary = _summary(cb)
    assert (summary["kind"], summary["status"], summary["error"]["message"]) == (
        "evaluation",
        "failed",
        "bad test batch",
    )


def test_without_a_monitor_no_metric_name_is_invented(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, monitor=None)
    make_trainer(tmp_path, [cb], max_epochs=2).fit(ScriptedClassifier(), datamodule=TinyData())
    summary = _summary(cb)
    minimal = read_json(Path(cb.run_dir) / "minimal_logging.json")
    assert (summary["monitor"], summary["mode"], summary["best_metric_value"]) == (None, None, None)
    assert (minimal["best_metric_name"], minimal["best_metric_value"]) == (None, None)
    assert "best_none" not in summary
    assert "best_none" not in minimal
    assert load_run(cb.run_dir).minimal.best_metric_name is None


def test_a_mocked_save_checkpoint_does_not_kill_training(tmp_path, data_folder) -> None:
    # Lightning's own ModelCheckpoint tests mock trainer.save_checkpoint: no file is written, and training goes on.
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    trainer = make_trainer(tmp_path, [cb], max_epochs=2)
    with mock.patch.object(trainer, "save_checkpoint") as save:
        trainer.fit(ScriptedClassifier(), datamodule=TinyData())
    assert save.call_count == 2
    assert _summary(cb)["status"] == "completed"
    assert not list(Path(cb.run_dir).glob("*.ckpt"))


def test_checkpoints_are_staged_beside_their_name_through_the_strategys_checkpoint_io(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    trainer = make_trainer(tmp_path, [cb], max_epochs=2)
    written: list[str] = []
    original = os.replace

    def spy(src, dst):
        written.append(f"{Path(src).parent == Path(dst).parent}:{Path(src).name[:9]}->{Path(dst).name}")
        return original(src, dst)

    with mock.patch("arccnet_ckpt.store.write.os.replace", spy):
        trainer.fit(ScriptedClassifier(), datamodule=TinyData())
    assert isinstance(trainer.strategy.checkpoint_io, StagedCheckpointIO)
    assert "True:.arc-tmp-->best-epoch01-val_f1-0.900.ckpt" in written
    assert not [p.name for p in Path(cb.run_dir).iterdir() if p.name.startswith(".arc-tmp-")]
