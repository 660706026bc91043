"""The shipped JSON Schemas: equal to the pydantic models, and met by real files checked with an independent
validator (``jsonschema``), so that other languages can trust the files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ScriptedClassifier, TinyData, make_trainer, read_json
from jsonschema import Draft202012Validator
from test_cli import cli

from arccnet_ckpt import ArcCheckpointCallback, ConfigRecord, load_run, store
from arccnet_ckpt.records.schema import FROZEN, VERSIONS, canonical, generate, shipped

FILES = ["config", "training_summary", "minimal_logging", "classification_report", "history"]


@pytest.mark.parametrize(
    ("name", "version"), [(n, v) for n, vs in VERSIONS.items() for v in vs if (n, v) not in FROZEN]
)
def test_the_shipped_schemas_are_the_models(name: str, version: int) -> None:
    assert shipped(name, version) == generate(name, version), (
        f"src/arccnet_ckpt/records/schemas/{name}.v{version}.schema.json is out of date with the pydantic models: "
        "regenerate with `python -m arccnet_ckpt.records.schema` (and bump schema_version if a reader of the old files "
        "would now fail)"
    )
    Draft202012Validator.check_schema(shipped(name, version))


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("schema")
    data = tmp / "data"
    cb = ArcCheckpointCallback(
        root_name="flares/multiclass",
        data_folder=data,
        model_name="m",
        loss_function="focal",
        class_names=["Quiet", "C", "M"],
        config={"LEARNING_RATE": 1e-3, "optim": {"betas": [0.9, 0.99]}, "API_KEY": "secret"},
    )
    model = ScriptedClassifier()
    trainer = make_trainer(tmp, [cb])
    trainer.fit(model, datamodule=TinyData())
    trainer.test(model, datamodule=TinyData(), ckpt_path="best")
    failed = ArcCheckpointCallback(root_name="flares/failed", data_folder=data, model_name="m", loss_function="ce")
    with pytest.raises(RuntimeError):
        make_trainer(tmp, [failed]).fit(ScriptedClassifier(fail_at_step=3), datamodule=TinyData())
    evaluation = ArcCheckpointCallback(root_name="flares/eval", data_folder=data, model_name="m", loss_function="ce")
    make_trainer(tmp, [evaluation]).test(ScriptedClassifier(), datamodule=TinyData())
    return {"trained": Path(cb.run_dir), "failed": Path(failed.run_dir), "evaluation": Path(evaluation.run_dir)}


@pytest.mark.parametrize("kind", ["trained", "failed", "evaluation"])
def test_real_files_meet_their_schema(run_dirs: dict[str, Path], kind: str) -> None:
    run_dir = run_dirs[kind]
    checked = 0
    for name in FILES:
        path = run_dir / f"{name}.json"
        if not path.exists():
            continue
        document = read_json(path)
        version = document["_arccnet"]["schema_version"] if name == "config" else document["schema_version"]
        errors = sorted(Draft202012Validator(shipped(name, version)).iter_errors(document), key=str)
        assert errors == [], f"{path}: {[e.message for e in errors]}"
        checked += 1
    assert checked >= (5 if kind == "trained" else 3)


def test_the_schemas_catch_what_the_models_catch(run_dirs: dict[str, Path]) -> None:
    summary = read_json(run_dirs["trained"] / "training_summary.json")
    validator = Draft202012Validator(shipped("training_summary"))
    assert summary["schema_version"] == 2
    assert validator.is_valid(summary)
    assert not validator.is_valid({**summary, "num_epochs_trained": "three"})
    assert not validator.is_valid({**summary, "status": "finished"})
    assert not validator.is_valid({**summary, "schema_version": 1})
    assert not validator.is_valid({k: v for k, v in summary.items() if k != "start_time"})
    nested = {**summary, "error": {"type": "RuntimeError", "message": "boom", "typo": 1}}
    assert not validator.is_valid(nested)  # nested records forbid unknown keys, as the models do
    config = read_json(run_dirs["trained"] / "config.json")
    assert config["LEARNING_RATE"] == 1e-3  # the user's keys at the top level (version 2)
    v2 = Draft202012Validator(shipped("config", 2))
    assert v2.is_valid(config)
    assert not v2.is_valid({k: v for k, v in config.items() if k != "_arccnet"})
    assert not v2.is_valid({**config, "_arccnet": {**config["_arccnet"], "schema_version": 1}})


def test_a_version_1_config_meets_the_version_1_schema(tmp_path: Path) -> None:
    record = ConfigRecord(schema_version=1, config={"LEARNING_RATE": 0.1}, model_name="m")
    document = json.loads(store.model_to_json(record))
    assert document["config"] == {"LEARNING_RATE": 0.1}
    assert Draft202012Validator(shipped("config", 1)).is_valid(document)
    assert not Draft202012Validator(shipped("config", 2)).is_valid(document)


def test_names_and_aliases() -> None:
    assert canonical("summary") == canonical("training_summary.json") == "training_summary"
    with pytest.raises(ValueError, match=r"no schema named 'nope': use one of classification_report, config"):
        canonical("nope")
    with pytest.raises(ValueError, match=r"config.json has schema_version 1, 2, not 3"):
        generate("config", 3)


def test_the_command_line_prints_a_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "schema", "summary")
    assert code == 0
    assert json.loads(out) == shipped("training_summary")
    code, out, _ = cli(capsys, "schema", "config", "--schema-version", "1")
    assert json.loads(out)["properties"]["schema_version"]["const"] == 1
    code, out, _ = cli(capsys, "schema", "--format", "json")
    assert [f["name"] for f in json.loads(out)["files"]] == FILES
    code, out, err = cli(capsys, "schema", "nope")
    assert (code, out) == (2, "")
    assert "no schema named 'nope'" in err


def test_a_version_1_summary_meets_its_frozen_schema_and_still_loads(run_dirs: dict[str, Path], tmp_path: Path) -> None:
    """Version 1 files, written before resumes[].restart_count existed, read as they are."""
    v1 = shipped("training_summary", 1)
    Draft202012Validator.check_schema(v1)
    with pytest.raises(ValueError, match="frozen"):
        generate("training_summary", 1)
    summary = read_json(run_dirs["trained"] / "training_summary.json")
    resume = {"time": "2025-01-01T00:00:00+00:00", "checkpoint": "last.ckpt", "num_epochs_trained": 1, "global_step": 2}
    old = {**summary, "schema_version": 1, "resumes": [resume]}
    assert Draft202012Validator(v1).is_valid(old)
    assert not Draft202012Validator(v1).is_valid({**old, "resumes": [{**resume, "restart_count": 1}]})
    assert Draft202012Validator(shipped("training_summary", 2)).is_valid({**old, "schema_version": 2})
    folder = tmp_path / "run"
    shutil.copytree(run_dirs["trained"], folder)
    (folder / "training_summary.json").write_text(json.dumps(old))
    run = load_run(folder)
    assert (run.summary.schema_version, run.summary.resumes[0].restart_count, run.notes) == (1, None, [])
