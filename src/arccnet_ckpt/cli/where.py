"""``--where`` and the other filters of ``ls``, ``best`` and ``prune``: where ``--where`` is parsed and applied.

- :class:`Where`: one ``--where KEY OP VALUE`` condition, parsed (:meth:`Where.parse`) and checked against a run's value
  of the key (:meth:`Where.holds`; a value is looked up by :func:`~arccnet_ckpt.cli.select.resolve`);
- :class:`Filters`: every filter option (``--where``, ``--status``, ``--kind``, ``--since``, ``--root``, ``--model``,
  ``--loss``) parsed once, and :func:`filter_runs`, which keeps the runs they allow;
- :func:`sort_key`: the order of a key's values (numbers, then text, missing last), for ``--sort`` and rankings.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from arccnet_ckpt.cli.select import MISSING, Found, UsageError, check_key, key_parts, parse_since, resolve
from arccnet_ckpt.core.lifecycle import READ_STATUSES
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.records import ClassificationReport, MinimalLogging, TrainingSummary
from arccnet_ckpt.runs import Run

# KEY: dotted segments, one in quotes may hold blanks and operators (report.per_class."no flare".tss).
_WHERE = re.compile(
    r"""^\s*(?P<key>(?:"[^"]*"|'[^']*'|[^<>=!~\s"'])+)\s*(?P<op>>=|<=|==|!=|=|>|<|~)\s*(?P<value>.*?)\s*$"""
)
_OP_CHARS = "<>=!~"
_OP_LIST = "= == != > >= < <= ~ (a regex)"
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


@dataclass(frozen=True)
class Where:
    """One ``--where KEY OP VALUE`` condition."""

    key: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Where:
        """Parse ``"test_results.test_f1>=0.6"`` (spaces around the operator allowed).

        Raises:
            UsageError: Naming the operators allowed, with an example.
        """
        match = _WHERE.match(text)
        if match is None or not match["value"]:
            raise UsageError(
                f"--where {text!r}: expected KEY OP VALUE with OP one of {_OP_LIST}, e.g. "
                "--where 'test_results.test_f1>=0.6' (quote it: the shell reads > as a redirection; quote a key "
                'segment that holds a blank or an operator: report.per_class."no flare".tss)'
            )
        if match["op"] != "~" and match["value"][0] in _OP_CHARS:
            # test_f1>>0.5 or lr=>1: a typo, never a value (quote a value that starts so: name='>x')
            op = match["op"] + match["value"][: len(match["value"]) - len(match["value"].lstrip(_OP_CHARS))]
            raise UsageError(
                f"--where {text!r}: {op!r} is not an operator; OP is one of {_OP_LIST}, e.g. "
                "--where 'test_results.test_f1>=0.6'"
            )
        if match["op"] == "~":
            try:
                re.compile(match["value"])
            except re.error as e:
                raise UsageError(f"--where {text!r}: bad regular expression: {e}") from e
        key = check_key(match["key"], "--where")
        problem = unknown_field(key_parts(key) or [key])
        if problem:
            raise UsageError(f"--where {text!r}: {problem}")
        return cls(key, match["op"], match["value"])

    def matches(self, run: Run) -> bool:
        """Whether ``run`` satisfies the condition; a run that lacks the key never does."""
        return self.holds(resolve(run, self.key))

    def holds(self, actual: Any) -> bool:
        """Whether a run's value of the key (:func:`resolve`'s result) satisfies the condition."""
        if actual is MISSING:
            return False
        if self.op == "~":
            return re.search(self.value, _text(actual)) is not None
        moments = _as_moments(actual, self.value)
        if moments is not None:
            return _OPS[self.op](*moments)
        wanted = _literal(self.value)
        a, b = _comparable(actual), _comparable(wanted)
        try:
            return _OPS[self.op](a, b)
        except TypeError:  # a number against a word: only = and != can hold
            return _OPS[self.op](_text(actual), self.value) if self.op in ("=", "==", "!=") else False


