"""``RunRecorder``: a run's life cycle, and every record written into its folder. No Lightning import.

The life cycle is one state machine (:class:`Phase`, :data:`TRANSITIONS`, :func:`transition`)::

    new ──start──▶ running ──finish──▶ completed
     │               │    ──fail──────▶ failed
     └──evaluate──▶  │    ──interrupt─▶ interrupted
                     ▲
    completed | failed | interrupted | running ──resume──▶ running      (a requeued or resumed fit)
    any phase but new ──test──▶ the same phase                          (test results added)
    running ──validate──▶ running                                       (history.json entry and heartbeat)

The recorder builds every record from plain snapshots (:class:`FitSnapshot`: numbers and dicts the Lightning hooks
gather), and enforces three rules:

* **never downgrade**: a resumed fit that trained nothing (its global step did not pass the recorded one) leaves
  the run's numbers, end time and test results as they were; a resumed fit that did train replaces the training
  numbers but keeps the test results it did not redo;
* **never lose a field**: each record starts from the file on disk (read again before each write, so values a
  ``save_*`` call or another writer added in between are kept) and only the fields of the transition change;
* **never lose the run to another tool**: the recorder keeps the last summary it wrote, and when another tool
  empties, truncates, garbles or deletes ``training_summary.json`` during a fit, it writes that copy back (with an
  :class:`~arccnet_ckpt.errors.ArcCkptWarning`) and carries on the transition, rather than ending a good training in a
  :class:`LifecycleError`. A store that cannot be reached at all is a :class:`~arccnet_ckpt.errors.RunFolderError`
  that says so.

It is the one writer (atomic, strict JSON through :mod:`arccnet_ckpt.store`; the summary goes last, so a failed
upload never leaves a run looking finished) and reads through the one reader (:func:`arccnet_ckpt.runs.read_record`,
which converts legacy files). Rank handling is not its business: the callback calls it on global rank 0 only.
"""

from __future__ import annotations

import enum
import math
import os
import socket
import traceback
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel

from arccnet_ckpt import store
from arccnet_ckpt.capture import Redaction
from arccnet_ckpt.errors import ArcCkptWarning, ArtifactError, LifecycleError, ManagerWarning
from arccnet_ckpt.records import (
    SUMMARY_SCHEMA_VERSION,
    ArtifactT,
    ClassificationReport,
    ConfigRecord,
    DataloaderReport,
    History,
    HistoryEntry,
    MinimalLogging,
    RunKind,
    TrainingSummary,
    matrix_names,
    record_dict,
    validate_artifact,
)


class Phase(enum.Enum):
    """Where a run is in its life cycle; every phase but ``NEW`` is the ``status`` of ``training_summary.json``."""

    NEW = "new"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class Event(enum.Enum):
    """What can happen to a run."""

    START = "start"  # a fit begins in a new folder
    EVALUATE = "evaluate"  # a test-only Trainer begins in a new folder
    RESUME = "resume"  # a fit begins in a folder that has a record (resume, requeue, second fit)
    FINISH = "finish"  # the fit (or the evaluation) ended without an exception
    FAIL = "fail"  # it raised
    INTERRUPT = "interrupt"  # Ctrl-C or SIGTERM
    TEST = "test"  # trainer.test results arrived
    VALIDATE = "validate"  # a validation run of the fit ended: a history entry and the heartbeat
    LINK = "link"  # the loggers' experiments exist: their ids are recorded, the run folder logged to them


_ENDED = (Phase.COMPLETED, Phase.FAILED, Phase.INTERRUPTED)

TRANSITIONS: dict[tuple[Phase, Event], Phase] = {
    (Phase.NEW, Event.START): Phase.RUNNING,
    (Phase.NEW, Event.EVALUATE): Phase.RUNNING,
    **{(phase, Event.RESUME): Phase.RUNNING for phase in (Phase.RUNNING, *_ENDED)},
    (Phase.RUNNING, Event.FINISH): Phase.COMPLETED,
    (Phase.RUNNING, Event.FAIL): Phase.FAILED,
    (Phase.RUNNING, Event.INTERRUPT): Phase.INTERRUPTED,
    **{(phase, Event.TEST): phase for phase in (Phase.RUNNING, *_ENDED)},
    (Phase.RUNNING, Event.VALIDATE): Phase.RUNNING,
    **{(phase, Event.LINK): phase for phase in (Phase.RUNNING, *_ENDED)},
}
"""Every allowed ``(phase, event) -> next phase``; anything else raises :class:`LifecycleError`."""


