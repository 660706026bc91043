"""The one-file HTML report: what a user checks on the page, and that a real browser loads nothing from anywhere."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import ScriptedClassifier, TinyData, make_trainer
from folders import make_scored_run
from lightning.pytorch.callbacks import EarlyStopping

from arccnet_ckpt import ArcCheckpointCallback, ClassificationReport, load_run, store
from arccnet_ckpt.records import ClassScores
from arccnet_ckpt.report.html import REPORT_FILENAME, render_html, write_report
from arccnet_ckpt.runs import Run
from arccnet_ckpt.runs.direction import better

CLASS_NAMES = ["Quiet", "C", "M_X", "<b>"]
LEGACY_RUN = (
    Path(__file__).parents[1]
    / "fixtures"
    / "legacy-runs"
    / "checkpoints"
    / "flares"
    / "binary_classification"
    / "2025-02-12_14-30-45_resnet18_weighted_bce"
)
CHROMIUM = "/usr/bin/chromium"
# The test-only Trainer of the evaluation run warns that the tested checkpoint was made with EarlyStopping.
pytestmark = pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")
BROWSER_TIMEOUT_S = 60


# --------------------------------------------------------------------------------------------------- the runs


@dataclass
class Runs:
    trained: Run
    other: Run
    failed: Run
    evaluation: Run
    best_checkpoint: Path


def _train(
    base: Path, name: str, config: dict[str, Any], val_scores: tuple[float, ...], **model_kwargs: Any
) -> tuple[Run, ArcCheckpointCallback]:
    data = base / "data"
    cb = ArcCheckpointCallback(root_name="flares/multiclass", data_folder=data, class_names=CLASS_NAMES, config=config)
    model, dm = ScriptedClassifier(num_classes=4, val_scores=val_scores, **model_kwargs), TinyData(num_classes=4)
    stop = EarlyStopping("val_f1", mode="max", patience=2)
    trainer = make_trainer(base / name, [cb, stop], max_epochs=8, limit_test_batches=None)
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm, ckpt_path="best")
    assert cb.run_dir is not None
    return load_run(cb.run_dir), cb


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    base = tmp_path_factory.mktemp("html")
    config = {"LEARNING_RATE": 0.1, "BATCH_SIZE": 8, "NOTE": "<script>alert(1)</script>", "API_KEY": "s3cr3t"}
    trained, cb = _train(base, "a", config, (0.5, 0.7, 0.9, 0.8, 0.8, 0.8))
    other, _ = _train(base, "b", {**config, "LEARNING_RATE": 0.01}, (0.6, 0.95, 0.9, 0.9))

    failed_cb = ArcCheckpointCallback(root_name="flares/multiclass", data_folder=base / "data")
    with pytest.raises(RuntimeError, match="boom in training_step"):
        make_trainer(base / "f", [failed_cb]).fit(
            ScriptedClassifier(num_classes=4, fail_at_step=3), datamodule=TinyData(num_classes=4)
        )

    outside = base / "shared-models" / "flare.ckpt"
    outside.parent.mkdir()
    outside.write_bytes(Path(cb.best_model_path).read_bytes())
    evaluation_cb = ArcCheckpointCallback(
        root_name="flares/multiclass", data_folder=base / "data", class_names=CLASS_NAMES
    )
    make_trainer(base / "e", [evaluation_cb], limit_test_batches=None).test(
        ScriptedClassifier(num_classes=4), datamodule=TinyData(num_classes=4), ckpt_path=str(outside)
    )
    assert failed_cb.run_dir is not None
    assert evaluation_cb.run_dir is not None
    return Runs(trained, other, load_run(failed_cb.run_dir), load_run(evaluation_cb.run_dir), outside)


@pytest.fixture
def legacy_run(tmp_path: Path) -> Run:
    target = tmp_path / "checkpoints" / "flares" / "binary_classification" / LEGACY_RUN.name
    shutil.copytree(LEGACY_RUN, target)
    return load_run(target)


def _report_only_run(folder: Path, matrix: list[list[int]], names: list[str]) -> Run:
    """A folder holding nothing but a classification report: every other section has nothing to show."""
    per_class = {
        n: ClassScores(precision=0.5, recall=0.5, f1=0.5, support=sum(row))
        for n, row in zip(names, matrix, strict=True)
    }
    report = ClassificationReport(
        test_metrics={"test_f1": 0.5},
        class_names=names,
        per_class=per_class,
        confusion_matrix=matrix,
        accuracy=0.5,
        num_samples=sum(map(sum, matrix)),
        created_at=datetime(2025, 2, 12, tzinfo=timezone.utc),
    )
    store.write_text(folder / ClassificationReport.filename, store.model_to_json(report))
    return load_run(folder)


# ------------------------------------------------------------------------------------------- reading the page


@dataclass
class Page:
    """What a reader of the HTML sees: the matrix cells, the tables' rows, the deltas, the figures."""

    cells: list[dict[str, str]] = field(default_factory=list)
    cell_fills: list[tuple[str, str]] = field(default_factory=list)  # (rect fill, count text fill) per cell
    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    deltas: dict[str, list[list[str]]] = field(default_factory=dict)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (caption, inner HTML)
    tags: list[tuple[str, dict[str, str]]] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self, page: Page) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.table: str | None = None
        self.row: list[str] | None = None
        self.row_deltas: list[str] = []
        self.cell: list[str] | None = None
        self.in_cm_cell = False
        self.fills: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        self.page.tags.append((tag, a))
        if "cm-cell" in classes:
            self.page.cells.append(a)
            self.in_cm_cell, self.fills = True, []
        elif self.in_cm_cell and tag in ("rect", "text"):
            self.fills.append(a.get("fill", ""))
        if tag == "table":
            self.table = a.get("class", "")
            self.page.tables.setdefault(self.table, [])
            self.page.deltas.setdefault(self.table, [])
        elif tag == "tr" and self.table is not None:
            self.row, self.row_deltas = [], []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []
        elif tag == "span" and "delta" in classes and self.row is not None:
            self.row_deltas.append(next(c for c in classes if c != "delta"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "g" and self.in_cm_cell:
            self.page.cell_fills.append((self.fills[0], self.fills[1]))
            self.in_cm_cell = False
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None and self.table is not None:
            self.page.tables[self.table].append(self.row)
            self.page.deltas[self.table].append(self.row_deltas)
            self.row = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def parse(text: str) -> Page:
    page = Page()
    parser = _Parser(page)
    parser.feed(text)
    parser.close()
    for match in re.finditer(r'<figure class="chart"><figcaption>(.*?)</figcaption>(.*?)</figure>', text, re.S):
        page.figures.append((match.group(1), match.group(2)))
    return page


def matrix_from_cells(cells: list[dict[str, str]]) -> list[list[int]]:
    size = int(len(cells) ** 0.5)
    assert size * size == len(cells)
    matrix = [[-1] * size for _ in range(size)]
    for cell in cells:
        matrix[int(cell["data-row"])][int(cell["data-col"])] = int(cell["data-count"])
    return matrix


def section(text: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', text, re.S)
    assert match, f"no section {section_id!r}"
    return match.group(1)


def assert_self_contained(text: str) -> None:
    """No URL, no external resource, and a policy that would block one anyway."""
    lowered = text.lower()
    for token in ("http://", "https://", "//", "<script", "<link", "<iframe", "@import", "url("):
        assert token not in lowered, f"{token!r} in the page"
    assert (
        '<meta http-equiv="Content-Security-Policy" content="default-src &#x27;none&#x27;; '
        'style-src &#x27;unsafe-inline&#x27;; img-src data:">' in text
    )


# ---------------------------------------------------------------------------------------------- the run report


def test_the_matrix_cells_hold_the_reported_counts(runs: Runs) -> None:
    report = runs.trained.report
    assert report is not None
    assert report.confusion_matrix is not None
    page = parse(render_html([runs.trained]))
    assert len(page.cells) == len(CLASS_NAMES) ** 2
    assert matrix_from_cells(page.cells) == report.confusion_matrix
    assert sum(int(c["data-count"]) for c in page.cells) == report.num_samples == 24


def test_class_names_appear_in_order_escaped(runs: Runs) -> None:
    text = render_html([runs.trained])
    assert "<b>" not in text
    assert "&lt;b&gt;" in text
    rows = parse(text).tables["per-class"]
    assert rows[0] == ["Class", "Precision", "Recall", "F1", "Support"]
    assert [r[0] for r in rows[1:]] == [*CLASS_NAMES, "macro avg", "weighted avg", "accuracy"]
    report = runs.trained.report
    assert report is not None
    assert report.per_class is not None
    for row, name in zip(rows[1:], CLASS_NAMES, strict=False):
        metrics = report.per_class[name]
        assert row[1:] == [
            f"{metrics.precision:.4g}",
            f"{metrics.recall:.4g}",
            f"{metrics.f1:.4g}",
            str(metrics.support),
        ]
    assert rows[-1][3] == f"{report.accuracy:.4g}"
    # The matrix's row labels follow the class order too.
    matrix = section(text, "confusion-matrix")
    positions = [
        matrix.index(f"<title>{name.replace('<', '&lt;').replace('>', '&gt;')}</title>") for name in CLASS_NAMES
    ]
    assert positions == sorted(positions)


def test_headline_numbers_and_test_metrics(runs: Runs) -> None:
    summary = runs.trained.summary
    assert summary is not None
    text = render_html([runs.trained])
    outcome = section(text, "headline")
    assert summary.test_results
    for name, value in summary.test_results.items():
        assert name in outcome
        assert f"{value:.4g}" in outcome
    assert f'Best val_f1</div><div class="value">{summary.best_metric_value:.4g}' in outcome
    assert f"at epoch {summary.best_epoch}" in outcome
    state = next(s for s in summary.early_stopping if s.reason != "NOT_STOPPED")
    assert f"{state.reason} at epoch {state.stopped_epoch}" in outcome
    header = text[: text.index("<section")]
    assert summary.start_time.strftime("%Y-%m-%d %H:%M:%S UTC") in header
    assert "flares/multiclass" in header


def test_curves_mark_the_best_epoch_and_the_early_stop(runs: Runs) -> None:
    page = parse(render_html([runs.trained]))
    captions = [caption for caption, _ in page.figures]
    assert captions[0] == "Loss"
    assert "Scores" in captions
    assert captions[-1] == "Learning rate"
    for _, figure in page.figures:
        assert figure.count('class="marker"') == 2
        assert "best epoch (2)" in figure
        assert "early stop (epoch 4)" in figure
    scores = dict(page.figures)["Scores"]
    history = runs.trained.history
    assert history is not None
    # One point per validation epoch; x is the epoch.
    assert scores.count("<circle") == len(history.series("val_f1")) == 5


def test_config_is_a_table_and_secrets_stay_redacted(runs: Runs) -> None:
    text = render_html([runs.trained])
    config = section(text, "config")
    rows = {r[0]: r[1] for r in parse(config).tables["kv"]}
    assert rows["LEARNING_RATE"] == "0.1"
    assert rows["API_KEY"] == "***"
    assert rows["NOTE"] == "<script>alert(1)</script>"  # shown as text...
    assert "s3cr3t" not in text
    assert "<details><summary>Captured settings" in config
    environment = section(text, "environment")
    assert runs.trained.config is not None
    env = runs.trained.config.environment
    assert env is not None
    assert env.python is not None
    assert env.hostname is not None
    assert env.python in environment
    assert env.hostname in environment
    assert_self_contained(text)  # ...never as a tag


def test_a_legacy_run_says_what_was_not_recorded(legacy_run: Run) -> None:
    text = render_html([legacy_run])
    assert_self_contained(text)
    assert "Not recorded: the report has no confusion matrix" in section(text, "confusion-matrix")
    assert "Not recorded: the report has no per-class metrics" in section(text, "per-class")
    assert "Not recorded: runs of the old manual system have no history.json." in section(text, "curves")
    outcome = section(text, "headline")
    for value in ("0.851", "0.234", "0.89"):
        assert value in outcome
    assert "at epoch 42" in outcome
    assert "triggered" in outcome
    assert "LEARNING_RATE" in section(text, "config")
    assert "Environment not recorded" in section(text, "environment")
    notes = section(text, "notes")
    assert "no schema_version" in notes


def test_a_failed_run_shows_its_error_and_no_test_results(runs: Runs) -> None:
    summary = runs.failed.summary
    assert summary is not None
    assert summary.status == "failed"
    assert summary.error is not None
    text = render_html([runs.failed])
    assert_self_contained(text)
    assert '<span class="badge failed">failed</span>' in text
    outcome = section(text, "headline")
    assert "<strong>RuntimeError</strong>: boom in training_step" in outcome
    assert "Test metrics" in outcome
    assert "not recorded" in outcome
    assert "no classification_report.json" in section(text, "confusion-matrix")
    assert parse(text).cells == []


def test_an_evaluation_run_has_a_matrix_and_no_curves(runs: Runs) -> None:
    text = render_html([runs.evaluation])
    assert_self_contained(text)
    assert "an evaluation run has no training history" in section(text, "curves")
    assert str(runs.best_checkpoint) in section(text, "headline")
    report = runs.evaluation.report
    assert report is not None
    assert matrix_from_cells(parse(text).cells) == report.confusion_matrix


def test_a_folder_with_only_a_report_renders_every_section(tmp_path: Path) -> None:
    matrix = [[9, 1, 0], [0, 0, 10], [0, 0, 0]]
    run = _report_only_run(tmp_path / "bare", matrix, ["a", "b", "c"])
    text = render_html([run])
    assert_self_contained(text)
    page = parse(text)
    assert matrix_from_cells(page.cells) == matrix
    assert "Not recorded: history.json is missing from the run folder." in section(text, "curves")
    assert "Not recorded: the run has no config.json" in section(text, "config")
    assert "Environment not recorded" in section(text, "environment")
    # Readable text: white on the darkest cells (90 % and 100 % of a row), dark on the palest ones.
    fills = dict(zip(((int(c["data-row"]), int(c["data-col"])) for c in page.cells), page.cell_fills, strict=True))
    for dark in ((0, 0), (1, 2)):
        assert fills[dark][1] == "#ffffff"
    for light in ((0, 2), (1, 0), (2, 1)):
        assert fills[light][1] == "#1a1a1a"
    assert "\u2014</text>" in text  # an empty row has no percentage


def test_an_unreadable_file_is_reported_not_raised(runs: Runs, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints" / "flares" / "multiclass" / runs.trained.name
    shutil.copytree(runs.trained.path, folder)
    (folder / "config.json").write_text("{not json", encoding="utf-8")
    run = Run(folder)  # as find_runs gives it: files read on first use
    for text in (render_html([run]), render_html([runs.other, run])):
        assert_self_contained(text)
        assert "config.json: not valid JSON" in section(text, "notes")
        assert text.count("config.json: not valid JSON") == 1
    single = render_html([run])
    assert "Not recorded: the run has no config.json" in section(single, "config")
    assert runs.trained.report is not None
    assert matrix_from_cells(parse(single).cells) == runs.trained.report.confusion_matrix


def test_write_report_writes_next_to_the_run_by_default(runs: Runs, tmp_path: Path) -> None:
    written = write_report(runs.trained.path)
    assert written == os.path.join(runs.trained.path, REPORT_FILENAME)
    assert Path(written).read_text(encoding="utf-8") == render_html([load_run(runs.trained.path)])
    elsewhere = write_report(runs.trained, tmp_path / "out" / "r.html")
    assert Path(elsewhere).read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_render_html_needs_a_run() -> None:
    with pytest.raises(ValueError, match=r"at least one run"):
        render_html([])


def assert_imports_none(modules: str, banned: tuple[str, ...]) -> None:
    """Importing ``modules`` (comma-separated) in a fresh interpreter loads none of ``banned``."""
    code = f"import sys, {modules}\nbad = [m for m in {banned!r} if m in sys.modules]\nassert not bad, bad\n"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_report_module_does_not_import_torch() -> None:
    assert_imports_none("arccnet_ckpt.report.html", ("torch", "lightning", "pytorch_lightning"))


def test_the_formatting_module_and_the_command_line_import_neither_jinja2_nor_torch() -> None:
    """``arccnet-ckpt ls`` formats with ``report.format``: it must start without the page's template engine."""
    assert_imports_none("arccnet_ckpt.report.format, arccnet_ckpt.cli", ("jinja2", "markupsafe", "torch", "lightning"))


def test_the_templates_ship_inside_the_package_and_compile() -> None:
    """The page's templates are package data (``importlib.resources``), so an installed wheel renders pages."""
    from importlib.resources import files

    from arccnet_ckpt.report.html import _environment

    folder = files("arccnet_ckpt.report") / "templates"
    names = sorted(entry.name for entry in folder.iterdir())
    assert {"page.html.j2", "run.html.j2", "compare.html.j2", "macros.html.j2", "page.css"} <= set(names)
    env = _environment()
    for name in names:
        env.get_template(name)  # a syntax error in any template fails here, not on a user's first report
    assert env.autoescape is True


# ---------------------------------------------------------------------------------------------- the comparison


def test_a_comparison_puts_runs_side_by_side_with_deltas(runs: Runs) -> None:
    a, b = runs.trained, runs.other
    text = render_html([a, b])
    assert_self_contained(text)
    page = parse(text)
    rows = {r[0]: i for i, r in enumerate(page.tables["compare"])}
    assert a.summary is not None
    assert b.summary is not None
    tests_a, tests_b = a.summary.test_results, b.summary.test_results
    assert tests_a.keys() == tests_b.keys()
    for name in tests_a:
        row = rows[name]
        value_a, value_b = tests_a[name], tests_b[name]
        assert value_a is not None
        assert value_b is not None
        verdict = better(name, value_b - value_a, a.summary.monitor, a.summary.mode)
        expected = "same" if verdict is None else ("better" if verdict else "worse")
        assert page.deltas["compare"][row] == [expected]
    best_row = rows["Best val_f1"]
    assert page.deltas["compare"][best_row] == ["better"]  # 0.95 against 0.9, maximised

    diff = {r[0]: r[1:] for r in page.tables["kv diff user"][1:]}
    assert diff == {  # BATCH_SIZE, NOTE, API_KEY and the Trainer's settings are the same
        "LEARNING_RATE": ["0.1", "0.01"],
        "hparams.val_scores": ["[0.5, 0.7, 0.9, 0.8, 0.8, 0.8]", "[0.6, 0.95, 0.9, 0.9]"],
    }
    assert "kv diff captured" not in page.tables  # hparams.val_scores is listed once, above

    assert len(page.cells) == 2 * len(CLASS_NAMES) ** 2
    curves = dict(page.figures)
    assert {"val_f1", "val_loss"} <= curves.keys()
    assert curves["val_f1"].count("<polyline") == 2


def test_a_comparison_with_a_legacy_run_and_a_failed_one(runs: Runs, legacy_run: Run) -> None:
    text = render_html([legacy_run, runs.failed, runs.trained], title="Three <runs>")
    assert_self_contained(text)
    assert "<title>Three &lt;runs&gt;</title>" in text
    assert "No history recorded for #1." in section(text, "curves")
    assert "RuntimeError: boom in training_step" in section(text, "summary")
    assert len(parse(text).cells) == len(CLASS_NAMES) ** 2


# ---------------------------------------------------------------------------------------- in a real browser


def _chromium() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing and CI is set: install it (apt-get install chromium), as .ci/run does")
    pytest.skip(f"{CHROMIUM} is not installed")


def _browse(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        f"--user-data-dir={profile}",
        *args,
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


# Chromium's own background traffic, which would reach the listener whatever the page: the network-time query,
# the search-engine preconnects and AI-mode eligibility check, and the Google-account cookie check (ListAccounts),
# sent to port 1, which Chromium refuses to connect to.
QUIET_BROWSER = (
    "--disable-features=NetworkTimeServiceQuerying,AimEligibilityService,AimServerEligibilityEnabled,"
    "AimServerRequestOnStartupEnabled,PreconnectToSearch,SearchEnginePreconnector,PreconnectFromKeyedService",
    "--gaia-url=http://gaia.invalid:1",
)


class Listener:
    """A TCP server on 127.0.0.1 that records every connection and closes it: a proxy that nothing should reach."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections: list[bytes] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                if self.stopping.is_set():  # stop only once nothing waits in the backlog
                    return
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                try:
                    self.connections.append(conn.recv(4096))
                except OSError:
                    self.connections.append(b"")

    def requests(self) -> list[str]:
        """Stop listening, then the first line of every request received."""
        self.stopping.set()
        self.thread.join(timeout=5)
        return [c.split(b"\r\n", 1)[0].decode("latin-1") for c in self.connections]

    def close(self) -> None:
        self.requests()
        self.sock.close()


# Chromium's own services: component updates (update.googleapis.com), network time, sign-in. Some versions contact
# them whatever page they show, despite the flags above (Chromium 156.0.8078.108 fetches component updates), and which
# ones changes from one release to the next. They are told apart by host; a page can never reach them unnoticed, as
# assert_self_contained proves the page holds no URL at all.
_BROWSER_SERVICES = re.compile(
    r"^(?:CONNECT |[A-Z]+ https?://)(?:[\w-]+\.)*(?:googleapis\.com|google\.com|gstatic\.com|gvt1\.com)[:/ ]"
)


def page_requests(listener: Listener) -> list[str]:
    """Every request the listener saw, less those of Chromium's own services."""
    return [r for r in listener.requests() if not _BROWSER_SERVICES.match(r)]


@pytest.fixture
def listener() -> Any:
    server = Listener()
    yield server
    server.close()


def _proxied(listener: Listener) -> list[str]:
    return [
        f"--proxy-server=http://127.0.0.1:{listener.port}",
        "--proxy-bypass-list=<-loopback>",
        *QUIET_BROWSER,
        "--dump-dom",
    ]


@pytest.mark.slow
def test_the_browser_dom_holds_the_matrix_and_the_table(runs: Runs, tmp_path: Path) -> None:
    path = Path(write_report(runs.trained, tmp_path / REPORT_FILENAME))
    page = parse(_browse(tmp_path, path, "--dump-dom").stdout)
    report = runs.trained.report
    assert report is not None
    assert len(page.cells) == len(CLASS_NAMES) ** 2
    assert matrix_from_cells(page.cells) == report.confusion_matrix
    names = [r[0] for r in page.tables["per-class"][1:]]
    assert names == [*CLASS_NAMES, "macro avg", "weighted avg", "accuracy"]


@pytest.mark.slow
def test_the_browser_makes_no_request(runs: Runs, legacy_run: Run, tmp_path: Path, listener: Listener) -> None:
    single = Path(write_report(runs.trained, tmp_path / "single.html"))
    _browse(tmp_path, single, *_proxied(listener))
    compare = tmp_path / "compare.html"
    compare.write_text(render_html([runs.trained, runs.other, legacy_run]), encoding="utf-8")
    _browse(tmp_path, compare, *_proxied(listener))
    assert page_requests(listener) == []
    assert_self_contained(single.read_text(encoding="utf-8"))
    assert_self_contained(compare.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_the_browser_alone_contacts_only_its_own_services(tmp_path: Path, listener: Listener) -> None:
    """If this fails too, a new Chromium contacts a new host by itself: see QUIET_BROWSER and _BROWSER_SERVICES."""
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><html><body><p>blank</p></body></html>", encoding="utf-8")
    _browse(tmp_path, page, *_proxied(listener))
    assert page_requests(listener) == []


@pytest.mark.slow
def test_the_request_check_sees_a_remote_image(tmp_path: Path, listener: Listener) -> None:
    page = tmp_path / "remote.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://example.invalid/x.png"></body></html>')
    _browse(tmp_path, page, *_proxied(listener))
    assert "GET http://example.invalid/x.png HTTP/1.1" in page_requests(listener)


@pytest.mark.slow
def test_the_browser_takes_a_screenshot(runs: Runs, tmp_path: Path) -> None:
    path = Path(write_report(runs.trained, tmp_path / REPORT_FILENAME))
    png = tmp_path / "shot.png"
    _browse(tmp_path, path, f"--screenshot={png}", "--window-size=1280,2400", "--hide-scrollbars")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 2400)
    assert len(data) > 20_000  # a blank page compresses to a few kB


# ------------------------------------------------------------------------- the score-based sections (report v2)

SCORED_CLASSES = ("Quiet", "C", "<script>alert(1)</script>")


@pytest.fixture
def scored(tmp_path: Path) -> Run:
    """A hand-made run with a version 2 report computed with sklearn (tests/folders.py), one thumbnail gone."""
    run = load_run(make_scored_run(tmp_path / "data", class_names=SCORED_CLASSES))
    report = run.report
    assert report is not None
    assert report.mistakes is not None
    gone = report.mistakes[2].thumbnail
    assert gone is not None
    (Path(run.path) / gone).unlink()
    return load_run(run.path)


def test_the_roc_and_pr_curves_carry_each_class_s_auc(scored: Run) -> None:
    report = scored.report
    assert report is not None
    assert report.per_class is not None
    assert report.curves is not None
    text = render_html([scored])
    assert_self_contained(text)
    assert "<script>alert(1)</script>" not in text
    curves = section(text, "scores")
    roc = curves[curves.index('data-kind="roc"') : curves.index('data-kind="pr"')]
    pr = curves[curves.index('data-kind="pr"') :]
    escaped = {name: name.replace("<", "&lt;").replace(">", "&gt;") for name in SCORED_CLASSES}
    for name, m in report.per_class.items():
        assert f"{escaped[name]} (AUC {m.roc_auc:.4g})" in roc
        assert f"{escaped[name]} (AP {m.average_precision:.4g})" in pr
        points = min(len(report.curves[name].roc.fpr), len(report.curves[name].roc.tpr))  # type: ignore[union-attr]
        assert f'data-class="{escaped[name]}" data-points="{points}"' in roc
    assert roc.count('class="chance"') == 1  # the diagonal
    assert 'class="chance"' not in pr
    rows = parse(curves).tables["scores"]
    assert rows[0] == ["Class", "ROC AUC", "Average precision", "TSS", "HSS"]
    for row, (name, m) in zip(rows[1:], report.per_class.items(), strict=False):
        assert row == [name, f"{m.roc_auc:.4g}", f"{m.average_precision:.4g}", f"{m.tss:.4g}", f"{m.hss:.4g}"]
    assert report.roc_auc is not None
    assert rows[-1][:3] == ["ROC AUC macro / weighted", f"{report.roc_auc.macro:.4g}", f"{report.roc_auc.weighted:.4g}"]
    assert "source forward, scores logits (softmax), labels from the scores, ranking exact" in curves


def test_the_reliability_diagram_holds_every_bin_and_the_ece(scored: Run) -> None:
    report = scored.report
    assert report is not None
    assert report.calibration is not None
    calibration = section(render_html([scored]), "calibration")
    bins = re.findall(r'<g class="rel-bin" data-count="(\d+)" data-accuracy="([^"]*)"', calibration)
    assert [(int(c), a) for c, a in bins] == [
        (b.count, "" if b.accuracy is None else repr(b.accuracy)) for b in report.calibration.bins
    ]
    assert calibration.count('class="accuracy"') == sum(1 for b in report.calibration.bins if b.count)
    assert 'class="calibrated"' in calibration  # the diagonal
    assert f"Expected calibration error (ECE): {report.calibration.ece:.4g}" in calibration


def test_the_mistakes_are_a_gallery_of_embedded_thumbnails(scored: Run) -> None:
    report = scored.report
    assert report is not None
    assert report.mistakes is not None
    mistakes = section(render_html([scored]), "mistakes")
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', mistakes)
    shown = [m for i, m in enumerate(report.mistakes) if i != 2]
    assert len(images) == len(shown)
    for encoded, m in zip(images, shown, strict=True):
        assert m.thumbnail is not None
        data = base64.b64decode(encoded.replace("&#47;", "/"))
        assert data == (Path(scored.path) / m.thumbnail).read_bytes()
    for m in shown:
        target = m.target.replace("<", "&lt;").replace(">", "&gt;")
        assert f'data-index="{m.index}"' in mistakes
        assert f"true <strong>{target}</strong>" in mistakes
    missing = report.mistakes[2]
    row = parse(mistakes).tables["mistakes"][1]
    assert row[:5] == ["3", str(missing.index), missing.target, missing.predicted, f"{missing.confidence:.4g}"]
    assert row[5] == f"not shown: {missing.thumbnail}: No such file or directory"


def test_null_thumbnails_are_text_rows_with_the_note(tmp_path: Path) -> None:
    run = load_run(make_scored_run(tmp_path / "data", thumbnails=False))
    report = run.report
    assert report is not None
    assert report.mistakes is not None
    mistakes = section(render_html([run]), "mistakes")
    assert "<img" not in mistakes
    rows = parse(mistakes).tables["mistakes"][1:]
    assert [int(r[1]) for r in rows] == [m.index for m in report.mistakes]
    assert all(r[5] == "none" for r in rows)
    assert report.mistakes_note is not None
    assert html.escape(report.mistakes_note) in mistakes


def test_the_class_counts_of_each_split_are_bars(scored: Run) -> None:
    summary = scored.summary
    assert summary is not None
    assert summary.data is not None
    data = section(render_html([scored]), "data")
    rows = parse(data).tables["data-counts"]
    assert rows[0] == ["Class", "train", "val", "test"]
    for row in rows[1:4]:
        name = row[0]
        assert row[1:] == [
            str(split.class_counts[name])  # type: ignore[index]
            for split in (summary.data.train, summary.data.val, summary.data.test)
        ]
    assert rows[4] == ["samples", "960", "240", "240"]
    widths = re.findall(r'<span class="bar" aria-hidden="true"><span style="width:([\d.]+)%"></span></span>', data)
    assert len(widths) == 9
    assert widths[6:9] == ["100.0", "100.0", "100.0"]  # the largest class of each split fills its bar


def test_one_score_block_per_test_dataloader(tmp_path: Path) -> None:
    run = load_run(make_scored_run(tmp_path / "data", loaders=("quiet_sun", "active")))
    text = render_html([run])
    for section_id in ("scores", "calibration", "mistakes"):
        body = section(text, section_id)
        assert "<h3>dataloader 0 (quiet_sun)</h3>" in body
        assert "<h3>dataloader 1 (active)</h3>" in body
    assert section(text, "scores").count('data-kind="roc"') == 2
    assert section(text, "calibration").count('data-kind="reliability"') == 2


def test_a_version_1_report_renders_no_score_section(runs: Runs, legacy_run: Run, tmp_path: Path) -> None:
    bare = _report_only_run(tmp_path / "bare", [[1, 0], [0, 1]], ["a", "b"])
    for run in (legacy_run, bare, runs.failed):
        text = render_html([run])
        for section_id in ("scores", "calibration", "mistakes"):
            assert f'<section id="{section_id}">' not in text
        if run is not runs.failed:  # a real failed fit counted its data: that section (and the styles) are its own
            assert '<section id="data">' not in text
            assert "score-chart" not in text  # nor their styles


@pytest.mark.slow
def test_the_browser_shows_the_score_sections(scored: Run, tmp_path: Path) -> None:
    """The page inside a harness page's iframe (srcdoc): the harness's script, not the report, reads what the
    browser made of the report (the report keeps its own CSP, which forbids scripts)."""
    report = scored.report
    assert report is not None
    assert report.mistakes is not None
    harness = tmp_path / "harness.html"
    harness.write_text(
        "<!DOCTYPE html><html><body><pre id=out>pending</pre>"
        f'<iframe id=r width=1200 height=4000 srcdoc="{html.escape(render_html([scored]), quote=True)}"></iframe>'
        "<script>window.addEventListener('load', () => {"
        "const d = document.getElementById('r').contentDocument;"
        "const imgs = [...d.querySelectorAll('.gallery img')];"
        "const box = (q) => [...d.querySelectorAll(q)].map((e) => Math.round(e.getBoundingClientRect().width));"
        "document.getElementById('out').textContent = JSON.stringify({"
        "complete: imgs.map((i) => i.complete), widths: imgs.map((i) => i.naturalWidth),"
        "curves: d.querySelectorAll('figure.score-chart polyline.curve').length,"
        "charts: box('figure.score-chart > svg'), bins: d.querySelectorAll('.rel-bin').length,"
        "bars: box('table.data-counts .bar > span'), text: d.querySelectorAll('table.mistakes tr').length});"
        "});</script></body></html>",
        encoding="utf-8",
    )
    done = _browse(tmp_path, harness, "--dump-dom", "--enable-logging=stderr", "--v=0")
    found = json.loads(html.unescape(re.search(r"<pre id=\"out\">(.*?)</pre>", done.stdout, re.S).group(1)))  # type: ignore[union-attr]
    assert found["complete"] == [True] * (len(report.mistakes) - 1)
    assert all(width == 24 for width in found["widths"])  # the PNGs decoded: 24 px wide, as written
    assert found["curves"] == 2 * len(SCORED_CLASSES)
    assert len(found["charts"]) == 3
    assert all(width > 200 for width in found["charts"])
    assert found["bins"] == 10
    assert len(found["bars"]) == 9
    assert all(width > 0 for width in found["bars"])
    assert found["text"] == 2  # the header and the row of the thumbnail that is gone
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Content Security Policy" in line]
    assert console == []
