"""``arccnet-ckpt``: list, compare, check, prune and report run folders from the shell.

Run ``arccnet-ckpt --help`` or ``python -m arccnet_ckpt --help``. Verbs: ``ls``, ``show``, ``best``, ``diff``,
``verify``, ``prune``, ``trash``, ``report``, ``schema``. Nothing here imports torch or Lightning, except
``verify --load``.

Exit codes: 0 ok; 1 problems found (``verify``), nothing matched, or a file could not be read; 2 usage error (a bad
option, a bad ``--where``, an ambiguous run prefix).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

from arccnet_ckpt import store
from arccnet_ckpt.cli import output
from arccnet_ckpt.cli.select import (
    COLUMN_KEYS,
    MISSING,
    Found,
    NoMatch,
    UsageError,
    Where,
    check_key,
    find,
    main_test_metric,
    parse_duration,
    parse_since,
    resolve,
    resolve_or_note,
    resolve_run,
    sort_key,
)
from arccnet_ckpt.core.status import DEFAULT_STALE_AFTER, READ_STATUSES, status_of
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.records import (
    ClassificationReport,
    DataloaderReport,
    TrainingSummary,
    matrix_names,
)
from arccnet_ckpt.report import format as fmt
from arccnet_ckpt.runs import Run
from arccnet_ckpt.runs.query import (
    better,
    common_metric_mode,
    compared_config,
    compared_settings,
    config_settings,
    config_source_line,
    evaluation_rows,
    flatten,
    logger_line,
    metric_mode,
    recorded_monitor,
    run_task,
    shorten,
    stop_reason,
    task_differences,
)

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2

PROG = "arccnet-ckpt"
"""What ``--status`` selects: a stale run is not ``running``; ``incomplete`` is a run folder that records no status
(it stopped before its summary was written: only ``config.json``)."""
_DEFAULT_COLUMNS = ("run", "status", "start", "epochs", "best", "test")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {output.escape(message)} (see {self.prog} --help)\n")


# ------------------------------------------------------------------------------------------------- run records


def run_record(run: Run, now: datetime, stale_after: timedelta) -> dict[str, Any]:
    """The stable JSON shape of one run in ``ls``/``best``/``show`` output (version :data:`output.JSON_VERSION`).

    Keys: ``run`` (folder name), ``path``, ``root_name``, ``kind``, ``status`` (as recorded), ``stale``,
    ``start_time``, ``end_time``, ``updated_at``, ``duration_seconds``, ``model_name``, ``loss_function``,
    ``epochs``, ``global_step``, ``monitor``, ``mode``, ``best_value``, ``best_epoch``, ``early_stopping_reason``,
    ``test_results``; missing values are ``null``.
    """
    summary = run.summary
    if summary is None:  # a run that stopped before its summary: what the other files say
        return {
            **dict.fromkeys(_RECORD_KEYS),
            "run": run.name,
            "path": run.path,
            "root_name": run.root_name,
            "kind": run.kind,
            "status": run.status,
            "stale": False,
            "start_time": run.start_time,
            "model_name": run.model_name,
            "loss_function": run.loss_function,
            "test_results": {},
        }
    stopper = next((s.reason for s in summary.early_stopping if s.reason != "NOT_STOPPED"), None)
    return {
        "run": run.name,
        "path": run.path,
        "root_name": summary.root_name or run.root_name,
        "kind": summary.kind,
        "status": summary.status,
        "stale": status_of(summary, now, stale_after) == "stale",
        "start_time": summary.start_time,
        "end_time": summary.end_time,
        "updated_at": summary.updated_at,
        "duration_seconds": summary.duration_seconds,
        # An "unknown" name is looked for in the other files and the folder name; found nowhere, it stays "unknown".
        "model_name": run.model_name or summary.model_name,
        "loss_function": run.loss_function or summary.loss_function,
        "epochs": summary.num_epochs_trained,
        "global_step": summary.global_step,
        "monitor": summary.monitor,
        "mode": summary.mode,
        "best_value": summary.best_metric_value,
        "best_epoch": summary.best_epoch,
        "early_stopping_reason": stopper,
        "test_results": summary.test_results,
    }


_RECORD_KEYS = (
    "run",
    "path",
    "root_name",
    "kind",
    "status",
    "stale",
    "start_time",
    "end_time",
    "updated_at",
    "duration_seconds",
    "model_name",
    "loss_function",
    "epochs",
    "global_step",
    "monitor",
    "mode",
    "best_value",
    "best_epoch",
    "early_stopping_reason",
    "test_results",
)


def _shown_status(record: dict[str, Any]) -> str:
    """The record's status as :func:`~arccnet_ckpt.core.status.status_of` decided it (its ``stale`` flag included)."""
    return "stale" if record["stale"] else (record["status"] or "incomplete")


def _best_cell(run: Run, record: dict[str, Any]) -> str | None:
    if record["monitor"] is None or record["best_value"] is None:
        return None
    epoch = f" @{record['best_epoch']}" if record["best_epoch"] is not None else ""
    return f"{record['monitor']} {output.cell(record['best_value'])}{epoch}"


def _test_cell(run: Run, record: dict[str, Any]) -> str | None:
    key = main_test_metric(run.summary) if record["test_results"] else None
    return f"{key} {output.cell(record['test_results'][key])}" if key else None


_COLUMNS: dict[str, Callable[[Run, dict[str, Any]], Any]] = {
    "run": lambda run, record: record["run"],
    "root": lambda run, record: record["root_name"],
    "status": lambda run, record: _shown_status(record),
    "start": lambda run, record: record["start_time"],
    "epochs": lambda run, record: record["epochs"],
    "best": _best_cell,
    "test": _test_cell,
    "path": lambda run, record: record["path"],
    "checkpoint": lambda run, record: run.best_checkpoint,
}
"""The named columns of ``ls``; any other column is a key :func:`select.resolve` looks up."""


