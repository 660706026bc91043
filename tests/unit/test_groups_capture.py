"""Where a run's group comes from (``capture/groups.py``), and the callback's ``group=`` checks, without a Trainer."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from arccnet_ckpt import ArcCheckpointCallback, store
from arccnet_ckpt.capture import groups
from arccnet_ckpt.capture.groups import check_group, run_group
from arccnet_ckpt.core.runfolder import FolderRequest, RunNames, open_run_folder
from arccnet_ckpt.records import GroupInfo, TrainingSummary

T0 = datetime(2025, 2, 12, 14, 30, 45, tzinfo=timezone.utc)
NAMES = RunNames(model_name="resnet18", loss_function="focal", class_names=None, class_name_sources={})
SLURM = {"SLURM_JOB_ID": "4243", "SLURM_ARRAY_JOB_ID": "4200", "SLURM_ARRAY_TASK_ID": "3"}


@pytest.fixture(autouse=True)
def _new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(groups, "_counters", {})
    for name in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)


def _group(run_name: str, environ: dict[str, str] | None = None, **kwargs: Any) -> GroupInfo:
    hierarchy = "2025-02-12_14-30-45_resnet18_focal"
    return run_group(
        run_name=run_name, hierarchy_name=hierarchy, names=("r", "resnet18", "focal"), environ=environ or {}, **kwargs
    )


def test_runs_of_one_process_with_the_same_names_are_one_group_in_order() -> None:
    first = _group("2025-02-12_14-30-45_resnet18_focal")
    assert first == GroupInfo(id="2025-02-12_14-30-45_resnet18_focal", source="process", index=0)
    assert _group("2025-02-12_14-31-00_resnet18_focal") == first.model_copy(update={"index": 1})
    other = run_group(run_name="x", hierarchy_name="2025-02-12_14-32-00_vit_focal", names=("r", "vit", "focal"))
    assert other == GroupInfo(id="2025-02-12_14-32-00_vit_focal", source="process", index=0)  # other names
    assert _group("2025-02-12_14-33-00_resnet18_focal").index == 2


def test_a_first_run_in_a_folder_named_by_the_user_takes_its_hierarchy_name_as_the_id() -> None:
    assert _group("fold0").id == "2025-02-12_14-30-45_resnet18_focal"  # "fold0" is in every user's fold loop


def test_the_argument_comes_first_and_counts_its_own_indices() -> None:
    assert _group("a", SLURM, group="hale-cv") == GroupInfo(id="hale-cv", source="argument", index=0)
    assert _group("b", SLURM, group="hale-cv") == GroupInfo(id="hale-cv", source="argument", index=1)
    assert _group("c", group="hale-cv", group_index=7) == GroupInfo(id="hale-cv", source="argument", index=7)
    assert _group("d").index == 0  # the process group of these names was not advanced by the argument's runs


def test_a_slurm_array_task_is_in_its_array_jobs_group() -> None:
    assert _group("a", SLURM) == GroupInfo(id="slurm-4200", source="slurm_array", index=3)
    assert _group("a", {"SLURM_JOB_ID": "4243"}).source == "process"  # a job that is no array


def test_an_evaluation_folder_is_a_singleton_unless_a_group_is_given() -> None:
    _group("2025-02-12_14-30-45_resnet18_focal")
    evaluation = _group("2025-02-12_14-40-00_resnet18_focal", SLURM, kind="evaluation")
    assert evaluation == GroupInfo(id="2025-02-12_14-40-00_resnet18_focal", source="process", index=0)
    assert _group("x", kind="evaluation", group="hale-cv") == GroupInfo(id="hale-cv", source="argument", index=0)
    assert _group("2025-02-12_14-50-00_resnet18_focal").index == 1  # the evaluation took no training index


@pytest.mark.parametrize(
    ("group", "group_index", "message"),
    [
        ("hale cv", None, r"group must be a name of letters, digits, '\.', '_' and '-'.*got 'hale cv'"),
        ("..", None, r"not '\.' or '\.\.'.*got '\.\.'"),
        ("a/b", None, r"got 'a/b'"),
        ("x" * 101, None, r"at most 100 characters"),
        (3, None, r"got 3"),
        ("hale-cv", -1, r"group_index must be a non-negative int .*got -1"),
        ("hale-cv", True, r"group_index must be a non-negative int .*got True"),
        ("hale-cv", "2", r"got '2'"),
        (None, 2, r"group_index=2 needs group="),
    ],
)
def test_a_bad_group_argument_is_refused_at_construction(group: Any, group_index: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_group(group, group_index)
    with pytest.raises(ValueError, match=message):
        ArcCheckpointCallback(root_name="flares/cv", group=group, group_index=group_index)


def test_a_good_group_argument_is_kept() -> None:
    cb = ArcCheckpointCallback(root_name="flares/cv", group="hale-cv.v2_1", group_index=0)
    assert (cb.group, cb.group_index) == ("hale-cv.v2_1", 0)
    assert check_group("x" * 100, None) == ("x" * 100, None)


def test_a_resumed_run_keeps_its_group_and_advances_no_counter(tmp_path: Path) -> None:
    first = open_run_folder(FolderRequest(str(tmp_path), "r"), NAMES, T0)
    assert first.group == GroupInfo(id=first.run_name, source="process", index=0)
    summary = TrainingSummary(
        status="completed", start_time=T0, model_name="resnet18", loss_function="focal", run_name=first.run_name,
        group=first.group,
    )  # fmt: skip
    store.write_artifact(first.run_dir, summary)
    resumed = open_run_folder(FolderRequest(str(tmp_path), "r", ckpt_path=f"{first.run_dir}/last.ckpt"), NAMES, T0)
    assert (resumed.run_dir, resumed.group) == (first.run_dir, first.group)
    second = open_run_folder(FolderRequest(str(tmp_path), "r"), NAMES, T0)
    assert second.group == GroupInfo(id=first.run_name, source="process", index=1)
