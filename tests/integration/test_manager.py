"""The seed's manual API: presets, save_* methods, merging with the callback, and clear errors."""

from __future__ import annotations

import math
import re
import types
from pathlib import Path

import pytest
from conftest import ScriptedClassifier, TinyData, make_classes, make_trainer, read_json

from arccnet_ckpt import (
    ArcCheckpointCallback,
    ArtifactError,
    BinaryClassificationCheckpointManager,
    CheckpointManager,
    CutoutHaleCheckpointManager,
    CutoutMcintoshCheckpointManager,
    MulticlassFlareCheckpointManager,
    load_run,
)
from arccnet_ckpt.manager import ManagerWarning

STAMP = r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}"


def _config_module(data_folder: Path) -> types.ModuleType:
    config = types.ModuleType("binary_config")
    exec(  # noqa: S102 - a config module like the seed's arccnet.models.flares.binary_classification.config
        f"import os\nDATA_FOLDER = {str(data_folder)!r}\nMODEL_NAME = 'resnet18'\nLOSS_FUNCTION = 'weighted_bce'\n"
        "BATCH_SIZE = 8\nLEARNING_RATE = 0.1\nCOMET_API_KEY = 'do-not-write-me'\n",
        config.__dict__,
    )
    return config


def test_the_seed_script_runs_with_only_the_import_changed(tmp_path: Path, data_folder: Path) -> None:
    config = _config_module(data_folder)

    # --- the seed's snippet, verbatim apart from the import path -----------------------------------------
    checkpoint_manager = BinaryClassificationCheckpointManager(
        data_folder=config.DATA_FOLDER,
        model_name=config.MODEL_NAME,  # e.g., "resnet18"
        loss_function=config.LOSS_FUNCTION,  # e.g., "weighted_bce"
    )
    checkpoint_callback = checkpoint_manager.get_checkpoint_callback(monitor="val_f1", mode="max")
    checkpoint_manager.save_config(vars(config))
    trainer = make_trainer(tmp_path, [checkpoint_callback])
    model = ScriptedClassifier(val_scores=(0.5, 0.9, 0.7))
    trainer.fit(model, datamodule=TinyData())
    test_results = trainer.test(model, datamodule=TinyData(), ckpt_path="best")
    best_f1_score = float(checkpoint_callback.best_model_score)
    with pytest.warns(ManagerWarning) as kept:
        checkpoint_manager.save_training_metadata(
            {
                "best_epoch": trainer.current_epoch,
                "num_epochs_trained": trainer.current_epoch + 1,
                "test_results": test_results[0] if test_results else {},
            }
        )
    checkpoint_manager.save_classification_report(
        {"test_metrics": test_results[0], "model_name": config.MODEL_NAME, "loss_function": config.LOSS_FUNCTION}
    )
    with pytest.warns(ManagerWarning, match=r"minimal_logging\.json: best_epoch=3 differs from the value the callback"):
        checkpoint_manager.save_minimal_logging(
            best_epoch=trainer.current_epoch,
            best_metric_value=best_f1_score,
            best_metric_name="val_f1",
            num_epochs_trained=trainer.current_epoch + 1,
        )
    # -----------------------------------------------------------------------------------------------------
    assert [str(w.message).split(";")[0] for w in kept] == [
        "training_summary.json: best_epoch=3 differs from the value the callback measured (1)",
        "training_summary.json: num_epochs_trained=4 differs from the value the callback measured (3)",
    ]

    run_dir = Path(checkpoint_manager.checkpoint_dir)
    assert run_dir.parent == data_folder / "checkpoints" / "flares" / "binary_classification"
    assert re.fullmatch(STAMP + "_resnet18_weighted_bce", run_dir.name)
    assert (run_dir / "best-epoch01-val_f1-0.900.ckpt").is_file()

    run = load_run(run_dir)
    assert run.config.config == {
        "DATA_FOLDER": str(data_folder),
        "MODEL_NAME": "resnet18",
        "LOSS_FUNCTION": "weighted_bce",
        "BATCH_SIZE": 8,
        "LEARNING_RATE": 0.1,
        "COMET_API_KEY": "***",
    }
    assert run.config.trainer.max_epochs == 3  # the callback's capture is kept next to the manual config
    # The seed's wrong values (trainer.current_epoch is the epoch after the last) never replace the measured ones:
    # they are kept beside them, under manual_values, after the warning.
    assert (run.summary.best_epoch, run.summary.num_epochs_trained) == (1, 3)
    assert run.summary.manual_values == {"best_epoch": 3, "num_epochs_trained": 4}
    assert (run.minimal.best_epoch, run.minimal.num_epochs_trained) == (1, 3)
    assert run.minimal.manual_values == {"best_epoch": 3, "num_epochs_trained": 4}
    assert run.summary.best_model_path == "best-epoch01-val_f1-0.900.ckpt"
    assert run.summary.test_results == pytest.approx(test_results[0])
    assert run.report.test_metrics == pytest.approx(test_results[0])
    assert run.report.per_class is not None  # the callback's per-class report survives the manual save
    assert run.minimal.best_metric_value == pytest.approx(0.9)
    assert run.minimal.model_extra["best_val_f1"] == pytest.approx(0.9)
    assert "do-not-write-me" not in (run_dir / "config.json").read_text()