def _column(run: Run, record: dict[str, Any], name: str, problems: list[tuple[str, str]]) -> Any:
    """A column of ``ls``: one of :data:`_COLUMNS`, else any key :func:`select.resolve` knows."""
    named = _COLUMNS.get(name)
    if named is not None:
        return named(run, record)
    value = resolve_or_note(run, name, problems)
    return None if value is MISSING else value


def _row(run: Run, record: dict[str, Any], columns: list[str], problems: list[tuple[str, str]]) -> list[Any]:
    return [_column(run, record, name, problems) for name in columns]


def _raw_row(run: Run, record: dict[str, Any], columns: list[str], problems: list[tuple[str, str]]) -> list[Any]:
    """A CSV row: raw values (``best`` and ``test`` as numbers, not ``val_f1 0.9 @3``)."""
    return [
        record["best_value"] if name == "best" else _value_of("test", run) if name == "test" else value
        for name, value in zip(columns, _row(run, record, columns, problems), strict=True)
    ]


def _value_of(key: str, run: Run) -> Any:
    value = COLUMN_KEYS[key](run)
    return None if value is MISSING else value


# ------------------------------------------------------------------------------------------------------ filters


def _add_filters(parser: argparse.ArgumentParser) -> None:
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


def _add_common(parser: argparse.ArgumentParser, formats: Sequence[str] | None = output.FORMATS) -> None:
    parser.add_argument("--data", help="the data folder (default: $ARCCNET_DATA_FOLDER, $ARCAFF_DATA_FOLDER, ./data)")
    parser.add_argument(
        "--stale-after",
        default="1h",
        help="a running run silent longer than this (and than 3 of its epochs) is stale (default 1h)",
    )
    if formats:
        parser.add_argument("--format", choices=formats, default="table", help="output format (default table)")


def _stale_after(args: argparse.Namespace) -> timedelta:
    return parse_duration(args.stale_after, "--stale-after") if args.stale_after else DEFAULT_STALE_AFTER


def _filtered(args: argparse.Namespace, found: Found, now: datetime, *, default_kind: str | None) -> list[Run]:
    wheres = [Where.parse(w) for w in args.where]
    statuses = None
    if args.status is not None:
        statuses = {s.strip() for s in args.status.split(",") if s.strip()}
        if not statuses:
            raise UsageError(f"--status {args.status!r}: name at least one of {', '.join(READ_STATUSES)}")
        unknown = statuses - set(READ_STATUSES)
        if unknown:
            raise UsageError(
                f"--status {args.status!r}: unknown {', '.join(sorted(unknown))}; use {', '.join(READ_STATUSES)}"
            )
    kind = args.kind or default_kind
    root = args.root.strip("/") if args.root else None
    since = parse_since(args.since, now) if args.since else None
    stale_after = _stale_after(args)
    if not (wheres or statuses or since or root or args.model or args.loss or kind not in (None, "all")):
        return list(found.runs)
    kept = []
    where_checked = False
    recorded: set[str] = set()  # the --where keys some run records, to warn about the others (a typo)
    for run in found.runs:
        try:
            if kind not in (None, "all") and run.kind != kind:
                continue
            if root and not (run.root_name == root or (run.root_name or "").startswith(root + "/")):
                continue
            if args.model and run.model_name != args.model:
                continue
            if args.loss and run.loss_function != args.loss:
                continue
            if since is not None and (run.start_time is None or run.start_time < since):
                continue
            if statuses is not None and run.status_at(now, stale_after) not in statuses:
                continue
            if wheres:
                where_checked = True
                values = [resolve(run, w.key) for w in wheres]  # every key, so a typo is told from a mismatch
                recorded.update(w.key for w, v in zip(wheres, values, strict=True) if v is not MISSING)
                if not all(w.holds(v) for w, v in zip(wheres, values, strict=True)):
                    continue
        except ArcCkptError as e:
            found.problems.append((run.path, str(e)))
            continue
        kept.append(run)
    for key in dict.fromkeys(w.key for w in wheres) if where_checked else ():
        if key not in recorded:
            _message(f"warning: --where {key}: no run records this key")
    return kept


def _warn_problems(found: Found) -> None:
    for path, problem in found.problems:
        _message(f"warning: skipped {path}: {problem}")


def _message(text: str) -> None:
    output.write_line(f"{PROG}: {text}", sys.stderr)


def _sorted(runs: list[Run], spec: str | None, problems: list[tuple[str, str]]) -> list[Run]:
    if not spec:
        return runs
    key, _, order = spec.partition(":")
    if order not in ("", "asc", "desc"):
        raise UsageError(f"--sort {spec!r}: the order after ':' must be asc or desc")
    check_key(key, "--sort")
    values = {run.path: resolve_or_note(run, key, problems) for run in runs}
    if runs and all(v is MISSING for v in values.values()):
        _message(f"warning: --sort {key}: no run records this key")
    present = [r for r in runs if sort_key(values[r.path])[0] < 2]
    missing = [r for r in runs if sort_key(values[r.path])[0] == 2]
    present.sort(key=lambda r: sort_key(values[r.path]), reverse=order == "desc")
    return present + missing  # runs without the key last, whichever the order


# --------------------------------------------------------------------------------------------------------- verbs