def transition(phase: Phase, event: Event) -> Phase:
    """The phase after ``event``.

    Raises:
        LifecycleError: If the life cycle does not allow ``event`` in ``phase``, naming what it allows.
    """
    try:
        return TRANSITIONS[(phase, event)]
    except KeyError:
        allowed = sorted(e.value for (p, e) in TRANSITIONS if p is phase)
        raise LifecycleError(
            f"cannot {event.value} a run that is {phase.value}: from {phase.value} the life cycle allows "
            f"{', '.join(allowed) or 'nothing'}"
        ) from None


MEASURED_FIELDS = ("best_epoch", "best_metric_value", "num_epochs_trained", "early_stopping_triggered")
"""Fields the callback measures from the Trainer; a ``save_*`` call never overwrites them (see ``merge_manual``)."""

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


@dataclass(frozen=True)
class RunIdentity:
    """The names a run is filed under, decided once when its folder is."""

    run_dir: str
    run_name: str
    model_name: str
    loss_function: str
    start_time: datetime
    root_name: str | None = None
    class_names: list[str] | None = None
    class_name_sources: dict[str, list[str]] | None = None


class RunRecorder:
    """The life cycle and the records of one run folder.

    Args:
        identity: The run's folder and names.

    Example::

        recorder = RunRecorder(identity)
        recorder.start(FitSnapshot(monitor="val_f1", mode="max"), config=config_record)
        recorder.finish(FitSnapshot(monitor="val_f1", mode="max", best_epoch=1, num_epochs_trained=3, global_step=6))
        recorder.record_test({"test_f1": 0.85}, report_fields={}, checkpoint="best-epoch01-val_f1-0.900.ckpt")
    """

    def __init__(self, identity: RunIdentity) -> None:
        self.identity = identity
        self._summary: TrainingSummary | None = None
        self._history: list[HistoryEntry] | None = None

    # ------------------------------------------------------------------------------------------------ reading

    @property
    def run_dir(self) -> str:
        """The run folder (local path or URL)."""
        return self.identity.run_dir

    def read(self, model: type[ArtifactT]) -> ArtifactT | None:
        """The run's file ``model`` as it is on disk (legacy files converted), or ``None`` if it does not exist.

        Raises:
            ArtifactError: If the file is not valid.
        """
        from arccnet_ckpt.runs import read_record

        return read_record(self.run_dir, model)

    def summary(self) -> TrainingSummary | None:
        """The summary on disk (read again each time), or the last one written when the disk cannot be read."""
        try:
            current = self.read(TrainingSummary)
        except Exception:
            return self._summary
        if current is not None:
            self._summary = current
        return current or self._summary

    def _recorded(self) -> TrainingSummary | None:
        """The summary a transition starts from: the one on disk, read again.

        When the file is missing, empty, truncated or not a valid summary but this recorder wrote one (another tool
        broke it during the fit, e.g. a ``prune`` that took the run for stale), the recorder's own copy is written
        back, with a warning naming the file and what was wrong.

        Raises:
            RunFolderError: If the store cannot be reached at all (an S3 server that went away): that is no broken
                file, and nothing can be written either.
        """
        path = store.join(self.run_dir, TrainingSummary.filename)
        try:
            current = self.read(TrainingSummary)
        except ArtifactError as e:
            problem = str(e).removeprefix(f"{path}: ")
        except Exception as e:
            if store.is_remote(self.run_dir):  # fsspec back-ends raise their own connection errors
                raise store.unreachable(self.run_dir, e) from e
            problem = f"{type(e).__name__}: {e}"
        else:
            if current is not None:
                self._summary = current
                return current
            problem = "it is missing"
        if self._summary is None:
            return None  # nothing of ours to recover: the run is new (or its record was never written by us)
        _warn(
            f"{path} was broken by something else during the run ({problem}); writing back the last record this "
            f"process wrote (status {self._summary.status}, updated {self._summary.updated_at}) and going on"
        )
        store.write_artifact(self.run_dir, self._summary)
        return self._summary

    @property
    def phase(self) -> Phase:
        """The run's phase, from the summary on disk (``NEW`` when there is none)."""
        summary = self.summary()
        return Phase.NEW if summary is None else Phase(summary.status)

    # -------------------------------------------------------------------------------------------- transitions

    def start(
        self,
        snapshot: FitSnapshot,
        *,
        config: ConfigRecord | None = None,
        files: Mapping[str, bytes] | None = None,
        kind: RunKind = "training",
        checkpoint: str | None = None,
        restart_count: int | None = None,
        now: datetime | None = None,
    ) -> Phase:
        """A fit (or, with ``kind="evaluation"``, a test-only Trainer) begins: write ``config.json`` and a
        ``running`` summary.

        A folder that already holds a summary is resumed, not restarted: its numbers, start time and test results
        stay, and a ``resumes`` entry records the time, the checkpoint and what the run had reached.

        Args:
            snapshot: The fit's state at its start (after Lightning restored a checkpoint, if any).
            config: The ``config.json`` record; merged over the one on disk, whose user ``config`` is kept when
                this one has none (a manual ``save_config()`` before ``fit``).
            files: Copies to keep beside ``config.json``, by their path in the run folder (LightningCLI's
                ``config.yaml``, Hydra's ``hydra/*.yaml``); each written atomically, before ``config.json``.
            kind: ``training`` or ``evaluation``.
            checkpoint: The checkpoint the fit resumes from (or the evaluation tests), relative to the run folder
                when inside it, else absolute.
            restart_count: The scheduler's restart count (a requeued SLURM job), recorded in the resume entry.
            now: The moment (default: now, UTC).

        Returns:
            The new phase (``RUNNING``).
        """
        now = now or _now()
        previous = self._recorded()
        if previous is None:
            phase = transition(Phase.NEW, Event.EVALUATE if kind == "evaluation" else Event.START)
            data = self._fresh(snapshot, kind)
            if kind == "evaluation":
                data["tested_checkpoint"] = checkpoint
            elif checkpoint is not None:
                # A fit resumed from a checkpoint outside any run folder: a new run, that records where it came from.
                data["resumed_from"] = checkpoint
                data["resumes"] = [{"time": now, "checkpoint": checkpoint}]
        else:
            phase = transition(Phase(previous.status), Event.RESUME)
            data = record_dict(previous)
            data["attempts"] = _with_attempt(data.get("attempts") or [], _ended_attempt(previous))
            data["resumes"] = [*data.get("resumes", []), _resume_entry(previous, checkpoint, now, restart_count)]
            data.update(status=phase.value, end_time=None, duration_seconds=None, error=None, resumed_from=checkpoint)
            data.update(kind=kind, recorded_by="callback")  # a fit in an evaluation's folder makes it a training run
            if _trained_past(snapshot, previous):
                data.update(snapshot.fields())
        data.update(_process())  # this attempt's process, so that prune can tell a live run from a dead one
        _note_loggers(data, snapshot.loggers, stage="test" if kind == "evaluation" else "fit")
        for name, content in (files or {}).items():
            store.write_bytes(store.join(self.run_dir, *name.split("/")), content)
        records: list[BaseModel] = []
        if config is not None:
            records.append(self._merged_config(config))
        records.append(self._summary_record(data, now))
        self._write(records)
        return phase

    def finish(self, snapshot: FitSnapshot, *, now: datetime | None = None) -> Phase:
        """The fit (or evaluation) ended without an exception: ``completed``, with the minimal log.

        A resumed fit that trained nothing leaves the run's numbers and end time as they were.
        """
        return self._end(Event.FINISH, snapshot, None, now or _now())

    def fail(
        self, snapshot: FitSnapshot, error: Mapping[str, Any], *, interrupted: bool = False, now: datetime | None = None
    ) -> Phase:
        """The fit (or evaluation) raised: ``failed`` (or ``interrupted`` for Ctrl-C / SIGTERM), with the error.

        Args:
            snapshot: The fit's state when it raised.
            error: ``type``, ``message`` and ``traceback``.
            interrupted: Ctrl-C or SIGTERM rather than an error.
            now: The moment (default: now, UTC).
        """
        return self._end(Event.INTERRUPT if interrupted else Event.FAIL, snapshot, dict(error), now or _now())

    def record_test(
        self,
        test_results: Mapping[str, float | None],
        *,
        checkpoint: str | None,
        dataloaders: Sequence[Mapping[str, Any]] | None = None,
        report_fields: Mapping[str, Any] | None = None,
        headline: HeadlineChoice = "auto",
        now: datetime | None = None,
    ) -> Phase:
        """``trainer.test`` ended: add an evaluation to the run, and make it the headline when it should be.

        Every test adds an entry to ``evaluations`` in ``training_summary.json`` (when, which checkpoint, the size
        and class counts of each dataloader, the metrics) and to ``evaluations`` in ``classification_report.json``
        (its per-class report, one per dataloader). Only the headline test (see :func:`choose_headline`) writes
        ``test_results``, ``tested_checkpoint``, the report's top level and the test metrics of
        ``minimal_logging.json``; a test that is not made the headline costs an :class:`ArcCkptWarning` that says so,
        as does one that takes the headline from an earlier test.

        Args:
            test_results: The ``test*`` metrics.
            checkpoint: The tested checkpoint (relative when inside the run folder), ``None`` for weights in memory.
            dataloaders: One :class:`~arccnet_ckpt.records.DataloaderReport` dict per test dataloader.
            report_fields: The per-class fields of a test with one dataloader (``per_class``... ``per_class_note``):
                the same as ``dataloaders=[{"index": 0, **report_fields}]``.
            headline: ``auto`` (the rule of :func:`choose_headline`), ``always`` or ``never``.
            now: The moment (default: now, UTC).
        """
        now = now or _now()
        previous, phase = self._advance(Event.TEST)
        ident = self.identity
        if dataloaders is None:
            dataloaders = [{"index": 0, "test_metrics": dict(test_results), **(report_fields or {})}]
        loaders = [DataloaderReport.model_validate(dict(loader)) for loader in dataloaders]
        try:
            existing = self.read(ClassificationReport)
        except Exception as e:  # a damaged report is replaced, not fatal: say so
            _warn(f"{store.join(self.run_dir, ClassificationReport.filename)} could not be read ({e}); rewriting it")
            existing = None
        data = record_dict(previous)
        evaluations, reports = _evaluations_so_far(previous, existing)
        number = len(evaluations) + 1
        made_headline = choose_headline(evaluations, checkpoint, previous.best_model_path, headline)
        _say_where_it_went(self.run_dir, number, checkpoint, made_headline, headline, evaluations, previous)
        if made_headline:
            for earlier in [*evaluations, *reports]:
                earlier["headline"] = False
        sizes = [d.num_samples for d in loaders]
        common = {"number": number, "tested_at": now, "checkpoint": checkpoint, "headline": made_headline}
        data["evaluations"] = [
            *evaluations,
            {
                **common,
                "test_results": dict(test_results),
                "num_samples": None if None in sizes else sum(s for s in sizes if s is not None),
                "dataloaders": [_counts(d) for d in loaders],
            },
        ]
        base: dict[str, Any] = record_dict(existing) if existing is not None else {"class_names": ident.class_names}
        base["evaluations"] = [
            *reports,
            {**common, "test_metrics": dict(test_results), "dataloaders": [record_dict(d) for d in loaders]},
        ]
        if made_headline:
            data.update(test_results=dict(test_results), tested_checkpoint=checkpoint)
            base.update(_headline_fields(loaders, ident.class_names))
            base.update(test_metrics=dict(test_results), checkpoint=checkpoint, created_at=now)
        base.update(model_name=ident.model_name, loss_function=ident.loss_function)
        report = validate_artifact(ClassificationReport, base)
        summary = self._summary_record(data, now)
        records: list[BaseModel] = [report, summary]
        if summary.kind == "training" and made_headline:
            records.insert(1, self._minimal(summary, now))  # the test metrics, as the old files had them
        self._write(records)
        return phase

    def validated(
        self,
        snapshot: FitSnapshot,
        metrics: Mapping[str, float | None],
        *,
        epoch: int,
        now: datetime | None = None,
    ) -> Phase:
        """A validation run of the fit ended: add a ``history.json`` entry and renew the summary's heartbeat.

        ``history.json`` is rewritten whole (atomically); an entry at the same global step as the last one (the
        same validation, completed with the epoch's training aggregates) replaces it. The summary gets
        ``updated_at`` and the progress so far (epochs, step, best value), so a listing shows how far a running run
        got; its status stays ``running``.

        Args:
            snapshot: The fit's state after the validation (and the checkpoint it saved).
            metrics: Every scalar metric, as floats (``None`` for non-finite).
            epoch: The epoch the validation ran in.
            now: The moment (default: now, UTC).
        """
        now = now or _now()
        previous, phase = self._advance(Event.VALIDATE)
        entries = self._history_entries()
        entry = HistoryEntry.model_validate(
            {
                "epoch": epoch,
                "step": snapshot.global_step,
                "time": now,
                "attempt": len(previous.resumes),
                "metrics": dict(metrics),
            }
        )
        if entries and entries[-1].step == entry.step and entries[-1].attempt == entry.attempt:
            entries[-1] = entry
        else:
            entries.append(entry)
        history = History.model_construct(
            schema_version=History.model_fields["schema_version"].default,
            monitor=snapshot.monitor,
            mode=snapshot.mode if snapshot.mode in ("min", "max") else None,
            entries=entries,
        )
        data = record_dict(previous)
        data.update(snapshot.fields())
        self._write([history, self._summary_record(data, now)])
        return phase

    def linked(
        self, loggers: Sequence[Mapping[str, Any]], *, stage: Literal["fit", "test"], now: datetime | None = None
    ) -> Phase:
        """The loggers' experiments exist (training or test start): record what each one is, in the summary's
        ``loggers``. Entries of the same attempt and stage are replaced; those of earlier fits stay.

        Args:
            loggers: One :class:`~arccnet_ckpt.records.LoggerInfo` dict per logger (see
                :func:`arccnet_ckpt.capture.loggers.describe_loggers`).
            stage: ``fit``, or ``test`` for a test-only Trainer.
            now: The moment (default: now, UTC).
        """
        previous, phase = self._advance(Event.LINK)
        data = record_dict(previous)
        _note_loggers(data, [dict(entry) for entry in loggers], stage=stage)
        self._write([self._summary_record(data, now or _now())])
        return phase

    def _history_entries(self) -> list[HistoryEntry]:
        """The history on disk, read once per recorder (a resumed fit continues the file its folder holds)."""
        if self._history is None:
            try:
                existing = self.read(History)
            except Exception as e:  # a damaged file is replaced, not fatal: say so once
                _warn(f"{store.join(self.run_dir, History.filename)} could not be read ({e}); starting it anew")
                existing = None
            self._history = list(existing.entries) if existing is not None else []
        return self._history

    def write_report(self) -> str | None:
        """Render ``report.html`` from the files on disk; a failure costs a warning (the JSON files are the record).

        Returns:
            The path written, or ``None`` when it could not be.
        """
        from arccnet_ckpt.report.html import write_report

        try:
            return write_report(self.run_dir)
        except Exception as e:
            _warn(f"could not write the HTML report of {self.run_dir}: {type(e).__name__}: {e}")
            return None

    # ------------------------------------------------------------------------------------------ the manual API

    def merge_manual(
        self, model: type[ArtifactT], updates: Mapping[str, Any], *, defaults: Mapping[str, Any] | None = None
    ) -> str:
        """Merge a ``save_*`` call's values into the file on disk, validate the whole, and write it.

        Values the callback measured (:data:`MEASURED_FIELDS`, in a file it wrote) stay as measured: a caller's
        differing value, ``None`` included, is kept under ``manual_values`` and costs a :class:`ManagerWarning`.
        Everything else the caller gives wins; unknown keys are kept.

        Args:
            model: The file model, e.g. :class:`TrainingSummary`.
            updates: The caller's values.
            defaults: Values for a file that does not exist yet.

        Returns:
            The path written.

        Raises:
            ArtifactError: If the merged record is invalid (nothing is written).
        """
        existing = self.read(model)
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
        record = validate_artifact(model, {**base, **updates}, source=store.join(self.run_dir, model.filename))
        return store.write_artifact(self.run_dir, record)

    # ---------------------------------------------------------------------------------------------- internals

    def _end(self, event: Event, snapshot: FitSnapshot, error: dict[str, Any] | None, now: datetime) -> Phase:
        previous, phase = self._advance(event)
        data = record_dict(previous)
        resumed_at = previous.resumes[-1] if previous.resumes else None
        trained = resumed_at is None or _trained(snapshot, resumed_at.global_step)
        if trained:
            data.update(snapshot.fields())
        if resumed_at and not trained and phase is Phase.COMPLETED and resumed_at.previous_end_time is not None:
            # A resume that trained nothing (a requeue of a finished run): the run ended when it first did, and took
            # the time it took then.
            data["end_time"] = resumed_at.previous_end_time
            data["duration_seconds"] = _duration(data["attempts"], len(previous.resumes) - 1, data, previous)
        else:
            data["end_time"] = now
            index = len(previous.resumes)
            attempt = _attempt(index, _attempt_start(previous, index), now)
            data["attempts"] = _with_attempt(data.get("attempts") or [], attempt)
            data["duration_seconds"] = _duration(data["attempts"], index, data, previous)
        data.update(status=phase.value, error=error, recorded_by="callback")
        _note_loggers(data, snapshot.loggers, stage="test" if previous.kind == "evaluation" else "fit")
        summary = self._summary_record(data, now)
        records: list[BaseModel] = [summary]
        if summary.kind == "training":
            records.insert(0, self._minimal(summary, now))
        self._write(records)
        return phase

    def _advance(self, event: Event) -> tuple[TrainingSummary, Phase]:
        """The summary on disk and the phase ``event`` leads to (for events of a run that has a record)."""
        previous = self._recorded()
        phase = transition(Phase.NEW if previous is None else Phase(previous.status), event)
        if previous is None:  # pragma: no cover - the transition table allows no event of a new run here
            raise LifecycleError(f"cannot {event.value} a run that has no record in {self.run_dir}")
        return previous, phase

    def _fresh(self, snapshot: FitSnapshot, kind: RunKind) -> dict[str, Any]:
        ident = self.identity
        return {
            "status": Phase.RUNNING.value,
            "kind": kind,
            "start_time": ident.start_time,
            "model_name": ident.model_name,
            "loss_function": ident.loss_function,
            "root_name": ident.root_name,
            "run_name": ident.run_name,
            "recorded_by": "callback",
            **snapshot.fields(),
        }

    def _summary_record(self, data: dict[str, Any], now: datetime) -> TrainingSummary:
        data["updated_at"] = now
        data["schema_version"] = SUMMARY_SCHEMA_VERSION  # a version 1 file is upgraded when the callback writes it
        if not data.get("monitor"):
            data = {k: v for k, v in data.items() if k != "best_none"}
        return validate_artifact(TrainingSummary, data, source=store.join(self.run_dir, TrainingSummary.filename))

    def _minimal(self, summary: TrainingSummary, now: datetime) -> MinimalLogging:
        try:
            existing = self.read(MinimalLogging)
        except Exception:
            existing = None
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
                "timestamp": summary.end_time or now,
                "best_epoch": summary.best_epoch,
                "best_metric_name": summary.monitor,
                "best_metric_value": summary.best_metric_value,
                "num_epochs_trained": summary.num_epochs_trained,
                "early_stopping_triggered": summary.early_stopping_triggered,
                "status": summary.status,
                "recorded_by": "callback",
            },
        )

    def _merged_config(self, config: ConfigRecord) -> ConfigRecord:
        try:
            existing = self.read(ConfigRecord)
        except Exception:
            existing = None
        if existing is None:
            return config
        merged = {**record_dict(existing), **record_dict(config), "schema_version": config.schema_version}
        if not config.config:
            merged["config"] = existing.config  # a manual save_config() before fit, or the first fit's config
        return validate_artifact(ConfigRecord, merged)

    def _write(self, records: Sequence[BaseModel]) -> None:
        for record in records:
            store.write_artifact(self.run_dir, record)
            if isinstance(record, TrainingSummary):
                self._summary = record


