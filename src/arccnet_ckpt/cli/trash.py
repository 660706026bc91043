"""``prune`` and ``trash``: removing runs or their weights safely, into a trash folder that can be restored.

Removed items are moved (a rename on a local disk) to ``<data>/.trash/<id>/items/<n>/``, beside a ``manifest.json``
naming where each came from. Where each rule lives:

- what may move (:func:`plan`): never a running run that is alive or has a fresh heartbeat (``status.status_of``),
  never a checkpoint that another run resumed from or tested (:func:`referenced_checkpoints`, by resolved path),
  and never anything reached through a symbolic link below the data folder or resolving outside it
  (:func:`outside`);
- the data folder of a run (:func:`data_folder_for`): above ``checkpoints/<its recorded root name>``;
- the write-ahead manifest (:func:`move_to_trash`): each item is recorded as ``moving`` before it moves and as
  ``moved`` after, so a prune killed at any moment leaves an entry that :func:`restore` can undo;
- putting back and deleting (:func:`restore`, :func:`empty`): only what the manifest accounts for, and only paths
  that stay inside the entry (``stored``) and inside ``<data>/checkpoints`` (``original``);
- every local move and deletion (:func:`_move`, :func:`_delete`, :func:`_clear`): through folder descriptors opened
  one name at a time from the data folder without following a link (:func:`_folder`), so a folder swapped for a link
  between a check and the move is refused, never followed.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import posixpath
import secrets
import shutil
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from arccnet_ckpt import store
from arccnet_ckpt.cli.select import MISSING, NoMatch, UsageError, data_folder_of, resolve_or_note, sort_key
from arccnet_ckpt.core.status import status_of
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.layout import CHECKPOINTS_DIRNAME, root_folder
from arccnet_ckpt.records import TrainingSummary
from arccnet_ckpt.runs import Run, read_bounded, scan_runs, unreadable_reason
from arccnet_ckpt.runs.query import common_metric_mode

TRASH_DIRNAME = ".trash"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 2
"""Version 2 adds each item's ``state`` (``moving`` before its move, ``moved`` after); version 1 items were moved."""


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
                reasons.setdefault(run.path, f"one of the {rules.best} best by {rules.by} ({value:.4g})")
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
        named = self.users.get(_resolved(path), {})
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
        for path in self._below.get(_resolved(folder), []):
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
            refs.users.setdefault(_resolved(path), {}).setdefault(run.path, how)
    return refs


def _references(summary: TrainingSummary | None) -> list[tuple[str, str]]:
    if summary is None:
        return []
    found = [(summary.resumed_from, "resumed from"), *((r.checkpoint, "resumed from") for r in summary.resumes)]
    found.append((summary.tested_checkpoint, "tested"))
    found.extend((e.checkpoint, "tested") for e in summary.evaluations)  # every test, not only the headline's
    return [(ref, how) for ref, how in found if ref]


def _resolved(path: str) -> str:
    """A path as references are compared: local ones resolved (symbolic links, ``..``), URLs normalised."""
    if store.is_remote(path):
        scheme, _, rest = path.partition("://")
        return f"{scheme}://{posixpath.normpath(rest)}"
    return os.path.realpath(path)


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
        why = outside(run.path, data)
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
            users = refs.inside(run.path, other_than=run.path)
            if users:
                path, named = next(iter(users.items()))
                result.skipped.append((run.path, f"{store.basename(path)} is {_because(named)}"))
                continue
            result.items.append(Item(run.path, run, "run", _size(run.path)))
            continue
        for ckpt in run.checkpoints:
            why = outside(ckpt, data)
            named = refs.by(ckpt, other_than=run.path)
            if why is not None:
                result.skipped.append((ckpt, why))
            elif named:
                result.skipped.append((ckpt, _because(named)))
            else:
                result.items.append(Item(ckpt, run, "weights", _size(ckpt)))
    return result


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


