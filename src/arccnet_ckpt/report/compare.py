"""The comparison page's values: the side-by-side table with deltas against run #1, and the configuration diff.

:func:`compare_context` gives ``compare.html.j2`` everything it shows, as plain values: rows of text cells (a delta
on each number after the first, judged better or worse by run #1's direction for the metric unless the runs differ
in task), the settings that differ (chosen by a run, or left at Lightning's defaults by every run), the curves
(:mod:`~arccnet_ckpt.report.curves`) and the files that could not be read. Nothing here imports torch or Jinja2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arccnet_ckpt.report import format as fmt
from arccnet_ckpt.report.curves import compare_curves, run_label
from arccnet_ckpt.report.view import RunView
from arccnet_ckpt.runs.direction import better
from arccnet_ckpt.runs.query import (
    captured_settings,
    compared_config,
    compared_settings,
    shorten,
    task_differences,
    task_of,
)

_DASH = fmt.EM_DASH
_UNSET = object()


@dataclass
class Delta:
    """A number's change against run #1: ``css`` is better, worse, same or unjudged; ``word`` says it in words."""

    css: str
    word: str
    text: str


@dataclass
class Cell:
    """A cell of the side-by-side table: text, and for a number after the first its delta."""

    text: str
    delta: Delta | None = None


@dataclass
class Row:
    """A row of the side-by-side table; ``kind`` is ``text``, ``num`` (right-aligned, deltas), ``badge`` (a
    status) or ``missing`` (not recorded by any run)."""

    label: str
    cells: list[Cell]
    kind: str = "text"


@dataclass
class SettingCell:
    """A setting in a diff cell: its text, and a shortened text when it is too long to show (whole on hover)."""

    text: str
    short: str = ""


@dataclass
class ConfigDiff:
    """The settings that differ: ``{setting: one cell per run, None where unset}``, in three groups."""

    missing: str = ""
    user: dict[str, list[SettingCell | None]] = field(default_factory=dict)
    user_defaults: dict[str, list[SettingCell | None]] = field(default_factory=dict)
    captured: dict[str, list[SettingCell | None]] = field(default_factory=dict)


def compare_context(views: list[RunView]) -> dict[str, Any]:
    """Everything ``compare.html.j2`` shows of several runs, as plain values."""
    differences = task_differences([task_of(v.summary, v.config, v.report) for v in views])
    lead = "Deltas are against run #1."
    if differences:
        lead += (
            f" These runs differ in task ({'; '.join(differences)}): their numbers do not compare, so no delta is "
            "called better or worse."
        )
    return {
        "views": views,
        "labels": [run_label(i, v) for i, v in enumerate(views)],
        "lead": lead,
        "rows": _rows(views, judge=not differences),
        "config": _config_diff(views),
        "curves": compare_curves(views),
        "problems": [(i + 1, problem) for i, v in enumerate(views) for problem in v.problems],
    }


# ---------------------------------------------------------------------------------------------- side by side


def _delta(name: str, value: float, base: float, views: list[RunView], unit: str, judge: bool) -> Delta:
    delta = value - base
    verdict = better(name, delta, views[0].monitor, views[0].mode) if judge else None
    css = "same" if verdict is None else ("better" if verdict else "worse")
    if not judge and delta != 0:
        css = "unjudged"  # runs of different tasks: a change, neither better nor worse
    word = {"same": "no change", "better": "better", "worse": "worse", "unjudged": "a change (not judged)"}[css]
    sign = "+" if delta > 0 else ""
    text = "\u00b10" if delta == 0 else f"{sign}{fmt.number(delta, _DASH)}{unit}"
    return Delta(css, word, text)


def _numeric_row(
    label: str,
    name: str,
    values: list[float | None],
    views: list[RunView],
    *,
    shown: Callable[[float | None], str] | None = None,
    unit: str = "",
    judge: bool = True,
) -> Row:
    """A row of numbers, each after the first with its delta against the first run's."""
    base = values[0]
    cells = []
    for k, value in enumerate(values):
        text = shown(value) if shown is not None else fmt.number(value, _DASH)
        delta = (
            _delta(name, value, base, views, unit, judge) if k > 0 and value is not None and base is not None else None
        )
        cells.append(Cell(text, delta))
    return Row(label, cells, "num")


