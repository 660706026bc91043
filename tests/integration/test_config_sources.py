"""The configs of the user's own tools, recorded with zero code: LightningCLI and Hydra, each run for real in a
subprocess as a user runs it (YAML config plus command-line overrides), and the precedence between sources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from conftest import ScriptedClassifier, TinyData, make_trainer, read_json, user_config

from arccnet_ckpt import ArcCheckpointCallback, load_run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CLI_SCRIPT = Path(__file__).parents[1] / "helpers" / "cli_script.py"


def _run(
    args: list[str], cwd: Path, data_folder: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ARCCNET_DATA_FOLDER": str(data_folder), "PYTHONWARNINGS": "ignore", **(env or {})}
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _only_run(parent: Path) -> Path:
    runs = [p for p in parent.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def _no_secret_in(folder: Path, secret: str) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix != ".ckpt":  # Lightning's own checkpoint holds the hparams as given
            assert secret not in path.read_text(encoding="utf-8", errors="replace"), path


# ------------------------------------------------------------------------------------------------- LightningCLI


@pytest.mark.slow
def test_the_cli_example_records_its_yaml_config_with_the_command_line_overrides(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config_file = EXAMPLES / "configs" / "cli_multiclass.yaml"
    _run(
        [
            str(EXAMPLES / "cli_train.py"),
            "fit",
            "--config",
            str(config_file),
            "--model.learning_rate",
            "0.005",
            "--trainer.max_epochs",
            "2",
            "--trainer.limit_train_batches",
            "2",
            "--trainer.limit_val_batches",
            "1",
            "--trainer.limit_test_batches",
            "1",
        ],
        cwd=tmp_path,
        data_folder=data,
    )
    run_dir = _only_run(data / "checkpoints" / "flares" / "multiclass")
    raw = read_json(run_dir / "config.json")
    captured = raw["_arccnet"]
    section = captured["lightning_cli"]

    # The top-level keys are the CLI's config: the YAML's values, with the command line's overrides applied.
    config = user_config(raw)
    assert config["model"] == {
        "learning_rate": 0.005,  # from the command line
        "model_name": "smallcnn",
        "loss_function": "cross_entropy",
        "class_names": None,
    }
    assert config["data"] == {"num_classes": 3, "amplitude": 1.2, "batch_size": 64}  # the YAML's
    assert config["trainer"]["max_epochs"] == 2
    assert captured["config_source"] == "lightning_cli"
    assert section["config"] == config  # recorded under its source too
    assert section["subcommand"] == "fit"
    assert section["config_files"] == [str(config_file)]
    assert section["file"] == "config.yaml"
    assert section["redacted"] is False

    # The linked argument reached the model: data.num_classes -> model.num_classes.
    assert captured["hparams"]["num_classes"] == 3
    # config.yaml is the config as LightningCLI saves it: `fit --config config.yaml` repeats the run.
    text = (run_dir / "config.yaml").read_text(encoding="utf-8")
    assert text.startswith("# lightning.pytorch==")
    assert yaml.safe_load(text) == config
    assert (captured["model_name"], captured["loss_function"]) == ("smallcnn", "cross_entropy")
    assert run_dir.name.endswith("_smallcnn_cross_entropy")
    # after_fit tested the best checkpoint: the run is complete, report included.
    run = load_run(run_dir)
    assert run.summary is not None
    assert run.summary.status == "completed"
    assert run.report is not None
    assert run.config is not None
    assert run.config.lightning_cli is not None
    assert run.config.lightning_cli.subcommand == "fit"


@pytest.mark.slow
def test_a_cli_script_with_run_false_and_its_own_save_config_callback_is_recorded_and_its_secrets_hidden(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    (tmp_path / "cfg.yaml").write_text(
        "model:\n  lr: 0.05\n  wandb_api_key: k-12345\ndata:\n  num_classes: 3\n  class_names: [alpha, beta, gamma]\n",
        encoding="utf-8",
    )
    inline = '{"backbone": "tinynet", "wandb_api_key": "k-inline-777"}'  # jsonargparse's inline form
    done = _run(
        [str(CLI_SCRIPT), "--config", "cfg.yaml", "--model.lr", "0.01", "--model", inline, "--data_folder", str(data)],
        cwd=tmp_path,
        data_folder=data,
    )
    run_dir = Path(done.stdout.split("RUN_DIR ")[1].split()[0])
    assert run_dir.parent == data / "checkpoints" / "cutouts" / "hale"
    raw = read_json(run_dir / "config.json")
    captured = raw["_arccnet"]
    section = captured["lightning_cli"]
    assert {k: raw["model"][k] for k in ("lr", "backbone", "wandb_api_key")} == {
        "lr": 0.01,
        "backbone": "tinynet",
        "wandb_api_key": "***",
    }
    # A lambda jsonargparse cannot dump is listed, not passed off as a string.
    (entry,) = section["unserializable"]
    assert (entry["path"], entry["type"]) == ("model.score_fn", "function")
    assert entry["repr"].startswith("<function HaleNet.<lambda>")
    assert captured["unserializable"] == [{**entry, "path": "config.model.score_fn"}]  # the top-level config's too
    assert raw["data"] == {"num_classes": 3, "class_names": ["alpha", "beta", "gamma"]}
    assert raw["data_folder"] == str(data)
    assert section["subcommand"] is None  # run=False: the script calls fit itself
    assert section["config_files"] == [str(tmp_path / "cfg.yaml")]
    # The copy hides the secret and says so; Lightning's own config.yaml (in the logger's folder) is untouched.
    assert section["redacted"] is True
    copy = (run_dir / "config.yaml").read_text(encoding="utf-8")
    assert copy.startswith("# arccnet-ckpt: a copy with secret values replaced by ***")
    assert yaml.safe_load(copy)["model"]["wandb_api_key"] == "***"
    assert "k-inline-777" in (data / "lightning_logs" / "version_0" / "config.yaml").read_text(encoding="utf-8")
    _no_secret_in(run_dir, "k-inline-777")  # also not in the recorded command line, where it was given inline
    _no_secret_in(run_dir, "k-12345")
    assert captured["environment"]["argv"][-3] == '{"backbone": "tinynet", "wandb_api_key": "***"}'
    # Names: the hparams' backbone names the model; the class names came through the linked arguments.
    assert (captured["model_name"], captured["class_names"]) == ("tinynet", ["alpha", "beta", "gamma"])


# -------------------------------------------------------------------------------------------------------- Hydra


@pytest.mark.slow
def test_the_hydra_example_records_the_resolved_config_overrides_output_folder_and_copies(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _run(
        [
            str(EXAMPLES / "hydra_train.py"),
            "learning_rate=0.005",
            "max_epochs=2",
            "limit_train_batches=2",
            "data.amplitude=1.0",
            "+run_note=${model_name}-${learning_rate}",  # an interpolation, resolved in the record
        ],
        cwd=tmp_path,
        data_folder=data,
    )
    run_dir = _only_run(data / "checkpoints" / "flares" / "multiclass")
    raw = read_json(run_dir / "config.json")
    captured = raw["_arccnet"]
    section = captured["hydra"]
    expected = {
        "model_name": "smallcnn",
        "loss_function": "cross_entropy",
        "learning_rate": 0.005,
        "max_epochs": 2,
        "limit_train_batches": 2,
        "class_names": ["Quiet", "C", "M_X"],
        "data": {"amplitude": 1.0, "batch_size": 64},
        "data_folder": None,
        "run_note": "smallcnn-0.005",
    }
    assert user_config(raw) == expected  # no config= given: Hydra's config is the file's config
    assert captured["config_source"] == "hydra"
    assert section["config"] == expected
    assert section["overrides"] == [
        "learning_rate=0.005",
        "max_epochs=2",
        "limit_train_batches=2",
        "data.amplitude=1.0",
        "+run_note=${model_name}-${learning_rate}",
    ]
    assert (section["job_name"], section["mode"], section["redacted"]) == ("hydra_train", "RUN", False)
    hydra_dir = Path(section["output_dir"])
    assert hydra_dir.is_relative_to(tmp_path / "outputs")
    assert section["files"] == ["hydra/config.yaml", "hydra/hydra.yaml", "hydra/overrides.yaml"]
    for name in ("config.yaml", "overrides.yaml", "hydra.yaml"):  # byte for byte: nothing secret in them
        assert (run_dir / "hydra" / name).read_bytes() == (hydra_dir / ".hydra" / name).read_bytes()
    # Hydra's config names the model and the loss (the module's class would be FlareClassifier) and the classes.
    assert run_dir.name.endswith("_smallcnn_cross_entropy")
    assert captured["class_names"] == ["Quiet", "C", "M_X"]
    run = load_run(run_dir)
    assert run.config is not None
    assert run.config.hydra is not None
    assert run.config.hydra.overrides[0] == "learning_rate=0.005"
    shown = subprocess.run(
        [sys.executable, "-m", "arccnet_ckpt", "show", str(run_dir)], capture_output=True, text=True, check=True
    ).stdout
    assert "config from      hydra: learning_rate=0.005 max_epochs=2 limit_train_batches=2 data.amplitude=1.0" in shown
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert 'Config from <span class="mono">hydra: learning_rate=0.005 max_epochs=2' in page
    assert run.summary is not None
    assert run.summary.status == "completed"


@pytest.mark.slow
def test_secrets_in_overrides_and_the_environment_are_hidden_in_the_record_the_copies_and_the_command_line(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    overrides = [
        "+api_token=tok-98765",
        "+wandb={api_key:dict-SECRET-7,project:flares}",  # a dict value
        '+db.password="pa ss,word-Z9"',  # quoted, with a space and a comma
        "+header='Bearer ${oc.env:TRACKER_TOKEN}'",  # from the environment, through an interpolation
        "hydra.run.dir=outputs/${hydra.job.override_dirname}",  # a folder named after the overrides
    ]
    _run(
        [str(EXAMPLES / "hydra_train.py"), "max_epochs=1", "limit_train_batches=1", *overrides],
        cwd=tmp_path,
        data_folder=data,
        env={"TRACKER_TOKEN": "env-token-4242"},
    )
    run_dir = _only_run(data / "checkpoints" / "flares" / "multiclass")
    captured = read_json(run_dir / "config.json")["_arccnet"]
    section = captured["hydra"]
    assert section["overrides"][2:] == [
        "+api_token=***",
        "+wandb={api_key:***,project:flares}",
        "+db.password=***",
        "+header='Bearer ${oc.env:TRACKER_TOKEN}'",
    ]  # Hydra keeps its own hydra.* overrides apart from the task's
    assert "+api_token=***" in section["output_dir"]
    assert section["config"]["api_token"] == "***"  # noqa: S105 - the redaction marker
    assert section["config"]["wandb"] == {"api_key": "***", "project": "flares"}
    assert section["config"]["db"] == {"password": "***"}
    assert section["config"]["header"] == "Bearer ${oc.env:TRACKER_TOKEN}"  # as written, never the token
    assert section["redacted"] is True
    assert captured["environment"]["argv"][-5:-1] == section["overrides"][2:]
    copied = yaml.safe_load((run_dir / "hydra" / "overrides.yaml").read_text(encoding="utf-8"))
    assert copied[2:] == section["overrides"][2:]
    for secret in ("tok-98765", "dict-SECRET-7", "pa ss", "word-Z9", "env-token-4242"):
        _no_secret_in(run_dir, secret)


@pytest.mark.slow
def test_with_config_given_too_the_argument_is_the_files_config_and_hydras_keeps_its_section(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text(
        "model:\n  model_name: resnet_hydra\n  lr: 0.1\nloss: focal\nCLASSES: [Quiet, C, M_X]\n", encoding="utf-8"
    )
    script.write_text(
        f"""
