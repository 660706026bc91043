"""Where a value is made JSON-safe: any Python value in, plain JSON data out, secrets hidden, never raising.

* :func:`to_jsonable` converts; :func:`snapshot` converts and notes what it saw (a :class:`Snapshot`: the values
  only their ``repr`` could hold, and the secret values it hid, for :mod:`~arccnet_ckpt.capture.redact` to hide
  wherever else they appear);
* a value's fields: :func:`as_container` (mappings, sequences, sets, ``Namespace``, dataclasses, pydantic models,
  OmegaConf configs) and :func:`omegaconf_plain` (an OmegaConf config resolved one interpolation at a time, the
  environment's values kept out);
* tensors and numpy arrays: numbers or lists, a short description past :data:`MAX_LIST_ITEMS`.

Which key or text holds a secret is decided in :mod:`~arccnet_ckpt.capture.redact`.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import PurePath
from typing import Any, NamedTuple

from arccnet_ckpt.capture.redact import (
    ENV_INTERPOLATION,
    MIN_MASKED_LENGTH,
    REDACTED,
    env_references,
    is_secret_key,
    keeps_secret,
    redact_text,
)

MAX_LIST_ITEMS = 10_000
"""Tensors or arrays with more elements are written as a short description instead of a list."""

MAX_DEPTH = 40
"""How deep a value is walked (here and by the redaction's walks); deeper values are written as their ``repr``."""

_MAX_REPR = 500


def to_jsonable(value: Any) -> Any:
    """Make any value JSON-safe, redacting secrets; never raises.

    ``Path`` -> str, tuple/set -> list, tensor/numpy -> number or list, dtype/device -> str, enum -> member name,
    dataclass/pydantic/Namespace/OmegaConf -> dict, non-string keys -> str, non-finite floats -> ``None``, cycles ->
    ``"<cycle: TYPE>"``, and anything else -> ``repr``. Values under a secret-looking key become ``"***"`` (an unset
    one, ``None``, stays ``None``).

    Example:
        >>> to_jsonable({"lr": 1e-3, "api_key": "abc", 1: (1, 2)})
        {'lr': 0.001, 'api_key': '***', '1': [1, 2]}
    """
    return _convert(value, set(), 0, None, None)


class Snapshot(NamedTuple):
    """A value made JSON-safe (:func:`to_jsonable`), with what the conversion noticed."""

    value: Any
    unserializable: list[dict[str, str]]
    """Every value written as its ``repr``: ``{"path", "type", "repr"}``."""
    secrets: set[str]
    """The text of every value hidden as ``***`` (to hide it wherever else it appears, see :func:`mask_secrets`)."""


def snapshot(value: Any, prefix: str = "") -> Snapshot:
    """:func:`to_jsonable`, listing every value that could only be written as its ``repr``, and collecting the secrets
    it hid.

    Lightning's ``hparams.yaml`` drops values JSON cannot hold; here each one keeps its ``repr`` in place and is listed
    as ``{"path": "model.activation", "type": "torch.nn.modules.activation.ReLU", "repr": "ReLU()"}`` (list items
    as ``layers[2]``), so a reader knows the value was an object, not that string.

    Example:
        >>> snapshot({"act": object, "token": "abcd1234"}, prefix="hparams").unserializable[0]["path"]
        'hparams.act'
    """
    notes = _Notes([], set())
    converted = _convert(value, set(), 0, (None, prefix) if prefix else None, notes)
    return Snapshot(converted, notes.unserializable, notes.secrets)


@dataclasses.dataclass
class _Notes:
    unserializable: list[dict[str, str]]
    secrets: set[str]


def class_path(obj: Any) -> str:
    """``module.QualName`` of an object's class (or of a class)."""
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _path(where: Any) -> str:
    """A value's place, kept as linked ``(parent, key)`` pairs while converting, as a dotted path (built only for a
    value that is listed, so converting a large tensor builds no strings)."""
    keys: list[str | int] = []
    while where is not None:
        where, key = where
        keys.append(key)
    text = ""
    for key in reversed(keys):
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def _note(notes: _Notes | None, where: Any, value: Any, written: Any) -> Any:
    if notes is not None:
        notes.unserializable.append({"path": _path(where), "type": class_path(value), "repr": str(written)})
    return written


def _hide(value: Any, notes: _Notes | None) -> Any:
    """A secret-keyed value: ``***``, its text noted; a value that holds no secret stays (see :func:`keeps_secret`)."""
    if not keeps_secret(value):
        return value
    if notes is not None:
        _collect_text(value, notes.secrets, 0)
    return REDACTED


def _collect_text(value: Any, into: set[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    container = as_container(value) if not isinstance(value, (str, bytes)) else None
    if isinstance(container, Mapping):
        for item in container.values():
            _collect_text(item, into, depth + 1)
    elif isinstance(container, list):
        for item in container:
            _collect_text(item, into, depth + 1)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        into.add(str(value))


def _convert(value: Any, active: set[int], depth: int, where: Any, notes: _Notes | None) -> Any:
    try:
        return _convert_unsafe(value, active, depth, where, notes)
    except Exception as e:  # capture must never raise: describe what could not be converted
        return _note(
            notes, where, value, f"<unserializable {type(value).__name__}: {type(e).__name__}: {e}>"[:_MAX_REPR]
        )


def _convert_unsafe(value: Any, active: set[int], depth: int, where: Any, notes: _Notes | None) -> Any:
    if value is None or isinstance(value, (bool, int)) and not isinstance(value, enum.Enum):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if depth > MAX_DEPTH:
        return _note(notes, where, value, _short_repr(value))

    array_like = _array_to_python(value)
    if array_like is not _NOT_ARRAY:
        return _convert(array_like, active, depth + 1, where, notes)

    container = as_container(value)
    if container is None:
        return _note(notes, where, value, _short_repr(value))
    if id(value) in active:
        return _note(notes, where, value, f"<cycle: {type(value).__name__}>")
    active.add(id(value))
    try:
        if isinstance(container, Mapping):
            out = {}
            for k, v in container.items():
                key = k if isinstance(k, str) else str(_convert(k, active, depth + 1, None, None))
                secret = is_secret_key(k)
                out[key] = _hide(v, notes) if secret else _convert(v, active, depth + 1, (where, key), notes)
            return out
        return [_convert(v, active, depth + 1, (where, i), notes) for i, v in enumerate(container)]
    finally:
        active.discard(id(value))


_NOT_ARRAY = object()


def _array_to_python(value: Any) -> Any:
    """Tensors, numpy arrays and scalars, torch dtypes/devices; ``_NOT_ARRAY`` for anything else."""
    module = type(value).__module__
    if not (module.startswith("torch") or module.startswith("numpy")):
        return _NOT_ARRAY
    if module.startswith("torch") and type(value).__name__ in ("dtype", "device", "Size"):
        return list(value) if type(value).__name__ == "Size" else str(value)
    if module.startswith("numpy") and type(value).__name__.startswith("dtype"):
        return str(value)
    numel = getattr(value, "numel", None) or getattr(value, "size", None)
    count = numel() if callable(numel) else numel
    if isinstance(count, int) and count > MAX_LIST_ITEMS:
        shape = tuple(getattr(value, "shape", ()))
        return f"<{type(value).__name__} shape={shape} dtype={getattr(value, 'dtype', '?')}>"
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return _NOT_ARRAY


def as_container(value: Any) -> Mapping[Any, Any] | list[Any] | None:
    """A value's items as a mapping or a list (OmegaConf configs as plain data, sets sorted, ``Namespace``,
    dataclasses and pydantic models as their fields); ``None`` for a value that holds no items."""
    if type(value).__module__.startswith("omegaconf"):  # before Mapping: a DictConfig is one, and iterating it raises
        return omegaconf_plain(value)  # on a missing value or an interpolation that cannot be resolved
    if isinstance(value, Mapping):
        return value
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, argparse.Namespace):
        return vars(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if is_pydantic_model(value):
        return {name: getattr(value, name) for name in type(value).model_fields}
    return None


def is_pydantic_model(value: Any) -> bool:
    """Whether ``value`` is a pydantic (v2) model instance, recognised without importing pydantic."""
    return hasattr(type(value), "model_fields") and hasattr(value, "model_dump") and not isinstance(value, type)


def omegaconf_plain(config: Any) -> Any:
    """An OmegaConf config as plain containers, its interpolations resolved one by one, never raising.

    * A missing value (``???``) stays ``"???"``; an interpolation that cannot be resolved (an unset environment
      variable) stays as written, and only that one: the others are still resolved.
    * A value taken from the environment (``${oc.env:NAME}``, also inside another interpolation) is written as that
      interpolation, not as the variable's value: the environment holds tokens, and a config record must not copy
      them into files.
    """
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(config, resolve=False)
    try:
        resolved = OmegaConf.to_container(config, resolve=True)
    except Exception:  # one interpolation fails: resolve the others one at a time
        resolved = _resolve_each(config, raw, "")
    if not ENV_INTERPOLATION.search(json.dumps(raw, default=str)):
        return resolved
    environment = {v: n for v, n in env_references(raw).items() if len(v) >= MIN_MASKED_LENGTH}
    return _as_written(raw, resolved, environment)


def _resolve_each(config: Any, raw: Any, path: str) -> Any:
    from omegaconf import OmegaConf

    if isinstance(raw, dict):
        return {k: _resolve_each(config, v, f"{path}.{k}" if path else str(k)) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_resolve_each(config, v, f"{path}[{i}]") for i, v in enumerate(raw)]
    if not (isinstance(raw, str) and "${" in raw):
        return raw
    try:
        value = OmegaConf.select(config, path, throw_on_resolution_failure=True, throw_on_missing=False)
    except Exception:
        return raw
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _as_written(raw: Any, resolved: Any, environment: Mapping[str, str]) -> Any:
    """``resolved``, with the environment's values taken back out of it.

    A value written with ``${oc.env:NAME}`` is kept as written (its default too). A value computed from other nodes
    (``Bearer ${token}``, where ``token`` comes from the environment) has each variable's value put back as
    ``${oc.env:NAME}``. A literal is never touched: ``paul_baseline`` stays, even where ``$USER`` is ``paul``.
    """
    if isinstance(raw, dict) and isinstance(resolved, dict):
        return {k: _as_written(raw.get(k), v, environment) for k, v in resolved.items()}
    if isinstance(raw, list) and isinstance(resolved, list) and len(raw) == len(resolved):
        return [_as_written(r, v, environment) for r, v in zip(raw, resolved, strict=True)]
    if not (isinstance(raw, str) and "${" in raw):
        return resolved  # a literal, or a container OmegaConf resolved into another shape
    if ENV_INTERPOLATION.search(raw):
        return raw
    if isinstance(resolved, str):
        for text in sorted(environment, key=len, reverse=True):
            resolved = resolved.replace(text, f"${{oc.env:{environment[text]}}}")
    return resolved


def _short_repr(value: Any) -> str:
    text = repr(value)
    return redact_text(text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "...")
