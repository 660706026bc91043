"""How a record is merged over the file on disk: never lose a field. No Lightning import.

* :func:`merge_manual`: the manual merge, a ``save_*`` call's values over the file (the values the callback
  measured, :data:`MEASURED_FIELDS`, stay as measured; a differing value goes under ``manual_values``);
* :func:`merged_config`: a fit's ``config.json`` over the one on disk (a manual ``save_config()`` before ``fit``);
* :func:`minimal_record`: ``minimal_logging.json`` from the summary, over the file on disk.

Each takes the record on disk as the caller read it; writing is the caller's.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from arccnet_ckpt.errors import ManagerWarning
from arccnet_ckpt.records import (
    ArtifactT,
    ConfigRecord,
    MinimalLogging,
    TrainingSummary,
    record_dict,
    validate_artifact,
)

MEASURED_FIELDS = ("best_epoch", "best_metric_value", "num_epochs_trained", "early_stopping_triggered")
"""Fields the callback measures from the Trainer; a ``save_*`` call never overwrites them (see ``merge_manual``)."""


def merge_manual(
    model: type[ArtifactT],
    existing: ArtifactT | None,
    updates: Mapping[str, Any],
    *,
    defaults: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> ArtifactT:
    """A ``save_*`` call's values merged into the file on disk, validated whole.

    Values the callback measured (:data:`MEASURED_FIELDS`, in a file it wrote) stay as measured: a caller's
    differing value, ``None`` included, is kept under ``manual_values`` and costs a :class:`ManagerWarning`.
    Everything else the caller gives wins; unknown keys are kept.

    Args:
        model: The file model, e.g. :class:`TrainingSummary`.
        existing: The file as it is on disk, ``None`` when there is none.
        updates: The caller's values.
        defaults: Values for a file that does not exist yet.
        source: The file's path, named in a validation error.

    Raises:
        ArtifactError: If the merged record is invalid.
    """
    base = record_dict(existing) if existing is not None else dict(defaults or {})
    updates = dict(updates)
    if existing is not None and getattr(existing, "recorded_by", None) == "callback":
        manual = dict(base.get("manual_values") or {})
        for name, value in _measured_updates(existing, updates):
            manual[name] = value
            _warn_kept(model.filename, name, value, getattr(existing, name))
        updates["manual_values"] = manual
    elif existing is None:
        updates.setdefault("recorded_by", "manual")
    if existing is not None and "best_metric_value" in updates:
        # The best_<monitor> alias is derived from best_metric_value: drop the stale one.
        base = {k: v for k, v in base.items() if not (k.startswith("best_") and k not in model.model_fields)}
    return validate_artifact(model, {**base, **updates}, source=source)


def merged_config(config: ConfigRecord, existing: ConfigRecord | None) -> ConfigRecord:
    """``config`` over the ``config.json`` on disk, whose user ``config`` is kept when ``config`` has none."""
    if existing is None:
        return config
    merged = {**record_dict(existing), **record_dict(config), "schema_version": config.schema_version}
    if not config.config:
        merged["config"] = existing.config  # a manual save_config() before fit, or the first fit's config
    return validate_artifact(ConfigRecord, merged)


def minimal_record(summary: TrainingSummary, existing: MinimalLogging | None, at: datetime) -> MinimalLogging:
    """``minimal_logging.json`` for ``summary``, over the file on disk (the last test's top-level copies replaced)."""
    base = record_dict(existing) if existing is not None else {}
    stale = {*(existing.test_results if existing is not None else {})}  # top-level copies of the last test's
    base = {
        k: v
        for k, v in base.items()
        if k not in stale and not (k.startswith("best_") and k not in MinimalLogging.model_fields)
    }
    tests = {k: v for k, v in summary.test_results.items() if k not in MinimalLogging.model_fields}
    return validate_artifact(
        MinimalLogging,
        {
            **base,
            **tests,
            "test_results": summary.test_results,
            "timestamp": summary.end_time or at,
            "best_epoch": summary.best_epoch,
            "best_metric_name": summary.monitor,
            "best_metric_value": summary.best_metric_value,
            "num_epochs_trained": summary.num_epochs_trained,
            "early_stopping_triggered": summary.early_stopping_triggered,
            "status": summary.status,
            "recorded_by": "callback",
        },
    )


def _measured_updates(existing: Any, updates: dict[str, Any]) -> list[tuple[str, Any]]:
    """Remove from ``updates`` the measured fields that would change a measured value; return them."""
    kept: list[tuple[str, Any]] = []
    monitor = getattr(existing, "monitor", None) or getattr(existing, "best_metric_name", None)
    alias = f"best_{monitor}" if monitor else None
    if alias and alias in updates and alias not in type(existing).model_fields:
        # The seed's best_val_f1 key is the same measurement as best_metric_value.
        updates.setdefault("best_metric_value", updates.pop(alias))
    for name in MEASURED_FIELDS:
        if name not in updates:
            continue
        measured = getattr(existing, name, None)
        if measured is None:
            continue
        value = updates.pop(name)
        if not _same(value, measured):
            kept.append((name, value))
    return kept


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def _warn_kept(filename: str, name: str, value: Any, measured: Any) -> None:
    warnings.warn(
        f"{filename}: {name}={value!r} differs from the value the callback measured ({measured!r}); the measured "
        f"value is kept and yours is recorded under manual_values. With ArcCheckpointCallback in the Trainer the "
        f"save_* calls are not needed.",
        ManagerWarning,
        stacklevel=6,  # the save_* call in the user's script
    )
