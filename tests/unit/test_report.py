"""Tests of the per-class report: predictions out of ``test_step``, the streaming confusion matrix, the metrics."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.metrics import classification_report, confusion_matrix

from arccnet_ckpt.errors import ArcCkptWarning, LabelError
from arccnet_ckpt.metrics import (
    ConfusionMatrix,
    Predictions,
    TestPredictionCollector,
    compute_report,
    default_class_names,
    predictions_from_outputs,
)
from arccnet_ckpt.metrics import confusion as confusion_module
from arccnet_ckpt.records import ClassificationReport, ClassMetrics


def _labels(num_classes: int, absent: int | None, empty: int | None, n: int, seed: int) -> tuple[Any, Any]:
    """Random true and predicted labels; ``absent`` is never a true label, ``empty`` neither true nor predicted."""
    rng = np.random.default_rng(seed)
    true_classes = [k for k in range(num_classes) if k not in (absent, empty)]
    pred_classes = [k for k in range(num_classes) if k != empty]
    y_true = rng.choice(true_classes, size=n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.choice(pred_classes, size=n))
    if absent is not None:
        y_pred[:3] = absent  # make sure the absent class is predicted at least once
    return y_true, y_pred


def _assert_matches_sklearn(report: dict[str, Any], y_true: Any, y_pred: Any, names: list[str]) -> None:
    expected = classification_report(
        y_true,
        y_pred,
        labels=list(range(len(names))),
        target_names=names,
        output_dict=True,
        zero_division=0,
    )
    for name in names:
        ours, theirs = report["per_class"][name], expected[name]
        assert ours["precision"] == pytest.approx(theirs["precision"], abs=1e-9, rel=0)
        assert ours["recall"] == pytest.approx(theirs["recall"], abs=1e-9, rel=0)
        assert ours["f1"] == pytest.approx(theirs["f1-score"], abs=1e-9, rel=0)
        assert ours["support"] == theirs["support"]
    for ours_key, theirs_key in (("macro_avg", "macro avg"), ("weighted_avg", "weighted avg")):
        ours, theirs = report[ours_key], expected[theirs_key]
        for metric, theirs_metric in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert ours[metric] == pytest.approx(theirs[theirs_metric], abs=1e-9, rel=0), (ours_key, metric)
        assert ours["support"] == theirs["support"] == len(y_true)
    assert report["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-9, rel=0)
    assert report["num_samples"] == len(y_true)
    assert report["confusion_matrix"] == confusion_matrix(y_true, y_pred, labels=range(len(names))).tolist()


@pytest.fixture(params=["bincount", "sync-free"])
def counting_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways ConfusionMatrix counts: the CPU's range check + bincount, and the path every other device takes."""
    if request.param == "sync-free":
        monkeypatch.setattr(confusion_module, "_host_reads_are_free", lambda device: False)
    return str(request.param)


@pytest.mark.usefixtures("counting_path")
@pytest.mark.parametrize(
    ("num_classes", "absent", "empty"),
    [(2, None, None), (2, 1, None), (3, None, None), (3, 2, 1), (5, 0, 3), (17, None, None), (17, 4, 16)],
)
def test_report_matches_sklearn(num_classes: int, absent: int | None, empty: int | None) -> None:
    y_true, y_pred = _labels(num_classes, absent, empty, n=997, seed=num_classes)
    cm = ConfusionMatrix(num_classes)
    cm.update(torch.as_tensor(y_pred), torch.as_tensor(y_true))
    names = [f"class_{k}" for k in range(num_classes)]
    report = compute_report(cm.matrix, names)

    _assert_matches_sklearn(report, y_true, y_pred, names)
    if absent is not None:
        assert report["per_class"][names[absent]]["support"] == 0
        assert report["per_class"][names[absent]]["recall"] == 0.0
    if empty is not None:
        assert report["per_class"][names[empty]] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    validated = ClassificationReport(class_names=names, **report)
    assert validated.macro_avg == ClassMetrics(**report["macro_avg"])
    assert validated.confusion_matrix == report["confusion_matrix"]


