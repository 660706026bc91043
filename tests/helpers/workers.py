"""Process bodies for ``test_crash_safety.py`` and ``test_collisions.py``, run as forks of one forkserver.

Importing torch and Lightning takes seconds, so tests that start a process per kill or per racer would spend most of
their time importing. Instead the workers start from a ``multiprocessing`` forkserver that has torch, Lightning and
``arccnet_ckpt`` imported once: each worker is a fork of it, at a fit's first epoch within a fraction of a second, so
a test can SIGKILL twenty of them in a few seconds. See :func:`context` and :class:`ProcessGroup`.

A worker reports through files in its ``out`` folder: ``started`` once the work under test is under way,
``claim-<tag>.txt`` with the run folder it got, ``error-<tag>.txt`` with the traceback if it failed.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import random
import shutil
import signal
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from conftest import ScriptedClassifier, TinyData, make_trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from arccnet_ckpt import ArcCheckpointCallback, CheckpointManager, store
from arccnet_ckpt import manager as manager_module
from arccnet_ckpt.lightning import run as run_module
from arccnet_ckpt.records import ClassificationReport, ConfigRecord, MinimalLogging, TrainingSummary

PINNED_START = datetime(2025, 2, 12, 14, 30, 45, tzinfo=timezone.utc)
"""The start time every racing process gets, so all of them want the same folder name."""

BARRIER_TIMEOUT_S = 60.0


PRELOAD = ["torch", "lightning.pytorch", "arccnet_ckpt", "s3fs", "gcsfs", "adlfs"]
"""What the forkserver imports once (missing ones are skipped). Lightning imports the fsspec back-ends on the first
checkpoint save, which would cost each worker half a second. Not this module: Python 3.10-3.11 ignore ``sys_path``
in the server, where ``tests/`` is not importable; each worker imports it, cheaply once these are loaded."""


def context() -> multiprocessing.context.BaseContext:
    """The forkserver context whose server has torch, Lightning and ``arccnet_ckpt`` preloaded.

    The preload applies when the server starts (the first worker of the session); a server started earlier without
    it still works, only each worker then imports torch and Lightning itself.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


class ProcessGroup:
    """Workers started from the forkserver; :meth:`kill_all` (in a fixture's teardown) leaves none running."""

    def __init__(self) -> None:
        self.ctx = context()
        self.procs: list[BaseProcess] = []

    def start(self, target: Callable[..., None], *args: Any, **kwargs: Any) -> BaseProcess:
        proc = self.ctx.Process(target=target, args=args, kwargs=kwargs, daemon=True)
        proc.start()
        self.procs.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.kill()
            proc.join(10)


