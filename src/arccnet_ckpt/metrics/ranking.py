"""ROC and precision-recall: the per-class curves, ``roc_auc`` and ``average_precision``, exact or binned.

:class:`RankingState` keeps one test dataloader's probabilities on their device without a host read: every batch's
``(N, K)`` tensor in a list while the total stays within :data:`SCORE_BUDGET` floats, then, past it, per class the
counts of positives and negatives in :data:`BINS` equal-width bins of the probability (memory independent of the test
set). :meth:`RankingState.fields` computes at test end, in float64:

* exact: the numbers of scikit-learn's ``roc_curve``, ``precision_recall_curve``, ``roc_auc_score`` and
  ``average_precision_score`` (ties handled as they are there: one threshold per distinct score);
* binned: the same formulas with each bin as one tied group, and ``max_error``, a bound on the absolute error of every
  ``roc_auc`` and ``average_precision`` computed from the bin counts (see :func:`_binned_bounds`).

Curves are thinned to :data:`CURVE_POINTS` points for the file, after every area was computed.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

__all__ = ["BINS", "CURVE_POINTS", "SCORE_BUDGET", "RankingState", "binary_curves", "class_columns", "thin"]

SCORE_BUDGET: int = 10**7
"""Probabilities kept per test dataloader for the exact ranking metrics (80 MB in float64 at test end). A binary run
keeps one float per sample, a C-class run C; past the budget the ranking is binned."""

BINS: int = 4096
"""Equal-width bins of the probability per class once past :data:`SCORE_BUDGET`."""

CURVE_POINTS: int = 512
"""The most points a curve keeps in the file (both ends always kept)."""


def class_columns(probabilities: Tensor) -> Tensor:
    """Each class's probability as a column: ``(N, C)`` as it is; one column ``p`` becomes ``(1 - p, p)``."""
    if probabilities.shape[1] == 1:
        return torch.cat((1 - probabilities, probabilities), dim=1)
    return probabilities


