"""Reading run folders back: :func:`load_run`, :func:`find_runs`, :func:`best_run` and :class:`Run`.

Nothing here imports torch or lightning; only :meth:`Run.load_model` does, through the module class it is given.
:func:`find_runs` reads one file per run (``training_summary.json``) and loads the others on first use, so listing
thousands of runs stays fast; :func:`load_run` reads and validates every file at once.

Folders written by the older manual system (no ``schema_version``, naive local timestamps, bare ``NaN`` tokens, a raw
``vars(config)`` dump, ``best-42-0.847.ckpt`` names) are converted on reading; each conversion is listed in
:attr:`Run.notes`. A file that has a ``schema_version`` is validated as it is, with no conversion.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import hashlib
import json
import math
import os
import re
import stat
import warnings
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError

from arccnet_ckpt import store
from arccnet_ckpt.core.status import DEFAULT_STALE_AFTER, READ_STATUSES, status_of
from arccnet_ckpt.errors import (
    ArcCkptError,
    ArcCkptWarning,
    ArtifactError,
    CheckpointMismatchError,
    RunNotFoundError,
)
from arccnet_ckpt.layout import (
    RUN_MARKERS,
    parse_run_folder_name,
    resolve_data_folder,
    root_folder,
    split_at_checkpoints,
    validate_root_name,
)
from arccnet_ckpt.records import (
    ARTIFACTS,
    RESERVED_CONFIG_KEY,
    ArtifactT,
    ClassificationReport,
    ConfigRecord,
    History,
    MinimalLogging,
    RunKind,
    TrainingSummary,
    validate_artifact,
)
from arccnet_ckpt.runs.query import common_metric_mode, metric_mode

if TYPE_CHECKING:
    from collections.abc import Iterator

    from arccnet_ckpt.store import PathLike

ModuleT = TypeVar("ModuleT")

SUMMARY_FILE = TrainingSummary.filename
_FILES = tuple(model.filename for model in ARTIFACTS.values())
_KINDS: tuple[str, ...] = get_args(RunKind)
_CHECKPOINT_NOTES = "checkpoints"

_TIME_FIELDS: dict[str, tuple[str, ...]] = {
    TrainingSummary.filename: ("start_time", "end_time"),
    MinimalLogging.filename: ("timestamp",),
    ClassificationReport.filename: ("created_at",),
    ConfigRecord.filename: ("created_at",),
}
# vars(config) written with json.dump(default=str) turns imported modules, functions and classes into their repr.
_OBJECT_REPR = re.compile(r"^<(?:module|function|class|built-in function|built-in method|bound method) ")
# Lightning's template (best-epoch02-val_f1-0.847.ckpt), then the old manual one (best-42-0.847.ckpt);
# "-v1" is the suffix Lightning adds when a name is taken.
_NUMBER = r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf|-inf)"
_CKPT_NAMES = (
    re.compile(rf"^best-epoch(?P<epoch>\d+)-(?P<metric>.+?)-{_NUMBER}(?:-v\d+)?\.ckpt$"),
    re.compile(rf"^best-(?P<epoch>\d+)-{_NUMBER}(?:-v\d+)?\.ckpt$"),
)
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


class Run:
    """One run folder, read back.

    Build it with :func:`load_run` (every file read and validated at once) or get it from :func:`find_runs`
    (only ``training_summary.json`` read; the other files are read on first access and cached).

    Attributes:
        path: The run folder: an absolute local path, or the fsspec URL it was found under.
        name: The folder's name, e.g. ``2025-02-12_14-30-45_resnet18_weighted_bce``.

    Example:
        >>> run = load_run("data/checkpoints/flares/binary_classification/2025-02-12_14-30-45_resnet18_weighted_bce")
        >>> run.status, run.metric("test_f1"), run.best_checkpoint  # doctest: +SKIP
        ('completed', 0.851, '/.../best-epoch42-val_f1-0.847.ckpt')
    """

    __slots__ = ("_best", "_checkpoints", "_errors", "_legacy", "_loaded", "_location_root", "_notes", "name", "path")

    def __init__(self, path: PathLike, *, root_name: str | None = None) -> None:
        """Point at a run folder without reading anything; prefer :func:`load_run`.

        Args:
            path: The run folder, local or an fsspec URL.
            root_name: Where the folder sits under ``<data_folder>/checkpoints``; found from ``path`` if omitted.
        """
        text = os.fspath(path)
        text = text.rstrip("/") if store.is_remote(text) else os.path.abspath(text.removeprefix("file://"))
        self._setup(text, store.basename(text), root_name if root_name is not None else _root_from_path(text))

    def _setup(self, path: str, name: str, location_root: str | None) -> None:
        self.path = path
        self.name = name
        self._location_root = location_root
        # Plain dicts, not sets: an empty dict, or one holding only strings, costs the garbage collector nothing,
        # which counts when find_runs builds ten thousand runs.
        self._loaded: dict[str, Any] = {}
        self._errors: dict[str, ArtifactError] = {}
        self._notes: dict[str, list[str]] = {}
        self._legacy: dict[str, None] = {}
        self._checkpoints: list[str] | None = None
        self._best: tuple[str | None] | None = None

    @classmethod
    def _from_scan(cls, path: str, name: str, location_root: str | None) -> Run:
        """A run found by :func:`find_runs`, whose path is already absolute (or a URL) and split."""
        run = cls.__new__(cls)
        run._setup(path, name, location_root)
        return run

    # ------------------------------------------------------------------------------------------------ the files

    @property
    def config(self) -> ConfigRecord | None:
        """``config.json``, or ``None`` if the folder has none.

        Raises:
            ArtifactError: If the file is invalid (on every access, for runs from :func:`find_runs`).
        """
        return self._artifact(ConfigRecord)

    @property
    def summary(self) -> TrainingSummary | None:
        """``training_summary.json``, or ``None`` if the folder has none."""
        return self._artifact(TrainingSummary)

    @property
    def report(self) -> ClassificationReport | None:
        """``classification_report.json``, or ``None`` if the folder has none."""
        return self._artifact(ClassificationReport)

    @property
    def minimal(self) -> MinimalLogging | None:
        """``minimal_logging.json``, or ``None`` if the folder has none."""
        return self._artifact(MinimalLogging)

    @property
    def history(self) -> History | None:
        """``history.json`` (one entry per validation run), or ``None`` for runs that have none (legacy ones)."""
        return self._artifact(History)

    @property
    def notes(self) -> list[str]:
        """What the loader could not interpret or had to convert, one sentence per item, each naming its file.

        Reads every file not read yet. An invalid file appears here as its error message instead of raising.
        """
        self._load_all(strict=False)
        with contextlib.suppress(ArtifactError):  # an invalid summary is reported below
            self._best_checkpoint()
        ordered = [*_FILES, _CHECKPOINT_NOTES]
        out = [note for key in ordered for note in self._notes.get(key, [])]
        out.extend(str(self._errors[f]) for f in _FILES if f in self._errors)
        return out

    @property
    def unreadable(self) -> list[str]:
        """One message per file that cannot be read or is invalid (naming the file), after trying every file."""
        self._load_all(strict=False)
        return [str(self._errors[f]) for f in _FILES if f in self._errors]

    @property
    def is_legacy(self) -> bool:
        """Whether any file came from the old manual system (no ``schema_version``) and was converted."""
        self._load_all(strict=False)
        return bool(self._legacy)

    # ---------------------------------------------------------------------------------------- convenient values

    @property
    def start_time(self) -> datetime | None:
        """When training started (UTC): from the summary, else ``config.created_at``, else the folder name."""
        summary = self.summary
        if summary is not None:
            return summary.start_time
        config = self.config
        if config is not None and config.created_at is not None:
            return config.created_at
        parsed = parse_run_folder_name(self.name)
        if parsed is None:
            return None
        # New folders are named in UTC; the old manual system used the local time.
        return _local_to_utc(parsed[0]) if self.is_legacy else parsed[0].replace(tzinfo=timezone.utc)

    @property
    def status(self) -> str:
        """The status every reader shows (:func:`~arccnet_ckpt.core.status.status_of`): ``running``, ``completed``,
        ``failed``, ``interrupted``, ``stale`` (recorded as ``running``, but its process is gone and it has been
        silent for over an hour) or ``incomplete`` (no file records a status)."""
        return self.status_at(datetime.now(timezone.utc))

    def status_at(self, now: datetime, stale_after: timedelta = DEFAULT_STALE_AFTER) -> str:
        """:attr:`status` judged at ``now``, with ``stale_after`` as the silence a ``running`` run is allowed."""
        minimal = self.minimal if self.summary is None else None
        return status_of(self.summary, now, stale_after, recorded=minimal.status if minimal is not None else None)

    @property
    def kind(self) -> str:
        """``training`` (a folder made by ``fit``) or ``evaluation`` (made by a test-only Trainer)."""
        summary = self.summary
        return summary.kind if summary is not None else "training"

    @property
    def model_name(self) -> str | None:
        """The model name as recorded (summary, config, report), else the one in the folder name."""
        return self._name_field("model_name")

    @property
    def loss_function(self) -> str | None:
        """The loss function as recorded (summary, config, report), else the one in the folder name."""
        return self._name_field("loss_function")

    @property
    def root_name(self) -> str | None:
        """The root name as recorded in the summary, else the folder's position under ``checkpoints/``."""
        summary = self.summary
        if summary is not None and summary.root_name:
            return summary.root_name
        config = self.config
        if config is not None and config.root_name:
            return config.root_name
        return self._location_root

    @property
    def checkpoints(self) -> list[str]:
        """Every ``.ckpt`` file directly in the folder (absolute paths or URLs), sorted by name."""
        if self._checkpoints is None:
            self._checkpoints = sorted(p for p in list_files(self.path) if p.endswith(".ckpt"))
        return list(self._checkpoints)

    @property
    def best_checkpoint(self) -> str | None:
        """The best checkpoint (absolute path or URL), or ``None``.

        ``summary.best_model_path`` (relative to the run folder) when that file exists, else the ``best-*.ckpt`` in
        the folder; with several, the one whose name holds the best value (``best-epoch02-val_f1-0.847.ckpt`` or the
        old ``best-42-0.847.ckpt``).
        """
        return self._best_checkpoint()

    def metric(self, name: str) -> float | None:
        """A number recorded for this run, or ``None``.

        Looks in ``report.test_metrics``, then ``summary.test_results``, then the summary's fields (e.g.
        ``best_val_f1``, ``best_metric_value``, ``duration_seconds``), then the minimal log's fields and
        ``additional_metrics``, then the report's own fields (``accuracy``). The first finite number wins.

        Args:
            name: The key, e.g. ``"test_f1"`` or ``"best_val_f1"``.

        Raises:
            ArtifactError: If a file that has to be read is invalid.
        """
        for value in self._metric_candidates(name):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                return float(value)
        return None

    def _metric_candidates(self, name: str) -> Iterator[Any]:
        # A generator, so a file is read only when the ones before it lack the metric.
        report = self.report
        if report is not None:
            yield report.test_metrics.get(name)
        summary = self.summary
        if summary is not None:
            yield summary.test_results.get(name)
            yield _field(summary, name)
        minimal = self.minimal
        if minimal is not None:
            yield _field(minimal, name)
            yield minimal.additional_metrics.get(name)
        if report is not None:
            yield _field(report, name)

    def load_model(self, module_cls: type[ModuleT], **kwargs: Any) -> ModuleT:
        """Load the best checkpoint with ``module_cls.load_from_checkpoint(self.best_checkpoint, **kwargs)``.

        This is the only place that imports torch and lightning (through ``module_cls``).

        Args:
            module_cls: A ``LightningModule`` subclass (or anything with Lightning's ``load_from_checkpoint``).
            **kwargs: Passed on, e.g. ``map_location="cpu"`` or hyper-parameters to override.

        Returns:
            The loaded module.

        Raises:
            RunNotFoundError: If the run has no checkpoint.
            TypeError: If ``module_cls`` has no ``load_from_checkpoint``.
        """
        loader = getattr(module_cls, "load_from_checkpoint", None)
        if not callable(loader):
            raise TypeError(
                f"load_model needs a LightningModule subclass with load_from_checkpoint, got {module_cls!r}"
            )
        checkpoint = self.best_checkpoint
        if checkpoint is None:
            found = ", ".join(store.basename(p) for p in self.checkpoints) or "no .ckpt file"
            raise RunNotFoundError(
                f"{self.path}: no checkpoint to load: the summary records no best_model_path and the folder holds "
                f"no best-*.ckpt (found: {found})"
            )
        self._check_checkpoint(checkpoint)
        return loader(checkpoint, **kwargs)

    def _check_checkpoint(self, checkpoint: str) -> None:
        """Refuse a checkpoint whose ``arccnet_ckpt`` entry names another run; warn when ``config.json`` changed."""
        entry = read_checkpoint_entry(checkpoint)
        if entry is None:
            return  # saved before checkpoints carried their run, or by something else: nothing to compare
        recorded = entry.get("run_name")
        if recorded and recorded != self.name:
            raise CheckpointMismatchError(
                f"{checkpoint}: this checkpoint belongs to run {recorded!r} (saved in {entry.get('run_dir')}), not to "
                f"{self.name!r} whose folder holds it; load it from its own run folder, or with "
                "module_cls.load_from_checkpoint(path) if that is what you mean"
            )
        digest = entry.get("config_sha256")
        current = config_digest(self.path)
        if digest and current and digest != current:
            warnings.warn(
                f"{checkpoint}: config.json changed since this checkpoint was saved (a resumed fit rewrites it): "
                "compare the config with the one you expect",
                ArcCkptWarning,
                stacklevel=3,
            )

    def __repr__(self) -> str:
        parts = [repr(self.name)]
        summary = self._loaded.get(SUMMARY_FILE)
        root = summary.root_name if summary is not None and summary.root_name else self._location_root
        if root:
            parts.append(f"root_name={root!r}")
        if summary is not None:
            parts.append(f"status={summary.status!r}")
            if summary.monitor and summary.best_metric_value is not None:
                parts.append(f"best_{summary.monitor}={summary.best_metric_value:.4g}")
        if self._legacy:
            parts.append("legacy=True")
        return f"Run({', '.join(parts)})"

    # -------------------------------------------------------------------------------------------------- reading

    def _artifact(self, model: type[ArtifactT]) -> ArtifactT | None:
        filename = model.filename
        if filename in self._loaded:
            return self._loaded[filename]
        if filename in self._errors:
            raise self._errors[filename]
        source = store.join(self.path, filename)
        try:
            raw = read_bounded(source)
        except FileNotFoundError:
            self._loaded[filename] = None
            return None
        except (OSError, UnicodeDecodeError) as e:
            error = _unreadable(source, e)
            self._errors[filename] = error
            raise error from e
        return self._adopt(model, raw)

    def _adopt(self, model: type[ArtifactT], raw: str | bytes) -> ArtifactT:
        """Parse ``raw`` as ``model`` (converting a legacy file) and cache the result or the error.

        Whatever the bytes hold, the outcome is the file's value or an :class:`ArtifactError` naming it: a file from a
        shared folder is untrusted input, and one bad file must not stop a listing of all the others.
        """
        filename = model.filename
        try:
            value = self._parse(model, raw)
        except ArtifactError as e:
            self._errors[filename] = e
            raise
        # RecursionError: [[[[...]]]] nested deeper than Python's parser goes; the others: a legacy file's values of
        # a type or range its conversion did not expect (a year-1 time, a list where a name belongs).
        except (RecursionError, ValueError, TypeError, OverflowError) as e:
            error = _unreadable(store.join(self.path, filename), e)
            self._errors[filename] = error
            raise error from e
        self._loaded[filename] = value
        return value

    def _parse(self, model: type[ArtifactT], raw: str | bytes) -> ArtifactT:
        # Fast path: a file the package wrote. model_fields_set tells a real schema_version from the default.
        try:
            fast = model.model_validate_json(raw)
            if "schema_version" in fast.__pydantic_fields_set__:
                return fast
        except ValidationError:
            pass
        source = store.join(self.path, model.filename)
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise ArtifactError(f"{source}: not valid JSON: {e}") from e
        if not isinstance(data, dict):
            raise ArtifactError(f"{source}: expected a JSON object, got {type(data).__name__}")
        if "schema_version" in data or RESERVED_CONFIG_KEY in data:
            return validate_artifact(model, data, source=source)
        notes: list[str] = []
        data = self._convert_legacy(model, data, notes)
        value = validate_artifact(model, data, source=source)
        self._legacy[model.filename] = None
        self._notes.setdefault(model.filename, []).extend(notes)
        return value

    def _load_all(self, *, strict: bool) -> None:
        for model in ARTIFACTS.values():
            try:
                self._artifact(model)
            except ArtifactError:
                if strict:
                    raise

    # ------------------------------------------------------------------------------------------ legacy files

    def _convert_legacy(self, model: type[BaseModel], data: dict[str, Any], notes: list[str]) -> dict[str, Any]:
        filename = getattr(model, "filename", "")
        data, non_finite = _null_non_finite(data)
        wrapped = model is ConfigRecord and not _looks_like_config_record(data)
        if wrapped:
            data = _wrap_config_dump(data, notes)
        else:
            notes.append(f"{filename}: no schema_version; read as a file of the old manual system")
        if non_finite:
            notes.append(f"{filename}: {_describe_non_finite(non_finite)}")
        if model is TrainingSummary:
            self._fill_summary(data, notes)
        if not wrapped:
            _localise_times(data, _TIME_FIELDS.get(filename, ()), filename, notes)
        if model is MinimalLogging:
            best_keys = _best_keys(data, MinimalLogging)
            if "best_metric_name" not in data and len(best_keys) == 1:
                data["best_metric_name"] = best_keys[0].removeprefix("best_")
                notes.append(f"{filename}: best_metric_name taken from the key {best_keys[0]}")
        return data

    def _fill_summary(self, data: dict[str, Any], notes: list[str]) -> None:
        file = SUMMARY_FILE
        parsed = parse_run_folder_name(self.name)
        names = {k: data.get(k) for k in ("model_name", "loss_function")}
        if not all(isinstance(v, str) and v for v in names.values()) and parsed is not None:
            model_name, loss = _split_model_loss(parsed[1], names["model_name"], names["loss_function"])
            for key, guess in (("model_name", model_name), ("loss_function", loss)):
                if not (isinstance(names[key], str) and names[key]):
                    data[key] = guess
                    notes.append(f"{file}: no {key}; took {guess!r} from the folder name")
        if data.get("start_time") is None and parsed is not None:
            data["start_time"] = _local_to_utc(parsed[0]).isoformat()
            notes.append(f"{file}: no start_time; took it from the folder name, read as local time")
        if data.get("status") is None:
            if data.get("end_time") or data.get("test_results"):
                data["status"] = "completed"
                why = "it has an end_time or test results"
            else:
                data["status"] = "interrupted"
                why = "it has neither an end_time nor test results"
            notes.append(f"{file}: no status; set to {data['status']!r} because {why}")
        best_keys = _best_keys(data, TrainingSummary)
        if data.get("monitor") is None and len(best_keys) == 1:
            data["monitor"] = best_keys[0].removeprefix("best_")
            notes.append(f"{file}: monitor taken from the key {best_keys[0]}")
        monitor = data.get("monitor")
        if not monitor:
            return
        key = f"best_{monitor}"
        need_value = data.get("best_metric_value") is None and data.get(key) is None
        need_epoch = data.get("best_epoch") is None
        if not (need_value or need_epoch):
            return
        sources = self._legacy_best_sources(str(monitor), data.get("mode"))
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

    def _legacy_best_sources(self, monitor: str, mode: Any) -> list[tuple[str, int | None, float | None]]:
        """``(origin, best epoch, best value)`` from ``minimal_logging.json``, then the best checkpoint's name."""
        sources: list[tuple[str, int | None, float | None]] = []
        try:
            minimal = self.minimal
        except ArtifactError:
            minimal = None
        if minimal is not None and minimal.best_metric_name == monitor:
            sources.append((MinimalLogging.filename, minimal.best_epoch, minimal.best_metric_value))
        chosen = _pick_best(self.checkpoints, monitor, mode if isinstance(mode, str) else None)
        parsed = _parse_checkpoint_name(store.basename(chosen)) if chosen is not None else None
        if chosen is not None and parsed is not None:
            sources.append((f"the checkpoint file name {store.basename(chosen)}", *parsed))
        return sources

    # ------------------------------------------------------------------------------------------------ helpers

    def _name_field(self, key: str) -> str | None:
        for attribute in ("summary", "config", "report"):  # read lazily: a listing never opens the other files
            record = getattr(self, attribute)
            value = getattr(record, key, None) if record is not None else None
            if isinstance(value, str) and value and value != "unknown":
                return value
        parsed = parse_run_folder_name(self.name)
        if parsed is None:
            return None
        model_name, loss = _split_model_loss(parsed[1])
        return model_name if key == "model_name" else loss

    def _best_checkpoint(self) -> str | None:
        if self._best is not None:
            return self._best[0]
        checkpoints = self.checkpoints
        summary = self.summary
        chosen: str | None = None
        recorded = summary.best_model_path if summary is not None else None
        if recorded:
            if store.is_remote(recorded) or os.path.isabs(recorded):
                candidate = recorded
            else:
                candidate = store.join(self.path, *recorded.replace("\\", "/").split("/"))
            if candidate in checkpoints or store.exists(candidate):
                chosen = candidate
        if chosen is None:
            mode = summary.mode if summary is not None else None
            monitor = summary.monitor if summary is not None else None
            chosen = _pick_best(checkpoints, monitor, mode)
            best = [p for p in checkpoints if store.basename(p).startswith("best-")]
            notes = self._notes.setdefault(_CHECKPOINT_NOTES, [])
            if recorded and chosen is not None:
                notes.append(f"{SUMMARY_FILE}: best_model_path {recorded!r} not found; using {store.basename(chosen)}")
            elif recorded:
                notes.append(f"{SUMMARY_FILE}: best_model_path {recorded!r} not found and no best-*.ckpt in the folder")
            if chosen is not None and len(best) > 1:
                notes.append(
                    f"checkpoints: {len(best)} best-*.ckpt files; chose {store.basename(chosen)} by the value in its "
                    "name"
                )
        self._best = (chosen,)
        return chosen


