"""Where a run's group comes from (cross-validation folds, a sweep): decided once, on rank 0, when a new run's folder
is. No Lightning import.

:func:`run_group` takes the first source that applies:

* ``argument``: ``ArcCheckpointCallback(group="hale-cv", group_index=...)`` (checked by :func:`check_group`); without
  ``group_index`` the index counts this process's runs of that group, in order;
* ``slurm_array``: a SLURM job array (``SLURM_ARRAY_JOB_ID``, index ``SLURM_ARRAY_TASK_ID``);
* ``hydra_multirun``: a Hydra ``-m`` sweep (the sweep folder, index ``hydra.job.num``);
* ``process``: runs started one after another by this process with the same ``root_name``, ``model_name`` and
  ``loss_function`` (a fold loop with zero code); the id is the first run's folder name, the index counts from 0.

``torchelastic`` is never chosen: ``TORCHELASTIC_RUN_ID`` names the rendezvous of one training (the same for every
rank and restart of it), not a sweep of several runs. A new test-only evaluation folder records the ``argument`` group
when one is given, else a singleton ``process`` group of its own (it never joins a training group). A resumed run keeps
the group its summary records (decided by :mod:`arccnet_ckpt.core.runfolder`); no counter advances for it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any, Literal

from arccnet_ckpt import layout
from arccnet_ckpt.records import GroupInfo

__all__ = ["GROUP_ID_MAX_LENGTH", "check_group", "run_group"]

GROUP_ID_MAX_LENGTH = 100
"""Longest ``group=`` id taken."""

_counters: dict[tuple[Any, ...], tuple[str, int]] = {}
"""This process's groups by key: ``(id, how many runs it has started)``. Keyed by process id too, so that a forked
child starts its own count."""


def check_group(group: Any, group_index: Any) -> tuple[str | None, int | None]:
    """The callback's ``group=`` and ``group_index=``, checked.

    Raises:
        ValueError: If ``group`` is not a safe name (letters, digits, ``.``, ``_``, ``-``, at most 100 characters,
            not ``.`` or ``..``), or ``group_index`` is not a non-negative int or is given without ``group``.
    """
    if group is not None and (
        not isinstance(group, str) or not layout.is_safe_name(group) or len(group) > GROUP_ID_MAX_LENGTH
    ):
        raise ValueError(
            "group must be a name of letters, digits, '.', '_' and '-' (at most "
            f"{GROUP_ID_MAX_LENGTH} characters, not '.' or '..'), such as 'hale-cv', got {group!r}"
        )
    if group_index is not None:
        if group is None:
            raise ValueError(f"group_index={group_index!r} needs group= (the group it is an index in)")
        if isinstance(group_index, bool) or not isinstance(group_index, int) or group_index < 0:
            raise ValueError(
                f"group_index must be a non-negative int (the run's place in the group, from 0), got {group_index!r}"
            )
    return group, group_index


def run_group(
    *,
    run_name: str,
    hierarchy_name: str,
    names: tuple[str | None, str, str],
    kind: Literal["training", "evaluation"] = "training",
    group: str | None = None,
    group_index: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> GroupInfo:
    """The group of a new run (see the module's docstring for the order of the sources).

    Args:
        run_name: The new run's folder name.
        hierarchy_name: ``<UTC start>_<model>_<loss>``, the name its folder has (or would have) in the hierarchy.
        names: ``(root_name, model_name, loss_function)``: what a ``process`` group's runs share.
        kind: ``training``, or ``evaluation`` for a test-only Trainer's new folder.
        group: The ``group=`` argument, checked by :func:`check_group`.
        group_index: The ``group_index=`` argument.
        environ: The environment (default ``os.environ``).
    """
    environ = os.environ if environ is None else environ
    if group is not None:
        index = group_index if group_index is not None else _count(("argument", group), group)[1]
        return GroupInfo(id=group, source="argument", index=index)
    # A folder named by the user (dirpath="logs/fold0") is no unique id: the name its run has in the hierarchy is.
    own_id = run_name if layout.parse_run_folder_name(run_name) is not None else hierarchy_name
    if kind == "evaluation":
        return GroupInfo(id=own_id, source="process", index=0)
    found = _slurm_array(environ) or _hydra_multirun()
    if found is not None:
        return found
    group_id, index = _count(("process", *names), own_id)
    return GroupInfo(id=group_id, source="process", index=index)


def _count(key: tuple[Any, ...], first_id: str) -> tuple[str, int]:
    """This process's next index in the group ``key`` (created with ``first_id`` by its first run)."""
    key = (os.getpid(), *key)
    group_id, started = _counters.get(key, (first_id, 0))
    _counters[key] = (group_id, started + 1)
    return group_id, started


def _slurm_array(environ: Mapping[str, str]) -> GroupInfo | None:
    array_job = environ.get("SLURM_ARRAY_JOB_ID", "").strip()
    if not array_job:
        return None
    task = environ.get("SLURM_ARRAY_TASK_ID", "").strip()
    index = int(task) if task.isdigit() else None
    return GroupInfo(id=f"slurm-{layout.sanitize_segment(array_job)}", source="slurm_array", index=index)


def _hydra_multirun() -> GroupInfo | None:
    """A Hydra ``-m`` sweep's group, read from Hydra's config as :mod:`.config_sources` reads it."""
    if "hydra" not in sys.modules:
        return None  # Hydra was never imported: it cannot be running
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hc: Any = HydraConfig.get()
    if getattr(hc.get("mode"), "name", None) != "MULTIRUN":
        return None
    sweep_dir = str(hc.sweep.dir).replace("\\", "/").rstrip("/")
    parts = [part for part in sweep_dir.split("/") if part not in ("", ".")]
    num = hc.job.get("num")
    return GroupInfo(
        id="hydra-" + layout.sanitize_segment("_".join(parts[-2:]), max_length=GROUP_ID_MAX_LENGTH - 6),
        source="hydra_multirun",
        index=int(num) if isinstance(num, int) else None,
    )
