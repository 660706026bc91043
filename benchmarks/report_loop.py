"""What the zero-code report costs a test loop: the forward hook and the metric state, against the same loop without.

A LightningModule shaped like the users' cutout classifiers (a small two-layer CNN over 1 x 32 x 32 images,
``x, y = batch; logits = self(x)``, a ``test_step`` that returns only the loss) is tested with ``trainer.test`` twice
per pair, in one fresh process per measurement, alternating the two sides (and which goes first) so drift in machine
speed hits both alike:

* ``without``: the Trainer has no ArcCheckpointCallback (checkpointing off);
* ``with``: an ArcCheckpointCallback (a test-only Trainer: it opens an evaluation folder at test start).

Torch runs one thread in each process, so that other processes on a shared machine disturb both sides alike.

A timing callback measures the loop alone, from ``on_test_epoch_start`` to ``on_test_epoch_end``: every batch with
its forward hook and its metric updates (scores kept for the exact AUC, calibration counts, the confusion matrix,
the top-K mistakes), but not the work at test end (sums over ranks, the exact AUC, the files written), which is
reported apart, once per test, as ``end seconds``. Each process runs a warm-up test and then ``--repeats`` timed ones,
keeping the fastest; the ratio compares each side's fastest loop over all pairs (the runs least disturbed by the rest
of the machine, as ``timeit`` does), and the median of the pairs' ratios is printed beside it. The time spent in the
callback's own batch hooks is measured too, directly, as a share of the loop. The target: the ratio <= 1.03, at
C = 3 and C = 100.

    python benchmarks/report.py --loop [--pairs 7] [--samples 16384] [--batch 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any

TARGET = 1.03


def _worker(side: str, num_classes: int, samples: int, batch: int, repeats: int) -> dict[str, float]:
    """One measurement in this fresh process: a warm-up test, then ``repeats`` timed ones; the fastest loop."""
    import lightning.pytorch as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from arccnet_ckpt import ArcCheckpointCallback

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)  # one thread on each side: less noise from the other processes of a shared machine
    torch.manual_seed(0)

    class Cutouts(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(  # a small cutout CNN: two convolutions, far smaller than a ResNet
                torch.nn.Conv2d(1, 16, 3, padding=1),
                torch.nn.ReLU(),
                torch.nn.MaxPool2d(2),
                torch.nn.Conv2d(16, 32, 3, padding=1),
                torch.nn.ReLU(),
                torch.nn.MaxPool2d(4),
                torch.nn.Flatten(),
                torch.nn.Linear(32 * 4 * 4, num_classes),
            )
            self.loss_fn = torch.nn.CrossEntropyLoss()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = self.loss_fn(self(x), y)
            self.log("test_loss", loss)
            return loss

    class Clock(pl.Callback):
        def __init__(self) -> None:
            self.loop = self.start = 0.0

        def on_test_epoch_start(self, trainer: Any, module: Any) -> None:
            self.start = time.perf_counter()

        def on_test_epoch_end(self, trainer: Any, module: Any) -> None:
            self.loop = time.perf_counter() - self.start

    class TimedArc(ArcCheckpointCallback):
        """The callback, with the time its per-batch hooks take (the forward hook's own work is a few attributes)."""

        spent = 0.0

        def on_test_batch_start(self, *args: Any, **kwargs: Any) -> None:
            start = time.perf_counter()
            super().on_test_batch_start(*args, **kwargs)
            self.spent += time.perf_counter() - start

        def on_test_batch_end(self, *args: Any, **kwargs: Any) -> None:
            start = time.perf_counter()
            super().on_test_batch_end(*args, **kwargs)
            self.spent += time.perf_counter() - start

    gen = torch.Generator().manual_seed(1)
    x = torch.randn(samples, 1, 32, 32, generator=gen)
    y = torch.randint(0, num_classes, (samples,), generator=gen)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch)
    model = Cutouts()
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for attempt in range(1 + repeats):  # a warm-up test, then the timed ones: the fastest is kept
            clock = Clock()
            callbacks: list[Any] = [clock]
            arc = TimedArc(root_name="bench", data_folder=folder, model_name="cnn") if side == "with" else None
            if arc is not None:
                callbacks.append(arc)
            trainer = pl.Trainer(
                accelerator="cpu",
                devices=1,
                logger=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                enable_checkpointing=side == "with",
                callbacks=callbacks,
            )
            start = time.perf_counter()
            trainer.test(model, dataloaders=loader, verbose=False)
            total = time.perf_counter() - start
            if attempt and (not best or clock.loop < best["loop"]):
                best = {"loop": clock.loop, "total": total, "hooks": arc.spent if arc is not None else 0.0}
    return best


def _measure(side: str, num_classes: int, args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, os.path.abspath(__file__), "--worker", side, "--classes", str(num_classes)]
    command += ["--samples", str(args.samples), "--batch", str(args.batch), "--repeats", str(args.repeats)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"{side} (C={num_classes}) failed:\n{done.stderr}")
    measured: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=7, help="alternated with/without pairs (default 7)")
    parser.add_argument("--samples", type=int, default=16384, help="test samples (default 16384)")
    parser.add_argument("--batch", type=int, default=256, help="batch size (default 256)")
    parser.add_argument("--classes", default="3,100", help="comma-separated class counts (default 3,100)")
    parser.add_argument("--repeats", type=int, default=3, help="timed tests per process, the fastest kept (default 3)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    classes = [int(c) for c in args.classes.split(",")]
    if args.worker:
        print(json.dumps(_worker(args.worker, classes[0], args.samples, args.batch, args.repeats)))
        return 0

    batches = -(-args.samples // args.batch)
    print(
        f"# test loop of {args.samples:,} samples in {batches} batches of {args.batch}, {args.pairs} alternated pairs "
        f"of fresh processes, the fastest of {args.repeats} tests in each; one torch thread"
    )
    print(
        "| C | best loop without (s) | best loop with (s) | ratio of the bests | median pair ratio "
        "| callback's batch hooks (ms/batch) | their share of the loop | end seconds (with - without) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    checks = []
    for num_classes in classes:
        ratios, without, with_, hooks, ends = [], [], [], [], []
        for pair in range(args.pairs):
            if pair % 2:  # which side goes first alternates, so an order effect hits both alike
                b = _measure("with", num_classes, args)
                a = _measure("without", num_classes, args)
            else:
                a = _measure("without", num_classes, args)
                b = _measure("with", num_classes, args)
            without.append(a["loop"])
            with_.append(b["loop"])
            hooks.append(b["hooks"])
            ratios.append(b["loop"] / a["loop"])
            ends.append((b["total"] - b["loop"]) - (a["total"] - a["loop"]))
        # The fastest run of each side is the one least disturbed by the rest of the machine (as timeit does).
        ratio = min(with_) / min(without)
        hook = statistics.median(hooks)
        print(
            f"| {num_classes} | {min(without):.3f} | {min(with_):.3f} | {ratio:.3f} | {statistics.median(ratios):.3f} "
            f"| {hook / batches * 1e3:.2f} | {hook / statistics.median(with_):.1%} | {statistics.median(ends):.3f} |",
            flush=True,
        )
        checks.append((f"C={num_classes}: the loop with the callback <= {TARGET}x without ({ratio:.3f}x)", ratio))
    print()
    for text, ratio in checks:
        print(f"- [{'PASS' if ratio <= TARGET else 'FAIL'}] {text}")
    return 0 if all(ratio <= TARGET for _, ratio in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
