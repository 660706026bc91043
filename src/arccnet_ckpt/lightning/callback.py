"""``ArcCheckpointCallback``: a ``ModelCheckpoint`` that leaves a complete, validated run folder.

This module is the thin Lightning adapter: each hook calls ``super()`` first, returns early when it should skip,
and otherwise makes one call, to the callback's :class:`~arccnet_ckpt.lightning.run.CallbackRun`. Where the rest
lives:

* the constructor's own arguments, checked: :mod:`arccnet_ckpt.lightning.settings`;
* what each hook's call does to the run (its opening and identity, the history, the final and failure records, the
  test's evaluation, what a checkpoint carries): :mod:`arccnet_ckpt.lightning.run`;
* the Trainer read into plain values (snapshots, the config record, the loggers, the dataloaders' names):
  :mod:`arccnet_ckpt.lightning.observe`;
* the per-fit state and the decisions on it (history timing, leftover metrics, best epoch, the checkpoint state):
  :mod:`arccnet_ckpt.lightning.session`;
* which status a run has, which transitions are allowed, and every write: :mod:`arccnet_ckpt.core`;
* what happens on ranks other than 0, and every collective: :mod:`arccnet_ckpt.lightning.ranks`;
* which failures cost a warning and never the run: :mod:`arccnet_ckpt.lightning.policy`;
* the two Lightning namespaces: :mod:`arccnet_ckpt.lightning.namespaces`;
* how a checkpoint reaches its final name, and superseded background saves: :mod:`arccnet_ckpt.lightning.staging`;
* what is captured from the Trainer, module and config: :mod:`arccnet_ckpt.capture`;
* the per-class report: :mod:`arccnet_ckpt.metrics`;
* the test loop's forward hook: :mod:`arccnet_ckpt.lightning.forward`; which pass of each split is counted for the
  summary's ``data``: :mod:`arccnet_ckpt.lightning.counting`, counted on the device by
  :mod:`arccnet_ckpt.metrics.counts`.

How each hook fails: an unwritable output folder fails at fit start, before the first training step, on every rank;
capturing metadata never kills a run (a problem costs an :class:`~arccnet_ckpt.errors.ArcCkptWarning`); after an
exception in ``fit`` the record says ``failed`` or ``interrupted`` and the original exception propagates unchanged.
"""

from __future__ import annotations

import os
import types
import warnings
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from lightning.pytorch.callbacks import ModelCheckpoint
from typing_extensions import override

