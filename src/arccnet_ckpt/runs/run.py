""":class:`Run`: one run folder read back, over the reader (:class:`~arccnet_ckpt.records.reader.RunFiles`).

Each file is read on first use and kept; the values people ask for first (status, names, start time, a metric, the
best checkpoint) are derived here, each from the files in a fixed order. Nothing here imports torch or lightning;
only :meth:`Run.load_model` does, through the module class it is given.
"""

from __future__ import annotations

import contextlib
import math
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from arccnet_ckpt import store
from arccnet_ckpt.core.lifecycle import DEFAULT_STALE_AFTER, status_of
from arccnet_ckpt.errors import ArtifactError, RunNotFoundError
from arccnet_ckpt.layout import parse_run_folder_name, split_at_checkpoints
from arccnet_ckpt.records import (
    ARTIFACTS,
    ClassificationReport,
    ConfigRecord,
    GroupInfo,
    History,
    MinimalLogging,
    TrainingSummary,
)
from arccnet_ckpt.records.legacy import local_to_utc, split_model_loss
from arccnet_ckpt.records.reader import RunFiles, folder_path
from arccnet_ckpt.runs.checkpoints import CHECKPOINT_NOTES, check_belongs, choose_best

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pydantic import BaseModel

    from arccnet_ckpt.store import PathLike

ModuleT = TypeVar("ModuleT")

FILES = tuple(model.filename for model in ARTIFACTS.values())
"""The JSON files of a run folder, in the order their notes and errors are listed."""


