"""ArcCheckpointCallback with a real Trainer: folder layout, every file's fields, failure and inference rules."""

from __future__ import annotations

import math
import os
import re
import types
from datetime import datetime, timezone
from pathlib import Path

import pytest
import torch
from conftest import ScriptedClassifier, TinyData, make_classes, make_trainer, read_json, user_config
from lightning.pytorch import seed_everything
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from arccnet_ckpt import (
    ArcCheckpointCallback,
    ClassificationReport,
    ConfigRecord,
    MinimalLogging,
    NamespaceMismatchError,
    RunFolderError,
    TrainingSummary,
    load_run,
)
from arccnet_ckpt.lightning import run as run_module

RUN_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_(?P<model>.+)_(?P<loss>[^_]+)$")


def _fit(tmp_path: Path, cb: ArcCheckpointCallback, model=None, extra_callbacks=(), **trainer_kwargs):
    model = model or ScriptedClassifier()
    trainer = make_trainer(tmp_path, [cb, *extra_callbacks], **trainer_kwargs)
    trainer.fit(model, datamodule=TinyData())
    return trainer, model


def test_fit_and_test_write_the_complete_folder(tmp_path: Path, data_folder: Path) -> None:
    seed_everything(7)
    cb = ArcCheckpointCallback(
        root_name="flares/binary_classification",
        data_folder=data_folder,
        model_name="resnet18",
        loss_function="weighted_bce",
        config={"lr": 0.1, "BATCH_SIZE": 8},
    )
    stopper = EarlyStopping("val_f1", mode="max", patience=5)
    trainer, model = _fit(tmp_path, cb, extra_callbacks=[stopper])
    trainer.test(model, datamodule=TinyData(), ckpt_path="best")

    run_dir = Path(cb.run_dir)
    assert run_dir.parent == data_folder / "checkpoints" / "flares" / "binary_classification"
    assert re.match(r"^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_resnet18_weighted_bce$", run_dir.name)
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "best-epoch01-val_f1-0.900.ckpt",
        "classification_report.json",
        "config.json",
        "history.json",
        "minimal_logging.json",
        "report.html",
        "training_summary.json",
    ]

    summary = TrainingSummary.model_validate(read_json(run_dir / "training_summary.json"))
    assert summary.status == "completed"
    assert summary.best_epoch == 1  # scores 0.5, 0.9, 0.7: the best epoch is not the last one
    assert summary.best_metric_value == pytest.approx(0.9)
    assert summary.model_extra["best_val_f1"] == pytest.approx(0.9)
    assert summary.best_model_path == "best-epoch01-val_f1-0.900.ckpt"
    assert summary.num_epochs_trained == 3
    assert summary.global_step == 6
    assert summary.early_stopping_triggered is False
    assert summary.early_stopping[0].reason == "NOT_STOPPED"
    assert summary.early_stopping[0].patience == 5
    assert summary.run_name == run_dir.name
    assert summary.root_name == "flares/binary_classification"
    assert (summary.monitor, summary.mode) == ("val_f1", "max")
    assert summary.start_time < summary.end_time
    assert summary.duration_seconds == pytest.approx((summary.end_time - summary.start_time).total_seconds())
    assert set(summary.test_results) == {"test_loss", "test_accuracy"}
    assert summary.error is None

    raw = read_json(run_dir / "training_summary.json")
    assert raw["schema_version"] == 2  # version 2: resumes[].restart_count
    assert raw["start_time"].endswith("+00:00")

    config = ConfigRecord.model_validate(read_json(run_dir / "config.json"))
    assert config.config == {"lr": 0.1, "BATCH_SIZE": 8}
    assert config.hparams["val_scores"] == [0.5, 0.9, 0.7]
    assert config.datamodule_hparams == {"num_classes": 3, "batch_size": 8, "class_names": None}
    assert config.trainer.max_epochs == 3
    assert config.trainer.accelerator == "cpu"
    assert config.trainer.num_devices == 1
    assert config.optimizers[0].class_path == "torch.optim.sgd.SGD"
    assert config.optimizers[0].settings["defaults"]["lr"] == 0.1
    es = next(c for c in config.callbacks if c.class_path.endswith("EarlyStopping"))
    assert es.settings["patience"] == 5
    assert es.settings["monitor"] == "val_f1"
    assert config.model.total_parameters == 8 * 3 + 3
    assert config.environment.torch == torch.__version__
    assert config.seed == 7

    minimal = MinimalLogging.model_validate(read_json(run_dir / "minimal_logging.json"))
    assert (minimal.best_epoch, minimal.num_epochs_trained, minimal.status) == (1, 3, "completed")
    assert minimal.best_metric_name == "val_f1"
    assert minimal.model_extra["best_val_f1"] == pytest.approx(0.9)

    report = ClassificationReport.model_validate(read_json(run_dir / "classification_report.json"))
    assert report.checkpoint == "best-epoch01-val_f1-0.900.ckpt"
    assert report.model_name == "resnet18"
    assert report.test_metrics == summary.test_results
    assert report.class_names == list(report.per_class) == ["0", "1", "2"]  # no names given: the default ones
    assert report.num_samples == 24

    run = load_run(cb.run_dir)
    assert run.summary == summary
    assert Path(run.best_checkpoint) == run_dir / "best-epoch01-val_f1-0.900.ckpt"


