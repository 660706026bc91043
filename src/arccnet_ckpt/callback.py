"""``ArcCheckpointCallback``: a drop-in ``ModelCheckpoint`` that leaves a complete, validated run folder.

The hooks only gather state and hand it to plain functions (``capture``, ``layout``, ``storage``, ``report``).
How each hook fails is decided here:

* an unwritable output folder fails at fit start, before the first training step, on every rank;
* capturing metadata (config, environment, git, ...) never kills a run: a problem costs a warning;
* after a failure inside ``fit`` the record is still written (``status: failed``), and the original exception
  propagates unchanged.

Only global rank 0 touches the file system; decisions (the run folder, write errors) are broadcast so every rank
agrees, and no collective call sits inside a rank-0-only branch.
"""

from __future__ import annotations

import importlib
import os
import re
import traceback
import types
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from weakref import proxy

from lightning.pytorch.callbacks import ModelCheckpoint
from typing_extensions import override

from arccnet_ckpt import capture, layout, storage
from arccnet_ckpt.artifacts import (
    ClassificationReport,
    ConfigRecord,
    MinimalLogging,
    RunStatus,
    TrainingSummary,
    validate_artifact,
)
from arccnet_ckpt.errors import NamespaceMismatchError, RunFolderError
from arccnet_ckpt.predictions import TestPredictionCollector

if TYPE_CHECKING:
    import lightning.pytorch as pl
    from pydantic import BaseModel

    _Base = ModelCheckpoint
else:
    _Base = object


class ArcCkptWarning(UserWarning):
    """Something could not be captured; the run goes on and the rest of the record is written."""


@dataclass
class _RunInfo:
    """What every rank knows about the run folder (decided on rank 0, broadcast)."""

    run_dir: str
    run_name: str
    start_time: str
    model_name: str
    loss_function: str
    class_names: list[str] | None
    resumed_from: str | None = None
    epochs_by_path: dict[str, int] = field(default_factory=dict)


