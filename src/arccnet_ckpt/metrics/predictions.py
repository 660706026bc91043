"""Turning what ``test_step`` returned into integer predicted and true labels.

:func:`predictions_from_outputs` reads the ``outputs`` that Lightning hands to ``on_test_batch_end``: it finds the
prediction and target keys, takes the argmax of ``(N, C)`` scores, thresholds one score column, and returns a
:class:`Predictions` pair, or says in one line why it could not. Nothing here imports Lightning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "DEFAULT_PREDS_KEYS",
    "DEFAULT_TARGET_KEYS",
    "OutputPair",
    "Predictions",
    "predictions_from_outputs",
    "read_outputs",
]

DEFAULT_PREDS_KEYS: tuple[str, ...] = ("preds", "logits", "probs")
"""Keys of ``test_step``'s output searched for predictions, first found wins."""

DEFAULT_TARGET_KEYS: tuple[str, ...] = ("target", "targets", "y")
"""Keys of ``test_step``'s output searched for the true labels, first found wins."""


class Predictions(tuple[Tensor, Tensor]):
    """Predicted and true labels of one batch: a ``(preds, target)`` pair that also says whether it was binary.

    It unpacks like a plain pair (``preds, target = result``); ``binary`` is ``True`` when the predictions were a
    single score column (shape ``(N,)`` or ``(N, 1)``, floating point) that was thresholded, so callers can name the
    two classes ``["negative", "positive"]``.
    """

    binary: bool

    def __new__(cls, preds: Tensor, target: Tensor, *, binary: bool = False) -> Predictions:
        self = super().__new__(cls, (preds, target))
        self.binary = binary
        return self

    @property
    def preds(self) -> Tensor:
        """Predicted labels, ``int64``, shape ``(N,)``."""
        return self[0]

    @property
    def target(self) -> Tensor:
        """True labels, ``int64``, shape ``(N,)``."""
        return self[1]

    def __repr__(self) -> str:
        return f"Predictions(preds={self[0]!r}, target={self[1]!r}, binary={self.binary})"


def _find(outputs: Mapping[Any, Any], keys: Sequence[str]) -> tuple[str, Any] | None:
    for key in keys:
        value = outputs.get(key)
        if value is not None:
            return key, value
    return None


def _to_tensor(value: Any, key: str) -> Tensor | str:
    if isinstance(value, Tensor):
        return value.detach()
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as e:
        return f"test_step output {key!r} is not a tensor, array or list of numbers ({type(value).__name__}): {e}"