@pytest.mark.parametrize(
    ("scores", "stopper_kwargs", "epochs", "triggered", "reason", "best_epoch"),
    [
        ((0.5, 0.9, 0.7, 0.6, 0.5), {"patience": 1}, 3, True, "PATIENCE_EXHAUSTED", 1),
        ((0.5, 0.9, 0.7, 0.6, 0.5), {"patience": 10}, 5, False, "NOT_STOPPED", 1),
        ((0.5,), {"patience": 3, "stopping_threshold": 0.4}, 1, True, "STOPPING_THRESHOLD", 0),
    ],
    ids=["stops", "last-epoch-no-improvement-is-not-a-stop", "stops-at-epoch-0"],
)
def test_early_stopping_is_recorded_only_when_it_stopped(
    tmp_path, data_folder, scores, stopper_kwargs, epochs, triggered, reason, best_epoch
) -> None:
    cb = ArcCheckpointCallback(root_name="flares/multiclass", data_folder=data_folder)
    stopper = EarlyStopping("val_f1", mode="max", **stopper_kwargs)
    _fit(tmp_path, cb, model=ScriptedClassifier(val_scores=scores), extra_callbacks=[stopper], max_epochs=5)
    summary = read_json(Path(cb.run_dir) / "training_summary.json")
    assert summary["num_epochs_trained"] == epochs
    assert summary["early_stopping_triggered"] is triggered
    assert summary["early_stopping"][0]["reason"] == reason
    assert summary["best_epoch"] == best_epoch
    minimal = read_json(Path(cb.run_dir) / "minimal_logging.json")
    assert minimal["early_stopping_triggered"] is triggered
    assert minimal["num_epochs_trained"] == epochs
    if triggered:
        assert summary["early_stopping"][0]["stopped_epoch"] == epochs - 1
        assert summary["early_stopping"][0]["message"]


@pytest.mark.parametrize(
    ("model_name", "loss_function", "expected"),
    [
        ("timm/resnet18", "focal", "timm_resnet18_focal"),
        ("vit base", "cross entropy", "vit_base_cross_entropy"),
        ("../../etc", "a\\b:c*d?e", "etc_a_b_c_d_e"),
        ("résnet", "fócal", "resnet_focal"),
    ],
)
def test_model_and_loss_names_become_one_safe_segment(
    tmp_path, data_folder, model_name, loss_function, expected
) -> None:
    cb = ArcCheckpointCallback(
        root_name="cutouts/hale", data_folder=data_folder, model_name=model_name, loss_function=loss_function
    )
    _fit(tmp_path, cb, max_epochs=1)
    run_dir = Path(cb.run_dir)
    assert run_dir.parent == data_folder / "checkpoints" / "cutouts" / "hale"
    assert run_dir.name.endswith("_" + expected)
    summary = read_json(run_dir / "training_summary.json")
    assert (summary["model_name"], summary["loss_function"]) == (model_name, loss_function)


def test_a_300_character_name_is_bounded(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, model_name="m" * 300, loss_function="l")
    _fit(tmp_path, cb, max_epochs=1)
    assert len(Path(cb.run_dir).name) < 100


@pytest.mark.parametrize(
    ("root_name", "match"),
    [
        ("../outside", r"'\.\.' is not allowed"),
        ("flares/../../x", r"'\.\.' is not allowed"),
        ("/abs/path", "is absolute"),
        ("flares//binary", "empty segment"),
        ("flares/", "empty segment"),
        ("flares\\binary", "backslash"),
        ("fla\x00res", "NUL"),
        ("", "must not be empty"),
        ("flares/bin ary", "use letters, digits"),
    ],
)
def test_bad_root_names_are_rejected_at_construction(root_name, match) -> None:
    with pytest.raises(ValueError, match=match):
        ArcCheckpointCallback(root_name=root_name)