class Run:
    """One run folder, read back.

    Build it with :func:`~arccnet_ckpt.runs.load_run` (every file read and validated at once) or get it from
    :func:`~arccnet_ckpt.runs.find_runs` (only ``training_summary.json`` read; the other files are read on first
    access and cached).

    Attributes:
        path: The run folder: an absolute local path, or the fsspec URL it was found under.
        name: The folder's name, e.g. ``2025-02-12_14-30-45_resnet18_weighted_bce``.

    Example:
        >>> run = load_run("data/checkpoints/flares/binary_classification/2025-02-12_14-30-45_resnet18_weighted_bce")
        >>> run.status, run.metric("test_f1"), run.best_checkpoint  # doctest: +SKIP
        ('completed', 0.851, '/.../best-epoch42-val_f1-0.847.ckpt')
    """

    __slots__ = ("_best", "_files", "_location_root", "name", "path")

    def __init__(self, path: PathLike, *, root_name: str | None = None) -> None:
        """Point at a run folder without reading anything; prefer :func:`~arccnet_ckpt.runs.load_run`.

        Args:
            path: The run folder, local or an fsspec URL.
            root_name: Where the folder sits under ``<data_folder>/checkpoints``; found from ``path`` if omitted.
        """
        text = folder_path(path)
        self._setup(text, store.basename(text), root_name if root_name is not None else _root_from_path(text))

    def _setup(self, path: str, name: str, location_root: str | None) -> None:
        self.path = path
        self.name = name
        self._location_root = location_root
        self._files = RunFiles(path, name)
        self._best: tuple[str | None] | None = None

    @classmethod
    def _from_scan(cls, path: str, name: str, location_root: str | None) -> Run:
        """A run found by a scan, whose path is already absolute (or a URL) and split."""
        run = cls.__new__(cls)
        run._setup(path, name, location_root)
        return run

    # ------------------------------------------------------------------------------------------------ the files

    @property
    def config(self) -> ConfigRecord | None:
        """``config.json``, or ``None`` if the folder has none.

        Raises:
            ArtifactError: If the file is invalid (on every access, for runs from ``find_runs``).
        """
        return self._files.get(ConfigRecord)

    @property
    def summary(self) -> TrainingSummary | None:
        """``training_summary.json``, or ``None`` if the folder has none."""
        return self._files.get(TrainingSummary)

    @property
    def report(self) -> ClassificationReport | None:
        """``classification_report.json``, or ``None`` if the folder has none."""
        return self._files.get(ClassificationReport)

    @property
    def minimal(self) -> MinimalLogging | None:
        """``minimal_logging.json``, or ``None`` if the folder has none."""
        return self._files.get(MinimalLogging)

    @property
    def history(self) -> History | None:
        """``history.json`` (one entry per validation run), or ``None`` for runs that have none (legacy ones)."""
        return self._files.get(History)

    @property
    def notes(self) -> list[str]:
        """What the loader could not interpret or had to convert, one sentence per item, each naming its file.

        Reads every file not read yet. An invalid file appears here as its error message instead of raising.
        """
        files = self._files
        files.load_all(strict=False)
        with contextlib.suppress(ArtifactError):  # an invalid summary is reported below
            self._best_checkpoint()
        out = [note for key in (*FILES, CHECKPOINT_NOTES) for note in files.notes.get(key, [])]
        out.extend(str(files.errors[f]) for f in FILES if f in files.errors)
        return out

    @property
    def unreadable(self) -> list[str]:
        """One message per file that cannot be read or is invalid (naming the file), after trying every file."""
        self._files.load_all(strict=False)
        return [str(self._files.errors[f]) for f in FILES if f in self._files.errors]

    @property
    def is_legacy(self) -> bool:
        """Whether any file came from the old manual system (no ``schema_version``) and was converted."""
        self._files.load_all(strict=False)
        return bool(self._files.legacy)

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
        return local_to_utc(parsed[0]) if self.is_legacy else parsed[0].replace(tzinfo=timezone.utc)

    @property
    def status(self) -> str:
        """The status every reader shows (:func:`~arccnet_ckpt.core.lifecycle.status_of`): ``running``, ``completed``,
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
    def group(self) -> GroupInfo | None:
        """The group the run belongs to (``{id, source, index}``, from the summary), or ``None`` for a run that
        records none (a legacy run, or one without a summary): a group of its own.

        :func:`~arccnet_ckpt.runs.groups.load_group` reads the group's runs back together.
        """
        summary = self.summary
        return summary.group if summary is not None else None

    @property
    def checkpoints(self) -> list[str]:
        """Every ``.ckpt`` file directly in the folder (absolute paths or URLs), sorted by name."""
        return list(self._files.checkpoints())

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
        check_belongs(checkpoint, self.name, self.path)
        return loader(checkpoint, **kwargs)

    def __repr__(self) -> str:
        parts = [repr(self.name)]
        summary = self._files.loaded.get(TrainingSummary.filename)
        root = summary.root_name if summary is not None and summary.root_name else self._location_root
        if root:
            parts.append(f"root_name={root!r}")
        if summary is not None:
            parts.append(f"status={summary.status!r}")
            if summary.monitor and summary.best_metric_value is not None:
                parts.append(f"best_{summary.monitor}={summary.best_metric_value:.4g}")
        if self._files.legacy:
            parts.append("legacy=True")
        return f"Run({', '.join(parts)})"

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
        model_name, loss = split_model_loss(parsed[1])
        return model_name if key == "model_name" else loss

    def _best_checkpoint(self) -> str | None:
        if self._best is None:
            chosen, notes = choose_best(self.path, self._files.checkpoints(), self.summary)
            self._files.notes.setdefault(CHECKPOINT_NOTES, []).extend(notes)
            self._best = (chosen,)
        return self._best[0]


def _root_from_path(path: str) -> str | None:
    """The part of ``path`` between the last ``checkpoints`` segment and the run folder (``flares/binary``)."""
    split = split_at_checkpoints(path.replace("\\", "/").rstrip("/").rpartition("/")[0])
    return (split[1] or None) if split is not None else None


def _field(model: BaseModel, name: str) -> Any:
    if name in type(model).model_fields:
        return getattr(model, name)
    return (model.model_extra or {}).get(name)
