"""``arccnet-ckpt``: list, compare, check, prune and report run folders from the shell.

Run ``arccnet-ckpt --help`` or ``python -m arccnet_ckpt --help``. Nothing here imports torch or Lightning, except
``verify --load``. Exit codes: 0 ok; 1 problems found (``verify``), nothing matched, or a file could not be read;
2 usage error (a bad option, a bad ``--where``, an ambiguous run prefix).

Where each responsibility lives:

- :mod:`~arccnet_ckpt.cli.main`: ``main`` (parse, dispatch to the verb's module, the error family caught once, exit
  codes) and ``run``, the console script;
- :mod:`~arccnet_ckpt.cli.parser`: the argument parser and the option groups verbs share;
- :mod:`~arccnet_ckpt.cli.select`: targets, run prefixes and keys (what ``--sort``/``--cols``/``--by`` name),
  durations, the exit codes and the errors that set them;
- :mod:`~arccnet_ckpt.cli.where`: where ``--where`` is parsed and applied, with the other filters;
- :mod:`~arccnet_ckpt.cli.record`: a run's JSON record and the status shown;
- :mod:`~arccnet_ckpt.cli.output`: the one renderer (table, JSON, JSON Lines, CSV), escaping, messages;
- one module per verb, each an API function that returns data and a ``cmd_<verb>`` that renders it:
  :mod:`~arccnet_ckpt.cli.ls`, :mod:`~arccnet_ckpt.cli.show`, :mod:`~arccnet_ckpt.cli.best`,
  :mod:`~arccnet_ckpt.cli.diff` (the comparison is :mod:`arccnet_ckpt.runs.compare`'s),
  :mod:`~arccnet_ckpt.cli.verify`, :mod:`~arccnet_ckpt.cli.prune` (its plan is :mod:`~arccnet_ckpt.cli.planning`'s),
  :mod:`~arccnet_ckpt.cli.trash` (the trash and its verbs; every file-system move is :mod:`arccnet_ckpt.store`'s),
  :mod:`~arccnet_ckpt.cli.report`, :mod:`~arccnet_ckpt.cli.schema`, :mod:`~arccnet_ckpt.cli.groups` (``groups``
  and ``group show``; the statistics are :mod:`arccnet_ckpt.runs.group_stats`').
"""

from __future__ import annotations

from arccnet_ckpt.cli.main import main, run

__all__ = ["main", "run"]
