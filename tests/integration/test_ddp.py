"""Two-process CPU DDP (gloo): one run folder, files written by rank 0 only, synced test metrics, no hang on failure.

Each case runs ``tests/helpers/ddp_train.py`` as a script, the way ``strategy="ddp"`` runs on a cluster node: Lightning
re-launches the script for rank 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import read_json

from arccnet_ckpt import ClassificationReport, TrainingSummary

SCRIPT = Path(__file__).parents[1] / "helpers" / "ddp_train.py"
TIMEOUT_S = 180

pytestmark = pytest.mark.slow


def _run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    logs = tmp_path / "logs"
    logs.mkdir()
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "data"), str(logs), *extra],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,  # a hang fails the test instead of blocking CI
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # each rank's last line is out before any exit abort
    )


_GLOO_EXIT_ABORT = "terminate called without an active exception"


def _completed(done: subprocess.CompletedProcess[str], last_line: str) -> bool:
    """The script ran to its end on both ranks.

    Now and then (about one run in twenty here) torch's gloo back-end aborts the interpreter at exit, after the
    script's last line, when a process group is still alive: SIGABRT with this message on stderr. Real scripts do not
    destroy their process group, so the seed script meets it too. It is accepted only after both ranks printed their
    last line; any other failure, or an abort before the end, still fails the test.
    """
    if done.returncode == 0:
        return True
    return (
        done.returncode == -6 and done.stderr.rstrip().endswith(_GLOO_EXIT_ABORT) and done.stdout.count(last_line) == 2
    )


def test_ddp_run_writes_one_folder_from_rank_zero(tmp_path: Path) -> None:
    done = _run(tmp_path)
    assert _completed(done, "run_dir "), done.stderr[-3000:]
    runs = list((tmp_path / "data" / "checkpoints" / "ddp" / "test").iterdir())
    assert len(runs) == 1
    run_dir = runs[0]
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "best-epoch01-val_f1-0.900.ckpt",
        "classification_report.json",
        "config.json",
        "history.json",
        "minimal_logging.json",
        "report.html",
        "training_summary.json",
    ]
    # both ranks resolved the same folder
    assert done.stdout.count(f"run_dir {run_dir}") == 2

    # every artifact written by rank 0 only: at fit start, train end and test end
    assert not (tmp_path / "logs" / "writes-rank1.log").exists()
    writes = (tmp_path / "logs" / "writes-rank0.log").read_text().split()
    assert writes.count("config.json") == 1
    epochs = len(read_json(run_dir / "history.json")["entries"])
    assert epochs == 2
    assert writes.count("history.json") == epochs  # one per validation, from rank 0 alone
    assert writes.count("training_summary.json") == 3 + epochs  # start, a heartbeat per validation, end, test
    assert writes.count("minimal_logging.json") == 2  # at fit end, and with the test metrics after test
    assert writes.count("classification_report.json") == 1

    summary = TrainingSummary.model_validate(read_json(run_dir / "training_summary.json"))
    assert (summary.status, summary.best_epoch, summary.num_epochs_trained) == ("completed", 1, 2)
    config = read_json(run_dir / "config.json")["_arccnet"]
    assert (config["trainer"]["strategy"], config["trainer"]["num_devices"]) == ("ddp", 2)

    report = ClassificationReport.model_validate(read_json(run_dir / "classification_report.json"))
    # 24 test samples split 12/12 over the ranks: the metric and the confusion matrix are sums over both
    assert report.test_metrics["test_samples"] == 24.0
    assert report.num_samples == 24
    assert sum(map(sum, report.confusion_matrix)) == 24
    assert summary.test_results == report.test_metrics


@pytest.mark.parametrize("artifact", ["config.json", "minimal_logging.json"])
def test_rank_zero_write_failure_ends_every_rank_without_a_hang(tmp_path: Path, artifact: str) -> None:
    done = _run(tmp_path, "--fail-write", artifact)
    assert done.returncode != 0
    message = f"{artifact}: simulated write failure on rank 0"
    assert "[rank0]: arccnet_ckpt.errors.RunFolderError: " in done.stderr
    assert "[rank1]: arccnet_ckpt.errors.RunFolderError: " in done.stderr
    assert done.stderr.count(message) >= 2


def test_a_write_error_that_is_not_a_run_folder_error_ends_every_rank(tmp_path: Path) -> None:
    done = _run(tmp_path, "--fail-write", "training_summary.json", "--error", "ValueError")
    assert done.returncode != 0
    message = "training_summary.json: simulated write failure on rank 0"
    assert "[rank0]: ValueError: " in done.stderr
    assert "[rank1]: ValueError: " in done.stderr
    assert "raised on global rank 0 while starting the run record" in done.stderr  # the note rank 1 adds
    assert done.stderr.count(message) >= 2


def test_early_stopping_on_rank_one_only_is_recorded_as_stopped(tmp_path: Path) -> None:
    done = _run(tmp_path, "--stop-on-rank1")
    assert _completed(done, "run_dir "), done.stderr[-3000:]
    (run_dir,) = (tmp_path / "data" / "checkpoints" / "ddp" / "test").iterdir()
    summary = read_json(run_dir / "training_summary.json")
    # rank 1's val_f1 fell at epoch 1 (patience 1); rank 0's kept rising, so rank 0 alone would say NOT_STOPPED
    assert summary["num_epochs_trained"] == 2
    assert summary["early_stopping_triggered"] is True
    (state,) = summary["early_stopping"]
    assert (state["reason"], state["stopped_epoch"]) == ("PATIENCE_EXHAUSTED", 1)


def test_the_seed_script_under_ddp_makes_exactly_one_folder(tmp_path: Path) -> None:
    script = Path(__file__).parents[1] / "helpers" / "ddp_seed_script.py"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # each rank's last line is out before any exit abort
    )
    assert _completed(done, "checkpoint_dir "), done.stderr[-3000:]
    (run_dir,) = (tmp_path / "data" / "checkpoints" / "flares" / "binary_classification").iterdir()
    # both ranks name the same folder: rank 1 learned it from the Trainer
    assert done.stdout.count(f"checkpoint_dir {run_dir}") == 2
    assert sorted(p.name for p in run_dir.iterdir() if p.suffix == ".json") == [
        "classification_report.json",
        "config.json",
        "history.json",
        "minimal_logging.json",
        "training_summary.json",
    ]
    config = read_json(run_dir / "config.json")
    assert config["LEARNING_RATE"] == 0.05  # json.load(config.json)["LEARNING_RATE"], as on the old runs
    assert config["_arccnet"]["trainer"]["num_devices"] == 2
    summary = read_json(run_dir / "training_summary.json")
    assert summary["status"] == "completed"
    assert summary["manual_values"]["num_epochs_trained"] == 4  # the seed's current_epoch + 1, kept aside
    assert summary["num_epochs_trained"] == 3
    assert read_json(run_dir / "classification_report.json")["num_samples"] == 32
