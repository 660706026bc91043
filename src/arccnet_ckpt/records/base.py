"""What every file model shares: the base classes, the value types (a metric that is finite or ``None``, a UTC
time), the run's status and kind, and :func:`validate_artifact`, which names the file and the field of an error.

Floats that are not finite (``NaN``, ``inf``) become ``None``, so every file is strict JSON. Times are timezone-aware
and written as ISO 8601 with a UTC offset (``2025-02-12T14:30:45.123456+00:00``). Top-level models allow extra keys
(``extra="allow"``): the manual API and future versions may add fields, and a reader must keep, not drop, what it does
not know. Nested records that the package alone writes forbid extras, so a typo in a hand-edited file is caught.
"""

from __future__ import annotations

import math
import numbers
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError

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


FLAT = {"layout": "flat"}
"""Serialisation context for a record as one flat dict (``config`` nested), the form records are merged in."""


def record_dict(record: BaseModel) -> dict[str, Any]:
    """A file model as a JSON-safe dict in the flat form the package merges records in (see :class:`ConfigRecord`)."""
    return record.model_dump(mode="json", context=FLAT)


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
