"""The plain-data views of runs shared by the command line and the HTML report: flattening, keys, what a comparison of
runs lists (:func:`compared_settings`) and refuses to judge (:func:`task_differences`), why a fit stopped, the
evaluations as rows. A metric's direction is :mod:`arccnet_ckpt.runs.direction`'s.

No torch, no Lightning, no pydantic models built here: everything works on the JSON form of the files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.records import (
    ClassificationReport,
    ConfigRecord,
    DataloaderCounts,
    EarlyStoppingState,
    LoggerInfo,
    TestEvaluation,
    TrainingSummary,
    base_metric_name,
    dataloader_metrics,
    record_dict,
)

if TYPE_CHECKING:
    from arccnet_ckpt.runs import Run


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as ``{"a.b.c": leaf}``; lists stay whole (a list of numbers is one setting).

    Example:
        >>> flatten({"optim": {"lr": 1e-4, "betas": [0.9, 0.99]}, "EPOCHS": 50})
        {'optim.lr': 0.0001, 'optim.betas': [0.9, 0.99], 'EPOCHS': 50}
    """
    if not isinstance(value, Mapping):
        return {prefix: value} if prefix else {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, Mapping) and item:
            out.update(flatten(item, path))
        else:
            out[path] = item
    return out


def config_settings(config: ConfigRecord | None) -> dict[str, Any]:
    """The user's settings of a run's ``config.json``, flattened: what a diff or a report shows first.

    What the package captured itself (trainer, environment, git...) is left out: see :func:`captured_settings`.
    """
    return flatten(config.config) if config is not None else {}


COMPARED_CAPTURES = ("hparams", "datamodule_hparams", "trainer")
"""What the package captured that a comparison of runs lists with the user's settings, as dotted keys under these
prefixes (``hparams.lr``, ``trainer.max_epochs``): a module's ``save_hyperparameters()`` and the Trainer's limits are
settings the user chose even when no ``config=`` was passed."""


def compared_config(config: ConfigRecord | None) -> dict[str, Any]:
    """The settings a comparison of runs (``diff``, the HTML comparison) lists for one run, flattened: the user's
    (:func:`config_settings`), then the recorded ``hparams.*``, ``datamodule_hparams.*`` and ``trainer.*``.

    A user key wins over a captured one of the same name (a LightningCLI config's own ``trainer.max_epochs``).
    """
    if config is None:
        return {}
    data = record_dict(config)
    captured = flatten({k: data.get(k) for k in COMPARED_CAPTURES if data.get(k)})
    return {**captured, **config_settings(config)}


def captured_settings(config: ConfigRecord | None) -> dict[str, Any]:
    """What the package captured of a run (trainer settings, model, optimisers, the LightningCLI and Hydra sections...),
    flattened; no user settings, no environment and no git (shown on their own). A tool's config that is also the
    top-level config (``config_source``) is left out here: it is the user settings."""
    if config is None:
        return {}
    data = record_dict(config)
    source = data.get("config_source")
    # The tool's config is the top-level one: shown once, as the user's settings.
    if isinstance(source, str) and isinstance(data.get(source), dict):
        data[source] = {k: v for k, v in data[source].items() if k != "config"}
    return flatten({k: v for k, v in data.items() if k not in ("config", "environment", "git", "schema_version")})


SHORT_VALUE = 60
"""How many characters of a setting a comparison shows in a table cell; the JSON output keeps the whole value."""


def shorten(text: str, width: int = SHORT_VALUE) -> str:
    """``text`` cut to ``width`` characters, the last one ``…``, when longer (a ``trainer.callbacks`` JSON)."""
    return text if len(text) <= width else text[: width - 1] + "\u2026"


TRAINER_DEFAULTS: dict[str, Any] = {
    "accelerator": "auto",
    "strategy": "auto",
    "devices": "auto",
    "num_nodes": 1,
    "fast_dev_run": False,
    "max_steps": -1,
    "overfit_batches": 0.0,
    "check_val_every_n_epoch": 1,
    "accumulate_grad_batches": 1,
    "inference_mode": True,
    "use_distributed_sampler": True,
    "detect_anomaly": False,
    "barebones": False,
    "sync_batchnorm": False,
    "reload_dataloaders_every_n_epochs": 0,
    "enable_autolog_hparams": True,
}
"""Lightning 2's ``Trainer`` arguments whose default is not ``None``, with that default (a test checks them against
the installed Lightning). Read without importing Lightning: the command line never imports it."""


def at_lightning_default(key: str, value: Any) -> bool:
    """Whether a setting says nothing the run chose: ``None`` (unset), or a ``trainer.X`` equal to Lightning's own
    default for ``X`` (LightningCLI writes every Trainer argument: ``trainer.max_steps: -1``...)."""
    if value is None:
        return True
    head, _, name = key.partition(".")
    if head != "trainer" or name not in TRAINER_DEFAULTS:
        return False
    default = TRAINER_DEFAULTS[name]
    return isinstance(value, bool) == isinstance(default, bool) and value == default


