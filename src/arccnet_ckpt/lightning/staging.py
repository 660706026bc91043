"""No truncated ``.ckpt`` under its final name: checkpoints are written beside it, fsynced, then renamed.

Lightning's ``TorchCheckpointIO`` stages a checkpoint in ``$TMPDIR`` and moves it to its name: a plain copy into the
final name when ``$TMPDIR`` is on another file system (node-local ``/tmp``, data on NFS or Lustre), with no fsync,
so a kill half-way leaves a truncated ``.ckpt`` that looks complete. :class:`StagedCheckpointIO` wraps the strategy's
``checkpoint_io`` (Lightning's public seam for how checkpoints are written): the wrapped IO writes
``.arc-tmp-<name>.<hex>`` beside the final name, and the wrapper fsyncs it and renames it atomically.

Only local paths written by the default strategy with a plain ``TorchCheckpointIO`` are staged: FSDP, DeepSpeed,
XLA and ``AsyncCheckpointIO`` keep their own paths, and remote URLs (one PUT per object) need no staging.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Collection, Iterable
from typing import Any

from arccnet_ckpt import store
from arccnet_ckpt.errors import ArcCkptWarning


class StagedCheckpointIO:
    """Wraps a ``CheckpointIO`` so local checkpoints appear under their final name complete, or not at all.

    Args:
        checkpoint_io: The IO that writes the bytes (a ``TorchCheckpointIO``).
    """

    def __init__(self, checkpoint_io: Any) -> None:
        self.checkpoint_io = checkpoint_io

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        """Write ``checkpoint`` to a temporary name beside ``path``, then fsync and rename it to ``path``.

        Raises:
            RunFolderError: If the finished file cannot be renamed into place (``path`` is left unchanged).
        """
        target = os.fspath(path)
        if store.is_remote(target):
            self.checkpoint_io.save_checkpoint(checkpoint, path, storage_options=storage_options)
            return
        tmp = store.local_temp_path(target)
        try:
            self.checkpoint_io.save_checkpoint(checkpoint, tmp, storage_options=storage_options)
        except BaseException:
            # A disk that filled up half-way: the partial file holds the last free bytes, which the failure record
            # needs. (Lightning's own copy in $TMPDIR is discarded by its fsspec transaction.)
            store.remove_quietly(tmp)
            raise
        if not os.path.exists(tmp):
            # The wrapped IO wrote nothing (a test double, or an IO that saves elsewhere): nothing to commit.
            message = f"the checkpoint IO wrote no file for {target}; nothing was renamed into place"
            warnings.warn(message, ArcCkptWarning, stacklevel=2)
            return
        store.commit_local(tmp, target)

    def load_checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Load with the wrapped IO."""
        return self.checkpoint_io.load_checkpoint(*args, **kwargs)

    def remove_checkpoint(self, path: Any) -> None:
        """Remove with the wrapped IO."""
        self.checkpoint_io.remove_checkpoint(path)

    def teardown(self) -> None:
        """Tear down the wrapped IO."""
        self.checkpoint_io.teardown()

    def __getattr__(self, name: str) -> Any:
        # Anything else a strategy or plugin asks of its IO is the wrapped one's.
        if name == "checkpoint_io":
            raise AttributeError(name)
        return getattr(self.checkpoint_io, name)


def install(strategy: Any, namespace: str) -> bool:
    """Wrap ``strategy.checkpoint_io`` in :class:`StagedCheckpointIO` where staging applies; idempotent.

    Args:
        strategy: The Trainer's strategy.
        namespace: ``lightning.pytorch`` or ``pytorch_lightning``, whose classes the strategy comes from.

    Returns:
        Whether the strategy's checkpoints are now staged.
    """
    strategies = importlib.import_module(f"{namespace}.strategies")
    plugins = importlib.import_module(f"{namespace}.plugins")
    io = strategy.checkpoint_io
    if isinstance(io, StagedCheckpointIO):
        return True
    # FSDP, DeepSpeed, XLA and ModelParallel save their own way (often a folder); AsyncCheckpointIO saves later.
    if type(strategy).save_checkpoint is not strategies.Strategy.save_checkpoint:
        return False
    if type(io) is not plugins.TorchCheckpointIO:
        return False
    strategy.checkpoint_io = StagedCheckpointIO(io)
    return True


def saves_in_background(strategy: Any, namespace: str) -> bool:
    """Whether checkpoints land on disk only later (``AsyncCheckpointIO``, possibly wrapped)."""
    io_mod = importlib.import_module(f"{namespace}.plugins.io")
    io = getattr(strategy, "checkpoint_io", None)
    for _ in range(8):  # wrappers hold the wrapped IO in .checkpoint_io
        if io is None:
            return False
        if isinstance(io, io_mod.AsyncCheckpointIO):
            return True
        io = getattr(io, "checkpoint_io", None)
    return False


def clean_up(strategy: Any, namespace: str, saved: Iterable[str], keep: Collection[str], run_dir: str) -> None:
    """At fit end (rank 0): with checkpoints saved in background, remove those saved but superseded meanwhile."""
    if saves_in_background(strategy, namespace):
        remove_superseded(strategy, saved, keep, run_dir)


def remove_superseded(strategy: Any, saved: Iterable[str], keep: Collection[str], run_dir: str) -> None:
    """Remove the checkpoints of ``run_dir`` that were saved but are no longer kept (rank 0, once saves are done).

    With ``AsyncCheckpointIO`` a checkpoint ModelCheckpoint dropped while its save was still queued is written after
    the removal; at fit end, once the strategy has waited for every save, it is removed again.
    """
    for path in [p for p in saved if p not in keep and store.dirname(p) == run_dir]:
        try:
            if store.exists(path):
                strategy.remove_checkpoint(path)
        except Exception as e:
            message = f"could not remove the superseded checkpoint {path}: {type(e).__name__}: {e}"
            warnings.warn(message, ArcCkptWarning, stacklevel=2)
