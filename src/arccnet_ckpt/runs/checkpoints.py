"""A run's checkpoints: which one is the best (:func:`choose_best`, :func:`pick_best`), the ``arccnet_ckpt`` entry
every checkpoint of the callback carries (:data:`CHECKPOINT_KEY`, :func:`read_checkpoint_entry`,
:func:`config_digest`), and the one safe way to open a checkpoint (:func:`load_checkpoint_safely`).

Only :func:`load_checkpoint_safely` (and what calls it) imports torch, when called.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from typing import TYPE_CHECKING, Any

from arccnet_ckpt import store
from arccnet_ckpt.errors import ArcCkptWarning, CheckpointMismatchError
from arccnet_ckpt.layout import BEST_CHECKPOINT_NAMES, parse_checkpoint_name
from arccnet_ckpt.records import ConfigRecord, TrainingSummary
from arccnet_ckpt.runs.direction import metric_mode

if TYPE_CHECKING:
    from arccnet_ckpt.store import PathLike

CHECKPOINT_KEY = "arccnet_ckpt"
"""The top-level key of every checkpoint the callback saves: ``run_name``, ``run_dir``, ``schema_version`` and
``config_sha256`` (the SHA-256 of ``config.json`` when the checkpoint was saved)."""

CHECKPOINT_ENTRY_VERSION = 1

CHECKPOINT_NOTES = "checkpoints"
"""The key of :attr:`~arccnet_ckpt.records.reader.RunFiles.notes` under which the choice of the best checkpoint is
explained."""


def choose_best(run_dir: str, checkpoints: list[str], summary: TrainingSummary | None) -> tuple[str | None, list[str]]:
    """The best checkpoint of a run (absolute path or URL), or ``None``, and notes on how it was chosen.

    ``summary.best_model_path`` (relative to the run folder) when that file exists, else the ``best-*.ckpt`` in the
    folder; with several, the one whose name holds the best value (:func:`pick_best`).
    """
    summary_file = TrainingSummary.filename
    recorded = summary.best_model_path if summary is not None else None
    if recorded:
        if store.is_remote(recorded) or os.path.isabs(recorded):
            candidate = recorded
        else:
            candidate = store.join(run_dir, *recorded.replace("\\", "/").split("/"))
        if candidate in checkpoints or store.exists(candidate):
            return candidate, []
    mode = summary.mode if summary is not None else None
    monitor = summary.monitor if summary is not None else None
    chosen = pick_best(checkpoints, monitor, mode)
    best = [p for p in checkpoints if store.basename(p).startswith("best-")]
    notes = []
    if recorded and chosen is not None:
        notes.append(f"{summary_file}: best_model_path {recorded!r} not found; using {store.basename(chosen)}")
    elif recorded:
        notes.append(f"{summary_file}: best_model_path {recorded!r} not found and no best-*.ckpt in the folder")
    if chosen is not None and len(best) > 1:
        notes.append(
            f"checkpoints: {len(best)} best-*.ckpt files; chose {store.basename(chosen)} by the value in its name"
        )
    return chosen, notes


def pick_best(checkpoints: list[str], monitor: str | None, mode: str | None) -> str | None:
    """The ``best-*.ckpt`` with the best value in its name (the later epoch among equals); ``None`` if none.

    The direction is :func:`~arccnet_ckpt.runs.direction.metric_mode` of the recorded monitor, else of the metric the
    names carry (``best-epoch02-val_error-0.2.ckpt`` is minimised), like everywhere else.
    """
    best = [p for p in checkpoints if store.basename(p).startswith("best-")]
    if len(best) <= 1:
        return best[0] if best else None
    named = (BEST_CHECKPOINT_NAMES[0].match(store.basename(p)) for p in best)
    metric = monitor or next((m["metric"] for m in named if m is not None), "")
    sign = 1.0 if metric_mode(metric, monitor, mode) == "max" else -1.0

    def rank(path: str) -> tuple[bool, float, int]:
        parsed = parse_checkpoint_name(store.basename(path))
        if parsed is None or parsed[1] is None:
            return (False, 0.0, parsed[0] if parsed else -1)
        return (True, sign * parsed[1], parsed[0])

    return max(best, key=rank)


def check_belongs(checkpoint: str, run_name: str, run_dir: str) -> None:
    """Refuse a checkpoint whose ``arccnet_ckpt`` entry names another run than ``run_name``; warn when the run's
    ``config.json`` changed since the checkpoint was saved.

    Raises:
        CheckpointMismatchError: Naming both runs.
    """
    entry = read_checkpoint_entry(checkpoint)
    if entry is None:
        return  # saved before checkpoints carried their run, or by something else: nothing to compare
    recorded = entry.get("run_name")
    if recorded and recorded != run_name:
        raise CheckpointMismatchError(
            f"{checkpoint}: this checkpoint belongs to run {recorded!r} (saved in {entry.get('run_dir')}), not to "
            f"{run_name!r} whose folder holds it; load it from its own run folder, or with "
            "module_cls.load_from_checkpoint(path) if that is what you mean"
        )
    digest = entry.get("config_sha256")
    current = config_digest(run_dir)
    if digest and current and digest != current:
        warnings.warn(
            f"{checkpoint}: config.json changed since this checkpoint was saved (a resumed fit rewrites it): "
            "compare the config with the one you expect",
            ArcCkptWarning,
            stacklevel=3,  # the caller of Run.load_model
        )


def config_digest(run_dir: PathLike) -> str | None:
    """The SHA-256 (hex) of the run's ``config.json`` as stored, or ``None`` when it cannot be read."""
    try:
        raw = store.read_bounded(store.join(os.fspath(run_dir), ConfigRecord.filename))
    except (OSError, UnicodeDecodeError):
        return None
    return hashlib.sha256(raw).hexdigest()


def load_checkpoint_safely(checkpoint: PathLike, *, mmap: bool = False) -> Any:
    """``torch.load`` of a local or remote checkpoint on the CPU with ``weights_only=True``: reading a file from
    someone else never runs code from it (imports torch). ``mmap``: map a local file's tensors instead of reading
    them (for a look at its small entries).

    Raises:
        Exception: Whatever ``torch.load`` or the file system raises for a file that cannot be read this way.
    """
    import torch

    path = os.fspath(checkpoint)
    if store.is_remote(path):
        with store.open_for_reading(path) as f:
            return torch.load(f, map_location="cpu", weights_only=True)
    return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)


def read_checkpoint_entry(checkpoint: PathLike) -> dict[str, Any] | None:
    """The ``arccnet_ckpt`` entry of a checkpoint (imports torch), or ``None`` when it has none or cannot be read
    safely (see :func:`load_checkpoint_safely`)."""
    try:
        data = load_checkpoint_safely(checkpoint, mmap=True)
    except Exception:  # an unsafe or foreign checkpoint: nothing can be said of its run
        return None
    entry = data.get(CHECKPOINT_KEY) if isinstance(data, dict) else None
    return dict(entry) if isinstance(entry, dict) else None
