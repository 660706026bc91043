"""Finding runs for the command line: targets (:func:`find`, :func:`resolve_run`), keys (:func:`resolve`: what
``--where``, ``--sort``, ``--cols`` and ``--by`` name), durations (``--since``, ``--stale-after``), and the errors
that set the exit code (:class:`UsageError`, :class:`NoMatch`). ``--where`` itself is parsed in
:mod:`arccnet_ckpt.cli.where`.

Everything here works on :class:`~arccnet_ckpt.runs.Run` objects and the JSON form of their files; nothing imports
torch or Lightning.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from arccnet_ckpt import store
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.layout import (
    CHECKPOINTS_DIRNAME,
    RUN_MARKERS,
    is_run_folder,
    resolve_data_folder,
    root_folder,
    split_at_checkpoints,
    validate_root_name,
)
from arccnet_ckpt.records import (
    ClassificationReport,
    ConfigRecord,
    History,
    MinimalLogging,
    TrainingSummary,
    record_dict,
)
from arccnet_ckpt.runs import Run, scan_runs
from arccnet_ckpt.runs.direction import run_metric_mode
from arccnet_ckpt.runs.query import captured_settings, config_settings

MISSING: Any = object()
"""What a key resolves to when the run does not record it."""


EXIT_OK = 0
EXIT_PROBLEMS = 1
"""Problems found (``verify``), nothing matched, or a file could not be read: :class:`NoMatch` and any other error."""
EXIT_USAGE = 2
"""A usage error: a bad option, a bad ``--where``, an ambiguous run prefix (:class:`UsageError`)."""


class UsageError(ArcCkptError):
    """The command line asked for something malformed (exit code 2)."""


class NoMatch(ArcCkptError):
    """Nothing matched, or a file could not be read (exit code 1)."""


# ------------------------------------------------------------------------------------------------------ durations


_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>s|m|min|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, option: str) -> timedelta:
    """``"90s"``, ``"30m"``, ``"12h"``, ``"14d"`` or ``"2w"`` as a timedelta.

    Raises:
        UsageError: Naming the option and the forms allowed.
    """
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise UsageError(f"{option} {text!r}: expected a duration such as 90s, 30m, 12h, 14d or 2w")
    try:
        duration = timedelta(seconds=float(match["n"]) * _UNITS[match["unit"]])
        datetime.now(timezone.utc) - duration  # noqa: B018 - a duration that reaches before year 1 is refused here
    except OverflowError:
        raise UsageError(f"{option} {text!r}: too long a duration (it reaches before the year 1)") from None
    return duration


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: a duration back from ``now`` (``14d``) or an ISO date or time (``2025-02-01``, UTC if naive)."""
    if _DURATION.match(text.strip().lower()):
        return now - parse_duration(text, "--since")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--since {text!r}: expected a duration (14d, 12h) or an ISO date or time (2025-02-01, 2025-02-01T12:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------------------------------------- targets


@dataclass
class Found:
    """The runs a command found, and the run folders it had to skip (``(path, reason)``)."""

    runs: list[Run]
    problems: list[tuple[str, str]]


def _normalise(path: str) -> str:
    return path.rstrip("/") if store.is_remote(path) else os.path.abspath(path)


def find(targets: Iterable[str | None], data: str | None) -> Found:
    """The runs at each target: a data folder, a ``checkpoints`` or root folder, a run folder, a URL, or a root
    name under the data folder (``flares/multiclass``); no target means the whole data folder.

    Raises:
        NoMatch: If a target is neither an existing folder nor a root name under the data folder.
        UsageError: If a target that is not a folder is not a valid root name either.
    """
    found = Found([], [])
    seen: set[str] = set()
    for target in list(targets) or [None]:
        runs, problems = _find_one(target, data)
        for run in runs:
            if run.path not in seen:
                seen.add(run.path)
                found.runs.append(run)
        found.problems.extend(problems)
    return found


def _find_one(target: str | None, data: str | None) -> tuple[list[Run], list[tuple[str, str]]]:
    base = resolve_data_folder(data)
    if target is None:
        folder = root_folder(base, None)
        if not store.exists(folder):
            raise NoMatch(
                f"no runs: {folder} does not exist (pass a folder, --data, or set $ARCCNET_DATA_FOLDER or "
                "$ARCAFF_DATA_FOLDER)"
            )
        return scan_runs(folder, "")
    path = target[len("file://") :] if target.startswith("file://") else target
    if store.is_remote(path) or os.path.exists(path):
        path = _normalise(path)
        if not store.is_remote(path) and os.path.isfile(path):
            if not path.endswith(".ckpt"):
                raise NoMatch(f"{target}: is a file; give a data folder, a root folder, a run folder or a .ckpt")
            path = os.path.dirname(path)
        nested = root_folder(path, None)
        if store.exists(nested):  # a data folder, even one that holds a config.json of its own
            return scan_runs(nested, "")
        if is_run_folder(path):  # with the runs nested in it (fresh fits under a dirpath another run holds)
            inside, problems = scan_runs(path, "")
            return [Run(path), *inside], problems
        split = split_at_checkpoints(path)
        return scan_runs(path, split[1] if split is not None else "")
    if _looks_like_a_path(target):
        raise NoMatch(f"{target}: no such folder")
    try:
        root = validate_root_name(target)
    except ValueError as e:
        raise UsageError(f"{target!r} is not an existing folder, and not a valid root name: {e}") from e
    folder = root_folder(base, root)
    if not store.exists(folder):
        raise NoMatch(f"{target}: no such folder, and no root name {root!r} under {base}/{CHECKPOINTS_DIRNAME}")
    return scan_runs(folder, root)


def _looks_like_a_path(target: str) -> bool:
    """``/abs``, ``./rel``, ``../up``, ``~/home`` or a Windows path: never a root name, so a missing folder."""
    return target.startswith(("/", ".", "~")) or "\\" in target


def resolve_run(target: str, data: str | None) -> Run:
    """One run: its folder, a ``.ckpt`` inside it, or a unique prefix of its name (or of ``<root>/<name>``).

    Raises:
        NoMatch: If nothing matches.
        UsageError: If the prefix matches several runs (they are named).
    """
    path = target[len("file://") :] if target.startswith("file://") else target
    if store.is_remote(path) or os.path.exists(path):
        path = _normalise(path)
        folder = store.dirname(path) if path.endswith(".ckpt") else path
        if is_run_folder(folder):
            return Run(folder)
        raise NoMatch(f"{target}: not a run folder (it holds none of {', '.join(RUN_MARKERS)})")
    try:
        found = find([], data)
    except NoMatch as e:
        raise NoMatch(f"{target}: no such folder, and no run to match it against: {e}") from e
    candidates = found.runs
    unreadable = [(p, why) for p, why in found.problems if store.basename(p).startswith(target)]
    matches = [r for r in candidates if r.name.startswith(target) or f"{r.root_name or ''}/{r.name}".startswith(target)]
    exact = [r for r in matches if r.name == target]
    if len(exact) == 1:
        return exact[0]
    if not matches and unreadable:
        path, why = unreadable[0]
        raise NoMatch(f"{path}: cannot be read: {why}")
    if not matches:
        raise NoMatch(f"{target}: no run folder, and no run name starts with it under {resolve_data_folder(data)}")
    if len(matches) > 1:
        names = ", ".join(f"{r.root_name}/{r.name}" if r.root_name else r.name for r in matches[:5])
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        raise UsageError(
            f"{target!r} is ambiguous: it matches {len(matches)} runs ({names}{more}); give more of the name"
        )
    return matches[0]


# ------------------------------------------------------------------------------------------------------------ keys


_FILE_PREFIXES: dict[str, type[Any]] = {
    "config": ConfigRecord,
    "report": ClassificationReport,
    "minimal": MinimalLogging,
    "history": History,
}
_HISTORY_REDUCERS = ("last", "best", "min", "max")


_SEGMENT = re.compile(r'"([^"]*)"|\'([^\']*)\'|([^."\'][^.]*)')


def key_parts(key: str) -> list[str] | None:
    """A key's segments: split at the dots, a segment in double or single quotes taken whole (a class name with a
    space, a dot or an operator: ``report.per_class."no flare".tss``); ``None`` if the key is malformed."""
    parts: list[str] = []
    position = 0
    while True:
        match = _SEGMENT.match(key, position)
        if match is None:
            return None
        part = next(g for g in match.groups() if g is not None)
        if not part.strip():
            return None
        parts.append(part)
        position = match.end()
        if position == len(key):
            return parts
        if key[position] != ".":
            return None
        position += 1


def check_key(key: str, option: str) -> str:
    """A key as ``--where``/``--sort``/``--cols``/``--by`` accept it: dotted segments, no blanks; a segment may be
    quoted (see :func:`key_parts`).

    Raises:
        UsageError: For an empty key, an empty segment, or an unclosed quote.
    """
    if not key or key_parts(key) is None:
        raise UsageError(
            f"{option}: bad key {key!r}: use a dotted path such as test_results.test_f1, config.LEARNING_RATE, "
            "report.per_class.M.f1 or history.best.val_f1 (quote a segment with blanks: "
            'report.per_class."no flare".tss)'
        )
    return key


def resolve(run: Run, key: str) -> Any:
    """The value ``key`` names for ``run``, or :data:`MISSING`.

    ``KEY`` is a dotted path into ``training_summary.json`` (``test_results.test_f1``, ``early_stopping.0.reason``),
    a segment in quotes taken whole (``report.per_class."no flare".tss``);
    a first segment ``config.``, ``report.``, ``minimal.`` or ``history.`` reaches into that file instead
    (``config.LEARNING_RATE``, ``report.per_class.M.f1``, ``history.best.val_f1``, ``history.last.val_loss``). A
    single name that the summary lacks is looked up as :meth:`Run.metric` does (``test_f1``, ``best_val_f1``).

    Raises:
        ArtifactError: If the file the key reaches into is invalid.
    """
    alias = COLUMN_KEYS.get(key)
    if alias is not None:
        return alias(run)
    parts = key_parts(key) or key.split(".")
    head, rest = parts[0], ".".join(parts[1:])
    if head in _FILE_PREFIXES and rest:
        if head == "config":
            return _resolve_config(run.config, rest)
        if head == "history":
            return _resolve_history(run, rest)
        record = run.report if head == "report" else run.minimal
        return _walk(record_dict(record), parts[1:]) if record is not None else MISSING
    summary = run.summary
    if summary is not None:
        value = _walk(record_dict(summary), parts)
        if value is not MISSING:
            return value
    if len(parts) == 1:
        metric = run.metric(key)
        if metric is not None:
            return metric
    return MISSING


def _summary_field(name: str) -> Callable[[Run], Any]:
    def get(run: Run) -> Any:
        summary = run.summary
        value = getattr(summary, name) if summary is not None else None
        return MISSING if value is None else value

    return get


def _main_test_value(run: Run) -> Any:
    summary = run.summary
    key = main_test_metric(summary)
    return summary.test_results.get(key) if summary is not None and key else MISSING


COLUMN_KEYS: dict[str, Callable[[Run], Any]] = {
    "run": lambda run: run.name,
    "root": lambda run: run.root_name or MISSING,
    "start": lambda run: run.start_time or MISSING,
    "epochs": _summary_field("num_epochs_trained"),
    "best": _summary_field("best_metric_value"),
    "test": _main_test_value,
    "model": lambda run: run.model_name or MISSING,
    "loss": lambda run: run.loss_function or MISSING,
}
"""The ``ls`` column names that are keys too (``--sort start:desc``, ``--where 'epochs>10'``)."""


def resolve_or_note(run: Run, key: str, problems: list[tuple[str, str]]) -> Any:
    """:func:`resolve`, with a run whose file cannot be read noted in ``problems`` and treated as lacking the key."""
    try:
        return resolve(run, key)
    except ArcCkptError as e:
        problems.append((run.path, str(e)))
        return MISSING


def _resolve_config(config: ConfigRecord | None, rest: str) -> Any:
    if config is None:
        return MISSING
    for flat in (config_settings(config), captured_settings(config)):
        if rest in flat:
            return flat[rest]
    return _walk(record_dict(config), rest.split("."))


def _resolve_history(run: Run, rest: str) -> Any:
    history = run.history
    if history is None:
        return MISSING
    reducer, _, metric = rest.partition(".")
    if reducer in _HISTORY_REDUCERS and metric:
        values = [value for _, value in history.series(metric)]
        if not values:
            return MISSING
        if reducer == "last":
            return values[-1]
        if reducer == "best":
            reducer = run_metric_mode(run, metric)
        return min(values) if reducer == "min" else max(values)
    return _walk(record_dict(history), rest.split("."))


def _walk(value: Any, parts: list[str]) -> Any:
    """Follow ``parts`` into nested dicts and lists; a dict key may itself hold dots (``optim.lr``)."""
    i = 0
    while i < len(parts):
        if isinstance(value, dict):
            for j in range(len(parts), i, -1):
                joined = ".".join(parts[i:j])
                if joined in value:
                    value, i = value[joined], j
                    break
            else:
                return MISSING
        elif isinstance(value, list):
            try:
                value, i = value[int(parts[i])], i + 1
            except (ValueError, IndexError):
                return MISSING
        else:
            return MISSING
    return value


def main_test_metric(summary: TrainingSummary | None) -> str | None:
    """The test metric a listing shows: the monitored one's ``test_`` twin, else F1, accuracy, then loss."""
    if summary is None or not summary.test_results:
        return None
    tests = summary.test_results
    preferred = []
    if summary.monitor:
        preferred.append("test_" + summary.monitor.split("_", 1)[-1])
    preferred += ["test_f1", "test_acc", "test_accuracy", "test_loss"]
    for name in preferred:
        if name in tests:
            return name
    return sorted(tests)[0]


def data_folder_of(path: str) -> str | None:
    """The data folder a run folder sits in (the parent of its ``checkpoints`` segment), or ``None``."""
    split = split_at_checkpoints(path)
    return split[0] if split is not None else None


def require_runs(found: Found, what: str) -> list[Run]:
    """The runs found, or :class:`NoMatch` naming ``what`` was searched."""
    if not found.runs:
        raise NoMatch(f"no run matches {what}")
    return found.runs
