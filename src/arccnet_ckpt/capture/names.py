"""The names a run is filed and labelled under, looked up in the user's configs, hparams and module.

* where names are looked up in one config: :func:`config_sections` and :func:`lookup`;
* the model's name: :func:`infer_model_name`; the loss's: :func:`infer_loss_function`;
* the lists of class names the run offers, in the order that decides label *i*: :func:`class_name_sources`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MODEL_NAME_CONFIG_KEYS = ("MODEL_NAME", "model_name")

MODEL_NAME_HPARAM_KEYS = ("model_name", "model", "backbone", "arch")

LOSS_KEYS = ("LOSS_FUNCTION", "LOSS_TYPE", "loss_function", "loss_type", "loss")

CLASS_NAME_KEYS = ("class_names", "CLASS_NAMES", "CLASSES")


def lookup(sources: Sequence[Mapping[str, Any] | None], keys: Sequence[str]) -> str | None:
    """The first non-empty string found under one of ``keys`` in the first source that has one."""
    for source in sources:
        if not source:
            continue
        for key in keys:
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                return value
    return None


def config_sections(config: Mapping[str, Any] | None, *, data: bool = False) -> list[Mapping[str, Any]]:
    """Where names are looked up in one config, in order: its top level, its ``model`` section and that section's
    ``init_args`` (LightningCLI's layout); with ``data``, then its ``data`` section and ``data.init_args``."""
    if not isinstance(config, Mapping):
        return []
    found: list[Mapping[str, Any]] = [config]
    for key in ("model", "data") if data else ("model",):
        section = config.get(key)
        if isinstance(section, Mapping):
            found.append(section)
            if isinstance(section.get("init_args"), Mapping):
                found.append(section["init_args"])
    return found


def infer_model_name(
    configs: Sequence[Mapping[str, Any] | None], hparams: Mapping[str, Any] | None, module: Any
) -> str:
    """Model name: each config in turn (``MODEL_NAME``/``model_name`` in :func:`config_sections`), else hparams
    ``model_name``/``model``/``backbone``/``arch``, else the LightningModule's class name.

    Args:
        configs: The configs in precedence order: the callback's ``config=``, Hydra's, LightningCLI's.
        hparams: The LightningModule's hparams.
        module: The LightningModule.
    """
    sections = [section for config in configs for section in config_sections(config)]
    return (
        lookup(sections, MODEL_NAME_CONFIG_KEYS)
        or lookup([hparams], MODEL_NAME_HPARAM_KEYS)
        or (type(module).__name__ if module is not None else "unknown")
    )


def infer_loss_function(
    configs: Sequence[Mapping[str, Any] | None], hparams: Mapping[str, Any] | None, module: Any
) -> str:
    """Loss name: each config in turn, then hparams (``LOSS_FUNCTION``, ``LOSS_TYPE``, ``loss_function``,
    ``loss_type``, ``loss``; strings only), else the class of the module's first ``torch.nn`` loss attribute, else
    ``"unknown"``."""
    sections = [section for config in configs for section in config_sections(config)]
    found = lookup([*sections, hparams], LOSS_KEYS)
    if found:
        return found
    if module is not None:
        from torch.nn.modules.loss import _Loss

        for _name, child in module.named_modules():
            if isinstance(child, _Loss):
                return type(child).__name__
    return "unknown"


def class_name_sources(
    configs: Mapping[str, Mapping[str, Any] | None], module: Any, datamodule: Any
) -> dict[str, list[str]]:
    """Every list of class names the run offers, in the order that decides which one names label *i*.

    The LightningModule's and the datamodule's ``class_names`` (an attribute, else an hparam) come first: they are
    the label encoder's order, which is what label *i* means. The configs' lists (``class_names``, ``CLASS_NAMES``,
    ``CLASSES`` in :func:`config_sections` with ``data``) come last, in the order given: configs often list the
    classes in a reading order (``['Quiet', 'C', 'M_X']``) that is not the encoder's.

    Args:
        configs: Named configs in precedence order, e.g. ``{"config": ..., "hydra": ..., "lightning_cli": ...}``.
        module: The LightningModule (or ``None``).
        datamodule: The LightningDataModule (or ``None``).

    Returns:
        ``{"module": [...], "datamodule": [...], "config": [...], ...}``, holding only the sources that have a list.
    """
    found: dict[str, list[str]] = {}
    for where, owner in (("module", module), ("datamodule", datamodule)):
        if owner is None:
            continue
        names = _as_name_list(getattr(owner, "class_names", None))
        if names is None:
            hparams = getattr(owner, "hparams", None)
            names = _first_name_list(hparams if isinstance(hparams, Mapping) else None)
        if names:
            found[where] = names
    for where, config in configs.items():
        names = next(filter(None, map(_first_name_list, config_sections(config, data=True))), None)
        if names:
            found[where] = names
    return found


def _first_name_list(source: Mapping[str, Any] | None) -> list[str] | None:
    for key in CLASS_NAME_KEYS:
        names = _as_name_list(source.get(key)) if source else None
        if names:
            return names
    return None


def _as_name_list(value: Any) -> list[str] | None:
    if isinstance(value, (list, tuple)) and value and not isinstance(value, str):
        return [str(v) for v in value]
    return None
