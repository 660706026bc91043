"""The only reads of private attributes of Lightning, LightningCLI and the logger packages, each with its guard.

A private attribute is read only where the public route has a side effect the package promises not to have (it
never creates a logger's experiment or run, nor calls the network, just to describe it) or does not exist. Every
read is a ``getattr`` with a default: an attribute that a future version renames costs that one value (recorded as
not readable), never an exception. ``tests/unit/test_private.py`` checks that no other module of the package reads a
private attribute of a foreign object, and that each accessor returns its default on an object without it.

Each remaining read, its guard (the default when the attribute is missing) and the test that covers it (in
``tests/integration/test_loggers.py``, or ``tests/integration/test_config_sources.py`` where marked ``cs:``):

================================  =========  ========================================================================
class.attribute                   default    test
================================  =========  ========================================================================
MLFlowLogger._tracking_uri        None       test_mlflow_url_for_a_tracking_server_is_built_locally
MLFlowLogger._experiment_name     None       test_mlflow_before_fit_creates_no_run
MLFlowLogger._experiment_id       None       test_mlflow_fit_describe_and_link
MLFlowLogger._run_id              None       test_mlflow_fit_describe_and_link
MLFlowLogger._initialized         False      test_mlflow_before_fit_creates_no_run
WandbLogger._experiment           None       test_wandb_before_fit_creates_no_run
WandbLogger._wandb_init           None       test_wandb_before_fit_creates_no_run
WandbLogger._offline              False      test_wandb_before_fit_creates_no_run
WandbLogger._attach_id            None       test_wandb_before_fit_creates_no_run
Run._settings (wandb)             None       test_wandb_fit_describe_and_link
Run._is_finished (wandb)          False      test_wandb_fit_describe_and_link
CometLogger._experiment           None       test_comet_fit_describe_and_link
CometLogger._experiment_key       None       test_comet_before_experiment_creates_nothing
CometLogger._online               None       test_comet_before_experiment_creates_nothing
CSVLogger._version                None       test_csv_before_fit_creates_nothing
TensorBoardLogger._version        None       test_tensorboard_before_fit_creates_nothing
LightningCLI._parser              .parser    cs: test_a_cli_subcommand_without_its_save_config_callback_is_recorded
================================  =========  ========================================================================

The public routes used instead, where they are safe: ``WandbLogger.name``/``save_dir``/``version`` (before the run
exists), ``CometLogger.name``/``save_dir``, ``CSVLogger``/``TensorBoardLogger.name``/``save_dir``/``root_dir``,
``MLFlowLogger.run_id`` once the run exists, wandb's ``Settings.mode`` (for ``_noop``/``_offline``, computed from
it) and the package's own store for a logger's ``hparams.yaml`` (for ``_fs``).

The attributes are the same in the oldest and the newest supported Lightning (``lightning/pytorch/loggers/*.py``
and ``lightning/pytorch/cli.py`` are identical in 2.6.0 and 2.6.6).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# ------------------------------------------------------------------------------------------------------ MLflow
# ``MLFlowLogger.run_id``, ``.experiment_id``, ``.name`` (the experiment id) and ``.version`` all go through
# ``.experiment``, which creates the MLflow experiment and run (a network call for a remote tracking server).


def mlflow_tracking_uri(logger: Any) -> Any:
    """``MLFlowLogger._tracking_uri``: the tracking URI the run's URL is built from. The public ``save_dir`` holds
    only a ``file:`` URI's path. Guard: ``None``, then the record says the URI is not known. Test:
    ``test_loggers.py::test_mlflow_url_for_a_tracking_server_is_built_locally``."""
    return getattr(logger, "_tracking_uri", None)


def mlflow_experiment_name(logger: Any) -> Any:
    """``MLFlowLogger._experiment_name``: the experiment's name. No public route: ``.name`` is the experiment *id*
    and creates the run. Guard: ``None``. Test: ``test_loggers.py::test_mlflow_before_fit_creates_no_run``."""
    return getattr(logger, "_experiment_name", None)


def mlflow_experiment_id(logger: Any) -> Any:
    """``MLFlowLogger._experiment_id``; the public ``experiment_id`` creates the run. Guard: ``None``, recorded as
    not created yet. Test: ``test_loggers.py::test_mlflow_fit_describe_and_link``."""
    return getattr(logger, "_experiment_id", None)


def mlflow_run_id(logger: Any) -> Any:
    """``MLFlowLogger._run_id``; the public ``run_id`` creates the run. Guard: ``None``, recorded as not created
    yet. Test: ``test_loggers.py::test_mlflow_fit_describe_and_link``."""
    return getattr(logger, "_run_id", None)


def mlflow_initialized(logger: Any) -> bool:
    """``MLFlowLogger._initialized``: whether the run is resolved. No public route. Guard: ``False`` (the ids are
    then said to be not created yet). Test: ``test_loggers.py::test_mlflow_before_fit_creates_no_run``."""
    return bool(getattr(logger, "_initialized", False))


# ------------------------------------------------------------------------------------------------------- W&B
# ``WandbLogger.experiment`` calls ``wandb.init``; a run's public properties attach to the wandb service when read
# from another process than the one that made the run.


def wandb_run(logger: Any) -> Any:
    """``WandbLogger._experiment``: the run, if it exists. ``.experiment`` would create it. Guard: ``None`` (the
    run is described as not created yet). Test: ``test_loggers.py::test_wandb_before_fit_creates_no_run``."""
    return getattr(logger, "_experiment", None)


def wandb_init_mode(logger: Any) -> Any:
    """``WandbLogger._wandb_init["mode"]``: the ``mode`` given to the constructor. No public route. Guard: ``None``
    (then ``WANDB_MODE`` decides). Test: ``test_loggers.py::test_wandb_before_fit_creates_no_run``."""
    init_kwargs = getattr(logger, "_wandb_init", None)
    return init_kwargs.get("mode") if isinstance(init_kwargs, Mapping) else None


def wandb_forced_offline(logger: Any) -> bool:
    """``WandbLogger._offline``: the constructor's ``offline=True``. No public route. Guard: ``False``. Test:
    ``test_loggers.py::test_wandb_before_fit_creates_no_run``."""
    return bool(getattr(logger, "_offline", False))


def wandb_attach_id(logger: Any) -> Any:
    """``WandbLogger._attach_id``: set when the logger was pickled with a run made in another process. No public
    route. Guard: ``None`` (the run is then said to be not created yet rather than not attached). Test:
    ``test_loggers.py::test_wandb_before_fit_creates_no_run``."""
    return getattr(logger, "_attach_id", None)


def wandb_run_settings(run: Any) -> Any:
    """wandb ``Run._settings``: the run's id, folder, URL and mode as plain data. The public ``Run.settings`` attaches
    to the wandb service from another process (and copies them). Guard: ``None`` (then the run's id and mode are read
    from its public properties, and the URL and folder are said to be unknown). Test:
    ``test_loggers.py::test_wandb_fit_describe_and_link``."""
    return getattr(run, "_settings", None)


def wandb_run_finished(run: Any) -> bool:
    """wandb ``Run._is_finished``: whether ``wandb.finish()`` was called, so nothing can be logged to it. No public
    route. Guard: ``False`` (the link is tried, and wandb's own error is reported). Test:
    ``test_loggers.py::test_wandb_fit_describe_and_link``."""
    return bool(getattr(run, "_is_finished", False))


# ------------------------------------------------------------------------------------------------------ Comet
# ``CometLogger.experiment`` starts an experiment where there is none (ranks other than 0, an unpickled logger).


def comet_experiment(logger: Any) -> Any:
    """``CometLogger._experiment``: the experiment, if it exists. ``.experiment`` would start one. Guard: ``None``.
    Test: ``test_loggers.py::test_comet_fit_describe_and_link``."""
    return getattr(logger, "_experiment", None)


def comet_experiment_key(logger: Any) -> Any:
    """``CometLogger._experiment_key``: the key given to the constructor; the public ``version`` is ``None`` until the
    experiment exists. Guard: ``None``. Test: ``test_loggers.py::test_comet_before_experiment_creates_nothing``."""
    return getattr(logger, "_experiment_key", None)


def comet_online(logger: Any) -> Any:
    """``CometLogger._online``: the constructor's ``online``. No public route. Guard: ``None`` (then
    ``COMET_START_ONLINE`` decides). Test: ``test_loggers.py::test_comet_before_experiment_creates_nothing``."""
    return getattr(logger, "_online", None)


# ------------------------------------------------------------------------------------------ CSV / TensorBoard


def folder_logger_version(logger: Any) -> Any:
    """``CSVLogger._version`` / ``TensorBoardLogger._version``: the version, if assigned. The public ``version`` (and
    ``log_dir``) scans the folder and pins the next free number. Guard: ``None``, recorded as not assigned yet.
    Tests: ``test_loggers.py::test_csv_before_fit_creates_nothing``,
    ``test_loggers.py::test_tensorboard_before_fit_creates_nothing``."""
    return getattr(logger, "_version", None)


# ----------------------------------------------------------------------------------------------- LightningCLI


def cli_parser(cli: Any, subcommand: str | None) -> Any:
    """The parser of ``subcommand`` (``LightningCLI._parser(subcommand)``), which dumps ``config.yaml`` as the CLI's
    ``SaveConfigCallback`` does; used only with ``save_config_callback=None``. No public route to a subcommand's
    parser. Guard: the main parser ``cli.parser`` (``None`` on an object without one). Test:
    ``test_config_sources.py::test_a_cli_subcommand_without_its_save_config_callback_is_recorded``."""
    choose = getattr(cli, "_parser", None)
    if callable(choose) and subcommand:
        return choose(subcommand)
    return getattr(cli, "parser", None)
