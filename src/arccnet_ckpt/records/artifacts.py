"""The file models of a run folder, by the :class:`~arccnet_ckpt.runs.Run` attribute that holds each."""

from __future__ import annotations

from arccnet_ckpt.records.base import _Artifact
from arccnet_ckpt.records.config import ConfigRecord
from arccnet_ckpt.records.history import History
from arccnet_ckpt.records.minimal import MinimalLogging
from arccnet_ckpt.records.report import ClassificationReport
from arccnet_ckpt.records.summary import TrainingSummary

ARTIFACTS: dict[str, type[_Artifact]] = {
    "config": ConfigRecord,
    "summary": TrainingSummary,
    "minimal": MinimalLogging,
    "report": ClassificationReport,
    "history": History,
}
"""The file models by the ``Run`` attribute that holds them."""
