"""The test loop's forward hook: what the LightningModule's forward returned in each test batch, with zero user code.

:class:`ForwardCapture` puts a forward hook on the LightningModule for the test loop only: the callback installs it
at ``on_test_start`` and removes it at ``on_test_end`` and on every other exit (``on_exception``, ``teardown``), so
``fit``, ``validate`` and ``predict`` never run with it and no hook outlives the test. Per test batch it holds a
:class:`~arccnet_ckpt.metrics.batches.ForwardCall`: the last call's output (detached: a view, no copy, no host sync),
how many calls ran, and the first positional argument when it is a tensor. The hook stores references only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from torch import Tensor

from arccnet_ckpt.metrics.batches import ForwardCall

if TYPE_CHECKING:
    from torch import nn
    from torch.utils.hooks import RemovableHandle

__all__ = ["ForwardCapture"]


class ForwardCapture:
    """A forward hook on one module that records each test batch's :class:`ForwardCall`.

    Example::

        capture = ForwardCapture()
        capture.install(pl_module)  # on_test_start
        capture.reset()  # on_test_batch_start
        call = capture.call  # on_test_batch_end: output, calls, inputs
        capture.remove()  # on_test_end, on_exception, teardown
    """

    def __init__(self) -> None:
        self.call = ForwardCall()
        self._handle: RemovableHandle | None = None

    @property
    def installed(self) -> bool:
        """Whether the hook is on a module now."""
        return self._handle is not None

    def install(self, module: nn.Module) -> None:
        """Hook ``module``'s forward (once: a second install replaces the first hook)."""
        self.remove()
        self.reset()
        self._handle = module.register_forward_hook(self._record)

    def reset(self) -> None:
        """Forget the previous batch's call (at each test batch start)."""
        self.call = ForwardCall()

    def remove(self) -> None:
        """Take the hook off its module, and drop the references it held; nothing happens when none is installed."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.remove()
        self.reset()

    def _record(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        # References only, on the hot path of every test batch: detach() makes a view, never a copy or a sync.
        first = args[0] if args else None
        self.call.output = _detached(output)
        self.call.calls += 1
        self.call.inputs = first.detach() if isinstance(first, Tensor) else None


def _detached(output: Any) -> Any:
    """``output`` with its tensors detached: a tensor, or one level of a dict, tuple or list of them."""
    if isinstance(output, Tensor):
        return output.detach()
    if isinstance(output, Mapping):
        return {k: v.detach() if isinstance(v, Tensor) else v for k, v in output.items()}
    if isinstance(output, (tuple, list)) and not hasattr(output, "_fields"):
        return type(output)(v.detach() if isinstance(v, Tensor) else v for v in output)
    return output