import sys
sys.path.insert(0, {str(Path(__file__).parents[1])!r})
import hydra
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig
from conftest import ScriptedClassifier, TinyData, make_trainer
from arccnet_ckpt import ArcCheckpointCallback

@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    config = {{"MODEL_NAME": "from_argument", "LEARNING_RATE": cfg.model.lr}}
    cb = ArcCheckpointCallback(root_name="flares/hydra", config=config)
    logs = CSVLogger(HydraConfig.get().runtime.output_dir)  # logs inside Hydra's folder, named after the overrides
    trainer = make_trainer({str(tmp_path)!r}, [cb], max_epochs=1, logger=logs)
    data = TinyData(num_classes=3, class_names=["C", "M_X", "Quiet"])
    trainer.fit(ScriptedClassifier(num_classes=3), datamodule=data)
    print("RUN_DIR", cb.run_dir)

main()
""",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    folder_named = "hydra.run.dir=outputs/${hydra.job.override_dirname}"
    done = _run([str(script), "model.lr=0.2", "+api_key=key-55555", folder_named], cwd=tmp_path, data_folder=data)
    run_dir = Path(done.stdout.split("RUN_DIR ")[1].split()[0])
    raw = read_json(run_dir / "config.json")
    captured = raw["_arccnet"]
    assert user_config(raw) == {"MODEL_NAME": "from_argument", "LEARNING_RATE": 0.2}
    assert captured["config_source"] == "argument"
    assert captured["hydra"]["config"]["model"] == {"model_name": "resnet_hydra", "lr": 0.2}
    # model_name: config= before Hydra's; loss: config= has none, so Hydra's; classes: the datamodule's (the
    # label encoder's order) name label i, and every list is kept by source.
    assert (captured["model_name"], captured["loss_function"]) == ("from_argument", "focal")
    assert captured["class_names"] == ["C", "M_X", "Quiet"]
    assert captured["class_name_sources"] == {"datamodule": ["C", "M_X", "Quiet"], "hydra": ["Quiet", "C", "M_X"]}
    # The logger's folder is named after the overrides: its record hides the secret one.
    (logger,) = read_json(run_dir / "training_summary.json")["loggers"]
    assert "+api_key=***" in logger["log_dir"]
    _no_secret_in(run_dir, "key-55555")


@pytest.mark.slow
def test_hydra_without_its_output_subdir_records_the_overrides_and_no_config(tmp_path: Path) -> None:
    data = tmp_path / "data"
    secret = "+comet={api_key:ck_dict_7777,project:p}"  # noqa: S105 - known from the override alone, no config file
    _run(
        [str(EXAMPLES / "hydra_train.py"), "max_epochs=1", "limit_train_batches=1", "hydra.output_subdir=null", secret],
        cwd=tmp_path,
        data_folder=data,
    )
    run_dir = _only_run(data / "checkpoints" / "flares" / "multiclass")
    raw = read_json(run_dir / "config.json")
    section = raw["_arccnet"]["hydra"]
    assert (section["config"], section["files"]) == (None, [])
    assert section["overrides"] == ["max_epochs=1", "limit_train_batches=1", "+comet={api_key:***,project:p}"]
    _no_secret_in(run_dir, "ck_dict_7777")
    assert raw["_arccnet"]["config_source"] is None
    assert user_config(raw) == {}
    assert not (run_dir / "hydra").exists()


# --------------------------------------------------------------------------------------- values JSON cannot hold


class _WithModuleArgument(ScriptedClassifier):  # type: ignore[misc,valid-type]
    def __init__(self, activation: torch.nn.Module, **kwargs: Any) -> None:
        super().__init__(**kwargs)


@pytest.mark.filterwarnings("ignore:Attribute 'activation' is an instance of `nn.Module`")  # Lightning's advice
def test_unserializable_hparams_and_config_values_are_kept_as_repr_and_listed(tmp_path: Path) -> None:
    """Lightning's hparams.yaml drops an nn.Module argument; config.json keeps its repr and lists it."""
    config = {"LOSS": torch.nn.CrossEntropyLoss(), "LAYERS": [8, len], "LEARNING_RATE": 0.1}
    cb = ArcCheckpointCallback(root_name="flares/objects", data_folder=tmp_path / "data", config=config)
    trainer = make_trainer(tmp_path, [cb], max_epochs=1)
    trainer.fit(_WithModuleArgument(activation=torch.nn.GELU(), num_classes=3), datamodule=TinyData(num_classes=3))
    raw = read_json(Path(cb.run_dir or "") / "config.json")
    assert raw["LOSS"] == "CrossEntropyLoss()"
    assert raw["_arccnet"]["hparams"]["activation"] == "GELU(approximate='none')"
    assert raw["_arccnet"]["unserializable"] == [
        {"path": "config.LOSS", "type": "torch.nn.modules.loss.CrossEntropyLoss", "repr": "CrossEntropyLoss()"},
        {"path": "config.LAYERS[1]", "type": "builtins.builtin_function_or_method", "repr": "<built-in function len>"},
        {
            "path": "hparams.activation",
            "type": "torch.nn.modules.activation.GELU",
            "repr": "GELU(approximate='none')",
        },
    ]
    run = load_run(cb.run_dir or "")
    assert run.config is not None
    assert [u.path for u in run.config.unserializable] == ["config.LOSS", "config.LAYERS[1]", "hparams.activation"]