def cmd_ls(args: argparse.Namespace) -> int:
    """``ls``: list runs, filtered, sorted, in columns or as JSON/JSONL/CSV."""
    now = datetime.now(timezone.utc)
    columns = [c.strip() for c in args.cols.split(",")] if args.cols else list(_DEFAULT_COLUMNS)
    for c in columns:
        check_key(c, "--cols")
    found = find(args.targets, args.data)
    runs = _sorted(_filtered(args, found, now, default_kind=None), args.sort, found.problems)
    if args.limit is not None:
        runs = runs[: args.limit]
    records = _records(runs, now, _stale_after(args), found.problems)
    runs = [run for run, _ in records]
    if not args.cols and len({r["root_name"] for _, r in records}) > 1:
        columns.insert(1, "root")
    problems = found.problems
    if args.format == "json":
        output.dump_json(
            {
                "schema": "arccnet-ckpt/runs",
                "version": output.JSON_VERSION,
                "runs": [_with_columns(run, rec, columns, args.cols, problems) for run, rec in records],
                "unreadable": [{"path": p, "problem": m} for p, m in problems],
            }
        )
    elif args.format == "jsonl":
        output.dump_jsonl(_with_columns(run, rec, columns, args.cols, problems) for run, rec in records)
    elif args.format == "csv":
        output.dump_csv(columns, [_raw_row(run, rec, columns, problems) for run, rec in records])
    elif records:  # no match: no header either (stderr says so)
        rows = [_row(run, rec, columns, problems) for run, rec in records]
        styles = [[_shown_status(rec) if c == "status" else None for c in columns] for _, rec in records]
        titles = [c.upper() if c in _COLUMNS else c for c in columns]  # keys stay as typed: config.LEARNING_RATE
        output.table(titles, rows, styles=styles, colour=output.use_colour(sys.stdout))
    _warn_problems(found)
    for name in columns if args.cols and runs else []:
        if name not in _COLUMNS and all(resolve_or_note(run, name, []) is MISSING for run in runs):
            _message(f"warning: --cols {name}: no run records this key")
    if not runs:
        _message("no run matches")
        return EXIT_PROBLEMS
    return EXIT_OK


def _records(
    runs: list[Run], now: datetime, stale_after: timedelta, problems: list[tuple[str, str]]
) -> list[tuple[Run, dict[str, Any]]]:
    """Each run with its :func:`run_record`; a run whose record needs a file that cannot be read is a problem."""
    records = []
    for run in runs:
        try:
            records.append((run, run_record(run, now, stale_after)))
        except ArcCkptError as e:
            problems.append((run.path, str(e)))
    return records


def _with_columns(
    run: Run, record: dict[str, Any], columns: list[str], requested: str | None, problems: list[tuple[str, str]]
) -> dict[str, Any]:
    if not requested:
        return record
    return {**record, "columns": dict(zip(columns, _raw_row(run, record, columns, problems), strict=True))}


def _quietly(read: Any) -> Any:
    """``read()``, or ``None`` when the file is unreadable (``show`` reports the run's problems elsewhere)."""
    try:
        return read()
    except ArcCkptError:
        return None


def cmd_show(args: argparse.Namespace) -> int:
    """``show``: one run in full: the summary, early stopping, per-class table, confusion matrix, the files."""
    now = datetime.now(timezone.utc)
    run = _loaded(resolve_run(args.run, args.data))
    record = run_record(run, now, _stale_after(args))
    files = _files(run)
    if args.format == "json":
        output.dump_json(
            {
                "schema": "arccnet-ckpt/show",
                "version": output.JSON_VERSION,
                "run": record,
                "summary": _dump(run.summary),
                "report": _dump(run.report),
                "config": config_settings(run.config),
                "notes": run.notes,
                "files": [{"name": name, "bytes": size} for name, size in files],
            }
        )
        return EXIT_OK
    colour = output.use_colour(sys.stdout)
    summary = run.summary
    shown = _shown_status(record)
    lines: list[tuple[str, str | list[tuple[str, str | None]]]] = [
        ("run", f"{record['root_name']}/{run.name}" if record["root_name"] else run.name),
        ("path", run.path),
        ("status", [(shown, shown), (f"  ({record['kind']})", None)]),
        ("model / loss", f"{output.cell(record['model_name'])} / {output.cell(record['loss_function'])}"),
        ("started", fmt.when(record["start_time"])),
        ("ended", fmt.when(record["end_time"])),
        ("duration", fmt.duration(record["duration_seconds"])),
        ("last heartbeat", fmt.when(record["updated_at"])),
        ("epochs / steps", f"{output.cell(record['epochs'])} / {output.cell(record['global_step'])}"),
    ]
    if record["monitor"]:
        lines.append(
            (
                "best",
                f"{record['monitor']} = {output.cell(record['best_value'])} "
                f"at epoch {output.cell(record['best_epoch'])} "
                f"({metric_mode(record['monitor'], record['monitor'], record['mode'])})",
            )
        )
    if summary is not None:
        for state in summary.early_stopping:
            lines.append(
                (
                    "early stopping",
                    f"{state.reason} on {state.monitor}" + (f": {state.message}" if state.message else ""),
                )
            )
        if summary.error is not None:
            lines.append(("error", f"{summary.error.type}: {summary.error.message}"))
        for resume in summary.resumes:
            lines.append(("resumed", f"{fmt.when(resume.time)} from {resume.checkpoint or '-'}"))
    checkpoint = run.best_checkpoint
    lines.append(("best checkpoint", store.basename(checkpoint) if checkpoint else "-"))
    config = _quietly(lambda: run.config)
    if summary is not None and summary.kind == "training" and summary.status != "running":
        lines.append(("stopped", stop_reason(summary, config)))  # the Trainer's limit, EarlyStopping, or both
    if config is not None and config.config_source:
        lines.append(("config from", config_source_line(config)))
    for entry in summary.loggers if summary is not None else []:
        lines.append(("logger", logger_line(entry)))
    output.key_values(lines, colour=colour)
    if record["test_results"]:
        sys.stdout.write("\n")
        output.table(["TEST METRIC", "VALUE"], sorted(record["test_results"].items()), colour=colour)
    report = _quietly(lambda: run.report)
    if report is not None:
        _per_class(report, "", colour)
        if len(report.dataloaders) > 1:
            number = next((e.number for e in report.evaluations if e.headline), None)
            for loader in report.dataloaders:
                _per_class(loader, _loader_heading(number, loader), colour)
    if summary is not None and summary.evaluations:
        _evaluations(summary, report, colour)
    notes = run.notes
    if notes:
        sys.stdout.write("\nnotes\n")
        for note in notes:
            output.write_line(f"  {note}")
    sys.stdout.write("\nfiles\n")
    names = [output.escape(name) for name, _ in files]
    width = max(map(len, names), default=0)
    for name, (_, size) in zip(names, files, strict=True):
        sys.stdout.write(f"  {name.ljust(width)}  {fmt.human_bytes(size):>10}\n")
    return EXIT_OK


