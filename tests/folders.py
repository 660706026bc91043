"""Run folders written by hand, the way the package writes them (no Trainer): shared by the unit and integration
tests of the reader, the scan and the command line."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from arccnet_ckpt import ClassificationReport, ConfigRecord, MinimalLogging, TrainingSummary, store
from arccnet_ckpt.layout import run_folder_name

T0 = datetime(2025, 2, 12, 14, 30, 45, tzinfo=timezone.utc)
CKPT = "best-epoch02-val_f1-0.800.ckpt"


def make_run(
    data_folder: str | Path,
    root_name: str = "flares/binary_classification",
    *,
    start: datetime = T0,
    model_name: str = "resnet18",
    loss_function: str = "weighted_bce",
    status: str = "completed",
    test_f1: float | None = 0.85,
    files: tuple[str, ...] = ("config", "summary", "minimal", "report"),
    checkpoint: str | None = CKPT,
) -> str:
    """Write a run folder the way the package does and return its path."""
    folder = store.join(
        os.fspath(data_folder), "checkpoints", *root_name.split("/"), run_folder_name(start, model_name, loss_function)
    )
    test_results = {} if test_f1 is None else {"test_f1": test_f1, "test_loss": 1.0 - test_f1}
    models = {
        "config": ConfigRecord(config={"lr": 1e-3, "batch_size": 64}, seed=7, created_at=start),
        "summary": TrainingSummary(
            status=status,
            start_time=start,
            end_time=None if status == "running" else start + timedelta(hours=2),
            model_name=model_name,
            loss_function=loss_function,
            root_name=root_name,
            monitor="val_f1",
            mode="max",
            best_epoch=2,
            best_metric_value=0.8,
            best_model_path=checkpoint,
            num_epochs_trained=3,
            test_results=test_results,
        ),
        "minimal": MinimalLogging(
            timestamp=start + timedelta(hours=2), best_epoch=2, best_metric_value=0.8, num_epochs_trained=3
        ),
        "report": ClassificationReport(
            test_metrics=test_results, model_name=model_name, loss_function=loss_function, accuracy=0.9
        ),
    }
    for key in files:
        model = models[key]
        store.write_text(store.join(folder, model.filename), store.model_to_json(model))
    if checkpoint is not None:
        store.write_bytes(store.join(folder, checkpoint), b"")
    return folder


def edit_json(path: str | Path, **changes: Any) -> None:
    """Change top-level keys of a JSON file (a value of ``...`` removes the key)."""
    data = json.loads(Path(path).read_text())
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    Path(path).write_text(json.dumps(data))


HALE_CLASSES = ("Alpha", "Beta", "Beta-Gamma")
HALE_FOLDS = (
    [[40, 6, 2], [5, 31, 7], [1, 8, 20]],
    [[38, 9, 1], [4, 35, 4], [3, 5, 21]],
    [[44, 3, 1], [7, 29, 7], [2, 10, 17]],
    [[36, 10, 2], [2, 37, 4], [0, 6, 23]],
    [[41, 5, 2], [6, 33, 4], [4, 4, 21]],
)
"""Five cross-validation folds of a Hale classifier: one confusion matrix each (rows true, columns predicted)."""


def fold_report(matrix: list[list[int]], class_names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The ``classification_report.json`` fields of one fold, as the callback writes them from its matrix: the
    per-class numbers with ``tss`` (one-vs-rest TPR - FPR) and a made-up ``roc_auc``, the averages and the matrix."""
    from arccnet_ckpt.metrics.report import compute_report

    report = compute_report(matrix, class_names)
    total = report["num_samples"]
    for k, name in enumerate(class_names):
        entry = report["per_class"][name]
        positives = entry["support"]
        false_positives = sum(matrix[i][k] for i in range(len(matrix)) if i != k)
        entry["tss"] = entry["recall"] - false_positives / (total - positives)
        entry["roc_auc"] = round(0.80 + 0.03 * k + 0.001 * matrix[k][k], 6)
    return {"class_names": list(class_names), **report}


def make_group(
    data_folder: str | Path,
    group_id: str = "hale-cv",
    matrices: tuple[list[list[int]], ...] | list[list[list[int]]] = HALE_FOLDS,
    *,
    class_names: tuple[str, ...] | list[str] = HALE_CLASSES,
    root_name: str = "cutouts/hale",
    source: str = "argument",
    start: datetime = T0,
    statuses: dict[int, str] | None = None,
) -> list[str]:
    """Write one run folder per matrix, fold ``k`` recording ``group {id, source, index: k}``, and return their paths.

    Fold ``k`` starts ``k`` hours after ``start``; its ``test_results`` are ``test_accuracy`` and ``test_f1`` (the
    matrix's accuracy and macro F1) and ``test_loss = 0.40 + 0.03 k``; ``duration_seconds = 3600 + 125.5 k``;
    ``best_epoch = 10 + k``; ``best_metric_value = 0.70 + 0.02 k`` (``val_f1``). ``statuses`` gives some folds
    another status (a ``failed`` fold records an error and no test results).
    """
    folders = []
    for k, matrix in enumerate(matrices):
        status = (statuses or {}).get(k, "completed")
        report = fold_report(matrix, class_names)
        tests = {
            "test_accuracy": report["accuracy"],
            "test_f1": report["macro_avg"]["f1"],
            "test_loss": 0.40 + 0.03 * k,
        }
        folder = make_run(data_folder, root_name, start=start + timedelta(hours=k), status=status, test_f1=None)
        summary = store.join(folder, TrainingSummary.filename)
        edit_json(
            summary,
            group={"id": group_id, "source": source, "index": k},
            test_results={} if status == "failed" else tests,
            duration_seconds=3600 + 125.5 * k,
            best_epoch=10 + k,
            best_metric_value=0.70 + 0.02 * k,
            best_val_f1=0.70 + 0.02 * k,
            error={"type": "RuntimeError", "message": "CUDA out of memory"} if status == "failed" else ...,
        )
        if status == "failed":
            os.remove(store.join(folder, ClassificationReport.filename))
        else:
            edit_json(store.join(folder, ClassificationReport.filename), test_metrics=tests, **report)
        folders.append(folder)
    return folders