@pytest.mark.usefixtures("counting_path")
@pytest.mark.parametrize(("num_classes", "batch_sizes"), [(3, [1, 7, 100, 0, 389]), (17, [250, 3, 3, 241])])
def test_streaming_in_uneven_batches_equals_one_batch(num_classes: int, batch_sizes: list[int]) -> None:
    y_true, y_pred = _labels(num_classes, None, None, n=sum(batch_sizes), seed=1)
    preds, target = torch.as_tensor(y_pred), torch.as_tensor(y_true)
    streamed = ConfusionMatrix(num_classes)
    for p, t in zip(preds.split(batch_sizes), target.split(batch_sizes), strict=True):
        streamed.update(p, t)
    whole = ConfusionMatrix(num_classes)
    whole.update(preds, target)

    assert torch.equal(streamed.matrix, whole.matrix)
    assert streamed.matrix.dtype == torch.int64
    assert streamed.matrix.tolist() == confusion_matrix(y_true, y_pred, labels=range(num_classes)).tolist()
    assert len(streamed) == streamed.num_samples == sum(batch_sizes)


def test_report_accepts_lists_and_tensors_alike() -> None:
    matrix = [[5, 1, 0], [2, 3, 1], [0, 0, 4]]
    names = ["a", "b", "c"]
    assert compute_report(matrix, names) == compute_report(torch.tensor(matrix), names)
    assert compute_report(np.array(matrix), names) == compute_report(matrix, names)


def test_zero_samples_give_zeros_not_nan() -> None:
    cm = ConfusionMatrix(3)
    report = compute_report(cm.matrix, ["a", "b", "c"])
    zeros = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["per_class"] == {"a": zeros, "b": zeros, "c": zeros}
    assert report["macro_avg"] == report["weighted_avg"] == zeros
    assert report["accuracy"] == 0.0
    assert report["num_samples"] == 0
    assert report["confusion_matrix"] == [[0, 0, 0], [0, 0, 0], [0, 0, 0]]
    ClassificationReport(**report)

    grown = ConfusionMatrix()
    report = compute_report(grown.matrix, [])
    assert report["per_class"] == {}
    assert report["macro_avg"] == zeros
    assert not any(math.isnan(v) for v in (report["accuracy"], *report["weighted_avg"].values()))


@pytest.mark.parametrize(
    ("matrix", "names", "match"),
    [
        ([[1, 2], [3]], ["a", "b"], r"square"),
        ([[1, -2], [3, 4]], ["a", "b"], r"non-negative"),
        ([[1, 2.5], [3, 4]], ["a", "b"], r"non-negative integers"),
        ([[1, 2], [3, 4]], ["a"], r"1 names but the confusion matrix is 2 x 2"),
        ([[1, 2], [3, 4]], ["a", "a"], r"distinct.*'a'"),
    ],
)
def test_compute_report_rejects_bad_input(matrix: Any, names: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compute_report(matrix, names)


# ------------------------------------------------------------------------------------ predictions_from_outputs


@pytest.mark.parametrize(
    ("outputs", "expected", "binary"),
    [
        ({"logits": torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0]]), "y": torch.tensor([1, 2])}, [1, 0], False),
        ({"probs": torch.tensor([[0.2, 0.8], [0.6, 0.4]]), "target": torch.tensor([1, 1])}, [1, 0], False),
        ({"probs": torch.tensor([0.2, 0.5, 0.51, 0.9]), "y": torch.tensor([0, 0, 1, 1])}, [0, 0, 1, 1], True),
        ({"logits": torch.tensor([-0.3, 0.0, 0.2, 4.0]), "y": torch.tensor([0, 0, 1, 1])}, [0, 0, 1, 1], True),
        ({"logits": torch.tensor([[-0.3], [0.2]]), "y": torch.tensor([[0], [1]])}, [0, 1], True),
        ({"probs": torch.tensor([[0.3], [0.7]]), "y": torch.tensor([0, 1])}, [0, 1], True),
        ({"preds": torch.tensor([0.4, 0.6, 1.0, 0.0]), "y": torch.tensor([0, 1, 1, 0])}, [0, 1, 1, 0], True),
        ({"preds": torch.tensor([0.4, 0.6, -2.0, 1.5]), "y": torch.tensor([0, 1, 1, 0])}, [1, 1, 0, 1], True),
        ({"preds": torch.tensor([2, 0, 1]), "y": torch.tensor([2, 1, 1])}, [2, 0, 1], False),
        ({"preds": torch.tensor([[2], [0]], dtype=torch.int32), "y": torch.tensor([2, 1])}, [2, 0], False),
        ({"preds": torch.tensor([True, False]), "y": torch.tensor([1, 0])}, [1, 0], False),
        ({"preds": np.array([0, 1, 1]), "targets": [0, 1, 0]}, [0, 1, 1], False),
        ({"probs": [0.9, 0.1], "y": np.array([1.0, 0.0])}, [1, 0], True),
    ],
)
def test_predictions_from_outputs(outputs: dict[str, Any], expected: list[int], binary: bool) -> None:
    result = predictions_from_outputs(outputs)
    assert isinstance(result, Predictions)
    preds, target = result
    assert preds.dtype == target.dtype == torch.int64
    assert preds.shape == target.shape == (len(expected),)
    assert preds.tolist() == expected
    assert result.binary is binary
    assert result.preds is preds
    assert result.target is target


