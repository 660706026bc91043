"""Which run folder a Trainer writes to, and the names the run is filed under. No Lightning import.

The callback gathers plain values on global rank 0 (the user's config, hparams, the checkpoint being resumed, the
run state a checkpoint carried) and :func:`open_run_folder` decides:

* a checkpoint inside a run folder continues that run (its start time, names and group are kept); with an explicit
  ``dirpath``, only when that run folder is the ``dirpath`` or one nested in it (or the checkpoint's run state names
  one of them: a requeue whose checkpoint lies elsewhere);
* an explicit ``dirpath`` is the run folder, also when the checkpoint resumed is another run's; but a fresh fit never
  adopts another run's folder: when ``dirpath`` already holds a ``training_summary.json``, the fit gets its own run
  folder under it, ``<dirpath>/<UTC start>_<model>_<loss>``, with one :class:`~arccnet_ckpt.errors.ArcCkptWarning`
  (a fold loop sharing its ``dirpath`` keeps every fold's record);
* otherwise a new folder ``<data_folder>/checkpoints/<root_name>/<UTC start>_<model>_<loss>`` is claimed
  (``-2``, ``-3``... when the name is taken).

A new run's group is decided here too (:func:`arccnet_ckpt.capture.groups.run_group`). The folder is proved writable
before the first training step.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from arccnet_ckpt import capture, layout, store
from arccnet_ckpt.capture.groups import run_group
from arccnet_ckpt.core.recorder import RunIdentity
from arccnet_ckpt.errors import ArcCkptWarning, ArtifactError
from arccnet_ckpt.records import ConfigRecord, TrainingSummary, check_config_keys


@dataclass(frozen=True)
class FolderRequest:
    """Where a run may go, as the callback knows it when fit (or test) starts."""

    data_folder: str
    root_name: str | None
    explicit_dir: str | None = None
    ckpt_path: str | None = None
    restored: Mapping[str, Any] | None = None  # the run state a resumed checkpoint carried
    stage: Literal["fit", "test"] = "fit"  # a test-only Trainer's test adds to the run it finds, never claims beside it
    group: str | None = None  # the callback's group= and group_index= (see capture.groups)
    group_index: int | None = None


@dataclass(frozen=True)
class RunNames:
    """The names a run is filed under, and every list of class names that was offered."""

    model_name: str
    loss_function: str
    class_names: list[str] | None
    class_name_sources: dict[str, list[str]]


def run_names(
    config: dict[str, Any],
    hparams: dict[str, Any],
    module: Any,
    datamodule: Any,
    *,
    model_name: str | None = None,
    loss_function: str | None = None,
    class_names: list[str] | None = None,
    tool_configs: Mapping[str, dict[str, Any]] | None = None,
) -> RunNames:
    """The names given, else the ones inferred (see the README's "Inference when names are not given").

    Model and loss names come from ``config`` (the callback's ``config=``), then each of ``tool_configs`` in order
    (Hydra's, then LightningCLI's), then the hparams. Class names follow the order that defines label indices: the
    argument, then the module's and the datamodule's, then the configs' lists in the same order. When the lists
    disagree an :class:`~arccnet_ckpt.errors.ArcCkptWarning` says which one names label *i*; every list is returned
    in ``class_name_sources``.

    Raises:
        ArtifactError: If the config has the key reserved for what the package captures.
    """
    try:
        check_config_keys(config)  # before a folder is made: a refused config leaves nothing behind
    except ValueError as e:
        raise ArtifactError(f"{ConfigRecord.filename}: not a valid config: {e}") from e
    configs = {"config": config, **(tool_configs or {})}
    sources = capture.safely("class names", lambda: capture.class_name_sources(configs, module, datamodule), {})
    if class_names:
        sources = {"argument": list(class_names), **sources}
    chosen = next(iter(sources.values()), None)
    if len({tuple(names) for names in sources.values()}) > 1:
        listed = "; ".join(f"{where}: {names}" for where, names in sources.items())
        warnings.warn(
            f"ArcCheckpointCallback: the class names disagree ({listed}). The report names label i after "
            f"{next(iter(sources))}'s list {chosen} (the explicit class_names= argument, then the module's and the "
            "datamodule's, which follow the label encoder, then the configs'); config.json records every list "
            "under class_name_sources",
            ArcCkptWarning,
            stacklevel=2,
        )
    return RunNames(
        model_name=model_name or capture.infer_model_name(list(configs.values()), hparams, module),
        loss_function=loss_function or capture.infer_loss_function(list(configs.values()), hparams, module),
        class_names=chosen,
        class_name_sources=sources,
    )


def open_run_folder(request: FolderRequest, names: RunNames, now: datetime) -> RunIdentity:
    """Find or claim the run folder, prove it writable, and return the run's identity.

    Continuing an existing run (a resumed fit, a test of its checkpoint) keeps its start time, names and group; its
    class names too when this Trainer's callback, module and datamodule name none (the only place this is decided:
    the collector, the reports and the class counts all read the identity). A new run's group is decided once its
    folder is claimed.

    Raises:
        RunFolderError: If the folder cannot be created or written (before the first training step).
    """
    existing = continued_run_dir(request)
    explicit = request.explicit_dir
    model_name, loss_function, start = names.model_name, names.loss_function, now
    class_names = names.class_names
    recorded: TrainingSummary | None = None
    if existing is not None:
        run_dir = existing
        recorded = capture.safely(f"the summary in {run_dir}", lambda: _read_summary(run_dir), None)
        if recorded is not None:
            start, model_name, loss_function = recorded.start_time, recorded.model_name, recorded.loss_function
        elif request.restored and request.restored.get("start_time"):
            start = datetime.fromisoformat(str(request.restored["start_time"]))
        if class_names is None:  # a later Trainer (a test-only one) that names no classes: the run's own names
            config = capture.safely(f"the config in {run_dir}", lambda: _read_config(run_dir), None)
            class_names = config.class_names if config is not None else None
    elif explicit is not None and store.exists(store.join(explicit, TrainingSummary.filename)):
        if request.stage == "test":  # a test-only Trainer's report goes into the run its dirpath holds
            run_dir = explicit
            recorded = capture.safely(f"the summary in {run_dir}", lambda: _read_summary(run_dir), None)
        else:
            run_dir = store.make_unique_dir(explicit, layout.run_folder_name(now, model_name, loss_function))
            _warn_nested(explicit, run_dir)
    elif explicit is not None:
        run_dir = explicit
        store.makedirs(run_dir)
    else:
        parent = layout.root_folder(request.data_folder, request.root_name)
        run_dir = store.make_unique_dir(parent, layout.run_folder_name(now, model_name, loss_function))
    store.check_writable(run_dir)
    run_name = store.basename(run_dir)
    if recorded is not None:
        group = recorded.group  # a resumed (or tested) run keeps its group; none for a legacy run
    else:
        group = run_group(
            run_name=run_name,
            hierarchy_name=layout.run_folder_name(start, model_name, loss_function),
            names=(request.root_name, str(model_name), str(loss_function)),
            kind="evaluation" if request.stage == "test" else "training",
            group=request.group,
            group_index=request.group_index,
        )
    return RunIdentity(
        run_dir=run_dir,
        run_name=run_name,
        model_name=str(model_name),
        loss_function=str(loss_function),
        start_time=start,
        root_name=request.root_name,
        class_names=class_names,
        class_name_sources=names.class_name_sources if len(names.class_name_sources) > 1 else None,
        group=group,
    )


def continued_run_dir(request: FolderRequest) -> str | None:
    """The run folder this Trainer continues, or ``None`` for a new run.

    Without an explicit ``dirpath``: the run folder holding the checkpoint (see :func:`existing_run_dir`). With one,
    only a run folder that is the ``dirpath`` or one nested in it by this rule: the one holding the checkpoint, else
    the one the checkpoint's run state names (a requeue whose checkpoint lies elsewhere). A checkpoint of any other
    run starts a new run in the ``dirpath``.
    """
    existing = existing_run_dir(request.ckpt_path, request.restored)
    explicit = request.explicit_dir
    if explicit is None:
        return existing
    if existing is not None and _at_or_under(existing, explicit):
        return existing
    restored = str((request.restored or {}).get("run_dir") or "")
    if restored and _at_or_under(restored, explicit) and store.exists(restored):
        return restored
    return None


def existing_run_dir(ckpt_path: str | None, restored: Mapping[str, Any] | None = None) -> str | None:
    """The run folder to continue: the one holding ``ckpt_path`` when it is a run folder (or the one the checkpoint's
    own run state names, when it is that folder under another spelling)."""
    if ckpt_path is None:
        return None
    folder = store.dirname(ckpt_path)
    if not store.is_remote(folder):
        folder = os.path.abspath(folder)  # a relative ckpt_path must not make the run folder relative everywhere
    recorded = str(restored.get("run_dir", "")) if restored else ""
    if recorded and store.exists(recorded) and folder in (recorded, os.path.realpath(recorded)):
        return recorded
    return folder if layout.is_run_folder(folder) else None


def saved_config(folder: str) -> dict[str, Any]:
    """The config a manual ``save_config()`` put into ``folder`` before fit (the seed's order), else ``{}``."""
    if not store.exists(store.join(folder, ConfigRecord.filename)):
        return {}
    from arccnet_ckpt.records.reader import read_record

    record = capture.safely("the saved config.json", lambda: read_record(folder, ConfigRecord), None)
    return record.config if record is not None else {}


def same_folder(a: str, b: str) -> bool:
    """Whether two paths (or URLs) name the same folder."""
    if store.is_remote(a) or store.is_remote(b):
        return a.rstrip("/") == b.rstrip("/")
    return os.path.realpath(a) == os.path.realpath(b)


def relative(path: str | None, run_dir: str) -> str | None:
    """``path`` relative to the run folder when it is inside it, else absolute (a URL as given; ``None`` stays
    ``None``): a record must not depend on the directory the script ran from."""
    if not path:
        return None
    path = os.fspath(path)
    if not store.is_remote(path):
        path = os.path.abspath(path)
    if not run_dir:
        return path
    for base in {run_dir, os.path.realpath(run_dir) if not store.is_remote(run_dir) else run_dir}:
        prefix = base.rstrip("/\\") + ("/" if store.is_remote(base) else os.sep)
        if path.startswith(prefix):
            return path[len(prefix) :].replace(os.sep, "/")
    return path


def _at_or_under(folder: str, explicit: str) -> bool:
    """Whether ``folder`` is the explicit ``dirpath`` or a run folder this module nested directly in it."""
    return same_folder(folder, explicit) or same_folder(store.dirname(folder.rstrip("/")), explicit)


def _warn_nested(explicit: str, run_dir: str) -> None:
    """One warning for a fresh fit whose ``dirpath`` holds another run: which run, where this one went, the fix."""
    other = capture.safely(f"the summary in {explicit}", lambda: _read_summary(explicit), None)
    described = store.basename(explicit)
    if other is not None:
        described = f"{other.run_name or described}, {other.status}, started {other.start_time:%Y-%m-%d %H:%M:%S} UTC"
    warnings.warn(
        f"ArcCheckpointCallback: dirpath {explicit} already holds the record of another run ({described}), and this "
        f"fit does not resume it (no ckpt_path inside it). This fit is a new run: it is recorded, with its "
        f"checkpoints, in its own folder {run_dir}, and that run is left untouched. To give each fit a folder of its "
        'own, pass a dirpath per fit (in a fold loop: dirpath=f"logs/fold{k}"), or root_name= without dirpath (a '
        "new run folder per fit); to continue that run, pass fit(ckpt_path=) a checkpoint inside it",
        ArcCkptWarning,
        stacklevel=2,
    )


def _read_summary(run_dir: str) -> TrainingSummary | None:
    from arccnet_ckpt.records.reader import read_record

    return read_record(run_dir, TrainingSummary)


def _read_config(run_dir: str) -> ConfigRecord | None:
    from arccnet_ckpt.records.reader import read_record

    return read_record(run_dir, ConfigRecord)
