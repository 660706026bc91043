"""``RunRecorder``: the state machine that drives every write into a run folder. No Lightning import.

Each method is one event of the life cycle (:mod:`arccnet_ckpt.core.lifecycle`: ``start``, ``finish``, ``fail``,
``record_test``, ``validated``, ``linked``): it checks the transition, builds the records from plain snapshots
(:class:`~arccnet_ckpt.core.progress.FitSnapshot`) and writes them. Where the rest lives:

* which transitions are allowed, and which status a reader shows: :mod:`arccnet_ckpt.core.lifecycle`;
* the attempts, durations and resumes of a requeued run: :mod:`arccnet_ckpt.core.progress`;
* the tests and the headline rule: :mod:`arccnet_ckpt.core.evaluations`;
* the manual merge, and every record merged over the file on disk: :mod:`arccnet_ckpt.core.merge`;
* every other record of a transition, built from plain values: :mod:`arccnet_ckpt.core.records`;
* the summary as a transition reads it, written back when another tool broke it: :class:`KeptSummary` (below).

It enforces three rules:

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
upload never leaves a run looking finished). It imports neither the reader nor the report: the adapter that builds
it passes the reader in (``read=records.reader.read_record``, which converts legacy files) and writes the HTML report
itself. Rank handling is not its business: the callback calls it on global rank 0 only.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from arccnet_ckpt import layout, store
from arccnet_ckpt.core import merge, progress, records
from arccnet_ckpt.core.evaluations import (
    HEADLINE_CHOICES,
    HeadlineChoice,
    add_evaluation,
    choose_headline,
)
from arccnet_ckpt.core.lifecycle import TRANSITIONS, Event, Phase, is_interruption, transition
from arccnet_ckpt.core.merge import MEASURED_FIELDS
from arccnet_ckpt.core.progress import FitSnapshot
from arccnet_ckpt.errors import ArcCkptWarning, ArtifactError, LifecycleError
from arccnet_ckpt.records import (
    ArtifactT,
    ClassificationReport,
    ConfigRecord,
    GroupInfo,
    History,
    HistoryEntry,
    MinimalLogging,
    RunKind,
    TrainingSummary,
    record_dict,
    validate_artifact,
)

__all__ = [
    "HEADLINE_CHOICES",
    "MEASURED_FIELDS",
    "TRANSITIONS",
    "Event",
    "FitSnapshot",
    "HeadlineChoice",
    "Phase",
    "RecordReader",
    "RunIdentity",
    "RunRecorder",
    "choose_headline",
    "is_interruption",
    "transition",
]


DataCountsArg = Mapping[str, Mapping[str, Any] | None] | None
"""What the Trainer saw of each split (``train``, ``val``, ``test``): :class:`~arccnet_ckpt.records.SplitCounts`
fields by split, written into the summary's ``data`` by :func:`~arccnet_ckpt.core.records.with_data_counts`."""


class RecordReader(Protocol):
    """Reads one file of a run folder: the validated record, or ``None`` when the file does not exist (raises
    :class:`~arccnet_ckpt.errors.ArtifactError` for an invalid one), as :func:`~arccnet_ckpt.records.reader.read_record`
    does."""

    def __call__(self, run_dir: str, model: type[ArtifactT], /) -> ArtifactT | None: ...  # noqa: D102


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
    group: GroupInfo | None = None  # written in a new run's first summary (a resumed run keeps its recorded one)


