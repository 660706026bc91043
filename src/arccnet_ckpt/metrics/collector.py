"""Collecting test predictions during ``trainer.test`` and reducing them across processes.

The thin stateful part the callback drives, one stream per test dataloader: each batch's predictions are found
(:func:`~arccnet_ckpt.metrics.scores.resolve_batch`: test_step's outputs, else the module's forward output and the
batch's targets) and fed, without a host sync in the common cases, to a
:class:`~arccnet_ckpt.metrics.ConfusionMatrix` and a :class:`~arccnet_ckpt.metrics.score_fields.ScoreState`; both are
gathered over DDP ranks at test end. A bad label never stops the test: the dataloader's report says why it has no
per-class numbers.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from arccnet_ckpt.errors import ArcCkptWarning, LabelError
from arccnet_ckpt.metrics.batches import ForwardCall
from arccnet_ckpt.metrics.confusion import ConfusionMatrix
from arccnet_ckpt.metrics.mistakes import TopMistakes
from arccnet_ckpt.metrics.predictions import DEFAULT_PREDS_KEYS, DEFAULT_TARGET_KEYS
from arccnet_ckpt.metrics.ranking import BINS, SCORE_BUDGET
from arccnet_ckpt.metrics.report import compute_report, default_class_names
from arccnet_ckpt.metrics.score_fields import ScoreState
from arccnet_ckpt.metrics.scores import BatchScores, resolve_batch
from arccnet_ckpt.records import dataloader_metrics

__all__ = ["TestPredictionCollector"]


class TestPredictionCollector:
    """Streams test predictions into one confusion matrix and score state per test dataloader, then report fields.

    Each dataloader (Lightning's ``dataloader_idx``) has its own stream: two test sets are never pooled.

    The number of classes is fixed, so that a batch costs no host sync, when it is known: from ``num_classes``
    (``class_names``), as 2 for a binary score column, or as the width ``C`` of ``(N, C)`` scores (read from the
    shape; a later, wider batch grows it). Only integer predictions without ``num_classes`` make the matrix grow with
    the labels, which reads each batch's largest label on the host. A label outside the classes raises
    :class:`~arccnet_ckpt.errors.LabelError` at :meth:`report_fields`, and becomes the ``per_class_note`` of
    :meth:`dataloader_reports` (with an :class:`~arccnet_ckpt.errors.ArcCkptWarning`), never an error in
    :meth:`update` or :meth:`sync`.

    Args:
        preds_keys: Keys searched for predictions (default ``preds``, ``logits``, ``probs``).
        target_keys: Keys searched for targets (default ``target``, ``targets``, ``y``).
        threshold: Threshold for a single binary score column (default 0.5 on probabilities, 0 on logits).
        score_budget: Floats of probabilities kept per dataloader for exact ranking metrics
            (:data:`~arccnet_ckpt.metrics.ranking.SCORE_BUDGET`); past it they are binned.
        score_bins: Bins per class past the budget (:data:`~arccnet_ckpt.metrics.ranking.BINS`).
        mistakes: How many of the most confident mistakes each dataloader's report lists (0: none).
    """

    __test__ = False  # not a pytest class, despite the name

    def __init__(
        self,
        preds_keys: Sequence[str] | None = None,
        target_keys: Sequence[str] | None = None,
        threshold: float | None = None,
        *,
        score_budget: int = SCORE_BUDGET,
        score_bins: int = BINS,
        mistakes: int = 10,
    ) -> None:
        self.preds_keys = tuple(preds_keys or DEFAULT_PREDS_KEYS)
        self.target_keys = tuple(target_keys or DEFAULT_TARGET_KEYS)
        self.threshold = threshold
        self.score_budget, self.score_bins = score_budget, score_bins
        self.mistakes = TopMistakes(mistakes, name="mistakes").k  # checked here: a bad value fails at construction
        self.images: dict[str, bytes] = {}
        self.reset()

    def reset(self) -> None:
        """Forget everything collected (called at each test start)."""
        self._streams: dict[int, _Stream] = {}
        self._num_dataloaders = 1
        self.images = {}

    def _stream(self, index: int) -> _Stream:
        if index not in self._streams:
            scores = ScoreState(self.threshold, self.score_budget, self.score_bins)
            self._streams[index] = _Stream(scores, TopMistakes(self.mistakes, name="mistakes"))
        return self._streams[index]

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
        """Add one test batch; remember the first reason when it holds nothing usable.

        The predictions are test_step's ``outputs`` (scores, or labels with the forward output's scores), else the
        forward output with the batch's targets: see :func:`~arccnet_ckpt.metrics.scores.resolve_batch`. Nothing is
        read from the device (with ``num_classes`` known, or scores giving it).

        Args:
            outputs: What ``test_step`` returned for the batch.
            num_classes: The number of classes when known (from ``class_names``); labels outside it are reported at
                the end.
            dataloader_idx: The test dataloader the batch came from (Lightning's ``dataloader_idx``).
            forward: What the module's forward returned during the batch, and how many times it ran.
            batch: The batch the test loop gave ``test_step`` (its targets are used with the forward output).
        """
        stream = self._stream(dataloader_idx)
        found = resolve_batch(outputs, forward, batch, self.preds_keys, self.target_keys)
        if isinstance(found, str):
            stream.reason = stream.reason or found
            return
        stream.update(found, num_classes)

    def sync(self, strategy: Any, num_dataloaders: int | None = None) -> None:
        """Gather each dataloader's matrix and score state over every process (a collective: every rank calls it).

        Never raises for bad labels: they are counted with the matrices and reported by :meth:`dataloader_reports`.

        Args:
            strategy: The Trainer's strategy (its ``root_device`` and ``all_gather`` are used).
            num_dataloaders: The number of test dataloaders (the same on every rank); the ranks also agree on the
                largest ``dataloader_idx`` any of them saw.
        """
        device = strategy.root_device
        mine = max(num_dataloaders or 1, self.num_dataloaders)
        self._num_dataloaders = int(strategy.all_gather(torch.tensor(mine, device=device)).max().item())
        for index in range(self._num_dataloaders):
            self._stream(index).sync(strategy)

    def report_fields(
        self, class_names: Sequence[str] | None, dataloader_idx: int = 0, *, prefix: str = "test"
    ) -> dict[str, Any]:
        """The fields of one dataloader's report (``class_names``, ``per_class`` ... ``mistakes_note``).

        Without usable predictions, ``per_class`` is ``None`` and ``per_class_note`` says why in one line. The
        mistakes' thumbnails are named ``mistakes/<prefix>-01.png``...; their bytes are added to :attr:`images`.

        Raises:
            LabelError: If a label was outside the classes (checked here too when :meth:`sync` was not called).
        """
        fields, images = self._stream(dataloader_idx).report_fields(class_names, prefix)
        self.images.update(images)
        return fields

    def dataloader_reports(
        self,
        class_names: Sequence[str] | None,
        test_metrics: Mapping[str, float | None],
        names: Sequence[str | None] | None = None,
        *,
        prefix: str = "test",
    ) -> list[dict[str, Any]]:
        """One :class:`~arccnet_ckpt.records.DataloaderReport` dict per dataloader, in ``dataloader_idx`` order.

        The thumbnails of the mistakes are ``mistakes/<prefix>-01.png``... (``<prefix>-d<index>-01.png`` with
        several dataloaders); their bytes are in :attr:`images` afterwards, to write into the run folder.

        A label outside the classes leaves that dataloader's ``per_class`` ``None`` with the
        :class:`~arccnet_ckpt.errors.LabelError`'s message in ``per_class_note``, and warns once
        (:class:`~arccnet_ckpt.errors.ArcCkptWarning`): the test goes on.

        Args:
            class_names: The run's class names, if known.
            test_metrics: Every ``test*`` metric; each dataloader gets those Lightning suffixed with its index
                (``test_f1/dataloader_idx_1``), or all of them when there is one dataloader.
            names: The dataloaders' names by index (keys of a dict of dataloaders), if they have any.
            prefix: Names this test's thumbnails (e.g. ``test2`` for the run's second evaluation).
        """
        count = self.num_dataloaders
        reports, warned = [], False
        for index in range(count):
            own = dataloader_metrics(dict(test_metrics), index, count)
            name = names[index] if names is not None and index < len(names) else None
            try:
                fields = self.report_fields(class_names, index, prefix=prefix if count == 1 else f"{prefix}-d{index}")
            except LabelError as e:
                fields = {"per_class": None, "per_class_note": f"no per-class report: {e}"}
                if not warned:
                    warnings.warn(f"test dataloader {index}: {e}", ArcCkptWarning, stacklevel=2)
                    warned = True
            reports.append({"index": index, "name": name, "test_metrics": own, **fields})
        return reports


class _Stream:
    """The confusion matrix and score state of one test dataloader, and what was learned about it on the way."""

    def __init__(self, scores: ScoreState, mistakes: TopMistakes) -> None:
        self.matrix: ConfusionMatrix | None = None
        self.scores = scores
        self.mistakes = mistakes
        self.binary = False
        self.reason: str | None = None
        self.size_note: str | None = None
        self.total: ConfusionMatrix | None = None
        self.empty_batches = 0

    def update(self, found: BatchScores, num_classes: int | None) -> None:
        if found.size == 0:
            self.empty_batches += 1
            return
        labels, target, probabilities = self.scores.update(found)
        if probabilities is not None:  # (N, C) on the device, (N, 1) for one binary column; None for labels only
            self.mistakes.update(probabilities, target, found.inputs)
        width = None if found.scores is None else found.scores.shape[1]
        binary = width == 1
        wide = width if width is not None and width >= 2 and num_classes is None else None
        where = f"test_step's {found.key!r} scores" if found.source == "outputs" else "the forward output"
        if self.matrix is None:
            self.binary = binary
            self.matrix = ConfusionMatrix(num_classes or (2 if binary else None) or wide)
            self.size_note = _size_note(num_classes, binary, wide, where)
        elif wide is not None and wide > self.matrix.num_classes:
            self.matrix.grow_to(wide)
            if self.matrix.fixed:
                self.size_note = _size_note(None, False, wide, where)
        self.matrix.update(labels, target)

    def sync(self, strategy: Any) -> None:
        """Sum this dataloader's matrices and gather its scores over every process (a collective)."""
        device = strategy.root_device
        mine = self.matrix
        # Per rank: holds data, number of classes, binary, number of classes fixed.
        local = (0, 0, 0, 0) if mine is None else (1, mine.num_classes, int(self.binary), int(mine.fixed))
        ranks = strategy.all_gather(torch.tensor(local, device=device)).reshape(-1, len(local)).tolist()
        self.mistakes.sync(strategy)  # a collective on every rank, data or not
        if not any(row[0] for row in ranks):
            return
        num_classes = max(row[1] for row in ranks)
        self.binary = any(row[2] for row in ranks)
        if mine is None:
            mine = self.matrix = ConfusionMatrix(num_classes) if any(row[3] for row in ranks) else ConfusionMatrix()
        if num_classes > mine.num_classes:
            mine.grow_to(num_classes)
        self.total = mine.merged(strategy.all_gather(mine.state().to(device)))
        self.scores.sync(strategy)

    def check(self, matrix: ConfusionMatrix) -> None:
        try:
            matrix.check()
        except LabelError as e:
            if self.size_note is None:
                raise
            raise LabelError(f"test_step output: {e}. {self.size_note}") from e

    def report_fields(self, class_names: Sequence[str] | None, prefix: str) -> tuple[dict[str, Any], dict[str, bytes]]:
        """The report's fields, and the thumbnails' bytes by path."""
        matrix = self.total if self.total is not None else self.matrix
        if matrix is not None:
            self.check(matrix)
        if matrix is None or matrix.num_samples == 0:
            reason = self.reason or (
                "the test batches held no samples" if self.empty_batches else "test_step returned no predictions"
            )
            return {"per_class": None, "per_class_note": f"no per-class report: {reason}"}, {}
        bad_targets = self.scores.bad_targets()
        if bad_targets:
            return {
                "per_class": None,
                "per_class_note": f"no per-class report: {bad_targets} of {matrix.num_samples} targets are not "
                "whole numbers (soft or continuous labels?); expected class indices",
            }, {}
        size = matrix.num_classes
        names = list(class_names) if class_names and len(class_names) == size else None
        names = names or default_class_names(size, binary=self.binary)
        fields: dict[str, Any] = {"class_names": names, **compute_report(matrix.matrix, names)}
        scored = self.scores.fields(names, [fields["per_class"][name]["support"] for name in names])
        ranked = scored.pop("per_class_scores")
        for name in names:  # every class says it: null where there are no scores
            fields["per_class"][name].update(ranked.get(name, {"roc_auc": None, "average_precision": None}))
        fields.update(scored)
        images = self._mistakes(fields, names, prefix)
        if self.empty_batches and fields["predictions"] is not None:
            fields["predictions"]["note"] = f"{self.empty_batches} test batch(es) of size 0 were skipped"
        if self.reason:
            fields["per_class_note"] = f"some batches were skipped: {self.reason}"
        return fields, images

    def _mistakes(self, fields: dict[str, Any], names: list[str], prefix: str) -> dict[str, bytes]:
        """Set ``mistakes`` and ``mistakes_note``; return the thumbnails' bytes. The list needs scores that were
        trusted (calibration is computed only then): else the probabilities were not these predictions."""
        if self.mistakes.k == 0:
            return {}
        if fields.get("calibration") is None:
            fields["mistakes_note"] = "no mistakes: they need the class probabilities, and the report has none"
            return {}
        result = self.mistakes.result(names, prefix=prefix)
        fields["mistakes"], fields["mistakes_note"] = result.entries, result.note
        return result.images


def _size_note(num_classes: int | None, binary: bool, width: int | None, where: str) -> str | None:
    """Where a fixed number of classes came from, for the LabelError message; ``None`` when it grows with the labels."""
    if num_classes:
        return (
            f"The number of classes comes from class_names ({num_classes} names): "
            "pass the full list of class names to ArcCheckpointCallback(class_names=...)"
        )
    if binary:
        return "The predictions are one score column, so the targets must be 0 or 1"
    if width is not None:
        return f"The number of classes is the width of {where}: a target must index a column"
    return None
