"""Plain-data views of runs shared by the command line and the HTML report: flattening, keys, metric direction.

No torch, no Lightning, no pydantic models built here: everything works on the JSON form of the files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from arccnet_ckpt.artifacts import ConfigRecord, record_dict


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
    source = str(data.get("config_source"))
    if isinstance(data.get(source), dict):  # the tool's config is the top-level one: shown once, as the user's
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
