"""The failure policy of the callback, declared once: capturing metadata never kills a run.

A method that records something the run does not need to go on (a history entry, the loggers, the record of a run
that already raised, the HTML report) is marked :func:`catch_and_warn`: an ``Exception`` it raises becomes an
:class:`~arccnet_ckpt.errors.ArcCkptWarning` that names what could not be done and why, and the run goes on.
``KeyboardInterrupt`` and ``SystemExit`` are not caught. What must fail does not use it: an unwritable output folder
fails at fit start, before the first training step, on every rank (through
:func:`~arccnet_ckpt.lightning.ranks.on_rank_zero`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from lightning_utilities.core.rank_zero import rank_zero_warn

from arccnet_ckpt.errors import ArcCkptWarning

F = TypeVar("F", bound=Callable[..., Any])


def catch_and_warn(what: str) -> Callable[[F], F]:
    """Mark a method whose failure costs a warning, never the run; it then returns ``None``.

    Args:
        what: What the method does, with ``{run_dir}`` for the callback's run folder, e.g.
            ``"write the history of {run_dir}"``: the warning says ``could not <what>: <type>: <message>``.
    """

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except Exception as e:
                warn(f"could not {what.format(run_dir=getattr(self, 'run_dir', None))}: {type(e).__name__}: {e}")
                return None

        return guarded  # type: ignore[return-value]

    return decorate


def warn(message: str) -> None:
    """An :class:`~arccnet_ckpt.errors.ArcCkptWarning` from the callback, on rank 0."""
    rank_zero_warn(f"ArcCheckpointCallback: {message}", category=ArcCkptWarning, stacklevel=4)
