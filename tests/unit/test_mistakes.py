"""Tests of the most confident mistakes (against a reference heap) and their thumbnails."""

from __future__ import annotations

import heapq
import io
import re
import sys
import threading
from typing import Any

import pytest
import torch
from PIL import Image
from torch.overrides import TorchFunctionMode

from arccnet_ckpt.metrics.mistakes import TopMistakes
from arccnet_ckpt.metrics.thumbnails import MAX_SIDE, PILLOW_NOTE, encode_png, thumbnail_pixels
from arccnet_ckpt.records import Mistake

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAMES = [f"class{c}" for c in range(10)]


def _reference(batches: list[tuple[torch.Tensor, torch.Tensor]], k: int, names: list[str]) -> list[dict[str, Any]]:
    """The K most confident mistakes by ``heapq.nlargest`` over ``(confidence, -index)``, in plain Python."""
    candidates, index = [], 0
    for probabilities, target in batches:
        for row, true in zip(probabilities.tolist(), target.tolist(), strict=True):
            if isinstance(row, float):  # binary: the positive class's probability
                predicted, confidence = int(row > 0.5), max(row, 1 - row)
            else:
                predicted = max(range(len(row)), key=row.__getitem__)  # the first of equal maxima, as torch's max
                confidence = row[predicted]
            if predicted != true:
                candidates.append((confidence, -index, true, predicted))
            index += 1
    return [
        {"index": -i, "target": names[t], "predicted": names[p], "confidence": c, "thumbnail": None}
        for c, i, t, p in heapq.nlargest(k, candidates)
    ]