def outside(path: str, folder: str) -> str | None:
    """Why ``path`` may not be moved or deleted as part of ``folder``, or ``None`` when it may.

    It may not when it is not below ``folder`` (after ``..`` is resolved), when a symbolic link lies on the way
    from ``folder`` down to it (``path`` included: a link is never followed, so what it points to is never moved),
    or when it resolves outside ``folder``. ``folder`` itself may be a link (a data folder on another mount).
    """
    if store.is_remote(path) or store.is_remote(folder):
        base, target = _resolved(folder).rstrip("/"), _resolved(path)
        return None if target.startswith(base + "/") else f"outside {folder}: never moved or deleted"
    base, target = os.path.abspath(folder), os.path.abspath(path)
    rel = os.path.relpath(target, base)
    if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return f"outside {folder}: never moved or deleted"
    current = base
    for part in rel.split(os.sep):
        current = os.path.join(current, part)
        if os.path.islink(current):
            return (
                f"{current} is a symbolic link (to {os.readlink(current)}): prune and trash never follow one, "
                "so nothing is moved or deleted through it"
            )
    real = os.path.realpath(target)
    if os.path.relpath(real, os.path.realpath(base)).startswith(os.pardir):
        return f"resolves to {real}, outside {folder}: never moved or deleted"
    return None


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


def _size(path: str) -> int:
    if store.is_remote(path):
        fs, stripped = store._fs(path)
        try:
            return int(fs.du(stripped))
        except (FileNotFoundError, OSError):
            return 0
    try:
        if not os.path.isdir(path) or os.path.islink(path):
            return os.lstat(path).st_size
    except OSError:
        return 0
    total = 0
    for folder, _, files in os.walk(path):  # os.walk does not enter linked folders; lstat does not follow links
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


# ------------------------------------------------------------------------------------------------------ the trash


def trash_folder(data: str) -> str:
    """``<data>/.trash``."""
    return store.join(data, TRASH_DIRNAME)


def move_to_trash(items: list[Item], now: datetime) -> tuple[list[str], list[tuple[Item, str]]]:
    """Move ``items`` into one new trash entry per data folder.

    Write-ahead: each item is recorded in ``manifest.json`` as ``moving`` before it moves, and as ``moved`` in the
    next write (the one that records the next item's intent, or the last). Killed at any moment, the entry accounts
    for everything that left its place; :func:`restore` puts back what is there and drops what never left.

    An item that cannot be moved (a folder on its way became a symbolic link, or the rename failed) is left where it
    is, dropped from the manifest, and returned with the reason; the others go on.

    Returns:
        The entries' folders, and ``(item, why)`` for each item left in place.

    Raises:
        UsageError: If an item has no data folder, or the trash folder is reached through a symbolic link.
    """
    by_data: dict[str, list[Item]] = {}
    for item in items:
        data = data_folder_for(item.run)
        if data is None:
            raise UsageError(f"{item.run.path}: not under a <data>/checkpoints folder: no trash folder for it")
        by_data.setdefault(data, []).append(item)
    planned = []
    for data, group in by_data.items():
        entry = store.join(trash_folder(data), f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}")
        why = outside(entry, data)
        if why is not None:
            raise UsageError(f"nothing moved: the trash entry {entry} would be {why}")
        planned.append((data, entry, group))
    entries = []
    failed: list[tuple[Item, str]] = []
    for data, entry, group in planned:
        # Originals are recorded under the data folder's resolved path, so that any path to it restores them.
        real = data if store.is_remote(data) else os.path.realpath(data)
        manifest: dict[str, Any] = {
            "schema": "arccnet-ckpt/trash",
            "version": MANIFEST_VERSION,
            "created_at": now.isoformat(),
            "items": [],
        }
        for index, item in enumerate(group):
            why = outside(item.path, data)  # again: a folder may have been swapped for a link since the plan
            if why is not None:
                failed.append((item, f"not moved: {why}"))
                continue
            stored = f"items/{index}/{store.basename(item.path)}"
            record = {
                "original": _under(item.path, data, real),
                "stored": stored,
                "what": item.what,
                "bytes": item.size,
                "run": item.run.path,
                "state": "moving",
            }
            manifest["items"].append(record)
            _write_manifest(entry, manifest)
            target = store.join(entry, *stored.split("/"))
            try:
                _move(item.path, target, data, data)
            except (OSError, ArcCkptError) as e:
                failed.append((item, f"not moved: {_reason(e)}"))
                if not _exists(target):  # nothing left its place: the manifest forgets it
                    manifest["items"].remove(record)
                continue
            record["state"] = "moved"
        if not manifest["items"]:  # nothing moved: no entry is left behind
            _clear(Entry(entry, store.basename(entry), data, None, []), Outcome(), accounted=(MANIFEST,))
            continue
        _write_manifest(entry, manifest)
        entries.append(entry)
    return entries, failed


def _under(path: str, data: str, real: str) -> str:
    """``path`` (below ``data``) as a path below ``real``, the resolved data folder (a URL stays as it is)."""
    if store.is_remote(path):
        return path
    return os.path.join(real, os.path.relpath(os.path.abspath(path), os.path.abspath(data)))


