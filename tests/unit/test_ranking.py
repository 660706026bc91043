"""ROC/PR curves, roc_auc and average_precision (exact and binned) and the calibration bins, against scikit-learn and
numpy references on plain tensors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from arccnet_ckpt.metrics import TestPredictionCollector
from arccnet_ckpt.metrics.calibration import CalibrationState
from arccnet_ckpt.metrics.ranking import RankingState, thin

TOL = 1e-9


def _scores(width: int, n: int, seed: int, tied: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities ``(n, width)`` (one column: P(positive)) and targets; ``tied`` draws from a few levels only."""
    gen = torch.Generator().manual_seed(seed)
    classes = 2 if width == 1 else width
    target = torch.randint(0, classes, (n,), generator=gen)
    if width == 1:
        p = torch.rand(n, generator=gen) * 0.6 + 0.4 * target  # informative, overlapping
        return (p.mul(10).round().div(10) if tied else p).unsqueeze(1), target
    logits = torch.randn(n, width, generator=gen) + 1.5 * torch.nn.functional.one_hot(target, width)
    if tied:
        logits = logits.round().clamp(-1, 2)  # few distinct rows: many tied probabilities
    return logits.softmax(dim=1), target


def _columns(probs: torch.Tensor) -> np.ndarray:
    p = probs.double().numpy()
    return np.concatenate((1 - p, p), axis=1) if p.shape[1] == 1 else p


def _batches(collector: TestPredictionCollector, probs: torch.Tensor, target: torch.Tensor, size: int = 97) -> None:
    for start in range(0, len(target), size):
        collector.update({"probs": probs[start : start + size], "y": target[start : start + size]})


@pytest.mark.parametrize("tied", [False, True], ids=["random", "tied"])
@pytest.mark.parametrize("width", [1, 2, 3, 10])
def test_exact_curves_and_areas_equal_sklearn(width: int, tied: bool) -> None:
    probs, target = _scores(width, 1500, seed=width, tied=tied)
    state = RankingState()
    for start in range(0, 1500, 250):
        state.update(probs[start : start + 250], target[start : start + 250])
    classes = 2 if width == 1 else width
    result = state.fields(classes, limit=None)
    assert result["ranking"] == "exact"
    assert result["max_error"] is None
    columns, y = _columns(probs), target.numpy()
    for k, ours in enumerate(result["per_class"]):
        positive = y == k
        assert ours["roc_auc"] == pytest.approx(roc_auc_score(positive, columns[:, k]), abs=TOL, rel=0)
        assert ours["average_precision"] == pytest.approx(
            average_precision_score(positive, columns[:, k]), abs=TOL, rel=0
        )
        fpr, tpr, _ = roc_curve(positive, columns[:, k])
        np.testing.assert_allclose(ours["roc"]["fpr"], fpr, atol=TOL, rtol=0)
        np.testing.assert_allclose(ours["roc"]["tpr"], tpr, atol=TOL, rtol=0)
        precision, recall, _ = precision_recall_curve(positive, columns[:, k])
        np.testing.assert_allclose(ours["pr"]["precision"], precision, atol=TOL, rtol=0)
        np.testing.assert_allclose(ours["pr"]["recall"], recall, atol=TOL, rtol=0)


@pytest.mark.parametrize("tied", [False, True], ids=["random", "tied"])
@pytest.mark.parametrize("width", [1, 2, 3, 10])
def test_the_report_equals_sklearn_roc_auc_score_ovr(width: int, tied: bool) -> None:
    probs, target = _scores(width, 2000, seed=10 + width, tied=tied)
    collector = TestPredictionCollector()
    _batches(collector, probs, target)
    fields = collector.report_fields(None)
    columns, y = _columns(probs), target.numpy()
    names = fields["class_names"]
    if width <= 2:
        expected = roc_auc_score(y, columns[:, 1])
        assert fields["roc_auc"]["macro"] == pytest.approx(expected, abs=TOL, rel=0)
        assert fields["roc_auc"]["weighted"] == pytest.approx(expected, abs=TOL, rel=0)
    else:
        for average in ("macro", "weighted"):
            expected = roc_auc_score(y, columns, multi_class="ovr", average=average, labels=list(range(width)))
            assert fields["roc_auc"][average] == pytest.approx(expected, abs=TOL, rel=0)
    expected_ap = average_precision_score(np.eye(columns.shape[1])[y], columns, average=None)
    for k, name in enumerate(names):
        assert fields["per_class"][name]["average_precision"] == pytest.approx(expected_ap[k], abs=TOL, rel=0)
    assert fields["predictions"]["ranking"] == "exact"
    assert fields["scores_note"] is None
    for curves in fields["curves"].values():
        assert len(curves["roc"]["fpr"]) <= 512
        assert len(curves["pr"]["precision"]) <= 512
        assert curves["roc"]["fpr"][0] == 0.0
        assert curves["roc"]["fpr"][-1] == 1.0
        assert curves["pr"]["recall"][-1] == 0.0
        assert curves["pr"]["precision"][-1] == 1.0


def test_an_absent_class_has_null_scores_and_null_averages() -> None:
    probs, target = _scores(3, 600, seed=3, tied=False)
    keep = target != 2
    collector = TestPredictionCollector()
    _batches(collector, probs[keep], target[keep])
    fields = collector.report_fields(["a", "b", "c"])
    assert fields["per_class"]["c"]["roc_auc"] is None
    assert fields["per_class"]["c"]["average_precision"] is None
    assert fields["curves"]["c"] == {"roc": None, "pr": None}
    assert fields["per_class"]["a"]["roc_auc"] == pytest.approx(
        roc_auc_score(target[keep].numpy() == 0, probs[keep][:, 0].double().numpy()), abs=TOL
    )
    assert fields["roc_auc"] == {"macro": None, "weighted": None}
    assert fields["scores_note"] == (
        "roc_auc is undefined for 'c': the test set has no positive or no negative sample of it, so its averages "
        "are null"
    )


