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