def _reason(error: BaseException) -> str:
    """An error's message without ``[Errno N]`` (the path is named beside it)."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}" + (f": {error.filename}" if error.filename else "")
    return str(error)


def _write_manifest(entry: str, manifest: dict[str, Any]) -> None:
    """Write ``<entry>/manifest.json`` atomically (the one place it is written: tests kill prune here)."""
    store.write_text(store.join(entry, MANIFEST), json.dumps(manifest, indent=2) + "\n")


@dataclass
class Entry:
    """One trash entry: a prune that moved items, or a folder in the trash without a readable manifest."""

    path: str
    id: str
    data: str
    created_at: datetime | None
    items: list[dict[str, Any]]
    problem: str | None = None
    """Why the entry is incomplete (no readable manifest): never emptied, restore only removes empty folders."""

    @property
    def size(self) -> int:
        """Bytes the entry's items hold."""
        return sum(_int(item.get("bytes")) for item in self.items)

    @functools.cached_property
    def real_data(self) -> str:
        """The data folder's resolved path (a URL as it is): originals are recorded and compared under it."""
        return self.data if store.is_remote(self.data) else os.path.realpath(self.data)


def entries(data: str) -> list[Entry]:
    """The trash entries under ``data``, in the order of their ids (the time they were made)."""
    folder = trash_folder(data)
    if not store.is_remote(folder) and os.path.islink(folder):
        raise UsageError(f"{folder} is a symbolic link (to {os.readlink(folder)}): the trash is never used through one")
    if store.is_remote(folder):
        fs, stripped = store._fs(folder)
        try:
            names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(stripped, detail=False)]
        except FileNotFoundError:
            names = []
    else:
        names = (
            [n for n in os.listdir(folder) if os.path.isdir(os.path.join(folder, n))] if os.path.isdir(folder) else []
        )
    out = []
    for name in sorted(names):
        path = store.join(folder, name)
        why = outside(path, folder)
        if why is not None:
            out.append(Entry(path, name, data, None, [], f"{why}; not an entry"))
            continue
        try:
            # The package's reader of a run's JSON: a regular file of bounded size, never a FIFO or a device.
            manifest = json.loads(read_bounded(store.join(path, MANIFEST)))
            created = datetime.fromisoformat(manifest["created_at"])
            if created.tzinfo is None:
                created = created.replace(tzinfo=timezone.utc)  # prune writes UTC
            items = [dict(item) for item in manifest.get("items", [])]
        except FileNotFoundError:
            out.append(Entry(path, name, data, None, [], "incomplete: no manifest.json (a prune killed before it)"))
            continue
        except Exception as e:  # anything in a hostile file (RecursionError, a list for a dict) spoils only its entry
            reason = unreadable_reason(e)
            out.append(Entry(path, name, data, None, [], f"incomplete: manifest.json cannot be read ({reason})"))
            continue
        out.append(Entry(path, name, data, created, items))
    return out


def find_entry(data: str, entry_id: str) -> Entry:
    """The trash entry ``entry_id`` (or a unique prefix of it).

    Raises:
        NoMatch: If none matches.
        UsageError: If the prefix matches several.
    """
    matches = [e for e in entries(data) if e.id.startswith(entry_id)]
    if not matches:
        raise NoMatch(f"no trash entry {entry_id!r} in {trash_folder(data)} (see: arccnet-ckpt trash ls)")
    if len(matches) > 1:
        raise UsageError(f"{entry_id!r} is ambiguous: it matches {', '.join(e.id for e in matches)}")
    return matches[0]


@dataclass
class Outcome:
    """What :func:`restore` or :func:`empty` did to one entry."""

    done: int = 0
    """Items put back (restore) or deleted (empty)."""
    unmoved: int = 0
    """Items recorded as ``moving`` that had never left their place: dropped from the manifest."""
    problems: list[tuple[str, str]] = field(default_factory=list)
    """``(path, why)`` for items left in the entry (or dropped with nothing to do)."""
    left: list[str] = field(default_factory=list)
    """Files in the entry that the manifest does not account for: never touched."""
    removed: bool = False
    """Whether the entry's folder is gone."""


