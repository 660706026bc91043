"""The upgrade of a file written by the old manual system (no ``schema_version``): a pure function, no I/O.

:func:`upgrade` takes the file's parsed JSON and returns the dict to validate, with one note per conversion: bare
``NaN`` tokens read as null, naive local times converted to UTC, a raw ``vars(config)`` dump wrapped as the config, a
summary's missing names, start time and status taken from the folder name, its best value and epoch from the other
files of the folder. What it needs to know of the folder comes in as plain values (:class:`LegacyContext`), which
the reader (:mod:`arccnet_ckpt.records.reader`) gathers; :func:`wanted_best_sources` tells it when a summary needs
the other files at all, so a listing of old runs reads no more than it has to.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel

from arccnet_ckpt.layout import parse_run_folder_name
from arccnet_ckpt.records.config import RESERVED_CONFIG_KEY, ConfigRecord
from arccnet_ckpt.records.minimal import MinimalLogging
from arccnet_ckpt.records.report import ClassificationReport
from arccnet_ckpt.records.summary import TrainingSummary

BestSource = tuple[str, int | None, float | None]
"""``(origin, best epoch, best value)``: where a legacy summary's missing best value and epoch may come from."""


@dataclass(frozen=True)
class LegacyContext:
    """What the upgrade of a legacy file needs to know of its folder, as plain values.

    Attributes:
        folder_name: The run folder's name (``2025-02-12_14-30-45_resnet18_weighted_bce``): model, loss and start time
            of a summary that lacks them.
        best_sources: For a summary that lacks its best value or epoch (see :func:`wanted_best_sources`): the
            candidates, in order: ``minimal_logging.json`` (when it records the same metric), then the best
            checkpoint's file name.
    """

    folder_name: str
    best_sources: tuple[BestSource, ...] = ()


_TIME_FIELDS: dict[str, tuple[str, ...]] = {
    TrainingSummary.filename: ("start_time", "end_time"),
    MinimalLogging.filename: ("timestamp",),
    ClassificationReport.filename: ("created_at",),
    ConfigRecord.filename: ("created_at",),
}
# vars(config) written with json.dump(default=str) turns imported modules, functions and classes into their repr.
_OBJECT_REPR = re.compile(r"^<(?:module|function|class|built-in function|built-in method|bound method) ")
# "<model>_<loss>" cannot be split on "_" alone: common loss names (the seed's weighted_bce, focal and
# cross_entropy, and a few more), longest first, are tried as the suffix.
_KNOWN_LOSSES = (
    "weighted_cross_entropy",
    "label_smoothing",
    "cross_entropy",
    "weighted_bce",
    "focal_loss",
    "weighted_ce",
    "bce_logits",
    "tversky",
    "kl_div",
    "focal",
    "huber",
    "dice",
    "bce",
    "mse",
    "mae",
    "nll",
    "ce",
)


def is_legacy(data: dict[str, Any]) -> bool:
    """Whether parsed JSON is a file of the old manual system: no ``schema_version`` (nor a version 2 config's
    reserved key). A file that has one is validated as it is, with no conversion."""
    return "schema_version" not in data and RESERVED_CONFIG_KEY not in data


def upgrade(model: type[BaseModel], data: dict[str, Any], context: LegacyContext) -> tuple[dict[str, Any], list[str]]:
    """A legacy file's data, converted so that ``model`` validates it, and one note per conversion.

    Args:
        model: The file model, e.g. :class:`~arccnet_ckpt.records.TrainingSummary`.
        data: The file's parsed JSON (``NaN`` tokens as floats); not changed.
        context: What the conversion needs to know of the folder.

    Returns:
        ``(data, notes)``: the converted dict, and one sentence per conversion, each naming the file.
    """
    filename = getattr(model, "filename", "")
    notes: list[str] = []
    data, non_finite = _null_non_finite(data)
    wrapped = model is ConfigRecord and not _looks_like_config_record(data)
    if wrapped:
        data = _wrap_config_dump(data, notes)
    else:
        notes.append(f"{filename}: no schema_version; read as a file of the old manual system")
    if non_finite:
        notes.append(f"{filename}: {_describe_non_finite(non_finite)}")
    if model is TrainingSummary:
        _fill_summary(data, notes, context)
    if not wrapped:
        _localise_times(data, _TIME_FIELDS.get(filename, ()), filename, notes)
    if model is MinimalLogging:
        best_keys = _best_keys(data, MinimalLogging)
        if "best_metric_name" not in data and len(best_keys) == 1:
            data["best_metric_name"] = best_keys[0].removeprefix("best_")
            notes.append(f"{filename}: best_metric_name taken from the key {best_keys[0]}")
    return data, notes


