"""Atomic, strict-JSON writes and reads, on local disks and on fsspec file systems (``s3://``, ``memory://``).

Local files are written the way a crash cannot spoil: a temporary file in the same folder, flushed and fsynced,
then ``os.replace``d over the final name, so a reader sees either the old complete file or the new complete one.
Object stores have no rename; there each file is one ``PUT`` of the whole content (``pipe_file``), which is atomic
per object: a failed upload leaves the previous version, or nothing, never a partial file.

On object stores a run folder is claimed by a hidden marker object, ``.arc-run-claim``, written with
``If-None-Match: *`` so that two writers racing for one name never both win. The marker stays in the folder (it is
the claim); readers ignore it, like every name starting with ``.``.

Where the JSON is written (:func:`write_artifact`); the bytes a reader parses come from here too
(:func:`read_bounded`: bounded and non-blocking, since data folders are shared), as do the listings and the scan's
file-system calls (:func:`list_files`, :func:`subfolders`, :func:`list_tree`, :func:`read_many`). Parsing and
validating is :mod:`arccnet_ckpt.records.reader`'s.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import posixpath
import shutil
import stat
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arccnet_ckpt.errors import ArcCkptError, RunFolderError, RunNotFoundError

if TYPE_CHECKING:
    from collections.abc import Callable

    from pydantic import BaseModel


PathLike = str | os.PathLike[str]

_TMP_PREFIX = ".arc-tmp-"

FILE_MODE = 0o664
"""The mode of every local file the package creates, narrowed by the process umask: the owner and the group (shared
project groups rely on ``umask 002``) may write, others only read; never world-writable, even under ``umask 000``."""

DIR_MODE = 0o775
"""The mode of every local folder the package creates, narrowed by the umask like :data:`FILE_MODE`."""


def is_remote(path: PathLike) -> bool:
    """True for fsspec URLs such as ``s3://bucket/x`` or ``memory://x``; False for local paths and ``file://``."""
    text = os.fspath(path)
    if "://" not in text:
        return False
    return not text.startswith("file://")


def _local(path: PathLike) -> str:
    text = os.fspath(path)
    return text[len("file://") :] if text.startswith("file://") else text


def _fs(path: PathLike) -> tuple[Any, str]:
    import fsspec

    fs, stripped = fsspec.core.url_to_fs(os.fspath(path))
    return fs, stripped


WIDE_POOL = 64
"""Connections to S3 when many small objects are read at once (aiobotocore's default of 10 caps concurrent GETs)."""


def fs_for_many_reads(url: PathLike) -> tuple[Any, str]:
    """The file system of ``url`` for reading many small files concurrently, and the stripped path.

    On S3, the connection pool is widened to :data:`WIDE_POOL` unless the fsspec configuration sets one: listing a
    thousand runs is a thousand small GETs, and ten at a time leaves most of the wait unused.
    """
    import fsspec

    text = os.fspath(url)
    protocol = text.split("://", 1)[0]
    options: dict[str, Any] = {}
    if protocol in ("s3", "s3a"):
        configured = dict((fsspec.config.conf.get(protocol) or {}).get("config_kwargs") or {})
        configured.setdefault("max_pool_connections", WIDE_POOL)
        options["config_kwargs"] = configured
    fs, stripped = fsspec.core.url_to_fs(text, **options)
    return fs, stripped


def join(base: PathLike, *parts: str) -> str:
    """Join path parts, with ``/`` for URLs and the OS separator for local paths."""
    if is_remote(base):
        return posixpath.join(os.fspath(base).rstrip("/"), *parts)
    return os.path.join(_local(base), *parts)


def basename(path: PathLike) -> str:
    """Last segment of a local path or URL."""
    text = os.fspath(path).rstrip("/")
    return posixpath.basename(text) if is_remote(text) else os.path.basename(text)


