"""``arccnet-ckpt``'s ``main``: parse, dispatch to the verb's module, and turn the error family into exit codes.

Each verb lives in its own module (``arccnet_ckpt.cli.<verb>``, with a ``cmd_<verb>(args) -> int``), imported only
when it runs: ``ls`` never pays for ``prune``'s or ``report``'s imports. Errors are caught here once:
:class:`~arccnet_ckpt.cli.select.UsageError` is exit code 2, every other error 1 (with one line on stderr).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from arccnet_ckpt.cli import output
from arccnet_ckpt.cli.parser import build_parser
from arccnet_ckpt.cli.select import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, UsageError
from arccnet_ckpt.errors import ArcCkptError

__all__ = ["EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "main", "run"]


_MODULES = {"group": "groups"}
"""The verbs that share another verb's module (``group show`` lives beside ``groups``)."""


def _command(verb: str) -> Callable[[argparse.Namespace], int]:
    """The ``cmd_<verb>`` of the verb's module."""
    module = importlib.import_module(f"arccnet_ckpt.cli.{_MODULES.get(verb, verb)}")
    command: Callable[[argparse.Namespace], int] = getattr(module, f"cmd_{verb}")
    return command


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 1 problems or no match, 2 usage error)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and isinstance(getattr(args, "targets", None), list) and not any(e.startswith("-") for e in extra):
        args.targets.extend(extra)  # targets after an option: ls flares/a --data d flares/b
    elif extra:  # the verb's own parser says it, so the message names the verb and its --help
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    # A short-lived process that builds many acyclic objects: the cyclic garbage collector only costs time here.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return int(_command(args.verb)(args))
    except UsageError as e:
        output.write_line(f"{output.PROG} {args.verb}: error: {e}", sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `arccnet-ckpt ls | head`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (ArcCkptError, OSError) as e:
        output.write_line(f"{output.PROG} {args.verb}: {e}", sys.stderr)
        return EXIT_PROBLEMS
    except Exception as e:  # a storage back-end's own error (botocore: no credentials, no endpoint...)
        output.write_line(f"{output.PROG} {args.verb}: {type(e).__name__}: {e}", sys.stderr)
        return EXIT_PROBLEMS
    finally:
        if collecting:
            gc.enable()


def run() -> None:
    """The console script's entry point."""
    try:
        code = main()
    except KeyboardInterrupt:  # pragma: no cover
        code = 130
    sys.stdout.flush()
    raise SystemExit(code)