# ------------------------------------------------------------------------------------------------ public functions


def read_record(run_dir: PathLike, model: type[ArtifactT]) -> ArtifactT | None:
    """Read one file of a run folder the way :func:`load_run` does (legacy files converted), or ``None`` if absent.

    The one reader of the package: the recorder reads a run's files through it before it adds to them.

    Raises:
        ArtifactError: If the file cannot be read, is not valid JSON, or is not a valid ``model``.
    """
    return Run(run_dir)._artifact(model)


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
    if text.endswith(".ckpt") and (store.is_remote(text) or os.path.isfile(text.removeprefix("file://"))):
        path = store.dirname(text)  # a checkpoint: its run is the folder that holds it, wherever that moved
    run = Run(path)
    _require_folder(run.path)
    run._load_all(strict=True)
    if all(run._loaded.get(f) is None for f in _FILES):
        if not store.is_remote(run.path) and _holds_an_interrupted_write(run.path):
            raise RunNotFoundError(
                f"{run.path}: an incomplete run: it holds only the temporary file of an interrupted first write "
                f"({store._TMP_PREFIX}*), so it was killed at its start and has nothing to load"
            )
        raise RunNotFoundError(
            f"{run.path}: not a run folder: it holds none of {', '.join(_FILES)}; "
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
    base = resolve_data_folder(data_folder)
    if root_name is not None:
        root_name = validate_root_name(root_name)
    if status is not None and status not in READ_STATUSES:
        raise ValueError(f"status must be one of {', '.join(map(repr, READ_STATUSES))}, got {status!r}")
    if kind is not None and kind not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, _KINDS))} or None for both, got {kind!r}")
    if not store.is_remote(base) and not os.path.isdir(base):
        raise RunNotFoundError(
            f"data folder {base!r} does not exist: pass data_folder=, or set $ARCCNET_DATA_FOLDER or "
            "$ARCAFF_DATA_FOLDER (default ./data)"
        )
    folder = root_folder(base, root_name)
    runs, problems = scan_runs(folder, root_name or "", recursive=root_name is None)
    for path, problem in problems:
        warnings.warn(f"find_runs: skipping {path}: {problem}", stacklevel=2)
    now = datetime.now(timezone.utc)
    return [
        run
        for run in runs
        if (model_name is None or run.model_name == model_name)
        and (loss_function is None or run.loss_function == loss_function)
        and (status is None or run.status_at(now) == status)
        and (kind is None or run.kind == kind)
    ]


