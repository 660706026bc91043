"""Where the JSON is written: strict JSON text, atomic and fsynced writes, local and on object stores.

Local files are written the way a crash cannot spoil: a temporary file in the same folder (:func:`local_temp_path`),
flushed and fsynced, then ``os.replace``d over the final name (:func:`commit_local`), so a reader sees either the old
complete file or the new complete one. Object stores have no rename; there each file is one ``PUT`` of the whole
content (``pipe_file``), which is atomic per object: a failed upload leaves the previous version, or nothing, never a
partial file.

:func:`write_artifact` writes a file model under its name; :func:`check_writable` proves a folder takes a new file
before a training step is spent.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arccnet_ckpt.errors import RunFolderError
from arccnet_ckpt.store.folders import mkdirs_with_mode
from arccnet_ckpt.store.paths import PathLike, file_system, is_remote, join, local_path

if TYPE_CHECKING:
    from pydantic import BaseModel


TMP_PREFIX = ".arc-tmp-"
"""The start of every temporary file name of an atomic write (:func:`local_temp_path`): hidden, and never taken
for an artifact or a checkpoint."""

FILE_MODE = 0o664
"""The mode of every local file the package creates, narrowed by the process umask: the owner and the group (shared
project groups rely on ``umask 002``) may write, others only read; never world-writable, even under ``umask 000``."""


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
        _write_local(Path(local_path(path)), data)


def _write_remote(path: PathLike, data: bytes) -> None:
    fs, stripped = file_system(path)
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
        mkdirs_with_mode(folder)
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
    local = Path(local_path(path))
    return str(local.parent / f"{TMP_PREFIX}{local.name}.{uuid.uuid4().hex[:12]}")


def commit_local(tmp: PathLike, path: PathLike) -> None:
    """Give a finished temporary file its final local name: fsync it, ``os.replace`` it over ``path``, fsync the folder.

    ``tmp`` must be in the folder of ``path`` (see :func:`local_temp_path`): then a reader, or a process killed at any
    moment, sees the previous complete file or the new complete one, never a partial one. For files written by
    others, such as the checkpoints Lightning saves.

    Raises:
        RunFolderError: If ``tmp`` is missing or cannot be renamed; ``tmp`` is removed and ``path`` left unchanged.
    """
    src, dst = Path(local_path(tmp)), Path(local_path(path))
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
        os.unlink(local_path(path))


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


def check_writable(folder: PathLike) -> None:
    """Prove that ``folder`` accepts a new file, by writing and removing a probe.

    Raises:
        RunFolderError: With the reason, before any training step is spent.
    """
    probe = join(folder, f"{TMP_PREFIX}probe-{uuid.uuid4().hex[:8]}")
    write_bytes(probe, b"")
    try:
        if is_remote(probe):
            fs, stripped = file_system(probe)
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


def is_temporary(name: str, of: str = "") -> bool:
    """Whether the file name ``name`` is a temporary file of an atomic write (of the file named ``of``, if given)."""
    return name.startswith(f"{TMP_PREFIX}{of}.") if of else name.startswith(TMP_PREFIX)