def _per_class(report: ClassificationReport | DataloaderReport, heading: str, colour: bool) -> None:
    """Print a report's per-class table and confusion matrix (both in the names of ``matrix_names``)."""
    if report.per_class:
        sys.stdout.write("\n")
        if heading:
            output.write_line(f"{heading}per class")
        rows: list[list[Any]] = [[n, m.precision, m.recall, m.f1, m.support] for n, m in report.per_class.items()]
        for label, avg in (("macro avg", report.macro_avg), ("weighted avg", report.weighted_avg)):
            if avg is not None:
                rows.append([label, avg.precision, avg.recall, avg.f1, avg.support])
        output.table(["CLASS", "PRECISION", "RECALL", "F1", "SUPPORT"], rows, colour=colour)
        if report.accuracy is not None:
            output.write_line(f"accuracy {output.cell(report.accuracy)} over {output.cell(report.num_samples)} samples")
    if report.confusion_matrix:
        sys.stdout.write("\n")
        output.write_line(f"{heading}confusion matrix (rows: true class, columns: predicted)")
        names = matrix_names(report)
        matrix_rows = [[names[i], *row, sum(row)] for i, row in enumerate(report.confusion_matrix)]
        totals = [sum(col) for col in zip(*report.confusion_matrix, strict=True)]
        matrix_rows.append(["total", *totals, sum(totals)])
        output.table(["TRUE \\ PRED", *names, "TOTAL"], matrix_rows, colour=colour)


def _loader_heading(number: int | None, loader: DataloaderReport) -> str:
    return f"evaluation {number if number is not None else '?'}, {loader.label()}: "


def _evaluations(summary: TrainingSummary, report: ClassificationReport | None, colour: bool) -> None:
    """Print every evaluation of the run, one row per test dataloader, then the per-class reports of those that are
    not the headline's (printed above)."""
    metrics, table_rows = evaluation_rows(summary.evaluations)
    rows: list[list[Any]] = []
    for e in table_rows:
        label = str(e.dataloader_index) + (f" {e.dataloader_name}" if e.dataloader_name else "")
        number = f"{e.number}*" if e.headline else str(e.number)
        tested = e.checkpoint or "(in memory)"
        rows.append([number, e.tested_at, tested, label, e.num_samples, *(e.metrics.get(m) for m in metrics)])
    sys.stdout.write("\nevaluations\n")
    output.table(["#", "TESTED", "CHECKPOINT", "DATALOADER", "SAMPLES", *metrics], rows, colour=colour)
    sys.stdout.write("* the headline: test_results and the per-class report above\n")
    for entry in report.evaluations if report is not None else []:
        if entry.headline:
            continue
        for loader in entry.dataloaders:
            _per_class(loader, _loader_heading(entry.number, loader), colour)


def _loaded(run: Run) -> Run:
    """``run`` with every file read.

    An invalid summary is a problem (exit 1) naming the file and the field; any other file that cannot be read is a
    warning on stderr naming it, and the run is shown with what can be read.
    """
    from arccnet_ckpt.runs import load_run

    try:
        return load_run(run.path)
    except ArcCkptError as e:
        partial = Run(run.path)
        try:
            partial.summary  # noqa: B018 - the record a run is shown by: it must be valid
        except ArcCkptError:
            raise NoMatch(str(e)) from e
        for problem in partial.unreadable:
            _message(f"warning: {problem}; showing what can be read")
        if not partial.unreadable:  # not a file: no run folder, no file at all
            raise NoMatch(str(e)) from e
        return partial


def _dump(record: Any) -> Any:
    from arccnet_ckpt.records import record_dict

    return record_dict(record) if record is not None else None


def _files(run: Run) -> list[tuple[str, int]]:
    from arccnet_ckpt.runs import list_file_sizes

    return list_file_sizes(run.path)


def cmd_best(args: argparse.Namespace) -> int:
    """``best``: the run with the best value of ``--by`` (default: each run's monitored metric, in its recorded
    mode); prints its folder, its best checkpoint, or its JSON. Runs of different tasks are not ranked."""
    now = datetime.now(timezone.utc)
    if args.by is not None:
        check_key(args.by, "--by")
    found = find([args.root_target] if args.root_target else [], args.data)
    runs = _filtered(args, found, now, default_kind="training")
    scored = []
    without_checkpoint = 0
    for run in runs:
        if args.by is None and recorded_monitor(run)[0] is None:
            continue  # nothing monitored: no best value to rank by
        value = resolve_or_note(run, args.by or "best_metric_value", found.problems)
        if value is MISSING or sort_key(value)[0] != 0:
            continue
        if args.print == "ckpt" and run.best_checkpoint is None:
            without_checkpoint += 1  # a checkpoint was asked for: the best run that has one
            continue
        scored.append((float(value), run))
    _warn_problems(found)
    if not scored:
        why = f" ({without_checkpoint} that do have no checkpoint)" if without_checkpoint else ""
        what = repr(args.by) if args.by else "the best value of a monitored metric"
        raise NoMatch(f"no run records {what} among {len(runs)} run(s){why}")
    by = args.by or str(recorded_monitor(scored[0][1])[0])
    _check_one_task(
        [run for _, run in scored], ranking_by_monitor=args.by is None, scoped=bool(args.root_target or args.root)
    )
    mode = common_metric_mode([run for _, run in scored], by, explicit=args.mode)
    best_value, best = (max if mode == "max" else min)(scored, key=lambda vr: vr[0])
    if args.print == "ckpt":
        checkpoint = best.best_checkpoint
        if checkpoint is None:
            raise NoMatch(f"{best.path}: the best run by {by} ({best_value:.4g}) has no checkpoint")
        _write_value(checkpoint)
    elif args.print == "json":
        output.dump_json(
            {
                "schema": "arccnet-ckpt/best",
                "version": output.JSON_VERSION,
                "by": by,
                "mode": mode,
                "value": best_value,
                "checkpoint": best.best_checkpoint,
                "run": run_record(best, now, _stale_after(args)),
            }
        )
    else:
        _write_value(best.path)
    return EXIT_OK


