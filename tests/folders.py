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


# ----------------------------------------------------------------------------- a version 2 report, computed for real


def scored_report_fields(
    class_names: list[str],
    *,
    num_samples: int = 240,
    seed: int = 0,
    mistakes: int = 6,
    folder: str | Path | None = None,
    thumbnails: bool = True,
    prefix: str = "",
) -> dict[str, Any]:
    """The per-class and score-based fields of a version 2 report, computed with sklearn on random softmax scores.

    The numbers agree with each other as a real run's would: the per-class table, the matrix, ``roc_auc`` and
    ``average_precision`` (sklearn's), TSS and HSS from the matrix, the curves, the 10 calibration bins and ECE, and
    the ``mistakes`` most confident wrong predictions. With ``folder`` and ``thumbnails``, each mistake gets a real
    PNG (Pillow) in ``<folder>/mistakes/``: grey for even ranks, RGB for odd ones, 24x20 px.
    """
    import numpy as np
    from sklearn.metrics import (
        average_precision_score,
        confusion_matrix,
        precision_recall_curve,
        precision_recall_fscore_support,
        roc_auc_score,
        roc_curve,
    )

    rng = np.random.default_rng(seed)
    c = len(class_names)
    targets = np.concatenate([np.arange(c), rng.integers(0, c, num_samples - c)])  # every class present
    logits = rng.normal(size=(num_samples, c))
    logits[np.arange(num_samples), targets] += 1.6
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    predicted = probs.argmax(axis=1)
    labels = list(range(c))
    precision, recall, f1, support = precision_recall_fscore_support(targets, predicted, labels=labels, zero_division=0)
    matrix = confusion_matrix(targets, predicted, labels=labels)
    per_class: dict[str, dict[str, Any]] = {}
    curves: dict[str, dict[str, Any]] = {}
    total = int(matrix.sum())
    for k, name in enumerate(class_names):
        positive = targets == k
        tp = int(matrix[k, k])
        fn = int(matrix[k].sum()) - tp
        fp = int(matrix[:, k].sum()) - tp
        tn = total - tp - fn - fp
        hss_denominator = (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)
        fpr, tpr, _ = roc_curve(positive, probs[:, k])
        pr_precision, pr_recall, _ = precision_recall_curve(positive, probs[:, k])
        per_class[name] = {
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
            "support": int(support[k]),
            "roc_auc": float(roc_auc_score(positive, probs[:, k])),
            "average_precision": float(average_precision_score(positive, probs[:, k])),
            "tss": tp / (tp + fn) - fp / (fp + tn),
            "hss": 2 * (tp * tn - fp * fn) / hss_denominator,
        }
        curves[name] = {
            "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
            "pr": {"precision": pr_precision.tolist(), "recall": pr_recall.tolist()},
        }
    if c == 2:
        macro = weighted = float(roc_auc_score(targets, probs[:, 1]))
    else:
        macro = float(roc_auc_score(targets, probs, multi_class="ovr", average="macro"))
        weighted = float(roc_auc_score(targets, probs, multi_class="ovr", average="weighted"))
    confidence = probs.max(axis=1)
    right = predicted == targets
    bins = []
    ece = 0.0
    for b in range(10):
        inside = np.minimum((confidence * 10).astype(int), 9) == b
        count = int(inside.sum())
        mean_conf = float(confidence[inside].mean()) if count else None
        accuracy = float(right[inside].mean()) if count else None
        if count:
            ece += count / num_samples * abs(accuracy - mean_conf)  # type: ignore[operator]
        bins.append(
            {"lower": b / 10, "upper": (b + 1) / 10, "confidence": mean_conf, "accuracy": accuracy, "count": count}
        )
    wrong = np.flatnonzero(~right)
    order = wrong[np.argsort(-confidence[wrong], kind="stable")][:mistakes]
    mistake_list = []
    for rank, index in enumerate(order.tolist()):
        thumbnail = None
        if folder is not None and thumbnails:
            thumbnail = f"mistakes/{prefix}{rank:02d}-{index}.png"
            _write_png(Path(folder) / thumbnail, rgb=rank % 2 == 1, seed=index)
        mistake_list.append(
            {
                "index": index,
                "target": class_names[int(targets[index])],
                "predicted": class_names[int(predicted[index])],
                "confidence": float(confidence[index]),
                "thumbnail": thumbnail,
            }
        )
    macro_avg = {
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
        "support": total,
    }
    weights = support / support.sum()
    weighted_avg = {
        "precision": float((precision * weights).sum()),
        "recall": float((recall * weights).sum()),
        "f1": float((f1 * weights).sum()),
        "support": total,
    }
    return {
        "class_names": list(class_names),
        "per_class": per_class,
        "accuracy": float(right.mean()),
        "macro_avg": macro_avg,
        "weighted_avg": weighted_avg,
        "confusion_matrix": matrix.tolist(),
        "num_samples": num_samples,
        "roc_auc": {"macro": macro, "weighted": weighted},
        "curves": curves,
        "calibration": {"bins": bins, "ece": ece},
        "predictions": {"source": "forward", "scores": "logits", "transform": "softmax", "ranking": "exact"},
        "mistakes": mistake_list,
        "mistakes_note": None if thumbnails else "thumbnails need Pillow: pip install 'arccnet-ckpt[images]'",
    }