class RankingState:
    """One dataloader's probabilities and targets, kept on their device, for the ranking metrics at test end.

    Args:
        budget: Floats kept for the exact metrics before switching to bins (:data:`SCORE_BUDGET`).
        bins: Bins per class past the budget (:data:`BINS`).
    """

    def __init__(self, budget: int = SCORE_BUDGET, bins: int = BINS) -> None:
        self.budget, self.bins = budget, bins
        self.scores: list[Tensor] = []  # per batch, (N, K): K = 1 for one binary column
        self.targets: list[Tensor] = []
        self.stored = 0  # floats in ``scores``, from the shapes
        self.histogram: Tensor | None = None  # (C, 2, bins): negatives then positives, per class

    @property
    def binned(self) -> bool:
        """Whether the budget was passed (the metrics are then binned)."""
        return self.histogram is not None

    def state_size(self) -> int:
        """The number of values held (probabilities, targets and bin counts)."""
        held = sum(t.numel() for t in self.scores) + sum(t.numel() for t in self.targets)
        return held + (0 if self.histogram is None else self.histogram.numel())

    def update(self, probabilities: Tensor, target: Tensor) -> None:
        """Add a batch: ``(N, K)`` probabilities and ``(N,)`` int64 targets on the same device (no host read)."""
        if self.histogram is None and self.stored + probabilities.numel() <= self.budget:
            self.scores.append(probabilities)
            self.targets.append(target)
            self.stored += probabilities.numel()
            return
        if self.histogram is None:
            self.histogram = self._empty_histogram(probabilities)
            for scores, targets in zip(self.scores, self.targets, strict=True):
                self._add_to_histogram(scores, targets)
            self.scores, self.targets, self.stored = [], [], 0
        self._add_to_histogram(probabilities, target)

    def _empty_histogram(self, like: Tensor) -> Tensor:
        classes = class_columns(like[:0]).shape[1]
        return torch.zeros(classes * 2 * self.bins, dtype=torch.int64, device=like.device)

    def _add_to_histogram(self, probabilities: Tensor, target: Tensor) -> None:
        assert self.histogram is not None
        columns = class_columns(probabilities)
        classes = columns.shape[1]
        bins = columns.nan_to_num(0.0).mul(self.bins).to(torch.int64).clamp_(0, self.bins - 1)
        positive = target.unsqueeze(1) == torch.arange(classes, device=target.device)
        index = (torch.arange(classes, device=bins.device) * 2 + positive) * self.bins + bins
        self.histogram.index_add_(0, index.reshape(-1), torch.ones_like(index).reshape(-1))

    def local(self, width: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """This process's probabilities ``(n, width)`` in float64 and targets, on ``device`` (empty when none)."""
        if not self.scores:
            return torch.zeros((0, width), dtype=torch.float64, device=device), torch.zeros(
                0, dtype=torch.int64, device=device
            )
        return torch.cat(self.scores).to(device, torch.float64), torch.cat(self.targets).to(device)

    def to_histogram(self, width: int, device: torch.device) -> Tensor:
        """This process's bin counts (binning the kept probabilities if it had not yet), for a sum over processes."""
        if self.histogram is None:
            probabilities, targets = self.local(width, device)
            self.histogram = self._empty_histogram(probabilities)
            self._add_to_histogram(probabilities, targets)
            self.scores, self.targets, self.stored = [], [], 0
        return self.histogram.to(device)

    def fields(self, num_classes: int) -> dict[str, Any]:
        """Per class ``roc_auc``, ``average_precision`` and curves, and ``max_error`` (binned), read at test end.

        Returns:
            ``{"per_class": [{roc_auc, average_precision, roc, pr} per class], "ranking": "exact"|"binned",
            "max_error": float | None}``; a number or curve that is undefined for a class (no positive, or no
            negative for the ROC) is ``None``.
        """
        if self.histogram is not None:
            counts = self.histogram.to("cpu").view(-1, 2, self.bins).to(torch.float64)
            per_class, worst = [], 0.0
            for k in range(num_classes):
                negatives, positives = counts[k, 0].flip(0), counts[k, 1].flip(0)  # from the highest bin down
                kept = (negatives + positives) > 0
                fps, tps = negatives.cumsum(0)[kept], positives.cumsum(0)[kept]
                per_class.append(binary_curves(fps, tps))
                worst = max(worst, *_binned_bounds(negatives, positives))
            return {"per_class": per_class, "ranking": "binned", "max_error": worst}
        device = _float64_device(self.scores[0].device) if self.scores else torch.device("cpu")
        probabilities, targets = self.local(1, device)
        columns = class_columns(probabilities)
        return {
            "per_class": [_exact(columns[:, k], targets == k) for k in range(num_classes)],
            "ranking": "exact",
            "max_error": None,
        }


def _float64_device(device: torch.device) -> torch.device:
    """Where float64 work can run: the tensors' device, or the CPU for one without float64 (Apple's MPS)."""
    return torch.device("cpu") if device.type == "mps" else device


def _exact(scores: Tensor, positive: Tensor) -> dict[str, Any]:
    """One class's curves and areas from its scores: scikit-learn's ``confusion_matrix_at_thresholds``."""
    if scores.numel() == 0:
        return binary_curves(scores, scores)
    order = torch.argsort(scores, descending=True, stable=True)
    ranked, hits = scores[order], positive[order].to(torch.float64)
    # One threshold per distinct score: the last position of each group of ties.
    last = torch.cat((torch.nonzero(ranked[1:] != ranked[:-1]).flatten(), ranked.new_tensor([len(ranked) - 1]).long()))
    tps = hits.cumsum(0)[last]
    fps = (last + 1).to(torch.float64) - tps
    return binary_curves(fps.cpu(), tps.cpu())


def binary_curves(fps: Tensor, tps: Tensor) -> dict[str, Any]:
    """ROC and PR curves and their areas from the false and true positives at each threshold, highest first.

    The formulas of scikit-learn's ``roc_curve`` (``drop_intermediate=True``), ``precision_recall_curve``,
    ``roc_auc_score`` (the trapezoidal area under that ROC curve) and ``average_precision_score``. Undefined numbers
    are ``None``: the ROC without a positive or a negative, the PR curve and average precision without a positive.
    """
    result: dict[str, Any] = {"roc_auc": None, "average_precision": None, "roc": None, "pr": None}
    if tps.numel() == 0 or float(tps[-1]) <= 0:
        return result
    precision = (tps / (tps + fps)).flip(0)
    recall = (tps / tps[-1]).flip(0)
    precision = torch.cat((precision, precision.new_ones(1)))
    recall = torch.cat((recall, recall.new_zeros(1)))
    result["average_precision"] = max(0.0, float(-(recall.diff() * precision[:-1]).sum()))
    result["pr"] = {"precision": precision.tolist(), "recall": recall.tolist()}
    if float(fps[-1]) <= 0:
        return result
    if fps.numel() > 2:  # drop the points on a straight line, as roc_curve(drop_intermediate=True)
        corner = torch.logical_or(fps.diff(2) != 0, tps.diff(2) != 0)
        keep = torch.cat((corner.new_ones(1), corner, corner.new_ones(1)))
        fps, tps = fps[keep], tps[keep]
    fpr = torch.cat((fps.new_zeros(1), fps)) / fps[-1]
    tpr = torch.cat((tps.new_zeros(1), tps)) / tps[-1]
    result["roc_auc"] = float(torch.trapezoid(tpr, fpr))
    result["roc"] = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
    return result


def _binned_bounds(negatives: Tensor, positives: Tensor) -> tuple[float, float]:
    """Bounds on the absolute error of the binned ROC AUC and average precision of one class (bins highest first).

    ROC AUC: only a (positive, negative) pair in the same bin may be ordered either way; the binned area counts it
    as a tie (1/2) where the exact one counts 0, 1/2 or 1, so the error is at most half the share of such pairs.
    Average precision: a bin's recall step ``positives_b / P`` is weighted by one precision in the binned sum and by
    precisions at thresholds inside the bin in the exact one; both lie between the precision with the bin's first
    positive after all its negatives and the precision with all its positives before its negatives.
    """
    total_pos, total_neg = float(positives.sum()), float(negatives.sum())
    if total_pos == 0:
        return 0.0, 0.0
    auc = 0.5 * float((positives * negatives).sum()) / (total_pos * total_neg) if total_neg else 0.0
    tp_before = positives.cumsum(0) - positives
    fp_before = negatives.cumsum(0) - negatives
    high = (tp_before + positives) / (tp_before + positives + fp_before).clamp(min=1)
    low = (tp_before + 1) / (tp_before + 1 + fp_before + negatives)
    spread = torch.where(positives > 0, (high - low).clamp(min=0), torch.zeros_like(high))
    return auc, float((positives / total_pos * spread).sum())


def thin(xs: list[float], ys: list[float], limit: int = CURVE_POINTS) -> tuple[list[float], list[float]]:
    """At most ``limit`` points of a curve, evenly spaced along it, the first and last always kept."""
    if len(xs) <= limit:
        return xs, ys
    step = (len(xs) - 1) / (limit - 1)
    picks = sorted({round(i * step) for i in range(limit)})
    return [xs[i] for i in picks], [ys[i] for i in picks]


def mean(values: list[float]) -> float:
    """The plain mean (``math.fsum``)."""
    return math.fsum(values) / len(values)
