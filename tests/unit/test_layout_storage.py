"""Folder naming and atomic, strict JSON storage (local and memory://), without a Trainer."""

from __future__ import annotations

import errno
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from arccnet_ckpt import layout, store
from arccnet_ckpt.errors import RunFolderError
from arccnet_ckpt.records import MinimalLogging, TrainingSummary
from arccnet_ckpt.records.reader import read_record


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("resnet18", "resnet18"),
        ("timm/resnet18", "timm_resnet18"),
        ('a/b\\c:d*e?f"g<h>i|j', "a_b_c_d_e_f_g_h_i_j"),
        ("  spaced  name ", "spaced_name"),
        ("..", "unknown"),
        ("../../etc/passwd", "etc_passwd"),
        (".hidden", "hidden"),
        ("ünïcödé", "unicode"),
        ("ø-only", "only"),
        ("日本語", "unknown"),
        ("", "unknown"),
    ],
)
def test_sanitize_segment(name, expected) -> None:
    assert layout.sanitize_segment(name) == expected


def test_long_names_are_cut_with_a_hash_that_keeps_them_apart() -> None:
    a = layout.sanitize_segment("x" * 300 + "a")
    b = layout.sanitize_segment("x" * 300 + "b")
    assert len(a) == layout.MAX_SEGMENT_LENGTH
    assert a != b


def test_run_folder_name_is_utc() -> None:
    moment = datetime(2025, 2, 12, 15, 30, 45, tzinfo=timezone(timedelta(hours=1)))
    assert layout.run_folder_name(moment, "resnet18", "weighted_bce") == "2025-02-12_14-30-45_resnet18_weighted_bce"
    with pytest.raises(ValueError, match="no time zone"):
        layout.format_timestamp(datetime(2025, 1, 1))  # noqa: DTZ001
    assert layout.parse_run_folder_name("2025-02-12_14-30-45_resnet18_weighted_bce-2") == (
        datetime(2025, 2, 12, 14, 30, 45),  # noqa: DTZ001
        "resnet18_weighted_bce",
    )
    assert layout.parse_run_folder_name("not-a-run") is None


def test_best_checkpoint_template() -> None:
    assert layout.best_checkpoint_template("val_f1") == "best-epoch{epoch:02d}-val_f1-{val_f1:.3f}"
    assert layout.best_checkpoint_template("val/f1") == "best-epoch{epoch:02d}-val_f1-{val/f1:.3f}"
    assert layout.best_checkpoint_template(None) == "epoch{epoch:02d}-step{step}"


def test_resolve_data_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("ARCCNET_DATA_FOLDER", raising=False)
    monkeypatch.delenv("ARCAFF_DATA_FOLDER", raising=False)
    monkeypatch.chdir(tmp_path)
    assert layout.resolve_data_folder(None) == str(tmp_path / "data")
    monkeypatch.setenv("ARCAFF_DATA_FOLDER", str(tmp_path / "arcaff"))  # what the ARCAFF configs set
    assert layout.resolve_data_folder(None) == str(tmp_path / "arcaff")
    monkeypatch.setenv("ARCCNET_DATA_FOLDER", str(tmp_path / "env"))  # this package's own variable comes first
    assert layout.resolve_data_folder(None) == str(tmp_path / "env")
    monkeypatch.setenv("ARCCNET_DATA_FOLDER", "  ")  # empty: unset
    assert layout.resolve_data_folder(None) == str(tmp_path / "arcaff")
    monkeypatch.setenv("ARCCNET_DATA_FOLDER", str(tmp_path / "env"))
    assert layout.resolve_data_folder("s3://bucket/data/") == "s3://bucket/data"
    assert layout.resolve_data_folder(Path("rel")) == str(tmp_path / "rel")


def _summary(status: str = "running") -> TrainingSummary:
    return TrainingSummary(
        status=status, start_time=datetime.now(timezone.utc), model_name="m", loss_function="l", monitor="val_f1"
    )


def test_write_artifact_is_strict_utf8_with_a_trailing_newline(tmp_path) -> None:
    record = MinimalLogging(timestamp=datetime.now(timezone.utc), best_metric_value=float("nan"), best_epoch=1)
    path = Path(store.write_artifact(tmp_path / "run", record))
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert "NaN" not in text
    assert read_record(tmp_path / "run", MinimalLogging) == record
    assert read_record(tmp_path / "run", TrainingSummary) is None


def test_files_get_the_process_umask_never_world_writable(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        path = Path(store.write_artifact(tmp_path, _summary()))
    finally:
        os.umask(old)
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o644
    assert not mode & stat.S_IWOTH


def test_a_failed_replace_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch) -> None:
    store.write_artifact(tmp_path, _summary("running"))
    before = (tmp_path / "training_summary.json").read_text()

    def broken_replace(src, dst):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(RunFolderError, match="could not write: I/O error; any previous version of the file"):
        store.write_artifact(tmp_path, _summary("completed"))
    assert (tmp_path / "training_summary.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["training_summary.json"]


def test_disk_full_is_a_clear_error_and_keeps_the_previous_version(tmp_path, monkeypatch) -> None:
    store.write_artifact(tmp_path, _summary("running"))
    before = (tmp_path / "training_summary.json").read_text()

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(RunFolderError, match=r"could not write \(disk full\)"):
        store.write_artifact(tmp_path, _summary("completed"))
    assert (tmp_path / "training_summary.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["training_summary.json"]


def test_make_unique_dir_never_reuses_a_folder(tmp_path) -> None:
    made = [store.make_unique_dir(tmp_path / "parent", "run") for _ in range(3)]
    assert [Path(p).name for p in made] == ["run", "run-2", "run-3"]


def test_a_file_in_the_way_is_named(tmp_path) -> None:
    (tmp_path / "data").write_text("x")
    with pytest.raises(RunFolderError, match=r"data: is a file, not a folder"):
        store.make_unique_dir(tmp_path / "data" / "checkpoints", "run")
    with pytest.raises(RunFolderError):
        store.check_writable(tmp_path / "data")


def test_memory_filesystem_round_trip() -> None:
    folder = store.make_unique_dir("memory://arc-test/checkpoints", "run")
    again = store.make_unique_dir("memory://arc-test/checkpoints", "run")
    assert (folder, again) == ("memory://arc-test/checkpoints/run", "memory://arc-test/checkpoints/run-2")
    store.check_writable(folder)
    store.write_artifact(folder, _summary())
    assert read_record(folder, TrainingSummary).status == "running"
    assert store.exists(store.join(folder, "training_summary.json"))
    assert store.basename(folder) == "run"
    assert store.dirname(folder) == "memory://arc-test/checkpoints"
