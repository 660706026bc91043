"""A self-contained, one-file HTML report of a run, or a side-by-side comparison of several runs.

The page needs nothing but a browser: styles are inline, charts are hand-written SVG, there is no script, no font and
no URL, and a Content-Security-Policy forbids the page to load anything. Copy the run folder anywhere (rsync it to a
laptop) and open ``report.html``.

Every file of a run may be missing (legacy runs, failed runs, evaluations); each section then says what was not
recorded instead of failing. Nothing here imports torch or lightning.

Example:
    >>> from arccnet_ckpt.report.html import write_report
    >>> write_report("data/checkpoints/flares/multiclass/2025-02-12_14-30-45_resnet18_focal")  # doctest: +SKIP
    'data/checkpoints/flares/multiclass/2025-02-12_14-30-45_resnet18_focal/report.html'
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from arccnet_ckpt import __version__, store
from arccnet_ckpt.core.status import DEFAULT_STALE_AFTER, status_of
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.records import (
    ClassificationReport,
    ClassMetrics,
    ConfigRecord,
    DataloaderReport,
    EarlyStoppingState,
    History,
    MinimalLogging,
    TrainingSummary,
    matrix_names,
)
from arccnet_ckpt.report import format as fmt
from arccnet_ckpt.runs import Run, load_run
from arccnet_ckpt.runs.query import (
    better,
    captured_settings,
    compared_config,
    compared_settings,
    config_settings,
    config_source_line,
    early_stop,
    early_stopping_used,
    evaluation_rows,
    limit_reached,
    logger_run,
    shorten,
    task_differences,
    task_of,
)

REPORT_FILENAME = "report.html"
"""The report's file name inside a run folder."""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""The page's Content-Security-Policy: nothing may be fetched, only the inline styles apply."""

T = TypeVar("T")

_DASH = "\u2014"
# Tableau 10: distinct hues that stay apart for the common colour-vision deficiencies.
_PALETTE = (
    "#4e79a7",
    "#e15759",
    "#59a14f",
    "#f28e2b",
    "#b07aa1",
    "#76b7b2",
    "#edc948",
    "#9c755f",
    "#ff9da7",
    "#7f7f7f",
)
# ColorBrewer "Blues", light to dark: the heat-map scale.
_BLUES = ((247, 251, 255), (198, 219, 239), (107, 174, 214), (33, 113, 181), (8, 48, 107))
_DARK_TEXT = "#1a1a1a"
_LIGHT_TEXT = "#ffffff"
# The epoch markers are thin neutral grey lines, never a hue or a stroke of the series (2 px, coloured, solid or
# dashed 6-4): the best epoch is solid, the early stop dotted.
_MARKER_COLOUR = "#6b6f75"
_BEST_DASH = ""
_STOP_DASH = "1.5 3"
_MATRIX_NOTE = (
    "Rows: true class; columns: predicted class. Each cell: count and share of its row (the recall for the diagonal); "
    "the colour follows the row share."
)
_LONG_LABEL = 22  # characters of a class name shown in the matrix before it is cut (the full name is in a tooltip)

_CSS = """
:root { color-scheme: light; --fg: #1a1a1a; --muted: #5f6368; --line: #dadce0; --soft: #f6f8fa;
  --better: #1b7f3a; --worse: #c0392b; --accent: #4e79a7; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px 28px 48px; color: var(--fg); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif; }
h1 { font-size: 22px; margin: 0 0 4px; word-break: break-all; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 16px 0 6px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 12.5px; }
.sub { color: var(--muted); margin: 0 0 12px; }
.missing { color: var(--muted); font-style: italic; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 12px; font-weight: 600;
  color: #fff; background: #7f7f7f; vertical-align: 2px; }
.badge.completed { background: #1b7f3a; } .badge.failed { background: #c0392b; }
.badge.running { background: #4e79a7; } .badge.interrupted { background: #b8860b; }
.badge.stale { background: #8e44ad; }
.stale-note { border: 1px solid #d7bde2; background: #f8f1fb; border-radius: 8px; padding: 8px 14px; margin: 10px 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 8px 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; word-break: break-word; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 170px;
  background: var(--soft); break-inside: avoid; }
.card .label { color: var(--muted); font-size: 12px; }
.card .value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .detail { color: var(--muted); font-size: 12px; max-width: 420px; }
.error { border: 1px solid #e6b0aa; background: #fdf2f1; border-radius: 8px; padding: 10px 14px; margin: 10px 0; }
.error pre { white-space: pre-wrap; word-break: break-word; margin: 6px 0 0; }
table { border-collapse: collapse; margin: 6px 0; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
tr.avg td { background: #fafafa; } tr.avg:first-of-type td, tr.first-avg td { border-top: 2px solid var(--line); }
.table-wrap { overflow-x: auto; max-width: 100%; }
table.kv td:first-child { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 12.5px; white-space: nowrap; }
table.kv td { word-break: break-word; }
.bar { display: inline-block; width: 64px; height: 8px; background: #e8eaed; border-radius: 4px; margin-left: 8px;
  vertical-align: 1px; overflow: hidden; }
.bar > span { display: block; height: 100%; background: var(--accent); }
.delta { font-size: 12px; margin-left: 6px; white-space: nowrap; }
.delta.better { color: var(--better); } .delta.worse { color: var(--worse); } .delta.same { color: var(--muted); }
.delta.unjudged { color: var(--muted); }
.figures { display: flex; flex-wrap: wrap; gap: 18px 28px; align-items: flex-start; }
figure { margin: 8px 0; break-inside: avoid; }
figure.cm-figure { width: max-content; max-width: 100%; }
figure.cm-figure p { width: 0; min-width: 100%; }
table.compare tbody th { white-space: nowrap; }
figure.chart { flex: 0 1 540px; min-width: 300px; } figure.chart > svg { width: 100%; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg { max-width: 100%; height: auto; }
svg text { font-family: inherit; }
ul.legend { list-style: none; padding: 0; margin: 4px 0 0; display: flex; flex-wrap: wrap; gap: 4px 16px;
  font-size: 12.5px; }
ul.legend li { display: flex; align-items: center; gap: 6px; white-space: nowrap; }
ul.legend li svg { flex: none; }
details { margin: 10px 0; } summary { cursor: pointer; color: var(--accent); }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -1px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; word-break: break-all; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section, figure, table { break-inside: avoid; }
  h2 { break-after: avoid; }
  summary { color: var(--fg); }
}
"""


# ------------------------------------------------------------------------------------------------------ public API


def render_html(
    runs: Sequence[Run],
    *,
    title: str | None = None,
    now: datetime | None = None,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> str:
    """The HTML page of one run, or the comparison page of several.

    A run recorded as ``running`` whose heartbeat is stale (the rule ``arccnet-ckpt ls`` applies) is shown as
    ``stale``, with the time its heartbeat stopped.

    Args:
        runs: The runs, e.g. from :func:`~arccnet_ckpt.runs.load_run` or :func:`~arccnet_ckpt.runs.find_runs`. One
            run gives its report; several give a side-by-side comparison, deltas taken against the first.
        title: The page title; defaults to the run's name, or "Comparison of N runs".
        now: The time the page is written as of (UTC); defaults to the current time.
        stale_after: How long a running run may be silent before it is stale (``ls --stale-after``; and at least
            three of its epochs).

    Returns:
        A complete HTML document that loads nothing from anywhere.

    Raises:
        ValueError: If ``runs`` is empty.

    Example:
        >>> from arccnet_ckpt import find_runs
        >>> page = render_html(find_runs("data", "flares/multiclass")[-2:])  # doctest: +SKIP
    """
    runs = list(runs)
    if not runs:
        raise ValueError("render_html needs at least one run, got an empty sequence")
    moment = now if now is not None else datetime.now(timezone.utc)
    views = [_read(run, moment, stale_after) for run in runs]
    if len(views) == 1:
        page_title = title if title is not None else f"Run report: {views[0].name}"
        body = _single_body(views[0])
    else:
        page_title = title if title is not None else f"Comparison of {len(views)} runs"
        body = _compare_body(views, page_title)
    return _page(page_title, body, [v.path for v in views])


def write_report(run: Run | str | os.PathLike[str], path: str | os.PathLike[str] | None = None) -> str:
    """Render one run's report and write it atomically.

    Args:
        run: A :class:`~arccnet_ckpt.runs.Run`, or the path of a run folder (read with
            :func:`~arccnet_ckpt.runs.load_run`).
        path: Where to write; defaults to ``<run folder>/report.html``.

    Returns:
        The path written.

    Raises:
        RunNotFoundError: If ``run`` is a path that is not a run folder.
        ArtifactError: If ``run`` is a path and one of its files is invalid.
        RunFolderError: If the file cannot be written.

    Example:
        >>> write_report("data/checkpoints/flares/multiclass/2025-02-12_14-30-45_resnet18_focal")  # doctest: +SKIP
        '.../2025-02-12_14-30-45_resnet18_focal/report.html'
    """
    loaded = run if isinstance(run, Run) else load_run(run)
    target = store.join(loaded.path, REPORT_FILENAME) if path is None else os.fspath(path)
    store.write_text(target, render_html([loaded]))
    return target


# ------------------------------------------------------------------------------------------------ reading a run


@dataclass
class _View:
    """One run's files, read once; a file that cannot be read is ``None`` and its error is in ``problems``."""

    name: str
    path: str
    summary: TrainingSummary | None
    config: ConfigRecord | None
    report: ClassificationReport | None
    history: History | None
    minimal: MinimalLogging | None
    root_name: str | None
    model_name: str | None
    loss_function: str | None
    best_checkpoint: str | None
    start_time: datetime | None
    notes: list[str]
    now: datetime
    status: str = "incomplete"
    legacy: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.summary.kind if self.summary is not None else "training"

    @property
    def monitor(self) -> str | None:
        if self.summary is not None and self.summary.monitor:
            return self.summary.monitor
        if self.history is not None and self.history.monitor:
            return self.history.monitor
        return self.minimal.best_metric_name if self.minimal is not None else None

    @property
    def mode(self) -> str | None:
        if self.summary is not None and self.summary.mode:
            return self.summary.mode
        return self.history.mode if self.history is not None else None

    @property
    def best_value(self) -> float | None:
        if self.summary is not None and self.summary.best_metric_value is not None:
            return self.summary.best_metric_value
        return self.minimal.best_metric_value if self.minimal is not None else None

    @property
    def best_epoch(self) -> int | None:
        if self.summary is not None and self.summary.best_epoch is not None:
            return self.summary.best_epoch
        return self.minimal.best_epoch if self.minimal is not None else None

    def test_metrics(self) -> dict[str, float | None]:
        """The test metrics of the summary and the report, the summary's first."""
        out: dict[str, float | None] = {}
        if self.report is not None:
            out.update(self.report.test_metrics)
        if self.summary is not None:
            out.update(self.summary.test_results)
        if not out and self.minimal is not None:
            out.update(self.minimal.test_results)
        return dict(sorted(out.items()))


def _read(run: Run, now: datetime, stale_after: timedelta) -> _View:
    problems: list[str] = []

    def attempt(get: Callable[[], T], default: T) -> T:
        try:
            return get()
        except (ArcCkptError, OSError, ValueError) as e:
            problems.append(str(e))
            return default

    summary = attempt(lambda: run.summary, None)
    minimal = attempt(lambda: run.minimal, None)
    return _View(
        name=run.name,
        path=run.path,
        summary=summary,
        config=attempt(lambda: run.config, None),
        report=attempt(lambda: run.report, None),
        history=attempt(lambda: run.history, None),
        minimal=minimal,
        root_name=attempt(lambda: run.root_name, None),
        model_name=attempt(lambda: run.model_name, None),
        loss_function=attempt(lambda: run.loss_function, None),
        best_checkpoint=attempt(lambda: run.best_checkpoint, None),
        start_time=attempt(lambda: run.start_time, None),
        notes=attempt(lambda: run.notes, []),
        now=now,
        status=status_of(summary, now, stale_after, recorded=minimal.status if minimal is not None else None),
        legacy=attempt(lambda: run.is_legacy, False),
        problems=list(dict.fromkeys(problems)),  # a broken file fails every value read from it
    )


# --------------------------------------------------------------------------------------------------- formatting


def _esc(value: Any) -> str:
    """HTML-escaped text. ``//`` is written ``/&#47;`` so that no URL-like token appears in the file's bytes."""
    return html.escape(str(value), quote=True).replace("//", "/&#47;")


def _number(value: Any) -> str:
    return fmt.number(value, _DASH)


def _when(value: datetime | None) -> str:
    return fmt.when(value, _DASH)


def _span(seconds: float | None) -> str:
    return fmt.duration(seconds, _DASH)


def _plain(value: Any) -> str:
    """A setting as written in the config: strings as they are, everything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _missing(what: str) -> str:
    return f'<p class="missing">{_esc(what)}</p>'


def _badge(status: str | None) -> str:
    text = status or "unknown"
    return f'<span class="badge {_esc(text)}">{_esc(text)}</span>'


def _facts(items: Iterable[tuple[str, str]]) -> str:
    """A definition list; values are HTML already."""
    rows = "".join(f"<dt>{_esc(label)}</dt><dd>{value}</dd>" for label, value in items)
    return f'<dl class="facts">{rows}</dl>'


def _kv_table(values: dict[str, Any], *, header: tuple[str, str] = ("Setting", "Value")) -> str:
    rows = "".join(f"<tr><td>{_esc(k)}</td><td>{_esc(_plain(v))}</td></tr>" for k, v in values.items())
    head = f"<tr><th>{_esc(header[0])}</th><th>{_esc(header[1])}</th></tr>"
    return f'<div class="table-wrap"><table class="kv"><thead>{head}</thead><tbody>{rows}</tbody></table></div>'


def _section(section_id: str, title: str, content: str) -> str:
    return f'<section id="{_esc(section_id)}"><h2>{_esc(title)}</h2>{content}</section>'


def _colour(index: int) -> str:
    return _PALETTE[index % len(_PALETTE)]


def _page(title: str, body: str, paths: list[str]) -> str:
    sources = "".join(f"<div>{_esc(p)}</div>" for p in paths)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_esc(CSP)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f'<meta name="generator" content="arccnet-ckpt {_esc(__version__)}">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n"
        f"<footer>Written by arccnet-ckpt {_esc(__version__)} from {sources}</footer>\n"
        "</body>\n</html>\n"
    )


# ------------------------------------------------------------------------------------------------ the run report


def _single_body(view: _View) -> str:
    parts = [
        _header(view),
        _headline(view),
        _section("confusion-matrix", "Confusion matrix", _matrix_block(view)),
        _section("per-class", "Per-class metrics", _per_class_block(view)),
        _section("evaluations", "Evaluations", _evaluations_block(view)),
        _section("curves", "Training curves", _curves_block(view)),
        _section("config", "Configuration", _config_block(view)),
        _section("environment", "Environment", _environment_block(view)),
    ]
    if view.notes or view.problems:
        parts.append(_section("notes", "Notes on reading", _notes_block(view)))
    return "\n".join(parts)


def _environment_of(view: _View) -> dict[str, Any]:
    if view.config is None or view.config.environment is None:
        return {}
    return view.config.environment.model_dump(mode="json")


def _gpu_text(environment: dict[str, Any]) -> str:
    gpus = environment.get("gpus") or environment.get("gpu")
    if isinstance(gpus, list) and gpus:
        names = ", ".join(_esc(g) for g in gpus)
        gpu = names if len(gpus) == 1 else f"{len(gpus)} \u00d7 {names}"
    elif gpus:
        gpu = _esc(gpus)
    else:
        gpu = "none recorded"
    cuda = environment.get("cuda")
    return f"{gpu} (CUDA {_esc(cuda)})" if cuda else gpu


def _git_text(view: _View) -> str:
    git = view.config.git if view.config is not None else None
    if git is None or not git.commit:
        return '<span class="missing">not recorded</span>'
    dirty = {True: "dirty", False: "clean", None: "dirty state unknown"}[git.dirty]
    branch = f" on {_esc(git.branch)}" if git.branch else ""
    return f'<code title="{_esc(git.commit)}">{_esc(git.commit[:12])}</code>{branch} ({dirty})'


def _header(view: _View) -> str:
    summary = view.summary
    environment = _environment_of(view)
    host = environment.get("hostname")
    seed = view.config.seed if view.config is not None else None
    facts = [
        ("Root name", _esc(view.root_name) if view.root_name else _DASH),
        ("Kind", _esc(view.kind)),
        ("Model / loss", f"{_esc(view.model_name or _DASH)} / {_esc(view.loss_function or _DASH)}"),
        ("Start (UTC)", _esc(_when(view.start_time))),
        ("End (UTC)", _esc(_when(summary.end_time if summary is not None else None))),
        ("Duration", _esc(_span(summary.duration_seconds if summary is not None else None))),
        ("Host", _esc(host) if host else '<span class="missing">not recorded</span>'),
        ("GPU", _gpu_text(environment) if environment else '<span class="missing">not recorded</span>'),
        ("Git commit", _git_text(view)),
        ("Seed", _esc(seed) if seed is not None else _DASH),
    ]
    if summary is not None and summary.resumes:
        facts.append(("Resumed", f"{len(summary.resumes)} time(s)"))
    beat = _heartbeat(view)
    if beat is not None and summary is not None and summary.status == "running":
        facts.append(("Last heartbeat", _esc(beat)))
    stale = ""
    if view.status == "stale":
        stale = (
            f'<p class="stale-note"><strong>Stale</strong>: recorded as running, but its last heartbeat was '
            f"{_esc(beat)}: its process most likely died without writing an end (SIGKILL, a lost node). "
            f"This page was written {_esc(_when(view.now))}.</p>"
        )
    return (
        f"<header><h1>{_esc(view.name)} {_badge(view.status)}</h1>"
        f'<p class="sub mono">{_esc(view.path)}</p>{stale}{_facts(facts)}</header>'
    )


def _heartbeat(view: _View) -> str | None:
    """``2026-05-01 10:00:00 UTC, 3 h ago``: the summary's last write (the start time for runs older than it)."""
    if view.summary is None:
        return None
    beat = view.summary.updated_at or view.summary.start_time
    return f"{_when(beat)}, {fmt.ago((view.now - beat).total_seconds())}"


def _card(label: str, value: str, detail: str = "") -> str:
    extra = f'<div class="detail">{detail}</div>' if detail else ""
    return f'<div class="card"><div class="label">{_esc(label)}</div><div class="value">{value}</div>{extra}</div>'


def _stopping_state(summary: TrainingSummary | None) -> EarlyStoppingState | None:
    return early_stop(summary)


def _early_stop_card(view: _View) -> str:
    state = _stopping_state(view.summary)
    limit = limit_reached(view.summary, view.config)
    if state is not None:
        detail = _esc(state.message) if state.message else f"monitor {_esc(state.monitor)}"
        if limit is not None:  # Lightning checks its limits first: the fit ended for that
            detail += f" The fit stopped at {_esc(limit)}, reached at the same epoch."
        return _card("Early stop", f"{_esc(state.reason)} at epoch {state.stopped_epoch}", detail)
    triggered = view.summary.early_stopping_triggered if view.summary is not None else False
    if triggered or (view.minimal is not None and view.minimal.early_stopping_triggered):
        return _card("Early stop", "triggered", "reason not recorded")
    ended = f"the fit stopped at {_esc(limit)}" if limit is not None else ""
    used = early_stopping_used(view.summary, view.config)
    if used:
        return _card("Early stop", "not triggered", ended)
    if used is False:
        return _card("Early stop", "none", "no EarlyStopping callback was used" + (f"; {ended}" if ended else ""))
    return _card("Early stop", '<span class="missing">not recorded</span>')


def _headline(view: _View) -> str:
    cards: list[str] = []
    summary = view.summary
    if view.kind == "evaluation":
        tested = summary.tested_checkpoint if summary is not None else None
        cards.append(_card("Evaluation of", f'<span class="mono">{_esc(tested or _DASH)}</span>'))
    elif view.monitor or view.best_value is not None:
        epoch = view.best_epoch
        detail = f"at epoch {epoch}" if epoch is not None else "epoch not recorded"
        if view.mode:
            detail += f" ({_esc(view.mode)})"
        cards.append(_card(f"Best {view.monitor or 'value'}", _esc(_number(view.best_value)), detail))
    else:
        cards.append(_card("Best value", '<span class="missing">not recorded</span>'))
    if view.kind != "evaluation":
        epochs = summary.num_epochs_trained if summary is not None else None
        step = f"global step {summary.global_step}" if summary is not None and summary.global_step else ""
        cards.append(_card("Epochs trained", _esc(_number(epochs)), step))
        cards.append(_early_stop_card(view))
    for name, value in view.test_metrics().items():
        cards.append(_card(name, _esc(_number(value))))
    if not view.test_metrics():
        cards.append(_card("Test metrics", '<span class="missing">not recorded</span>'))
    if view.best_checkpoint:
        cards.append(
            _card("Best checkpoint", f'<span class="mono">{_esc(store.basename(view.best_checkpoint))}</span>')
        )
    content = f'<div class="cards">{"".join(cards)}</div>'
    if summary is not None and summary.error is not None:
        content += (
            f'<div class="error"><strong>{_esc(summary.error.type)}</strong>: {_esc(summary.error.message)}'
            + (
                f"<details><summary>Traceback</summary><pre>{_esc(summary.error.traceback)}</pre></details>"
                if summary.error.traceback
                else ""
            )
            + "</div>"
        )
    elif view.status == "failed":
        content += '<div class="error">The run failed; <span class="missing">error not recorded</span></div>'
    return _section("headline", "Outcome", content)


def _notes_block(view: _View) -> str:
    unique = dict.fromkeys([*view.problems, *view.notes])  # an unreadable file is in both
    items = "".join(f"<li>{_esc(n)}</li>" for n in unique)
    return f"<ul>{items}</ul>"


# ------------------------------------------------------------------------------------------- confusion matrix


def _lerp(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return (r, g, bl)


def _heat(fraction: float) -> tuple[int, int, int]:
    """The fill of a cell holding ``fraction`` (0..1) of its row."""
    t = min(max(fraction, 0.0), 1.0) * (len(_BLUES) - 1)
    low = min(int(t), len(_BLUES) - 2)
    return _lerp(_BLUES[low], _BLUES[low + 1], t - low)


def _luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG relative luminance of an sRGB colour."""

    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _text_on(rgb: tuple[int, int, int]) -> str:
    """Dark or white text, whichever contrasts more with the fill."""
    lum = _luminance(rgb)
    dark = _luminance((0x1A, 0x1A, 0x1A))
    on_dark = (lum + 0.05) / (dark + 0.05)
    on_white = 1.05 / (lum + 0.05)
    return _DARK_TEXT if on_dark >= on_white else _LIGHT_TEXT


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _short(name: str) -> str:
    return name if len(name) <= _LONG_LABEL else name[: _LONG_LABEL - 1] + "\u2026"


def _matrix_block(view: _View, *, caption: bool = True) -> str:
    report = view.report
    if report is None:
        return _missing("Not recorded: the run has no classification_report.json (it was not tested).")
    if len(report.dataloaders) > 1:  # one matrix per test dataloader, never pooled
        blocks = [
            f"<div><h3>{_esc(d.label())}</h3>{_report_matrix(d, caption=False)}</div>" for d in report.dataloaders
        ]
        note = f'<p class="sub">{_esc(_MATRIX_NOTE)}</p>' if caption else ""
        return f'<div class="figures">{"".join(blocks)}</div>{note}'
    return _report_matrix(report, caption=caption)


def _report_matrix(report: ClassificationReport | DataloaderReport, *, caption: bool = True) -> str:
    matrix = report.confusion_matrix
    if not matrix:
        why = f" ({report.per_class_note})" if report.per_class_note else ""
        return _missing(f"Not recorded: the report has no confusion matrix{why}.")
    if any(len(row) != len(matrix) for row in matrix):
        return _missing("Not shown: the recorded confusion matrix is not square.")
    return _matrix_svg(matrix, matrix_names(report), caption=caption)


def _matrix_svg(matrix: list[list[int]], names: list[str], *, caption: bool = True) -> str:
    """The confusion matrix as an SVG heat map: rows are true classes, columns predicted ones."""
    n = len(matrix)
    cell = 72 if n <= 5 else max(36, 560 // n)
    total_size = max(11.0, min(14.0, cell * 0.22))
    show_pct = cell >= 46
    char_w = 7.2  # width of one 12 px character, roughly
    shown = [_short(name) for name in names]
    longest = max((len(s) for s in [*shown, "Total"]), default=5)
    label_w = min(190.0, longest * char_w + 10)
    rotate = longest * char_w > cell - 8
    col_h = min(150.0, longest * char_w * 0.72 + 14) if rotate else 20.0
    total_w = 64.0
    left = 24 + label_w + 8
    top = 26 + col_h + 6
    width = left + n * cell + total_w + (col_h * 0.72 if rotate else 8)
    height = top + n * cell + 30 + 8
    row_totals = [sum(row) for row in matrix]
    col_totals = [sum(row[j] for row in matrix) for j in range(n)]
    grand = sum(row_totals)

    out = [
        f'<svg class="cm" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'role="img" aria-label="Confusion matrix, rows true class, columns predicted class">',
        f'<text x="{left + n * cell / 2:.1f}" y="16" text-anchor="middle" font-size="13" font-weight="600">'
        "Predicted</text>",
        f'<text transform="translate(14 {top + n * cell / 2:.1f}) rotate(-90)" text-anchor="middle" font-size="13" '
        'font-weight="600">True</text>',
    ]
    for j, label in enumerate([*shown, "Total"]):
        cx = left + j * cell + cell / 2 if j < n else left + n * cell + total_w / 2
        full = names[j] if j < n else "Total"
        weight = ' fill="#5f6368"' if j == n else ""
        if rotate:
            out.append(
                f'<text x="{cx:.1f}" y="{top - 6:.1f}" font-size="12" transform="rotate(-45 {cx:.1f} {top - 6:.1f})"'
                f"{weight}><title>{_esc(full)}</title>{_esc(label)}</text>"
            )
        else:
            out.append(
                f'<text x="{cx:.1f}" y="{top - 6:.1f}" font-size="12" text-anchor="middle"{weight}>'
                f"<title>{_esc(full)}</title>{_esc(label)}</text>"
            )
    for i in range(n):
        y = top + i * cell
        out.append(
            f'<text x="{left - 8:.1f}" y="{y + cell / 2 + 4:.1f}" font-size="12" text-anchor="end">'
            f"<title>{_esc(names[i])}</title>{_esc(shown[i])}</text>"
        )
        for j in range(n):
            out.append(_matrix_cell(matrix[i][j], row_totals[i], i, j, names, left + j * cell, y, cell, show_pct))
        out.append(
            f'<text class="cm-total" data-row="{i}" x="{left + n * cell + total_w / 2:.1f}" y="{y + cell / 2 + 4:.1f}" '
            f'font-size="{total_size:.1f}" text-anchor="middle" fill="#5f6368">{row_totals[i]}</text>'
        )
    y = top + n * cell
    out.append(
        f'<text x="{left - 8:.1f}" y="{y + 19:.1f}" font-size="12" text-anchor="end" fill="#5f6368">Total</text>'
    )
    for j in range(n):
        out.append(
            f'<text class="cm-total" data-col="{j}" x="{left + j * cell + cell / 2:.1f}" y="{y + 19:.1f}" '
            f'font-size="{total_size:.1f}" text-anchor="middle" fill="#5f6368">{col_totals[j]}</text>'
        )
    out.append(
        f'<text x="{left + n * cell + total_w / 2:.1f}" y="{y + 19:.1f}" font-size="{total_size:.1f}" '
        f'text-anchor="middle" font-weight="600" fill="#5f6368">{grand}</text>'
    )
    out.append(
        f'<rect x="{left}" y="{top}" width="{n * cell}" height="{n * cell}" fill="none" stroke="#9aa0a6" '
        'stroke-width="1"/>'
    )
    out.append("</svg>")
    note = f'<p class="sub">{_esc(_MATRIX_NOTE)}</p>' if caption else ""
    return f'<figure class="cm-figure">{"".join(out)}{note}</figure>'


def _matrix_cell(
    count: int, row_total: int, i: int, j: int, names: list[str], x: float, y: float, cell: float, show_pct: bool
) -> str:
    fraction = count / row_total if row_total else 0.0
    fill = _heat(fraction)
    ink = _text_on(fill)
    pct = f"{100 * fraction:.1f}%" if row_total else _DASH
    count_size = min(16.0, cell * 0.26)
    tip = f"true {names[i]}, predicted {names[j]}: {count} ({pct} of the row)"
    cx = x + cell / 2
    count_y = y + cell / 2 + (count_size * 0.1 if show_pct else count_size * 0.35)
    texts = (
        f'<text x="{cx:.1f}" y="{count_y:.1f}" font-size="{count_size:.1f}" font-weight="600" text-anchor="middle" '
        f'fill="{ink}">{count}</text>'
    )
    if show_pct:
        texts += (
            f'<text x="{cx:.1f}" y="{count_y + count_size * 1.05:.1f}" font-size="{count_size * 0.72:.1f}" '
            f'text-anchor="middle" fill="{ink}" fill-opacity="0.85">{_esc(pct)}</text>'
        )
    return (
        f'<g class="cm-cell" data-row="{i}" data-col="{j}" data-count="{count}"><title>{_esc(tip)}</title>'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell}" height="{cell}" fill="{_hex(fill)}" stroke="#fff" '
        f'stroke-width="1"/>{texts}</g>'
    )


# ------------------------------------------------------------------------------------------ per-class metrics


def _bar(fraction: float | None) -> str:
    if fraction is None or not math.isfinite(fraction):
        return ""
    width = min(max(fraction, 0.0), 1.0) * 100
    return f'<span class="bar" aria-hidden="true"><span style="width:{width:.1f}%"></span></span>'


def _ordered_classes(report: ClassificationReport | DataloaderReport) -> list[tuple[str, ClassMetrics]]:
    per_class = report.per_class or {}
    order = [n for n in matrix_names(report) if n in per_class]
    order += [n for n in per_class if n not in order]
    return [(name, per_class[name]) for name in order]


def _metrics_row(label: str, metrics: ClassMetrics, max_support: int, css: str = "") -> str:
    cells = "".join(
        f'<td class="num">{_esc(_number(v))}{_bar(v)}</td>' for v in (metrics.precision, metrics.recall, metrics.f1)
    )
    support = f'<td class="num">{metrics.support}{_bar(metrics.support / max_support if max_support else None)}</td>'
    klass = f' class="{css}"' if css else ""
    return f"<tr{klass}><td>{_esc(label)}</td>{cells}{support}</tr>"


def _per_class_block(view: _View) -> str:
    report = view.report
    if report is None:
        return _missing("Not recorded: the run has no classification_report.json (it was not tested).")
    if len(report.dataloaders) > 1:
        return "".join(f"<h3>{_esc(d.label())}</h3>{_per_class_table(d)}" for d in report.dataloaders)
    return _per_class_table(report)


def _per_class_table(report: ClassificationReport | DataloaderReport) -> str:
    classes = _ordered_classes(report)
    if not classes:
        why = f" ({report.per_class_note})" if report.per_class_note else ""
        lead = _missing(f"Not recorded: the report has no per-class metrics{why}.")
        return lead + (_accuracy_line(report) if report.accuracy is not None else "")
    max_support = max(m.support for _, m in classes)
    rows = [_metrics_row(name, m, max_support) for name, m in classes]
    for label, avg in (("macro avg", report.macro_avg), ("weighted avg", report.weighted_avg)):
        if avg is not None:
            css = "avg first-avg" if label == "macro avg" or report.macro_avg is None else "avg"
            rows.append(_metrics_row(label, avg, max_support, css))
    if report.accuracy is not None:
        samples = report.num_samples if report.num_samples is not None else _DASH
        rows.append(
            f'<tr class="avg"><td>accuracy</td><td class="num"></td><td class="num"></td>'
            f'<td class="num">{_esc(_number(report.accuracy))}{_bar(report.accuracy)}</td>'
            f'<td class="num">{_esc(samples)}</td></tr>'
        )
    head = (
        '<tr><th>Class</th><th class="num">Precision</th><th class="num">Recall</th><th class="num">F1</th>'
        '<th class="num">Support</th></tr>'
    )
    table = f'<div class="table-wrap"><table class="per-class"><thead>{head}</thead><tbody>{"".join(rows)}</tbody>'
    note = f'<p class="sub">{_esc(report.per_class_note)}</p>' if report.per_class_note else ""
    return table + "</table></div>" + note


def _accuracy_line(report: ClassificationReport | DataloaderReport) -> str:
    return f"<p>Accuracy: <strong>{_esc(_number(report.accuracy))}</strong></p>"


# ------------------------------------------------------------------------------------------------- evaluations


def _evaluations_block(view: _View) -> str:
    """Every ``trainer.test`` of the run, one row per test dataloader; the per-class reports of those that are not
    the headline (shown above) in folded sections."""
    evaluations = view.summary.evaluations if view.summary is not None else []
    if not evaluations:
        return _missing(
            "Not recorded: the run has no evaluations (it was not tested, or was tested by an earlier "
            "version, which kept only the headline above)."
        )
    metrics, table_rows = evaluation_rows(evaluations)
    rows = []
    for e in table_rows:
        number = f"{e.number} <strong>headline</strong>" if e.headline else str(e.number)
        classes = ", ".join(f"{_esc(k)}: {v}" for k, v in (e.class_counts or {}).items()) or _DASH
        label = f"{e.dataloader_index}" + (f" ({_esc(e.dataloader_name)})" if e.dataloader_name else "")
        cells = "".join(f'<td class="num">{_esc(_number(e.metrics.get(m)))}</td>' for m in metrics)
        rows.append(
            f'<tr class="evaluation-row"><td>{number}</td><td>{_esc(_when(e.tested_at))}</td>'
            f'<td class="mono">{_esc(e.checkpoint or "weights in memory")}</td><td>{label}</td>'
            f'<td class="num">{_esc(_number(e.num_samples))}</td><td>{classes}</td>{cells}</tr>'
        )
    head = "".join(
        (f'<th class="num">{_esc(h)}</th>' if numeric else f"<th>{_esc(h)}</th>")
        for h, numeric in [
            ("#", False),
            ("Tested (UTC)", False),
            ("Checkpoint", False),
            ("Dataloader", False),
            ("Samples", True),
            ("Class counts", False),
            *((m, True) for m in metrics),
        ]
    )
    table = (
        f'<div class="table-wrap"><table class="evaluations"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        '<p class="sub">The headline gives the test metrics, the confusion matrix and the per-class table above.</p>'
    )
    details = []
    for entry in view.report.evaluations if view.report is not None else []:
        if entry.headline:
            continue
        for loader in entry.dataloaders:
            title = f"Evaluation {entry.number}, {loader.label()}: confusion matrix and per-class metrics"
            details.append(
                f"<details><summary>{_esc(title)}</summary>{_report_matrix(loader)}{_per_class_table(loader)}</details>"
            )
    return table + "".join(details)


# ------------------------------------------------------------------------------------------------------ charts


@dataclass
class _Series:
    label: str
    points: list[tuple[float, float]]
    colour: str
    dashed: bool = False


@dataclass
class _Marker:
    x: float
    label: str
    tag: str
    dash: str = _BEST_DASH


def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * magnitude:
            return m * magnitude
    return 10 * magnitude


def _ticks(
    low: float, high: float, count: int = 5, *, integer: bool = False, floor: float | None = None
) -> list[float]:
    """Round tick values covering ``low..high`` (the first and last ticks are the axis ends).

    A single value (``low == high``: a constant, one epoch) gets an axis around it, never below ``floor``: a loss
    of 0.69 is drawn on 0.6..0.8, a rate of 0 on 0..1, not on -1..1.
    """
    if high <= low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
        if floor is not None:
            low = max(low, floor)
    step = _nice_step(high - low, count)
    if integer:
        step = max(1.0, math.ceil(step))
    start = math.floor(low / step + 1e-9) * step
    end = math.ceil(high / step - 1e-9) * step
    n = int(round((end - start) / step))
    return [start + k * step for k in range(n + 1)]


def _tick_label(value: float, step: float) -> str:
    if abs(value) < step * 1e-6:
        return "0"
    if step >= 1 and abs(value) < 1e6 and float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


def _line_chart(series: list[_Series], markers: list[_Marker], x_label: str, title: str) -> str:
    """One SVG line chart with axes, ticks and markers, and an HTML legend under it."""
    width = 540.0
    height = 250.0 + (22.0 if markers else 0.0)
    left, right, bottom = 62.0, 18.0, 44.0
    top = 36.0 if markers else 14.0
    xs = [x for s in series for x, _ in s.points] + [m.x for m in markers]
    ys = [y for s in series for _, y in s.points]
    x_ticks = _ticks(min(xs), max(xs), 8, integer=True)
    y_low, y_high = min(ys), max(ys)
    pad = (y_high - y_low) * 0.05
    # No negative axis for values that cannot be negative (losses, rates, scores).
    floor = 0.0 if y_low >= 0 else None
    y_ticks = _ticks(max(y_low - pad, 0.0) if y_low >= 0 else y_low - pad, y_high + pad, 5, floor=floor)
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    if min(xs) == max(xs):  # one epoch (or step): its point in the middle, its one tick under it
        x_ticks = [min(xs)]
        x0, x1 = min(xs) - 0.5, min(xs) + 0.5
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * plot_h

    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    out = [
        f'<svg class="chart" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'role="img" aria-label="{_esc(title)}">'
    ]
    for y in y_ticks:
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#eceff1"/>'
            f'<text x="{left - 6}" y="{py(y) + 4:.1f}" font-size="11" text-anchor="end" fill="#5f6368">'
            f"{_esc(_tick_label(y, y_step))}</text>"
        )
    for x in x_ticks:
        out.append(
            f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" stroke="#9aa0a6"/>'
            f'<text x="{px(x):.1f}" y="{top + plot_h + 17}" font-size="11" text-anchor="middle" fill="#5f6368">'
            f"{_esc(_tick_label(x, x_step))}</text>"
        )
    out.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#9aa0a6"/>'
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" font-size="12" text-anchor="middle">{_esc(x_label)}</text>'
    )
    previous: float | None = None
    for marker in markers:
        x = px(marker.x)
        # A second label close to the first goes on the row above it.
        label_y = top - 18 if previous is not None and abs(x - previous) < 40 else top - 5
        previous = x
        dash = f' stroke-dasharray="{marker.dash}"' if marker.dash else ""
        out.append(
            f'<line class="marker" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="{_MARKER_COLOUR}" '
            f'stroke-width="1"{dash}><title>{_esc(marker.label)}</title></line>'
            f'<text x="{x:.1f}" y="{label_y}" font-size="11" text-anchor="{_anchor(x, left, width - right)}" '
            f'fill="{_MARKER_COLOUR}">{_esc(marker.tag)}</text>'
        )
    for s in series:
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s.points)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{s.colour}" stroke-width="2"{dash} '
            f'stroke-linejoin="round"><title>{_esc(s.label)}</title></polyline>'
        )
        if len(s.points) <= 60:
            radius = 2.6 if len(s.points) > 1 else 4.0  # a lone point has no line to show it
            out.extend(
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="{radius}" fill="{s.colour}">'
                f"<title>{_esc(s.label)}: {_esc(_number(y))} at {_esc(x_label)} {_esc(_number(x))}</title></circle>"
                for x, y in s.points
            )
    out.append("</svg>")
    legend = _legend(series, markers)
    return f'<figure class="chart"><figcaption>{_esc(title)}</figcaption>{"".join(out)}{legend}</figure>'


def _anchor(x: float, low: float, high: float) -> str:
    if x - low < 30:
        return "start"
    if high - x < 30:
        return "end"
    return "middle"


def _legend(series: list[_Series], markers: list[_Marker]) -> str:
    items = []
    for s in series:
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        items.append(
            f'<li><svg width="24" height="10" aria-hidden="true"><line x1="1" y1="5" x2="23" y2="5" '
            f'stroke="{s.colour}" stroke-width="2.5"{dash}/></svg>{_esc(s.label)}</li>'
        )
    for m in markers:
        dash = f' stroke-dasharray="{m.dash}"' if m.dash else ""
        items.append(
            f'<li><svg width="24" height="10" aria-hidden="true"><line x1="12" y1="0" x2="12" y2="10" '
            f'stroke="{_MARKER_COLOUR}" stroke-width="1"{dash}/></svg>{_esc(m.label)}</li>'
        )
    return f'<ul class="legend">{"".join(items)}</ul>'


# ------------------------------------------------------------------------------------------- training curves

_PREFIXES = ("train_", "training_", "val_", "valid_", "validation_", "train/", "val/", "valid/", "validation/")
_SUFFIXES = ("_epoch", "_step")


def _is_lr(name: str) -> bool:
    low = name.lower()
    return low == "lr" or low.startswith(("lr-", "lr_", "lr/")) or "learning_rate" in low


def _base_name(name: str) -> str:
    low = name.lower()
    for prefix in _PREFIXES:
        if low.startswith(prefix):
            low = low[len(prefix) :]
            break
    for suffix in _SUFFIXES:
        if low.endswith(suffix):
            low = low[: -len(suffix)]
    return low


def _families(values: dict[str, list[float]]) -> list[tuple[str, list[str]]]:
    """Metric names grouped into charts: losses, scores in 0..1, each other metric, learning rates last."""
    groups: dict[str, list[str]] = {}
    for name in sorted(values):
        if _is_lr(name):
            key = "Learning rate"
        elif "loss" in name.lower():
            key = "Loss"
        elif all(0.0 <= v <= 1.0 for v in values[name]):
            key = "Scores"
        else:
            key = _base_name(name)
        groups.setdefault(key, []).append(name)
    order = {"Loss": 0, "Scores": 1, "Learning rate": 3}
    return sorted(groups.items(), key=lambda item: (order.get(item[0], 2), item[0]))


def _uses_steps(history: History) -> bool:
    """Whether some epoch has more than one validation (validation within an epoch): then x is the global step."""
    latest = {entry.step: entry.epoch for entry in history.entries}
    return len(set(latest.values())) != len(latest)


def _x_of_epoch(history: History, epoch: int | None, steps: bool) -> float | None:
    if epoch is None:
        return None
    if not steps:
        return float(epoch)
    matching = [e.step for e in history.entries if e.epoch == epoch]
    return float(max(matching)) if matching else None


def _series_points(history: History, metric: str, steps: bool) -> list[tuple[float, float]]:
    return [(float(e.step if steps else e.epoch), v) for e, v in history.series(metric)]


def _run_markers(view: _View, history: History, steps: bool) -> list[_Marker]:
    markers = []
    if view.kind != "evaluation":
        best = _x_of_epoch(history, view.best_epoch, steps)
        if best is not None:
            markers.append(_Marker(best, f"best epoch ({view.best_epoch})", "best"))
        state = _stopping_state(view.summary)
        stop = _x_of_epoch(history, state.stopped_epoch if state is not None else None, steps)
        if stop is not None and state is not None:
            markers.append(_Marker(stop, f"early stop (epoch {state.stopped_epoch})", "stop", _STOP_DASH))
    return markers


def _curve_names(history: History) -> list[str]:
    """The metrics worth a curve: those with a value, less ``X_epoch`` where it repeats ``X`` point for point.

    ``self.log("train_loss", loss, on_step=True, on_epoch=True)`` leaves ``train_loss`` and ``train_loss_epoch``
    with the same values (and ``train_loss_step``): one curve named ``train_loss`` says it all.
    """
    names = [name for name in history.metric_names() if history.series(name)]
    points = {name: [(e.step, v) for e, v in history.series(name)] for name in names}
    return [
        name for name in names if not (name.endswith("_epoch") and points.get(name[: -len("_epoch")]) == points[name])
    ]


def _no_history(view: _View) -> str:
    """Why a run has no ``history.json`` to draw, as far as its other files tell."""
    unreadable = [p for p in view.problems if History.filename in p]
    if unreadable:
        return f"Not shown: {unreadable[0]}"
    if view.legacy:
        return "Not recorded: runs of the old manual system have no history.json."
    summary = view.summary
    if summary is not None and summary.recorded_by == "manual":
        return "Not recorded: the run was recorded with the manual API, which keeps no history.json."
    if summary is not None and summary.num_epochs_trained == 0 and summary.best_epoch is None:
        before = {
            "failed": "the run failed before its first validation",
            "interrupted": "the run was interrupted before its first validation",
            "stale": "the run stopped (its heartbeat is stale) before its first validation",
            "running": "no validation has finished yet",
        }.get(view.status or "")
        if before:
            return f"Not recorded: {before} (history.json is written at each validation)."
    return "Not recorded: history.json is missing from the run folder."


def _curves_block(view: _View) -> str:
    history = view.history
    if view.kind == "evaluation" and (history is None or not history.entries):
        return _missing("Not recorded: an evaluation run has no training history.")
    if history is None:
        return _missing(_no_history(view))
    steps = _uses_steps(history)
    values = {name: [v for _, v in history.series(name)] for name in _curve_names(history)}
    if not values:
        return _missing("Not recorded: history.json holds no metric values.")
    x_label = "global step" if steps else "epoch"
    markers = _run_markers(view, history, steps)
    figures = []
    for title, names in _families(values):
        series = [
            _Series(name, _series_points(history, name, steps), _colour(i), dashed=name.lower().startswith("train"))
            for i, name in enumerate(names)
        ]
        figures.append(_line_chart(series, markers, x_label, title))
    return f'<div class="figures">{"".join(figures)}</div>'


# ---------------------------------------------------------------------------------------- config, environment


def _config_block(view: _View) -> str:
    if view.config is None:
        return _missing("Not recorded: the run has no config.json.")
    settings = config_settings(view.config)
    user = _kv_table(settings) if settings else _missing("No user settings recorded.")
    source = config_source_line(view.config)
    if source and source != "argument":  # the user settings came from LightningCLI or Hydra
        user = f'<p>Config from <span class="mono">{_esc(source)}</span>.</p>' + user
    captured = captured_settings(view.config)
    if captured:
        user += (
            f"<details><summary>Captured settings ({len(captured)}): trainer, model, optimisers, callbacks"
            f"</summary>{_kv_table(captured)}</details>"
        )
    return user


def _environment_block(view: _View) -> str:
    environment = _environment_of(view)
    parts = []
    if environment:
        shown = {k: (" ".join(v) if k == "argv" and isinstance(v, list) else v) for k, v in environment.items()}
        shown = {k: (_DASH if v is None else v) for k, v in shown.items()}
        parts.append(_kv_table(shown, header=("Field", "Value")))
    else:
        parts.append(_missing("Environment not recorded."))
    parts.append(_loggers_block(view))
    git = view.config.git if view.config is not None else None
    parts.append("<h3>Git</h3>")
    if git is not None:
        values = {k: (_DASH if v is None else v) for k, v in git.model_dump(mode="json").items()}
        parts.append(_kv_table(values, header=("Field", "Value")))
    else:
        parts.append(_missing("Git not recorded."))
    return "".join(parts)


def _loggers_block(view: _View) -> str:
    """The run's loggers: where each one's run is (no URL: the page holds none; ``training_summary.json`` has it)."""
    entries = view.summary.loggers if view.summary is not None else []
    if not entries:
        return ""
    head = "".join(f"<th>{_esc(h)}</th>" for h in ("Logger", "Name", "Run", "Folder", "Stage"))
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{_esc(cell)}</td>"
            for cell in (
                e.type.rsplit(".", 1)[-1],
                e.name or _DASH,
                logger_run(e),
                e.log_dir or e.save_dir or _DASH,
                f"{e.stage}, attempt {e.attempt}",
            )
        )
        + "</tr>"
        for e in entries
    )
    return (
        f'<h3>Loggers</h3><p>Each logger\'s run was given this folder as <span class="mono">arccnet_run_dir</span>.</p>'
        f'<div class="table-wrap"><table class="kv"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'
    )


# ---------------------------------------------------------------------------------------------- the comparison


def _run_label(index: int, view: _View) -> str:
    return f"#{index + 1} {view.name}"


def _compare_body(views: list[_View], title: str) -> str:
    legend = "".join(
        f'<li><span class="swatch" style="background:{_colour(i)}"></span>'
        f'<span class="mono">{_esc(_run_label(i, v))}</span> {_badge(v.status)}</li>'
        for i, v in enumerate(views)
    )
    differences = task_differences([task_of(v.summary, v.config, v.report) for v in views])
    lead = "Deltas are against run #1."
    if differences:
        lead += (
            f" These runs differ in task ({'; '.join(differences)}): their numbers do not compare, so no delta is "
            "called better or worse."
        )
    header = (
        f'<header><h1>{_esc(title)}</h1><p class="sub task-note">{_esc(lead)}</p>'
        f'<ul class="legend">{legend}</ul></header>'
    )
    return "\n".join(
        [
            header,
            _section("summary", "Side by side", _compare_table(views, judge=not differences)),
            _section("config", "Configuration differences", _config_diff(views)),
            _section("confusion-matrices", "Confusion matrices", _compare_matrices(views)),
            _section("curves", "Training curves", _compare_curves(views)),
            *_compare_problems(views),
        ]
    )


def _compare_problems(views: list[_View]) -> list[str]:
    """A section listing the files that could not be read, if any."""
    items = "".join(
        f'<li><span class="mono">#{i + 1}</span>: {_esc(problem)}</li>'
        for i, v in enumerate(views)
        for problem in v.problems
    )
    return [_section("notes", "Files that could not be read", f"<ul>{items}</ul>")] if items else []


def _delta_html(
    name: str, value: float, base: float, monitor: str | None, mode: str | None, unit: str = "", *, judge: bool = True
) -> str:
    delta = value - base
    verdict = better(name, delta, monitor, mode) if judge else None
    css = "same" if verdict is None else ("better" if verdict else "worse")
    if not judge and delta != 0:
        css = "unjudged"  # runs of different tasks: a change, neither better nor worse
    word = {"same": "no change", "better": "better", "worse": "worse", "unjudged": "a change (not judged)"}[css]
    sign = "+" if delta > 0 else ""
    text = "\u00b10" if delta == 0 else f"{sign}{_number(delta)}{unit}"
    return f'<span class="delta {css}" title="{word} than run #1">\u0394 {_esc(text)}</span>'


def _numeric_row(
    label: str,
    name: str,
    values: list[float | None],
    views: list[_View],
    *,
    shown: Callable[[float | None], str] = _number,
    unit: str = "",
    judge: bool = True,
) -> str:
    """A table row of numbers, each after the first with its delta against the first run's (coloured better or
    worse by the first run's direction for the metric, unless ``judge`` is false)."""
    base = values[0]
    monitor, mode = views[0].monitor, views[0].mode
    cells = []
    for k, value in enumerate(values):
        text = _esc(shown(value))
        if k > 0 and value is not None and base is not None:
            text += _delta_html(name, value, base, monitor, mode, unit, judge=judge)
        cells.append(f'<td class="num">{text}</td>')
    return f"<tr><th>{_esc(label)}</th>{''.join(cells)}</tr>"


def _text_row(label: str, values: list[str]) -> str:
    """A table row of HTML snippets."""
    return f"<tr><th>{_esc(label)}</th>{''.join(f'<td>{v}</td>' for v in values)}</tr>"


def _early_stop_text(view: _View) -> str:
    state = _stopping_state(view.summary)
    if state is not None:
        return f"{_esc(state.reason)} at epoch {state.stopped_epoch}"
    if view.summary is not None and view.summary.early_stopping_triggered:
        return "triggered (reason not recorded)"
    return "no" if view.summary is not None and view.summary.early_stopping else _DASH


def _compare_table(views: list[_View], *, judge: bool = True) -> str:
    head = "".join(
        f'<th><span class="swatch" style="background:{_colour(i)}"></span> #{i + 1}<br>'
        f'<span class="mono">{_esc(v.name)}</span></th>'
        for i, v in enumerate(views)
    )
    rows = [
        _text_row("Status", [_badge(v.status) for v in views]),
        _text_row("Kind", [_esc(v.kind) for v in views]),
        _text_row("Root name", [_esc(v.root_name or _DASH) for v in views]),
        _text_row("Model / loss", [f"{_esc(v.model_name or _DASH)} / {_esc(v.loss_function or _DASH)}" for v in views]),
        _text_row("Start (UTC)", [_esc(_when(v.start_time)) for v in views]),
        _text_row("End (UTC)", [_esc(_when(v.summary.end_time if v.summary else None)) for v in views]),
        _numeric_row(
            "Duration",
            "duration_seconds",
            [v.summary.duration_seconds if v.summary else None for v in views],
            views,
            shown=_span,
            unit=" s",
            judge=judge,
        ),
        _text_row(
            "Epochs trained",
            [_esc(_number(v.summary.num_epochs_trained if v.summary else None)) for v in views],
        ),
    ]
    monitors = {v.monitor for v in views}
    if len(monitors) == 1 and None not in monitors:
        monitor = views[0].monitor or "value"
        rows.append(_numeric_row(f"Best {monitor}", monitor, [v.best_value for v in views], views, judge=judge))
    else:
        rows.append(
            _text_row("Best value", [f"{_esc(v.monitor or _DASH)} = {_esc(_number(v.best_value))}" for v in views])
        )
    rows.append(_text_row("Best epoch", [_esc(_number(v.best_epoch)) for v in views]))
    rows.append(_text_row("Early stop", [_early_stop_text(v) for v in views]))
    rows.append(
        _text_row(
            "Error",
            [
                _esc(f"{v.summary.error.type}: {v.summary.error.message}") if v.summary and v.summary.error else _DASH
                for v in views
            ],
        )
    )
    tests = [v.test_metrics() for v in views]
    for name in sorted({k for t in tests for k in t}):
        rows.append(_numeric_row(name, name, [t.get(name) for t in tests], views, judge=judge))
    if not any(tests):
        rows.append(_text_row("Test metrics", ['<span class="missing">not recorded</span>' for _ in views]))
    return (
        f'<div class="table-wrap"><table class="compare"><thead><tr><th></th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


_UNSET = object()


def _differing(settings: list[dict[str, Any]]) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """The settings that differ, as ``(set by a run, left unset or at Lightning's defaults by every run)``."""
    chosen: dict[str, list[Any]] = {}
    defaults: dict[str, list[Any]] = {}
    for key, at_default in compared_settings(settings):
        (defaults if at_default else chosen)[key] = [s.get(key, _UNSET) for s in settings]
    return chosen, defaults


def _setting_cell(value: Any) -> str:
    """A setting in a comparison cell: a long value (a ``trainer.callbacks`` JSON) cut, whole on hover."""
    if value is _UNSET:
        return '<td><span class="missing">not set</span></td>'
    text = _plain(value)
    short = shorten(text)
    if short == text:
        return f"<td>{_esc(text)}</td>"
    return f'<td title="{_esc(text)}">{_esc(short)}</td>'


def _diff_table(diff: dict[str, list[Any]], views: list[_View], css: str) -> str:
    head = "".join(f"<th>#{i + 1}</th>" for i in range(len(views)))
    rows = []
    for key, values in diff.items():
        cells = "".join(_setting_cell(v) for v in values)
        rows.append(f"<tr><td>{_esc(key)}</td>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table class="kv diff {css}"><thead><tr><th>Setting</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _config_diff(views: list[_View]) -> str:
    missing = [f"#{i + 1}" for i, v in enumerate(views) if v.config is None]
    lead = _missing(f"Not recorded for {', '.join(missing)}: no config.json.") if missing else ""
    settings = [compared_config(v.config) for v in views]
    user, user_defaults = _differing(settings)
    body = _diff_table(user, views, "user") if user else "<p>The settings are the same in every run.</p>"
    if user_defaults:
        body += (
            f"<details><summary>Settings left unset or at Lightning's defaults ({len(user_defaults)})</summary>"
            f"{_diff_table(user_defaults, views, 'user defaults')}</details>"
        )
    # When each config was written differs always, and says nothing about the runs.
    listed = {k for s in settings for k in s}  # hparams and trainer settings are in the table above
    chosen, unset = _differing([_without(captured_settings(v.config), "created_at", *listed) for v in views])
    captured = {**chosen, **unset}
    if captured:
        body += (
            f"<details><summary>Captured settings that differ ({len(captured)})</summary>"
            f"{_diff_table(captured, views, 'captured')}</details>"
        )
    return lead + body


def _without(settings: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k not in keys}


def _compare_matrices(views: list[_View]) -> str:
    blocks = [
        f'<div><h3><span class="swatch" style="background:{_colour(i)}"></span> '
        f'<span class="mono">{_esc(_run_label(i, v))}</span></h3>{_matrix_block(v, caption=False)}</div>'
        for i, v in enumerate(views)
    ]
    return f'<p class="sub">{_esc(_MATRIX_NOTE)}</p><div class="figures">{"".join(blocks)}</div>'


def _curve_order(name: str, monitor: str | None) -> tuple[int, str]:
    """The monitored metric first, then losses, other metrics, and learning rates last."""
    if name == monitor:
        return (0, name)
    if _is_lr(name):
        return (3, name)
    return (1 if "loss" in name.lower() else 2, name)


def _compare_curves(views: list[_View]) -> str:
    histories = [(i, v, v.history) for i, v in enumerate(views) if v.history is not None and v.history.entries]
    without = [f"#{i + 1}" for i, v in enumerate(views) if v.history is None or not v.history.entries]
    lead = _missing(f"No history recorded for {', '.join(without)}.") if without else ""
    steps = any(_uses_steps(h) for _, _, h in histories)
    owners: dict[str, list[int]] = {}
    for i, _, history in histories:
        for name in _curve_names(history):
            owners.setdefault(name, []).append(i)
    monitor = views[0].monitor
    shared = sorted((n for n, who in owners.items() if len(who) >= 2), key=lambda n: _curve_order(n, monitor))
    if not shared:
        return lead + _missing("No metric is recorded by two or more of these runs.")
    figures = []
    for name in shared:
        series = [
            _Series(_run_label(i, v), _series_points(h, name, steps), _colour(i))
            for i, v, h in histories
            if i in owners[name]
        ]
        figures.append(_line_chart(series, [], "global step" if steps else "epoch", name))
    return lead + f'<div class="figures">{"".join(figures)}</div>'
