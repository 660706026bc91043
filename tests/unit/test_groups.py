"""Groups read back from hand-made run folders: which runs are one group, their order, and the statistics, checked
against the aggregation a cross-validation script writes with numpy and scikit-learn."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from folders import HALE_CLASSES, HALE_FOLDS, T0, edit_json, fold_report, make_group, make_run
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

from arccnet_ckpt import (
    ArcCkptError,
    GroupNotFoundError,
    GroupSummary,
    find_groups,
    load_group,
    load_run,
)

TOLERANCE = 1e-9


def _labels(matrix: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """The true and predicted labels a confusion matrix counts."""
    y_true, y_pred = [], []
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            y_true += [i] * count
            y_pred += [j] * count
    return np.array(y_true), np.array(y_pred)


def _users_aggregation(matrices: list[list[list[int]]], folds: list[int]) -> dict[str, Any]:
    """What the users' script computes over its folds, written again with numpy and scikit-learn."""
    labels = list(range(len(HALE_CLASSES)))
    reports, tests, matrices_np = [], {"test_accuracy": [], "test_f1": [], "test_loss": []}, []
    for k in folds:
        y_true, y_pred = _labels(matrices[k])
        reports.append(
            classification_report(
                y_true, y_pred, labels=labels, target_names=list(HALE_CLASSES), zero_division=0, output_dict=True
            )
        )
        matrices_np.append(confusion_matrix(y_true, y_pred, labels=labels))
        tests["test_accuracy"].append(accuracy_score(y_true, y_pred))
        tests["test_f1"].append(f1_score(y_true, y_pred, average="macro", zero_division=0))
        tests["test_loss"].append(0.40 + 0.03 * k)  # what make_group logs
    durations = [3600 + 125.5 * k for k in folds]

    def stats(values: list[float]) -> dict[str, float]:
        array = np.array(values, dtype=float)
        return {"mean": array.mean(), "std": array.std(), "min": array.min(), "max": array.max()}

    sklearn_keys = {"precision": "precision", "recall": "recall", "f1": "f1-score", "support": "support"}
    return {
        "tests": {name: stats(values) for name, values in tests.items()},
        "duration": stats(durations),
        "per_class": {
            name: {key: stats([r[name][sk] for r in reports]) for key, sk in sklearn_keys.items()}
            for name in HALE_CLASSES
        },
        "macro": {key: stats([r["macro avg"][sk] for r in reports]) for key, sk in sklearn_keys.items()},
        "weighted": {key: stats([r["weighted avg"][sk] for r in reports]) for key, sk in sklearn_keys.items()},
        "matrix_mean": np.mean(matrices_np, axis=0),
        "matrix_sum": np.sum(matrices_np, axis=0),
        "pooled": classification_report(
            *map(np.concatenate, zip(*(_labels(matrices[k]) for k in folds), strict=True)),
            labels=labels,
            target_names=list(HALE_CLASSES),
            zero_division=0,
            output_dict=True,
        ),
        "test_f1_sample_std": float(np.std(tests["test_f1"], ddof=1)),
    }


def _close(ours: Any, theirs: dict[str, float]) -> None:
    for key, value in theirs.items():
        assert getattr(ours, key) == pytest.approx(value, abs=TOLERANCE), key


def _check_against_users(summary: GroupSummary, folds: list[int]) -> None:
    expected = _users_aggregation([list(m) for m in HALE_FOLDS], folds)
    for name, theirs in expected["tests"].items():
        _close(summary.test_metrics[name], theirs)
    _close(summary.duration_seconds, expected["duration"])
    assert summary.test_metrics["test_f1"].std_sample == pytest.approx(expected["test_f1_sample_std"], abs=TOLERANCE)
    assert summary.per_class is not None
    assert list(summary.per_class) == list(HALE_CLASSES)
    for name in HALE_CLASSES:
        for key, theirs in expected["per_class"][name].items():
            _close(getattr(summary.per_class[name], key), theirs)
    for key, theirs in expected["macro"].items():
        _close(getattr(summary.macro_avg, key), theirs)
    for key, theirs in expected["weighted"].items():
        _close(getattr(summary.weighted_avg, key), theirs)
    assert np.allclose(summary.confusion_matrix_mean, expected["matrix_mean"], rtol=0, atol=TOLERANCE)
    assert summary.confusion_matrix_sum == expected["matrix_sum"].tolist()
    pooled = summary.pooled
    assert pooled is not None
    for name in HALE_CLASSES:
        theirs = expected["pooled"][name]
        ours = pooled.per_class[name]
        assert (ours.precision, ours.recall, ours.f1, ours.support) == pytest.approx(
            (theirs["precision"], theirs["recall"], theirs["f1-score"], theirs["support"]), abs=TOLERANCE
        )
    assert pooled.accuracy == pytest.approx(expected["pooled"]["accuracy"], abs=TOLERANCE)
    assert pooled.macro_avg.f1 == pytest.approx(expected["pooled"]["macro avg"]["f1-score"], abs=TOLERANCE)