def _random_batches(sizes: list[int], num_classes: int, seed: int, levels: int = 0) -> list[Any]:
    """Batches of softmax rows and targets; ``levels`` > 0 rounds the rows to few values, so confidences tie."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for n in sizes:
        probabilities = torch.softmax(torch.randn(n, num_classes, generator=gen) * 2, 1)
        if levels:
            probabilities = (probabilities * levels).round() / levels
        batches.append((probabilities, torch.randint(0, num_classes, (n,), generator=gen)))
    return batches


@pytest.mark.parametrize(
    ("sizes", "num_classes", "k", "levels"),
    [
        ([32, 32, 32, 7], 3, 10, 0),  # several batches, the last one short
        ([16, 0, 16, 0, 5], 4, 5, 0),  # batches of size 0
        ([64, 64], 3, 10, 4),  # many ties: the smaller index first
        ([40, 40, 40], 10, 1, 2),
        ([6, 3], 2, 50, 0),  # K larger than the number of mistakes (and than the test set)
        ([3, 3], 5, 3, 0),  # K larger than a batch
    ],
)
def test_mistakes_equal_a_reference_heap(sizes: list[int], num_classes: int, k: int, levels: int) -> None:
    batches = _random_batches(sizes, num_classes, seed=len(sizes) + k, levels=levels)
    top = TopMistakes(k)
    for probabilities, target in batches:
        top.update(probabilities, target)

    result = top.result(NAMES[:num_classes], prefix="test")

    expected = _reference(batches, k, NAMES)
    assert result.entries == expected
    assert expected  # the data holds mistakes
    assert [e["confidence"] for e in result.entries] == sorted((e["confidence"] for e in expected), reverse=True)
    for entry in result.entries:
        assert set(entry) == set(Mistake.model_fields)
        Mistake.model_validate(entry)
    assert (result.images, result.note) == ({}, "no thumbnails: a test batch came without its inputs")


def test_binary_probabilities_use_the_threshold_and_the_larger_side() -> None:
    gen = torch.Generator().manual_seed(3)
    batches = []
    for n in (20, 0, 20, 9):
        p = torch.rand(n, generator=gen, dtype=torch.float64)
        p[:3] = torch.tensor([0.5, 0.0, 1.0], dtype=torch.float64)[: min(3, n)]  # 0.5 is negative; extremes
        batches.append((p, torch.randint(0, 2, (n,), generator=gen)))
    top = TopMistakes(7)
    for p, target in batches:
        top.update(p, target)

    entries = top.result(["quiet", "flare"], prefix="test").entries

    assert entries == _reference(batches, 7, ["quiet", "flare"])
    assert all(e["confidence"] >= 0.5 for e in entries)
    column = TopMistakes(7)  # an (N, 1) column is the same binary model
    for p, target in batches:
        column.update(p.view(-1, 1), target.view(-1, 1))
    assert column.result(["quiet", "flare"], prefix="test").entries == entries


def test_the_list_holds_every_mistake_when_there_are_fewer_than_k() -> None:
    top = TopMistakes(10)
    top.update(torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]]), torch.tensor([0, 0, 0]))
    top.update(torch.tensor([[0.2, 0.8]]), torch.tensor([1]))  # right
    entries = top.result(["a", "b"], prefix="test").entries
    assert [(e["index"], e["target"], e["predicted"]) for e in entries] == [(1, "a", "b")]
    assert entries[0]["confidence"] == pytest.approx(0.6)

    right = TopMistakes(3)
    right.update(torch.eye(3), torch.arange(3))
    assert right.result(["a", "b", "c"], prefix="test").entries == []
    assert right.result(["a", "b", "c"], prefix="test").note is None  # nothing missing from an empty list


def test_nan_rows_and_targets_outside_the_classes_are_no_mistakes() -> None:
    probabilities = torch.tensor([[float("nan"), 0.5, 0.5], [0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.1, 0.2, 0.7]])
    top = TopMistakes(5)
    top.update(probabilities, torch.tensor([1, -1, 3, 0]))  # -1: an ignore_index; 3: no class of 3
    entries = top.result(["a", "b", "c"], prefix="test").entries
    assert [(e["index"], e["target"], e["predicted"]) for e in entries] == [(3, "a", "c")]


def test_k_zero_turns_the_list_off_and_a_bad_k_says_what_is_allowed() -> None:
    off = TopMistakes(0)
    off.update(torch.tensor([[0.9, 0.1]]), torch.tensor([1]), torch.zeros(1, 4, 4))
    off.sync(_one_process())
    assert off.result(["a", "b"], prefix="test").entries == []
    assert TopMistakes().k == 10
    for bad in (-1, 2.5, True, "10"):
        with pytest.raises(ValueError, match=r"^mistakes must be a whole number >= 0 \(.*0 turns them off\), got "):
            TopMistakes(bad, name="mistakes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^k must be a whole number >= 0 .*got -3$"):
        TopMistakes(-3)


def test_bad_shapes_and_prefixes_say_what_was_expected() -> None:
    top = TopMistakes(3)
    with pytest.raises(
        ValueError, match=r"probabilities must be a tensor of shape \(N,\) or \(N, C\).*got \(2, 3, 4\)"
    ):
        top.update(torch.zeros(2, 3, 4), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"target must be a tensor of 2 class indices \(N,\), got \(3,\)"):
        top.update(torch.zeros(2, 3), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"prefix must start with a letter or digit.*got '../x'"):
        top.result(["a"], prefix="../x")


def test_reset_starts_a_new_test_loop() -> None:
    top = TopMistakes(2)
    top.update(torch.tensor([[0.9, 0.1]]), torch.tensor([1]))
    top.reset()
    top.update(torch.tensor([[0.2, 0.8]]), torch.tensor([0]))
    assert [e["index"] for e in top.result(["a", "b"], prefix="test").entries] == [0]


# ------------------------------------------------------------------------------------------------- thumbnails


def _png(data: bytes) -> Image.Image:
    assert data.startswith(PNG_SIGNATURE)
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def _pictures(n: int, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed)) * 7 + 3


@pytest.mark.parametrize(
    ("sample_shape", "mode", "size"),
    [
        ((1, 20, 30), "L", (30, 20)),  # (width, height): smaller than 96, kept
        ((3, 20, 30), "RGB", (30, 20)),
        ((5, 20, 30), "L", (30, 20)),  # the first channel
        ((20, 30), "L", (30, 20)),  # (N, H, W)
        ((3, 400, 200), "RGB", (48, 96)),  # shrunk, the aspect ratio kept
        ((1, 50, 1000), "L", (96, 5)),
    ],
)
def test_thumbnails_are_pngs_of_at_most_96_pixels(sample_shape: tuple[int, ...], mode: str, size: Any) -> None:
    inputs = _pictures(4, sample_shape)
    top = TopMistakes(3)
    top.update(torch.tensor([[0.2, 0.8], [0.9, 0.1], [0.4, 0.6], [0.5, 0.5]]), torch.tensor([0, 1, 0, 0]), inputs)

    result = top.result(["quiet", "flare"], prefix="test")

    assert [e["index"] for e in result.entries] == [1, 0, 2]
    assert [e["thumbnail"] for e in result.entries] == [
        "mistakes/test-01.png",
        "mistakes/test-02.png",
        "mistakes/test-03.png",
    ]
    assert list(result.images) == [e["thumbnail"] for e in result.entries]
    assert result.note is None
    for entry in result.entries:
        picture = _png(result.images[entry["thumbnail"]])
        assert (picture.mode, picture.size) == (mode, size)
        assert max(picture.size) <= MAX_SIDE
        if max(size) == max(sample_shape[-2:]):  # not resized: min-max scaled exactly
            assert _rgb_extremes(picture) if mode == "RGB" else picture.getextrema() == (0, 255)
    first = _png(result.images["mistakes/test-02.png"])  # sample 0
    expected_channel = inputs[0] if len(sample_shape) == 2 else inputs[0, 0]
    if mode == "L" and max(size) == max(sample_shape[-2:]):  # the first channel, scaled on its own
        assert list(first.getdata()) == _scaled(expected_channel).reshape(-1).tolist()


def _rgb_extremes(picture: Image.Image) -> bool:
    """An RGB picture scaled with one scale for its three channels: 0 and 255 are reached, not in every channel."""
    extrema = picture.getextrema()
    return min(low for low, _ in extrema) == 0 and max(high for _, high in extrema) == 255


def _scaled(values: torch.Tensor) -> torch.Tensor:
    values = values.double()
    return ((values - values.min()) / (values.max() - values.min()) * 255).round().to(torch.uint8)


def test_odd_pictures_get_well_defined_pixels() -> None:
    constant, mode = thumbnail_pixels(torch.full((1, 5, 5), 7.0))
    assert (mode, constant.unique().tolist()) == ("L", [128])  # no division by zero
    nothing_finite, _ = thumbnail_pixels(torch.full((4, 4), float("nan")))
    assert nothing_finite.unique().tolist() == [128]
    odd = torch.tensor([[float("nan"), float("inf"), -float("inf")], [1.0, 2.0, 3.0]])
    pixels, _ = thumbnail_pixels(odd)
    assert pixels.tolist() == [[0, 255, 0], [0, 128, 255]]  # scaled over the finite values
    wide, _ = thumbnail_pixels(torch.tensor([[-1e308, 1e308]], dtype=torch.float64))  # a range past float's largest
    assert wide.tolist() == [[0, 255]]
    grey = _png(encode_png(*thumbnail_pixels(torch.tensor([[True, False]]))))
    assert (grey.mode, list(grey.getdata())) == ("L", [255, 0])
    with pytest.raises(ValueError, match=r"one \(H, W\) or \(C, H, W\) picture.*got shape \(2, 2, 2, 2\)"):
        thumbnail_pixels(torch.zeros(2, 2, 2, 2))


def test_without_pillow_the_list_has_null_thumbnails_and_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    top = TopMistakes(2)
    top.update(torch.tensor([[0.9, 0.1], [0.3, 0.7]]), torch.tensor([1, 0]), _pictures(2, (3, 8, 8)))
    for module in [name for name in sys.modules if name == "PIL" or name.startswith("PIL.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now raises ImportError

    result = top.result(["a", "b"], prefix="test")

    assert [(e["index"], e["thumbnail"]) for e in result.entries] == [(0, None), (1, None)]
    assert (result.images, result.note) == ({}, PILLOW_NOTE)
    assert "install arccnet-ckpt[images] for thumbnails" in PILLOW_NOTE


@pytest.mark.parametrize(
    ("batches_inputs", "note"),
    [
        (
            [torch.zeros(3, 10)],
            r"^no thumbnails: the inputs are not pictures, \(N, H, W\) or \(N, C, H, W\) \(got \(N, 10\)\)$",
        ),
        ([[torch.zeros(3, 4, 4)]], r"^no thumbnails: the test batches' inputs are not tensors \(a list\)$"),
        ([None], r"^no thumbnails: a test batch came without its inputs$"),
        (
            [torch.zeros(2, 4, 4)],
            r"^no thumbnails: the inputs' rows do not match the probabilities' rows \(\(2, 4, 4\) for 3 rows\)$",
        ),
        (
            [torch.zeros(3, 4, 4), torch.zeros(3, 4, 5)],
            r"^no thumbnails: the inputs' shapes differ between batches \(\(4, 4\) and \(4, 5\)\)$",
        ),
        ([torch.zeros(3, 4, 4), None], r"^no thumbnails: a test batch came without its inputs$"),
    ],
)
def test_inputs_that_make_no_thumbnails_give_null_and_a_note(batches_inputs: list[Any], note: str) -> None:
    top = TopMistakes(4)
    for inputs in batches_inputs:
        top.update(torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]), torch.tensor([1, 0, 1]), inputs)
    result = top.result(["a", "b"], prefix="test")
    assert len(result.entries) == min(4, 3 * len(batches_inputs))
    assert all(e["thumbnail"] is None for e in result.entries)
    assert result.images == {}
    assert result.note is not None
    assert re.match(note, result.note)


# ------------------------------------------------------------------------------------------- cost of a batch


def _forbid_host_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every read of a tensor's values on the host raise (on CUDA each would wait for the GPU), and the ops
    whose result's size depends on the values (boolean-mask indexing, ``nonzero``)."""

    def host_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a tensor value was read on the host")

    for name in ("item", "tolist", "__bool__", "__int__", "__index__", "__float__", "nonzero", "cpu", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, host_read)
    monkeypatch.setattr(torch, "nonzero", host_read)
    getitem = torch.Tensor.__getitem__

    def no_mask(self: torch.Tensor, key: Any) -> Any:
        keys = key if isinstance(key, tuple) else (key,)
        if any(isinstance(part, torch.Tensor) and part.dtype == torch.bool for part in keys):
            raise AssertionError("boolean-mask indexing reads the mask on the host")
        return getitem(self, key)

    monkeypatch.setattr(torch.Tensor, "__getitem__", no_mask)
    with pytest.raises(AssertionError, match=r"read on the host"):
        bool(torch.tensor(True))  # the patch is in force


