"""``CallbackRun``: the run one callback records, and what each hook's one call does to it.

The callback's hooks decide *when* (a guard) and call one method here, which decides *what*: it reads the Trainer into
plain values (:mod:`arccnet_ckpt.lightning.observe`), updates the per-fit :class:`~arccnet_ckpt.lightning.session.
FitSession`, and hands the values to rank 0's :class:`~arccnet_ckpt.core.recorder.RunRecorder`, which writes. It holds:

* the run's opening and identity: :meth:`CallbackRun.start_fit` (fit start, every rank), :meth:`CallbackRun.
  open_for_test` (a test-only Trainer), the folder claimed on rank 0 (:meth:`CallbackRun.claim`) and adopted by every
  rank;
* the records of the fit: history entries, the ``completed``, ``failed`` or ``interrupted`` record, the loggers;
* the test loop (:class:`~arccnet_ckpt.lightning.testloop.TestLoop`, ``testing``): its forward hook, predictions,
  evaluation and ``report.html``;
* the data counts of each split (:mod:`arccnet_ckpt.lightning.counting`), written into the summary's ``data`` with
  the next record;
* what each checkpoint carries of the run (:meth:`CallbackRun.stamp`).

Rank handling goes through :mod:`arccnet_ckpt.lightning.ranks`; the failures that cost a warning are marked with
:func:`~arccnet_ckpt.lightning.policy.catch_and_warn`. The callback's own attributes (``headline_test``,
``redact_checkpoint_hparams``, the names) are read when used, so a user may change them after building it.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from arccnet_ckpt import capture, layout, runs
from arccnet_ckpt.capture import config_sources, loggers
from arccnet_ckpt.core import runfolder
from arccnet_ckpt.core.lifecycle import Phase, is_interruption
from arccnet_ckpt.core.recorder import FitSnapshot, RunIdentity, RunRecorder
from arccnet_ckpt.core.records import error_info
from arccnet_ckpt.lightning import observe, ranks, staging
from arccnet_ckpt.lightning.counting import DataCounting
from arccnet_ckpt.lightning.policy import catch_and_warn, warn
from arccnet_ckpt.lightning.session import FitSession
from arccnet_ckpt.lightning.testloop import TestLoop
from arccnet_ckpt.metrics import TestPredictionCollector
from arccnet_ckpt.records.reader import read_record

if TYPE_CHECKING:
    from collections.abc import Sequence

    import lightning.pytorch as pl

    from arccnet_ckpt.lightning.callback import ArcCheckpointLogic

__all__ = ["CallbackRun"]

_NOT_DECIDED = "ArcCheckpointCallback: the run folder is not decided yet (fit or test has not started)"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class CallbackRun:
    """The run of one :class:`~arccnet_ckpt.ArcCheckpointCallback`: its session, rank 0's recorder, the secrets its
    configs hold, the data counts and the test loop; the callback (``owner``) is read for its ``ModelCheckpoint`` state.

    Args:
        owner: The callback.
        namespace: The owner's Lightning namespace (``lightning.pytorch`` or ``pytorch_lightning``).
        explicit_dir: The ``dirpath=`` it was given (the run folder, used as is), ``None`` for the hierarchy.
        collector: Gathers the test predictions for the per-class report.
    """

    def __init__(
        self, owner: ArcCheckpointLogic, *, namespace: str, explicit_dir: str | None, collector: TestPredictionCollector
    ) -> None:
        self.owner = owner
        self.namespace = namespace
        self.explicit_dir = explicit_dir
        self.session = FitSession()  # the run and this fit's state, as plain values
        self.recorder: RunRecorder | None = None  # rank 0's keeps the last record it wrote
        self.redaction = capture.Redaction()  # secrets the configs and hparams hold, environment values (rank 0)
        self.counting = DataCounting(self.session)  # the passes of each split being counted, every rank
        self.testing = TestLoop(self, collector)  # the test loop: forward hook, predictions, the evaluation

    @property
    def run_dir(self) -> str | None:
        """The owner's run folder (named in the warnings of :func:`catch_and_warn`)."""
        return self.owner.run_dir

    # ------------------------------------------------------------------------------------- opening and identity

    def start_fit(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Every rank, at fit start: rank 0 decides the run folder and writes ``config.json`` and the ``running``
        summary; an unwritable folder raises here, on every rank."""
        self.session.begin_fit()
        start = lambda: self._start_run(trainer, pl_module)  # noqa: E731
        self.adopt(ranks.on_rank_zero(trainer.strategy, start, "starting the run record"))
        self.session.active = "fit"

    def open_for_test(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Every rank, at the start of a test-only Trainer's test: the checkpoint's own run, or a new evaluation."""
        opened = ranks.on_rank_zero(
            trainer.strategy, lambda: self._open_for_test(trainer, pl_module), "opening the run for test"
        )
        self.adopt(opened[0])
        self.session.active = "evaluation" if opened[1] else None
        ranks.rank_zero_alone(trainer.strategy, lambda: self.link_loggers(trainer, stage="test"))

    def _start_run(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> RunIdentity:
        """On rank 0: decide the run folder, write ``config.json`` and the ``running`` summary."""
        sources = self._sources(trainer)
        identity = self.session.identity or self.claim(trainer, pl_module, sources)
        recorder = self.recorder_of(identity)
        recorder.start(
            self.snapshot(trainer),
            config=self._config(trainer, pl_module, identity, sources),
            files=config_sources.files_of(sources),
            checkpoint=observe.ckpt_path(trainer, identity.run_dir),
            restart_count=capture.restart_count(),
        )
        return identity

    def _open_for_test(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> tuple[RunIdentity, bool]:
        """On rank 0: the run a test-only Trainer writes to, and whether it is a new evaluation."""
        sources = self._sources(trainer)
        identity = self.claim(trainer, pl_module, sources, stage="test")
        recorder = self.recorder_of(identity)
        if recorder.phase is not Phase.NEW:
            return identity, False  # the checkpoint's own run: its report and test results go there
        config = self._config(trainer, pl_module, identity, sources)
        checkpoint = observe.ckpt_path(trainer, identity.run_dir)
        files = config_sources.files_of(sources)
        recorder.start(FitSnapshot(), config=config, files=files, kind="evaluation", checkpoint=checkpoint)
        return identity, True

    def _sources(self, trainer: pl.Trainer) -> list[config_sources.SourceCapture]:
        """The configs of the LightningCLI or Hydra app that runs the script; their secrets are the run's first."""
        sources = config_sources.find(trainer, self.namespace)
        self.redaction = capture.Redaction.union(source.redaction for source in sources)
        return sources

    def _config(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        identity: RunIdentity,
        sources: Sequence[config_sources.SourceCapture],
    ) -> Any:
        argument = observe.argument_config(self.owner.config, self.explicit_dir)
        record, self.redaction = observe.run_config(
            trainer, pl_module, argument, identity, sources, root_name=self.owner.root_name, namespace=self.namespace
        )  # the secrets are hidden in the error record and the checkpoints too
        return record

    def claim(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        sources: Sequence[config_sources.SourceCapture],
        stage: Literal["fit", "test"] = "fit",
    ) -> RunIdentity:
        """On rank 0: the run folder this Trainer writes to, found or created, the run's names and group."""
        owner = self.owner
        argument = observe.argument_config(owner.config, self.explicit_dir)
        config = capture.safely("the config", lambda: capture.config_to_dict(argument), {})
        names = runfolder.run_names(
            config,
            capture.safely("hparams", lambda: capture.to_jsonable(dict(pl_module.hparams)), {}),
            pl_module,
            getattr(trainer, "datamodule", None),
            model_name=owner.model_name,
            loss_function=owner.loss_function,
            class_names=owner.class_names,
            tool_configs={source.name: source.config for source in sources},
        )
        request = runfolder.FolderRequest(
            data_folder=owner.data_folder,
            root_name=owner.root_name,
            explicit_dir=self.explicit_dir,
            ckpt_path=os.fspath(trainer.ckpt_path) if trainer.ckpt_path else None,
            restored=self.session.restored,
            stage=stage,
            group=owner.group,
            group_index=owner.group_index,
        )
        return runfolder.open_run_folder(request, names, _utcnow())

    def adopt(self, identity: RunIdentity) -> None:
        """Every rank: remember the run decided on rank 0, and save checkpoints into its folder."""
        if self.session.identity is None:
            self.session.identity = identity
            self.recorder_of(identity)
        if self.explicit_dir is None or not runfolder.same_folder(identity.run_dir, self.explicit_dir):
            self.owner.dirpath = identity.run_dir  # also a run folder nested in the dirpath: its checkpoints go there

    def recorder_of(self, identity: RunIdentity) -> RunRecorder:
        """The recorder of ``identity``: the one rank 0 started the run with, which keeps the last record it wrote
        (to write it back if another tool breaks the file), else a new one."""
        if self.recorder is None or self.recorder.identity != identity:
            self.recorder = RunRecorder(identity, read=read_record)
        return self.recorder

    def require_recorder(self) -> RunRecorder:
        """Rank 0's recorder. Raises ``RuntimeError`` before fit or test start."""
        if self.recorder is None:
            raise RuntimeError(_NOT_DECIDED)
        return self.recorder

    def require_identity(self) -> RunIdentity:
        """The run. Raises ``RuntimeError`` before fit or test start."""
        if self.session.identity is None:
            raise RuntimeError(_NOT_DECIDED)
        return self.session.identity

    def expects_files_in(self, dirpath: str | os.PathLike[str] | None) -> bool:
        """A parent of other runs, a resumed run, or the manual API's folder holding config.json: files expected."""
        if self.session.identity is not None or self.explicit_dir is None:
            return True
        return layout.is_run_folder(os.fspath(dirpath or ""))

    # -------------------------------------------------------------------------------------------- the fit

    def snapshot(self, trainer: pl.Trainer, *, across_ranks: bool = False) -> FitSnapshot:
        """Where the fit is (see :func:`~arccnet_ckpt.lightning.observe.fit_snapshot`)."""
        return observe.fit_snapshot(trainer, self.owner, self.session, self.namespace, across_ranks=across_ranks)

    def note_best(self, epoch: int) -> None:
        """ModelCheckpoint may have saved a new best: note the epoch (see :meth:`FitSession.note_best`)."""
        self.session.note_best(self.owner.best_model_path, self.owner.best_model_score, epoch)

    @catch_and_warn("record the loggers of {run_dir}")
    def link_loggers(self, trainer: pl.Trainer, *, stage: Literal["fit", "test"]) -> None:
        """On rank 0, no collective: log the run folder to every logger and record what each one is.

        A logger that cannot be written to costs a warning and an ``errors["link"]`` entry, never the run.
        """
        attached = list(trainer.loggers)
        identity = self.session.identity
        if not attached or self.recorder is None or identity is None:
            return
        problems = [loggers.link_run_folder([logger], identity.run_dir, identity.run_name) for logger in attached]
        described = observe.described_loggers(attached, self.redaction)
        for entry, problem in zip(described, problems, strict=True):
            if problem:
                warn(f"could not log the run folder to {problem[0]}")
                entry["errors"]["link"] = self.redaction.message(problem[0])
        self.recorder.linked(described, stage=stage)

    def train_batch_started(self, trainer: pl.Trainer, batch: Any, batch_idx: int) -> None:
        """Every rank, before a training step of the fit: count its batch, note its learning rates (rank 0).

        Lightning steps epoch schedulers after the epoch's last batch, before validation and the epoch-end hooks:
        read later, the rate would be the next epoch's. This is when LearningRateMonitor reads it too.
        """
        self.counting.add("train", batch, batch_idx)
        ranks.rank_zero_alone(trainer.strategy, lambda: self.note_learning_rates(trainer))

    def note_learning_rates(self, trainer: pl.Trainer) -> None:
        """On rank 0: the rates the coming training step uses."""
        self.session.learning_rates = capture.raw_learning_rates(trainer.optimizers)

    def validation_ended(self, trainer: pl.Trainer) -> None:
        """On rank 0: a validation of the fit ended; write its history entry now, or at the epoch's end."""
        last_batch = bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)
        metrics = capture.scalar_metrics(trainer.callback_metrics)
        if self.session.validation_ended(int(trainer.current_epoch), last_batch=last_batch, metrics=metrics):
            self.record_validation(trainer, epoch_end=False)

    @catch_and_warn("write the history of {run_dir}")
    def record_validation(self, trainer: pl.Trainer, *, epoch_end: bool) -> None:
        """On rank 0, no collective: the history entry and heartbeat of the last validation run (see
        :meth:`FitSession.history_metrics`). A failed write costs a warning: the final record is written at fit end."""
        epoch = self.session.take_pending()
        if self.recorder is None or epoch is None:
            return
        metrics = self.session.history_metrics(capture.scalar_metrics(trainer.callback_metrics), epoch_end=epoch_end)
        metrics.update(capture.learning_rates(trainer.optimizers, self.session.learning_rates))
        self.recorder.validated(self.snapshot(trainer), metrics, epoch=epoch, counts=self.session.data_counts)

    def finish_fit(self, trainer: pl.Trainer) -> None:
        """Every rank: the last history entry and the ``completed`` record (a collective reduces early stopping)."""
        if self.session.pending_epoch is not None:  # a fit stopped between its last validation and the epoch's end
            ranks.rank_zero_alone(trainer.strategy, lambda: self.record_validation(trainer, epoch_end=True))
        snapshot = self.snapshot(trainer, across_ranks=True)
        recorder, owner = self.require_recorder(), self.owner

        def finish() -> None:
            keep = {*owner.best_k_models, owner.best_model_path, owner.last_model_path, str(trainer.ckpt_path or "")}
            staging.clean_up(trainer.strategy, self.namespace, self.session.saved, keep, recorder.run_dir)
            self.session.saved.clear()
            snapshot_now = dataclasses.replace(snapshot, loggers=observe.loggers_now(trainer, self.redaction))
            recorder.finish(snapshot_now, counts=self.session.data_counts)

        ranks.on_rank_zero(trainer.strategy, finish, "writing the completed run record")

    @catch_and_warn("write the record of the run that raised to {run_dir}")
    def record_failure(self, trainer: pl.Trainer, exception: BaseException, active: str) -> None:
        """On rank 0 alone: the pending history entry, then ``failed`` or ``interrupted`` with the error."""
        recorder = self.require_recorder()
        if active == "fit" and self.session.pending_epoch is not None:
            self.record_validation(trainer, epoch_end=True)
        if recorder.phase is Phase.RUNNING:
            snapshot = self.snapshot(trainer) if active == "fit" else FitSnapshot()
            snapshot = dataclasses.replace(snapshot, loggers=observe.loggers_now(trainer, self.redaction))
            error, interrupted = error_info(exception, self.redaction), is_interruption(exception)
            recorder.fail(snapshot, error, interrupted=interrupted, counts=self.session.data_counts)

    def interrupted(self) -> None:
        """Every rank, when an exception ends a Trainer call: take the forward hook off, drop the passes being
        counted (no collective may follow)."""
        self.testing.forward.remove()
        self.counting.drop()

    # ------------------------------------------------------------------------------------------ checkpoints

    def stamp(self, checkpoint: dict[str, Any], hparams_key: str) -> None:
        """Hide secrets in the checkpoint's hparams, and put the run's state and identity into it."""
        if self.owner.redact_checkpoint_hparams:
            # Lightning puts the module's and datamodule's hparams in the checkpoint as given: hide their secrets, in
            # copies (the one it put there may be the module's own hparams object).
            for key in (hparams_key, "datamodule_hyper_parameters"):
                if key in checkpoint:
                    checkpoint[key] = capture.redact_in_place_of(checkpoint[key], self.redaction)
        identity = self.session.identity
        if identity is None:
            return
        state = checkpoint.get("callbacks", {}).get(self.owner.state_key)
        if isinstance(state, dict):
            state["arc_run"] = self.session.state()
        # The checkpoint knows its run: Run.load_model refuses a checkpoint of another run. The digest is the one of
        # the config.json this process wrote (None where it wrote none: the other ranks, whose dict is not saved).
        digest = self.recorder.config_sha256 if self.recorder is not None else None
        checkpoint[runs.CHECKPOINT_KEY] = {
            "run_name": identity.run_name,
            "run_dir": identity.run_dir,
            "schema_version": runs.CHECKPOINT_ENTRY_VERSION,
            "config_sha256": digest,
        }