def wanted_best_sources(model: type[BaseModel], data: dict[str, Any]) -> tuple[str, str | None] | None:
    """``(monitor, mode)`` when the upgrade of a legacy summary needs :attr:`LegacyContext.best_sources` (it lacks
    its best value or its best epoch), else ``None``: the reader gathers them only then."""
    if model is not TrainingSummary:
        return None
    data, _ = _null_non_finite(data)
    monitor = _monitor(data)
    if not monitor or not any(_best_gaps(data, monitor)):
        return None
    mode = data.get("mode")
    return monitor, mode if isinstance(mode, str) else None


def _monitor(data: dict[str, Any]) -> Any:
    """The summary's monitor: recorded, else the one ``best_<monitor>`` key it has."""
    best_keys = _best_keys(data, TrainingSummary)
    if data.get("monitor") is None and len(best_keys) == 1:
        return best_keys[0].removeprefix("best_")
    return data.get("monitor")


def _best_gaps(data: dict[str, Any], monitor: str) -> tuple[bool, bool]:
    """Whether the summary lacks its best value, and whether it lacks its best epoch."""
    need_value = data.get("best_metric_value") is None and data.get(f"best_{monitor}") is None
    return need_value, data.get("best_epoch") is None


def _fill_summary(data: dict[str, Any], notes: list[str], context: LegacyContext) -> None:
    file = TrainingSummary.filename
    parsed = parse_run_folder_name(context.folder_name)
    names = {k: data.get(k) for k in ("model_name", "loss_function")}
    if not all(isinstance(v, str) and v for v in names.values()) and parsed is not None:
        model_name, loss = split_model_loss(parsed[1], names["model_name"], names["loss_function"])
        for key, guess in (("model_name", model_name), ("loss_function", loss)):
            if not (isinstance(names[key], str) and names[key]):
                data[key] = guess
                notes.append(f"{file}: no {key}; took {guess!r} from the folder name")
    if data.get("start_time") is None and parsed is not None:
        data["start_time"] = local_to_utc(parsed[0]).isoformat()
        notes.append(f"{file}: no start_time; took it from the folder name, read as local time")
    if data.get("status") is None:
        if data.get("end_time") or data.get("test_results"):
            data["status"] = "completed"
            why = "it has an end_time or test results"
        else:
            data["status"] = "interrupted"
            why = "it has neither an end_time nor test results"
        notes.append(f"{file}: no status; set to {data['status']!r} because {why}")
    monitor = _monitor(data)
    if data.get("monitor") is None and monitor is not None:
        data["monitor"] = monitor
        notes.append(f"{file}: monitor taken from the key best_{monitor}")
    if not monitor:
        return
    key = f"best_{monitor}"
    need_value, need_epoch = _best_gaps(data, monitor)
    sources = context.best_sources
    if need_value:
        state = "is null" if key in data else "is missing"
        value = next(((v, origin) for origin, _, v in sources if v is not None), None)
        if value is None:
            notes.append(f"{file}: {key} {state} and no other file records it; left null")
        else:
            data["best_metric_value"] = value[0]
            notes.append(f"{file}: {key} {state}; took {value[0]} from {value[1]}")
    if need_epoch:
        epoch = next(((e, origin) for origin, e, _ in sources if e is not None), None)
        if epoch is not None:
            data["best_epoch"] = epoch[0]
            notes.append(f"{file}: no best_epoch; took {epoch[0]} from {epoch[1]}")


