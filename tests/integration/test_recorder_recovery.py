"""The run's record survives what a shared cluster does to it: a full disk, another tool breaking the summary, a
``umask 000`` shell and an object store that goes away mid-fit.

Each test runs a real Trainer with code shaped like a user's script (EarlyStopping, ``trainer.test(ckpt_path="best")``,
a ``test_step`` that returns only the loss).
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import tempfile
import warnings
from pathlib import Path
from typing import Any

import fsspec
import pytest
import torch
from conftest import make_classes, make_trainer, read_json
from test_cli import cli

from arccnet_ckpt import ArcCkptWarning, TrainingSummary
from arccnet_ckpt.pytorch_lightning import ArcCheckpointCallback

pl = pytest.importorskip("pytorch_lightning")
PlClassifier, PlData = make_classes("pytorch_lightning")


class FlareNet(PlClassifier):  # type: ignore[misc,valid-type]
    """A user's module: its ``test_step`` returns only the loss."""

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self.layer(x), y)
        self.log("test_loss", loss)
        return loss


class BigFlareNet(FlareNet):
    """A checkpoint of about 160 KB, more than a nearly full disk holds."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.register_buffer("stack", torch.zeros(40_000))


def _train(tmp_path: Path, cb: Any, model: Any = None, extra: list[Any] | None = None, **kwargs: Any) -> Any:
    """A user's script: EarlyStopping on the monitored metric, fit, then test the best checkpoint."""
    model = model if model is not None else FlareNet(val_scores=(0.5, 0.9, 0.7))
    stopper = pl.callbacks.EarlyStopping(monitor="val_f1", mode="max", patience=5)
    trainer = make_trainer(tmp_path, [cb, *(extra or []), stopper], namespace="pytorch_lightning", **kwargs)
    trainer.fit(model, datamodule=PlData())
    trainer.test(model, datamodule=PlData(), ckpt_path="best")
    return trainer


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".arc-tmp-*"))


# ------------------------------------------------------------------------------------------------------ disk full


class _FillDisk(pl.Callback):  # type: ignore[misc,name-defined]
    """Fills the run's file system up to ``free`` bytes once the run folder holds its first record."""

    def __init__(self, cb: Any, free: int) -> None:
        self.cb, self.free = cb, free

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        folder = Path(self.cb.run_dir)
        usage = os.statvfs(folder)
        (folder.parent / "filler").write_bytes(b"x" * (usage.f_bavail * usage.f_frsize - self.free))


def test_a_checkpoint_that_fills_the_disk_leaves_no_partial_file_and_the_failure_is_recorded(
    tmp_path: Path, tmpfs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmpfs(size="512k")
    staging_dir = tmp_path / "node-tmp"  # Lightning stages a checkpoint in $TMPDIR (node-local) before the copy
    staging_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging_dir))
    cb = ArcCheckpointCallback(root_name="r", data_folder=data)
    with pytest.raises(OSError, match="No space left on device"):
        _train(tmp_path, cb, model=BigFlareNet(), extra=[_FillDisk(cb, free=60_000)])
    run_dir = Path(cb.run_dir)
    assert _leftovers(data) == []  # the partial .arc-tmp-*.ckpt gave its bytes back
    assert list(staging_dir.iterdir()) == []  # and so did the staged copy
    assert list(run_dir.glob("*.ckpt")) == []
    summary = read_json(run_dir / "training_summary.json")
    assert summary["status"] == "failed"
    assert "No space left on device" in summary["error"]["message"]
    assert read_json(run_dir / "minimal_logging.json")["status"] == "failed"


