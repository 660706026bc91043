"""``arccnet-ckpt report --group ID``: the group page of hand-made folds, what a reader checks on it (each fold's row,
each number's mean ± std as the summary gives it, the matrices, the pooled table, a failed fold left out, disagreeing
classes, escaping), the command's exit codes and output, and the page in a real browser."""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import pytest
from folders import HALE_CLASSES, HALE_FOLDS, edit_json, fold_report, make_group
from test_cli import cli
from test_html_report import Listener, _browse, _proxied, assert_self_contained, page_requests, parse, section

from arccnet_ckpt import ClassificationReport, TrainingSummary, load_group
from arccnet_ckpt.report import format as fmt
from arccnet_ckpt.report.group import render_group_html
from arccnet_ckpt.runs.group_stats import GroupSummary, Stats

SCRIPT = "<script>alert(1)</script>"


def number(value: float | None) -> str:
    """A number as the page writes it."""
    return fmt.number(value, fmt.EM_DASH)


def pm(stats: Stats | None) -> str:
    """A mean ± std cell as the page writes it."""
    assert stats is not None
    return f"{number(stats.mean)} ± {number(stats.std)}"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Five Hale folds, fold 2 failed with an out-of-memory error."""
    make_group(tmp_path / "data", statuses={2: "failed"})
    return tmp_path / "data"


@pytest.fixture
def summary(data: Path) -> GroupSummary:
    return load_group("hale-cv", data).summary()


def write_page(capsys: pytest.CaptureFixture[str], data: Path, target: Path, group: str = "hale-cv") -> str:
    code, out, err = cli(capsys, "report", "--group", group, "--data", data, "-o", target)
    assert code == 0, err
    assert out.strip() == str(target)
    return target.read_text(encoding="utf-8")


def test_the_group_page_puts_each_fold_side_by_side(
    data: Path, summary: GroupSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = write_page(capsys, data, tmp_path / "cv.html")

    rows = parse(text).tables["folds"]
    metrics = ["test_accuracy", "test_f1", "test_loss"]
    assert rows[0] == ["Run", "Index", "Status", "Best epoch", "best val_f1", *metrics]
    assert len(rows) == 1 + 5
    for row, fold in zip(rows[1:], summary.runs, strict=True):
        assert row == [
            fold.run,
            str(fold.index),
            fold.status,
            number(fold.best_epoch),
            number(fold.best_value),
            *(number(fold.test_results.get(m)) for m in metrics),
        ]
    assert [r[2] for r in rows[1:]] == ["completed", "completed", "failed", "completed", "completed"]
    assert rows[3][5:] == [fmt.EM_DASH] * 3  # the failed fold has no test results
    header = section(text, "folds")
    assert "href" not in header  # a run's name links nowhere
    assert_self_contained(text)


def test_each_numbers_mean_and_std_are_the_summarys_with_a_dot_per_run(
    data: Path, summary: GroupSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = write_page(capsys, data, tmp_path / "cv.html")

    rows = parse(text).tables["group-numbers"]
    assert rows[0][:6] == ["Number", "Mean ± std", "Sample std", "Min", "Max", "N"]
    named = {
        "best val_f1": summary.best_value,
        "best_epoch": summary.best_epoch,
        "duration_seconds": summary.duration_seconds,
        **summary.test_metrics,
    }
    assert [r[0] for r in rows[1:]] == list(named)
    for row, stats in zip(rows[1:], named.values(), strict=True):
        assert stats is not None
        assert row[1:6] == [pm(stats), number(stats.std_sample), number(stats.min), number(stats.max), str(stats.n)]
    assert pm(summary.test_metrics["test_f1"]) == "0.7786 ± 0.0189"  # what group show prints too

    # One strip per number: a dot per completed run with its value, the mean line and the ±std band.
    numbers = section(text, "numbers")
    strips = re.findall(r'<svg class="strip".*?</svg>', numbers, re.S)
    assert len(strips) == len(named)
    for strip, stats in zip(strips, named.values(), strict=True):
        assert stats is not None
        values = [float(v) for v in re.findall(r'class="fold-point" data-value="([^"]+)"', strip)]
        assert values == stats.values
        assert strip.count('class="mean"') == 1
        assert strip.count('class="std-band"') == 1
    f1_strip = strips[list(named).index("test_f1")]
    for fold in summary.runs:
        if fold.counted:
            assert f"<title>{fold.run}: {number(fold.test_results['test_f1'])}</title>" in f1_strip


def test_the_mean_and_summed_matrices_and_the_pooled_table(
    data: Path, summary: GroupSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = write_page(capsys, data, tmp_path / "cv.html")
    page = parse(text)

    assert summary.confusion_matrix_mean is not None
    assert summary.confusion_matrix_sum is not None
    size = len(HALE_CLASSES)
    assert len(page.cells) == 2 * size * size
    mean = [[0.0] * size for _ in range(size)]
    total = [[0] * size for _ in range(size)]
    for k, cell in enumerate(page.cells):
        i, j = int(cell["data-row"]), int(cell["data-col"])
        if k < size * size:
            mean[i][j] = float(cell["data-count"])
        else:
            total[i][j] = int(cell["data-count"])
    assert mean == summary.confusion_matrix_mean
    assert total == summary.confusion_matrix_sum
    matrices = section(text, "matrices")
    assert "Mean of 4 run(s)" in matrices
    assert ">38.75</text>" in matrices  # a fraction of a count, written as every number on the page
    assert ">155</text>" in matrices

    pooled = summary.pooled
    assert pooled is not None
    rows = page.tables["pooled"]
    assert rows[0] == ["Class", "Precision", "Recall", "F1", "Support"]
    expected = [
        [name, number(c.precision), number(c.recall), number(c.f1), str(c.support)]
        for name, c in pooled.per_class.items()
    ]
    for name, avg in (("macro avg", pooled.macro_avg), ("weighted avg", pooled.weighted_avg)):
        expected.append([name, number(avg.precision), number(avg.recall), number(avg.f1), str(avg.support)])
    expected.append(["accuracy", "", "", number(pooled.accuracy), str(pooled.num_samples)])
    assert rows[1:] == expected
    assert rows[1][:2] == ["Alpha", "0.8611"]


def test_per_class_bars_carry_each_classs_mean_and_std(
    data: Path, summary: GroupSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = write_page(capsys, data, tmp_path / "cv.html")

    assert summary.per_class is not None
    bars = re.findall(
        r'<g class="err-bar" data-class="([^"]*)" data-field="([^"]*)" data-mean="([^"]*)" data-std="([^"]*)"', text
    )
    fields = ("precision", "recall", "f1", "roc_auc", "tss")
    assert len(bars) == len(HALE_CLASSES) * len(fields)
    for name, field, mean, std in bars:
        stats = getattr(summary.per_class[html.unescape(name)], field)
        assert (float(mean), float(std)) == (stats.mean, stats.std)
    table = parse(text).tables["group-per-class"]
    assert table[0] == ["Class", "precision", "recall", "f1", "support", "roc_auc", "tss"]
    beta = summary.per_class["Beta"]
    assert table[2] == [
        "Beta",
        *(pm(getattr(beta, f)) for f in ("precision", "recall", "f1", "support", "roc_auc", "tss")),
    ]
    macro = summary.macro_avg
    assert macro is not None
    assert (
        table[4]
        == ["macro avg", *(pm(getattr(macro, f)) for f in ("precision", "recall", "f1", "support"))] + [fmt.EM_DASH] * 2
    )  # the averages have no ROC AUC or TSS
    assert table[-1] == ["accuracy", f"{pm(summary.accuracy)} over 4 run(s)"]


def test_a_failed_fold_is_listed_and_left_out(
    data: Path, summary: GroupSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = write_page(capsys, data, tmp_path / "cv.html")

    failed = summary.runs[2]
    assert failed.status == "failed"
    header = text.split("</header>", 1)[0]
    assert "4/5 completed" in header
    assert re.search(r'class="badge completed">completed</span> 4, <span class="badge failed">failed</span> 1', header)
    left_out = re.search(r'<div class="left-out">(.*?)</div>', header, re.S)
    assert left_out is not None
    assert failed.run in left_out.group(1)
    assert "(index 2)" in left_out.group(1)
    assert "failed: RuntimeError: CUDA out of memory" in left_out.group(1)
    for note in summary.notes:  # every note of the summary, the one that says what "left out" does included
        assert f"<li>{html.escape(note, quote=True)}</li>" in header
    assert summary.notes[0].startswith("1 of 5 run(s) left out of the statistics")
    assert f'<tr class="excluded"><td class="mono" title="{failed.path}">{failed.run}</td>' in text
    # Its best value (0.74) is in its row, not among the points: four dots per number.
    assert all(
        len(re.findall(r'class="fold-point"', s)) == 4 for s in re.findall(r"<svg class=\"strip\".*?</svg>", text, re.S)
    )


def test_a_missing_index_is_said(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fold = sorted((data / "checkpoints" / "cutouts" / "hale").iterdir())[3]
    edit_json(fold / TrainingSummary.filename, group={"id": "hale-cv", "source": "argument", "index": 6})
    text = write_page(capsys, data, tmp_path / "cv.html")
    assert re.search(r'<dd class="missing-indices">3, 5</dd>', text)


def test_runs_that_disagree_on_class_names_show_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folders = make_group(tmp_path / "data", matrices=HALE_FOLDS[:3])
    other = ("Alpha", "Beta", "Gamma")
    edit_json(Path(folders[1]) / ClassificationReport.filename, **fold_report(HALE_FOLDS[1], other))
    summary = load_group("hale-cv", tmp_path / "data").summary()
    assert summary.per_class is None
    assert summary.classes_note is not None

    text = write_page(capsys, tmp_path / "data", tmp_path / "cv.html")

    classes = section(text, "classes")
    assert html.escape(summary.classes_note, quote=True) in classes
    assert "the runs disagree on the class names" in classes
    for gone in ("per-class", "matrices", "pooled"):
        assert f'<section id="{gone}">' not in text
    assert "cm-cell" not in text
    assert "err-bar" not in text
    numbers = parse(text).tables["group-numbers"]
    assert numbers[-1][:2] == ["test_loss", pm(summary.test_metrics["test_loss"])]  # the scalars still summarised


def test_user_written_text_is_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Class names, a metric name and the group id as a user could have written them: text on the page, never markup."""
    data = tmp_path / "data"
    folders = make_group(data, "cv<b>", matrices=HALE_FOLDS[:2], class_names=("Alpha", SCRIPT, "Beta-Gamma"))
    for folder in folders:
        summary_file = Path(folder) / TrainingSummary.filename
        tests = json.loads(summary_file.read_text())["test_results"]
        edit_json(summary_file, test_results={**tests, "test_<img src=x onerror=alert(2)>": 0.5})

    text = write_page(capsys, data, tmp_path / "cv.html", group="cv<b>")

    for raw in (SCRIPT, "<img", "<b>"):
        assert raw not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # the class name, escaped, in the tables and charts
    assert "<title>Group report: cv&lt;b&gt;</title>" in text
    assert "<h1>Group cv&lt;b&gt;</h1>" in text
    assert "test_&lt;img src=x onerror=alert(2)&gt;" in text
    rows = parse(text).tables["group-per-class"]
    assert rows[2][0] == SCRIPT  # the reader sees the name as written
    assert_self_contained(text)