def restore(entry: Entry) -> Outcome:
    """Move an entry's items back where they were.

    An item whose stored copy exists goes back, unless its original place is taken again (nothing is overwritten).
    An item recorded as ``moving`` that is still at its original place never left: it is dropped from the manifest.
    An item whose ``stored`` or ``original`` path leaves its place (see :func:`item_paths`) is refused. What the
    manifest accounts for is removed once it is back; files it does not account for are left and named.
    """
    outcome = Outcome()
    if entry.problem is not None:
        outcome.problems.append((entry.path, entry.problem))
        _clear(entry, outcome, accounted=())
        return outcome
    remaining: list[dict[str, Any]] = []
    for item, original, stored, here, there in _checked_items(entry, outcome, remaining):
        if here and there:
            remaining.append(item)
            outcome.problems.append((original, _both_exist(item, stored)))
        elif there:
            try:
                _move(stored, original, entry.data, entry.real_data)
            except (OSError, ArcCkptError) as e:
                remaining.append(item)
                outcome.problems.append((original, f"not restored: {_reason(e)}"))
                continue
            outcome.done += 1
        elif here:
            outcome.unmoved += 1
        else:
            outcome.problems.append((original, f"neither it nor its copy {stored} exists: nothing to restore"))
    _finish(entry, remaining, outcome)
    return outcome


def empty(entry: Entry) -> Outcome:
    """Delete an entry's items for good: only what its manifest accounts for, and only inside the entry.

    An incomplete entry (no readable manifest) is never emptied. An item recorded as ``moving`` whose original is
    still in place was interrupted mid-move: it is kept (restore it). Files the manifest does not account for are
    left, and the entry with them.
    """
    outcome = Outcome()
    if entry.problem is not None:
        outcome.problems.append((entry.path, f"{entry.problem}: not emptied (arccnet-ckpt trash restore {entry.id})"))
        return outcome
    remaining: list[dict[str, Any]] = []
    for item, original, stored, here, there in _checked_items(entry, outcome, remaining):
        if there and here and item.get("state") == "moving":
            remaining.append(item)
            outcome.problems.append((original, _both_exist(item, stored)))
        elif there:
            try:
                _delete(stored, entry.data)
            except (OSError, ArcCkptError) as e:
                remaining.append(item)
                outcome.problems.append((stored, f"not deleted: {_reason(e)}"))
                continue
            outcome.done += 1
        elif here:
            outcome.unmoved += 1
    _finish(entry, remaining, outcome)
    return outcome


def _checked_items(
    entry: Entry, outcome: Outcome, remaining: list[dict[str, Any]]
) -> Iterator[tuple[dict[str, Any], str, str, bool, bool]]:
    """The items of ``entry`` whose paths can be trusted, one at a time, as ``(item, original, stored, here, there)``:
    ``here`` and ``there`` say whether the original and the stored copy exist, looked at just before the item is
    handled. A refused item (see :func:`item_paths`) stays in ``remaining`` and is named in ``outcome.problems``."""
    for item in entry.items:
        paths = item_paths(entry, item)
        if isinstance(paths, str):
            outcome.problems.append((str(item.get("original")), f"refused: {paths}"))
            remaining.append(item)
            continue
        original, stored = paths
        yield item, original, stored, _exists(original), _exists(stored)


def item_paths(entry: Entry, item: dict[str, Any]) -> tuple[str, str] | str:
    """``(original, stored)`` of a manifest item, or why they cannot be trusted.

    ``stored`` must be a relative path without ``.``/``..`` that stays inside the entry; ``original`` a path
    without ``..`` that stays inside ``<data>/checkpoints``, compared under the data folder's resolved path (as
    prune records it; one recorded under the path ``entry.data`` was given as is taken as the same place). Neither
    may pass through a symbolic link (see :func:`outside`): a planted manifest moves or deletes nothing elsewhere.
    """
    original, stored = item.get("original"), item.get("stored")
    if not isinstance(stored, str) or not isinstance(original, str) or not stored or not original:
        return f"the manifest item {item!r} lacks 'original' or 'stored'"
    parts = stored.replace("\\", "/").split("/")
    if stored.startswith(("/", "\\")) or "://" in stored or any(p in ("", ".", "..") for p in parts):
        return f"'stored' {stored!r} must be a plain relative path inside the entry {entry.path}"
    path = store.join(entry.path, *parts)
    why = outside(path, entry.path)
    if why is not None:
        return f"'stored' {stored!r}: {why}"
    if ".." in original.replace("\\", "/").split("/"):
        return f"'original' {original!r} holds '..': it must name a place inside {entry.data}/{CHECKPOINTS_DIRNAME}"
    if store.is_remote(original) != store.is_remote(entry.data) or not (
        store.is_remote(original) or os.path.isabs(original)
    ):
        return f"'original' {original!r} must be an absolute path inside {entry.data}/{CHECKPOINTS_DIRNAME}"
    if not store.is_remote(original) and entry.real_data != os.path.abspath(entry.data):
        given = os.path.abspath(entry.data)
        if os.path.commonpath([os.path.abspath(original), given]) == given:  # an older prune recorded the given path
            original = _under(original, given, entry.real_data)
    why = outside(original, root_folder(entry.real_data, None))
    if why is not None:
        return f"'original' {original!r}: {why}"
    return original, path


