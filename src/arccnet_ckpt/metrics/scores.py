"""Where a test batch's scores come from, and how they are read: the rule behind ``predictions`` in the report.

:func:`resolve_batch` decides, per batch, in this order:

1. ``test_step`` returned floating-point scores and targets under the documented keys: ``source: "outputs"``;
2. it returned integer labels and targets: the scores are the module's forward output of the batch (one call, same
   ``N``), the confusion matrix takes the returned labels (``labels: "outputs"``); without such an output the report
   is labels only;
3. otherwise the forward output (one call) and the batch's targets (:func:`~arccnet_ckpt.metrics.batches.
   targets_from_batch`): ``source: "forward"``.

:func:`forward_scores` reads the forward output: a tensor; a dict's documented prediction key, else its first tensor;
a tuple's or list's first tensor. :class:`Interpretation` reads the scores the way torchmetrics does, decided by the
first batch that holds scores and kept on the device (no host read): one column is a probability when every value is
in [0, 1], else a logit (sigmoid); ``C`` columns are probabilities when every row is in [0, 1] and sums to 1, else
logits (softmax). A ``logits`` or ``probs`` key says which it is. A later batch that cannot be what the first one
decided (values outside [0, 1] after "probabilities") is counted on the device and reported at test end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from arccnet_ckpt.metrics.batches import ForwardCall, targets_from_batch
from arccnet_ckpt.metrics.predictions import DEFAULT_PREDS_KEYS, read_outputs

__all__ = ["FIX", "BatchScores", "Interpretation", "forward_scores", "resolve_batch"]

FIX = (
    'return {"logits": logits, "y": y} from test_step, or name your keys with '
    "ArcCheckpointCallback(preds_key=..., target_key=...)"
)
"""The documented fix, named in every note that says the predictions could not be found."""


@dataclass
class BatchScores:
    """One batch's predictions as found: scores and/or labels, and the targets (nothing read from the device).

    Attributes:
        source: ``outputs`` (test_step returned the scores, or labels only) or ``forward`` (the forward output).
        key: Which element held the scores (``logits``, ``forward[0]``...); ``None`` for a plain forward tensor.
        target: The targets, 1-D, as found (integer, bool or whole-number floats).
        scores: Floating-point scores ``(N, K)``, or ``None`` when there are labels only.
        labels: Integer labels returned by test_step (``(N,)``), or ``None`` when the scores give them.
        note: Why there are no scores (labels only), in one line.
    """

    source: str
    key: str | None
    target: Tensor
    scores: Tensor | None = None
    labels: Tensor | None = None
    note: str | None = None

    @property
    def size(self) -> int:
        return int(self.target.shape[0])


def forward_scores(
    forward: ForwardCall | None, preds_keys: Sequence[str] = DEFAULT_PREDS_KEYS, num_samples: int | None = None
) -> tuple[str | None, Tensor] | str:
    """The scores in what the module's forward returned during one batch: ``(key, (N, K) tensor)`` or a reason.

    Args:
        forward: The batch's forward call (its output and how many times it ran).
        preds_keys: The documented prediction keys, searched first in a dict output.
        num_samples: When given, the scores' ``N`` must equal it.
    """
    if forward is None or forward.calls == 0:
        return "the module's forward did not run during the test step"
    if forward.calls > 1:
        return f"the module's forward ran {forward.calls} times in one test batch, so its output is ambiguous"
    output, key = forward.output, None
    if isinstance(output, Mapping):
        key = next((k for k in preds_keys if isinstance(output.get(k), Tensor)), None)
        key = key or next((str(k) for k, v in output.items() if isinstance(v, Tensor)), None)
        if key is None:
            return f"the forward output is a dict with no tensor (keys: {list(output)})"
        output = output[key]
    elif isinstance(output, (tuple, list)):
        index = next((i for i, v in enumerate(output) if isinstance(v, Tensor)), None)
        if index is None:
            return f"the forward output is a {type(output).__name__} with no tensor"
        key, output = f"forward[{index}]", output[index]
    if not isinstance(output, Tensor):
        return f"the forward output is a {type(output).__name__}, not a tensor, a dict or a tuple holding one"
    where = "the forward output" + (f" {key!r}" if key else "")
    if not output.is_floating_point():
        return f"{where} holds {output.dtype} values, not scores"
    if output.dim() == 1:
        output = output.unsqueeze(1)
    if output.dim() != 2:
        return f"{where} has shape {tuple(output.shape)}; expected scores of shape (N,), (N, 1) or (N, C)"
    if num_samples is not None and output.shape[0] != num_samples:
        return f"{where} holds {output.shape[0]} rows but test_step's labels hold {num_samples}"
    return key, output.detach()


def resolve_batch(
    outputs: Any,
    forward: ForwardCall | None,
    batch: Any,
    preds_keys: Sequence[str],
    target_keys: Sequence[str],
) -> BatchScores | str:
    """One batch's predictions, by the order of the module docstring; or one line saying why there are none."""
    found = read_outputs(outputs, preds_keys=preds_keys, target_keys=target_keys)
    if not isinstance(found, str):
        preds = found.preds
        if preds.is_floating_point():
            scores = preds.unsqueeze(1) if preds.dim() == 1 else preds
            return BatchScores("outputs", found.preds_key, found.target, scores=scores.detach())
        if preds.dim() == 2 and preds.shape[1] != 1:
            return (
                f"test_step output {found.preds_key!r} holds {preds.dtype} values of shape {tuple(preds.shape)}; "
                "expected integer labels of shape (N,) or (N, 1), or floating point scores"
            )
        labels = preds.reshape(-1)
        from_forward = forward_scores(forward, preds_keys, labels.shape[0])
        if isinstance(from_forward, str):
            note = f"test_step returned labels only ({found.preds_key!r} holds integers) and {from_forward}"
            return BatchScores("outputs", found.preds_key, found.target, labels=labels, note=note)
        key, scores = from_forward
        return BatchScores("forward", key, found.target, scores=scores, labels=labels)
    if forward is None:  # no forward was watched (the manual API): the outputs' reason alone
        return found
    from_forward = forward_scores(forward, preds_keys)
    if isinstance(from_forward, str):
        return f"{found}; {from_forward}: {FIX}"
    key, scores = from_forward
    target = targets_from_batch(batch, scores.shape[0])
    if isinstance(target, str):
        return f"{found}; the forward output has no matching targets ({target}): {FIX}"
    return BatchScores("forward", key, target, scores=scores)


