"""ArcCheckpointCallback on fsspec file systems: S3 (a moto server on 127.0.0.1, started here) and ``memory://``.

Object stores have no folders and no rename: a run folder is claimed by a hidden marker object, and every artifact is
one ``PUT``. The S3 tests talk HTTP to a real S3-compatible server through s3fs, as a cluster job would.
"""

from __future__ import annotations

import itertools
import json
import posixpath
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import fsspec
import pytest
from conftest import ScriptedClassifier, TinyData, make_trainer
from helpers.s3server import moto_s3

from arccnet_ckpt import (
    ArcCheckpointCallback,
    ClassificationReport,
    ConfigRecord,
    History,
    MinimalLogging,
    RunFolderError,
    TrainingSummary,
    find_runs,
    load_run,
    store,
)
from arccnet_ckpt.lightning import run as run_module

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

BEST = "best-epoch01-val_f1-0.900.ckpt"
JSON_MODELS = (ConfigRecord, TrainingSummary, MinimalLogging, ClassificationReport, History)
_bucket_numbers = itertools.count(1)


class Bucket(NamedTuple):
    url: str  # s3://arc-test-N
    fs: Any  # an s3fs.S3FileSystem pointed at the moto server


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, with dummy credentials and s3fs pointed at it."""
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3_endpoint: str) -> Iterator[Bucket]:
    """A new, empty bucket; no s3fs instance (or its listing cache) is shared with another test."""
    s3fs.S3FileSystem.clear_instance_cache()
    name = f"arc-test-{next(_bucket_numbers)}"
    fs = fsspec.filesystem("s3")
    fs.mkdir(name)
    yield Bucket(f"s3://{name}", fs)
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every S3 API call s3fs makes, as ``(operation, key)``."""
    calls: list[tuple[str, str]] = []
    original = s3fs.S3FileSystem._call_s3

    async def spy(self: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((method, kwargs.get("Key", "")))
        return await original(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", spy)
    return calls


def _reject_constant(token: str) -> Any:
    raise AssertionError(f"non-strict JSON token {token!r}")


def _strict_json(url: str) -> Any:
    return json.loads(store.read_text(url), parse_constant=_reject_constant)


def _fit_and_test(tmp_path: Path, cb: ArcCheckpointCallback, **trainer_kwargs: Any) -> Any:
    model = ScriptedClassifier()
    trainer = make_trainer(tmp_path, [cb], **trainer_kwargs)
    trainer.fit(model, datamodule=TinyData())
    trainer.test(model, datamodule=TinyData(), ckpt_path="best")
    return model


def _files_under(fs: Any, url: str) -> dict[str, list[str]]:
    """``{folder: [file names]}`` of every object under ``url`` (hidden ones included)."""
    fs.invalidate_cache()
    base = fs._strip_protocol(url).rstrip("/")
    found: dict[str, list[str]] = {}
    for key in fs.find(base):
        found.setdefault(posixpath.dirname(key), []).append(posixpath.basename(key))
    return {folder: sorted(names) for folder, names in found.items()}


def _check_complete_run(fs: Any, data_url: str, cb: ArcCheckpointCallback) -> None:
    """One run folder under ``data_url``: the best checkpoint, the valid JSON files, the report and the claim marker."""
    run_dir = cb.run_dir
    assert run_dir is not None
    assert run_dir.startswith(f"{data_url}/checkpoints/flares/binary_classification/")
    assert _files_under(fs, data_url) == {
        fs._strip_protocol(run_dir): sorted(
            [BEST, store.CLAIM_MARKER, "report.html", *(m.filename for m in JSON_MODELS)]
        )
    }
    records = {m: m.model_validate(_strict_json(f"{run_dir}/{m.filename}")) for m in JSON_MODELS}
    summary = records[TrainingSummary]
    assert summary.status == "completed"
    assert summary.best_model_path == BEST  # relative: the folder can be copied or synced elsewhere
    assert summary.best_epoch == 1
    assert summary.run_name == store.basename(run_dir)
    assert set(summary.test_results) == {"test_loss", "test_accuracy"}
    assert records[ClassificationReport].checkpoint == BEST
    assert records[MinimalLogging].status == "completed"
    assert records[ConfigRecord].root_name == "flares/binary_classification"

    run = load_run(run_dir)
    assert run.path == run_dir
    assert (run.status, run.summary, run.notes) == ("completed", summary, [])
    assert run.checkpoints == [f"{run_dir}/{BEST}"]  # the hidden marker is no checkpoint and no artifact
    assert run.best_checkpoint == f"{run_dir}/{BEST}"
    assert run.load_model(ScriptedClassifier).layer.weight.shape == (3, 8)

    found = find_runs(data_url)
    assert [r.path for r in found] == [run_dir]
    assert found[0].metric("test_accuracy") == summary.test_results["test_accuracy"]
    assert [r.path for r in find_runs(data_url, "flares/binary_classification", status="completed")] == [run_dir]


def _callback(data_folder: str) -> ArcCheckpointCallback:
    return ArcCheckpointCallback(
        root_name="flares/binary_classification",
        data_folder=data_folder,
        model_name="resnet18",
        loss_function="weighted_bce",
        config={"lr": 0.1},
    )


# ------------------------------------------------------------------------------------------------------------- S3


@pytest.mark.slow
def test_fit_and_test_to_s3_write_one_complete_run_folder(
    tmp_path: Path, bucket: Bucket, s3_calls: list[tuple[str, str]]
) -> None:
    data_url = f"{bucket.url}/data"
    cb = _callback(data_url)
    _fit_and_test(tmp_path, cb)
    _check_complete_run(bucket.fs, data_url, cb)

    # Each artifact write is one PUT of the whole file: no multipart upload, no copy-and-delete "rename".
    assert not [op for op, _ in s3_calls if op in ("create_multipart_upload", "upload_part", "copy_object")]
    puts = [posixpath.basename(key) for op, key in s3_calls if op == "put_object"]
    assert {name: puts.count(name) for name in (*(m.filename for m in JSON_MODELS), BEST)} == {
        "config.json": 1,
        # running at fit start, a heartbeat per validation (3 epochs), completed at fit end, test results after test
        "training_summary.json": 6,
        "minimal_logging.json": 2,  # at fit end, and with the test metrics after test
        "classification_report.json": 1,
        "history.json": 3,  # one per validation
        BEST: 1,
    }


@pytest.mark.slow
def test_runs_started_in_the_same_second_get_two_folders_on_s3(
    tmp_path: Path, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixed = datetime(2025, 2, 12, 14, 30, 45, tzinfo=timezone.utc)
    monkeypatch.setattr(run_module, "_utcnow", lambda: fixed)
    data_url = f"{bucket.url}/data"
    first, second = _callback(data_url), _callback(data_url)
    for cb in (first, second):
        make_trainer(tmp_path, [cb], max_epochs=1).fit(ScriptedClassifier(), datamodule=TinyData())

    parent = f"{data_url}/checkpoints/flares/binary_classification"
    assert first.run_dir == f"{parent}/2025-02-12_14-30-45_resnet18_weighted_bce"
    assert second.run_dir == f"{parent}/2025-02-12_14-30-45_resnet18_weighted_bce-2"
    assert [r.path for r in find_runs(data_url)] == [first.run_dir, second.run_dir]


@pytest.mark.slow
def test_a_run_folder_is_claimed_exactly_once_even_when_the_check_is_stale(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = f"{bucket.url}/data/checkpoints/r"
    assert store.make_unique_dir(parent, "run") == f"{parent}/run"
    assert store.make_unique_dir(parent, "run") == f"{parent}/run-2"

    # A second writer whose "is the name free?" check ran before the first writer's marker landed: the exclusive
    # create (If-None-Match: *) still refuses it, so it moves on instead of sharing the folder.
    monkeypatch.setattr(s3fs.S3FileSystem, "exists", lambda self, path, **kwargs: False)
    assert store.folders.claim_remote(f"{parent}/run") is False
    assert store.make_unique_dir(parent, "run") == f"{parent}/run-3"


@pytest.mark.slow
@pytest.mark.parametrize("artifact", ["training_summary.json", "minimal_logging.json"])
def test_a_failed_upload_at_train_end_never_leaves_the_run_looking_complete(
    tmp_path: Path, bucket: Bucket, monkeypatch: pytest.MonkeyPatch, artifact: str
) -> None:
    original = s3fs.S3FileSystem._call_s3

    async def flaky(self: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("Body", b"")
        if method == "put_object" and kwargs["Key"].endswith(artifact) and b'"status": "completed"' in body:
            raise OSError("simulated: connection reset by peer")
        return await original(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", flaky)
    data_url = f"{bucket.url}/data"
    cb = _callback(data_url)
    with pytest.raises(RunFolderError) as failure:
        make_trainer(tmp_path, [cb]).fit(ScriptedClassifier(), datamodule=TinyData())

    assert str(failure.value).startswith(f"{cb.run_dir}/{artifact}: could not upload: OSError: simulated")
    summary = TrainingSummary.model_validate(_strict_json(f"{cb.run_dir}/{TrainingSummary.filename}"))
    # The fit raised, so the run is recorded as failed, with the upload error: never as completed.
    assert (summary.status, summary.error.type) == ("failed", "RunFolderError")
    assert "simulated: connection reset by peer" in summary.error.message
    assert load_run(cb.run_dir).status == "failed"
    assert find_runs(data_url, status="completed") == []
    assert store.exists(f"{cb.run_dir}/{BEST}")  # the checkpoint itself was fine


@pytest.mark.slow
def test_a_missing_bucket_fails_before_the_first_step_and_is_not_created(tmp_path: Path, bucket: Bucket) -> None:
    missing = f"{bucket.url}-missing"
    cb = _callback(f"{missing}/data")
    model = ScriptedClassifier()
    with pytest.raises(RunFolderError, match=r"^s3://arc-test-\d+-missing/data/checkpoints/.*bucket does not exist"):
        make_trainer(tmp_path, [cb]).fit(model, datamodule=TinyData())
    assert model.steps_run == 0
    bucket.fs.invalidate_cache()
    assert not bucket.fs.exists(missing)


# --------------------------------------------------------------------------------------------------------- memory


@pytest.fixture
def memory_data(tmp_path: Path) -> Iterator[str]:
    """A data folder on fsspec's process-wide in-memory file system, removed afterwards."""
    fs = fsspec.filesystem("memory")
    root = f"/{tmp_path.name}"
    yield f"memory://{tmp_path.name}/data"
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_fit_and_test_to_the_memory_filesystem(tmp_path: Path, memory_data: str) -> None:
    cb = _callback(memory_data)
    _fit_and_test(tmp_path, cb)
    _check_complete_run(fsspec.filesystem("memory"), memory_data, cb)
