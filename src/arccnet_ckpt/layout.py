"""Where a run lives: folder names, name sanitising and the best-checkpoint file name; the root folder
(:func:`root_folder`) and what makes a folder a run folder (:func:`is_run_folder`, :data:`RUN_MARKERS`).

Nothing here imports torch or lightning, so the loader can use it cheaply.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import unicodedata
from datetime import datetime, timezone

from arccnet_ckpt import store

CHECKPOINTS_DIRNAME = "checkpoints"
"""Name of the folder under ``data_folder`` that holds every run."""

RUN_MARKERS = ("training_summary.json", "config.json", "minimal_logging.json")
"""A folder holding any of these files is a run folder (a run killed before its summary still holds its config)."""

TIMESTAMP_FORMAT = "%Y-%m-%d_%H-%M-%S"
"""UTC timestamp at the start of a run folder's name (``2025-02-12_14-30-45``)."""

MAX_SEGMENT_LENGTH = 64
"""Longest model or loss name kept in a folder name; longer names are cut and given a hash suffix."""

MAX_NAME_BYTES = 255
"""Longest file or folder name most file systems take (ext4, XFS, Lustre, GPFS: 255 bytes)."""

MAX_PATH_BYTES = 4096
"""Longest local path Linux takes (``PATH_MAX``)."""

RUN_PATH_RESERVE = 320
"""Bytes a path below the root folder may need: the run folder's name (up to 154: stamp, two 64-character names and
a ``-NNN`` suffix), a checkpoint or temporary file name, and their separators."""

_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_FORMAT_CHARS = re.compile(r"[{}\[\]:]")
_RUN_NAME = re.compile(r"^(?P<stamp>\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})_(?P<rest>.+?)(?:-(?P<suffix>\d+))?$")


def is_safe_name(name: str) -> bool:
    """Whether ``name`` is one folder-safe segment: letters, digits, ``.``, ``_`` or ``-``, and not ``.`` or ``..``."""
    return bool(_SAFE_SEGMENT.match(name)) and name not in (".", "..")


def validate_root_name(root_name: str) -> str:
    """Check a ``root_name`` such as ``"cutouts/hale"`` and return it normalised.

    Args:
        root_name: One or more ``/``-separated segments, each made of letters, digits, ``.``, ``_`` or ``-``.

    Returns:
        The root name with surrounding whitespace removed.

    Raises:
        ValueError: If the name is empty, absolute, holds ``..``/``.``, empty segments, backslashes, NUL bytes or
            any other character outside the allowed set; or a segment named ``checkpoints`` (it would make the
            data folder ambiguous: ``prune`` finds a run's data folder above its ``checkpoints`` segment), a segment
            that starts with ``.`` (hidden: listings skip it, and ``.trash`` is prune's), or a segment over
            :data:`MAX_NAME_BYTES` bytes.
    """
    if not isinstance(root_name, str):
        raise ValueError(f"root_name must be a string such as 'flares/binary_classification', got {root_name!r}")
    name = root_name.strip()
    if not name:
        raise ValueError("root_name must not be empty: use a sub-path such as 'flares/binary_classification'")
    if "\x00" in name:
        raise ValueError(f"root_name {root_name!r} contains a NUL byte")
    if "\\" in name:
        raise ValueError(f"root_name {root_name!r} contains a backslash: separate segments with '/'")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "://" in name:
        raise ValueError(
            f"root_name {root_name!r} is absolute: it must be relative to <data_folder>/checkpoints, "
            "e.g. 'cutouts/hale'; set the base folder with data_folder="
        )
    for seg in name.split("/"):
        if seg == "":
            raise ValueError(f"root_name {root_name!r} has an empty segment ('//' or a trailing '/')")
        if seg in (".", ".."):
            raise ValueError(f"root_name segment {seg!r} is not allowed in {root_name!r}: it would leave the folder")
        if not _SAFE_SEGMENT.match(seg):
            raise ValueError(
                f"root_name segment {seg!r} is not allowed: use letters, digits, '.', '_' or '-' (got {root_name!r})"
            )
        if seg == CHECKPOINTS_DIRNAME:
            raise ValueError(
                f"root_name segment {CHECKPOINTS_DIRNAME!r} is not allowed (got {root_name!r}): runs already live "
                f"under <data_folder>/{CHECKPOINTS_DIRNAME}, and a second one would make the data folder ambiguous; "
                "use another name, e.g. 'ckpts'"
            )
        if seg.startswith("."):
            raise ValueError(
                f"root_name segment {seg!r} starts with '.' (got {root_name!r}): hidden folders are skipped by ls, "
                "find_runs and prune, and '.trash' is prune's; start each segment with a letter, digit, '_' or '-'"
            )
        if len(seg.encode("utf-8")) > MAX_NAME_BYTES:
            raise ValueError(
                f"root_name segment {seg[:20]!r}... is {len(seg.encode('utf-8'))} bytes long (got a root_name of "
                f"{len(name)} characters): a folder name may have at most {MAX_NAME_BYTES} bytes"
            )
    return name


