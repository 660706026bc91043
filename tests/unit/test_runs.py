"""Reading run folders back: load_run, find_runs, best_run, Run, and folders of the old manual system."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from folders import CKPT, T0, edit_json, make_run

from arccnet_ckpt import (
    ArcCkptError,
    ArtifactError,
    best_run,
    find_runs,
    load_run,
)
from arccnet_ckpt.layout import parse_checkpoint_name
from arccnet_ckpt.runs import RunNotFoundError

if TYPE_CHECKING:
    from collections.abc import Iterator

FIXTURES = Path(__file__).parents[1] / "fixtures"
LEGACY_RUN = "checkpoints/flares/binary_classification/2025-02-12_14-30-45_resnet18_weighted_bce"


@pytest.fixture
def utc_plus_one(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make this machine's local time zone UTC+01:00 (a POSIX TZ string, no time zone database needed)."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX only")
    monkeypatch.setenv("TZ", "ARC-1")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def legacy_data(tmp_path: Path) -> Path:
    """A copy of the old system's data folder, with its empty placeholder checkpoint."""
    data = tmp_path / "legacy-data"
    shutil.copytree(FIXTURES / "legacy-runs", data)
    (data / LEGACY_RUN / "best-42-0.847.ckpt").touch()
    return data


@pytest.fixture
def memory_root() -> Iterator[str]:
    import fsspec

    root = f"memory://arc-test-{uuid.uuid4().hex[:8]}"
    yield root
    fs, path = fsspec.core.url_to_fs(root)
    if fs.exists(path):
        fs.rm(path, recursive=True)


# ------------------------------------------------------------------------------------------------------ load_run


def test_load_run_reads_every_file(tmp_path: Path) -> None:
    folder = make_run(tmp_path)
    run = load_run(folder)

    assert run.path == folder
    assert run.name == "2025-02-12_14-30-45_resnet18_weighted_bce"
    assert run.config is not None
    assert run.config.config == {"lr": 1e-3, "batch_size": 64}
    assert run.summary is not None
    assert run.summary.best_epoch == 2
    assert run.report is not None
    assert run.report.test_metrics == {"test_f1": 0.85, "test_loss": pytest.approx(0.15)}
    assert run.minimal is not None
    assert run.minimal.best_metric_value == 0.8
    assert (run.start_time, run.status, run.model_name, run.loss_function, run.root_name) == (
        T0,
        "completed",
        "resnet18",
        "weighted_bce",
        "flares/binary_classification",
    )
    assert run.best_checkpoint == os.path.join(folder, CKPT)
    assert os.path.isabs(run.best_checkpoint)
    assert run.checkpoints == [os.path.join(folder, CKPT)]
    assert run.notes == []
    assert run.is_legacy is False
    assert repr(run) == (
        "Run('2025-02-12_14-30-45_resnet18_weighted_bce', root_name='flares/binary_classification', "
        "status='completed', best_val_f1=0.8)"
    )


def test_load_run_accepts_a_relative_path_and_makes_it_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_run(tmp_path)
    monkeypatch.chdir(tmp_path)

    run = load_run(os.path.relpath(folder))

    assert run.path == folder
    assert run.best_checkpoint == os.path.join(folder, CKPT)


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("test_f1", 0.85),  # report.test_metrics
        ("best_val_f1", 0.8),  # the summary's best_<monitor> key
        ("best_metric_value", 0.8),
        ("num_epochs_trained", 3.0),  # a summary field
        ("accuracy", 0.9),  # a report field
        ("test_missing", None),
    ],
)
def test_metric_looks_in_report_then_summary_then_minimal(tmp_path: Path, metric: str, expected: float | None) -> None:
    run = load_run(make_run(tmp_path))

    assert run.metric(metric) == (pytest.approx(expected) if expected is not None else None)


def test_metric_falls_back_to_the_summary_when_the_report_lacks_it(tmp_path: Path) -> None:
    folder = make_run(tmp_path, files=("summary",))

    assert load_run(folder).metric("test_f1") == 0.85


