"""Listings and the scan's file-system calls: the files of a run folder, the folders below a data folder, the
identity of a folder, and one listing of a whole tree on an object store (:func:`list_tree`)."""

from __future__ import annotations

import os

from arccnet_ckpt.store.folders import CLAIM_MARKER
from arccnet_ckpt.store.paths import basename, file_system, fs_for_many_reads, is_remote, join
from arccnet_ckpt.store.write import TMP_PREFIX

INTERNAL_FILES = frozenset({CLAIM_MARKER})
"""Files of a run folder that belong to the package's machinery, not to the run: never listed as its files."""


def list_files(folder: str) -> list[str]:
    """Paths of the files directly in ``folder`` (regular files, or links to them), without :data:`INTERNAL_FILES`;
    empty if it does not exist."""
    return [path for path, _ in _list_files(folder, sizes=False)]


def list_file_sizes(folder: str) -> list[tuple[str, int]]:
    """``(name, bytes)`` of the files :func:`list_files` lists, sorted by name."""
    return sorted((basename(path), size) for path, size in _list_files(folder, sizes=True))


def _list_files(folder: str, *, sizes: bool) -> list[tuple[str, int]]:
    if is_remote(folder):
        fs, stripped = file_system(folder)
        try:
            entries = fs.ls(stripped, detail=True)
        except FileNotFoundError:
            return []
        named = ((e["name"].rstrip("/").rsplit("/", 1)[-1], e) for e in entries if e["type"] == "file")
        return [(join(folder, name), int(e.get("size") or 0)) for name, e in named if name not in INTERNAL_FILES]
    out = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                try:
                    # is_file() follows a link: a FIFO, a device or a link to one is not a file of the run.
                    if entry.name in INTERNAL_FILES or not entry.is_file():
                        continue
                    out.append((entry.path, entry.stat().st_size if sizes else 0))
                except OSError:  # removed, or a link that broke, while the folder was listed
                    continue
    except (FileNotFoundError, NotADirectoryError):
        return []
    return out


def subfolders(folder: str) -> list[tuple[str, str, bool]]:
    """``(path, name, is a link)`` of each folder (or link to one) directly in a local ``folder``, hidden names
    (``.trash``, ``.git``) left out; empty if ``folder`` does not exist or is not a folder.

    Raises:
        OSError: If ``folder`` is there but cannot be listed (no permission).
    """
    out = []
    try:
        it = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    with it:
        for entry in it:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    out.append((entry.path, entry.name, entry.is_symlink()))
            except OSError:  # removed, or a link that broke, while the folder was listed
                continue
    return out


def may_hold_folders(path: str) -> bool:
    """Whether a local folder may hold sub-folders: ``False`` only when its link count says it holds none.

    On file systems that count a folder's sub-folders in its link count (ext4, XFS, NFS...), a folder with none has
    exactly 2 links, so one ``stat`` saves listing it; elsewhere (1 link: btrfs, some network file systems) the
    answer is ``True`` and the caller lists it.
    """
    try:
        return os.stat(path).st_nlink != 2
    except OSError:
        return True  # the listing that follows says why


def identity(path: str) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of what a local ``path`` leads to (links followed): the same folder under two names has
    one identity. ``None`` if it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def holds_file(folder: str, names: tuple[str, ...]) -> bool:
    """Whether a local ``folder`` holds a file (or a link to one) of one of ``names``."""
    return any(os.path.isfile(os.path.join(folder, name)) for name in names)


def holds_temporary(folder: str, names: tuple[str, ...]) -> bool:
    """Whether a local ``folder`` holds a temporary file of an atomic write of one of ``names``
    (``.arc-tmp-config.json.<hex>``, see :func:`local_temp_path`): the trace of a write that was interrupted."""
    prefixes = tuple(f"{TMP_PREFIX}{name}." for name in names)
    try:
        with os.scandir(folder) as it:
            return any(entry.name.startswith(prefixes) for entry in it)
    except OSError:
        return False


def list_tree(url: str, *, maxdepth: int | None = None) -> dict[str, int]:
    """Every file below an fsspec URL, ``maxdepth`` levels deep at most, by its path relative to ``url``
    (``flares/<run>/training_summary.json``), with its size: one listing, sizes at no extra cost."""
    fs, stripped = fs_for_many_reads(url)
    base = stripped.rstrip("/")
    try:
        files = fs.find(base, maxdepth=maxdepth, detail=True)
    except FileNotFoundError:
        return {}
    prefix = base + "/"
    return {key[len(prefix) :]: int(info.get("size") or 0) for key, info in files.items() if key.startswith(prefix)}
