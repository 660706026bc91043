"""Creating folders: local ones with :data:`DIR_MODE`, and run folders claimed once even when writers race.

On a local disk ``os.mkdir`` is atomic. On object stores (which have no folders) a run folder is claimed by a hidden
marker object, :data:`CLAIM_MARKER`, written with ``If-None-Match: *`` so that two writers racing for one name never
both win. The marker stays in the folder (it is the claim); readers ignore it (:data:`~arccnet_ckpt.store.listing.
INTERNAL_FILES`), like every name starting with ``.``.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from pathlib import Path
from typing import Any

from arccnet_ckpt.errors import RunFolderError
from arccnet_ckpt.store.paths import PathLike, file_system, is_remote, join, local_path

DIR_MODE = 0o775
"""The mode of every local folder the package creates, narrowed by the umask like :data:`FILE_MODE`."""


def makedirs(path: PathLike) -> None:
    """Create a folder and its parents (a no-op on object stores, which have no folders and whose buckets we never
    create).

    Raises:
        RunFolderError: If a file is in the way or the folder cannot be created.
    """
    if is_remote(path):
        fs, stripped = file_system(path)
        if _is_object_store(fs):
            # Keys need no folders, and s3fs' makedirs would create a missing (e.g. misspelt) bucket.
            return
        try:
            fs.makedirs(stripped, exist_ok=True)
        except Exception as e:
            raise RunFolderError(f"{os.fspath(path)}: cannot create folder: {type(e).__name__}: {e}") from e
        return
    local = Path(local_path(path))
    blocker = next((p for p in (local, *local.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise RunFolderError(f"{blocker}: is a file, not a folder, so {local} cannot be created; move it away")
    try:
        mkdirs_with_mode(local)
    except OSError as e:
        raise RunFolderError(f"{local}: cannot create folder: {e.strerror or e}") from e


def mkdirs_with_mode(folder: Path) -> None:
    """``folder.mkdir(parents=True, exist_ok=True)``, but with :data:`DIR_MODE` for the parents too (``Path.mkdir``
    and ``os.makedirs`` give them the plain umask mode)."""
    try:
        os.mkdir(folder, DIR_MODE)
    except FileNotFoundError:
        if folder.parent == folder:
            raise
        mkdirs_with_mode(folder.parent)
        mkdirs_with_mode(folder)
    except OSError:
        if not folder.is_dir():
            raise


def make_unique_dir(parent: PathLike, name: str, *, max_tries: int = 1000) -> str:
    """Create and return a new folder ``parent/name``, or ``parent/name-2``, ``-3``... if taken.

    On a local disk ``os.mkdir`` is atomic, so two processes racing for the same name always get two folders.
    On object stores a name is free when no object has its prefix; it is claimed by creating the hidden marker
    ``.arc-run-claim`` in it with an exclusive write (S3's ``If-None-Match: *``), then reading the marker back (for
    stores that ignore the condition, the last writer wins and the other moves on). The marker stays in the folder.

    Raises:
        RunFolderError: If the parent cannot be created or written.
    """
    makedirs(parent)
    for attempt in range(1, max_tries + 1):
        candidate = name if attempt == 1 else f"{name}-{attempt}"
        path = join(parent, candidate)
        if is_remote(path):
            if claim_remote(path):
                return path
            continue
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            continue
        except OSError as e:
            raise RunFolderError(f"{path}: cannot create the run folder: {e.strerror or e}") from e
        return path
    raise RunFolderError(f"{parent}: more than {max_tries} run folders named {name!r}; refusing to go on")


CLAIM_MARKER = ".arc-run-claim"
"""Hidden object that claims a run folder on an object store (see :func:`make_unique_dir`); readers ignore it."""

_OBJECT_STORE_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"})


def _is_object_store(fs: Any) -> bool:
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    return bool(protocols & _OBJECT_STORE_PROTOCOLS)


def claim_remote(path: str) -> bool:
    """Claim the folder ``path`` on an object store by creating its :data:`CLAIM_MARKER` exclusively.

    Returns:
        Whether this writer holds the name: ``False`` when objects are already below it or another writer's marker
        won the race.

    Raises:
        RunFolderError: If the store refuses the check or the write.
    """
    fs, stripped = file_system(path)
    marker = posixpath.join(stripped, CLAIM_MARKER)
    token = uuid.uuid4().hex.encode()
    try:
        fs.invalidate_cache(stripped)  # a listing cached before another writer's claim must not hide it
        if fs.exists(stripped):
            return False  # objects under the name: claimed, or a folder written by something else
        try:
            fs.pipe_file(marker, token, mode="create")
        except FileExistsError:
            return False  # another writer created the marker between the check and this write
        except TypeError:  # an fsspec back-end without exclusive writes: fall back to the read-back check
            fs.pipe_file(marker, token)
        fs.invalidate_cache(stripped)
        return bool(fs.cat_file(marker) == token)
    except Exception as e:  # fsspec back-ends raise many unrelated types
        raise RunFolderError(f"{path}: cannot create the run folder: {type(e).__name__}: {e}") from e
