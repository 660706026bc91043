"""The two Lightning namespaces: ``lightning.pytorch`` and the standalone ``pytorch_lightning``.

They have separate class trees: a callback built on one only half-works in a Trainer of the other. The callback's
class names its namespace (``_namespace``; :mod:`arccnet_ckpt.pytorch_lightning` holds the ``pytorch_lightning``
subclass), every Lightning class it needs at run time is looked up in that namespace (:func:`module`), and
:func:`check_namespace` refuses a Trainer of the other one.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

from arccnet_ckpt.errors import NamespaceMismatchError


def module(namespace: str, name: str = "") -> types.ModuleType:
    """``<namespace>.<name>`` (e.g. ``module("pytorch_lightning", "callbacks")``), or the namespace itself."""
    return importlib.import_module(f"{namespace}.{name}" if name else namespace)


def check_namespace(callback: Any, trainer: Any) -> None:
    """Refuse a Trainer of the other Lightning namespace, naming what built the callback and what to use.

    Raises:
        NamespaceMismatchError: If ``trainer`` is not a Trainer of the callback's namespace.
    """
    namespace = callback._namespace
    if isinstance(trainer, module(namespace).Trainer):
        return
    other = "pytorch_lightning" if namespace == "lightning.pytorch" else "lightning.pytorch"
    package = "arccnet_ckpt.pytorch_lightning" if other == "pytorch_lightning" else "arccnet_ckpt"
    fix = (
        f"It came from {callback._origin}."
        if callback._origin
        else f"Use `from {package} import ArcCheckpointCallback` with a `{other}` Trainer."
    )
    raise NamespaceMismatchError(
        f"{type(callback).__name__} from {type(callback).__module__!r} is built on `{namespace}`, but it was given "
        f"a `{type(trainer).__module__}.{type(trainer).__name__}`. The two namespaces have separate class trees "
        f"and a callback of one only half-works in a Trainer of the other. {fix}"
    )
