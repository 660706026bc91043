"""Every record of a transition, built from plain values: no I/O, no Lightning import.

The :class:`~arccnet_ckpt.core.recorder.RunRecorder` reads the files, checks the transition and writes; what each
transition writes is built here, from the record on disk and a :class:`~arccnet_ckpt.core.progress.FitSnapshot`:

* the summary of a new run (:func:`fresh_summary`), of a resumed one (:func:`resumed_summary`) and of an ended one
  (:func:`ended_summary`), each validated by :func:`summary_record`;
* ``history.json`` after a validation (:func:`history_with`);
* the per-dataloader reports of a test (:func:`dataloader_reports`).

The attempts and durations are :mod:`arccnet_ckpt.core.progress`'s, the evaluations and the headline
:mod:`arccnet_ckpt.core.evaluations`'s, the merges over the file on disk :mod:`arccnet_ckpt.core.merge`'s.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from arccnet_ckpt.capture import Redaction
from arccnet_ckpt.core import progress
from arccnet_ckpt.core.lifecycle import Phase
from arccnet_ckpt.core.progress import FitSnapshot
from arccnet_ckpt.records import (
    SUMMARY_SCHEMA_VERSION,
    DataloaderReport,
    History,
    HistoryEntry,
    RunKind,
    TrainingSummary,
    record_dict,
    validate_artifact,
)

if TYPE_CHECKING:
    from arccnet_ckpt.core.recorder import RunIdentity


def fresh_summary(
    identity: RunIdentity, snapshot: FitSnapshot, kind: RunKind, checkpoint: str | None, now: datetime
) -> dict[str, Any]:
    """The ``running`` summary's data of a new run (a training, or with ``kind="evaluation"`` a test-only one)."""
    data = {
        "status": Phase.RUNNING.value,
        "kind": kind,
        "start_time": identity.start_time,
        "model_name": identity.model_name,
        "loss_function": identity.loss_function,
        "root_name": identity.root_name,
        "run_name": identity.run_name,
        "recorded_by": "callback",
        "group": identity.group,
        **snapshot.fields(),
    }
    if kind == "evaluation":
        data["tested_checkpoint"] = checkpoint
    elif checkpoint is not None:
        # A fit resumed from a checkpoint outside any run folder: a new run, that records where it came from.
        data["resumed_from"] = checkpoint
        data["resumes"] = [{"time": now, "checkpoint": checkpoint}]
    return data


def resumed_summary(
    previous: TrainingSummary,
    snapshot: FitSnapshot,
    *,
    phase: Phase,
    kind: RunKind,
    checkpoint: str | None,
    restart_count: int | None,
    now: datetime,
) -> dict[str, Any]:
    """The summary's data of a run resumed in ``phase``: its numbers, start time and test results stay (its training
    numbers are replaced only once the fit trained past them), an attempt ends and a ``resumes`` entry is added."""
    data = record_dict(previous)
    data["attempts"] = progress.with_attempt(data.get("attempts") or [], progress.ended_attempt(previous))
    data["resumes"] = [*data.get("resumes", []), progress.resume_entry(previous, checkpoint, now, restart_count)]
    data.update(status=phase.value, end_time=None, duration_seconds=None, error=None, resumed_from=checkpoint)
    data.update(kind=kind, recorded_by="callback")  # a fit in an evaluation's folder makes it a training run
    if progress.trained_past(snapshot, previous):
        data.update(snapshot.fields())
    return data


def ended_summary(
    previous: TrainingSummary, snapshot: FitSnapshot, *, phase: Phase, error: dict[str, Any] | None, now: datetime
) -> dict[str, Any]:
    """The summary's data of a run that ended in ``phase`` (``completed``, ``failed`` or ``interrupted``)."""
    data = record_dict(previous)
    progress.end_fields(previous, data, snapshot, phase is Phase.COMPLETED, now)
    data.update(status=phase.value, error=error, recorded_by="callback")
    progress.note_loggers(data, snapshot.loggers, stage="test" if previous.kind == "evaluation" else "fit")
    return data


