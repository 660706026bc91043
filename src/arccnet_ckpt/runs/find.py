"""Finding runs: :func:`load_run` (one folder, every file read), :func:`find_runs` (every run under a data folder,
filtered) and :func:`best_run` (the run with the best value of a metric, in the metric's direction).
"""

from __future__ import annotations

import os
import warnings
from datetime import datetime, timezone
from typing import get_args

from arccnet_ckpt import store
from arccnet_ckpt.core.lifecycle import READ_STATUSES
from arccnet_ckpt.errors import ArtifactError, RunNotFoundError
from arccnet_ckpt.layout import resolve_data_folder, root_folder, validate_root_name
from arccnet_ckpt.records import RunKind
from arccnet_ckpt.runs.direction import common_metric_mode, metric_mode
from arccnet_ckpt.runs.run import FILES, Run
from arccnet_ckpt.runs.scan import scan_runs
from arccnet_ckpt.store import PathLike

_KINDS: tuple[str, ...] = get_args(RunKind)


def load_run(path: PathLike) -> Run:
    """Read and validate every file of one run folder.

    Args:
        path: The run folder: a local path or an fsspec URL (``s3://bucket/data/checkpoints/.../<run>``), or a
            ``.ckpt`` inside it (found by the folder that holds it, so a run moved or synced elsewhere still loads).

    Returns:
        The run, with each file present validated; a missing file is ``None``.

    Raises:
        RunNotFoundError: If the folder does not exist, is a file, or holds none of the JSON files.
        ArtifactError: If a file is invalid; the message names the file and the field.

    Example:
        >>> run = load_run("data/checkpoints/cutouts/hale/2025-02-12_14-30-45_resnet18_focal")  # doctest: +SKIP
        >>> run.summary.best_epoch, run.notes  # doctest: +SKIP
        (42, [])
    """
    text = os.fspath(path)
    if text.endswith(".ckpt") and (store.is_remote(text) or store.is_file(text)):
        path = store.dirname(text)  # a checkpoint: its run is the folder that holds it, wherever that moved
    run = Run(path)
    _require_folder(run.path)
    run._files.load_all(strict=True)
    if all(run._files.loaded.get(f) is None for f in FILES):
        if not store.is_remote(run.path) and store.holds_temporary(run.path, FILES):
            raise RunNotFoundError(
                f"{run.path}: an incomplete run: it holds only the temporary file of an interrupted first write "
                f"({store.TMP_PREFIX}*), so it was killed at its start and has nothing to load"
            )
        raise RunNotFoundError(
            f"{run.path}: not a run folder: it holds none of {', '.join(FILES)}; "
            "to list the runs under a folder, use find_runs(data_folder, root_name)"
        )
    return run


def find_runs(
    data_folder: PathLike | None = None,
    root_name: str | None = None,
    model_name: str | None = None,
    loss_function: str | None = None,
    status: str | None = None,
    kind: str | None = "training",
) -> list[Run]:
    """List the runs under ``<data_folder>/checkpoints``, oldest first.

    Only ``training_summary.json`` is read per run (``config.json``/``minimal_logging.json`` for runs without one);
    the other files are read when first used. A folder that cannot be read is skipped with a warning; folders whose
    name starts with ``.`` are ignored.

    Args:
        data_folder: Local folder or fsspec URL; ``None`` means ``$ARCCNET_DATA_FOLDER``, else ``$ARCAFF_DATA_FOLDER``,
            else ``./data``.
        root_name: Only the runs directly in ``checkpoints/<root_name>/`` (e.g. ``"cutouts/hale"``); ``None`` searches
            every root name at any depth.
        model_name: Keep runs whose recorded model name is exactly this.
        loss_function: Keep runs whose recorded loss function is exactly this.
        status: Keep runs with this :attr:`Run.status` (``running``, ``completed``, ``failed``, ``interrupted``,
            ``stale`` or ``incomplete``).
        kind: ``"training"`` (the default: folders made by ``fit``), ``"evaluation"`` (folders made by a test-only
            Trainer), or ``None`` for both.

    Returns:
        The runs sorted by start time, oldest first (runs without one last).

    Raises:
        RunNotFoundError: If the local data folder does not exist.
        ValueError: If ``root_name`` or ``status`` is not allowed.

    Example:
        >>> runs = find_runs("/ARCAFF/data", "flares/binary_classification", status="completed")  # doctest: +SKIP
        >>> [r.metric("test_f1") for r in runs]  # doctest: +SKIP
        [0.82, 0.851]
    """
    runs = scan_data_folder(data_folder, root_name, status=status, kind=kind, caller="find_runs")
    now = datetime.now(timezone.utc)
    return [run for run in runs if run_matches(run, now, model_name, loss_function, status, kind)]


