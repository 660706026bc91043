"""The group page: one self-contained HTML file of a group of runs (cross-validation folds, a sweep), read from its
:class:`~arccnet_ckpt.runs.group_stats.GroupSummary`.

:func:`render_group_html` returns the page; :func:`group_context` the plain values ``templates/group.html.j2``
shows: the runs side by side, each number's mean ± std (ddof=0) with a dot per run (:func:`~arccnet_ckpt.report.svg
.strip_chart`), the per-class means with error bars (:func:`~arccnet_ckpt.report.svg.error_bar_chart`), the mean and
summed confusion matrices, and the pooled report. Which runs count and every statistic are the summary's
(:mod:`~arccnet_ckpt.runs.group_stats`): nothing is recomputed here. The page frame (CSP, styles, escaping) is
:mod:`~arccnet_ckpt.report.html`'s. Nothing here imports torch.

Example:
    >>> from arccnet_ckpt import load_group
    >>> from arccnet_ckpt.report.group import render_group_html
    >>> page = render_group_html(load_group("hale-cv", "/ARCAFF/data").summary())  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from arccnet_ckpt.report import svg
from arccnet_ckpt.report.html import metrics_rows, render_page
from arccnet_ckpt.runs.group_stats import ClassStats, GroupSummary, RunRow, Stats

CLASS_FIELDS = ("precision", "recall", "f1", "support", "roc_auc", "tss")
"""The per-class numbers the page shows (mean ± std), in this order, where the runs record them."""

_CHART_FIELDS = ("precision", "recall", "f1", "roc_auc", "tss")
"""The per-class numbers drawn as bars: the scores (support has its own scale, and is in the table)."""


@dataclass
class NumberRow:
    """One number over the group's runs: its statistics and its strip chart."""

    name: str
    stats: Stats
    chart: Markup


@dataclass
class ClassRow:
    """One row of the per-class table: a class (or an average) and each field's statistics (``None``: unrecorded)."""

    label: str
    cells: list[Stats | None]
    css: str = ""


def render_group_html(summary: GroupSummary, *, title: str | None = None) -> str:
    """The group page of ``summary`` (from :meth:`~arccnet_ckpt.runs.groups.Group.summary`).

    Args:
        summary: The group's statistics.
        title: The page title; defaults to ``Group report: <id>``.

    Returns:
        A complete HTML document that loads nothing from anywhere; its footer names the runs' folders.
    """
    return render_page(
        "group.html.j2",
        group_context(summary),
        title=title if title is not None else f"Group report: {summary.id}",
        paths=[row.path for row in summary.runs],
    )


def group_context(summary: GroupSummary) -> dict[str, Any]:
    """Everything ``group.html.j2`` shows, as plain values."""
    s = summary
    metrics = sorted({m for row in s.runs for m in row.test_results})
    per_class = s.per_class or {}
    fields = [f for f in CLASS_FIELDS if any(getattr(c, f) is not None for c in per_class.values())]
    return {
        "s": s,
        "status_counts": sorted(s.status_counts.items()),
        "metrics": metrics,
        "best_title": f"best {s.monitor}" if s.monitor else "best value",
        "numbers": _number_rows(s, metrics),
        "class_fields": fields,
        "class_rows": _class_rows(s, fields),
        "class_chart": _class_chart(s, per_class),
        "matrices": _matrices(s),
        "pooled_rows": (
            metrics_rows(s.pooled.per_class, s.class_names or [], s.pooled.macro_avg, s.pooled.weighted_avg)
            if s.pooled is not None
            else []
        ),
    }


def _number_rows(s: GroupSummary, metrics: list[str]) -> list[NumberRow]:
    """The numbers summarised, as ``group show`` lists them: the best value, best epoch, duration, each test metric."""
    named: list[tuple[str, Stats | None, Callable[[RunRow], Any]]] = [
        (f"best {s.monitor}" if s.monitor else "best value", s.best_value, lambda r: r.best_value),
        ("best_epoch", s.best_epoch, lambda r: r.best_epoch),
        ("duration_seconds", s.duration_seconds, lambda r: r.duration_seconds),
    ]
    named += [(m, s.test_metrics.get(m), _test_value(m)) for m in metrics]
    rows = []
    for name, stats, value in named:
        if stats is None:
            continue
        rows.append(NumberRow(name, stats, svg.strip_chart(_points(s.runs, stats, value), stats.mean, stats.std, name)))
    return rows


def _test_value(metric: str) -> Callable[[RunRow], Any]:
    return lambda row: row.test_results.get(metric)


def _points(runs: list[RunRow], stats: Stats, value: Callable[[RunRow], Any]) -> list[tuple[str, float]]:
    """Each counted run's value with its name, in the group's order; the summary's values, numbered, when the rows do
    not give the same values (a run whose summary changed between the two reads)."""
    points = [
        (row.run, float(v))
        for row in runs
        if row.counted and isinstance(v := value(row), (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ]
    if [v for _, v in points] != stats.values:
        return [(f"value {k + 1}", v) for k, v in enumerate(stats.values)]
    return points


def _class_rows(s: GroupSummary, fields: list[str]) -> list[ClassRow]:
    """The per-class table: each class, then the macro and weighted averages (precision, recall, F1, support)."""
    rows = [ClassRow(name, [getattr(c, f) for f in fields]) for name, c in (s.per_class or {}).items()]
    for label, avg in (("macro avg", s.macro_avg), ("weighted avg", s.weighted_avg)):
        if avg is not None:
            cells = [getattr(avg, f, None) for f in fields]
            rows.append(ClassRow(label, cells, "avg first-avg" if label == "macro avg" else "avg"))
    return rows


def _class_chart(s: GroupSummary, per_class: dict[str, ClassStats]) -> Markup | None:
    """Bars of each class's mean score with error bars of ±1 std, a bar per recorded field."""
    series = []
    for k, name in enumerate(_CHART_FIELDS):
        cells = [getattr(c, name) for c in per_class.values()]
        if any(cell is not None for cell in cells):
            values = [(cell.mean, cell.std) if cell is not None else None for cell in cells]
            series.append(svg.ErrorSeries(name, values, svg.colour(k)))
    if not series:
        return None
    return svg.error_bar_chart(list(per_class), series, f"Per class, mean ± std over {s.runs_completed} run(s)")


def _matrices(s: GroupSummary) -> list[tuple[str, Markup]]:
    names = s.class_names or []
    shown: list[tuple[str, Any]] = [
        (f"Mean of {s.runs_completed} run(s)", s.confusion_matrix_mean),
        ("Sum: every test sample once", s.confusion_matrix_sum),
    ]
    return [(title, svg.matrix_svg(m, names, caption=False)) for title, m in shown if m is not None]
