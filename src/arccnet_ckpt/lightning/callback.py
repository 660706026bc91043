"""``ArcCheckpointCallback``: a ``ModelCheckpoint`` that leaves a complete, validated run folder.

This module is the thin Lightning adapter: each hook calls ``super()`` first, returns early when it should skip,
and otherwise makes one call. The hooks read the Trainer into plain values and hand them to the per-fit
:class:`~arccnet_ckpt.lightning.session.FitSession` (what is decided on them) and to the
:class:`~arccnet_ckpt.core.recorder.RunRecorder` (which owns the life cycle and writes every file). Where the rest
lives:

* which status a run has, and which transitions are allowed: :mod:`arccnet_ckpt.core.lifecycle`;
* the per-fit state and the decisions on it (history timing, leftover metrics, best epoch, the checkpoint state):
  :mod:`arccnet_ckpt.lightning.session`;
* what happens on ranks other than 0, and every collective: :mod:`arccnet_ckpt.lightning.ranks`;
* which failures cost a warning and never the run: :mod:`arccnet_ckpt.lightning.policy`;
* the two Lightning namespaces: :mod:`arccnet_ckpt.lightning.namespaces`;
* how a checkpoint reaches its final name, and superseded background saves: :mod:`arccnet_ckpt.lightning.staging`;
* what is captured from the Trainer, module and config: :mod:`arccnet_ckpt.capture`;
* the per-class report: :mod:`arccnet_ckpt.metrics`.

How each hook fails: an unwritable output folder fails at fit start, before the first training step, on every rank;
capturing metadata never kills a run (a problem costs an :class:`~arccnet_ckpt.errors.ArcCkptWarning`); after an
exception in ``fit`` the record says ``failed`` or ``interrupted`` and the original exception propagates unchanged.
"""

from __future__ import annotations

import dataclasses
import os
import types
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from lightning.pytorch.callbacks import ModelCheckpoint
from typing_extensions import override

from arccnet_ckpt import capture, layout, runs, store
from arccnet_ckpt.capture import config_sources, loggers
from arccnet_ckpt.core import runfolder
from arccnet_ckpt.core.lifecycle import Phase, is_interruption
from arccnet_ckpt.core.recorder import (
    HEADLINE_CHOICES,
    FitSnapshot,
    HeadlineChoice,
    RunIdentity,
    RunRecorder,
    error_info,
)
from arccnet_ckpt.errors import ArcCkptWarning
from arccnet_ckpt.lightning import ranks, staging
from arccnet_ckpt.lightning.namespaces import check_namespace, module
from arccnet_ckpt.lightning.policy import catch_and_warn, warn
from arccnet_ckpt.lightning.session import FitSession
from arccnet_ckpt.metrics import TestPredictionCollector
from arccnet_ckpt.records import ConfigRecord, validate_artifact
from arccnet_ckpt.records.reader import read_record
from arccnet_ckpt.report.html import write_report

if TYPE_CHECKING:
    import lightning.pytorch as pl

    _Base = ModelCheckpoint
else:
    _Base = object

