"""Pydantic models of the JSON files in a run folder: one class per file.

Every file carries a ``schema_version`` (1; ``training_summary.json`` 2, ``config.json`` 2; see ``schema.py``).
Top-level models allow extra keys (``extra="allow"``): the manual API and future versions may add fields, and a
reader must keep, not drop, what it does not know. Nested records that the package alone writes forbid extras, so a
typo in a hand-edited file is caught.

Floats that are not finite (``NaN``, ``inf``) become ``None``, so every file is strict JSON. Times are timezone-aware
and written as ISO 8601 with a UTC offset (``2025-02-12T14:30:45.123456+00:00``).
"""

from __future__ import annotations

import json
import math
import numbers
import re
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from arccnet_ckpt.errors import ArtifactError

SCHEMA_VERSION: Literal[1] = 1

RunStatus = Literal["running", "completed", "failed", "interrupted"]
"""Life cycle of a run: ``running`` from fit start, then exactly one of the other three (see ``recorder.Phase``)."""

RunKind = Literal["training", "evaluation"]
"""``training`` for a folder made by ``fit``; ``evaluation`` for one made by a test-only Trainer."""

RecordedBy = Literal["callback", "manual"]
"""Who wrote a file's numbers: ``callback`` (measured from the Trainer) or ``manual`` (a ``save_*`` call alone)."""


def _finite_or_none(value: Any) -> Any:
    if type(value) is float:  # the common case first: this runs for every metric of every run listed
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if hasattr(value, "item") and callable(value.item):  # torch / numpy scalars
        try:
            value = value.item()
        except (TypeError, ValueError, RuntimeError):
            return value
    if isinstance(value, numbers.Real) and not isinstance(value, int):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("time has no UTC offset; write ISO 8601 with an offset, e.g. 2025-02-12T14:30:45+00:00")
    return value.astimezone(timezone.utc)


MetricValue = Annotated[float | None, BeforeValidator(_finite_or_none)]
"""A metric: a finite float, or ``None`` where the value was missing, ``NaN`` or infinite."""

UtcDatetime = Annotated[
    datetime,
    AfterValidator(_require_utc),
    PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json"),
]
"""A timezone-aware moment, stored in UTC, written as ISO 8601 with ``+00:00``."""


# defer_build: a model's validator is built on first use, so a listing that reads only summaries does not pay for
# the others at import (the command line starts in a fresh process each time).


class _Record(BaseModel):
    """Nested record written by the package alone: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class _Artifact(BaseModel):
    """Base of the top-level file models."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    filename: ClassVar[str]
    schema_version: Literal[1] = SCHEMA_VERSION


class _BestMetricMixin(BaseModel):
    """Adds the seed's ``best_<monitor>`` key (e.g. ``best_val_f1``) as an alias of ``best_metric_value``."""

    @staticmethod
    def _best_key(metric_name: str | None) -> str | None:
        return f"best_{metric_name}" if metric_name else None

    def _sync_best_key(self, metric_name: str | None) -> None:
        key = self._best_key(metric_name)
        if key is None or key in type(self).__pydantic_fields__:
            return
        extra = self.__pydantic_extra__
        if extra is None:
            return
        current = getattr(self, "best_metric_value", None)
        if current is None and extra.get(key) is not None:
            adopted = _finite_or_none(extra[key])
            if adopted is not None and not isinstance(adopted, (int, float)):
                raise ValueError(f"{key} must be a number, got {extra[key]!r}")
            object.__setattr__(self, "best_metric_value", None if adopted is None else float(adopted))
        extra[key] = getattr(self, "best_metric_value", None)


# --------------------------------------------------------------------------------------------------- config.json


class TrainerSettings(BaseModel):
    """The Trainer settings that decide what a run did."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    max_epochs: int | None = None
    min_epochs: int | None = None
    max_steps: int | None = None
    precision: str | None = None
    accumulate_grad_batches: int | None = None
    gradient_clip_val: float | int | None = None
    check_val_every_n_epoch: int | None = None
    val_check_interval: float | int | str | None = None
    accelerator: str | None = None
    strategy: str | None = None
    num_devices: int | None = None
    num_nodes: int | None = None
    deterministic: bool | str | None = None


class ComponentInfo(_Record):
    """An optimizer, scheduler or callback: its class and its settings (JSON-safe)."""

    class_path: str
    settings: dict[str, Any] = Field(default_factory=dict)


class ModelInfo(_Record):
    """The LightningModule's class and parameter counts."""

    class_path: str
    total_parameters: int
    trainable_parameters: int