def scan_runs(folder: PathLike, root: str = "", *, recursive: bool = True) -> tuple[list[Run], list[tuple[str, str]]]:
    """Every run folder under ``folder`` (local or URL), oldest first, and the folders that could not be read.

    The scan behind :func:`find_runs` and the command line: one file read per run (``training_summary.json``, or
    every file of a run that stopped before writing one); remote summaries are fetched in one concurrent batch.

    Args:
        folder: Where to look: ``<data>/checkpoints``, a root folder under it, or any folder holding run folders.
        root: The root name ``folder`` stands for (``flares/multiclass``), for runs that do not record theirs.
        recursive: Search sub-folders that are not runs at any depth (else only ``folder``'s own sub-folders).

    Returns:
        ``(runs, problems)``: the runs sorted by start time (runs without one last), and ``(path, reason)`` for each
        run folder skipped because a file in it is unreadable or invalid.
    """
    # Ten thousand runs allocate a few hundred thousand objects, none of them in a reference cycle: the cyclic
    # garbage collector would walk all of them again and again while the list grows (a third of the scan's time).
    paused = gc.isenabled()
    gc.disable()
    try:
        return _scan_runs(os.fspath(folder), root, recursive=recursive)
    finally:
        if paused:
            gc.enable()


def _scan_runs(text: str, root: str, *, recursive: bool) -> tuple[list[Run], list[tuple[str, str]]]:
    remote = store.is_remote(text)
    text = text.rstrip("/") if remote else os.path.abspath(text)
    scan = _scan_remote if remote else _scan_local
    keyed: list[tuple[bool, datetime, str, Run]] = []
    problems: list[tuple[str, str]] = []
    for path, name, location, raw in scan(text, root, recursive=recursive):
        run = Run._from_scan(path, name, location or None)
        try:
            if isinstance(raw, Exception):  # an OSError, or a remote store's own error from the batched read
                raise _unreadable(store.join(path, SUMMARY_FILE), raw)
            if raw is None:
                run._load_all(strict=True)  # a run that stopped before its summary: what it has must be valid
            else:
                run._adopt(TrainingSummary, raw)
            start = run.start_time
        except (ArcCkptError, OSError, ValueError) as e:
            # "training_summary.json: cannot be read: ...": the message names the file, not its folder again
            problems.append((path, str(e).removeprefix(path + ("/" if remote else os.sep))))
            continue
        keyed.append((start is None, start or _EPOCH, path, run))
    keyed.sort(key=lambda item: item[:3])
    return [item[3] for item in keyed], problems


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
            (:func:`~arccnet_ckpt.runs.query.metric_mode`): the runs' recorded mode when ``metric`` is of the monitored
            kind (``test_loss`` for a run that monitored ``val_loss``), else ``min`` for losses, errors and times and
            ``max`` for the rest.
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


