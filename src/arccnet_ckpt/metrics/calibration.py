"""The reliability diagram: 10 equal-width bins of the predicted class's probability, streamed on the device.

:class:`CalibrationState` adds each batch's count, summed confidence and number right per bin into a ``(3, 10)``
tensor on the batch's device (constant memory, no host read); :meth:`CalibrationState.fields` reads it once at test
end into ``calibration {bins: [{lower, upper, confidence, accuracy, count}], ece}``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from arccnet_ckpt.metrics.ranking import class_columns

__all__ = ["CALIBRATION_BINS", "CalibrationState"]

CALIBRATION_BINS: int = 10
"""Equal-width bins of ``[0, 1]``; a confidence of exactly 1 falls in the last one."""


class CalibrationState:
    """Per bin: how many predictions, their summed confidence and how many were right.

    The predicted class is the most probable one (binary: ``p > 0.5``) and its probability the confidence
    (binary: ``max(p, 1 - p)``).
    """

    def __init__(self) -> None:
        self.sums: Tensor | None = None  # rows: count, summed confidence, number right

    def update(self, probabilities: Tensor, target: Tensor) -> None:
        """Add a batch: ``(N, K)`` probabilities and ``(N,)`` int64 targets (no host read)."""
        confidence, predicted = class_columns(probabilities).max(dim=1)
        if self.sums is None:
            dtype = torch.float32 if probabilities.device.type == "mps" else torch.float64
            self.sums = torch.zeros((3, CALIBRATION_BINS), dtype=dtype, device=probabilities.device)
        bins = confidence.nan_to_num(0.0).mul(CALIBRATION_BINS).to(torch.int64).clamp_(0, CALIBRATION_BINS - 1)
        rows = torch.stack((torch.ones_like(confidence), confidence, (predicted == target).to(confidence.dtype)))
        self.sums.index_add_(1, bins, rows.to(self.sums.dtype))

    def local(self, device: torch.device) -> Tensor:
        """This process's sums on ``device`` in float64 (zeros when it saw nothing), to sum over processes."""
        if self.sums is None:
            return torch.zeros((3, CALIBRATION_BINS), dtype=torch.float64, device=device)
        return self.sums.to(device, torch.float64)

    def fields(self, sums: Tensor | None = None) -> dict[str, Any] | None:
        """``{bins, ece}`` from ``sums`` (the summed sums of every process) or this process's; ``None`` if empty."""
        sums = self.sums if sums is None else sums
        if sums is None:
            return None
        count, confidence, right = sums.to("cpu", torch.float64).tolist()
        total = sum(count)
        if total == 0:
            return None
        bins, gaps = [], []
        for b in range(CALIBRATION_BINS):
            n = int(count[b])
            mean_confidence = confidence[b] / n if n else None
            accuracy = right[b] / n if n else None
            if n:
                gaps.append(n / total * abs(right[b] / n - confidence[b] / n))
            bins.append(
                {
                    "lower": b / CALIBRATION_BINS,
                    "upper": (b + 1) / CALIBRATION_BINS,
                    "confidence": mean_confidence,
                    "accuracy": accuracy,
                    "count": n,
                }
            )
        return {"bins": bins, "ece": math.fsum(gaps)}