def _note_loggers(data: dict[str, Any], loggers: list[dict[str, Any]] | None, *, stage: str) -> None:
    """Put this attempt's loggers (for ``stage``) into summary ``data``, keeping those of other attempts and stages."""
    if loggers is None:
        return
    attempt = len(data.get("resumes") or [])
    kept = [e for e in data.get("loggers") or [] if (e.get("attempt", 0), e.get("stage", "fit")) != (attempt, stage)]
    data["loggers"] = [*kept, *({**entry, "attempt": attempt, "stage": stage} for entry in loggers)]


HeadlineChoice = Literal["auto", "always", "never"]
"""Whether a ``trainer.test`` becomes the run's headline: ``auto`` (:func:`choose_headline`), ``always``, ``never``."""

HEADLINE_CHOICES: tuple[str, ...] = ("auto", "always", "never")


def choose_headline(
    evaluations: Sequence[Mapping[str, Any]],
    checkpoint: str | None,
    best_model_path: str | None,
    choice: HeadlineChoice = "auto",
) -> bool:
    """Whether a new test of ``checkpoint`` becomes the run's headline, given its earlier ``evaluations``.

    With ``auto``, the headline is the run's first test of its best checkpoint: a new test becomes the headline
    when the run has none yet (whatever it tested), or when it tests the best checkpoint and the headline did not
    (it tested the weights in memory, ``last.ckpt``, or a checkpoint that a resumed fit has since bettered). A
    second test of the same best checkpoint (another dataset, a second ``trainer.test``) does not.

    Args:
        evaluations: The run's evaluations so far (``TestEvaluation`` dicts), one of them marked ``headline``.
        checkpoint: The checkpoint the new test loaded (relative inside the run folder), ``None`` for weights in
            memory.
        best_model_path: The run's best checkpoint (relative), if it has one.
        choice: ``auto``, or ``always`` / ``never`` to decide without the rule.
    """
    if choice != "auto":
        return choice == "always"
    current = next((e for e in evaluations if e.get("headline")), None)
    if current is None:
        return True
    return checkpoint is not None and checkpoint == best_model_path and current.get("checkpoint") != best_model_path


