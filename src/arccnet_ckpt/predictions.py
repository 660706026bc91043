"""Collecting ``test_step`` predictions during ``trainer.test`` and reducing them across processes.

The per-class arithmetic lives in :mod:`arccnet_ckpt.report`; this module is the thin stateful part the callback
drives: one :class:`~arccnet_ckpt.report.ConfusionMatrix` per test run, summed over DDP ranks at test end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from arccnet_ckpt.errors import LabelError
from arccnet_ckpt.report import (
    DEFAULT_PREDS_KEYS,
    DEFAULT_TARGET_KEYS,
    ConfusionMatrix,
    _find,
    compute_report,
    default_class_names,
    predictions_from_outputs,
)


class TestPredictionCollector:
    """Streams ``test_step`` outputs into a confusion matrix and turns it into report fields.

    Args:
        preds_keys: Keys searched for predictions (default ``preds``, ``logits``, ``probs``).
        target_keys: Keys searched for targets (default ``target``, ``targets``, ``y``).
        threshold: Threshold for a single binary score column (default 0.5 on probabilities, 0 on logits).
    """

    __test__ = False  # not a pytest class, despite the name

    def __init__(
        self,
        preds_keys: Sequence[str] | None = None,
        target_keys: Sequence[str] | None = None,
        threshold: float | None = None,
    ) -> None:
        self.preds_keys = tuple(preds_keys or DEFAULT_PREDS_KEYS)
        self.target_keys = tuple(target_keys or DEFAULT_TARGET_KEYS)
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        """Forget everything collected (called at each test start)."""
        self._matrix: ConfusionMatrix | None = None
        self._binary = False
        self._reason: str | None = None
        self._total: torch.Tensor | None = None

    def update(self, outputs: Any, num_classes: int | None = None) -> None:
        """Add one batch's ``test_step`` output; remember the first reason when it holds nothing usable.

        Args:
            outputs: What ``test_step`` returned for the batch.
            num_classes: The number of classes when known (from ``class_names``); labels outside it raise
                :class:`~arccnet_ckpt.errors.LabelError`.
        """
        result = predictions_from_outputs(
            outputs, preds_keys=self.preds_keys, target_keys=self.target_keys, threshold=self.threshold
        )
        if isinstance(result, str):
            self._reason = self._reason or result
            return
        if self._matrix is None:
            self._binary = result.binary
            self._matrix = ConfusionMatrix(num_classes or (2 if result.binary else None))
        if num_classes is None:
            width = _score_columns(outputs, self.preds_keys)
            if width > self._matrix.num_classes:
                self._matrix.grow_to(width)
        try:
            self._matrix.update(result.preds, result.target)
        except LabelError as e:
            if num_classes is None:
                raise
            raise LabelError(
                f"test_step output: {e}. The number of classes comes from class_names ({num_classes} names): "
                "pass the full list of class names to ArcCheckpointCallback(class_names=...)"
            ) from e

    def sync(self, strategy: Any) -> None:
        """Sum the matrices of every process. A collective: every rank must call it, with or without data."""
        device = strategy.root_device
        local = self._matrix.num_classes if self._matrix is not None else 0
        sizes = strategy.all_gather(torch.tensor([local, int(self._binary)], device=device))
        sizes = sizes.reshape(-1, 2)
        num_classes = int(sizes[:, 0].max())
        self._binary = bool(sizes[:, 1].max())
        if num_classes == 0:
            return
        if self._matrix is None:
            self._matrix = ConfusionMatrix(num_classes)
        self._matrix.grow_to(num_classes)
        total = strategy.reduce(self._matrix.matrix.to(device).clone(), reduce_op="sum")
        self._total = total.detach().cpu()

    def report_fields(self, class_names: Sequence[str] | None) -> dict[str, Any]:
        """The per-class fields of ``classification_report.json`` (``per_class`` ... ``num_samples``).

        Without usable predictions, ``per_class`` is ``None`` and ``per_class_note`` says why in one line.
        """
        matrix = self._total if self._total is not None else (self._matrix.matrix if self._matrix else None)
        if matrix is None or int(matrix.sum()) == 0:
            reason = self._reason or "test_step returned no predictions"
            return {"per_class": None, "per_class_note": f"no per-class report: {reason}"}
        size = int(matrix.shape[0])
        names = list(class_names) if class_names and len(class_names) == size else None
        names = names or default_class_names(size, binary=self._binary and size == 2)
        fields = compute_report(matrix, names)
        if self._reason:
            fields["per_class_note"] = f"some batches were skipped: {self._reason}"
        return fields


def _score_columns(outputs: Any, keys: Sequence[str]) -> int:
    """Width ``C`` of an ``(N, C)`` score tensor in ``outputs``, so an absent last class still gets a row."""
    found = _find(outputs, keys) if isinstance(outputs, Mapping) else None
    if found is None:
        return 0
    value = found[1]
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) == 2 and shape[1] >= 2 and getattr(value, "is_floating_point", bool)():
        return int(shape[1])
    return 0
