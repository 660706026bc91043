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
from typing import Any

from arccnet_ckpt.cli.select import MISSING, Found, UsageError, check_key, parse_since, resolve
from arccnet_ckpt.core.lifecycle import READ_STATUSES
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.runs import Run

_WHERE = re.compile(r"^\s*(?P<key>[^<>=!~\s]+)\s*(?P<op>>=|<=|==|!=|=|>|<|~)\s*(?P<value>.*?)\s*$")
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
                "--where 'test_results.test_f1>=0.6' (quote it: the shell reads > as a redirection)"
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
        return cls(check_key(match["key"], "--where"), match["op"], match["value"])

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
