"""A run's ``config.json`` parts, gathered: the user's config, hparams, Trainer, environment, git, and the redaction
that hides their secrets in everything else the run writes.

* the user's config, whatever its kind (a module, a dict, a dataclass, OmegaConf...): :func:`config_to_dict`,
  :func:`config_snapshot`;
* everything at fit start: :func:`run_config`, returning a :class:`RunConfig`;
* the failure policy of every capture: :func:`safely` (a part that fails costs a warning and that part, never the
  run).
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple

from arccnet_ckpt.capture.environment import environment_info, git_info
from arccnet_ckpt.capture.jsonsafe import Snapshot, as_container, class_path, snapshot
from arccnet_ckpt.capture.redact import Redaction
from arccnet_ckpt.capture.trainer import (
    callback_infos,
    global_seed,
    model_info,
    optimizer_infos,
    scheduler_infos,
    trainer_settings,
)
from arccnet_ckpt.errors import ArcCkptWarning


def safely(what: str, fn: Callable[[], Any], default: Any) -> Any:
    """``fn()``, or ``default`` with an :class:`~arccnet_ckpt.errors.ArcCkptWarning` when it raises.

    Capturing metadata never kills a run: a strange object costs a warning and that one field.
    """
    try:
        return fn()
    except Exception as e:
        message = f"ArcCheckpointCallback: could not capture {what} ({type(e).__name__}: {e}); the rest is kept"
        warnings.warn(message, ArcCkptWarning, stacklevel=3)
        return default


def config_to_dict(config: Any) -> dict[str, Any]:
    """Snapshot a user config as a JSON-safe dict, whatever its kind.

    A module contributes its public variables: what ``vars(config)`` shows minus dunders and private names,
    imported modules, functions and classes. Mappings, dataclasses, pydantic models, ``argparse.Namespace`` and
    OmegaConf configs become dicts; any other object contributes its public attributes.

    Args:
        config: ``None``, a dict, a module, a dataclass, a pydantic model, a Namespace or an OmegaConf config.

    Returns:
        A JSON-safe dict with secrets redacted; ``{}`` for ``None``.
    """
    return config_snapshot(config)[0]


def config_snapshot(config: Any, prefix: str = "config") -> Snapshot:
    """:func:`config_to_dict` as a :class:`Snapshot`: with the values written as their ``repr`` (paths start with
    ``prefix``) and the secrets hidden.

    A config that is not a mapping at all (or whose reading fails as a whole) is kept as ``{"value": repr}`` with an
    :class:`~arccnet_ckpt.errors.ArcCkptWarning`: the run goes on, the record says what it got.
    """
    if config is None:
        return Snapshot({}, [], set())
    if isinstance(config, types.ModuleType):
        raw: Any = {
            k: v
            for k, v in vars(config).items()
            if not k.startswith("_")
            and not isinstance(v, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type))
        }
    else:
        raw = as_container(config)
        if raw is None:
            raw = {k: v for k, v in getattr(config, "__dict__", {}).items() if not k.startswith("_")}
            if not raw:
                raw = {"value": config}
    taken = snapshot(raw, prefix)
    if isinstance(taken.value, dict):
        return taken
    warnings.warn(
        f"ArcCheckpointCallback: the config ({class_path(config)}) could not be read as a mapping; config.json keeps "
        f"it as {{'value': {str(taken.value)[:120]!r}}}",
        ArcCkptWarning,
        stacklevel=3,
    )
    return Snapshot({"value": taken.value}, taken.unserializable, taken.secrets)


def run_config(
    trainer: Any,
    module: Any,
    config: Any,
    *,
    sources: Sequence[Any] = (),
    lightning_version: str | None,
    early_stopping_cls: type[Any],
    checkpoint_cls: type[Any],
) -> RunConfig:
    """Every part of ``config.json`` that comes from the Trainer, the module, the user's configs and the machine,
    and the run's :class:`Redaction` (the secrets they hold, to hide them in everything else the run writes).

    The top-level config is ``config`` (the callback's ``config=``), else the first of ``sources`` (the
    :class:`~arccnet_ckpt.capture.config_sources.SourceCapture` of Hydra, then LightningCLI); each
    source also keeps its own section. Each part is captured :func:`safely`: one that fails is left at its
    default, with a warning.
    """
    datamodule = getattr(trainer, "datamodule", None)
    callbacks = list(getattr(trainer, "callbacks", []))
    empty = Snapshot({}, [], set())
    source: str | None
    if config is not None:
        user = safely("the config", lambda: config_snapshot(config), empty)
        source = "argument"
    else:
        chosen = next((s for s in sources if s.config), None)  # Hydra with output_subdir=null has none
        user, source = (empty, None)
        if chosen is not None:
            listed = [{**e, "path": f"config.{e['path']}"} for e in chosen.section.get("unserializable") or []]
            user, source = Snapshot(chosen.config, listed, set()), chosen.name
    hparams = safely("hparams", lambda: snapshot(dict(module.hparams), "hparams"), empty)
    datamodule_hparams = (
        safely("datamodule hparams", lambda: snapshot(dict(datamodule.hparams), "datamodule_hparams"), empty)
        if datamodule is not None
        else None
    )
    parts = [user, hparams, *([datamodule_hparams] if datamodule_hparams else [])]
    # A value hidden under its key is hidden wherever else it appears: inside another value (`Bearer ${api_key}`),
    # inline on the command line (--model '{"api_key": ...}'), in an override or a folder named after overrides.
    found = Redaction(frozenset(text for part in parts for text in part.secrets))
    redaction = Redaction.union([found, *(s.redaction for s in sources)])
    environment = safely("environment", lambda: environment_info(lightning_version), None)
    parts_of_record = {
        "config": redaction.tree(user.value),
        "config_source": source,
        **{s.name: redaction.tree(s.section) for s in sources},
        "unserializable": redaction.tree([entry for part in parts for entry in part.unserializable]),
        "hparams": redaction.tree(hparams.value),
        "datamodule_hparams": redaction.tree(datamodule_hparams.value) if datamodule_hparams else None,
        "trainer": safely("trainer settings", lambda: trainer_settings(trainer), None),
        "optimizers": safely("optimizers", lambda: optimizer_infos(trainer), []),
        "lr_schedulers": safely("lr schedulers", lambda: scheduler_infos(trainer), []),
        "callbacks": safely("callbacks", lambda: callback_infos(callbacks, early_stopping_cls, checkpoint_cls), []),
        "model": safely("model info", lambda: model_info(module), None),
        "environment": redaction.tree(environment),
        "git": safely("git state", lambda: git_info(module), None),
        "seed": global_seed(),
        "created_at": datetime.now(timezone.utc),
    }
    return RunConfig(parts_of_record, redaction)


class RunConfig(NamedTuple):
    """What :func:`run_config` captured."""

    parts: dict[str, Any]
    """The fields of ``config.json`` that come from the run."""
    redaction: Redaction
    """Every secret the configs, hparams and datamodule hparams hold, and the environment values they read."""
