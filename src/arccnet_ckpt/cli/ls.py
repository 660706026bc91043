"""``ls``: list runs, filtered and sorted, as a table, JSON, JSON Lines or CSV.

:func:`list_runs` returns a :class:`Listing` (the runs, their records and rows, the problems and warnings);
:func:`cmd_ls` hands it to :func:`arccnet_ckpt.cli.output.render`. The named columns are :data:`_COLUMNS`; any other
column is a key :func:`~arccnet_ckpt.cli.select.resolve` looks up.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from arccnet_ckpt.cli import output, parser
from arccnet_ckpt.cli.record import run_record, shown_status
from arccnet_ckpt.cli.select import (
    COLUMN_KEYS,
    EXIT_OK,
    EXIT_PROBLEMS,
    MISSING,
    UsageError,
    check_key,
    find,
    main_test_metric,
    resolve_or_note,
)
from arccnet_ckpt.cli.where import Filters, filter_runs, sort_key
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.runs import Run

_DEFAULT_COLUMNS = ("run", "status", "start", "epochs", "best", "test")


@dataclass
class Listing(output.Rendered):
    """What ``ls`` lists: each run with its :func:`~arccnet_ckpt.cli.record.run_record` and its row of ``columns``."""

    columns: list[str]
    requested: bool
    """Whether ``--cols`` named the columns (JSON then carries them as ``columns``)."""
    runs: list[tuple[Run, dict[str, Any], list[Any]]]
    """``(run, record, row)``: the row as a table shows it (CSV and JSON carry it raw: see :func:`_raw`)."""
    problems: list[tuple[str, str]]
    warnings: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {
            "schema": "arccnet-ckpt/runs",
            "runs": list(self.lines()),
            "unreadable": [{"path": p, "problem": m} for p, m in self.problems],
        }

    def lines(self) -> Iterator[dict[str, Any]]:
        for run, record, row in self.runs:
            if self.requested:
                yield {**record, "columns": dict(zip(self.columns, _raw(run, record, self.columns, row), strict=True))}
            else:
                yield record

    def csv(self) -> tuple[list[str], list[list[Any]]]:
        return self.columns, [_raw(run, record, self.columns, row) for run, record, row in self.runs]

    def text(self, colour: bool) -> None:
        if not self.runs:  # no match: no header either (stderr says so)
            return
        styles = [
            [shown_status(record) if c == "status" else None for c in self.columns] for _, record, *_ in self.runs
        ]
        titles = [c.upper() if c in _NAMED else c for c in self.columns]  # keys stay as typed: config.LEARNING_RATE
        output.table(titles, [row for *_, row in self.runs], styles=styles, colour=colour)

    @property
    def exit_code(self) -> int:
        """1 when no run matched."""
        return EXIT_OK if self.runs else EXIT_PROBLEMS


def list_runs(
    targets: Sequence[str],
    data: str | None,
    filters: Filters,
    *,
    now: datetime,
    stale_after: timedelta,
    sort: str | None = None,
    limit: int | None = None,
    cols: str | None = None,
) -> Listing:
    """The runs at ``targets`` that ``filters`` allow, sorted by ``sort`` (``KEY[:asc|desc]``), at most ``limit``.

    Args:
        targets: Data folders, root folders or root names (none: the data folder).
        data: The data folder (``--data``).
        filters: The filters, parsed.
        now: The time staleness is judged at.
        stale_after: How long a running run may be silent before it is stale.
        sort: The key to sort by, with ``:desc`` for the largest first.
        limit: At most this many runs.
        cols: Comma-separated columns or keys (default: run, status, start, epochs, best, test; root too when the
            runs come from several roots, group when a run listed is in a group of several).

    Raises:
        UsageError: For a malformed column, sort key or order.
        NoMatch: If a target does not exist.
    """
    columns = [c.strip() for c in cols.split(",")] if cols else list(_DEFAULT_COLUMNS)
    for c in columns:
        check_key(c, "--cols")
    found = find(targets, data)
    runs, warnings = filter_runs(found, filters, now, stale_after)
    runs = _sorted(runs, sort, found.problems, warnings)
    if limit is not None:
        runs = runs[:limit]
    records = _records(runs, now, stale_after, found.problems)
    if not cols and len({r["root_name"] for _, r in records}) > 1:
        columns.insert(1, "root")
    groups = group_labels(found.runs)  # every run found, so a filtered listing still knows a group's size
    if not cols and any(run.path in groups for run, _ in records):
        columns.insert(columns.index("status"), "group")
    rows = [(run, record, _row(run, record, columns, found.problems, groups)) for run, record in records]
    warnings += [f"warning: skipped {path}: {problem}" for path, problem in found.problems]
    for name in columns if cols and rows else []:
        if name not in _NAMED and all(resolve_or_note(run, name, []) is MISSING for run, *_ in rows):
            warnings.append(f"warning: --cols {name}: no run records this key")
    if not rows:
        warnings.append("no run matches")
    return Listing(columns, bool(cols), rows, found.problems, warnings)


def cmd_ls(args: argparse.Namespace) -> int:
    """``ls``: list runs, filtered, sorted, in columns or as JSON/JSONL/CSV."""
    now = datetime.now(timezone.utc)
    listing = list_runs(
        args.targets,
        args.data,
        parser.filters(args, now, default_kind=None),
        now=now,
        stale_after=parser.stale_after(args),
        sort=args.sort,
        limit=args.limit,
        cols=args.cols,
    )
    output.render(listing, args.format)
    for warning in listing.warnings:
        output.message(warning)
    return listing.exit_code


def _best_cell(run: Run, record: dict[str, Any]) -> str | None:
    if record["monitor"] is None or record["best_value"] is None:
        return None
    epoch = f" @{record['best_epoch']}" if record["best_epoch"] is not None else ""
    return f"{record['monitor']} {output.cell(record['best_value'])}{epoch}"


def _test_cell(run: Run, record: dict[str, Any]) -> str | None:
    key = main_test_metric(run.summary) if record["test_results"] else None
    return f"{key} {output.cell(record['test_results'][key])}" if key else None


_COLUMNS: dict[str, Callable[[Run, dict[str, Any]], Any]] = {
    "run": lambda run, record: record["run"],
    "root": lambda run, record: record["root_name"],
    "status": lambda run, record: shown_status(record),
    "start": lambda run, record: record["start_time"],
    "epochs": lambda run, record: record["epochs"],
    "best": _best_cell,
    "test": _test_cell,
    "path": lambda run, record: record["path"],
    "checkpoint": lambda run, record: run.best_checkpoint,
}
"""The named columns of ``ls``; any other column is a key :func:`select.resolve` looks up."""

_NAMED = {*_COLUMNS, "group"}
"""The named columns, ``group`` included (its cell needs every run found: :func:`group_labels`)."""


def group_labels(runs: Sequence[Run]) -> dict[str, str]:
    """``ls``'s ``group`` cell of each run in a group of several (``hale-cv#2``: the id and the index), by path; a
    run alone in its group (a legacy run too) has none: it is shown as an ordinary run."""
    sizes: dict[str, int] = {}
    for run in runs:
        group = run.group
        if group is not None:
            sizes[group.id] = sizes.get(group.id, 0) + 1
    labels = {}
    for run in runs:
        group = run.group
        if group is not None and sizes[group.id] > 1:
            labels[run.path] = group.id if group.index is None else f"{group.id}#{group.index}"
    return labels


def _column(
    run: Run, record: dict[str, Any], name: str, problems: list[tuple[str, str]], groups: dict[str, str]
) -> Any:
    """A column of ``ls``: ``group``, one of :data:`_COLUMNS`, else any key :func:`select.resolve` knows."""
    if name == "group":
        return groups.get(run.path)
    named = _COLUMNS.get(name)
    if named is not None:
        return named(run, record)
    value = resolve_or_note(run, name, problems)
    return None if value is MISSING else value


def _row(
    run: Run, record: dict[str, Any], columns: list[str], problems: list[tuple[str, str]], groups: dict[str, str]
) -> list[Any]:
    return [_column(run, record, name, problems, groups) for name in columns]


def _raw(run: Run, record: dict[str, Any], columns: list[str], row: list[Any]) -> list[Any]:
    """A table row as CSV and JSON carry it: raw values (``best`` and ``test`` as numbers, not ``val_f1 0.9 @3``)."""
    return [
        record["best_value"] if name == "best" else _value_of("test", run) if name == "test" else value
        for name, value in zip(columns, row, strict=True)
    ]


def _value_of(key: str, run: Run) -> Any:
    value = COLUMN_KEYS[key](run)
    return None if value is MISSING else value


def _sorted(runs: list[Run], spec: str | None, problems: list[tuple[str, str]], warnings: list[str]) -> list[Run]:
    """``runs`` in the order of ``--sort KEY[:asc|desc]``; runs without the key last, whichever the order."""
    if not spec:
        return runs
    key, _, order = spec.partition(":")
    if order not in ("", "asc", "desc"):
        raise UsageError(f"--sort {spec!r}: the order after ':' must be asc or desc")
    check_key(key, "--sort")
    values = {run.path: resolve_or_note(run, key, problems) for run in runs}
    if runs and all(v is MISSING for v in values.values()):
        warnings.append(f"warning: --sort {key}: no run records this key")
    present = [r for r in runs if sort_key(values[r.path])[0] < 2]
    missing = [r for r in runs if sort_key(values[r.path])[0] == 2]
    present.sort(key=lambda r: sort_key(values[r.path]), reverse=order == "desc")
    return present + missing  # runs without the key last, whichever the order


def _records(
    runs: list[Run], now: datetime, stale_after: timedelta, problems: list[tuple[str, str]]
) -> list[tuple[Run, dict[str, Any]]]:
    """Each run with its :func:`run_record`; a run whose record needs a file that cannot be read is a problem."""
    records = []
    for run in runs:
        try:
            records.append((run, run_record(run, now, stale_after)))
        except ArcCkptError as e:
            problems.append((run.path, str(e)))
    return records
