"""The files of a run folder: one pydantic model per file, their JSON Schemas, the legacy upgrade and the one reader.

Where each part lives:

- ``base``: what every model shares: the base classes, metric and time types, :func:`validate_artifact`;
- ``config``, ``summary``, ``minimal``, ``report``, ``history``: one module per file (``config.json``,
  ``training_summary.json``, ``minimal_logging.json``, ``classification_report.json``, ``history.json``);
- ``artifacts``: :data:`ARTIFACTS`, every file model by the ``Run`` attribute that holds it;
- ``schema`` and ``schemas/``: the shipped JSON Schemas and their generator;
- ``legacy``: the upgrade of a file of the old manual system, a pure function (a dict in, a dict and notes out);
- ``reader``: where the JSON is read: bytes from the store, strict parse, legacy upgrade, validated model.
"""

from __future__ import annotations

from arccnet_ckpt.records.artifacts import ARTIFACTS
from arccnet_ckpt.records.base import (
    SCHEMA_VERSION,
    ArtifactT,
    RunKind,
    RunStatus,
    record_dict,
    validate_artifact,
)
from arccnet_ckpt.records.config import (
    RESERVED_CONFIG_KEY,
    ComponentInfo,
    ConfigRecord,
    EnvironmentInfo,
    GitInfo,
    ModelInfo,
    TrainerSettings,
    check_config_keys,
)
from arccnet_ckpt.records.history import History, HistoryEntry
from arccnet_ckpt.records.minimal import MinimalLogging
from arccnet_ckpt.records.report import (
    REPORT_SCHEMA_VERSION,
    SCORE_FIELDS,
    Calibration,
    CalibrationBin,
    ClassCurves,
    ClassificationReport,
    ClassMetrics,
    ClassScores,
    DataloaderReport,
    EvaluationReport,
    Mistake,
    PrCurve,
    PredictionSource,
    RocAuc,
    RocCurve,
    base_metric_name,
    dataloader_metrics,
    matrix_names,
)
from arccnet_ckpt.records.summary import (
    SUMMARY_SCHEMA_VERSION,
    DataCounts,
    DataloaderCounts,
    EarlyStoppingState,
    ErrorInfo,
    GroupInfo,
    GroupSource,
    LoggerInfo,
    ResumeInfo,
    SplitCounts,
    TestEvaluation,
    TrainingSummary,
)

__all__ = [
    "ARTIFACTS",
    "REPORT_SCHEMA_VERSION",
    "RESERVED_CONFIG_KEY",
    "SCHEMA_VERSION",
    "SCORE_FIELDS",
    "SUMMARY_SCHEMA_VERSION",
    "ArtifactT",
    "Calibration",
    "CalibrationBin",
    "ClassCurves",
    "ClassMetrics",
    "ClassScores",
    "ClassificationReport",
    "ComponentInfo",
    "ConfigRecord",
    "DataCounts",
    "DataloaderCounts",
    "DataloaderReport",
    "EarlyStoppingState",
    "EnvironmentInfo",
    "ErrorInfo",
    "EvaluationReport",
    "GitInfo",
    "GroupInfo",
    "GroupSource",
    "History",
    "HistoryEntry",
    "LoggerInfo",
    "MinimalLogging",
    "Mistake",
    "ModelInfo",
    "PrCurve",
    "PredictionSource",
    "ResumeInfo",
    "RocAuc",
    "RocCurve",
    "RunKind",
    "RunStatus",
    "SplitCounts",
    "TestEvaluation",
    "TrainerSettings",
    "TrainingSummary",
    "base_metric_name",
    "check_config_keys",
    "dataloader_metrics",
    "matrix_names",
    "record_dict",
    "validate_artifact",
]
