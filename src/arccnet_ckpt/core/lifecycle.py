"""Where a run's status is decided, written (transitions) and read (status_of).

* **Written:** a run's life cycle is one state machine: :class:`Phase` (every phase but ``NEW`` is the ``status`` of
  ``training_summary.json``), :class:`Event`, :data:`TRANSITIONS` and :func:`transition`, which
  :class:`~arccnet_ckpt.core.recorder.RunRecorder` calls before each write::

    new ──start──▶ running ──finish──▶ completed
     │               │    ──fail──────▶ failed
     └──evaluate──▶  │    ──interrupt─▶ interrupted
                     ▲
    completed | failed | interrupted | running ──resume──▶ running      (a requeued or resumed fit)
    any phase but new ──test──▶ the same phase                          (test results added)
    running ──validate──▶ running                                       (history.json entry and heartbeat)

* **Read:** :func:`status_of` is the one status every reader shows (``Run.status``, ``ls``, ``show``, ``best``,
  ``verify``, ``prune`` and the HTML report), one of :data:`READ_STATUSES`; :func:`is_stale` says whether a run
  recorded as ``running`` is stale (its process most likely died without writing an end).

No torch, no Lightning: it reads the summary and, for a live check, ``/proc`` and ``os.kill(pid, 0)``.
"""

from __future__ import annotations

import enum
import os
import socket
from datetime import datetime, timedelta, timezone

from arccnet_ckpt.errors import LifecycleError
from arccnet_ckpt.records import TrainingSummary

# ------------------------------------------------------------------------------------------ written: transitions


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


def is_interruption(exception: BaseException) -> bool:
    """Ctrl-C (``KeyboardInterrupt``) or SIGTERM (Lightning's ``SIGTERMException`` is a ``SystemExit``): a run
    ended this way is ``interrupted`` (:attr:`Event.INTERRUPT`), any other exception makes it ``failed``."""
    return isinstance(exception, (KeyboardInterrupt, SystemExit))


# --------------------------------------------------------------------------------------------- read: status_of

DEFAULT_STALE_AFTER = timedelta(hours=1)
"""How long a ``running`` run may be silent (and longer than three of its epochs) before it is stale."""

READ_STATUSES = ("running", "stale", "completed", "failed", "interrupted", "incomplete")
"""Every status a reader shows: the four recorded ones, ``stale`` and ``incomplete`` (no file records one)."""


def status_of(
    summary: TrainingSummary | None,
    now: datetime,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    *,
    recorded: str | None = None,
) -> str:
    """The status a reader shows for a run: one of :data:`READ_STATUSES`.

    Args:
        summary: The run's ``training_summary.json`` (``None`` when missing or unreadable).
        now: The moment to judge staleness at (UTC).
        stale_after: How long a ``running`` run may be silent before it is stale (see :func:`is_stale`).
        recorded: The status another file records (``minimal_logging.json``), used when there is no summary.

    Returns:
        ``stale`` for a ``running`` run whose process is gone, the recorded status otherwise, and ``incomplete``
        when no file records one (a run that stopped before its first record).
    """
    if summary is None:
        return recorded if recorded in READ_STATUSES else "incomplete"
    if is_stale(summary, now, stale_after):
        return "stale"
    return summary.status


def is_stale(summary: TrainingSummary | None, now: datetime, stale_after: timedelta) -> bool:
    """A ``running`` run that is silent for longer than ``stale_after`` and than three of its epochs, and whose
    process is not alive on this host.

    The silence is measured from the latest of its heartbeat (``updated_at``, renewed at each validation), its start
    and the start of its latest fit (a resume): a first epoch longer than ``stale_after`` is not silence yet. A run
    that records its ``pid`` and ``hostname`` and whose process is alive here is never stale, however long it is
    silent. A SIGKILLed or lost job stays ``running`` on disk forever: this is how it is told from a live one.
    """
    if summary is None or summary.status != "running":
        return False
    beat = max(
        moment
        for moment in (summary.updated_at, summary.start_time, summary.resumes[-1].time if summary.resumes else None)
        if moment is not None
    )
    if _process_alive_here(summary, beat):
        return False
    allowed = stale_after
    if summary.num_epochs_trained > 0 and summary.updated_at is not None:
        per_epoch = (summary.updated_at - summary.start_time) / summary.num_epochs_trained
        allowed = max(allowed, 3 * per_epoch)
    return now - beat > allowed


def _process_alive_here(summary: TrainingSummary, beat: datetime) -> bool:
    """Whether the process the summary records (``pid``, ``hostname``) runs on this host.

    Read with ``getattr``: summaries written before these fields existed have neither. A process that started after
    the run's last sign of life holds a recycled pid, not the run (checked where ``/proc`` tells start times).
    """
    pid, host = getattr(summary, "pid", None), getattr(summary, "hostname", None)
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not host or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        pass  # alive, but another user's
    except (ProcessLookupError, OSError, OverflowError):
        return False
    started = _process_start(pid)
    return started is None or started <= beat + timedelta(seconds=2)


def _process_start(pid: int) -> datetime | None:
    """When process ``pid`` started, from ``/proc`` (Linux); ``None`` where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith(b"btime "))
        ticks = int(fields[19])  # field 22 of stat(5); fields[0] is field 3, the state
        return datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"), timezone.utc)
    except (OSError, ValueError, IndexError, StopIteration):
        return None
