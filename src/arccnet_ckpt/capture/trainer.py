"""What the Trainer, its optimizers, schedulers and callbacks, and the LightningModule say about a run.

* settings, once per fit: :func:`trainer_settings`, :func:`optimizer_infos`, :func:`scheduler_infos`,
  :func:`callback_infos`, :func:`model_info`, :func:`global_seed`;
* state, as it changes: :func:`early_stopping_state`, :func:`scalar_metrics` and :func:`metrics_with_prefix` (one
  device read per device), :func:`raw_learning_rates` (every step, cheap) named later by :func:`learning_rates`.

Objects are read by attribute, so nothing here imports Lightning; torch only where a tensor is met.
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from arccnet_ckpt.capture.jsonsafe import class_path, to_jsonable


def trainer_settings(trainer: Any) -> dict[str, Any]:
    """The Trainer settings listed in ``TrainerSettings``, read defensively."""
    accelerator = getattr(trainer, "accelerator", None)
    strategy = getattr(trainer, "strategy", None)
    fit_loop = getattr(trainer, "fit_loop", None)
    return to_jsonable(
        {
            "max_epochs": getattr(fit_loop, "max_epochs", None),
            "min_epochs": getattr(fit_loop, "min_epochs", None),
            "max_steps": getattr(trainer, "max_steps", None),
            "precision": str(getattr(trainer, "precision", None)),
            "accumulate_grad_batches": getattr(trainer, "accumulate_grad_batches", None),
            "gradient_clip_val": getattr(trainer, "gradient_clip_val", None),
            "check_val_every_n_epoch": getattr(trainer, "check_val_every_n_epoch", None),
            "val_check_interval": getattr(trainer, "val_check_interval", None),
            "accelerator": _short_name(accelerator, "Accelerator"),
            "strategy": getattr(strategy, "strategy_name", None) or _short_name(strategy, "Strategy"),
            "num_devices": getattr(trainer, "num_devices", None),
            "num_nodes": getattr(trainer, "num_nodes", None),
            "deterministic": _deterministic(),
        }
    )


def _deterministic() -> bool | str:
    """What ``Trainer(deterministic=...)`` turned on: Lightning sets torch's global switch when the Trainer is built
    (``True`` -> on, ``"warn"`` -> on with warnings only), so the switch is the setting, read through torch's API."""
    import torch

    if not torch.are_deterministic_algorithms_enabled():
        return False
    return "warn" if torch.is_deterministic_algorithms_warn_only_enabled() else True


def _short_name(obj: Any, suffix: str) -> str | None:
    if obj is None:
        return None
    name = type(obj).__name__
    return (name[: -len(suffix)] if name.endswith(suffix) and name != suffix else name).lower()


def optimizer_infos(trainer: Any) -> list[dict[str, Any]]:
    """Class, defaults and per-group hyperparameters of each optimizer."""
    infos = []
    for opt in getattr(trainer, "optimizers", []) or []:
        groups = [{k: v for k, v in g.items() if k != "params"} for g in getattr(opt, "param_groups", [])]
        infos.append(
            {
                "class_path": class_path(opt),
                "settings": to_jsonable({"defaults": getattr(opt, "defaults", {}), "param_groups": groups}),
            }
        )
    return infos


def scheduler_infos(trainer: Any) -> list[dict[str, Any]]:
    """Class and settings of each learning-rate scheduler."""
    infos = []
    for config in getattr(trainer, "lr_scheduler_configs", []) or []:
        scheduler = config.scheduler
        try:
            state = {k: v for k, v in scheduler.state_dict().items() if not k.startswith("_")}
        except Exception:
            state = {}
        settings = {
            "interval": config.interval,
            "frequency": config.frequency,
            "monitor": config.monitor,
            "name": config.name,
            "state": state,
        }
        infos.append({"class_path": class_path(scheduler), "settings": to_jsonable(settings)})
    return infos


_EARLY_STOPPING_SETTINGS = (
    "monitor",
    "mode",
    "patience",
    "strict",
    "check_finite",
    "stopping_threshold",
    "divergence_threshold",
    "verbose",
    "log_rank_zero_only",
)

_CHECKPOINT_SETTINGS = (
    "monitor",
    "mode",
    "save_top_k",
    "save_last",
    "save_weights_only",
    "filename",
    "every_n_epochs",
    "auto_insert_metric_name",
    "save_on_exception",
    "verbose",
)


def callback_infos(
    callbacks: Sequence[Any], early_stopping_cls: type[Any], checkpoint_cls: type[Any]
) -> list[dict[str, Any]]:
    """Class and settings of each callback; EarlyStopping and ModelCheckpoint list their documented arguments."""
    infos = []
    for cb in callbacks:
        settings: dict[str, Any]
        if isinstance(cb, early_stopping_cls):
            settings = {name: getattr(cb, name, None) for name in _EARLY_STOPPING_SETTINGS}
            settings["min_delta"] = abs(float(cb.min_delta))
        elif isinstance(cb, checkpoint_cls):
            settings = {name: getattr(cb, name, None) for name in _CHECKPOINT_SETTINGS}
        else:
            settings = {
                k: v
                for k, v in vars(cb).items()
                if not k.startswith("_") and (v is None or isinstance(v, (str, int, float, bool)))
            }
        infos.append({"class_path": class_path(cb), "settings": to_jsonable(settings)})
    return infos