def test_without_lightning_cli_or_hydra_no_section_is_written(tmp_path: Path) -> None:
    cb = ArcCheckpointCallback(root_name="plain", data_folder=tmp_path / "data", config={"LR": 0.1})
    make_trainer(tmp_path, [cb], max_epochs=1).fit(ScriptedClassifier(), datamodule=TinyData())
    captured = read_json(Path(cb.run_dir or "") / "config.json")["_arccnet"]
    assert (captured["lightning_cli"], captured["hydra"], captured["config_source"]) == (None, None, "argument")
    assert sorted(p.name for p in Path(cb.run_dir or "").iterdir() if p.suffix == ".yaml") == []


def test_a_tools_config_that_is_the_top_level_one_is_compared_once() -> None:
    from arccnet_ckpt.records import ConfigRecord
    from arccnet_ckpt.runs.query import captured_settings, config_settings

    record = ConfigRecord(
        config={"model": {"lr": 0.1}},
        config_source="hydra",
        hydra={"config": {"model": {"lr": 0.1}}, "overrides": ["model.lr=0.1"]},
        lightning_cli={"config": {"trainer": {"max_epochs": 3}}},
    )
    assert config_settings(record) == {"model.lr": 0.1}
    captured = captured_settings(record)
    assert captured["hydra.overrides"] == ["model.lr=0.1"]
    assert not any(key.startswith("hydra.config") for key in captured)
    assert captured["lightning_cli.config.trainer.max_epochs"] == 3  # not the top-level one: kept