# ---------------------------------------------------------------------------------------------------- statistics


def test_a_groups_statistics_reproduce_the_users_numpy_and_sklearn_aggregation(tmp_path: Path) -> None:
    make_group(tmp_path)

    summary = load_group("hale-cv", tmp_path).summary()

    assert (summary.runs_total, summary.runs_completed, summary.status_counts) == (5, 5, {"completed": 5})
    assert [row.index for row in summary.runs] == [0, 1, 2, 3, 4]
    _check_against_users(summary, [0, 1, 2, 3, 4])
    # Every number of the runs' records is summarised: the monitor's best value and epoch, the per-class scores.
    assert summary.monitor == "val_f1"
    assert summary.best_value is not None
    assert summary.best_value.mean == pytest.approx(0.74, abs=TOLERANCE)
    assert summary.best_epoch is not None
    assert summary.best_epoch.values == [10, 11, 12, 13, 14]
    alpha = summary.per_class["Alpha"] if summary.per_class else None
    assert alpha is not None
    assert alpha.tss is not None
    assert alpha.roc_auc is not None
    assert alpha.tss.n == 5
    assert summary.left_out == []
    assert summary.missing == []
    assert summary.notes == []
    assert summary.classes_note is None


def test_a_failed_fold_is_listed_and_left_out_of_the_statistics(tmp_path: Path) -> None:
    folders = make_group(tmp_path, statuses={2: "failed"})

    summary = load_group("hale-cv", tmp_path).summary()

    assert (summary.runs_total, summary.runs_completed) == (5, 4)
    assert summary.status_counts == {"completed": 4, "failed": 1}
    [left] = summary.left_out
    assert (left.run, left.index, left.status) == (Path(folders[2]).name, 2, "failed")
    assert left.reason == "failed: RuntimeError: CUDA out of memory"
    assert summary.notes[0].startswith("1 of 5 run(s) left out of the statistics: ")
    assert [row.counted for row in summary.runs] == [True, True, False, True, True]
    assert summary.best_value is not None
    assert summary.best_value.n == 4
    _check_against_users(summary, [0, 1, 3, 4])


def test_runs_that_disagree_on_the_classes_keep_their_scalar_statistics(tmp_path: Path) -> None:
    folders = make_group(tmp_path)
    report = Path(folders[3]) / "classification_report.json"
    four = [[9, 1, 0, 0], [1, 8, 1, 0], [0, 1, 7, 2], [0, 0, 1, 9]]
    edit_json(report, **fold_report(four, ["Alpha", "Beta", "Beta-Gamma", "Beta-Gamma-Delta"]))

    summary = load_group("hale-cv", tmp_path).summary()

    assert summary.per_class is None
    assert summary.confusion_matrix_mean is None
    assert summary.pooled is None
    assert summary.confusion_matrix_sum is None
    assert summary.macro_avg is None
    assert summary.class_names is None
    assert summary.classes_note is not None
    assert "disagree on the class names or their number" in summary.classes_note
    assert f"{Path(folders[3]).name}: 4 classes" in summary.classes_note
    assert summary.test_metrics["test_loss"].n == 5  # the scalar metrics are still summarised


def test_a_missing_index_and_a_reused_index_are_said(tmp_path: Path) -> None:
    folders = make_group(tmp_path)
    edit_json(Path(folders[2]) / "training_summary.json", group={"id": "hale-cv", "source": "argument", "index": 4})

    group = load_group("hale-cv", tmp_path)
    summary = group.summary()

    # Index order, equal indices by start time.
    assert [r.path for r in group.runs] == [folders[0], folders[1], folders[3], folders[2], folders[4]]
    assert summary.missing == [2]
    assert any(note.startswith("index 4 is held by 2 runs") for note in summary.notes)


def test_the_summary_serialises_to_json_and_back(tmp_path: Path) -> None:
    make_group(tmp_path, statuses={1: "failed"})
    summary = load_group("hale-cv", tmp_path).summary()

    text = summary.model_dump_json()

    assert json.loads(text)["test_metrics"]["test_f1"]["std_sample"] == summary.test_metrics["test_f1"].std_sample
    assert GroupSummary.model_validate_json(text) == summary


