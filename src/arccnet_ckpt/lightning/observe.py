"""The Trainer read into plain values: what the hooks hand to the session and the recorder.

Each function reads a Trainer (and the callback's ``ModelCheckpoint`` state) without changing anything, and returns
plain values, records or ``None``:

* where the fit is: :func:`fit_snapshot` (a :class:`~arccnet_ckpt.core.progress.FitSnapshot`), :func:`epochs_trained`;
* which checkpoint a fit resumes from or a test tests: :func:`ckpt_path`;
* the run's ``config.json`` record: :func:`argument_config` (the user's own config), :func:`run_config`;
* the test dataloaders' names: :func:`dataloader_names`;
* the loggers' records, secrets hidden: :func:`described_loggers`, :func:`loggers_now`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from arccnet_ckpt import capture
from arccnet_ckpt.capture import config_sources, loggers
from arccnet_ckpt.core import runfolder
from arccnet_ckpt.core.progress import FitSnapshot
from arccnet_ckpt.core.recorder import RunIdentity
from arccnet_ckpt.lightning import ranks
from arccnet_ckpt.lightning.namespaces import module
from arccnet_ckpt.lightning.session import FitSession
from arccnet_ckpt.records import ConfigRecord, validate_artifact

if TYPE_CHECKING:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint


def fit_snapshot(
    trainer: pl.Trainer, checkpoint: ModelCheckpoint, session: FitSession, namespace: str, *, across_ranks: bool = False
) -> FitSnapshot:
    """Where the fit is, as plain values. ``across_ranks``: a collective that reduces early stopping."""
    early_stopping = module(namespace, "callbacks").EarlyStopping
    stoppers = [cb for cb in getattr(trainer, "callbacks", []) if isinstance(cb, early_stopping)]
    states = capture.safely("early stopping state", lambda: [capture.early_stopping_state(cb) for cb in stoppers], [])
    if across_ranks and trainer.world_size > 1 and len(states) == len(stoppers):
        states = ranks.stopped_anywhere(trainer.strategy, states)
    best_path = checkpoint.best_model_path or None
    run_dir = session.identity.run_dir if session.identity else ""
    return FitSnapshot(
        monitor=checkpoint.monitor,
        mode=checkpoint.mode if checkpoint.monitor else None,
        best_epoch=session.best_epoch(best_path),
        best_metric_value=capture.scalar(checkpoint.best_model_score) if checkpoint.monitor else None,
        best_model_path=runfolder.relative(best_path, run_dir),
        last_model_path=runfolder.relative(checkpoint.last_model_path or None, run_dir),
        num_epochs_trained=epochs_trained(trainer),
        global_step=int(trainer.global_step),
        steps_this_fit=session.steps_this_fit(int(trainer.global_step)),
        early_stopping=states,
    )


def epochs_trained(trainer: Any) -> int:
    """The epochs whose training batches all ran: the one count of epochs, while running, at the end, and after a
    requeue.

    Lightning counts an epoch ``processed`` once its last batch ran (before its validation's epoch-end hooks) and
    ``completed`` after ``on_train_epoch_end``; a checkpoint saved at the epoch's validation holds the smaller
    count, which a resumed fit restores. Whichever is further is what the fit trained.
    """
    progress = trainer.fit_loop.epoch_progress.current
    return int(max(progress.processed, progress.completed))


def ckpt_path(trainer: Any, run_dir: str) -> str | None:
    """The checkpoint the fit resumed from (or the test tested), relative to ``run_dir`` when inside it."""
    return runfolder.relative(os.fspath(trainer.ckpt_path) if trainer.ckpt_path else None, run_dir)


def argument_config(config: Any, explicit_dir: str | None) -> Any:
    """The run's own config: ``config=``, else what a manual ``save_config()`` wrote into an explicit ``dirpath``
    before fit (the seed's order), else ``None``."""
    if config is not None or explicit_dir is None:
        return config
    return runfolder.saved_config(explicit_dir) or None


def run_config(
    trainer: pl.Trainer,
    pl_module: pl.LightningModule,
    argument: Any,
    identity: RunIdentity,
    sources: Sequence[config_sources.SourceCapture],
    *,
    root_name: str | None,
    namespace: str,
) -> tuple[ConfigRecord, capture.Redaction]:
    """The ``config.json`` record of the run (filed under ``root_name``), and the secrets its configs and hparams
    hold (to hide them in the error record and the checkpoints too)."""
    callbacks_mod = module(namespace, "callbacks")
    captured = capture.run_config(
        trainer,
        pl_module,
        argument,
        sources=sources,
        lightning_version=getattr(module(namespace), "__version__", None),
        early_stopping_cls=callbacks_mod.EarlyStopping,
        checkpoint_cls=callbacks_mod.ModelCheckpoint,
    )
    names = {
        "model_name": identity.model_name,
        "loss_function": identity.loss_function,
        "root_name": root_name,
        "class_names": identity.class_names,
        "class_name_sources": identity.class_name_sources,
    }
    return validate_artifact(ConfigRecord, {**captured.parts, **names}), captured.redaction


def dataloader_names(trainer: Any, combined_loader: type) -> list[str | None] | None:
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


def described_loggers(attached: list[Any], redaction: capture.Redaction) -> list[dict[str, Any]]:
    """The loggers' records, with what the configs said is secret hidden: a folder Hydra named after the
    overrides (``outputs/api_key=...``) holds the logs."""
    described: list[dict[str, Any]] = redaction.tree(capture.to_jsonable(loggers.describe_loggers(attached)))
    return described


def loggers_now(trainer: Any, redaction: capture.Redaction) -> list[dict[str, Any]] | None:
    """What the loggers are now (on rank 0; read without creating anything), ``None`` without loggers."""
    if not trainer.loggers:
        return None
    return capture.safely("the loggers", lambda: described_loggers(list(trainer.loggers), redaction), None)