def _say_where_it_went(
    run_dir: str,
    number: int,
    checkpoint: str | None,
    made_headline: bool,
    choice: HeadlineChoice,
    evaluations: Sequence[Mapping[str, Any]],
    summary: TrainingSummary,
) -> None:
    """Warn when a test is not made the headline, or when the rule moves the headline to it: never silently."""
    current = next((e for e in evaluations if e.get("headline")), None)
    if made_headline:
        if current is not None and choice == "auto":
            _warn(
                f"{run_dir}: evaluation {number} ({_tested(checkpoint)}) is now the headline, as the first test of "
                f"the run's best checkpoint; evaluation {current['number']} ({_tested(current.get('checkpoint'))}) "
                "is kept in evaluations"
            )
        return
    if choice == "never":
        stays = "as it was (headline_test='never')"
    elif current is None:
        stays = "empty (no test of the run was made the headline)"
    else:
        best = current.get("checkpoint") is not None and current.get("checkpoint") == summary.best_model_path
        why = "the first test of the best checkpoint" if best else "the run's first test"
        stays = f"evaluation {current['number']}, {why} ({_tested(current.get('checkpoint'))})"
    _warn(
        f"{run_dir}: this trainer.test ({_tested(checkpoint)}) was kept as evaluation {number} (evaluations in "
        "training_summary.json and classification_report.json) and not made the headline: the headline "
        f"(test_results, classification_report.json's top level, minimal_logging.json, report.html) stays {stays}. "
        "Pass ArcCheckpointCallback(headline_test='always') to make a test the headline."
    )


