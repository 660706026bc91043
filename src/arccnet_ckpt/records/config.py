"""``config.json``: the model of the file (:class:`ConfigRecord`) and of its nested records, and the reserved key of
its version 2 layout."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from arccnet_ckpt.records.base import UtcDatetime, _Artifact, _Record


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