def failure(out: Path | str) -> str:
    """The tracebacks workers left in ``out``, for an assertion message."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(Path(out).glob("error-*.txt"))]
    return "\n".join(texts) or "(no traceback left)"


def wait_started(proc: BaseProcess, out: Path, timeout: float = 60.0) -> None:
    """Wait until ``proc`` has left ``out/started``; fail with its traceback if it died first."""
    deadline = time.monotonic() + timeout
    while not (out / "started").exists():
        if not proc.is_alive():
            raise AssertionError(f"worker exited with {proc.exitcode} before starting:\n{failure(out)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"worker did not start within {timeout} s:\n{failure(out)}")
        time.sleep(0.005)


def join(proc: BaseProcess, out: Path, timeout: float = 60.0) -> int:
    """Wait for ``proc`` to end and return its exit code (``-9`` when SIGKILLed); fail if it is still running."""
    proc.join(timeout)
    if proc.exitcode is None:
        proc.kill()
        proc.join(10)
        raise AssertionError(f"worker still running after {timeout} s:\n{failure(out)}")
    return proc.exitcode


def _guarded(tag: str, out: str, body: Callable[[], None]) -> None:
    """Run ``body``; on an exception, leave its traceback in ``out/error-<tag>.txt`` and exit with 1."""
    torch.set_num_threads(1)
    try:
        body()
    except BaseException:
        Path(out, f"error-{tag}.txt").write_text(traceback.format_exc(), encoding="utf-8")
        raise


def _touch(path: Path) -> None:
    path.touch()


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


# ------------------------------------------------------------------------------------------ JSON artifacts, item 1


def _records(round_: int, pool: list[float]) -> list[Any]:
    """Four artifacts whose content changes every round; ``config.json`` is 150-450 KB, so a write takes a while."""
    count = 8_000 + (round_ * 1_777) % 16_000
    start = round_ % 1_000
    values = pool[start : start + count]
    history = pool[: 200 + (round_ * 37) % 2_000]
    size = 2 + round_ % 9
    return [
        ConfigRecord(config={"round": round_, "count": count, "values": values}, model_name="m", loss_function="l"),
        TrainingSummary(
            status="running",
            start_time=PINNED_START,
            model_name="m",
            loss_function="l",
            monitor="val_f1",
            mode="max",
            best_metric_value=history[-1],
            global_step=round_,
            num_epochs_trained=round_,
        ),
        MinimalLogging(
            timestamp=PINNED_START,
            best_epoch=round_,
            best_metric_value=history[-1],
            additional_metrics={"round": round_, "history": history},
        ),
        ClassificationReport(
            test_metrics={"test_f1": history[0]},
            class_names=[f"c{i}" for i in range(size)],
            confusion_matrix=[[round_ + i + j for j in range(size)] for i in range(size)],
            num_samples=round_,
        ),
    ]


def write_artifacts(run_dir: str, out: str, seed: int, tear_at_round: int | None = None) -> None:
    """Rewrite the four JSON artifacts of ``run_dir`` round after round, until killed.

    ``out/started`` appears after the first complete round. With ``tear_at_round``, the process kills itself with
    SIGKILL in the middle of writing that round's ``config.json``: after half of its bytes.
    """

    def body() -> None:
        rng = random.Random(seed)  # noqa: S311 - test data, not secrets
        pool = [rng.random() for _ in range(30_000)]
        round_ = 0
        while True:
            for record in _records(round_, pool):
                if round_ == tear_at_round and isinstance(record, ConfigRecord):
                    _tear_next_big_write()
                store.write_artifact(run_dir, record)
            if round_ == 0:
                _touch(Path(out, "started"))
            round_ += 1

    _guarded("write", out, body)


def _tear_next_big_write() -> None:
    """Make the next ``os.write`` of more than 64 KB write half of its bytes, then SIGKILL this process."""
    real_write = os.write

    def tearing_write(fd: int, data: Any) -> int:
        if len(data) <= 65_536:
            return real_write(fd, data)
        real_write(fd, bytes(data[: len(data) // 2]))
        os.fsync(fd)
        _kill_self()
        raise AssertionError("unreachable: SIGKILL was sent")

    os.write = tearing_write


# ------------------------------------------------------------------------------------------------ checkpoints, item 2


class WideClassifier(pl.LightningModule):
    """A 512x1024 linear layer (525k parameters, a ~2 MB checkpoint) whose ``val_f1`` improves every epoch."""

    def __init__(self, tag: str = "0") -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = nn.Linear(1024, 512)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        (x,) = batch
        return self.layer(x).pow(2).mean()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val_f1", 1.0 - 1.0 / (self.current_epoch + 2))

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.randn(4, 1024)), batch_size=4)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.randn(4, 1024)), batch_size=4)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


class _Started(pl.Callback):
    """Touches ``out/started`` once the first best checkpoint has been written (at the start of epoch 1)."""

    def __init__(self, out: str) -> None:
        self.out = out

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == 1:
            _touch(Path(self.out, "started"))


def fit_until_killed(
    data_folder: str,
    out: str,
    tag: str,
    *,
    tmpdir: str,
    exdev: bool = False,
    tear_copy: int | None = None,
) -> None:
    """Fit :class:`WideClassifier` for thousands of epochs (a new best ``.ckpt`` each epoch), until killed.

    Args:
        data_folder: The callback's data folder (root name ``crash/fit``).
        out: The report folder.
        tag: Names this worker's files.
        tmpdir: This process's ``$TMPDIR``, where Lightning's ``_atomic_save`` stages each checkpoint.
        exdev: Make ``os.rename`` out of ``tmpdir`` fail with ``EXDEV``, as it does when ``$TMPDIR`` and the run
            folder are on two file systems (node-local ``/tmp``, data on NFS or Lustre), without needing two.
        tear_copy: SIGKILL this process half-way through the ``tear_copy``-th file copy out of ``tmpdir`` (the
            fallback ``shutil.move`` takes across file systems).
    """

    def body() -> None:
        os.environ["TMPDIR"] = tmpdir
        tempfile.tempdir = tmpdir
        if exdev:
            _fail_renames_out_of(tmpdir)
        if tear_copy is not None:
            _tear_copy_number(tear_copy, tmpdir)
        cb = ArcCheckpointCallback(
            root_name="crash/fit", data_folder=data_folder, model_name="wide", loss_function="mse", config={"tag": tag}
        )
        trainer = make_trainer(
            Path(out), [cb, _Started(out)], max_epochs=100_000, limit_train_batches=1, limit_val_batches=1
        )
        trainer.fit(WideClassifier(tag=tag))

    _guarded(tag, out, body)


def _fail_renames_out_of(folder: str) -> None:
    real_rename = os.rename
    prefix = os.path.join(os.path.realpath(folder), "")

    def rename(src: Any, dst: Any, **kwargs: Any) -> None:
        if os.path.realpath(src).startswith(prefix):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), src, None, dst)
        real_rename(src, dst, **kwargs)

    os.rename = rename


def _tear_copy_number(number: int, folder: str) -> None:
    real_copyfile = shutil.copyfile
    prefix = os.path.join(os.path.realpath(folder), "")
    seen = 0

    def copyfile(src: Any, dst: Any, **kwargs: Any) -> Any:
        nonlocal seen
        if not os.path.realpath(src).startswith(prefix):
            return real_copyfile(src, dst, **kwargs)
        seen += 1
        if seen < number:
            return real_copyfile(src, dst, **kwargs)
        data = Path(src).read_bytes()
        with open(dst, "wb") as fh:
            fh.write(data[: len(data) // 2])
            fh.flush()
            os.fsync(fh.fileno())
        _kill_self()
        raise AssertionError("unreachable: SIGKILL was sent")

    shutil.copyfile = copyfile


# --------------------------------------------------------------------------------------------------- races, item 3


class _BarrierClock(datetime):
    """``datetime`` whose ``now()`` waits at the barrier, then returns :data:`PINNED_START`."""

    barrier: Any = None

    @classmethod
    def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
        cls.barrier.wait(BARRIER_TIMEOUT_S)
        return PINNED_START


def race_manager(data_folder: str, out: str, tag: str, barrier: Any) -> None:
    """Create a ``CheckpointManager`` at the same moment as the other racers, then fill its folder as ``tag``."""

    def body() -> None:
        _BarrierClock.barrier = barrier
        manager_module.datetime = _BarrierClock  # the manager's start time: the barrier, then the pinned second
        try:
            manager = CheckpointManager("race/manager", data_folder=data_folder, model_name="net", loss_function="ce")
        finally:
            manager_module.datetime = datetime
        Path(out, f"claim-{tag}.txt").write_text(os.fspath(manager.checkpoint_dir), encoding="utf-8")
        manager.save_config({"owner": tag})
        manager.save_training_metadata({"owner": tag, "best_epoch": int(tag)})
        manager.save_minimal_logging(best_epoch=int(tag), best_metric_value=0.5, num_epochs_trained=1)

    _guarded(tag, out, body)


def race_fit(data_folder: str, out: str, tag: str, barrier: Any) -> None:
    """A real ``Trainer.fit`` with ``ArcCheckpointCallback``; the run folder is decided at the barrier, pinned time."""

    def body() -> None:
        def pinned_utcnow() -> datetime:
            barrier.wait(BARRIER_TIMEOUT_S)
            return PINNED_START

        run_module._utcnow = pinned_utcnow
        cb = ArcCheckpointCallback(
            root_name="race/fit", data_folder=data_folder, model_name="tiny", loss_function="ce", config={"owner": tag}
        )
        trainer = make_trainer(Path(out), [cb], max_epochs=2)
        trainer.fit(ScriptedClassifier(val_scores=(0.5, 0.9), owner=tag), datamodule=TinyData())
        Path(out, f"claim-{tag}.txt").write_text(os.fspath(cb.run_dir), encoding="utf-8")

    _guarded(tag, out, body)
