"""Reading a batch as the model saw it: its targets and its inputs, and what one batch's forward returned.

The one rule for finding targets in a batch, used by the test report (zero-code predictions) and by the data counts
of every split: element 1 of an ``(inputs, targets, ...)`` tuple or list, or a target key of a dict batch
(:data:`BATCH_TARGET_KEYS`). Inputs are element 0, or an input key of a dict batch (:data:`BATCH_INPUT_KEYS`).
Nothing is read from the device here: shapes and dtypes only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from arccnet_ckpt.metrics.predictions import DEFAULT_TARGET_KEYS

__all__ = ["BATCH_INPUT_KEYS", "BATCH_TARGET_KEYS", "ForwardCall", "inputs_from_batch", "targets_from_batch"]

BATCH_TARGET_KEYS: tuple[str, ...] = (*DEFAULT_TARGET_KEYS, "label", "labels")
"""Keys of a dict batch searched for the targets, first found wins."""

BATCH_INPUT_KEYS: tuple[str, ...] = ("x", "input", "inputs", "image", "images", "pixel_values")
"""Keys of a dict batch searched for the inputs, first found wins."""


@dataclass
class ForwardCall:
    """What the LightningModule's forward did during one test batch.

    Attributes:
        output: The return value of its last call in the batch (a tensor, or a dict/tuple holding one).
        calls: How many times forward ran in the batch; more than one means the output is ambiguous.
        inputs: The first positional argument of that call, when it was a tensor (for thumbnails).
    """

    output: Any = None
    calls: int = 0
    inputs: Tensor | None = None


def targets_from_batch(batch: Any, num_samples: int | None = None) -> Tensor | str:
    """The batch's targets: an integer (or whole-number float) tensor of shape ``(N,)`` or ``(N, 1)``.

    Args:
        batch: What the dataloader yielded: ``(inputs, targets, ...)`` or a dict with a target key.
        num_samples: When given, the targets' first dimension must equal it (the scores' ``N``).

    Returns:
        The targets as a 1-D tensor (a view: nothing is copied or read from the device), or one line saying why
        none was found.
    """
    if isinstance(batch, Mapping):
        key = next((k for k in BATCH_TARGET_KEYS if isinstance(batch.get(k), Tensor)), None)
        if key is None:
            return f"the dict batch has no tensor under a target key (looked for {', '.join(BATCH_TARGET_KEYS)})"
        value, where = batch[key], f"batch[{key!r}]"
    elif isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)):
        if len(batch) < 2 or not isinstance(batch[1], Tensor):
            return "the batch is not an (inputs, targets, ...) tuple or list with a tensor as element 1"
        value, where = batch[1], "batch[1]"
    else:
        return f"the batch is a {type(batch).__name__}, not an (inputs, targets) tuple or a dict"
    if value.dim() == 2 and value.shape[1] == 1:
        value = value.reshape(-1)
    if value.dim() != 1 or value.is_complex():
        return f"{where} has shape {tuple(value.shape)} and dtype {value.dtype}; expected class indices of shape (N,)"
    if num_samples is not None and value.shape[0] != num_samples:
        return f"{where} holds {value.shape[0]} targets but the scores hold {num_samples} rows"
    return value


def inputs_from_batch(batch: Any) -> Tensor | None:
    """The batch's inputs (element 0, or an input key of a dict batch) when they are a tensor, else ``None``."""
    if isinstance(batch, Mapping):
        return next((batch[k] for k in BATCH_INPUT_KEYS if isinstance(batch.get(k), Tensor)), None)
    if isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)) and batch:
        first = batch[0]
        return first if isinstance(first, Tensor) else None
    return batch if isinstance(batch, Tensor) else None
