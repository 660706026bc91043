"""The per-class test report: predictions out of ``test_step``, a streaming confusion matrix, and the metrics.

Nothing here imports Lightning, so every piece is testable on plain tensors:

* :func:`predictions_from_outputs` turns what ``test_step`` returned (the ``outputs`` that Lightning hands to
  ``on_test_batch_end``) into integer predicted and true labels, or says in one line why it could not.
* :class:`ConfusionMatrix` adds batches of labels into a ``C x C`` count matrix kept on the batches' device; its memory
  does not grow with the size of the test set and predictions are never stored.
* :func:`compute_report` turns the matrix into precision, recall, F1 and support per class, accuracy, and the macro
  and weighted averages, with the same numbers as scikit-learn's ``classification_report(..., zero_division=0)``.

Example:
    >>> import torch
    >>> cm = ConfusionMatrix(num_classes=3)
    >>> result = predictions_from_outputs({"logits": torch.tensor([[2.0, 0.1, 0.3]]), "y": torch.tensor([0])})
    >>> cm.update(*result)
    >>> compute_report(cm.matrix, default_class_names(3, binary=result.binary))["accuracy"]
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from arccnet_ckpt.errors import LabelError

__all__ = [
    "ConfusionMatrix",
    "Predictions",
    "compute_report",
    "default_class_names",
    "predictions_from_outputs",
]

DEFAULT_PREDS_KEYS: tuple[str, ...] = ("preds", "logits", "probs")
"""Keys of ``test_step``'s output searched for predictions, first found wins."""

DEFAULT_TARGET_KEYS: tuple[str, ...] = ("target", "targets", "y")
"""Keys of ``test_step``'s output searched for the true labels, first found wins."""

BINARY_CLASS_NAMES: tuple[str, str] = ("negative", "positive")
"""Class names used when the predictions were a single score column."""


class Predictions(tuple[Tensor, Tensor]):
    """Predicted and true labels of one batch: a ``(preds, target)`` pair that also says whether it was binary.

    It unpacks like a plain pair (``preds, target = result``); ``binary`` is ``True`` when the predictions were a
    single score column (shape ``(N,)`` or ``(N, 1)``, floating point) that was thresholded, so callers can name the
    two classes ``["negative", "positive"]``.
    """

    binary: bool

    def __new__(cls, preds: Tensor, target: Tensor, *, binary: bool = False) -> Predictions:
        self = super().__new__(cls, (preds, target))
        self.binary = binary
        return self

    @property
    def preds(self) -> Tensor:
        """Predicted labels, ``int64``, shape ``(N,)``."""
        return self[0]

    @property
    def target(self) -> Tensor:
        """True labels, ``int64``, shape ``(N,)``."""
        return self[1]

    def __repr__(self) -> str:
        return f"Predictions(preds={self[0]!r}, target={self[1]!r}, binary={self.binary})"


def _find(outputs: Mapping[Any, Any], keys: Sequence[str]) -> tuple[str, Any] | None:
    for key in keys:
        value = outputs.get(key)
        if value is not None:
            return key, value
    return None


def _to_tensor(value: Any, key: str) -> Tensor | str:
    if isinstance(value, Tensor):
        return value.detach()
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as e:
        return f"test_step output {key!r} is not a tensor, array or list of numbers ({type(value).__name__}): {e}"


