"""A self-contained, one-file HTML report of a run, or a side-by-side comparison of several runs.

The page needs nothing but a browser: styles are inline, charts are hand-written SVG, there is no script, no font and
no URL, and a Content-Security-Policy forbids the page to load anything. Copy the run folder anywhere (rsync it to a
laptop) and open ``report.html``.

Where each part lives:

* this module: :func:`render_html` and :func:`write_report`, the Jinja2 environment (built once; autoescape, with
  the page's escaping rule as ``finalize``), and the plain values a run's page shows (:func:`_run_context`);
* ``templates/``: the markup (``page.html.j2`` the document, ``run.html.j2`` one run, ``compare.html.j2`` the
  comparison, ``macros.html.j2`` the shared pieces, ``page.css`` the styles);
* :mod:`~arccnet_ckpt.report.view`: a run's files read once; :mod:`~arccnet_ckpt.report.compare`: the comparison's
  values; :mod:`~arccnet_ckpt.report.group`: a group's page (``group.html.j2``, through :func:`render_page`);
  :mod:`~arccnet_ckpt.report.curves`: which charts to draw; :mod:`~arccnet_ckpt.report.svg`: drawing them;
  :mod:`~arccnet_ckpt.report.format`: numbers, times and durations; :mod:`~arccnet_ckpt.report.markup`: escaping.

Every file of a run may be missing (legacy runs, failed runs, evaluations); each section then says what was not
recorded instead of failing. Nothing here imports torch or lightning.

Example:
    >>> from arccnet_ckpt.report.html import write_report
    >>> write_report("data/checkpoints/flares/multiclass/2025-02-12_14-30-45_resnet18_focal")  # doctest: +SKIP
    'data/checkpoints/flares/multiclass/2025-02-12_14-30-45_resnet18_focal/report.html'
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jinja2

from arccnet_ckpt import __version__, store
from arccnet_ckpt.core.lifecycle import DEFAULT_STALE_AFTER
from arccnet_ckpt.records import ClassificationReport, ClassMetrics, DataloaderReport, matrix_names
from arccnet_ckpt.report import format as fmt
from arccnet_ckpt.report import svg
from arccnet_ckpt.report.compare import compare_context
from arccnet_ckpt.report.curves import run_curves
from arccnet_ckpt.report.markup import escape
from arccnet_ckpt.report.scores import data_table, run_scores, shown_sections
from arccnet_ckpt.report.view import RunView, read_view
from arccnet_ckpt.runs import Run, load_run
from arccnet_ckpt.runs.query import (
    captured_settings,
    config_settings,
    config_source_line,
    early_stopping_used,
    evaluation_rows,
    limit_reached,
    logger_run,
)

REPORT_FILENAME = "report.html"
"""The report's file name inside a run folder."""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""The page's Content-Security-Policy: nothing may be fetched, only the inline styles apply."""

_DASH = fmt.EM_DASH


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
    views = [read_view(run, moment, stale_after) for run in runs]
    if len(views) == 1:
        page_title = title if title is not None else f"Run report: {views[0].name}"
        name, context = "run.html.j2", _run_context(views[0])
    else:
        page_title = title if title is not None else f"Comparison of {len(views)} runs"
        name, context = "compare.html.j2", compare_context(views)
    return render_page(name, context, title=page_title, paths=[v.path for v in views])


def render_page(template: str, context: dict[str, Any], *, title: str, paths: Sequence[str]) -> str:
    """One of ``templates/`` rendered with ``context``, in the page's frame (CSP, styles, the footer naming
    ``paths``): the run page, the comparison, and the group page (:mod:`~arccnet_ckpt.report.group`) alike."""
    page = _environment().get_template(template)
    return page.render(context, title=title, paths=list(paths), csp=CSP, version=__version__)


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


# ------------------------------------------------------------------------------------------------- the templates


@functools.cache
def _environment() -> jinja2.Environment:
    """The templates' environment, built once per process: its templates compile once, however many pages."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("arccnet_ckpt.report", "templates"),
        autoescape=True,
        finalize=escape,  # every {{ }}: escaped as html.escape does, markup kept, and never a "//"
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        number=lambda value: fmt.number(value, _DASH),
        when=lambda value: fmt.when(value, _DASH),
        duration=lambda seconds: fmt.duration(seconds, _DASH),
        plain=fmt.setting,
        colour=svg.colour,
        bar_width=_bar_width,
        counts=_counts,
    )
    env.globals.update(
        DASH=_DASH,
        MATRIX_NOTE=svg.MATRIX_NOTE,
        matrix_svg=svg.matrix_svg,
        matrix_names=matrix_names,
        matrix_problem=_matrix_problem,
        class_rows=_class_rows,
    )
    return env


