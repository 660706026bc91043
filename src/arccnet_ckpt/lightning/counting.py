"""Which pass of each split is counted for ``training_summary.json``'s ``data``, and its on-device counter.

* ``train``: the first full training epoch of the fit (one that starts at its first batch: an epoch resumed in its
  middle is not counted); a resumed run keeps the counts already recorded (the recorder's rule).
* ``val``: the first full validation run of the fit after the sanity check.
* ``test``: every ``trainer.test``'s loop; the headline evaluation's counts become ``data.test``.

The callback's hooks call :meth:`DataCounting.begin` (every rank), :meth:`DataCounting.add` per batch (no host sync:
see :class:`~arccnet_ckpt.metrics.counts.ClassCounter`) and :meth:`DataCounting.end` at the end of the counted epoch
or loop, on every rank: it holds the one collective that sums the counts over the ranks. The train and val counts
are kept in the session (:attr:`~arccnet_ckpt.lightning.session.FitSession.data_counts`) and written with the next
record; the test's go with the test's record. Whether a pass is
counted depends only on values every rank shares (the split, what was counted before, the batch index), so the ranks
always agree on whether to take part in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from arccnet_ckpt.lightning.policy import catch_and_warn
from arccnet_ckpt.lightning.session import FitSession
from arccnet_ckpt.metrics.counts import ClassCounter

if TYPE_CHECKING:
    import lightning.pytorch as pl

__all__ = ["DataCounting", "Split"]

Split = Literal["train", "val", "test"]


class DataCounting:
    """The counters of the passes being counted, by split, for one callback's session.

    Args:
        session: The callback's per-fit state: whether a fit runs, the run's class names, the counts read.
    """

    def __init__(self, session: FitSession) -> None:
        self.session = session
        self._counters: dict[str, tuple[ClassCounter, int | None]] = {}

    @property
    def run_dir(self) -> str | None:
        """The run folder (named in the warnings of :func:`~arccnet_ckpt.lightning.policy.catch_and_warn`)."""
        return self.session.identity.run_dir if self.session.identity else None

    @property
    def class_names(self) -> list[str] | None:
        """The run's class names, when known."""
        return self.session.identity.class_names if self.session.identity else None

    def begin(self, split: Split, trainer: pl.Trainer) -> None:
        """Every rank, as a pass of ``split`` starts: count it when the record keeps it (train, val: the fit's first
        full epoch, after the sanity check; test: every test loop). A pass not ended is dropped."""
        session = self.session
        if split != "test" and (session.active != "fit" or split in session.data_counts or trainer.sanity_checking):
            return
        names = self.class_names
        epoch = None if split == "test" else int(trainer.current_epoch)
        self._counters[split] = (ClassCounter(len(names) if names else None), epoch)

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

    @catch_and_warn("count the data of {run_dir}")
    def end(self, split: Split, trainer: pl.Trainer) -> dict[str, Any] | None:
        """Every rank: the counted pass of ``split`` ended. Its counts, summed over every rank (one collective), as
        :class:`~arccnet_ckpt.records.SplitCounts` fields: kept in the session for the next record (train, val) and
        returned. ``None`` when the pass was not counted."""
        entry = self._counters.pop(split, None)
        if entry is None:
            return None
        counter, epoch = entry
        counts = counter.read(trainer.strategy, self.class_names, epoch=epoch)
        if split != "test":
            self.session.data_counts.setdefault(split, counts)
        return counts

    def drop(self) -> None:
        """Forget every pass being counted (an exception ended them: no collective may follow)."""
        self._counters.clear()
