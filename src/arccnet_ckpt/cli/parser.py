"""The ``arccnet-ckpt`` argument parser: every verb's options (:func:`build_parser`), the option groups several verbs
share (:func:`add_filters`, :func:`add_common`), and their reading (:func:`stale_after`, :func:`filters`).

The parser only parses: each verb's sub-parser records its own parser (for its error messages); :mod:`arccnet_ckpt.cli
.main` dispatches on ``args.verb``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NoReturn

from arccnet_ckpt.cli import output
from arccnet_ckpt.cli.select import EXIT_USAGE, parse_duration
from arccnet_ckpt.cli.where import Filters
from arccnet_ckpt.core.lifecycle import DEFAULT_STALE_AFTER, READ_STATUSES


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {output.escape(message)} (see {self.prog} --help)\n")


def add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters")
    group.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY OP VALUE",
        help="keep runs where KEY OP VALUE holds, e.g. 'test_results.test_f1>=0.6' or 'config.LEARNING_RATE=1e-4' "
        "(OP: = != > >= < <= ~regex; repeatable; quote it)",
    )
    group.add_argument("--status", help=f"comma-separated statuses: {', '.join(READ_STATUSES)}")
    group.add_argument("--kind", choices=("training", "evaluation", "all"), help="training or evaluation runs")
    group.add_argument("--since", help="started within a duration (14d, 12h) or since a date (2025-02-01)")
    group.add_argument("--root", help="root name, or a prefix of it (flares matches flares/multiclass)")
    group.add_argument("--model", help="exact model name")
    group.add_argument("--loss", help="exact loss function")


def add_common(parser: argparse.ArgumentParser, formats: Sequence[str] | None = output.FORMATS) -> None:
    parser.add_argument("--data", help="the data folder (default: $ARCCNET_DATA_FOLDER, $ARCAFF_DATA_FOLDER, ./data)")
    parser.add_argument(
        "--stale-after",
        default="1h",
        help="a running run silent longer than this (and than 3 of its epochs) is stale (default 1h)",
    )
    if formats:
        parser.add_argument("--format", choices=formats, default="table", help="output format (default table)")


def stale_after(args: argparse.Namespace) -> timedelta:
    """``--stale-after``, parsed (the default when the option is empty)."""
    return parse_duration(args.stale_after, "--stale-after") if args.stale_after else DEFAULT_STALE_AFTER


def filters(args: argparse.Namespace, now: datetime, *, default_kind: str | None) -> Filters:
    """The filter options of :func:`add_filters`, parsed (``--kind`` defaults to ``default_kind``)."""
    return Filters.parse(
        now=now,
        where=args.where,
        status=args.status,
        kind=args.kind or default_kind,
        since=args.since,
        root=args.root,
        model=args.model,
        loss=args.loss,
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``arccnet-ckpt`` argument parser."""
    from arccnet_ckpt import __version__

    parser = _Parser(
        prog=output.PROG,
        description="List, compare, check, prune and report arccnet-ckpt run folders.",
        epilog="Exit codes: 0 ok, 1 problems found or no match, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser, required=True)

    ls = verbs.add_parser("ls", help="list runs", description="List runs, filtered and sorted.")
    ls.add_argument("targets", nargs="*", metavar="DATA_OR_ROOT", help="data folders, root folders or root names")
    add_filters(ls)
    ls.add_argument("--sort", metavar="KEY[:desc]", help="sort by a key, e.g. test_results.test_f1:desc")
    ls.add_argument("--limit", type=_positive, help="show at most N runs")
    ls.add_argument(
        "--cols",
        help="comma-separated columns or keys (default: run,status,start,epochs,best,test; group too when a run is "
        "in a group of several)",
    )
    add_common(ls)
    ls.set_defaults(parser=ls)

    groups = verbs.add_parser(
        "groups",
        help="list groups of runs (folds, sweeps)",
        description="List groups of runs: runs recording the same group id. A group is listed, whole, when one of "
        "its runs passes the filters.",
    )
    groups.add_argument("targets", nargs="*", metavar="DATA_OR_ROOT", help="data folders, root folders or root names")
    add_filters(groups)
    groups.add_argument("--all", action="store_true", help="also the groups of one run (a run alone)")
    add_common(groups)
    groups.set_defaults(parser=groups)

    group = verbs.add_parser("group", help="one group of runs", description="Summarise one group of runs.")
    group_actions = group.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser, required=True)
    group_show = group_actions.add_parser(
        "show", help="a group's statistics", description="Print a group's statistics over its completed runs."
    )
    group_show.add_argument("group", metavar="ID", help="the group id, as groups lists it")
    add_common(group_show, ("table", "json"))
    group_show.set_defaults(parser=group_show)

    show = verbs.add_parser("show", help="one run in full", description="Show one run in full.")
    show.add_argument("run", help="run folder, a .ckpt inside it, or a unique prefix of its name")
    add_common(show, ("table", "json"))
    show.set_defaults(parser=show)

    best = verbs.add_parser("best", help="the best run by a key", description="Print the best run by a key.")
    best.add_argument("root_target", nargs="?", metavar="ROOT", help="data folder, root folder or root name")
    best.add_argument(
        "--by",
        help="the key to compare, e.g. test_f1 or history.best.val_f1 (default: each run's monitored metric, "
        "best_metric_value, in the run's recorded mode)",
    )
    best.add_argument(
        "--mode",
        choices=("max", "min"),
        help="default: the run's recorded mode for its monitored metric (test_loss follows a val_loss monitor), "
        "else min for losses, errors and times, max for the rest",
    )
    best.add_argument("--print", choices=("path", "ckpt", "json"), default="path", help="what to print (default path)")
    add_filters(best)
    add_common(best, None)
    best.set_defaults(parser=best)

    diff = verbs.add_parser("diff", help="what changed between two runs", description="Compare two runs.")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--all", action="store_true", help="also the keys and metrics that did not change")
    add_common(diff)
    diff.set_defaults(parser=diff)

    verify = verbs.add_parser("verify", help="check run folders", description="Check run folders; exit 1 on problems.")
    verify.add_argument("targets", nargs="*", metavar="PATH", help="data folders, root folders or run folders")
    verify.add_argument(
        "--load",
        action="store_true",
        help="also torch.load each best checkpoint and check that its hparams hide their secrets (imports torch)",
    )
    add_common(verify)
    verify.set_defaults(parser=verify)

    prune = verbs.add_parser(
        "prune",
        help="move runs or weights to the trash",
        description="Move runs (or their weights) to <data>/.trash. A dry run unless --yes. Keep rules are a union, "
        "applied per root name. Never touches a running run with a fresh heartbeat, nor a checkpoint another run "
        "resumed from.",
    )
    prune.add_argument("targets", nargs="*", metavar="DATA_OR_ROOT")
    prune.add_argument("--keep-best", type=_positive, metavar="N", help="keep the N best runs by --by")
    prune.add_argument("--by", help="the key for --keep-best")
    prune.add_argument("--mode", choices=("max", "min"), help="for --by (default: as for best)")
    prune.add_argument("--keep-last", type=_positive, metavar="N", help="keep the N most recent runs")
    prune.add_argument("--keep-within", metavar="DURATION", help="keep runs started within, e.g. 14d")
    prune.add_argument("--older-than", metavar="DURATION", help="only runs started longer ago, e.g. 30d")
    prune.add_argument("--what", choices=("weights", "run"), default="run", help="the whole run, or its .ckpt files")
    prune.add_argument("--yes", action="store_true", help="act (default: a dry run)")
    add_filters(prune)
    add_common(prune)
    prune.set_defaults(parser=prune)

    trash_parser = verbs.add_parser("trash", help="what prune moved", description="List, restore or empty the trash.")
    actions = trash_parser.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser, required=True)
    trash_ls = actions.add_parser("ls", help="list the trash entries", description="List the trash entries.")
    add_common(trash_ls)
    trash_ls.set_defaults(parser=trash_ls)
    restore = actions.add_parser("restore", help="put an entry back", description="Move an entry's items back.")
    restore.add_argument("entry", help="the entry id (or a unique prefix), as trash ls shows it")
    add_common(restore, None)
    restore.set_defaults(parser=restore)
    empty = actions.add_parser("empty", help="delete entries for good", description="Delete trash entries for good.")
    empty.add_argument("--older-than", metavar="DURATION", help="only entries older than this, e.g. 7d")
    empty.add_argument("--yes", action="store_true", help="act (default: a dry run)")
    add_common(empty, None)
    empty.set_defaults(parser=empty)

    schema_parser = verbs.add_parser(
        "schema",
        help="the JSON Schema of a file",
        description="Print the JSON Schema (draft 2020-12) of a run folder's file, or list them.",
    )
    schema_parser.add_argument("name", nargs="?", help="training_summary, config, minimal_logging, ... (or summary)")
    schema_parser.add_argument(
        "--schema-version", type=_positive, metavar="N", help="the file's schema_version (default: the newest)"
    )
    schema_parser.add_argument("--format", choices=("table", "json"), default="table", help="for the list")
    schema_parser.set_defaults(parser=schema_parser)

    report = verbs.add_parser(
        "report",
        help="the HTML report",
        description="Write the self-contained HTML report of a run, of several side by side, or of a group "
        "(report --group ID [DATA_OR_ROOT]).",
    )
    report.add_argument(
        "runs", nargs="*", metavar="RUN", help="run folders or name prefixes; with --group: where to look for its runs"
    )
    report.add_argument("--group", metavar="ID", help="the group page of group ID (as groups lists it)")
    report.add_argument(
        "-o",
        "--output",
        help="the file to write, - for stdout (default: report.html in the run folder; ./ID.html for --group)",
    )
    report.add_argument("--data", help="the data folder, for run name prefixes")
    report.add_argument(
        "--stale-after", default="1h", help="a running run silent longer than this is shown stale, as in ls (1h)"
    )
    report.set_defaults(parser=report)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value