def split_model_loss(rest: str, model_name: Any = None, loss: Any = None) -> tuple[str, str]:
    """Split a folder name's ``<model>_<loss>`` part, helped by a known half or a known loss name."""
    if isinstance(model_name, str) and model_name and rest.startswith(model_name + "_"):
        return model_name, rest[len(model_name) + 1 :]
    if isinstance(loss, str) and loss and rest.endswith("_" + loss):
        return rest[: -len(loss) - 1], loss
    for known in _KNOWN_LOSSES:
        if rest.endswith("_" + known) and len(rest) > len(known) + 1:
            return rest[: -len(known) - 1], known
    head, _, tail = rest.rpartition("_")
    return (head, tail) if head else (rest, "unknown")


def local_to_utc(naive: datetime) -> datetime:
    """A naive time read as the local time of this machine, as UTC: how the old manual system's times are read."""
    return naive.astimezone().astimezone(timezone.utc)


def _best_keys(data: dict[str, Any], model: type[BaseModel]) -> list[str]:
    """The seed's ``best_<monitor>`` keys (e.g. ``best_val_f1``): ``best_*`` keys that are not fields."""
    return [k for k in data if k.startswith("best_") and k not in model.model_fields]


def _null_non_finite(data: Any) -> tuple[Any, list[tuple[str, str]]]:
    """Replace ``NaN``/``Infinity`` (which Python's json accepts) by ``None``; return where they were."""
    found: list[tuple[str, str]] = []

    def walk(value: Any, where: str) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            token = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
            found.append((where or "<root>", token))
            return None
        if isinstance(value, dict):
            return {k: walk(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    return walk(data, ""), found


def _describe_non_finite(found: list[tuple[str, str]]) -> str:
    tokens = sorted({token for _, token in found})
    if len(tokens) == 1:
        where = ", ".join(path for path, _ in found[:10])
    else:
        where = ", ".join(f"{path} ({token})" for path, token in found[:10])
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    noun = "token" if len(found) == 1 else "tokens"
    return f"{'/'.join(tokens)} {noun} read as null at {where}{more}"


def _localise_times(data: dict[str, Any], fields: tuple[str, ...], filename: str, notes: list[str]) -> None:
    converted = []
    zone = ""
    for key in fields:
        value = data.get(key)
        if not isinstance(value, str):
            continue
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            continue  # left for validation to report
        if moment.tzinfo is not None:
            continue
        local = moment.astimezone()
        offset = local.strftime("%z")
        zone = f"{local.tzname()}, UTC{offset[:3]}:{offset[3:]}"
        data[key] = local.astimezone(timezone.utc).isoformat()
        converted.append(key)
    if converted:
        verb = "has" if len(converted) == 1 else "have"
        notes.append(
            f"{filename}: {', '.join(converted)} {verb} no time zone; read as local time of this machine ({zone}) "
            "and converted to UTC"
        )


def _looks_like_config_record(data: dict[str, Any]) -> bool:
    return isinstance(data.get("config"), dict) and set(data) <= set(ConfigRecord.model_fields)


def _wrap_config_dump(data: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Turn a raw ``vars(config)`` dump into ``{"config": ...}``, without dunders and object reprs."""
    dunders = sorted(k for k in data if k.startswith("__") and k.endswith("__"))
    reprs = sorted(
        k for k, v in data.items() if k not in dunders and isinstance(v, str) and _OBJECT_REPR.match(v) is not None
    )
    dropped = set(dunders) | set(reprs)
    kept = {k: v for k, v in data.items() if k not in dropped}
    note = f"{ConfigRecord.filename}: legacy vars(config) dump (no schema_version); kept {len(kept)} settings as config"
    if dunders:
        note += f"; dropped {', '.join(dunders)}"
    if reprs:
        note += f"; dropped the reprs of imported modules, functions or classes: {', '.join(reprs)}"
    notes.append(note)
    return {"config": kept}