def test_an_unknown_group_exits_1_with_group_shows_message(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "report", "--group", "hale-cv2", "--data", data)
    assert code == 1
    assert out == ""
    shown_code, _, shown_err = cli(capsys, "group", "show", "hale-cv2", "--data", data)
    assert shown_code == 1
    message = "no group 'hale-cv2' under"
    assert err.startswith(f"arccnet-ckpt report: {message}")
    assert err.split(": ", 1)[1] == shown_err.split(": ", 1)[1]
    assert "arccnet-ckpt groups --all" in err


def test_the_page_goes_to_id_html_here_by_default_and_to_stdout_with_dash(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    code, out, err = cli(capsys, "report", "--group", "hale-cv", data)  # the data folder as the target
    assert code == 0, err
    assert out.strip() == "hale-cv.html"
    written = (here / "hale-cv.html").read_text(encoding="utf-8")
    assert "<h1>Group hale-cv</h1>" in written

    code, printed, err = cli(capsys, "report", "--group", "hale-cv", "--data", data, "-o", "-")
    assert code == 0, err
    assert printed.startswith("<!DOCTYPE html>")
    assert parse(printed).tables["folds"] == parse(written).tables["folds"]
    assert os.listdir(here) == ["hale-cv.html"]


def test_report_without_a_run_or_a_group_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "report")
    assert code == 2
    assert "report needs a RUN (or several), or --group ID" in err