def _same_setting(a: Any, b: Any) -> bool:
    """Whether two runs' values of a setting are the same; ``None`` (written as null) and absent are the same."""
    a, b = (None if a is _ABSENT else a), (None if b is _ABSENT else b)
    return isinstance(a, bool) == isinstance(b, bool) and a == b  # true is not 1


_ABSENT: Any = object()


def compared_settings(settings: Sequence[Mapping[str, Any]], *, everything: bool = False) -> list[tuple[str, bool]]:
    """The keys a comparison of flattened settings lists, in order, each with whether it is at Lightning's defaults.

    A key is listed when its value differs between the runs (``everything``: every key). Null on one side and
    absent on the other is no difference. Keys some run set to a value of its own come first; keys every run leaves
    unset or at Lightning's Trainer default (:func:`at_lightning_default`) last, so that the ~60 Trainer arguments a
    LightningCLI config carries never push the hyperparameters down.
    """
    keys = sorted({k for s in settings for k in s})
    listed = []
    for key in keys:
        values = [s.get(key, _ABSENT) for s in settings]
        if not everything and all(_same_setting(values[0], v) for v in values[1:]):
            continue
        listed.append((key, all(v is _ABSENT or at_lightning_default(key, v) for v in values)))
    listed.sort(key=lambda item: item[1])  # stable: alphabetical within each group
    return listed


@dataclass(frozen=True)
class Task:
    """What a run was asked to do, as far as its files say: comparing numbers across tasks means nothing."""

    num_classes: int | None
    class_names: tuple[str, ...] | None
    monitor: str | None


def task_of(summary: TrainingSummary | None, config: ConfigRecord | None, report: ClassificationReport | None) -> Task:
    """The :class:`Task` of a run from its files (any may be ``None``).

    The number of classes is the test report's (its class names, else its confusion matrix), else the config's class
    names; class names are those the user gave or that were found in their code (``config.class_names``), never the
    ``0 1 2`` a report names unnamed classes with.
    """
    given = tuple(config.class_names) if config is not None and config.class_names else None
    size = None
    if report is not None and report.class_names:
        size = len(report.class_names)
    elif report is not None and report.confusion_matrix:
        size = len(report.confusion_matrix)
    elif given is not None:
        size = len(given)
    return Task(size, given, summary.monitor if summary is not None else None)


def run_task(run: Run) -> Task:
    """:func:`task_of` for a run; a file that cannot be read says nothing."""

    def quietly(read: Callable[[], Any]) -> Any:
        try:
            return read()
        except ArcCkptError:
            return None

    return task_of(quietly(lambda: run.summary), quietly(lambda: run.config), quietly(lambda: run.report))


def task_differences(tasks: Sequence[Task], *, monitor: bool = True) -> list[str]:
    """How the tasks differ, one phrase each (``number of classes: 2, 12``); empty when they agree.

    A value one run does not record is not compared. ``monitor=False`` leaves the monitored metric out (ranking by a
    test metric compares runs that monitored different metrics fairly).
    """
    out = []
    fields: list[tuple[str, Callable[[Task], Any]]] = [
        ("number of classes", lambda t: t.num_classes),
        ("class names", lambda t: t.class_names),
    ]
    if monitor:
        fields.append(("monitor", lambda t: t.monitor))
    for label, get in fields:
        known = [get(t) for t in tasks if get(t) is not None]
        distinct = list(dict.fromkeys(known))
        if len(distinct) > 1:
            shown = [" ".join(v) if isinstance(v, tuple) else str(v) for v in distinct]
            out.append(f"{label}: {' | '.join(shown) if label == 'class names' else ', '.join(shown)}")
    return out


def config_source_line(config: ConfigRecord) -> str:
    """Where a run's config came from, in one line: ``hydra: lr=0.1 +x=2`` or ``lightning_cli fit (config.yaml)``;
    ``argument`` for the callback's ``config=``; ``""`` when not recorded."""
    if config.config_source == "hydra" and config.hydra is not None:
        return "hydra: " + (" ".join(config.hydra.overrides) or "no overrides")
    if config.config_source == "lightning_cli" and config.lightning_cli is not None:
        cli = config.lightning_cli
        return " ".join(p for p in ("lightning_cli", cli.subcommand, f"({cli.file})" if cli.file else None) if p)
    return config.config_source or ""


def logger_run(entry: LoggerInfo) -> str:
    """A logger's run in a few words: ``run rlkbnh24 (offline)``, ``version 0``, ``-``."""
    if entry.run_id:
        text = f"run {entry.run_id}"
    elif entry.version is not None:
        text = f"version {entry.version}"
    else:
        text = "-"
    return text + (" (offline)" if entry.offline else "")


