"""Cross-validation as one group, zero code: the users' fold loop, then their hand-written aggregation, reproduced.

The loop is theirs: five folds in one process, each a new Trainer and a new callback with the same ``dirpath``,
EarlyStopping, ``trainer.test(ckpt_path="best")``. The reference is their aggregation written again with numpy and
scikit-learn over what each fold's best checkpoint predicts on its test fold and what ``trainer.test`` returned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from cutouts import HALE, HaleCutoutModel, cutouts
from sklearn.metrics import classification_report, confusion_matrix

from arccnet_ckpt import find_groups, load_group, load_run
from arccnet_ckpt.capture import groups
from arccnet_ckpt.pytorch_lightning import ArcCheckpointCallback

FOLDS = 5
TOLERANCE = 1e-9


@pytest.fixture(autouse=True)
def _new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(groups, "_counters", {})  # a script of its own: no earlier test's runs in its group


def _fold_loop(logs: Path, tmp_path: Path) -> tuple[list[ArcCheckpointCallback], list[dict[str, float]]]:
    callbacks, results = [], []
    for k in range(FOLDS):
        cb = ArcCheckpointCallback(
            dirpath=str(logs), filename=f"hale-fold{k}-{{epoch:02d}}", monitor="val_loss", mode="min",
            class_names=HALE,
        )  # fmt: skip
        trainer = pl.Trainer(
            callbacks=[cb, pl.callbacks.EarlyStopping("val_loss", mode="min", patience=1)],
            default_root_dir=tmp_path, max_epochs=2, num_sanity_val_steps=0, logger=False,
            enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1,
        )  # fmt: skip
        trainer.fit(HaleCutoutModel(), cutouts(64, seed=10 * k), cutouts(32, seed=10 * k + 1))
        results.append(trainer.test(ckpt_path="best", dataloaders=cutouts(48, seed=10 * k + 2), verbose=False)[0])
        callbacks.append(cb)
    return callbacks, results


def _users_aggregation(callbacks: list[ArcCheckpointCallback], results: list[dict[str, float]]) -> dict[str, Any]:
    """Their ~300 lines, in short: per fold the best model's predictions, sklearn's report and matrix; numpy stats."""
    labels = list(range(len(HALE)))
    reports, matrices = [], []
    for k, cb in enumerate(callbacks):
        model = HaleCutoutModel.load_from_checkpoint(cb.best_model_path).eval()
        loader = cutouts(48, seed=10 * k + 2)
        with torch.no_grad():
            y_pred = torch.cat([model(x).argmax(dim=1) for x, _ in loader]).numpy()
        y_true = torch.cat([y for _, y in loader]).numpy()
        reports.append(classification_report(y_true, y_pred, labels=labels, target_names=HALE, zero_division=0,
                                             output_dict=True))  # fmt: skip
        matrices.append(confusion_matrix(y_true, y_pred, labels=labels))

    def stats(values: list[float]) -> dict[str, float]:
        array = np.asarray(values, dtype=float)
        return {"mean": array.mean(), "std": array.std(), "min": array.min(), "max": array.max()}

    keys = {"precision": "precision", "recall": "recall", "f1": "f1-score", "support": "support"}
    return {
        "tests": {name: stats([r[name] for r in results]) for name in ("test_accuracy", "test_loss")},
        "per_class": {n: {k: stats([r[n][s] for r in reports]) for k, s in keys.items()} for n in HALE},
        "macro": {k: stats([r["macro avg"][s] for r in reports]) for k, s in keys.items()},
        "weighted": {k: stats([r["weighted avg"][s] for r in reports]) for k, s in keys.items()},
        "matrix_mean": np.mean(matrices, axis=0),
        "matrix_sum": np.sum(matrices, axis=0),
    }


def _close(ours: Any, theirs: dict[str, float], what: str) -> None:
    for key, value in theirs.items():
        assert getattr(ours, key) == pytest.approx(value, abs=TOLERANCE), f"{what}.{key}"


def test_a_fold_loop_is_one_group_whose_summary_reproduces_the_users_aggregation(tmp_path: Path) -> None:
    data = tmp_path / "data"
    callbacks, results = _fold_loop(data / "checkpoints" / "hale_cv" / "logs", tmp_path)
    run_dirs = [cb.run_dir for cb in callbacks]
    assert len(set(run_dirs)) == FOLDS  # five run folders, each its own record
    recorded = [load_run(d).group for d in run_dirs]
    assert [g.index for g in recorded] == list(range(FOLDS))
    assert {(g.id, g.source) for g in recorded} == {(recorded[0].id, "process")}

    (found,) = [g for g in find_groups(data) if not g.singleton]
    assert found.id == recorded[0].id
    group = load_group(found.id, data)
    assert [run.path for run in group.runs] == run_dirs
    summary = group.summary()
    expected = _users_aggregation(callbacks, results)
    for name, theirs in expected["tests"].items():
        _close(summary.test_metrics[name], theirs, name)
    for name in HALE:
        for key, theirs in expected["per_class"][name].items():
            _close(getattr(summary.per_class[name], key), theirs, f"{name}.{key}")
    for key, theirs in expected["macro"].items():
        _close(getattr(summary.macro_avg, key), theirs, f"macro.{key}")
    for key, theirs in expected["weighted"].items():
        _close(getattr(summary.weighted_avg, key), theirs, f"weighted.{key}")
    assert np.allclose(summary.confusion_matrix_mean, expected["matrix_mean"], rtol=0, atol=TOLERANCE)
    assert summary.confusion_matrix_sum == expected["matrix_sum"].tolist()
    durations = [load_run(d).summary.duration_seconds for d in run_dirs]
    assert summary.duration_seconds.mean == pytest.approx(float(np.mean(durations)), abs=TOLERANCE)