def with_data_counts(
    data: dict[str, Any], counts: Mapping[str, Mapping[str, Any] | None] | None, *, headline: bool = False
) -> None:
    """Put what the Trainer saw of each split into summary ``data`` (its ``data`` field).

    ``train`` and ``val`` are the first full epoch of the run: counts already recorded are kept (a resumed fit counts
    again, and its counts are dropped). ``test`` is the headline evaluation's loop: replaced only when ``headline``.

    Args:
        data: The summary's data, changed in place.
        counts: :class:`~arccnet_ckpt.records.SplitCounts` fields by split; a split given ``None`` is left as it is.
        headline: Whether the test these counts come with is the run's headline.
    """
    if not counts:
        return
    recorded = dict(data.get("data") or {})
    for split, fields in counts.items():
        if fields is not None and (recorded.get(split) is None or (split == "test" and headline)):
            recorded[split] = dict(fields)
    data["data"] = recorded


def summary_record(data: dict[str, Any], now: datetime, source: str) -> TrainingSummary:
    """The validated summary of ``data``, updated ``now`` (``source``: its path, named in a validation error)."""
    data["updated_at"] = now
    data["schema_version"] = SUMMARY_SCHEMA_VERSION  # a version 1 file is upgraded when the callback writes it
    if not data.get("monitor"):
        data = {k: v for k, v in data.items() if k != "best_none"}
    return validate_artifact(TrainingSummary, data, source=source)


def history_with(
    entries: Sequence[HistoryEntry],
    snapshot: FitSnapshot,
    metrics: Mapping[str, float | None],
    *,
    epoch: int,
    attempt: int,
    now: datetime,
) -> History:
    """``history.json`` with the entry of a validation: an entry at the same global step and attempt as the last one
    (the same validation, completed with the epoch's training aggregates) replaces it."""
    entry = HistoryEntry.model_validate(
        {"epoch": epoch, "step": snapshot.global_step, "time": now, "attempt": attempt, "metrics": dict(metrics)}
    )
    kept = list(entries)
    if kept and kept[-1].step == entry.step and kept[-1].attempt == entry.attempt:
        kept[-1] = entry
    else:
        kept.append(entry)
    return History.model_construct(
        schema_version=History.model_fields["schema_version"].default,
        monitor=snapshot.monitor,
        mode=snapshot.mode if snapshot.mode in ("min", "max") else None,
        entries=kept,
    )


def dataloader_reports(
    test_results: Mapping[str, float | None],
    dataloaders: Sequence[Mapping[str, Any]] | None,
    report_fields: Mapping[str, Any] | None,
) -> list[DataloaderReport]:
    """The test's reports, one per dataloader; without ``dataloaders``, one of ``report_fields`` and the metrics."""
    if dataloaders is None:
        dataloaders = [{"index": 0, "test_metrics": dict(test_results), **(report_fields or {})}]
    return [DataloaderReport.model_validate(dict(loader)) for loader in dataloaders]


def error_info(exception: BaseException, redaction: Redaction | None = None) -> dict[str, Any]:
    """The summary's ``error``: the exception's type, message and formatted traceback, with secrets hidden.

    An error message is foreign text that often quotes what failed (``connect failed: postgres://u:pw@h/db``):
    message and traceback go through :meth:`~arccnet_ckpt.capture.Redaction.message`, which hides the values the
    run's configs hold under secret keys and every credential pattern. The exception itself is left unchanged.

    Args:
        exception: What the fit (or the script) raised.
        redaction: The run's known secrets; ``None``: the patterns only.
    """
    redaction = redaction or Redaction()
    text = "".join(traceback.format_exception(type(exception), exception, exception.__traceback__))
    return {
        "type": type(exception).__name__,
        "message": redaction.message(str(exception)),
        "traceback": redaction.message(text),
    }