@pytest.mark.parametrize(
    ("missing", "attribute"),
    [
        ("config.json", "config"),
        ("classification_report.json", "report"),
        ("minimal_logging.json", "minimal"),
        ("training_summary.json", "summary"),
    ],
)
def test_load_run_missing_optional_file_is_none(tmp_path: Path, missing: str, attribute: str) -> None:
    folder = make_run(tmp_path)
    os.remove(os.path.join(folder, missing))

    run = load_run(folder)

    assert getattr(run, attribute) is None
    present = {"config", "report", "minimal", "summary"} - {attribute}
    assert all(getattr(run, name) is not None for name in present)
    assert run.notes == []


def test_partial_run_without_summary_takes_values_from_config_and_folder_name(tmp_path: Path) -> None:
    folder = make_run(tmp_path, files=("config",), checkpoint=None)

    run = load_run(folder)

    assert (run.start_time, run.status) == (T0, "incomplete")
    assert (run.model_name, run.loss_function) == ("resnet18", "weighted_bce")
    assert run.root_name == "flares/binary_classification"  # from the position under checkpoints/
    assert run.best_checkpoint is None


@pytest.mark.parametrize(
    ("filename", "key", "value", "match"),
    [
        ("training_summary.json", "status", "bogus", r"training_summary\.json: .*field 'status'.*'bogus'"),
        ("training_summary.json", "best_epoch", "abc", r"training_summary\.json: .*field 'best_epoch'.*'abc'"),
        ("minimal_logging.json", "best_epoch", "abc", r"minimal_logging\.json: .*field 'best_epoch'"),
        ("config.json", "_arccnet", {"schema_version": 2, "seed": [1]}, r"config\.json: .*field 'seed'"),
        ("classification_report.json", "test_metrics", "x", r"classification_report\.json: .*field 'test_metrics'"),
    ],
)
def test_load_run_invalid_file_names_file_and_field(
    tmp_path: Path, filename: str, key: str, value: Any, match: str
) -> None:
    folder = make_run(tmp_path)
    edit_json(os.path.join(folder, filename), **{key: value})

    with pytest.raises(ArtifactError, match=match):
        load_run(folder)


def test_file_with_schema_version_is_validated_strictly(tmp_path: Path) -> None:
    folder = make_run(tmp_path)
    # A naive time would be converted in a legacy file; with schema_version it is an error.
    edit_json(os.path.join(folder, "training_summary.json"), start_time="2025-02-12T14:30:45")

    with pytest.raises(ArtifactError, match=r"training_summary\.json: .*field 'start_time'.*no UTC offset"):
        load_run(folder)


def test_load_run_rejects_broken_json(tmp_path: Path) -> None:
    folder = make_run(tmp_path)
    Path(folder, "minimal_logging.json").write_text('{"best_epoch": 1,')

    with pytest.raises(ArtifactError, match=r"minimal_logging\.json: not valid JSON"):
        load_run(folder)


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        ("missing", r"no such run folder"),
        ("empty", r"not a run folder: it holds none of config\.json, training_summary\.json"),
        ("file", r"is a file, not a run folder"),
    ],
)
def test_load_run_not_a_run_folder(tmp_path: Path, setup: str, match: str) -> None:
    target = tmp_path / "target"
    if setup == "empty":
        target.mkdir()
    elif setup == "file":
        target.write_text("{}")

    with pytest.raises(RunNotFoundError, match=match) as info:
        load_run(target)
    assert isinstance(info.value, ArcCkptError)
    assert isinstance(info.value, FileNotFoundError)


# ----------------------------------------------------------------------------------------- checkpoints, models


def test_best_checkpoint_falls_back_to_the_best_file_in_the_folder(tmp_path: Path) -> None:
    folder = make_run(tmp_path, checkpoint="best-epoch01-val_f1-0.700.ckpt")
    for name in ("best-epoch03-val_f1-0.910.ckpt", "best-epoch02-val_f1-0.800.ckpt", "last.ckpt"):
        Path(folder, name).touch()
    os.remove(os.path.join(folder, "best-epoch01-val_f1-0.700.ckpt"))  # the recorded file is gone

    run = load_run(folder)

    assert run.best_checkpoint == os.path.join(folder, "best-epoch03-val_f1-0.910.ckpt")
    assert [os.path.basename(p) for p in run.checkpoints] == [
        "best-epoch02-val_f1-0.800.ckpt",
        "best-epoch03-val_f1-0.910.ckpt",
        "last.ckpt",
    ]
    assert (
        "training_summary.json: best_model_path 'best-epoch01-val_f1-0.700.ckpt' not found; "
        "using best-epoch03-val_f1-0.910.ckpt"
    ) in run.notes


