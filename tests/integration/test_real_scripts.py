"""The users' real training scripts run unchanged, and readers of the old files keep working.

The main test runs ``tests/helpers/real_multiclass_script.py`` as users run theirs: ``import pytorch_lightning as pl``
only, a config module with uppercase names, ``vars(config)``, ``save_hyperparameters()``, EarlyStopping,
``trainer.test(ckpt_path="best")``, the old manager's calls in the old order, two trainings in one process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
import torch
from conftest import ScriptedClassifier, TinyData, make_classes, make_trainer, read_json

from arccnet_ckpt import (
    ArcCheckpointCallback,
    ArtifactError,
    ConfigRecord,
    ManagerWarning,
    MulticlassFlareCheckpointManager,
    NamespaceMismatchError,
    load_run,
)

HELPERS = Path(__file__).parents[1] / "helpers"
FIXTURES = Path(__file__).parents[1] / "fixtures"
LEGACY_RUN = "checkpoints/flares/binary_classification/2025-02-12_14-30-45_resnet18_weighted_bce"


def _script(path: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, timeout=300, check=False, cwd=cwd
    )


def test_the_real_multiclass_script_runs_unchanged_twice_in_one_process(tmp_path: Path) -> None:
    done = _script(HELPERS / "real_multiclass_script.py", str(tmp_path / "data"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    results = [json.loads(line[len("RESULT ") :]) for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert [r["fold"] for r in results] == [0, 1]  # the second training did not die on the namespace
    folders = sorted((tmp_path / "data" / "checkpoints" / "flares" / "multiclass").iterdir())
    assert [str(f) for f in folders] == [r["run_dir"] for r in results]
    assert "class names disagree (module: ['C', 'M_X', 'Quiet']; config: ['Quiet', 'C', 'M_X'])" in done.stderr

    for fold, run_dir in enumerate(folders):
        # get_checkpoint_path() was logged at the start and at the end, and names the run folder
        assert done.stdout.count(f"saved to: {run_dir}\n") == 2

        config = read_json(run_dir / "config.json")
        assert config["LEARNING_RATE"] == 1e-4  # json.load(config.json)["LEARNING_RATE"] works as on old runs
        assert config["CLASSES"] == ["Quiet", "C", "M_X"]
        assert config["COMET_API_KEY"] == "***"
        captured = config["_arccnet"]
        assert captured["trainer"]["deterministic"] is True
        assert captured["class_names"] == ["C", "M_X", "Quiet"]  # the label encoder's order names label i
        assert captured["class_name_sources"] == {"module": ["C", "M_X", "Quiet"], "config": ["Quiet", "C", "M_X"]}

        report = read_json(run_dir / "classification_report.json")
        assert {name: row["support"] for name, row in report["per_class"].items()} == {"Quiet": 21, "C": 14, "M_X": 7}

        summary = read_json(run_dir / "training_summary.json")
        assert summary["status"] == "completed"
        assert (summary["fold"], summary["class_names"]) == (fold, ["C", "M_X", "Quiet"])  # from training_metadata
        measured_best = summary["best_metric_value"]
        assert isinstance(measured_best, float)  # the script's best_val_f1=None did not erase it
        assert summary["best_val_f1"] == measured_best
        assert summary["manual_values"]["best_metric_value"] is None
        assert summary["manual_values"]["num_epochs_trained"] == 4  # trainer.current_epoch + 1 after 3 epochs
        assert summary["num_epochs_trained"] == 3
        assert summary["best_model_path"].startswith(f"best-epoch{summary['best_epoch']:02d}-val_f1-")

        minimal = read_json(run_dir / "minimal_logging.json")
        assert minimal["best_val_f1"] == measured_best
        assert minimal["manual_values"]["best_metric_value"] is None
        assert minimal["test_f1"] == summary["test_results"]["test_f1"]  # top-level test keys, as the old files
        assert minimal["test_results"] == summary["test_results"]

        run = load_run(run_dir)
        assert run.config.config["LEARNING_RATE"] == 1e-4


def test_the_old_managers_whole_surface(data_folder: Path) -> None:
    manager = MulticlassFlareCheckpointManager(data_folder=data_folder, model_name="vit", loss_function="focal")
    assert (manager.root_name, manager.model_name, manager.loss_function) == ("flares/multiclass", "vit", "focal")
    assert manager.data_folder == str(data_folder)
    assert isinstance(manager.timestamp, datetime)
    assert manager.timestamp.utcoffset() is not None
    assert manager.get_checkpoint_path() == str(manager.checkpoint_dir)
    assert manager.checkpoint_dir.name == manager.timestamp.strftime("%Y-%m-%d_%H-%M-%S") + "_vit_focal"
    assert manager.training_metadata == {
        "start_time": manager.timestamp.isoformat(),
        "model_name": "vit",
        "loss_function": "focal",
        "root_name": "flares/multiclass",
    }
    assert str(manager) == (
        "MulticlassFlareCheckpointManager(root_name='flares/multiclass', model_name='vit', loss_function='focal', "
        f"checkpoint_dir='{manager.checkpoint_dir}')"
    )
    manager.training_metadata["class_names"] = ["C", "M_X", "Quiet"]
    manager.training_metadata["augment"] = {"flip": True}
    manager.save_training_metadata({"test_results": {"test_f1": 0.8}})
    summary = read_json(manager.checkpoint_dir / "training_summary.json")
    assert summary["class_names"] == ["C", "M_X", "Quiet"]
    assert summary["augment"] == {"flip": True}
    assert summary["start_time"] == manager.timestamp.isoformat()
    assert summary["status"] == "completed"


@pytest.mark.parametrize(
    ("body", "status", "error_type", "message"),
    [
        ("raise ValueError('no such column: goes_class')", "failed", "ValueError", "no such column: goes_class"),
        ("pass", "interrupted", "ScriptEnded", "the script ended before training wrote a record"),
    ],
)
def test_a_script_that_ends_before_training_leaves_a_folder_that_says_so(
    tmp_path: Path, body: str, status: str, error_type: str, message: str
) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from arccnet_ckpt import BinaryClassificationCheckpointManager

            manager = BinaryClassificationCheckpointManager(data_folder={str(tmp_path / "data")!r})
            print(manager.get_checkpoint_path())
            {body}
            """
        )
    )
    done = _script(script, cwd=tmp_path)
    run_dir = Path(done.stdout.strip().splitlines()[0])
    summary = read_json(run_dir / "training_summary.json")
    assert (summary["status"], summary["error"]["type"], summary["error"]["message"]) == (status, error_type, message)
    assert load_run(run_dir).status == status
    if error_type == "ValueError":
        assert done.returncode == 1
        assert "ValueError: no such column: goes_class" in done.stderr  # the user's traceback is still printed


