"""``classification_report.json``: the model of the file (:class:`ClassificationReport`), of each test dataloader's
and each evaluation's report, and the helpers that name a report's classes and a dataloader's metrics."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field

from arccnet_ckpt.records.base import MetricValue, UtcDatetime, _Artifact, _Record


class ClassMetrics(_Record):
    """Precision, recall, F1 and support of one class (or an average)."""

    precision: float
    recall: float
    f1: float
    support: int


class DataloaderReport(_Record):
    """The per-class report of one test dataloader: never pooled with another one."""

    index: int = Field(description="Lightning's dataloader_idx: the dataloader's place in trainer.test's dataloaders")
    name: str | None = Field(default=None, description="its key where the dataloaders were a dict, e.g. quiet_sun")
    test_metrics: dict[str, MetricValue] = Field(
        default_factory=dict, description="its own test* metrics (test_f1/dataloader_idx_1 with several)"
    )
    class_names: list[str] | None = Field(default=None, description="the names of per_class and the matrix")
    per_class: dict[str, ClassMetrics] | None = None
    accuracy: MetricValue = None
    macro_avg: ClassMetrics | None = None
    weighted_avg: ClassMetrics | None = None
    confusion_matrix: list[list[int]] | None = None
    num_samples: int | None = None
    per_class_note: str | None = None

    def label(self) -> str:
        """``dataloader 1 (active)``, or ``dataloader 0`` when it has no name."""
        return f"dataloader {self.index}" + (f" ({self.name})" if self.name else "")


class EvaluationReport(_Record):
    """The reports of one ``trainer.test``: the entry of training_summary.json's ``evaluations`` with its number."""

    number: int
    tested_at: UtcDatetime
    checkpoint: str | None = None
    headline: bool = False
    test_metrics: dict[str, MetricValue] = Field(default_factory=dict)
    dataloaders: list[DataloaderReport] = Field(default_factory=list)


class ClassificationReport(_Artifact):
    """``classification_report.json``: the headline test's metrics and per-class report, and every evaluation's.

    The top level is the run's headline evaluation (see ``TrainingSummary.evaluations``), so
    ``json.load(f)["per_class"]`` is the headline's; with several test dataloaders, ``per_class`` is ``null`` and
    ``dataloaders`` holds one report each. ``evaluations`` holds the reports of every ``trainer.test`` of the run.
    """

    filename: ClassVar[str] = "classification_report.json"

    test_metrics: dict[str, MetricValue] = Field(default_factory=dict)
    model_name: str = "unknown"
    loss_function: str = "unknown"
    class_names: list[str] | None = None
    checkpoint: str | None = None
    per_class: dict[str, ClassMetrics] | None = None
    accuracy: MetricValue = None
    macro_avg: ClassMetrics | None = None
    weighted_avg: ClassMetrics | None = None
    confusion_matrix: list[list[int]] | None = None
    num_samples: int | None = None
    per_class_note: str | None = None
    created_at: UtcDatetime | None = None
    dataloaders: list[DataloaderReport] = Field(
        default_factory=list, description="the headline's report of each test dataloader"
    )
    evaluations: list[EvaluationReport] = Field(default_factory=list, description="every evaluation, oldest first")


def matrix_names(report: ClassificationReport | DataloaderReport) -> list[str]:
    """The names of a report's confusion-matrix classes, in label order: the same names as its ``per_class``.

    ``class_names`` when it has one name per row, else the ``per_class`` keys (a binary report of an earlier version,
    whose ``class_names`` was ``null`` and ``per_class`` said ``negative``/``positive``), else ``"0"``, ``"1"``...
    """
    size = len(report.confusion_matrix or report.per_class or [])
    if report.class_names and len(report.class_names) == size:
        return list(report.class_names)
    if report.per_class and len(report.per_class) == size:
        return list(report.per_class)
    return [str(i) for i in range(size)]


_DATALOADER_SUFFIX = re.compile(r"/dataloader_idx_(\d+)$")


def dataloader_metrics(metrics: dict[str, Any], index: int, count: int) -> dict[str, Any]:
    """The metrics of test dataloader ``index`` of ``count``, by the names they were logged under: all of them when
    there is one dataloader, else those Lightning suffixed with its index (``test_f1/dataloader_idx_1``)."""
    if count == 1:
        return dict(metrics)
    return {k: v for k, v in metrics.items() if (m := _DATALOADER_SUFFIX.search(k)) and int(m.group(1)) == index}


def base_metric_name(name: str) -> str:
    """``test_f1/dataloader_idx_1`` -> ``test_f1``: a metric's name without Lightning's dataloader suffix."""
    return _DATALOADER_SUFFIX.sub("", name)
