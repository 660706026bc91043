"""Where a metric's direction (min or max) is decided: :func:`metric_mode`, the one rule, which every ranking
(``best_run``, ``arccnet-ckpt best``, ``prune --keep-best``), comparison (``diff``, the report's colours),
``history.best.X`` and legacy checkpoint pick calls.

No torch, no Lightning: it works on names and the runs' recorded monitor and mode.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from arccnet_ckpt.errors import ArcCkptError, ArcCkptWarning

if TYPE_CHECKING:
    from arccnet_ckpt.runs import Run


MINIMISED_WORDS: frozenset[str] = frozenset(
    {
        "loss",
        "error",
        "err",
        "mae",
        "mse",
        "rmse",
        "nll",
        "perplexity",
        "brier",
        "ece",
        "fpr",
        "fnr",
        "time",
        "seconds",
        "duration",
    }
)
"""The name rule: a metric whose name holds one of these words (``val_loss``, ``test_error_rate``, ``brier``,
``duration_seconds``) is minimised; every other (F1, accuracy, precision, AUROC...) is maximised."""

_MONITORED_ALIASES = ("best_metric_value", "best")
_STAGES = ("best_", "train_", "val_", "valid_", "validation_", "test_")
_SUFFIXES = ("_epoch", "_step")
_KEY_PREFIXES = ("history.", "test_results.", "minimal.", "report.")


def metric_base(name: str) -> str:
    """A metric's name without its stage and aggregation: ``best_val_f1``, ``test_f1``, ``val/f1`` and
    ``train_f1_epoch`` are all ``f1``; ``test_f1/dataloader_idx_1`` is ``f1`` too."""
    text = name.rsplit(".", 1)[-1] if name.startswith(_KEY_PREFIXES) else name  # history.best.val_f1: val_f1
    text = text.lower().split("/dataloader_idx_")[0].replace("/", "_").replace("-", "_")
    for prefix in _STAGES:  # in order: best_ comes before the stage (best_val_f1)
        text = text.removeprefix(prefix)
    for suffix in _SUFFIXES:
        text = text.removesuffix(suffix)
    return text


def metric_mode(
    name: str, monitor: str | None = None, mode: str | None = None, *, explicit: str | None = None
) -> Literal["min", "max"]:
    """Whether a smaller (``"min"``) or a larger (``"max"``) value of metric ``name`` is better: where a metric's
    direction is decided, THE rule, used by ``best_run``, ``arccnet-ckpt best``, ``prune --keep-best``, ``diff``,
    ``history.best.X``, the report's colours and the pick among a legacy run's ``best-*.ckpt`` files.

    1. ``explicit`` (the caller's ``mode=``/``--mode``) wins;
    2. a metric of the monitored kind takes the run's recorded ``mode``: the same name once stripped of its stage and
       aggregation (:func:`metric_base`), so with ``monitor="val_error", mode="min"`` the metrics ``val_error``,
       ``best_val_error``, ``test_error``, ``history.best.val_error`` and ``best_metric_value`` are all minimised;
    3. else the name rule (:data:`MINIMISED_WORDS`): ``test_loss``, ``val_mae``... are minimised, the rest maximised.

    Raises:
        ValueError: If ``explicit`` is neither ``None``, ``"min"`` nor ``"max"``.
    """
    if explicit is not None:
        if explicit not in ("min", "max"):
            raise ValueError(
                f"mode must be 'min' or 'max', got {explicit!r} (or None: from the run's monitor, else the name)"
            )
        return "min" if explicit == "min" else "max"
    if monitor and name.rsplit(".", 1)[-1] in _MONITORED_ALIASES:
        name = monitor  # best_metric_value (and the `best` column) is the monitored metric's best value
    if monitor and mode in ("min", "max") and metric_base(name) == metric_base(monitor):
        return "min" if mode == "min" else "max"
    words = metric_base(name).replace(".", "_").split("_")
    return "min" if any(w in MINIMISED_WORDS for w in words) else "max"


def recorded_monitor(run: Run) -> tuple[str | None, str | None]:
    """The run's monitored metric and its mode: the summary's, else the history's, else ``minimal_logging.json``'s
    metric name; ``(None, None)`` when no readable file records them."""
    for read in (lambda: run.summary, lambda: run.history):
        try:
            record = read()
        except ArcCkptError:
            continue
        if record is not None and record.monitor:
            return record.monitor, record.mode
    try:
        minimal = run.minimal
    except ArcCkptError:
        return None, None
    return (minimal.best_metric_name, None) if minimal is not None else (None, None)


def run_metric_mode(run: Run, name: str, *, explicit: str | None = None) -> Literal["min", "max"]:
    """:func:`metric_mode` of ``name`` for one run, with the run's recorded monitor and mode."""
    return metric_mode(name, *recorded_monitor(run), explicit=explicit)


def common_metric_mode(runs: Iterable[Run], name: str, *, explicit: str | None = None) -> Literal["min", "max"]:
    """:func:`metric_mode` of ``name`` for ranking ``runs`` against each other.

    The runs' own directions (:func:`run_metric_mode`) when they agree; the name rule when they disagree (two runs
    that monitored the same metric in opposite modes), with a warning.
    """
    if explicit is not None:
        return metric_mode(name, explicit=explicit)
    modes = {run_metric_mode(run, name) for run in runs}
    if len(modes) == 1:
        return modes.pop()
    rule = metric_mode(name)
    if len(modes) > 1:
        warnings.warn(
            f"the runs monitored {name!r} in opposite modes (min and max); ranking by the name rule ({rule}); "
            "pass mode= (--mode) to choose",
            ArcCkptWarning,
            stacklevel=2,
        )
    return rule


def better(name: str, delta: float, monitor: str | None = None, mode: str | None = None) -> bool | None:
    """Whether a change of ``delta`` in metric ``name`` is an improvement; ``None`` when it is zero or not finite."""
    if not math.isfinite(delta) or delta == 0:
        return None
    return (delta > 0) == (metric_mode(name, monitor, mode) == "max")


# ------------------------------------------------------------------------------------------------ comparisons