class Interpretation:
    """Probabilities or logits: decided by the first batch with scores, kept on the device, applied to every batch.

    Args:
        key: The scores' key; ``logits`` and ``probs`` decide by their name, any other by the values.
        width: The number of score columns ``K`` (1 for one binary score).
        like: The first batch's scores (for the device, and the decision by values).
    """

    def __init__(self, key: str | None, width: int, like: Tensor) -> None:
        self.width = width
        self.named = key in ("logits", "probs")
        if self.named:
            self.probabilities = like.new_full((), key == "probs", dtype=torch.bool)
        else:
            self.probabilities = looks_like_probabilities(like)
        self.contradictions = like.new_zeros((), dtype=torch.int64)

    def apply(self, scores: Tensor, threshold: float | None) -> tuple[Tensor, Tensor]:
        """``(probabilities (N, K), predicted labels (N,))`` of one batch, with its contradiction counted."""
        looks = looks_like_probabilities(scores)
        self.contradictions.add_(self.probabilities & ~looks)
        values = scores if scores.dtype in (torch.float32, torch.float64) else scores.float()
        if self.width == 1:
            probabilities = torch.where(self.probabilities, values, values.sigmoid())
            column = values[:, 0]
            if threshold is not None:
                labels = column > threshold
            else:
                labels = torch.where(self.probabilities, column > 0.5, column > 0)
        else:
            probabilities = torch.where(self.probabilities, values, values.softmax(dim=1))
            labels = values.argmax(dim=1)
        return probabilities, labels.to(torch.int64)


def looks_like_probabilities(scores: Tensor) -> Tensor:
    """Whether every value is in [0, 1] and, for ``C`` columns, every row sums to 1: a 0-d bool on the device."""
    inside = ((scores >= 0) & (scores <= 1)).all()
    if scores.shape[1] == 1:
        return inside
    tolerance = scores.shape[1] * max(1e-6, 4 * torch.finfo(scores.dtype).eps)
    sums = scores.to(torch.float64 if scores.device.type != "mps" else torch.float32).sum(dim=1)
    return inside & ((sums - 1).abs() <= tolerance).all()