def test_the_footer_names_every_runs_folder(summary: GroupSummary) -> None:
    text = render_group_html(summary)
    footer = text.split("<footer>", 1)[1]
    assert [f"<div>{row.path}</div>" in footer for row in summary.runs] == [True] * 5


# ---------------------------------------------------------------------------------------- in a real browser


@pytest.mark.slow
def test_the_browser_draws_the_group_page(summary: GroupSummary, tmp_path: Path) -> None:
    """The page inside a harness page's iframe, as the run page's score sections are checked: the harness's script
    reads what the browser made of it (the page's own CSP forbids scripts), and the console stays empty."""
    harness = tmp_path / "harness.html"
    harness.write_text(
        "<!DOCTYPE html><html><body><pre id=out>pending</pre>"
        f'<iframe id=r width=1200 height=5000 srcdoc="{html.escape(render_group_html(summary), quote=True)}"></iframe>'
        "<script>window.addEventListener('load', () => {"
        "const d = document.getElementById('r').contentDocument;"
        "const box = (q) => [...d.querySelectorAll(q)].map((e) => {const r = e.getBoundingClientRect();"
        " return [Math.round(r.width), Math.round(r.height)];});"
        "document.getElementById('out').textContent = JSON.stringify({"
        "rows: d.querySelectorAll('table.folds tbody tr').length,"
        "strips: box('svg.strip'), dots: box('svg.strip circle.fold-point'), bands: box('svg.strip rect.std-band'),"
        "bars: box('g.err-bar rect'), cells: d.querySelectorAll('g.cm-cell').length, matrices: box('svg.cm'),"
        "pooled: d.querySelectorAll('table.pooled tbody tr').length, charts: box('svg.error-bars')});"
        "});</script></body></html>",
        encoding="utf-8",
    )
    done = _browse(tmp_path, harness, "--dump-dom", "--enable-logging=stderr", "--v=0")
    out = re.search(r"<pre id=\"out\">(.*?)</pre>", done.stdout, re.S)
    assert out is not None
    found = json.loads(html.unescape(out.group(1)))
    assert found["rows"] == 5
    assert len(found["strips"]) == 6
    assert all(w == 300 and h > 30 for w, h in found["strips"])
    assert len(found["dots"]) == 6 * 4
    assert all(w == 8 and h == 8 for w, h in found["dots"])  # r=4: drawn at their size
    assert all(w > 1 for w, _ in found["bands"])
    assert len(found["bars"]) == 3 * 5
    assert all(w > 0 and h > 10 for w, h in found["bars"])  # scores of 0.6 to 0.9: bars a good part of 200 px
    assert len(found["charts"]) == 1
    assert found["charts"][0][0] >= 300
    assert found["cells"] == 2 * 9
    assert len(found["matrices"]) == 2
    assert all(w > 200 and h > 200 for w, h in found["matrices"])
    assert found["pooled"] == 3 + 2 + 1
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Content Security Policy" in line]
    assert console == []


@pytest.mark.slow
def test_the_browser_makes_no_request_for_the_group_page(
    summary: GroupSummary, tmp_path: Path, listener: Listener
) -> None:
    page = tmp_path / "cv.html"
    page.write_text(render_group_html(summary), encoding="utf-8")
    _browse(tmp_path, page, *_proxied(listener))
    assert page_requests(listener) == []
    assert_self_contained(page.read_text(encoding="utf-8"))


@pytest.fixture
def listener() -> object:
    server = Listener()
    yield server
    server.close()
