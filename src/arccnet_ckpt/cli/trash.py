"""The trash of ``prune``: moving items in, listing, putting back (``restore``) and deleting for good (``empty``).

Removed items are moved (a rename on a local disk) to ``<data>/.trash/<id>/items/<n>/``, beside a ``manifest.json``
naming where each came from. Where each rule lives:

- what may move: :mod:`arccnet_ckpt.cli.planning` (:func:`~arccnet_ckpt.cli.planning.plan`);
- the write-ahead manifest (:func:`move_to_trash`): each item is recorded as ``moving`` before it moves and as
  ``moved`` after, so a prune killed at any moment leaves an entry that :func:`restore` can undo;
- putting back and deleting (:func:`restore`, :func:`empty`): only what the manifest accounts for, and only paths
  that stay inside the entry (``stored``) and inside ``<data>/checkpoints`` (``original``): :func:`item_paths`;
- every move, deletion and listing: :mod:`arccnet_ckpt.store` (``move_no_follow``, ``remove_no_follow``,
  ``clear_folder_no_follow``), through folder descriptors opened one name at a time from the data folder without
  following a link, so a folder swapped for a link between a check and the move is refused, never followed;
- the ``trash ls|restore|empty`` verb (:func:`cmd_trash`): :class:`TrashListing`, :func:`restore_entry`,
  :func:`empty_trash`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from arccnet_ckpt import store
from arccnet_ckpt.cli import output
from arccnet_ckpt.cli.planning import Item, data_folder_for
from arccnet_ckpt.cli.select import EXIT_OK, EXIT_PROBLEMS, NoMatch, UsageError, parse_duration
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.layout import CHECKPOINTS_DIRNAME, resolve_data_folder, root_folder
from arccnet_ckpt.report import format as fmt
from arccnet_ckpt.store import read_bounded, unreadable_reason

TRASH_DIRNAME = ".trash"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 2
"""Version 2 adds each item's ``state`` (``moving`` before its move, ``moved`` after); version 1 items were moved."""


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
        why = store.not_safely_below(entry, data)
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
            why = store.not_safely_below(
                item.path, data
            )  # again: a folder may have been swapped for a link since the plan
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
                store.move_no_follow(item.path, target, data, data)
            except (OSError, ArcCkptError) as e:
                failed.append((item, f"not moved: {_reason(e)}"))
                if not store.lexists(target):  # nothing left its place: the manifest forgets it
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
    link = store.link_target(folder)
    if link is not None:
        raise UsageError(f"{folder} is a symbolic link (to {link}): the trash is never used through one")
    names = store.folder_names(folder)
    out = []
    for name in sorted(names):
        path = store.join(folder, name)
        why = store.not_safely_below(path, folder)
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

    def put_back(item: dict[str, Any], original: str, stored: str, here: bool, there: bool) -> _Left | None:
        if here and there:
            return _Left(original, _both_exist(item, stored))
        if not there:
            return (
                None if here else _Left(original, f"neither it nor its copy {stored} exists: nothing to restore", False)
            )
        try:
            store.move_no_follow(stored, original, entry.data, entry.real_data)
        except (OSError, ArcCkptError) as e:
            return _Left(original, f"not restored: {_reason(e)}")
        return _DONE

    _settle(entry, outcome, put_back)
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

    def delete(item: dict[str, Any], original: str, stored: str, here: bool, there: bool) -> _Left | None:
        if there and here and item.get("state") == "moving":
            return _Left(original, _both_exist(item, stored))
        if not there:
            return None
        try:
            store.remove_no_follow(stored, entry.data)
        except (OSError, ArcCkptError) as e:
            return _Left(stored, f"not deleted: {_reason(e)}")
        return _DONE

    _settle(entry, outcome, delete)
    return outcome


@dataclass(frozen=True)
class _Left:
    """Why an item was not handled: named in the outcome, and kept in the manifest unless ``keep`` is false."""

    path: str
    why: str
    keep: bool = True


_DONE = _Left("", "")  # the item was handled: counted in ``done`` and dropped from the manifest


