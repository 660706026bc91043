"""``best``: the best run by a key (default: each run's monitored metric, in its recorded mode); prints its folder,
its best checkpoint, or its JSON. Runs of different tasks are not ranked (:func:`best_run` returns a :class:`Best`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from arccnet_ckpt.cli import output, parser
from arccnet_ckpt.cli.record import run_record
from arccnet_ckpt.cli.select import EXIT_OK, MISSING, NoMatch, check_key, find, resolve_or_note
from arccnet_ckpt.cli.where import Filters, filter_runs, sort_key
from arccnet_ckpt.report import format as fmt
from arccnet_ckpt.runs import Run
from arccnet_ckpt.runs.direction import common_metric_mode, recorded_monitor
from arccnet_ckpt.runs.query import run_task, task_differences


@dataclass
class Best:
    """The best run, the key and mode it was ranked by, and its value."""

    run: Run
    by: str
    mode: str
    value: float

    def document(self, now: datetime, stale_after: timedelta) -> dict[str, Any]:
        """``--print json``."""
        return {
            "schema": "arccnet-ckpt/best",
            "version": output.JSON_VERSION,
            "by": self.by,
            "mode": self.mode,
            "value": self.value,
            "checkpoint": self.run.best_checkpoint,
            "run": run_record(self.run, now, stale_after),
        }


def best_run(
    target: str | None,
    data: str | None,
    filters: Filters,
    *,
    now: datetime,
    stale_after: timedelta,
    by: str | None = None,
    mode: str | None = None,
    with_checkpoint: bool = False,
    warn: Callable[[str], None] = output.message,
) -> Best:
    """The run with the best value of ``by`` among the runs at ``target`` that ``filters`` allow.

    Args:
        target: A data folder, root folder or root name (``None``: the data folder).
        data: The data folder (``--data``).
        filters: The filters, parsed.
        now: The time staleness is judged at.
        stale_after: How long a running run may be silent before it is stale.
        by: The key to compare (default: each run's ``best_metric_value``, in its recorded mode).
        mode: ``max`` or ``min`` (default: the one direction rule, :func:`~arccnet_ckpt.runs.direction.metric_mode`).
        with_checkpoint: Only runs that have a best checkpoint.
        warn: Called with each warning for a person as it is found (before a refusal is raised).

    Raises:
        NoMatch: If no run records the key, or the runs differ in task and no root names the scope.
    """
    if by is not None:
        check_key(by, "--by")
    found = find([target] if target else [], data)
    runs, warnings = filter_runs(found, filters, now, stale_after)
    scored = []
    without_checkpoint = 0
    for run in runs:
        if by is None and recorded_monitor(run)[0] is None:
            continue  # nothing monitored: no best value to rank by
        value = resolve_or_note(run, by or "best_metric_value", found.problems)
        if value is MISSING or sort_key(value)[0] != 0:
            continue
        if with_checkpoint and run.best_checkpoint is None:
            without_checkpoint += 1  # a checkpoint was asked for: the best run that has one
            continue
        scored.append((float(value), run))
    warnings += [f"warning: skipped {path}: {problem}" for path, problem in found.problems]
    for warning in warnings:
        warn(warning)
    if not scored:
        why = f" ({without_checkpoint} that do have no checkpoint)" if without_checkpoint else ""
        what = repr(by) if by else "the best value of a monitored metric"
        raise NoMatch(f"no run records {what} among {len(runs)} run(s){why}")
    ranked_by = by or str(recorded_monitor(scored[0][1])[0])
    for warning in _check_one_task(
        [run for _, run in scored], ranking_by_monitor=by is None, scoped=bool(target or filters.root)
    ):
        warn(warning)
    chosen_mode = common_metric_mode([run for _, run in scored], ranked_by, explicit=mode)
    best_value, best = (max if chosen_mode == "max" else min)(scored, key=lambda vr: vr[0])
    return Best(best, ranked_by, chosen_mode, best_value)


def cmd_best(args: argparse.Namespace) -> int:
    """``best``: print the best run's folder (``--print path``), its best checkpoint (``ckpt``) or its JSON."""
    now, stale_after = datetime.now(timezone.utc), parser.stale_after(args)
    found = best_run(
        args.root_target,
        args.data,
        parser.filters(args, now, default_kind="training"),
        now=now,
        stale_after=stale_after,
        by=args.by,
        mode=args.mode,
        with_checkpoint=args.print == "ckpt",
    )
    if args.print == "ckpt":
        checkpoint = found.run.best_checkpoint
        if checkpoint is None:
            raise NoMatch(f"{found.run.path}: the best run by {found.by} ({fmt.number(found.value)}) has no checkpoint")
        output.write_value(checkpoint)
    elif args.print == "json":
        output.dump_json(found.document(now, stale_after))
    else:
        output.write_value(found.run.path)
    return EXIT_OK


def _check_one_task(runs: list[Run], *, ranking_by_monitor: bool, scoped: bool) -> list[str]:
    """Refuse to rank runs of different tasks (number of classes, class names; the monitor when ranking by it) unless
    a root names the scope, where a warning (returned) is enough.

    Raises:
        NoMatch: When the runs differ in task and no root was given, or differ in the metric ranked by.
    """
    tasks = [run_task(run) for run in runs]
    differences = task_differences(tasks, monitor=ranking_by_monitor)
    if not differences:
        return []
    detail = f"the runs differ in task ({'; '.join(differences)})"
    monitors = {t.monitor for t in tasks if t.monitor}
    if ranking_by_monitor and len(monitors) > 1:
        raise NoMatch(f"{detail}: their best values are of different metrics and are not ranked; pass --by KEY")
    if not scoped:
        raise NoMatch(
            f"{detail}: not ranked, their numbers do not compare; give a ROOT (or --root, --where) that holds runs "
            "of one task"
        )
    return [f"warning: {detail}; ranked anyway within the root given"]