from arccnet_ckpt import capture, layout, store
from arccnet_ckpt.core.evaluations import HeadlineChoice
from arccnet_ckpt.errors import ArcCkptWarning
from arccnet_ckpt.lightning import ranks, staging
from arccnet_ckpt.lightning.namespaces import check_namespace
from arccnet_ckpt.lightning.policy import warn
from arccnet_ckpt.lightning.run import CallbackRun
from arccnet_ckpt.lightning.settings import CallbackSettings, checkpoint_filename
from arccnet_ckpt.metrics import TestPredictionCollector

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
        mistakes: int = 10,
        group: str | None = None,
        group_index: int | None = None,
    ) -> None:
        settings = CallbackSettings.checked(
            root_name=root_name, data_folder=data_folder, dirpath=dirpath, model_name=model_name,
            loss_function=loss_function, class_names=class_names, threshold=threshold,
            redact_checkpoint_hparams=redact_checkpoint_hparams, headline_test=headline_test,
            group=group, group_index=group_index,
        )  # fmt: skip
        # Attributes, read when used: a user may change them (``cb.headline_test = "always"``) after building it.
        self.root_name, self.data_folder = settings.root_name, settings.data_folder
        self.model_name, self.loss_function = settings.model_name, settings.loss_function
        self.config, self.class_names, self.threshold = config, settings.class_names, settings.threshold
        self.preds_key, self.target_key = preds_key, target_key
        self.redact_checkpoint_hparams = settings.redact_checkpoint_hparams
        self.headline_test: HeadlineChoice = settings.headline_test
        self.group, self.group_index = settings.group, settings.group_index
        filename, auto_insert_metric_name = checkpoint_filename(filename, monitor, auto_insert_metric_name)
        super().__init__(
            dirpath=dirpath,
            filename=filename,
            monitor=monitor,
            verbose=verbose,
            save_last=save_last,
            save_top_k=save_top_k,
            save_on_exception=save_on_exception,
            save_weights_only=save_weights_only,
            mode=mode,
            auto_insert_metric_name=auto_insert_metric_name,
            every_n_train_steps=every_n_train_steps,
            train_time_interval=train_time_interval,
            every_n_epochs=every_n_epochs,
            save_on_train_epoch_end=save_on_train_epoch_end,
            enable_version_counter=enable_version_counter,
        )
        self._origin: str | None = None  # set by the manager: which call built this callback, and why this namespace
        collector = TestPredictionCollector(
            preds_keys=(preds_key,) if preds_key else None,
            target_keys=(target_key,) if target_key else None,
            threshold=self.threshold,
            mistakes=mistakes,  # checked there: a ValueError names what is allowed
        )
        explicit = os.fspath(self.dirpath) if self.dirpath is not None else None
        self._run = CallbackRun(self, namespace=self._namespace, explicit_dir=explicit, collector=collector)

    # ------------------------------------------------------------------------------------------------ properties

    @property
    def run_dir(self) -> str | None:
        """The run folder (a local path or URL), set from fit start (or test start for a test-only Trainer)."""
        if self._run.session.identity is not None:
            return self._run.session.identity.run_dir
        if self.best_model_path:
            # After ddp_spawn the main process only receives best_model_path back from the workers.
            return store.dirname(self.best_model_path)
        return None

    @property
    def run_name(self) -> str | None:
        """The run folder's name, e.g. ``2025-02-12_14-30-45_resnet18_weighted_bce``."""
        identity = self._run.session.identity
        return identity.run_name if identity else None

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
        if self._run.explicit_dir is None and self._run.session.identity is None:
            # Until the run folder is decided at fit (or test) start, point ModelCheckpoint at its parent: same file
            # system, so the one ModelCheckpoint opens here serves the run folder too.
            self.dirpath = layout.root_folder(self.data_folder, self.root_name)
        with warnings.catch_warnings():
            if self._run.expects_files_in(self.dirpath):
                warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
            super().setup(trainer, pl_module, stage)
        staging.install(trainer.strategy, self._namespace)

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_fit_start(trainer, pl_module)
        self._run.start_fit(trainer, pl_module)

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._run.session.fit_start_step = int(trainer.global_step)  # after a restore: this fit's steps count from here
        if self._run.session.active == "fit":  # after Lightning logged the hparams: the experiments exist
            ranks.rank_zero_alone(trainer.strategy, lambda: self._run.link_loggers(trainer, stage="fit"))

    @override
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self._run.counting.begin("train", trainer)

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        super().on_train_batch_start(trainer, pl_module, batch, batch_idx)
        if self._run.session.active == "fit":
            self._run.train_batch_started(trainer, batch, batch_idx)

    @override
    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)  # may save (every_n_train_steps)
        self._run.note_best(trainer.current_epoch)

    @override
    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_epoch_start(trainer, pl_module)
        self._run.counting.begin("val", trainer)

    @override
    def on_validation_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        super().on_validation_batch_start(trainer, pl_module, batch, batch_idx, dataloader_idx)
        self._run.counting.add("val", batch, batch_idx if dataloader_idx == 0 else 0)

    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_epoch_end(trainer, pl_module)
        if not self._run.counting.counting("val"):
            return
        self._run.counting.end("val", trainer)  # every rank: one collective, before this validation's record

    @override
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)  # ModelCheckpoint saves here: the snapshot sees the new best
        self._run.note_best(trainer.current_epoch)
        if self._run.session.active != "fit" or trainer.sanity_checking:
            return
        ranks.rank_zero_alone(trainer.strategy, lambda: self._run.validation_ended(trainer))

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)  # may save (save_on_train_epoch_end)
        self._run.note_best(trainer.current_epoch)
        if self._run.counting.counting("train"):
            self._run.counting.end("train", trainer)  # every rank: one collective, before the epoch's record
        if self._run.session.pending_epoch == trainer.current_epoch:
            ranks.rank_zero_alone(trainer.strategy, lambda: self._run.record_validation(trainer, epoch_end=True))

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning calls this after every fit that did not raise, also one that trained nothing, and after the
        # strategy's teardown has waited for AsyncCheckpointIO: every checkpoint is on disk now.
        super().on_fit_end(trainer, pl_module)
        if self._run.session.active != "fit":
            return
        self._run.finish_fit(trainer)
        self._run.session.active = None

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        self._run.interrupted()  # every rank: the forward hook comes off, no pass is counted any more
        active, self._run.session.active = self._run.session.active, None
        if active is None or self._run.recorder is None:
            return
        # Rank 0 alone, no collective: the other ranks may be gone. Never mask the original exception.
        ranks.rank_zero_alone(trainer.strategy, lambda: self._run.record_failure(trainer, exception, active))

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().teardown(trainer, pl_module, stage)
        self._run.testing.forward.remove()  # the test loop's hook never outlives the Trainer call, whatever ended it

    @override
    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_test_start(trainer, pl_module)
        self._run.testing.start(trainer, pl_module)

    @override
    def on_test_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        super().on_test_batch_start(trainer, pl_module, batch, batch_idx, dataloader_idx)
        self._run.testing.forward.reset()  # each batch's forward calls are its own

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
        self._run.testing.batch_ended(outputs, batch, batch_idx, dataloader_idx)

    @override
    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_test_end(trainer, pl_module)
        self._run.testing.end(trainer)

    @override
    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        super().on_save_checkpoint(trainer, pl_module, checkpoint)
        # ModelCheckpoint names the new best (and last) file before it saves: note which epoch saved the best one,
        # into the state this very checkpoint carries, so a resumed run still knows it.
        self._run.note_best(trainer.current_epoch)
        self._run.session.note_saved([*self.best_k_models, self.last_model_path])
        self._run.stamp(checkpoint, pl_module.CHECKPOINT_HYPER_PARAMS_KEY)

    @override
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self._run.session.identity is not None:
            state["arc_run"] = self._run.session.state()
        return state

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        session = self._run.session
        for problem in session.restore(state_dict.get("arc_run")):
            warn(f"the checkpoint's run state: {problem}; going on without it")
        folder = session.restored_run_dir
        if self._run.explicit_dir is None and session.identity is None and folder is not None:
            self.dirpath = folder  # so ModelCheckpoint restores best_k_models of this run
        super().load_state_dict(state_dict)
        session.restored_best(self.best_model_path, self.best_model_score)


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
    * ``classification_report.json`` at test end, with a per-class report per test dataloader, from what
      ``test_step`` returns (``{"preds": ..., "target": ...}``) or, when it returns only the loss, from the module's
      forward output and the batch's targets (a forward hook that lives only for the test loop); every
      ``trainer.test`` is kept as an evaluation, one of them the headline (see ``headline_test``);
    * ``data`` in the summary: the samples, batches and class counts of the first full training epoch, the first
      validation after the sanity check and the headline test loop, counted on the device.

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
        mistakes: How many of the most confident wrong test predictions ``classification_report.json`` lists,
            each with a thumbnail of its input when the input is an image (``mistakes/`` in the run folder; needs
            Pillow, the ``images`` extra); 0 turns the list off.
        group: The group this run belongs to (cross-validation folds, a sweep), recorded in the summary's ``group``
            with ``source: "argument"``: letters, digits, ``.``, ``_``, ``-``, at most 100 characters. ``None`` ->
            a SLURM job array's, a Hydra multirun's, else this process's runs with the same names, in order (see
            the README's ``training_summary.json``).
        group_index: The run's place in ``group`` (an int from 0); ``None`` -> this process's runs of that group
            counted in order of fit start (a fold loop gets 0, 1, 2...).
        dirpath: Explicit run folder: used as is, no hierarchy added. When it already holds another run's record and
            the fit does not resume it (no ``ckpt_path`` inside it), the fit gets its own run folder under it,
            ``<dirpath>/<UTC start>_<model>_<loss>``, with a warning: no fit overwrites another's record.
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
        ValueError: For a bad ``root_name``, names, class names, monitor or group, naming what is allowed.

    Example::

        cb = ArcCheckpointCallback(root_name="flares/binary_classification", config=config)
        trainer = Trainer(callbacks=[cb, EarlyStopping("val_f1", mode="max", patience=3)])
        trainer.fit(model, datamodule=dm)
        trainer.test(model, datamodule=dm, ckpt_path="best")
        print(cb.run_dir)
    """