def _both_exist(item: dict[str, Any], stored: str) -> str:
    if item.get("state") == "moving":
        return (
            f"the move was interrupted, and both it and its copy {stored} exist: nothing changed; compare them and "
            "remove one by hand"
        )
    return "exists again: left in the trash, nothing overwritten"


def _finish(entry: Entry, remaining: list[dict[str, Any]], outcome: Outcome) -> None:
    """Record what is left in the manifest, or, with nothing left, remove the manifest and the empty folders."""
    if remaining:
        manifest = {"schema": "arccnet-ckpt/trash", "version": MANIFEST_VERSION}
        created = entry.created_at.isoformat() if entry.created_at else None
        _write_manifest(entry.path, {**manifest, "created_at": created, "items": remaining})
        return
    _clear(entry, outcome, accounted=(MANIFEST,))


def _clear(entry: Entry, outcome: Outcome, *, accounted: tuple[str, ...]) -> None:
    """Remove the entry's ``accounted`` files, its leftover temporary manifests and its empty folders; name what
    else is left (never deleted)."""
    if store.is_remote(entry.path):
        fs, stripped = store._fs(entry.path)
        for name in accounted:
            if fs.exists(f"{stripped}/{name}"):
                fs.rm(f"{stripped}/{name}")
        fs.invalidate_cache()
        try:
            outcome.left = sorted(f"{entry.path}{key[len(stripped) :]}" for key in fs.find(stripped))
        except FileNotFoundError:
            outcome.left = []
        if not outcome.left:
            with contextlib.suppress(FileNotFoundError):
                fs.rm(stripped, recursive=True)
            outcome.removed = True
        return
    try:
        _clear_local(entry, outcome, accounted=accounted)
    except (OSError, ArcCkptError) as e:
        outcome.problems.append((entry.path, f"not cleared: {_reason(e)}"))
    outcome.left.sort()
    outcome.removed = not os.path.lexists(entry.path)


def _clear_local(entry: Entry, outcome: Outcome, *, accounted: tuple[str, ...]) -> None:
    """:func:`_clear` on a local disk, through folder descriptors: an entry that is (or became) a link is refused,
    and nothing is removed or listed through a link inside it."""
    temporary = f"{store._TMP_PREFIX}{MANIFEST}."
    parts = _parts(entry.path, entry.data)
    if not os.path.lexists(entry.path):
        return
    with _folder(entry.data, parts) as fd:
        for name in os.listdir(fd):
            if name in accounted or name.startswith(temporary):
                with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                    os.unlink(name, dir_fd=fd)
        for folder, folders, files, folder_fd in os.fwalk(".", topdown=False, follow_symlinks=False, dir_fd=fd):
            here = os.path.normpath(os.path.join(entry.path, folder))
            outcome.left.extend(os.path.join(here, name) for name in files)
            for name in folders:
                if stat.S_ISLNK(os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_mode):
                    outcome.left.append(os.path.join(here, name))  # a link to a folder is left, like a file
                    continue
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=folder_fd)  # only an empty folder goes
    with _folder(entry.data, parts[:-1]) as parent, contextlib.suppress(OSError):
        os.rmdir(parts[-1], dir_fd=parent)  # a link there now is not a folder: rmdir refuses it


def _delete(path: str, base: str) -> None:
    """Delete a stored item below ``base`` for good (a link itself, never what it points to), through folder
    descriptors (see :func:`_folder`)."""
    if store.is_remote(path):
        fs, stripped = store._fs(path)
        fs.rm(stripped, recursive=True)
        fs.invalidate_cache()
        return
    parts = _parts(path, base)
    with _folder(base, parts[:-1]) as fd:
        if stat.S_ISDIR(os.stat(parts[-1], dir_fd=fd, follow_symlinks=False).st_mode):
            # fd-based on Linux (shutil.rmtree.avoids_symlink_attacks): never follows a link inside.
            if sys.version_info >= (3, 11):
                shutil.rmtree(parts[-1], dir_fd=fd)
            else:  # no dir_fd before 3.11: /proc/self/fd/N is the folder N was opened on
                shutil.rmtree(f"/proc/self/fd/{fd}/{parts[-1]}")
        else:
            os.unlink(parts[-1], dir_fd=fd)


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError, OverflowError):  # "bytes": Infinity is valid JSON to Python
        return 0


