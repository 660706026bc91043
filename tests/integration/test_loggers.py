"""``describe_loggers`` / ``link_run_folder`` against the real logger packages, in offline / file modes only.

Every test runs under ``no_network``: any socket connection to a non-loopback address, and any DNS lookup of a
non-local host name, is refused and recorded, and the test fails if one was attempted (also from a library's
background thread that swallowed the refusal). W&B offline runs its ``wandb-core`` service as a separate process,
which these Python-level patches cannot see; it is started with ``WANDB_MODE=offline`` and error reporting off.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import lightning.pytorch as pl
import pytest
import torch
import yaml
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers import CometLogger, CSVLogger, Logger, MLFlowLogger, TensorBoardLogger, WandbLogger

from arccnet_ckpt import load_run
from arccnet_ckpt.capture.loggers import FIELDS, RUN_DIR_KEY, RUN_NAME_KEY, describe_loggers, link_run_folder
from arccnet_ckpt.records import schema

# ----------------------------------------------------------------------------------------------------------------
# fixtures
# ----------------------------------------------------------------------------------------------------------------


def _is_local(host: Any) -> bool:
    if host is None or host == "":
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host.startswith("/") or host == "localhost" or host.endswith(".localhost"):
        return True
    if host == socket.gethostname():  # (not getfqdn(): that may itself query DNS)
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Refuse (and record) every connection or DNS lookup that would leave the machine; fail the test on any."""
    attempts: list[str] = []
    inet = (socket.AF_INET, socket.AF_INET6)
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_create_connection, real_getaddrinfo = socket.create_connection, socket.getaddrinfo

    def check(what: str, host: Any, detail: Any) -> None:
        if not _is_local(host):
            attempts.append(f"{what} {detail!r}")
            raise OSError(f"network access blocked in tests: {what} {detail!r}")

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in inet:
            check("connect", address[0], address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if self.family in inet:
            check("connect_ex", address[0], address)
        return real_connect_ex(self, address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        check("create_connection", address[0], address)
        return real_create_connection(address, *args, **kwargs)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        check("getaddrinfo", host, host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert not attempts, f"network access attempted: {attempts}"


@pytest.fixture(autouse=True)
def offline_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Offline / file modes for every backend, state kept under tmp_path, no telemetry."""
    home = tmp_path / "home"
    env = {
        # W&B: offline run, files and settings under tmp_path, quiet, no error reports, no console capture
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp_path / "wandb-default"),
        "WANDB_CONFIG_DIR": str(home / "wandb-config"),
        "WANDB_CACHE_DIR": str(home / "wandb-cache"),
        "WANDB_DATA_DIR": str(home / "wandb-data"),
        "WANDB_SILENT": "true",
        "WANDB_ERROR_REPORTING": "false",
        "WANDB_CONSOLE": "off",
        # MLflow 3.x refuses the file store unless allowed; its telemetry would look up config.mlflow-telemetry.io
        "MLFLOW_ALLOW_FILE_STORE": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        # Comet: a fake key, offline experiments (see _comet_logger), no ~/.comet.config, no cloud-metadata probe
        # (an offline experiment otherwise GETs http://169.254.169.254 to detect AWS/Azure/GCP)
        "COMET_API_KEY": "0" * 32,
        "COMET_START_ONLINE": "false",
        "COMET_CONFIG": str(home / "comet.config"),
        "COMET_OFFLINE_DIRECTORY": str(tmp_path / "comet-default"),
        "COMET_AUTO_LOG_ENV_DETAILS": "false",
        "COMET_ERROR_TRACKING_ENABLE": "false",
        "COMET_INTERNAL_REPORTING": "false",
        "COMET_DISABLE_ANNOUNCEMENT": "true",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("MLFLOW_TRACKING_URI", "WANDB_API_KEY", "WANDB_DISABLED", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    yield
    import sys

    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()


class HParamModel(BoringModel):
    """BoringModel with one saved hyperparameter, so Lightning logs hyperparameters to every logger."""

    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams["lr"])


class LinkAtTrainStart(pl.Callback):
    """Does what the run-folder callback does on rank 0: describe the loggers, then link them to the run folder.

    ``on_train_start`` runs after Lightning logged the hyperparameters (``on_fit_start`` runs before).
    """

    def __init__(self, run_dir: str, run_name: str) -> None:
        self.run_dir, self.run_name = run_dir, run_name
        self.problems: list[str] | None = None
        self.described: list[dict[str, Any]] | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.problems = link_run_folder(trainer.loggers, self.run_dir, self.run_name)
        self.described = describe_loggers(trainer.loggers)


def fit(logger: Logger, root: Path, run_dir: str, run_name: str) -> LinkAtTrainStart:
    from conftest import make_trainer

    link = LinkAtTrainStart(run_dir, run_name)
    settings = {"max_epochs": 1, "limit_train_batches": 1, "log_every_n_steps": 1, "enable_checkpointing": False}
    trainer = make_trainer(root, [link], logger=logger, **settings)
    trainer.fit(HParamModel())
    assert link.problems == []
    return link


def fit_twice(logger: Logger, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two fits reusing ``logger``, each linked to its own run folder; the descriptions seen in each fit."""
    first = fit(logger, tmp_path / "root", str(tmp_path / "runs" / "first"), "first")
    second = fit(logger, tmp_path / "root", str(tmp_path / "runs" / "second"), "second")
    assert first.described is not None
    assert second.described is not None
    return first.described[0], second.described[0]


def only(records: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(records) == 1
    (record,) = records
    assert tuple(record) == FIELDS
    return record


# ----------------------------------------------------------------------------------------------------------------
# the guard itself
# ----------------------------------------------------------------------------------------------------------------


def test_network_guard_refuses_outside_addresses(no_network: list[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(OSError, match="blocked"):
        sock.connect(("192.0.2.1", 80))  # TEST-NET-1, never routed
    with pytest.raises(OSError, match="blocked"):
        socket.getaddrinfo("example.com", 443)
    assert len(no_network) == 2
    no_network.clear()  # expected attempts: do not fail this test at teardown


# ----------------------------------------------------------------------------------------------------------------
# CSVLogger
# ----------------------------------------------------------------------------------------------------------------


def test_csv_before_fit_creates_nothing(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path / "csv", name="arc")
    record = only(describe_loggers([logger]))

    assert not (tmp_path / "csv").exists()
    assert logger._version is None  # the next version number was not pinned by a folder scan
    assert record["type"] == "lightning.pytorch.loggers.csv_logs.CSVLogger"
    assert record["name"] == "arc"
    assert record["save_dir"] == str(tmp_path / "csv")
    assert record["version"] is None
    assert record["log_dir"] is None
    assert set(record["errors"]) == {"version", "log_dir"}
    assert "not assigned yet" in record["errors"]["version"]


def test_csv_fit_describe_and_link(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path / "csv", name="arc")
    first, second = fit_twice(logger, tmp_path)

    for record in (first, second):
        assert record["version"] == logger.version == 0
        assert record["log_dir"] == logger.log_dir
        assert record["experiment_id"] is None
        assert record["run_id"] is None
        assert record["url"] is None
        assert record["offline"] is None
        assert record["errors"] == {}
    hparams = yaml.safe_load((Path(logger.log_dir) / "hparams.yaml").read_text())
    assert hparams[RUN_DIR_KEY] == str(tmp_path / "runs" / "second")  # the second fit's value replaced the first
    assert hparams[RUN_NAME_KEY] == "second"
    assert hparams["lr"] == 0.1  # Lightning's own hyperparameters are kept


def test_pytorch_lightning_namespace_is_recognised(tmp_path: Path) -> None:
    from pytorch_lightning.loggers import CSVLogger as PLCSVLogger

    logger = PLCSVLogger(tmp_path / "csv", name="arc", version=3)
    record = only(describe_loggers([logger]))

    assert record["type"] == "pytorch_lightning.loggers.csv_logs.CSVLogger"
    assert record["version"] == 3
    assert record["log_dir"] == str(tmp_path / "csv" / "arc" / "version_3")
    assert record["errors"] == {}
    assert not (tmp_path / "csv").exists()


# ----------------------------------------------------------------------------------------------------------------
# TensorBoardLogger
# ----------------------------------------------------------------------------------------------------------------


def test_tensorboard_before_fit_creates_nothing(tmp_path: Path) -> None:
    logger = TensorBoardLogger(tmp_path / "tb", name="arc")
    record = only(describe_loggers([logger]))

    assert not (tmp_path / "tb").exists()
    assert logger._version is None
    assert logger._experiment is None
    assert record["type"] == "lightning.pytorch.loggers.tensorboard.TensorBoardLogger"
    assert record["name"] == "arc"
    assert record["save_dir"] == str(tmp_path / "tb")
    assert record["version"] is None
    assert set(record["errors"]) == {"version", "log_dir"}


def test_tensorboard_fit_describe_and_link(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    logger = TensorBoardLogger(tmp_path / "tb", name="arc")
    first, second = fit_twice(logger, tmp_path)

    for record in (first, second):
        assert record["version"] == logger.version == 0
        assert record["log_dir"] == logger.log_dir
        assert record["errors"] == {}
    assert isinstance(logger.hparams, dict)
    assert logger.hparams[RUN_DIR_KEY] == str(tmp_path / "runs" / "second")
    hparams_yaml = yaml.safe_load((Path(logger.log_dir) / "hparams.yaml").read_text())
    assert hparams_yaml[RUN_DIR_KEY] == str(tmp_path / "runs" / "second")
    assert hparams_yaml["lr"] == 0.1

    events = EventAccumulator(logger.log_dir, size_guidance={"tensors": 0})
    events.Reload()
    texts = [event.tensor_proto.string_val[0].decode() for event in events.Tensors(f"{RUN_DIR_KEY}/text_summary")]
    assert texts == [str(tmp_path / "runs" / "first"), str(tmp_path / "runs" / "second")]
    names = [event.tensor_proto.string_val[0].decode() for event in events.Tensors(f"{RUN_NAME_KEY}/text_summary")]
    assert names[-1] == "second"
    # the HParams tab still shows Lightning's hyperparameters, not a session made of the link keys
    content = events.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
    session = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert set(session.hparams) == {"lr"}


# ----------------------------------------------------------------------------------------------------------------
# MLFlowLogger
# ----------------------------------------------------------------------------------------------------------------


def test_mlflow_before_fit_creates_no_run(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"file:{tmp_path / 'mlruns'}"
    logger = MLFlowLogger(experiment_name="arc", tracking_uri=uri)
    record = only(describe_loggers([logger]))

    assert logger._initialized is False
    client = MlflowClient(uri)
    assert client.get_experiment_by_name("arc") is None
    experiment_ids = [experiment.experiment_id for experiment in client.search_experiments()]
    if experiment_ids:  # the file store makes its "Default" experiment on first use
        assert client.search_runs(experiment_ids) == []
    assert record["type"] == "lightning.pytorch.loggers.mlflow.MLFlowLogger"
    assert record["name"] == "arc"
    assert record["save_dir"] == str(tmp_path / "mlruns")
    assert record["run_id"] is None
    assert record["experiment_id"] is None
    assert record["url"] is None
    assert set(record["errors"]) == {"run_id", "version", "experiment_id"}
    assert record["errors"]["run_id"] == "the MLflow run is not created yet"


def test_mlflow_fit_describe_and_link(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"file:{tmp_path / 'mlruns'}"
    logger = MLFlowLogger(experiment_name="arc", tracking_uri=uri)
    first, second = fit_twice(logger, tmp_path)

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("arc")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    for record in (first, second):
        assert record["run_id"] == record["version"] == run.info.run_id
        assert record["experiment_id"] == experiment.experiment_id
        assert record["url"] is None  # a file store has no web page
        assert record["offline"] is None
        assert record["errors"] == {}
    # tags, not params: MLflow params are immutable, and the second fit's value replaced the first
    assert run.data.tags[RUN_DIR_KEY] == str(tmp_path / "runs" / "second")
    assert run.data.tags[RUN_NAME_KEY] == "second"
    assert RUN_DIR_KEY not in run.data.params
    assert run.data.params["lr"] == "0.1"


def test_mlflow_url_for_a_tracking_server_is_built_locally(tmp_path: Path, no_network: list[str]) -> None:
    # the server does not exist: any request to it would fail (and connecting to it would be recorded below)
    logger = MLFlowLogger(experiment_name="arc", tracking_uri="https://user:secret@127.0.0.1:1/mlflow/")
    before = only(describe_loggers([logger]))
    assert before["url"] is None
    assert before["save_dir"] is None
    assert before["errors"]["url"] == "the MLflow run is not created yet"

    # what the logger holds once its run exists
    logger._experiment_id, logger._run_id, logger._initialized = "7", "abc123", True
    after = only(describe_loggers([logger]))
    assert after["url"] == "https://127.0.0.1:1/mlflow/#/experiments/7/runs/abc123"  # no credentials
    assert after["errors"] == {}
    assert no_network == []


# ----------------------------------------------------------------------------------------------------------------
# WandbLogger
# ----------------------------------------------------------------------------------------------------------------


def test_wandb_before_fit_creates_no_run(tmp_path: Path) -> None:
    import wandb

    logger = WandbLogger(project="arc", save_dir=tmp_path / "wb", offline=True)
    record = only(describe_loggers([logger]))

    assert logger._experiment is None
    assert wandb.run is None
    assert not (tmp_path / "wb").exists()
    assert not (tmp_path / "wandb-default").exists()
    assert record["type"] == "lightning.pytorch.loggers.wandb.WandbLogger"
    assert record["name"] == "arc"
    assert record["save_dir"] == str(tmp_path / "wb")
    assert record["offline"] is True
    assert record["run_id"] is None
    assert set(record["errors"]) == {"run_id", "version", "log_dir"}
    assert record["errors"]["run_id"] == "the W&B run is not created yet"


def test_wandb_fit_describe_and_link(tmp_path: Path) -> None:
    (tmp_path / "wb").mkdir()
    logger = WandbLogger(project="arc", save_dir=tmp_path / "wb", offline=True)
    first, second = fit_twice(logger, tmp_path)

    run = logger.experiment
    for record in (first, second):
        assert record["run_id"] == record["version"] == run.id
        assert record["offline"] is True
        assert record["url"] is None
        assert record["errors"] == {}
        assert record["log_dir"] is not None
        assert Path(record["log_dir"]).is_dir()
        assert Path(record["log_dir"]).is_relative_to(tmp_path / "wb")
    assert run.config[RUN_DIR_KEY] == str(tmp_path / "runs" / "second")
    assert run.config[RUN_NAME_KEY] == "second"
    assert run.config["lr"] == 0.1

    run.finish()
    # Offline, the config lives in the run's transaction log (config.yaml is only written when synced). The
    # wandb-core service writes that file on its own schedule, also after finish() returned: wait for it (bounded).
    (log,) = Path(second["log_dir"]).glob("run-*.wandb")
    deadline = time.monotonic() + 60
    while str(tmp_path / "runs" / "second").encode() not in log.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.2)
    data = log.read_bytes()
    assert RUN_DIR_KEY.encode() in data
    assert str(tmp_path / "runs" / "second").encode() in data
    # once the run is finished nothing can be logged to it: reported, not raised
    problems = link_run_folder([logger], str(tmp_path / "runs" / "third"), "third")
    assert len(problems) == 1
    assert problems[0].startswith("WandbLogger: RuntimeError: the W&B run is finished")


# ----------------------------------------------------------------------------------------------------------------
# CometLogger
# ----------------------------------------------------------------------------------------------------------------


def _comet_logger(tmp_path: Path, **kwargs: Any) -> CometLogger:
    # Lightning 2.6's CometLogger(online=False) also passes disabled=True, which makes the offline experiment record
    # nothing (Lightning issue #21617); leaving `online` unset with COMET_START_ONLINE=false (offline_env) gives a
    # working OfflineExperiment that writes a zip into offline_directory.
    return CometLogger(
        project="arc",
        offline_directory=str(tmp_path / "comet"),
        log_code=False,
        log_git_metadata=False,
        log_git_patch=False,
        log_env_details=False,
        auto_output_logging="simple",
        display_summary_level=0,
        **kwargs,
    )


def test_comet_before_experiment_creates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # On global rank 0 the constructor itself starts the experiment; on other ranks (and after unpickling) the
    # logger exists without one until `.experiment` is read, which is the state to describe here.
    monkeypatch.setenv("LOCAL_RANK", "1")
    logger = _comet_logger(tmp_path)
    monkeypatch.delenv("LOCAL_RANK")
    record = only(describe_loggers([logger]))

    assert logger._experiment is None
    assert not (tmp_path / "comet").exists()
    assert record["type"] == "lightning.pytorch.loggers.comet.CometLogger"
    assert record["name"] == "arc"
    assert record["save_dir"] == str(tmp_path / "comet")
    assert record["offline"] is True  # from COMET_START_ONLINE=false
    assert record["run_id"] is None
    assert set(record["errors"]) == {"experiment_id", "run_id", "version"}
    assert record["errors"]["run_id"] == "the Comet experiment is not created yet"


def test_comet_fit_describe_and_link(tmp_path: Path) -> None:
    logger = _comet_logger(tmp_path)
    first, second = fit_twice(logger, tmp_path)

    experiment = logger.experiment
    key = experiment.get_key()
    for record in (first, second):
        assert record["run_id"] == record["experiment_id"] == record["version"] == key
        assert record["offline"] is True
        assert record["url"] is None
        assert record["errors"] == {}
    assert experiment.get_other(RUN_DIR_KEY) == str(tmp_path / "runs" / "second")
    assert experiment.get_other(RUN_NAME_KEY) == "second"

    experiment.end()
    (archive,) = (tmp_path / "comet").glob(f"{key}*.zip")
    with zipfile.ZipFile(archive) as zipped:
        messages = zipped.read("messages.json").decode()
    assert f'"key":"{RUN_DIR_KEY}"' in messages
    assert str(tmp_path / "runs" / "second") in messages


def test_comet_disabled_experiment_is_reported(tmp_path: Path) -> None:
    logger = _comet_logger(tmp_path, online=False)
    try:
        record = only(describe_loggers([logger]))
        assert record["offline"] is True
        assert record["run_id"] == logger.experiment.get_key()
        problems = link_run_folder([logger], str(tmp_path / "run"), "run")
        if logger.experiment.disabled:  # Lightning issue #21617 (still the case in 2.6)
            assert len(problems) == 1
            assert problems[0].startswith("CometLogger: RuntimeError: the Comet experiment is disabled")
        else:
            assert problems == []
    finally:
        logger.experiment.end()


# ----------------------------------------------------------------------------------------------------------------
# other loggers, several loggers, errors
# ----------------------------------------------------------------------------------------------------------------


class ExperimentRaises(Exception):
    pass


class CustomLogger(Logger):
    """A third-party logger whose experiment cannot be created; its properties go through it."""

    save_dir = "/plain/class/attribute"

    def __init__(self) -> None:
        super().__init__()
        self.experiment_reads = 0
        self.logged: list[dict[str, Any]] = []

    @property
    def experiment(self) -> Any:
        self.experiment_reads += 1
        raise ExperimentRaises("no experiment here")

    @property
    def name(self) -> str:
        return str(self.experiment.name)

    @property
    def version(self) -> str:
        return str(self.experiment.version)

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        self.logged.append(dict(params))

    def log_metrics(self, metrics: Any, step: Any = None) -> None:
        pass


class BrokenLogger(CustomLogger):
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        raise ValueError("cannot log hyperparameters\nsecond line")


def test_unknown_logger_is_described_without_touching_it() -> None:
    logger = CustomLogger()
    record = only(describe_loggers([logger]))

    assert logger.experiment_reads == 0
    assert record["type"] == f"{__name__}.CustomLogger"
    assert record["save_dir"] == "/plain/class/attribute"
    assert record["log_dir"] is None  # Lightning's base implementation, safe to read
    assert record["name"] is None
    assert record["version"] is None
    assert set(record["errors"]) == {"name", "version"}
    assert record["errors"]["name"].startswith("not read: unknown logger class")


def test_describe_never_raises() -> None:
    class Hostile(CSVLogger):
        def __getattribute__(self, name: str) -> Any:
            raise RuntimeError(f"no {name}")

    hostile = Hostile.__new__(Hostile)
    records = describe_loggers([object(), hostile])
    assert [tuple(record) for record in records] == [FIELDS, FIELDS]
    assert records[0]["type"] == "builtins.object"
    assert records[0]["errors"] == {}
    assert records[1]["type"].endswith("Hostile")
    assert records[1]["errors"]  # the failure is reported, not raised


def test_link_reports_failures_and_links_the_rest(tmp_path: Path) -> None:
    good, broken = CustomLogger(), BrokenLogger()
    csv = CSVLogger(tmp_path / "csv", name="arc", version="fixed")
    problems = link_run_folder([broken, good, csv], str(tmp_path / "run"), "run")

    assert problems == ["BrokenLogger: ValueError: cannot log hyperparameters"]
    assert good.logged == [{RUN_DIR_KEY: str(tmp_path / "run"), RUN_NAME_KEY: "run"}]
    hparams = yaml.safe_load((tmp_path / "csv" / "arc" / "fixed" / "hparams.yaml").read_text())
    assert hparams == {RUN_DIR_KEY: str(tmp_path / "run"), RUN_NAME_KEY: "run"}


def test_describe_several_loggers_in_order(tmp_path: Path) -> None:
    loggers = [CSVLogger(tmp_path / "csv"), TensorBoardLogger(tmp_path / "tb", version="v"), CustomLogger()]
    records = describe_loggers(loggers)
    assert [record["type"].rsplit(".", 1)[1] for record in records] == [
        "CSVLogger",
        "TensorBoardLogger",
        "CustomLogger",
    ]
    assert records[1]["log_dir"] == os.path.join(str(tmp_path / "tb"), "lightning_logs", "v")
    assert not any(path.exists() for path in (tmp_path / "csv", tmp_path / "tb"))


# ----------------------------------------------------------------------------------------------------------------
# the callback: both directions, with zero user code
# ----------------------------------------------------------------------------------------------------------------


def _show(run_dir: str) -> str:
    import contextlib
    import io

    from arccnet_ckpt.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["show", run_dir]) == 0
    return out.getvalue()


def _summary(run_dir: str | None) -> dict[str, Any]:
    from conftest import read_json

    assert run_dir is not None
    return read_json(Path(run_dir) / "training_summary.json")


def test_the_callback_records_every_logger_and_points_each_one_back_to_the_run_folder(tmp_path: Path) -> None:
    from conftest import ScriptedClassifier, TinyData, make_trainer

    from arccnet_ckpt import ArcCheckpointCallback

    (tmp_path / "wb").mkdir()
    csv = CSVLogger(tmp_path / "logs", name="flares")
    tensorboard = TensorBoardLogger(tmp_path / "logs", name="flares_tb")
    mlflow = MLFlowLogger(experiment_name="flares", tracking_uri=f"file:{tmp_path / 'mlruns'}")
    wandb = WandbLogger(project="flares", save_dir=tmp_path / "wb", offline=True)
    comet = _comet_logger(tmp_path)
    cb = ArcCheckpointCallback(root_name="flares/binary", data_folder=tmp_path / "data")
    trainer = make_trainer(tmp_path, [cb], logger=[csv, tensorboard, mlflow, wandb, comet], log_every_n_steps=1)
    trainer.fit(ScriptedClassifier(), datamodule=TinyData())
    run_dir, run_name = cb.run_dir, cb.run_name
    assert run_dir is not None
    assert run_name is not None

    summary = _summary(run_dir)
    jsonschema.validate(summary, schema.shipped("training_summary"))  # what other languages check the file with
    recorded = summary["loggers"]
    loaded = load_run(run_dir).summary
    assert loaded is not None
    assert [entry.run_id for entry in loaded.loggers] == [entry["run_id"] for entry in recorded]
    assert [entry["type"].rsplit(".", 1)[-1] for entry in recorded] == [
        "CSVLogger",
        "TensorBoardLogger",
        "MLFlowLogger",
        "WandbLogger",
        "CometLogger",
    ]
    assert all(entry["errors"] == {} and (entry["attempt"], entry["stage"]) == (0, "fit") for entry in recorded)
    by_type = {entry["type"].rsplit(".", 1)[-1]: entry for entry in recorded}
    assert (by_type["CSVLogger"]["version"], by_type["CSVLogger"]["log_dir"]) == (csv.version, csv.log_dir)
    assert by_type["TensorBoardLogger"]["log_dir"] == tensorboard.log_dir
    assert by_type["MLFlowLogger"]["run_id"] == mlflow.run_id
    assert by_type["MLFlowLogger"]["experiment_id"] == mlflow.experiment_id
    assert by_type["MLFlowLogger"]["name"] == "flares"
    assert (by_type["WandbLogger"]["run_id"], by_type["WandbLogger"]["offline"]) == (wandb.experiment.id, True)
    comet_key = comet.experiment.get_key()
    assert (by_type["CometLogger"]["run_id"], by_type["CometLogger"]["offline"]) == (comet_key, True)

    # The other direction: each logger's run names the run folder.
    assert yaml.safe_load((Path(csv.log_dir) / "hparams.yaml").read_text())[RUN_DIR_KEY] == run_dir
    tags = mlflow.experiment.get_run(mlflow.run_id).data.tags
    assert (tags[RUN_DIR_KEY], tags[RUN_NAME_KEY]) == (run_dir, run_name)
    assert (wandb.experiment.config[RUN_DIR_KEY], wandb.experiment.config[RUN_NAME_KEY]) == (run_dir, run_name)
    assert comet.experiment.get_other(RUN_DIR_KEY) == run_dir
    assert tensorboard.hparams[RUN_NAME_KEY] == run_name

    # `arccnet-ckpt show` lists them: where each logger's run is.
    shown = _show(run_dir)
    assert f"logger           CSVLogger flares version 0  {csv.log_dir}" in shown
    assert f"MLFlowLogger flares run {mlflow.run_id}  {tmp_path / 'mlruns'}" in shown
    assert f"WandbLogger flares run {wandb.experiment.id} (offline)  {by_type['WandbLogger']['log_dir']}" in shown
    assert f"CometLogger arc run {comet_key} (offline)  {tmp_path / 'comet'}" in shown
    comet.experiment.end()


def test_a_resumed_fit_adds_its_loggers_and_keeps_the_first_fits(tmp_path: Path) -> None:
    from conftest import ScriptedClassifier, TinyData, make_trainer

    from arccnet_ckpt import ArcCheckpointCallback

    cb = ArcCheckpointCallback(root_name="r", data_folder=tmp_path / "data", save_last=True)
    first = CSVLogger(tmp_path / "logs", name="flares")
    trainer = make_trainer(tmp_path, [cb], logger=first, max_epochs=1, log_every_n_steps=1)
    trainer.fit(ScriptedClassifier(), datamodule=TinyData())
    run_dir = cb.run_dir
    assert run_dir is not None

    cb2 = ArcCheckpointCallback(root_name="r", data_folder=tmp_path / "data", save_last=True)
    second = CSVLogger(tmp_path / "logs", name="flares")
    trainer = make_trainer(tmp_path, [cb2], logger=second, max_epochs=2, log_every_n_steps=1)
    trainer.fit(ScriptedClassifier(), datamodule=TinyData(), ckpt_path=str(Path(run_dir) / "last.ckpt"))
    assert cb2.run_dir == run_dir

    recorded = _summary(run_dir)["loggers"]
    assert [(e["version"], e["attempt"], e["stage"]) for e in recorded] == [(0, 0, "fit"), (1, 1, "fit")]
    hparams = yaml.safe_load((Path(second.log_dir) / "hparams.yaml").read_text())
    assert hparams[RUN_DIR_KEY] == run_dir


def test_a_failed_fit_records_its_loggers_and_they_point_to_the_failed_run(tmp_path: Path) -> None:
    """Lightning creates every logger's experiment in its setup hook (``hasattr(logger, "experiment")``), so at the
    exception the MLflow run exists; reading it there must not start another one."""
    from conftest import ScriptedClassifier, TinyData, make_trainer
    from mlflow.tracking import MlflowClient

    from arccnet_ckpt import ArcCheckpointCallback

    uri = f"file:{tmp_path / 'mlruns'}"
    mlflow = MLFlowLogger(experiment_name="flares", tracking_uri=uri)
    cb = ArcCheckpointCallback(root_name="r", data_folder=tmp_path / "data")
    trainer = make_trainer(tmp_path, [cb], logger=mlflow, log_every_n_steps=1)
    with pytest.raises(RuntimeError, match="boom in training_step"):
        trainer.fit(ScriptedClassifier(fail_at_step=1), datamodule=TinyData())

    summary = _summary(cb.run_dir)
    assert summary["status"] == "failed"
    (entry,) = summary["loggers"]
    assert (entry["run_id"], entry["errors"]) == (mlflow.run_id, {})
    client = MlflowClient(uri)
    (run,) = client.search_runs([mlflow.experiment_id])  # one run: nothing was created by reading it
    assert run.data.tags[RUN_DIR_KEY] == cb.run_dir


def test_a_test_only_trainer_records_its_logger_under_the_test_stage(tmp_path: Path) -> None:
    from conftest import ScriptedClassifier, TinyData, make_trainer

    from arccnet_ckpt import ArcCheckpointCallback

    cb = ArcCheckpointCallback(root_name="r", data_folder=tmp_path / "data")
    make_trainer(tmp_path, [cb], max_epochs=1).fit(ScriptedClassifier(), datamodule=TinyData())
    best = cb.best_model_path

    tester = ArcCheckpointCallback(root_name="r", data_folder=tmp_path / "data")
    csv = CSVLogger(tmp_path / "logs", name="evaluation")
    trainer = make_trainer(tmp_path, [tester], logger=csv)
    trainer.test(ScriptedClassifier(), datamodule=TinyData(), ckpt_path=best)

    assert tester.run_dir == cb.run_dir  # the checkpoint's own run
    (entry,) = _summary(cb.run_dir)["loggers"]
    assert (entry["stage"], entry["log_dir"], entry["errors"]) == ("test", csv.log_dir, {})
    assert yaml.safe_load((Path(csv.log_dir) / "hparams.yaml").read_text())[RUN_NAME_KEY] == cb.run_name
    # The report written at test end names the logger and where its run is (no URL: the page holds none).
    page = (Path(cb.run_dir or "") / "report.html").read_text(encoding="utf-8")
    assert "<h3>Loggers</h3>" in page
    row = f"<td>CSVLogger</td><td>evaluation</td><td>version 0</td><td>{csv.log_dir}</td><td>test, attempt 0</td>"
    assert row in page


def test_a_relative_ckpt_path_still_records_and_logs_the_absolute_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import ScriptedClassifier, TinyData, make_trainer

    from arccnet_ckpt import ArcCheckpointCallback

    monkeypatch.chdir(tmp_path)
    cb = ArcCheckpointCallback(root_name="r", data_folder="data")
    make_trainer(tmp_path, [cb], max_epochs=1).fit(ScriptedClassifier(), datamodule=TinyData())
    relative = os.path.relpath(cb.best_model_path, tmp_path)
    assert not os.path.isabs(relative)

    tester = ArcCheckpointCallback(root_name="r", data_folder="data")
    csv = CSVLogger("logs", name="evaluation")  # relative too: recorded absolute
    make_trainer(tmp_path, [tester], logger=csv).test(ScriptedClassifier(), datamodule=TinyData(), ckpt_path=relative)
    assert tester.run_dir == str(Path(cb.best_model_path).parent.resolve())
    assert os.path.isabs(yaml.safe_load((Path(csv.log_dir) / "hparams.yaml").read_text())[RUN_DIR_KEY])
    (entry,) = _summary(tester.run_dir)["loggers"]
    assert (entry["save_dir"], entry["log_dir"]) == (
        str(tmp_path / "logs"),
        str(tmp_path / "logs/evaluation/version_0"),
    )
