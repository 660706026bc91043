"""``minimal_logging.json``: the model of the file (:class:`MinimalLogging`)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from arccnet_ckpt.records.base import MetricValue, RecordedBy, RunStatus, UtcDatetime, _Artifact, _BestMetricMixin


class MinimalLogging(_Artifact, _BestMetricMixin):
    """``minimal_logging.json``: the few numbers people look at first."""

    filename: ClassVar[str] = "minimal_logging.json"

    timestamp: UtcDatetime
    best_epoch: int | None = None
    best_metric_name: str | None = "val_f1"
    best_metric_value: MetricValue = None
    num_epochs_trained: int = 0
    early_stopping_triggered: bool = False
    status: RunStatus | None = None
    additional_metrics: dict[str, Any] = Field(default_factory=dict)
    test_results: dict[str, MetricValue] = Field(
        default_factory=dict, description="the test metrics, also as top-level keys (test_f1...) as the old files had"
    )
    recorded_by: RecordedBy | None = None
    manual_values: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _best_alias(self) -> MinimalLogging:
        self._sync_best_key(self.best_metric_name)
        return self
