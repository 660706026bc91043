"""``arccnet-ckpt groups``, ``group show`` and ``ls``'s group column on hand-made folds: text, JSON and CSV, the
exit codes, and a fresh process that imports no torch."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli
from folders import T0, edit_json, make_group, make_run

from arccnet_ckpt import GroupSummary, load_group


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Five Hale folds (fold 2 failed), two McIntosh sweep runs, and a run alone without a group."""
    make_group(tmp_path, statuses={2: "failed"})
    make_group(
        tmp_path,
        "mcintosh-sweep",
        [[[5, 1], [2, 7]], [[6, 0], [1, 8]]],
        class_names=["quiet", "flare"],
        root_name="flares/binary",
        source="slurm_array",
        start=T0.replace(year=2026),
    )
    alone = make_run(tmp_path, "flares/binary", start=T0.replace(year=2024))
    edit_json(Path(alone) / "training_summary.json", group=...)
    return tmp_path


def test_groups_lists_each_group_with_mean_and_std_and_hides_runs_alone(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "groups", "--data", data)

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["GROUP", "SOURCE", "RUNS", "ROOT", "MODEL", "BEST", "TEST"]
    hale = load_group("hale-cv", data).summary()
    best, test = hale.best_value, hale.test_metrics["test_f1"]
    assert best is not None
    assert lines[1].split() == [
        "hale-cv",
        "argument",
        "4/5",
        "cutouts/hale",
        "resnet18",
        "val_f1",
        "0.74",
        "±",
        f"{best.std:.4g}",
        "test_f1",
        f"{test.mean:.4g}",
        "±",
        f"{test.std:.4g}",
    ]
    assert lines[2].split()[:3] == ["mcintosh-sweep", "slurm_array", "2/2"]
    assert len(lines) == 3  # the run alone is an ordinary run: only with --all

    _, everything, _ = cli(capsys, "groups", "--data", data, "--all")
    assert [line.split()[0] for line in everything.splitlines()[1:]] == [
        Path(next((data / "checkpoints" / "flares" / "binary").glob("2024-*"))).name,
        "hale-cv",
        "mcintosh-sweep",
    ]


def test_groups_takes_the_filters_and_formats_of_ls(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "groups", "--data", data, "--status", "failed", "--format", "json")

    assert code == 0
    document = json.loads(out)
    assert (document["schema"], document["version"]) == ("arccnet-ckpt/groups", 1)
    [hale] = document["groups"]  # the group with a failed run, whole
    assert (hale["id"], hale["runs_total"], hale["runs_completed"]) == ("hale-cv", 5, 4)
    assert hale["status_counts"] == {"completed": 4, "failed": 1}
    assert hale["test_metric"] == "test_f1"
    assert hale["test"]["std"] == load_group("hale-cv", data).summary().test_metrics["test_f1"].std

    _, text, _ = cli(capsys, "groups", "flares/binary", "--data", data, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["group"], r["source"], r["runs_completed"], r["runs_total"]) for r in rows] == [
        ("mcintosh-sweep", "slurm_array", "2", "2")
    ]

    code, out, err = cli(capsys, "groups", "--data", data, "--model", "no-such-model")
    assert (code, out) == (1, "")
    assert "no group matches (groups of one run are hidden: add --all to list them)" in err


def test_group_show_prints_the_summary_as_tables(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "group", "show", "hale-cv", "--data", data)

    assert code == 0, err
    summary = load_group("hale-cv", data).summary()
    failed = summary.left_out[0].run
    assert "group         hale-cv (argument)" in out
    assert "runs          4 of 5 completed (completed 4, failed 1)" in out
    assert f"left out      {failed} (index 2): failed: RuntimeError: CUDA out of memory" in out
    metric_rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("test_")}
    assert metric_rows["test_f1"][1:3] == [f"{summary.test_metrics['test_f1'].mean:.4g}", "0.0189"]
    assert "per class, mean ± std over the runs" in out
    assert "Alpha         0.8663 ± 0.05232" in out
    assert "confusion matrix, mean of 4 run(s) (rows: true class, columns: predicted)" in out
    assert "confusion matrix, sum (rows: true class, columns: predicted)" in out
    assert "pooled: the report of the summed matrix (480 samples)" in out


def test_group_show_json_is_the_group_summary(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "group", "show", "mcintosh-sweep", "--data", data, "--format", "json")

    assert code == 0
    document = json.loads(out)
    assert (document.pop("schema"), document.pop("version")) == ("arccnet-ckpt/group", 1)
    shown = GroupSummary.model_validate(document)
    assert shown.model_dump(exclude={"runs"}) == load_group("mcintosh-sweep", data).summary().model_dump(
        exclude={"runs"}
    )
    assert shown.class_names == ["quiet", "flare"]
    assert shown.confusion_matrix_sum == [[11, 1], [3, 15]]


def test_an_unknown_group_id_exits_1_naming_it_and_how_to_list_groups(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "group", "show", "hale-cv-typo", "--data", data)

    assert (code, out) == (1, "")
    assert err.startswith("arccnet-ckpt group: no group 'hale-cv-typo' under ")
    assert "list the groups with `arccnet-ckpt groups --all`" in err


def test_ls_shows_the_group_column_blank_for_a_run_alone(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "ls", "--data", data)

    assert code == 0
    header, *rows = out.splitlines()
    assert header.split()[:4] == ["RUN", "ROOT", "GROUP", "STATUS"]
    hale = [f"hale-cv#{k}" for k in range(5)]
    assert [row.split()[2] for row in rows] == ["-", *hale, "mcintosh-sweep#0", "mcintosh-sweep#1"]
    # Filtered to one fold, the column still knows its group; CSV carries the cell, blank for the run alone.
    _, one, _ = cli(capsys, "ls", "--data", data, "--status", "failed")
    assert one.splitlines()[1].split()[1] == "hale-cv#2"
    _, text, _ = cli(capsys, "ls", "--data", data, "--cols", "run,group", "--format", "csv")
    assert [r["group"] for r in csv.DictReader(io.StringIO(text))][:2] == ["", "hale-cv#0"]
    # JSON gives each run's group as recorded: null for the run alone without one
    _, text, _ = cli(capsys, "ls", "--data", data, "--format", "json")
    recorded = [r["group"] for r in json.loads(text)["runs"]]
    assert recorded[0] is None
    assert recorded[1:3] == [{"id": "hale-cv", "source": "argument", "index": k} for k in (0, 1)]


def test_ls_without_groups_keeps_its_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_run(tmp_path)

    _, out, _ = cli(capsys, "ls", "--data", tmp_path)

    assert out.splitlines()[0].split() == ["RUN", "STATUS", "START", "EPOCHS", "BEST", "TEST"]


def test_groups_and_group_show_as_a_process_import_no_torch(data: Path) -> None:
    probe = (
        "import sys; import arccnet_ckpt.cli as c; code = c.main(sys.argv[1:]);"
        "bad = [m for m in ('torch', 'lightning', 'pytorch_lightning', 'numpy') if m in sys.modules];"
        "sys.stderr.write(repr(bad)); sys.exit(code)"
    )
    for args in (["groups", "--data", str(data)], ["group", "show", "hale-cv", "--data", str(data)]):
        result = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr.endswith("[]"), result.stderr