@pytest.mark.parametrize(
    ("cls", "root", "model", "loss"),
    [
        (BinaryClassificationCheckpointManager, "flares/binary_classification", "resnet18", "weighted_bce"),
        (MulticlassFlareCheckpointManager, "flares/multiclass", "vit_base_patch32_224", "focal"),
        (CutoutHaleCheckpointManager, "cutouts/hale", "unknown", "cross_entropy"),
        (CutoutMcintoshCheckpointManager, "cutouts/mcintosh", "unknown", "cross_entropy"),
    ],
)
def test_presets_fix_root_name_and_defaults(data_folder, cls, root, model, loss) -> None:
    manager = cls(data_folder=data_folder)
    assert manager.root_name == root
    assert manager.checkpoint_dir.parent == data_folder / "checkpoints" / Path(root)
    assert re.fullmatch(f"{STAMP}_{model}_{loss}", manager.checkpoint_dir.name)
    assert manager.checkpoint_dir.is_dir()


def test_a_custom_subclass_adds_a_new_kind(data_folder) -> None:
    class ActiveRegionCheckpointManager(CheckpointManager):
        def __init__(self, data_folder=None, model_name="unknown", loss_function="unknown"):
            super().__init__(
                root_name="active_regions/classification",
                data_folder=data_folder,
                model_name=model_name,
                loss_function=loss_function,
            )

    manager = ActiveRegionCheckpointManager(data_folder=data_folder, model_name="unet")
    assert manager.checkpoint_dir.parent == data_folder / "checkpoints" / "active_regions" / "classification"
    path = manager.save_training_metadata({"best_epoch": 4, "num_epochs_trained": 5})
    summary = read_json(path)
    assert (summary["model_name"], summary["root_name"], summary["status"]) == (
        "unet",
        "active_regions/classification",
        "completed",
    )
    assert summary["start_time"].endswith("+00:00")


def test_two_managers_in_the_same_second_get_two_folders(data_folder) -> None:
    folders = {CheckpointManager("custom/x", data_folder=data_folder).checkpoint_dir for _ in range(3)}
    assert len(folders) == 3


