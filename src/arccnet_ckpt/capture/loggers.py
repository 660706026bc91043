"""Describe the Lightning loggers of a run, and point each logger's run back to the run folder.

Two pure functions, both safe to call on any ``trainer.loggers`` list (``lightning.pytorch`` or the standalone
``pytorch_lightning`` package; the logger kind is recognised by class name, so neither namespace is imported):

* :func:`describe_loggers` reads what is known about each logger **without creating an experiment or a run and
  without any network call**. Several public logger properties would do one or both (``MLFlowLogger.run_id``,
  ``.experiment_id``, ``.name`` and ``.version`` create the MLflow experiment and run; ``WandbLogger.experiment``
  calls ``wandb.init``; ``CometLogger.experiment`` starts a Comet experiment; ``CSVLogger.version`` and
  ``TensorBoardLogger.version`` scan the folder and freeze the next version number), so those values are read from
  the loggers' own state through :mod:`~arccnet_ckpt.capture.private`, the one place that lists each private
  attribute with its guard and its test.
* :func:`link_run_folder` logs :data:`RUN_DIR_KEY` and :data:`RUN_NAME_KEY` to every logger through its normal
  logging path, so that an MLflow, W&B or Comet run (or a CSV/TensorBoard log folder) points back to the run folder.

Neither function raises: problems are reported in the returned values.
"""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from arccnet_ckpt import store
from arccnet_ckpt.capture import private
from arccnet_ckpt.capture.jsonsafe import class_path

__all__ = ["FIELDS", "RUN_DIR_KEY", "RUN_NAME_KEY", "describe_loggers", "link_run_folder"]

RUN_DIR_KEY = "arccnet_run_dir"
"""Key under which :func:`link_run_folder` records the run folder (a path or URL, as given)."""

RUN_NAME_KEY = "arccnet_run_name"
"""Key under which :func:`link_run_folder` records the run name."""

FIELDS = ("type", "name", "version", "save_dir", "log_dir", "experiment_id", "run_id", "url", "offline", "errors")
"""The keys of every dict returned by :func:`describe_loggers`, in order."""

# Lightning logger classes this module knows, by class name; a subclass is handled like its known base.
_MLFLOW = "MLFlowLogger"
_WANDB = "WandbLogger"
_COMET = "CometLogger"
_CSV = "CSVLogger"
_TENSORBOARD = "TensorBoardLogger"
_KNOWN = (_MLFLOW, _WANDB, _COMET, _CSV, _TENSORBOARD)
# Modules whose classes count as Lightning's own (``lightning_fabric`` / ``pytorch_lightning`` are the standalone
# packages); a class named ``CSVLogger`` elsewhere is treated as an unknown logger.
_LIGHTNING_MODULES = ("lightning.", "pytorch_lightning.", "lightning_fabric.")
# Base classes whose ``name``/``version``/``save_dir``/``log_dir`` implementations are known not to touch the
# experiment (they are abstract or return ``None``).
_SAFE_BASE_MODULES = (
    "lightning.fabric.loggers.logger",
    "lightning.pytorch.loggers.logger",
    "lightning_fabric.loggers.logger",
    "pytorch_lightning.loggers.logger",
)
_GENERIC_FIELDS = ("name", "version", "save_dir", "log_dir")
_OFFLINE_MODES = ("offline", "dryrun", "disabled")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


# ------------------------------------------------------------------------------------------------------------ helpers


def _mro_names(obj: Any) -> list[str]:
    return [klass.__name__ for klass in type(obj).__mro__]


def _kind(logger: Any) -> str | None:
    """The known Lightning logger class that ``logger`` is (or derives from), by name; ``None`` if unknown."""
    for klass in type(logger).__mro__:
        if klass.__name__ in _KNOWN and klass.__module__.startswith(_LIGHTNING_MODULES):
            return klass.__name__
    return None


def _describe_exc(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)


def _version_value(value: Any) -> str | int | None:
    if value is None or (isinstance(value, (str, int)) and not isinstance(value, bool)):
        return value
    return str(value)


def _empty_record(logger: Any) -> dict[str, Any]:
    record: dict[str, Any] = dict.fromkeys(FIELDS)
    record["type"] = class_path(type(logger))  # type(): a hostile __getattribute__ cannot answer for it
    record["errors"] = {}
    return record


def _missing(record: dict[str, Any], why: str, *fields: str) -> None:
    """Record ``why`` for every field in ``fields`` that is still ``None`` (and has no reason yet)."""
    for field in fields:
        if record.get(field) is None:
            record["errors"].setdefault(field, why)


