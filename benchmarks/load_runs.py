"""How long does ``find_runs`` take over many run folders, against a naive glob + ``json.load`` loop?

Builds ``--n`` run folders (default 10,000) with realistic files (``training_summary.json``, ``config.json``,
``minimal_logging.json``, ``classification_report.json``, 1-2 KB each, plus an empty checkpoint) under four root
names, then times, on the same folders:

* ``find_runs(data)``: every run, validated summaries, sorted by start time (the target is under 1 s for 10,000);
* the naive loop a user would write: ``glob("**/training_summary.json")`` and ``json.load`` of each file, with no
  validation and no sorting.

Each figure is the median of ``--repeats`` runs after one warm-up (the page cache is warm in both cases).

Usage::

    python benchmarks/load_runs.py            # 10,000 runs in a temporary folder, removed afterwards
    python benchmarks/load_runs.py --n 2000 --dir /tmp/arc-bench   # keep the folder; reused if it holds runs
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from arccnet_ckpt import (
    ClassificationReport,
    ClassMetrics,
    ConfigRecord,
    EarlyStoppingState,
    MinimalLogging,
    TrainingSummary,
    find_runs,
)
from arccnet_ckpt.layout import run_folder_name
from arccnet_ckpt.records import (
    ClassScores,
    ComponentInfo,
    EnvironmentInfo,
    GitInfo,
    ModelInfo,
    RunStatus,
    TrainerSettings,
)

ROOT_NAMES = ("flares/binary_classification", "flares/multiclass", "cutouts/hale", "cutouts/mcintosh")
MODELS = ("resnet18", "efficientnet_b0", "vit_base_patch32_224", "convnext_tiny")
LOSSES = ("weighted_bce", "focal", "cross_entropy")
STATUSES: tuple[RunStatus, ...] = ("completed",) * 8 + ("failed", "interrupted")
CLASSES = ("quiet", "C", "M", "X")
TARGET_S = 1.0

T = TypeVar("T")


def _metrics(rng: random.Random) -> dict[str, float | None]:
    f1 = round(rng.uniform(0.5, 0.95), 4)
    return {
        "test_loss": round(rng.uniform(0.1, 0.9), 4),
        "test_f1": f1,
        "test_acc": round(min(1.0, f1 + 0.05), 4),
        "test_precision": round(rng.uniform(0.5, 0.95), 4),
        "test_recall": round(rng.uniform(0.5, 0.95), 4),
    }


def _class_metrics(rng: random.Random) -> ClassMetrics:
    return ClassMetrics(
        precision=round(rng.random(), 4), recall=round(rng.random(), 4), f1=round(rng.random(), 4), support=250
    )


def build_runs(data: Path, n: int, seed: int = 0) -> int:
    """Write ``n`` run folders under ``data/checkpoints`` and return the mean size of one run's JSON files."""
    rng = random.Random(seed)
    start0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    total = 0
    for i in range(n):
        start = start0 + timedelta(minutes=7 * i, seconds=rng.randrange(60))
        root, model, loss = ROOT_NAMES[i % 4], rng.choice(MODELS), rng.choice(LOSSES)
        status = rng.choice(STATUSES)
        folder = data / "checkpoints" / root / run_folder_name(start, model, loss)
        metrics = _metrics(rng) if status == "completed" else {}
        best_epoch = rng.randrange(5, 60)
        best = round(rng.uniform(0.5, 0.95), 4)
        ckpt = f"best-epoch{best_epoch:02d}-val_f1-{best:.3f}.ckpt"
        files = [
            TrainingSummary(
                status=status,
                start_time=start,
                end_time=start + timedelta(hours=2),
                duration_seconds=7200.0,
                model_name=model,
                loss_function=loss,
                root_name=root,
                run_name=folder.name,
                monitor="val_f1",
                mode="max",
                best_epoch=best_epoch,
                best_metric_value=best,
                best_model_path=ckpt,
                last_model_path="last.ckpt",
                num_epochs_trained=best_epoch + 10,
                global_step=(best_epoch + 10) * 120,
                early_stopping_triggered=True,
                early_stopping=[
                    EarlyStoppingState(
                        monitor="val_f1",
                        mode="max",
                        patience=10,
                        min_delta=0.0,
                        wait_count=10,
                        stopped_epoch=best_epoch + 10,
                        best_score=best,
                        reason="PATIENCE_EXHAUSTED",
                        message=f"Monitored metric val_f1 did not improve in the last 10 records. Best {best}.",
                    )
                ],
                test_results=metrics,
            ),
            ConfigRecord(
                config={"MODEL_NAME": model, "LOSS_FUNCTION": loss, "LEARNING_RATE": 1e-4, "BATCH_SIZE": 64},
                hparams={"lr": 1e-4, "weight_decay": 1e-5, "num_classes": 4, "pretrained": True},
                trainer=TrainerSettings(max_epochs=100, precision="16-mixed", accelerator="gpu", num_devices=1),
                optimizers=[ComponentInfo(class_path="torch.optim.AdamW", settings={"lr": 1e-4, "betas": [0.9, 0.99]})],
                lr_schedulers=[ComponentInfo(class_path="torch.optim.lr_scheduler.CosineAnnealingLR")],
                model=ModelInfo(
                    class_path="arccnet.models.FlareModule",
                    total_parameters=11_200_000,
                    trainable_parameters=11_200_000,
                ),
                environment=EnvironmentInfo(
                    python="3.11.7", platform="Linux-5.15-x86_64", hostname="gpu-node-07", torch="2.4.0"
                ),
                git=GitInfo(commit="0123456789abcdef0123456789abcdef01234567", branch="main", dirty=False),
                seed=42,
                model_name=model,
                loss_function=loss,
                root_name=root,
                created_at=start,
            ),
            MinimalLogging(
                timestamp=start + timedelta(hours=2),
                best_epoch=best_epoch,
                best_metric_value=best,
                num_epochs_trained=best_epoch + 10,
                early_stopping_triggered=True,
                status=status,
                additional_metrics=metrics,
            ),
            ClassificationReport(
                test_metrics=metrics,
                model_name=model,
                loss_function=loss,
                class_names=list(CLASSES),
                checkpoint=ckpt,
                per_class={name: ClassScores(**_class_metrics(rng).model_dump()) for name in CLASSES},
                accuracy=metrics.get("test_acc"),
                macro_avg=_class_metrics(rng),
                weighted_avg=_class_metrics(rng),
                confusion_matrix=[[rng.randrange(250) for _ in CLASSES] for _ in CLASSES],
                num_samples=1000,
                created_at=start + timedelta(hours=2),
            ),
        ]
        folder.mkdir(parents=True)
        for model_obj in files:
            # Plain writes: the storage module's fsync per file would make building 40,000 files take minutes.
            text = model_obj.model_dump_json(indent=2) + "\n"
            (folder / model_obj.filename).write_text(text, encoding="utf-8")
            total += len(text)
        (folder / ckpt).touch()
    return total // max(n, 1)