def _bar_width(fraction: float | None) -> str:
    """The width of a bar in a table cell, in percent; empty for no value."""
    if fraction is None or not math.isfinite(fraction):
        return ""
    return f"{min(max(fraction, 0.0), 1.0) * 100:.1f}"


def _counts(class_counts: dict[str, int] | None) -> str:
    """``flare: 12, no flare: 88``: how many samples of each class an evaluation saw."""
    return ", ".join(f"{k}: {v}" for k, v in (class_counts or {}).items()) or _DASH


# -------------------------------------------------------------------------------------- one run's page, as values


@dataclass
class _Card:
    """A headline card; ``value`` and ``detail`` are text (escaped by the template)."""

    label: str
    value: str = ""
    detail: str = ""
    mono: bool = False
    missing: bool = False


@dataclass
class _MetricsRow:
    """A row of the per-class table: precision, recall, F1, and the support with its share of the largest."""

    label: str
    scores: tuple[float | None, float | None, float | None]
    support: int
    support_share: float | None
    css: str = ""


def _run_context(view: RunView) -> dict[str, Any]:
    """Everything ``run.html.j2`` shows of one run, as plain values."""
    summary, config = view.summary, view.config
    environment = view.environment
    git = config.git if config is not None else None
    metrics, rows = evaluation_rows(summary.evaluations if summary is not None else [])
    details = [
        (entry, loader)
        for entry in (view.report.evaluations if view.report is not None else [])
        if not entry.headline
        for loader in entry.dataloaders
    ]
    source = config_source_line(config) if config is not None else None
    scores = run_scores(view)
    return {
        "view": view,
        "end_time": summary.end_time if summary is not None else None,
        "duration": summary.duration_seconds if summary is not None else None,
        "host": environment.get("hostname"),
        "gpu": _gpu_text(environment) if environment else None,
        "git": git,
        "git_state": {True: "dirty", False: "clean", None: "dirty state unknown"}[git.dirty] if git else "",
        "git_fields": {k: (_DASH if v is None else v) for k, v in git.model_dump(mode="json").items()} if git else {},
        "seed": config.seed if config is not None else None,
        "resumes": len(summary.resumes) if summary is not None else 0,
        "heartbeat": view.heartbeat(),
        "cards": _cards(view),
        "error": summary.error if summary is not None else None,
        "evaluations": rows,
        "evaluation_metrics": metrics,
        "evaluation_details": details,
        "curves": run_curves(view),
        "scores": scores,
        "score_sections": shown_sections(scores),  # none for a version 1 report: its page is unchanged
        "data": data_table(view),
        "settings": config_settings(config) if config is not None else {},
        "config_source": source if source and source != "argument" else "",  # from LightningCLI or Hydra
        "captured": captured_settings(config) if config is not None else {},
        "environment": {
            k: (_DASH if v is None else " ".join(v) if k == "argv" and isinstance(v, list) else v)
            for k, v in environment.items()
        },
        "loggers": _logger_rows(view),
        "notes": list(dict.fromkeys([*view.problems, *view.notes])),  # an unreadable file is in both
    }


def _gpu_text(environment: dict[str, Any]) -> str:
    gpus = environment.get("gpus") or environment.get("gpu")
    if isinstance(gpus, list) and gpus:
        names = ", ".join(str(g) for g in gpus)
        gpu = names if len(gpus) == 1 else f"{len(gpus)} \u00d7 {names}"
    else:
        gpu = str(gpus) if gpus else "none recorded"
    cuda = environment.get("cuda")
    return f"{gpu} (CUDA {cuda})" if cuda else gpu


