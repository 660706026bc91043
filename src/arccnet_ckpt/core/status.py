"""Where a run's status is decided on read: :func:`status_of` is the one status every reader shows (``Run.status``,
``ls``, ``show``, ``best``, ``verify``, ``prune`` and the HTML report), and :func:`is_stale` says whether a run
recorded as ``running`` is stale (its process most likely died without writing an end).

No torch, no Lightning: it reads the summary and, for a live check, ``/proc`` and ``os.kill(pid, 0)``.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta, timezone

from arccnet_ckpt.records import TrainingSummary

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