def scan_data_folder(
    data_folder: PathLike | None, root_name: str | None, *, status: str | None, kind: str | None, caller: str
) -> list[Run]:
    """Every run under ``<data_folder>/checkpoints`` (or its ``root_name``), unfiltered, after checking the filters'
    values; a folder that cannot be read is skipped with a warning that starts with ``caller``. Shared by
    :func:`find_runs` and :func:`~arccnet_ckpt.runs.groups.find_groups`.

    Raises:
        RunNotFoundError: If the local data folder does not exist.
        ValueError: If ``root_name``, ``status`` or ``kind`` is not allowed.
    """
    base = resolve_data_folder(data_folder)
    if root_name is not None:
        root_name = validate_root_name(root_name)
    if status is not None and status not in READ_STATUSES:
        raise ValueError(f"status must be one of {', '.join(map(repr, READ_STATUSES))}, got {status!r}")
    if kind is not None and kind not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, _KINDS))} or None for both, got {kind!r}")
    if not store.is_remote(base) and not store.is_dir(base):
        raise RunNotFoundError(
            f"data folder {base!r} does not exist: pass data_folder=, or set $ARCCNET_DATA_FOLDER or "
            "$ARCAFF_DATA_FOLDER (default ./data)"
        )
    folder = root_folder(base, root_name)
    runs, problems = scan_runs(folder, root_name or "", recursive=root_name is None)
    for path, problem in problems:
        warnings.warn(f"{caller}: skipping {path}: {problem}", stacklevel=3)
    return runs


def run_matches(
    run: Run,
    now: datetime,
    model_name: str | None,
    loss_function: str | None,
    status: str | None,
    kind: str | None,
) -> bool:
    """Whether ``run`` passes :func:`find_runs`' filters (``None``: no filter), its status judged at ``now``."""
    return (
        (model_name is None or run.model_name == model_name)
        and (loss_function is None or run.loss_function == loss_function)
        and (status is None or run.status_at(now) == status)
        and (kind is None or run.kind == kind)
    )


def best_run(
    data_folder: PathLike | None = None,
    root_name: str | None = None,
    metric: str = "test_f1",
    mode: str | None = None,
    *,
    model_name: str | None = None,
    loss_function: str | None = None,
    status: str | None = None,
    kind: str | None = "training",
) -> Run | None:
    """The run with the best value of ``metric`` (see :meth:`Run.metric`), among :func:`find_runs`' results.

    Args:
        data_folder: As for :func:`find_runs`.
        root_name: As for :func:`find_runs`.
        metric: The number to compare, e.g. ``"test_f1"``, ``"test_loss"`` or ``"best_val_f1"``.
        mode: ``"max"`` or ``"min"``; ``None`` (the default) decides as every API of the package does
            (:func:`~arccnet_ckpt.runs.direction.metric_mode`): the runs' recorded mode when ``metric`` is of the
            monitored kind (``test_loss`` for a run that monitored ``val_loss``), else ``min`` for losses, errors and
            times and ``max`` for the rest.
        model_name: As for :func:`find_runs`.
        loss_function: As for :func:`find_runs`.
        status: As for :func:`find_runs`.
        kind: As for :func:`find_runs` (training runs by default).

    Returns:
        The best run (the oldest among equals), or ``None`` if no run records ``metric``.

    Raises:
        ValueError: If ``mode`` is neither ``"min"`` nor ``"max"``.

    Example:
        >>> best_run("/ARCAFF/data", "flares/binary_classification", "test_loss")  # the lowest loss  # doctest: +SKIP
        Run('2025-02-12_14-30-45_resnet18_weighted_bce', root_name='flares/binary_classification', ...)
    """
    if mode is not None:
        metric_mode(metric, explicit=mode)  # a bad mode fails before any folder is read
    runs = find_runs(
        data_folder, root_name, model_name=model_name, loss_function=loss_function, status=status, kind=kind
    )
    scored: list[tuple[float, Run]] = []
    for run in runs:
        try:
            value = run.metric(metric)
        except ArtifactError as e:
            warnings.warn(f"best_run: skipping {run.path}: {e}", stacklevel=2)
            continue
        if value is not None:
            scored.append((value, run))
    if not scored:
        return None
    direction = common_metric_mode([run for _, run in scored], metric, explicit=mode)
    best, best_value = scored[0][1], scored[0][0]
    for value, run in scored[1:]:
        if value > best_value if direction == "max" else value < best_value:
            best, best_value = run, value
    return best


def _require_folder(path: str) -> None:
    if store.is_file(path):
        raise RunNotFoundError(f"{path}: is a file, not a run folder; pass the folder that holds it")
    if not store.is_dir(path):
        raise RunNotFoundError(f"{path}: no such run folder")
