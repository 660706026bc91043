"""``ArcCheckpointCallback`` for code that imports ``pytorch_lightning`` (``import pytorch_lightning as pl``).

``lightning.pytorch`` and the standalone ``pytorch_lightning`` package have separate class trees: a callback built
on one is not a ``Checkpoint`` to a Trainer of the other. This module offers the same implementation on the
``pytorch_lightning`` tree::

    import pytorch_lightning as pl
    from arccnet_ckpt.pytorch_lightning import ArcCheckpointCallback

    trainer = pl.Trainer(callbacks=[ArcCheckpointCallback(root_name="cutouts/hale")])

Giving either class to the other namespace's Trainer raises :class:`~arccnet_ckpt.errors.NamespaceMismatchError`.
"""

from __future__ import annotations

from typing import ClassVar

from pytorch_lightning.callbacks import ModelCheckpoint

from arccnet_ckpt.lightning.callback import ArcCheckpointLogic


class ArcCheckpointCallback(ArcCheckpointLogic, ModelCheckpoint):  # type: ignore[misc]
    """:class:`arccnet_ckpt.ArcCheckpointCallback` for ``pytorch_lightning.Trainer``; same arguments and files."""

    _namespace: ClassVar[str] = "pytorch_lightning"


__all__ = ["ArcCheckpointCallback"]
