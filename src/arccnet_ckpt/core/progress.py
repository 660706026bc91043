"""What a fit has reached, and the arithmetic of a run's attempts. No Lightning import.

* :class:`FitSnapshot`: the fit's state as plain values (the Lightning hooks gather them), and the summary fields it
  decides (:meth:`FitSnapshot.fields`);
* whether a resumed fit trained (:func:`trained`, :func:`trained_past`): the recorder never downgrades a run's
  numbers to those of a fit that trained nothing;
* the attempts of a requeued or resumed run: each attempt's wall time (:func:`ended_attempt`, :func:`end_fields`),
  the run's duration as their sum, the ``resumes`` entry (:func:`resume_entry`) and the loggers of each attempt
  (:func:`note_loggers`).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from arccnet_ckpt.records import TrainingSummary

_TRAINING_FIELDS = (
    "monitor",
    "mode",
    "best_epoch",
    "best_metric_value",
    "best_model_path",
    "last_model_path",
    "num_epochs_trained",
    "global_step",
    "early_stopping_triggered",
    "early_stopping",
)


@dataclass(frozen=True)
class FitSnapshot:
    """What a fit has reached, as plain values (gathered by the Lightning hooks; paths relative to the run folder)."""

    monitor: str | None = None
    mode: str | None = None
    best_epoch: int | None = None
    best_metric_value: float | None = None
    best_model_path: str | None = None
    last_model_path: str | None = None
    num_epochs_trained: int = 0
    global_step: int = 0
    early_stopping: list[dict[str, Any]] = field(default_factory=list)
    loggers: list[dict[str, Any]] | None = None  # None: not read this time, the recorded ones stay
    steps_this_fit: int | None = None  # optimizer steps since this fit's training started; None: it never started

    @property
    def early_stopping_triggered(self) -> bool:
        """True only when an EarlyStopping actually stopped the run (its reason is not ``NOT_STOPPED``)."""
        return any(state.get("reason", "NOT_STOPPED") != "NOT_STOPPED" for state in self.early_stopping)

    def fields(self) -> dict[str, Any]:
        """The summary fields this snapshot decides."""
        values = {name: getattr(self, name) for name in _TRAINING_FIELDS}
        if not self.monitor:
            values["mode"] = None
            values["best_metric_value"] = None
        return values


def now() -> datetime:
    """The moment, in UTC."""
    return datetime.now(timezone.utc)


def process() -> dict[str, Any]:
    """The summary's ``pid`` and ``hostname``: the process that writes the record now."""
    return {"pid": os.getpid(), "hostname": socket.gethostname()}


def trained(snapshot: FitSnapshot, recorded_step: int) -> bool:
    """Whether this fit trained: it stepped since its training started. A fresh fit into a folder that holds a run
    (a fold loop sharing ``dirpath``) starts again from step 0, so comparing with the recorded step would miss it;
    only a fit whose training never started falls back to that comparison."""
    if snapshot.steps_this_fit is not None:
        return snapshot.steps_this_fit > 0
    return snapshot.global_step > recorded_step


def trained_past(snapshot: FitSnapshot, previous: TrainingSummary) -> bool:
    """Whether the fit went past what the record holds (its global step is beyond the recorded one)."""
    return snapshot.global_step > previous.global_step


def end_fields(
    previous: TrainingSummary, data: dict[str, Any], snapshot: FitSnapshot, completed: bool, at: datetime
) -> None:
    """Put the end of the latest attempt into summary ``data``: the fit's numbers when it trained, the end time, the
    attempt's wall time and the run's duration.

    A resume that trained nothing (a requeue of a finished run) that completes keeps the numbers, and the end time and
    duration the run had when it first ended.
    """
    resumed_at = previous.resumes[-1] if previous.resumes else None
    did_train = resumed_at is None or trained(snapshot, resumed_at.global_step)
    if did_train:
        data.update(snapshot.fields())
    if resumed_at and not did_train and completed and resumed_at.previous_end_time is not None:
        data["end_time"] = resumed_at.previous_end_time
        data["duration_seconds"] = _duration(data["attempts"], len(previous.resumes) - 1, data, previous)
    else:
        data["end_time"] = at
        index = len(previous.resumes)
        data["attempts"] = with_attempt(
            data.get("attempts") or [], _attempt(index, _attempt_start(previous, index), at)
        )
        data["duration_seconds"] = _duration(data["attempts"], index, data, previous)


def ended_attempt(previous: TrainingSummary) -> dict[str, Any]:
    """The attempt a resume follows, as far as the record knows it: to its end, or, for an attempt that was killed
    (still ``running``), to its last heartbeat."""
    index = len(previous.resumes)
    start = _attempt_start(previous, index)
    if previous.status != "running" and previous.end_time is not None:
        return _attempt(index, start, previous.end_time)
    return _attempt(index, start, previous.updated_at or start, "last heartbeat")


def with_attempt(attempts: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    """``attempts`` with ``entry`` in its place (an attempt already recorded keeps what it recorded at its end)."""
    if any(a["attempt"] == entry["attempt"] for a in attempts) and entry["ended"] != "end":
        return attempts
    kept = [a for a in attempts if a["attempt"] != entry["attempt"]]
    return sorted([*kept, entry], key=lambda a: a["attempt"])


def resume_entry(
    previous: TrainingSummary, checkpoint: str | None, at: datetime, restart_count: int | None
) -> dict[str, Any]:
    """The ``resumes`` entry of a fit that continues ``previous``: when, from which checkpoint, and what the run had
    reached."""
    return {
        "time": at,
        "checkpoint": checkpoint,
        "previous_status": previous.status,
        "previous_error": previous.error.model_dump(mode="json") if previous.error else None,
        "previous_end_time": previous.end_time,
        "num_epochs_trained": previous.num_epochs_trained,
        "global_step": previous.global_step,
        "restart_count": restart_count,
    }


def note_loggers(data: dict[str, Any], loggers: list[dict[str, Any]] | None, *, stage: str) -> None:
    """Put this attempt's loggers (for ``stage``) into summary ``data``, keeping those of other attempts and stages."""
    if loggers is None:
        return
    attempt = len(data.get("resumes") or [])
    kept = [e for e in data.get("loggers") or [] if (e.get("attempt", 0), e.get("stage", "fit")) != (attempt, stage)]
    data["loggers"] = [*kept, *({**entry, "attempt": attempt, "stage": stage} for entry in loggers)]


def _attempt_start(summary: TrainingSummary, index: int) -> datetime:
    """When attempt ``index`` of the run started: the run's start, then each resume's time."""
    return summary.resumes[index - 1].time if index else summary.start_time


def _attempt(index: int, start: datetime | str, end: datetime | str, ended: str = "end") -> dict[str, Any]:
    start, end = _as_datetime(start), _as_datetime(end)
    return {
        "attempt": index,
        "start_time": start,
        "end_time": end,
        "duration_seconds": max(0.0, (end - start).total_seconds()),
        "ended": ended,
    }


def _duration(attempts: list[dict[str, Any]], last: int, data: dict[str, Any], previous: TrainingSummary) -> float:
    """The run's duration: the sum of its attempts' wall times (``last`` the latest attempt that counts); for a run
    whose earlier attempts were recorded before attempts were, the span from start to end, idle time included."""
    if {a["attempt"] for a in attempts} >= set(range(last + 1)):
        return float(sum(a["duration_seconds"] or 0.0 for a in attempts if a["attempt"] <= last))
    return (_as_datetime(data["end_time"]) - previous.start_time).total_seconds()


def _as_datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