def test_an_injected_enospc_during_a_checkpoint_save_ends_the_run_failed_with_no_partial_file(
    tmp_path: Path, data_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    io_module = pytest.importorskip("pytorch_lightning.plugins.io.torch_plugin")

    def half_then_full(self: Any, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        with open(path, "wb") as f:
            f.write(b"\0" * 4096)  # the bytes written before the disk filled up
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(io_module.TorchCheckpointIO, "save_checkpoint", half_then_full)
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    with pytest.raises(OSError, match="No space left on device"):
        _train(tmp_path, cb)
    assert _leftovers(data_folder) == []
    summary = TrainingSummary.model_validate(read_json(Path(cb.run_dir) / "training_summary.json"))
    assert summary.status == "failed"
    assert summary.error is not None
    assert (summary.error.type, "No space left on device" in summary.error.message) == ("OSError", True)


# ----------------------------------------------------------------------------------- a summary another tool broke


class _BreakSummary(pl.Callback):  # type: ignore[misc,name-defined]
    """Another tool (a prune that took the run for stale, a sync client) breaks the summary during epoch 0."""

    def __init__(self, cb: Any, how: str) -> None:
        self.cb, self.how, self.done = cb, how, False

    def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
        if self.done:
            return
        self.done = True
        path = Path(self.cb.run_dir) / "training_summary.json"
        self.before = read_json(path)
        if self.how == "deleted":
            path.unlink()
        elif self.how == "emptied":
            path.write_bytes(b"")
        elif self.how == "truncated":
            path.write_bytes(path.read_bytes()[:40])
        else:
            path.write_text("<html>not json</html>")


@pytest.mark.parametrize("how", ["emptied", "truncated", "junk", "deleted"])
def test_a_summary_another_tool_broke_during_epoch_0_is_written_back_and_the_run_completes(
    tmp_path: Path, data_folder: Path, how: str
) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, config={"LEARNING_RATE": 0.1})
    breaker = _BreakSummary(cb, how)
    with pytest.warns(ArcCkptWarning, match=r"training_summary\.json was broken by something else") as caught:
        _train(tmp_path, cb, extra=[breaker])
    messages = [str(w.message) for w in caught if "broken by something else" in str(w.message)]
    assert len(messages) == 1  # once: the copy written back is read from then on
    assert f"{cb.run_dir}{os.sep}training_summary.json" in messages[0]
    problem = {"deleted": "it is missing", "emptied": "not valid JSON", "truncated": "not valid JSON"}
    assert problem.get(how, "") in messages[0]

    summary = read_json(Path(cb.run_dir) / "training_summary.json")
    assert summary["status"] == "completed"
    assert (summary["best_epoch"], summary["num_epochs_trained"], summary["global_step"]) == (1, 3, 6)
    assert summary["best_metric_value"] == pytest.approx(0.9)
    assert summary["best_model_path"] == "best-epoch01-val_f1-0.900.ckpt"
    assert set(summary["test_results"]) == {"test_loss"}
    assert (summary["start_time"], summary["run_name"]) == (breaker.before["start_time"], breaker.before["run_name"])
    assert [e["epoch"] for e in read_json(Path(cb.run_dir) / "history.json")["entries"]] == [0, 1, 2]


def test_the_summary_names_the_process_and_host_of_each_attempt(tmp_path: Path, data_folder: Path) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    _train(tmp_path, cb)
    path = Path(cb.run_dir) / "training_summary.json"
    summary = read_json(path)
    assert (summary["pid"], summary["hostname"]) == (os.getpid(), socket.gethostname())

    # A requeued attempt on another node: the record names the new process.
    path.write_text(path.read_text().replace(f'"pid": {os.getpid()}', '"pid": 1').replace(socket.gethostname(), "n9"))
    resumed = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    trainer = make_trainer(tmp_path, [resumed], namespace="pytorch_lightning", max_epochs=4)
    trainer.fit(FlareNet(val_scores=(0.5, 0.9, 0.7)), datamodule=PlData(), ckpt_path=cb.best_model_path)
    summary = read_json(path)
    assert resumed.run_dir == cb.run_dir
    assert (summary["pid"], summary["hostname"], len(summary["resumes"])) == (os.getpid(), socket.gethostname(), 1)


# ------------------------------------------------------------------------------------------------------- umask 000


def _modes(top: Path) -> dict[str, str]:
    """``{relative path: mode}`` of every file and folder under ``top``, ``top`` included."""
    found = {".": stat.filemode(top.stat().st_mode)}
    for path in top.rglob("*"):
        found[str(path.relative_to(top))] = stat.filemode(path.lstat().st_mode)
    return found


def test_under_umask_000_no_file_or_folder_the_package_creates_is_world_writable(
    tmp_path: Path, data_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = os.umask(0)
    try:
        cb = ArcCheckpointCallback(root_name="cutouts/hale", data_folder=data_folder)
        _train(tmp_path, cb)
        code, _, err = cli(capsys, "prune", data_folder, "--older-than", "0s", "--yes")
    finally:
        os.umask(old)
    assert code == 0, err
    modes = _modes(data_folder)
    assert any(name.startswith(f".trash{os.sep}") for name in modes), modes  # the trash is checked too
    assert any(name.endswith(".ckpt") for name in modes), modes
    assert {name: mode for name, mode in modes.items() if mode[0] == "d" and mode != "drwxrwxr-x"} == {}
    assert {name: mode for name, mode in modes.items() if mode[0] == "-" and mode != "-rw-rw-r--"} == {}


def test_group_bits_follow_the_umask(tmp_path: Path, data_folder: Path) -> None:
    old = os.umask(0o027)
    try:
        cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
        _train(tmp_path, cb)
    finally:
        os.umask(old)
    modes = _modes(Path(cb.run_dir))
    assert {mode for mode in modes.values() if mode[0] == "d"} == {"drwxr-x---"}
    assert {mode for mode in modes.values() if mode[0] == "-"} == {"-rw-r-----"}


# ---------------------------------------------------------------------------------------------- an S3 that went away


class _StopServer(pl.Callback):  # type: ignore[misc,name-defined]
    """The S3 server dies in epoch 1, whose validation saves no checkpoint (the score did not improve)."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.current_epoch == 1:
            self.server.stop()


@pytest.mark.slow
def test_an_s3_server_that_dies_mid_fit_is_reported_as_unreachable_and_training_goes_on(tmp_path: Path) -> None:
    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    from helpers.s3server import pointed_at

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    model = FlareNet(val_scores=(0.9, 0.5))
    with pointed_at(endpoint):
        fsspec.filesystem("s3").mkdir("arc-dies")
        cb = ArcCheckpointCallback(root_name="r", data_folder="s3://arc-dies/data", save_last=False)
        trainer = make_trainer(tmp_path, [cb, _StopServer(server)], namespace="pytorch_lightning", max_epochs=2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(Exception, match="the store is unreachable"):
                trainer.fit(model, datamodule=PlData())  # the final record cannot be written: the fit says so
    messages = [str(w.message) for w in caught if issubclass(w.category, ArcCkptWarning)]
    unreachable = [m for m in messages if "could not write the history" in m]
    assert len(unreachable) == 1, messages
    assert f"{cb.run_dir}: the store is unreachable" in unreachable[0]
    assert endpoint in unreachable[0]  # the back-end's error names the endpoint
    assert not any("cannot validate a run that is new" in m for m in messages)
    assert trainer.global_step == 4  # epoch 1 trained to its end after the server died