def _write_value(text: str) -> None:
    """A path for ``$(...)``: exact when stdout is a pipe, escaped on a terminal (it was read from a shared folder)."""
    sys.stdout.write((output.escape(text) if sys.stdout.isatty() else text) + "\n")


def _check_one_task(runs: list[Run], *, ranking_by_monitor: bool, scoped: bool) -> None:
    """Refuse to rank runs of different tasks (number of classes, class names; the monitor when ranking by it) unless
    a root names the scope, where a warning is enough.

    Raises:
        NoMatch: When the runs differ in task and no root was given, or differ in the metric ranked by.
    """
    tasks = [run_task(run) for run in runs]
    differences = task_differences(tasks, monitor=ranking_by_monitor)
    if not differences:
        return
    detail = f"the runs differ in task ({'; '.join(differences)})"
    monitors = {t.monitor for t in tasks if t.monitor}
    if ranking_by_monitor and len(monitors) > 1:
        raise NoMatch(f"{detail}: their best values are of different metrics and are not ranked; pass --by KEY")
    if not scoped:
        raise NoMatch(
            f"{detail}: not ranked, their numbers do not compare; give a ROOT (or --root, --where) that holds runs "
            "of one task"
        )
    _message(f"warning: {detail}; ranked anyway within the root given")


def cmd_diff(args: argparse.Namespace) -> int:
    """``diff A B``: changed config keys, metric deltas judged better or worse, per-class F1, package versions."""
    a, b = (_loaded(resolve_run(t, args.data)) for t in (args.a, args.b))
    differences = task_differences([run_task(a), run_task(b)])
    if differences:
        _message(
            f"warning: the runs differ in task ({'; '.join(differences)}): their metrics are shown, not judged "
            "better or worse"
        )
    changes = diff_runs(a, b, everything=args.all, judge=not differences)
    if args.format == "json":
        output.dump_json(
            {
                "schema": "arccnet-ckpt/diff",
                "version": output.JSON_VERSION,
                "a": a.path,
                "b": b.path,
                "task_differences": differences,
                **changes,
            }
        )
        return EXIT_OK
    rows = _diff_rows(changes)
    if args.format == "jsonl":
        output.dump_jsonl(
            dict(zip(("section", "key", "a", "b", "delta", "judgement"), row, strict=True)) for row in rows
        )
    elif args.format == "csv":
        output.dump_csv(["section", "key", "a", "b", "delta", "judgement"], rows)
    else:
        colour = output.use_colour(sys.stdout)
        output.write_line(f"a: {a.path}")
        output.write_line(f"b: {b.path}")
        if not rows:
            sys.stdout.write("no differences\n")
        for section in (*_CONFIG_SECTIONS, "metric", "per-class f1", "package"):
            part = [row[1:] for row in rows if row[0] == section]
            if not part:
                continue
            sys.stdout.write(f"\n{section}\n")
            if section in (*_CONFIG_SECTIONS, "package"):  # settings: long values cut, no delta
                output.table(["KEY", "A", "B"], [[r[0], _short(r[1]), _short(r[2])] for r in part], colour=colour)
                continue
            styles = [[None, None, None, r[4], r[4]] for r in part]
            output.table(
                ["KEY", "A", "B", "DELTA", ""],
                [[*r[:3], f"{r[3]:+.4g}" if isinstance(r[3], float) else r[3], r[4] or ""] for r in part],
                styles=styles,
                colour=colour,
            )
    return EXIT_OK


_CONFIG_SECTIONS = ("config", "config at Lightning's defaults")
"""The diff's config rows: what a run set, then what both leave unset or at the Trainer's defaults."""


def _short(value: Any) -> Any:
    """A setting as a table cell: a long value (a ``trainer.callbacks`` JSON) cut to about 60 characters."""
    return shorten(output.cell(value)) if isinstance(value, (str, list, dict)) else value


def diff_runs(a: Run, b: Run, *, everything: bool = False, judge: bool = True) -> dict[str, list[dict[str, Any]]]:
    """What differs between two runs, as plain data (the ``diff`` JSON document without its header).

    Config keys come in :func:`~arccnet_ckpt.runs.query.compared_settings`' order, each with ``at_default`` (both runs
    leave it unset or at Lightning's Trainer default). ``judge=False`` (runs of different tasks) leaves every
    ``better`` ``null``.
    """
    conf_a, conf_b = compared_config(a.config), compared_config(b.config)
    config = [
        {"key": k, "a": conf_a.get(k), "b": conf_b.get(k), "at_default": at_default}
        for k, at_default in compared_settings([conf_a, conf_b], everything=everything)
    ]
    numbers_a, numbers_b = _numbers(a), _numbers(b)
    metrics = []
    for name in sorted(set(numbers_a) | set(numbers_b)):
        va, vb = numbers_a.get(name), numbers_b.get(name)
        if not everything and va == vb:
            continue
        delta = vb - va if va is not None and vb is not None else None
        judged = None
        if judge and delta is not None and name not in _NEUTRAL:
            judged = better(name, delta, *recorded_monitor(b))
        metrics.append({"name": name, "a": va, "b": vb, "delta": delta, "better": judged})
    f1_a = {n: m.f1 for n, m in ((a.report.per_class or {}) if a.report else {}).items()}
    f1_b = {n: m.f1 for n, m in ((b.report.per_class or {}) if b.report else {}).items()}
    per_class = []
    for name in [*f1_a, *(n for n in f1_b if n not in f1_a)]:
        va, vb = f1_a.get(name), f1_b.get(name)
        if not everything and va == vb:
            continue
        delta = vb - va if va is not None and vb is not None else None
        per_class.append(
            {
                "class": name,
                "a": va,
                "b": vb,
                "delta": delta,
                "better": better("f1", delta) if judge and delta is not None else None,
            }
        )
    env_a = _packages(a)
    env_b = _packages(b)
    packages = [
        {"package": k, "a": env_a.get(k), "b": env_b.get(k)}
        for k in sorted(set(env_a) | set(env_b))
        if everything or env_a.get(k) != env_b.get(k)
    ]
    return {"config": config, "metrics": metrics, "per_class_f1": per_class, "packages": packages}


