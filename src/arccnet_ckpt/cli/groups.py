"""``groups`` and ``group show``: groups of runs (folds, sweeps) listed, and one group summarised.

:func:`list_groups` returns a :class:`GroupListing` (one row per group: runs, root, model, mean ± std of the
monitored metric's best value and of the main test metric); :func:`show_group` returns a :class:`GroupShown` (the
:class:`~arccnet_ckpt.runs.group_stats.GroupSummary` as tables, or its JSON). Both hand their result to
:func:`arccnet_ckpt.cli.output.render`. Which runs are one group is :func:`~arccnet_ckpt.runs.groups.group_runs`'
rule, and the statistics are :mod:`~arccnet_ckpt.runs.group_stats`'.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from arccnet_ckpt.cli import output, parser
from arccnet_ckpt.cli.select import EXIT_OK, EXIT_PROBLEMS, UsageError, find, main_test_metric
from arccnet_ckpt.cli.where import Filters, filter_runs
from arccnet_ckpt.layout import resolve_data_folder
from arccnet_ckpt.runs.group_stats import GroupSummary, Stats, best_value_stats, included, main_test_stats, summarise
from arccnet_ckpt.runs.groups import Group, group_runs, pick_group

_CSV_COLUMNS = (
    "group",
    "source",
    "runs_completed",
    "runs_total",
    "root",
    "model",
    "monitor",
    "best_mean",
    "best_std",
    "test_metric",
    "test_mean",
    "test_std",
    "start_time",
)


@dataclass
class GroupRow:
    """One group as ``groups`` lists it."""

    group: Group
    status_counts: dict[str, int]
    completed: int
    monitor: str | None
    best: Stats | None
    test_metric: str | None
    test: Stats | None

    def record(self) -> dict[str, Any]:
        """The stable JSON shape of one group in ``groups`` output."""
        group = self.group
        return {
            "id": group.id,
            "source": group.source,
            "singleton": group.singleton,
            "runs_total": len(group.runs),
            "runs_completed": self.completed,
            "status_counts": self.status_counts,
            "root_names": sorted({r for run in group.runs if (r := run.root_name)}),
            "model_names": sorted({m for run in group.runs if (m := run.model_name)}),
            "start_time": group.start_time,
            "monitor": self.monitor,
            "best_value": _stats_dict(self.best),
            "test_metric": self.test_metric,
            "test": _stats_dict(self.test),
            "runs": [run.name for run in group.runs],
        }


@dataclass
class GroupListing(output.Rendered):
    """What ``groups`` lists: one :class:`GroupRow` per group, and the run folders it could not read."""

    rows: list[GroupRow]
    problems: list[tuple[str, str]]
    warnings: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {
            "schema": "arccnet-ckpt/groups",
            "groups": list(self.lines()),
            "unreadable": [{"path": p, "problem": m} for p, m in self.problems],
        }

    def lines(self) -> Iterator[dict[str, Any]]:
        return (row.record() for row in self.rows)

    def csv(self) -> tuple[list[str], list[list[Any]]]:
        out = []
        for row in self.rows:
            record = row.record()
            out.append(
                [
                    row.group.id,
                    row.group.source,
                    row.completed,
                    len(row.group.runs),
                    ",".join(record["root_names"]),
                    ",".join(record["model_names"]),
                    row.monitor,
                    row.best.mean if row.best else None,
                    row.best.std if row.best else None,
                    row.test_metric,
                    row.test.mean if row.test else None,
                    row.test.std if row.test else None,
                    record["start_time"],
                ]
            )
        return list(_CSV_COLUMNS), out

    def text(self, colour: bool) -> None:
        if not self.rows:
            return
        rows = []
        for row in self.rows:
            record = row.record()
            rows.append(
                [
                    row.group.id,
                    row.group.source or "-",
                    f"{row.completed}/{len(row.group.runs)}",
                    ",".join(record["root_names"]) or None,
                    ",".join(record["model_names"]) or None,
                    _mean_std(row.monitor, row.best),
                    _mean_std(row.test_metric, row.test),
                ]
            )
        output.table(["GROUP", "SOURCE", "RUNS", "ROOT", "MODEL", "BEST", "TEST"], rows, colour=colour)

    @property
    def exit_code(self) -> int:
        """1 when no group matched."""
        return EXIT_OK if self.rows else EXIT_PROBLEMS


def list_groups(
    targets: Sequence[str],
    data: str | None,
    filters: Filters,
    *,
    now: datetime,
    stale_after: timedelta,
    singletons: bool = False,
) -> GroupListing:
    """The groups of the runs at ``targets``, oldest first: a group is listed, whole, when one of its runs passes
    ``filters``; a group of one run only with ``singletons``.

    Only each run's ``training_summary.json`` is read: the rows come from the summaries (status, best value, test
    results), over the group's completed runs.

    Raises:
        NoMatch: If a target does not exist.
        UsageError: For a malformed filter.
    """
    found = find(targets, data)
    matched, warnings = filter_runs(found, filters, now, stale_after)
    kept = {run.path for run in matched} if filters.narrowing else None
    rows = []
    for group in group_runs(found.runs):
        if group.singleton and not singletons:
            continue
        if kept is not None and not any(run.path in kept for run in group.runs):
            continue
        counted, _, statuses = included(group.runs, now, stale_after)
        monitor, best = best_value_stats(counted)
        metric = next((m for run in counted if (m := main_test_metric(run.summary))), None)
        counts: dict[str, int] = {}
        for status in statuses.values():
            counts[status] = counts.get(status, 0) + 1
        rows.append(GroupRow(group, counts, len(counted), monitor, best, metric, main_test_stats(counted, metric)))
    warnings += [f"warning: skipped {path}: {problem}" for path, problem in found.problems]
    if not rows:
        hidden = "" if singletons else " (groups of one run are hidden: add --all to list them)"
        warnings.append(f"no group matches{hidden}")
    return GroupListing(rows, found.problems, warnings)


def cmd_groups(args: argparse.Namespace) -> int:
    """``groups``: list groups of runs, filtered, in columns or as JSON/JSONL/CSV."""
    now = datetime.now(timezone.utc)
    listing = list_groups(
        args.targets,
        args.data,
        parser.filters(args, now, default_kind=None),
        now=now,
        stale_after=parser.stale_after(args),
        singletons=args.all,
    )
    output.render(listing, args.format)
    for warning in listing.warnings:
        output.message(warning)
    return listing.exit_code


# ------------------------------------------------------------------------------------------------------ group show


@dataclass
class GroupShown(output.Rendered):
    """One group summarised, as ``group show`` prints it."""

    summary: GroupSummary

    def document(self) -> dict[str, Any]:
        return {"schema": "arccnet-ckpt/group", **self.summary.model_dump(mode="json")}

    def text(self, colour: bool) -> None:
        _summary_text(self.summary, colour)


def show_group(group_id: str, data: str | None, *, now: datetime, stale_after: timedelta) -> GroupShown:
    """The group ``group_id`` under the data folder, summarised (each completed run's report read).

    Raises:
        GroupNotFoundError: If no run records the id.
    """
    found = find([], data)
    output.warn_skipped(found.problems)
    group = pick_group(found.runs, group_id, resolve_data_folder(data))
    return GroupShown(summarise(group.id, group.source, group.runs, now, stale_after))


def cmd_group(args: argparse.Namespace) -> int:
    """``group show ID``: one group's statistics as tables, or its ``GroupSummary`` as JSON."""
    if args.action != "show":  # pragma: no cover - the parser offers only show
        raise UsageError(f"group {args.action!r}: the only action is show")
    shown = show_group(args.group, args.data, now=datetime.now(timezone.utc), stale_after=parser.stale_after(args))
    output.render(shown, args.format)
    return EXIT_OK


def _summary_text(s: GroupSummary, colour: bool) -> None:
    counts = ", ".join(f"{status} {n}" for status, n in sorted(s.status_counts.items()))
    lines: list[tuple[str, str | list[tuple[str, str | None]]]] = [
        ("group", f"{s.id} ({s.source or 'a run alone'})"),
        ("runs", f"{s.runs_completed} of {s.runs_total} completed ({counts})"),
        ("root", ", ".join(s.root_names) or "-"),
        ("model / loss", f"{', '.join(s.model_names) or '-'} / {', '.join(s.loss_functions) or '-'}"),
    ]
    if s.missing:
        lines.append(("missing indices", ", ".join(map(str, s.missing))))
    lines.extend(("left out", [(f"{r.run} (index {r.index}): ", None), (r.reason, r.status)]) for r in s.left_out)
    lines.extend(("note", note) for note in s.notes[1 if s.left_out else 0 :])  # the first says what "left out" does
    output.key_values(lines, colour=colour)

    metrics = sorted({m for row in s.runs for m in row.test_results})
    best_title = f"best {s.monitor}" if s.monitor else "best"
    sys.stdout.write("\n")
    output.table(
        ["RUN", "INDEX", "STATUS", "BEST EPOCH", best_title, *metrics],
        [
            [r.run, r.index, r.status, r.best_epoch, r.best_value, *(r.test_results.get(m) for m in metrics)]
            for r in s.runs
        ],
        styles=[[None, None, r.status, *([None] * (3 + len(metrics)))] for r in s.runs],
        colour=colour,
    )

    named = [(best_title, s.best_value), ("best_epoch", s.best_epoch), ("duration_seconds", s.duration_seconds)]
    named += list(s.test_metrics.items())
    rows = [[name, x.mean, x.std, x.std_sample, x.min, x.max, x.n] for name, x in named if x is not None]
    if rows:
        sys.stdout.write(f"\nover the {s.runs_completed} completed run(s); STD: ddof=0 (numpy's), SAMPLE STD: ddof=1\n")
        output.table(["METRIC", "MEAN", "STD", "SAMPLE STD", "MIN", "MAX", "N"], rows, colour=colour)

    if s.classes_note:
        sys.stdout.write("\n")
        output.write_line(f"classes: {s.classes_note}")
    if s.per_class:
        fields = [f for f in ("precision", "recall", "f1", "support", "roc_auc", "tss") if _any_field(s, f)]
        table_rows = [[name, *(_pm(getattr(c, f)) for f in fields)] for name, c in s.per_class.items()]
        for label, avg in (("macro avg", s.macro_avg), ("weighted avg", s.weighted_avg)):
            if avg is not None:
                table_rows.append([label, *(_pm(getattr(avg, f, None)) for f in fields)])
        sys.stdout.write("\nper class, mean ± std over the runs\n")
        output.table(["CLASS", *(f.upper() for f in fields)], table_rows, colour=colour)
        if s.accuracy is not None:
            output.write_line(f"accuracy {_pm(s.accuracy)} over {s.accuracy.n} run(s)")
    names = s.class_names or []
    matrices: list[tuple[str, Sequence[Sequence[float]] | None]] = [
        (f"confusion matrix, mean of {s.runs_completed} run(s)", s.confusion_matrix_mean),
        ("confusion matrix, sum", s.confusion_matrix_sum),
    ]
    for title, matrix in matrices:
        if matrix is not None:
            sys.stdout.write("\n")
            output.write_line(f"{title} (rows: true class, columns: predicted)")
            output.table(["TRUE \\ PRED", *names], [[names[i], *row] for i, row in enumerate(matrix)], colour=colour)
    if s.pooled is not None:
        pooled = s.pooled
        sys.stdout.write(f"\npooled: the report of the summed matrix ({pooled.num_samples} samples)\n")
        pooled_rows: list[list[Any]] = [
            [n, m.precision, m.recall, m.f1, m.support] for n, m in pooled.per_class.items()
        ]
        for name, averaged in (("macro avg", pooled.macro_avg), ("weighted avg", pooled.weighted_avg)):
            pooled_rows.append([name, averaged.precision, averaged.recall, averaged.f1, averaged.support])
        output.table(["CLASS", "PRECISION", "RECALL", "F1", "SUPPORT"], pooled_rows, colour=colour)
        output.write_line(f"accuracy {output.cell(pooled.accuracy)}")


def _any_field(summary: GroupSummary, name: str) -> bool:
    return any(getattr(c, name) is not None for c in (summary.per_class or {}).values())


def _pm(stats: Stats | None) -> str | None:
    """``0.8591 ± 0.04898``: a mean and its standard deviation (ddof=0)."""
    return f"{output.cell(stats.mean)} ± {output.cell(stats.std)}" if stats is not None else None


def _mean_std(name: str | None, stats: Stats | None) -> str | None:
    if name is None or stats is None:
        return None
    return f"{name} {_pm(stats)}"


def _stats_dict(stats: Stats | None) -> dict[str, Any] | None:
    return stats.model_dump() if stats is not None else None
