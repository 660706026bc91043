"""Plain-data views of runs shared by the command line and the HTML report: flattening, keys, metric direction.

No torch, no Lightning, no pydantic models built here: everything works on the JSON form of the files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from arccnet_ckpt.artifacts import ConfigRecord, EarlyStoppingState, LoggerInfo, TrainingSummary, record_dict


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


def metric_mode(name: str, monitor: str | None = None, mode: str | None = None) -> str:
    """``"min"`` or ``"max"``: whether a smaller or a larger value of metric ``name`` is better.

    The run's monitored metric uses the run's mode; otherwise names holding ``loss``, ``error``, ``err``, ``mae``,
    ``mse``, ``rmse`` or ``time`` are minimised, and everything else (F1, accuracy, precision...) maximised.
    """
    if monitor and name == monitor and mode in ("min", "max"):
        return mode
    words = name.lower().replace("-", "_").replace("/", "_").split("_")
    minimised = {"loss", "error", "err", "mae", "mse", "rmse", "time", "seconds", "duration"}
    return "min" if any(w in minimised for w in words) else "max"


def better(name: str, delta: float, monitor: str | None = None, mode: str | None = None) -> bool | None:
    """Whether a change of ``delta`` in metric ``name`` is an improvement; ``None`` when it is zero or not finite."""
    if not math.isfinite(delta) or delta == 0:
        return None
    return (delta > 0) == (metric_mode(name, monitor, mode) == "max")


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
