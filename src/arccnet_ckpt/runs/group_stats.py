"""The statistics of a group of runs, read from their folders: :func:`summarise` returns a :class:`GroupSummary`.

The aggregation a five-fold script writes by hand: each test metric's mean, standard deviation (``ddof=0`` as numpy's
``std``, and ``ddof=1`` as ``std_sample``), minimum and maximum; the same per class and for the macro and weighted
averages of the runs' ``classification_report.json``; the mean and summed confusion matrices, and the report of the
summed matrix (``pooled``, :func:`~arccnet_ckpt.metrics.report.compute_report`). Plain Python (``math.fsum``): no
numpy, no torch.

Which runs count (:func:`included`): the ``completed`` ones. Any other run (failed, interrupted, running, stale,
incomplete) is listed under ``left_out`` with its status and reason, and a note says so. Class statistics need every
counted run's report to name the same classes; when they disagree, they are ``null`` with the reason in
``classes_note``, and the scalar metrics are still summarised.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import Field

from arccnet_ckpt.core.lifecycle import DEFAULT_STALE_AFTER
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.metrics.report import compute_report
from arccnet_ckpt.records import ClassificationReport, ClassMetrics, ClassScores, matrix_names
from arccnet_ckpt.records.base import _Record

if TYPE_CHECKING:
    from arccnet_ckpt.runs.run import Run

GROUP_SUMMARY_VERSION = 1
"""The version of :class:`GroupSummary`'s JSON; bumped only when a field changes meaning."""

COUNTED_STATUS = "completed"
"""The status of the runs the statistics are computed over."""

_CLASS_FIELDS = ("precision", "recall", "f1", "support", "roc_auc", "average_precision", "tss", "hss")
_AVERAGE_FIELDS = ("precision", "recall", "f1", "support")
_NUMBERED_FROM_ZERO = ("argument", "process", "hydra_multirun")
"""The sources whose first index is 0 (``missing`` counts from it); a SLURM array's first task id is its own."""


class Stats(_Record):
    """One number over the runs that record it, in the group's order."""

    n: int = Field(description="how many runs record it")
    mean: float
    std: float = Field(description="population standard deviation (ddof=0), as numpy's std")
    std_sample: float | None = Field(description="sample standard deviation (ddof=1); null for a single value")
    min: float
    max: float
    values: list[float] = Field(description="each run's value, in the group's order (runs without it left out)")


def describe(values: Sequence[float]) -> Stats | None:
    """:class:`Stats` of ``values`` (finite numbers), or ``None`` when there are none.

    Example:
        >>> describe([0.8, 0.9]).std, describe([0.8, 0.9]).std_sample
        (0.04999999999999999, 0.07071067811865474)
    """
    if not values:
        return None
    n = len(values)
    mean = math.fsum(values) / n
    squares = math.fsum((v - mean) ** 2 for v in values)
    return Stats(
        n=n,
        mean=mean,
        std=math.sqrt(squares / n),
        std_sample=math.sqrt(squares / (n - 1)) if n > 1 else None,
        min=min(values),
        max=max(values),
        values=list(values),
    )


class ClassStats(_Record):
    """One class's numbers over the runs; a field no run records is ``null``."""

    precision: Stats | None = None
    recall: Stats | None = None
    f1: Stats | None = None
    support: Stats | None = None
    roc_auc: Stats | None = None
    average_precision: Stats | None = None
    tss: Stats | None = None
    hss: Stats | None = None


class AverageStats(_Record):
    """The macro or weighted average's numbers over the runs."""

    precision: Stats | None = None
    recall: Stats | None = None
    f1: Stats | None = None
    support: Stats | None = None


class PooledReport(_Record):
    """The per-class report of the summed confusion matrix: every test sample of every run counted once."""

    per_class: dict[str, ClassScores]
    accuracy: float
    macro_avg: ClassMetrics
    weighted_avg: ClassMetrics
    num_samples: int


