"""``prune``: move failed, old or surplus runs (or their weights) to the trash; a dry run unless ``--yes``.

:func:`prune` plans (:func:`arccnet_ckpt.cli.planning.plan`), moves when asked (:func:`arccnet_ckpt.cli.trash
.move_to_trash`), and returns a :class:`Pruned` that :func:`arccnet_ckpt.cli.output.render` prints.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from arccnet_ckpt import store
from arccnet_ckpt.cli import output, parser
from arccnet_ckpt.cli.planning import KeepRules, Plan, plan
from arccnet_ckpt.cli.select import (
    EXIT_OK,
    EXIT_PROBLEMS,
    Found,
    NoMatch,
    UsageError,
    check_key,
    find,
    parse_duration,
)
from arccnet_ckpt.cli.trash import move_to_trash
from arccnet_ckpt.cli.where import Filters, filter_runs
from arccnet_ckpt.report import format as fmt


@dataclass
class Pruned(output.Rendered):
    """What ``prune`` moved (or would move with ``--yes``), what it left and why, and the trash entries it made."""

    planned: Plan
    what: str
    dry_run: bool
    entries: list[str]
    failed: bool
    """Whether an item could not be moved (it is among the skipped ones, with the reason)."""

    def document(self) -> dict[str, Any]:
        planned = self.planned
        return {
            "schema": "arccnet-ckpt/prune",
            "dry_run": self.dry_run,
            "what": self.what,
            "bytes": planned.size,
            "items": [{"path": i.path, "run": i.run.path, "what": i.what, "bytes": i.size} for i in planned.items],
            "skipped": [{"path": p, "reason": r} for p, r in planned.skipped],
            "unreadable": [{"path": p, "problem": r} for p, r in planned.unknown],
            "trash": self.entries,
        }

    def _rows(self) -> list[list[Any]]:
        action = "would move" if self.dry_run else "moved"
        rows = [[i.path, i.what, i.size, action] for i in self.planned.items]
        return rows + [[p, "skipped", 0, r] for p, r in self.planned.skipped]

    def lines(self) -> Iterator[dict[str, Any]]:
        return (dict(zip(("path", "what", "bytes", "action"), r, strict=True)) for r in self._rows())

    def csv(self) -> tuple[list[str], list[list[Any]]]:
        return ["path", "what", "bytes", "action"], self._rows()

    def text(self, colour: bool) -> None:
        planned = self.planned
        rows = [[i.run.name, i.run.status, i.what, fmt.human_bytes(i.size), i.path] for i in planned.items]
        if rows:
            output.table(["RUN", "STATUS", "WHAT", "SIZE", "PATH"], rows, colour=colour)
        for path, reason in planned.skipped:
            output.write_line(f"left {path}: {reason}")
        for path, problem in planned.unknown:
            output.message(f"warning: {path} cannot be read ({problem}): --yes will refuse to move anything")
        summary = f"{'would move' if self.dry_run else 'moved'} {len(planned.items)} item(s), "
        summary += fmt.human_bytes(planned.size)
        if not self.dry_run and self.entries:
            undo = "; ".join(
                f"arccnet-ckpt trash restore {store.basename(e)} --data {store.dirname(store.dirname(e))}"
                for e in self.entries
            )
            summary += f" to {', '.join(self.entries)} (undo: {undo})"
        elif self.dry_run and planned.items:
            summary += " (dry run: add --yes to move them to the trash)"
        output.message(summary)


def prune(
    targets: Sequence[str],
    data: str | None,
    filters: Filters,
    *,
    rules: KeepRules,
    older_than: timedelta | None,
    what: str,
    yes: bool,
    now: datetime,
    stale_after: timedelta,
    warn: Callable[[str], None] = output.message,
) -> Pruned:
    """Plan what to move among the runs at ``targets``, and with ``yes`` move it into a new trash entry.

    The keep rules compare against every run of the same roots, not only the ones ``filters`` picked; ``older_than``
    only narrows the candidates.

    Args:
        targets: Data folders, root folders or root names (none: the data folder).
        data: The data folder (``--data``).
        filters: The filters, parsed.
        rules: The keep rules.
        older_than: Only runs started longer ago.
        what: ``run`` (the whole run folder) or ``weights`` (its ``.ckpt`` files).
        yes: Move (else a dry run).
        now: The time staleness and ages are judged at.
        stale_after: How long a running run may be silent before it is stale.
        warn: Called with each warning for a person as it is found.

    Raises:
        UsageError: For no rule at all, or ``--keep-best`` without ``--by``.
        NoMatch: With ``yes``, when a run folder cannot be read (which checkpoints it resumed from is unknown).
    """
    if rules.best and not rules.by:
        raise UsageError("--keep-best N needs --by KEY (e.g. --keep-best 3 --by test_f1)")
    if rules.by:
        check_key(rules.by, "--by")
    narrowed = bool(filters.statuses or older_than is not None or filters.wheres or filters.since)
    if not (rules.any or narrowed):
        raise UsageError(
            "prune needs a rule: a keep rule (--keep-best N --by KEY, --keep-last N, --keep-within 14d) or a "
            "narrowing (--status failed,interrupted, --older-than 30d, --where ...)"
        )
    found = find(targets, data)
    scope, warnings = filter_runs(found, filters, now, stale_after)
    candidates = scope
    if older_than is not None:
        candidates = [r for r in scope if r.start_time is not None and r.start_time < now - older_than]
    for warning in [*warnings, *(f"warning: skipped {p}: {m}" for p, m in found.problems)]:
        warn(warning)
    scope_for_rules = scope
    if filters.statuses or filters.wheres or filters.since:
        # The same scan, filtered again without the narrowing (its problems were reported above).
        wide = Filters(kind=filters.kind, root=filters.root, model=filters.model, loss=filters.loss)
        scope_for_rules, _ = filter_runs(Found(found.runs, []), wide, now, stale_after)
    planned = plan(candidates, scope_for_rules, rules=rules, what=what, now=now, stale_after=stale_after)
    if yes and planned.items and planned.unknown:
        path, why = planned.unknown[0]
        raise NoMatch(
            f"nothing moved: {len(planned.unknown)} run folder(s) cannot be read, so which checkpoints they resumed "
            f"from is unknown ({path}: {why}); fix or remove them first (arccnet-ckpt verify lists them)"
        )
    entries, failed = move_to_trash(planned.items, now) if yes and planned.items else ([], [])
    if failed:  # left in place, as a skipped item is, with the reason
        unmoved = {id(item) for item, _ in failed}
        planned.items = [item for item in planned.items if id(item) not in unmoved]
        planned.skipped += [(item.path, why) for item, why in failed]
    return Pruned(planned, what, not yes, entries, bool(failed))


def cmd_prune(args: argparse.Namespace) -> int:
    """``prune``: move runs (or their weights) to the trash; a dry run unless ``--yes``."""
    now = datetime.now(timezone.utc)
    within = parse_duration(args.keep_within, "--keep-within") if args.keep_within else None
    rules = KeepRules(args.keep_best or 0, args.by, args.mode, args.keep_last or 0, within)
    older_than = parse_duration(args.older_than, "--older-than") if args.older_than else None
    pruned = prune(
        args.targets,
        args.data,
        parser.filters(args, now, default_kind=None),
        rules=rules,
        older_than=older_than,
        what=args.what,
        yes=args.yes,
        now=now,
        stale_after=parser.stale_after(args),
    )
    output.render(pruned, args.format)
    return EXIT_PROBLEMS if pruned.failed else EXIT_OK