@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter", "ignore:No seed found")
def test_a_trainer_the_script_builds_itself_does_not_take_the_config_of_a_cli_that_only_parsed(tmp_path: Path) -> None:
    """A sweep script parses its arguments with LightningCLI(run=False), then builds its own Trainers: those are not
    the CLI's runs, whatever the CLI object on the stack holds."""
    from lightning.pytorch.cli import LightningCLI

    cli = LightningCLI(
        ScriptedClassifier,
        TinyData,
        run=False,
        save_config_callback=None,
        args=["--model.monitor_name=val_f1", "--trainer.logger=false", f"--trainer.default_root_dir={tmp_path}"],
    )
    assert cli.trainer is not None
    cb = ArcCheckpointCallback(root_name="sweep", data_folder=tmp_path / "data")
    make_trainer(tmp_path, [cb], max_epochs=1).fit(ScriptedClassifier(model_name="sweepnet"), datamodule=TinyData())
    raw = read_json(Path(cb.run_dir or "") / "config.json")
    assert (raw["_arccnet"]["lightning_cli"], raw["_arccnet"]["config_source"]) == (None, None)
    assert user_config(raw) == {}
    assert not (Path(cb.run_dir or "") / "config.yaml").exists()
    assert raw["_arccnet"]["model_name"] == "sweepnet"


