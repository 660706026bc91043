"""Which run folder a Trainer writes to, decided from plain values (no Trainer)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from arccnet_ckpt import ArcCkptWarning, ArtifactError, TrainingSummary, store
from arccnet_ckpt.core.runfolder import FolderRequest, RunNames, open_run_folder, relative, run_names

T0 = datetime(2025, 2, 12, 14, 30, 45, tzinfo=timezone.utc)
NAMES = RunNames(model_name="resnet18", loss_function="focal", class_names=None, class_name_sources={})


def _finished_run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    summary = TrainingSummary(
        status="completed", start_time=T0, model_name="vit", loss_function="ce", run_name=folder.name
    )
    store.write_artifact(folder, summary)
    return folder


def test_a_new_run_gets_a_new_folder_named_after_the_start_and_the_names(tmp_path: Path) -> None:
    identity = open_run_folder(FolderRequest(str(tmp_path), "flares/multiclass"), NAMES, T0)
    assert identity.run_dir == str(tmp_path / "checkpoints/flares/multiclass/2025-02-12_14-30-45_resnet18_focal")
    assert (identity.start_time, identity.model_name, identity.run_name) == (
        T0,
        "resnet18",
        Path(identity.run_dir).name,
    )
    again = open_run_folder(FolderRequest(str(tmp_path), "flares/multiclass"), NAMES, T0)
    assert again.run_dir == identity.run_dir + "-2"


def test_a_checkpoint_inside_a_run_continues_it_with_its_names_and_start(tmp_path: Path) -> None:
    run = _finished_run(tmp_path / "checkpoints" / "r" / "2025-01-01_00-00-00_vit_ce")
    later = datetime(2026, 1, 1, tzinfo=timezone.utc)
    identity = open_run_folder(FolderRequest(str(tmp_path), "r", ckpt_path=str(run / "last.ckpt")), NAMES, later)
    assert (identity.run_dir, identity.start_time, identity.model_name) == (str(run), T0, "vit")


def test_an_explicit_folder_wins_over_another_runs_checkpoint(tmp_path: Path) -> None:
    other = _finished_run(tmp_path / "other")
    request = FolderRequest(str(tmp_path), None, explicit_dir=str(tmp_path / "mine"), ckpt_path=str(other / "x.ckpt"))
    identity = open_run_folder(request, NAMES, T0)
    assert (identity.run_dir, identity.start_time) == (str(tmp_path / "mine"), T0)
    assert (tmp_path / "mine").is_dir()


def test_a_checkpoint_outside_any_run_starts_a_new_run(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    request = FolderRequest(str(tmp_path), "r", ckpt_path=str(tmp_path / "elsewhere" / "model.ckpt"))
    assert Path(open_run_folder(request, NAMES, T0).run_dir).parent == tmp_path / "checkpoints" / "r"


def test_names_follow_the_arguments_then_inference_and_warn_on_disagreeing_class_names() -> None:
    names = run_names({"MODEL_NAME": "cfg", "CLASSES": ["b", "a"]}, {}, None, None, loss_function="focal")
    assert (names.model_name, names.loss_function, names.class_names) == ("cfg", "focal", ["b", "a"])
    with pytest.warns(
        ArcCkptWarning, match=r"the class names disagree \(argument: \['a', 'b'\]; config: \['b', 'a'\]\)"
    ):
        names = run_names({"CLASSES": ["b", "a"]}, {}, None, None, class_names=["a", "b"])
    assert names.class_names == ["a", "b"]
    assert names.class_name_sources == {"argument": ["a", "b"], "config": ["b", "a"]}
    with pytest.raises(ArtifactError, match=r"config\.json: not a valid config: the config key '_arccnet' is reserved"):
        run_names({"_arccnet": {}}, {}, None, None)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/runs/a/best.ckpt", "best.ckpt"),
        ("/runs/a/sub/last.ckpt", "sub/last.ckpt"),
        ("/runs/ab/best.ckpt", "/runs/ab/best.ckpt"),  # a sibling whose name starts the same: absolute
        ("/elsewhere/x.ckpt", "/elsewhere/x.ckpt"),
        (None, None),
    ],
)
def test_paths_are_relative_inside_the_run_folder_and_absolute_outside(path: str | None, expected: str | None) -> None:
    assert relative(path, "/runs/a") == expected
    assert relative("s3://b/runs/a/best.ckpt", "s3://b/runs/a") == "best.ckpt"


def test_a_path_relative_to_the_working_directory_is_recorded_so_that_it_still_means_something(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lightning keeps ckpt_path as the user typed it: "data/checkpoints/..." means nothing from another directory.
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "data" / "checkpoints" / "r" / "run"
    assert relative("data/checkpoints/r/run/last.ckpt", str(run)) == "last.ckpt"
    assert relative("other/best.ckpt", str(run)) == str(tmp_path / "other" / "best.ckpt")


def test_a_fresh_fit_in_a_folder_another_run_holds_gets_its_own_folder_under_it(tmp_path: Path) -> None:
    logs = _finished_run(tmp_path / "logs")
    with pytest.warns(ArcCkptWarning, match=r"already holds the record of another run \(logs, completed") as caught:
        identity = open_run_folder(FolderRequest(str(tmp_path), None, explicit_dir=str(logs)), NAMES, T0)
    assert identity.run_dir == str(logs / "2025-02-12_14-30-45_resnet18_focal")
    assert identity.run_dir in str(caught[0].message)
    # a checkpoint from elsewhere does not make it a resume either
    elsewhere = FolderRequest(str(tmp_path), None, explicit_dir=str(logs), ckpt_path=str(tmp_path / "pre.ckpt"))
    with pytest.warns(ArcCkptWarning):
        assert open_run_folder(elsewhere, NAMES, T0).run_dir == identity.run_dir + "-2"


def test_a_checkpoint_in_the_dirpaths_runs_or_the_run_state_naming_one_continues_it(tmp_path: Path) -> None:
    logs = _finished_run(tmp_path / "logs")
    nested = _finished_run(logs / "2025-02-12_14-30-45_resnet18_focal")
    for ckpt, restored, expected in [
        (logs / "last.ckpt", None, logs),
        (nested / "last.ckpt", None, nested),  # the fold the rule nested: resumed with the same dirpath
        (tmp_path / "hpc_ckpt_1.ckpt", {"run_dir": str(nested)}, nested),  # a requeue whose checkpoint lies elsewhere
    ]:
        request = FolderRequest(str(tmp_path), None, explicit_dir=str(logs), ckpt_path=str(ckpt), restored=restored)
        identity = open_run_folder(request, NAMES, datetime(2026, 1, 1, tzinfo=timezone.utc))
        assert (identity.run_dir, identity.start_time, identity.model_name) == (str(expected), T0, "vit")


def test_a_test_only_trainer_adds_to_the_run_its_dirpath_holds(tmp_path: Path) -> None:
    logs = _finished_run(tmp_path / "logs")
    request = FolderRequest(str(tmp_path), None, explicit_dir=str(logs), stage="test")
    assert open_run_folder(request, NAMES, T0).run_dir == str(logs)
