"""The users' cross-validation loop: a new Trainer and a new callback per fold, one shared ``dirpath``.

Shaped like their script: ``import pytorch_lightning as pl``, ``save_hyperparameters()``, EarlyStopping,
``trainer.test(ckpt_path="best")`` per fold. No fold may overwrite another's record; the folds are one group.
"""

from __future__ import annotations

import json
import uuid
import warnings
from pathlib import Path
from typing import Any

import fsspec
import pytest
from conftest import make_classes, read_json
from folders import T0, make_run

from arccnet_ckpt import ArcCkptWarning, find_runs, load_run, store
from arccnet_ckpt.capture import groups
from arccnet_ckpt.cli import main

pl = pytest.importorskip("pytorch_lightning")
from arccnet_ckpt.pytorch_lightning import ArcCheckpointCallback  # noqa: E402

Classifier, Data = make_classes("pytorch_lightning")
FOLDS = 3
# Each fold's best epoch differs, so each fold's record can be told apart from the others'.
FOLD_SCORES = [(0.5, 0.9, 0.7), (0.8, 0.6, 0.6), (0.4, 0.5, 0.95)]


@pytest.fixture(autouse=True)
def _new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a script of its own: the groups earlier tests' fits started in this process are not its."""
    monkeypatch.setattr(groups, "_counters", {})


def _fold_loop(
    tmp_path: Path, logs: Path | None = None, **callback_kwargs: Any
) -> tuple[list[ArcCheckpointCallback], list[Any], list[str]]:
    """The users' loop, every fold with ``dirpath=logs``; returns each fold's callback, test results and the warnings
    it raised."""
    callbacks, tests, messages = [], [], []
    for k in range(FOLDS):
        cb = ArcCheckpointCallback(
            dirpath=str(logs or tmp_path / "logs"),
            filename=f"hale-fold{k}-{{epoch:02d}}-{{val_f1:.3f}}",
            monitor="val_f1",
            mode="max",
            **callback_kwargs,
        )
        trainer = pl.Trainer(
            callbacks=[cb, pl.callbacks.EarlyStopping("val_f1", mode="max", patience=1)],
            default_root_dir=tmp_path,
            max_epochs=3,
            limit_train_batches=2,
            limit_val_batches=1,
            limit_test_batches=3,
            num_sanity_val_steps=0,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            accelerator="cpu",
            devices=1,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ArcCkptWarning)
            trainer.fit(Classifier(val_scores=FOLD_SCORES[k]), datamodule=Data())
            tests.append(trainer.test(ckpt_path="best", datamodule=Data())[0])
        messages += [str(w.message) for w in caught if issubclass(w.category, ArcCkptWarning)]
        callbacks.append(cb)
    return callbacks, tests, messages


def test_a_fold_loop_sharing_its_dirpath_gives_each_fold_its_own_complete_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "data" / "checkpoints" / "hale" / "logs"  # under a data folder, so that find_runs sees it
    callbacks, tests, messages = _fold_loop(tmp_path, logs)
    run_dirs = [Path(cb.run_dir) for cb in callbacks]
    assert run_dirs[0] == logs  # the first fold: dirpath is its run folder, as documented
    assert [d.parent for d in run_dirs[1:]] == [logs, logs]  # the others: a run folder of their own under it
    assert len(set(run_dirs)) == FOLDS

    best_epochs = [1, 0, 2]
    for k, (run_dir, cb) in enumerate(zip(run_dirs, callbacks, strict=True)):
        summary = read_json(run_dir / "training_summary.json")
        assert summary["status"] == "completed"
        assert summary["kind"] == "training"
        assert summary.get("resumes", []) == []  # a fresh fit, never a "resume" of another fold
        assert summary["run_name"] == run_dir.name
        assert summary["best_epoch"] == best_epochs[k]
        assert summary["test_results"]["test_accuracy"] == pytest.approx(tests[k]["test_accuracy"])
        # its own best checkpoint, in its own folder, is the one trainer.test(ckpt_path="best") tested
        best = Path(cb.best_model_path)
        assert best.parent == run_dir
        assert best.name.startswith(f"hale-fold{k}-epoch={best_epochs[k]:02d}")
        assert summary["tested_checkpoint"] == best.name
        assert [p.name for p in run_dir.glob("*.ckpt")] == [best.name]
        config = read_json(run_dir / "config.json")
        assert config["_arccnet"]["hparams"]["val_scores"] == list(FOLD_SCORES[k])
        report = read_json(run_dir / "classification_report.json")
        assert report["checkpoint"] == best.name
        assert report["test_metrics"]["test_accuracy"] == pytest.approx(tests[k]["test_accuracy"])
        assert (run_dir / "report.html").is_file()
        assert (run_dir / "minimal_logging.json").is_file()

    # One warning per later fold, naming the run already there, the new folder and the fix.
    assert len(messages) == FOLDS - 1, messages
    for message, run_dir in zip(messages, run_dirs[1:], strict=True):
        assert f"{logs} already holds the record of another run (logs" in message
        assert str(run_dir) in message
        assert 'dirpath=f"logs/fold{k}"' in message
        assert "root_name=" in message

    # Every fold is listed, the nested ones too, filed under the root of the dirpath's run.
    found = find_runs(tmp_path / "data")
    assert sorted(run.path for run in found) == sorted(str(d) for d in run_dirs)
    assert {run.root_name for run in found} == {"hale"}
    assert load_run(run_dirs[2]).summary.best_epoch == 2
    for target in (tmp_path / "data", logs):  # the data folder, and the shared dirpath itself
        capsys.readouterr()
        assert main(["ls", str(target), "--format", "json"]) == 0
        listed = json.loads(capsys.readouterr().out)["runs"]
        assert sorted(r["run"] for r in listed) == sorted(d.name for d in run_dirs)


