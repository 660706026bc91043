"""Reading run folders back: :func:`load_run`, :func:`find_runs`, :func:`best_run` and :class:`Run`.

Nothing here imports torch or lightning; only :meth:`Run.load_model` does, through the module class it is given.
:func:`find_runs` reads one file per run (``training_summary.json``) and loads the others on first use, so listing
thousands of runs stays fast; :func:`load_run` reads and validates every file at once.

Where each part lives:

- ``run``: :class:`Run`, one run folder over the reader (:mod:`arccnet_ckpt.records.reader`, where the JSON is read
  and a legacy file upgraded);
- ``find``: :func:`load_run`, :func:`find_runs`, :func:`best_run`;
- ``groups``: :func:`find_groups`, :func:`load_group` and :class:`Group` (the runs that record one group id);
- ``group_stats``: :class:`GroupSummary`, a group's statistics over its completed runs;
- ``scan``: :func:`scan_runs`, the scan of a folder for run folders (local or fsspec);
- ``checkpoints``: the best checkpoint, the ``arccnet_ckpt`` entry of a checkpoint, its safe loading;
- ``query``: plain-data views shared by the command line and the report, and :func:`~arccnet_ckpt.runs.query.
  metric_mode`, where a metric's direction (min or max) is decided.
"""

from __future__ import annotations

from arccnet_ckpt.errors import GroupNotFoundError, RunNotFoundError
from arccnet_ckpt.runs.checkpoints import (
    CHECKPOINT_ENTRY_VERSION,
    CHECKPOINT_KEY,
    config_digest,
    load_checkpoint_safely,
    read_checkpoint_entry,
)
from arccnet_ckpt.runs.find import best_run, find_runs, load_run
from arccnet_ckpt.runs.group_stats import GroupSummary, Stats
from arccnet_ckpt.runs.groups import Group, find_groups, load_group
from arccnet_ckpt.runs.run import Run
from arccnet_ckpt.runs.scan import MAX_SCAN_DEPTH, scan_runs

__all__ = [
    "CHECKPOINT_ENTRY_VERSION",
    "CHECKPOINT_KEY",
    "MAX_SCAN_DEPTH",
    "Group",
    "GroupNotFoundError",
    "GroupSummary",
    "Run",
    "RunNotFoundError",
    "best_run",
    "config_digest",
    "find_groups",
    "find_runs",
    "load_checkpoint_safely",
    "load_group",
    "load_run",
    "read_checkpoint_entry",
    "scan_runs",
    "Stats",
]
