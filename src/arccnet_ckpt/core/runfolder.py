"""Which run folder a Trainer writes to, and the names the run is filed under. No Lightning import.

The callback gathers plain values on global rank 0 (the user's config, hparams, the checkpoint being resumed, the
run state a checkpoint carried) and :func:`open_run_folder` decides:

* a checkpoint inside a run folder continues that run (its start time and names are kept);
* an explicit ``dirpath`` is the run folder, also when the checkpoint resumed is another run's;
* otherwise a new folder ``<data_folder>/checkpoints/<root_name>/<UTC start>_<model>_<loss>`` is claimed
  (``-2``, ``-3``... when the name is taken).

The folder is proved writable before the first training step.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from arccnet_ckpt import capture, layout, store
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

    Continuing an existing run (a resumed fit, a test of its checkpoint) keeps its start time and names; its class
    names too when this Trainer's callback, module and datamodule name none (the only place this is decided: the
    collector, the reports and the class counts all read the identity).

    Raises:
        RunFolderError: If the folder cannot be created or written (before the first training step).
    """
    existing = existing_run_dir(request.ckpt_path, request.restored)
    explicit = request.explicit_dir
    if existing is not None and explicit is not None and not same_folder(existing, explicit):
        existing = None  # an explicit dirpath is the run folder: resuming another run's checkpoint starts this one
    model_name, loss_function, start = names.model_name, names.loss_function, now
    class_names = names.class_names
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
    elif explicit is not None:
        run_dir = explicit
        store.makedirs(run_dir)
    else:
        parent = layout.root_folder(request.data_folder, request.root_name)
        run_dir = store.make_unique_dir(parent, layout.run_folder_name(now, model_name, loss_function))
    store.check_writable(run_dir)
    return RunIdentity(
        run_dir=run_dir,
        run_name=store.basename(run_dir),
        model_name=str(model_name),
        loss_function=str(loss_function),
        start_time=start,
        root_name=request.root_name,
        class_names=class_names,
        class_name_sources=names.class_name_sources if len(names.class_name_sources) > 1 else None,
    )


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


def _read_summary(run_dir: str) -> TrainingSummary | None:
    from arccnet_ckpt.records.reader import read_record

    return read_record(run_dir, TrainingSummary)


def _read_config(run_dir: str) -> ConfigRecord | None:
    from arccnet_ckpt.records.reader import read_record

    return read_record(run_dir, ConfigRecord)
