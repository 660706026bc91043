"""``history.json``: the model of the file (:class:`History`), one entry per validation run."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from arccnet_ckpt.records.base import MetricValue, UtcDatetime, _Artifact, _Record


class HistoryEntry(_Record):
    """One validation run of a fit: where the fit was and every scalar metric Lightning had."""

    epoch: int
    step: int = Field(description="the trainer's global step")
    time: UtcDatetime
    attempt: int = Field(default=0, description="0 for the first fit, n for the n-th resumed fit")
    metrics: dict[str, MetricValue] = Field(
        default_factory=dict, description="val_*, train_* epoch aggregates, lr-<optimizer> learning rates..."
    )


class History(_Artifact):
    """``history.json``: one entry per validation run, oldest first (rewritten atomically at each one)."""

    filename: ClassVar[str] = "history.json"

    monitor: str | None = None
    mode: Literal["min", "max"] | None = None
    entries: list[HistoryEntry] = Field(default_factory=list)

    def series(self, metric: str) -> list[tuple[HistoryEntry, float]]:
        """The entries that recorded a finite ``metric``, each with its value; the latest attempt wins per step."""
        latest: dict[int, tuple[HistoryEntry, float]] = {}
        for entry in self.entries:
            value = entry.metrics.get(metric)
            if value is not None:
                latest[entry.step] = (entry, value)
        return [latest[step] for step in sorted(latest)]

    def metric_names(self) -> list[str]:
        """Every metric any entry recorded, sorted."""
        return sorted({name for entry in self.entries for name in entry.metrics})