def test_the_fold_loop_is_one_process_group_with_zero_code(tmp_path: Path) -> None:
    callbacks, _, _ = _fold_loop(tmp_path)
    recorded = [read_json(Path(cb.run_dir) / "training_summary.json")["group"] for cb in callbacks]
    first = read_json(Path(callbacks[0].run_dir) / "training_summary.json")
    # The first run's folder is named by the user ("logs", no unique name): the id is the name its run would have
    # in the hierarchy, <UTC start>_<model>_<loss>.
    stamp = first["start_time"][:19].replace("T", "_").replace(":", "-")
    group_id = f"{stamp}_ScriptedClassifier_CrossEntropyLoss"
    assert recorded == [{"id": group_id, "source": "process", "index": k} for k in range(FOLDS)]


def test_a_fold_loop_with_a_group_argument_records_it_with_indices_in_order(tmp_path: Path) -> None:
    callbacks, _, _ = _fold_loop(tmp_path, group="hale-cv")
    recorded = [read_json(Path(cb.run_dir) / "training_summary.json")["group"] for cb in callbacks]
    assert recorded == [{"id": "hale-cv", "source": "argument", "index": k} for k in range(FOLDS)]


def _fit(cb: ArcCheckpointCallback, tmp_path: Path, ckpt_path: str | None = None, max_epochs: int = 2) -> dict:
    trainer = pl.Trainer(
        callbacks=[cb], default_root_dir=tmp_path, max_epochs=max_epochs, limit_train_batches=2, limit_val_batches=1,
        num_sanity_val_steps=0, logger=False, enable_progress_bar=False, enable_model_summary=False,
        accelerator="cpu", devices=1,
    )  # fmt: skip
    trainer.fit(Classifier(), datamodule=Data(), ckpt_path=ckpt_path)
    return read_json(Path(cb.run_dir) / "training_summary.json")


def test_slurm_array_tasks_record_the_array_jobs_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    for task in ("0", "1"):
        monkeypatch.setenv("SLURM_JOB_ID", f"{4200 + 1 + int(task)}")  # each task is a job of its own
        monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "4200")
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", task)
        summary = _fit(ArcCheckpointCallback(root_name="flares/sweep", data_folder=data), tmp_path)
        assert summary["group"] == {"id": "slurm-4200", "source": "slurm_array", "index": int(task)}


def test_a_resumed_run_keeps_its_group_and_the_next_fold_takes_the_next_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    first = _fit(ArcCheckpointCallback(root_name="flares/cv", data_folder=data, save_last=True), tmp_path)
    run_dir = data / "checkpoints" / "flares" / "cv" / first["run_name"]
    resumed = ArcCheckpointCallback(root_name="flares/cv", data_folder=data)
    again = _fit(resumed, tmp_path, ckpt_path=str(run_dir / "last.ckpt"), max_epochs=3)
    assert Path(resumed.run_dir) == run_dir
    assert len(again["resumes"]) == 1
    assert again["group"] == first["group"] == {"id": first["run_name"], "source": "process", "index": 0}
    second = _fit(ArcCheckpointCallback(root_name="flares/cv", data_folder=data), tmp_path)
    assert second["group"] == {"id": first["run_name"], "source": "process", "index": 1}


@pytest.mark.parametrize("where", ["local", "memory"])
def test_runs_nested_in_a_run_folder_are_listed_and_its_other_sub_folders_are_not(tmp_path: Path, where: str) -> None:
    """A run folder's sub-folder is a run only with a summary of its own (the folder the dirpath rule nests), on a
    local disk and on an object store alike; a model folder holding a config.json inside a run is no run."""
    base = str(tmp_path / "data") if where == "local" else f"memory://arc-nested-{uuid.uuid4().hex[:8]}/data"
    try:
        parent = make_run(base, "hale")
        nested = make_run(base, f"hale/{store.basename(parent)}", start=T0.replace(hour=15))
        store.write_bytes(store.join(parent, "hf_model", "config.json"), b'{"hidden_size": 8}')
        assert sorted(run.path for run in find_runs(base)) == sorted([parent, nested])  # not hf_model
    finally:
        if where == "memory":
            fs, path = fsspec.core.url_to_fs(base)
            fs.rm(path.rsplit("/", 1)[0], recursive=True)