# ------------------------------------------------------------------------------------------- finding and loading


def test_load_run_gives_the_runs_group_and_a_legacy_run_none(tmp_path: Path) -> None:
    folders = make_group(tmp_path)
    legacy = make_run(tmp_path, start=T0.replace(year=2024))
    edit_json(Path(legacy) / "training_summary.json", group=...)

    group = load_run(folders[3]).group

    assert group is not None
    assert (group.id, group.source, group.index) == ("hale-cv", "argument", 3)
    assert load_run(legacy).group is None


def test_a_run_without_a_group_is_a_singleton(tmp_path: Path) -> None:
    make_group(tmp_path)
    legacy = make_run(tmp_path, start=T0.replace(year=2024))
    alone = make_run(tmp_path, "flares/other", start=T0.replace(year=2023))
    edit_json(Path(alone) / "training_summary.json", group={"id": "solo", "source": "process", "index": 0})

    groups = find_groups(tmp_path)

    assert [(g.id, g.singleton, len(g)) for g in groups] == [
        ("solo", True, 1),
        (Path(legacy).name, True, 1),
        ("hale-cv", False, 5),
    ]
    single = load_group(Path(legacy).name, tmp_path)
    assert single.source is None
    assert single.runs[0].path == legacy
    assert single.summary().singleton is True


def test_find_groups_filters_select_whole_groups(tmp_path: Path) -> None:
    make_group(tmp_path, statuses={2: "failed"})
    make_group(tmp_path, "mcintosh-cv", HALE_FOLDS[:2], root_name="cutouts/mcintosh", start=T0.replace(year=2026))

    failed = find_groups(tmp_path, status="failed")
    hale = find_groups(tmp_path, "cutouts/hale")

    assert [(g.id, len(g)) for g in failed] == [("hale-cv", 5)]  # the group with a failed run, every run of it
    assert [g.id for g in hale] == ["hale-cv"]
    assert [g.id for g in find_groups(tmp_path)] == ["hale-cv", "mcintosh-cv"]
    with pytest.raises(ValueError, match="status must be one of"):
        find_groups(tmp_path, status="done")


def test_an_unknown_group_id_is_a_clear_error(tmp_path: Path) -> None:
    make_group(tmp_path)

    with pytest.raises(GroupNotFoundError, match=r"no group 'hale-cv2' under .*arccnet-ckpt groups --all") as caught:
        load_group("hale-cv2", tmp_path)

    assert isinstance(caught.value, ArcCkptError)
    assert isinstance(caught.value, LookupError)


def test_reading_groups_imports_neither_torch_nor_numpy(tmp_path: Path) -> None:
    make_group(tmp_path)
    code = textwrap.dedent(
        """
        import sys
        from arccnet_ckpt import find_groups, load_group
        assert [g.id for g in find_groups(sys.argv[1])] == ["hale-cv"]
        assert load_group("hale-cv", sys.argv[1]).summary().pooled is not None
        heavy = sorted(m for m in ("torch", "lightning", "pytorch_lightning", "numpy") if m in sys.modules)
        assert not heavy, heavy
        """
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr


def test_groups_on_an_object_store_read_as_on_a_local_disk(tmp_path: Path) -> None:
    import fsspec

    make_group(tmp_path, statuses={2: "failed"})
    memory = fsspec.filesystem("memory")
    memory.put(str(tmp_path / "checkpoints"), "/arc-groups/data/checkpoints", recursive=True)
    try:
        remote = load_group("hale-cv", "memory://arc-groups/data").summary()
        groups = find_groups("memory://arc-groups/data")
    finally:
        memory.rm("/arc-groups", recursive=True)

    local = load_group("hale-cv", tmp_path).summary()
    assert [(g.id, len(g)) for g in groups] == [("hale-cv", 5)]
    assert remote.model_dump(exclude={"runs"}) == local.model_dump(exclude={"runs"})
    assert [r.path for r in remote.runs][0].startswith("memory://arc-groups/data/checkpoints/cutouts/hale/")


def test_a_slurm_arrays_missing_task_counts_from_its_first_task_id(tmp_path: Path) -> None:
    folders = make_group(tmp_path, "4242", HALE_FOLDS[:3], source="slurm_array")
    for folder, task in zip(folders, (3, 4, 6), strict=True):  # sbatch --array=3-6: task 5 never wrote a record
        edit_json(Path(folder) / "training_summary.json", group={"id": "4242", "source": "slurm_array", "index": task})

    summary = load_group("4242", tmp_path).summary()

    assert summary.source == "slurm_array"
    assert summary.missing == [5]