def _guarded(record: dict[str, Any], field: str, read: Callable[[], Any]) -> Any:
    """``read()``, or ``None`` with an ``errors`` entry for ``field`` when it raises."""
    try:
        return read()
    except Exception as exc:
        record["errors"][field] = _describe_exc(exc)
        return None


def _env_bool(name: str) -> bool | None:
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


# ----------------------------------------------------------------------------------------------------------- describe


def _describe_mlflow(logger: Any, record: dict[str, Any]) -> None:
    uri = _str_or_none(private.mlflow_tracking_uri(logger))
    initialized = private.mlflow_initialized(logger)
    experiment_id = _str_or_none(private.mlflow_experiment_id(logger))
    run_id = _str_or_none(private.mlflow_run_id(logger))

    record["name"] = _str_or_none(private.mlflow_experiment_name(logger))
    record["experiment_id"] = experiment_id
    record["run_id"] = run_id
    record["version"] = run_id
    if uri is not None and uri.startswith("file:"):
        path = urlsplit(uri).path if uri.startswith("file://") else uri[len("file:") :]
        record["save_dir"] = path or None

    if not initialized:
        why = (
            "the MLflow run is not resolved yet (a run id was given to the constructor; the experiment id is read "
            "from the tracking server when the logger first logs)"
            if run_id is not None
            else "the MLflow run is not created yet"
        )
        _missing(record, why, "run_id", "version", "experiment_id")

    if uri is None:
        record["errors"]["url"] = "the MLflow tracking URI is not known"
        return
    parts = urlsplit(uri)
    if parts.scheme.lower() in ("http", "https"):
        if experiment_id is not None and run_id is not None:
            host = parts.hostname or ""
            if ":" in host:  # IPv6 literal
                host = f"[{host}]"
            netloc = f"{host}:{parts.port}" if parts.port else host  # user:password@ left out on purpose
            base = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
            record["url"] = f"{base}/#/experiments/{experiment_id}/runs/{run_id}"
        else:
            _missing(record, "the MLflow run is not created yet", "url")


def _describe_wandb(logger: Any, record: dict[str, Any]) -> None:
    # ``name`` (the project) and ``save_dir`` are plain reads; ``version`` is too while the run does not exist.
    record["name"] = _guarded(record, "name", lambda: _str_or_none(logger.name))
    record["save_dir"] = _guarded(record, "save_dir", lambda: _str_or_none(logger.save_dir))
    run = private.wandb_run(logger)

    if run is None:
        run_id = _guarded(record, "run_id", lambda: _str_or_none(logger.version))  # the id given to the constructor
        record["run_id"] = run_id
        record["version"] = run_id
        mode = private.wandb_init_mode(logger)
        env_mode = os.environ.get("WANDB_MODE", "").strip().lower()
        forced_offline = private.wandb_forced_offline(logger) or bool(_env_bool("WANDB_DISABLED"))
        if forced_offline or mode in _OFFLINE_MODES or env_mode in _OFFLINE_MODES:
            record["offline"] = True
        elif mode == "online" or env_mode == "online":
            record["offline"] = False
        if private.wandb_attach_id(logger) is not None:
            why = "the W&B run was created in another process and is not attached in this one"
        else:
            why = "the W&B run is not created yet"
        _missing(record, why, "run_id", "version", "log_dir", "offline")
        if record["offline"] is not True:
            _missing(record, why, "url")
        return

    # The run's public properties (``id``, ``url``, ``offline``, ``dir``...) are wrapped to attach to the wandb service
    # when read from another process; its settings object holds the same values as plain data.
    if "RunDisabled" in _mro_names(run):  # wandb < 0.17 disabled-mode stand-in
        record["offline"] = True
        return
    settings = private.wandb_run_settings(run)
    if settings is None:
        record["run_id"] = _guarded(record, "run_id", lambda: _str_or_none(run.id))
        record["version"] = record["run_id"]
        record["offline"] = _guarded(record, "offline", lambda: bool(run.offline) or bool(run.disabled))
        _missing(record, "this wandb version keeps no run settings to read the URL and folder from", "url", "log_dir")
        return

    run_id = _guarded(record, "run_id", lambda: _str_or_none(settings.run_id))
    record["run_id"] = run_id
    record["version"] = run_id
    mode = getattr(settings, "mode", None)  # wandb computes its ``_noop`` and ``_offline`` from it
    disabled = mode == "disabled"
    offline = mode in ("offline", "dryrun")
    record["offline"] = offline or disabled
    if not disabled:
        record["log_dir"] = _guarded(record, "log_dir", lambda: _str_or_none(settings.sync_dir))
    if not (offline or disabled):
        url = _guarded(record, "url", lambda: _str_or_none(settings.run_url))
        record["url"] = url or None