# ------------------------------------------------------------------------------------- keys into the file models

_MODELS: dict[str, type[BaseModel]] = {"report": ClassificationReport, "minimal": MinimalLogging}


def unknown_field(parts: list[str]) -> str:
    """Why a key names no field of the file it reaches into, listing the fields allowed there; ``""`` if it may.

    A key into ``classification_report.json`` (``report.``) or ``minimal_logging.json`` (``minimal.``) is checked
    against the file's model from its first segment; a key into ``training_summary.json`` from its first declared
    field (other names are the summary's extra keys and metrics: ``test_f1``, ``best_val_f1``). Below a dict (class
    names, metrics) any key is allowed; a class name with a dot is found as it is (``per_class.C.1.tss``), one with a
    blank or an operator is quoted (``per_class."no flare".tss``). Config and history keys are free-form.
    """
    head = parts[0]
    if head in _MODELS and len(parts) > 1:
        return _check(_MODELS[head], parts[1:], head)
    if head in TrainingSummary.model_fields:
        return _check(TrainingSummary, parts, "")
    return ""


def _check(annotation: Any, parts: list[str], where: str) -> str:
    """Why ``parts`` name nothing inside a value of type ``annotation`` (reached at ``where``); ``""`` if they may."""
    if not parts:
        return ""
    tp = _unwrap(annotation)
    origin = get_origin(tp)
    at = where or "training_summary.json"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(parts[0])
        if field is None:
            return f"{at} has no field {parts[0]!r}; its fields: {', '.join(tp.model_fields)}"
        return _check(field.annotation, parts[1:], f"{where}.{parts[0]}" if where else parts[0])
    if origin is dict:
        value = _unwrap(get_args(tp)[1])
        if not (isinstance(value, type) and issubclass(value, BaseModel)):
            return ""  # a dict of values (metrics, counts): its keys may hold dots, found as _walk finds them
        if len(parts) == 1:
            return ""
        problem = ""
        for end in range(1, len(parts)):  # a key of several segments whose rest names a field: per_class.C.1.tss
            problem = _check(value, parts[end:], f"{at}.{'.'.join(parts[:end])}")
            if not problem:
                return ""
        return problem + ' (quote a key that holds a blank or an operator: per_class."no flare".tss)'
    if origin is list:
        if not parts[0].isdigit():
            return f"{at} is a list: the next segment is a position (0, 1, ...), got {parts[0]!r}"
        return _check(get_args(tp)[0], parts[1:], f"{at}.{parts[0]}")
    if tp is Any or origin is not None:
        return ""
    return f"{at} is a value, with no field {parts[0]!r}"


def _unwrap(annotation: Any) -> Any:
    """``X | None``, ``Annotated[X, ...]`` and ``Optional[X]`` as ``X``; a union of several types as ``Any``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return Any
            annotation = args[0]
        else:
            return annotation


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _as_moments(actual: Any, wanted: str) -> tuple[datetime, datetime] | None:
    """Both sides as aware datetimes (naive ones read as UTC) when the value is a date or time and so is the field."""
    if not _DATE.match(wanted.strip()):
        return None
    try:
        right = datetime.fromisoformat(wanted.strip().replace("Z", "+00:00"))
        left = actual if isinstance(actual, datetime) else datetime.fromisoformat(str(actual).replace("Z", "+00:00"))
    except ValueError:
        return None
    return tuple(m if m.tzinfo else m.replace(tzinfo=timezone.utc) for m in (left, right))  # type: ignore[return-value]


def _literal(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    try:
        return float(text)
    except ValueError:
        return text.strip("'\"")


def _comparable(value: Any) -> Any:
    """Numbers (and numeric strings such as ``"1e-4"``) as floats; datetimes as ISO text; the rest as is."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return _text(value)


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def sort_key(value: Any) -> tuple[int, Any]:
    """Order values of one key: numbers, then text, then missing ones last."""
    value = _comparable(value) if value is not MISSING else MISSING
    if value is MISSING or value is None:
        return (2, 0)
    if isinstance(value, (bool, float)):
        return (0, float(value))
    return (1, _text(value))