class EnvironmentInfo(BaseModel):
    """Where the run happened."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    python: str | None = None
    platform: str | None = None
    hostname: str | None = None
    torch: str | None = None
    lightning: str | None = None
    pydantic: str | None = None
    cuda: str | None = None
    argv: list[str] = Field(default_factory=list)
    gpus: list[str] | None = Field(default=None, description="the names of the GPUs this process sees")
    cuda_visible_devices: str | None = Field(default=None, description="$CUDA_VISIBLE_DEVICES, when set")
    job: dict[str, dict[str, Any]] | None = Field(
        default=None,
        description="the scheduler's identity: slurm (job_id, array_job_id, array_task_id, job_name, partition, "
        "node_list, restart_count) and torchelastic (run_id, restart_count, max_restarts), as far as set",
    )


class GitInfo(_Record):
    """The source tree the run came from."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    source: Literal["script", "module", "cwd"] | None = Field(
        default=None,
        description="where the repository was found: the running script's folder, the LightningModule's source "
        "file's, or the working directory (absent in files written before it was recorded)",
    )
    root: str | None = Field(default=None, description="the repository's top folder")


class UnserializableValue(_Record):
    """A value that JSON cannot hold (an ``nn.Module``, a function...): written in place as its ``repr`` and listed,
    so a reader knows it was an object and not that string. Lightning's ``hparams.yaml`` drops such values."""

    path: str = Field(description="where it is: `hparams.activation`, `config.LAYERS[2]` (in a section: its config)")
    type: str = Field(description="the value's class path, e.g. torch.nn.modules.activation.ReLU")
    repr: str = Field(description="what is written in its place")


class LightningCliSection(_Record):
    """``_arccnet.lightning_cli``: the config of the ``LightningCLI`` that built the Trainer."""

    config: dict[str, Any] = Field(
        default_factory=dict, description="the parsed config of the subcommand, YAML files and command line merged"
    )
    subcommand: str | None = Field(default=None, description="fit, validate, test...; null with run=False")
    config_files: list[str] = Field(default_factory=list, description="the --config files given, absolute")
    file: str | None = Field(
        default=None, description="the copy in the run folder (config.yaml), as Lightning saves it"
    )
    redacted: bool = Field(default=False, description="whether the copy had secret values replaced by ***")
    unserializable: list[UnserializableValue] = Field(default_factory=list)
    error: str | None = Field(default=None, description="why the config could not be dumped, when it could not")


class HydraSection(_Record):
    """``_arccnet.hydra``: the job config of the Hydra app that runs the process."""

    config: dict[str, Any] | None = Field(
        default=None, description="the job's config, interpolations resolved; null with hydra.output_subdir=null"
    )
    overrides: list[str] = Field(default_factory=list, description="the command-line overrides (hydra.overrides.task)")
    output_dir: str | None = Field(default=None, description="Hydra's output folder of the job")
    job_name: str | None = None
    mode: str | None = Field(default=None, description="RUN or MULTIRUN")
    job_num: int | None = Field(default=None, description="the job's number in a multirun sweep")
    choices: dict[str, Any] = Field(default_factory=dict, description="the config-group choices (hydra/* left out)")
    files: list[str] = Field(default_factory=list, description="copies in the run folder: hydra/config.yaml...")
    redacted: bool = Field(default=False, description="whether a copy had secret values replaced by ***")
    unserializable: list[UnserializableValue] = Field(default_factory=list)


ConfigSource = Literal["argument", "hydra", "lightning_cli"]
"""Where ``config.json``'s top-level keys came from: the callback's ``config=`` (or a manual ``save_config()``), else
Hydra's job config, else LightningCLI's config."""


CONFIG_SCHEMA_VERSION: Literal[2] = 2
"""``config.json``'s layout version: from 2 the user's config keys are the file's top-level keys."""

RESERVED_CONFIG_KEY = "_arccnet"
"""The top-level key of ``config.json`` (version 2) that holds everything the package captured besides the user's
config. A config module cannot define it (its ``_`` names are private); a config dict that has it is refused."""

FLAT = {"layout": "flat"}
"""Serialisation context for a record as one flat dict (``config`` nested), the form records are merged in."""


def check_config_keys(config: dict[str, Any]) -> None:
    """Refuse a user config that has the reserved key.

    Raises:
        ValueError: Naming the key and what to do.
    """
    if RESERVED_CONFIG_KEY in config:
        raise ValueError(
            f"the config key {RESERVED_CONFIG_KEY!r} is reserved: config.json keeps the config's keys at the top "
            f"level and what arccnet-ckpt captures under {RESERVED_CONFIG_KEY!r}; rename that key"
        )


def record_dict(record: BaseModel) -> dict[str, Any]:
    """A file model as a JSON-safe dict in the flat form the package merges records in (see :class:`ConfigRecord`)."""
    return record.model_dump(mode="json", context=FLAT)


