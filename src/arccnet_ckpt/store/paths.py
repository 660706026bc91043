"""Local path or fsspec URL: which one a path is, its file system, and the path arithmetic and tests on both.

A path with ``://`` (other than ``file://``) is a URL handled by fsspec (``s3://``, ``memory://``); everything else
is a local path, handled by :mod:`os`. Every other module of :mod:`arccnet_ckpt.store` asks here which one it has.
"""

from __future__ import annotations

import os
import posixpath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


PathLike = str | os.PathLike[str]


def is_remote(path: PathLike) -> bool:
    """True for fsspec URLs such as ``s3://bucket/x`` or ``memory://x``; False for local paths and ``file://``."""
    text = os.fspath(path)
    if "://" not in text:
        return False
    return not text.startswith("file://")


def local_path(path: PathLike) -> str:
    """A local path as :mod:`os` takes it: ``file://`` removed."""
    text = os.fspath(path)
    return text[len("file://") :] if text.startswith("file://") else text


def file_system(path: PathLike) -> tuple[Any, str]:
    """The fsspec file system of a URL, and the path on it (fsspec is imported only when a URL is met)."""
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
    return os.path.join(local_path(base), *parts)


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
        fs, stripped = file_system(path)
        return bool(getattr(fs, remote)(stripped))
    return local(local_path(path))


def lexists(path: PathLike) -> bool:
    """Whether a file, folder or link (even a dangling one) exists at ``path``; on an object store, :func:`exists`."""
    return exists(path) if is_remote(path) else os.path.lexists(local_path(path))


def resolved(path: str) -> str:
    """``path`` as paths are compared: local ones resolved (symbolic links, ``..``), URLs normalised."""
    if is_remote(path):
        scheme, _, rest = path.partition("://")
        return f"{scheme}://{posixpath.normpath(rest)}"
    return os.path.realpath(path)