def check_path_length(data_folder: str, root_name: str) -> None:
    """Refuse a local root folder so long that no run folder and file fit below it.

    Args:
        data_folder: The resolved data folder (see :func:`resolve_data_folder`); URLs are not checked.
        root_name: A root name that passed :func:`validate_root_name`.

    Raises:
        ValueError: Naming the limit (:data:`MAX_PATH_BYTES` bytes, of which :data:`RUN_PATH_RESERVE` are kept for
            the run folder and its files) and the length of the root folder's path.
    """
    if "://" in data_folder and not data_folder.startswith("file://"):
        return
    root = os.path.join(data_folder, CHECKPOINTS_DIRNAME, *root_name.split("/"))
    size = len(os.fsencode(root))
    if size + RUN_PATH_RESERVE > MAX_PATH_BYTES:
        raise ValueError(
            f"the root folder {root[:60]}... is {size} bytes long: a path may have at most {MAX_PATH_BYTES} bytes, "
            f"and {RUN_PATH_RESERVE} of them are needed below the root folder for the run folder and its files; use "
            f"a shorter data_folder or root_name (at most {MAX_PATH_BYTES - RUN_PATH_RESERVE} bytes together)"
        )


def sanitize_segment(name: object, *, max_length: int = MAX_SEGMENT_LENGTH, fallback: str = "unknown") -> str:
    """Turn any model or loss name into one safe path segment.

    Accented letters lose their accents, every run of characters outside ``[A-Za-z0-9._-]`` becomes ``_``, runs of
    dots collapse and leading/trailing ``.``, ``_``, ``-`` are removed (no hidden folders, no ``..``), and names
    longer than ``max_length`` are cut and given a short hash, so two different long names stay different.

    Args:
        name: The name to clean; non-strings are converted with ``str``.
        max_length: Longest result.
        fallback: Returned when nothing usable is left.

    Returns:
        A non-empty string that can never create a sub-folder.

    Example:
        >>> sanitize_segment("timm/resnet18")
        'timm_resnet18'
        >>> sanitize_segment("../../etc")
        'etc'
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    text = _UNSAFE_CHARS.sub("_", text)
    text = re.sub(r"\.{2,}", ".", text).strip("._-")
    if not text:
        return fallback
    if len(text) > max_length:
        digest = hashlib.sha1(str(name).encode("utf-8"), usedforsecurity=False).hexdigest()[:8]
        text = text[: max_length - 9].rstrip("._-") + "-" + digest
    return text


def format_timestamp(moment: datetime) -> str:
    """Format a moment as the folder-name stamp, in UTC (``2025-02-12_14-30-45``)."""
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {moment!r} has no time zone: pass an aware datetime (UTC)")
    return moment.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)


def run_folder_name(start: datetime, model_name: object, loss_function: object) -> str:
    """Build ``YYYY-MM-DD_HH-MM-SS_<model>_<loss>`` from the start time and the (sanitised) names."""
    return f"{format_timestamp(start)}_{sanitize_segment(model_name)}_{sanitize_segment(loss_function)}"


def split_at_checkpoints(path: str) -> tuple[str, str] | None:
    """``(data folder, what lies below checkpoints)`` around the last ``checkpoints`` segment of a path or URL, or
    ``None`` when it has none: ``/d/checkpoints/flares/run`` -> ``("/d", "flares/run")``."""
    parts = path.replace("\\", "/").rstrip("/").split("/")
    if CHECKPOINTS_DIRNAME not in parts:
        return None
    index = len(parts) - 1 - parts[::-1].index(CHECKPOINTS_DIRNAME)
    return "/".join(parts[:index]) or "/", "/".join(parts[index + 1 :])


def parse_run_folder_name(name: str) -> tuple[datetime, str] | None:
    """Split a run folder name into its start stamp (naive, as written) and the ``<model>_<loss>`` rest.

    Returns:
        ``None`` when the name does not follow the convention.
    """
    match = _RUN_NAME.match(name)
    if match is None:
        return None
    try:
        stamp = datetime.strptime(match["stamp"], TIMESTAMP_FORMAT)
    except ValueError:
        return None
    return stamp, match["rest"]


def safe_monitor_name(monitor: str) -> str:
    """The monitor name as it appears in a file name: ``val/f1`` becomes ``val_f1``."""
    return sanitize_segment(monitor, max_length=MAX_SEGMENT_LENGTH, fallback="metric")


def best_checkpoint_template(monitor: str | None) -> str:
    """The default ``ModelCheckpoint`` filename template: ``best-epoch{epoch:02d}-<monitor>-{<monitor>:.3f}``.

    Lightning formats it (with ``auto_insert_metric_name=False``) into e.g. ``best-epoch02-val_f1-0.847.ckpt``.
    Without a monitor the template is ``epoch{epoch:02d}-step{step}``.

    Raises:
        ValueError: If the monitor name holds a character that Lightning's formatter cannot take (``{}[]:``).
    """
    if monitor is None:
        return "epoch{epoch:02d}-step{step}"
    if _FORMAT_CHARS.search(monitor):
        raise ValueError(
            f"monitor {monitor!r} contains one of '{{}}[]:' which cannot appear in the checkpoint file name "
            "template; rename the logged metric or pass filename= explicitly"
        )
    return f"best-epoch{{epoch:02d}}-{safe_monitor_name(monitor)}-{{{monitor}:.3f}}"


# Lightning's template (best-epoch02-val_f1-0.847.ckpt), then the old manual one (best-42-0.847.ckpt);
# "-v1" is the suffix Lightning adds when a name is taken.
_NUMBER = r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf|-inf)"
BEST_CHECKPOINT_NAMES = (
    re.compile(rf"^best-epoch(?P<epoch>\d+)-(?P<metric>.+?)-{_NUMBER}(?:-v\d+)?\.ckpt$"),
    re.compile(rf"^best-(?P<epoch>\d+)-{_NUMBER}(?:-v\d+)?\.ckpt$"),
)
"""The names a best checkpoint has: :func:`best_checkpoint_template`'s, then the old manual system's."""


def parse_checkpoint_name(name: str) -> tuple[int, float | None] | None:
    """``(epoch, value)`` from ``best-epoch02-val_f1-0.847.ckpt`` or ``best-42-0.847.ckpt``; ``None`` otherwise."""
    for pattern in BEST_CHECKPOINT_NAMES:
        match = pattern.match(name)
        if match is not None:
            value = float(match["value"])
            return int(match["epoch"]), value if math.isfinite(value) else None
    return None


DATA_FOLDER_ENVS = ("ARCCNET_DATA_FOLDER", "ARCAFF_DATA_FOLDER")
"""Environment variables that set the default data folder, in order: this package's own, then the one the ARCAFF
projects' configs already use (``ARCAFF_DATA_FOLDER=/ARCAFF/data``)."""