def _cli_arguments(tmp_path: Path) -> list[str]:
    """A LightningCLI command line that adds the callback and fits one batch."""
    return [
        "--trainer.callbacks+=arccnet_ckpt.ArcCheckpointCallback",
        "--trainer.callbacks.root_name=cutouts/hale",
        f"--trainer.callbacks.data_folder={tmp_path / 'data'}",
        "--trainer.logger=false",
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=1",
        "--trainer.limit_val_batches=1",
        f"--trainer.default_root_dir={tmp_path}",
        "--model.val_scores=[0.3,0.8]",
    ]


@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter", "ignore:No seed found")
def test_the_trainer_a_cli_built_with_save_config_callback_none_is_found_on_the_stack(tmp_path: Path) -> None:
    from lightning.pytorch.cli import LightningCLI

    cli = LightningCLI(
        ScriptedClassifier,
        TinyData,
        run=False,
        save_config_callback=None,
        args=_cli_arguments(tmp_path),
    )
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    cb = cli.trainer.checkpoint_callback
    raw = read_json(Path(cb.run_dir) / "config.json")
    assert raw["_arccnet"]["config_source"] == "lightning_cli"
    assert raw["model"]["val_scores"] == [0.3, 0.8]
    assert raw["_arccnet"]["lightning_cli"]["subcommand"] is None  # run=False
    assert yaml.safe_load((Path(cb.run_dir) / "config.yaml").read_text(encoding="utf-8")) == user_config(raw)


