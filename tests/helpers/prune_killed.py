"""``arccnet-ckpt prune`` that SIGKILLs itself at a chosen moment (a test helper; nothing in the package knows it).

    python prune_killed.py random 0 prune DATA --older-than 0s --yes
    python prune_killed.py write N prune ...         # killed just before the Nth manifest write
    python prune_killed.py inside-write N prune ...  # killed inside the Nth write: its temporary file is on disk
    python prune_killed.py move N prune ...          # killed just before the Nth move into the trash

``random`` prints ``ready`` once everything is imported, so the test's random delay falls on the prune itself.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from arccnet_ckpt import store
from arccnet_ckpt.cli import main, trash


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _patch(module: Any, name: str, nth: int, *, inside: bool = False) -> None:
    original = getattr(module, name)
    calls = 0

    def dying(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == nth:
            if inside:  # the temporary file written, not yet renamed over manifest.json
                entry, manifest = args
                tmp = store.local_temp_path(store.join(entry, trash.MANIFEST))
                os.makedirs(entry, exist_ok=True)
                with open(tmp, "w") as fh:
                    fh.write(str(manifest)[:40])
            _die()
        original(*args)

    setattr(module, name, dying)


if __name__ == "__main__":
    mode, nth, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if mode == "write":
        _patch(trash, "_write_manifest", nth)
    elif mode == "inside-write":
        _patch(trash, "_write_manifest", nth, inside=True)
    elif mode == "move":
        _patch(store, "move_no_follow", nth)  # every move into the trash
    elif mode != "random":
        raise SystemExit(f"unknown mode {mode!r}: use random, write, inside-write or move")
    print("ready", flush=True)
    sys.exit(main(argv))
