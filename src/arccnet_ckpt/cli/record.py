"""One run as the command line shows it: the stable JSON record of ``ls``, ``best`` and ``show``
(:func:`run_record`), the status shown (:func:`shown_status`), and a run read whole for ``show``, ``diff`` and
``report`` (:func:`loaded`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from arccnet_ckpt.cli.select import NoMatch
from arccnet_ckpt.core.lifecycle import status_of
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.runs import Run


def run_record(run: Run, now: datetime, stale_after: timedelta) -> dict[str, Any]:
    """The stable JSON shape of one run in ``ls``/``best``/``show`` output (version :data:`output.JSON_VERSION`).

    Keys: ``run`` (folder name), ``path``, ``root_name``, ``kind``, ``status`` (as recorded), ``stale``,
    ``start_time``, ``end_time``, ``updated_at``, ``duration_seconds``, ``model_name``, ``loss_function``,
    ``epochs``, ``global_step``, ``monitor``, ``mode``, ``best_value``, ``best_epoch``, ``early_stopping_reason``,
    ``test_results``, ``group`` (``{id, source, index}`` as recorded, ``null`` for a run without one); missing
    values are ``null``.
    """
    summary = run.summary
    if summary is None:  # a run that stopped before its summary: what the other files say
        return {
            **dict.fromkeys(_RECORD_KEYS),
            "run": run.name,
            "path": run.path,
            "root_name": run.root_name,
            "kind": run.kind,
            "status": run.minimal.status if run.minimal is not None else None,  # as recorded: null when no file does
            "stale": False,
            "start_time": run.start_time,
            "model_name": run.model_name,
            "loss_function": run.loss_function,
            "test_results": {},
        }
    stopper = next((s.reason for s in summary.early_stopping if s.reason != "NOT_STOPPED"), None)
    return {
        "run": run.name,
        "path": run.path,
        "root_name": summary.root_name or run.root_name,
        "kind": summary.kind,
        "status": summary.status,
        "stale": status_of(summary, now, stale_after) == "stale",
        "start_time": summary.start_time,
        "end_time": summary.end_time,
        "updated_at": summary.updated_at,
        "duration_seconds": summary.duration_seconds,
        # An "unknown" name is looked for in the other files and the folder name; found nowhere, it stays "unknown".
        "model_name": run.model_name or summary.model_name,
        "loss_function": run.loss_function or summary.loss_function,
        "epochs": summary.num_epochs_trained,
        "global_step": summary.global_step,
        "monitor": summary.monitor,
        "mode": summary.mode,
        "best_value": summary.best_metric_value,
        "best_epoch": summary.best_epoch,
        "early_stopping_reason": stopper,
        "test_results": summary.test_results,
        "group": summary.group.model_dump() if summary.group is not None else None,
    }


_RECORD_KEYS = (
    "run",
    "path",
    "root_name",
    "kind",
    "status",
    "stale",
    "start_time",
    "end_time",
    "updated_at",
    "duration_seconds",
    "model_name",
    "loss_function",
    "epochs",
    "global_step",
    "monitor",
    "mode",
    "best_value",
    "best_epoch",
    "early_stopping_reason",
    "test_results",
    "group",
)


def shown_status(record: dict[str, Any]) -> str:
    """The record's status as :func:`~arccnet_ckpt.core.lifecycle.status_of` decided it (its ``stale`` flag)."""
    return "stale" if record["stale"] else (record["status"] or "incomplete")


def loaded(run: Run, warn: Callable[[str], None]) -> Run:
    """``run`` with every file read.

    An invalid summary is a problem (exit 1) naming the file and the field; any other file that cannot be read is a
    warning (given to ``warn``) naming it, and the run is shown with what can be read.

    Raises:
        NoMatch: If the summary is invalid, or the run folder cannot be read at all.
    """
    from arccnet_ckpt.runs import load_run

    try:
        return load_run(run.path)
    except ArcCkptError as e:
        partial = Run(run.path)
        try:
            partial.summary  # noqa: B018 - the record a run is shown by: it must be valid
        except ArcCkptError:
            raise NoMatch(str(e)) from e
        for problem in partial.unreadable:
            warn(f"warning: {problem}; showing what can be read")
        if not partial.unreadable:  # not a file: no run folder, no file at all
            raise NoMatch(str(e)) from e
        return partial
