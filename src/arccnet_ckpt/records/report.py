"""``classification_report.json``: the model of the file (:class:`ClassificationReport`), of each test dataloader's
and each evaluation's report, and the helpers that name a report's classes and a dataloader's metrics.

Version 2 adds the score-based fields (``roc_auc``, ``curves``, ``calibration``, ``predictions``, ``mistakes`` and
each class's ``roc_auc``, ``average_precision``, ``tss`` and ``hss``). A version 1 file reads with them ``null``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field

from arccnet_ckpt.records.base import MetricValue, UtcDatetime, _Artifact, _Record

REPORT_SCHEMA_VERSION: Literal[2] = 2
"""``classification_report.json``'s version: 2 added the score-based fields. Version 1 files are read as they are."""


class ClassMetrics(_Record):
    """Precision, recall, F1 and support of one class (or an average)."""

    precision: float
    recall: float
    f1: float
    support: int


class ClassScores(ClassMetrics):
    """One class's numbers: the counts-based ones, and those that need scores or a one-vs-rest 2x2 table.

    Each is ``null`` where it is undefined (a class absent from the test set, predictions that were labels only).
    """

    roc_auc: MetricValue = Field(default=None, description="one-vs-rest ROC AUC from the class's probability")
    average_precision: MetricValue = Field(default=None, description="one-vs-rest average precision (sklearn's)")
    tss: MetricValue = Field(default=None, description="true skill statistic (Hanssen-Kuipers): TPR - FPR")
    hss: MetricValue = Field(default=None, description="Heidke skill score of the one-vs-rest 2x2 table")


def _class_metrics_as_dict(value: Any) -> Any:
    """A :class:`ClassMetrics` (version 1's per-class entry) where a :class:`ClassScores` is expected: its fields."""
    if isinstance(value, ClassMetrics) and not isinstance(value, ClassScores):
        return value.model_dump()
    return value


PerClass = dict[str, Annotated[ClassScores, BeforeValidator(_class_metrics_as_dict)]]
"""``per_class``: each class's scores; a :class:`ClassMetrics` given by older code is read as one."""


class RocAuc(_Record):
    """The report's ROC AUC: sklearn's ``roc_auc_score(multi_class="ovr")`` averages; binary: the positive class's."""

    macro: MetricValue = None
    weighted: MetricValue = None


class RocCurve(_Record):
    """One class's one-vs-rest ROC curve, thinned to at most 512 points (the AUC is computed before thinning)."""

    fpr: list[float]
    tpr: list[float]


class PrCurve(_Record):
    """One class's one-vs-rest precision-recall curve, thinned to at most 512 points."""

    precision: list[float]
    recall: list[float]


class ClassCurves(_Record):
    """The curves of one class; ``null`` where undefined (no positive or no negative sample)."""

    roc: RocCurve | None = None
    pr: PrCurve | None = None


class CalibrationBin(_Record):
    """One equal-width bin of the predicted class's probability."""

    lower: float
    upper: float
    confidence: MetricValue = Field(default=None, description="mean predicted-class probability in the bin")
    accuracy: MetricValue = Field(default=None, description="share of the bin's predictions that were right")
    count: int


class Calibration(_Record):
    """The reliability diagram's data and the expected calibration error."""

    bins: list[CalibrationBin]
    ece: MetricValue = Field(default=None, description="sum over bins of count/N * |accuracy - confidence|")


class PredictionSource(_Record):
    """Where the predictions came from and how their scores were read."""

    source: Literal["outputs", "forward"] = Field(
        description="outputs: test_step returned them; forward: the module's forward output in the test loop"
    )
    scores: Literal["probabilities", "logits", "labels"] = Field(
        description="what the scores were: probabilities, logits, or integer labels only (no score-based field)"
    )
    transform: Literal["sigmoid", "softmax"] | None = Field(
        default=None, description="applied to logits to get probabilities; null for probabilities and labels"
    )
    labels: Literal["outputs", "scores"] = Field(
        default="scores",
        description="the predicted labels used for the confusion matrix: from test_step's outputs, or the scores' "
        "argmax (or threshold)",
    )
    key: str | None = Field(
        default=None,
        description="which element held the scores: the outputs' or forward dict's key, or 'forward[0]' for the "
        "first tensor of a tuple",
    )
    threshold: float | None = Field(default=None, description="the threshold of a single binary score column")
    ranking: Literal["exact", "binned"] | None = Field(
        default=None,
        description="how roc_auc and average_precision were computed: exact (every score kept, within the budget) "
        "or binned (past the budget)",
    )
    max_error: MetricValue = Field(
        default=None, description="binned: a bound on the absolute error of any roc_auc or average_precision"
    )
    note: str | None = None


class Mistake(_Record):
    """One of the most confident wrong predictions."""

    index: int = Field(description="the sample's position in the test loop's order, from 0")
    target: str
    predicted: str
    confidence: float = Field(description="the predicted class's probability")
    thumbnail: str | None = Field(
        default=None, description="a PNG relative to the run folder (mistakes/...), null when the input is no image"
    )


SCORE_FIELDS: tuple[str, ...] = (
    "roc_auc",
    "curves",
    "calibration",
    "predictions",
    "mistakes",
    "scores_note",
    "mistakes_note",
)
"""The version 2 fields that a dataloader's report and the report's top level share (copied with the per-class
fields to the top level); both models declare them after ``per_class_note``, so the files read in that order."""


class DataloaderReport(_Record):
    """The per-class report of one test dataloader: never pooled with another one."""

    index: int = Field(description="Lightning's dataloader_idx: the dataloader's place in trainer.test's dataloaders")
    name: str | None = Field(default=None, description="its key where the dataloaders were a dict, e.g. quiet_sun")
    test_metrics: dict[str, MetricValue] = Field(
        default_factory=dict, description="its own test* metrics (test_f1/dataloader_idx_1 with several)"
    )
    class_names: list[str] | None = Field(default=None, description="the names of per_class and the matrix")
    per_class: PerClass | None = None
    accuracy: MetricValue = None
    macro_avg: ClassMetrics | None = None
    weighted_avg: ClassMetrics | None = None
    confusion_matrix: list[list[int]] | None = None
    num_samples: int | None = None
    per_class_note: str | None = None
    roc_auc: RocAuc | None = None
    curves: dict[str, ClassCurves] | None = None
    calibration: Calibration | None = None
    predictions: PredictionSource | None = None
    mistakes: list[Mistake] | None = None
    scores_note: str | None = Field(default=None, description="why the score-based fields are null, in one line")
    mistakes_note: str | None = Field(default=None, description="why mistakes or their thumbnails are missing")

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

    schema_version: Literal[1, 2] = REPORT_SCHEMA_VERSION  # type: ignore[assignment]
    test_metrics: dict[str, MetricValue] = Field(default_factory=dict)
    model_name: str = "unknown"
    loss_function: str = "unknown"
    class_names: list[str] | None = None
    checkpoint: str | None = None
    per_class: PerClass | None = None
    accuracy: MetricValue = None
    macro_avg: ClassMetrics | None = None
    weighted_avg: ClassMetrics | None = None
    confusion_matrix: list[list[int]] | None = None
    num_samples: int | None = None
    per_class_note: str | None = None
    roc_auc: RocAuc | None = None
    curves: dict[str, ClassCurves] | None = None
    calibration: Calibration | None = None
    predictions: PredictionSource | None = None
    mistakes: list[Mistake] | None = None
    scores_note: str | None = None
    mistakes_note: str | None = None
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
