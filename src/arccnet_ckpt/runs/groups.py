"""Groups of runs (cross-validation folds, a sweep): :func:`find_groups`, :func:`load_group` and :class:`Group`.

A group is read from its runs' folders, never from a shared file: every run records ``group`` (``{id, source,
index}``) in its ``training_summary.json``, and the runs that record the same ``id`` are one group. A run that records
none (a legacy run) is a group of its own, named after its folder; so is a run alone under its id. Those are
``singleton`` groups: :func:`find_groups` returns them flagged, and ``arccnet-ckpt groups`` shows them only with
``--all`` (a run alone in its group is an ordinary run).

The rules, each in one place:

- :func:`group_runs`: which runs are one group, and their order (index, then start time);
- :mod:`~arccnet_ckpt.runs.group_stats`: which runs the statistics count, and the statistics.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from arccnet_ckpt.core.lifecycle import DEFAULT_STALE_AFTER
from arccnet_ckpt.errors import GroupNotFoundError
from arccnet_ckpt.layout import resolve_data_folder
from arccnet_ckpt.runs.find import run_matches, scan_data_folder
from arccnet_ckpt.runs.group_stats import GroupSummary, summarise

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from arccnet_ckpt.runs.run import Run
    from arccnet_ckpt.store import PathLike

_FAR_FUTURE = datetime.max.replace(tzinfo=timezone.utc)


class Group:
    """The runs that record one group id, in index order (equal or missing indices by start time).

    Attributes:
        id: The group's id (the run folder's name for a run that records no group).
        source: Where the group came from (``argument``, ``slurm_array``, ``torchelastic``, ``hydra_multirun``,
            ``process``), or ``None`` for a run that records no group.
        runs: The runs, in the group's order.

    Example:
        >>> group = load_group("hale-cv", "/ARCAFF/data")  # doctest: +SKIP
        >>> summary = group.summary()  # doctest: +SKIP
        >>> summary.test_metrics["test_f1"].mean, summary.test_metrics["test_f1"].std  # doctest: +SKIP
        (0.812, 0.013)
    """

    __slots__ = ("id", "runs", "source")

    def __init__(self, id: str, source: str | None, runs: list[Run]) -> None:  # noqa: A002 - the record's name
        self.id = id
        self.source = source
        self.runs = runs

    @property
    def singleton(self) -> bool:
        """Whether the group holds one run (shown as an ordinary run by the command line)."""
        return len(self.runs) == 1

    @property
    def start_time(self) -> datetime | None:
        """The earliest start time of its runs."""
        times = [t for run in self.runs if (t := run.start_time) is not None]
        return min(times) if times else None

    def summary(self, now: datetime | None = None, stale_after: timedelta = DEFAULT_STALE_AFTER) -> GroupSummary:
        """The group's statistics (:class:`~arccnet_ckpt.runs.group_stats.GroupSummary`), computed from the runs'
        files now (each counted run's ``classification_report.json`` is read).

        Args:
            now: The time the runs' statuses are judged at (default: now).
            stale_after: How long a running run may be silent before it is stale (and left out as such).
        """
        return summarise(self.id, self.source, self.runs, now or datetime.now(timezone.utc), stale_after)

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs)

    def __repr__(self) -> str:
        return f"Group({self.id!r}, source={self.source!r}, runs={len(self.runs)})"


def group_runs(runs: Iterable[Run]) -> list[Group]:
    """The groups of ``runs``: one per recorded group id, one per run that records none; sorted by their first
    start time (groups without one last), each group's runs in index order, then by start time."""
    by_id: dict[str, list[Run]] = {}
    alone: list[Run] = []
    for run in runs:
        group = run.group
        if group is None:
            alone.append(run)
        else:
            by_id.setdefault(group.id, []).append(run)
    groups = [Group(run.name, None, [run]) for run in alone]
    for group_id, members in by_id.items():
        members.sort(key=_run_order)
        first = members[0].group
        groups.append(Group(group_id, first.source if first is not None else None, members))
    groups.sort(key=lambda g: (g.start_time or _FAR_FUTURE, g.id))
    return groups


def find_groups(
    data_folder: PathLike | None = None,
    root_name: str | None = None,
    model_name: str | None = None,
    loss_function: str | None = None,
    status: str | None = None,
    kind: str | None = "training",
) -> list[Group]:
    """The groups under ``<data_folder>/checkpoints``, oldest first; singletons (a run alone) included, flagged.

    The filters are :func:`~arccnet_ckpt.runs.find_runs`' and select groups: a group is returned, with every one
    of its runs, when at least one of its runs passes them (``status="failed"``: the groups with a failed run).
    Only ``training_summary.json`` is read per run.

    Args:
        data_folder: As for :func:`~arccnet_ckpt.runs.find_runs`.
        root_name: Only the runs under this root name.
        model_name: Groups with a run of this model.
        loss_function: Groups with a run of this loss function.
        status: Groups with a run of this status.
        kind: Groups with a run of this kind (``training`` by default; ``None`` for both).

    Raises:
        RunNotFoundError: If the local data folder does not exist.
        ValueError: If ``root_name``, ``status`` or ``kind`` is not allowed.
    """
    runs = scan_data_folder(data_folder, root_name, status=status, kind=kind, caller="find_groups")
    now = datetime.now(timezone.utc)
    return [
        group
        for group in group_runs(runs)
        if any(run_matches(run, now, model_name, loss_function, status, kind) for run in group.runs)
    ]


def load_group(group_id: str, data_folder: PathLike | None = None, root_name: str | None = None) -> Group:
    """The group ``group_id``: every run under the data folder that records it (or the run of that name, for a run
    that records no group).

    Args:
        group_id: The id, as ``find_groups`` and ``arccnet-ckpt groups`` list it.
        data_folder: As for :func:`~arccnet_ckpt.runs.find_runs`.
        root_name: Only the runs under this root name.

    Raises:
        GroupNotFoundError: If no run records ``group_id``; the message says how to list the groups.
        RunNotFoundError: If the local data folder does not exist.
    """
    runs = scan_data_folder(data_folder, root_name, status=None, kind=None, caller="load_group")
    return pick_group(runs, group_id, resolve_data_folder(data_folder))


def pick_group(runs: Iterable[Run], group_id: str, where: str) -> Group:
    """The group ``group_id`` among ``runs``; shared with the command line.

    Raises:
        GroupNotFoundError: If no run records it (``where`` names what was searched).
    """
    runs = list(runs)
    members = [run for run in runs if (g := run.group) is not None and g.id == group_id]
    if members:
        return group_runs(members)[0]
    alone = [run for run in runs if run.group is None and run.name == group_id]
    if alone:
        return Group(group_id, None, alone[:1])
    raise GroupNotFoundError(
        f"no group {group_id!r} under {where}: no run records that id; list the groups with "
        "`arccnet-ckpt groups --all` or find_groups()"
    )


def _run_order(run: Run) -> tuple[bool, int, datetime]:
    group = run.group
    index = group.index if group is not None else None
    return (index is None, index or 0, run.start_time or _FAR_FUTURE)
