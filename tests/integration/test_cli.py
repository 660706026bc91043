"""``arccnet-ckpt`` on real run folders: trained, tested, failed, running, stale, evaluation and legacy ones.

The folders are made once per module by real Lightning fits (:func:`zoo`); tests that change folders (prune, trash)
work on a copy. Each test calls :func:`arccnet_ckpt.cli.main` as the console script does and checks what a user
reads: stdout, stderr and the exit code.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import ScriptedClassifier, TinyData, cli, make_trainer, new_script, read_json

from arccnet_ckpt import ArcCheckpointCallback, find_runs, load_run, render_html

LEGACY = Path(__file__).parents[1] / "fixtures" / "legacy-runs"
LEGACY_RUN = "2025-02-12_14-30-45_resnet18_weighted_bce"
CLASSES = ["Quiet", "C", "M"]


@dataclass
class Zoo:
    data: Path
    a: Path  # flares/binary, LEARNING_RATE 0.1, best val_f1 0.9
    b: Path  # flares/binary, LEARNING_RATE 0.01, best val_f1 0.8
    multi: Path  # flares/multiclass, class names
    failed: Path
    evaluation: Path  # a test-only run of a's best checkpoint
    stale: Path  # says running, last heartbeat two days ago
    running: Path  # says running, heartbeat now
    legacy: Path


def _train(tmp: Path, data: Path, root: str, config: dict, scores: tuple, **kwargs: object) -> Path:
    new_script()  # each run of the zoo is a script of its own, not a fold of the one before
    cb = ArcCheckpointCallback(
        root_name=root,
        data_folder=data,
        model_name=str(kwargs.pop("model", "resnet18")),
        loss_function="focal",
        config=config,
        class_names=kwargs.pop("class_names", None),
    )
    model = ScriptedClassifier(val_scores=scores, fail_at_step=kwargs.pop("fail_at_step", None))
    trainer = make_trainer(tmp, [cb], **kwargs)
    try:
        trainer.fit(model, datamodule=TinyData())
        trainer.test(model, datamodule=TinyData(), ckpt_path="best")
    except RuntimeError:
        pass
    return Path(cb.run_dir)


def _rewrite_summary(run: Path, **changes: object) -> None:
    path = run / "training_summary.json"
    data = read_json(path)
    data.update(changes)
    path.write_text(json.dumps(data, indent=2))


def _running_copy(source: Path, target: Path, start: datetime, heartbeat: datetime) -> Path:
    shutil.copytree(source, target)
    _rewrite_summary(
        target,
        status="running",
        run_name=target.name,
        start_time=start.isoformat(),
        updated_at=heartbeat.isoformat(),
        end_time=None,
        test_results={},
        group=None,  # another run, not a second copy of the source's place in its group
    )
    return target


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    tmp = tmp_path_factory.mktemp("zoo")
    data = tmp / "data"
    a = _train(tmp, data, "flares/binary", {"LEARNING_RATE": 0.1, "BATCH_SIZE": 8}, (0.5, 0.9, 0.7))
    b = _train(tmp, data, "flares/binary", {"LEARNING_RATE": 0.01, "BATCH_SIZE": 8}, (0.6, 0.8), model="vit")
    multi = _train(
        tmp, data, "flares/multiclass", {"LEARNING_RATE": 0.1}, (0.4, 0.7), class_names=CLASSES, model="effnet"
    )
    failed = _train(tmp, data, "flares/binary", {"LEARNING_RATE": 1.0}, (0.5,), fail_at_step=3, model="convnext")

    # A test-only Trainer on weights in memory: a folder of its own, kind "evaluation".
    test_only = ArcCheckpointCallback(root_name="flares/evaluations", data_folder=data, model_name="baseline")
    make_trainer(tmp, [test_only]).test(ScriptedClassifier(), datamodule=TinyData())

    now = datetime.now(timezone.utc)
    binary = data / "checkpoints" / "flares" / "binary"
    # b's folder copied as a run that says running: one silent for two days, one beating now.
    stale = _running_copy(
        b, binary / "2020-01-01_00-00-00_lost_focal", now - timedelta(days=3), now - timedelta(days=2)
    )
    _rewrite_summary(stale, num_epochs_trained=20)
    running = _running_copy(b, binary / "2021-01-01_00-00-00_live_focal", now - timedelta(minutes=30), now)
    shutil.copytree(LEGACY / "checkpoints", data / "checkpoints", dirs_exist_ok=True)
    legacy = data / "checkpoints" / "flares" / "binary_classification" / LEGACY_RUN
    return Zoo(data, a, b, multi, failed, Path(test_only.run_dir), stale, running, legacy)


def _names(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines()[1:]]


# ---------------------------------------------------------------------------------------------------------------- ls


def test_ls_show_the_loader_and_the_html_report_agree_on_a_stale_run(
    zoo: Zoo, capsys: pytest.CaptureFixture[str]
) -> None:
    """One read-side status: a dead ``running`` run is ``stale`` everywhere, a live one ``running`` everywhere."""
    for folder, expected in ((zoo.stale, "stale"), (zoo.running, "running")):
        _, out, _ = cli(capsys, "ls", zoo.data, "--format", "json")
        (record,) = [r for r in json.loads(out)["runs"] if r["run"] == folder.name]
        assert ("stale" if record["stale"] else record["status"]) == expected
        _, out, _ = cli(capsys, "show", folder)
        assert re.search(rf"^status\s+{expected}\b", out, re.M), out
        run = load_run(folder)
        assert run.status == expected
        page = render_html([run])
        header = page.split("<header>", 1)[1].split("</header>", 1)[0]
        assert f'<span class="badge {expected}">{expected}</span>' in header
    assert [r.name for r in find_runs(zoo.data, "flares/binary", status="stale")] == [zoo.stale.name]


def test_ls_lists_every_run_with_status_and_numbers(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "ls", zoo.data)
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["RUN", "ROOT", "STATUS", "START", "EPOCHS", "BEST", "TEST"]
    by_name = {row.split()[0]: row for row in rows}
    assert set(by_name) == {
        p.name for p in (zoo.a, zoo.b, zoo.multi, zoo.failed, zoo.evaluation, zoo.stale, zoo.running, zoo.legacy)
    }
    assert " completed " in by_name[zoo.a.name]
    assert "val_f1 0.9 @1" in by_name[zoo.a.name]
    test_accuracy = read_json(zoo.a / "training_summary.json")["test_results"]["test_accuracy"]
    assert f"test_accuracy {test_accuracy:.4g}" in by_name[zoo.a.name]
    assert " failed " in by_name[zoo.failed.name]
    assert " stale " in by_name[zoo.stale.name]
    assert " running " in by_name[zoo.running.name]
    assert " flares/binary_classification " in by_name[zoo.legacy.name]
    assert "\033[" not in out  # no colour when stdout is not a terminal


def test_ls_json_is_one_versioned_document(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "ls", zoo.data, "--format", "json")
    assert code == 0
    document = json.loads(out)  # nothing but the document on stdout
    assert (document["schema"], document["version"]) == ("arccnet-ckpt/runs", 1)
    runs = {r["run"]: r for r in document["runs"]}
    a = runs[zoo.a.name]
    summary = read_json(zoo.a / "training_summary.json")
    assert a["path"] == str(zoo.a)
    assert (a["status"], a["stale"], a["kind"], a["root_name"]) == ("completed", False, "training", "flares/binary")
    assert (a["monitor"], a["best_epoch"]) == ("val_f1", 1)
    assert a["best_value"] == pytest.approx(0.9)
    assert a["test_results"] == summary["test_results"]
    assert a["updated_at"] == summary["updated_at"]
    assert runs[zoo.stale.name]["stale"] is True
    assert runs[zoo.evaluation.name]["kind"] == "evaluation"


def test_ls_jsonl_and_csv(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(capsys, "ls", zoo.data, "--format", "jsonl", "--root", "flares/multiclass")
    lines = out.splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["run"] == zoo.multi.name
    _, out, _ = cli(
        capsys, "ls", zoo.data, "--format", "csv", "--cols", "run,config.LEARNING_RATE,test_results.test_loss"
    )
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["run", "config.LEARNING_RATE", "test_results.test_loss"]
    values = {r[0]: r[1:] for r in rows[1:]}
    assert values[zoo.b.name][0] == "0.01"
    assert float(values[zoo.a.name][1]) == read_json(zoo.a / "training_summary.json")["test_results"]["test_loss"]
    assert values[zoo.legacy.name][1] != ""  # the legacy summary's test_loss, read through the converter


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (["config.LEARNING_RATE=0.01"], {"b", "stale", "running"}),
        (["config.LEARNING_RATE=1e-2"], {"b", "stale", "running"}),
        (["best_metric_value>=0.85", "status=completed"], {"a"}),
        (["model_name~^conv"], {"failed"}),
        (["history.best.val_f1>0.85"], {"a"}),
        (["report.per_class.M.support>0"], {"multi"}),
        (["kind!=training"], {"evaluation"}),
    ],
)
def test_ls_where(zoo: Zoo, capsys: pytest.CaptureFixture[str], where: list[str], expected: set[str]) -> None:
    args = [arg for w in where for arg in ("--where", w)]
    code, out, _ = cli(capsys, "ls", zoo.data, *args)
    assert code == 0
    names = {getattr(zoo, k).name: k for k in ("a", "b", "multi", "failed", "evaluation", "stale", "running", "legacy")}
    assert {names[n] for n in _names(out)} == expected


def test_ls_filters_sort_and_limit(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(capsys, "ls", zoo.data, "--status", "failed")
    assert _names(out) == [zoo.failed.name]
    _, out, _ = cli(capsys, "ls", zoo.data, "--status", "stale,running")
    assert sorted(_names(out)) == sorted([zoo.stale.name, zoo.running.name])
    _, out, _ = cli(capsys, "ls", zoo.data, "--kind", "evaluation")
    assert _names(out) == [zoo.evaluation.name]
    _, out, _ = cli(capsys, "ls", zoo.data, "--since", "1d", "--root", "flares")
    assert zoo.legacy.name not in _names(out)
    assert zoo.stale.name not in _names(out)
    assert zoo.a.name in _names(out)
    _, out, _ = cli(capsys, "ls", zoo.data, "--sort", "best_metric_value:desc", "--limit", "2", "--kind", "training")
    assert _names(out)[0] == zoo.a.name
    assert len(_names(out)) == 2
    _, out, _ = cli(capsys, "ls", "flares/multiclass", "--data", zoo.data)  # a root name under --data
    assert _names(out) == [zoo.multi.name]
    _, out, _ = cli(capsys, "ls", zoo.data / "checkpoints" / "flares" / "multiclass")  # a root folder
    assert _names(out) == [zoo.multi.name]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--where", "test_f1"], 2, r"--where 'test_f1': expected KEY OP VALUE"),
        (["--where", "a..b=1"], 2, r"bad key 'a..b'"),
        (["--where", "name~(["], 2, r"bad regular expression"),
        (["--status", "done"], 2, r"unknown done; use running, stale"),
        (["--since", "yesterday"], 2, r"expected a duration"),
        (["--sort", "test_f1:up"], 2, r"asc or desc"),
        (["--limit", "0"], 2, r"expected a positive whole number"),
        (["--where", "test_results.test_accuracy>2"], 1, r"no run matches"),
        (["no/such/root"], 1, r"no such folder, and no root name 'no/such/root'"),
        (["bad root!"], 2, r"not a valid root name"),
    ],
)
def test_ls_bad_input_is_one_line_and_the_documented_exit_code(
    zoo: Zoo, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    got, out, err = cli(capsys, "ls", "--data", zoo.data, *args)
    assert got == code
    assert len(err.strip().splitlines()) == 1, err
    assert pytest.approx(0) == 0
    import re

    assert re.search(message, err), err
    if code == 2:
        assert out == ""


def test_ls_skips_an_unreadable_run_with_a_warning(
    tmp_path: Path, zoo: Zoo, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    shutil.copytree(zoo.data, data)
    broken = data / "checkpoints" / "flares" / "binary" / zoo.b.name
    (broken / "training_summary.json").write_text('{"status": "finished"')
    code, out, err = cli(capsys, "ls", data)
    assert code == 0
    assert zoo.b.name not in out
    assert zoo.a.name in out
    assert f"warning: skipped {broken}: " in err
    assert "not valid JSON" in err


# -------------------------------------------------------------------------------------------------------- show


def test_show_a_run_by_prefix(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = "flares/multiclass/" + zoo.multi.name[:13]
    code, out, err = cli(capsys, "show", prefix, "--data", zoo.data)
    assert code == 0, err
    report = read_json(zoo.multi / "classification_report.json")
    assert f"path             {zoo.multi}" in out
    assert "status           completed  (training)" in out
    assert "best             val_f1 = 0.7 at epoch 1 (max)" in out
    assert "stopped          max_epochs=3 reached" in out  # the Trainer's limit, not a bare NOT_STOPPED
    matrix = report["confusion_matrix"]
    lines = out.splitlines()
    start = lines.index("confusion matrix (rows: true class, columns: predicted)")
    assert lines[start + 1].split() == ["TRUE", "\\", "PRED", *CLASSES, "TOTAL"]
    for i, name in enumerate(CLASSES):
        assert lines[start + 2 + i].split() == [name, *map(str, matrix[i]), str(sum(matrix[i]))]
    for name in CLASSES:  # the per-class table's row (name, precision, recall, f1, support, then the scores)
        row = next(line for line in lines if line.split()[:1] == [name] and len(line.split()) == 9)
        assert f"{report['per_class'][name]['f1']:.4g}" in row
        assert f"{report['per_class'][name]['roc_auc']:.4g}" in row
    assert "report.html" in out
    assert "history.json" in out


def test_show_json_and_a_checkpoint_path(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    best = load_run(zoo.a).best_checkpoint
    code, out, _ = cli(capsys, "show", best, "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["run"]["path"] == str(zoo.a)
    assert document["summary"]["best_metric_value"] == pytest.approx(0.9)
    assert document["config"]["LEARNING_RATE"] == 0.1
    assert {f["name"] for f in document["files"]} >= {"training_summary.json", "history.json", Path(best).name}


def test_show_a_legacy_run_lists_its_conversions(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "show", zoo.legacy)
    assert code == 0
    assert "notes" in out
    assert "no schema_version" in out


def test_show_prints_an_unknown_loss_as_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch.nn.functional as F

    class M(ScriptedClassifier):
        pass

    # No loss_function=, a loss that is a function rather than a module, and no test: nothing names the loss.
    cb = ArcCheckpointCallback(root_name="kill/test", data_folder=tmp_path / "data")
    model = M(val_scores=(0.5, 0.6))
    del model.loss_fn
    model.loss_fn = F.cross_entropy
    make_trainer(tmp_path, [cb], max_epochs=2).fit(model, datamodule=TinyData())
    assert read_json(Path(cb.run_dir) / "training_summary.json")["loss_function"] == "unknown"
    run = tmp_path / "kill" / "test" / "run2"  # copied under a name of the user's: the folder name says nothing
    shutil.copytree(cb.run_dir, run)
    code, out, err = cli(capsys, "show", run)
    assert code == 0, err
    assert next(line for line in out.splitlines() if line.startswith("model / loss")).split() == [
        "model", "/", "loss", "M", "/", "unknown"
    ]  # fmt: skip
    code, out, _ = cli(capsys, "show", run, "--format", "json")
    assert (json.loads(out)["run"]["model_name"], json.loads(out)["run"]["loss_function"]) == ("M", "unknown")


def test_show_unknown_and_ambiguous(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "show", "1999-nothing", "--data", zoo.data)
    assert code == 1
    assert "1999-nothing: no run folder, and no run name starts with it" in err
    code, _, err = cli(capsys, "show", "20", "--data", zoo.data)
    assert code == 2
    assert "'20' is ambiguous: it matches 8 runs" in err
    assert len(err.strip().splitlines()) == 1


def test_show_an_invalid_run_names_the_file_and_field(
    tmp_path: Path, zoo: Zoo, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(zoo.a, run)
    _rewrite_summary(run, num_epochs_trained="three")
    code, _, err = cli(capsys, "show", run)
    assert code == 1
    assert "training_summary.json: not a valid TrainingSummary: field 'num_epochs_trained'" in err


# -------------------------------------------------------------------------------------------------------- best


def test_best_prints_the_checkpoint_for_a_predict_script(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        capsys, "best", "flares/binary", "--data", zoo.data, "--by", "best_metric_value", "--print", "ckpt"
    )
    assert code == 0
    assert out == load_run(zoo.a).best_checkpoint + "\n"
    assert Path(out.strip()).is_file()
    # A loss is minimised by default; the tested runs' losses decide.
    losses = {r: read_json(r / "training_summary.json")["test_results"]["test_loss"] for r in (zoo.a, zoo.b)}
    code, out, _ = cli(
        capsys, "best", zoo.data / "checkpoints" / "flares" / "binary", "--by", "test_loss", "--status", "completed"
    )
    assert out.strip() == str(min(losses, key=losses.__getitem__))
    code, out, _ = cli(
        capsys,
        "best",
        "--data",
        zoo.data,
        "--by",
        "test_loss",
        "--mode",
        "max",
        "--print",
        "json",
        "--root",
        "flares/binary",
        "--status",
        "completed",
    )
    document = json.loads(out)
    assert document["mode"] == "max"
    assert document["value"] == pytest.approx(max(losses.values()))


def test_best_without_the_key_is_no_match(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "best", "--data", zoo.data, "--by", "test_nothing")
    assert (code, out) == (1, "")
    assert "no run records 'test_nothing'" in err


# -------------------------------------------------------------------------------------------------------- diff


def test_diff_shows_only_what_changed(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "diff", zoo.a, zoo.b, "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["config"] == [  # BATCH_SIZE and the Trainer's settings the same
        {"key": "LEARNING_RATE", "a": 0.1, "b": 0.01, "at_default": False},
        {"key": "hparams.val_scores", "a": [0.5, 0.9, 0.7], "b": [0.6, 0.8], "at_default": False},
    ]
    metrics = {m["name"]: m for m in document["metrics"]}
    assert metrics["best_val_f1"]["delta"] == pytest.approx(-0.1)
    assert metrics["best_val_f1"]["better"] is False
    assert "packages" in document
    assert document["packages"] == []  # the same environment
    code, out, _ = cli(capsys, "diff", zoo.a, zoo.b)
    assert "LEARNING_RATE" in out
    assert "BATCH_SIZE" not in out
    line = next(line for line in out.splitlines() if line.startswith("best_val_f1"))
    assert line.split()[-1] == "worse"


def test_diff_per_class_f1(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "diff", zoo.multi, zoo.a, "--format", "json", "--all")
    assert code == 0
    per_class = {item["class"]: item for item in json.loads(out)["per_class_f1"]}
    f1 = read_json(zoo.multi / "classification_report.json")["per_class"]["Quiet"]["f1"]
    assert per_class["Quiet"]["a"] == f1


# ------------------------------------------------------------------------------------------------------ verify


def test_verify_a_clean_tree(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "verify", zoo.a, zoo.multi, zoo.evaluation, zoo.running)
    assert (code, out) == (0, "")
    assert "verified 4 run(s): 0 problem(s)" in err


def test_verify_a_legacy_run_validates_its_files(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    # The old files (NaN tokens, naive times, a vars(config) dump) all validate; the fixture has no weights.
    code, out, _ = cli(capsys, "verify", zoo.legacy)
    assert code == 1
    assert out.splitlines() == [f"{zoo.legacy}: a completed training run without any checkpoint"]


def test_verify_reports_one_line_per_problem(tmp_path: Path, zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    shutil.copytree(zoo.data, data)
    run = data / "checkpoints" / "flares" / "binary" / zoo.a.name
    best = Path(load_run(run).best_checkpoint)
    best.unlink()
    (run / ".arc-tmp-config.json.0123456789ab").write_text("{")
    (run / "minimal_logging.json").write_text("[]")
    code, out, err = cli(capsys, "verify", run)
    assert code == 1
    lines = out.splitlines()
    assert f"{run}: minimal_logging.json: expected a JSON object, got list" in lines
    assert f"{run}: leftover temporary file .arc-tmp-config.json.0123456789ab (an interrupted write)" in lines
    assert f"{run}: best_model_path '{best.name}' does not exist" in lines
    assert len(lines) == 3
    code, out, _ = cli(capsys, "verify", data / "checkpoints" / "flares" / "binary", "--format", "json")
    problems = json.loads(out)["problems"]
    stale = [p for p in problems if p["path"] == str(data / "checkpoints" / "flares" / "binary" / zoo.stale.name)]
    assert "(stale)" in stale[0]["problem"]


def test_verify_load_reads_the_checkpoint(tmp_path: Path, zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = cli(capsys, "verify", zoo.a, "--load")
    assert code == 0
    run = tmp_path / "run"
    shutil.copytree(zoo.a, run)
    Path(load_run(run).best_checkpoint).write_bytes(b"not a checkpoint")
    code, out, _ = cli(capsys, "verify", run, "--load")
    assert code == 1
    assert "cannot be loaded: UnpicklingError" in out


# ---------------------------------------------------------------------------------------------- prune and trash


@pytest.fixture
def copy(tmp_path: Path, zoo: Zoo) -> Zoo:
    data = tmp_path / "data"
    shutil.copytree(zoo.data, data)
    moved = {k: data / Path(v).relative_to(zoo.data) for k, v in vars(zoo).items() if k != "data"}
    copied = Zoo(data=data, **moved)
    # b started from a's best weights (a fine-tune): its record names that checkpoint, outside its own folder.
    a_best = load_run(copied.a).best_checkpoint
    resume = {"time": "2025-01-01T00:00:00+00:00", "checkpoint": a_best}
    _rewrite_summary(copied.b, resumed_from=a_best, resumes=[resume])
    return copied


def test_prune_is_a_dry_run_until_yes(copy: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    size = sum(p.stat().st_size for p in copy.failed.rglob("*") if p.is_file())
    code, out, err = cli(capsys, "prune", copy.data, "--status", "failed", "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["dry_run"] is True
    assert [i["path"] for i in document["items"]] == [str(copy.failed)]
    assert document["bytes"] == size
    assert copy.failed.is_dir()

    code, out, err = cli(capsys, "prune", copy.data, "--status", "failed", "--yes")
    assert code == 0
    assert not copy.failed.exists()
    assert "moved 1 item(s)" in err
    entries = list((copy.data / ".trash").iterdir())
    assert len(entries) == 1
    manifest = read_json(entries[0] / "manifest.json")
    assert manifest["items"][0]["original"] == str(copy.failed)

    code, out, _ = cli(capsys, "trash", "ls", "--data", copy.data, "--format", "json")
    assert [e["id"] for e in json.loads(out)["entries"]] == [entries[0].name]
    code, _, err = cli(capsys, "trash", "restore", entries[0].name[:10], "--data", copy.data)
    assert code == 0, err
    assert (copy.failed / "training_summary.json").is_file()
    assert not entries[0].exists()


def test_prune_never_touches_a_live_run_or_a_checkpoint_another_run_resumed_from(
    copy: Zoo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "prune", copy.data, "--older-than", "0s", "--what", "weights", "--format", "json")
    assert code == 0
    document = json.loads(out)
    moved = {i["path"] for i in document["items"]}
    skipped = {s["path"]: s["reason"] for s in document["skipped"]}
    assert skipped[str(copy.running)] == "running (not stale: its heartbeat is fresh, or its process is alive)"
    tested = load_run(copy.a).best_checkpoint
    assert tested not in moved
    assert skipped[tested] == f"the checkpoint that {copy.b} resumed from"
    assert load_run(copy.b).best_checkpoint in moved
    assert str(copy.stale) not in skipped  # a stale run is fair game
    # As whole runs, a's folder stays for the same reason.
    code, out, _ = cli(capsys, "prune", copy.data, "--older-than", "0s", "--format", "json")
    skipped = {s["path"]: s["reason"] for s in json.loads(out)["skipped"]}
    assert skipped[str(copy.a)].endswith(f"is the checkpoint that {copy.b} resumed from")


def test_prune_keep_rules_are_a_union_per_root(copy: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        capsys,
        "prune",
        copy.data,
        "--root",
        "flares/binary",
        "--keep-best",
        "1",
        "--by",
        "best_metric_value",
        "--keep-last",
        "1",
        "--format",
        "json",
    )
    assert code == 0
    document = json.loads(out)
    skipped = {s["path"]: s["reason"] for s in document["skipped"]}
    assert skipped[str(copy.a)].startswith("a keep rule: one of the 1 best by best_metric_value")
    # The most recent start in flares/binary is the failed run (a, b, then failed were trained in that order).
    assert skipped[str(copy.failed)] == "a keep rule: one of the 1 most recent"
    assert {i["path"] for i in document["items"]} == {str(copy.b), str(copy.stale)}


def test_prune_needs_a_rule(copy: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "prune", copy.data)
    assert code == 2
    assert "prune needs a rule" in err
    code, _, err = cli(capsys, "prune", copy.data, "--keep-best", "2")
    assert code == 2
    assert "--keep-best N needs --by KEY" in err


def test_trash_empty_is_a_dry_run_until_yes(copy: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    cli(capsys, "prune", copy.data, "--status", "failed", "--yes")
    code, _, err = cli(capsys, "trash", "empty", "--data", copy.data, "--older-than", "7d")
    assert "would delete 0 trash entries" in err
    code, _, err = cli(capsys, "trash", "empty", "--data", copy.data)
    assert "would delete 1 trash entry" in err
    assert len(list((copy.data / ".trash").iterdir())) == 1
    code, _, err = cli(capsys, "trash", "empty", "--data", copy.data, "--yes")
    assert code == 0
    assert list((copy.data / ".trash").iterdir()) == []
    code, _, err = cli(capsys, "trash", "restore", "nothing", "--data", copy.data)
    assert code == 1
    assert "no trash entry 'nothing'" in err


# ------------------------------------------------------------------------------------------------------ report


def test_report_writes_html_for_one_run_and_a_comparison(
    tmp_path: Path, zoo: Zoo, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "cmp.html"
    code, out, err = cli(capsys, "report", zoo.a, zoo.b, "-o", out_file)
    assert code == 0, err
    assert out.strip() == str(out_file)
    text = out_file.read_text()
    assert zoo.a.name in text
    assert zoo.b.name in text
    code, _, err = cli(capsys, "report", zoo.a, zoo.b)
    assert code == 2
    assert "several runs need -o FILE" in err


# ------------------------------------------------------------------------------------------ as a real process


def test_the_console_script_and_python_m_import_no_torch(zoo: Zoo) -> None:
    probe = (
        "import sys, runpy; sys.argv = ['arccnet-ckpt', 'ls', sys.argv[1], '--format', 'json'];"
        "import arccnet_ckpt.cli as c; code = c.main(sys.argv[1:]);"
        "bad = [m for m in ('torch', 'lightning', 'pytorch_lightning') if m in sys.modules];"
        "sys.stderr.write(repr(bad)); sys.exit(code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(zoo.data)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.endswith("[]")
    assert len(json.loads(result.stdout)["runs"]) == 8
    result = subprocess.run(
        [sys.executable, "-m", "arccnet_ckpt", "show", "nothing-here", "--data", str(zoo.data)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("arccnet-ckpt show: nothing-here: no run folder")
    result = subprocess.run(
        [sys.executable, "-m", "arccnet_ckpt", "ls", "--bogus"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "arccnet-ckpt ls: error: unrecognized arguments: --bogus (see arccnet-ckpt ls --help)"
    ]


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    from arccnet_ckpt.cli import output

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert output.use_colour(Tty()) is True
    assert output.use_colour(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert output.use_colour(Tty()) is False
    stream = Tty()
    output.table(["run", "status"], [["x", "failed"]], styles=[[None, "failed"]], colour=True, out=stream)
    assert "\033[31mfailed\033[0m" in stream.getvalue()


def test_is_stale_allows_three_epochs_of_silence() -> None:
    from arccnet_ckpt import TrainingSummary
    from arccnet_ckpt.core.lifecycle import is_stale

    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    summary = TrainingSummary(
        status="running",
        start_time=start,
        model_name="m",
        loss_function="l",
        num_epochs_trained=2,
        updated_at=start + timedelta(hours=4),  # two hours per epoch
    )
    one_hour = timedelta(hours=1)
    assert not is_stale(summary, start + timedelta(hours=9), one_hour)  # 5 h of silence < 3 epochs (6 h)
    assert is_stale(summary, start + timedelta(hours=10, minutes=1), one_hour)
    assert not is_stale(summary.model_copy(update={"status": "failed"}), start + timedelta(days=9), one_hour)


def test_os_environ_data_folder_is_the_default(
    zoo: Zoo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCCNET_DATA_FOLDER", os.fspath(zoo.data))
    code, out, _ = cli(capsys, "ls", "--kind", "evaluation")
    assert (code, _names(out)) == (0, [zoo.evaluation.name])


# ------------------------------------------------------------------------------------- hostile and odd input


def test_prune_keeps_a_checkpoint_named_by_a_relative_path(copy: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    best = Path(load_run(copy.a).best_checkpoint)
    # As a script run from elsewhere recorded it (Lightning keeps ckpt_path as the user typed it).
    relative = f"../../binary/{copy.a.name}/{best.name}"
    _rewrite_summary(
        copy.b, resumed_from=relative, resumes=[{"time": "2025-01-01T00:00:00+00:00", "checkpoint": relative}]
    )
    code, out, _ = cli(capsys, "prune", copy.data, "--older-than", "0s", "--what", "weights", "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert str(best) not in {i["path"] for i in document["items"]}
    assert {s["path"]: s["reason"] for s in document["skipped"]}[
        str(best)
    ] == f"the checkpoint that {copy.b} resumed from"


def test_prune_moves_nothing_while_a_summary_is_unreadable(copy: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    (copy.multi / "training_summary.json").write_text("{")
    code, out, err = cli(capsys, "prune", copy.data, "--status", "failed", "--yes")
    assert code == 1
    assert "nothing moved: 1 run folder(s) cannot be read" in err
    assert copy.failed.is_dir()


def test_one_unreadable_file_does_not_stop_a_listing(copy: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    (copy.a / "classification_report.json").write_text("{")
    code, out, err = cli(capsys, "ls", copy.data, "--sort", "test_accuracy:desc", "--cols", "run,test_accuracy")
    assert code == 0
    assert copy.b.name in out
    assert f"warning: skipped {copy.a}: " in err
    code, out, err = cli(capsys, "best", copy.data, "--by", "test_accuracy", "--status", "completed")
    assert code == 0
    assert out.strip() in {str(copy.b), str(copy.multi)}
    assert "not valid JSON" in err


def test_best_ckpt_skips_runs_without_a_checkpoint(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    # The legacy run has the highest test_f1 but its weights are not in the fixture.
    code, out, _ = cli(capsys, "best", zoo.data, "--by", "test_f1")
    assert out.strip() == str(zoo.legacy)
    code, out, _ = cli(capsys, "best", zoo.data, "--by", "test_f1", "--print", "ckpt")
    assert code == 1
    assert out == ""


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["verify", "{empty}"], 1, "no run folder found: nothing was verified"),
        (["ls", "{file}"], 1, "is a file; give a data folder"),
        (["ls", "/nonexistent/folder"], 1, "/nonexistent/folder: no such folder"),
        (["ls", "--since", "99999999d"], 2, "too long a duration"),
        (["ls", "--status", ","], 2, "name at least one of"),
    ],
)
def test_odd_targets_and_values(
    tmp_path: Path, zoo: Zoo, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.json").write_text("{}")
    args = [a.format(empty=tmp_path / "empty", file=tmp_path / "file.json") for a in args]
    got, _, err = cli(capsys, *args, "--data", zoo.data)
    assert got == code
    assert message in err


def test_a_data_folder_with_a_config_of_its_own_is_still_a_data_folder(
    copy: Zoo, capsys: pytest.CaptureFixture[str]
) -> None:
    (copy.data / "config.json").write_text("{}")
    code, out, _ = cli(capsys, "ls", copy.data, "--format", "json")
    assert len(json.loads(out)["runs"]) == 8


def test_options_between_targets(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "ls", "flares/multiclass", "--data", zoo.data, "flares/evaluations", "--format", "json")
    assert code == 0
    assert sorted(r["run"] for r in json.loads(out)["runs"]) == sorted([zoo.multi.name, zoo.evaluation.name])


def test_column_names_are_keys_and_times_compare_as_times(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(capsys, "ls", zoo.data, "--sort", "start:desc", "--limit", "1")
    assert _names(out) == [zoo.evaluation.name]  # the last one started
    _, out, _ = cli(capsys, "ls", zoo.data, "--where", "epochs>=20")
    assert sorted(_names(out)) == sorted([zoo.stale.name, zoo.legacy.name])
    start = datetime.fromisoformat(read_json(zoo.a / "training_summary.json")["start_time"])
    one_hour_ahead = (start + timedelta(seconds=1)).astimezone(timezone(timedelta(hours=1))).isoformat()
    _, out, _ = cli(capsys, "ls", zoo.data, "--where", f"start_time<{one_hour_ahead}", "--where", "model_name=resnet18")
    assert zoo.a.name in _names(out)  # 1 s after a's start, written in UTC+01:00
    _, out2, _ = cli(capsys, "ls", zoo.data, "--where", 'report.class_names=["Quiet","C","M"]')
    assert _names(out2) == [zoo.multi.name]


def test_show_names_the_error_of_an_unreadable_run(copy: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    (copy.failed / "training_summary.json").write_text("[]")
    code, _, err = cli(capsys, "show", copy.failed.name[:-3], "--data", copy.data)
    assert code == 1
    assert f"{copy.failed}: cannot be read: " in err
    assert "expected a JSON object" in err


def test_incomplete_runs_can_be_selected(copy: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    junk = copy.data / "checkpoints" / "flares" / "binary" / "2026-01-01_00-00-00_junk_ce"
    junk.mkdir()
    (junk / "config.json").write_text(json.dumps({"LEARNING_RATE": 1}))
    code, out, _ = cli(capsys, "ls", copy.data, "--status", "incomplete")
    assert _names(out) == [junk.name]
    assert " incomplete " in out
    code, out, _ = cli(capsys, "ls", copy.data, "--status", "incomplete", "--format", "json")
    (record,) = json.loads(out)["runs"]
    assert (record["status"], record["stale"]) == (None, False)  # JSON keeps the status as recorded: none
    code, out, _ = cli(capsys, "prune", copy.data, "--status", "incomplete", "--format", "json")
    assert [i["path"] for i in json.loads(out)["items"]] == [str(junk)]


def test_trash_restore_with_options_first_and_the_undo_hint(copy: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "prune", "--data", copy.data, "--status", "failed", "--yes")
    assert code == 0
    hint = err.split("(undo: ")[1].rstrip(")\n")
    assert hint.startswith("arccnet-ckpt trash restore ")
    assert hint.endswith(f" --data {copy.data}")
    entry = hint.split()[3]
    code, _, err = cli(capsys, "trash", "restore", "--data", copy.data, entry)
    assert code == 0, err
    assert copy.failed.is_dir()


def test_diff_does_not_judge_epochs_or_duration(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(capsys, "diff", zoo.a, zoo.b, "--format", "json", "--all")
    metrics = {m["name"]: m for m in json.loads(out)["metrics"]}
    assert metrics["num_epochs_trained"]["better"] is None
    assert metrics["duration_seconds"]["better"] is None


def test_report_to_stdout(zoo: Zoo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "report", zoo.a, "-o", "-")
    assert code == 0
    assert out.startswith("<!DOCTYPE html>")


def test_a_storage_back_end_error_is_one_line(
    zoo: Zoo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from arccnet_ckpt.cli import select

    class NoCredentialsError(Exception):  # what botocore raises without credentials: not an OSError
        pass

    def fail(*args: object, **kwargs: object) -> None:
        raise NoCredentialsError("Unable to locate credentials")

    monkeypatch.setattr(select, "scan_runs", fail)
    code, out, err = cli(capsys, "ls", "--data", zoo.data)
    assert (code, out) == (1, "")
    assert err == "arccnet-ckpt ls: NoCredentialsError: Unable to locate credentials\n"


def _stderr_on_a_terminal(*args: str | Path) -> tuple[int, str, str]:
    """Run the console script with stderr on a pseudo-terminal (stdout a pipe); return (exit code, stdout, the
    bytes the terminal got)."""
    import pty

    controller, terminal = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "arccnet_ckpt", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
    ) as proc:
        os.close(terminal)
        seen = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            seen += chunk
        out = proc.stdout.read() if proc.stdout else ""
        code = proc.wait(timeout=60)
    os.close(controller)
    return code, out, seen.decode(errors="replace")


def test_verify_load_and_report_show_progress_on_a_terminal_only(
    tmp_path: Path, zoo: Zoo, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = [zoo.a, zoo.b, zoo.multi]
    code, out, terminal = _stderr_on_a_terminal("verify", *runs, "--load")
    assert code == 0, terminal
    assert out == ""
    assert "loading checkpoints 1/3" in terminal
    assert "loading checkpoints 3/3" in terminal
    assert "verified 3 run(s): 0 problem(s)" in terminal
    code, out, terminal = _stderr_on_a_terminal("report", *runs, "-o", tmp_path / "compare.html")
    assert code == 0, terminal
    assert "reading runs 3/3" in terminal
    assert out == f"{tmp_path / 'compare.html'}\n"

    # Not a terminal (a pipe, a CI log): no progress at all.
    code, _, err = cli(capsys, "verify", *runs, "--load")
    assert code == 0
    assert err == "arccnet-ckpt: verified 3 run(s): 0 problem(s)\n"
    done = subprocess.run(
        [sys.executable, "-m", "arccnet_ckpt", "report", *map(str, runs), "-o", str(tmp_path / "again.html")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "reading runs" not in done.stderr


# ------------------------------------------------------------------------------ a version 2 report (hand-made)


@pytest.fixture
def scored_data(tmp_path: Path) -> Path:
    from folders import make_run, make_scored_run

    make_scored_run(tmp_path, class_names=("Quiet", "no flare", "C.1"))
    make_run(tmp_path, "flares/binary_classification")  # a report without scores
    return tmp_path


def test_show_prints_the_auc_per_class_and_the_mistakes(scored_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = find_runs(scored_data, "flares/multiclass")[0]
    report = run.report
    assert report is not None
    assert report.per_class is not None
    assert report.mistakes is not None
    code, out, _ = cli(capsys, "show", run.path)
    assert code == 0
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("CLASS"))
    assert lines[header].split() == ["CLASS", "PRECISION", "RECALL", "F1", "SUPPORT", "ROC", "AUC", "AP", "TSS", "HSS"]
    for line, (name, m) in zip(lines[header + 1 :], report.per_class.items(), strict=False):
        assert line.startswith(name)
        assert line[len(name) :].split()[-4:] == [f"{v:.4g}" for v in (m.roc_auc, m.average_precision, m.tss, m.hss)]
    assert report.roc_auc is not None
    assert f"roc auc macro {report.roc_auc.macro:.4g}, weighted {report.roc_auc.weighted:.4g}" in lines
    assert "predictions source forward, scores logits (softmax), labels from the scores, ranking exact" in lines
    mistakes = lines.index("most confident mistakes")
    assert lines[mistakes + 1].split() == ["INDEX", "TRUE", "PREDICTED", "CONFIDENCE", "THUMBNAIL"]
    for line, m in zip(lines[mistakes + 2 :], report.mistakes, strict=False):
        assert line.split()[0] == str(m.index)
        assert f"{m.confidence:.4g}  {m.thumbnail}" in line
    _, plain, _ = cli(capsys, "show", find_runs(scored_data, "flares/binary_classification")[0].path)
    assert "ROC AUC" not in plain
    assert "roc auc" not in plain
    assert "mistakes" not in plain
    _, document, _ = cli(capsys, "show", run.path, "--format", "json")
    shown = json.loads(document)
    assert set(shown) == {"schema", "version", "run", "summary", "report", "config", "notes", "files"}
    assert shown["report"]["roc_auc"]["macro"] == report.roc_auc.macro


@pytest.mark.parametrize(
    ("where", "matches"),
    [
        ("report.roc_auc.macro>0.5", True),
        ("report.roc_auc.macro>0.9999", False),
        ("report.per_class.Quiet.tss>0", True),
        ('report.per_class."no flare".tss>0', True),
        ("report.per_class.C.1.hss>0", True),
        ("report.per_class.C.1.hss<0", False),
    ],
)
def test_ls_where_filters_on_nested_scores(
    scored_data: Path, capsys: pytest.CaptureFixture[str], where: str, matches: bool
) -> None:
    code, out, _ = cli(capsys, "ls", scored_data, "--where", where, "--cols", "run,root")
    assert code == (0 if matches else 1)
    assert (" flares/multiclass" in out) is matches
    assert "binary_classification" not in out  # its report records no score


def test_ls_where_an_unknown_report_field_lists_the_allowed_ones(
    scored_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "ls", scored_data, "--where", "report.per_class.Quiet.tsss>0")
    assert code == 2
    assert err.strip().endswith(
        "report.per_class.Quiet has no field 'tsss'; its fields: precision, recall, f1, support, roc_auc, "
        'average_precision, tss, hss (quote a key that holds a blank or an operator: per_class."no flare".tss)'
    )