@pytest.mark.parametrize(
    ("key", "threshold", "expected"),
    [("probs", 0.7, [0, 0, 1]), ("logits", 0.7, [0, 0, 1]), ("preds", 0.25, [0, 1, 1]), ("logits", None, [1, 1, 1])],
)
def test_explicit_threshold(key: str, threshold: float | None, expected: list[int]) -> None:
    outputs = {key: torch.tensor([0.2, 0.6, 0.8]), "y": torch.tensor([0, 1, 1])}
    result = predictions_from_outputs(outputs, threshold=threshold)
    assert isinstance(result, Predictions)
    assert result.preds.tolist() == expected


def test_float_targets_become_int64() -> None:
    result = predictions_from_outputs({"logits": torch.tensor([1.0, -1.0]), "y": torch.tensor([1.0, 0.0])})
    assert isinstance(result, Predictions)
    assert result.target.dtype == torch.int64
    assert result.target.tolist() == [1, 0]


def test_first_key_wins_and_none_values_are_skipped() -> None:
    outputs = {"preds": None, "logits": torch.tensor([[0.0, 1.0]]), "probs": torch.tensor([[1.0, 0.0]])}
    outputs |= {"target": torch.tensor([1]), "y": torch.tensor([0])}
    result = predictions_from_outputs(outputs)
    assert isinstance(result, Predictions)
    assert (result.preds.tolist(), result.target.tolist()) == ([1], [1])
    outputs = {"out": torch.tensor([2]), "label": torch.tensor([2])}
    custom = predictions_from_outputs(outputs, preds_keys=("out",), target_keys="label")
    assert isinstance(custom, Predictions)
    assert custom.preds.tolist() == [2]


@pytest.mark.parametrize(
    ("outputs", "match"),
    [
        (None, r"^test_step returned None$"),
        (torch.tensor(0.3), r"returned a Tensor, not a mapping"),
        ({"loss": 1.0, "y": torch.tensor([1])}, r"no prediction key \(looked for 'preds', 'logits', 'probs'\).*'loss'"),
        ({"logits": torch.zeros(2, 3)}, r"no target key \(looked for 'target', 'targets', 'y'\); keys: \['logits'\]"),
        ({"logits": torch.zeros(4, 3), "y": torch.zeros(3)}, r"'logits' of shape \(4, 3\) and 'y' of shape \(3,\)"),
        ({"logits": torch.zeros(2, 3, 4), "y": torch.zeros(2)}, r"'logits' has shape \(2, 3, 4\)"),
        ({"logits": torch.tensor(1.0), "y": torch.zeros(1)}, r"'logits' has shape \(\)"),
        ({"preds": torch.zeros(2, 3, dtype=torch.int64), "y": torch.zeros(2)}, r"expected integer labels"),
        ({"logits": torch.zeros(2, 3), "y": torch.zeros(2, 3)}, r"'y' has shape \(2, 3\); expected class indices"),
        ({"logits": torch.zeros(2, 3), "y": torch.tensor([0.0, 0.5])}, r"non-integral values \(e\.g\. 0\.5\)"),
        ({"logits": torch.zeros(2, 3), "y": torch.tensor([0.0, float("nan")])}, r"non-integral values \(e\.g\. nan"),
        ({"preds": "abc", "y": [1]}, r"'preds' is not a tensor, array or list of numbers \(str\)"),
    ],
)
def test_unusable_outputs_give_a_reason(outputs: Any, match: str) -> None:
    reason = predictions_from_outputs(outputs)
    assert isinstance(reason, str)
    assert "\n" not in reason
    assert re.search(match, reason), reason


