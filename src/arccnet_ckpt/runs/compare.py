"""What differs between two runs, as plain data: the ``diff`` verb's comparison, out of the command line.

:func:`diff_runs` lists the changed config keys (in :func:`~arccnet_ckpt.runs.query.compared_settings`' order), the
metric deltas judged better or worse (by :func:`~arccnet_ckpt.runs.direction.better`, the one direction rule), the
per-class F1 deltas and the package versions; :func:`diff_rows` flattens that into ``(section, key, a, b, delta,
judgement)`` rows for a table or CSV. No torch, no printing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arccnet_ckpt.runs.direction import better, recorded_monitor
from arccnet_ckpt.runs.query import compared_config, compared_settings, flatten

if TYPE_CHECKING:
    from arccnet_ckpt.runs import Run

CONFIG_SECTIONS = ("config", "config at Lightning's defaults")
"""The diff's config rows: what a run set, then what both leave unset or at the Trainer's defaults."""

SECTIONS = (*CONFIG_SECTIONS, "metric", "per-class f1", "package")
"""The sections of :func:`diff_rows`, in order."""

ROW_FIELDS = ("section", "key", "a", "b", "delta", "judgement")
"""The fields of a :func:`diff_rows` row."""

_NEUTRAL = frozenset({"num_epochs_trained", "duration_seconds"})
"""Numbers a diff shows without calling a change better or worse."""


def diff_runs(a: Run, b: Run, *, everything: bool = False, judge: bool = True) -> dict[str, list[dict[str, Any]]]:
    """What differs between two runs, as plain data (the ``diff`` JSON document without its header).

    Config keys come in :func:`~arccnet_ckpt.runs.query.compared_settings`' order, each with ``at_default`` (both runs
    leave it unset or at Lightning's Trainer default). ``judge=False`` (runs of different tasks) leaves every
    ``better`` ``null``.

    Args:
        a: The first run.
        b: The second run; deltas are ``b - a``.
        everything: Also the keys, metrics, classes and packages that did not change.
        judge: Call each metric change better or worse.

    Returns:
        ``{"config": [...], "metrics": [...], "per_class_f1": [...], "packages": [...]}``.
    """
    conf_a, conf_b = compared_config(a.config), compared_config(b.config)
    config = [
        {"key": k, "a": conf_a.get(k), "b": conf_b.get(k), "at_default": at_default}
        for k, at_default in compared_settings([conf_a, conf_b], everything=everything)
    ]
    numbers_a, numbers_b = _numbers(a), _numbers(b)
    metrics = []
    for name in sorted(set(numbers_a) | set(numbers_b)):
        va, vb = numbers_a.get(name), numbers_b.get(name)
        if not everything and va == vb:
            continue
        delta = vb - va if va is not None and vb is not None else None
        judged = None
        if judge and delta is not None and name not in _NEUTRAL:
            judged = better(name, delta, *recorded_monitor(b))
        metrics.append({"name": name, "a": va, "b": vb, "delta": delta, "better": judged})
    f1_a = {n: m.f1 for n, m in ((a.report.per_class or {}) if a.report else {}).items()}
    f1_b = {n: m.f1 for n, m in ((b.report.per_class or {}) if b.report else {}).items()}
    per_class = []
    for name in [*f1_a, *(n for n in f1_b if n not in f1_a)]:
        va, vb = f1_a.get(name), f1_b.get(name)
        if not everything and va == vb:
            continue
        delta = vb - va if va is not None and vb is not None else None
        per_class.append(
            {
                "class": name,
                "a": va,
                "b": vb,
                "delta": delta,
                "better": better("f1", delta) if judge and delta is not None else None,
            }
        )
    env_a = _packages(a)
    env_b = _packages(b)
    packages = [
        {"package": k, "a": env_a.get(k), "b": env_b.get(k)}
        for k in sorted(set(env_a) | set(env_b))
        if everything or env_a.get(k) != env_b.get(k)
    ]
    return {"config": config, "metrics": metrics, "per_class_f1": per_class, "packages": packages}


def _numbers(run: Run) -> dict[str, float]:
    summary = run.summary
    out: dict[str, float] = {}
    if summary is not None:
        if summary.monitor and summary.best_metric_value is not None:
            out[f"best_{summary.monitor}"] = summary.best_metric_value
        if summary.duration_seconds is not None:
            out["duration_seconds"] = summary.duration_seconds
        out["num_epochs_trained"] = float(summary.num_epochs_trained)
        out.update({k: v for k, v in summary.test_results.items() if v is not None})
    report = run.report
    if report is not None:
        out.update({k: v for k, v in report.test_metrics.items() if v is not None and k not in out})
        if report.accuracy is not None:
            out.setdefault("accuracy", report.accuracy)
    return out


def _packages(run: Run) -> dict[str, Any]:
    config = run.config
    if config is None or config.environment is None:
        return {}
    env = flatten(config.environment.model_dump(mode="json"))
    return {k: v for k, v in env.items() if k not in ("argv", "hostname", "platform")}


def diff_rows(changes: dict[str, list[dict[str, Any]]]) -> list[list[Any]]:
    """:func:`diff_runs`' result as rows of :data:`ROW_FIELDS`, in :data:`SECTIONS` order; the judgement is
    ``"better"``, ``"worse"`` or ``None``."""
    rows: list[list[Any]] = []
    for item in changes["config"]:
        rows.append([CONFIG_SECTIONS[item["at_default"]], item["key"], item["a"], item["b"], None, None])
    for item in changes["metrics"]:
        rows.append(["metric", item["name"], item["a"], item["b"], item["delta"], _judgement(item["better"])])
    for item in changes["per_class_f1"]:
        rows.append(["per-class f1", item["class"], item["a"], item["b"], item["delta"], _judgement(item["better"])])
    for item in changes["packages"]:
        rows.append(["package", item["package"], item["a"], item["b"], None, None])
    return rows


def _judgement(value: bool | None) -> str | None:
    return None if value is None else ("better" if value else "worse")