def dirname(path: PathLike) -> str:
    """Parent of a local path or URL."""
    text = os.fspath(path).rstrip("/")
    return text.rsplit("/", 1)[0] if is_remote(text) else os.path.dirname(text)


def exists(path: PathLike) -> bool:
    """Whether a file or folder exists."""
    return _test(path, "exists", os.path.exists)


def is_dir(path: PathLike) -> bool:
    """Whether a folder (or, on an object store, a prefix holding objects) is at ``path``."""
    return _test(path, "isdir", os.path.isdir)


def is_file(path: PathLike) -> bool:
    """Whether a file (or a link to one) is at ``path``."""
    return _test(path, "isfile", os.path.isfile)


def _test(path: PathLike, remote: str, local: Callable[[str], bool]) -> bool:
    """``local(path)`` for a local path, the file system's method ``remote`` for a URL."""
    if is_remote(path):
        fs, stripped = _fs(path)
        return bool(getattr(fs, remote)(stripped))
    return local(_local(path))


def model_to_json(model: BaseModel) -> str:
    """Indented, strict JSON text of a pydantic model, with a trailing newline."""
    text = model.model_dump_json(indent=2)
    # pydantic writes non-finite floats as null already; parsing back proves no NaN token slipped through.
    json.loads(text, parse_constant=_reject_constant)
    return text + "\n"


def _reject_constant(token: str) -> Any:
    raise ValueError(f"non-finite number {token!r} is not allowed in strict JSON")


