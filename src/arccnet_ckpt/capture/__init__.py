"""What a run is made of, turned into JSON-safe data for the records: a plain function per thing, testable without a
Trainer, and never raising into a training run (each capture is wrapped in :func:`~.config.safely`).

Where each responsibility lives:

* :mod:`.jsonsafe`: **where a value is made JSON-safe** (``to_jsonable``, ``snapshot``, arrays, OmegaConf);
* :mod:`.redact`: **the one redaction module**: which key or text holds a secret, and hiding it in values, text,
  the command line, checkpoints' hyper-parameters and the YAML copies;
* :mod:`.names`: the model's, the loss's and the classes' names, looked up in configs, hparams and the module;
* :mod:`.trainer`: Trainer settings, optimizers, schedulers, callbacks, the model, EarlyStopping state, metrics,
  learning rates, the global seed;
* :mod:`.environment`: Python, libraries, GPUs, the command line, the cluster job and its restarts, git;
* :mod:`.config`: the user's config, and every part of ``config.json`` gathered at fit start (``run_config``);
* :mod:`.config_sources`: the configs LightningCLI and Hydra hold, with copies of their YAML files;
* :mod:`.loggers`: what each Lightning logger is, and the run folder logged back to it;
* :mod:`.private`: the only reads of private attributes of Lightning, LightningCLI and the loggers, with their
  guards and tests.

This module re-exports the names the rest of the package calls as ``capture.X``.
"""

from __future__ import annotations

from arccnet_ckpt.capture.config import config_snapshot, config_to_dict, run_config, safely
from arccnet_ckpt.capture.environment import git_info, restart_count
from arccnet_ckpt.capture.jsonsafe import to_jsonable
from arccnet_ckpt.capture.names import class_name_sources, infer_loss_function, infer_model_name
from arccnet_ckpt.capture.redact import Redaction, exposed_secrets, redact_in_place_of
from arccnet_ckpt.capture.trainer import (
    early_stopping_state,
    learning_rates,
    metrics_with_prefix,
    raw_learning_rates,
    scalar,
    scalar_metrics,
)

__all__ = [
    "Redaction",
    "class_name_sources",
    "config_snapshot",
    "config_to_dict",
    "early_stopping_state",
    "exposed_secrets",
    "git_info",
    "infer_loss_function",
    "infer_model_name",
    "learning_rates",
    "metrics_with_prefix",
    "raw_learning_rates",
    "redact_in_place_of",
    "restart_count",
    "run_config",
    "safely",
    "scalar",
    "scalar_metrics",
    "to_jsonable",
]