class RunRow(_Record):
    """One run of the group, as the summary lists it."""

    run: str = Field(description="the run folder's name")
    path: str
    index: int | None
    status: str = Field(description="the status every reader shows (stale, incomplete included)")
    counted: bool = Field(description="whether the statistics count this run")
    best_epoch: int | None = None
    best_value: float | None = None
    duration_seconds: float | None = None
    test_results: dict[str, float | None] = Field(default_factory=dict)


class LeftOutRun(_Record):
    """A run the statistics do not count, and why."""

    run: str
    index: int | None
    status: str
    reason: str


class GroupSummary(_Record):
    """A group of runs summarised: what ``Group.summary()`` returns and ``arccnet-ckpt group show`` prints."""

    schema_version: int = GROUP_SUMMARY_VERSION
    id: str
    source: str | None = Field(description="argument, slurm_array, torchelastic, hydra_multirun, process; null alone")
    singleton: bool = Field(description="a group of one run (a legacy run without a group is one too)")
    root_names: list[str]
    model_names: list[str]
    loss_functions: list[str]
    runs_total: int
    runs_completed: int
    status_counts: dict[str, int]
    missing: list[int] = Field(
        description="indices no run holds, up to the largest held: from 0 (argument, process, hydra_multirun) or "
        "from the smallest held (a SLURM array's task ids)"
    )
    left_out: list[LeftOutRun] = Field(description="the runs the statistics do not count (failed ones included)")
    notes: list[str] = Field(default_factory=list, description="what a reader should know, one sentence each")
    monitor: str | None = None
    mode: str | None = None
    best_value: Stats | None = Field(default=None, description="the monitored metric's best value")
    best_epoch: Stats | None = None
    duration_seconds: Stats | None = None
    test_metrics: dict[str, Stats] = Field(default_factory=dict, description="every metric of the runs' test_results")
    class_names: list[str] | None = None
    classes_note: str | None = Field(default=None, description="why the class statistics are null")
    per_class: dict[str, ClassStats] | None = None
    accuracy: Stats | None = None
    macro_avg: AverageStats | None = None
    weighted_avg: AverageStats | None = None
    confusion_matrix_mean: list[list[float]] | None = None
    confusion_matrix_sum: list[list[int]] | None = None
    pooled: PooledReport | None = None
    runs: list[RunRow]


# ------------------------------------------------------------------------------------------------------ the rules


def included(
    runs: Sequence[Run], now: datetime, stale_after: timedelta = DEFAULT_STALE_AFTER
) -> tuple[list[Run], list[LeftOutRun], dict[str, str]]:
    """The runs the statistics count (the completed ones), the others with why, and every run's status by path
    (:meth:`~arccnet_ckpt.runs.Run.status_at` ``now``)."""
    counted: list[Run] = []
    left_out: list[LeftOutRun] = []
    statuses: dict[str, str] = {}
    for run in runs:
        status = run.status_at(now, stale_after)
        statuses[run.path] = status
        if status == COUNTED_STATUS:
            counted.append(run)
            continue
        summary = run.summary
        error = summary.error if summary is not None else None
        reason = f"{status}: {error.type}: {error.message}" if error is not None else status
        group = run.group
        left_out.append(LeftOutRun(run=run.name, index=group.index if group else None, status=status, reason=reason))
    return counted, left_out, statuses