class ArcCheckpointLogic(_Base):
    """The implementation shared by both Lightning namespaces; use :class:`ArcCheckpointCallback`."""

    _namespace: ClassVar[str] = "lightning.pytorch"

    def __init__(
        self,
        root_name: str | None = None,
        data_folder: str | Path | None = None,
        model_name: str | None = None,
        loss_function: str | None = None,
        config: Any = None,
        class_names: list[str] | None = None,
        threshold: float | None = None,
        preds_key: str | None = None,
        target_key: str | None = None,
        dirpath: str | Path | None = None,
        filename: str | None = None,
        monitor: str | None = "val_f1",
        verbose: bool = False,
        save_last: bool | Literal["link"] | None = None,
        save_top_k: int = 1,
        save_on_exception: bool = False,
        save_weights_only: bool = False,
        mode: str = "max",
        auto_insert_metric_name: bool = True,
        every_n_train_steps: int | None = None,
        train_time_interval: timedelta | None = None,
        every_n_epochs: int | None = None,
        save_on_train_epoch_end: bool | None = None,
        enable_version_counter: bool = True,
    ) -> None:
        if root_name is None and dirpath is None:
            raise ValueError(
                "ArcCheckpointCallback needs root_name= (a sub-path under <data_folder>/checkpoints, e.g. "
                "'flares/binary_classification' or 'cutouts/hale'), or an explicit dirpath= for the run folder"
            )
        self.root_name = layout.validate_root_name(root_name) if root_name is not None else None
        self.data_folder = layout.resolve_data_folder(data_folder)
        self.model_name = _optional_name("model_name", model_name)
        self.loss_function = _optional_name("loss_function", loss_function)
        self.config = config
        self.class_names = _check_class_names(class_names)
        if threshold is not None and not isinstance(threshold, (int, float)):
            raise ValueError(f"threshold must be a number (e.g. 0.5 for probabilities), got {threshold!r}")
        self.threshold = None if threshold is None else float(threshold)
        self.preds_key = preds_key
        self.target_key = target_key
        self._default_filename = filename is None
        super().__init__(
            dirpath=dirpath,
            filename=layout.best_checkpoint_template(monitor) if filename is None else filename,
            monitor=monitor,
            verbose=verbose,
            save_last=save_last,
            save_top_k=save_top_k,
            save_on_exception=save_on_exception,
            save_weights_only=save_weights_only,
            mode=mode,
            # The default template names the metric itself; a user's filename keeps Lightning's behaviour.
            auto_insert_metric_name=auto_insert_metric_name if filename is not None else False,
            every_n_train_steps=every_n_train_steps,
            train_time_interval=train_time_interval,
            every_n_epochs=every_n_epochs,
            save_on_train_epoch_end=save_on_train_epoch_end,
            enable_version_counter=enable_version_counter,
        )
        self._explicit_dirpath = self.dirpath
        self._run: _RunInfo | None = None
        self._restored: dict[str, Any] | None = None
        self._config_snapshot: dict[str, Any] = {}
        self._fit_active = False
        self._background_saves = False  # AsyncCheckpointIO: files land on disk only at the strategy's teardown
        self._final_deferred = False
        self._removed: dict[str, None] = {}
        self._last_summary: TrainingSummary | None = None
        self._test_results: dict[str, float | None] = {}
        self._collector = TestPredictionCollector(
            preds_keys=(preds_key,) if preds_key else None,
            target_keys=(target_key,) if target_key else None,
            threshold=self.threshold,
        )

    # ------------------------------------------------------------------------------------------------ properties

    @property
    def run_dir(self) -> str | None:
        """The run folder (a local path or URL), set from fit start (or test start for a test-only Trainer)."""
        if self._run is not None:
            return self._run.run_dir
        if self.best_model_path:
            # After ddp_spawn the main process only receives best_model_path back from the workers.
            return storage.dirname(self.best_model_path)
        return None

    @property
    def run_name(self) -> str | None:
        """The run folder's name, e.g. ``2025-02-12_14-30-45_resnet18_weighted_bce``."""
        return self._run.run_name if self._run else None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if isinstance(state.get("config"), types.ModuleType):
            # Modules cannot be pickled (ddp_spawn, deepcopy): keep the snapshot config.json records anyway.
            state["config"] = capture.config_to_dict(state["config"])
        return state

    # ----------------------------------------------------------------------------------------------------- hooks

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._check_trainer(trainer)
        with warnings.catch_warnings():
            if self._explicit_dirpath is not None and _is_run_folder(os.fspath(self._explicit_dirpath)):
                # The manual API's folder already holds config.json: that is expected, not a stray folder.
                warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
            super().setup(trainer, pl_module, stage)

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_fit_start(trainer, pl_module)
        self._open_run(trainer, pl_module, test_only=False)
        self._fit_active = True
        self._background_saves = self._saves_in_background(trainer)
        self._final_deferred = False
        self._removed.clear()
        self._write(trainer, lambda: [self._build_config(trainer, pl_module), self._summary(trainer, "running")])

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        if not self._fit_active:
            return
        if self._background_saves:
            # The checkpoints are still being written: "completed" waits for on_fit_end, which Lightning calls after
            # the strategy's teardown has waited for them (an upload error raised there goes to on_exception).
            self._final_deferred = True
            return
        self._fit_active = False
        self._write(trainer, lambda: self._final_records(trainer, "completed"))

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_fit_end(trainer, pl_module)
        if not (self._fit_active and self._final_deferred):
            return
        self._fit_active = self._final_deferred = False
        self._remove_stale_checkpoints(trainer)
        self._write(trainer, lambda: self._final_records(trainer, "completed"))

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        if not self._fit_active:
            return
        self._fit_active = False
        status: RunStatus = "interrupted" if _is_interruption(exception) else "failed"
        error = {
            "type": type(exception).__name__,
            "message": str(exception),
            "traceback": "".join(traceback.format_exception(type(exception), exception, exception.__traceback__)),
        }
        # No collective here: other ranks may be gone. Never mask the original exception.
        if trainer.is_global_zero:
            try:
                for record in self._final_records(trainer, status, error):
                    self._write_record(record)
            except Exception as e:
                self._warn(trainer, f"could not write the record of the {status} run to {self.run_dir}: {e}")

    @override
    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_test_start(trainer, pl_module)
        self._open_run(trainer, pl_module, test_only=True)
        self._collector.reset()

    @override
    def on_test_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        super().on_test_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)
        self._collector.update(outputs, num_classes=len(self.class_names or self._run_class_names()) or None)

    @override
    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_test_end(trainer, pl_module)
        if self._run is None:
            return
        self._test_results = capture.metrics_with_prefix(trainer.callback_metrics, "test")
        self._collector.sync(trainer.strategy)  # collective: every rank takes part
        self._write(trainer, lambda: self._test_records(trainer))

    @override
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self._run is not None:
            state["arc_run"] = asdict(self._run)
        return state

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        arc = state_dict.get("arc_run")
        if self._run is None and isinstance(arc, dict):
            self._restored = arc
            folder = arc.get("run_dir")
            if self._explicit_dirpath is None and isinstance(folder, str) and storage.exists(folder):
                self.dirpath = folder  # so ModelCheckpoint restores best_k_models of this run
        super().load_state_dict(state_dict)

    @override
    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        if self._run is not None:
            # Remember which epoch wrote which file, before saving: the mapping is part of the saved state.
            self._run.epochs_by_path[filepath] = trainer.current_epoch
            _prune(self._run.epochs_by_path, keep={*self.best_k_models, self.best_model_path, self.last_model_path})
        if not self._saves_one_local_file(trainer, filepath):
            super()._save_checkpoint(trainer, filepath)
            return
        # Lightning's _atomic_save stages the file in $TMPDIR and shutil.move()s it: a plain copy into the final name
        # when $TMPDIR is on another file system (node-local /tmp, data on NFS or Lustre), so a kill could leave a
        # truncated .ckpt. Have it write a temporary name beside the final one, then fsync and rename atomically.
        tmp = storage.local_temp_path(filepath)
        trainer.save_checkpoint(tmp, self.save_weights_only)
        error: str | None = None
        if trainer.is_global_zero:
            try:
                storage.commit_local(tmp, filepath)
            except RunFolderError as e:
                error = str(e)
        error = trainer.strategy.broadcast(error, src=0)  # every rank waits until the file is in place
        if error:
            raise RunFolderError(error)
        # The rest of ModelCheckpoint._save_checkpoint (Lightning 2.6).
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))

    def _saves_one_local_file(self, trainer: pl.Trainer, filepath: str) -> bool:
        """Whether Lightning writes ``filepath`` as one local file, from rank 0, before ``save_checkpoint`` returns."""
        if storage.is_remote(filepath):
            return False
        strategies = importlib.import_module(f"{self._namespace}.strategies")
        plugins = importlib.import_module(f"{self._namespace}.plugins")
        strategy = trainer.strategy
        # FSDP, DeepSpeed, XLA and ModelParallel save their own way (often a folder); AsyncCheckpointIO saves later.
        return (
            type(strategy).save_checkpoint is strategies.Strategy.save_checkpoint
            and type(strategy.checkpoint_io) is plugins.TorchCheckpointIO
        )

    @override
    def _remove_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        super()._remove_checkpoint(trainer, filepath)
        if self._background_saves:
            self._removed[filepath] = None  # its save may still be queued: removed again at fit end

    # ------------------------------------------------------------------------------------------- the run folder

    def _open_run(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *, test_only: bool) -> None:
        if self._run is not None:
            return  # a second fit, or a test after fit, with the same callback continues its run folder
        decision: dict[str, Any] | None = None
        if trainer.is_global_zero:
            try:
                decision = {"run": asdict(self._decide_run(trainer, pl_module, test_only=test_only)), "error": None}
            except RunFolderError as e:
                decision = {"run": None, "error": str(e)}
        decision = trainer.strategy.broadcast(decision, src=0)
        if decision is None:  # pragma: no cover - rank 0 always decides
            raise RunFolderError("ArcCheckpointCallback: rank 0 did not share the run folder decision")
        if decision["error"]:
            raise RunFolderError(decision["error"])
        self._run = _RunInfo(**decision["run"])
        if self._explicit_dirpath is None:
            self.dirpath = self._run.run_dir
            self._fs = _filesystem(self._run.run_dir)

    def _decide_run(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *, test_only: bool) -> _RunInfo:
        """On rank 0: snapshot the config, infer names and create (or find) the run folder."""
        self._config_snapshot = self._capture(trainer, "the config", lambda: capture.config_to_dict(self.config), {})
        hparams = self._capture(trainer, "hparams", lambda: capture.to_jsonable(dict(pl_module.hparams)), {})
        model_name = self.model_name or capture.infer_model_name(self._config_snapshot, hparams, pl_module)
        loss_function = self.loss_function or capture.infer_loss_function(self._config_snapshot, hparams, pl_module)
        class_names = self.class_names or capture.infer_class_names(
            self._config_snapshot, hparams, _datamodule(trainer)
        )
        now = _utcnow()
        ckpt_path = os.fspath(trainer.ckpt_path) if trainer.ckpt_path else None

        existing = self._existing_run_dir(ckpt_path)
        if existing is not None:
            run_dir = existing
            start = self._restored.get("start_time") if self._restored else None
            start = start or _summary_start(run_dir) or now.isoformat()
        elif self._explicit_dirpath is not None:
            run_dir = os.fspath(self._explicit_dirpath)
            storage.makedirs(run_dir)
            start = now.isoformat()
        else:
            parent = storage.join(self.data_folder, layout.CHECKPOINTS_DIRNAME, *self._root_segments())
            run_dir = storage.make_unique_dir(parent, layout.run_folder_name(now, model_name, loss_function))
            start = now.isoformat()
        storage.check_writable(run_dir)
        epochs = dict(self._restored.get("epochs_by_path", {})) if self._restored and existing else {}
        resumed = self._relative(ckpt_path, run_dir) if (existing and not test_only and ckpt_path) else None
        return _RunInfo(
            run_dir=run_dir,
            run_name=storage.basename(run_dir),
            start_time=start,
            model_name=str(model_name),
            loss_function=str(loss_function),
            class_names=class_names,
            resumed_from=resumed,
            epochs_by_path=epochs,
        )

    def _existing_run_dir(self, ckpt_path: str | None) -> str | None:
        """The run folder to continue: the one holding ``ckpt_path`` when it is a run folder."""
        if ckpt_path is None:
            return None
        if self._restored and storage.exists(self._restored.get("run_dir", "")):
            folder = str(self._restored["run_dir"])
            if storage.dirname(ckpt_path) in (folder, os.path.realpath(folder)):
                return folder
        folder = storage.dirname(ckpt_path)
        return folder if _is_run_folder(folder) else None

    def _root_segments(self) -> list[str]:
        return self.root_name.split("/") if self.root_name else []

    def _run_class_names(self) -> list[str]:
        return (self._run.class_names if self._run else None) or []

    # --------------------------------------------------------------------------------------------------- records

    def _build_config(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> ConfigRecord:
        ns = importlib.import_module(self._namespace)
        callbacks_mod = importlib.import_module(f"{self._namespace}.callbacks")
        datamodule = _datamodule(trainer)
        config = self._config_snapshot
        run_dir = self._require_run().run_dir
        if self.config is None:
            # A manual save_config() before fit (the seed's order) must not be wiped out by an empty snapshot.
            earlier = self._capture(
                trainer, "the existing config.json", lambda: storage.read_artifact(run_dir, ConfigRecord), None
            )
            config = earlier.config if earlier is not None else config
        parts: dict[str, Any] = {
            "config": config,
            "hparams": self._capture(trainer, "hparams", lambda: capture.to_jsonable(dict(pl_module.hparams)), {}),
            "datamodule_hparams": self._capture(
                trainer,
                "datamodule hparams",
                lambda: capture.to_jsonable(dict(datamodule.hparams)) if datamodule is not None else None,
                None,
            ),
            "trainer": self._capture(trainer, "trainer settings", lambda: capture.trainer_settings(trainer), None),
            "optimizers": self._capture(trainer, "optimizers", lambda: capture.optimizer_infos(trainer), []),
            "lr_schedulers": self._capture(trainer, "lr schedulers", lambda: capture.scheduler_infos(trainer), []),
            "callbacks": self._capture(
                trainer,
                "callbacks",
                lambda: capture.callback_infos(
                    _callbacks(trainer), callbacks_mod.EarlyStopping, callbacks_mod.ModelCheckpoint
                ),
                [],
            ),
            "model": self._capture(trainer, "model info", lambda: capture.model_info(pl_module), None),
            "environment": self._capture(
                trainer, "environment", lambda: capture.environment_info(getattr(ns, "__version__", None)), None
            ),
            "git": self._capture(trainer, "git state", capture.git_info, None),
            "seed": capture.global_seed(),
            "created_at": datetime.now(timezone.utc),
            "model_name": self._run.model_name if self._run else None,
            "loss_function": self._run.loss_function if self._run else None,
            "root_name": self.root_name,
            "class_names": self._run.class_names if self._run else None,
        }
        return validate_artifact(ConfigRecord, parts)

    def _summary(self, trainer: pl.Trainer, status: RunStatus, error: dict[str, Any] | None = None) -> TrainingSummary:
        run = self._require_run()
        callbacks_mod = importlib.import_module(f"{self._namespace}.callbacks")
        stoppers = [cb for cb in _callbacks(trainer) if isinstance(cb, callbacks_mod.EarlyStopping)]
        es_states = self._capture(trainer, "early stopping state", lambda: _early_stopping(stoppers), [])
        start = datetime.fromisoformat(run.start_time)
        end = None if status == "running" else datetime.now(timezone.utc)
        best_path = self.best_model_path or None
        return validate_artifact(
            TrainingSummary,
            {
                "status": status,
                "start_time": start,
                "end_time": end,
                "duration_seconds": (end - start).total_seconds() if end else None,
                "model_name": run.model_name,
                "loss_function": run.loss_function,
                "root_name": self.root_name,
                "run_name": run.run_name,
                "monitor": self.monitor,
                "mode": self.mode if self.monitor else None,
                "best_epoch": self._best_epoch(best_path),
                "best_metric_value": capture.scalar(self.best_model_score) if self.monitor else None,
                "best_model_path": self._relative(best_path, run.run_dir),
                "last_model_path": self._relative(self.last_model_path or None, run.run_dir),
                "num_epochs_trained": int(trainer.fit_loop.epoch_progress.current.completed),
                "global_step": int(trainer.global_step),
                "early_stopping_triggered": capture.early_stopping_triggered(es_states),
                "early_stopping": es_states,
                "test_results": self._test_results,
                "error": error,
                "resumed_from": run.resumed_from,
            },
        )

    def _final_records(
        self, trainer: pl.Trainer, status: RunStatus, error: dict[str, Any] | None = None
    ) -> list[BaseModel]:
        summary = self._summary(trainer, status, error)
        self._last_summary = summary
        minimal = validate_artifact(
            MinimalLogging,
            {
                "timestamp": summary.end_time or datetime.now(timezone.utc),
                "best_epoch": summary.best_epoch,
                "best_metric_name": summary.monitor or "none",
                "best_metric_value": summary.best_metric_value,
                "num_epochs_trained": summary.num_epochs_trained,
                "early_stopping_triggered": summary.early_stopping_triggered,
                "status": summary.status,
            },
        )
        # The summary goes last: it is what says "completed", so a failed upload before it never looks complete.
        return [minimal, summary]

    def _test_records(self, trainer: pl.Trainer) -> list[BaseModel]:
        run = self._require_run()
        class_names = self.class_names or run.class_names
        fields = self._collector.report_fields(class_names)
        report = validate_artifact(
            ClassificationReport,
            {
                "test_metrics": self._test_results,
                "model_name": run.model_name,
                "loss_function": run.loss_function,
                "class_names": class_names,
                "checkpoint": self._relative(os.fspath(trainer.ckpt_path) if trainer.ckpt_path else None, run.run_dir),
                "created_at": datetime.now(timezone.utc),
                **fields,
            },
        )
        records: list[BaseModel] = [report]
        summary = self._summary_for_test(trainer)
        if summary is not None:
            records.append(summary)
        return records

    def _summary_for_test(self, trainer: pl.Trainer) -> TrainingSummary | None:
        """The summary with ``test_results`` filled: from this fit, from the folder, or new for a test-only run."""
        run = self._require_run()
        if self._last_summary is not None:
            base = self._last_summary
        else:
            try:
                existing = storage.read_artifact(run.run_dir, TrainingSummary)
            except Exception as e:
                self._warn(trainer, f"{run.run_dir}: {e}; its test_results were not updated")
                return None
            base = existing if existing is not None else self._summary(trainer, "completed")
        summary = base.model_copy(update={"test_results": self._test_results})
        self._last_summary = summary
        return summary

    def _best_epoch(self, best_path: str | None) -> int | None:
        if not best_path:
            return None
        run = self._require_run()
        if best_path in run.epochs_by_path:
            return run.epochs_by_path[best_path]
        match = re.search(r"epoch[=_]?(\d+)", os.path.basename(best_path))
        return int(match.group(1)) if match else None

    # ----------------------------------------------------------------------------------------------- mechanics

    def _write(self, trainer: pl.Trainer, build: Callable[[], Sequence[BaseModel]]) -> None:
        """Build and write records on rank 0, then tell every rank whether that worked (raise everywhere if not)."""
        error: str | None = None
        if trainer.is_global_zero:
            try:
                for record in build():
                    self._write_record(record)
            except RunFolderError as e:
                error = str(e)
        error = trainer.strategy.broadcast(error, src=0)
        if error:
            raise RunFolderError(error)

    def _write_record(self, record: BaseModel) -> None:
        storage.write_artifact(self._require_run().run_dir, record)

    def _capture(self, trainer: pl.Trainer, what: str, fn: Callable[[], Any], default: Any) -> Any:
        try:
            return fn()
        except Exception as e:
            self._warn(trainer, f"could not capture {what} ({type(e).__name__}: {e}); the rest of the record is kept")
            return default

    def _warn(self, trainer: pl.Trainer, message: str) -> None:
        if trainer.is_global_zero:
            warnings.warn(f"ArcCheckpointCallback: {message}", ArcCkptWarning, stacklevel=3)

    def _relative(self, path: str | None, run_dir: str) -> str | None:
        if not path:
            return None
        path = os.fspath(path)
        for base in {run_dir, os.path.realpath(run_dir) if not storage.is_remote(run_dir) else run_dir}:
            prefix = base.rstrip("/\\") + ("/" if storage.is_remote(base) else os.sep)
            if path.startswith(prefix):
                return path[len(prefix) :].replace(os.sep, "/")
        return path

    def _saves_in_background(self, trainer: pl.Trainer) -> bool:
        io_mod = importlib.import_module(f"{self._namespace}.plugins.io")
        io = getattr(trainer.strategy, "checkpoint_io", None)
        for _ in range(8):  # wrappers (AsyncCheckpointIO is one) hold the wrapped IO in .checkpoint_io
            if io is None:
                return False
            if isinstance(io, io_mod.AsyncCheckpointIO):
                return True
            io = getattr(io, "checkpoint_io", None)
        return False

    def _remove_stale_checkpoints(self, trainer: pl.Trainer) -> None:
        """Remove again the checkpoints ModelCheckpoint dropped while their queued save had not yet written them."""
        keep = {*self.best_k_models, self.best_model_path, self.last_model_path}
        stale = [path for path in self._removed if path not in keep]
        self._removed.clear()
        if not trainer.is_global_zero:
            return
        for path in stale:
            try:
                if self._fs.exists(path):
                    trainer.strategy.remove_checkpoint(path)
            except Exception as e:
                self._warn(trainer, f"could not remove the superseded checkpoint {path}: {type(e).__name__}: {e}")

    def _require_run(self) -> _RunInfo:
        if self._run is None:
            raise RuntimeError("ArcCheckpointCallback: the run folder is not decided yet (fit or test has not started)")
        return self._run

    def _check_trainer(self, trainer: Any) -> None:
        ns = importlib.import_module(self._namespace)
        if isinstance(trainer, ns.Trainer):
            return
        other = "pytorch_lightning" if self._namespace == "lightning.pytorch" else "lightning.pytorch"
        module = "arccnet_ckpt.pytorch_lightning" if other == "pytorch_lightning" else "arccnet_ckpt"
        raise NamespaceMismatchError(
            f"{type(self).__name__} from {type(self).__module__!r} is built on `{self._namespace}`, but it was given "
            f"a `{type(trainer).__module__}.{type(trainer).__name__}`. The two namespaces have separate class trees "
            f"and a callback of one only half-works in a Trainer of the other. Use "
            f"`from {module} import ArcCheckpointCallback` with a `{other}` Trainer."
        )


class ArcCheckpointCallback(ArcCheckpointLogic, ModelCheckpoint):
    """A ``ModelCheckpoint`` that writes a complete, validated run folder with zero lines of user code.

    For each ``fit`` it creates ``<data_folder>/checkpoints/<root_name>/<UTC start>_<model>_<loss>/`` and writes
    there, besides the best checkpoint (``best-epoch02-val_f1-0.847.ckpt``):

    * ``config.json`` at fit start: the user config, hparams, Trainer, optimizer, callback, model, environment,
      git and seed;
    * ``training_summary.json`` at fit start (``running``), train end (``completed``; with ``AsyncCheckpointIO`` at
      fit end, once the checkpoints are written), on failure (``failed`` or ``interrupted``) and after test;
    * ``minimal_logging.json`` at train end (and on failure);
    * ``classification_report.json`` at test end, with a per-class report when ``test_step`` returns
      ``{"preds": ..., "target": ...}``.

    Every ``ModelCheckpoint`` argument keeps its meaning (except the defaults ``monitor="val_f1"``, ``mode="max"``).

    Args:
        root_name: Sub-path under ``<data_folder>/checkpoints``, e.g. ``"flares/binary_classification"``;
            segments of letters, digits, ``.``, ``_``, ``-``. Required unless ``dirpath`` is given.
        data_folder: Base folder or fsspec URL; ``None`` -> ``$ARCCNET_DATA_FOLDER``, else ``./data``.
        model_name: Name in the folder; ``None`` -> inferred from config, hparams, or the module's class.
        loss_function: Name in the folder; ``None`` -> inferred from config, hparams, or the module's loss.
        config: The run's config: dict, module, dataclass, pydantic model, Namespace or OmegaConf config.
        class_names: Class names for the per-class report (multiclass); ``None`` -> inferred where possible.
        threshold: Decision threshold for binary scores; ``None`` -> 0.5 for probabilities, 0 for logits.
        preds_key: Key of the predictions in ``test_step``'s output; ``None`` -> ``preds``/``logits``/``probs``.
        target_key: Key of the targets in ``test_step``'s output; ``None`` -> ``target``/``targets``/``y``.
        dirpath: Explicit run folder: used as is, no hierarchy added.
        filename: Checkpoint file name template, used as given; ``None`` -> ``best-epoch{EE}-<monitor>-{value}``.
        monitor: Metric to rank checkpoints by.
        verbose: See ``ModelCheckpoint``.
        save_last: See ``ModelCheckpoint``.
        save_top_k: See ``ModelCheckpoint``.
        save_on_exception: See ``ModelCheckpoint``.
        save_weights_only: See ``ModelCheckpoint``.
        mode: ``"max"`` or ``"min"``.
        auto_insert_metric_name: See ``ModelCheckpoint`` (applies to a user ``filename`` only).
        every_n_train_steps: See ``ModelCheckpoint``.
        train_time_interval: See ``ModelCheckpoint``.
        every_n_epochs: See ``ModelCheckpoint``.
        save_on_train_epoch_end: See ``ModelCheckpoint``.
        enable_version_counter: See ``ModelCheckpoint``.

    Raises:
        ValueError: For a bad ``root_name``, names, class names or monitor, naming what is allowed.

    Example::

        cb = ArcCheckpointCallback(root_name="flares/binary_classification", config=config)
        trainer = Trainer(callbacks=[cb, EarlyStopping("val_f1", mode="max", patience=3)])
        trainer.fit(model, datamodule=dm)
        trainer.test(model, datamodule=dm, ckpt_path="best")
        print(cb.run_dir)
    """


# -------------------------------------------------------------------------------------------------------- helpers


def _is_run_folder(folder: str) -> bool:
    markers = (TrainingSummary.filename, ConfigRecord.filename)
    return any(storage.exists(storage.join(folder, name)) for name in markers)


def _datamodule(trainer: Any) -> Any:
    return getattr(trainer, "datamodule", None)


def _callbacks(trainer: Any) -> list[Any]:
    return list(getattr(trainer, "callbacks", []))


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _optional_name(what: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string or None (to infer it), got {value!r}")
    return value


def _check_class_names(class_names: Any) -> list[str] | None:
    if class_names is None:
        return None
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise ValueError(f"class_names must be a list of strings such as ['Quiet', 'C', 'M_X'], got {class_names!r}")
    names = [str(n) for n in class_names]
    if len(names) < 2:
        raise ValueError(f"class_names needs at least two names, got {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"class_names must be unique, got {names!r}")
    return names


def _is_interruption(exception: BaseException) -> bool:
    # Lightning turns SIGTERM into SIGTERMException, a SystemExit; Ctrl-C is a KeyboardInterrupt.
    return isinstance(exception, (KeyboardInterrupt, SystemExit))


def _early_stopping(stoppers: Sequence[Any]) -> list[dict[str, Any]]:
    return [capture.early_stopping_state(cb) for cb in stoppers]


def _prune(mapping: dict[str, int], keep: set[str], limit: int = 64) -> None:
    if len(mapping) <= limit:
        return
    for key in [k for k in mapping if k not in keep][: len(mapping) - limit]:
        del mapping[key]


def _summary_start(run_dir: str) -> str | None:
    try:
        summary = storage.read_artifact(run_dir, TrainingSummary)
    except Exception:
        return None
    return summary.start_time.isoformat() if summary is not None else None


def _filesystem(path: str) -> Any:
    from lightning.fabric.utilities.cloud_io import get_filesystem

    return get_filesystem(path)