def _write_png(path: Path, *, rgb: bool, seed: int) -> None:
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, size=(20, 24, 3) if rgb else (20, 24), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="PNG")


def make_scored_run(
    data_folder: str | Path,
    root_name: str = "flares/multiclass",
    *,
    class_names: tuple[str, ...] = ("Quiet", "C", "M_X"),
    loaders: tuple[str | None, ...] = (None,),
    thumbnails: bool = True,
    data_counts: bool = True,
    **kwargs: Any,
) -> str:
    """A completed run (:func:`make_run`) whose ``classification_report.json`` is version 2 with every score-based
    field computed for real (:func:`scored_report_fields`), one report per name of ``loaders`` when there are
    several, and whose summary records the ``data`` the Trainer saw (train, val and test class counts)."""
    folder = make_run(data_folder, root_name, files=("config", "summary", "minimal"), **kwargs)
    names = list(class_names)
    if len(loaders) == 1:
        fields = scored_report_fields(names, folder=folder, thumbnails=thumbnails)
        dataloaders: list[dict[str, Any]] = []
    else:
        fields = {"class_names": names}
        dataloaders = [
            {
                "index": i,
                "name": name,
                **scored_report_fields(
                    names, seed=i + 1, num_samples=120 + 60 * i, folder=folder, thumbnails=thumbnails, prefix=f"dl{i}-"
                ),
            }
            for i, name in enumerate(loaders)
        ]
    report = ClassificationReport.model_validate(
        {
            "test_metrics": {"test_f1": 0.85, "test_loss": 0.15},
            "model_name": kwargs.get("model_name", "resnet18"),
            "loss_function": kwargs.get("loss_function", "weighted_bce"),
            "created_at": T0 + timedelta(hours=2),
            **fields,
            "dataloaders": dataloaders,
        }
    )
    store.write_text(store.join(folder, report.filename), store.model_to_json(report))
    if data_counts:
        # Class k is k + 1 times as common as class 0 in train and val; the test counts are the report's supports.
        weights = [k + 1 for k in range(len(names))]
        shares = {
            split: {name: n * w // sum(weights) for name, w in zip(names, weights, strict=True)}
            for split, n in (("train", 960), ("val", 240))
        }
        per_class = report.per_class or {}
        shares["test"] = {name: per_class[name].support for name in names} if per_class else {}
        data = {
            split: {
                "num_samples": sum(class_counts.values()),
                "num_batches": -(-sum(class_counts.values()) // 64),
                "class_counts": class_counts or None,
                "epoch": None if split == "test" else 0,
                "note": None if class_counts else "counted per dataloader: see the evaluations",
            }
            for split, class_counts in shares.items()
        }
        edit_json(store.join(folder, TrainingSummary.filename), data=data)
    return folder


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
