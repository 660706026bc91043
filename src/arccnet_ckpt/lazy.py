"""Names a package exports without importing them: the torch- and Lightning-based ones load on first use.

Reading runs (the command line, ``load_run``) must not import torch, yet ``from arccnet_ckpt import
ArcCheckpointCallback`` must work; a package's ``__getattr__`` made by :func:`lazy_getattr` imports the module that
defines a name when the name is first asked for, and keeps it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package`` for ``names`` (``{name: module that defines it}``)."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # asked once: the next lookup finds it without this function
        return value

    return __getattr__
