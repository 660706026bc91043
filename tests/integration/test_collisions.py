"""Processes that start runs with the same names in the same second get one folder each, and keep to it.

The racers are forks of one forkserver (``helpers/workers.py``). Each one's clock is pinned to the same second and
waits at a shared barrier, so they all ask for the same folder name at the same moment; each writes values of its
own (``owner``) so a file that lands in another racer's folder is caught.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import read_json
from helpers import workers

from arccnet_ckpt import ConfigRecord, MinimalLogging, TrainingSummary, find_runs, load_run

pytestmark = pytest.mark.slow

RUN_NAME_MANAGER = "2025-02-12_14-30-45_net_ce"
RUN_NAME_FIT = "2025-02-12_14-30-45_tiny_ce"


@pytest.fixture
def procs() -> Iterator[workers.ProcessGroup]:
    group = workers.ProcessGroup()
    yield group
    group.kill_all()


def _race(procs: workers.ProcessGroup, target: object, data_folder: Path, out: Path, racers: int) -> dict[str, Path]:
    """Start ``racers`` workers at one barrier; return the run folder each one claimed, by tag."""
    out.mkdir(parents=True)
    barrier = procs.ctx.Barrier(racers)
    started = [procs.start(target, os.fspath(data_folder), os.fspath(out), str(i), barrier) for i in range(racers)]
    for proc in started:
        assert workers.join(proc, out, timeout=120) == 0, workers.failure(out)
    claims = {str(i): Path((out / f"claim-{i}.txt").read_text(encoding="utf-8")) for i in range(racers)}
    assert len(set(claims.values())) == racers, claims
    return claims


def _expected_folders(parent: Path, name: str, racers: int) -> set[Path]:
    return {parent / name, *(parent / f"{name}-{n}" for n in range(2, racers + 1))}


def _find(data_folder: Path) -> dict[Path, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unreadable run folder is skipped with a warning
        return {Path(run.path): run for run in find_runs(data_folder)}


@pytest.mark.parametrize("round_", range(3))
def test_racing_managers_get_a_folder_each(tmp_path: Path, procs: workers.ProcessGroup, round_: int) -> None:
    racers = 8
    data_folder = tmp_path / "data"
    claims = _race(procs, workers.race_manager, data_folder, tmp_path / "out", racers)

    parent = data_folder / "checkpoints" / "race" / "manager"
    assert set(claims.values()) == _expected_folders(parent, RUN_NAME_MANAGER, racers)
    assert set(parent.iterdir()) == set(claims.values())
    for tag, run_dir in claims.items():
        assert sorted(os.listdir(run_dir)) == ["config.json", "minimal_logging.json", "training_summary.json"]
        config = ConfigRecord.model_validate(read_json(run_dir / "config.json"))
        summary = TrainingSummary.model_validate(read_json(run_dir / "training_summary.json"))
        minimal = MinimalLogging.model_validate(read_json(run_dir / "minimal_logging.json"))
        assert config.config == {"owner": tag}
        assert summary.model_extra["owner"] == tag
        assert summary.best_epoch == minimal.best_epoch == int(tag)
        assert summary.run_name == run_dir.name
        assert summary.start_time == workers.PINNED_START
    assert set(_find(data_folder)) == set(claims.values())


def test_racing_fits_get_a_folder_each(tmp_path: Path, procs: workers.ProcessGroup) -> None:
    racers = 6
    data_folder = tmp_path / "data"
    claims = _race(procs, workers.race_fit, data_folder, tmp_path / "out", racers)

    parent = data_folder / "checkpoints" / "race" / "fit"
    assert set(claims.values()) == _expected_folders(parent, RUN_NAME_FIT, racers)
    assert set(parent.iterdir()) == set(claims.values())
    runs = _find(data_folder)
    assert set(runs) == set(claims.values())
    for tag, run_dir in claims.items():
        assert sorted(os.listdir(run_dir)) == [
            "best-epoch01-val_f1-0.900.ckpt",
            "config.json",
            "history.json",
            "minimal_logging.json",
            "training_summary.json",
        ]
        run = load_run(run_dir)
        assert run.config.config == {"owner": tag}
        assert run.config.hparams["owner"] == tag
        assert run.summary.status == "completed"
        assert run.summary.run_name == run_dir.name
        assert run.summary.start_time == workers.PINNED_START
        checkpoint = torch.load(run.best_checkpoint, weights_only=False, map_location="cpu")
        assert checkpoint["hyper_parameters"]["owner"] == tag  # the checkpoint in this folder is this racer's
        assert checkpoint["callbacks"]  # and it records this folder as its run
        arc_states = [s["arc_run"] for s in checkpoint["callbacks"].values() if "arc_run" in s]
        assert [s["run_dir"] for s in arc_states] == [os.fspath(run_dir)]
