"""Plain-data views of runs shared by the command line and the HTML report: flattening, keys, metric direction.

No torch, no Lightning, no pydantic models built here: everything works on the JSON form of the files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from arccnet_ckpt.artifacts import ConfigRecord, LoggerInfo, record_dict


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
