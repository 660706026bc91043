"""Throughput and peak memory of the per-class report against scikit-learn and torchmetrics.

For each number of classes, every method sees the same ``--n`` integer (predicted, true) label pairs:

* ``ours``: :class:`arccnet_ckpt.metrics.ConfusionMatrix` updated batch by batch, then its label check and
  :func:`compute_report`;
* ``sklearn``: ``classification_report(..., output_dict=True, zero_division=0)`` given all labels at once;
* ``tm_stat_scores``: torchmetrics ``MulticlassStatScores(average=None)`` updated batch by batch, then ``compute()``;
  ``tm_stat_scores_novalidate`` is the same with ``validate_args=False``;
* ``tm_f1``: torchmetrics ``MulticlassF1Score(average=None)`` batch by batch, then ``compute()``.

Fairness: each method runs in a fresh subprocess that first generates the labels (seeded, in place or in small
chunks, so generation leaves no large free memory behind), then runs the method once on a small slice to warm it up,
then resets the peak-RSS counter. Only the method's own work is timed, and "peak extra MB" is the rise of the process's
resident-set high-water mark over the resident size just before the timed runs: RSS is the honest measure here,
because torch's CPU allocations are invisible to ``tracemalloc``. Batches are views of the pre-generated tensors (no
copy); scikit-learn gets numpy views of the same memory. Times are the best of ``--repeat`` runs.

Run::

    python benchmarks/report.py               # 10,000,000 predictions in batches of 1,000, C = 3 and 100
    python benchmarks/report.py --n 1000000   # quick run
    python benchmarks/report.py --loop        # what the zero-code report adds to a test loop (report_loop.py)
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

METHODS = ("ours", "sklearn", "tm_stat_scores", "tm_stat_scores_novalidate", "tm_f1")
LABELS = {
    "ours": "arccnet_ckpt ConfusionMatrix + compute_report",
    "sklearn": "sklearn classification_report (all at once)",
    "tm_stat_scores": "torchmetrics MulticlassStatScores",
    "tm_stat_scores_novalidate": "torchmetrics MulticlassStatScores(validate_args=False)",
    "tm_f1": "torchmetrics MulticlassF1Score",
}
SEED = 1234
ACCURACY = 0.7
"""Share of predictions equal to the target; the rest are uniform random labels."""


# ----------------------------------------------------------------------------------------------- worker process


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> tuple[int, str]:
    """Release free heap memory, reset the RSS high-water mark if Linux allows it; return the baseline in KiB."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # glibc only
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
            f.write("5")  # reset VmHWM to the current RSS
        rss = _status_kb("VmRSS")
        if rss is not None:
            return rss, "VmHWM"
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"


def _peak_kb(source: str) -> int:
    if source == "VmHWM":
        peak = _status_kb("VmHWM")
        if peak is not None:
            return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _generate(n: int, num_classes: int) -> tuple[Any, Any]:
    import torch

    g = torch.Generator().manual_seed(SEED)
    target = torch.empty(n, dtype=torch.int64)
    preds = torch.empty(n, dtype=torch.int64)
    torch.randint(0, num_classes, (n,), generator=g, out=target)
    torch.randint(0, num_classes, (n,), generator=g, out=preds)
    chunk = 1 << 18  # small chunks: the temporaries stay around 3 MB
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        keep = torch.rand(stop - start, generator=g) < ACCURACY
        preds[start:stop] = torch.where(keep, target[start:stop], preds[start:stop])
    return preds, target


def _runner(method: str, num_classes: int, batch: int) -> Callable[[Any, Any], Any]:
    """A function ``run(preds, target)`` that computes the method's per-class result from the full tensors."""
    if method == "ours":
        from arccnet_ckpt.metrics import ConfusionMatrix, compute_report, default_class_names

        names = default_class_names(num_classes, binary=False)

        def run(preds: Any, target: Any) -> Any:
            cm = ConfusionMatrix(num_classes)
            for start in range(0, preds.shape[0], batch):
                cm.update(preds[start : start + batch], target[start : start + batch])
            cm.check()  # the bad-label check at the end: one host sync
            return compute_report(cm.matrix, names)

        return run

    if method == "sklearn":
        from sklearn.metrics import classification_report

        labels = list(range(num_classes))

        def run(preds: Any, target: Any) -> Any:
            return classification_report(
                target.numpy(), preds.numpy(), labels=labels, output_dict=True, zero_division=0
            )

        return run

    from torchmetrics.classification import MulticlassF1Score, MulticlassStatScores

    def make() -> Any:
        if method == "tm_stat_scores":
            return MulticlassStatScores(num_classes=num_classes, average=None)
        if method == "tm_stat_scores_novalidate":
            return MulticlassStatScores(num_classes=num_classes, average=None, validate_args=False)
        if method == "tm_f1":
            return MulticlassF1Score(num_classes=num_classes, average=None)
        raise ValueError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")

    def run(preds: Any, target: Any) -> Any:
        metric = make()
        for start in range(0, preds.shape[0], batch):
            metric.update(preds[start : start + batch], target[start : start + batch])
        return metric.compute()

    return run