# -------------------------------------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    """The filter options of ``ls``, ``best`` and ``prune``, parsed (see :meth:`parse`)."""

    wheres: tuple[Where, ...] = ()
    statuses: frozenset[str] | None = None
    kind: str | None = None
    root: str | None = None
    since: datetime | None = None
    model: str | None = None
    loss: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        now: datetime,
        where: Sequence[str] = (),
        status: str | None = None,
        kind: str | None = None,
        since: str | None = None,
        root: str | None = None,
        model: str | None = None,
        loss: str | None = None,
    ) -> Filters:
        """The filters as the options give them (``status``: comma-separated; ``since``: a duration or a date).

        Raises:
            UsageError: For a malformed ``--where``, an unknown status, or a bad ``--since``.
        """
        wheres = tuple(Where.parse(w) for w in where)
        statuses = None
        if status is not None:
            statuses = frozenset(s.strip() for s in status.split(",") if s.strip())
            if not statuses:
                raise UsageError(f"--status {status!r}: name at least one of {', '.join(READ_STATUSES)}")
            unknown = statuses - set(READ_STATUSES)
            if unknown:
                raise UsageError(
                    f"--status {status!r}: unknown {', '.join(sorted(unknown))}; use {', '.join(READ_STATUSES)}"
                )
        return cls(
            wheres=wheres,
            statuses=statuses,
            kind=kind,
            root=root.strip("/") if root else None,
            since=parse_since(since, now) if since else None,
            model=model,
            loss=loss,
        )

    @property
    def narrowing(self) -> bool:
        """Whether any filter is set (a kind of ``all`` is none)."""
        return bool(
            self.wheres
            or self.statuses
            or self.since
            or self.root
            or self.model
            or self.loss
            or self.kind not in (None, "all")
        )

    def allows(self, run: Run, now: datetime, stale_after: timedelta) -> bool:
        """Whether ``run`` passes every filter but ``--where`` (see :func:`filter_runs`)."""
        kind = self.kind
        if kind not in (None, "all") and run.kind != kind:
            return False
        root = self.root
        if root and not (run.root_name == root or (run.root_name or "").startswith(root + "/")):
            return False
        if self.model and run.model_name != self.model:
            return False
        if self.loss and run.loss_function != self.loss:
            return False
        if self.since is not None and (run.start_time is None or run.start_time < self.since):
            return False
        return self.statuses is None or run.status_at(now, stale_after) in self.statuses


def filter_runs(found: Found, filters: Filters, now: datetime, stale_after: timedelta) -> tuple[list[Run], list[str]]:
    """The runs of ``found`` that ``filters`` allow, and the warnings for a person (a ``--where`` key no run records:
    a typo). A run whose file cannot be read is noted in ``found.problems`` and left out."""
    if not filters.narrowing:
        return list(found.runs), []
    wheres = filters.wheres
    kept = []
    where_checked = False
    recorded: set[str] = set()  # the --where keys some run records, to warn about the others (a typo)
    for run in found.runs:
        try:
            if not filters.allows(run, now, stale_after):
                continue
            if wheres:
                where_checked = True
                values = [resolve(run, w.key) for w in wheres]  # every key, so a typo is told from a mismatch
                recorded.update(w.key for w, v in zip(wheres, values, strict=True) if v is not MISSING)
                if not all(w.holds(v) for w, v in zip(wheres, values, strict=True)):
                    continue
        except ArcCkptError as e:
            found.problems.append((run.path, str(e)))
            continue
        kept.append(run)
    keys = dict.fromkeys(w.key for w in wheres) if where_checked else {}
    return kept, [f"warning: --where {key}: no run records this key" for key in keys if key not in recorded]