def _same_device(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Move the CPU tensor of a mixed pair to the other one's device (never an accelerator tensor to the CPU)."""
    if a.device == b.device:
        return a, b
    if a.device.type == "cpu":
        return a.to(b.device), b
    return a, b.to(a.device)


def _shape(t: Tensor) -> str:
    return f"({', '.join(str(s) for s in t.shape)}{',' if t.dim() == 1 else ''})"


def _binary_threshold(key: str, scores: Tensor, threshold: float | None) -> float:
    if threshold is not None:
        return float(threshold)
    if key == "probs":
        return 0.5
    if key == "logits":
        return 0.0
    # Any other key (``preds`` or a custom one): probabilities if every value is in [0, 1], logits otherwise.
    if scores.numel() == 0:
        return 0.5
    lo, hi = torch.stack(torch.aminmax(scores)).tolist()
    return 0.5 if lo >= 0.0 and hi <= 1.0 else 0.0


def predictions_from_outputs(
    outputs: Any,
    *,
    preds_keys: Sequence[str] = DEFAULT_PREDS_KEYS,
    target_keys: Sequence[str] = DEFAULT_TARGET_KEYS,
    threshold: float | None = None,
) -> Predictions | str:
    """Turn what ``test_step`` returned into integer predicted and true labels.

    ``outputs`` must be a mapping (e.g. ``{"loss": loss, "logits": logits, "y": y}``) holding one of ``preds_keys``
    and one of ``target_keys``; in each tuple the first key present with a value other than ``None`` wins. Values may
    be tensors, numpy arrays or lists; the labels stay on the predictions' device (a CPU tensor paired with an
    accelerator tensor is moved to the accelerator, never the other way round).

    Predictions are read as follows:

    * floating point, shape ``(N, C)`` with ``C >= 2``: scores or probabilities, the label is the argmax over ``C``;
    * floating point, shape ``(N,)`` or ``(N, 1)``: one binary score; the label is ``score > threshold`` where the
      threshold is ``threshold`` if given, else ``0.5`` for ``probs``, ``0.0`` for ``logits``, and for ``preds`` (or
      any other key) ``0.5`` when every value of the batch is in ``[0, 1]`` and ``0.0`` otherwise. This matches
      torchmetrics, which applies a sigmoid to values outside ``[0, 1]`` and then thresholds at ``0.5``. Class
      indices stored as floats (``argmax(...).float()``) are read as scores: return them as integers;
    * integer or bool, shape ``(N,)`` or ``(N, 1)``: labels, used as they are.

    The target must be integer or bool labels of shape ``(N,)`` or ``(N, 1)``, or floats holding whole numbers
    (``0.0``/``1.0`` targets of a BCE loss).

    Args:
        outputs: The return value of ``test_step``.
        preds_keys: Keys searched for the predictions.
        target_keys: Keys searched for the true labels.
        threshold: Threshold of a binary score column; ignored for ``(N, C)`` scores and integer labels.

    Returns:
        A :class:`Predictions` pair ``(preds, target)`` of ``int64`` tensors of shape ``(N,)``, whose ``binary`` is
        ``True`` when the predictions were one thresholded score column; or, when nothing usable was found, a
        one-line string that says why.

    Example:
        >>> import torch
        >>> preds, target = predictions_from_outputs({"probs": torch.tensor([0.2, 0.9]), "y": torch.tensor([0, 1])})
        >>> preds.tolist(), target.tolist()
        ([0, 1], [0, 1])
        >>> predictions_from_outputs(None)
        'test_step returned None'
    """
    if isinstance(preds_keys, str):
        preds_keys = (preds_keys,)
    if isinstance(target_keys, str):
        target_keys = (target_keys,)
    if outputs is None:
        return "test_step returned None"
    if not isinstance(outputs, Mapping):
        return (
            f"test_step returned a {type(outputs).__name__}, not a mapping: return a dict with a prediction key "
            f"({', '.join(map(repr, preds_keys))}) and a target key ({', '.join(map(repr, target_keys))})"
        )
    found_preds = _find(outputs, preds_keys)
    if found_preds is None:
        return (
            f"test_step output has no prediction key (looked for {', '.join(map(repr, preds_keys))}); "
            f"keys: {list(outputs)}"
        )
    found_target = _find(outputs, target_keys)
    if found_target is None:
        return (
            f"test_step output has no target key (looked for {', '.join(map(repr, target_keys))}); "
            f"keys: {list(outputs)}"
        )
    pkey, praw = found_preds
    tkey, traw = found_target
    preds = _to_tensor(praw, pkey)
    if isinstance(preds, str):
        return preds
    target = _to_tensor(traw, tkey)
    if isinstance(target, str):
        return target
    preds, target = _same_device(preds, target)

    if preds.is_complex() or target.is_complex():
        return f"test_step outputs {pkey!r} and {tkey!r} must be real numbers, got {preds.dtype} and {target.dtype}"
    if target.dim() == 2 and target.shape[1] == 1:
        target = target.reshape(-1)
    if target.dim() != 1:
        return f"test_step output {tkey!r} has shape {_shape(target)}; expected class indices of shape (N,) or (N, 1)"
    n = target.shape[0]
    if preds.dim() == 0 or preds.dim() > 2:
        return f"test_step output {pkey!r} has shape {_shape(preds)}; expected (N,), (N, 1) or (N, C)"
    if preds.shape[0] != n:
        return (
            f"test_step outputs {pkey!r} of shape {_shape(preds)} and {tkey!r} of shape {_shape(target)} "
            "hold different numbers of samples"
        )

    binary = False
    one_column = preds.dim() == 1 or preds.shape[1] == 1
    if preds.is_floating_point() and not one_column and preds.shape[1] >= 2:
        labels = preds.argmax(dim=1)
    elif preds.is_floating_point() and one_column:
        scores = preds.reshape(-1)
        labels = scores > _binary_threshold(pkey, scores, threshold)
        binary = True
    elif one_column:
        labels = preds.reshape(-1)
    else:
        return (
            f"test_step output {pkey!r} holds {preds.dtype} values of shape {_shape(preds)}; expected integer labels "
            "of shape (N,) or (N, 1), or floating point scores of shape (N,), (N, 1) or (N, C)"
        )

    if target.is_floating_point() and n:
        bad = (target != target.round()) | ~torch.isfinite(target)
        if bool(bad.any()):
            example = target[bad][0].item()
            return f"test_step output {tkey!r} holds non-integral values (e.g. {example}); expected class indices"
    return Predictions(labels.to(torch.int64), target.to(torch.int64), binary=binary)


def _as_labels(value: Tensor, role: str) -> Tensor:
    if not isinstance(value, Tensor):
        value = torch.as_tensor(value)
    if value.is_floating_point() or value.is_complex():
        raise LabelError(
            f"{role} labels must be integers, got {value.dtype}: turn scores into labels first, "
            "e.g. with predictions_from_outputs(...)"
        )
    if value.dim() != 1:
        value = value.reshape(-1)
    if value.dtype != torch.int64:
        value = value.to(torch.int64)
    return value


class ConfusionMatrix:
    """Streaming ``C x C`` confusion matrix: rows are true classes, columns predicted classes.

    Each :meth:`update` adds one batch with a single ``torch.bincount`` on the batch's device into an ``int64``
    accumulator that stays on the device of the first batch. Memory is ``C * C`` integers whatever the size of the test
    set; predictions are never stored.

    With ``num_classes`` given, a label outside ``range(num_classes)`` raises :class:`LabelError`. Without it, the
    matrix grows to ``max label + 1`` classes as batches arrive. Negative labels always raise.

    Cost of a batch: besides the bincount, one ``aminmax`` reduction over the predictions and one host sync to read
    its two values (the target's range is checked from the bincount's output length, which needs no sync, and
    ``torch.bincount`` itself rejects negative indices). Without ``num_classes`` the reduction covers predictions and
    targets together. On CUDA that sync waits for the batch's kernels, as ``torch.bincount`` does anyway.

    Args:
        num_classes: The number of classes ``C``, or ``None`` to grow with the labels seen.

    Raises:
        ValueError: If ``num_classes`` is not a positive integer.

    Example:
        >>> import torch
        >>> cm = ConfusionMatrix(num_classes=2)
        >>> cm.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]))
        >>> cm.matrix.tolist()
        [[1, 1], [0, 1]]
    """

    def __init__(self, num_classes: int | None = None) -> None:
        if num_classes is not None:
            _check_num_classes(num_classes, "num_classes")
        self._fixed = num_classes is not None
        self._initial = 0 if num_classes is None else int(num_classes)
        self._c = self._initial
        self._flat = torch.zeros(self._c * self._c, dtype=torch.int64)
        self._touched = False

    @property
    def num_classes(self) -> int:
        """The current number of classes ``C`` (``0`` before any label when ``num_classes`` was ``None``)."""
        return self._c

    @property
    def matrix(self) -> Tensor:
        """The ``C x C`` ``int64`` counts: a live view of the accumulator (in-place reductions such as an
        all-reduce update it)."""
        return self._flat.view(self._c, self._c)

    @property
    def num_samples(self) -> int:
        """The number of samples counted (the matrix's sum; one host sync)."""
        return int(self._flat.sum())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return f"ConfusionMatrix(num_classes={self._c}, fixed={self._fixed}, device={self._flat.device})"

    def reset(self) -> None:
        """Forget every count, and the grown size when ``num_classes`` was ``None``; the device is kept."""
        self._c = self._initial
        self._flat = torch.zeros(self._c * self._c, dtype=torch.int64, device=self._flat.device)

    def grow_to(self, num_classes: int) -> None:
        """Pad the matrix with zeros to ``num_classes`` classes, e.g. to align the matrices of DDP ranks.

        When ``num_classes`` was fixed, the allowed label range grows with it.

        Args:
            num_classes: The new number of classes, at least the current one.

        Raises:
            ValueError: If ``num_classes`` is not an integer or is smaller than the current number of classes.
        """
        _check_num_classes(num_classes, "grow_to's num_classes", minimum=self._c)
        if num_classes == self._c:
            return
        grown = self._flat.new_zeros((num_classes, num_classes))
        grown[: self._c, : self._c] = self.matrix
        self._flat = grown.view(-1)
        self._c = int(num_classes)

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch of predicted and true labels.

        Args:
            preds: Predicted labels, integer or bool, any shape with ``N`` elements.
            target: True labels, integer or bool, ``N`` elements.

        Raises:
            LabelError: If a label is negative, outside ``range(num_classes)`` when ``num_classes`` is fixed, or
                floating point; or if ``preds`` and ``target`` hold different numbers of labels. The message names
                the bad value and whether it was a prediction or a target.
        """
        # The common case (1-D int64 tensors on one device) skips the conversions: this runs once per test batch.
        if not (isinstance(preds, Tensor) and preds.dtype == torch.int64 and preds.dim() == 1):
            preds = _as_labels(preds, "prediction")
        if not (isinstance(target, Tensor) and target.dtype == torch.int64 and target.dim() == 1):
            target = _as_labels(target, "target")
        n = preds.shape[0]
        if n != target.shape[0]:
            raise LabelError(f"preds and target hold different numbers of labels: {n} and {target.shape[0]}")
        if n == 0:
            return
        if preds.device != target.device:
            preds, target = _same_device(preds, target)
        if not self._fixed:
            lo, hi = _min_max(torch.cat((preds, target)))
            if lo < 0:
                self._raise_bad_label(preds, target)
            if hi >= self._c:
                self.grow_to(hi + 1)
        else:
            lo, hi = _min_max(preds)
            if lo < 0 or hi >= self._c:
                self._raise_bad_label(preds, target)
        c = self._c
        try:
            # preds is in range(c) here, so the index is negative iff a target is, and >= c*c iff a target is >= c.
            counts = torch.bincount(torch.add(preds, target, alpha=c), minlength=c * c)
        except RuntimeError:
            self._raise_bad_label(preds, target)
            raise
        if counts.shape[0] != c * c:
            self._raise_bad_label(preds, target)
        if self._flat.device != counts.device:
            if self._touched:
                counts = counts.to(self._flat.device)
            else:
                self._flat = self._flat.to(counts.device)
        self._flat.add_(counts)
        self._touched = True

    def _raise_bad_label(self, preds: Tensor, target: Tensor) -> None:
        """Find the first bad label and raise :class:`LabelError` about it (the slow path: several syncs)."""
        c = self._c
        allowed = f"range(0, {c})" if self._fixed else "non-negative integers"
        for role, labels in (("prediction", preds), ("target", target)):
            bad = labels < 0
            if self._fixed:
                bad |= labels >= c
            if bool(bad.any()):
                value = int(labels[bad][0])
                count = int(bad.sum())
                hint = (
                    " (labels must be class indices, not -1 or ignore_index values)"
                    if value < 0
                    else f" (num_classes={c}; use a larger num_classes, or None to grow with the labels)"
                )
                raise LabelError(
                    f"{role} label {value} is outside the allowed {allowed}; {count} of {labels.numel()} "
                    f"{role} labels in this batch are{hint}"
                )


def _min_max(values: Tensor) -> tuple[int, int]:
    """The smallest and largest value, read with one reduction (and one device-to-host copy off the CPU)."""
    lo, hi = torch.aminmax(values)
    if values.device.type == "cpu":
        return int(lo), int(hi)  # two reads of CPU scalars are cheaper than building a 2-element tensor
    lo_hi = torch.stack((lo, hi)).tolist()
    return int(lo_hi[0]), int(lo_hi[1])


def _check_num_classes(value: Any, name: str, *, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer number of classes, got {value!r}")
    if value < max(minimum, 1):
        raise ValueError(f"{name} must be at least {max(minimum, 1)}, got {value}")


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

    Returns:
        A dict with ``per_class`` (``{name: {precision, recall, f1, support}}``), ``accuracy``, ``macro_avg`` and
        ``weighted_avg`` (``{precision, recall, f1, support}`` with ``support`` the number of samples),
        ``confusion_matrix`` (lists of ints) and ``num_samples``: the matching fields of
        :class:`~arccnet_ckpt.artifacts.ClassificationReport`.

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

    return {
        "per_class": {names[k]: _metrics(precision[k], recall[k], f1[k], support[k]) for k in range(size)},
        "accuracy": _divide(float(sum(tp)), float(total)),
        "macro_avg": _metrics(mean(precision), mean(recall), mean(f1), total),
        "weighted_avg": _metrics(weighted(precision), weighted(recall), weighted(f1), total),
        "confusion_matrix": rows,
        "num_samples": total,
    }


def default_class_names(num_classes: int, *, binary: bool) -> list[str]:
    """Names for classes that were not named: ``["negative", "positive"]`` for binary, else ``["0", "1", ...]``.

    Args:
        num_classes: The number of classes ``C``.
        binary: Whether the predictions were one score column (:attr:`Predictions.binary`). With fewer than two
            classes seen, the binary names are cut to ``C``; with more than two, the numeric names are used.

    Returns:
        ``C`` names.

    Raises:
        ValueError: If ``num_classes`` is negative.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
        raise ValueError(f"num_classes must be a non-negative integer, got {num_classes!r}")
    if binary and num_classes <= len(BINARY_CLASS_NAMES):
        return list(BINARY_CLASS_NAMES[:num_classes])
    return [str(k) for k in range(num_classes)]
