"""ArcCheckpointCallback with Lightning's AsyncCheckpointIO: the record matches the checkpoints on disk.

AsyncCheckpointIO saves in a background thread and only waits for the saves in the strategy's teardown, after
``on_train_end``. ``GatedAsyncIO`` holds every save back until that teardown, so the tests see the worst case on
every machine: no checkpoint exists at train end, and ModelCheckpoint removes a superseded checkpoint before its
save has written it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import ScriptedClassifier, TinyData, make_trainer, read_json
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.plugins.io import AsyncCheckpointIO

from arccnet_ckpt import ArcCheckpointCallback, ClassificationReport, MinimalLogging, TrainingSummary, load_run, store

GATE_TIMEOUT_S = 30  # a save that never gets its turn fails the test instead of hanging it


class _GatedTorchIO(TorchCheckpointIO):
    """Writes a checkpoint only once ``gate`` is open; raises instead when ``fail`` is set."""

    def __init__(self, gate: threading.Event, fail: bool = False) -> None:
        super().__init__()
        self.gate = gate
        self.fail = fail

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if not self.gate.wait(GATE_TIMEOUT_S):
            raise TimeoutError("the save was never released")
        if self.fail:
            raise OSError(f"simulated upload failure for {path}")
        super().save_checkpoint(checkpoint, path, storage_options)


class GatedAsyncIO(AsyncCheckpointIO):
    """AsyncCheckpointIO whose saves all wait for its teardown (Lightning's strategy teardown)."""

    def __init__(self, fail: bool = False) -> None:
        self.gate = threading.Event()
        super().__init__(_GatedTorchIO(self.gate, fail=fail))

    def teardown(self) -> None:
        self.gate.set()
        super().teardown()


def _record_summary_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None, bool]]:
    """Log ``(status, best_model_path, whether that file existed)`` for every training_summary.json written."""
    writes: list[tuple[str, str | None, bool]] = []
    original = store.write_artifact

    def spy(run_dir: str, record: Any) -> str:
        if isinstance(record, TrainingSummary):
            best = record.best_model_path
            writes.append((record.status, best, bool(best) and (Path(run_dir) / best).is_file()))
        return original(run_dir, record)

    monkeypatch.setattr(store, "write_artifact", spy)
    return writes


def _checkpoints(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.glob("*.ckpt"))


@pytest.mark.parametrize(
    ("plugin", "save_last"),
    [
        pytest.param(AsyncCheckpointIO, False, id="async"),
        pytest.param(GatedAsyncIO, False, id="async-all-saves-pending-at-train-end"),
        pytest.param(GatedAsyncIO, True, id="async-pending-with-last"),
    ],
)
def test_best_model_path_names_a_checkpoint_that_exists_when_fit_returns(
    tmp_path: Path, data_folder: Path, monkeypatch: pytest.MonkeyPatch, plugin: type, save_last: bool
) -> None:
    writes = _record_summary_writes(monkeypatch)
    cb = ArcCheckpointCallback(
        root_name="async/io", data_folder=data_folder, model_name="m", loss_function="ce", save_last=save_last
    )
    trainer = make_trainer(tmp_path, [cb], plugins=[plugin()])
    trainer.fit(ScriptedClassifier(), datamodule=TinyData())

    run_dir = Path(cb.run_dir)
    summary = TrainingSummary.model_validate(read_json(run_dir / "training_summary.json"))
    assert summary.status == "completed"
    assert summary.best_model_path == "best-epoch01-val_f1-0.900.ckpt"  # relative to the run folder
    assert (run_dir / summary.best_model_path).is_file()
    assert summary.best_epoch == 1
    assert summary.last_model_path == ("last.ckpt" if save_last else None)
    # The folder holds what the record names and nothing else: the epoch-0 checkpoint, dropped by ModelCheckpoint
    # while its save was still queued, does not come back once the queue is written.
    expected = sorted({summary.best_model_path, *([summary.last_model_path] if save_last else [])})
    assert _checkpoints(run_dir) == expected
    minimal = MinimalLogging.model_validate(read_json(run_dir / "minimal_logging.json"))
    assert (minimal.status, minimal.best_epoch) == ("completed", 1)

    # "completed" was never written while the checkpoint it names was missing.
    assert [w for w in writes if w[0] == "completed" and not w[2]] == []
    # Fit start, one heartbeat per validation (epoch), then the final record.
    assert [w[0] for w in writes] == ["running"] * (1 + summary.num_epochs_trained) + ["completed"]

    run = load_run(run_dir)
    assert run.best_checkpoint == str(run_dir / summary.best_model_path)
    assert run.load_model(ScriptedClassifier).layer.weight.shape == (3, 8)


def test_test_after_an_async_fit_uses_the_best_checkpoint(tmp_path: Path, data_folder: Path) -> None:
    cb = ArcCheckpointCallback(root_name="async/io", data_folder=data_folder, model_name="m", loss_function="ce")
    trainer = make_trainer(tmp_path, [cb], plugins=[GatedAsyncIO()])
    model = ScriptedClassifier()
    trainer.fit(model, datamodule=TinyData())
    trainer.test(model, datamodule=TinyData(), ckpt_path="best")

    run_dir = Path(cb.run_dir)
    report = ClassificationReport.model_validate(read_json(run_dir / "classification_report.json"))
    assert report.checkpoint == "best-epoch01-val_f1-0.900.ckpt"
    summary = TrainingSummary.model_validate(read_json(run_dir / "training_summary.json"))
    assert (summary.status, summary.best_model_path) == ("completed", report.checkpoint)
    assert set(summary.test_results) == {"test_loss", "test_accuracy"}


def test_a_failed_background_save_is_recorded_as_failed_never_completed(
    tmp_path: Path, data_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _record_summary_writes(monkeypatch)
    cb = ArcCheckpointCallback(root_name="async/io", data_folder=data_folder, model_name="m", loss_function="ce")
    trainer = make_trainer(tmp_path, [cb], plugins=[GatedAsyncIO(fail=True)])
    with pytest.raises(OSError, match=r"simulated upload failure for .*best-epoch0\d-val_f1"):
        trainer.fit(ScriptedClassifier(), datamodule=TinyData())

    run_dir = Path(cb.run_dir)
    assert _checkpoints(run_dir) == []
    summary = TrainingSummary.model_validate(read_json(run_dir / "training_summary.json"))
    assert summary.status == "failed"
    assert summary.error is not None
    assert summary.error.type == "OSError"
    assert "simulated upload failure" in summary.error.message
    assert [w[0] for w in writes] == ["running"] * (len(writes) - 1) + ["failed"]  # start, heartbeats, the end
    assert read_json(run_dir / "minimal_logging.json")["status"] == "failed"