class ConfigRecord(_Artifact):
    """``config.json``: everything needed to understand or repeat the run, written at fit start.

    In memory (and in version 1 files) the user's config is the ``config`` field. Version 2 files keep the user's
    config keys at the top level, as the old manual system wrote them, so ``json.load(f)["LEARNING_RATE"]`` works,
    and put everything else under :data:`RESERVED_CONFIG_KEY` (``_arccnet``, with ``schema_version: 2``). Both
    layouts, and legacy ``vars(config)`` dumps, read into the same model.
    """

    filename: ClassVar[str] = "config.json"

    schema_version: Literal[1, 2] = CONFIG_SCHEMA_VERSION  # type: ignore[assignment]
    config: dict[str, Any] = Field(default_factory=dict)
    hparams: dict[str, Any] = Field(default_factory=dict)
    datamodule_hparams: dict[str, Any] | None = None
    trainer: TrainerSettings | None = None
    optimizers: list[ComponentInfo] = Field(default_factory=list)
    lr_schedulers: list[ComponentInfo] = Field(default_factory=list)
    callbacks: list[ComponentInfo] = Field(default_factory=list)
    model: ModelInfo | None = None
    environment: EnvironmentInfo | None = None
    git: GitInfo | None = None
    seed: int | None = None
    model_name: str | None = None
    loss_function: str | None = None
    root_name: str | None = None
    class_names: list[str] | None = None
    class_name_sources: dict[str, list[str]] | None = Field(
        default=None, description="every list of class names offered, by source, when they disagree"
    )
    created_at: UtcDatetime | None = None
    config_source: ConfigSource | None = Field(
        default=None, description="where the top-level keys came from: argument, hydra or lightning_cli"
    )
    lightning_cli: LightningCliSection | None = None
    hydra: HydraSection | None = None
    unserializable: list[UnserializableValue] = Field(
        default_factory=list, description="values of config, hparams and datamodule_hparams written as their repr"
    )

    @model_validator(mode="before")
    @classmethod
    def _from_file_layout(cls, data: Any) -> Any:
        """Version 2 on disk: user keys at the top level, the capture under ``_arccnet``."""
        if isinstance(data, dict) and RESERVED_CONFIG_KEY in data:
            captured = data[RESERVED_CONFIG_KEY]
            if not isinstance(captured, dict):
                raise ValueError(f"{RESERVED_CONFIG_KEY} must be an object, got {type(captured).__name__}")
            user = {k: v for k, v in data.items() if k != RESERVED_CONFIG_KEY}
            return {**captured, "config": user}
        return data

    @field_validator("config")
    @classmethod
    def _no_reserved_key(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_config_keys(value)
        return value

    @model_serializer(mode="wrap")
    def _to_file_layout(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.schema_version == 1 or (info.context or {}).get("layout") == "flat":
            return data
        user = data.pop("config", None) or {}
        return {**user, RESERVED_CONFIG_KEY: data}


# ------------------------------------------------------------------------------------------ training_summary.json


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

    @model_validator(mode="after")
    def _best_alias(self) -> TrainingSummary:
        self._sync_best_key(self.monitor)
        return self


# ------------------------------------------------------------------------------------------- minimal_logging.json


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


# ------------------------------------------------------------------------------------ classification_report.json


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


# ---------------------------------------------------------------------------------------------------- history.json


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


ARTIFACTS: dict[str, type[_Artifact]] = {
    "config": ConfigRecord,
    "summary": TrainingSummary,
    "minimal": MinimalLogging,
    "report": ClassificationReport,
    "history": History,
}
"""The file models by the ``Run`` attribute that holds them."""

ArtifactT = TypeVar("ArtifactT", bound=_Artifact)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "<root>"
        parts.append(f"field {field!r}: {item['msg']} (got {item.get('input')!r:.80})")
    return "; ".join(parts)


def validate_artifact(model: type[ArtifactT], data: Any, *, source: str | None = None) -> ArtifactT:
    """Validate a mapping as one of the file models, with an error that names the file and the field.

    Args:
        model: The file model, e.g. :class:`TrainingSummary`.
        data: The mapping to validate.
        source: The file the data comes from or goes to (defaults to ``model.filename``).

    Returns:
        The validated model.

    Raises:
        ArtifactError: If a field has the wrong type or value.
    """
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ArtifactError(f"{source or model.filename}: not a valid {model.__name__}: {_describe(e)}") from e


def parse_artifact_json(model: type[ArtifactT], text: str, *, source: str | None = None) -> ArtifactT:
    """Parse strict JSON text as one of the file models (see :func:`validate_artifact`)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{source or model.filename}: not valid JSON: {e}") from e
    return validate_artifact(model, data, source=source)
