"""``arccnet-ckpt`` on ``s3://`` run folders, through a moto server on 127.0.0.1 (started here)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ScriptedClassifier, TinyData, make_trainer, read_json
from test_cli import cli

from arccnet_ckpt import ArcCheckpointCallback

s3fs = pytest.importorskip("s3fs")
pytest.importorskip("moto.server")
from helpers.s3server import moto_s3  # noqa: E402 - after the skips

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bucket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object, dict[str, Path]]]:
    """Three real local runs (two completed, one failed) uploaded to ``s3://arc-cli/data``."""
    tmp = tmp_path_factory.mktemp("s3zoo")
    data = tmp / "data"
    local: dict[str, Path] = {}
    for key, lr, fail in (("a", 0.1, None), ("b", 0.01, None), ("failed", 1.0, 3)):
        cb = ArcCheckpointCallback(
            root_name="flares/binary", data_folder=data, model_name=f"m{key}", loss_function="ce", config={"LR": lr}
        )
        model = ScriptedClassifier(fail_at_step=fail)
        trainer = make_trainer(tmp, [cb])
        try:
            trainer.fit(model, datamodule=TinyData())
            trainer.test(model, datamodule=TinyData(), ckpt_path="best")
        except RuntimeError:
            pass
        local[key] = Path(cb.run_dir)
    with moto_s3():
        s3fs.S3FileSystem.clear_instance_cache()
        fs = s3fs.S3FileSystem()
        fs.mkdir("arc-cli")
        fs.put(str(data / "checkpoints"), "arc-cli/data/checkpoints", recursive=True)
        yield "s3://arc-cli/data", fs, local


def _url(local: Path) -> str:
    return "s3://arc-cli/data/checkpoints/flares/binary/" + local.name


def test_ls_show_best_and_verify_on_s3(bucket: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    data, _, local = bucket
    code, out, err = cli(capsys, "ls", data, "--format", "json")
    assert code == 0, err
    runs = {r["run"]: r for r in json.loads(out)["runs"]}
    assert set(runs) == {p.name for p in local.values()}
    assert runs[local["a"].name]["path"] == _url(local["a"])
    assert runs[local["failed"].name]["status"] == "failed"
    assert runs[local["a"].name]["test_results"] == read_json(local["a"] / "training_summary.json")["test_results"]

    code, out, _ = cli(capsys, "ls", data, "--where", "config.LR=0.01")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [local["b"].name]

    code, out, _ = cli(capsys, "show", _url(local["a"]))
    assert code == 0
    assert f"path             {_url(local['a'])}" in out
    assert "confusion matrix" in out

    code, out, _ = cli(capsys, "best", data, "--by", "best_metric_value", "--print", "ckpt", "--status", "completed")
    assert code == 0
    assert out.strip().startswith("s3://arc-cli/data/checkpoints/flares/binary/")
    assert out.strip().endswith(".ckpt")

    code, out, err = cli(capsys, "verify", data)
    assert (code, out) == (0, ""), out
    assert "verified 3 run(s): 0 problem(s)" in err


def test_verify_finds_problems_on_s3(bucket: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    data, fs, local = bucket
    run = _url(local["b"])
    fs.pipe_file(run.removeprefix("s3://") + "/.arc-tmp-history.json.0123456789ab", b"{")
    try:
        code, out, _ = cli(capsys, "verify", run)
        assert code == 1
        assert out.splitlines() == [
            f"{run}: leftover temporary file .arc-tmp-history.json.0123456789ab (an interrupted write)"
        ]
    finally:
        fs.rm_file(run.removeprefix("s3://") + "/.arc-tmp-history.json.0123456789ab")


def test_prune_and_restore_on_s3(bucket: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    data, fs, local = bucket
    failed = _url(local["failed"]).removeprefix("s3://")
    code, out, err = cli(capsys, "prune", data, "--status", "failed", "--yes", "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert [i["path"] for i in document["items"]] == [_url(local["failed"])]
    fs.invalidate_cache()
    assert not fs.exists(failed + "/training_summary.json")
    (entry,) = document["trash"]
    assert entry.startswith("s3://arc-cli/data/.trash/")

    code, out, _ = cli(capsys, "trash", "ls", "--data", data, "--format", "json")
    (listed,) = json.loads(out)["entries"]
    assert listed["items"][0]["original"] == _url(local["failed"])
    code, _, err = cli(capsys, "trash", "restore", listed["id"], "--data", data)
    assert code == 0, err
    fs.invalidate_cache()
    assert fs.exists(failed + "/training_summary.json")
    code, out, _ = cli(capsys, "ls", data, "--status", "failed")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [local["failed"].name]


def test_diff_and_report_on_s3(bucket: tuple, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, _, local = bucket
    code, out, _ = cli(capsys, "diff", _url(local["a"]), _url(local["b"]), "--format", "json")
    assert code == 0
    assert json.loads(out)["config"] == [{"key": "LR", "a": 0.1, "b": 0.01, "at_default": False}]
    target = tmp_path / "cmp.html"
    code, _, err = cli(capsys, "report", _url(local["a"]), _url(local["b"]), "-o", target)
    assert code == 0, err
    text = target.read_text()
    assert local["a"].name in text
    assert local["b"].name in text


def test_trash_empty_on_s3(bucket: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    data, fs, local = bucket
    code, out, _ = cli(capsys, "prune", data, "--status", "failed", "--yes", "--format", "json")
    assert code == 0
    (entry,) = json.loads(out)["trash"]
    code, _, err = cli(capsys, "trash", "empty", "--data", data, "--yes")
    assert code == 0
    assert "deleted 1 trash entry" in err
    fs.invalidate_cache()
    assert fs.find(entry.removeprefix("s3://")) == []
    code, out, _ = cli(capsys, "ls", data, "--format", "json")
    assert {r["run"] for r in json.loads(out)["runs"]} == {local["a"].name, local["b"].name}