def _describe_comet(logger: Any, record: dict[str, Any]) -> None:
    # The constructor starts the experiment on rank 0. ``name`` (the project) and ``save_dir`` are plain reads.
    record["name"] = _guarded(record, "name", lambda: _str_or_none(logger.name))
    record["save_dir"] = _guarded(record, "save_dir", lambda: _str_or_none(logger.save_dir))
    experiment = private.comet_experiment(logger)

    if experiment is None:
        key = _str_or_none(private.comet_experiment_key(logger))
        record["experiment_id"] = key
        record["run_id"] = key
        record["version"] = key
        online = private.comet_online(logger)
        if online is None:
            online = _env_bool("COMET_START_ONLINE")
        record["offline"] = None if online is None else not online
        why = "the Comet experiment is not created yet"
        _missing(record, why, "experiment_id", "run_id", "version", "offline")
        if record["offline"] is not True:
            _missing(record, why, "url")
        return

    key = _guarded(record, "run_id", lambda: _str_or_none(experiment.get_key()))
    record["experiment_id"] = key
    record["run_id"] = key
    record["version"] = key
    offline = "OfflineExperiment" in _mro_names(experiment)
    record["offline"] = offline
    if not offline:
        # ``Experiment.url`` joins the link received at start-up with the key: no request is made.
        url = _guarded(record, "url", lambda: _str_or_none(experiment.url))
        record["url"] = url or None


def _describe_folder_logger(logger: Any, record: dict[str, Any]) -> None:
    # CSVLogger / TensorBoardLogger: ``.log_dir`` is read only once a version is set (then it is a pure path join).
    record["name"] = _guarded(record, "name", lambda: _str_or_none(logger.name))
    record["save_dir"] = _guarded(record, "save_dir", lambda: _str_or_none(_folder(logger)))
    version = private.folder_logger_version(logger)
    record["version"] = _version_value(version)
    if version is None:
        _missing(
            record,
            "not assigned yet: the logger picks the next free version_N in its folder when the experiment starts",
            "version",
            "log_dir",
        )
        return
    record["log_dir"] = _guarded(record, "log_dir", lambda: _str_or_none(logger.log_dir))


def _folder(logger: Any) -> Any:
    """``save_dir``, or ``root_dir`` for Fabric's loggers, which have no ``save_dir`` (their root is the folder)."""
    save_dir = getattr(logger, "save_dir", None)
    return logger.root_dir if save_dir is None else save_dir


def _describe_unknown(logger: Any, record: dict[str, Any]) -> None:
    import inspect

    for field in _GENERIC_FIELDS:
        instance_dict = getattr(logger, "__dict__", {})
        if field in instance_dict:
            value = instance_dict[field]
        else:
            owner = next((klass for klass in type(logger).__mro__ if field in vars(klass)), None)
            if owner is None:
                continue  # no such attribute: nothing to read, nothing to report
            static = inspect.getattr_static(logger, field)
            is_descriptor = hasattr(static, "__get__")
            if is_descriptor and owner.__module__ not in _SAFE_BASE_MODULES:
                record["errors"][field] = (
                    f"not read: unknown logger class ({owner.__qualname__}.{field} is computed and may create "
                    "the experiment)"
                )
                continue
            try:
                value = getattr(logger, field)
            except Exception as exc:
                record["errors"][field] = _describe_exc(exc)
                continue
            if callable(value) and not isinstance(value, (str, int)):
                continue
        if field == "version":
            record[field] = _version_value(value)
        else:
            record[field] = _str_or_none(value)


_DESCRIBERS: dict[str, Callable[[Any, dict[str, Any]], None]] = {
    _MLFLOW: _describe_mlflow,
    _WANDB: _describe_wandb,
    _COMET: _describe_comet,
    _CSV: _describe_folder_logger,
    _TENSORBOARD: _describe_folder_logger,
}


