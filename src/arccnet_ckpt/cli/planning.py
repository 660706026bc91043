"""``prune``'s plan: what may move to the trash, and what is left alone and why.

- the keep rules (:class:`KeepRules`, :func:`kept`): a union, applied per root name;
- never a running run that is alive or has a fresh heartbeat (``core.lifecycle.status_of``);
- never a checkpoint that another run resumed from or tested (:func:`referenced_checkpoints`, by resolved path);
- never a whole run folder that holds other runs (:func:`_runs_inside`: the folds of a loop that shared a ``dirpath``);
- never anything reached through a symbolic link below the data folder or resolving outside it
  (:func:`arccnet_ckpt.store.not_safely_below`);
- the data folder of a run (:func:`data_folder_for`): above ``checkpoints/<its recorded root name>``.

Moving is :mod:`arccnet_ckpt.cli.trash`'s; every file-system touch is :mod:`arccnet_ckpt.store`'s.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from arccnet_ckpt import store
from arccnet_ckpt.cli.select import MISSING, data_folder_of, resolve_or_note
from arccnet_ckpt.cli.where import sort_key
from arccnet_ckpt.core.lifecycle import status_of
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.layout import CHECKPOINTS_DIRNAME, root_folder
from arccnet_ckpt.records import TrainingSummary
from arccnet_ckpt.report import format as fmt
from arccnet_ckpt.runs import Run, scan_runs
from arccnet_ckpt.runs.direction import common_metric_mode


@dataclass
class Item:
    """One thing prune moves: a run folder or one checkpoint file."""

    path: str
    run: Run
    what: str
    size: int


@dataclass
class Plan:
    """What prune would move, and what it left alone and why."""

    items: list[Item] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    """Run folders whose summaries cannot be read: what they resumed from is unknown, so nothing may move."""

    @property
    def size(self) -> int:
        """Bytes the items hold."""
        return sum(item.size for item in self.items)


@dataclass(frozen=True)
class KeepRules:
    """The keep rules of ``prune``, combined as a union, applied per root name."""

    best: int = 0
    by: str | None = None
    mode: str | None = None
    last: int = 0
    within: timedelta | None = None

    @property
    def any(self) -> bool:
        """Whether any rule is set."""
        return bool(self.best or self.last or self.within)


def kept(runs: list[Run], rules: KeepRules, now: datetime) -> dict[str, str]:
    """``{run path: why it is kept}`` under ``rules``, each rule applied within each root name."""
    reasons: dict[str, str] = {}
    groups: dict[str | None, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.root_name, []).append(run)
    for group in groups.values():
        if rules.best and rules.by:
            scored = [(resolve_or_note(run, rules.by, []), run) for run in group]
            scored = [(v, r) for v, r in scored if v is not MISSING and sort_key(v)[0] == 0]
            mode = common_metric_mode([r for _, r in scored], rules.by, explicit=rules.mode)
            scored.sort(key=lambda vr: sort_key(vr[0]), reverse=mode == "max")
            for value, run in scored[: rules.best]:
                reasons.setdefault(run.path, f"one of the {rules.best} best by {rules.by} ({fmt.number(value)})")
        if rules.last:
            newest = sorted(group, key=lambda r: r.start_time or datetime.min.replace(tzinfo=timezone.utc))
            for run in newest[-rules.last :]:
                reasons.setdefault(run.path, f"one of the {rules.last} most recent")
        if rules.within is not None:
            for run in group:
                start = run.start_time
                if start is not None and now - start <= rules.within:
                    reasons.setdefault(run.path, f"started within {rules.within}")
    return reasons


@dataclass
class References:
    """The checkpoints runs name (``resumed_from``, ``resumes``, ``tested_checkpoint``), by resolved path, and the
    runs whose summaries could not be read (whose references are unknown)."""

    users: dict[str, dict[str, str]] = field(default_factory=dict)
    """``{resolved checkpoint path: {run path: "resumed from" | "tested"}}``."""
    unknown: list[tuple[str, str]] = field(default_factory=list)

    def by(self, path: str, *, other_than: str) -> dict[str, str]:
        """``{run: how}`` for the runs other than ``other_than`` that name the checkpoint at ``path``."""
        named = self.users.get(store.resolved(path), {})
        return {run: how for run, how in named.items() if run != other_than}

    def inside(self, folder: str, *, other_than: str) -> dict[str, dict[str, str]]:
        """``{checkpoint: {run: how}}`` for the checkpoints inside ``folder`` that runs other than ``other_than``
        name."""
        if self._below is None:  # each folder above a named checkpoint -> those checkpoints, built once
            self._below = {}
            for path in self.users:
                parent = _parent(path)
                while parent and parent != path:
                    self._below.setdefault(parent, []).append(path)
                    path, parent = parent, _parent(parent)
        found = {}
        for path in self._below.get(store.resolved(folder), []):
            others = {run: how for run, how in self.users[path].items() if run != other_than}
            if others:
                found[path] = others
        return found

    _below: dict[str, list[str]] | None = field(default=None, repr=False)


def _parent(path: str) -> str:
    return posixpath.dirname(path) if store.is_remote(path) else os.path.dirname(path)


def referenced_checkpoints(runs: list[Run], problems: list[tuple[str, str]] | None = None) -> References:
    """What every run in ``runs`` names as its starting or tested checkpoint (see :class:`References`).

    A relative reference is resolved against its own run folder, as the package records it (older versions wrote
    it as given; it is still taken from the run folder, never matched by file name).
    """
    refs = References(unknown=list(problems or []))
    for run in runs:
        try:
            summary = run.summary
        except ArcCkptError as e:
            refs.unknown.append((run.path, str(e)))
            continue
        for ref, how in _references(summary):
            if store.is_remote(ref) or os.path.isabs(ref):
                path = ref
            else:
                path = store.join(run.path, *ref.replace("\\", "/").split("/"))
            refs.users.setdefault(store.resolved(path), {}).setdefault(run.path, how)
    return refs


def _references(summary: TrainingSummary | None) -> list[tuple[str, str]]:
    if summary is None:
        return []
    found = [(summary.resumed_from, "resumed from"), *((r.checkpoint, "resumed from") for r in summary.resumes)]
    found.append((summary.tested_checkpoint, "tested"))
    found.extend((e.checkpoint, "tested") for e in summary.evaluations)  # every test, not only the headline's
    return [(ref, how) for ref, how in found if ref]


def _because(users: dict[str, str]) -> str:
    """``the checkpoint that <run> resumed from``, joined with ``and that <run> tested`` for several runs."""
    return "the checkpoint " + " and ".join(f"that {run} {how}" for run, how in users.items())


def plan(
    candidates: list[Run],
    scope: list[Run],
    *,
    rules: KeepRules,
    what: str,
    now: datetime,
    stale_after: timedelta,
) -> Plan:
    """What ``prune`` moves among ``candidates``, given every run in ``scope`` (for keep rules and references)."""
    keep = kept(scope, rules, now)
    everything, unreadable = _whole_data_folders(scope)
    refs = referenced_checkpoints(everything, unreadable)
    result = Plan(unknown=refs.unknown)
    for run in candidates:
        try:
            summary = run.summary
        except Exception as e:
            result.skipped.append((run.path, f"its summary cannot be read ({e}); fix or remove it by hand"))
            continue
        data = data_folder_for(run)
        if data is None:
            result.skipped.append((run.path, f"not under a <data>/{CHECKPOINTS_DIRNAME} folder: no trash for it"))
            continue
        why = store.not_safely_below(run.path, data)
        if why is not None:
            result.skipped.append((run.path, why))
            continue
        if status_of(summary, now, stale_after) == "running":
            result.skipped.append((run.path, "running (not stale: its heartbeat is fresh, or its process is alive)"))
            continue
        if run.path in keep:
            result.skipped.append((run.path, f"a keep rule: {keep[run.path]}"))
            continue
        if what == "run":
            nested = _runs_inside(run.path, everything)
            if nested:  # a fold loop that shared its dirpath: each fold is a run of its own, moved only by itself
                names = ", ".join(store.basename(path) for path in nested)
                result.skipped.append((run.path, f"it holds other runs ({names}): prune those first"))
                continue
            users = refs.inside(run.path, other_than=run.path)
            if users:
                path, named = next(iter(users.items()))
                result.skipped.append((run.path, f"{store.basename(path)} is {_because(named)}"))
                continue
            result.items.append(Item(run.path, run, "run", store.tree_size(run.path)))
            continue
        for ckpt in run.checkpoints:
            why = store.not_safely_below(ckpt, data)
            named = refs.by(ckpt, other_than=run.path)
            if why is not None:
                result.skipped.append((ckpt, why))
            elif named:
                result.skipped.append((ckpt, _because(named)))
            else:
                result.items.append(Item(ckpt, run, "weights", store.tree_size(ckpt)))
    return result


def _runs_inside(folder: str, runs: list[Run]) -> list[str]:
    """The runs nested in run folder ``folder`` (a fit into a ``dirpath`` another run held), by path."""
    prefix = folder.rstrip("/\\") + ("/" if store.is_remote(folder) else os.sep)
    return sorted(run.path for run in runs if run.path.startswith(prefix))


def data_folder_for(run: Run) -> str | None:
    """The data folder ``run`` sits in: the folder above ``checkpoints/<its recorded root name>/<run>``.

    A root name that itself held a ``checkpoints`` segment (refused since) would make the last ``checkpoints``
    segment of the path the wrong one; the recorded root name tells them apart. Runs that record none fall back to
    the last ``checkpoints`` segment.
    """
    try:
        recorded = run.summary.root_name if run.summary is not None else None
    except ArcCkptError:
        recorded = None
    parent = store.dirname(run.path).replace("\\", "/").rstrip("/")
    if recorded:
        suffix = f"/{CHECKPOINTS_DIRNAME}/{recorded.strip('/')}"
        if parent.endswith(suffix):
            return parent[: -len(suffix)] or "/"
    return data_folder_of(run.path)


def _whole_data_folders(scope: list[Run]) -> tuple[list[Run], list[tuple[str, str]]]:
    """Every run in the data folders of ``scope`` (another root's run may have resumed from one of ours), and the
    run folders there that could not be read."""
    everything = {run.path: run for run in scope}
    unreadable: list[tuple[str, str]] = []
    for data in sorted({d for d in (data_folder_for(r) for r in scope) if d}):
        runs, problems = scan_runs(root_folder(data, None))
        unreadable.extend(problems)
        for run in runs:
            everything.setdefault(run.path, run)
    return list(everything.values()), unreadable