def _tested(checkpoint: str | None) -> str:
    return f"checkpoint {checkpoint}" if checkpoint else "the weights in memory"


def _counts(report: DataloaderReport) -> dict[str, Any]:
    """A dataloader's ``DataloaderCounts``: its size, and its samples per true class (the matrix's row sums)."""
    matrix = report.confusion_matrix
    counts = None if matrix is None else {n: sum(row) for n, row in zip(matrix_names(report), matrix, strict=True)}
    return {"index": report.index, "name": report.name, "num_samples": report.num_samples, "class_counts": counts}


def _headline_fields(loaders: Sequence[DataloaderReport], class_names: list[str] | None) -> dict[str, Any]:
    """The per-class fields of ``classification_report.json``'s top level: the one dataloader's report, or, with
    several, none (never pooled) and a note that names where each one is."""
    per_class = ("per_class", "accuracy", "macro_avg", "weighted_avg", "confusion_matrix", "num_samples")
    dumped = [record_dict(d) for d in loaders]
    if len(dumped) == 1:
        only = dumped[0]
        fields = {name: only.get(name) for name in (*per_class, "per_class_note")}
        fields["class_names"] = only.get("class_names") or class_names
    else:
        names = ", ".join(d.name or str(d.index) for d in loaders)
        fields = dict.fromkeys(per_class)
        fields["per_class_note"] = f"{len(loaders)} test dataloaders, one report each: see dataloaders ({names})"
        shared = {tuple(d.class_names) for d in loaders if d.class_names}
        fields["class_names"] = list(shared.pop()) if len(shared) == 1 else class_names
    fields["dataloaders"] = dumped
    return fields


