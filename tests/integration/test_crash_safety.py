"""A process SIGKILLed at any moment leaves no partial artifact or checkpoint under a final name.

Workers are forks of one forkserver (``helpers/workers.py``), so twenty kills cost seconds, not minutes. The kill
moments are random but seeded; the assertions hold whatever the moments are. Two cases kill at the worst moment on
purpose (half of a file written), so they do not depend on luck.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import workers

from arccnet_ckpt import ClassificationReport, ConfigRecord, MinimalLogging, TrainingSummary, find_runs, load_run

pytestmark = pytest.mark.slow

SEED = 20250212
JSON_KILLS = 24
CKPT_KILLS = 20
ARTIFACTS = (ConfigRecord, TrainingSummary, MinimalLogging, ClassificationReport)
FINAL_FILES = {m.filename for m in ARTIFACTS} | {"history.json", "report.html"}
JSON_TEMP = re.compile(rf"^\.arc-tmp-(?:{'|'.join(re.escape(name) for name in FINAL_FILES)})\.[0-9a-f]{{12}}$")
CKPT_TEMP = re.compile(r"^\.arc-tmp-best-epoch\d+-val_f1-[0-9.]+\.ckpt\.[0-9a-f]{12}$")
RUN_FILES = {"config.json", "training_summary.json"}


@pytest.fixture
def procs() -> Iterator[workers.ProcessGroup]:
    group = workers.ProcessGroup()
    yield group
    group.kill_all()


def _reject_constant(token: str) -> Any:
    raise AssertionError(f"non-strict JSON token {token!r}")


def _check_json_run(run_dir: Path) -> list[str]:
    """Every final JSON file parses strictly and validates; return the leftover temporary files."""
    names = sorted(os.listdir(run_dir))
    assert {m.filename for m in ARTIFACTS} <= set(names)
    leftovers = [n for n in names if n not in FINAL_FILES]
    assert all(JSON_TEMP.match(n) for n in leftovers), leftovers
    for model in ARTIFACTS:
        text = (run_dir / model.filename).read_text(encoding="utf-8")
        record = model.model_validate(json.loads(text, parse_constant=_reject_constant))
        if isinstance(record, ConfigRecord):
            assert len(record.config["values"]) == record.config["count"]
    run = load_run(run_dir)  # the reader sees exactly the four artifacts, whatever temp files lie beside them
    assert run.notes == []
    assert run.checkpoints == []
    return leftovers


def _find_one_run(data_folder: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a skipped (unreadable) run is a warning
        runs = find_runs(data_folder)
    assert len(runs) == 1
    return runs[0]


def test_json_artifacts_survive_sigkill_at_random_moments(tmp_path: Path, procs: workers.ProcessGroup) -> None:
    data_folder = tmp_path / "data"
    run_dir = data_folder / "checkpoints" / "crash" / "json" / "2025-02-12_14-30-45_m_l"
    run_dir.mkdir(parents=True)
    rng = random.Random(SEED)  # noqa: S311 - kill moments, not secrets
    for kill in range(JSON_KILLS):
        out = tmp_path / f"out{kill}"
        out.mkdir()
        proc = procs.start(workers.write_artifacts, os.fspath(run_dir), os.fspath(out), kill)
        workers.wait_started(proc, out)
        time.sleep(rng.uniform(0.0, 0.12))  # a round of four files takes about 20-60 ms
        proc.kill()
        # -9 proves the worker was alive, in its write loop, when it was killed.
        assert workers.join(proc, out) == -signal.SIGKILL, workers.failure(out)
        _check_json_run(run_dir)

    run = _find_one_run(data_folder)
    assert Path(run.path) == run_dir
    assert run.summary.status == "running"


def test_json_kill_half_way_through_a_write_keeps_the_previous_version(
    tmp_path: Path, procs: workers.ProcessGroup
) -> None:
    data_folder = tmp_path / "data"
    run_dir = data_folder / "checkpoints" / "crash" / "json" / "2025-02-12_14-30-45_m_l"
    out = tmp_path / "out"
    out.mkdir()
    proc = procs.start(workers.write_artifacts, os.fspath(run_dir), os.fspath(out), 0, tear_at_round=3)
    assert workers.join(proc, out) == -signal.SIGKILL, workers.failure(out)

    leftovers = _check_json_run(run_dir)
    (name,) = leftovers
    assert name.startswith(".arc-tmp-config.json.")
    torn = (run_dir / name).read_text(encoding="utf-8")
    with pytest.raises(json.JSONDecodeError):
        json.loads(torn)  # the half-written round 3 is there, under its temporary name only
    assert '"round": 3' in torn
    run = _find_one_run(data_folder)
    assert run.config.config["round"] == 2  # the previous complete version
    assert run.summary.global_step == 2  # config.json is the first file of a round: round 3 wrote nothing else


def _check_checkpoints(data_folder: Path) -> tuple[list[Path], list[Path]]:
    """Every ``*.ckpt`` under a final name loads completely; return them and the run folders."""
    runs = sorted((data_folder / "checkpoints" / "crash" / "fit").iterdir())
    checkpoints = sorted(data_folder.rglob("*.ckpt"))
    for path in checkpoints:
        checkpoint = torch.load(path, weights_only=False, map_location="cpu")
        assert checkpoint["state_dict"]["layer.weight"].shape == (512, 1024), path
        assert checkpoint["epoch"] == int(re.search(r"epoch(\d+)", path.name)[1]), path
    for run_dir in runs:
        names = set(os.listdir(run_dir))
        assert names >= RUN_FILES, run_dir
        # history.json (and its temporary file) once a validation has run
        assert all(
            n in RUN_FILES or n == "history.json" or n.endswith(".ckpt") or CKPT_TEMP.match(n) or JSON_TEMP.match(n)
            for n in names
        ), names
        run = load_run(run_dir)
        assert all(p.endswith(".ckpt") and "/.arc-tmp-" not in p for p in run.checkpoints)
        if run.best_checkpoint is not None:
            torch.load(run.best_checkpoint, weights_only=False, map_location="cpu")
    return checkpoints, runs


def test_checkpoints_survive_sigkill_at_random_moments(tmp_path: Path, procs: workers.ProcessGroup) -> None:
    data_folder = tmp_path / "data"
    system_tmp = tmp_path / "system-tmp"  # Lightning stages each checkpoint here: the same file system as the run
    system_tmp.mkdir()
    rng = random.Random(SEED)  # noqa: S311 - kill moments, not secrets
    for kill in range(CKPT_KILLS):
        out = tmp_path / f"out{kill}"
        out.mkdir()
        proc = procs.start(
            workers.fit_until_killed, os.fspath(data_folder), os.fspath(out), str(kill), tmpdir=os.fspath(system_tmp)
        )
        workers.wait_started(proc, out)
        time.sleep(rng.uniform(0.0, 0.1))  # an epoch, with its 2 MB checkpoint, takes about 10-20 ms
        proc.kill()
        assert workers.join(proc, out) == -signal.SIGKILL, workers.failure(out)

    checkpoints, runs = _check_checkpoints(data_folder)
    assert len(runs) == CKPT_KILLS
    assert len(checkpoints) >= CKPT_KILLS  # each worker saved at least its first best checkpoint


@pytest.fixture
def other_device_tmp(tmp_path: Path) -> Iterator[tuple[str, bool]]:
    """A ``$TMPDIR`` on another file system than ``tmp_path`` (``/dev/shm``), or ``tmp_path/...`` and simulate it.

    Yields ``(tmpdir, simulate_exdev)``.
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shm.stat().st_dev != tmp_path.stat().st_dev:
        folder = tempfile.mkdtemp(prefix="arc-ckpt-test-", dir=shm)
        try:
            yield folder, False
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        folder = tmp_path / "system-tmp"
        folder.mkdir()
        yield os.fspath(folder), True


def test_checkpoint_kill_half_way_through_a_cross_device_copy(
    tmp_path: Path, procs: workers.ProcessGroup, other_device_tmp: tuple[str, bool]
) -> None:
    data_folder = tmp_path / "data"
    out = tmp_path / "out"
    out.mkdir()
    tmpdir, exdev = other_device_tmp
    proc = procs.start(
        workers.fit_until_killed,
        os.fspath(data_folder),
        os.fspath(out),
        "0",
        tmpdir=tmpdir,
        exdev=exdev,
        tear_copy=3,  # the third best checkpoint (epoch 2): the first two are complete and one of them is kept
    )
    assert workers.join(proc, out) == -signal.SIGKILL, workers.failure(out)

    checkpoints, (run_dir,) = _check_checkpoints(data_folder)
    assert [p.name for p in checkpoints] == ["best-epoch01-val_f1-0.667.ckpt"]
    (torn,) = [n for n in os.listdir(run_dir) if n.startswith(".arc-tmp-")]
    assert CKPT_TEMP.match(torn)
    assert torn.startswith(".arc-tmp-best-epoch02-")
    assert load_run(run_dir).best_checkpoint == os.fspath(checkpoints[0])
