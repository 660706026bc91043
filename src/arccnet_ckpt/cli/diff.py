"""``diff A B``: what changed between two runs, as sectioned tables, JSON, JSON Lines or CSV.

The comparison itself is :func:`arccnet_ckpt.runs.compare.diff_runs`; :func:`diff_two` reads the two runs and returns
a :class:`Difference` that :func:`arccnet_ckpt.cli.output.render` prints.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from arccnet_ckpt.cli import output
from arccnet_ckpt.cli.record import loaded
from arccnet_ckpt.cli.select import EXIT_OK, resolve_run
from arccnet_ckpt.runs import Run
from arccnet_ckpt.runs.compare import CONFIG_SECTIONS, ROW_FIELDS, SECTIONS, diff_rows, diff_runs
from arccnet_ckpt.runs.query import run_task, shorten, task_differences


@dataclass
class Difference(output.Rendered):
    """Two runs and what differs between them (:func:`~arccnet_ckpt.runs.compare.diff_runs`' result)."""

    a: Run
    b: Run
    task_differences: list[str]
    """How the runs differ in task: their metrics are then shown, not judged better or worse."""
    changes: dict[str, list[dict[str, Any]]]

    def document(self) -> dict[str, Any]:
        return {
            "schema": "arccnet-ckpt/diff",
            "a": self.a.path,
            "b": self.b.path,
            "task_differences": self.task_differences,
            **self.changes,
        }

    def lines(self) -> Iterator[dict[str, Any]]:
        return (dict(zip(ROW_FIELDS, row, strict=True)) for row in diff_rows(self.changes))

    def csv(self) -> tuple[list[str], list[list[Any]]]:
        return list(ROW_FIELDS), diff_rows(self.changes)

    def text(self, colour: bool) -> None:
        rows = diff_rows(self.changes)
        output.write_line(f"a: {self.a.path}")
        output.write_line(f"b: {self.b.path}")
        if not rows:
            sys.stdout.write("no differences\n")
        for section in SECTIONS:
            part = [row[1:] for row in rows if row[0] == section]
            if not part:
                continue
            sys.stdout.write(f"\n{section}\n")
            if section in (*CONFIG_SECTIONS, "package"):  # settings: long values cut, no delta
                output.table(["KEY", "A", "B"], [[r[0], _short(r[1]), _short(r[2])] for r in part], colour=colour)
                continue
            styles = [[None, None, None, r[4], r[4]] for r in part]
            output.table(
                ["KEY", "A", "B", "DELTA", ""],
                [[*r[:3], f"{r[3]:+.4g}" if isinstance(r[3], float) else r[3], r[4] or ""] for r in part],
                styles=styles,
                colour=colour,
            )


def _short(value: Any) -> Any:
    """A setting as a table cell: a long value (a ``trainer.callbacks`` JSON) cut to about 60 characters."""
    return shorten(output.cell(value)) if isinstance(value, (str, list, dict)) else value


def diff_two(
    a: str, b: str, data: str | None, *, everything: bool = False, warn: Callable[[str], None] = output.message
) -> Difference:
    """What differs between the runs ``a`` and ``b`` (folders, ``.ckpt`` files or unique name prefixes).

    Runs of different tasks are compared without judging a change better or worse (a warning says so). ``warn`` is
    called with each warning for a person as it is found.

    Raises:
        NoMatch: If a run is not found or its summary is invalid.
        UsageError: If a prefix matches several runs.
    """
    run_a, run_b = (loaded(resolve_run(t, data), warn) for t in (a, b))
    differences = task_differences([run_task(run_a), run_task(run_b)])
    if differences:
        warn(
            f"warning: the runs differ in task ({'; '.join(differences)}): their metrics are shown, not judged "
            "better or worse"
        )
    changes = diff_runs(run_a, run_b, everything=everything, judge=not differences)
    return Difference(run_a, run_b, differences, changes)


def cmd_diff(args: argparse.Namespace) -> int:
    """``diff A B``: changed config keys, metric deltas judged better or worse, per-class F1, package versions."""
    difference = diff_two(args.a, args.b, args.data, everything=args.all)
    output.render(difference, args.format)
    return EXIT_OK
