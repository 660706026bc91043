"""Moving, removing, clearing and sizing below a data folder without ever following a link: what prune and trash need.

Locally every move and deletion goes through folder descriptors opened one name at a time from the base folder
without following a link (:func:`_folder_fd`), so a folder swapped for a link between a check and the move is
refused (:class:`LinkRefused`), never followed. :func:`not_safely_below` says beforehand why a path may not be
touched. On an object store, which has no links, a move is a copy then a delete.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import sys
from collections.abc import Iterator, Sequence

from arccnet_ckpt.errors import ArcCkptError, RunNotFoundError
from arccnet_ckpt.store.folders import DIR_MODE
from arccnet_ckpt.store.paths import file_system, is_remote, resolved
from arccnet_ckpt.store.write import is_temporary


class LinkRefused(ArcCkptError):
    """A move or deletion refused because a name on its way is a symbolic link (or not a folder)."""


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


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
        fs, stripped = file_system(folder)
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
        fs, stripped = file_system(path)
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
    fs, stripped = file_system(source)
    _, target_stripped = file_system(target)
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
        fs, stripped = file_system(path)
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
        fs, stripped = file_system(folder)
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
