"""A run's tests: every ``trainer.test`` is an evaluation, and one of them is the headline. No Lightning import.

* :func:`choose_headline`: the rule that decides whether a new test becomes the run's headline;
* :func:`add_evaluation`: the summary's and the report's fields after a test (the new evaluation appended, the
  headline fields rewritten when it is the headline), and the warning that says where a test went;
* how a run tested before evaluations were kept reads as evaluation 1 (``_evaluations_so_far``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from arccnet_ckpt.errors import ArcCkptWarning
from arccnet_ckpt.records import (
    SCORE_FIELDS,
    ClassificationReport,
    DataloaderReport,
    TrainingSummary,
    matrix_names,
    record_dict,
)


def add_evaluation(
    run_dir: str,
    previous: TrainingSummary,
    existing: ClassificationReport | None,
    test_results: Mapping[str, float | None],
    loaders: Sequence[DataloaderReport],
    *,
    checkpoint: str | None,
    class_names: list[str] | None,
    headline: HeadlineChoice,
    at: datetime,
) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """The summary's and the report's data after a test of ``checkpoint``, and whether it became the headline.

    Args:
        run_dir: The run folder, named in the warnings.
        previous: The summary before the test.
        existing: ``classification_report.json`` before the test (``None`` when missing or damaged).
        test_results: The ``test*`` metrics.
        loaders: One report per test dataloader.
        checkpoint: The tested checkpoint (relative when inside the run folder), ``None`` for weights in memory.
        class_names: The run's class names, for a report that names none.
        headline: ``auto``, ``always`` or ``never`` (see :func:`choose_headline`).
        at: When the test ended.

    Returns:
        ``(summary data, report data, made the headline)``, to validate and write.
    """
    data = record_dict(previous)
    evaluations, reports = _evaluations_so_far(previous, existing)
    number = len(evaluations) + 1
    made_headline = choose_headline(evaluations, checkpoint, previous.best_model_path, headline)
    _say_where_it_went(run_dir, number, checkpoint, made_headline, headline, evaluations, previous)
    if made_headline:
        for earlier in [*evaluations, *reports]:
            earlier["headline"] = False
    sizes = [d.num_samples for d in loaders]
    common = {"number": number, "tested_at": at, "checkpoint": checkpoint, "headline": made_headline}
    data["evaluations"] = [
        *evaluations,
        {
            **common,
            "test_results": dict(test_results),
            "num_samples": None if None in sizes else sum(s for s in sizes if s is not None),
            "dataloaders": [_counts(d) for d in loaders],
        },
    ]
    base: dict[str, Any] = record_dict(existing) if existing is not None else {"class_names": class_names}
    base["evaluations"] = [
        *reports,
        {**common, "test_metrics": dict(test_results), "dataloaders": [record_dict(d) for d in loaders]},
    ]
    if made_headline:
        data.update(test_results=dict(test_results), tested_checkpoint=checkpoint)
        base.update(_headline_fields(loaders, class_names))
        base.update(test_metrics=dict(test_results), checkpoint=checkpoint, created_at=at)
    return data, base, made_headline


def next_number(summary: TrainingSummary | None) -> int:
    """The number the run's next ``trainer.test`` gets (1 for the first; a run tested before evaluations were kept
    has one, its ``test_results``)."""
    if summary is None:
        return 1
    return len(summary.evaluations or ([1] if summary.test_results else [])) + 1


HeadlineChoice = Literal["auto", "always", "never"]
"""Whether a ``trainer.test`` becomes the run's headline: ``auto`` (:func:`choose_headline`), ``always``, ``never``."""

HEADLINE_CHOICES: tuple[str, ...] = ("auto", "always", "never")


def choose_headline(
    evaluations: Sequence[Mapping[str, Any]],
    checkpoint: str | None,
    best_model_path: str | None,
    choice: HeadlineChoice = "auto",
) -> bool:
    """Whether a new test of ``checkpoint`` becomes the run's headline, given its earlier ``evaluations``.

    With ``auto``, the headline is the run's first test of its best checkpoint: a new test becomes the headline
    when the run has none yet (whatever it tested), or when it tests the best checkpoint and the headline did not
    (it tested the weights in memory, ``last.ckpt``, or a checkpoint that a resumed fit has since bettered). A
    second test of the same best checkpoint (another dataset, a second ``trainer.test``) does not.

    Args:
        evaluations: The run's evaluations so far (``TestEvaluation`` dicts), one of them marked ``headline``.
        checkpoint: The checkpoint the new test loaded (relative inside the run folder), ``None`` for weights in
            memory.
        best_model_path: The run's best checkpoint (relative), if it has one.
        choice: ``auto``, or ``always`` / ``never`` to decide without the rule.
    """
    if choice != "auto":
        return choice == "always"
    current = next((e for e in evaluations if e.get("headline")), None)
    if current is None:
        return True
    return checkpoint is not None and checkpoint == best_model_path and current.get("checkpoint") != best_model_path