# ----------------------------------------------------------------------------------------------- ConfusionMatrix


@pytest.mark.usefixtures("counting_path")
@pytest.mark.parametrize(
    ("preds", "target", "match"),
    [
        ([0, 3, 1], [0, 1, 1], r"prediction label 3 is outside the allowed range\(0, 3\)"),
        ([0, 1, 1], [0, 7, 2], r"target label 7 is outside the allowed range\(0, 3\)"),
        ([0, -1, 1], [0, 1, 2], r"prediction label -1 is outside"),
        ([0, 1, 1], [0, 1, -4], r"target label -4 is outside.*not -1 or ignore_index"),
        ([0, 2, 1], [2, 2, 3], r"target label 3 is outside the allowed range\(0, 3\); 1 of 3 target labels"),
    ],
)
def test_out_of_range_labels_raise_at_check(preds: list[int], target: list[int], match: str) -> None:
    cm = ConfusionMatrix(3)
    cm.update(torch.tensor(preds), torch.tensor(target))  # counted apart: the error comes at check()
    with pytest.raises(LabelError, match=match):
        cm.check()
    valid = [(p, t) for p, t in zip(preds, target, strict=True) if 0 <= p < 3 and 0 <= t < 3]
    assert cm.num_samples == len(valid)
    expected = confusion_matrix([t for _, t in valid], [p for p, _ in valid], labels=range(3))
    assert cm.matrix.tolist() == expected.tolist()


@pytest.mark.usefixtures("counting_path")
@pytest.mark.parametrize(
    ("preds", "target", "match"),
    [
        ([0, -2], [0, 1], r"prediction label -2 is outside the allowed non-negative integers"),
        ([5], [-1], r"target label -1 is outside"),
    ],
)
def test_negative_labels_raise_when_growing(preds: list[int], target: list[int], match: str) -> None:
    cm = ConfusionMatrix()
    cm.update(torch.tensor(preds), torch.tensor(target))
    with pytest.raises(LabelError, match=match):
        cm.check()


@pytest.mark.parametrize(
    ("preds", "target", "match"),
    [
        (torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), r"prediction labels must be integers, got torch.float32"),
        (torch.tensor([0, 1]), torch.tensor([0.0, 1.0]), r"target labels must be integers"),
        (torch.tensor([0, 1]), torch.tensor([0, 1, 1]), r"different numbers of labels: 2 and 3"),
    ],
)
def test_unusable_labels_raise(preds: torch.Tensor, target: torch.Tensor, match: str) -> None:
    with pytest.raises(LabelError, match=match):
        ConfusionMatrix(2).update(preds, target)


@pytest.mark.usefixtures("counting_path")
def test_matrix_grows_when_num_classes_is_none() -> None:
    cm = ConfusionMatrix()
    assert cm.num_classes == 0
    assert cm.matrix.shape == (0, 0)
    batches = [([0, 1, 1], [1, 1, 0]), ([2, 0], [0, 0]), ([4], [1]), ([1, 1], [0, 5])]
    for preds, target in batches:
        cm.update(torch.tensor(preds), torch.tensor(target))
    y_pred = [p for preds, _ in batches for p in preds]
    y_true = [t for _, target in batches for t in target]
    assert cm.num_classes == 6
    assert cm.matrix.tolist() == confusion_matrix(y_true, y_pred, labels=range(6)).tolist()
    names = default_class_names(6, binary=False)
    _assert_matches_sklearn(compute_report(cm.matrix, names), y_true, y_pred, names)


