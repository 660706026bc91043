"""The seed-compatible manual API: ``CheckpointManager`` and its task presets.

Old training scripts keep working with one import changed::

    from arccnet_ckpt import BinaryClassificationCheckpointManager   # was arccnet.models.checkpoint_manager

The manager is a rank-aware wrapper over the same :class:`~arccnet_ckpt.core.recorder.RunRecorder` the callback uses,
so a manual run and a callback run write the same files with the same fields. Its callback
(:meth:`CheckpointManager.get_checkpoint_callback`) already writes every file by itself: the ``save_*`` calls are
only needed by scripts that have not dropped them yet. What they pass is merged into what the callback recorded;
values the callback measured (best epoch, best value, epochs trained, early stopping) stay as measured, and a
caller's differing value is kept under ``manual_values`` with a :class:`~arccnet_ckpt.errors.ManagerWarning`.

Under DDP, Lightning runs the script once per process: only global rank 0 creates the run folder and writes; the
other ranks learn the folder from the Trainer (Lightning broadcasts the checkpoint folder) and their ``save_*`` calls
write nothing.
"""

from __future__ import annotations

import atexit
import os
import sys
import types
import weakref
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from arccnet_ckpt import capture, layout, store
from arccnet_ckpt.core.lifecycle import is_interruption
from arccnet_ckpt.core.recorder import RunIdentity, RunRecorder
from arccnet_ckpt.core.records import error_info
from arccnet_ckpt.errors import ArtifactError, ManagerWarning
from arccnet_ckpt.lightning import ranks
from arccnet_ckpt.records import ArtifactT, ClassificationReport, ConfigRecord, MinimalLogging, TrainingSummary
from arccnet_ckpt.records.reader import read_record

if TYPE_CHECKING:
    from arccnet_ckpt.lightning.callback import ArcCheckpointLogic

Namespace = Literal["lightning.pytorch", "pytorch_lightning"]

__all__ = [
    "BinaryClassificationCheckpointManager",
    "CheckpointManager",
    "CutoutHaleCheckpointManager",
    "CutoutMcintoshCheckpointManager",
    "ManagerWarning",
    "MulticlassFlareCheckpointManager",
]