def summarise(
    group_id: str,
    source: str | None,
    runs: Sequence[Run],
    now: datetime,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> GroupSummary:
    """The :class:`GroupSummary` of ``runs`` (in the group's order), reading each counted run's report.

    Args:
        group_id: The group's id.
        source: Where the group came from (``None`` for a run without one).
        runs: The group's runs, in index order.
        now: The time the statuses are judged at.
        stale_after: How long a running run may be silent before it is stale.
    """
    counted, left_out, statuses = included(runs, now, stale_after)
    notes = (
        [f"{len(left_out)} of {len(runs)} run(s) left out of the statistics: {_names(left_out)}"] if left_out else []
    )
    notes += _index_notes(runs)
    summaries = [s for run in counted if (s := run.summary) is not None]
    monitors = sorted({s.monitor for s in summaries if s.monitor})
    if len(monitors) > 1:
        notes.append(f"the runs monitor different metrics ({', '.join(monitors)}): no best_value statistics")
    monitor, best = best_value_stats(counted)
    fields: dict[str, Any] = {
        "monitor": monitor,
        "mode": next((s.mode for s in summaries if s.monitor == monitor), None) if monitor else None,
        "best_value": best,
        "best_epoch": describe(_present(s.best_epoch for s in summaries)),
        "duration_seconds": describe(_present(s.duration_seconds for s in summaries)),
        "test_metrics": _test_metrics(counted),
    }
    fields.update(_class_statistics(counted, notes))
    return GroupSummary(
        id=group_id,
        source=source,
        singleton=len(runs) == 1,
        root_names=sorted({r for run in runs if (r := run.root_name)}),
        model_names=sorted({m for run in runs if (m := run.model_name)}),
        loss_functions=sorted({m for run in runs if (m := run.loss_function)}),
        runs_total=len(runs),
        runs_completed=len(counted),
        status_counts=dict(Counter(statuses.values())),
        missing=_missing(runs, source),
        left_out=left_out,
        notes=notes,
        runs=[_row(run, statuses[run.path], statuses[run.path] == COUNTED_STATUS) for run in runs],
        **fields,
    )


def main_test_stats(runs: Sequence[Run], metric: str | None) -> Stats | None:
    """The statistics of one test metric over ``runs`` (those that record it)."""
    if metric is None:
        return None
    return describe(_present(s.test_results.get(metric) for run in runs if (s := run.summary) is not None))


def best_value_stats(runs: Sequence[Run]) -> tuple[str | None, Stats | None]:
    """The monitored metric and its best values' statistics over ``runs``; ``(None, None)`` when they disagree."""
    summaries = [s for run in runs if (s := run.summary) is not None]
    monitors = {s.monitor for s in summaries if s.monitor}
    if len(monitors) != 1:
        return None, None
    return next(iter(monitors)), describe(_present(s.best_metric_value for s in summaries))


# ------------------------------------------------------------------------------------------------------- helpers


def _present(values: Any) -> list[float]:
    """The finite numbers among ``values`` (a NaN is recorded as ``null``; booleans are not numbers)."""
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def _names(left_out: Sequence[LeftOutRun]) -> str:
    return "; ".join(f"{r.run} (index {r.index}, {r.reason})" for r in left_out)


def _missing(runs: Sequence[Run], source: str | None) -> list[int]:
    """The indices no run holds: from 0 where the source numbers its runs from 0, else from the smallest index held
    (a SLURM array's task ids start where ``--array`` says), to the largest."""
    held = {g.index for run in runs if (g := run.group) is not None and g.index is not None}
    if not held:
        return []
    first = 0 if source in _NUMBERED_FROM_ZERO else min(held)
    return sorted(set(range(first, max(held) + 1)) - held)


def _index_notes(runs: Sequence[Run]) -> list[str]:
    """A note for each index two runs hold (a group id reused, e.g. the same ``group=`` in two scripts)."""
    holders: dict[int, list[str]] = {}
    for run in runs:
        group = run.group
        if group is not None and group.index is not None:
            holders.setdefault(group.index, []).append(run.name)
    return [
        f"index {index} is held by {len(names)} runs ({', '.join(names)}): the id was reused; all are counted"
        for index, names in sorted(holders.items())
        if len(names) > 1
    ]


def _test_metrics(runs: Sequence[Run]) -> dict[str, Stats]:
    keys = sorted({key for run in runs if (s := run.summary) is not None for key in s.test_results})
    out = {}
    for key in keys:
        stats = main_test_stats(runs, key)
        if stats is not None:
            out[key] = stats
    return out


def _row(run: Run, status: str, counted: bool) -> RunRow:
    summary = run.summary
    group = run.group
    return RunRow(
        run=run.name,
        path=run.path,
        index=group.index if group is not None else None,
        status=status,
        counted=counted,
        best_epoch=summary.best_epoch if summary is not None else None,
        best_value=summary.best_metric_value if summary is not None else None,
        duration_seconds=summary.duration_seconds if summary is not None else None,
        test_results=dict(summary.test_results) if summary is not None else {},
    )


def _reports(runs: Sequence[Run], notes: list[str]) -> list[tuple[Run, ClassificationReport]]:
    """Each counted run's report that has one set of per-class numbers; the others are noted."""
    out = []
    without = []
    for run in runs:
        try:
            report = run.report
        except ArcCkptError as e:
            notes.append(f"{run.name}: its report cannot be read, so its classes are not counted: {e}")
            continue
        if report is None or report.per_class is None:
            why = report.per_class_note if report is not None and report.per_class_note else "no per-class report"
            without.append(f"{run.name} ({why})")
            continue
        out.append((run, report))
    if without and out:
        notes.append(f"class statistics over {len(out)} run(s); without a per-class report: {'; '.join(without)}")
    return out


def _class_statistics(runs: Sequence[Run], notes: list[str]) -> dict[str, Any]:
    """``class_names``, ``per_class``, the averages, the matrices and ``pooled``; or ``classes_note`` alone."""
    reports = _reports(runs, notes)
    if not reports:
        return {"classes_note": "no counted run has a per-class report (classification_report.json)"}
    names = [matrix_names(report) for _, report in reports]
    if any(n != names[0] for n in names[1:]):
        listed = "; ".join(f"{run.name}: {len(n)} classes {n}" for (run, _), n in zip(reports, names, strict=True))
        return {
            "classes_note": f"the runs disagree on the class names or their number ({listed}): per-class statistics "
            "and confusion matrices need the same classes in every run; the scalar metrics are summarised"
        }
    classes = names[0]
    fields: dict[str, Any] = {
        "class_names": classes,
        "per_class": {
            name: ClassStats(**_field_stats([(report.per_class or {})[name] for _, report in reports], _CLASS_FIELDS))
            for name in classes
            if all(name in (report.per_class or {}) for _, report in reports)
        },
        "accuracy": describe(_present(report.accuracy for _, report in reports)),
        "macro_avg": _average(reports, "macro_avg"),
        "weighted_avg": _average(reports, "weighted_avg"),
    }
    matrices = [report.confusion_matrix for _, report in reports]
    if any(m is None or len(m) != len(classes) for m in matrices):
        lacking = [run.name for (run, _), m in zip(reports, matrices, strict=True) if m is None]
        fields["classes_note"] = f"no confusion-matrix statistics: {', '.join(lacking)} record(s) no confusion matrix"
        return fields
    size = len(classes)
    total = [[sum(m[i][j] for m in matrices if m is not None) for j in range(size)] for i in range(size)]
    count = len(matrices)
    fields["confusion_matrix_sum"] = total
    fields["confusion_matrix_mean"] = [
        [math.fsum(float(m[i][j]) for m in matrices if m is not None) / count for j in range(size)] for i in range(size)
    ]
    pooled = compute_report(total, classes)
    pooled.pop("confusion_matrix")
    fields["pooled"] = PooledReport(**pooled)
    return fields


def _field_stats(records: Sequence[Any], names: Sequence[str]) -> dict[str, Stats | None]:
    return {name: describe(_present(getattr(record, name, None) for record in records)) for name in names}


def _average(reports: Sequence[tuple[Run, ClassificationReport]], key: str) -> AverageStats | None:
    records = [avg for _, report in reports if (avg := getattr(report, key)) is not None]
    return AverageStats(**_field_stats(records, _AVERAGE_FIELDS)) if records else None
