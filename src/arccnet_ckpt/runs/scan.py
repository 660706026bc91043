"""Scanning a folder for run folders: :func:`scan_runs`, behind ``find_runs`` and every listing of the command line.

A folder holding ``training_summary.json`` (or, for a run that stopped before writing it, one of
:data:`~arccnet_ckpt.layout.RUN_MARKERS`, or the temporary file of its first write) is a run; any other folder is
searched further. A run folder's own sub-folders are runs only when they hold a ``training_summary.json``: the run
folder a fresh fit gets under an explicit ``dirpath`` that another run holds (see :mod:`arccnet_ckpt.core.runfolder`),
filed under the same root as the run it is nested in. One file is read per run (its summary); on an fsspec URL one
listing finds every run and their summaries are fetched in one concurrent batch. The file-system calls themselves are
:mod:`arccnet_ckpt.store`'s.
"""

from __future__ import annotations

import gc
import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from arccnet_ckpt import store
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.layout import RUN_MARKERS
from arccnet_ckpt.records import TrainingSummary
from arccnet_ckpt.records.reader import unreadable
from arccnet_ckpt.runs.run import FILES, Run

if TYPE_CHECKING:
    from collections.abc import Iterator

    from arccnet_ckpt.store import PathLike

MAX_SCAN_DEPTH = 32
"""How deep below the scanned folder a run folder is found (``<root>/<run>`` is 2 deep); deeper ones are not."""

_SUMMARY = TrainingSummary.filename
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_ScanItem = tuple[str, str, str, "bytes | Exception | None"]
_Pending = tuple[str, str, int, bool]  # a folder to search: path, root name, depth, whether it is a run folder
_Where = tuple[str, int, bool]  # where a folder was met: its parent's root name and depth, whether that is a run


def scan_runs(folder: PathLike, root: str = "", *, recursive: bool = True) -> tuple[list[Run], list[tuple[str, str]]]:
    """Every run folder under ``folder`` (local or URL), oldest first, and the folders that could not be read.

    The scan behind :func:`~arccnet_ckpt.runs.find_runs` and the command line: one file read per run
    (``training_summary.json``, or every file of a run that stopped before writing one); remote summaries are
    fetched in one concurrent batch.

    Args:
        folder: Where to look: ``<data>/checkpoints``, a root folder under it, or any folder holding run folders.
        root: The root name ``folder`` stands for (``flares/multiclass``), for runs that do not record theirs.
        recursive: Search sub-folders that are not runs at any depth (else only ``folder``'s own sub-folders).

    Returns:
        ``(runs, problems)``: the runs sorted by start time (runs without one last), and ``(path, reason)`` for each
        run folder skipped because a file in it is unreadable or invalid.
    """
    # Ten thousand runs allocate a few hundred thousand objects, none of them in a reference cycle: the cyclic
    # garbage collector would walk all of them again and again while the list grows (a third of the scan's time).
    paused = gc.isenabled()
    gc.disable()
    try:
        return _scan_runs(os.fspath(folder), root, recursive=recursive)
    finally:
        if paused:
            gc.enable()


def _scan_runs(text: str, root: str, *, recursive: bool) -> tuple[list[Run], list[tuple[str, str]]]:
    remote = store.is_remote(text)
    text = text.rstrip("/") if remote else os.path.abspath(text)
    scan = _scan_remote if remote else _scan_local
    keyed: list[tuple[bool, datetime, str, Run]] = []
    problems: list[tuple[str, str]] = []
    for path, name, location, raw in scan(text, root, recursive=recursive):
        run = Run._from_scan(path, name, location or None)
        try:
            if isinstance(raw, Exception):  # an OSError, or a remote store's own error from the batched read
                raise unreadable(store.join(path, _SUMMARY), raw)
            if raw is None:
                run._files.load_all(strict=True)  # a run that stopped before its summary: what it has must be valid
            else:
                run._files.adopt(TrainingSummary, raw)
            start = run.start_time
        except (ArcCkptError, OSError, ValueError) as e:
            # "training_summary.json: cannot be read: ...": the message names the file, not its folder again
            problems.append((path, str(e).removeprefix(path + ("/" if remote else os.sep))))
            continue
        keyed.append((start is None, start or _EPOCH, path, run))
    keyed.sort(key=lambda item: item[:3])
    return [item[3] for item in keyed], problems