_NEUTRAL = frozenset({"num_epochs_trained", "duration_seconds"})
"""Numbers a diff shows without calling a change better or worse."""


def _numbers(run: Run) -> dict[str, float]:
    summary = run.summary
    out: dict[str, float] = {}
    if summary is not None:
        if summary.monitor and summary.best_metric_value is not None:
            out[f"best_{summary.monitor}"] = summary.best_metric_value
        if summary.duration_seconds is not None:
            out["duration_seconds"] = summary.duration_seconds
        out["num_epochs_trained"] = float(summary.num_epochs_trained)
        out.update({k: v for k, v in summary.test_results.items() if v is not None})
    report = run.report
    if report is not None:
        out.update({k: v for k, v in report.test_metrics.items() if v is not None and k not in out})
        if report.accuracy is not None:
            out.setdefault("accuracy", report.accuracy)
    return out


def _packages(run: Run) -> dict[str, Any]:
    config = run.config
    if config is None or config.environment is None:
        return {}
    env = flatten(config.environment.model_dump(mode="json"))
    return {k: v for k, v in env.items() if k not in ("argv", "hostname", "platform")}


def _diff_rows(changes: dict[str, list[dict[str, Any]]]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for item in changes["config"]:
        rows.append([_CONFIG_SECTIONS[item["at_default"]], item["key"], item["a"], item["b"], None, None])
    for item in changes["metrics"]:
        rows.append(["metric", item["name"], item["a"], item["b"], item["delta"], _judgement(item["better"])])
    for item in changes["per_class_f1"]:
        rows.append(["per-class f1", item["class"], item["a"], item["b"], item["delta"], _judgement(item["better"])])
    for item in changes["packages"]:
        rows.append(["package", item["package"], item["a"], item["b"], None, None])
    return rows


def _judgement(value: bool | None) -> str | None:
    return None if value is None else ("better" if value else "worse")


def cmd_verify(args: argparse.Namespace) -> int:
    """``verify``: every file validates, the best checkpoint exists (``--load``: loads), no temporary leftovers."""
    from arccnet_ckpt.cli.verify import verify_runs

    now = datetime.now(timezone.utc)
    found = find(args.targets, args.data)
    problems = list(found.problems)
    checking = output.progress(found.runs, "loading checkpoints" if args.load else "verifying")
    problems += verify_runs(checking, load=args.load, now=now, stale_after=_stale_after(args))
    if args.format == "json":
        output.dump_json(
            {
                "schema": "arccnet-ckpt/verify",
                "version": output.JSON_VERSION,
                "runs": len(found.runs) + len(found.problems),
                "problems": [{"path": p, "problem": m} for p, m in problems],
            }
        )
    elif args.format == "jsonl":
        output.dump_jsonl({"path": p, "problem": m} for p, m in problems)
    elif args.format == "csv":
        output.dump_csv(["path", "problem"], problems)
    else:
        for path, problem in problems:
            output.write_line(f"{path}: {problem}")
    checked = len(found.runs) + len(found.problems)
    _message(f"verified {checked} run(s): {len(problems)} problem(s)")
    if not checked:
        _message("no run folder found: nothing was verified")
        return EXIT_PROBLEMS
    return EXIT_PROBLEMS if problems else EXIT_OK


def cmd_prune(args: argparse.Namespace) -> int:
    """``prune``: move failed, old or surplus runs (or their weights) to the trash; a dry run unless ``--yes``."""
    from arccnet_ckpt.cli import trash

    now = datetime.now(timezone.utc)
    rules = trash.KeepRules(
        best=args.keep_best or 0,
        by=args.by,
        mode=args.mode,
        last=args.keep_last or 0,
        within=parse_duration(args.keep_within, "--keep-within") if args.keep_within else None,
    )
    if args.keep_best and not args.by:
        raise UsageError("--keep-best N needs --by KEY (e.g. --keep-best 3 --by test_f1)")
    if args.by:
        check_key(args.by, "--by")
    narrowed = bool(args.status or args.older_than or args.where or args.since)
    if not (rules.any or narrowed):
        raise UsageError(
            "prune needs a rule: a keep rule (--keep-best N --by KEY, --keep-last N, --keep-within 14d) or a "
            "narrowing (--status failed,interrupted, --older-than 30d, --where ...)"
        )
    found = find(args.targets, args.data)
    scope = _filtered(args, found, now, default_kind=None)
    candidates = scope
    if args.older_than:
        cutoff = now - parse_duration(args.older_than, "--older-than")
        candidates = [r for r in scope if r.start_time is not None and r.start_time < cutoff]
    _warn_problems(found)
    if args.status or args.where or args.since:
        # The keep rules compare against every run of the same roots, not only the ones the filters picked.
        # The same scan, filtered again (its problems were reported above).
        scope_for_rules = _filtered(_without_narrowing(args), Found(found.runs, []), now, default_kind=None)
    else:
        scope_for_rules = scope
    planned = trash.plan(
        candidates, scope_for_rules, rules=rules, what=args.what, now=now, stale_after=_stale_after(args)
    )
    if args.yes and planned.items and planned.unknown:
        path, why = planned.unknown[0]
        raise NoMatch(
            f"nothing moved: {len(planned.unknown)} run folder(s) cannot be read, so which checkpoints they resumed "
            f"from is unknown ({path}: {why}); fix or remove them first (arccnet-ckpt verify lists them)"
        )
    entries, failed = trash.move_to_trash(planned.items, now) if args.yes and planned.items else ([], [])
    if failed:  # left in place, as a skipped item is, with the reason
        unmoved = {id(item) for item, _ in failed}
        planned.items = [item for item in planned.items if id(item) not in unmoved]
        planned.skipped += [(item.path, why) for item, why in failed]
    if args.format == "json":
        output.dump_json(
            {
                "schema": "arccnet-ckpt/prune",
                "version": output.JSON_VERSION,
                "dry_run": not args.yes,
                "what": args.what,
                "bytes": planned.size,
                "items": [{"path": i.path, "run": i.run.path, "what": i.what, "bytes": i.size} for i in planned.items],
                "skipped": [{"path": p, "reason": r} for p, r in planned.skipped],
                "unreadable": [{"path": p, "problem": r} for p, r in planned.unknown],
                "trash": entries,
            }
        )
    elif args.format in ("jsonl", "csv"):
        rows = [[i.path, i.what, i.size, "moved" if args.yes else "would move"] for i in planned.items]
        rows += [[p, "skipped", 0, r] for p, r in planned.skipped]
        if args.format == "csv":
            output.dump_csv(["path", "what", "bytes", "action"], rows)
        else:
            output.dump_jsonl(dict(zip(("path", "what", "bytes", "action"), r, strict=True)) for r in rows)
    else:
        colour = output.use_colour(sys.stdout)
        verb = "moved" if args.yes else "would move"
        rows2 = [[i.run.name, i.run.status, i.what, fmt.human_bytes(i.size), i.path] for i in planned.items]
        if rows2:
            output.table(["RUN", "STATUS", "WHAT", "SIZE", "PATH"], rows2, colour=colour)
        for path, reason in planned.skipped:
            output.write_line(f"left {path}: {reason}")
        for path, problem in planned.unknown:
            _message(f"warning: {path} cannot be read ({problem}): --yes will refuse to move anything")
        summary = f"{verb} {len(planned.items)} item(s), {fmt.human_bytes(planned.size)}"
        if args.yes and entries:
            undo = "; ".join(
                f"arccnet-ckpt trash restore {store.basename(e)} --data {store.dirname(store.dirname(e))}"
                for e in entries
            )
            summary += f" to {', '.join(entries)} (undo: {undo})"
        elif not args.yes and planned.items:
            summary += " (dry run: add --yes to move them to the trash)"
        _message(summary)
    return EXIT_PROBLEMS if failed else EXIT_OK


def _without_narrowing(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "status": None, "where": [], "since": None})