class FakeModule:
    """Stands in for a LightningModule: records what load_from_checkpoint was given."""

    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: str, **kwargs: Any) -> FakeModule:
        cls.calls.append((checkpoint_path, kwargs))
        return cls()


def test_load_model_passes_the_best_checkpoint_and_kwargs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeModule, "calls", [])
    folder = make_run(tmp_path)

    model = load_run(folder).load_model(FakeModule, map_location="cpu", lr=0.1)

    assert isinstance(model, FakeModule)
    assert FakeModule.calls == [(os.path.join(folder, CKPT), {"map_location": "cpu", "lr": 0.1})]


def test_load_model_without_checkpoint_raises(tmp_path: Path) -> None:
    folder = make_run(tmp_path, checkpoint=None)
    Path(folder, "last.ckpt").touch()
    run = load_run(folder)

    assert run.best_checkpoint is None
    with pytest.raises(RunNotFoundError, match=r"no checkpoint to load.*no best-\*\.ckpt \(found: last\.ckpt\)"):
        run.load_model(FakeModule)
    with pytest.raises(TypeError, match=r"needs a LightningModule subclass.*dict"):
        run.load_model(dict)


def test_reading_runs_does_not_import_torch_or_lightning(tmp_path: Path) -> None:
    folder = make_run(tmp_path)
    code = textwrap.dedent(
        """
        import sys
        import arccnet_ckpt
        from arccnet_ckpt import best_run, find_runs, load_run
        run = load_run(sys.argv[1])
        assert run.best_checkpoint and run.metric("test_f1") == 0.85 and run.notes == []
        assert [r.path for r in find_runs(sys.argv[2])] == [run.path]
        assert best_run(sys.argv[2], "flares/binary_classification").path == run.path
        heavy = sorted(m for m in ("torch", "lightning", "pytorch_lightning") if m in sys.modules)
        assert not heavy, heavy
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code, folder, str(tmp_path)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------------------------------- legacy folders


def test_legacy_fixture_reads_with_notes(legacy_data: Path, utc_plus_one: None) -> None:
    run = load_run(legacy_data / LEGACY_RUN)

    assert run.is_legacy is True
    assert run.summary is not None
    assert run.minimal is not None
    assert run.config is not None
    # 14:30:45 local time at UTC+01:00 is 13:30:45 UTC.
    assert run.start_time == datetime(2025, 2, 12, 13, 30, 45, 123456, tzinfo=timezone.utc)
    assert run.summary.end_time == datetime(2025, 2, 12, 15, 45, 22, 654321, tzinfo=timezone.utc)
    assert run.minimal.timestamp == datetime(2025, 2, 12, 15, 45, 22, 654321, tzinfo=timezone.utc)
    assert (run.status, run.model_name, run.loss_function, run.root_name) == (
        "completed",
        "resnet18",
        "weighted_bce",
        "flares/binary_classification",
    )
    assert (run.summary.monitor, run.summary.best_epoch, run.summary.best_metric_value) == ("val_f1", 42, 0.847)
    assert run.summary.model_extra == {"best_val_f1": 0.847}
    assert (run.minimal.best_metric_name, run.minimal.best_metric_value) == ("val_f1", None)
    assert run.metric("test_f1") == 0.851
    assert run.metric("best_val_f1") == 0.847
    assert run.best_checkpoint == str(legacy_data / LEGACY_RUN / "best-42-0.847.ckpt")
    assert run.config.config["LEARNING_RATE"] == 1e-4
    assert run.config.config["CHECKPOINT_METRIC"] == "val_f1"
    assert not {"__builtins__", "__file__", "__spec__", "os"} & set(run.config.config)

    notes = run.notes
    assert notes[0].startswith("config.json: legacy vars(config) dump (no schema_version); kept 11 settings")
    assert "__builtins__, __cached__, __doc__, __file__" in notes[0]
    assert notes[0].endswith("imported modules, functions or classes: os")
    for expected in (
        "training_summary.json: no status; set to 'completed' because it has an end_time or test results",
        "training_summary.json: best_val_f1 is null; took 0.847 from the checkpoint file name best-42-0.847.ckpt",
        "training_summary.json: start_time, end_time have no time zone; read as local time of this machine "
        "(ARC, UTC+01:00) and converted to UTC",
        "minimal_logging.json: NaN token read as null at best_val_f1",
        "minimal_logging.json: best_metric_name taken from the key best_val_f1",
        "classification_report.json: no schema_version; read as a file of the old manual system",
    ):
        assert expected in notes


def test_legacy_fixture_through_find_runs_and_best_run(legacy_data: Path) -> None:
    runs = find_runs(legacy_data, "flares/binary_classification", model_name="resnet18", status="completed")

    assert [r.name for r in runs] == ["2025-02-12_14-30-45_resnet18_weighted_bce"]
    assert best_run(legacy_data, "flares/binary_classification", "best_val_f1").path == runs[0].path


def test_legacy_best_value_comes_from_minimal_logging_before_the_checkpoint_name(legacy_data: Path) -> None:
    folder = legacy_data / LEGACY_RUN
    Path(folder, "minimal_logging.json").write_text('{"timestamp": "2025-02-12T16:45:22", "best_val_f1": 0.9}')
    edit_json(folder / "training_summary.json", best_epoch=...)

    run = load_run(folder)

    assert run.summary is not None
    assert (run.summary.best_metric_value, run.summary.best_epoch) == (0.9, 42)
    assert "training_summary.json: best_val_f1 is null; took 0.9 from minimal_logging.json" in run.notes
    assert "training_summary.json: no best_epoch; took 42 from the checkpoint file name best-42-0.847.ckpt" in run.notes


@pytest.mark.parametrize(
    ("folder_name", "model_name", "loss_function"),
    [
        ("2025-02-12_14-30-45_resnet18_weighted_bce", "resnet18", "weighted_bce"),
        ("2025-02-12_15-10-33_vit_base_patch32_224_focal", "vit_base_patch32_224", "focal"),
        ("2025-02-12_15-10-33_efficientnet_b0_cross_entropy", "efficientnet_b0", "cross_entropy"),
        ("2025-02-12_15-10-33_mymodel_myloss-2", "mymodel", "myloss"),
    ],
)
def test_legacy_summary_without_names_or_status_takes_them_from_the_folder(
    tmp_path: Path, folder_name: str, model_name: str, loss_function: str
) -> None:
    folder = tmp_path / "checkpoints" / "cutouts" / "hale" / folder_name
    folder.mkdir(parents=True)
    (folder / "training_summary.json").write_text(json.dumps({"start_time": "2025-02-12T14:30:45"}))

    run = load_run(folder)

    assert (run.model_name, run.loss_function, run.status) == (model_name, loss_function, "interrupted")
    assert run.root_name == "cutouts/hale"
    assert f"training_summary.json: no model_name; took {model_name!r} from the folder name" in run.notes
    assert (
        "training_summary.json: no status; set to 'interrupted' because it has neither an end_time nor test results"
    ) in run.notes


def test_legacy_config_in_record_shape_is_kept(tmp_path: Path) -> None:
    folder = make_run(tmp_path, files=("summary",))
    Path(folder, "config.json").write_text(json.dumps({"config": {"LR": 0.1}, "seed": 3}))

    run = load_run(folder)

    assert run.config is not None
    assert (run.config.config, run.config.seed) == ({"LR": 0.1}, 3)
    assert run.notes == ["config.json: no schema_version; read as a file of the old manual system"]


# ------------------------------------------------------------------------------------------------- find_runs


def write_many_runs(data_folder: Path) -> dict[str, str]:
    """Five runs in three root names, written out of time order."""
    hour = timedelta(hours=1)
    return {
        "c": make_run(data_folder, start=T0 + 2 * hour, model_name="vit", loss_function="focal", test_f1=0.91),
        "a": make_run(data_folder, start=T0, test_f1=0.80),
        "b": make_run(data_folder, start=T0 + hour, status="failed", test_f1=None),
        "hale": make_run(data_folder, "cutouts/hale", start=T0 + 3 * hour, status="running", test_f1=None),
        "cut": make_run(data_folder, "cutouts", start=T0 - hour, model_name="vit", test_f1=0.70),
    }


@pytest.fixture
def many_runs(tmp_path: Path) -> dict[str, str]:
    """:func:`write_many_runs` in ``tmp_path``, for tests that change the files."""
    return write_many_runs(tmp_path)


@pytest.fixture(scope="module")
def shared_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """:func:`write_many_runs` once for the module, for tests that only read."""
    data = tmp_path_factory.mktemp("shared-data")
    return data, write_many_runs(data)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["cut", "a", "b", "c", "hale"]),
        ({"root_name": "flares/binary_classification"}, ["a", "b", "c"]),
        ({"root_name": "cutouts"}, ["cut"]),  # exact: cutouts/hale is another root name
        ({"root_name": "cutouts/hale"}, ["hale"]),
        ({"root_name": "flares"}, []),
        ({"model_name": "vit"}, ["cut", "c"]),
        ({"loss_function": "focal"}, ["c"]),
        ({"status": "completed"}, ["cut", "a", "c"]),
        ({"status": "stale"}, ["hale"]),  # recorded as running in 2025, no process: stale, as ls shows it
        ({"status": "running"}, []),
        ({"root_name": "flares/binary_classification", "model_name": "resnet18", "status": "failed"}, ["b"]),
        ({"model_name": "resnet"}, []),
    ],
)
def test_find_runs_filters_and_sorts(
    shared_runs: tuple[Path, dict[str, str]], filters: dict[str, str], expected: list[str]
) -> None:
    data, paths = shared_runs

    runs = find_runs(data, **filters)

    assert [r.path for r in runs] == [paths[key] for key in expected]


def test_find_runs_reports_root_names_and_reads_other_files_lazily(tmp_path: Path, many_runs: dict[str, str]) -> None:
    edit_json(os.path.join(many_runs["a"], "classification_report.json"), test_metrics="broken")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the broken report is not read by the listing
        runs = find_runs(tmp_path, "flares/binary_classification")

    assert [r.root_name for r in runs] == ["flares/binary_classification"] * 3
    assert runs[0].summary is not None
    assert runs[0].summary.test_results["test_f1"] == 0.8
    with pytest.raises(ArtifactError, match=r"classification_report\.json: .*field 'test_metrics'"):
        _ = runs[0].report
    assert any("classification_report.json" in note and "test_metrics" in note for note in runs[0].notes)
    with pytest.warns(UserWarning, match=r"best_run: skipping .*_resnet18_weighted_bce: .*test_metrics"):
        best = best_run(tmp_path, "flares/binary_classification", "test_f1", "min")
    assert best is not None
    assert best.path == many_runs["c"]  # "a" (0.80) is unreadable, "b" has no test results


def test_find_runs_finds_partial_runs_and_ignores_hidden_and_empty_folders(tmp_path: Path) -> None:
    partial = make_run(tmp_path, start=T0 + timedelta(hours=1), files=("config",), checkpoint=None)
    complete = make_run(tmp_path)
    make_run(tmp_path, ".trash")  # a hidden root name
    hidden = Path(complete).parent / ".2025-02-12_09-00-00_resnet18_bce"
    shutil.copytree(complete, hidden)
    (tmp_path / "checkpoints" / "flares" / "empty").mkdir()

    runs = find_runs(tmp_path)

    assert [r.path for r in runs] == [complete, partial]
    assert (runs[1].status, runs[1].start_time) == ("incomplete", T0 + timedelta(hours=1))


def test_find_runs_skips_a_bad_folder_with_a_warning(tmp_path: Path, many_runs: dict[str, str]) -> None:
    edit_json(os.path.join(many_runs["b"], "training_summary.json"), status="bogus")
    Path(many_runs["c"], "training_summary.json").write_text("{not json")

    with pytest.warns(UserWarning, match=r"find_runs: skipping ") as record:
        runs = find_runs(tmp_path, "flares/binary_classification")

    assert [r.path for r in runs] == [many_runs["a"]]
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2
    assert re.match(rf"find_runs: skipping {re.escape(many_runs['b'])}: .*field 'status'.*'bogus'", messages[0])
    assert re.match(rf"find_runs: skipping {re.escape(many_runs['c'])}: .*not valid JSON", messages[1])


def test_find_runs_data_folder_from_environment_then_default(
    tmp_path: Path, many_runs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCCNET_DATA_FOLDER", str(tmp_path))
    assert len(find_runs(root_name="flares/binary_classification")) == 3

    monkeypatch.delenv("ARCCNET_DATA_FOLDER")
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tmp_path / "checkpoints", tmp_path / "data" / "checkpoints")
    (run,) = find_runs(root_name="cutouts/hale")
    assert os.path.realpath(run.path) == os.path.realpath(
        tmp_path / "data" / Path(many_runs["hale"]).relative_to(tmp_path)
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"status": "done"}, ValueError, r"status must be one of 'running', 'stale', .*'incomplete', got 'done'"),
        ({"root_name": "../escape"}, ValueError, r"root_name segment '\.\.' is not allowed"),
        ({"data_folder": "nowhere"}, RunNotFoundError, r"data folder .*nowhere.* does not exist"),
    ],
)
def test_find_runs_rejects_bad_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, str], error: type[Exception], match: str
) -> None:
    monkeypatch.chdir(tmp_path)

    with pytest.raises(error, match=match):
        find_runs(**{"data_folder": str(tmp_path), **kwargs})


def test_find_runs_without_checkpoints_folder_is_empty(tmp_path: Path, memory_root: str) -> None:
    assert find_runs(tmp_path) == []
    assert find_runs(memory_root) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("best-epoch02-val_f1-0.847.ckpt", (2, 0.847)),
        ("best-epoch12-val_loss-1.5e-03-v1.ckpt", (12, 0.0015)),
        ("best-epoch03-val_f1-nan.ckpt", (3, None)),
        ("best-42-0.847.ckpt", (42, 0.847)),
        ("last.ckpt", None),
        ("epoch=3-step=100.ckpt", None),
    ],
)
def test_checkpoint_names_are_parsed(name: str, expected: tuple[int, float | None] | None) -> None:
    assert parse_checkpoint_name(name) == expected


# -------------------------------------------------------------------------------------------------- best_run


@pytest.mark.parametrize(
    ("root_name", "metric", "mode", "expected"),
    [
        ("flares/binary_classification", "test_f1", "max", "c"),
        ("flares/binary_classification", "test_f1", "min", "a"),
        ("flares/binary_classification", "test_loss", "min", "c"),
        (None, "test_f1", "max", "c"),
        (None, "test_f1", "min", "cut"),
        ("cutouts/hale", "test_f1", "max", None),  # the run has no test results
        ("flares/binary_classification", "no_such_metric", "max", None),
    ],
)
def test_best_run(
    shared_runs: tuple[Path, dict[str, str]], root_name: str | None, metric: str, mode: str, expected: str | None
) -> None:
    data, paths = shared_runs

    run = best_run(data, root_name, metric, mode)

    assert (run.path if run else None) == (paths[expected] if expected else None)


def test_best_run_ties_go_to_the_oldest(tmp_path: Path) -> None:
    older = make_run(tmp_path, test_f1=0.8)
    make_run(tmp_path, start=T0 + timedelta(hours=1), test_f1=0.8)

    assert best_run(tmp_path, "flares/binary_classification").path == older


def test_best_run_rejects_an_unknown_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"mode must be 'min' or 'max', got 'maximum'"):
        best_run(tmp_path, "flares/binary_classification", mode="maximum")


# ------------------------------------------------------------------------------------------ fsspec (memory://)


def test_load_run_from_memory_url(memory_root: str) -> None:
    folder = make_run(memory_root)

    run = load_run(folder)

    assert run.path == folder
    assert folder.startswith("memory://")
    assert run.summary is not None
    assert run.summary.status == "completed"
    assert run.best_checkpoint == f"{folder}/{CKPT}"
    assert run.checkpoints == [f"{folder}/{CKPT}"]
    assert run.root_name == "flares/binary_classification"
    with pytest.raises(RunNotFoundError, match=r"no such run folder"):
        load_run(f"{memory_root}/checkpoints/nothing-here")


def test_find_runs_and_best_run_on_memory_urls(memory_root: str) -> None:
    first = make_run(memory_root, test_f1=0.9)
    second = make_run(memory_root, "cutouts/hale", start=T0 + timedelta(hours=1), test_f1=0.6)
    partial = make_run(memory_root, start=T0 + timedelta(hours=2), files=("config",), checkpoint=None)
    make_run(memory_root, ".hidden")

    assert [r.path for r in find_runs(memory_root)] == [first, second, partial]
    assert [r.root_name for r in find_runs(memory_root)] == [
        "flares/binary_classification",
        "cutouts/hale",
        "flares/binary_classification",  # no summary: from the position under checkpoints/
    ]
    assert [r.path for r in find_runs(memory_root, "cutouts/hale")] == [second]
    assert [r.path for r in find_runs(memory_root, "flares/binary_classification", status="completed")] == [first]
    assert best_run(memory_root, None, "test_f1", "min").path == second


def test_legacy_upgrade_is_a_pure_function_of_the_dict_and_the_folder_facts() -> None:
    from arccnet_ckpt.records import TrainingSummary
    from arccnet_ckpt.records.legacy import LegacyContext, upgrade

    data = {"best_val_f1": float("nan"), "start_time": "2025-02-12T14:30:45+00:00"}
    context = LegacyContext(
        "2025-02-12_14-30-45_resnet18_weighted_bce", best_sources=(("minimal_logging.json", 7, 0.8),)
    )

    out, notes = upgrade(TrainingSummary, data, context)

    assert math.isnan(data["best_val_f1"])  # the input is left as it was
    assert "model_name" not in data
    summary = TrainingSummary.model_validate(out)
    assert (summary.model_name, summary.loss_function, summary.status) == ("resnet18", "weighted_bce", "interrupted")
    assert (summary.monitor, summary.best_metric_value, summary.best_epoch) == ("val_f1", 0.8, 7)
    assert notes == [
        "training_summary.json: no schema_version; read as a file of the old manual system",
        "training_summary.json: NaN token read as null at best_val_f1",
        "training_summary.json: no model_name; took 'resnet18' from the folder name",
        "training_summary.json: no loss_function; took 'weighted_bce' from the folder name",
        "training_summary.json: no status; set to 'interrupted' because it has neither an end_time nor test results",
        "training_summary.json: monitor taken from the key best_val_f1",
        "training_summary.json: best_val_f1 is null; took 0.8 from minimal_logging.json",
        "training_summary.json: no best_epoch; took 7 from minimal_logging.json",
    ]


@pytest.mark.parametrize(
    ("data", "wanted"),
    [
        ({"monitor": "val_f1", "best_val_f1": 0.8, "best_epoch": 3}, None),  # it records its best: nothing to read
        ({"monitor": "val_f1", "best_val_f1": 0.8}, ("val_f1", None)),
        ({"best_val_loss": float("nan"), "best_epoch": 3, "mode": "min"}, ("val_loss", "min")),
        ({"status": "completed"}, None),  # no monitor: no best to look for
    ],
)
def test_legacy_summary_asks_for_the_other_files_only_when_it_lacks_its_best(
    data: dict[str, Any], wanted: tuple[str, str | None] | None
) -> None:
    from arccnet_ckpt.records import MinimalLogging, TrainingSummary
    from arccnet_ckpt.records.legacy import wanted_best_sources

    assert wanted_best_sources(TrainingSummary, data) == wanted
    assert wanted_best_sources(MinimalLogging, data) is None