def describe_loggers(loggers: Sequence[Any]) -> list[dict[str, Any]]:
    """Describe each logger of a trainer without creating anything and without network calls.

    Reads the loggers' public plain properties and, where those would create something, their own state through
    :mod:`~arccnet_ckpt.capture.private` (never the ``experiment`` property), so it is safe before ``fit``, on any
    rank, and for an experiment that does not exist yet.

    Per logger class (matched by class name in the MRO, for ``lightning.pytorch``, ``lightning.fabric`` and
    ``pytorch_lightning`` alike):

    * ``MLFlowLogger``: ``name`` is the experiment *name* (Lightning's ``logger.name`` is the experiment id, here in
      ``experiment_id``), ``version`` and ``run_id`` are the run id, ``save_dir`` the path of a ``file:`` tracking
      URI, ``url`` ``{uri}/#/experiments/{id}/runs/{run}`` for an http(s) tracking URI (credentials left out),
      ``log_dir`` and ``offline`` ``None``. Until the run exists, the missing ids get an ``errors`` entry.
    * ``WandbLogger``: ``name`` is the project, ``save_dir`` the constructor's; once the run exists,
      ``run_id``/``version`` come from its settings, ``log_dir`` is the run's local folder (``sync_dir``, the one
      ``wandb sync`` takes), ``offline`` is true for offline and disabled modes, ``url`` the run URL online.
      Before, ``run_id`` is the id given to the constructor and ``offline`` is inferred from ``offline=``, the
      ``mode`` argument and ``WANDB_MODE``. ``experiment_id`` is ``None`` (W&B has no such notion).
    * ``CometLogger``: ``name`` is the project, ``save_dir`` the offline directory,
      ``experiment_id``/``run_id``/``version`` the experiment key (of the experiment, or the one given to the
      constructor), ``offline`` whether it is an ``OfflineExperiment``, ``url`` the experiment URL online
      (``Experiment.url``, built locally).
    * ``CSVLogger`` / ``TensorBoardLogger``: ``name``, ``save_dir``, ``version`` and ``log_dir``; while no version
      is assigned both are ``None`` with an ``errors`` entry (reading ``.version`` would scan the folder and pin the
      number). Ids, URL and ``offline`` are ``None``.
    * Any other logger: ``name``/``version``/``save_dir``/``log_dir`` when they are plain attributes or Lightning's
      base-class implementations; a property of the logger's own class is not evaluated (it may create the
      experiment) and gets an ``errors`` entry ``"not read: unknown logger class (...)"``.

    Args:
        loggers: The loggers, usually ``trainer.loggers``.

    Returns:
        One dict per logger with exactly the keys :data:`FIELDS`: ``type`` (``module.QualName``), ``name``,
        ``version``, ``save_dir``, ``log_dir``, ``experiment_id``, ``run_id``, ``url``, ``offline`` and ``errors``
        (field name to the reason it could not be read; empty when all went well).
    """
    records: list[dict[str, Any]] = []
    for logger in loggers:
        record = _empty_record(logger)
        try:
            kind = _kind(logger)
            describer = _DESCRIBERS.get(kind) if kind is not None else None
            (describer or _describe_unknown)(logger, record)
        except Exception as exc:
            record["errors"]["type"] = f"could not describe the logger: {_describe_exc(exc)}"
        for field in ("save_dir", "log_dir"):  # from another directory, a relative folder leads nowhere
            if isinstance(record[field], str) and "://" not in record[field]:
                record[field] = os.path.abspath(record[field])
        records.append(record)
    return records


# --------------------------------------------------------------------------------------------------------------- link


def _link_mlflow(logger: Any, values: dict[str, str]) -> None:
    # Params are immutable in MLflow (a second value for a key raises); tags are not, so a second fit updates them.
    client = logger.experiment
    run_id = logger.run_id  # no side effect now: ``.experiment`` above made the run
    if run_id is None:
        raise RuntimeError("the MLflow run has no id (not on global rank 0?)")
    for key, value in values.items():
        client.set_tag(run_id, key, value)


def _link_wandb(logger: Any, values: dict[str, str]) -> None:
    run = logger.experiment
    if private.wandb_run_finished(run):
        raise RuntimeError("the W&B run is finished (wandb.finish() was called); nothing can be logged to it")
    run.config.update(values, allow_val_change=True)


def _link_comet(logger: Any, values: dict[str, str]) -> None:
    experiment = logger.experiment
    if getattr(experiment, "disabled", False):
        raise RuntimeError(
            "the Comet experiment is disabled, so nothing is recorded (Lightning's CometLogger(online=False) "
            "disables it: Lightning issue #21617; leave online unset and set COMET_START_ONLINE=false for an "
            "offline experiment)"
        )
    if getattr(experiment, "ended", False):
        raise RuntimeError("the Comet experiment has ended")
    # "Other" metadata rather than parameters: it is not a hyperparameter, and a new value simply replaces the old.
    experiment.log_others(values)