def _cards(view: RunView) -> list[_Card]:
    """The headline: the best value (or what an evaluation tested), epochs, early stop, test metrics, checkpoint."""
    summary = view.summary
    cards: list[_Card] = []
    if view.kind == "evaluation":
        tested = summary.tested_checkpoint if summary is not None else None
        cards.append(_Card("Evaluation of", tested or _DASH, mono=True))
    elif view.monitor or view.best_value is not None:
        epoch = view.best_epoch
        detail = f"at epoch {epoch}" if epoch is not None else "epoch not recorded"
        if view.mode:
            detail += f" ({view.mode})"
        cards.append(_Card(f"Best {view.monitor or 'value'}", fmt.number(view.best_value, _DASH), detail))
    else:
        cards.append(_Card("Best value", missing=True))
    if view.kind != "evaluation":
        epochs = summary.num_epochs_trained if summary is not None else None
        step = f"global step {summary.global_step}" if summary is not None and summary.global_step else ""
        cards.append(_Card("Epochs trained", fmt.number(epochs, _DASH), step))
        cards.append(_early_stop_card(view))
    tests = view.test_metrics()
    cards.extend(_Card(name, fmt.number(value, _DASH)) for name, value in tests.items())
    if not tests:
        cards.append(_Card("Test metrics", missing=True))
    if view.best_checkpoint:
        cards.append(_Card("Best checkpoint", store.basename(view.best_checkpoint), mono=True))
    return cards


def _early_stop_card(view: RunView) -> _Card:
    state = view.early_stop
    limit = limit_reached(view.summary, view.config)
    if state is not None:
        detail = state.message if state.message else f"monitor {state.monitor}"
        if limit is not None:  # Lightning checks its limits first: the fit ended for that
            detail += f" The fit stopped at {limit}, reached at the same epoch."
        return _Card("Early stop", f"{state.reason} at epoch {state.stopped_epoch}", detail)
    triggered = view.summary.early_stopping_triggered if view.summary is not None else False
    if triggered or (view.minimal is not None and view.minimal.early_stopping_triggered):
        return _Card("Early stop", "triggered", "reason not recorded")
    ended = f"the fit stopped at {limit}" if limit is not None else ""
    used = early_stopping_used(view.summary, view.config)
    if used:
        return _Card("Early stop", "not triggered", ended)
    if used is False:
        return _Card("Early stop", "none", "no EarlyStopping callback was used" + (f"; {ended}" if ended else ""))
    return _Card("Early stop", missing=True)


def _logger_rows(view: RunView) -> list[tuple[str, ...]]:
    """The run's loggers: where each one's run is (no URL: the page holds none; ``training_summary.json`` has it)."""
    entries = view.summary.loggers if view.summary is not None else []
    return [
        (
            e.type.rsplit(".", 1)[-1],
            e.name or _DASH,
            logger_run(e),
            e.log_dir or e.save_dir or _DASH,
            f"{e.stage}, attempt {e.attempt}",
        )
        for e in entries
    ]


# ---------------------------------------------------------------------------- report tables (template globals)


def _matrix_problem(report: ClassificationReport | DataloaderReport) -> str:
    """Why a report's confusion matrix cannot be drawn; empty if it can."""
    matrix = report.confusion_matrix
    if not matrix:
        why = f" ({report.per_class_note})" if report.per_class_note else ""
        return f"Not recorded: the report has no confusion matrix{why}."
    if any(len(row) != len(matrix) for row in matrix):
        return "Not shown: the recorded confusion matrix is not square."
    return ""


def _class_rows(report: ClassificationReport | DataloaderReport) -> list[_MetricsRow]:
    """The per-class table's rows, in the matrix's class order, then the averages; empty with no per-class values."""
    per_class = report.per_class or {}
    order = [n for n in matrix_names(report) if n in per_class]
    return metrics_rows(per_class, order, report.macro_avg, report.weighted_avg)


def metrics_rows(
    per_class: Mapping[str, ClassMetrics],
    order: Sequence[str],
    macro_avg: ClassMetrics | None,
    weighted_avg: ClassMetrics | None,
) -> list[_MetricsRow]:
    """A per-class table's rows (``macros.html.j2``'s ``metrics_row``): the classes in ``order`` (then any others),
    each support with its share of the largest, then the averages; empty with no per-class values."""
    order = [*order, *(n for n in per_class if n not in order)]
    if not order:
        return []
    largest = max(per_class[n].support for n in order)

    def row(label: str, m: ClassMetrics, css: str = "") -> _MetricsRow:
        share = m.support / largest if largest else None
        return _MetricsRow(label, (m.precision, m.recall, m.f1), m.support, share, css)

    rows = [row(name, per_class[name]) for name in order]
    for label, avg in (("macro avg", macro_avg), ("weighted avg", weighted_avg)):
        if avg is not None:
            rows.append(row(label, avg, "avg first-avg" if label == "macro avg" or macro_avg is None else "avg"))
    return rows
