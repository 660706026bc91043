"""``prune`` and ``trash``: removing runs or their weights safely, into a trash folder that can be restored.

Removed items are moved (a rename on a local disk) to ``<data>/.trash/<id>/``, beside a ``manifest.json`` naming
where each came from. ``prune`` never touches a running run whose heartbeat is fresh, and never a checkpoint that
another run resumed from or tested.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from arccnet_ckpt import storage
from arccnet_ckpt.artifacts import TrainingSummary
from arccnet_ckpt.cli.select import MISSING, NoMatch, UsageError, data_folder_of, is_stale, resolve_or_note, sort_key
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.layout import CHECKPOINTS_DIRNAME
from arccnet_ckpt.query import common_metric_mode
from arccnet_ckpt.runs import Run, scan_runs

TRASH_DIRNAME = ".trash"
MANIFEST = "manifest.json"


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
    """The checkpoints other runs name (``resumed_from``, ``resumes``, ``tested_checkpoint``), and the runs whose
    summaries could not be read (whose references are unknown)."""

    exact: dict[str, str] = field(default_factory=dict)
    tails: dict[str, str] = field(default_factory=dict)
    unknown: list[tuple[str, str]] = field(default_factory=list)

    def by(self, path: str) -> str | None:
        """The run that names the checkpoint at ``path``, or ``None``.

        A relative reference that is not inside its own run folder was relative to wherever that script ran: it
        matches any checkpoint whose path ends with it (``..`` and ``.`` removed), erring on the side of keeping.
        """
        key = path if storage.is_remote(path) else os.path.realpath(path)
        if key in self.exact:
            return self.exact[key]
        norm = key.replace(os.sep, "/")
        return next((run for tail, run in self.tails.items() if norm.endswith("/" + tail)), None)


def referenced_checkpoints(runs: list[Run], problems: list[tuple[str, str]] | None = None) -> References:
    """What every run in ``runs`` names as its starting or tested checkpoint (see :class:`References`)."""
    refs = References(unknown=list(problems or []))
    for run in runs:
        try:
            summary = run.summary
        except ArcCkptError as e:
            refs.unknown.append((run.path, str(e)))
            continue
        for ref in _references(summary):
            if storage.is_remote(ref):
                refs.exact[ref] = run.path
                continue
            if os.path.isabs(ref):
                refs.exact[os.path.realpath(ref)] = run.path
                continue
            inside = os.path.realpath(storage.join(run.path, *ref.replace("\\", "/").split("/")))
            refs.exact[inside] = run.path
            tail = "/".join(p for p in ref.replace("\\", "/").split("/") if p not in ("", ".", ".."))
            if tail:
                refs.tails[tail] = run.path
    return refs


def _references(summary: TrainingSummary | None) -> list[str]:
    if summary is None:
        return []
    found = [summary.resumed_from, summary.tested_checkpoint, *(r.checkpoint for r in summary.resumes)]
    return [ref for ref in found if ref]


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
        if summary is not None and summary.status == "running" and not is_stale(summary, now, stale_after):
            result.skipped.append((run.path, "running (its heartbeat is fresh)"))
            continue
        if run.path in keep:
            result.skipped.append((run.path, f"a keep rule: {keep[run.path]}"))
            continue
        users = {ckpt: by for ckpt in run.checkpoints if (by := refs.by(ckpt)) is not None and by != run.path}
        if what == "run":
            if users:
                path, by = next(iter(users.items()))
                result.skipped.append((run.path, f"{storage.basename(path)} is the checkpoint that {by} resumed from"))
                continue
            result.items.append(Item(run.path, run, "run", _size(run.path)))
        else:
            for ckpt in run.checkpoints:
                if ckpt in users:
                    result.skipped.append((ckpt, f"the checkpoint that {users[ckpt]} resumed from"))
                else:
                    result.items.append(Item(ckpt, run, "weights", _size(ckpt)))
    return result


def _whole_data_folders(scope: list[Run]) -> tuple[list[Run], list[tuple[str, str]]]:
    """Every run in the data folders of ``scope`` (another root's run may have resumed from one of ours), and the
    run folders there that could not be read."""
    everything = {run.path: run for run in scope}
    unreadable: list[tuple[str, str]] = []
    for data in sorted({d for d in (data_folder_of(r.path) for r in scope) if d}):
        runs, problems = scan_runs(storage.join(data, CHECKPOINTS_DIRNAME))
        unreadable.extend(problems)
        for run in runs:
            everything.setdefault(run.path, run)
    return list(everything.values()), unreadable


def _size(path: str) -> int:
    if storage.is_remote(path):
        fs, stripped = storage._fs(path)
        try:
            return int(fs.du(stripped))
        except (FileNotFoundError, OSError):
            return 0
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(folder, name))
            except OSError:
                continue
    return total


# ------------------------------------------------------------------------------------------------------ the trash


def trash_folder(data: str) -> str:
    """``<data>/.trash``."""
    return storage.join(data, TRASH_DIRNAME)


def move_to_trash(items: list[Item], now: datetime) -> list[str]:
    """Move ``items`` into one new trash entry per data folder; return the entries' folders."""
    by_data: dict[str, list[Item]] = {}
    for item in items:
        data = data_folder_of(item.run.path)
        if data is None:
            raise UsageError(f"{item.run.path}: not under a <data>/checkpoints folder: no trash folder for it")
        by_data.setdefault(data, []).append(item)
    entries = []
    for data, group in by_data.items():
        entry = storage.join(trash_folder(data), f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}")
        manifest: dict[str, Any] = {
            "schema": "arccnet-ckpt/trash",
            "version": 1,
            "created_at": now.isoformat(),
            "items": [],
        }
        for index, item in enumerate(group):
            stored = f"items/{index}/{storage.basename(item.path)}"
            _move(item.path, storage.join(entry, *stored.split("/")))
            manifest["items"].append(
                {"original": item.path, "stored": stored, "what": item.what, "bytes": item.size, "run": item.run.path}
            )
            storage.write_text(storage.join(entry, MANIFEST), json.dumps(manifest, indent=2) + "\n")
        entries.append(entry)
    return entries


@dataclass
class Entry:
    """One trash entry: a prune that moved items."""

    path: str
    id: str
    created_at: datetime
    items: list[dict[str, Any]]

    @property
    def size(self) -> int:
        """Bytes the entry holds."""
        return sum(int(item.get("bytes") or 0) for item in self.items)


def entries(data: str) -> list[Entry]:
    """The trash entries under ``data``, oldest first."""
    folder = trash_folder(data)
    if storage.is_remote(folder):
        fs, stripped = storage._fs(folder)
        try:
            names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(stripped, detail=False)]
        except FileNotFoundError:
            names = []
    else:
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    out = []
    for name in sorted(names):
        path = storage.join(folder, name)
        try:
            manifest = json.loads(storage.read_text(storage.join(path, MANIFEST)))
            created = datetime.fromisoformat(manifest["created_at"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not an entry (or one being written): left alone
        out.append(Entry(path, name, created, list(manifest.get("items", []))))
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


def restore(entry: Entry) -> list[tuple[str, str]]:
    """Move an entry's items back where they were; return ``(path, problem)`` for those that could not be.

    An item whose original path exists again is left in the trash (nothing is overwritten); the entry is removed
    once it is empty.
    """
    problems = []
    left = []
    for item in entry.items:
        original = item["original"]
        stored = storage.join(entry.path, *str(item["stored"]).split("/"))
        if _exists(original):
            problems.append((original, "exists again: left in the trash, nothing overwritten"))
            left.append(item)
            continue
        _move(stored, original)
    if left:
        manifest = {"schema": "arccnet-ckpt/trash", "version": 1, "created_at": entry.created_at.isoformat()}
        storage.write_text(storage.join(entry.path, MANIFEST), json.dumps({**manifest, "items": left}, indent=2))
    else:
        remove(entry.path)
    return problems


def remove(path: str) -> None:
    """Delete a trash entry for good."""
    if storage.is_remote(path):
        fs, stripped = storage._fs(path)
        fs.rm(stripped, recursive=True)
    else:
        shutil.rmtree(path)


def _exists(path: str) -> bool:
    return storage.exists(path) if storage.is_remote(path) else os.path.lexists(path)


def _move(source: str, target: str) -> None:
    if storage.is_remote(source):
        _move_remote(source, target)
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        os.replace(source, target)
    except OSError as e:
        if not isinstance(e, FileNotFoundError) and os.path.exists(source):
            shutil.move(source, target)  # another file system (a data folder spanning mounts)
        else:
            raise NoMatch(f"{source}: cannot be moved to {target}: {e}") from e


def _move_remote(source: str, target: str) -> None:
    """An object store has no rename: copy every object, then delete the originals (never the other way round)."""
    fs, stripped = storage._fs(source)
    _, target_stripped = storage._fs(target)
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