def worker(method: str, num_classes: int, n: int, batch: int, repeat: int) -> dict[str, Any]:
    """Measure one method in this (fresh) process."""
    preds, target = _generate(n, num_classes)
    run = _runner(method, num_classes, batch)
    warm = min(n, 100 * batch)
    run(preds[:warm], target[:warm])

    baseline_kb, source = _reset_peak()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = run(preds, target)
        best = min(best, time.perf_counter() - start)
        del result
    peak_kb = _peak_kb(source)
    return {
        "method": method,
        "num_classes": num_classes,
        "seconds": best,
        "peak_extra_mb": max(0, peak_kb - baseline_kb) / 1024,
        "memory_source": source,
    }


# ------------------------------------------------------------------------------------------------ main process


def _measure(method: str, num_classes: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        method,
        "--classes",
        str(num_classes),
        "--n",
        str(args.n),
        "--batch",
        str(args.batch),
        "--repeat",
        str(args.repeat),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"{method} (C={num_classes}) failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--loop" in argv:
        import report_loop  # the test-loop benchmark, beside this file

        return report_loop.main([a for a in argv if a != "--loop"])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=10_000_000, help="predictions per method (default 10,000,000)")
    parser.add_argument("--batch", type=int, default=1000, help="batch size of the streaming methods (default 1000)")
    parser.add_argument("--classes", default="3,100", help="comma-separated class counts (default 3,100)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {', '.join(METHODS)}")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per method, the best is kept (default 2)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    classes = [int(c) for c in args.classes.split(",")]

    if args.worker:
        print(json.dumps(worker(args.worker, classes[0], args.n, args.batch, args.repeat)))
        return 0

    methods = [m.strip() for m in args.methods.split(",")]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}: choose from {', '.join(METHODS)}")
    if "ours" not in methods:
        methods.insert(0, "ours")

    import torch

    print(
        f"# {args.n:,} predictions per method, batches of {args.batch:,}, best of {args.repeat} timed run(s); "
        f"torch threads={torch.get_num_threads()}, CPUs={os.cpu_count()}"
    )
    print(
        "# Labels are generated before timing in each method's own process; peak extra MB = rise of the RSS "
        "high-water mark above the RSS just before the timed runs (the labels themselves are excluded)."
    )
    print()
    print("| method | C | seconds | Mpred/s | peak extra MB | ours is N x faster |")
    print("|---|---:|---:|---:|---:|---:|")
    results: dict[tuple[str, int], dict[str, Any]] = {}
    sources = set()
    wall = time.perf_counter()
    for num_classes in classes:
        for method in methods:
            r = _measure(method, num_classes, args)
            results[method, num_classes] = r
            sources.add(r["memory_source"])
            ours = results["ours", num_classes]["seconds"]
            print(
                f"| {LABELS[method]} | {num_classes} | {r['seconds']:.3f} | {args.n / r['seconds'] / 1e6:.1f} "
                f"| {r['peak_extra_mb']:.1f} | {r['seconds'] / ours:.1f} |",
                flush=True,
            )
    print()
    print(f"# memory measured with {', '.join(sorted(sources))}; total wall time {time.perf_counter() - wall:.0f} s")

    checks: list[tuple[str, bool]] = []
    if 3 in classes:
        ours3 = results["ours", 3]["seconds"]
        for method, factor in (("sklearn", 10), ("tm_stat_scores", 5)):
            if (method, 3) in results:
                ratio = results[method, 3]["seconds"] / ours3
                checks.append((f"C=3: ours >= {factor}x faster than {LABELS[method]} ({ratio:.1f}x)", ratio >= factor))
    for num_classes in classes:
        mb = results["ours", num_classes]["peak_extra_mb"]
        checks.append((f"C={num_classes}: ours peak extra memory < 10 MB ({mb:.1f} MB)", mb < 10))
    print()
    for text, ok in checks:
        print(f"- [{'PASS' if ok else 'FAIL'}] {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