def _exists(path: str) -> bool:
    return store.exists(path) if store.is_remote(path) else os.path.lexists(path)


class Refused(ArcCkptError):
    """A move or deletion refused because a name on its way is a symbolic link (or not a folder)."""


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _parts(path: str, base: str) -> list[str]:
    """The names from ``base`` down to ``path``.

    Raises:
        Refused: If ``path`` is not below ``base``.
    """
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
        raise Refused(f"{path} is outside {base}: never moved or deleted")
    return rel.split(os.sep)


@contextlib.contextmanager
def _folder(base: str, names: Sequence[str], *, create: bool = False) -> Iterator[int]:
    """A descriptor of the folder ``base/names…``, each name opened in its parent's descriptor without following a
    link (``base`` itself may be one: a data folder on another mount). What a path says is checked once, by the
    opens that are then used: a folder swapped for a link between a check and the use cannot redirect it.

    Args:
        base: The folder to start from (the data folder).
        names: The folder names below it.
        create: Create a missing folder (with the package's folder mode).

    Raises:
        Refused: If a name is a symbolic link or not a folder.
        OSError: If a folder cannot be opened (or created).
    """
    fd = os.open(base, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        for depth, name in enumerate(names):
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, store.DIR_MODE, dir_fd=fd)
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                raise Refused(_not_followed(os.path.join(base, *names[: depth + 1]), name, fd)) from e
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _not_followed(path: str, name: str, parent: int) -> str:
    try:
        target = os.readlink(name, dir_fd=parent)
    except OSError:
        return f"{path} is not a folder: nothing is moved or deleted through it"
    return (
        f"{path} is a symbolic link (to {target}): prune and trash never follow one, so nothing is moved or deleted "
        "through it"
    )


def _move(source: str, target: str, source_base: str, target_base: str) -> None:
    """Move ``source`` (below ``source_base``) to ``target`` (below ``target_base``; missing folders are created).

    Locally a rename between two folder descriptors (see :func:`_folder`); ``source`` itself may not be a link and
    ``target`` may not exist (nothing is overwritten). On an object store, see :func:`_move_remote`.

    Raises:
        Refused: If a name on either way is a link, ``source`` is a link, or ``target`` exists.
        OSError: If the rename fails.
    """
    if store.is_remote(source):
        _move_remote(source, target)
        return
    here, there = _parts(source, source_base), _parts(target, target_base)
    with _folder(source_base, here[:-1]) as source_fd, _folder(target_base, there[:-1], create=True) as target_fd:
        if stat.S_ISLNK(os.stat(here[-1], dir_fd=source_fd, follow_symlinks=False).st_mode):
            raise Refused(_not_followed(source, here[-1], source_fd))
        with contextlib.suppress(FileNotFoundError):
            os.stat(there[-1], dir_fd=target_fd, follow_symlinks=False)
            raise Refused(f"{target} exists: nothing is overwritten")
        try:
            os.replace(here[-1], there[-1], src_dir_fd=source_fd, dst_dir_fd=target_fd)
        except OSError as e:
            proc = "/proc/self/fd"
            if e.errno != errno.EXDEV or not os.path.isdir(proc):
                raise
            # Another file system (a data folder spanning mounts): copy, then delete, still through the two
            # descriptors (Linux's /proc/self/fd/N is the folder N was opened on, whatever its path now says).
            shutil.move(f"{proc}/{source_fd}/{here[-1]}", f"{proc}/{target_fd}/{there[-1]}")


def _move_remote(source: str, target: str) -> None:
    """An object store has no rename: copy every object, then delete the originals (never the other way round)."""
    fs, stripped = store._fs(source)
    _, target_stripped = store._fs(target)
    stripped = stripped.rstrip("/")
    if fs.isfile(stripped):
        sources = [stripped]
        targets = [target_stripped]
    else:
        sources = sorted(fs.find(stripped))
        targets = [target_stripped.rstrip("/") + key[len(stripped) :] for key in sources]
    if not sources:
        raise NoMatch(f"{source}: nothing to move")
    fs.copy(sources, targets)
    fs.rm(sources)
    fs.invalidate_cache()