def cmd_trash(args: argparse.Namespace) -> int:
    """``trash ls|restore|empty``: what prune moved, put back, or deleted for good."""
    from arccnet_ckpt.cli import trash
    from arccnet_ckpt.layout import resolve_data_folder

    data = resolve_data_folder(args.data)
    now = datetime.now(timezone.utc)
    if args.action == "ls":
        entries = trash.entries(data)
        rows = [
            [
                e.id,
                e.created_at or "-",
                len(e.items),
                e.size,
                e.problem or (e.items[0].get("original") if e.items else ""),
            ]
            for e in entries
        ]
        if args.format in ("json", "jsonl"):
            records = [
                {"id": e.id, "path": e.path, "created_at": e.created_at, "items": e.items, "problem": e.problem}
                for e in entries
            ]
            if args.format == "json":
                output.dump_json({"schema": "arccnet-ckpt/trash", "version": output.JSON_VERSION, "entries": records})
            else:
                output.dump_jsonl(records)
        elif args.format == "csv":
            output.dump_csv(["id", "created_at", "items", "bytes", "first"], rows)
        else:
            output.table(
                ["ID", "CREATED", "ITEMS", "BYTES", "FIRST ITEM OR PROBLEM"], rows, colour=output.use_colour(sys.stdout)
            )
        return EXIT_OK
    if args.action == "restore":
        entry = trash.find_entry(data, args.entry)
        outcome = trash.restore(entry)
        _report_outcome(outcome)
        unmoved = f"; {outcome.unmoved} had not left their place" if outcome.unmoved else ""
        _message(f"restored {outcome.done} of {len(entry.items)} item(s) from {entry.id}{unmoved}")
        return EXIT_PROBLEMS if outcome.problems or outcome.left else EXIT_OK
    older = parse_duration(args.older_than, "--older-than") if args.older_than else timedelta(0)
    listed = trash.entries(data)
    doomed = [e for e in listed if e.created_at is not None and now - e.created_at >= older]
    incomplete = [e for e in listed if e.problem is not None]
    for entry in incomplete:
        _message(f"left {entry.path}: {entry.problem} (arccnet-ckpt trash restore {entry.id} cleans it up)")
    if not args.yes:
        size = sum(e.size for e in doomed)
        tail = " (dry run: add --yes to delete them for good)" if doomed else ""
        _message(f"would delete {_entries(len(doomed))}, {fmt.human_bytes(size)}{tail}")
        return EXIT_OK
    outcomes = [trash.empty(entry) for entry in doomed]
    for outcome in outcomes:
        _report_outcome(outcome)
    gone = sum(o.removed for o in outcomes)
    kept = f"; {_entries(len(doomed) - gone)} kept what is named above" if gone < len(doomed) else ""
    _message(f"deleted {_entries(gone)}, {fmt.human_bytes(sum(e.size for e in doomed))}{kept}")
    return EXIT_PROBLEMS if gone < len(doomed) or incomplete else EXIT_OK


def _entries(count: int) -> str:
    return f"{count} trash entr{'y' if count == 1 else 'ies'}"


def _report_outcome(outcome: Any) -> None:
    """What ``trash restore``/``empty`` left alone, and why, on stderr."""
    for path, problem in outcome.problems:
        _message(f"{path}: {problem}")
    for path in outcome.left:
        _message(f"left {path}: the manifest does not account for it, so it was not touched")