def _scan_local(folder: str, root: str, *, recursive: bool) -> Iterator[_ScanItem]:
    """Yield ``(run folder, its name, root name, summary bytes | None | error)`` for each run folder in ``folder``.

    Opening the summary directly costs one system call per run, where listing each run folder would cost several.

    Links to folders are followed (``prune`` lists what it finds behind one as skipped), but a data folder holding
    ``loop -> .`` or ``up -> ../..`` must neither hang the scan nor list a run twice: every folder searched is
    remembered by its identity (``st_dev``, ``st_ino``) and never searched again, a run reached through a link is
    dropped when the same folder was already listed, and the scan goes no deeper than :data:`MAX_SCAN_DEPTH`
    folders. Folders reached without a link are searched first, so a run is listed under its own path rather than
    a link's.
    """
    searched: set[tuple[int, int]] = set()
    real_runs: list[str] = []  # run folders reached without a link: stat'ed only if a link is followed
    listed: set[tuple[int, int]] = set()  # the runs listed, once links are followed
    links: list[tuple[str, str, _Where]] = []  # (path, name, where it was met): followed after all other folders
    following = False
    # A run folder scanned itself (``ls logs``) is listed by the caller: only the runs nested in it are found here.
    stack: list[_Pending] = [(folder, root, 0, store.holds_file(folder, RUN_MARKERS))]
    while stack or links:
        if not stack:
            if not following:
                following = True
                listed = {found for found in map(store.identity, real_runs) if found is not None}
            path, name, met = links.pop()
            item = _scan_entry(path, name, met, stack, following, recursive, searched, listed, real_runs)
            if item is not None:
                yield item
            continue
        current, rel, depth, in_run = stack.pop()
        if not in_run:  # a run folder is entered once, from its parent: no stat needed to keep the scan loop-safe
            identity = store.identity(current)  # one that cannot be stat'ed is reported by the listing below
            if identity is not None:
                if identity in searched:
                    continue
                searched.add(identity)
        try:
            entries = store.subfolders(current)
        except OSError as e:
            if in_run:  # the run itself is listed; its nested runs cannot be
                continue
            yield current, store.basename(current), rel, e
            continue
        where: _Where = (rel, depth, in_run)
        for path, name, is_link in entries:
            if not following and is_link:
                links.append((path, name, where))
                continue
            item = _scan_entry(path, name, where, stack, following, recursive, searched, listed, real_runs)
            if item is not None:
                yield item


def _scan_entry(
    path: str,
    name: str,
    where: _Where,
    stack: list[_Pending],
    following: bool,
    recursive: bool,
    searched: set[tuple[int, int]],
    listed: set[tuple[int, int]],
    real_runs: list[str],
) -> _ScanItem | None:
    """One folder met by :func:`_scan_local` in a folder ``depth`` deep (``where``: its root name, depth, and whether
    that folder is a run): the run it is, or ``None`` (pushed to be searched, or already met)."""
    rel, depth, in_run = where
    identity = None
    if following:  # reached through a link: the same folder may have been met already, under another path
        identity = store.identity(path)
        if identity is None or identity in searched or identity in listed:
            return None
    try:
        raw: bytes | OSError | None = store.read_bounded(path + os.sep + _SUMMARY)
    except FileNotFoundError:
        raw = None
    except OSError as e:
        raw = e
    if in_run:
        if raw is None:  # a run's own sub-folder (hydra/, a logger's): only a summary makes it a nested run
            return None
    elif raw is None and not (store.holds_file(path, RUN_MARKERS) or store.holds_temporary(path, FILES)):
        if recursive and depth + 1 < MAX_SCAN_DEPTH:  # its sub-folders are at most that deep
            stack.append((path, f"{rel}/{name}" if rel else name, depth + 1, False))
        return None
    if identity is not None:
        listed.add(identity)
    else:
        real_runs.append(path)
    # The runs nested in it, filed under the same root; a run folder without sub-folders (its link count says so)
    # is not listed: most runs.
    if recursive and depth + 1 < MAX_SCAN_DEPTH and store.may_hold_folders(path):
        stack.append((path, rel, depth + 1, True))
    return path, name, rel, raw


def _scan_remote(folder: str, root: str, *, recursive: bool) -> Iterator[_ScanItem]:
    """As :func:`_scan_local` for fsspec URLs: one listing, then one batched read of the summaries."""
    # With sizes, the listing lets an over-size summary go unfetched.
    files = store.list_tree(folder, maxdepth=None if recursive else 2)
    runs: dict[tuple[str, ...], set[str]] = {}
    for file in files:
        parts = tuple(file.split("/"))
        if parts[-1] not in FILES or any(p.startswith(".") for p in parts[:-1]):
            continue
        runs.setdefault(parts[:-1], set()).add(parts[-1])
    run_dirs = set()
    for parts, names in runs.items():
        if _SUMMARY in names or any(m in names for m in RUN_MARKERS):
            run_dirs.add(parts)
    # The outermost run folder wins: files in sub-folders of a run are not runs of their own, except a summary in a
    # run folder's own sub-folder (a fresh fit nested under a dirpath another run holds), as in _scan_local. The
    # folder scanned, when it is a run folder itself (``()``), is listed by the caller.
    run_dirs = {p for p in run_dirs if _listed(p, run_dirs, runs)} - {()}
    summaries = ["/".join((*p, _SUMMARY)) for p in run_dirs if _SUMMARY in runs[p]]
    contents = store.read_many(folder, summaries, files) if summaries else {}
    for parts in sorted(run_dirs):
        parent = parts[:-1]
        while parent in run_dirs:  # a nested run is filed under the root of the run it is nested in
            parent = parent[:-1]
        location = "/".join(x for x in (root, *parent) if x)
        raw = contents["/".join((*parts, _SUMMARY))] if _SUMMARY in runs[parts] else None
        yield store.join(folder, *parts), parts[-1], location, raw


def _listed(parts: tuple[str, ...], run_dirs: set[tuple[str, ...]], runs: dict[tuple[str, ...], set[str]]) -> bool:
    """Whether a remote run folder is listed: the outermost one, or a nested run (a summary directly in a listed run
    folder)."""
    if not any(parts[:i] in run_dirs for i in range(len(parts))):
        return True
    return _SUMMARY in runs[parts] and parts[:-1] in run_dirs and _listed(parts[:-1], run_dirs, runs)