@pytest.mark.usefixtures("counting_path")
def test_grow_to_pads_and_widens_a_fixed_range() -> None:
    cm = ConfusionMatrix(2)
    cm.update(torch.tensor([0, 1, 1]), torch.tensor([1, 1, 0]))
    cm.grow_to(2)
    cm.grow_to(4)
    assert cm.num_classes == 4
    assert cm.matrix.tolist() == [[0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    cm.update(torch.tensor([3]), torch.tensor([3]))
    assert cm.matrix[3, 3] == 1
    with pytest.raises(ValueError, match=r"at least 4, got 3"):
        cm.grow_to(3)
    cm.check()
    cm.update(torch.tensor([4]), torch.tensor([3]))
    assert cm.matrix[3, 3] == 1
    with pytest.raises(LabelError, match=r"prediction label 4 is outside the allowed range\(0, 4\); 1 of 5"):
        cm.check()


def test_reset_and_matrix_is_a_live_view() -> None:
    cm = ConfusionMatrix()
    cm.update(torch.tensor([3]), torch.tensor([1]))
    cm.matrix.mul_(2)  # an in-place reduction such as an all-reduce
    assert cm.num_samples == 2
    cm.reset()
    assert cm.num_classes == 0
    assert len(cm) == 0
    fixed = ConfusionMatrix(3)
    fixed.update(torch.tensor([True, False]), torch.tensor([1, 2], dtype=torch.uint8))
    assert fixed.matrix.tolist() == [[0, 0, 0], [0, 1, 0], [1, 0, 0]]
    fixed.reset()
    assert fixed.matrix.tolist() == [[0] * 3] * 3


def _stream_with_bad_labels(bad_preds: dict[int, int], bad_target: dict[int, int]) -> tuple[list[int], list[int]]:
    """20 good (pred, target) pairs of 5 classes, with the labels at the given positions replaced by bad ones."""
    y_true, y_pred = _labels(5, None, None, n=20, seed=3)
    preds, target = [int(v) for v in y_pred], [int(v) for v in y_true]
    for i, value in bad_preds.items():
        preds[i] = value
    for i, value in bad_target.items():
        target[i] = value
    return preds, target


@pytest.mark.usefixtures("counting_path")
@pytest.mark.parametrize(
    ("bad_preds", "bad_target", "message"),
    [
        (
            {3: 7, 9: 5},
            {},
            "prediction label 5 is outside the allowed range(0, 5); 2 of 20 prediction labels are outside it "
            "(num_classes=5; use a larger num_classes, or None to grow with the labels)",
        ),
        (
            {},
            {17: 12, 0: -1, 6: -3},
            "target label -3 is outside the allowed range(0, 5); 3 of 20 target labels are outside it "
            "(labels must be class indices, not -1 or ignore_index values)",
        ),
        (
            {},
            {19: 8, 3: 255},
            "target label 8 is outside the allowed range(0, 5); 2 of 20 target labels are outside it "
            "(num_classes=5; use a larger num_classes, or None to grow with the labels)",
        ),
        (
            {4: 6},
            {4: 6, 11: 9},
            "prediction label 6 is outside the allowed range(0, 5); 1 of 20 prediction labels are outside it "
            "(num_classes=5; use a larger num_classes, or None to grow with the labels)",
        ),
    ],
)
def test_bad_labels_in_a_stream_raise_at_check(
    bad_preds: dict[int, int], bad_target: dict[int, int], message: str
) -> None:
    preds, target = _stream_with_bad_labels(bad_preds, bad_target)
    cm = ConfusionMatrix(5)
    for start in range(0, 20, 5):  # the bad labels are spread over several batches
        cm.update(torch.tensor(preds[start : start + 5]), torch.tensor(target[start : start + 5]))

    with pytest.raises(LabelError, match=f"^{re.escape(message)}$"):
        cm.check()
    good = [(p, t) for p, t in zip(preds, target, strict=True) if 0 <= p < 5 and 0 <= t < 5]
    assert 0 < len(good) < 20
    assert cm.num_samples == len(good)
    expected = confusion_matrix([t for _, t in good], [p for p, _ in good], labels=range(5))
    assert cm.matrix.tolist() == expected.tolist()


def test_check_names_the_range_a_label_was_counted_against() -> None:
    cm = ConfusionMatrix(2)
    cm.update(torch.tensor([0, 1]), torch.tensor([3, 1]))
    cm.grow_to(5)  # 3 is a class now, but it was not when it was counted
    cm.update(torch.tensor([3]), torch.tensor([3]))
    assert cm.matrix.tolist()[3][3] == 1
    assert cm.num_samples == 2
    with pytest.raises(LabelError, match=r"^target label 3 is outside the allowed range\(0, 2\); 1 of 3 target"):
        cm.check()


@pytest.mark.usefixtures("counting_path")
def test_merged_sums_the_counts_and_the_bad_labels_of_every_state() -> None:
    ranks = [ConfusionMatrix(3), ConfusionMatrix(3)]
    ranks[0].update(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1]))
    ranks[1].update(torch.tensor([2, 2]), torch.tensor([2, 4]))
    ranks[0].check()  # each rank alone may look fine ...
    merged = ranks[0].merged(torch.stack([cm.state() for cm in ranks]))  # what an all-gather hands over
    assert merged.matrix.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert ranks[0].matrix.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]  # the local matrix is left alone
    with pytest.raises(LabelError, match=r"^target label 4 is outside the allowed range\(0, 3\); 1 of 5 target"):
        merged.check()  # ... but every rank raises the same error on the sum
    with pytest.raises(ValueError, match=r"3-class matrix holds 35 values, got shape \(48,\)"):
        ranks[0].merged(ConfusionMatrix(4).state())