def test_a_test_set_of_one_class_gives_null_auc_with_the_reason() -> None:
    collector = TestPredictionCollector()
    collector.update({"probs": torch.tensor([0.2, 0.9, 0.7]), "y": torch.tensor([1, 1, 1])})
    fields = collector.report_fields(None)
    positive, negative = fields["per_class"]["positive"], fields["per_class"]["negative"]
    assert positive["roc_auc"] is None
    assert negative["roc_auc"] is None
    assert positive["average_precision"] == 1.0  # defined: every sample is positive
    assert negative["average_precision"] is None
    assert fields["roc_auc"] == {"macro": None, "weighted": None}
    assert fields["scores_note"] == (
        "roc_auc is undefined for 'positive': the test set has no positive or no negative sample of it"
    )


@pytest.mark.parametrize("tied", [False, True], ids=["random", "tied"])
@pytest.mark.parametrize("width", [1, 3])
def test_binned_ranking_stays_within_its_recorded_bound(width: int, tied: bool) -> None:
    probs, target = _scores(width, 3000, seed=20 + width, tied=tied)
    collector = TestPredictionCollector(score_budget=500, score_bins=16)  # coarse bins: a visible error
    _batches(collector, probs, target)
    fields = collector.report_fields(None)
    assert fields["predictions"]["ranking"] == "binned"
    bound = fields["predictions"]["max_error"]
    assert 0 < bound < 0.5
    columns, y = _columns(probs), target.numpy()
    errors = []
    for k, name in enumerate(fields["class_names"]):
        ours = fields["per_class"][name]
        errors.append(abs(ours["roc_auc"] - roc_auc_score(y == k, columns[:, k])))
        errors.append(abs(ours["average_precision"] - average_precision_score(y == k, columns[:, k])))
    assert max(errors) <= bound + 1e-12
    assert max(errors) > 0 or tied  # the bins did lose something on continuous scores


def test_binned_memory_does_not_grow_with_the_test_set() -> None:
    probs, target = _scores(3, 128, seed=5, tied=False)
    state = RankingState(budget=1000, bins=64)
    sizes = []
    for batches in (10, 100):
        for _ in range(batches):
            state.update(probs, target)
        sizes.append(state.state_size())
    assert state.binned
    assert sizes[0] == sizes[1] == 3 * 2 * 64


def test_thinning_keeps_both_ends_and_at_most_the_limit() -> None:
    xs, ys = torch.arange(10000, dtype=torch.float64) / 9999, torch.arange(10000, dtype=torch.float64) % 7
    thinned_x, thinned_y = thin(xs, ys, 512)
    assert len(thinned_x) == len(thinned_y) == 512
    assert (thinned_x[0], thinned_x[-1]) == (0.0, 1.0)
    assert (thinned_y[0], thinned_y[-1]) == (0.0, float(9999 % 7))
    assert thinned_x == sorted(set(thinned_x))
    assert thin(xs[:5], ys[:5]) == (xs[:5].tolist(), ys[:5].tolist())


def test_the_file_gets_thinned_curves_but_areas_from_every_point() -> None:
    probs, target = _scores(1, 5000, seed=9, tied=False)
    collector = TestPredictionCollector()
    _batches(collector, probs, target, size=1000)
    fields = collector.report_fields(None)
    curves = fields["curves"]["positive"]
    fpr, _, _ = roc_curve(target.numpy(), probs[:, 0].double().numpy())
    assert len(fpr) > 512  # thinning had work to do
    assert len(curves["roc"]["fpr"]) == 512
    assert len(curves["pr"]["recall"]) == 512
    assert fields["roc_auc"]["macro"] == pytest.approx(roc_auc_score(target.numpy(), probs[:, 0].numpy()), abs=TOL)


def _calibration_reference(columns: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    confidence, predicted = columns.max(axis=1), columns.argmax(axis=1)
    bins = np.minimum((confidence * 10).astype(int), 9)
    out, ece = [], 0.0
    for b in range(10):
        inside = bins == b
        n = int(inside.sum())
        conf = float(confidence[inside].mean()) if n else None
        acc = float((predicted[inside] == y[inside]).mean()) if n else None
        if n:
            ece += n / len(y) * abs(acc - conf)  # type: ignore[operator]
        out.append({"lower": b / 10, "upper": (b + 1) / 10, "confidence": conf, "accuracy": acc, "count": n})
    return {"bins": out, "ece": ece}


@pytest.mark.parametrize("width", [1, 3, 10])
def test_calibration_equals_a_numpy_reference(width: int) -> None:
    probs, target = _scores(width, 1000, seed=30 + width, tied=False)
    state = CalibrationState()
    for start in range(0, 1000, 128):
        state.update(probs[start : start + 128].double(), target[start : start + 128])
    ours = state.fields()
    expected = _calibration_reference(_columns(probs), target.numpy())
    assert ours is not None
    assert ours["ece"] == pytest.approx(expected["ece"], abs=1e-12)
    for mine, theirs in zip(ours["bins"], expected["bins"], strict=True):
        assert mine["count"] == theirs["count"]
        assert (mine["lower"], mine["upper"]) == (theirs["lower"], theirs["upper"])
        for key in ("confidence", "accuracy"):
            assert (mine[key] is None) == (theirs[key] is None)
            if mine[key] is not None:
                assert mine[key] == pytest.approx(theirs[key], abs=1e-12)