def model_info(module: Any) -> dict[str, Any]:
    """Class path and total / trainable parameter counts (uninitialised lazy parameters count as 0)."""
    total = trainable = 0
    for p in module.parameters():
        try:
            n = int(p.numel())
        except (ValueError, RuntimeError):
            continue
        total += n
        trainable += n if p.requires_grad else 0
    return {"class_path": class_path(module), "total_parameters": total, "trainable_parameters": trainable}


def global_seed() -> int | None:
    """The seed set with ``seed_everything`` (Lightning keeps it in ``PL_GLOBAL_SEED``), else ``None``."""
    value = os.environ.get("PL_GLOBAL_SEED")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def early_stopping_state(callback: Any) -> dict[str, Any]:
    """What one EarlyStopping callback knows: settings, counters, best score and Lightning's stopping reason."""
    reason = getattr(callback, "stopping_reason", None)
    best = getattr(callback, "best_score", None)
    return {
        "monitor": str(callback.monitor),
        "mode": str(callback.mode),
        "patience": int(callback.patience),
        "min_delta": abs(float(callback.min_delta)),
        "wait_count": int(callback.wait_count),
        "stopped_epoch": int(callback.stopped_epoch),
        "best_score": to_jsonable(best),
        "reason": reason.name if isinstance(reason, enum.Enum) else str(reason or "NOT_STOPPED"),
        "message": getattr(callback, "stopping_reason_message", None),
    }


def metrics_with_prefix(metrics: Mapping[str, Any], prefix: str) -> dict[str, float | None]:
    """Logged metrics whose name starts with ``prefix`` (e.g. ``test``), as floats (non-finite -> ``None``)."""
    out: dict[str, float | None] = {}
    for key, value in metrics.items():
        if key.startswith(prefix):
            numeric, number = _as_number(value)
            if numeric:
                out[key] = number
    return dict(sorted(out.items()))


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """Every one-element metric in ``metrics`` as a float (non-finite -> ``None``), with one device read per device.

    Lightning's ``callback_metrics`` hold tensors that may live on a GPU: reading them one ``.item()`` at a time
    would wait for the device once per metric, so the tensors of each device are stacked and read together.
    """
    out: dict[str, float | None] = {}
    by_device: dict[Any, list[tuple[str, Any]]] = {}
    for key, value in metrics.items():
        if key in ("epoch", "step"):
            continue  # Lightning's own counters, recorded as the entry's epoch and step
        numel = getattr(value, "numel", None)
        if callable(numel) and hasattr(value, "device"):
            if numel() == 1:
                by_device.setdefault(value.device, []).append((key, value.detach().reshape(())))
            continue
        numeric, number = _as_number(value)
        if numeric:
            out[key] = number
    for items in by_device.values():
        import torch  # only reached with tensors, i.e. inside a Lightning run

        values = torch.stack([t.to(torch.float64) for _, t in items]).tolist()
        for (key, _), number in zip(items, values, strict=True):
            out[key] = number if math.isfinite(number) else None
    return dict(sorted(out.items()))


def raw_learning_rates(optimizers: Sequence[Any]) -> list[Any]:
    """Every parameter group's ``lr`` as it is now, in order: cheap enough for every training step (no naming, no
    conversion); :func:`learning_rates` names them later. A tensor rate is copied, as schedulers may change it in
    place."""
    return [
        lr.detach().clone() if hasattr(lr, "detach") else lr
        for optimizer in optimizers
        for group in getattr(optimizer, "param_groups", ())
        for lr in (group.get("lr"),)
    ]


def learning_rates(optimizers: Sequence[Any], rates: Sequence[Any] | None = None) -> dict[str, float | None]:
    """The learning rates, named as Lightning's ``LearningRateMonitor`` names them (``lr-Adam``, ``lr-SGD/pg1`` for a
    second parameter group, ``lr-Adam-1`` for a second Adam): the current ones, or ``rates`` read earlier by
    :func:`raw_learning_rates` from the same optimizers."""
    out: dict[str, float | None] = {}
    seen: dict[str, int] = {}
    taken = iter(rates) if rates is not None else None
    for optimizer in optimizers:
        name = f"lr-{type(optimizer).__name__}"
        count = seen.get(name, 0)
        seen[name] = count + 1
        base = f"{name}-{count}" if count else name
        groups = getattr(optimizer, "param_groups", [])
        for index, group in enumerate(groups):
            key = base if len(groups) == 1 else f"{base}/pg{index + 1}"
            out[key] = scalar(next(taken, None) if taken is not None else group.get("lr"))
    return out


def scalar(value: Any) -> float | None:
    """A tensor or number as a finite float, else ``None``."""
    return _as_number(value)[1]


def _as_number(value: Any) -> tuple[bool, float | None]:
    """``(True, float or None for non-finite/missing)`` for numbers and one-element tensors; ``(False, None)`` else."""
    number = to_jsonable(value)
    if isinstance(number, list) and len(number) == 1:
        number = number[0]
    if number is None:
        return True, None
    if isinstance(number, (int, float)) and not isinstance(number, bool):
        return True, float(number) if math.isfinite(number) else None
    return False, None
