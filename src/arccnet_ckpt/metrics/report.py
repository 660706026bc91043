"""The per-class numbers of a confusion matrix, the same as scikit-learn's ``classification_report``.

:func:`compute_report` turns a ``C x C`` count matrix into precision, recall, F1 and support per class, accuracy, and
the macro and weighted averages, with the same numbers as scikit-learn's ``classification_report(...,
zero_division=0)``; :func:`default_class_names` names classes that were not named. Plain Python arithmetic: torch is
not imported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["BINARY_CLASS_NAMES", "compute_report", "default_class_names"]

BINARY_CLASS_NAMES: tuple[str, str] = ("negative", "positive")
"""Class names used when the predictions were a single score column."""


def _matrix_rows(matrix: Tensor | Sequence[Sequence[int]]) -> list[list[int]]:
    raw = matrix.tolist() if hasattr(matrix, "tolist") else [list(row) for row in matrix]
    size = len(raw)
    rows: list[list[int]] = []
    for i, row in enumerate(raw):
        if not isinstance(row, (list, tuple)) or len(row) != size:
            raise ValueError(f"confusion matrix must be square (C x C): row {i} is {row!r} in a {size}-row matrix")
        values = []
        for value in row:
            if isinstance(value, bool) or not float(value).is_integer() or value < 0:
                raise ValueError(f"confusion matrix holds {value!r} in row {i}: counts must be non-negative integers")
            values.append(int(value))
        rows.append(values)
    return rows


def _divide(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or ``0.0`` when the denominator is 0 (scikit-learn's ``zero_division=0``)."""
    return numerator / denominator if denominator else 0.0


def _metrics(precision: float, recall: float, f1: float, support: int) -> dict[str, Any]:
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def _skill_scores(tp: int, fn: int, fp: int, total: int) -> dict[str, float | None]:
    """The true skill statistic and Heidke skill score of one class's one-vs-rest 2x2 table (``None`` where a
    denominator is 0: a class absent from the test set, or the only one in it)."""
    tn = total - tp - fn - fp
    positives, negatives = tp + fn, fp + tn
    tss = tp / positives - fp / negatives if positives and negatives else None
    denominator = (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)
    hss = 2 * (tp * tn - fp * fn) / denominator if denominator else None
    return {"tss": tss, "hss": hss}


def compute_report(matrix: Tensor | Sequence[Sequence[int]], class_names: Sequence[str]) -> dict[str, Any]:
    """Per-class precision, recall, F1 and support, accuracy, and the macro and weighted averages of a matrix.

    The numbers are those of ``sklearn.metrics.classification_report(y_true, y_pred, labels=range(C),
    zero_division=0, output_dict=True)``, computed in Python floats (float64) the way scikit-learn's
    ``precision_recall_fscore_support`` does: ``f1 = 2 tp / (2 tp + fp + fn)``; any division by zero gives ``0.0``
    (never ``NaN``); the weighted average weights each class by its support and falls back to the plain mean when the
    total support is 0. A matrix with no samples gives zeros everywhere.

    Args:
        matrix: ``C x C`` counts, rows the true class and columns the predicted class (a tensor on any device,
            a numpy array or nested lists).
        class_names: ``C`` distinct names, in label order.

    Each class also gets the skill scores of its one-vs-rest 2x2 table (TP, FN, FP, TN from the matrix): ``tss``
    (true skill statistic, Hanssen-Kuipers: ``TP/(TP+FN) - FP/(FP+TN)``) and ``hss`` (Heidke skill score:
    ``2(TP·TN - FP·FN) / ((TP+FN)(FN+TN) + (TP+FP)(FP+TN))``), ``None`` where a denominator is 0.

    Returns:
        A dict with ``per_class`` (``{name: {precision, recall, f1, support, tss, hss}}``), ``accuracy``,
        ``macro_avg`` and ``weighted_avg``
        (``{precision, recall, f1, support}`` with ``support`` the number of samples),
        ``confusion_matrix`` (lists of ints) and ``num_samples``: the matching fields of
        :class:`~arccnet_ckpt.records.ClassificationReport`.

    Raises:
        ValueError: If the matrix is not square, holds negative or non-integral counts, or if ``class_names`` does not
            hold ``C`` distinct names.

    Example:
        >>> report = compute_report([[3, 1], [0, 2]], ["negative", "positive"])
        >>> report["accuracy"], report["per_class"]["positive"]["precision"]
        (0.8333333333333334, 0.6666666666666666)
    """
    rows = _matrix_rows(matrix)
    names = [str(name) for name in class_names]
    size = len(rows)
    if len(names) != size:
        raise ValueError(f"class_names holds {len(names)} names but the confusion matrix is {size} x {size}: {names}")
    if len(set(names)) != size:
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"class_names must be distinct, got duplicates {duplicates}")

    tp = [rows[i][i] for i in range(size)]
    support = [sum(row) for row in rows]
    predicted = [sum(rows[i][j] for i in range(size)) for j in range(size)]
    total = sum(support)

    precision = [_divide(float(tp[k]), float(predicted[k])) for k in range(size)]
    recall = [_divide(float(tp[k]), float(support[k])) for k in range(size)]
    f1 = [_divide(2.0 * tp[k], float(support[k]) + float(predicted[k])) for k in range(size)]

    def mean(values: list[float]) -> float:
        return math.fsum(values) / len(values) if values else 0.0

    def weighted(values: list[float]) -> float:
        if total == 0:
            return mean(values)
        return math.fsum(v * w for v, w in zip(values, support, strict=True)) / total

    skill = [_skill_scores(tp[k], support[k] - tp[k], predicted[k] - tp[k], total) for k in range(size)]
    return {
        "per_class": {
            names[k]: {**_metrics(precision[k], recall[k], f1[k], support[k]), **skill[k]} for k in range(size)
        },
        "accuracy": _divide(float(sum(tp)), float(total)),
        "macro_avg": _metrics(mean(precision), mean(recall), mean(f1), total),
        "weighted_avg": _metrics(weighted(precision), weighted(recall), weighted(f1), total),
        "confusion_matrix": rows,
        "num_samples": total,
    }


def default_class_names(num_classes: int, *, binary: bool = False) -> list[str]:
    """Names for classes that were not named: ``["negative", "positive"]`` for two classes, else ``["0", "1", ...]``.

    Two unnamed classes are ``negative``/``positive`` whatever ``test_step`` returned (one score column, two logit
    columns or argmax labels): a run's class names never depend on the shape of its predictions.

    Args:
        num_classes: The number of classes ``C``.
        binary: Whether the predictions were one score column (:attr:`Predictions.binary`): a binary run that saw
            fewer than two classes still names them ``negative`` (and ``positive``).

    Returns:
        ``C`` names.

    Raises:
        ValueError: If ``num_classes`` is negative.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
        raise ValueError(f"num_classes must be a non-negative integer, got {num_classes!r}")
    if num_classes == len(BINARY_CLASS_NAMES) or (binary and num_classes < len(BINARY_CLASS_NAMES)):
        return list(BINARY_CLASS_NAMES[:num_classes])
    return [str(k) for k in range(num_classes)]