def logger_line(entry: LoggerInfo) -> str:
    """One logger of a run in one line: ``WandbLogger flares run rlkbnh24 (offline)  <URL, log or save folder>``."""
    parts = [entry.type.rsplit(".", 1)[-1], entry.name or "-", logger_run(entry)]
    if entry.stage == "test" or entry.attempt:
        parts.append(f"[{entry.stage}, attempt {entry.attempt}]")
    where = entry.url or entry.log_dir or entry.save_dir
    unread = f"  ({len(entry.errors)} unread: {', '.join(sorted(entry.errors))})" if entry.errors else ""
    return " ".join(parts) + (f"  {where}" if where else "") + unread


def early_stop(summary: TrainingSummary | None) -> EarlyStoppingState | None:
    """The first EarlyStopping callback that stopped the run (its reason is not ``NOT_STOPPED``), if any."""
    if summary is None:
        return None
    return next((s for s in summary.early_stopping if s.reason != "NOT_STOPPED"), None)


def early_stopping_used(summary: TrainingSummary | None, config: ConfigRecord | None) -> bool | None:
    """Whether the fit had an EarlyStopping callback; ``None`` when neither file records the Trainer's callbacks."""
    if summary is not None and summary.early_stopping:
        return True
    if config is None or not config.callbacks:  # the manual API and the old system record no callbacks
        return None
    return any(cb.class_path.rsplit(".", 1)[-1] == "EarlyStopping" for cb in config.callbacks)


def limit_reached(summary: TrainingSummary | None, config: ConfigRecord | None) -> str | None:
    """The Trainer limit a fit reached, as Lightning names it (``max_epochs=8``, ``max_steps=500``), else ``None``.

    Lightning checks these limits before ``should_stop``: a fit that reached one stopped for it, even when an
    EarlyStopping ran out of patience at the same epoch.
    """
    trainer = config.trainer if config is not None else None
    if summary is None or trainer is None:
        return None
    if trainer.max_steps is not None and trainer.max_steps >= 0 and summary.global_step >= trainer.max_steps:
        return f"max_steps={trainer.max_steps}"
    if trainer.max_epochs is not None and trainer.max_epochs >= 0 and summary.num_epochs_trained >= trainer.max_epochs:
        return f"max_epochs={trainer.max_epochs}"
    return None


def stop_reason(summary: TrainingSummary | None, config: ConfigRecord | None) -> str:
    """Why a training run's last epoch was its last, in words, as Lightning decided it.

    Example:
        ``max_epochs=8 reached (EarlyStopping's PATIENCE_EXHAUSTED came at the same epoch, 7)``,
        ``EarlyStopping: PATIENCE_EXHAUSTED at epoch 5``, ``max_epochs=8 reached``, ``failed (RuntimeError)``.
    """
    if summary is None:
        return "not recorded"
    if summary.status == "failed":
        return f"failed ({summary.error.type})" if summary.error is not None else "failed"
    if summary.status in ("running", "interrupted"):
        return summary.status
    limit, stop = limit_reached(summary, config), early_stop(summary)
    if limit is not None and stop is not None:
        return f"{limit} reached (EarlyStopping's {stop.reason} came at the same epoch, {stop.stopped_epoch})"
    if stop is not None:
        return f"EarlyStopping: {stop.reason} at epoch {stop.stopped_epoch}"
    if limit is not None:
        return f"{limit} reached"
    if summary.early_stopping_triggered:
        return "EarlyStopping (reason not recorded)"
    return "not recorded (no Trainer limit reached and no EarlyStopping stopped it)"


@dataclass(frozen=True)
class EvaluationRow:
    """One test dataloader of one ``trainer.test``: a row of the evaluations table of ``show`` and of the report."""

    number: int
    headline: bool
    tested_at: datetime
    checkpoint: str | None
    dataloader_index: int
    dataloader_name: str | None
    num_samples: int | None
    class_counts: dict[str, int] | None
    metrics: dict[str, Any]
    """This dataloader's metrics, by their names without Lightning's ``/dataloader_idx_N`` suffix."""


def evaluation_rows(evaluations: Sequence[TestEvaluation]) -> tuple[list[str], list[EvaluationRow]]:
    """The evaluations table of a run: the metric names of every evaluation (without the dataloader suffix, sorted)
    and one row per (evaluation, test dataloader), in the order they were recorded.

    An evaluation recorded without its dataloaders (an older file) is one row for dataloader 0 with all its metrics.
    """
    metrics = sorted({base_metric_name(k) for e in evaluations for k in e.test_results})
    rows = []
    for e in evaluations:
        loaders = e.dataloaders or [DataloaderCounts(index=0, num_samples=e.num_samples)]
        for counts in loaders:
            own = dataloader_metrics(e.test_results, counts.index, len(loaders))
            rows.append(
                EvaluationRow(
                    number=e.number,
                    headline=e.headline,
                    tested_at=e.tested_at,
                    checkpoint=e.checkpoint,
                    dataloader_index=counts.index,
                    dataloader_name=counts.name,
                    num_samples=counts.num_samples,
                    class_counts=counts.class_counts,
                    metrics={base_metric_name(k): v for k, v in own.items()},
                )
            )
    return metrics, rows
