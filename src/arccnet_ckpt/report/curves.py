"""Which training curves a page draws, from ``history.json``: the run's charts and the comparison's.

* the metrics worth a curve (:func:`_curve_names`: ``X_epoch`` dropped where it repeats ``X``);
* how they group into charts (:func:`_families`: losses, scores in 0..1, each other metric, learning rates last);
* the x axis (epochs, or global steps when some epoch validated more than once) and the epoch markers;
* why a run has no curves (:func:`_no_history`), in words the page shows.

Drawing is :mod:`~arccnet_ckpt.report.svg`'s; this module only chooses. Nothing here imports torch or Jinja2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup

from arccnet_ckpt.records import History
from arccnet_ckpt.report.svg import STOP_DASH, Marker, Series, colour, line_chart
from arccnet_ckpt.report.view import RunView


@dataclass
class Curves:
    """A section of charts: the charts, or why there are none; ``lead`` names the runs without a history."""

    charts: list[Markup] = field(default_factory=list)
    missing: str = ""
    lead: str = ""


def run_curves(view: RunView) -> Curves:
    """The charts of one run: one per family of metrics, with the best-epoch and early-stop markers."""
    history = view.history
    if view.kind == "evaluation" and (history is None or not history.entries):
        return Curves(missing="Not recorded: an evaluation run has no training history.")
    if history is None:
        return Curves(missing=_no_history(view))
    steps = _uses_steps(history)
    values = {name: [v for _, v in history.series(name)] for name in _curve_names(history)}
    if not values:
        return Curves(missing="Not recorded: history.json holds no metric values.")
    x_label = "global step" if steps else "epoch"
    markers = _run_markers(view, history, steps)
    charts = []
    for title, names in _families(values):
        series = [
            Series(name, _series_points(history, name, steps), colour(i), dashed=name.lower().startswith("train"))
            for i, name in enumerate(names)
        ]
        charts.append(line_chart(series, markers, x_label, title))
    return Curves(charts)


def compare_curves(views: list[RunView]) -> Curves:
    """One chart per metric recorded by two or more of the runs, a series per run in the run's colour."""
    histories = [(i, v, v.history) for i, v in enumerate(views) if v.history is not None and v.history.entries]
    without = [f"#{i + 1}" for i, v in enumerate(views) if v.history is None or not v.history.entries]
    lead = f"No history recorded for {', '.join(without)}." if without else ""
    steps = any(_uses_steps(h) for _, _, h in histories)
    owners: dict[str, list[int]] = {}
    for i, _, history in histories:
        for name in _curve_names(history):
            owners.setdefault(name, []).append(i)
    monitor = views[0].monitor
    shared = sorted((n for n, who in owners.items() if len(who) >= 2), key=lambda n: _curve_order(n, monitor))
    if not shared:
        return Curves(missing="No metric is recorded by two or more of these runs.", lead=lead)
    charts = []
    for name in shared:
        series = [
            Series(run_label(i, v), _series_points(h, name, steps), colour(i))
            for i, v, h in histories
            if i in owners[name]
        ]
        charts.append(line_chart(series, [], "global step" if steps else "epoch", name))
    return Curves(charts, lead=lead)


def run_label(index: int, view: RunView) -> str:
    """``#2 <run name>``: a run as the comparison names it."""
    return f"#{index + 1} {view.name}"


def _curve_order(name: str, monitor: str | None) -> tuple[int, str]:
    """The monitored metric first, then losses, other metrics, and learning rates last."""
    if name == monitor:
        return (0, name)
    if _is_lr(name):
        return (3, name)
    return (1 if "loss" in name.lower() else 2, name)


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


def _run_markers(view: RunView, history: History, steps: bool) -> list[Marker]:
    markers = []
    if view.kind != "evaluation":
        best = _x_of_epoch(history, view.best_epoch, steps)
        if best is not None:
            markers.append(Marker(best, f"best epoch ({view.best_epoch})", "best"))
        state = view.early_stop
        stop = _x_of_epoch(history, state.stopped_epoch if state is not None else None, steps)
        if stop is not None and state is not None:
            markers.append(Marker(stop, f"early stop (epoch {state.stopped_epoch})", "stop", STOP_DASH))
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


def _no_history(view: RunView) -> str:
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
