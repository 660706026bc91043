"""Collecting ``test_step`` predictions during ``trainer.test`` and reducing them across processes.

The thin stateful part the callback drives: one :class:`~arccnet_ckpt.metrics.ConfusionMatrix` per test dataloader,
fed batch by batch without a host sync in the common cases, summed over DDP ranks at test end, where a bad label raises
the same :class:`~arccnet_ckpt.errors.LabelError` on every rank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from arccnet_ckpt.errors import LabelError
from arccnet_ckpt.metrics.batches import ForwardCall
from arccnet_ckpt.metrics.confusion import ConfusionMatrix
from arccnet_ckpt.metrics.predictions import (
    DEFAULT_PREDS_KEYS,
    DEFAULT_TARGET_KEYS,
    _find,
    predictions_from_outputs,
)
from arccnet_ckpt.metrics.report import compute_report, default_class_names
from arccnet_ckpt.records import dataloader_metrics

__all__ = ["TestPredictionCollector"]


class TestPredictionCollector:
    """Streams ``test_step`` outputs into one confusion matrix per test dataloader and turns each into report fields.

    Each dataloader (Lightning's ``dataloader_idx``) has its own matrix: two test sets are never pooled.

    The number of classes is fixed, so that a batch costs no host sync, when it is known: from ``num_classes``
    (``class_names``), as 2 for a binary score column, or as the width ``C`` of ``(N, C)`` scores (read from the
    shape; a later, wider batch grows it). Only integer predictions without ``num_classes`` make the matrix grow with
    the labels, which reads each batch's largest label on the host. A label outside the classes raises
    :class:`~arccnet_ckpt.errors.LabelError` at :meth:`sync` (or :meth:`report_fields`), never in :meth:`update`.

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
        self._streams: dict[int, _Stream] = {}
        self._num_dataloaders = 1

    @property
    def num_dataloaders(self) -> int:
        """The number of dataloaders reported on: the one given to :meth:`sync` (agreed by every rank), at least 1
        and at least one past the largest ``dataloader_idx`` seen."""
        return max([self._num_dataloaders, *(index + 1 for index in self._streams)])

    def update(
        self,
        outputs: Any,
        num_classes: int | None = None,
        dataloader_idx: int = 0,
        *,
        forward: ForwardCall | None = None,
        batch: Any = None,
    ) -> None:
        """Add one batch's ``test_step`` output; remember the first reason when it holds nothing usable.

        Args:
            outputs: What ``test_step`` returned for the batch.
            forward: What the module's forward returned during the batch (not used yet).
            batch: The batch the test loop gave ``test_step`` (not used yet).
            num_classes: The number of classes when known (from ``class_names``); labels outside it raise
                :class:`~arccnet_ckpt.errors.LabelError` at :meth:`sync`.
            dataloader_idx: The test dataloader the batch came from (Lightning's ``dataloader_idx``).
        """
        stream = self._streams.setdefault(dataloader_idx, _Stream())
        result = predictions_from_outputs(
            outputs, preds_keys=self.preds_keys, target_keys=self.target_keys, threshold=self.threshold
        )
        if isinstance(result, str):
            stream.reason = stream.reason or result
            return
        scores = _score_columns(outputs, self.preds_keys) if num_classes is None else None
        if stream.matrix is None:
            stream.binary = result.binary
            stream.matrix = ConfusionMatrix(num_classes or (2 if result.binary else None) or (scores and scores[1]))
            stream.size_note = _size_note(num_classes, result.binary, scores)
        elif scores is not None and scores[1] > stream.matrix.num_classes:
            stream.matrix.grow_to(scores[1])
            if stream.matrix.fixed:
                stream.size_note = _size_note(None, False, scores)
        stream.matrix.update(result.preds, result.target)

    def sync(self, strategy: Any, num_dataloaders: int | None = None) -> None:
        """Sum each dataloader's matrices over every process, then check the labels.

        A collective: every rank must call it, with or without data. The bad-label counts are summed with the
        matrices, so every rank raises the same :class:`~arccnet_ckpt.errors.LabelError`, after the last collective.

        Args:
            strategy: The Trainer's strategy (its ``root_device`` and ``all_gather`` are used).
            num_dataloaders: The number of test dataloaders (the same on every rank); the ranks also agree on the
                largest ``dataloader_idx`` any of them saw.

        Raises:
            LabelError: If a prediction or target label on any rank was outside the classes.
        """
        device = strategy.root_device
        mine = max(num_dataloaders or 1, self.num_dataloaders)
        self._num_dataloaders = int(strategy.all_gather(torch.tensor(mine, device=device)).max().item())
        for index in range(self._num_dataloaders):
            self._streams.setdefault(index, _Stream()).sync(strategy)
        for stream in self._streams.values():
            stream.check()

    def report_fields(self, class_names: Sequence[str] | None, dataloader_idx: int = 0) -> dict[str, Any]:
        """The per-class fields of one dataloader's report (``class_names``, ``per_class`` ... ``num_samples``).

        Without usable predictions, ``per_class`` is ``None`` and ``per_class_note`` says why in one line.

        Raises:
            LabelError: If a label was outside the classes (checked here too when :meth:`sync` was not called).
        """
        return self._streams.get(dataloader_idx, _Stream()).report_fields(class_names)

    def dataloader_reports(
        self,
        class_names: Sequence[str] | None,
        test_metrics: Mapping[str, float | None],
        names: Sequence[str | None] | None = None,
    ) -> list[dict[str, Any]]:
        """One :class:`~arccnet_ckpt.records.DataloaderReport` dict per dataloader, in ``dataloader_idx`` order.

        Args:
            class_names: The run's class names, if known.
            test_metrics: Every ``test*`` metric; each dataloader gets those Lightning suffixed with its index
                (``test_f1/dataloader_idx_1``), or all of them when there is one dataloader.
            names: The dataloaders' names by index (keys of a dict of dataloaders), if they have any.

        Raises:
            LabelError: If a label was outside the classes.
        """
        count = self.num_dataloaders
        reports = []
        for index in range(count):
            own = dataloader_metrics(dict(test_metrics), index, count)
            name = names[index] if names is not None and index < len(names) else None
            reports.append(
                {"index": index, "name": name, "test_metrics": own, **self.report_fields(class_names, index)}
            )
        return reports


class _Stream:
    """The confusion matrix of one test dataloader, and what was learned about it on the way."""

    def __init__(self) -> None:
        self.matrix: ConfusionMatrix | None = None
        self.binary = False
        self.reason: str | None = None
        self.size_note: str | None = None
        self.total: ConfusionMatrix | None = None

    def sync(self, strategy: Any) -> None:
        """Sum this dataloader's matrices over every process (a collective; the label check comes after)."""
        device = strategy.root_device
        mine = self.matrix
        # Per rank: holds data, number of classes, binary, number of classes fixed.
        local = (0, 0, 0, 0) if mine is None else (1, mine.num_classes, int(self.binary), int(mine.fixed))
        ranks = strategy.all_gather(torch.tensor(local, device=device)).reshape(-1, len(local)).tolist()
        if not any(row[0] for row in ranks):
            return
        num_classes = max(row[1] for row in ranks)
        self.binary = any(row[2] for row in ranks)
        if mine is None:
            mine = self.matrix = ConfusionMatrix(num_classes) if any(row[3] for row in ranks) else ConfusionMatrix()
        if num_classes > mine.num_classes:
            mine.grow_to(num_classes)
        self.total = mine.merged(strategy.all_gather(mine.state().to(device)))

    def check(self, matrix: ConfusionMatrix | None = None) -> None:
        matrix = matrix or self.total
        if matrix is None:
            return
        try:
            matrix.check()
        except LabelError as e:
            if self.size_note is None:
                raise
            raise LabelError(f"test_step output: {e}. {self.size_note}") from e

    def report_fields(self, class_names: Sequence[str] | None) -> dict[str, Any]:
        matrix = self.total if self.total is not None else self.matrix
        if matrix is not None:
            self.check(matrix)
        if matrix is None or matrix.num_samples == 0:
            reason = self.reason or "test_step returned no predictions"
            return {"per_class": None, "per_class_note": f"no per-class report: {reason}"}
        size = matrix.num_classes
        names = list(class_names) if class_names and len(class_names) == size else None
        names = names or default_class_names(size, binary=self.binary)
        fields = {"class_names": names, **compute_report(matrix.matrix, names)}
        if self.reason:
            fields["per_class_note"] = f"some batches were skipped: {self.reason}"
        return fields


def _size_note(num_classes: int | None, binary: bool, scores: tuple[str, int] | None) -> str | None:
    """Where a fixed number of classes came from, for the LabelError message; ``None`` when it grows with the labels."""
    if num_classes:
        return (
            f"The number of classes comes from class_names ({num_classes} names): "
            "pass the full list of class names to ArcCheckpointCallback(class_names=...)"
        )
    if binary:
        return "The predictions are one score column, so the targets must be 0 or 1"
    if scores is not None:
        return f"The number of classes is the width of test_step's {scores[0]!r} scores: a target must index a column"
    return None


def _score_columns(outputs: Any, keys: Sequence[str]) -> tuple[str, int] | None:
    """Key and width ``C`` of an ``(N, C)`` score tensor in ``outputs`` (from its shape: no sync), else ``None``."""
    found = _find(outputs, keys) if isinstance(outputs, Mapping) else None
    if found is None:
        return None
    key, value = found
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) == 2 and shape[1] >= 2 and getattr(value, "is_floating_point", bool)():
        return key, int(shape[1])
    return None
