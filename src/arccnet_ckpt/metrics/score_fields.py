"""One test dataloader's score state, and the score-based fields of its report.

:class:`ScoreState` takes each batch's :class:`~arccnet_ckpt.metrics.scores.BatchScores` and keeps, on the batch's
device and without a host read: the interpretation (:class:`~arccnet_ckpt.metrics.scores.Interpretation`), the
probabilities for the ranking metrics (:class:`~arccnet_ckpt.metrics.ranking.RankingState`), the calibration sums
(:class:`~arccnet_ckpt.metrics.calibration.CalibrationState`) and the counts of what went wrong (NaN rows, labels
that disagree with the scores, targets that are not whole numbers). :meth:`ScoreState.sync` gathers all of it over
DDP processes (a collective); :meth:`ScoreState.fields` reads it once into ``predictions``, ``roc_auc``, ``curves``,
``calibration``, ``scores_note`` and each class's ``roc_auc`` and ``average_precision``. A field that cannot be
trusted or is undefined is ``None``, and ``scores_note`` says why in one line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from arccnet_ckpt.metrics.calibration import CalibrationState
from arccnet_ckpt.metrics.predictions import _same_device
from arccnet_ckpt.metrics.ranking import BINS, SCORE_BUDGET, RankingState, mean, thin
from arccnet_ckpt.metrics.scores import BatchScores, Interpretation

__all__ = ["ScoreState"]

_BAD_TARGETS, _NAN_ROWS, _DISAGREE, _CONTRADICT, _PROBABILITIES = range(5)
"""Positions in the device counters (the last: whether the first batch decided probabilities, 0 or 1)."""


@dataclass
class _Totals:
    """What every process saw, read once at test end (or this process's alone, without :meth:`ScoreState.sync`)."""

    counters: list[int] = field(default_factory=lambda: [0] * 5)
    calibration: Tensor | None = None
    ranking: RankingState | None = None
    width: int = 0  # score columns K; 0 without scores
    scored: int = 0
    unscored: int = 0
    scored_ranks: int = 0
    note: str | None = None


class ScoreState:
    """The score state of one test dataloader (see the module docstring).

    Args:
        threshold: The threshold of one binary score column when given (else 0.5 on probabilities, 0 on logits).
        budget: Floats kept for the exact ranking metrics (:data:`~arccnet_ckpt.metrics.ranking.SCORE_BUDGET`).
        bins: Bins per class past the budget.
    """

    def __init__(self, threshold: float | None = None, budget: int = SCORE_BUDGET, bins: int = BINS) -> None:
        self.threshold, self.budget, self.bins = threshold, budget, bins
        self.interpretation: Interpretation | None = None
        self.ranking = RankingState(budget, bins)
        self.calibration = CalibrationState()
        self.counters: Tensor | None = None
        self.source: tuple[str, str | None, str] | None = None  # source, key, where the labels came from
        self.labels_note: str | None = None
        self.scored = self.unscored = 0
        self.totals: _Totals | None = None

    def update(self, found: BatchScores) -> tuple[Tensor, Tensor, Tensor | None]:
        """Add one non-empty batch: ``(labels, targets, probabilities or None)`` for the matrix.

        The labels are test_step's when it returned labels, else the scores' argmax (or threshold); targets are
        int64 (whole-number float targets are converted; others are counted and reported at test end).
        """
        target, scores = found.target, found.scores
        if scores is not None and target.device != scores.device:
            target, scores = _same_device(target, scores)
        bad = target.new_zeros((), dtype=torch.int64)
        if target.is_floating_point():
            bad = ((target != target.round()) | ~torch.isfinite(target)).sum()
            target = target.nan_to_num(0.0)
        target = target.to(torch.int64)
        increments = [bad, bad.new_zeros(()), bad.new_zeros(())]
        probabilities = None
        if scores is None:
            assert found.labels is not None
            labels = found.labels.to(target.device, torch.int64)
            self.labels_note = self.labels_note or found.note
            self.unscored += found.size
        else:
            width = scores.shape[1]
            if self.interpretation is None:
                self.interpretation = Interpretation(found.key, width, scores)
            if width != self.interpretation.width:  # labels for the matrix, but no place among the scores
                labels = Interpretation(found.key, width, scores).apply(scores, self.threshold)[1]
                self.labels_note = self.labels_note or (
                    f"a batch's scores have {width} columns, the first batch's {self.interpretation.width}"
                )
                self.unscored += found.size
                return self._count(found, [bad, bad.new_zeros(()), bad.new_zeros(())], labels, target, None)
            probabilities, from_scores = self.interpretation.apply(scores, self.threshold)
            labels = from_scores
            if found.labels is not None:
                labels = found.labels.to(from_scores.device, torch.int64)
                increments[2] = (labels != from_scores).sum()
            increments[1] = probabilities.isnan().any(dim=1).sum()
            self.ranking.update(probabilities, target)
            self.calibration.update(probabilities, target)
            self.scored += found.size
        return self._count(found, increments, labels, target, probabilities)

    def _count(
        self, found: BatchScores, increments: list[Tensor], labels: Tensor, target: Tensor, probabilities: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        if self.counters is None:
            self.counters = target.new_zeros(3, dtype=torch.int64)
        self.counters.add_(torch.stack(increments).to(self.counters.device))
        if self.source is None:
            self.source = (found.source, found.key, "outputs" if found.labels is not None else "scores")
        return labels, target, probabilities

    # ------------------------------------------------------------------------------------------ gathering

    def _counters(self, device: torch.device) -> Tensor:
        values = torch.zeros(5, dtype=torch.int64, device=device)
        if self.counters is not None:
            values[:3] = self.counters.to(device)
        if self.interpretation is not None:
            values[_CONTRADICT] = self.interpretation.contradictions.to(device)
            values[_PROBABILITIES] = self.interpretation.probabilities.to(device, torch.int64)
        return values

    def local_totals(self) -> _Totals:
        """This process's totals (one host read), for code that never calls :meth:`sync`."""
        device = self.counters.device if self.counters is not None else torch.device("cpu")
        width = self.interpretation.width if self.interpretation is not None else 0
        return _Totals(
            counters=self._counters(device).tolist(),
            calibration=self.calibration.sums,
            ranking=self.ranking,
            width=width,
            scored=self.scored,
            unscored=self.unscored,
            scored_ranks=int(width > 0),
        )

    def sync(self, strategy: Any) -> None:
        """Gather the state of every process (a collective: every rank calls it, with or without data).

        Probabilities are padded to the longest rank and gathered while their total fits the budget; past it, or when
        a rank already binned them, every rank bins them and the bin counts are summed.
        """
        device = strategy.root_device
        width = self.interpretation.width if self.interpretation is not None else 0
        rows = self.ranking.stored // max(width, 1)
        local = (width, rows, int(self.ranking.binned), self.scored, self.unscored)
        meta = strategy.all_gather(torch.tensor(local, device=device)).reshape(-1, len(local)).tolist()
        counters = strategy.all_gather(self._counters(device)).reshape(-1, 5).sum(0).tolist()
        calibration = strategy.all_gather(self.calibration.local(device)).reshape(-1, *self.calibration.local(device).shape)
        totals = _Totals(
            counters=counters,
            calibration=calibration.sum(0),
            scored=sum(row[3] for row in meta),
            unscored=sum(row[4] for row in meta),
            scored_ranks=sum(1 for row in meta if row[0]),
        )
        widths = {row[0] for row in meta if row[0]}
        self.totals = totals
        if len(widths) != 1:
            if len(widths) > 1:
                totals.note = f"the processes' scores have different numbers of columns ({sorted(widths)})"
            return
        totals.width = width = widths.pop()
        ranking = RankingState(self.budget, self.bins)
        counts = [row[1] for row in meta]
        if any(row[2] for row in meta) or sum(counts) * width > self.budget:
            histogram = self.ranking.to_histogram(width, device)
            ranking.histogram = strategy.all_gather(histogram).reshape(-1, histogram.numel()).sum(0)
        else:
            mine, targets = self.ranking.local(width, device)
            longest = max(counts)
            padded = torch.zeros((longest, width), dtype=torch.float64, device=device)
            padded[: mine.shape[0]] = mine
            padded_targets = torch.zeros(longest, dtype=torch.int64, device=device)
            padded_targets[: targets.shape[0]] = targets
            every = strategy.all_gather(padded).reshape(-1, longest, width)
            every_target = strategy.all_gather(padded_targets).reshape(-1, longest)
            ranking.scores = [every[r, :n] for r, n in enumerate(counts) if n]
            ranking.targets = [every_target[r, :n] for r, n in enumerate(counts) if n]
        totals.ranking = ranking

    # ------------------------------------------------------------------------------------------ the fields

    def bad_targets(self) -> int:
        """How many targets were not whole numbers, over every process (after :meth:`sync`)."""
        return (self.totals or self.local_totals()).counters[_BAD_TARGETS]

    def fields(self, names: Sequence[str], supports: Sequence[int]) -> dict[str, Any]:
        """The score-based fields for the report whose classes are ``names`` (with their ``supports``).

        Returns:
            ``predictions``, ``roc_auc``, ``curves``, ``calibration``, ``scores_note`` and ``per_class_scores``
            (``{name: {roc_auc, average_precision}}``, merged into ``per_class`` by the caller).
        """
        totals = self.totals or self.local_totals()
        empty: dict[str, Any] = {"roc_auc": None, "curves": None, "calibration": None, "per_class_scores": {}}
        if self.source is None and totals.scored == 0 and totals.unscored == 0:
            return {**empty, "predictions": None, "scores_note": None}
        counters = totals.counters
        source, key, labels_from = self.source or ("outputs", None, "scores")
        if totals.width == 0:
            predictions = _predictions(source, key, labels_from, "labels", None, None)
            reason = self.labels_note or "the predictions were labels only"
            return {**empty, "predictions": predictions, "scores_note": f"no score-based fields: {reason}"}
        probabilities = counters[_PROBABILITIES] == totals.scored_ranks
        transform = None if probabilities else ("sigmoid" if totals.width == 1 else "softmax")
        threshold = (0.5 if self.threshold is None else self.threshold) if totals.width == 1 else None
        predictions = _predictions(source, key, labels_from, "probabilities" if probabilities else "logits", transform,
                                   threshold)
        reason = self._distrust(totals, names, transform)
        if reason is not None or totals.ranking is None:
            return {**empty, "predictions": predictions, "scores_note": f"no score-based fields: {reason}"}
        ranked = totals.ranking.fields(len(names))
        predictions["ranking"], predictions["max_error"] = ranked["ranking"], ranked["max_error"]
        per_class = {
            name: {"roc_auc": entry["roc_auc"], "average_precision": entry["average_precision"]}
            for name, entry in zip(names, ranked["per_class"], strict=True)
        }
        curves = {name: _thinned(entry) for name, entry in zip(names, ranked["per_class"], strict=True)}
        roc_auc, note = _averages(names, [entry["roc_auc"] for entry in ranked["per_class"]], supports)
        return {
            "predictions": predictions,
            "per_class_scores": per_class,
            "roc_auc": roc_auc,
            "curves": curves,
            "calibration": self.calibration.fields(totals.calibration),
            "scores_note": note,
        }

    def _distrust(self, totals: _Totals, names: Sequence[str], transform: str | None) -> str | None:
        """Why the score-based fields cannot be trusted, or ``None``."""
        counters, total = totals.counters, totals.scored + totals.unscored
        classes = 2 if totals.width == 1 else totals.width
        if totals.note:
            return totals.note
        if counters[_PROBABILITIES] not in (0, totals.scored_ranks):
            return "the processes read the scores differently (probabilities on some, logits on others)"
        if counters[_CONTRADICT]:
            return (
                f"the first batch's scores looked like probabilities, but {counters[_CONTRADICT]} later batches held "
                "values outside [0, 1] (or rows that do not sum to 1): return logits or probabilities, not both"
            )
        if counters[_DISAGREE]:
            return (
                f"{counters[_DISAGREE]} of {totals.scored} labels returned by test_step differ from the argmax of the "
                "forward output: the forward output was not these predictions"
            )
        if counters[_NAN_ROWS]:
            after = f" after the {transform}" if transform else ""
            return f"{counters[_NAN_ROWS]} of {totals.scored} rows of the scores are NaN{after} (NaN or infinite scores)"
        if totals.unscored:
            return f"{totals.unscored} of {total} samples had no scores: {self.labels_note}"
        if classes != len(names):
            return f"the scores have {totals.width} column(s) but the report has {len(names)} classes"
        return None


def _predictions(
    source: str, key: str | None, labels: str, scores: str, transform: str | None, threshold: float | None
) -> dict[str, Any]:
    return {
        "source": source,
        "scores": scores,
        "transform": transform,
        "labels": labels,
        "key": key,
        "threshold": threshold,
        "ranking": None,
        "max_error": None,
        "note": None,
    }


def _thinned(entry: dict[str, Any]) -> dict[str, Any]:
    roc, pr = entry["roc"], entry["pr"]
    if roc is not None:
        fpr, tpr = thin(roc["fpr"], roc["tpr"])
        roc = {"fpr": fpr, "tpr": tpr}
    if pr is not None:
        recall, precision = thin(pr["recall"], pr["precision"])
        pr = {"precision": precision, "recall": recall}
    return {"roc": roc, "pr": pr}


def _averages(
    names: Sequence[str], values: list[float | None], supports: Sequence[int]
) -> tuple[dict[str, float | None], str | None]:
    """sklearn's ``roc_auc_score(multi_class="ovr")`` macro and weighted averages (binary: the positive class's)."""
    undefined = [name for name, value in zip(names, values, strict=True) if value is None]
    if len(names) == 2:
        positive = values[1]
        note = None if positive is not None else f"roc_auc is undefined for {names[1]!r}: {_MISSING}"
        return {"macro": positive, "weighted": positive}, note
    if undefined:
        note = f"roc_auc is undefined for {', '.join(map(repr, undefined))}: {_MISSING}, so its averages are null"
        return {"macro": None, "weighted": None}, note
    defined = [v for v in values if v is not None]
    total = sum(supports)
    weighted = math.fsum(v * s for v, s in zip(defined, supports, strict=True)) / total if total else None
    return {"macro": mean(defined), "weighted": weighted}, None


_MISSING = "the test set has no positive or no negative sample of it"