@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter", "ignore:No seed found")
def test_a_cli_subcommand_without_its_save_config_callback_is_recorded(tmp_path: Path) -> None:
    """``fit`` run by a LightningCLI with ``save_config_callback=None``: the config is the ``fit`` subcommand's, dumped
    by that subcommand's parser (the one private LightningCLI read, ``_parser``), as ``SaveConfigCallback`` would."""
    from lightning.pytorch.cli import LightningCLI

    cli = LightningCLI(
        ScriptedClassifier,
        TinyData,
        save_config_callback=None,
        args=["fit", *_cli_arguments(tmp_path)],
    )
    run_dir = Path(cli.trainer.checkpoint_callback.run_dir)
    raw = read_json(run_dir / "config.json")
    section = raw["_arccnet"]["lightning_cli"]
    assert (raw["_arccnet"]["config_source"], section["subcommand"], section["file"]) == (
        "lightning_cli",
        "fit",
        "config.yaml",
    )
    assert raw["model"]["val_scores"] == [0.3, 0.8]
    copy = (run_dir / "config.yaml").read_text(encoding="utf-8")
    assert copy == cli._parser("fit").dump(cli.config["fit"], skip_none=False)  # what SaveConfigCallback writes
    assert yaml.safe_load(copy) == user_config(raw)


def test_a_secret_is_hidden_inside_the_other_values_that_repeat_it(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    config = OmegaConf.create(
        {
            "wandb": {"api_key": "sk-live-9f8e7d6c"},
            "headers": {"X-Client": "client ${wandb.api_key}"},  # not secret-named: hidden as a known value
            "endpoint": "https://api.example.com/v1?key=${wandb.api_key}",
        }
    )
    cb = ArcCheckpointCallback(root_name="secrets", data_folder=tmp_path / "data", config=config)
    model = ScriptedClassifier(tracking="https://x.io/?k=sk-live-9f8e7d6c")
    make_trainer(tmp_path, [cb], max_epochs=1).fit(model, datamodule=TinyData())
    raw = read_json(Path(cb.run_dir or "") / "config.json")
    assert user_config(raw) == {
        "wandb": {"api_key": "***"},
        "headers": {"X-Client": "client ***"},
        "endpoint": "https://api.example.com/v1?key=***",
    }
    assert raw["_arccnet"]["hparams"]["tracking"] == "https://x.io/?k=***"
    _no_secret_in(Path(cb.run_dir or ""), "sk-live-9f8e7d6c")


def test_a_hydra_multirun_is_one_group_with_the_job_numbers_as_indices(tmp_path: Path) -> None:
    """A real ``-m`` sweep over two values: each job's run records the sweep folder's group, index hydra.job.num."""
    script = tmp_path / "sweep.py"
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text("model:\n  lr: 0.1\nloss: focal\n", encoding="utf-8")
    script.write_text(
        f"""
import sys
sys.path.insert(0, {str(Path(__file__).parents[1])!r})
import hydra
from omegaconf import DictConfig
from conftest import ScriptedClassifier, TinyData, make_trainer
from arccnet_ckpt import ArcCheckpointCallback

@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    cb = ArcCheckpointCallback(root_name="flares/sweep", model_name="net")
    make_trainer({str(tmp_path)!r}, [cb], max_epochs=1).fit(ScriptedClassifier(), datamodule=TinyData())
    print("RUN_DIR", cb.run_dir)

main()
""",
        encoding="utf-8",
    )
    sweep = "hydra.sweep.dir=multirun/2025-02-12/14-30-45"  # Hydra's default shape, with a fixed moment
    done = _run([str(script), "-m", "model.lr=0.1,0.2", sweep], cwd=tmp_path, data_folder=tmp_path / "data")
    run_dirs = [Path(part.split()[0]) for part in done.stdout.split("RUN_DIR ")[1:]]
    assert len(run_dirs) == 2
    summaries = [read_json(d / "training_summary.json") for d in run_dirs]
    assert [s["group"] for s in summaries] == [
        {"id": "hydra-2025-02-12_14-30-45", "source": "hydra_multirun", "index": 0},
        {"id": "hydra-2025-02-12_14-30-45", "source": "hydra_multirun", "index": 1},
    ]
    assert [read_json(d / "config.json")["_arccnet"]["hydra"]["overrides"] for d in run_dirs] == [
        ["model.lr=0.1"],
        ["model.lr=0.2"],
    ]
