"""The K test samples predicted wrong with the highest confidence, kept on the device; read once at the end.

* :class:`TopMistakes`: per batch, a stable selection of the batch's most confident wrong predictions merged with
  the K kept so far (no host read, at most K inputs copied); :meth:`TopMistakes.sync` keeps the global K over DDP
  ranks; :meth:`TopMistakes.result` reads them once and makes the thumbnails.
* :class:`MistakesResult`: the report's entries (the fields of :class:`arccnet_ckpt.records.Mistake`), the PNG
  bytes to write into the run folder, and why thumbnails are missing.

The pictures themselves are :mod:`~arccnet_ckpt.metrics.thumbnails`' job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor

from arccnet_ckpt.metrics import thumbnails

__all__ = ["MistakesResult", "TopMistakes"]

_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

# Why a run has no thumbnails, by code: the codes travel between DDP ranks, the details stay on their rank.
_NO_INPUTS, _NOT_TENSORS, _ROWS_DIFFER, _NOT_PICTURES, _SHAPES_DIFFER = 1, 2, 3, 4, 5
_WHY = {
    _NO_INPUTS: "no thumbnails: a test batch came without its inputs",
    _NOT_TENSORS: "no thumbnails: the test batches' inputs are not tensors",
    _ROWS_DIFFER: "no thumbnails: the inputs' rows do not match the probabilities' rows",
    _NOT_PICTURES: "no thumbnails: the inputs are not pictures, (N, H, W) or (N, C, H, W)",
    _SHAPES_DIFFER: "no thumbnails: the inputs' shapes differ between batches",
}
_HEADER = 6  # per rank: holds entries, why-code, then the sample shape padded to 3 sizes (ndim first)


@dataclass
class MistakesResult:
    """What :meth:`TopMistakes.result` read.

    Attributes:
        entries: The mistakes, most confident first; each a dict with exactly the fields of
            :class:`arccnet_ckpt.records.Mistake` (``index``, ``target``, ``predicted``, ``confidence``,
            ``thumbnail``).
        images: Each thumbnail's path relative to the run folder (``mistakes/<prefix>-01.png``...) -> PNG bytes.
        note: One line saying why thumbnails are missing, or ``None``.
    """

    entries: list[dict[str, Any]] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)
    note: str | None = None


class _Kept(NamedTuple):
    """The kept candidates, most confident first: ``confidence (K,)``, ``labels (K, 3)`` = index, target,
    predicted; ``inputs (K, ...)`` or ``None``. A correct prediction, kept while there are fewer than K mistakes,
    has confidence ``-inf``."""

    confidence: Tensor
    labels: Tensor
    inputs: Tensor | None


class TopMistakes:
    """The K test samples predicted wrong with the highest confidence, kept on the device.

    Each :meth:`update` takes a batch's class probabilities and targets: the confidence of every wrong prediction
    (the predicted class's probability; correct ones, targets outside the classes and ``NaN`` rows count as
    ``-inf``), a stable sort of the batch, its first ``min(K, N)`` merged with the K kept so far by a second stable
    sort. Ties go to the smaller index, so the list equals ``heapq.nlargest(K, ...)`` over ``(confidence, -index)``.
    Nothing is read on the host and no boolean mask or ``nonzero`` is used, so on CUDA the host never waits for the
    device; the batch's inputs are ``index_select``-ed at the batch's top ``min(K, N)`` rows only, so at most K
    inputs are copied from a batch and at most K are kept (their memory is K samples'). Inputs on another device than
    the probabilities are copied to it (K rows), which costs a transfer.

    A sample's ``index`` is its position in the test loop (a running count of the rows seen). Under DDP,
    :meth:`sync` records ``local_index * world_size + rank``: the dataset index when each rank reads every
    ``world_size``-th sample, as Lightning's default ``DistributedSampler`` does in ``trainer.test`` (unshuffled; its
    padding repeats the first samples, which can then appear under an index past the dataset's end).

    Args:
        k: How many mistakes to keep; ``0`` turns them off (:meth:`update` and :meth:`sync` then do nothing).
        name: The argument's name in error messages (e.g. the callback's ``mistakes``).

    Raises:
        ValueError: If ``k`` is not an integer ``>= 0``.

    Example:
        >>> import torch
        >>> top = TopMistakes(k=2)
        >>> top.update(torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]]), torch.tensor([1, 1, 0]))
        >>> [(m["index"], m["confidence"]) for m in top.result(["quiet", "flare"], prefix="test").entries]
        [(0, 0.8999999761581421), (2, 0.699999988079071)]
    """

    def __init__(self, k: int = 10, *, name: str = "k") -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(
                f"{name} must be a whole number >= 0 (how many of the most confident mistakes to keep; 0 turns them "
                f"off), got {k!r}"
            )
        self._k = k
        self.reset()

    @property
    def k(self) -> int:
        """How many mistakes are kept (0: off)."""
        return self._k

    def reset(self) -> None:
        """Forget every batch: the next :meth:`update` is index 0 of a new test loop."""
        self._offset = 0
        self._kept: _Kept | None = None
        self._synced: _Kept | None = None
        self._synced_note: str | None = None
        self._sample_shape: tuple[int, ...] | None = None
        self._why: tuple[int, str] | None = None  # (code, the note) once thumbnails are off

    def update(self, probabilities: Tensor, target: Tensor, inputs: Any = None) -> None:
        """Add one batch (no host read).

        Args:
            probabilities: ``(N, C)`` rows of class probabilities, or the positive class's probability ``(N,)`` (or
                ``(N, 1)``) of a binary model: predicted positive when ``p > 0.5``, confidence ``max(p, 1 - p)``.
            target: ``(N,)`` integer class indices, on the probabilities' device.
            inputs: The batch's inputs ``(N, ...)`` for thumbnails, or ``None``.

        Raises:
            ValueError: If the probabilities are not ``(N,)`` or ``(N, C)`` real numbers, or the targets not ``N``
                integers.
        """
        if self._k == 0:
            return
        probabilities, target = _checked(probabilities, target)
        n = probabilities.shape[0]
        if n == 0:
            return
        self._synced = None
        confidence, predicted = _judged(probabilities, target)
        order = torch.sort(confidence, descending=True, stable=True).indices[: min(self._k, n)]
        labels = torch.stack((order + self._offset, target.index_select(0, order), predicted.index_select(0, order)), 1)
        candidates = _Kept(
            confidence.index_select(0, order).to(_score_dtype(confidence.device)),
            labels,
            self._candidate_inputs(inputs, n, order),
        )
        self._offset += n
        self._kept = candidates if self._kept is None else self._merged(self._kept, candidates)

    def _candidate_inputs(self, inputs: Any, n: int, order: Tensor) -> Tensor | None:
        """The inputs at ``order`` (at most K rows), or ``None`` once thumbnails are off (and say why, once)."""
        if self._why is None:
            sample_shape = tuple(inputs.shape[1:]) if isinstance(inputs, Tensor) else None
            if inputs is None:
                self._why = (_NO_INPUTS, _WHY[_NO_INPUTS])
            elif not isinstance(inputs, Tensor):
                self._why = (_NOT_TENSORS, f"{_WHY[_NOT_TENSORS]} (a {type(inputs).__name__})")
            elif inputs.dim() == 0 or inputs.shape[0] != n:
                self._why = (_ROWS_DIFFER, f"{_WHY[_ROWS_DIFFER]} ({tuple(inputs.shape)} for {n} rows)")
            elif not thumbnails.image_shaped(inputs.shape[1:]) or inputs.is_complex():
                shape = ("N", *inputs.shape[1:])
                self._why = (_NOT_PICTURES, f"{_WHY[_NOT_PICTURES]} (got ({', '.join(map(str, shape))}))")
            elif self._sample_shape is not None and sample_shape != self._sample_shape:
                self._why = (_SHAPES_DIFFER, f"{_WHY[_SHAPES_DIFFER]} ({self._sample_shape} and {sample_shape})")
            else:
                self._sample_shape = sample_shape
                rows = inputs.detach().index_select(0, order.to(inputs.device))
                return rows.to(order.device)
        if self._kept is not None and self._kept.inputs is not None:
            self._kept = self._kept._replace(inputs=None)  # the memory of K samples, now of no use
        return None

    def _merged(self, kept: _Kept, new: _Kept) -> _Kept:
        """The K most confident of both, ties to the kept (earlier, so smaller) indices: a stable sort."""
        confidence = torch.cat((kept.confidence, new.confidence))
        order = torch.sort(confidence, descending=True, stable=True).indices[: self._k]
        inputs = None
        if kept.inputs is not None and new.inputs is not None:
            inputs = torch.cat((kept.inputs, new.inputs)).index_select(0, order)
        return _Kept(
            confidence.index_select(0, order), torch.cat((kept.labels, new.labels)).index_select(0, order), inputs
        )

    def sync(self, strategy: Any) -> None:
        """Keep the global K over every process (a collective: every rank calls it, with or without data).

        Three ``all_gather`` calls (four with thumbnails) of the same shapes on every rank (a rank's K padded with
        ``-inf``), one host read of a small header; indices become ``local_index * world_size + rank`` (see the class
        docstring).

        Args:
            strategy: The Trainer's strategy (its ``root_device`` and ``all_gather`` are used; a rank is its row
                in the gathered tensors).
        """
        if self._k == 0:
            return
        device, k = strategy.root_device, self._k
        mine = self._kept or _Kept(
            torch.empty(0, dtype=_score_dtype(device), device=device),
            torch.zeros(0, 3, dtype=torch.int64, device=device),
            None,
        )
        shape = self._sample_shape or ()
        header = [int(self._kept is not None), self._why[0] if self._why else 0, len(shape), *shape]
        header += [0] * (_HEADER - len(header))
        ranks = strategy.all_gather(torch.tensor(header, device=device)).reshape(-1, _HEADER).tolist()
        world = len(ranks)
        pad = k - mine.confidence.shape[0]
        confidence = torch.cat((mine.confidence.to(device), torch.full((pad,), -torch.inf, device=device)))
        labels = torch.cat((mine.labels.to(device), torch.zeros(pad, 3, dtype=torch.int64, device=device)))
        confidence = strategy.all_gather(confidence.to(_score_dtype(device))).reshape(world * k)
        labels = strategy.all_gather(labels).reshape(world, k, 3).clone()
        labels[:, :, 0] = labels[:, :, 0] * world + torch.arange(world, device=labels.device).view(world, 1)
        labels = labels.reshape(world * k, 3)

        why, inputs = _agreed(ranks, self._why), None
        if why is None and any(row[0] for row in ranks):
            sample_shape = next(tuple(row[3 : 3 + row[2]]) for row in ranks if row[0])
            rows = torch.zeros(k, *sample_shape, dtype=torch.float32, device=device)
            if mine.inputs is not None:
                rows[: mine.inputs.shape[0]] = mine.inputs.to(device, torch.float32)
            inputs = strategy.all_gather(rows).reshape(world * k, *sample_shape)
        # Ties to the smaller global index: order by index, then a stable sort by confidence.
        by_index = torch.sort(labels[:, 0], stable=True).indices
        order = by_index.index_select(
            0, torch.sort(confidence.index_select(0, by_index), descending=True, stable=True).indices
        )[:k]
        self._synced = _Kept(
            confidence.index_select(0, order),
            labels.index_select(0, order),
            None if inputs is None else inputs.index_select(0, order),
        )
        self._synced_note = why

    def result(self, class_names: Sequence[str], *, prefix: str) -> MistakesResult:
        """Read the mistakes (the one host read) and make their thumbnails.

        Args:
            class_names: The names of the classes, in label order (two for a binary model).
            prefix: The start of the thumbnails' file names (``mistakes/<prefix>-01.png``...), e.g. the
                dataloader's name: letters, digits, ``_``, ``.`` and ``-``.

        Returns:
            The global mistakes after :meth:`sync`, else this process's.

        Raises:
            ValueError: If ``prefix`` is not a plain file-name part.
        """
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(
                f"prefix must start with a letter or digit and hold only letters, digits, '_', '.' and '-', "
                f"got {prefix!r}"
            )
        kept = self._synced if self._synced is not None else self._kept
        if kept is None:
            return MistakesResult()
        confidence = kept.confidence.tolist()
        count = sum(value > -float("inf") for value in confidence)  # sorted: the -inf rows (no mistake) are last
        labels = kept.labels[:count].tolist()
        names = list(class_names)

        def name(label: int) -> str:
            return names[label] if 0 <= label < len(names) else str(label)

        entries = [
            {"index": i, "target": name(t), "predicted": name(p), "confidence": c, "thumbnail": None}
            for (i, t, p), c in zip(labels, confidence[:count], strict=True)
        ]
        note = self._synced_note if self._synced is not None else (self._why[1] if self._why else None)
        if not entries or kept.inputs is None:
            return MistakesResult(entries, {}, note if entries else None)
        note = thumbnails.pillow_missing()
        if note is not None:
            return MistakesResult(entries, {}, note)
        images = {}
        for position, (entry, image) in enumerate(zip(entries, kept.inputs[:count].cpu(), strict=True), start=1):
            path = f"mistakes/{prefix}-{position:02d}.png"
            images[path] = thumbnails.encode_png(*thumbnails.thumbnail_pixels(image))
            entry["thumbnail"] = path
        return MistakesResult(entries, images, None)


def _checked(probabilities: Any, target: Any) -> tuple[Tensor, Tensor]:
    """The probabilities as ``(N,)`` or ``(N, C)`` and the targets as ``(N,)`` int64 (shapes only: no host read)."""
    if not isinstance(probabilities, Tensor) or probabilities.is_complex() or probabilities.dim() not in (1, 2):
        got = tuple(probabilities.shape) if isinstance(probabilities, Tensor) else type(probabilities).__name__
        raise ValueError(f"probabilities must be a tensor of shape (N,) or (N, C) of real numbers, got {got}")
    if probabilities.dim() == 2 and probabilities.shape[1] == 1:
        probabilities = probabilities.reshape(-1)
    if isinstance(target, Tensor) and target.dim() == 2 and target.shape[1] == 1:
        target = target.reshape(-1)
    if not isinstance(target, Tensor) or target.dim() != 1 or target.shape[0] != probabilities.shape[0]:
        got = tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__
        raise ValueError(f"target must be a tensor of {probabilities.shape[0]} class indices (N,), got {got}")
    if target.is_complex():
        raise ValueError(f"target must hold class indices, got dtype {target.dtype}")
    return probabilities, target.to(torch.int64)


def _judged(probabilities: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Each row's confidence if its prediction is wrong (else ``-inf``), and its predicted class."""
    if probabilities.dim() == 1:
        positive = probabilities > 0.5
        predicted = positive.to(torch.int64)
        confidence = torch.where(positive, probabilities, 1 - probabilities)
        num_classes = 2
    else:
        confidence, predicted = probabilities.max(1)
        num_classes = probabilities.shape[1]
    # A target outside the classes (an ignore_index, a bad label the report raises about) is no mistake to show.
    wrong = (predicted != target) & (target >= 0) & (target < num_classes) & ~torch.isnan(confidence)
    return torch.where(wrong, confidence, torch.full_like(confidence, -torch.inf)), predicted


def _score_dtype(device: torch.device) -> torch.dtype:
    """float64 for the kept confidences (exact for any input's), float32 where the device has no float64 (MPS)."""
    return torch.float32 if device.type == "mps" else torch.float64


def _agreed(ranks: list[list[int]], mine: tuple[int, str] | None) -> str | None:
    """Why no rank makes thumbnails (this rank's own note first), or ``None`` when every rank with data agrees."""
    if mine is not None:
        return mine[1]
    with_data = [row for row in ranks if row[0]]
    code = next((row[1] for row in with_data if row[1]), 0)
    if code:
        return _WHY[code]
    shapes = {tuple(row[2 : 3 + row[2]]) for row in with_data}
    return _WHY[_SHAPES_DIFFER] + " (between processes)" if len(shapes) > 1 else None