def test_every_save_method_writes_a_valid_file_without_a_trainer(data_folder) -> None:
    manager = CheckpointManager("custom/model_type", data_folder=data_folder, model_name="m", loss_function="l")
    manager.save_config({"lr": 1e-3, "IMAGE_SIZE": (224, 224), "token": "abc"})
    manager.save_training_metadata(
        {"best_epoch": 2, "num_epochs_trained": 3, "test_results": {"test_f1": 0.8}, "best_val_f1": 0.85, "note": "x"}
    )
    manager.save_classification_report(
        {"test_metrics": {"test_f1": 0.8, "test_loss": math.nan}, "class_names": ["a", "b"], "comment": "kept"}
    )
    manager.save_minimal_logging(
        best_epoch=2, best_metric_value=math.nan, num_epochs_trained=3, additional_metrics={"lr": 1e-3}
    )
    run = load_run(manager.checkpoint_dir)
    assert run.config.config == {"lr": 1e-3, "IMAGE_SIZE": [224, 224], "token": "***"}
    assert run.summary.best_epoch == 2
    assert run.summary.best_metric_value == pytest.approx(0.85)
    assert run.summary.monitor == "val_f1"
    assert run.summary.model_extra["note"] == "x"  # unknown keys are kept
    assert run.report.test_metrics == {"test_f1": 0.8, "test_loss": None}
    assert run.report.model_extra["comment"] == "kept"
    minimal = read_json(Path(manager.checkpoint_dir) / "minimal_logging.json")
    assert minimal["best_metric_value"] is None
    assert minimal["best_val_f1"] is None
    assert minimal["status"] == "completed"
    assert minimal["additional_metrics"] == {"lr": 1e-3}


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: m.save_training_metadata({"best_epoch": "two"}), r"training_summary\.json.*'best_epoch'"),
        (lambda m: m.save_training_metadata({"status": "exploded"}), r"training_summary\.json.*'status'.*'running'"),
        (lambda m: m.save_training_metadata(["not", "a", "dict"]), r"training_summary\.json: expected a dict"),
        (lambda m: m.save_classification_report({"class_names": "abc"}), r"classification_report\.json.*class_names"),
        (lambda m: m.save_minimal_logging(best_epoch=1, best_metric_value=0.5), r"'num_epochs_trained' is required"),
        (
            lambda m: m.save_minimal_logging(best_epoch="x", best_metric_value=0.5, num_epochs_trained=1),
            r"minimal_logging\.json.*'best_epoch'",
        ),
    ],
)
def test_bad_values_raise_naming_file_and_field_and_write_nothing(data_folder, call, match) -> None:
    manager = CheckpointManager("custom/x", data_folder=data_folder)
    with pytest.raises(ArtifactError, match=match):
        call(manager)
    assert list(Path(manager.checkpoint_dir).iterdir()) == []


def test_a_bad_value_leaves_the_previous_file_intact(data_folder) -> None:
    manager = CheckpointManager("custom/x", data_folder=data_folder)
    path = manager.save_training_metadata({"best_epoch": 2, "num_epochs_trained": 3})
    before = Path(path).read_text()
    with pytest.raises(ArtifactError, match="'num_epochs_trained'"):
        manager.save_training_metadata({"num_epochs_trained": "many"})
    assert Path(path).read_text() == before
    assert [p.name for p in Path(manager.checkpoint_dir).iterdir()] == ["training_summary.json"]


def test_bad_root_name_is_rejected(data_folder) -> None:
    with pytest.raises(ValueError, match=r"'\.\.' is not allowed"):
        CheckpointManager("../escape", data_folder=data_folder)


def test_get_checkpoint_callback_for_the_pytorch_lightning_namespace(tmp_path, data_folder) -> None:
    from arccnet_ckpt.pytorch_lightning import ArcCheckpointCallback as PLCallback

    manager = MulticlassFlareCheckpointManager(data_folder=data_folder, model_name="vit")
    cb = manager.get_checkpoint_callback("val_f1", "max", namespace="pytorch_lightning", class_names=["Q", "C", "MX"])
    assert isinstance(cb, PLCallback)
    assert not isinstance(cb, ArcCheckpointCallback)
    model_cls, data_cls = make_classes("pytorch_lightning")
    trainer = make_trainer(tmp_path, [cb], namespace="pytorch_lightning", max_epochs=2)
    model = model_cls()
    trainer.fit(model, datamodule=data_cls())
    trainer.test(model, datamodule=data_cls(), ckpt_path="best")
    run = load_run(manager.checkpoint_dir)
    assert run.summary.model_name == "vit"
    assert list(run.report.per_class) == ["Q", "C", "MX"]
    with pytest.raises(ValueError, match="namespace must be"):
        manager.get_checkpoint_callback(namespace="keras")