def _evaluations_so_far(
    summary: TrainingSummary, report: ClassificationReport | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The run's evaluations (the summary's entries and the report's), as dicts to extend.

    A run tested before evaluations were kept has ``test_results`` alone: that test becomes its evaluation 1, the
    headline.
    """
    if summary.evaluations:
        reports = record_dict(report)["evaluations"] if report is not None else []
        return record_dict(summary)["evaluations"], reports
    if not summary.test_results:
        return [], []
    tested_at = (report.created_at if report is not None else None) or summary.updated_at or summary.start_time
    loader: dict[str, Any] = {"index": 0}
    if report is not None:
        fields = ("class_names", "per_class", "accuracy", "macro_avg", "weighted_avg", "confusion_matrix")
        loader.update({name: getattr(report, name) for name in (*fields, "num_samples", "per_class_note")})
    loader_report = DataloaderReport.model_validate(loader)
    entry = {
        "number": 1,
        "tested_at": tested_at,
        "checkpoint": summary.tested_checkpoint,
        "headline": True,
        "test_results": dict(summary.test_results),
        "num_samples": loader_report.num_samples,
        "dataloaders": [_counts(loader_report)],
    }
    report_entry = {
        "number": 1,
        "tested_at": tested_at,
        "checkpoint": summary.tested_checkpoint,
        "headline": True,
        "test_metrics": dict(report.test_metrics if report is not None else summary.test_results),
        "dataloaders": [record_dict(loader_report)],
    }
    return [entry], [report_entry]


def is_interruption(exception: BaseException) -> bool:
    """Ctrl-C (``KeyboardInterrupt``) or SIGTERM (Lightning's ``SIGTERMException`` is a ``SystemExit``): a run
    ended this way is ``interrupted``, any other exception makes it ``failed``."""
    return isinstance(exception, (KeyboardInterrupt, SystemExit))


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


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _process() -> dict[str, Any]:
    """The summary's ``pid`` and ``hostname``: the process that writes the record now."""
    return {"pid": os.getpid(), "hostname": socket.gethostname()}


def _trained(snapshot: FitSnapshot, recorded_step: int) -> bool:
    """Whether this fit trained: it stepped since its training started. A fresh fit into a folder that holds a run
    (a fold loop sharing ``dirpath``) starts again from step 0, so comparing with the recorded step would miss it;
    only a fit whose training never started falls back to that comparison."""
    if snapshot.steps_this_fit is not None:
        return snapshot.steps_this_fit > 0
    return snapshot.global_step > recorded_step


def _trained_past(snapshot: FitSnapshot, previous: TrainingSummary) -> bool:
    """Whether the fit went past what the record holds (its global step is beyond the recorded one)."""
    return snapshot.global_step > previous.global_step


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


def _ended_attempt(previous: TrainingSummary) -> dict[str, Any]:
    """The attempt a resume follows, as far as the record knows it: to its end, or, for an attempt that was killed
    (still ``running``), to its last heartbeat."""
    index = len(previous.resumes)
    start = _attempt_start(previous, index)
    if previous.status != Phase.RUNNING.value and previous.end_time is not None:
        return _attempt(index, start, previous.end_time)
    return _attempt(index, start, previous.updated_at or start, "last heartbeat")


def _duration(attempts: list[dict[str, Any]], last: int, data: dict[str, Any], previous: TrainingSummary) -> float:
    """The run's duration: the sum of its attempts' wall times (``last`` the latest attempt that counts); for a run
    whose earlier attempts were recorded before attempts were, the span from start to end, idle time included."""
    if {a["attempt"] for a in attempts} >= set(range(last + 1)):
        return float(sum(a["duration_seconds"] or 0.0 for a in attempts if a["attempt"] <= last))
    return (_as_datetime(data["end_time"]) - previous.start_time).total_seconds()


def _with_attempt(attempts: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    """``attempts`` with ``entry`` in its place (an attempt already recorded keeps what it recorded at its end)."""
    if any(a["attempt"] == entry["attempt"] for a in attempts) and entry["ended"] != "end":
        return attempts
    kept = [a for a in attempts if a["attempt"] != entry["attempt"]]
    return sorted([*kept, entry], key=lambda a: a["attempt"])


def _resume_entry(
    previous: TrainingSummary, checkpoint: str | None, now: datetime, restart_count: int | None
) -> dict[str, Any]:
    return {
        "time": now,
        "checkpoint": checkpoint,
        "previous_status": previous.status,
        "previous_error": previous.error.model_dump(mode="json") if previous.error else None,
        "previous_end_time": previous.end_time,
        "num_epochs_trained": previous.num_epochs_trained,
        "global_step": previous.global_step,
        "restart_count": restart_count,
    }


def _as_datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _measured_updates(existing: BaseModel, updates: dict[str, Any]) -> list[tuple[str, Any]]:
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


def _warn(message: str) -> None:
    warnings.warn(message, ArcCkptWarning, stacklevel=3)


def _warn_kept(filename: str, name: str, value: Any, measured: Any) -> None:
    warnings.warn(
        f"{filename}: {name}={value!r} differs from the value the callback measured ({measured!r}); the measured "
        f"value is kept and yours is recorded under manual_values. With ArcCheckpointCallback in the Trainer the "
        f"save_* calls are not needed.",
        ManagerWarning,
        stacklevel=5,  # the save_* call in the user's script
    )
