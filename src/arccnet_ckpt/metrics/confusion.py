"""A streaming confusion matrix kept on the batches' device.

:class:`ConfusionMatrix` adds batches of integer labels into a ``C x C`` count matrix on the device of the first batch;
its memory does not grow with the size of the test set and predictions are never stored. With a fixed number of
classes, an update never makes the host wait for the device: a label outside the range is counted in a bin of its own
and reported by :meth:`ConfusionMatrix.check` once every batch is in.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from arccnet_ckpt.errors import LabelError
from arccnet_ckpt.metrics.predictions import _same_device

__all__ = ["ConfusionMatrix"]

_NO_LABEL = torch.iinfo(torch.int64).max
"""The smallest label of a bin that holds none."""


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

    Each :meth:`update` adds one batch into an ``int64`` accumulator that stays on the device of the first batch.
    Memory is ``(C + 2) * (C + 4)`` integers whatever the size of the test set; predictions are never stored.

    Every label goes to a bin: ``0`` for a negative label, ``1 + k`` for class ``k``, ``C + 1`` for a label ``>= C``.
    The accumulator counts (target bin, prediction bin) pairs, and the smallest label of each bin is kept.
    :attr:`matrix` is the inner ``C x C`` block, so a bad label never adds to a class's counts: a pair with a bad
    label is left out of it. :meth:`check` raises :class:`LabelError` about those labels; call it once every batch is
    in (across processes, on the :meth:`merged` matrix), as :class:`~arccnet_ckpt.metrics.TestPredictionCollector`
    does. :meth:`update` itself only raises for labels it cannot read (floating point, different lengths).

    With ``num_classes`` given, a label outside ``range(num_classes)`` is bad. Without it, the matrix grows to
    ``max label + 1`` classes as batches arrive, and only negative labels are bad.

    Cost of a batch: six small tensor operations on the batch's device (the bins, one ``index_add_`` into the
    accumulator and one ``scatter_reduce_`` for the smallest labels). With ``num_classes`` given there is no host
    sync: on CUDA the host queues the work and moves on to the next batch (``torch.bincount`` is not used there,
    because on CUDA it reads its input's range on the host). On the CPU, where reading values costs no wait, a batch
    whose labels are all in range takes one range check and one ``torch.bincount`` (or, for a matrix larger than
    twice the batch, one ``index_add_``) instead. Without ``num_classes``
    the matrix's size depends on the labels, so each batch costs one more reduction and one host read of its result,
    which on CUDA waits for the batch's kernels.

    Args:
        num_classes: The number of classes ``C``, or ``None`` to grow with the labels seen.

    Raises:
        ValueError: If ``num_classes`` is not a positive integer.

    Example:
        >>> import torch
        >>> cm = ConfusionMatrix(num_classes=2)
        >>> cm.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]))
        >>> cm.check()
        >>> cm.matrix.tolist()
        [[1, 1], [0, 1]]
        >>> cm.update(torch.tensor([0, 1]), torch.tensor([2, 1]))  # target 2 is not a class: counted apart
        >>> cm.num_samples
        4
        >>> cm.check()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        arccnet_ckpt.errors.LabelError: target label 2 is outside the allowed range(0, 2); 1 of 5 target labels ...
    """

    def __init__(self, num_classes: int | None = None) -> None:
        if num_classes is not None:
            _check_num_classes(num_classes, "num_classes")
        self._fixed = num_classes is not None
        self._initial = 0 if num_classes is None else int(num_classes)
        self._c = self._initial
        self._earlier_sizes: list[int] = []
        self._touched = False
        self._new_state(torch.device("cpu"))

    def _new_state(self, device: torch.device) -> None:
        """Empty counts for the current ``C``, made on ``device`` (never copied there: a copy to CUDA is a sync)."""
        w = self._c + 2
        self._set_counts(torch.zeros(w * w, dtype=torch.int64, device=device))
        self._lowest = torch.full((2, w), _NO_LABEL, dtype=torch.int64, device=device)
        self._one = torch.ones((), dtype=torch.int64, device=device)

    def _set_counts(self, counts: Tensor) -> None:
        """Adopt a flat ``(C + 2) ** 2`` accumulator, and the view of its class block (built once, used per batch)."""
        w = self._c + 2
        self._counts = counts
        self._matrix = counts.view(w, w)[1:-1, 1:-1]

    @property
    def num_classes(self) -> int:
        """The current number of classes ``C`` (``0`` before any label when ``num_classes`` was ``None``)."""
        return self._c

    @property
    def fixed(self) -> bool:
        """Whether ``num_classes`` was given (labels ``>= C`` are bad) rather than grown with the labels."""
        return self._fixed

    @property
    def matrix(self) -> Tensor:
        """The ``C x C`` ``int64`` counts: a live view of the accumulator's inner block (in-place operations update
        it; to sum matrices across processes, gather :meth:`state` and use :meth:`merged`)."""
        return self._matrix

    @property
    def num_samples(self) -> int:
        """The number of samples counted in :attr:`matrix` (its sum; one host sync)."""
        return int(self.matrix.sum())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return f"ConfusionMatrix(num_classes={self._c}, fixed={self._fixed}, device={self._counts.device})"

    def reset(self) -> None:
        """Forget every count, and the grown size when ``num_classes`` was ``None``; the device is kept."""
        self._c = self._initial
        self._earlier_sizes = []
        self._new_state(self._counts.device)

    def grow_to(self, num_classes: int) -> None:
        """Pad the matrix with zeros to ``num_classes`` classes, e.g. to align the matrices of DDP ranks.

        When ``num_classes`` was fixed, the allowed label range grows with it; labels already counted as outside the
        old range stay bad.

        Args:
            num_classes: The new number of classes, at least the current one.

        Raises:
            ValueError: If ``num_classes`` is not an integer or is smaller than the current number of classes.
        """
        _check_num_classes(num_classes, "grow_to's num_classes", minimum=self._c)
        if num_classes == self._c:
            return
        if self._fixed and self._touched:
            self._earlier_sizes.append(self._c)  # for the message: labels in the ">= C" bin were judged against it
        w, old_counts, old_lowest = self._c + 2, self._counts.view(self._c + 2, -1), self._lowest
        self._c = int(num_classes)
        self._new_state(old_counts.device)
        new_w = self._c + 2
        counts = self._counts.view(new_w, new_w)
        # Bin 0 (negative labels) and the classes keep their place; the last bin (labels >= C) moves to the end.
        spans = ((slice(0, w - 1), slice(0, w - 1)), (slice(w - 1, w), slice(new_w - 1, new_w)))
        for old_rows, new_rows in spans:
            self._lowest[:, new_rows] = old_lowest[:, old_rows]
            for old_cols, new_cols in spans:
                counts[new_rows, new_cols] = old_counts[old_rows, old_cols]

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch of predicted and true labels.

        Labels outside the allowed range are counted apart and raise at :meth:`check`, not here.

        Args:
            preds: Predicted labels, integer or bool, any shape with ``N`` elements.
            target: True labels, integer or bool, ``N`` elements.

        Raises:
            LabelError: If a label is floating point, or ``preds`` and ``target`` hold different numbers of labels.
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
        if (
            preds.device == self._counts.device
            and _host_reads_are_free(preds.device)
            and self._update_in_range(preds, target)
        ):
            return
        labels = torch.stack((preds, target))
        if not self._fixed:
            largest = int(labels.max())  # the one host read: the matrix's size depends on the labels
            if largest >= self._c:
                self.grow_to(largest + 1)
        if self._counts.device != labels.device:
            if self._touched:
                labels = labels.to(self._counts.device)
            else:
                self._new_state(labels.device)  # nothing counted yet
        c = self._c
        w = c + 2
        bins = labels.add(1).clamp_(0, c + 1)  # row 0 predictions, row 1 targets; see the class docstring
        self._counts.index_add_(0, torch.add(bins[0], bins[1], alpha=w), self._one.expand(n))
        self._lowest.scatter_reduce_(1, bins, labels, "amin")
        self._touched = True

    def _update_in_range(self, preds: Tensor, target: Tensor) -> bool:
        """Where reading values is free (the CPU): count a batch whose labels are all classes, and say whether it was.

        The range of the predictions is read; the targets' range shows in the bincount itself (a negative index
        raises, one ``>= C * C`` lengthens the result), so a batch costs one reduction, one ``torch.bincount`` into
        the ``C x C`` block (or, for a matrix larger than twice the batch, a range read and one ``index_add_``), and
        no smallest-label bookkeeping. A batch with a bad label is left untouched here, for the general path.
        """
        if self._fixed:
            lowest, largest = _min_max(preds)
            if lowest < 0 or largest >= self._c:
                return False
        else:
            lowest, largest = _min_max(torch.cat((preds, target)))
            if lowest < 0:
                return False
            if largest >= self._c:
                self.grow_to(largest + 1)
        c, n = self._c, preds.shape[0]
        if c * c <= 2 * n:
            try:
                counts = torch.bincount(torch.add(preds, target, alpha=c), minlength=c * c)
            except RuntimeError:  # a negative target
                return False
            if counts.shape[0] != c * c:  # a target >= C
                return False
            self.matrix.add_(counts.view(c, c))
        else:
            if self._fixed:
                lowest, largest = _min_max(target)
                if lowest < 0 or largest >= c:
                    return False
            w = c + 2
            self._counts.index_add_(0, torch.add(preds, target, alpha=w).add_(w + 1), self._one.expand(n))
        self._touched = True
        return True

    def check(self) -> None:
        """Raise :class:`LabelError` if a label counted so far was outside the allowed range (one host sync).

        Raises:
            LabelError: Naming the role (prediction or target), a bad value (the smallest negative label, else the
                smallest label ``>= C``), how many of the labels counted were bad, and the allowed range.
        """
        w = self._c + 2
        counts = self._counts.view(w, w)
        per_bin = torch.stack((counts.sum(0), counts.sum(1)))  # row 0 prediction bins, row 1 target bins
        summary = torch.cat(
            (
                torch.stack((per_bin[:, 0], per_bin[:, -1]), 1).view(-1),
                torch.stack((self._lowest[:, 0], self._lowest[:, -1]), 1).view(-1),
                counts.sum().view(1),
            )
        ).tolist()
        total = summary[8]
        for r, role in enumerate(("prediction", "target")):
            negative, too_large = summary[2 * r], summary[2 * r + 1]
            if negative or too_large:
                value = summary[4 + 2 * r] if negative else summary[5 + 2 * r]
                raise LabelError(self._bad_label_message(role, value, negative + too_large, total))

    def _bad_label_message(self, role: str, value: int, count: int, total: int) -> str:
        if value < 0:
            allowed = f"range(0, {self._c})" if self._fixed else "non-negative integers"
            hint = " (labels must be class indices, not -1 or ignore_index values)"
        else:
            # The number of classes when the label was counted: the matrix may have grown since.
            size = max((s for s in (*self._earlier_sizes, self._c) if s <= value), default=self._c)
            allowed = f"range(0, {size})"
            hint = f" (num_classes={size}; use a larger num_classes, or None to grow with the labels)"
        return (
            f"{role} label {value} is outside the allowed {allowed}; {count} of {total} {role} labels are "
            f"outside it{hint}"
        )

    def state(self) -> Tensor:
        """Everything counted, as one 1-D ``int64`` tensor: the accumulator, then the smallest label of each bin.

        Gather it across processes (e.g. ``strategy.all_gather``) and hand the result to :meth:`merged`.
        """
        return torch.cat((self._counts, self._lowest.view(-1)))

    def merged(self, states: Tensor) -> ConfusionMatrix:
        """A new matrix that sums the counts (and keeps the smallest labels) of several :meth:`state` tensors.

        Args:
            states: The :meth:`state` of matrices with this matrix's number of classes, stacked along a first
                dimension (as an all-gather returns them), or one 1-D state.

        Returns:
            A matrix on ``states``' device, with this matrix's number of classes and allowed range. Call
            :meth:`check` on it: every process then raises the same :class:`LabelError`.

        Raises:
            ValueError: If the states were made with another number of classes.
        """
        w = self._c + 2
        size = w * w + 2 * w
        if states.dim() == 0 or states.shape[-1] != size:
            raise ValueError(
                f"each state of a {self._c}-class matrix holds {size} values, got shape {tuple(states.shape)}: "
                "grow every matrix to the same number of classes before gathering"
            )
        rows = states.reshape(-1, size)
        merged = copy.copy(self)
        merged._earlier_sizes = list(self._earlier_sizes)
        merged._set_counts(rows[:, : w * w].sum(0))
        merged._lowest = rows[:, w * w :].amin(0).view(2, w)
        merged._one = merged._counts.new_ones(())
        merged._touched = True
        return merged


def _min_max(values: Tensor) -> tuple[int, int]:
    """The smallest and largest value (read on the host: for the CPU path only)."""
    lowest, largest = torch.aminmax(values)
    return int(lowest), int(largest)


def _host_reads_are_free(device: torch.device) -> bool:
    """Whether reading a tensor's values on the host costs no wait: on the CPU there is no device to wait for, so a
    range check and ``torch.bincount`` (faster there than ``index_add_``) are used; elsewhere nothing is read."""
    return device.type == "cpu"


def _check_num_classes(value: Any, name: str, *, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer number of classes, got {value!r}")
    if value < max(minimum, 1):
        raise ValueError(f"{name} must be at least {max(minimum, 1)}, got {value}")