def _text_row(label: str, values: list[str]) -> Row:
    return Row(label, [Cell(v) for v in values])


def _early_stop_text(view: RunView) -> str:
    state = view.early_stop
    if state is not None:
        return f"{state.reason} at epoch {state.stopped_epoch}"
    if view.summary is not None and view.summary.early_stopping_triggered:
        return "triggered (reason not recorded)"
    return "no" if view.summary is not None and view.summary.early_stopping else _DASH


def _rows(views: list[RunView], *, judge: bool = True) -> list[Row]:
    summaries = [v.summary for v in views]
    rows = [
        Row("Status", [Cell(v.status) for v in views], "badge"),
        _text_row("Kind", [v.kind for v in views]),
        _text_row("Root name", [v.root_name or _DASH for v in views]),
        _text_row("Model / loss", [f"{v.model_name or _DASH} / {v.loss_function or _DASH}" for v in views]),
        _text_row("Start (UTC)", [fmt.when(v.start_time, _DASH) for v in views]),
        _text_row("End (UTC)", [fmt.when(s.end_time if s else None, _DASH) for s in summaries]),
        _numeric_row(
            "Duration",
            "duration_seconds",
            [s.duration_seconds if s else None for s in summaries],
            views,
            shown=lambda seconds: fmt.duration(seconds, _DASH),
            unit=" s",
            judge=judge,
        ),
        _text_row("Epochs trained", [fmt.number(s.num_epochs_trained if s else None, _DASH) for s in summaries]),
    ]
    monitors = {v.monitor for v in views}
    if len(monitors) == 1 and None not in monitors:
        monitor = views[0].monitor or "value"
        rows.append(_numeric_row(f"Best {monitor}", monitor, [v.best_value for v in views], views, judge=judge))
    else:
        rows.append(
            _text_row("Best value", [f"{v.monitor or _DASH} = {fmt.number(v.best_value, _DASH)}" for v in views])
        )
    rows.append(_text_row("Best epoch", [fmt.number(v.best_epoch, _DASH) for v in views]))
    rows.append(_text_row("Early stop", [_early_stop_text(v) for v in views]))
    rows.append(
        _text_row("Error", [f"{s.error.type}: {s.error.message}" if s and s.error else _DASH for s in summaries])
    )
    tests = [v.test_metrics() for v in views]
    for name in sorted({k for t in tests for k in t}):
        rows.append(_numeric_row(name, name, [t.get(name) for t in tests], views, judge=judge))
    if not any(tests):
        rows.append(Row("Test metrics", [Cell("") for _ in views], "missing"))
    return rows


# ---------------------------------------------------------------------------------------------- configuration


def _config_diff(views: list[RunView]) -> ConfigDiff:
    missing = [f"#{i + 1}" for i, v in enumerate(views) if v.config is None]
    settings = [compared_config(v.config) for v in views]
    user, user_defaults = _differing(settings)
    # When each config was written differs always, and says nothing about the runs.
    listed = {k for s in settings for k in s}  # hparams and trainer settings are in the table above
    chosen, unset = _differing([_without(captured_settings(v.config), "created_at", *listed) for v in views])
    return ConfigDiff(", ".join(missing), user, user_defaults, {**chosen, **unset})


def _differing(
    settings: list[dict[str, Any]],
) -> tuple[dict[str, list[SettingCell | None]], dict[str, list[SettingCell | None]]]:
    """The settings that differ, as ``(set by a run, left unset or at Lightning's defaults by every run)``."""
    chosen: dict[str, list[SettingCell | None]] = {}
    defaults: dict[str, list[SettingCell | None]] = {}
    for key, at_default in compared_settings(settings):
        (defaults if at_default else chosen)[key] = [_setting_cell(s.get(key, _UNSET)) for s in settings]
    return chosen, defaults


def _setting_cell(value: Any) -> SettingCell | None:
    """A setting in a comparison cell: a long value (a ``trainer.callbacks`` JSON) cut, whole on hover."""
    if value is _UNSET:
        return None
    text = fmt.setting(value)
    short = shorten(text)
    return SettingCell(text, "" if short == text else short)


def _without(settings: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k not in keys}
