"""``show``: one run in full: the summary, early stopping, the per-class tables and confusion matrices, every
evaluation, the notes and the files, as text or JSON (:func:`show_run` returns a :class:`Shown`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from arccnet_ckpt import store
from arccnet_ckpt.cli import output, parser
from arccnet_ckpt.cli.record import loaded, run_record, shown_status
from arccnet_ckpt.cli.select import EXIT_OK, resolve_run
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.records import (
    ClassificationReport,
    ClassScores,
    DataloaderReport,
    TrainingSummary,
    matrix_names,
    record_dict,
)
from arccnet_ckpt.report import format as fmt
from arccnet_ckpt.runs import Run
from arccnet_ckpt.runs.direction import metric_mode
from arccnet_ckpt.runs.query import config_settings, config_source_line, evaluation_rows, logger_line, stop_reason
from arccnet_ckpt.store import list_file_sizes


@dataclass
class Shown(output.Rendered):
    """One run in full, as ``show`` prints it: the run (every file read), its record and its files' sizes."""

    run: Run
    record: dict[str, Any]
    files: list[tuple[str, int]]

    def document(self) -> dict[str, Any]:
        run = self.run
        return {
            "schema": "arccnet-ckpt/show",
            "run": self.record,
            "summary": _dump(run.summary),
            "report": _dump(run.report),
            "config": config_settings(run.config),
            "notes": run.notes,
            "files": [{"name": name, "bytes": size} for name, size in self.files],
        }

    def text(self, colour: bool) -> None:
        run, record, files = self.run, self.record, self.files
        summary = run.summary
        shown = shown_status(record)
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


def show_run(
    target: str,
    data: str | None,
    *,
    now: datetime,
    stale_after: timedelta,
    warn: Callable[[str], None] = output.message,
) -> Shown:
    """One run in full: its folder, a ``.ckpt`` inside it, or a unique prefix of its name. ``warn`` is called with
    each file that cannot be read (the run is shown with what can be).

    Raises:
        NoMatch: If nothing matches, or its summary is invalid.
        UsageError: If the prefix matches several runs.
    """
    run = loaded(resolve_run(target, data), warn)
    return Shown(run, run_record(run, now, stale_after), list_file_sizes(run.path))


def cmd_show(args: argparse.Namespace) -> int:
    """``show``: one run in full: the summary, early stopping, per-class table, confusion matrix, the files."""
    shown = show_run(args.run, args.data, now=datetime.now(timezone.utc), stale_after=parser.stale_after(args))
    output.render(shown, args.format)
    return EXIT_OK


def _quietly(read: Any) -> Any:
    """``read()``, or ``None`` when the file is unreadable (``show`` reports the run's problems elsewhere)."""
    try:
        return read()
    except ArcCkptError:
        return None


def _per_class(report: ClassificationReport | DataloaderReport, heading: str, colour: bool) -> None:
    """Print a report's per-class table and confusion matrix (both in the names of ``matrix_names``)."""
    if report.per_class:
        sys.stdout.write("\n")
        if heading:
            output.write_line(f"{heading}per class")
        # A version 2 report with scores adds each class's ROC AUC, AP, TSS and HSS; a version 1 table is unchanged.
        scored = any(_score_values(m) != (None,) * 4 for m in report.per_class.values())
        rows: list[list[Any]] = [
            [n, m.precision, m.recall, m.f1, m.support, *(_score_values(m) if scored else ())]
            for n, m in report.per_class.items()
        ]
        for label, avg in (("macro avg", report.macro_avg), ("weighted avg", report.weighted_avg)):
            if avg is not None:
                rows.append([label, avg.precision, avg.recall, avg.f1, avg.support, *((None,) * 4 if scored else ())])
        headers = [
            "CLASS",
            "PRECISION",
            "RECALL",
            "F1",
            "SUPPORT",
            *(("ROC AUC", "AP", "TSS", "HSS") if scored else ()),
        ]
        output.table(headers, rows, colour=colour)
        if report.accuracy is not None:
            output.write_line(f"accuracy {output.cell(report.accuracy)} over {output.cell(report.num_samples)} samples")
    _scores(report, heading, colour)
    if report.confusion_matrix:
        sys.stdout.write("\n")
        output.write_line(f"{heading}confusion matrix (rows: true class, columns: predicted)")
        names = matrix_names(report)
        matrix_rows = [[names[i], *row, sum(row)] for i, row in enumerate(report.confusion_matrix)]
        totals = [sum(col) for col in zip(*report.confusion_matrix, strict=True)]
        matrix_rows.append(["total", *totals, sum(totals)])
        output.table(["TRUE \\ PRED", *names, "TOTAL"], matrix_rows, colour=colour)


def _score_values(m: ClassScores) -> tuple[float | None, ...]:
    return (m.roc_auc, m.average_precision, m.tss, m.hss)


def _scores(report: ClassificationReport | DataloaderReport, heading: str, colour: bool) -> None:
    """Print what a version 2 report adds below its per-class table: the ROC AUC averages, where the predictions
    came from, the calibration error, the notes, and the most confident mistakes; nothing for a version 1 report."""
    lines = []
    if report.roc_auc is not None and (report.roc_auc.macro is not None or report.roc_auc.weighted is not None):
        lines.append(
            f"roc auc macro {output.cell(report.roc_auc.macro)}, weighted {output.cell(report.roc_auc.weighted)}"
        )
    if report.predictions is not None:
        lines.append(f"predictions {fmt.predictions_line(report.predictions)}")
    if report.calibration is not None:
        lines.append(f"calibration ECE {output.cell(report.calibration.ece)} over {len(report.calibration.bins)} bins")
    lines.extend(
        f"{name} {note}" for name, note in (("scores", report.scores_note), ("mistakes", report.mistakes_note)) if note
    )
    for line in lines:
        output.write_line(line)
    if report.mistakes:
        sys.stdout.write("\n")
        output.write_line(f"{heading}most confident mistakes")
        rows = [[m.index, m.target, m.predicted, m.confidence, m.thumbnail or "-"] for m in report.mistakes]
        output.table(["INDEX", "TRUE", "PREDICTED", "CONFIDENCE", "THUMBNAIL"], rows, colour=colour)
    elif report.mistakes is not None:
        output.write_line("mistakes none: every test prediction was right")


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


def _dump(record: Any) -> Any:
    return record_dict(record) if record is not None else None