CHECKPOINT_KEY = "arccnet_ckpt"
"""The top-level key of every checkpoint the callback saves: ``run_name``, ``run_dir``, ``schema_version`` and
``config_sha256`` (the SHA-256 of ``config.json`` when the checkpoint was saved)."""

CHECKPOINT_ENTRY_VERSION = 1


def config_digest(run_dir: PathLike) -> str | None:
    """The SHA-256 (hex) of the run's ``config.json`` as stored, or ``None`` when it cannot be read."""
    try:
        raw = read_bounded(store.join(os.fspath(run_dir), ConfigRecord.filename))
    except (OSError, UnicodeDecodeError):
        return None
    return hashlib.sha256(raw.encode("utf-8") if isinstance(raw, str) else raw).hexdigest()


def load_checkpoint_safely(checkpoint: PathLike, *, mmap: bool = False) -> Any:
    """``torch.load`` of a local or remote checkpoint on the CPU with ``weights_only=True``: reading a file from
    someone else never runs code from it (imports torch). ``mmap``: map a local file's tensors instead of reading
    them (for a look at its small entries).

    Raises:
        Exception: Whatever ``torch.load`` or the file system raises for a file that cannot be read this way.
    """
    import torch

    path = os.fspath(checkpoint)
    if store.is_remote(path):
        import fsspec

        with fsspec.open(path, "rb") as f:
            return torch.load(f, map_location="cpu", weights_only=True)
    return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)


