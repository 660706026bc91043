"""Counting what data the Trainer saw of a split: samples, batches and samples per true class, on the device.

:class:`ClassCounter` reads each batch's targets with the one rule of :mod:`arccnet_ckpt.metrics.batches`
(:func:`~arccnet_ckpt.metrics.batches.targets_from_batch`) and adds them into a fixed-size ``int64`` vector on the
batch's device with one ``index_add_``: no value is read on the host per batch (no ``.item()``, no ``torch.bincount``,
which on CUDA reads its input's range). :meth:`ClassCounter.read` sums the vector over every process with one
collective and reads it once, at the end of the counted epoch or loop, into the fields of a
:class:`~arccnet_ckpt.records.SplitCounts`.

The vector's bins: ``0`` for a negative label, ``1 + k`` for class ``k``, then one for a label at or past the size, one
for a target that is not a whole number (a soft label, NaN). Float targets ``0.0``/``1.0`` (``BCEWithLogitsLoss``)
count as classes 0 and 1. The size is the number of class names when they are known, else :data:`UNNAMED_BOUND`,
trimmed to the largest label seen when read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from arccnet_ckpt.metrics.batches import inputs_from_batch, targets_from_batch
from arccnet_ckpt.metrics.report import default_class_names

__all__ = ["UNNAMED_BOUND", "ClassCounter"]

UNNAMED_BOUND = 1024
"""The number of classes counted one by one when the run has no class names; a larger label is counted apart."""

_TAIL = 4  # num_samples, num_batches, batches without targets, batches of unknown size: summed with the bins


class ClassCounter:
    """Samples, batches and samples per true class of one split, counted on the batches' device.

    Args:
        num_classes: The number of class names, when known: a label outside ``range(num_classes)`` is counted apart.
            ``None``: labels up to :data:`UNNAMED_BOUND` are counted, and the counts are trimmed when read.

    Raises:
        ValueError: If ``num_classes`` is not a positive integer.

    Example:
        >>> import torch
        >>> counter = ClassCounter(num_classes=3)
        >>> counter.update((torch.zeros(4, 2), torch.tensor([0, 2, 2, 1])))
        >>> counter.read(None, ["a", "b", "c"])["class_counts"]
        {'a': 1, 'b': 1, 'c': 2}
    """

    def __init__(self, num_classes: int | None = None) -> None:
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)):
            raise ValueError(f"num_classes must be a positive integer or None, got {num_classes!r}")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer or None, got {num_classes!r}")
        self.fixed = num_classes is not None
        self.size = num_classes if num_classes is not None else UNNAMED_BOUND
        self._bins: Tensor | None = None  # made on the first batch's device
        self._tail = [0] * _TAIL  # host-known numbers (shapes), never read from the device
        self._floats = False  # float targets seen (BCE): at least two classes when unnamed
        self.reason: str | None = None  # the first batch's reason for having no targets

    @property
    def num_batches(self) -> int:
        """The batches added in this process."""
        return self._tail[1]

    def update(self, batch: Any) -> None:
        """Add one batch: its targets' classes on the device, its size and the batch from host-known shapes.

        Never raises: a batch whose targets cannot be counted is a batch without targets, with the reason.
        """
        self._tail[1] += 1
        try:
            targets = targets_from_batch(batch)
            if not isinstance(targets, str):
                self._add(targets)
                return
        except Exception as e:  # counting never stops a run; the ranks still agree (the batch is counted apart)
            targets = f"the targets could not be counted: {type(e).__name__}: {e}"
        self._tail[2] += 1
        self.reason = self.reason or targets
        inputs = inputs_from_batch(batch)
        if inputs is None or inputs.dim() == 0:
            self._tail[3] += 1
        else:
            self._tail[0] += int(inputs.shape[0])

    def _add(self, targets: Tensor) -> None:
        if targets.shape[0] == 0:
            return  # a batch of size 0: nothing to count, and no kernel to queue
        bins = self._bins_of(targets)
        if self._bins is None:
            self._bins = torch.zeros(self.size + 3, dtype=torch.int64, device=targets.device)
        self._bins.index_add_(0, bins, torch.ones_like(bins))
        self._tail[0] += int(targets.shape[0])

    def _bins_of(self, targets: Tensor) -> Tensor:
        """Each target's bin, computed on its device (see the module's docstring)."""
        size = self.size
        if targets.is_floating_point():
            self._floats = True
            whole = targets == targets.trunc()  # False for NaN and soft labels
            low, high = targets < 0, targets >= size
            labels = torch.where(whole & ~low & ~high, targets, torch.zeros_like(targets)).to(torch.int64) + 1
            labels = torch.where(low, 0, torch.where(high, size + 1, labels))
            return torch.where(whole, labels, size + 2)
        labels = targets.to(torch.int64)
        return torch.where(labels < 0, 0, torch.where(labels >= size, size + 1, labels + 1))

    def read(
        self, strategy: Any, class_names: Sequence[str] | None = None, *, epoch: int | None = None
    ) -> dict[str, Any]:
        """The split's counts, summed over every process: the fields of a :class:`~arccnet_ckpt.records.SplitCounts`.

        A collective when ``strategy`` is given (its ``root_device`` and ``all_gather`` are used): every rank calls
        it, with or without batches. ``num_batches`` is the batches each rank's loop ran, summed over the ranks.

        Args:
            strategy: The Trainer's strategy, or ``None`` for this process alone.
            class_names: The run's class names; ``None`` (or a list of another length than the counter's size when
                fixed): :func:`~arccnet_ckpt.metrics.report.default_class_names`.
            epoch: The epoch counted, recorded as given.
        """
        device = strategy.root_device if strategy is not None else torch.device("cpu")
        bins = self._bins if self._bins is not None else torch.zeros(self.size + 3, dtype=torch.int64, device=device)
        tail = torch.tensor([*self._tail, int(self._floats)], dtype=torch.int64, device=bins.device)
        local = torch.cat([bins, tail]).to(device)
        if strategy is not None:
            local = strategy.all_gather(local).reshape(-1, local.shape[0]).sum(0)
        values: list[int] = local.tolist()  # the one host read of the split
        counted, rest = values[: self.size + 3], values[self.size + 3 :]
        num_samples, num_batches, without, unsized, floats = rest
        fields: dict[str, Any] = {
            "num_samples": None if unsized else num_samples,
            "num_batches": num_batches,
            "class_counts": None,
            "epoch": epoch,
            "note": None,
        }
        seen = num_batches - without
        if without:
            reason = self.reason or "targets were not found in the batches of another process"
            if not seen:
                fields["note"] = f"no class counts: {reason}"
                return fields
            fields["note"] = f"{without} of {num_batches} batches had no targets, left out of class_counts: {reason}"
        fields["class_counts"], problem = self._class_counts(counted, class_names, floats=bool(floats))
        if problem:
            fields["note"] = problem if fields["note"] is None else f"{fields['note']}; {problem}"
        return fields

    def _class_counts(
        self, counted: list[int], class_names: Sequence[str] | None, *, floats: bool
    ) -> tuple[dict[str, int] | None, str | None]:
        negative, per_class, beyond, fractional = counted[0], counted[1:-2], counted[-2], counted[-1]
        total = sum(counted)
        if fractional:
            return None, (
                f"no class counts: {fractional} of {total} targets are not whole numbers (soft labels or NaN), "
                "expected class indices"
            )
        if not self.fixed:
            seen = max((k + 1 for k, n in enumerate(per_class) if n), default=0)
            per_class = per_class[: max(seen, 2 if floats else 1)]
        if class_names is None or len(class_names) != len(per_class):
            class_names = default_class_names(len(per_class))
        counts = dict(zip(class_names, per_class, strict=True))
        problems = []
        if negative:
            problems.append(f"{negative} negative")
        if beyond:
            past = f"past the {self.size} class names" if self.fixed else "pass class_names to count them by name"
            problems.append(f"{beyond} at {self.size} or more ({past})")
        if problems:
            return counts, f"{total} targets: {' and '.join(problems)} counted apart, not in class_counts"
        return counts, None