def test_root_name_or_dirpath_is_required() -> None:
    with pytest.raises(ValueError, match="needs root_name="):
        ArcCheckpointCallback()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"class_names": "abc"}, "list of strings"),
        ({"class_names": ["a"]}, "at least two"),
        ({"class_names": ["a", "a"]}, "unique"),
        ({"model_name": ""}, "non-empty string"),
        ({"threshold": "high"}, "must be a number"),
        ({"monitor": "val{f1}"}, "cannot appear in the checkpoint file name"),
    ],
)
def test_bad_arguments_say_what_is_allowed(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        ArcCheckpointCallback(root_name="flares/multiclass", **kwargs)


def test_monitor_with_a_slash_never_makes_a_subfolder(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, monitor="val/f1")
    _fit(tmp_path, cb, model=ScriptedClassifier(monitor_name="val/f1"))
    run_dir = Path(cb.run_dir)
    assert (run_dir / "best-epoch01-val_f1-0.900.ckpt").is_file()
    assert not any(p.is_dir() for p in run_dir.iterdir())
    summary = read_json(run_dir / "training_summary.json")
    assert summary["best_val/f1"] == pytest.approx(0.9)


def test_a_config_module_contributes_its_public_values_json_safe(tmp_path, data_folder) -> None:
    config = types.ModuleType("train_config")
    exec(  # noqa: S102 - builds a config module the way a user's config.py looks
        "import os\nfrom pathlib import Path\nimport torch\n"
        "DATA_FOLDER = Path('/ARCAFF/data')\nMODEL_NAME = 'resnet18'\nLOSS_TYPE = 'focal'\n"
        "IMAGE_SIZE = (224, 224)\nCLASS_WEIGHTS = torch.tensor([1.0, 2.5])\nlearning_rate = 3e-4\n"
        "COMET_API_KEY = 'sekrit'\nLOGGING = {'comet': {'api_key': 'x', 'project': 'flares'}}\n"
        "DB_URL = 'postgres://user:hunter2@db.example/arc'\nDTYPE = torch.float16\n_private = 1\n"
        "def helper():\n    return 1\nclass Thing:\n    pass\n",
        config.__dict__,
    )
    cb = ArcCheckpointCallback(root_name="flares/multiclass", data_folder=data_folder, config=config)
    _fit(tmp_path, cb, max_epochs=1)
    run_dir = Path(cb.run_dir)
    saved = user_config(read_json(run_dir / "config.json"))  # the config's keys at the top level, as of old
    assert saved == {
        "DATA_FOLDER": "/ARCAFF/data",
        "MODEL_NAME": "resnet18",
        "LOSS_TYPE": "focal",
        "IMAGE_SIZE": [224, 224],
        "CLASS_WEIGHTS": [1.0, 2.5],
        "learning_rate": 3e-4,
        "COMET_API_KEY": "***",
        "LOGGING": {"comet": {"api_key": "***", "project": "flares"}},
        "DB_URL": "postgres://user:***@db.example/arc",
        "DTYPE": "torch.float16",
    }
    assert run_dir.name.endswith("_resnet18_focal")  # names inferred from the config
    everything = "".join(p.read_text() for p in run_dir.glob("*.json"))
    assert "sekrit" not in everything
    assert "hunter2" not in everything


def test_secrets_in_hparams_and_datamodule_hparams_are_redacted(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    model = ScriptedClassifier(wandb_api_key="abc123", tracker={"token": "tok-9", "url": "https://u:pw9@x.org"})
    _fit(tmp_path, cb, model=model, max_epochs=1)
    config = read_json(Path(cb.run_dir) / "config.json")["_arccnet"]
    assert config["hparams"]["wandb_api_key"] == "***"
    assert config["hparams"]["tracker"] == {"token": "***", "url": "https://u:***@x.org"}


def test_nan_metric_is_written_as_null(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    _fit(tmp_path, cb, model=ScriptedClassifier(val_scores=(math.nan,)), max_epochs=2)
    run_dir = Path(cb.run_dir)
    summary = read_json(run_dir / "training_summary.json")  # strict parse: no NaN token
    assert summary["best_metric_value"] is None
    assert summary["best_val_f1"] is None
    assert read_json(run_dir / "minimal_logging.json")["best_metric_value"] is None


def test_two_runs_in_the_same_second_get_two_folders(tmp_path, data_folder, monkeypatch) -> None:
    fixed = datetime(2025, 2, 12, 14, 30, 45, tzinfo=timezone.utc)
    monkeypatch.setattr(run_module, "_utcnow", lambda: fixed)
    first = ArcCheckpointCallback(root_name="r", data_folder=data_folder, model_name="m", loss_function="l")
    second = ArcCheckpointCallback(root_name="r", data_folder=data_folder, model_name="m", loss_function="l")
    _fit(tmp_path, first, max_epochs=1)
    _fit(tmp_path, second, max_epochs=1)
    assert Path(first.run_dir).name == "2025-02-12_14-30-45_m_l"
    assert Path(second.run_dir).name == "2025-02-12_14-30-45_m_l-2"
    for cb in (first, second):
        files = sorted(p.name for p in Path(cb.run_dir).iterdir())
        assert files == [
            "best-epoch00-val_f1-0.500.ckpt",
            "config.json",
            "history.json",
            "minimal_logging.json",
            "training_summary.json",
        ]
        assert read_json(Path(cb.run_dir) / "training_summary.json")["run_name"] == Path(cb.run_dir).name


def test_explicit_dirpath_and_filename_are_used_as_given(tmp_path) -> None:
    folder = tmp_path / "my_run"
    cb = ArcCheckpointCallback(dirpath=folder, filename="{epoch}-custom", model_name="m", loss_function="l")
    _fit(tmp_path, cb)
    assert Path(cb.run_dir) == folder.resolve()
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "epoch=1-custom.ckpt",
        "history.json",
        "minimal_logging.json",
        "training_summary.json",
    ]
    summary = read_json(folder / "training_summary.json")
    assert (summary["best_model_path"], summary["best_epoch"], summary["root_name"]) == ("epoch=1-custom.ckpt", 1, None)


def test_drop_in_model_checkpoint_features_keep_working(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, save_last=True, save_top_k=2)
    trainer, _ = _fit(tmp_path, cb, model=ScriptedClassifier(val_scores=(0.5, 0.9, 0.7)))
    run_dir = Path(cb.run_dir)
    ckpts = sorted(p.name for p in run_dir.glob("*.ckpt"))
    assert ckpts == ["best-epoch01-val_f1-0.900.ckpt", "best-epoch02-val_f1-0.700.ckpt", "last.ckpt"]
    assert isinstance(cb, ModelCheckpoint)
    assert trainer.checkpoint_callback is cb
    assert Path(cb.best_model_path).name == "best-epoch01-val_f1-0.900.ckpt"
    summary = read_json(run_dir / "training_summary.json")
    assert summary["last_model_path"] == "last.ckpt"
    assert summary["best_epoch"] == 1


def test_crash_in_training_step_records_a_failed_run_and_propagates(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    with pytest.raises(RuntimeError, match="boom in training_step"):
        _fit(tmp_path, cb, model=ScriptedClassifier(fail_at_step=3))
    run_dir = Path(cb.run_dir)
    summary = TrainingSummary.model_validate(read_json(run_dir / "training_summary.json"))
    assert summary.status == "failed"
    assert summary.error.type == "RuntimeError"
    assert summary.error.message == "boom in training_step"
    assert "training_step" in summary.error.traceback
    assert summary.num_epochs_trained == 1  # epoch 0 completed, epoch 1 crashed
    assert summary.end_time is not None
    minimal = read_json(run_dir / "minimal_logging.json")
    assert minimal["status"] == "failed"
    assert read_json(run_dir / "config.json")["_arccnet"]["schema_version"] == 2


def test_keyboard_interrupt_records_an_interrupted_run(tmp_path, data_folder) -> None:
    class Interrupting(ScriptedClassifier):
        def training_step(self, batch, batch_idx):
            if self.global_step == 2:
                raise KeyboardInterrupt
            return super().training_step(batch, batch_idx)

    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    with pytest.raises(SystemExit):  # Lightning turns Ctrl-C into a graceful shutdown and sys.exit(1)
        _fit(tmp_path, cb, model=Interrupting())
    summary = read_json(Path(cb.run_dir) / "training_summary.json")
    assert summary["status"] == "interrupted"
    assert summary["error"]["type"] == "KeyboardInterrupt"


def test_test_only_trainer_writes_into_the_checkpoints_run_folder(tmp_path, data_folder) -> None:
    fit_cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    _fit(tmp_path, fit_cb)
    best = fit_cb.best_model_path

    test_cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    model = ScriptedClassifier()
    make_trainer(tmp_path, [test_cb]).test(model, datamodule=TinyData(), ckpt_path=best)

    assert test_cb.run_dir == fit_cb.run_dir
    assert len(list((data_folder / "checkpoints" / "r").iterdir())) == 1
    run_dir = Path(fit_cb.run_dir)
    report = read_json(run_dir / "classification_report.json")
    assert report["checkpoint"] == Path(best).name
    summary = read_json(run_dir / "training_summary.json")
    assert summary["status"] == "completed"
    assert summary["best_epoch"] == 1
    assert set(summary["test_results"]) == {"test_loss", "test_accuracy"}


def test_unusable_data_folder_fails_before_the_first_step(tmp_path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    cb = ArcCheckpointCallback(root_name="r", data_folder=blocker)
    model = ScriptedClassifier()
    with pytest.raises(RunFolderError, match=r"data: is a file, not a folder"):
        _fit(tmp_path, cb, model=model)
    assert model.steps_run == 0
    assert blocker.read_text() == "a file where the data folder should be"


def test_names_are_inferred_from_hparams_and_the_loss_attribute(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    _fit(tmp_path, cb, model=ScriptedClassifier(backbone="efficientnet_b0"), max_epochs=1)
    assert Path(cb.run_dir).name.endswith("_efficientnet_b0_CrossEntropyLoss")

    cb2 = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    _fit(tmp_path, cb2, max_epochs=1)
    assert Path(cb2.run_dir).name.endswith("_ScriptedClassifier_CrossEntropyLoss")


def test_class_names_come_from_the_datamodule(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    model = ScriptedClassifier()
    dm = TinyData(class_names=["Quiet", "C", "M_X"])
    trainer = make_trainer(tmp_path, [cb], max_epochs=1)
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm)
    report = read_json(Path(cb.run_dir) / "classification_report.json")
    assert report["class_names"] == ["Quiet", "C", "M_X"]
    assert report["checkpoint"] is None  # tested the weights in memory, not a file


def test_state_dict_carries_the_run_and_resume_continues_in_the_same_folder(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, save_last=True)
    _fit(tmp_path, cb, model=ScriptedClassifier(val_scores=(0.5, 0.9, 0.7, 0.95, 0.1)), max_epochs=2)
    first = read_json(Path(cb.run_dir) / "training_summary.json")
    assert cb.state_dict()["arc_run"]["run_dir"] == cb.run_dir

    resumed = ArcCheckpointCallback(root_name="r", data_folder=data_folder, save_last=True)
    trainer = make_trainer(tmp_path, [resumed], max_epochs=4)
    trainer.fit(
        ScriptedClassifier(val_scores=(0.5, 0.9, 0.7, 0.95, 0.1)),
        datamodule=TinyData(),
        ckpt_path=os.path.join(cb.run_dir, "last.ckpt"),
    )
    assert resumed.run_dir == cb.run_dir
    assert len(list((data_folder / "checkpoints" / "r").iterdir())) == 1
    summary = read_json(Path(cb.run_dir) / "training_summary.json")
    assert summary["start_time"] == first["start_time"]
    assert summary["resumed_from"] == "last.ckpt"
    assert summary["num_epochs_trained"] == 4
    assert summary["best_epoch"] == 3
    assert summary["best_model_path"] == "best-epoch03-val_f1-0.950.ckpt"


def test_pytorch_lightning_namespace(tmp_path, data_folder) -> None:
    from arccnet_ckpt.pytorch_lightning import ArcCheckpointCallback as PLCallback

    pl_model_cls, pl_data_cls = make_classes("pytorch_lightning")
    from pytorch_lightning.callbacks import EarlyStopping as PLEarlyStopping

    cb = PLCallback(root_name="cutouts/mcintosh", data_folder=data_folder, class_names=["A", "B", "C"])
    trainer = make_trainer(
        tmp_path, [cb, PLEarlyStopping("val_f1", mode="max", patience=1)], namespace="pytorch_lightning", max_epochs=5
    )
    model = pl_model_cls(val_scores=(0.5, 0.9, 0.7, 0.6))
    trainer.fit(model, datamodule=pl_data_cls())
    trainer.test(model, datamodule=pl_data_cls(), ckpt_path="best")
    run = load_run(cb.run_dir)
    assert run.summary.status == "completed"
    assert run.summary.best_epoch == 1
    assert run.summary.early_stopping_triggered is True
    assert run.summary.num_epochs_trained == 3
    assert run.report.class_names == ["A", "B", "C"]
    assert run.report.checkpoint == "best-epoch01-val_f1-0.900.ckpt"
    assert run.config.environment.lightning is not None


@pytest.mark.parametrize("namespace", ["lightning.pytorch", "pytorch_lightning"])
def test_a_callback_of_the_other_namespace_is_refused(tmp_path, data_folder, namespace) -> None:
    if namespace == "lightning.pytorch":
        from arccnet_ckpt.pytorch_lightning import ArcCheckpointCallback as Wrong
    else:
        Wrong = ArcCheckpointCallback
    model_cls, data_cls = make_classes(namespace)
    cb = Wrong(root_name="r", data_folder=data_folder)
    trainer = make_trainer(tmp_path, [cb], namespace=namespace, max_epochs=1)
    with pytest.raises(NamespaceMismatchError, match="separate class trees"):
        trainer.fit(model_cls(), datamodule=data_cls())
    assert not (data_folder / "checkpoints").exists()


def test_signature_lists_every_model_checkpoint_argument_with_its_default() -> None:
    import inspect

    ours = inspect.signature(ArcCheckpointCallback.__init__).parameters
    theirs = inspect.signature(ModelCheckpoint.__init__).parameters
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in ours.values())
    for name, param in theirs.items():
        if name == "self":
            continue
        assert name in ours, name
        expected = {"monitor": "val_f1", "mode": "max", "save_top_k": 1}.get(name, param.default)
        assert ours[name].default == expected, name


def test_lightning_cli_builds_the_callback_from_its_signature(tmp_path) -> None:
    from lightning.pytorch.cli import LightningCLI

    cli = LightningCLI(
        ScriptedClassifier,
        TinyData,
        run=False,
        args=[
            "--trainer.callbacks+=arccnet_ckpt.ArcCheckpointCallback",
            "--trainer.callbacks.root_name=cutouts/hale",
            f"--trainer.callbacks.data_folder={tmp_path / 'data'}",
            "--trainer.callbacks.class_names=[alpha,beta,gamma]",
            "--trainer.logger=false",
            f"--trainer.default_root_dir={tmp_path}",
        ],
    )
    (cb,) = [c for c in cli.trainer.callbacks if isinstance(c, ArcCheckpointCallback)]
    assert cb.root_name == "cutouts/hale"
    assert cb.class_names == ["alpha", "beta", "gamma"]
    assert (cb.monitor, cb.mode, cb.save_top_k) == ("val_f1", "max", 1)
    assert cli.trainer.checkpoint_callback is cb


def test_a_callback_with_a_config_module_pickles_for_ddp_spawn(tmp_path) -> None:
    import copy
    import pickle

    config = types.ModuleType("cfg")
    exec("import os\nMODEL_NAME = 'r18'\nSEED = 3\n", config.__dict__)  # noqa: S102
    cb = ArcCheckpointCallback(root_name="r", data_folder=tmp_path, config=config)
    clone = pickle.loads(pickle.dumps(cb))  # noqa: S301 - our own bytes
    assert clone.config == {"MODEL_NAME": "r18", "SEED": 3}
    assert cb.config is config  # the original keeps the module
    assert copy.deepcopy(cb).config == {"MODEL_NAME": "r18", "SEED": 3}


def test_run_dir_is_known_in_the_main_process_after_ddp_spawn(tmp_path) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=tmp_path)
    assert cb.run_dir is None
    # what Lightning's spawn launcher sets in the main process from the workers' results
    cb.best_model_path = str(tmp_path / "checkpoints" / "r" / "run-1" / "best-epoch01-val_f1-0.900.ckpt")
    assert cb.run_dir == str(tmp_path / "checkpoints" / "r" / "run-1")


def test_the_best_epoch_is_known_for_a_weights_only_save_with_a_name_of_its_own(tmp_path, data_folder) -> None:
    # Lightning skips the callback's on_save_checkpoint for weights-only saves, and the file name holds no epoch.
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, save_weights_only=True, filename="weights")
    _fit(tmp_path, cb, max_epochs=3)
    summary = read_json(Path(cb.run_dir) / "training_summary.json")
    assert Path(summary["best_model_path"]).name.startswith("weights")
    assert summary["best_epoch"] == 1  # ScriptedClassifier's val_f1 peaks at epoch 1
