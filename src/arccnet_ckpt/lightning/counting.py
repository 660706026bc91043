"""Which pass of each split is counted for ``training_summary.json``'s ``data``, and its on-device counter.

* ``train``: the first full training epoch of the fit (one that starts at its first batch: an epoch resumed in its
  middle is not counted); a resumed run keeps the counts already recorded (the recorder's rule).
* ``val``: the first full validation run of the fit after the sanity check.
* ``test``: every ``trainer.test``'s loop; the headline evaluation's counts become ``data.test``.

The callback's hooks call :meth:`DataCounting.begin` (every rank), :meth:`DataCounting.add` per batch (no host sync:
see :class:`~arccnet_ckpt.metrics.counts.ClassCounter`) and :meth:`DataCounting.finish` at the end of the counted
epoch or loop, on every rank: it holds the one collective that sums the counts over the ranks. Whether a pass is
counted depends only on values every rank shares (the split, what was counted before, the batch index), so the ranks
always agree on whether to take part in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from arccnet_ckpt.metrics.counts import ClassCounter

__all__ = ["DataCounting", "Split"]

Split = Literal["train", "val", "test"]


class DataCounting:
    """The counters of the passes being counted, by split."""

    def __init__(self) -> None:
        self._counters: dict[str, tuple[ClassCounter, int | None]] = {}

    def begin(self, split: Split, class_names: Sequence[str] | None, *, epoch: int | None = None) -> None:
        """A pass of ``split`` starts and is to be counted (the caller decides whether; a pass not ended is dropped)."""
        self._counters[split] = (ClassCounter(len(class_names) if class_names else None), epoch)

    def add(self, split: Split, batch: Any, batch_idx: int) -> None:
        """One batch of ``split``, when its pass is counted. A pass whose first batch is not batch 0 (an epoch
        resumed in its middle) is not a full one: it is dropped."""
        entry = self._counters.get(split)
        if entry is None:
            return
        if entry[0].num_batches == 0 and batch_idx != 0:
            del self._counters[split]
            return
        entry[0].update(batch)

    def counting(self, split: Split) -> bool:
        """Whether a pass of ``split`` is being counted."""
        return split in self._counters

    def finish(self, split: Split, strategy: Any, class_names: Sequence[str] | None) -> dict[str, Any] | None:
        """The counted pass of ``split`` ended: its counts summed over every rank (a collective, on every rank), as
        :class:`~arccnet_ckpt.records.SplitCounts` fields; ``None`` when none was counted."""
        entry = self._counters.pop(split, None)
        if entry is None:
            return None
        counter, epoch = entry
        return counter.read(strategy, class_names, epoch=epoch)

    def drop(self) -> None:
        """Forget every pass being counted (an exception ended them: no collective may follow)."""
        self._counters.clear()