def read_checkpoint_entry(checkpoint: PathLike) -> dict[str, Any] | None:
    """The ``arccnet_ckpt`` entry of a checkpoint (imports torch), or ``None`` when it has none or cannot be read
    safely (see :func:`load_checkpoint_safely`)."""
    try:
        data = load_checkpoint_safely(checkpoint, mmap=True)
    except Exception:  # an unsafe or foreign checkpoint: nothing can be said of its run
        return None
    entry = data.get(CHECKPOINT_KEY) if isinstance(data, dict) else None
    return dict(entry) if isinstance(entry, dict) else None


# ------------------------------------------------------------------------------------------------ module helpers

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


MAX_JSON_BYTES = 16 * 1024 * 1024
"""The largest JSON file of a run folder that is read (16 MiB); a larger one is unreadable, with that reason.

A run's files are a few KB (``history.json`` of a long run a few MB): a bigger one is not a run file, and reading a
stray 1 GB file (or ``/dev/zero``) would only exhaust memory."""

_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)
    # A FIFO opened without O_NONBLOCK waits for a writer for ever; O_NOCTTY: a terminal device never becomes ours.
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
)


def read_bounded(path: str) -> str | bytes:
    """The bytes of one JSON file of a run folder (local or remote), checked by :func:`_read_local`'s rules.

    Raises:
        OSError: If it cannot be read, is not a regular file, or is larger than :data:`MAX_JSON_BYTES`.
    """
    return _read_remote(path) if store.is_remote(path) else _read_local(path)