def _same_device(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Move the CPU tensor of a mixed pair to the other one's device (never an accelerator tensor to the CPU)."""
    if a.device == b.device:
        return a, b
    if a.device.type == "cpu":
        return a.to(b.device), b
    return a, b.to(a.device)


def _shape(t: Tensor) -> str:
    return f"({', '.join(str(s) for s in t.shape)}{',' if t.dim() == 1 else ''})"


def _binary_threshold(key: str, scores: Tensor, threshold: float | None) -> float:
    if threshold is not None:
        return float(threshold)
    if key == "probs":
        return 0.5
    if key == "logits":
        return 0.0
    # Any other key (``preds`` or a custom one): probabilities if every value is in [0, 1], logits otherwise.
    if scores.numel() == 0:
        return 0.5
    lo, hi = torch.stack(torch.aminmax(scores)).tolist()
    return 0.5 if lo >= 0.0 and hi <= 1.0 else 0.0



@dataclass(frozen=True)
class OutputPair:
    """The prediction and target tensors found in ``test_step``'s output, and their keys (shapes checked)."""

    preds_key: str
    preds: Tensor
    target_key: str
    target: Tensor  # 1-D


def read_outputs(
    outputs: Any,
    *,
    preds_keys: Sequence[str] = DEFAULT_PREDS_KEYS,
    target_keys: Sequence[str] = DEFAULT_TARGET_KEYS,
) -> OutputPair | str:
    """Find the predictions and targets in ``test_step``'s output and check their shapes, reading no value.

    The first half of :func:`predictions_from_outputs`: the same keys, conversions and one-line reasons.
    """
    if isinstance(preds_keys, str):
        preds_keys = (preds_keys,)
    if isinstance(target_keys, str):
        target_keys = (target_keys,)
    if outputs is None:
        return "test_step returned None"
    if not isinstance(outputs, Mapping):
        return (
            f"test_step returned a {type(outputs).__name__}, not a mapping: return a dict with a prediction key "
            f"({', '.join(map(repr, preds_keys))}) and a target key ({', '.join(map(repr, target_keys))})"
        )
    found_preds = _find(outputs, preds_keys)
    if found_preds is None:
        return (
            f"test_step output has no prediction key (looked for {', '.join(map(repr, preds_keys))}); "
            f"keys: {list(outputs)}"
        )
    found_target = _find(outputs, target_keys)
    if found_target is None:
        return (
            f"test_step output has no target key (looked for {', '.join(map(repr, target_keys))}); "
            f"keys: {list(outputs)}"
        )
    pkey, praw = found_preds
    tkey, traw = found_target
    preds = _to_tensor(praw, pkey)
    if isinstance(preds, str):
        return preds
    target = _to_tensor(traw, tkey)
    if isinstance(target, str):
        return target
    preds, target = _same_device(preds, target)

    if preds.is_complex() or target.is_complex():
        return f"test_step outputs {pkey!r} and {tkey!r} must be real numbers, got {preds.dtype} and {target.dtype}"
    if target.dim() == 2 and target.shape[1] == 1:
        target = target.reshape(-1)
    if target.dim() != 1:
        return f"test_step output {tkey!r} has shape {_shape(target)}; expected class indices of shape (N,) or (N, 1)"
    n = target.shape[0]
    if preds.dim() == 0 or preds.dim() > 2:
        return f"test_step output {pkey!r} has shape {_shape(preds)}; expected (N,), (N, 1) or (N, C)"
    if preds.shape[0] != n:
        return (
            f"test_step outputs {pkey!r} of shape {_shape(preds)} and {tkey!r} of shape {_shape(target)} "
            "hold different numbers of samples"
        )

    return OutputPair(pkey, preds, tkey, target)

def predictions_from_outputs(
    outputs: Any,
    *,
    preds_keys: Sequence[str] = DEFAULT_PREDS_KEYS,
    target_keys: Sequence[str] = DEFAULT_TARGET_KEYS,
    threshold: float | None = None,
) -> Predictions | str:
    """Turn what ``test_step`` returned into integer predicted and true labels.

    ``outputs`` must be a mapping (e.g. ``{"loss": loss, "logits": logits, "y": y}``) holding one of ``preds_keys``
    and one of ``target_keys``; in each tuple the first key present with a value other than ``None`` wins. Values may
    be tensors, numpy arrays or lists; the labels stay on the predictions' device (a CPU tensor paired with an
    accelerator tensor is moved to the accelerator, never the other way round).

    Predictions are read as follows:

    * floating point, shape ``(N, C)`` with ``C >= 2``: scores or probabilities, the label is the argmax over ``C``;
    * floating point, shape ``(N,)`` or ``(N, 1)``: one binary score; the label is ``score > threshold`` where the
      threshold is ``threshold`` if given, else ``0.5`` for ``probs``, ``0.0`` for ``logits``, and for ``preds`` (or
      any other key) ``0.5`` when every value of the batch is in ``[0, 1]`` and ``0.0`` otherwise. This matches
      torchmetrics, which applies a sigmoid to values outside ``[0, 1]`` and then thresholds at ``0.5``. Class
      indices stored as floats (``argmax(...).float()``) are read as scores: return them as integers;
    * integer or bool, shape ``(N,)`` or ``(N, 1)``: labels, used as they are.

    The target must be integer or bool labels of shape ``(N,)`` or ``(N, 1)``, or floats holding whole numbers
    (``0.0``/``1.0`` targets of a BCE loss).

    Args:
        outputs: The return value of ``test_step``.
        preds_keys: Keys searched for the predictions.
        target_keys: Keys searched for the true labels.
        threshold: Threshold of a binary score column; ignored for ``(N, C)`` scores and integer labels.

    Returns:
        A :class:`Predictions` pair ``(preds, target)`` of ``int64`` tensors of shape ``(N,)``, whose ``binary`` is
        ``True`` when the predictions were one thresholded score column; or, when nothing usable was found, a
        one-line string that says why.

    Example:
        >>> import torch
        >>> preds, target = predictions_from_outputs({"probs": torch.tensor([0.2, 0.9]), "y": torch.tensor([0, 1])})
        >>> preds.tolist(), target.tolist()
        ([0, 1], [0, 1])
        >>> predictions_from_outputs(None)
        'test_step returned None'
    """
    found = read_outputs(outputs, preds_keys=preds_keys, target_keys=target_keys)
    if isinstance(found, str):
        return found
    pkey, preds, tkey, target = found.preds_key, found.preds, found.target_key, found.target
    n = target.shape[0]

    binary = False
    one_column = preds.dim() == 1 or preds.shape[1] == 1
    if preds.is_floating_point() and not one_column and preds.shape[1] >= 2:
        labels = preds.argmax(dim=1)
    elif preds.is_floating_point() and one_column:
        scores = preds.reshape(-1)
        labels = scores > _binary_threshold(pkey, scores, threshold)
        binary = True
    elif one_column:
        labels = preds.reshape(-1)
    else:
        return (
            f"test_step output {pkey!r} holds {preds.dtype} values of shape {_shape(preds)}; expected integer labels "
            "of shape (N,) or (N, 1), or floating point scores of shape (N,), (N, 1) or (N, C)"
        )

    if target.is_floating_point() and n:
        bad = (target != target.round()) | ~torch.isfinite(target)
        if bool(bad.any()):
            example = target[bad][0].item()
            return f"test_step output {tkey!r} holds non-integral values (e.g. {example}); expected class indices"
    return Predictions(labels.to(torch.int64), target.to(torch.int64), binary=binary)
