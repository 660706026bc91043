"""Reading a run's files: bounded (:data:`MAX_JSON_BYTES`) and non-blocking, since data folders are shared.

:func:`read_bounded` gives the bytes of one JSON file whatever sits under its name (a FIFO, a device, a socket or a
folder is refused, never waited on); :func:`read_many` fetches many below a URL in one concurrent batch. Parsing and
validating is :mod:`arccnet_ckpt.records.reader`'s.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

from arccnet_ckpt.store.paths import PathLike, file_system, fs_for_many_reads, is_remote, local_path


def read_text(path: PathLike) -> str:
    """Read a UTF-8 text file from a local path or URL."""
    if is_remote(path):
        fs, stripped = file_system(path)
        with fs.open(stripped, "rb") as fh:
            return bytes(fh.read()).decode("utf-8")
    return Path(local_path(path)).read_text(encoding="utf-8")


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


def read_bounded(path: str, limit: int = MAX_JSON_BYTES) -> bytes:
    """The bytes of one file of a run folder (local or remote), checked by :func:`_read_local`'s rules.

    Args:
        path: The file.
        limit: The most bytes it may hold: :data:`MAX_JSON_BYTES` for a JSON file (a thumbnail has its own).

    Raises:
        OSError: If it cannot be read, is not a regular file, or is larger than ``limit``.
    """
    return _read_remote(path, limit) if is_remote(path) else _read_local(path, limit)


def _read_local(path: str, limit: int = MAX_JSON_BYTES) -> bytes:
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
        if info.st_size > limit:
            raise _too_large(info.st_size, limit)
        # One read call for the whole file (a run's JSON is a few KB): unbuffered os.read, about twice as fast as
        # open().read() for thousands of small files. The loop only runs for a short read, or a file that grows.
        first = os.read(fd, info.st_size + 1)
        if len(first) == info.st_size:
            return first
        chunks = [first]
        size = len(first)
        while chunk := os.read(fd, _READ_SIZE):
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_remote(path: str, limit: int = MAX_JSON_BYTES) -> bytes:
    """As :func:`_read_local` for a URL: at most ``limit`` + 1 bytes are fetched."""
    fs, stripped = file_system(path)
    with fs.open(stripped, "rb") as fh:
        data = bytes(fh.read(limit + 1))
    if len(data) > limit:
        raise _too_large(None, limit)
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


def _too_large(size: int | None, limit: int = MAX_JSON_BYTES) -> OSError:
    held = f" (it holds {size:,} bytes)" if size is not None else ""
    if limit == MAX_JSON_BYTES:
        return OSError(f"larger than the {limit // (1024 * 1024)} MiB limit for a run's JSON file{held}: not read")
    return OSError(f"larger than the {limit:,}-byte limit{held}: not read")


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
    return open(local_path(path), "rb")  # noqa: SIM115 - the caller closes it with `with`