def _read_local(path: str) -> bytes:
    """Read a regular file of at most :data:`MAX_JSON_BYTES`, whatever sits under its name.

    Data folders are shared: a FIFO, a device (a link to ``/dev/zero``), a socket or a folder may carry a JSON
    file's name. The file is opened non-blocking (a FIFO cannot hang the read), and ``fstat`` of the open file, not
    of the name, decides: a symlink is followed, but what it leads to must be a regular file, even if the name is
    swapped between a check and the read.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as e:
        if e.errno == errno.ENXIO:  # what opening a Unix socket gives
            raise _not_regular(path) from e
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(path, info.st_mode)
        if info.st_size > MAX_JSON_BYTES:
            raise _too_large(info.st_size)
        # One read call for the whole file (a run's JSON is a few KB): unbuffered os.read, about twice as fast as
        # open().read() for thousands of small files. The loop only runs for a short read, or a file that grows.
        first = os.read(fd, info.st_size + 1)
        if len(first) == info.st_size:
            return first
        chunks = [first]
        size = len(first)
        while chunk := os.read(fd, _READ_SIZE):
            size += len(chunk)
            if size > MAX_JSON_BYTES:
                raise _too_large(size)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_remote(path: str) -> bytes:
    """As :func:`_read_local` for a URL: at most :data:`MAX_JSON_BYTES` + 1 bytes are fetched."""
    import fsspec

    fs, stripped = fsspec.core.url_to_fs(path)
    with fs.open(stripped, "rb") as fh:
        data = bytes(fh.read(MAX_JSON_BYTES + 1))
    if len(data) > MAX_JSON_BYTES:
        raise _too_large(None)
    return data


_READ_SIZE = 1 << 16

_FILE_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(path: str, mode: int | None = None) -> OSError:
    if mode is None:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = 0
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
    return OSError(f"{kind}, not a regular file: only regular files are read")


def _too_large(size: int | None) -> OSError:
    held = f" (it holds {size:,} bytes)" if size is not None else ""
    return OSError(f"larger than the {MAX_JSON_BYTES // (1024 * 1024)} MiB limit for a run's JSON file{held}: not read")


def unreadable_reason(error: BaseException) -> str:
    """Why a file of a run folder (or the trash) could not be read or decoded, in words."""
    if isinstance(error, RecursionError):
        return "nested too deeply to be read as JSON"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror  # "Is a directory", without "[Errno 21]" and the path again
    return str(error) or type(error).__name__


def _unreadable(source: str, error: BaseException) -> ArtifactError:
    """The one message for a file of a run folder that cannot be read or decoded, naming the file."""
    return ArtifactError(f"{source}: cannot be read: {unreadable_reason(error)}")


def _require_folder(path: str) -> None:
    if store.is_remote(path):
        import fsspec

        fs, stripped = fsspec.core.url_to_fs(path)
        is_dir, is_file = fs.isdir(stripped), fs.isfile(stripped)
    else:
        is_dir, is_file = os.path.isdir(path), os.path.isfile(path)
    if is_file:
        raise RunNotFoundError(f"{path}: is a file, not a run folder; pass the folder that holds it")
    if not is_dir:
        raise RunNotFoundError(f"{path}: no such run folder")


INTERNAL_FILES = frozenset({store.CLAIM_MARKER})
"""Files of a run folder that belong to the package's machinery, not to the run: never listed as its files."""