def test_none_from_the_caller_never_erases_a_measured_value(tmp_path: Path, data_folder: Path) -> None:
    manager = MulticlassFlareCheckpointManager(data_folder=data_folder)
    cb = manager.get_checkpoint_callback(monitor="val_f1", mode="max")
    make_trainer(tmp_path, [cb]).fit(ScriptedClassifier(), datamodule=TinyData())
    with pytest.warns(ManagerWarning, match=r"best_metric_value=None differs from the value the callback measured"):
        manager.save_minimal_logging(best_epoch=1, best_metric_value=None, best_metric_name="val_f1")
    with pytest.warns(ManagerWarning, match=r"best_metric_value=None differs"):
        manager.save_training_metadata({"best_val_f1": None})
    for name in ("minimal_logging.json", "training_summary.json"):
        record = read_json(manager.checkpoint_dir / name)
        assert record["best_val_f1"] == pytest.approx(0.9), name
        assert record["manual_values"] == {"best_metric_value": None}, name


def test_class_names_in_the_label_encoders_order_win_over_the_configs(tmp_path: Path, data_folder: Path) -> None:
    config = {"CLASSES": ["Quiet", "C", "M_X"]}
    cb = ArcCheckpointCallback(root_name="flares/multiclass", data_folder=data_folder, config=config)
    model = ScriptedClassifier(class_names=["C", "M_X", "Quiet"])
    trainer = make_trainer(tmp_path, [cb], max_epochs=1)
    with pytest.warns(UserWarning, match=r"the class names disagree \(module: \['C', 'M_X', 'Quiet'\]; config: "):
        trainer.fit(model, datamodule=TinyData())
    trainer.test(model, datamodule=TinyData())
    report = read_json(Path(cb.run_dir) / "classification_report.json")
    assert report["class_names"] == ["C", "M_X", "Quiet"]
    assert list(report["per_class"]) == ["C", "M_X", "Quiet"]

    explicit = ArcCheckpointCallback(root_name="r", data_folder=data_folder, class_names=["a", "b", "c"], config=config)
    with pytest.warns(UserWarning, match=r"argument: \['a', 'b', 'c'\]; module: "):
        make_trainer(tmp_path, [explicit], max_epochs=1).fit(model, datamodule=TinyData())
    captured = read_json(Path(explicit.run_dir) / "config.json")["_arccnet"]
    assert captured["class_names"] == ["a", "b", "c"]
    assert list(captured["class_name_sources"]) == ["argument", "module", "config"]


@pytest.fixture
def restore_determinism():
    enabled, warn_only = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    yield
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def test_every_recorded_trainer_field_is_what_the_trainer_was_given(
    tmp_path: Path, data_folder: Path, restore_determinism, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    given = {
        "max_epochs": 2,
        "min_epochs": 1,
        "max_steps": 50,
        "precision": "bf16-mixed",
        "accumulate_grad_batches": 2,
        "gradient_clip_val": 0.5,
        "check_val_every_n_epoch": 2,
        "val_check_interval": 0.5,
        "deterministic": True,
    }
    make_trainer(tmp_path, [cb], limit_train_batches=4, **given).fit(ScriptedClassifier(), datamodule=TinyData())
    recorded = read_json(Path(cb.run_dir) / "config.json")["_arccnet"]["trainer"]
    assert recorded == {
        **given,
        "accelerator": "cpu",
        "strategy": "single_device",
        "num_devices": 1,
        "num_nodes": 1,
    }


def test_the_data_folder_comes_from_arcaff_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_folder: Path
) -> None:
    monkeypatch.delenv("ARCCNET_DATA_FOLDER", raising=False)
    monkeypatch.setenv("ARCAFF_DATA_FOLDER", str(data_folder))
    manager = MulticlassFlareCheckpointManager()
    assert manager.checkpoint_dir.parent == data_folder / "checkpoints" / "flares" / "multiclass"