def naive_listing(data: Path) -> list[dict[str, Any]]:
    """What a user writes by hand: find every summary and ``json.load`` it (no validation, no sorting)."""
    out = []
    for path in glob.glob(os.path.join(data, "checkpoints", "**", "training_summary.json"), recursive=True):
        with open(path, encoding="utf-8") as fh:
            out.append(json.load(fh))
    return out


def median_time(
    fn: Callable[[], T], repeats: int, *, warm_up: bool = True, before: Callable[[], object] | None = None
) -> tuple[float, T]:
    """The median wall time of ``repeats`` calls (after one untimed call when ``warm_up``), and the last result;
    ``before`` runs untimed before each timed call (e.g. clearing a listing cache)."""
    result = fn() if warm_up else None
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result  # type: ignore[return-value]


@contextlib.contextmanager
def run_folders(folder: Path | None, n: int) -> Iterator[Path]:
    """A data folder holding ``n`` run folders: ``folder`` (reused if it already holds runs, and kept), or a
    temporary one removed afterwards."""
    data = folder if folder is not None else Path(tempfile.mkdtemp(prefix="arc-bench-"))
    try:
        if (data / "checkpoints").exists():
            print(f"reusing the runs in {data}")
        else:
            t0 = time.perf_counter()
            size = build_runs(data, n)
            print(f"built {n} run folders in {time.perf_counter() - t0:.1f} s ({size} bytes of JSON per run)")
        yield data
    finally:
        if folder is None:
            shutil.rmtree(data, ignore_errors=True)


def folder_arguments(parser: argparse.ArgumentParser) -> None:
    """``--n`` and ``--dir``: how many run folders :func:`run_folders` builds, and where."""
    parser.add_argument("--n", type=int, default=10_000, help="number of run folders (default 10000)")
    parser.add_argument("--dir", type=Path, default=None, help="data folder to build in (kept; reused if it has runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    folder_arguments(parser)
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats; the median is printed (default 5)")
    args = parser.parse_args()

    with run_folders(args.dir, args.n) as data:
        t_find, runs = median_time(lambda: find_runs(data), args.repeats)
        t_naive, raw = median_time(lambda: naive_listing(data), args.repeats)
        t_filtered, _ = median_time(lambda: find_runs(data, "cutouts/hale", status="completed"), args.repeats)
        assert len(runs) == len(raw), (len(runs), len(raw))

        print(f"runs found:                                {len(runs)}")
        print(f"find_runs (validated, sorted), median:     {t_find * 1000:8.1f} ms")
        print(f"naive glob + json.load (no validation):    {t_naive * 1000:8.1f} ms")
        print(f"ratio find_runs / naive:                   {t_find / t_naive:8.2f}x")
        print(f"find_runs(root_name=..., status=...):      {t_filtered * 1000:8.1f} ms (a quarter of the runs)")
        verdict = "holds" if t_find < TARGET_S else "MISSED"
        print(f"target find_runs < {TARGET_S:.0f} s for {len(runs)} runs:     {verdict}")


if __name__ == "__main__":
    main()
