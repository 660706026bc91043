"""How long ``render_html`` takes: one run's page, and the comparison of ``--runs`` runs (default 20).

Builds ``--runs`` run folders as ``load_runs.py`` does (summary, config, minimal logging, a 4-class report), each with
a ``history.json`` of ``--epochs`` epochs (default 60; train and validation loss, F1, learning rate), then, in a fresh
process per measurement, loads the runs once, renders each page once (that first call compiles the templates, and is
reported apart) and times ``--repeats`` more renders of each; the figures are the median and the best (on a shared,
busy machine the best is the steadier). The runs' files are read and
cached by the first render, so the medians measure the page itself: formatting, escaping, templates, SVG.

With several ``--src`` folders (one ``src/`` per version of the package, e.g. two git worktrees), each process imports
the package from its ``--src``, and the versions alternate, ``--rounds`` times each, so drift in machine speed hits
them alike; the ratio of each version's median to the first's is printed. Target: the Jinja2 page within 1.3x of the
hand-written f-strings it replaced, for the 20-run comparison.

Usage::

    python benchmarks/report_html.py --src /work/wt-base/src --src src      # old against new
    python benchmarks/report_html.py                                         # the installed package alone
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

TARGET = 1.3


def build(data: Path, runs: int, epochs: int) -> list[str]:
    """``runs`` run folders under ``data``, each with a history; their paths, oldest first."""
    from load_runs import build_runs

    from arccnet_ckpt import find_runs
    from arccnet_ckpt.records import History, HistoryEntry

    build_runs(data, runs)
    rng = random.Random(1)
    paths = []
    for run in find_runs(data):
        start = run.start_time or datetime(2025, 1, 1, tzinfo=timezone.utc)
        loss = rng.uniform(1.0, 1.5)
        entries = []
        for epoch in range(epochs):
            loss *= rng.uniform(0.93, 1.0)
            entries.append(
                HistoryEntry(
                    epoch=epoch,
                    step=(epoch + 1) * 120,
                    time=start + timedelta(minutes=2 * epoch),
                    metrics={
                        "train_loss": loss,
                        "val_loss": loss * rng.uniform(1.0, 1.2),
                        "val_f1": min(1.0, 0.4 + 0.5 * (1 - loss / 1.5) + rng.uniform(-0.02, 0.02)),
                        "lr-AdamW": 1e-4 * 0.97**epoch,
                    },
                )
            )
        history = History(monitor="val_f1", mode="max", entries=entries)
        (Path(run.path) / History.filename).write_text(history.model_dump_json(indent=2), encoding="utf-8")
        paths.append(run.path)
    return paths


def worker(paths: list[str], repeats: int) -> dict[str, Any]:
    """Time the pages in this (fresh) process."""
    from arccnet_ckpt.report.html import render_html
    from arccnet_ckpt.runs import load_run

    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    runs = [load_run(p) for p in paths]
    out: dict[str, Any] = {}
    for name, chosen in (("single", runs[:1]), ("compare", runs)):
        start = time.perf_counter()
        page = render_html(chosen, now=now)
        out[f"{name}_first_s"] = time.perf_counter() - start
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            render_html(chosen, now=now)
            times.append(time.perf_counter() - start)
        out[f"{name}_s"] = statistics.median(times)
        out[f"{name}_best_s"] = min(times)
        out[f"{name}_bytes"] = len(page.encode())
    return out


def measure(src: str | None, paths: list[str], repeats: int) -> dict[str, Any]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.path.abspath(src)
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(paths), "--repeats", str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"the worker for {src} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--src", action="append", help="a src/ folder to import the package from (repeatable)")
    parser.add_argument("--runs", type=int, default=20, help="runs in the comparison (default 20)")
    parser.add_argument("--epochs", type=int, default=60, help="epochs in each run's history (default 60)")
    parser.add_argument("--repeats", type=int, default=20, help="timed renders per page per process (default 20)")
    parser.add_argument("--rounds", type=int, default=5, help="processes per version, alternated (default 5)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker), args.repeats)))
        return 0

    sources: list[str | None] = list(args.src) if args.src else [None]
    data = Path(tempfile.mkdtemp(prefix="arc-report-bench-"))
    try:
        paths = build(data, args.runs, args.epochs)
        results: dict[str | None, list[dict[str, Any]]] = {s: [] for s in sources}
        for _ in range(args.rounds):
            for src in sources:
                results[src].append(measure(src, paths, args.repeats))
    finally:
        shutil.rmtree(data, ignore_errors=True)

    print(f"# {args.runs} runs of {args.epochs} epochs; median of {args.repeats} renders x {args.rounds} processes")
    print("| package | 1 run: first ms | 1 run ms (best) | compare: first ms | compare ms (best) | compare KB |")
    print("|---|---:|---:|---:|---:|---:|")
    medians: dict[str | None, dict[str, float]] = {}
    for src, rows in results.items():
        m = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        m.update({key: min(r[key] for r in rows) for key in rows[0] if key.endswith("_best_s")})
        medians[src] = m
        print(
            f"| {src or 'installed'} | {m['single_first_s'] * 1e3:.1f} "
            f"| {m['single_s'] * 1e3:.2f} ({m['single_best_s'] * 1e3:.2f}) | {m['compare_first_s'] * 1e3:.1f} "
            f"| {m['compare_s'] * 1e3:.2f} ({m['compare_best_s'] * 1e3:.2f}) | {m['compare_bytes'] / 1024:.0f} |"
        )
    ok = True
    if len(sources) > 1:
        base = medians[sources[0]]
        for src in sources[1:]:
            ratio = medians[src]["compare_best_s"] / base["compare_best_s"]
            median_ratio = medians[src]["compare_s"] / base["compare_s"]
            single = medians[src]["single_best_s"] / base["single_best_s"]
            passed = ratio <= TARGET
            ok = ok and passed
            print(
                f"- [{'PASS' if passed else 'FAIL'}] {src}: the {args.runs}-run comparison takes {ratio:.2f}x "
                f"{sources[0]}'s at best ({median_ratio:.2f}x by medians; target <= {TARGET}); one run's page "
                f"{single:.2f}x"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
