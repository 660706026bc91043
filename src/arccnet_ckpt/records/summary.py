"""``training_summary.json``: the model of the file (:class:`TrainingSummary`) and of its nested records."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from arccnet_ckpt.records.base import (
    MetricValue,
    RecordedBy,
    RunKind,
    RunStatus,
    UtcDatetime,
    _Artifact,
    _BestMetricMixin,
    _Record,
)


class EarlyStoppingState(_Record):
    """The state of one EarlyStopping callback when the summary was written."""

    monitor: str
    mode: str
    patience: int
    min_delta: float
    wait_count: int
    stopped_epoch: int
    best_score: MetricValue = None
    reason: str = Field(description="Lightning's EarlyStoppingReason name, e.g. PATIENCE_EXHAUSTED or NOT_STOPPED")
    message: str | None = None


class ErrorInfo(_Record):
    """Why fit did not complete."""

    type: str
    message: str
    traceback: str | None = None


class ResumeInfo(_Record):
    """One resumed ``fit`` of the run: when, from which checkpoint, and what the run had reached before it."""

    time: UtcDatetime
    checkpoint: str | None = Field(description="relative to the run folder when inside it, else as given")
    previous_status: RunStatus | None = None
    previous_error: ErrorInfo | None = None
    previous_end_time: UtcDatetime | None = None
    num_epochs_trained: int = 0
    global_step: int = 0
    restart_count: int | None = Field(
        default=None,
        description="the scheduler's restart count when this fit started (SLURM_RESTART_COUNT, "
        "TORCHELASTIC_RESTART_COUNT); new in training_summary.json schema_version 2",
    )


class AttemptInfo(_Record):
    """The wall time of one attempt of the run: the first fit (attempt 0), then each resumed fit."""

    attempt: int = Field(description="0 for the first fit, n for the n-th resumed fit")
    start_time: UtcDatetime
    end_time: UtcDatetime | None = None
    duration_seconds: MetricValue = None
    ended: Literal["end", "last heartbeat"] = Field(
        default="end",
        description="end: the attempt recorded its end (completed, failed, interrupted); last heartbeat: it was "
        "killed, and is measured to the last time it wrote its record",
    )


class LoggerInfo(_Record):
    """One logger attached to the Trainer, as far as it could be read without creating its experiment or calling the
    network; what could not be read is under ``errors``."""

    type: str = Field(description="the logger's class path, e.g. lightning.pytorch.loggers.wandb.WandbLogger")
    name: str | None = None
    version: str | int | None = None
    save_dir: str | None = Field(default=None, description="the logger's save folder (or tracking folder)")
    log_dir: str | None = Field(default=None, description="where this run's logs are, when the logger has one")
    experiment_id: str | None = Field(default=None, description="MLflow's experiment id, Comet's experiment key")
    run_id: str | None = Field(default=None, description="MLflow's run id, W&B's run id, Comet's experiment key")
    url: str | None = Field(default=None, description="the run's page, where it has one (not for offline runs)")
    offline: bool | None = Field(default=None, description="true for an offline W&B or Comet run; null where moot")
    errors: dict[str, str] = Field(default_factory=dict, description="field -> why it could not be read")
    attempt: int = Field(default=0, description="0 for the first fit, n for the n-th resumed fit")
    stage: Literal["fit", "test"] = Field(default="fit", description="the Trainer call the logger was attached to")


class DataloaderCounts(_Record):
    """The size of one test dataloader of an evaluation, and how many samples each class has in it."""

    index: int = Field(description="Lightning's dataloader_idx: the dataloader's place in trainer.test's dataloaders")
    name: str | None = Field(default=None, description="its key where the dataloaders were a dict, e.g. quiet_sun")
    num_samples: int | None = Field(default=None, description="samples counted; null without predictions")
    class_counts: dict[str, int] | None = Field(default=None, description="samples per true class, by class name")


class TestEvaluation(_Record):
    """One ``trainer.test`` of the run: when, which checkpoint, on how many samples, and its metrics.

    Its per-class report, one per dataloader, is the entry of ``classification_report.json``'s ``evaluations``
    with the same ``number``.
    """

    __test__: ClassVar[bool] = False  # not a pytest class, despite the name

    number: int = Field(description="1 for the run's first trainer.test, 2 for the next...")
    tested_at: UtcDatetime
    checkpoint: str | None = Field(
        description="the tested checkpoint, relative to the run folder when inside it, else absolute; null for the "
        "weights in memory"
    )
    headline: bool = Field(
        description="whether this evaluation is the run's headline: test_results, classification_report.json's "
        "top level, minimal_logging.json and report.html show it"
    )
    test_results: dict[str, MetricValue] = Field(default_factory=dict, description="the test* metrics it logged")
    num_samples: int | None = Field(default=None, description="samples of every dataloader together")
    dataloaders: list[DataloaderCounts] = Field(default_factory=list)


class SplitCounts(_Record):
    """What the Trainer saw of one split: samples, batches and samples per true class, read from the batches."""

    num_samples: int | None = Field(default=None, description="samples in the counted pass (targets' first dimension)")
    num_batches: int | None = Field(default=None, description="batches in the counted pass")
    class_counts: dict[str, int] | None = Field(
        default=None, description="samples per true class, by class name; null when no targets were found"
    )
    epoch: int | None = Field(default=None, description="the epoch counted (train and val: the first full epoch)")
    note: str | None = Field(default=None, description="why class_counts (or the whole entry) is missing, one line")


class DataCounts(_Record):
    """What data the Trainer saw: the first full training epoch, its validation, and the test loop.

    A sampler that resamples (e.g. ``WeightedRandomSampler``) shows here what the model saw, not the dataset.
    """

    train: SplitCounts | None = None
    val: SplitCounts | None = None
    test: SplitCounts | None = Field(default=None, description="the headline evaluation's test loop")


GroupSource = Literal["argument", "slurm_array", "torchelastic", "hydra_multirun", "process"]
"""Where a run's group came from, the first that applies: ``ArcCheckpointCallback(group=...)``, a SLURM job array, a
torchelastic run, a Hydra multirun, or runs started one after another by one process with the same names."""


class GroupInfo(_Record):
    """The group a run belongs to (cross-validation folds, a sweep): read back as one by ``load_group``."""

    id: str = Field(description="a stable, readable name shared by the group's runs")
    source: GroupSource
    index: int | None = Field(default=None, description="the run's place in the group, from 0")


SUMMARY_SCHEMA_VERSION: Literal[2] = 2
"""``training_summary.json``'s version: 2 added ``resumes[].restart_count`` (a key in a nested record, which readers
of version 1 would refuse). Version 1 files are read as they are."""


class TrainingSummary(_Artifact, _BestMetricMixin):
    """``training_summary.json``: the life cycle and the outcome of the run.

    ``best_<monitor>`` (e.g. ``best_val_f1``) is kept as an extra key equal to ``best_metric_value``.
    """

    filename: ClassVar[str] = "training_summary.json"

    schema_version: Literal[1, 2] = SUMMARY_SCHEMA_VERSION  # type: ignore[assignment]
    status: RunStatus
    start_time: UtcDatetime
    end_time: UtcDatetime | None = None
    duration_seconds: MetricValue = None
    model_name: str
    loss_function: str
    root_name: str | None = None
    run_name: str | None = None
    monitor: str | None = None
    mode: Literal["min", "max"] | None = None
    best_epoch: int | None = None
    best_metric_value: MetricValue = None
    best_model_path: str | None = None
    last_model_path: str | None = None
    num_epochs_trained: int = 0
    global_step: int = 0
    early_stopping_triggered: bool = False
    early_stopping: list[EarlyStoppingState] = Field(default_factory=list)
    test_results: dict[str, MetricValue] = Field(default_factory=dict)
    error: ErrorInfo | None = None
    resumed_from: str | None = None
    kind: RunKind = "training"
    resumes: list[ResumeInfo] = Field(default_factory=list)
    attempts: list[AttemptInfo] = Field(
        default_factory=list,
        description="the wall time of each attempt; duration_seconds is their sum (time between attempts, queued "
        "or stopped, is not counted)",
    )
    tested_checkpoint: str | None = None
    recorded_by: RecordedBy | None = None
    manual_values: dict[str, Any] = Field(default_factory=dict)
    updated_at: UtcDatetime | None = Field(
        default=None,
        description="the last time the run wrote its record: a heartbeat, renewed at every validation of a fit",
    )
    loggers: list[LoggerInfo] = Field(
        default_factory=list,
        description="the loggers of each fit (and test-only Trainer) of the run: ids, folders, URLs; see LoggerInfo",
    )
    pid: int | None = Field(
        default=None, description="the process id of the fit (or evaluation) that last started or resumed the run"
    )
    hostname: str | None = Field(default=None, description="the host that process runs on")
    evaluations: list[TestEvaluation] = Field(
        default_factory=list,
        description="every trainer.test of the run, oldest first; the one marked headline gave test_results",
    )
    group: GroupInfo | None = Field(default=None, description="the group the run belongs to; null for a legacy run")
    data: DataCounts | None = Field(
        default=None, description="what data the Trainer saw of each split; null before the first epoch is counted"
    )

    @model_validator(mode="after")
    def _best_alias(self) -> TrainingSummary:
        self._sync_best_key(self.monitor)
        return self