def list_files(folder: str) -> list[str]:
    """Paths of the files directly in ``folder`` (regular files, or links to them), without :data:`INTERNAL_FILES`;
    empty if it does not exist."""
    return [path for path, _ in _list_files(folder, sizes=False)]


def list_file_sizes(folder: str) -> list[tuple[str, int]]:
    """``(name, bytes)`` of the files :func:`list_files` lists, sorted by name."""
    return sorted((store.basename(path), size) for path, size in _list_files(folder, sizes=True))


def _list_files(folder: str, *, sizes: bool) -> list[tuple[str, int]]:
    if store.is_remote(folder):
        import fsspec

        fs, stripped = fsspec.core.url_to_fs(folder)
        try:
            entries = fs.ls(stripped, detail=True)
        except FileNotFoundError:
            return []
        named = ((e["name"].rstrip("/").rsplit("/", 1)[-1], e) for e in entries if e["type"] == "file")
        return [(store.join(folder, name), int(e.get("size") or 0)) for name, e in named if name not in INTERNAL_FILES]
    out = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                try:
                    # is_file() follows a link: a FIFO, a device or a link to one is not a file of the run.
                    if entry.name in INTERNAL_FILES or not entry.is_file():
                        continue
                    out.append((entry.path, entry.stat().st_size if sizes else 0))
                except OSError:  # removed, or a link that broke, while the folder was listed
                    continue
    except (FileNotFoundError, NotADirectoryError):
        return []
    return out


_ScanItem = tuple[str, str, str, "bytes | str | Exception | None"]


MAX_SCAN_DEPTH = 32
"""How deep below the scanned folder a run folder is found (``<root>/<run>`` is 2 deep); deeper ones are not."""


def _scan_local(folder: str, root: str, *, recursive: bool) -> Iterator[_ScanItem]:
    """Yield ``(run folder, its name, root name, summary bytes | None | error)`` for each run folder in ``folder``.

    A sub-folder holding ``training_summary.json`` (or, for a partial run, ``config.json``/``minimal_logging.json``)
    is a run; any other is searched further when ``recursive``. Opening the summary directly costs one system call
    per run, where listing each run folder would cost several.

    Links to folders are followed (``prune`` lists what it finds behind one as skipped), but a data folder holding
    ``loop -> .`` or ``up -> ../..`` must neither hang the scan nor list a run twice: every folder searched is
    remembered by ``(st_dev, st_ino)`` and never searched again, a run reached through a link is dropped when the
    same folder was already listed, and the scan goes no deeper than :data:`MAX_SCAN_DEPTH` folders. Folders
    reached without a link are searched first, so a run is listed under its own path rather than a link's.
    """
    searched: set[tuple[int, int]] = set()
    real_runs: list[str] = []  # run folders reached without a link: stat'ed only if a link is followed
    listed: set[tuple[int, int]] = set()  # the runs listed, once links are followed
    links: list[tuple[str, str, str, int]] = []  # (path, name, root name, depth): followed after all other folders
    following = False
    stack = [(folder, root, 0)]
    while stack or links:
        if not stack:
            if not following:
                following = True
                listed = {_identity(st) for st in map(_stat_or_none, real_runs) if st is not None}
            path, name, rel, depth = links.pop()
            found = _scan_entry(path, name, rel, depth, stack, following, recursive, searched, listed, real_runs)
            if found is not None:
                yield found
            continue
        current, rel, depth = stack.pop()
        with contextlib.suppress(OSError):  # a folder that cannot be stat'ed is reported by scandir below
            identity = _identity(os.stat(current))
            if identity in searched:
                continue
            searched.add(identity)
        try:
            it = os.scandir(current)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as e:
            yield current, store.basename(current), rel, e
            continue
        with it:
            for entry in it:
                name = entry.name
                if name.startswith("."):
                    continue
                try:
                    if not entry.is_dir():
                        continue
                    if not following and entry.is_symlink():
                        links.append((entry.path, name, rel, depth))
                        continue
                except OSError:
                    continue
                found = _scan_entry(
                    entry.path, name, rel, depth, stack, following, recursive, searched, listed, real_runs
                )
                if found is not None:
                    yield found


def _scan_entry(
    path: str,
    name: str,
    rel: str,
    depth: int,
    stack: list[tuple[str, str, int]],
    following: bool,
    recursive: bool,
    searched: set[tuple[int, int]],
    listed: set[tuple[int, int]],
    real_runs: list[str],
) -> _ScanItem | None:
    """One folder met by :func:`_scan_local` in a folder ``depth`` deep: the run it is, or ``None`` (pushed to be
    searched, or already met)."""
    if following:  # reached through a link: the same folder may have been met already, under another path
        st = _stat_or_none(path)
        if st is None:
            return None
        identity = _identity(st)
        if identity in searched or identity in listed:
            return None
    try:
        raw: bytes | OSError | None = _read_local(path + os.sep + SUMMARY_FILE)
    except FileNotFoundError:
        raw = None
    except OSError as e:
        raw = e
    if raw is None and not (
        any(os.path.isfile(os.path.join(path, marker)) for marker in RUN_MARKERS) or _holds_an_interrupted_write(path)
    ):
        if recursive and depth + 1 < MAX_SCAN_DEPTH:  # its sub-folders are at most that deep
            stack.append((path, f"{rel}/{name}" if rel else name, depth + 1))
        return None
    if following:
        listed.add(identity)
    else:
        real_runs.append(path)
    return path, name, rel, raw


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