__all__ = ["ArcCheckpointCallback", "ArcCkptWarning"]


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
        redact_checkpoint_hparams: bool = True,
        headline_test: HeadlineChoice = "auto",
    ) -> None:
        if root_name is None and dirpath is None:
            raise ValueError(
                "ArcCheckpointCallback needs root_name= (a sub-path under <data_folder>/checkpoints, e.g. "
                "'flares/binary_classification' or 'cutouts/hale'), or an explicit dirpath= for the run folder"
            )
        self.root_name = layout.validate_root_name(root_name) if root_name is not None else None
        self.data_folder = layout.resolve_data_folder(data_folder)
        if self.root_name is not None:
            layout.check_path_length(self.data_folder, self.root_name)
        self.model_name = _optional_name("model_name", model_name)
        self.loss_function = _optional_name("loss_function", loss_function)
        self.config = config
        self.class_names = _check_class_names(class_names)
        if threshold is not None and not isinstance(threshold, (int, float)):
            raise ValueError(f"threshold must be a number (e.g. 0.5 for probabilities), got {threshold!r}")
        self.threshold = None if threshold is None else float(threshold)
        self.preds_key = preds_key
        self.target_key = target_key
        if not isinstance(redact_checkpoint_hparams, bool):
            raise ValueError(
                "redact_checkpoint_hparams must be True (hide secret values in the checkpoint's hyper_parameters) or "
                f"False (keep Lightning's hparams as given), got {redact_checkpoint_hparams!r}"
            )
        self.redact_checkpoint_hparams = redact_checkpoint_hparams
        if headline_test not in HEADLINE_CHOICES:
            raise ValueError(
                f"headline_test must be 'auto', 'always' or 'never', got {headline_test!r}: 'auto' makes the run's "
                "first test of its best checkpoint the headline, 'always' and 'never' decide for this callback's tests"
            )
        self.headline_test: HeadlineChoice = headline_test
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
        self._origin: str | None = None  # set by the manager: which call built this callback, and why this namespace
        self._session = FitSession()  # the run and this fit's state, as plain values
        self._recorder: RunRecorder | None = None  # rank 0's keeps the last record it wrote
        self._redaction = capture.Redaction()  # secrets the configs and hparams hold, environment values (rank 0)
        self._collector = TestPredictionCollector(
            preds_keys=(preds_key,) if preds_key else None,
            target_keys=(target_key,) if target_key else None,
            threshold=self.threshold,
        )

    # ------------------------------------------------------------------------------------------------ properties

    @property
    def run_dir(self) -> str | None:
        """The run folder (a local path or URL), set from fit start (or test start for a test-only Trainer)."""
        if self._session.identity is not None:
            return self._session.identity.run_dir
        if self.best_model_path:
            # After ddp_spawn the main process only receives best_model_path back from the workers.
            return store.dirname(self.best_model_path)
        return None

    @property
    def run_name(self) -> str | None:
        """The run folder's name, e.g. ``2025-02-12_14-30-45_resnet18_weighted_bce``."""
        return self._session.identity.run_name if self._session.identity else None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if isinstance(state.get("config"), types.ModuleType):
            # Modules cannot be pickled (ddp_spawn, deepcopy): keep the snapshot config.json records anyway.
            state["config"] = capture.config_to_dict(state["config"])
        return state

    # ----------------------------------------------------------------------------------------------------- hooks

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        check_namespace(self, trainer)
        if self._explicit_dirpath is None and self._session.identity is None:
            # Until the run folder is decided at fit (or test) start, point ModelCheckpoint at its parent: same file
            # system, so the one ModelCheckpoint opens here serves the run folder too.
            self.dirpath = layout.root_folder(self.data_folder, self.root_name)
        with warnings.catch_warnings():
            if self._expects_files_in_dirpath():
                warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
            super().setup(trainer, pl_module, stage)
        staging.install(trainer.strategy, self._namespace)

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_fit_start(trainer, pl_module)
        self._session.begin_fit()
        start = lambda: self._start_run(trainer, pl_module)  # noqa: E731
        self._adopt(ranks.on_rank_zero(trainer.strategy, start, "starting the run record"))
        self._session.active = "fit"

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._session.fit_start_step = int(trainer.global_step)  # after a restore: this fit's steps count from here
        if self._session.active == "fit":  # after Lightning logged the hparams: the experiments exist
            ranks.rank_zero_alone(trainer.strategy, lambda: self._link_loggers(trainer, stage="fit"))

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        super().on_train_batch_start(trainer, pl_module, batch, batch_idx)
        if self._session.active == "fit":
            # Lightning steps epoch schedulers after the epoch's last batch, before validation and the epoch-end
            # hooks: read later, the rate would be the next epoch's. This is when LearningRateMonitor reads it too.
            ranks.rank_zero_alone(trainer.strategy, lambda: self._note_learning_rates(trainer))

    @override
    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)  # may save (every_n_train_steps)
        self._session.note_best(self.best_model_path, self.best_model_score, trainer.current_epoch)

    @override
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)  # ModelCheckpoint saves here: the snapshot sees the new best
        self._session.note_best(self.best_model_path, self.best_model_score, trainer.current_epoch)
        if self._session.active != "fit" or trainer.sanity_checking:
            return
        ranks.rank_zero_alone(trainer.strategy, lambda: self._validation_ended(trainer))

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)  # may save (save_on_train_epoch_end)
        self._session.note_best(self.best_model_path, self.best_model_score, trainer.current_epoch)
        if self._session.pending_epoch == trainer.current_epoch:
            ranks.rank_zero_alone(trainer.strategy, lambda: self._record_validation(trainer, epoch_end=True))

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning calls this after every fit that did not raise, also one that trained nothing, and after the
        # strategy's teardown has waited for AsyncCheckpointIO: every checkpoint is on disk now.
        super().on_fit_end(trainer, pl_module)
        if self._session.active != "fit":
            return
        self._finish_fit(trainer)
        self._session.active = None

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        active, self._session.active = self._session.active, None
        if active is None or self._recorder is None:
            return
        # Rank 0 alone, no collective: the other ranks may be gone. Never mask the original exception.
        ranks.rank_zero_alone(trainer.strategy, lambda: self._record_failure(trainer, exception, active))

    @override
    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_test_start(trainer, pl_module)
        self._collector.reset()
        if self._session.identity is not None:
            return
        opened = ranks.on_rank_zero(
            trainer.strategy, lambda: self._open_for_test(trainer, pl_module), "opening the run for test"
        )
        self._adopt(opened[0])
        self._session.active = "evaluation" if opened[1] else None
        ranks.rank_zero_alone(trainer.strategy, lambda: self._link_loggers(trainer, stage="test"))

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
        names = self._session.identity.class_names if self._session.identity else None
        self._collector.update(outputs, num_classes=len(names) if names else None, dataloader_idx=dataloader_idx)

    @override
    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_test_end(trainer, pl_module)
        if self._session.identity is None:
            return
        self._record_test(trainer)
        if self._session.active == "evaluation":
            self._session.active = None

    @override
    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        super().on_save_checkpoint(trainer, pl_module, checkpoint)
        # ModelCheckpoint names the new best (and last) file before it saves: note which epoch saved the best one,
        # into the state this very checkpoint carries, so a resumed run still knows it.
        self._session.note_best(self.best_model_path, self.best_model_score, trainer.current_epoch)
        self._session.note_saved([*self.best_k_models, self.last_model_path])
        self._stamp(checkpoint, pl_module.CHECKPOINT_HYPER_PARAMS_KEY)

    @override
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self._session.identity is not None:
            state["arc_run"] = self._session.state()
        return state

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for problem in self._session.restore(state_dict.get("arc_run")):
            warn(f"the checkpoint's run state: {problem}; going on without it")
        folder = self._session.restored_run_dir
        if self._explicit_dirpath is None and self._session.identity is None and folder is not None:
            self.dirpath = folder  # so ModelCheckpoint restores best_k_models of this run
        super().load_state_dict(state_dict)
        self._session.restored_best(self.best_model_path, self.best_model_score)

    # ------------------------------------------------------------------------------------------ what hooks call

    def _start_run(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> RunIdentity:
        """On rank 0: decide the run folder, write ``config.json`` and the ``running`` summary."""
        sources = config_sources.find(trainer, self._namespace)
        self._redaction = capture.Redaction.union(source.redaction for source in sources)
        identity = self._session.identity or self._claim(trainer, pl_module, sources)
        recorder = self._recorder_of(identity)
        recorder.start(
            self._snapshot(trainer),
            config=self._build_config(trainer, pl_module, identity, sources),
            files=config_sources.files_of(sources),
            checkpoint=self._ckpt_path(trainer, identity),
            restart_count=capture.restart_count(),
        )
        return identity

    def _open_for_test(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> tuple[RunIdentity, bool]:
        """On rank 0: the run a test-only Trainer writes to (the checkpoint's own run, or a new evaluation), and
        whether it is a new evaluation."""
        sources = config_sources.find(trainer, self._namespace)
        self._redaction = capture.Redaction.union(source.redaction for source in sources)
        identity = self._claim(trainer, pl_module, sources)
        recorder = self._recorder_of(identity)
        if recorder.phase is not Phase.NEW:
            return identity, False  # the checkpoint's own run: its report and test results go there
        config = self._build_config(trainer, pl_module, identity, sources)
        checkpoint = self._ckpt_path(trainer, identity)
        files = config_sources.files_of(sources)
        recorder.start(FitSnapshot(), config=config, files=files, kind="evaluation", checkpoint=checkpoint)
        return identity, True

    def _note_learning_rates(self, trainer: pl.Trainer) -> None:
        self._session.learning_rates = capture.raw_learning_rates(trainer.optimizers)

    def _validation_ended(self, trainer: pl.Trainer) -> None:
        """On rank 0: a validation of the fit ended; write its history entry now, or at the epoch's end."""
        last_batch = bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)
        metrics = capture.scalar_metrics(trainer.callback_metrics)
        if self._session.validation_ended(int(trainer.current_epoch), last_batch=last_batch, metrics=metrics):
            self._record_validation(trainer, epoch_end=False)

    def _finish_fit(self, trainer: pl.Trainer) -> None:
        """Every rank: the last history entry and the ``completed`` record (a collective reduces early stopping)."""
        if self._session.pending_epoch is not None:  # a fit stopped between its last validation and the epoch's end
            ranks.rank_zero_alone(trainer.strategy, lambda: self._record_validation(trainer, epoch_end=True))
        snapshot = self._snapshot(trainer, across_ranks=True)
        recorder = self._require_recorder()

        def finish() -> None:
            keep = {*self.best_k_models, self.best_model_path, self.last_model_path, str(trainer.ckpt_path or "")}
            staging.clean_up(trainer.strategy, self._namespace, self._session.saved, keep, recorder.run_dir)
            self._session.saved.clear()
            recorder.finish(dataclasses.replace(snapshot, loggers=self._loggers_now(trainer)))

        ranks.on_rank_zero(trainer.strategy, finish, "writing the completed run record")

    @catch_and_warn("write the record of the run that raised to {run_dir}")
    def _record_failure(self, trainer: pl.Trainer, exception: BaseException, active: str) -> None:
        """On rank 0 alone: the pending history entry, then ``failed`` or ``interrupted`` with the error."""
        recorder = self._require_recorder()
        if active == "fit" and self._session.pending_epoch is not None:
            self._record_validation(trainer, epoch_end=True)
        if recorder.phase is Phase.RUNNING:
            snapshot = self._snapshot(trainer) if active == "fit" else FitSnapshot()
            snapshot = dataclasses.replace(snapshot, loggers=self._loggers_now(trainer))
            recorder.fail(snapshot, error_info(exception, self._redaction), interrupted=is_interruption(exception))

    def _record_test(self, trainer: pl.Trainer) -> None:
        """Every rank: gather the test predictions (a collective), then write the evaluation on rank 0."""
        test_results = capture.metrics_with_prefix(trainer.callback_metrics, "test")
        count = len(trainer.num_test_batches)  # one entry per test dataloader, the same on every rank
        self._collector.sync(trainer.strategy, count)  # a collective: every rank takes part
        recorder, identity = self._require_recorder(), self._require_identity()
        evaluation = self._session.active == "evaluation"
        combined = module(self._namespace, "utilities").CombinedLoader
        names = capture.safely("the test dataloaders' names", lambda: _dataloader_names(trainer, combined), None)

        def record() -> None:
            reports = self._collector.dataloader_reports(identity.class_names, test_results, names)
            checkpoint = self._ckpt_path(trainer, identity)
            recorder.record_test(test_results, dataloaders=reports, checkpoint=checkpoint, headline=self.headline_test)
            if evaluation:
                recorder.finish(FitSnapshot(loggers=self._loggers_now(trainer)))
            self._write_report()

        ranks.on_rank_zero(trainer.strategy, record, "writing the test report")

    @catch_and_warn("write the HTML report of {run_dir}")
    def _write_report(self) -> None:
        """Render ``report.html`` from the files on disk (the JSON files are the record: a failure costs a warning)."""
        write_report(self._require_recorder().run_dir)

    def _stamp(self, checkpoint: dict[str, Any], hparams_key: str) -> None:
        """Hide secrets in the checkpoint's hparams, and put the run's state and identity into it."""
        if self.redact_checkpoint_hparams:
            # Lightning puts the module's and datamodule's hparams in the checkpoint as given: hide their secrets, in
            # copies (the one it put there may be the module's own hparams object).
            for key in (hparams_key, "datamodule_hyper_parameters"):
                if key in checkpoint:
                    checkpoint[key] = capture.redact_in_place_of(checkpoint[key], self._redaction)
        identity = self._session.identity
        if identity is None:
            return
        state = checkpoint.get("callbacks", {}).get(self.state_key)
        if isinstance(state, dict):
            state["arc_run"] = self._session.state()
        # The checkpoint knows its run: Run.load_model refuses a checkpoint of another run. The digest is the one of
        # the config.json this process wrote (None where it wrote none: the other ranks, whose dict is not saved).
        digest = self._recorder.config_sha256 if self._recorder is not None else None
        checkpoint[runs.CHECKPOINT_KEY] = {
            "run_name": identity.run_name,
            "run_dir": identity.run_dir,
            "schema_version": runs.CHECKPOINT_ENTRY_VERSION,
            "config_sha256": digest,
        }

    # ------------------------------------------------------------------------------------------- the run folder

    def _expects_files_in_dirpath(self) -> bool:
        """A parent of other runs, a resumed run, or the manual API's folder holding config.json: files expected."""
        if self._session.identity is not None or self._explicit_dirpath is None:
            return True
        return layout.is_run_folder(os.fspath(self.dirpath or ""))

    def _claim(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, sources: Sequence[config_sources.SourceCapture]
    ) -> RunIdentity:
        """On rank 0: the run folder this Trainer writes to, found or created, and the run's names."""
        explicit = os.fspath(self._explicit_dirpath) if self._explicit_dirpath is not None else None
        argument = self._argument_config()
        config = capture.safely("the config", lambda: capture.config_to_dict(argument), {})
        names = runfolder.run_names(
            config,
            capture.safely("hparams", lambda: capture.to_jsonable(dict(pl_module.hparams)), {}),
            pl_module,
            getattr(trainer, "datamodule", None),
            model_name=self.model_name,
            loss_function=self.loss_function,
            class_names=self.class_names,
            tool_configs={source.name: source.config for source in sources},
        )
        request = runfolder.FolderRequest(
            data_folder=self.data_folder,
            root_name=self.root_name,
            explicit_dir=explicit,
            ckpt_path=os.fspath(trainer.ckpt_path) if trainer.ckpt_path else None,
            restored=self._session.restored,
        )
        return runfolder.open_run_folder(request, names, _utcnow())

    def _argument_config(self) -> Any:
        """The run's own config: ``config=``, else what a manual ``save_config()`` wrote into an explicit ``dirpath``
        before fit (the seed's order), else ``None``."""
        if self.config is not None or self._explicit_dirpath is None:
            return self.config
        return runfolder.saved_config(os.fspath(self._explicit_dirpath)) or None

    def _adopt(self, identity: RunIdentity) -> None:
        """Every rank: remember the run decided on rank 0, and save checkpoints into its folder."""
        if self._session.identity is None:
            self._session.identity = identity
            self._recorder_of(identity)
        if self._explicit_dirpath is None:
            self.dirpath = identity.run_dir

    def _recorder_of(self, identity: RunIdentity) -> RunRecorder:
        """The recorder of ``identity``: the one rank 0 started the run with, which keeps the last record it wrote
        (to write it back if another tool breaks the file), else a new one."""
        if self._recorder is None or self._recorder.identity != identity:
            self._recorder = RunRecorder(identity, read=read_record)
        return self._recorder

    def _require_identity(self) -> RunIdentity:
        if self._session.identity is None:
            raise RuntimeError("ArcCheckpointCallback: the run folder is not decided yet (fit or test has not started)")
        return self._session.identity

    def _require_recorder(self) -> RunRecorder:
        if self._recorder is None:
            raise RuntimeError("ArcCheckpointCallback: the run folder is not decided yet (fit or test has not started)")
        return self._recorder

    # ----------------------------------------------------------------------------------------------- snapshots

    @catch_and_warn("record the loggers of {run_dir}")
    def _link_loggers(self, trainer: pl.Trainer, *, stage: Literal["fit", "test"]) -> None:
        """On rank 0, no collective: log the run folder to every logger and record what each one is.

        A logger that cannot be written to costs a warning and an ``errors["link"]`` entry, never the run.
        """
        attached = list(trainer.loggers)
        identity = self._session.identity
        if not attached or self._recorder is None or identity is None:
            return
        problems = [loggers.link_run_folder([logger], identity.run_dir, identity.run_name) for logger in attached]
        described = self._described(attached)
        for entry, problem in zip(described, problems, strict=True):
            if problem:
                warn(f"could not log the run folder to {problem[0]}")
                entry["errors"]["link"] = self._redaction.message(problem[0])
        self._recorder.linked(described, stage=stage)

    def _loggers_now(self, trainer: pl.Trainer) -> list[dict[str, Any]] | None:
        """What the loggers are now (on rank 0; read without creating anything), ``None`` without loggers."""
        if not trainer.loggers:
            return None
        return capture.safely("the loggers", lambda: self._described(list(trainer.loggers)), None)

    def _described(self, attached: list[Any]) -> list[dict[str, Any]]:
        """The loggers' records, with what the configs said is secret hidden: a folder Hydra named after the
        overrides (``outputs/api_key=...``) holds the logs."""
        described: list[dict[str, Any]] = self._redaction.tree(capture.to_jsonable(loggers.describe_loggers(attached)))
        return described

    @catch_and_warn("write the history of {run_dir}")
    def _record_validation(self, trainer: pl.Trainer, *, epoch_end: bool) -> None:
        """On rank 0, no collective: the history entry and heartbeat of the last validation run (see
        :meth:`FitSession.history_metrics`). A failed write costs a warning: the final record is written at fit end."""
        epoch = self._session.take_pending()
        if self._recorder is None or epoch is None:
            return
        metrics = self._session.history_metrics(capture.scalar_metrics(trainer.callback_metrics), epoch_end=epoch_end)
        metrics.update(capture.learning_rates(trainer.optimizers, self._session.learning_rates))
        self._recorder.validated(self._snapshot(trainer), metrics, epoch=epoch)

    def _snapshot(self, trainer: pl.Trainer, *, across_ranks: bool = False) -> FitSnapshot:
        """Where the fit is, as plain values. ``across_ranks``: a collective that reduces early stopping."""
        early_stopping = module(self._namespace, "callbacks").EarlyStopping
        stoppers = [cb for cb in getattr(trainer, "callbacks", []) if isinstance(cb, early_stopping)]
        states = capture.safely(
            "early stopping state", lambda: [capture.early_stopping_state(cb) for cb in stoppers], []
        )
        if across_ranks and trainer.world_size > 1 and len(states) == len(stoppers):
            states = ranks.stopped_anywhere(trainer.strategy, states)
        best_path = self.best_model_path or None
        run_dir = self._session.identity.run_dir if self._session.identity else ""
        return FitSnapshot(
            monitor=self.monitor,
            mode=self.mode if self.monitor else None,
            best_epoch=self._session.best_epoch(best_path),
            best_metric_value=capture.scalar(self.best_model_score) if self.monitor else None,
            best_model_path=runfolder.relative(best_path, run_dir),
            last_model_path=runfolder.relative(self.last_model_path or None, run_dir),
            num_epochs_trained=epochs_trained(trainer),
            global_step=int(trainer.global_step),
            steps_this_fit=self._session.steps_this_fit(int(trainer.global_step)),
            early_stopping=states,
        )

    def _ckpt_path(self, trainer: pl.Trainer, identity: RunIdentity) -> str | None:
        return runfolder.relative(os.fspath(trainer.ckpt_path) if trainer.ckpt_path else None, identity.run_dir)

    def _build_config(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        identity: RunIdentity,
        sources: Sequence[config_sources.SourceCapture],
    ) -> ConfigRecord:
        callbacks_mod = module(self._namespace, "callbacks")
        captured = capture.run_config(
            trainer,
            pl_module,
            self._argument_config(),
            sources=sources,
            lightning_version=getattr(module(self._namespace), "__version__", None),
            early_stopping_cls=callbacks_mod.EarlyStopping,
            checkpoint_cls=callbacks_mod.ModelCheckpoint,
        )
        names = {
            "model_name": identity.model_name,
            "loss_function": identity.loss_function,
            "root_name": self.root_name,
            "class_names": identity.class_names,
            "class_name_sources": identity.class_name_sources,
        }
        self._redaction = captured.redaction  # hidden in the error record and the checkpoints too
        return validate_artifact(ConfigRecord, {**captured.parts, **names})


class ArcCheckpointCallback(ArcCheckpointLogic, ModelCheckpoint):
    """A ``ModelCheckpoint`` that writes a complete, validated run folder with zero lines of user code.

    For each ``fit`` it creates ``<data_folder>/checkpoints/<root_name>/<UTC start>_<model>_<loss>/`` and writes
    there, besides the best checkpoint (``best-epoch02-val_f1-0.847.ckpt``):

    * ``config.json`` at fit start: the user's config keys at the top level, and under ``_arccnet`` the hparams,
      Trainer, optimizers, callbacks, model, environment, git and seed, and the config of the LightningCLI or Hydra
      app that runs the script (with its YAML files copied beside it);
    * ``training_summary.json`` at fit start (``running``), at fit end (``completed``, after every fit that did
      not raise, once every checkpoint is written), on failure (``failed`` or ``interrupted``) and after test; a
      resumed or requeued fit continues the same record (see :mod:`arccnet_ckpt.core.recorder`);
    * the loggers' ids and folders in the summary at training start, each logger given the run folder's path;
    * ``minimal_logging.json`` at fit end (and on failure), and with the test metrics after test;
    * ``classification_report.json`` at test end, with a per-class report per test dataloader when ``test_step``
      returns ``{"preds": ..., "target": ...}``; every ``trainer.test`` is kept as an evaluation, one of them the
      headline (see ``headline_test``).

    A Trainer used only for ``test`` writes into the tested checkpoint's run, or into a new ``kind: "evaluation"``
    folder.

    Every ``ModelCheckpoint`` argument keeps its meaning (except the defaults ``monitor="val_f1"``, ``mode="max"``).

    Args:
        root_name: Sub-path under ``<data_folder>/checkpoints``, e.g. ``"flares/binary_classification"``;
            segments of letters, digits, ``.``, ``_``, ``-``. Required unless ``dirpath`` is given.
        data_folder: Base folder or fsspec URL; ``None`` -> ``$ARCCNET_DATA_FOLDER``, else
            ``$ARCAFF_DATA_FOLDER``, else ``./data``.
        model_name: Name in the folder; ``None`` -> inferred from config, hparams, or the module's class.
        loss_function: Name in the folder; ``None`` -> inferred from config, hparams, or the module's loss.
        config: The run's config: dict, module, dataclass, pydantic model, Namespace or OmegaConf config.
        class_names: Class names for the per-class report (multiclass); ``None`` -> inferred where possible.
        threshold: Decision threshold for binary scores; ``None`` -> 0.5 for probabilities, 0 for logits.
        preds_key: Key of the predictions in ``test_step``'s output; ``None`` -> ``preds``/``logits``/``probs``.
        target_key: Key of the targets in ``test_step``'s output; ``None`` -> ``target``/``targets``/``y``.
        headline_test: Which ``trainer.test`` is the run's headline (``test_results``, the report's top level):
            ``"auto"``, the run's first test of its best checkpoint (a later test is kept under ``evaluations``, with
            a warning); ``"always"`` or ``"never"`` for this callback's tests. An attribute too.
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
        redact_checkpoint_hparams: Hide secret values in the ``hyper_parameters`` and
            ``datamodule_hyper_parameters`` each checkpoint holds (Lightning writes them as given), as every other file
            hides them: ``Model.load_from_checkpoint`` then passes ``"***"`` for a secret argument (pass the real
            value as a keyword to override it). ``False`` keeps Lightning's hparams as given. Lightning does not call
            this callback for a ``save_weights_only=True`` checkpoint, whose hparams stay as given.

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


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def epochs_trained(trainer: Any) -> int:
    """The epochs whose training batches all ran: the one count of epochs, while running, at the end, and after a
    requeue.

    Lightning counts an epoch ``processed`` once its last batch ran (before its validation's epoch-end hooks) and
    ``completed`` after ``on_train_epoch_end``; a checkpoint saved at the epoch's validation holds the smaller
    count, which a resumed fit restores. Whichever is further is what the fit trained.
    """
    progress = trainer.fit_loop.epoch_progress.current
    return int(max(progress.processed, progress.completed))


def _dataloader_names(trainer: Any, combined_loader: type) -> list[str | None] | None:
    """The test dataloaders' names by ``dataloader_idx``, where they came in a dict (``{"quiet_sun": dl, ...}``).

    Lightning numbers the dataloaders in the order of ``CombinedLoader(...).flattened``; ``trainer.test_dataloaders``
    keeps their structure. Each flattened dataloader is named by the keys that lead to it in that structure
    (``active``; ``active.0`` under a dict of lists); ``None`` when no dict was given.
    """
    structure = trainer.test_dataloaders
    if structure is None:
        return None
    flattened = combined_loader(structure, "sequential").flattened
    paths: list[tuple[str, Any]] = []

    def walk(node: Any, path: tuple[str, ...], named: bool) -> None:
        if isinstance(node, Mapping):
            for key, child in node.items():
                walk(child, (*path, str(key)), True)
        elif isinstance(node, (list, tuple)) and node and not all(isinstance(c, (int, float, str)) for c in node):
            for i, child in enumerate(node):
                walk(child, (*path, str(i)), named)
        elif named:
            paths.append((".".join(path), node))

    walk(structure, (), False)
    if not paths or not flattened:
        return None
    by_identity = {id(node): name for name, node in paths}
    return [by_identity.get(id(loader)) for loader in flattened]


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