def _link_csv(logger: Any, values: dict[str, str]) -> None:
    # Merged into the logger's hparams and rewritten to ``hparams.yaml`` in its log dir (the latest value wins).
    logger.log_hyperparams(values)


def _link_tensorboard(logger: Any, values: dict[str, str]) -> None:
    # ``log_hyperparams`` writes a new hparams session each call and TensorBoard's HParams tab keeps only the first
    # one of a run (and a default ``hp_metric`` point is logged each time), so a second call would be lost there and
    # add noise. The values go to the Text tab instead, and into ``logger.hparams`` / ``hparams.yaml``.
    writer = logger.experiment
    for key, value in values.items():
        writer.add_text(key, value)
    writer.flush()

    hparams: Any = getattr(logger, "hparams", None)
    if isinstance(hparams, MutableMapping) or hasattr(hparams, "__setitem__"):
        for key, value in values.items():
            hparams[key] = value
    elif hparams is not None and hasattr(hparams, "__dict__"):  # argparse.Namespace
        for key, value in values.items():
            setattr(hparams, key, value)
    else:
        return
    file_name = getattr(logger, "NAME_HPARAMS_FILE", None)
    log_dir = getattr(logger, "log_dir", None)
    if not file_name or not log_dir:
        return
    hparams_file = os.path.join(log_dir, file_name)
    if store.exists(hparams_file):  # otherwise Lightning writes it from ``logger.hparams`` when it saves
        _saving_module(logger).save_hparams_to_yaml(hparams_file, hparams)


def _saving_module(logger: Any) -> Any:
    """``lightning.pytorch.core.saving`` or ``pytorch_lightning.core.saving``, matching the logger's package."""
    import importlib

    for klass in type(logger).__mro__:
        if klass.__name__ == _TENSORBOARD and klass.__module__.startswith(("lightning.pytorch.", "pytorch_lightning.")):
            package = klass.__module__.split(".loggers", 1)[0]
            return importlib.import_module(f"{package}.core.saving")
    return importlib.import_module("lightning.pytorch.core.saving")


def _link_unknown(logger: Any, values: dict[str, str]) -> None:
    logger.log_hyperparams(values)


_LINKERS: dict[str, Callable[[Any, dict[str, str]], None]] = {
    _MLFLOW: _link_mlflow,
    _WANDB: _link_wandb,
    _COMET: _link_comet,
    _CSV: _link_csv,
    _TENSORBOARD: _link_tensorboard,
}


def link_run_folder(loggers: Sequence[Any], run_dir: str, run_name: str) -> list[str]:
    """Record the run folder in every logger, so each logger's run points back to it.

    Logs ``{RUN_DIR_KEY: run_dir, RUN_NAME_KEY: run_name}`` (``"arccnet_run_dir"``, ``"arccnet_run_name"``)
    through each logger's own logging path. Meant for global rank 0 at fit start, after Lightning logged the
    hyperparameters; it may create the experiment, like any logging call. Calling it again (a second fit reusing
    the logger) updates the values:

    * ``MLFlowLogger``: run **tags** (``client.set_tag``); MLflow params are immutable, tags take the new value.
    * ``WandbLogger``: run config, ``config.update(..., allow_val_change=True)``; the new value replaces the old.
    * ``CometLogger``: experiment "Other" values (``log_others``); the new value replaces the old. A disabled
      experiment (Lightning's ``CometLogger(online=False)``, Lightning issue #21617) is reported as a failure.
    * ``CSVLogger``: ``log_hyperparams``, i.e. merged into ``hparams.yaml`` of the log dir.
    * ``TensorBoardLogger``: text summaries under the two keys (Text tab) plus ``logger.hparams`` and an existing
      ``hparams.yaml``; not ``log_hyperparams``, whose second call TensorBoard's HParams tab ignores.
    * Any other logger: ``log_hyperparams``.

    Args:
        loggers: The loggers, usually ``trainer.loggers``.
        run_dir: The run folder (path or URL) to record.
        run_name: The run name to record.

    Returns:
        One message ``"<LoggerClass>: <why>"`` per logger that failed; empty when all succeeded. Never raises.
    """
    values = {RUN_DIR_KEY: str(run_dir), RUN_NAME_KEY: str(run_name)}
    problems: list[str] = []
    for logger in loggers:
        try:
            kind = _kind(logger)
            linker = _LINKERS.get(kind) if kind is not None else None
            (linker or _link_unknown)(logger, values)
        except Exception as exc:
            problems.append(f"{type(logger).__name__}: {_describe_exc(exc)}")
    return problems