DEFAULT_DATA_FOLDER = "./data"
"""Data folder used when neither an argument nor an environment variable gives one."""


def resolve_data_folder(data_folder: str | os.PathLike[str] | None) -> str:
    """The data folder to use: the argument, else ``$ARCCNET_DATA_FOLDER``, else ``$ARCAFF_DATA_FOLDER``, else
    ``./data`` (an empty variable counts as unset).

    Local paths are made absolute (``~`` expanded) so a run's record does not depend on the working directory;
    fsspec URLs (``s3://bucket/data``) are returned unchanged.
    """
    from_env = next((os.environ[name] for name in DATA_FOLDER_ENVS if os.environ.get(name, "").strip()), None)
    chosen = os.fspath(data_folder) if data_folder is not None else from_env or DEFAULT_DATA_FOLDER
    if "://" in chosen and not chosen.startswith("file://"):
        return chosen.rstrip("/")
    if chosen.startswith("file://"):
        chosen = chosen[len("file://") :]
    return os.path.abspath(os.path.expanduser(chosen))


def root_folder(data_folder: str, root_name: str | None) -> str:
    """``<data_folder>/checkpoints/<root_name>`` (local path or URL); ``<data_folder>/checkpoints`` without a root."""
    return store.join(data_folder, CHECKPOINTS_DIRNAME, *(root_name.split("/") if root_name else ()))


MISTAKES_DIRNAME = "mistakes"
"""The run folder's sub-folder of the mistakes' thumbnails (``mistakes/test1-01.png``)."""

_THUMBNAIL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.png$")


def thumbnail_path(path: str) -> tuple[str, str]:
    """``mistakes/test1-01.png`` as its two segments: the only shape of a thumbnail's path in a run folder.

    Raises:
        ValueError: For any other path (another folder, a parent segment, not a ``.png``).
    """
    folder, _, name = path.partition("/")
    if folder != MISTAKES_DIRNAME or not _THUMBNAIL.match(name) or name.startswith(".."):
        raise ValueError(f"a thumbnail's path must be {MISTAKES_DIRNAME}/<name>.png, got {path!r}")
    return folder, name


def is_run_folder(folder: str) -> bool:
    """Whether ``folder`` is a run folder: it holds one of :data:`RUN_MARKERS`. THE rule, for every reader."""
    return any(store.exists(store.join(folder, name)) for name in RUN_MARKERS)