class CheckpointManager:
    """Manual API of the seed document: one run folder, and ``save_*`` methods that fill it.

    The run folder ``<data_folder>/checkpoints/<root_name>/<UTC timestamp>_<model>_<loss>/`` is created when the
    manager is (a second manager in the same second gets a ``-2`` suffix), on global rank 0 only: under DDP the other
    ranks learn it from the Trainer, and their ``save_*`` calls write nothing.

    Args:
        root_name: Sub-path under ``<data_folder>/checkpoints``, e.g. ``"custom/model_type"``.
        data_folder: Base folder or fsspec URL; ``None`` -> ``$ARCCNET_DATA_FOLDER``, else
            ``$ARCAFF_DATA_FOLDER``, else ``./data``.
        model_name: Model name in the folder name and the files.
        loss_function: Loss name in the folder name and the files.

    Raises:
        ValueError: For a bad ``root_name`` (``..``, absolute, empty segments, ...).
        RunFolderError: If the folder cannot be created.

    Example::

        manager = CheckpointManager("custom/model_type", data_folder="/ARCAFF/data", model_name="my_model")
        trainer = Trainer(callbacks=[manager.get_checkpoint_callback(monitor="val_f1", mode="max")])
    """

    def __init__(
        self,
        root_name: str,
        data_folder: str | os.PathLike[str] | None = None,
        model_name: str = "unknown",
        loss_function: str = "unknown",
    ) -> None:
        self.root_name = layout.validate_root_name(root_name)
        self.data_folder = layout.resolve_data_folder(data_folder)
        layout.check_path_length(self.data_folder, self.root_name)
        self.model_name = str(model_name)
        self.loss_function = str(loss_function)
        self.start_time = datetime.now(timezone.utc)
        self._callback: weakref.ReferenceType[Any] | None = None
        self._own_dir: str | None = None
        self._redaction = capture.Redaction()  # the secrets save_config() hid, hidden in an unfinished run's error
        if ranks.process_is_rank_zero():
            parent = layout.root_folder(self.data_folder, self.root_name)
            folder = layout.run_folder_name(self.start_time, self.model_name, self.loss_function)
            self._own_dir = store.make_unique_dir(parent, folder)
            _UNFINISHED.watch(self)
        self._seeded: dict[str, Any] = {
            "start_time": self.start_time.isoformat(),
            "model_name": self.model_name,
            "loss_function": self.loss_function,
            "root_name": self.root_name,
        }
        self.training_metadata: dict[str, Any] = dict(self._seeded)
        """The old manager's dict: seeded with ``start_time``, ``model_name``, ``loss_function`` and ``root_name``;
        whatever a script puts into it is merged into ``training_summary.json`` by :meth:`save_training_metadata`."""

    @property
    def timestamp(self) -> datetime:
        """When the manager was created (UTC): the time in the run folder's name."""
        return self.start_time

    def get_checkpoint_path(self) -> str:
        """The run folder as a string, as the old manager returned it (scripts log it at start and end).

        Returns:
            The folder's path or URL; ``""`` on DDP ranks other than 0 until ``fit`` has shared rank 0's folder.
        """
        folder = self._run_dir
        return "" if folder is None else str(folder)

    def __str__(self) -> str:
        return (
            f"{type(self).__name__}(root_name={self.root_name!r}, model_name={self.model_name!r}, "
            f"loss_function={self.loss_function!r}, checkpoint_dir={self.get_checkpoint_path()!r})"
        )

    @property
    def _run_dir(self) -> str | None:
        """The run folder: created here on rank 0; on other ranks the one the Trainer shared, once it has."""
        if self._own_dir is not None:
            return self._own_dir
        callback = self._callback() if self._callback is not None else None
        return callback.run_dir if callback is not None else None

    @property
    def checkpoint_dir(self) -> Path | str | None:
        """The run folder: a ``Path`` on a local disk, the URL string on remote storage.

        ``None`` on DDP ranks other than 0 until ``fit`` has shared the folder of rank 0.
        """
        folder = self._run_dir
        if folder is None:
            return None
        return folder if store.is_remote(folder) else Path(folder)

    @property
    def run_name(self) -> str | None:
        """The run folder's name (``None`` where :attr:`checkpoint_dir` is)."""
        folder = self._run_dir
        return store.basename(folder) if folder is not None else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(checkpoint_dir={self._run_dir!r})"

    def _recorder(self) -> RunRecorder | None:
        """The recorder of the run folder, on the process that writes it (global rank 0); else ``None``."""
        folder = self._run_dir
        if folder is None or not ranks.process_is_rank_zero():
            return None
        identity = RunIdentity(
            run_dir=folder,
            run_name=store.basename(folder),
            model_name=self.model_name,
            loss_function=self.loss_function,
            start_time=self.start_time,
            root_name=self.root_name,
        )
        return RunRecorder(identity, read=read_record)

    def get_checkpoint_callback(
        self, monitor: str = "val_f1", mode: str = "max", *, namespace: Namespace | None = None, **kwargs: Any
    ) -> ArcCheckpointLogic:
        """An :class:`~arccnet_ckpt.ArcCheckpointCallback` bound to this run folder.

        It saves the top-1 checkpoint as ``best-epoch{EE}-<monitor>-{value:.3f}.ckpt`` and writes every JSON file
        by itself.

        Args:
            monitor: Metric to rank checkpoints by.
            mode: ``"max"`` or ``"min"``.
            namespace: ``"lightning.pytorch"`` or ``"pytorch_lightning"``; ``None`` picks ``pytorch_lightning``
                when only that one is imported (the seed's ``import pytorch_lightning as pl``).
            **kwargs: Any other ``ArcCheckpointCallback`` argument (``config``, ``class_names``, ``save_last``...).

        Returns:
            The callback, of the namespace's class.
        """
        namespace, why = (namespace, "namespace= was given") if namespace is not None else _caller_namespace()
        callback_cls = _callback_class(namespace)
        callback = callback_cls(
            root_name=self.root_name,
            data_folder=self.data_folder,
            model_name=self.model_name,
            loss_function=self.loss_function,
            dirpath=self._own_dir,  # None on other ranks: Lightning broadcasts rank 0's folder at setup
            monitor=monitor,
            mode=mode,
            **kwargs,
        )
        callback._origin = (
            f"{type(self).__name__}.get_checkpoint_callback(), which chose `{namespace}` because {why}; pass "
            "namespace='lightning.pytorch' or namespace='pytorch_lightning' to choose"
        )
        self._callback = weakref.ref(callback)
        return callback

    def save_config(self, config: Any) -> str | None:
        """Write ``config.json`` from a dict, a config module (``vars(config)`` works too) or any config object.

        Modules contribute their public variables; secrets are redacted; values are made JSON-safe. What the
        callback already recorded (hparams, Trainer, environment...) is kept.

        Returns:
            The path written; ``None`` on DDP ranks other than 0, which write nothing.
        """
        raw = config
        if isinstance(config, Mapping):
            raw = {k: v for k, v in config.items() if not (isinstance(k, str) and k.startswith("__"))}
            raw = {k: v for k, v in raw.items() if not _is_code(v)}
        taken = capture.config_snapshot(raw)
        self._redaction = capture.Redaction(frozenset(taken.secrets))
        unserializable = taken.unserializable
        updates: dict[str, Any] = {"config": taken.value, "config_source": "argument"}
        recorder = self._recorder()
        if recorder is None:
            return None
        existing = recorder.read(ConfigRecord)
        if existing is not None:  # the callback's listing of hparams stays; the config's is this call's
            kept = [u.model_dump() for u in existing.unserializable if not u.path.startswith(("config.", "config["))]
            unserializable = [*unserializable, *kept]
        updates["unserializable"] = unserializable
        if existing is None:
            updates.update(
                model_name=self.model_name,
                loss_function=self.loss_function,
                root_name=self.root_name,
                created_at=datetime.now(timezone.utc),
                git=capture.git_info(),
            )
        return recorder.merge_manual(ConfigRecord, updates)

    def save_training_metadata(self, metadata: Mapping[str, Any]) -> str | None:
        """Write ``training_summary.json`` from the seed's metadata dict (``best_epoch``, ``test_results``...).

        :attr:`training_metadata` is merged first, then ``metadata``: whatever a script put into either lands in the
        summary. Known fields are validated (wrong types or an unknown ``status`` raise :class:`ArtifactError` naming
        the field, and nothing is written); unknown keys are kept. Values the callback measured stay as measured (a
        differing value goes to ``manual_values``, with a :class:`ManagerWarning`). Without a summary from the
        callback, the run's names, ``start_time`` (the manager's creation), ``end_time`` (now) and
        ``status: completed`` are filled in.

        Returns:
            The path written; ``None`` on DDP ranks other than 0, which write nothing.
        """
        # The seeded entries are defaults: they never replace what the callback recorded (its fit start time).
        added = {k: v for k, v in self.training_metadata.items() if self._seeded.get(k, _MISSING) != v}
        updates = {
            **_jsonable_mapping(added, TrainingSummary.filename),
            **_jsonable_mapping(metadata, TrainingSummary.filename),
        }
        monitor = updates.get("monitor")
        for key in [k for k in updates if k.startswith("best_") and k not in TrainingSummary.model_fields]:
            updates.setdefault("best_metric_value", updates[key])
            updates.setdefault("monitor", monitor or key[len("best_") :])
        defaults = {"status": "completed", **self._summary_defaults(datetime.now(timezone.utc))}
        return self._merge_and_write(TrainingSummary, updates, defaults=defaults)

    def _summary_defaults(self, now: datetime) -> dict[str, Any]:
        """The fields of a summary no callback wrote: the run's names and times."""
        return {
            "start_time": self.start_time,
            "end_time": now,
            "duration_seconds": (now - self.start_time).total_seconds(),
            "model_name": self.model_name,
            "loss_function": self.loss_function,
            "root_name": self.root_name,
            "run_name": self.run_name,
        }

    def save_classification_report(self, report: Mapping[str, Any]) -> str | None:
        """Write ``classification_report.json`` from the seed's dict (``test_metrics``, ``class_names``...).

        Per-class results the callback computed are kept; unknown keys are kept.

        Returns:
            The path written; ``None`` on DDP ranks other than 0, which write nothing.
        """
        updates = _jsonable_mapping(report, ClassificationReport.filename)
        defaults = {
            "model_name": self.model_name,
            "loss_function": self.loss_function,
            "created_at": datetime.now(timezone.utc),
        }
        return self._merge_and_write(ClassificationReport, updates, defaults=defaults)

    def save_minimal_logging(
        self,
        best_epoch: int | None,
        best_metric_value: float | None,
        best_metric_name: str = "val_f1",
        num_epochs_trained: int | None = None,
        early_stopping_triggered: bool | None = None,
        additional_metrics: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Write ``minimal_logging.json`` with the seed's fields (``best_<name>`` included).

        Args:
            best_epoch: The epoch of the best checkpoint.
            best_metric_value: Its metric value (``NaN`` is written as ``null``).
            best_metric_name: The metric's name, e.g. ``"val_f1"``.
            num_epochs_trained: Epochs completed; ``None`` takes the summary's value.
            early_stopping_triggered: Whether EarlyStopping stopped the run; ``None`` keeps the recorded value.
            additional_metrics: Anything else worth a glance.

        Returns:
            The path written; ``None`` on DDP ranks other than 0, which write nothing.

        Raises:
            ArtifactError: For values of the wrong type, or no ``num_epochs_trained`` anywhere.
        """
        recorder = self._recorder()
        if recorder is None:
            return None
        summary = recorder.read(TrainingSummary)
        if num_epochs_trained is None:
            if summary is None:
                raise ArtifactError(
                    f"{MinimalLogging.filename}: field 'num_epochs_trained' is required when no "
                    f"{TrainingSummary.filename} exists yet (got None)"
                )
            num_epochs_trained = summary.num_epochs_trained
        updates = {
            "timestamp": datetime.now(timezone.utc),
            "best_epoch": best_epoch,
            "best_metric_name": best_metric_name,
            "best_metric_value": best_metric_value,
            "num_epochs_trained": num_epochs_trained,
            "additional_metrics": capture.to_jsonable(dict(additional_metrics or {})),
        }
        if early_stopping_triggered is not None:
            updates["early_stopping_triggered"] = early_stopping_triggered
        defaults = {"status": summary.status if summary else None}
        return self._merge_and_write(MinimalLogging, updates, defaults=defaults)

    def _record_unfinished(self, error: BaseException | None) -> None:
        """At exit: a folder that never got a summary gets one saying how the script ended (see ``_Unfinished``)."""
        recorder = self._recorder()
        if recorder is None or not store.exists(recorder.run_dir) or recorder.read(TrainingSummary) is not None:
            return
        now = datetime.now(timezone.utc)
        if error is None:
            status = "interrupted"
            info = {"type": "ScriptEnded", "message": "the script ended before training wrote a record"}
        else:
            status = "interrupted" if is_interruption(error) else "failed"
            info = error_info(error, self._redaction)
        defaults = {**self._summary_defaults(now), "status": status, "error": info, "recorded_by": "manual"}
        recorder.merge_manual(TrainingSummary, {}, defaults=defaults)

    def _merge_and_write(
        self, model: type[ArtifactT], updates: dict[str, Any], *, defaults: Mapping[str, Any] | None = None
    ) -> str | None:
        """Merge ``updates`` into the file through the recorder (rank 0); other ranks write nothing."""
        recorder = self._recorder()
        if recorder is None:
            return None
        return recorder.merge_manual(model, updates, defaults=defaults)


class BinaryClassificationCheckpointManager(CheckpointManager):
    """Preset for ``flares/binary_classification`` (defaults: resnet18, weighted_bce)."""

    def __init__(
        self,
        data_folder: str | os.PathLike[str] | None = None,
        model_name: str = "resnet18",
        loss_function: str = "weighted_bce",
    ) -> None:
        super().__init__("flares/binary_classification", data_folder, model_name, loss_function)


class MulticlassFlareCheckpointManager(CheckpointManager):
    """Preset for ``flares/multiclass`` (defaults: vit_base_patch32_224, focal)."""

    def __init__(
        self,
        data_folder: str | os.PathLike[str] | None = None,
        model_name: str = "vit_base_patch32_224",
        loss_function: str = "focal",
    ) -> None:
        super().__init__("flares/multiclass", data_folder, model_name, loss_function)


class CutoutHaleCheckpointManager(CheckpointManager):
    """Preset for ``cutouts/hale`` (default loss: cross_entropy)."""

    def __init__(
        self,
        data_folder: str | os.PathLike[str] | None = None,
        model_name: str = "unknown",
        loss_function: str = "cross_entropy",
    ) -> None:
        super().__init__("cutouts/hale", data_folder, model_name, loss_function)


class CutoutMcintoshCheckpointManager(CheckpointManager):
    """Preset for ``cutouts/mcintosh`` (default loss: cross_entropy)."""

    def __init__(
        self,
        data_folder: str | os.PathLike[str] | None = None,
        model_name: str = "unknown",
        loss_function: str = "cross_entropy",
    ) -> None:
        super().__init__("cutouts/mcintosh", data_folder, model_name, loss_function)


def _caller_namespace() -> tuple[Namespace, str]:
    """The Lightning namespace the calling script imported, and why.

    The script's own names decide (``import pytorch_lightning as pl``, ``from lightning.pytorch import Trainer``...),
    looked up frame by frame outward from the caller, so a notebook or a sweep that trains twice gets the same answer
    the second time: what the library itself imported never counts.
    """
    frame = sys._getframe(1)
    while frame is not None:
        if not str(frame.f_globals.get("__name__", "")).startswith("arccnet_ckpt"):
            found = _namespaces_in(frame.f_globals)
            if len(found) == 1:
                namespace = found.pop()
                return namespace, f"{frame.f_globals.get('__name__', 'the caller')} imports `{namespace}`"
        frame = frame.f_back  # type: ignore[assignment]
    return "lightning.pytorch", "no calling module imports `pytorch_lightning` alone"


def _namespaces_in(names: Mapping[str, Any]) -> set[Namespace]:
    """The Lightning namespaces whose modules, classes or functions a module's globals hold."""
    found: set[Namespace] = set()
    for value in list(names.values()):
        if isinstance(value, types.ModuleType):
            origin = value.__name__
        elif isinstance(value, type) or callable(value):
            origin = getattr(value, "__module__", None) or ""
        else:
            continue
        if not isinstance(origin, str):
            continue
        if origin == "pytorch_lightning" or origin.startswith("pytorch_lightning."):
            found.add("pytorch_lightning")
        elif origin == "lightning" or origin == "lightning.pytorch" or origin.startswith("lightning.pytorch."):
            found.add("lightning.pytorch")
    return found


def _callback_class(namespace: Namespace) -> type[ArcCheckpointLogic]:
    if namespace == "pytorch_lightning":
        from arccnet_ckpt.pytorch_lightning import ArcCheckpointCallback as PLCallback

        return PLCallback
    if namespace == "lightning.pytorch":
        from arccnet_ckpt.lightning.callback import ArcCheckpointCallback

        return ArcCheckpointCallback
    raise ValueError(f"namespace must be 'lightning.pytorch' or 'pytorch_lightning', got {namespace!r}")


class _Unfinished:
    """Runs whose script ended before ``fit`` wrote a record: they get a ``failed`` (or ``interrupted``) summary.

    A manager creates its folder when the script starts; a script that dies before training (an error in the data
    set-up, a typo) would otherwise leave an empty folder that looks like a run.
    """

    def __init__(self) -> None:
        self._managers: weakref.WeakSet[CheckpointManager] = weakref.WeakSet()
        self._error: BaseException | None = None
        self._installed = False

    def watch(self, manager: CheckpointManager) -> None:
        self._managers.add(manager)
        if not self._installed:
            self._installed = True
            previous = sys.excepthook

            def hook(kind: type[BaseException], error: BaseException, tb: types.TracebackType | None) -> None:
                self._error = error
                self.close()
                previous(kind, error, tb)

            sys.excepthook = hook
            atexit.register(self.close)

    def close(self) -> None:
        for manager in list(self._managers):
            self._managers.discard(manager)
            try:
                manager._record_unfinished(self._error)
            except Exception as e:  # at exit: say it, never raise
                print(f"arccnet_ckpt: could not record the unfinished run {manager._own_dir}: {e}", file=sys.stderr)


_UNFINISHED = _Unfinished()
_MISSING = object()


def _is_code(value: Any) -> bool:
    return isinstance(value, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type))


def _jsonable_mapping(data: Any, filename: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ArtifactError(f"{filename}: expected a dict of fields, got {type(data).__name__}: {data!r:.80}")
    return {str(k): _keep_times(v) for k, v in data.items()}


def _keep_times(value: Any) -> Any:
    # datetimes stay datetimes so naive ones are caught by validation instead of silently stringified.
    return value if isinstance(value, datetime) else capture.to_jsonable(value)