def cmd_report(args: argparse.Namespace) -> int:
    """``report RUN…``: the self-contained HTML report (several runs: side by side)."""
    from arccnet_ckpt.report import html as html_report

    runs = [_loaded(resolve_run(t, args.data)) for t in output.progress(args.runs, "reading runs")]
    differences = task_differences([run_task(run) for run in runs]) if len(runs) > 1 else []
    if differences:
        _message(f"warning: the runs differ in task ({'; '.join(differences)}): the page shows no better or worse")
    if args.output:
        target = args.output
    elif len(runs) == 1:
        target = store.join(runs[0].path, html_report.REPORT_FILENAME)
    else:
        raise UsageError("several runs need -o FILE (e.g. -o compare.html)")
    # The page says stale exactly when ls does.
    page = html_report.render_html(runs, now=datetime.now(timezone.utc), stale_after=_stale_after(args))
    if target == "-":
        sys.stdout.write(page)
        return EXIT_OK
    store.write_text(target, page)
    output.write_line(target)
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    """``schema [NAME]``: the JSON Schema of a run folder's file, or the list of them."""
    from arccnet_ckpt.records import schema

    if args.name is None:
        rows = [[name, ", ".join(map(str, versions)), f"{name}.json"] for name, versions in schema.VERSIONS.items()]
        if args.format == "json":
            output.dump_json(
                {
                    "schema": "arccnet-ckpt/schemas",
                    "version": output.JSON_VERSION,
                    "files": [{"name": n, "versions": list(v)} for n, v in schema.VERSIONS.items()],
                }
            )
        else:
            output.table(["NAME", "SCHEMA_VERSION", "FILE"], rows, colour=output.use_colour(sys.stdout))
        return EXIT_OK
    try:
        document = schema.shipped(args.name, args.schema_version)
    except ValueError as e:
        raise UsageError(str(e)) from e
    sys.stdout.write(schema.render(document))
    return EXIT_OK


# -------------------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The ``arccnet-ckpt`` argument parser."""
    from arccnet_ckpt import __version__

    parser = _Parser(
        prog=PROG,
        description="List, compare, check, prune and report arccnet-ckpt run folders.",
        epilog="Exit codes: 0 ok, 1 problems found or no match, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser, required=True)

    ls = verbs.add_parser("ls", help="list runs", description="List runs, filtered and sorted.")
    ls.add_argument("targets", nargs="*", metavar="DATA_OR_ROOT", help="data folders, root folders or root names")
    _add_filters(ls)
    ls.add_argument("--sort", metavar="KEY[:desc]", help="sort by a key, e.g. test_results.test_f1:desc")
    ls.add_argument("--limit", type=_positive, help="show at most N runs")
    ls.add_argument("--cols", help="comma-separated columns or keys (default: run,status,start,epochs,best,test)")
    _add_common(ls)
    ls.set_defaults(func=cmd_ls, parser=ls)

    show = verbs.add_parser("show", help="one run in full", description="Show one run in full.")
    show.add_argument("run", help="run folder, a .ckpt inside it, or a unique prefix of its name")
    _add_common(show, ("table", "json"))
    show.set_defaults(func=cmd_show, parser=show)

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
    _add_filters(best)
    _add_common(best, None)
    best.set_defaults(func=cmd_best, parser=best)

    diff = verbs.add_parser("diff", help="what changed between two runs", description="Compare two runs.")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--all", action="store_true", help="also the keys and metrics that did not change")
    _add_common(diff)
    diff.set_defaults(func=cmd_diff, parser=diff)

    verify = verbs.add_parser("verify", help="check run folders", description="Check run folders; exit 1 on problems.")
    verify.add_argument("targets", nargs="*", metavar="PATH", help="data folders, root folders or run folders")
    verify.add_argument(
        "--load",
        action="store_true",
        help="also torch.load each best checkpoint and check that its hparams hide their secrets (imports torch)",
    )
    _add_common(verify)
    verify.set_defaults(func=cmd_verify, parser=verify)

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
    _add_filters(prune)
    _add_common(prune)
    prune.set_defaults(func=cmd_prune, parser=prune)

    trash_parser = verbs.add_parser("trash", help="what prune moved", description="List, restore or empty the trash.")
    actions = trash_parser.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser, required=True)
    trash_ls = actions.add_parser("ls", help="list the trash entries", description="List the trash entries.")
    _add_common(trash_ls)
    trash_ls.set_defaults(func=cmd_trash, parser=trash_ls)
    restore = actions.add_parser("restore", help="put an entry back", description="Move an entry's items back.")
    restore.add_argument("entry", help="the entry id (or a unique prefix), as trash ls shows it")
    _add_common(restore, None)
    restore.set_defaults(func=cmd_trash, parser=restore)
    empty = actions.add_parser("empty", help="delete entries for good", description="Delete trash entries for good.")
    empty.add_argument("--older-than", metavar="DURATION", help="only entries older than this, e.g. 7d")
    empty.add_argument("--yes", action="store_true", help="act (default: a dry run)")
    _add_common(empty, None)
    empty.set_defaults(func=cmd_trash, parser=empty)

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
    schema_parser.set_defaults(func=cmd_schema, parser=schema_parser)

    report = verbs.add_parser("report", help="the HTML report", description="Write the self-contained HTML report.")
    report.add_argument("runs", nargs="+", metavar="RUN")
    report.add_argument(
        "-o", "--output", help="the file to write, - for stdout (default: report.html in the run folder)"
    )
    report.add_argument("--data", help="the data folder, for run name prefixes")
    report.add_argument(
        "--stale-after", default="1h", help="a running run silent longer than this is shown stale, as in ls (1h)"
    )
    report.set_defaults(func=cmd_report, parser=report)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


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
        return int(args.func(args))
    except UsageError as e:
        output.write_line(f"{PROG} {args.verb}: error: {e}", sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `arccnet-ckpt ls | head`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (ArcCkptError, OSError) as e:
        output.write_line(f"{PROG} {args.verb}: {e}", sys.stderr)
        return EXIT_PROBLEMS
    except Exception as e:  # a storage back-end's own error (botocore: no credentials, no endpoint...)
        output.write_line(f"{PROG} {args.verb}: {type(e).__name__}: {e}", sys.stderr)
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
