"""Wall-time overhead of ArcCheckpointCallback over a plain ModelCheckpoint.

The same tiny training (an MLP on 8,192 synthetic samples, ``--epochs`` epochs of about 0.25 s, validation every
epoch, the best checkpoint kept) runs with each callback, alternated in pairs so drift in machine speed hits both
sides alike. Each fit runs in a fresh process after one warm-up fit there. Prints every pair and the median
wall-time ratio; the target is a ratio <= 1.02.

    python benchmarks/overhead.py [--pairs 9] [--epochs 20] [--logger csv]

With ``--logger csv`` both sides log to a ``CSVLogger``, so the ratio includes what the callback does with loggers
(the run folder logged to each, their ids recorded at training start, fit end).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

from arccnet_ckpt import ArcCheckpointCallback

TARGET = 1.02


class TinyModule(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return self.loss_fn(self.net(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_f1", (self.net(x).argmax(1) == y).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05)


def _loader(seed: int, samples: int) -> DataLoader:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, 32, generator=gen)
    return DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=128)


def run_once(kind: str, root: Path, epochs: int, samples: int = 8192, logger: str = "none") -> tuple[float, float]:
    """One fit; returns (wall seconds, CPU seconds of this process)."""
    pl.seed_everything(0, verbose=False)
    if kind == "arc":
        cb: ModelCheckpoint = ArcCheckpointCallback(root_name="bench/overhead", data_folder=root / "data")
    else:
        cb = ModelCheckpoint(dirpath=root / f"plain-{time.perf_counter_ns()}", monitor="val_f1", mode="max")
    trainer = pl.Trainer(
        max_epochs=epochs,
        callbacks=[cb],
        logger=CSVLogger(root / "logs", name=kind) if logger == "csv" else False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        accelerator="cpu",
        devices=1,
    )
    train, val = _loader(0, samples), _loader(1, samples // 4)
    start, cpu = time.perf_counter(), time.process_time()
    trainer.fit(TinyModule(), train, val)
    return time.perf_counter() - start, time.process_time() - cpu


def _run_in_child(kind: str, root: Path, args: argparse.Namespace) -> tuple[float, float]:
    """One fit in a fresh interpreter, so no run inherits another's caches, threads or garbage."""
    cmd = [sys.executable, __file__, "--child", kind, "--root", str(root)]
    cmd += ["--epochs", str(args.epochs), "--samples", str(args.samples), "--logger", args.logger]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)  # noqa: S603 - our own script
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


_LIGHTNING_WORK = {
    "save_checkpoint",
    "remove_checkpoint",
    "setup",
    "_save_checkpoint",
    "_remove_checkpoint",
    "state_dict",
    "on_train_end",
    "on_validation_end",
    "on_train_epoch_end",
}
"""Lightning's own work that the callback's code calls for ModelCheckpoint (writing and deleting the .ckpt files,
its setup and state, and the ModelCheckpoint hooks an override calls through ``super()``): a plain ModelCheckpoint
does it too, so it is not the callback's cost."""


def instrumented_extra(root: Path, epochs: int, samples: int, logger: str = "none") -> tuple[float, float]:
    """Time the callback adds to one fit, measured inside it: a figure machine noise cannot swamp.

    Profiles an ArcCheckpointCallback fit and sums the time spent in arccnet_ckpt code entered from Lightning, minus
    the Lightning work that code calls on behalf of ModelCheckpoint (saving the .ckpt itself, its setup...).

    Returns:
        (extra seconds, wall seconds of the profiled fit); profiling slows both.
    """
    import cProfile
    import pstats

    run_once("arc", root, epochs, samples, logger)
    profiler = cProfile.Profile()
    profiler.enable()
    wall, _cpu = run_once("arc", root, epochs, samples, logger)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def ours(func: tuple[str, int, str]) -> bool:
        return "arccnet_ckpt" in func[0]

    spent = lightning_work = 0.0
    for func, (_cc, _nc, _tt, _ct, callers) in stats.items():
        if ours(func):
            spent += sum(v[3] for caller, v in callers.items() if not ours(caller))
        elif func[2] in _LIGHTNING_WORK and "lightning" in func[0]:
            lightning_work += sum(v[3] for caller, v in callers.items() if ours(caller))
    return spent - lightning_work, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--samples", type=int, default=8192, help="training samples per epoch (batches of 128)")
    parser.add_argument("--logger", choices=["none", "csv"], default="none", help="the logger both sides use")
    parser.add_argument("--child", choices=["plain", "arc"], help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()

    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    torch.set_num_threads(1)  # less scheduler noise on a small machine; both sides alike
    if args.child:
        run_once(args.child, Path(args.root), args.epochs, args.samples, args.logger)  # warm-up: imports, allocator
        wall, cpu = run_once(args.child, Path(args.root), args.epochs, args.samples, args.logger)
        print(f"{wall} {cpu}")
        return

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ratios, cpu_ratios, diffs = [], [], []
        walls: dict[str, list[float]] = {"plain": [], "arc": []}
        print(f"{'pair':>4} {'ModelCheckpoint s':>18} {'ArcCheckpointCallback s':>24} {'wall':>7} {'CPU':>7}")
        for i in range(args.pairs):
            order = ("plain", "arc") if i % 2 == 0 else ("arc", "plain")
            times = {kind: _run_in_child(kind, root, args) for kind in order}
            (wall_p, cpu_p), (wall_a, cpu_a) = times["plain"], times["arc"]
            walls["plain"].append(wall_p)
            walls["arc"].append(wall_a)
            ratios.append(wall_a / wall_p)
            cpu_ratios.append(cpu_a / cpu_p)
            diffs.append(wall_a - wall_p)
            print(f"{i:>4} {wall_p:>18.3f} {wall_a:>24.3f} {ratios[-1]:>7.3f} {cpu_ratios[-1]:>7.3f}")
    median = statistics.median(ratios)
    verdict = "meets" if median <= TARGET else "MISSES"
    logged = "" if args.logger == "none" else f", both logging to a {args.logger} logger"
    print(f"\n{args.pairs} pairs of {args.epochs}-epoch fits{logged}, each fit in a fresh process after a warm-up fit:")
    print(f"median wall-time ratio Arc/ModelCheckpoint: {median:.3f} ({verdict} the target <= {TARGET})")
    print(f"median CPU-time ratio: {statistics.median(cpu_ratios):.3f}")
    print(f"ratio of the fastest runs: {min(walls['arc']) / min(walls['plain']):.3f}")
    print(f"median extra wall time per fit: {statistics.median(diffs) * 1000:+.0f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        extra, wall = instrumented_extra(Path(tmp), args.epochs, args.samples, args.logger)
    share = f"{extra * 1000:.0f} ms of {wall:.2f} s = {extra / wall:.2%}"
    print(f"time spent in the callback's own code (profiled fit): {share}")


if __name__ == "__main__":
    main()