def _settle(
    entry: Entry, outcome: Outcome, handle: Callable[[dict[str, Any], str, str, bool, bool], _Left | None]
) -> None:
    """Hand each trusted item to ``handle`` (restore's or empty's step) and rewrite the manifest with what is left.

    ``handle`` returns :data:`_DONE` for an item it handled, ``None`` for one that never left its place (dropped,
    counted in ``unmoved``) and a :class:`_Left` for one it could not handle.
    """
    remaining: list[dict[str, Any]] = []
    for item, original, stored, here, there in _checked_items(entry, outcome, remaining):
        left = handle(item, original, stored, here, there)
        if left is _DONE:
            outcome.done += 1
        elif left is None:
            outcome.unmoved += int(here)
        else:
            outcome.problems.append((left.path, left.why))
            if left.keep:
                remaining.append(item)
    _finish(entry, remaining, outcome)


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
        yield item, original, stored, store.lexists(original), store.lexists(stored)


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
    why = store.not_safely_below(path, entry.path)
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
    why = store.not_safely_below(original, root_folder(entry.real_data, None))
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
    else is left (never deleted). Locally nothing is removed or listed through a link (see
    :func:`arccnet_ckpt.store.clear_folder_no_follow`)."""
    try:
        outcome.removed = store.clear_folder_no_follow(
            entry.path, entry.data, accounted, temporaries_of=MANIFEST, left=outcome.left
        )
    except (OSError, ArcCkptError) as e:
        if store.is_remote(entry.path):
            raise
        outcome.problems.append((entry.path, f"not cleared: {_reason(e)}"))
        outcome.removed = not store.lexists(entry.path)
    outcome.left.sort()


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError, OverflowError):  # "bytes": Infinity is valid JSON to Python
        return 0


# ---------------------------------------------------------------------------------------- the trash ls|restore|empty


@dataclass
class TrashListing(output.Rendered):
    """The trash entries under a data folder, as ``trash ls`` lists them."""

    entries: list[Entry]

    def document(self) -> dict[str, Any]:
        return {"schema": "arccnet-ckpt/trash", "entries": list(self.lines())}

    def lines(self) -> Iterator[dict[str, Any]]:
        for e in self.entries:
            yield {"id": e.id, "path": e.path, "created_at": e.created_at, "items": e.items, "problem": e.problem}

    def _rows(self) -> list[list[Any]]:
        return [
            [
                e.id,
                e.created_at or "-",
                len(e.items),
                e.size,
                e.problem or (e.items[0].get("original") if e.items else ""),
            ]
            for e in self.entries
        ]

    def csv(self) -> tuple[list[str], list[list[Any]]]:
        return ["id", "created_at", "items", "bytes", "first"], self._rows()

    def text(self, colour: bool) -> None:
        output.table(["ID", "CREATED", "ITEMS", "BYTES", "FIRST ITEM OR PROBLEM"], self._rows(), colour=colour)


def restore_entry(data: str, entry_id: str, warn: Callable[[str], None] = output.message) -> int:
    """``trash restore``: put the entry ``entry_id`` (or a unique prefix) back; what was left, and why, goes to
    ``warn``. Returns the exit code (1 when an item was left)."""
    entry = find_entry(data, entry_id)
    outcome = restore(entry)
    _report_outcome(outcome, warn)
    unmoved = f"; {outcome.unmoved} had not left their place" if outcome.unmoved else ""
    warn(f"restored {outcome.done} of {len(entry.items)} item(s) from {entry.id}{unmoved}")
    return EXIT_PROBLEMS if outcome.problems or outcome.left else EXIT_OK


def empty_trash(
    data: str, older_than: timedelta, *, yes: bool, now: datetime, warn: Callable[[str], None] = output.message
) -> int:
    """``trash empty``: delete the entries older than ``older_than`` for good (a dry run unless ``yes``); an
    incomplete entry is never emptied. What was left, and why, goes to ``warn``. Returns the exit code (1 when an
    entry was kept, or one is incomplete)."""
    listed = entries(data)
    doomed = [e for e in listed if e.created_at is not None and now - e.created_at >= older_than]
    incomplete = [e for e in listed if e.problem is not None]
    for entry in incomplete:
        warn(f"left {entry.path}: {entry.problem} (arccnet-ckpt trash restore {entry.id} cleans it up)")
    if not yes:
        size = sum(e.size for e in doomed)
        tail = " (dry run: add --yes to delete them for good)" if doomed else ""
        warn(f"would delete {_entries(len(doomed))}, {fmt.human_bytes(size)}{tail}")
        return EXIT_OK
    outcomes = [empty(entry) for entry in doomed]
    for outcome in outcomes:
        _report_outcome(outcome, warn)
    gone = sum(o.removed for o in outcomes)
    kept = f"; {_entries(len(doomed) - gone)} kept what is named above" if gone < len(doomed) else ""
    warn(f"deleted {_entries(gone)}, {fmt.human_bytes(sum(e.size for e in doomed))}{kept}")
    return EXIT_PROBLEMS if gone < len(doomed) or incomplete else EXIT_OK


def _entries(count: int) -> str:
    return f"{count} trash entr{'y' if count == 1 else 'ies'}"


def _report_outcome(outcome: Outcome, warn: Callable[[str], None]) -> None:
    """What ``trash restore``/``empty`` left alone, and why."""
    for path, problem in outcome.problems:
        warn(f"{path}: {problem}")
    for path in outcome.left:
        warn(f"left {path}: the manifest does not account for it, so it was not touched")


def cmd_trash(args: argparse.Namespace) -> int:
    """``trash ls|restore|empty``: what prune moved, put back, or deleted for good."""
    data = resolve_data_folder(args.data)
    if args.action == "ls":
        output.render(TrashListing(entries(data)), args.format)
        return EXIT_OK
    if args.action == "restore":
        return restore_entry(data, args.entry)
    older = parse_duration(args.older_than, "--older-than") if args.older_than else timedelta(0)
    return empty_trash(data, older, yes=args.yes, now=datetime.now(timezone.utc))