class KeptSummary:
    """``training_summary.json`` of one run folder as a transition reads it, and the last copy this process wrote.

    Never lose the run to another tool: when another tool empties, truncates, garbles or deletes the file during a
    fit, :meth:`recorded` writes the kept copy back (with a warning) so that the transition carries on.

    Args:
        run_dir: The run folder.
        read: How a file of the run folder is read (see :class:`RecordReader`).
    """

    def __init__(self, run_dir: str, read: RecordReader) -> None:
        self.run_dir = run_dir
        self._read = read
        self.last: TrainingSummary | None = None  # the last summary this process wrote (or read)

    def current(self) -> TrainingSummary | None:
        """The summary on disk (read again each time), or the last one kept when the disk cannot be read."""
        try:
            current = self._read(self.run_dir, TrainingSummary)
        except Exception:
            return self.last
        if current is not None:
            self.last = current
        return current or self.last

    def recorded(self) -> TrainingSummary | None:
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
            current = self._read(self.run_dir, TrainingSummary)
        except ArtifactError as e:
            problem = str(e).removeprefix(f"{path}: ")
        except Exception as e:
            if store.is_remote(self.run_dir):  # fsspec back-ends raise their own connection errors
                raise store.unreachable(self.run_dir, e) from e
            problem = f"{type(e).__name__}: {e}"
        else:
            if current is not None:
                self.last = current
                return current
            problem = "it is missing"
        if self.last is None:
            return None  # nothing of ours to recover: the run is new (or its record was never written by us)
        _warn(
            f"{path} was broken by something else during the run ({problem}); writing back the last record this "
            f"process wrote (status {self.last.status}, updated {self.last.updated_at}) and going on"
        )
        store.write_artifact(self.run_dir, self.last)
        return self.last