_INTERRUPTED_WRITES = tuple(f"{store._TMP_PREFIX}{name}." for name in _FILES)


def _holds_an_interrupted_write(folder: str) -> bool:
    """Whether ``folder`` holds a temporary file of a run's JSON (``.arc-tmp-config.json.<hex>``): a run killed
    while its first file was written, which is a run (``incomplete``), not a folder to search further."""
    try:
        with os.scandir(folder) as it:
            return any(entry.name.startswith(_INTERRUPTED_WRITES) for entry in it)
    except OSError:
        return False


def _scan_remote(folder: str, root: str, *, recursive: bool) -> Iterator[_ScanItem]:
    """As :func:`_scan_local` for fsspec URLs: one ``find`` listing, then one batched ``cat`` of the summaries."""
    fs, stripped = store.fs_for_many_reads(folder)
    base = stripped.rstrip("/")
    try:
        # With detail, the listing gives each object's size at no extra cost: an over-size summary is never fetched.
        files = fs.find(base, maxdepth=None if recursive else 2, detail=True)
    except FileNotFoundError:
        return
    runs: dict[tuple[str, ...], set[str]] = {}
    for file in files:
        if not file.startswith(base + "/"):
            continue
        parts = tuple(file[len(base) + 1 :].split("/"))
        if len(parts) < 2 or parts[-1] not in _FILES or any(p.startswith(".") for p in parts[:-1]):
            continue
        runs.setdefault(parts[:-1], set()).add(parts[-1])
    run_dirs = set()
    for parts, names in runs.items():
        if SUMMARY_FILE in names or any(m in names for m in RUN_MARKERS):
            run_dirs.add(parts)
    # The outermost run folder wins: files in sub-folders of a run are not runs of their own.
    run_dirs = {p for p in run_dirs if not any(p[:i] in run_dirs for i in range(1, len(p)))}
    summaries = ["/".join((base, *p, SUMMARY_FILE)) for p in run_dirs if SUMMARY_FILE in runs[p]]
    too_large = {key for key in summaries if int(files[key].get("size") or 0) > MAX_JSON_BYTES}
    wanted = [key for key in summaries if key not in too_large]
    contents: dict[str, Any] = fs.cat(wanted, on_error="return") if wanted else {}
    contents.update({key: _too_large(int(files[key]["size"])) for key in too_large})
    for parts in sorted(run_dirs):
        location = "/".join(x for x in (root, *parts[:-1]) if x)
        key = "/".join((base, *parts, SUMMARY_FILE))
        raw = contents.get(key) if SUMMARY_FILE in runs[parts] else None
        if SUMMARY_FILE in runs[parts] and raw is None:
            raw = FileNotFoundError(f"{key}: listed but not returned by the file system")
        yield store.join(folder, *parts), parts[-1], location, raw


def _root_from_path(path: str) -> str | None:
    """The part of ``path`` between the last ``checkpoints`` segment and the run folder (``flares/binary``)."""
    split = split_at_checkpoints(path.replace("\\", "/").rstrip("/").rpartition("/")[0])
    return (split[1] or None) if split is not None else None


def _field(model: BaseModel, name: str) -> Any:
    if name in type(model).model_fields:
        return getattr(model, name)
    return (model.model_extra or {}).get(name)


def _best_keys(data: dict[str, Any], model: type[BaseModel]) -> list[str]:
    """The seed's ``best_<monitor>`` keys (e.g. ``best_val_f1``): ``best_*`` keys that are not fields."""
    return [k for k in data if k.startswith("best_") and k not in model.model_fields]


def _parse_checkpoint_name(name: str) -> tuple[int, float | None] | None:
    """``(epoch, value)`` from ``best-epoch02-val_f1-0.847.ckpt`` or ``best-42-0.847.ckpt``; ``None`` otherwise."""
    for pattern in _CKPT_NAMES:
        match = pattern.match(name)
        if match is not None:
            value = float(match["value"])
            return int(match["epoch"]), value if math.isfinite(value) else None
    return None


def _pick_best(checkpoints: list[str], monitor: str | None, mode: str | None) -> str | None:
    """The ``best-*.ckpt`` with the best value in its name (the later epoch among equals); ``None`` if none.

    The direction is :func:`~arccnet_ckpt.runs.query.metric_mode` of the recorded monitor, else of the metric the
    names carry (``best-epoch02-val_error-0.2.ckpt`` is minimised), like everywhere else.
    """
    best = [p for p in checkpoints if store.basename(p).startswith("best-")]
    if len(best) <= 1:
        return best[0] if best else None
    named = (_CKPT_NAMES[0].match(store.basename(p)) for p in best)
    metric = monitor or next((m["metric"] for m in named if m is not None), "")
    sign = 1.0 if metric_mode(metric, monitor, mode) == "max" else -1.0

    def rank(path: str) -> tuple[bool, float, int]:
        parsed = _parse_checkpoint_name(store.basename(path))
        if parsed is None or parsed[1] is None:
            return (False, 0.0, parsed[0] if parsed else -1)
        return (True, sign * parsed[1], parsed[0])

    return max(best, key=rank)


def _split_model_loss(rest: str, model_name: Any = None, loss: Any = None) -> tuple[str, str]:
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


def _local_to_utc(naive: datetime) -> datetime:
    """A naive time read as the local time of this machine, as UTC."""
    return naive.astimezone().astimezone(timezone.utc)


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
