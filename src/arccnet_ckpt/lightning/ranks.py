"""What happens on each rank: the one place where arccnet-ckpt talks across processes.

The rules, for every collective the package makes:

* work that touches the file system runs on global rank 0 only, inside :func:`on_rank_zero`, which catches *every*
  exception there and broadcasts the outcome, so that every rank returns the same value or raises the same error
  (no rank is ever left waiting in a collective for a rank that already failed);
* a collective is never called inside a rank-0-only branch;
* work that needs no answer on the other ranks (a history entry, the loggers, a failure record) runs on rank 0
  alone, without a collective, inside :func:`rank_zero_alone`: after a failure the other ranks may be gone, and a
  collective per batch would cost every step;
* the callback asks no other question about ranks: these two functions are the one way it decides what runs on
  rank 1 (nothing that touches the run folder).

Before a Trainer exists (the manual API, which Lightning re-runs in every process), :func:`process_is_rank_zero`
reads the launcher's environment variables instead.
"""

from __future__ import annotations

import os
import pickle
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from arccnet_ckpt.errors import RankZeroError

T = TypeVar("T")

_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")
"""Set by torchrun, Lightning's DDP launcher, SLURM and LSF; a process is global rank 0 only when none is non-zero."""


def process_is_rank_zero() -> bool:
    """Whether this process is global rank 0, judged from the launcher's environment (no Trainer needed).

    Lightning's ``ddp`` launcher, ``torchrun``, SLURM and LSF set one of ``RANK``, ``LOCAL_RANK``, ``NODE_RANK``,
    ``SLURM_PROCID``... in every process they start; a plain ``python train.py`` sets none and is rank 0.
    """
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value and value.lstrip("-").isdigit() and int(value) != 0:
            return False
    return True


def on_rank_zero(strategy: Any, work: Callable[[], T], what: str) -> T:
    """Run ``work`` on global rank 0 and give every rank its result, or its exception.

    A collective: every rank must call it, at the same point. Whatever ``work`` raises on rank 0 (any exception,
    ``KeyboardInterrupt`` included) is raised on every rank: the original object on rank 0; on the others the same
    exception unpickled, or a :class:`~arccnet_ckpt.errors.RankZeroError` carrying its type, message and traceback
    when it cannot be pickled.

    Args:
        strategy: The Trainer's strategy (``is_global_zero`` and ``broadcast(obj, src=0)`` are used).
        work: What to do on rank 0; its result must be picklable.
        what: Words for error messages, e.g. ``"writing training_summary.json"``.

    Returns:
        ``work``'s result, on every rank.
    """
    outcome: tuple[str, Any] | None = None
    error: BaseException | None = None
    if strategy.is_global_zero:
        try:
            outcome = ("ok", work())
        except BaseException as e:
            error = e
            outcome = ("error", _portable(e, what))
    outcome = strategy.broadcast(outcome, src=0)
    if error is not None:
        raise error
    if outcome is None:  # pragma: no cover - rank 0 always sends an outcome
        raise RankZeroError(f"rank 0 sent no outcome while {what}")
    kind, value = outcome
    if kind == "error":
        raise _restored(value)
    return value


def rank_zero_alone(strategy: Any, work: Callable[[], T]) -> T | None:
    """Run ``work`` on global rank 0 only, without a collective; other ranks do nothing and get ``None``.

    For work whose result no other rank needs, and where a collective is impossible (``on_exception``: the other
    ranks may be gone) or too costly (every training batch). Exceptions propagate on rank 0 only.
    """
    return work() if strategy.is_global_zero else None


def _portable(error: BaseException, what: str) -> tuple[bytes, str]:
    """The exception as bytes other ranks can raise: itself when it pickles, else a RankZeroError describing it."""
    note = f"raised on global rank 0 while {what}"
    try:
        data = pickle.dumps(error)
        pickle.loads(data)  # noqa: S301 - our own bytes, round-tripped to prove they restore
    except Exception:
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        data = pickle.dumps(RankZeroError(f"{type(error).__name__}: {error} ({note})\n{text}"))
    return data, note


def _restored(payload: tuple[bytes, str]) -> BaseException:
    data, note = payload
    error: BaseException = pickle.loads(data)  # noqa: S301 - sent by rank 0 of this job
    if hasattr(error, "add_note"):
        error.add_note(note)
    return error


def stopped_anywhere(strategy: Any, states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each EarlyStopping's state from the lowest rank where it stopped the run (a collective over every rank).

    With per-rank metrics (``self.log``'s default) an EarlyStopping can trip on rank 1 only; Lightning then stops
    every rank (it reduces the decision), but rank 0's own state still says ``NOT_STOPPED``. Every rank makes the
    same calls in the same order: the all-gather, then one broadcast per EarlyStopping that stopped elsewhere.

    Args:
        strategy: The Trainer's strategy.
        states: This rank's state of each EarlyStopping, in the Trainer's callback order (``reason`` is
            Lightning's ``EarlyStoppingReason`` name).
    """
    stopped_on = any_rank(strategy, [state["reason"] != "NOT_STOPPED" for state in states])
    return [
        from_rank(strategy, state, src) if src not in (None, 0) else state
        for state, src in zip(states, stopped_on, strict=True)
    ]


def any_rank(strategy: Any, flags: Sequence[bool]) -> list[int | None]:
    """For each flag, the lowest rank on which it is true, or ``None`` (a collective over every rank).

    Used where a decision can be taken on any rank, e.g. an EarlyStopping that tripped on rank 1 only, with
    metrics that are not synced across ranks: Lightning stops every rank, and the record must say why.
    """
    if not flags:
        return []
    import torch

    local = torch.tensor([int(f) for f in flags], dtype=torch.int32, device=strategy.root_device)
    gathered = strategy.all_gather(local).reshape(-1, len(flags)).cpu()
    found: list[int | None] = []
    for column in gathered.T.tolist():
        found.append(next((rank for rank, flag in enumerate(column) if flag), None))
    return found


def from_rank(strategy: Any, value: T, src: int) -> T:
    """``value`` as rank ``src`` has it, on every rank (a collective)."""
    return strategy.broadcast(value, src=src)