class _CopiesOfTheInputs(TorchFunctionMode):
    """Records the rows of every new tensor made from the batch's inputs (a view shares their memory: no copy)."""

    def __init__(self, inputs: torch.Tensor) -> None:
        super().__init__()
        self.storage = inputs.untyped_storage().data_ptr()
        self.sample_shape = inputs.shape[1:]
        self.rows: list[int] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        result = func(*args, **(kwargs or {}))
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        from_inputs = any(t.untyped_storage().data_ptr() == self.storage for t in tensors)
        if (
            from_inputs
            and isinstance(result, torch.Tensor)
            and result.untyped_storage().data_ptr() != self.storage
            and result.shape[1:] == self.sample_shape
        ):
            self.rows.append(result.shape[0])
        return result


def test_a_batch_reads_nothing_on_the_host_and_copies_at_most_k_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    batches = _random_batches([64, 64, 0, 30], 5, seed=11)
    inputs = [_pictures(len(target), (3, 16, 16), seed=i) for i, (_, target) in enumerate(batches)]
    top = TopMistakes(6)
    copies = []
    with monkeypatch.context() as patch:
        _forbid_host_reads(patch)
        for (probabilities, target), pictures in zip(batches, inputs, strict=True):
            with _CopiesOfTheInputs(pictures) as mode:
                top.update(probabilities, target, pictures)
            copies.append(mode.rows)

    assert copies == [[6], [6], [], [6]]  # one index_select of the batch's top min(K, N) rows, nothing else
    result = top.result(NAMES[:5], prefix="test")
    assert result.entries == [
        {**entry, "thumbnail": f"mistakes/test-{rank:02d}.png"}
        for rank, entry in enumerate(_reference(batches, 6, NAMES), start=1)
    ]
    every_input = torch.cat(inputs)
    for entry in result.entries:  # each thumbnail is its own sample's
        assert result.images[entry["thumbnail"]] == encode_png(*thumbnail_pixels(every_input[entry["index"]]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_batch_does_not_sync_on_cuda() -> None:
    batches = [(p.cuda(), t.cuda()) for p, t in _random_batches([64, 64, 0, 30], 5, seed=11)]
    binary = [(torch.rand(32, device="cuda"), torch.randint(0, 2, (32,), device="cuda")) for _ in range(3)]
    top, top_binary = TopMistakes(6), TopMistakes(6)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for probabilities, target in batches:
            top.update(probabilities, target, torch.randn(len(target), 3, 16, 16, device="cuda"))
        for probabilities, target in binary:
            top_binary.update(probabilities, target, torch.randn(32, 16, 16, device="cuda"))
    finally:
        torch.cuda.set_sync_debug_mode("default")

    assert top.result(NAMES[:5], prefix="test").entries == [
        {**entry, "thumbnail": f"mistakes/test-{rank:02d}.png"}
        for rank, entry in enumerate(_reference([(p.cpu(), t.cpu()) for p, t in batches], 6, NAMES), start=1)
    ]
    expected = _reference([(p.double().cpu(), t.cpu()) for p, t in binary], 6, ["a", "b"])
    entries = top_binary.result(["a", "b"], prefix="test").entries
    assert [e["index"] for e in entries] == [e["index"] for e in expected]


# --------------------------------------------------------------------------------------------------- DDP


def _one_process() -> Any:
    from lightning.pytorch.strategies import SingleDeviceStrategy

    return SingleDeviceStrategy(device=torch.device("cpu"))


class _Rank:
    """One of ``world`` ranks run as threads: all_gather stacks every rank's tensor, as a DDP strategy does."""

    root_device = torch.device("cpu")

    def __init__(self, rank: int, slots: list[list[Any]], barrier: threading.Barrier) -> None:
        self.global_rank, self.slots, self.barrier, self.calls = rank, slots, barrier, 0

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.global_rank == 0:
            self.slots.append([None] * self.barrier.parties)
        self.barrier.wait()
        self.slots[self.calls][self.global_rank] = tensor.clone()
        self.barrier.wait()
        gathered = torch.stack(self.slots[self.calls])
        self.calls += 1
        return gathered


def _run_ranks(tops: list[TopMistakes]) -> None:
    """Each top's sync on its own thread, as DDP's processes would call it together."""
    slots: list[list[Any]] = []
    barrier = threading.Barrier(len(tops), timeout=30)
    errors: list[BaseException] = []

    def sync(rank: int) -> None:
        try:
            tops[rank].sync(_Rank(rank, slots, barrier))
        except BaseException as error:  # handed to the test's thread
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=sync, args=(rank,)) for rank in range(len(tops))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _sampled(world: int, rank: int, n: int) -> list[int]:
    """The dataset indices of one rank under Lightning's unshuffled DistributedSampler (no padding: n % world == 0)."""
    return list(range(rank, n, world))


def test_sync_keeps_the_global_top_k_with_dataset_indices() -> None:
    world, n, k = 3, 90, 8
    gen = torch.Generator().manual_seed(5)
    probabilities = torch.softmax(torch.randn(n, 4, generator=gen) * 2, 1)
    probabilities[10] = probabilities[20] = probabilities[40]  # ties across ranks
    target = torch.randint(0, 4, (n,), generator=gen)
    pictures = _pictures(n, (1, 12, 12))
    tops = [TopMistakes(k) for _ in range(world)]
    for rank in range(world):
        mine = torch.tensor(_sampled(world, rank, n))
        for batch in mine.split(7):
            tops[rank].update(probabilities[batch], target[batch], pictures[batch])

    _run_ranks(tops)

    expected = _reference([(probabilities, target)], k, NAMES)  # a heap over the dataset in its own order
    for top in tops:  # every rank holds the same list
        result = top.result(NAMES[:4], prefix="test")
        assert [{**e, "thumbnail": None} for e in result.entries] == expected
        for entry in result.entries:
            assert result.images[entry["thumbnail"]] == encode_png(*thumbnail_pixels(pictures[entry["index"]]))
        assert result.note is None


def test_sync_with_a_rank_without_batches_and_one_process() -> None:
    probabilities, target = _random_batches([40], 3, seed=2)[0]
    ranks = [TopMistakes(5), TopMistakes(5)]
    ranks[0].update(probabilities, target, _pictures(40, (12, 12)))  # rank 1 saw no batch
    _run_ranks(ranks)
    expected = _reference([(probabilities, target)], 5, NAMES)
    assert [e["index"] for e in ranks[1].result(NAMES[:3], prefix="t").entries] == [2 * e["index"] for e in expected]
    assert ranks[1].result(NAMES[:3], prefix="t").images == ranks[0].result(NAMES[:3], prefix="t").images

    alone = TopMistakes(5)
    alone.update(probabilities, target, _pictures(40, (12, 12)))
    before = alone.result(NAMES[:3], prefix="t")
    alone.sync(_one_process())
    assert alone.result(NAMES[:3], prefix="t") == before
    assert [{**e, "thumbnail": None} for e in before.entries] == expected


@pytest.mark.parametrize(
    ("inputs", "note"),
    [
        ((torch.zeros(10, 4, 4), torch.zeros(10, 4, 5)), "no thumbnails: the inputs' shapes differ between batches"),
        ((torch.zeros(10, 4, 4), torch.zeros(10, 7)), "no thumbnails: the inputs are not pictures"),
        ((torch.zeros(10, 4, 4), None), "no thumbnails: a test batch came without its inputs"),
    ],
)
def test_ranks_agree_when_one_rank_makes_no_thumbnails(inputs: tuple[Any, Any], note: str) -> None:
    probabilities = torch.tensor([[0.9, 0.1]]).expand(10, 2)
    tops = [TopMistakes(3), TopMistakes(3)]
    for top, pictures in zip(tops, inputs, strict=True):
        top.update(probabilities, torch.ones(10, dtype=torch.int64), pictures)
    _run_ranks(tops)
    for top in tops:
        result = top.result(["a", "b"], prefix="test")
        assert [e["index"] for e in result.entries] == [0, 1, 2]
        assert all(e["thumbnail"] is None for e in result.entries)
        assert result.note is not None
        assert result.note.startswith(note)