def _say_where_it_went(
    run_dir: str,
    number: int,
    checkpoint: str | None,
    made_headline: bool,
    choice: HeadlineChoice,
    evaluations: Sequence[Mapping[str, Any]],
    summary: TrainingSummary,
) -> None:
    """Warn when a test is not made the headline, or when the rule moves the headline to it: never silently."""
    current = next((e for e in evaluations if e.get("headline")), None)
    if made_headline:
        if current is not None and choice == "auto":
            _warn(
                f"{run_dir}: evaluation {number} ({_tested(checkpoint)}) is now the headline, as the first test of "
                f"the run's best checkpoint; evaluation {current['number']} ({_tested(current.get('checkpoint'))}) "
                "is kept in evaluations"
            )
        return
    if choice == "never":
        stays = "as it was (headline_test='never')"
    elif current is None:
        stays = "empty (no test of the run was made the headline)"
    else:
        best = current.get("checkpoint") is not None and current.get("checkpoint") == summary.best_model_path
        why = "the first test of the best checkpoint" if best else "the run's first test"
        stays = f"evaluation {current['number']}, {why} ({_tested(current.get('checkpoint'))})"
    _warn(
        f"{run_dir}: this trainer.test ({_tested(checkpoint)}) was kept as evaluation {number} (evaluations in "
        "training_summary.json and classification_report.json) and not made the headline: the headline "
        f"(test_results, classification_report.json's top level, minimal_logging.json, report.html) stays {stays}. "
        "Pass ArcCheckpointCallback(headline_test='always') to make a test the headline."
    )


def _tested(checkpoint: str | None) -> str:
    return f"checkpoint {checkpoint}" if checkpoint else "the weights in memory"


def _counts(report: DataloaderReport) -> dict[str, Any]:
    """A dataloader's ``DataloaderCounts``: its size, and its samples per true class (the matrix's row sums)."""
    matrix = report.confusion_matrix
    counts = None if matrix is None else {n: sum(row) for n, row in zip(matrix_names(report), matrix, strict=True)}
    return {"index": report.index, "name": report.name, "num_samples": report.num_samples, "class_counts": counts}


def _headline_fields(loaders: Sequence[DataloaderReport], class_names: list[str] | None) -> dict[str, Any]:
    """The per-class fields of ``classification_report.json``'s top level: the one dataloader's report, or, with
    several, none (never pooled) and a note that names where each one is."""
    per_class = ("per_class", "accuracy", "macro_avg", "weighted_avg", "confusion_matrix", "num_samples")
    dumped = [record_dict(d) for d in loaders]
    if len(dumped) == 1:
        only = dumped[0]
        fields = {name: only.get(name) for name in (*per_class, "per_class_note", *SCORE_FIELDS)}
        fields["class_names"] = only.get("class_names") or class_names
    else:
        names = ", ".join(d.name or str(d.index) for d in loaders)
        fields = dict.fromkeys((*per_class, *SCORE_FIELDS))
        fields["per_class_note"] = f"{len(loaders)} test dataloaders, one report each: see dataloaders ({names})"
        shared = {tuple(d.class_names) for d in loaders if d.class_names}
        fields["class_names"] = list(shared.pop()) if len(shared) == 1 else class_names
    fields["dataloaders"] = dumped
    return fields


def _evaluations_so_far(
    summary: TrainingSummary, report: ClassificationReport | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The run's evaluations (the summary's entries and the report's), as dicts to extend.

    A run tested before evaluations were kept has ``test_results`` alone: that test becomes its evaluation 1, the
    headline.
    """
    if summary.evaluations:
        reports = record_dict(report)["evaluations"] if report is not None else []
        return record_dict(summary)["evaluations"], reports
    if not summary.test_results:
        return [], []
    tested_at = (report.created_at if report is not None else None) or summary.updated_at or summary.start_time
    loader: dict[str, Any] = {"index": 0}
    if report is not None:
        fields = ("class_names", "per_class", "accuracy", "macro_avg", "weighted_avg", "confusion_matrix")
        loader.update({name: getattr(report, name) for name in (*fields, "num_samples", "per_class_note")})
    loader_report = DataloaderReport.model_validate(loader)
    entry = {
        "number": 1,
        "tested_at": tested_at,
        "checkpoint": summary.tested_checkpoint,
        "headline": True,
        "test_results": dict(summary.test_results),
        "num_samples": loader_report.num_samples,
        "dataloaders": [_counts(loader_report)],
    }
    report_entry = {
        "number": 1,
        "tested_at": tested_at,
        "checkpoint": summary.tested_checkpoint,
        "headline": True,
        "test_metrics": dict(report.test_metrics if report is not None else summary.test_results),
        "dataloaders": [record_dict(loader_report)],
    }
    return [entry], [report_entry]


def _warn(message: str) -> None:
    warnings.warn(message, ArcCkptWarning, stacklevel=4)