class RunRecorder:
    """The life cycle and the records of one run folder.

    Args:
        identity: The run's folder and names.
        read: How a file of the run folder is read (legacy files converted): ``records.reader.read_record``.

    Example::

        recorder = RunRecorder(identity, read=read_record)
        recorder.start(FitSnapshot(monitor="val_f1", mode="max"), config=config_record)
        recorder.finish(FitSnapshot(monitor="val_f1", mode="max", best_epoch=1, num_epochs_trained=3, global_step=6))
        recorder.record_test({"test_f1": 0.85}, report_fields={}, checkpoint="best-epoch01-val_f1-0.900.ckpt")
    """

    def __init__(self, identity: RunIdentity, *, read: RecordReader) -> None:
        self.identity = identity
        self._read = read
        self._kept = KeptSummary(identity.run_dir, read)  # written back if another tool breaks the file
        self._history: list[HistoryEntry] | None = None
        self.config_sha256: str | None = None
        """The SHA-256 of the ``config.json`` this recorder wrote (what checkpoints carry), ``None`` before."""

    @property
    def run_dir(self) -> str:
        """The run folder (local path or URL)."""
        return self.identity.run_dir

    def read(self, model: type[ArtifactT]) -> ArtifactT | None:
        """The run's file ``model`` as it is on disk (legacy files converted), or ``None`` if it does not exist.

        Raises:
            ArtifactError: If the file is not valid.
        """
        return self._read(self.run_dir, model)

    def summary(self) -> TrainingSummary | None:
        """The summary on disk (read again each time), or the last one written when the disk cannot be read."""
        return self._kept.current()

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
            config: The ``config.json`` record; merged over the one on disk (see
                :func:`~arccnet_ckpt.core.merge.merged_config`).
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
        now = now or progress.now()
        previous = self._kept.recorded()
        if previous is None:
            phase = transition(Phase.NEW, Event.EVALUATE if kind == "evaluation" else Event.START)
            data = records.fresh_summary(self.identity, snapshot, kind, checkpoint, now)
        else:
            phase = transition(Phase(previous.status), Event.RESUME)
            data = records.resumed_summary(
                previous, snapshot, phase=phase, kind=kind, checkpoint=checkpoint, restart_count=restart_count, now=now
            )
        data.update(progress.process())  # this attempt's process, so that prune can tell a live run from a dead one
        progress.note_loggers(data, snapshot.loggers, stage="test" if kind == "evaluation" else "fit")
        for name, content in (files or {}).items():
            store.write_bytes(store.join(self.run_dir, *name.split("/")), content)
        written: list[BaseModel] = []
        if config is not None:
            written.append(merge.merged_config(config, self._read_or_none(ConfigRecord)))
        self._write([*written, self._summary_record(data, now)])
        return phase

    def finish(self, snapshot: FitSnapshot, *, counts: DataCountsArg = None, now: datetime | None = None) -> Phase:
        """The fit (or evaluation) ended without an exception: ``completed``, with the minimal log.

        A resumed fit that trained nothing leaves the run's numbers and end time as they were. ``counts``: what the
        Trainer saw of each split, by split (see :func:`~arccnet_ckpt.core.records.with_data_counts`).
        """
        return self._end(Event.FINISH, snapshot, None, now or progress.now(), counts)

    def fail(
        self,
        snapshot: FitSnapshot,
        error: Mapping[str, Any],
        *,
        interrupted: bool = False,
        counts: DataCountsArg = None,
        now: datetime | None = None,
    ) -> Phase:
        """The fit (or evaluation) raised: ``failed`` (or ``interrupted`` for Ctrl-C / SIGTERM), with the error.

        Args:
            snapshot: The fit's state when it raised.
            error: ``type``, ``message`` and ``traceback`` (see :func:`~arccnet_ckpt.core.records.error_info`).
            interrupted: Ctrl-C or SIGTERM rather than an error (see
                :func:`~arccnet_ckpt.core.lifecycle.is_interruption`).
            counts: What the Trainer saw of each split, by split.
            now: The moment (default: now, UTC).
        """
        event = Event.INTERRUPT if interrupted else Event.FAIL
        return self._end(event, snapshot, dict(error), now or progress.now(), counts)

    def record_test(
        self,
        test_results: Mapping[str, float | None],
        *,
        checkpoint: str | None,
        dataloaders: Sequence[Mapping[str, Any]] | None = None,
        report_fields: Mapping[str, Any] | None = None,
        headline: HeadlineChoice = "auto",
        counts: DataCountsArg = None,
        images: Mapping[str, bytes] | None = None,
        now: datetime | None = None,
    ) -> Phase:
        """``trainer.test`` ended: add an evaluation to the run, and make it the headline when it should be.

        Every test adds an entry to ``evaluations`` in ``training_summary.json`` and in
        ``classification_report.json`` (see :func:`~arccnet_ckpt.core.evaluations.add_evaluation`). Only the
        headline test (see :func:`choose_headline`) writes ``test_results``, ``tested_checkpoint``, the report's top
        level and the test metrics of ``minimal_logging.json``.

        Args:
            test_results: The ``test*`` metrics.
            checkpoint: The tested checkpoint (relative when inside the run folder), ``None`` for weights in memory.
            dataloaders: One :class:`~arccnet_ckpt.records.DataloaderReport` dict per test dataloader.
            report_fields: The per-class fields of a test with one dataloader (``per_class``... ``per_class_note``):
                the same as ``dataloaders=[{"index": 0, **report_fields}]``.
            headline: ``auto`` (the rule of :func:`choose_headline`), ``always`` or ``never``.
            counts: What the Trainer saw of each split, by split; ``test`` (this test's loop) is recorded when this
                test is the headline.
            images: The mistakes' thumbnails, by path in the run folder (``mistakes/test1-01.png``), written before
                the report that names them.
            now: The moment (default: now, UTC).
        """
        now = now or progress.now()
        previous, phase = self._advance(Event.TEST)
        for path, png in (images or {}).items():
            store.write_bytes(store.join(self.run_dir, *layout.thumbnail_path(path)), png)
        ident = self.identity
        loaders = records.dataloader_reports(test_results, dataloaders, report_fields)
        existing = self._read_or_none(ClassificationReport, "rewriting it")  # a damaged report is replaced
        data, base, made_headline = add_evaluation(
            self.run_dir, previous, existing, test_results, loaders,
            checkpoint=checkpoint, class_names=ident.class_names, headline=headline, at=now,
        )  # fmt: skip
        base.update(model_name=ident.model_name, loss_function=ident.loss_function)
        records.with_data_counts(data, counts, headline=made_headline)
        summary = self._summary_record(data, now)
        written: list[BaseModel] = [validate_artifact(ClassificationReport, base)]
        if summary.kind == "training" and made_headline:
            written.append(self._minimal(summary, now))  # the test metrics, as the old files had them
        self._write([*written, summary])
        return phase

    def validated(
        self,
        snapshot: FitSnapshot,
        metrics: Mapping[str, float | None],
        *,
        epoch: int,
        counts: DataCountsArg = None,
        now: datetime | None = None,
    ) -> Phase:
        """A validation run of the fit ended: add a ``history.json`` entry and renew the summary's heartbeat.

        ``history.json`` is rewritten whole (atomically); an entry at the same global step as the last one (the
        same validation, completed with the epoch's training aggregates) replaces it. The summary gets
        ``updated_at`` and the progress so far (epochs, step, best value); its status stays ``running``.

        Args:
            snapshot: The fit's state after the validation (and the checkpoint it saved).
            metrics: Every scalar metric, as floats (``None`` for non-finite).
            epoch: The epoch the validation ran in.
            counts: What the Trainer saw of each split, by split.
            now: The moment (default: now, UTC).
        """
        now = now or progress.now()
        previous, phase = self._advance(Event.VALIDATE)
        attempt = len(previous.resumes)
        entries = self._history_entries()
        history = records.history_with(entries, snapshot, metrics, epoch=epoch, attempt=attempt, now=now)
        self._history = list(history.entries)
        data = record_dict(previous)
        data.update(snapshot.fields())
        records.with_data_counts(data, counts)
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
        progress.note_loggers(data, [dict(entry) for entry in loggers], stage=stage)
        self._write([self._summary_record(data, now or progress.now())])
        return phase

    def merge_manual(
        self, model: type[ArtifactT], updates: Mapping[str, Any], *, defaults: Mapping[str, Any] | None = None
    ) -> str:
        """Merge a ``save_*`` call's values into the file on disk (:func:`~arccnet_ckpt.core.merge.merge_manual`),
        validate the whole, and write it.

        Returns:
            The path written.

        Raises:
            ArtifactError: If the merged record is invalid (nothing is written).
        """
        source = store.join(self.run_dir, model.filename)
        record = merge.merge_manual(model, self.read(model), updates, defaults=defaults, source=source)
        return store.write_artifact(self.run_dir, record)

    # ---------------------------------------------------------------------------------------------- internals

    def _end(
        self, event: Event, snapshot: FitSnapshot, error: dict[str, Any] | None, now: datetime, counts: DataCountsArg
    ) -> Phase:
        previous, phase = self._advance(event)
        data = records.ended_summary(previous, snapshot, phase=phase, error=error, now=now)
        records.with_data_counts(data, counts)
        summary = self._summary_record(data, now)
        self._write([self._minimal(summary, now), summary] if summary.kind == "training" else [summary])
        return phase

    def _advance(self, event: Event) -> tuple[TrainingSummary, Phase]:
        """The summary on disk and the phase ``event`` leads to (for events of a run that has a record)."""
        previous = self._kept.recorded()
        phase = transition(Phase.NEW if previous is None else Phase(previous.status), event)
        if previous is None:  # pragma: no cover - the transition table allows no event of a new run here
            raise LifecycleError(f"cannot {event.value} a run that has no record in {self.run_dir}")
        return previous, phase

    def _summary_record(self, data: dict[str, Any], now: datetime) -> TrainingSummary:
        return records.summary_record(data, now, store.join(self.run_dir, TrainingSummary.filename))

    def _minimal(self, summary: TrainingSummary, now: datetime) -> MinimalLogging:
        return merge.minimal_record(summary, self._read_or_none(MinimalLogging), now)

    def _history_entries(self) -> list[HistoryEntry]:
        """The history on disk, read once per recorder (a resumed fit continues the file its folder holds)."""
        if self._history is None:
            existing = self._read_or_none(History, "starting it anew")  # a damaged file is replaced: say so once
            self._history = list(existing.entries) if existing is not None else []
        return self._history

    def _read_or_none(self, model: type[ArtifactT], replaced: str | None = None) -> ArtifactT | None:
        """The file on disk, ``None`` when it cannot be read; with ``replaced``, a warning says what happens to it."""
        try:
            return self.read(model)
        except Exception as e:
            if replaced is not None:
                _warn(f"{store.join(self.run_dir, model.filename)} could not be read ({e}); {replaced}")
            return None

    def _write(self, written: Sequence[BaseModel]) -> None:
        for record in written:
            store.write_artifact(self.run_dir, record)
            if isinstance(record, TrainingSummary):
                self._kept.last = record
            elif isinstance(record, ConfigRecord):  # the bytes just written: model_to_json is deterministic
                self.config_sha256 = hashlib.sha256(store.model_to_json(record).encode("utf-8")).hexdigest()


def _warn(message: str) -> None:
    warnings.warn(message, ArcCkptWarning, stacklevel=3)
