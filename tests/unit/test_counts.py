"""The on-device class counter of the data counts (``training_summary.json`` ``data``), on plain tensors."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import torch

from arccnet_ckpt.core.records import with_data_counts
from arccnet_ckpt.metrics.counts import UNNAMED_BOUND, ClassCounter


def _batch(labels: list[Any], dtype: torch.dtype = torch.int64) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(len(labels), 4), torch.tensor(labels, dtype=dtype)


class _Rank:
    """A strategy for one of two simulated ranks: ``all_gather`` stacks this rank's tensor with the other's."""

    root_device = torch.device("cpu")

    def __init__(self, other: torch.Tensor | None = None) -> None:
        self.other = other
        self.gathered: list[torch.Tensor] = []

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        self.gathered.append(tensor.clone())
        return tensor if self.other is None else torch.stack([tensor, self.other])


def test_counter_counts_each_class_like_a_count_over_the_labels() -> None:
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, 5, (n,), generator=gen) for n in (7, 8, 3)]
    counter = ClassCounter(num_classes=5)
    for labels in batches:
        counter.update((torch.zeros(len(labels), 2), labels))
    names = ["A", "B", "C", "M", "X"]
    counts = counter.read(None, names, epoch=0)
    expected = Counter(torch.cat(batches).tolist())
    assert counts == {
        "num_samples": 18,
        "num_batches": 3,
        "class_counts": {name: expected.get(k, 0) for k, name in enumerate(names)},
        "epoch": 0,
        "note": None,
    }


def test_counter_counts_labels_outside_the_class_names_apart() -> None:
    counter = ClassCounter(num_classes=3)
    counter.update(_batch([0, 1, 2, 3, 7, -1, 2]))
    counts = counter.read(None, ["q", "c", "m"])
    assert counts["class_counts"] == {"q": 1, "c": 1, "m": 2}  # 3, 7 and -1 never add to a class
    assert counts["num_samples"] == 7
    assert counts["note"] == (
        "7 targets: 1 negative and 2 at 3 or more (past the 3 class names) counted apart, not in class_counts"
    )


def test_counter_counts_float_bce_targets_as_classes_0_and_1() -> None:
    counter = ClassCounter()
    counter.update(_batch([0.0, 1.0, 1.0, 1.0], torch.float32))
    counter.update(_batch([[0.0], [1.0]], torch.float32))  # (N, 1) targets, as BCEWithLogitsLoss takes them
    assert counter.read(None)["class_counts"] == {"negative": 2, "positive": 4}


def test_counter_of_all_negative_bce_targets_still_names_both_classes() -> None:
    counter = ClassCounter()
    counter.update(_batch([0.0, 0.0], torch.float32))
    assert counter.read(None)["class_counts"] == {"negative": 2, "positive": 0}


@pytest.mark.parametrize("bad", [0.3, float("nan")])
def test_counter_gives_no_class_counts_for_targets_that_are_not_whole_numbers(bad: float) -> None:
    counter = ClassCounter(num_classes=2)
    counter.update(_batch([0.0, bad, 1.0], torch.float32))
    counts = counter.read(None, ["quiet", "flare"])
    assert counts["class_counts"] is None
    assert counts["num_samples"] == 3
    assert counts["note"] == (
        "no class counts: 1 of 3 targets are not whole numbers (soft labels or NaN), expected class indices"
    )


def test_counter_takes_a_batch_of_size_zero() -> None:
    counter = ClassCounter()
    counter.update(_batch([]))
    counter.update(_batch([2, 0]))
    assert counter.read(None) == {
        "num_samples": 2,
        "num_batches": 2,
        "class_counts": {"0": 1, "1": 0, "2": 1},
        "epoch": None,
        "note": None,
    }


def test_counter_without_class_names_trims_to_the_largest_label_and_counts_past_its_bound_apart() -> None:
    counter = ClassCounter()
    counter.update(_batch([0, 4, 4, UNNAMED_BOUND + 5]))
    counts = counter.read(None)
    assert counts["class_counts"] == {"0": 1, "1": 0, "2": 0, "3": 0, "4": 2}
    assert counts["note"] == (
        "4 targets: 1 at 1024 or more (pass class_names to count them by name) counted apart, not in class_counts"
    )


def test_counter_of_batches_without_targets_is_null_with_the_reason() -> None:
    counter = ClassCounter(num_classes=2)
    counter.update(torch.zeros(5, 3))  # inputs only: the size still counts
    counter.update({"image": torch.zeros(2, 3)})
    counts = counter.read(None, ["quiet", "flare"])
    assert counts["class_counts"] is None
    assert counts["num_samples"] == 7
    assert counts["num_batches"] == 2
    assert counts["note"] == ("no class counts: the batch is a Tensor, not an (inputs, targets) tuple or a dict")


def test_counter_with_some_batches_without_targets_counts_the_others_and_says_so() -> None:
    counter = ClassCounter(num_classes=2)
    counter.update(_batch([1, 1]))
    counter.update({"image": torch.zeros(2, 3)})
    counts = counter.read(None, ["quiet", "flare"])
    assert counts["class_counts"] == {"quiet": 0, "flare": 2}
    assert counts["note"].startswith("1 of 2 batches had no targets, left out of class_counts: the dict batch has no")


def test_counter_sums_every_rank_with_one_collective() -> None:
    rank1 = ClassCounter(num_classes=3)
    rank1.update(_batch([2, 2, 2]))
    rank1.update(torch.zeros(4, 1))  # a batch without targets on rank 1 only
    spy = _Rank()
    rank1.read(spy)  # what rank 1 puts into the collective
    rank0 = ClassCounter(num_classes=3)
    rank0.update(_batch([0, 1]))
    strategy = _Rank(other=spy.gathered[0])
    counts = rank0.read(strategy, ["q", "c", "m"], epoch=1)
    assert len(strategy.gathered) == 1
    assert counts["class_counts"] == {"q": 1, "c": 1, "m": 3}
    assert (counts["num_samples"], counts["num_batches"]) == (9, 3)  # each rank's batches, summed
    assert counts["note"] == (
        "1 of 3 batches had no targets, left out of class_counts: "
        "targets were not found in the batches of another process"
    )


def test_counter_of_a_rank_that_saw_no_batch_still_takes_part_in_the_collective() -> None:
    seen = ClassCounter()
    seen.update(_batch([1, 3]))
    spy = _Rank()
    seen.read(spy)
    idle = ClassCounter()
    assert idle.read(_Rank(other=spy.gathered[0]))["class_counts"] == {"0": 0, "1": 1, "2": 0, "3": 1}


def test_counter_never_reads_a_tensor_on_the_host_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a host read in the per-batch path")

    counter = ClassCounter()
    for name in ("item", "tolist", "__bool__", "__int__", "cpu", "nonzero"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    monkeypatch.setattr(torch, "bincount", refuse)
    counter.update(_batch([0, 2, 5, 1]))
    counter.update(_batch([0.0, 1.0], torch.float32))
    counter.update(_batch([]))
    monkeypatch.undo()
    assert counter.read(None)["class_counts"] == {"0": 2, "1": 2, "2": 1, "3": 0, "4": 0, "5": 1}


def test_counter_refuses_a_bad_number_of_classes() -> None:
    with pytest.raises(ValueError, match=r"num_classes must be a positive integer or None, got 0"):
        ClassCounter(num_classes=0)
    with pytest.raises(ValueError, match=r"num_classes must be a positive integer or None, got True"):
        ClassCounter(num_classes=True)


def test_recorded_train_and_val_counts_are_kept_and_test_counts_follow_the_headline() -> None:
    first = {"num_samples": 4, "num_batches": 1, "class_counts": {"0": 4}, "epoch": 0, "note": None}
    later = {**first, "num_samples": 9, "class_counts": {"0": 9}}
    data: dict[str, Any] = {"data": {"train": first, "val": None, "test": first}}
    with_data_counts(data, {"train": later, "val": later, "test": later}, headline=False)
    assert data["data"] == {"train": first, "val": later, "test": first}
    with_data_counts(data, {"test": later}, headline=True)
    assert data["data"]["test"] == later
    with_data_counts(data, None)
    assert data["data"]["train"] == first