@pytest.mark.parametrize("num_classes", [0, -1, True, 2.5, "3"])
def test_bad_num_classes_raise(num_classes: Any) -> None:
    with pytest.raises(ValueError, match=r"num_classes must be"):
        ConfusionMatrix(num_classes)


@pytest.mark.parametrize(
    ("num_classes", "binary", "expected"),
    [
        (2, True, ["negative", "positive"]),
        (1, True, ["negative"]),
        (3, True, ["0", "1", "2"]),
        (2, False, ["negative", "positive"]),  # two unnamed classes, whatever the predictions' shape
        (1, False, ["0"]),
    ],
)
def test_default_class_names(num_classes: int, binary: bool, expected: list[str]) -> None:
    assert default_class_names(num_classes, binary=binary) == expected


def test_binary_end_to_end() -> None:
    cm = ConfusionMatrix(2)
    binary = False
    for logits, y in (([-1.0, 2.0, 0.5], [0.0, 1.0, 0.0]), ([3.0, -2.0], [1.0, 1.0])):
        result = predictions_from_outputs({"logits": torch.tensor(logits).unsqueeze(1), "y": torch.tensor(y)})
        assert isinstance(result, Predictions)
        cm.update(*result)
        binary = result.binary
    report = compute_report(cm.matrix, default_class_names(cm.num_classes, binary=binary))
    assert report["confusion_matrix"] == [[1, 1], [1, 2]]
    assert set(report["per_class"]) == {"negative", "positive"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensors_stay_on_the_device() -> None:
    logits = torch.randn(64, 5, device="cuda")
    target = torch.randint(0, 5, (64,), device="cuda")
    result = predictions_from_outputs({"logits": logits, "y": target.cpu()})
    assert isinstance(result, Predictions)
    assert result.preds.is_cuda
    assert result.target.is_cuda
    cm = ConfusionMatrix(5)
    cm.update(*result)
    assert cm.matrix.is_cuda
    expected = confusion_matrix(target.cpu(), logits.argmax(1).cpu(), labels=range(5))
    assert cm.matrix.cpu().tolist() == expected.tolist()
    cm.update(result.preds, torch.full_like(result.target, 9))
    with pytest.raises(LabelError, match=r"target label 9 is outside the allowed range\(0, 5\); 64 of 128 target"):
        cm.check()
    grown = ConfusionMatrix()
    grown.update(*result)
    grown.grow_to(7)
    assert grown.matrix.is_cuda
    assert compute_report(cm.matrix, [str(k) for k in range(5)])["num_samples"] == 64


# ------------------------------------------------------------------------------------- TestPredictionCollector


def _cpu_strategy() -> Any:
    from lightning.pytorch.strategies import SingleDeviceStrategy

    return SingleDeviceStrategy(device=torch.device("cpu"))


def test_collector_takes_the_number_of_classes_from_the_score_width() -> None:
    collector = TestPredictionCollector()
    logits = torch.tensor([[3.0, 0.0, 0.0, -1.0], [0.0, 2.0, 0.0, -1.0], [0.0, 0.0, 1.0, -1.0]])
    y_pred, y_true = [], []
    for y in ([0, 1, 1], [2, 2, 0]):  # class 3 is neither predicted nor true, yet gets a row
        collector.update({"logits": logits, "y": torch.tensor(y)})
        y_pred += [0, 1, 2]
        y_true += y
    collector.sync(_cpu_strategy())
    fields = collector.report_fields(None)

    names = ["0", "1", "2", "3"]
    assert list(fields["per_class"]) == names
    _assert_matches_sklearn(fields, y_true, y_pred, names)
    assert "per_class_note" not in fields


def test_collector_grows_the_width_with_a_wider_batch() -> None:
    collector = TestPredictionCollector()
    collector.update({"logits": torch.eye(3), "y": torch.tensor([0, 1, 2])})
    collector.update({"logits": torch.eye(5)[3:], "y": torch.tensor([3, 4])})  # 5 columns: classes 3 and 4 exist
    collector.sync(_cpu_strategy())
    fields = collector.report_fields(None)
    assert fields["confusion_matrix"] == torch.diag(torch.tensor([1, 1, 1, 1, 1])).tolist()
    collector.update({"logits": torch.eye(5)[:1], "y": torch.tensor([5])})
    collector.sync(_cpu_strategy())
    with pytest.raises(LabelError, match=r"target label 5 is outside the allowed range\(0, 5\); 1 of 6 target"):
        collector.report_fields(None)


@pytest.mark.parametrize(
    ("outputs", "num_classes", "match"),
    [
        (
            {"logits": torch.zeros(4, 3), "y": torch.tensor([0, 3, 1, 2])},
            None,
            r"^test_step output: target label 3 is outside the allowed range\(0, 3\); 2 of 8 target labels are "
            r"outside it .*\. The number of classes is the width of test_step's 'logits' scores",
        ),
        (
            {"preds": torch.tensor([3, 0, 1]), "target": torch.tensor([0, 0, 1])},
            3,
            r"prediction label 3 is outside the allowed range\(0, 3\).*3 names",
        ),
        (
            {"probs": torch.tensor([0.2, 0.7]), "y": torch.tensor([2, 1])},
            None,
            r"^test_step output: target label 2 is outside the allowed range\(0, 2\); 2 of 4 .*one score column",
        ),
        (
            {"preds": torch.tensor([1, 0, 1]), "y": torch.tensor([-1, 0, 1])},
            None,
            r"^target label -1 is outside the allowed non-negative integers; 2 of 6 .*not -1 or ignore_index",
        ),
    ],
)
def test_collector_raises_bad_labels_at_sync_not_update(
    outputs: dict[str, Any], num_classes: int | None, match: str
) -> None:
    """The name is kept for the Guarantees table: bad labels now surface at the end (report_fields raises for direct
    callers; dataloader_reports turns them into a note), never in update or sync, which must not stop a test."""
    collector = TestPredictionCollector()
    collector.update(outputs, num_classes=num_classes)
    collector.update(outputs, num_classes=num_classes)
    collector.sync(_cpu_strategy())
    with pytest.raises(LabelError, match=match):
        collector.report_fields(None)  # never a report with the bad labels silently left out
    with pytest.warns(ArcCkptWarning, match=match.lstrip("^")):
        (report,) = collector.dataloader_reports(None, {})
    assert report["per_class"] is None
    assert re.search(match.replace("^", "^no per-class report: "), report["per_class_note"])

    unsynced = TestPredictionCollector()  # single-process code that never calls sync
    unsynced.update(outputs, num_classes=num_classes)
    unsynced.update(outputs, num_classes=num_classes)
    with pytest.raises(LabelError, match=match):
        unsynced.report_fields(None)


def test_collector_without_predictions_says_why() -> None:
    collector = TestPredictionCollector()
    collector.sync(_cpu_strategy())
    assert collector.report_fields(None) == {
        "per_class": None,
        "per_class_note": "no per-class report: test_step returned no predictions",
    }
    collector.update(torch.tensor(0.5))
    collector.sync(_cpu_strategy())
    assert collector.report_fields(None)["per_class_note"] == (
        "no per-class report: test_step returned a Tensor, not a mapping: return a dict with a prediction key "
        "('preds', 'logits', 'probs') and a target key ('target', 'targets', 'y')"
    )


# ------------------------------------------------------------------------------------------- no host sync per batch


def _forbid_host_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every Python-side read of a tensor's values raise: on CUDA each would make the host wait for the GPU."""

    def host_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a tensor value was read on the host")

    for name in ("item", "tolist", "__bool__", "__int__", "__index__", "__float__"):
        monkeypatch.setattr(torch.Tensor, name, host_read)
    with pytest.raises(AssertionError, match=r"read on the host"):
        bool(torch.tensor(True))  # the patch is in force


def test_fixed_size_updates_read_nothing_on_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU half of the no-sync guarantee: no Python-side read. A kernel that syncs inside C++ (as
    ``torch.bincount`` does on CUDA) only shows on a GPU: see the CUDA test below."""
    preds, target = torch.tensor([0, 4, 2, 7, 1]), torch.tensor([0, 4, 1, 2, -1])
    logits, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 3, 5])
    cm, by_width, by_names = ConfusionMatrix(5), TestPredictionCollector(), TestPredictionCollector()
    # Take the path every device but the CPU takes (the CPU's own reads values, which costs nothing there).
    monkeypatch.setattr(confusion_module, "_host_reads_are_free", lambda device: False)
    with monkeypatch.context() as patch:
        _forbid_host_reads(patch)
        for _ in range(3):
            cm.update(preds, target)
            cm.update(preds.to(torch.int32), target.to(torch.int16))
            by_width.update({"logits": logits, "y": y})
            by_names.update({"logits": logits, "y": y}, num_classes=4)

    assert cm.num_samples == 6 * 3
    with pytest.raises(LabelError, match=r"^prediction label 7 is outside the allowed range\(0, 5\); 6 of 30 pred"):
        cm.check()
    for collector in (by_width, by_names):
        collector.sync(_cpu_strategy())
        with pytest.raises(LabelError, match=r"target label 5 is outside the allowed range\(0, 4\); 3 of 18 target"):
            collector.report_fields(None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fixed_size_updates_do_not_sync_on_cuda() -> None:
    from lightning.pytorch.strategies import SingleDeviceStrategy

    preds = torch.tensor([0, 4, 2, 7, 1], device="cuda")
    target = torch.tensor([0, 4, 1, 2, -1], device="cuda")
    logits, y = torch.randn(6, 4, device="cuda"), torch.tensor([0, 1, 2, 3, 3, 5], device="cuda")
    cm, by_width, by_names = ConfusionMatrix(5), TestPredictionCollector(), TestPredictionCollector()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            cm.update(preds, target)
            by_width.update({"logits": logits, "y": y})
            by_names.update({"logits": logits, "y": y}, num_classes=4)
    finally:
        torch.cuda.set_sync_debug_mode("default")

    assert cm.matrix.is_cuda
    assert cm.num_samples == 3 * 3
    with pytest.raises(LabelError, match=r"^prediction label 7 is outside the allowed range\(0, 5\); 3 of 15 pred"):
        cm.check()
    for collector in (by_width, by_names):
        collector.sync(SingleDeviceStrategy(device=torch.device("cuda")))
        with pytest.raises(LabelError, match=r"target label 5 is outside the allowed range\(0, 4\); 3 of 18 target"):
            collector.report_fields(None)
