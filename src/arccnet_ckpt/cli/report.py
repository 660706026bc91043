"""``report RUN…``: the self-contained HTML report of one run, or of several side by side (the page itself is
:mod:`arccnet_ckpt.report.html`'s); ``report --group ID``: the page of a group of runs (:mod:`arccnet_ckpt.report
.group`'s), from the same summary as ``group show``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

from arccnet_ckpt import store
from arccnet_ckpt.cli import output, parser
from arccnet_ckpt.cli.record import loaded
from arccnet_ckpt.cli.select import EXIT_OK, UsageError, find, resolve_run
from arccnet_ckpt.layout import resolve_data_folder, sanitize_segment
from arccnet_ckpt.runs.group_stats import summarise
from arccnet_ckpt.runs.groups import pick_group
from arccnet_ckpt.runs.query import run_task, task_differences


def report_page(
    targets: Sequence[str],
    data: str | None,
    *,
    target: str | None,
    now: datetime,
    stale_after: timedelta,
    warn: Callable[[str], None] = output.message,
) -> tuple[str, str]:
    """The page for the runs ``targets``, and where it goes: ``target``, ``-`` for stdout, or by default
    ``report.html`` in the run folder of a single run.

    Raises:
        UsageError: If several runs are given without ``target``.
        NoMatch: If a run is not found or its summary is invalid.
    """
    from arccnet_ckpt.report import html as html_report

    runs = [loaded(resolve_run(t, data), warn) for t in output.progress(targets, "reading runs")]
    differences = task_differences([run_task(run) for run in runs]) if len(runs) > 1 else []
    if differences:
        warn(f"warning: the runs differ in task ({'; '.join(differences)}): the page shows no better or worse")
    if target is None and len(runs) == 1:
        target = store.join(runs[0].path, html_report.REPORT_FILENAME)
    elif target is None:
        raise UsageError("several runs need -o FILE (e.g. -o compare.html)")
    # The page says stale exactly when ls does.
    return html_report.render_html(runs, now=now, stale_after=stale_after), target


def group_page(
    group_id: str,
    targets: Sequence[str],
    data: str | None,
    *,
    target: str | None,
    now: datetime,
    stale_after: timedelta,
) -> tuple[str, str]:
    """The page of the group ``group_id`` among the runs at ``targets`` (default: the data folder), and where it goes:
    ``target``, ``-`` for stdout, or by default ``<id>.html`` in the current folder (a group has no folder of its own).

    Raises:
        GroupNotFoundError: If no run there records the id (the message ``group show`` gives).
        NoMatch: If a target does not exist.
    """
    from arccnet_ckpt.report.group import render_group_html

    found = find(targets, data)
    output.warn_skipped(found.problems)
    group = pick_group(found.runs, group_id, ", ".join(targets) if targets else resolve_data_folder(data))
    summary = summarise(group.id, group.source, group.runs, now, stale_after)
    return render_group_html(summary), target or f"{sanitize_segment(group.id, fallback='group')}.html"


def cmd_report(args: argparse.Namespace) -> int:
    """``report RUN…`` or ``report --group ID``: write the page (``-o -``: print it)."""
    now = datetime.now(timezone.utc)
    if args.group is not None:
        page, target = group_page(
            args.group, args.runs, args.data, target=args.output or None, now=now, stale_after=parser.stale_after(args)
        )
    elif not args.runs:
        raise UsageError("report needs a RUN (or several), or --group ID")
    else:
        page, target = report_page(
            args.runs, args.data, target=args.output or None, now=now, stale_after=parser.stale_after(args)
        )
    if target == "-":
        sys.stdout.write(page)
        return EXIT_OK
    store.write_text(target, page)
    output.write_line(target)
    return EXIT_OK