def write_text(path: PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically, creating parent folders.

    Raises:
        RunFolderError: If the file cannot be written (permission, disk full, a file in the way). On a local disk the
            previous version of the file, if any, is left intact.
    """
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`write_text`)."""
    if is_remote(path):
        _write_remote(path, data)
    else:
        _write_local(Path(_local(path)), data)


def _write_remote(path: PathLike, data: bytes) -> None:
    fs, stripped = _fs(path)
    try:
        fs.pipe_file(stripped, data)
    except Exception as e:  # fsspec back-ends raise many unrelated types
        raise RunFolderError(f"{os.fspath(path)}: could not upload: {type(e).__name__}: {e}") from e


def unreachable(path: PathLike, error: BaseException) -> RunFolderError:
    """The error for a store that did not answer (a stopped S3 server, a dropped network), naming ``path`` and the
    back-end's own error, which names the endpoint."""
    return RunFolderError(f"{os.fspath(path)}: the store is unreachable: {type(error).__name__}: {error}")


def _write_local(path: Path, data: bytes) -> None:
    folder = path.parent
    try:
        _mkdirs(folder)
    except OSError as e:
        raise RunFolderError(f"{folder}: cannot create the folder for {path.name}: {e.strerror or e}") from e
    tmp = Path(local_temp_path(path))
    try:
        # O_EXCL: a new file of ours. The umask narrows FILE_MODE further.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        finally:
            os.close(fd)
    except OSError as e:
        remove_quietly(tmp)
        raise _write_error(path, e) from e
    commit_local(tmp, path)


def local_temp_path(path: PathLike) -> str:
    """A new temporary name beside a local ``path``: ``.arc-tmp-<name>.<12 hex digits>``.

    In the same folder, so :func:`commit_local` can rename it atomically; it never ends in ``.json`` or ``.ckpt``,
    so readers (and :func:`arccnet_ckpt.load_run`) never take a leftover one for an artifact or a checkpoint.
    """
    local = Path(_local(path))
    return str(local.parent / f"{_TMP_PREFIX}{local.name}.{uuid.uuid4().hex[:12]}")


def commit_local(tmp: PathLike, path: PathLike) -> None:
    """Give a finished temporary file its final local name: fsync it, ``os.replace`` it over ``path``, fsync the folder.

    ``tmp`` must be in the folder of ``path`` (see :func:`local_temp_path`): then a reader, or a process killed at any
    moment, sees the previous complete file or the new complete one, never a partial one. For files written by
    others, such as the checkpoints Lightning saves.

    Raises:
        RunFolderError: If ``tmp`` is missing or cannot be renamed; ``tmp`` is removed and ``path`` left unchanged.
    """
    src, dst = Path(_local(tmp)), Path(_local(path))
    try:
        fd = os.open(src, os.O_RDONLY)
        try:
            # Lightning's fsspec gives its files 0o666 less the umask it saw first: give them the package's mode.
            mode = FILE_MODE & ~_umask()
            if os.fstat(fd).st_mode & 0o777 != mode:
                with contextlib.suppress(OSError):  # a file system without permission bits
                    os.chmod(src, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(src, dst)
    except OSError as e:
        remove_quietly(src)
        raise _write_error(dst, e) from e
    _fsync_dir(dst.parent)


def _umask() -> int:
    """The process umask: read where the system tells it (Linux), else set and put back at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_error(path: PathLike, error: OSError) -> RunFolderError:
    hint = " (disk full)" if error.errno == errno.ENOSPC else ""
    return RunFolderError(
        f"{os.fspath(path)}: could not write{hint}: {error.strerror or error}; "
        "any previous version of the file is unchanged"
    )


def remove_quietly(path: PathLike) -> None:
    """Remove a local file if it is there (a partial temporary file after a failed write); never raises."""
    with contextlib.suppress(OSError):
        os.unlink(_local(path))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_text(path: PathLike) -> str:
    """Read a UTF-8 text file from a local path or URL."""
    if is_remote(path):
        fs, stripped = _fs(path)
        with fs.open(stripped, "rb") as fh:
            return bytes(fh.read()).decode("utf-8")
    return Path(_local(path)).read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------- reading run files, bounded

MAX_JSON_BYTES = 16 * 1024 * 1024
"""The largest JSON file of a run folder that is read (16 MiB); a larger one is unreadable, with that reason.

A run's files are a few KB (``history.json`` of a long run a few MB): a bigger one is not a run file, and reading a
stray 1 GB file (or ``/dev/zero``) would only exhaust memory."""

_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)
    # A FIFO opened without O_NONBLOCK waits for a writer for ever; O_NOCTTY: a terminal device never becomes ours.
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
)

_READ_SIZE = 1 << 16

_FILE_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_bounded(path: str) -> bytes:
    """The bytes of one JSON file of a run folder (local or remote), checked by :func:`_read_local`'s rules.

    Raises:
        OSError: If it cannot be read, is not a regular file, or is larger than :data:`MAX_JSON_BYTES`.
    """
    return _read_remote(path) if is_remote(path) else _read_local(path)


def _read_local(path: str) -> bytes:
    """Read a regular file of at most :data:`MAX_JSON_BYTES`, whatever sits under its name.

    Data folders are shared: a FIFO, a device (a link to ``/dev/zero``), a socket or a folder may carry a JSON
    file's name. The file is opened non-blocking (a FIFO cannot hang the read), and ``fstat`` of the open file, not
    of the name, decides: a symlink is followed, but what it leads to must be a regular file, even if the name is
    swapped between a check and the read.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as e:
        if e.errno == errno.ENXIO:  # what opening a Unix socket gives
            raise _not_regular(path) from e
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(path, info.st_mode)
        if info.st_size > MAX_JSON_BYTES:
            raise _too_large(info.st_size)
        # One read call for the whole file (a run's JSON is a few KB): unbuffered os.read, about twice as fast as
        # open().read() for thousands of small files. The loop only runs for a short read, or a file that grows.
        first = os.read(fd, info.st_size + 1)
        if len(first) == info.st_size:
            return first
        chunks = [first]
        size = len(first)
        while chunk := os.read(fd, _READ_SIZE):
            size += len(chunk)
            if size > MAX_JSON_BYTES:
                raise _too_large(size)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_remote(path: str) -> bytes:
    """As :func:`_read_local` for a URL: at most :data:`MAX_JSON_BYTES` + 1 bytes are fetched."""
    fs, stripped = _fs(path)
    with fs.open(stripped, "rb") as fh:
        data = bytes(fh.read(MAX_JSON_BYTES + 1))
    if len(data) > MAX_JSON_BYTES:
        raise _too_large(None)
    return data


def read_many(url: str, names: list[str], sizes: dict[str, int]) -> dict[str, bytes | Exception]:
    """Several JSON files below an fsspec URL, fetched in one concurrent batch (see :func:`fs_for_many_reads`).

    Args:
        url: The folder they are in.
        names: Their paths relative to ``url`` (``flares/<run>/training_summary.json``).
        sizes: Their sizes as listed (:func:`list_tree`): a file over :data:`MAX_JSON_BYTES` is never fetched.

    Returns:
        Each name's bytes, or the error that kept it from being read (the store's own, or an ``OSError``).
    """
    fs, stripped = fs_for_many_reads(url)
    base = stripped.rstrip("/")
    out: dict[str, bytes | Exception] = {}
    wanted: dict[str, str] = {}
    for name in names:
        if sizes.get(name, 0) > MAX_JSON_BYTES:
            out[name] = _too_large(sizes[name])
        else:
            wanted[f"{base}/{name}"] = name
    contents: dict[str, Any] = fs.cat(list(wanted), on_error="return") if wanted else {}
    for key, name in wanted.items():
        raw = contents.get(key)
        out[name] = raw if raw is not None else FileNotFoundError(f"{key}: listed but not returned by the file system")
    return out


def _not_regular(path: str, mode: int | None = None) -> OSError:
    if mode is None:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = 0
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
    return OSError(f"{kind}, not a regular file: only regular files are read")


def _too_large(size: int | None) -> OSError:
    held = f" (it holds {size:,} bytes)" if size is not None else ""
    return OSError(f"larger than the {MAX_JSON_BYTES // (1024 * 1024)} MiB limit for a run's JSON file{held}: not read")


def unreadable_reason(error: BaseException) -> str:
    """Why a file of a run folder (or the trash) could not be read or decoded, in words."""
    if isinstance(error, RecursionError):
        return "nested too deeply to be read as JSON"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror  # "Is a directory", without "[Errno 21]" and the path again
    return str(error) or type(error).__name__


def open_for_reading(path: PathLike) -> Any:
    """A binary file object of a local path or URL, to use in ``with`` (for readers that take a file, such as
    ``torch.load``)."""
    if is_remote(path):
        import fsspec

        return fsspec.open(os.fspath(path), "rb").open()
    return open(_local(path), "rb")  # noqa: SIM115 - the caller closes it with `with`


# ---------------------------------------------------------------------------------------------- listing, scanning


def list_files(folder: str) -> list[str]:
    """Paths of the files directly in ``folder`` (regular files, or links to them), without :data:`INTERNAL_FILES`;
    empty if it does not exist."""
    return [path for path, _ in _list_files(folder, sizes=False)]


def list_file_sizes(folder: str) -> list[tuple[str, int]]:
    """``(name, bytes)`` of the files :func:`list_files` lists, sorted by name."""
    return sorted((basename(path), size) for path, size in _list_files(folder, sizes=True))


def _list_files(folder: str, *, sizes: bool) -> list[tuple[str, int]]:
    if is_remote(folder):
        fs, stripped = _fs(folder)
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
    prefixes = tuple(f"{_TMP_PREFIX}{name}." for name in names)
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


def makedirs(path: PathLike) -> None:
    """Create a folder and its parents (a no-op on object stores, which have no folders and whose buckets we never
    create).

    Raises:
        RunFolderError: If a file is in the way or the folder cannot be created.
    """
    if is_remote(path):
        fs, stripped = _fs(path)
        if _is_object_store(fs):
            # Keys need no folders, and s3fs' makedirs would create a missing (e.g. misspelt) bucket.
            return
        try:
            fs.makedirs(stripped, exist_ok=True)
        except Exception as e:
            raise RunFolderError(f"{os.fspath(path)}: cannot create folder: {type(e).__name__}: {e}") from e
        return
    local = Path(_local(path))
    blocker = next((p for p in (local, *local.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise RunFolderError(f"{blocker}: is a file, not a folder, so {local} cannot be created; move it away")
    try:
        _mkdirs(local)
    except OSError as e:
        raise RunFolderError(f"{local}: cannot create folder: {e.strerror or e}") from e


def _mkdirs(folder: Path) -> None:
    """``folder.mkdir(parents=True, exist_ok=True)``, but with :data:`DIR_MODE` for the parents too (``Path.mkdir``
    and ``os.makedirs`` give them the plain umask mode)."""
    try:
        os.mkdir(folder, DIR_MODE)
    except FileNotFoundError:
        if folder.parent == folder:
            raise
        _mkdirs(folder.parent)
        _mkdirs(folder)
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
            if _claim_remote(path):
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

INTERNAL_FILES = frozenset({CLAIM_MARKER})
"""Files of a run folder that belong to the package's machinery, not to the run: never listed as its files."""

_OBJECT_STORE_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"})


def _is_object_store(fs: Any) -> bool:
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    return bool(protocols & _OBJECT_STORE_PROTOCOLS)


def _claim_remote(path: str) -> bool:
    fs, stripped = _fs(path)
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


def check_writable(folder: PathLike) -> None:
    """Prove that ``folder`` accepts a new file, by writing and removing a probe.

    Raises:
        RunFolderError: With the reason, before any training step is spent.
    """
    probe = join(folder, f"{_TMP_PREFIX}probe-{uuid.uuid4().hex[:8]}")
    write_bytes(probe, b"")
    try:
        if is_remote(probe):
            fs, stripped = _fs(probe)
            fs.rm_file(stripped)
        else:
            os.unlink(probe)
    except Exception as e:
        raise RunFolderError(f"{folder}: wrote a probe file but could not remove it: {e}") from e


def write_artifact(run_dir: PathLike, record: BaseModel) -> str:
    """Write a file model (e.g. a ``TrainingSummary``) under its file name in ``run_dir``; return the path."""
    path = join(run_dir, type(record).filename)  # type: ignore[attr-defined]
    write_text(path, model_to_json(record))
    return path


# ------------------------------------------------------------------------------ moving and removing without a link
#
# What prune and trash need: moves, deletions, sizes and listings of run folders below a data folder. Locally every
# move and deletion goes through folder descriptors opened one name at a time from the base folder without following
# a link (:func:`_folder_fd`), so a folder swapped for a link between a check and the move is refused, never followed.


class LinkRefused(ArcCkptError):
    """A move or deletion refused because a name on its way is a symbolic link (or not a folder)."""


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def is_temporary(name: str, of: str = "") -> bool:
    """Whether the file name ``name`` is a temporary file of an atomic write (of the file named ``of``, if given)."""
    return name.startswith(f"{_TMP_PREFIX}{of}.") if of else name.startswith(_TMP_PREFIX)


def lexists(path: PathLike) -> bool:
    """Whether a file, folder or link (even a dangling one) exists at ``path``; on an object store, :func:`exists`."""
    return exists(path) if is_remote(path) else os.path.lexists(_local(path))


def resolved(path: str) -> str:
    """``path`` as paths are compared: local ones resolved (symbolic links, ``..``), URLs normalised."""
    if is_remote(path):
        scheme, _, rest = path.partition("://")
        return f"{scheme}://{posixpath.normpath(rest)}"
    return os.path.realpath(path)


def not_safely_below(path: str, folder: str) -> str | None:
    """Why ``path`` may not be moved or deleted as part of ``folder``, or ``None`` when it may.

    It may not when it is not below ``folder`` (after ``..`` is resolved), when a symbolic link lies on the way
    from ``folder`` down to it (``path`` included: a link is never followed, so what it points to is never moved),
    or when it resolves outside ``folder``. ``folder`` itself may be a link (a data folder on another mount).
    """
    if is_remote(path) or is_remote(folder):
        base, target = resolved(folder).rstrip("/"), resolved(path)
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


def link_target(path: str) -> str | None:
    """What the local symbolic link ``path`` points to, or ``None`` when ``path`` is not a link (or a URL)."""
    if is_remote(path) or not os.path.islink(path):
        return None
    return os.readlink(path)


def folder_names(folder: str) -> list[str]:
    """The names of the folders in ``folder`` (on an object store, every name below it); none if it is missing."""
    if is_remote(folder):
        fs, stripped = _fs(folder)
        try:
            return [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(stripped, detail=False)]
        except FileNotFoundError:
            return []
    if not os.path.isdir(folder):
        return []
    return [n for n in os.listdir(folder) if os.path.isdir(os.path.join(folder, n))]


def tree_size(path: str) -> int:
    """Bytes a file or folder holds, links counted as links (never followed); 0 when it cannot be read."""
    if is_remote(path):
        fs, stripped = _fs(path)
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


def _parts(path: str, base: str) -> list[str]:
    """The names from ``base`` down to ``path``.

    Raises:
        LinkRefused: If ``path`` is not below ``base``.
    """
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
        raise LinkRefused(f"{path} is outside {base}: never moved or deleted")
    return rel.split(os.sep)


@contextlib.contextmanager
def _folder_fd(base: str, names: Sequence[str], *, create: bool = False) -> Iterator[int]:
    """A descriptor of the folder ``base/names…``, each name opened in its parent's descriptor without following a
    link (``base`` itself may be one: a data folder on another mount). What a path says is checked once, by the
    opens that are then used: a folder swapped for a link between a check and the use cannot redirect it.

    Args:
        base: The folder to start from (the data folder).
        names: The folder names below it.
        create: Create a missing folder (with :data:`DIR_MODE`).

    Raises:
        LinkRefused: If a name is a symbolic link or not a folder.
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
                    os.mkdir(name, DIR_MODE, dir_fd=fd)
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                raise LinkRefused(_not_followed(os.path.join(base, *names[: depth + 1]), name, fd)) from e
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


def move_no_follow(source: str, target: str, source_base: str, target_base: str) -> None:
    """Move ``source`` (below ``source_base``) to ``target`` (below ``target_base``; missing folders are created).

    Locally a rename between two folder descriptors (see :func:`_folder_fd`); ``source`` itself may not be a link
    and ``target`` may not exist (nothing is overwritten). An object store has no rename: every object is copied,
    then the originals are deleted (never the other way round).

    Raises:
        LinkRefused: If a name on either way is a link, ``source`` is a link, or ``target`` exists.
        RunNotFoundError: If there is nothing at ``source`` on an object store.
        OSError: If the rename fails.
    """
    if is_remote(source):
        _move_remote(source, target)
        return
    here, there = _parts(source, source_base), _parts(target, target_base)
    with _folder_fd(source_base, here[:-1]) as source_fd, _folder_fd(target_base, there[:-1], create=True) as target_fd:
        if stat.S_ISLNK(os.stat(here[-1], dir_fd=source_fd, follow_symlinks=False).st_mode):
            raise LinkRefused(_not_followed(source, here[-1], source_fd))
        with contextlib.suppress(FileNotFoundError):
            os.stat(there[-1], dir_fd=target_fd, follow_symlinks=False)
            raise LinkRefused(f"{target} exists: nothing is overwritten")
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
    fs, stripped = _fs(source)
    _, target_stripped = _fs(target)
    stripped = stripped.rstrip("/")
    if fs.isfile(stripped):
        sources = [stripped]
        targets = [target_stripped]
    else:
        sources = sorted(fs.find(stripped))
        targets = [target_stripped.rstrip("/") + key[len(stripped) :] for key in sources]
    if not sources:
        raise RunNotFoundError(f"{source}: nothing to move")
    fs.copy(sources, targets)
    fs.rm(sources)
    fs.invalidate_cache()


def remove_no_follow(path: str, base: str) -> None:
    """Delete ``path`` (below ``base``) for good: a link itself, never what it points to; locally through folder
    descriptors (see :func:`_folder_fd`).

    Raises:
        LinkRefused: If a folder on the way is a link.
        OSError: If it cannot be deleted.
    """
    if is_remote(path):
        fs, stripped = _fs(path)
        fs.rm(stripped, recursive=True)
        fs.invalidate_cache()
        return
    parts = _parts(path, base)
    with _folder_fd(base, parts[:-1]) as fd:
        if stat.S_ISDIR(os.stat(parts[-1], dir_fd=fd, follow_symlinks=False).st_mode):
            # fd-based on Linux (shutil.rmtree.avoids_symlink_attacks): never follows a link inside.
            if sys.version_info >= (3, 11):
                shutil.rmtree(parts[-1], dir_fd=fd)
            else:  # no dir_fd before 3.11: /proc/self/fd/N is the folder N was opened on
                shutil.rmtree(f"/proc/self/fd/{fd}/{parts[-1]}")
        else:
            os.unlink(parts[-1], dir_fd=fd)


def clear_folder_no_follow(
    folder: str, base: str, names: Sequence[str], *, temporaries_of: str, left: list[str]
) -> bool:
    """Remove the files ``names`` and the temporary files of ``temporaries_of`` in ``folder`` (below ``base``), then
    its empty folders, then ``folder`` itself if it is empty; whatever else is there is never deleted.

    Locally through folder descriptors: a ``folder`` that is (or became) a link is refused, and nothing is removed or
    listed through a link inside it (a link to a folder is left, like a file).

    Args:
        folder: The folder to clear.
        base: The folder it lies below (the data folder).
        names: The file names directly in ``folder`` to remove.
        temporaries_of: The file name whose leftover temporary files (see :func:`is_temporary`) are removed too
            (locally; an object store has none).
        left: Filled with the paths of what is left (not sorted).

    Returns:
        Whether ``folder`` is gone.

    Raises:
        LinkRefused: If a folder on the way is a link (locally).
        OSError: If a folder cannot be opened (locally).
    """
    if is_remote(folder):
        fs, stripped = _fs(folder)
        for name in names:
            if fs.exists(f"{stripped}/{name}"):
                fs.rm(f"{stripped}/{name}")
        fs.invalidate_cache()
        with contextlib.suppress(FileNotFoundError):
            left.extend(f"{folder}{key[len(stripped) :]}" for key in fs.find(stripped))
        if left:
            return False
        with contextlib.suppress(FileNotFoundError):
            fs.rm(stripped, recursive=True)
        return True
    parts = _parts(folder, base)
    if not os.path.lexists(folder):
        return True
    with _folder_fd(base, parts) as fd:
        for name in os.listdir(fd):
            if name in names or is_temporary(name, temporaries_of):
                with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                    os.unlink(name, dir_fd=fd)
        for below, folders, files, folder_fd in os.fwalk(".", topdown=False, follow_symlinks=False, dir_fd=fd):
            here = os.path.normpath(os.path.join(folder, below))
            left.extend(os.path.join(here, name) for name in files)
            for name in folders:
                if stat.S_ISLNK(os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_mode):
                    left.append(os.path.join(here, name))  # a link to a folder is left, like a file
                    continue
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=folder_fd)  # only an empty folder goes
    with _folder_fd(base, parts[:-1]) as parent, contextlib.suppress(OSError):
        os.rmdir(parts[-1], dir_fd=parent)  # a link there now is not a folder: rmdir refuses it
    return not os.path.lexists(folder)