def test_config_json_reads_the_same_in_every_version(tmp_path: Path, data_folder: Path) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, config={"LEARNING_RATE": 1e-4, "BATCH": 8})
    make_trainer(tmp_path, [cb], max_epochs=1).fit(ScriptedClassifier(), datamodule=TinyData())
    v2_file = Path(cb.run_dir) / "config.json"
    v2 = read_json(v2_file)
    assert (v2["LEARNING_RATE"], v2["BATCH"], v2["_arccnet"]["schema_version"]) == (1e-4, 8, 2)
    assert list(v2)[-1] == "_arccnet"  # the user's keys first

    v1_dir = tmp_path / "v1"
    v1_dir.mkdir()
    v1 = {"schema_version": 1, "config": {"LEARNING_RATE": 1e-4, "BATCH": 8}, **v2["_arccnet"]}
    v1["schema_version"] = 1
    (v1_dir / "config.json").write_text(json.dumps(v1))

    legacy_dir = tmp_path / "legacy"
    shutil.copytree(FIXTURES / "legacy-runs" / LEGACY_RUN, legacy_dir)

    records = [load_run(d).config for d in (Path(cb.run_dir), v1_dir, legacy_dir)]
    assert all(isinstance(r, ConfigRecord) for r in records)
    assert records[0].config == records[1].config == {"LEARNING_RATE": 1e-4, "BATCH": 8}
    assert records[0].trainer == records[1].trainer
    assert records[0].schema_version == 2
    assert records[1].schema_version == 1
    assert records[2].config["LEARNING_RATE"] == json.loads((legacy_dir / "config.json").read_text())["LEARNING_RATE"]


def test_a_config_key_that_collides_with_the_reserved_one_is_a_clear_error(tmp_path: Path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, config={"_arccnet": 1, "LR": 0.1})
    model = ScriptedClassifier()
    with pytest.raises(ArtifactError, match=r"config\.json: .*the config key '_arccnet' is reserved.*rename that key"):
        make_trainer(tmp_path, [cb], max_epochs=1).fit(model, datamodule=TinyData())
    assert model.steps_run == 0  # refused at fit start, before the first step
    assert not (data_folder / "checkpoints" / "r").exists() or not list((data_folder / "checkpoints" / "r").iterdir())


def test_the_namespace_error_names_the_call_that_chose_it(tmp_path: Path, data_folder: Path) -> None:
    manager = MulticlassFlareCheckpointManager(data_folder=data_folder)
    callback = manager.get_checkpoint_callback(namespace="lightning.pytorch")
    pl_model, pl_data = make_classes("pytorch_lightning")
    trainer = make_trainer(tmp_path, [], namespace="pytorch_lightning", max_epochs=1)
    trainer.callbacks.append(callback)
    with pytest.raises(NamespaceMismatchError, match=r"It came from MulticlassFlareCheckpointManager\.get_checkpoint_"):
        trainer.fit(pl_model(), datamodule=pl_data())


def test_a_requeued_pytorch_lightning_run_keeps_its_record(tmp_path: Path, data_folder: Path) -> None:
    from arccnet_ckpt.pytorch_lightning import ArcCheckpointCallback as PLCallback

    pl_model, pl_data = make_classes("pytorch_lightning")

    def job() -> PLCallback:
        cb = PLCallback(root_name="flares/multiclass", data_folder=data_folder, save_last=True)
        trainer = make_trainer(tmp_path, [cb], namespace="pytorch_lightning", max_epochs=2)
        last = sorted(data_folder.glob("checkpoints/flares/multiclass/*/last.ckpt"))
        model = pl_model(val_scores=(0.5, 0.9, 0.7))
        trainer.fit(model, datamodule=pl_data(), ckpt_path=str(last[0]) if last else None)
        trainer.test(model, datamodule=pl_data(), ckpt_path="best")
        return cb

    first = job()
    before = read_json(Path(first.run_dir) / "training_summary.json")
    requeued = job()  # the cluster runs the same script again: it resumes from last.ckpt, max_epochs already reached
    assert requeued.run_dir == first.run_dir
    after = read_json(Path(first.run_dir) / "training_summary.json")
    for key in ("status", "best_epoch", "best_metric_value", "num_epochs_trained", "end_time", "start_time"):
        assert after[key] == before[key], key
    assert after["resumes"][0]["previous_status"] == "completed"
    assert after["test_results"] == before["test_results"]  # tested again: the same best checkpoint, the same numbers
