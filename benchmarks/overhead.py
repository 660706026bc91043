"""Wall-time overhead of ArcCheckpointCallback over a plain ModelCheckpoint.

The same tiny training (an MLP on synthetic data, ``--epochs`` epochs, validation every epoch, the best checkpoint
kept) runs with each callback, alternated in pairs after one warm-up run of each, so drift in machine speed hits
both sides alike. Prints every pair and the median ratio; the target is a ratio <= 1.02.

    python benchmarks/overhead.py [--pairs 7] [--epochs 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
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


def _loader(seed: int) -> DataLoader:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2048, 32, generator=gen)
    return DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=128)


def run_once(kind: str, root: Path, epochs: int) -> float:
    pl.seed_everything(0, verbose=False)
    if kind == "arc":
        cb: ModelCheckpoint = ArcCheckpointCallback(root_name="bench/overhead", data_folder=root / "data")
    else:
        cb = ModelCheckpoint(dirpath=root / f"plain-{time.perf_counter_ns()}", monitor="val_f1", mode="max")
    trainer = pl.Trainer(
        max_epochs=epochs,
        callbacks=[cb],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        accelerator="cpu",
        devices=1,
    )
    train, val = _loader(0), _loader(1)
    start = time.perf_counter()
    trainer.fit(TinyModule(), train, val)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_once("plain", root, args.epochs)  # warm-up: imports, allocator, file cache
        run_once("arc", root, args.epochs)
        ratios = []
        print(f"{'pair':>4} {'ModelCheckpoint s':>18} {'ArcCheckpointCallback s':>24} {'ratio':>7}")
        for i in range(args.pairs):
            order = ("plain", "arc") if i % 2 == 0 else ("arc", "plain")
            times = {kind: run_once(kind, root, args.epochs) for kind in order}
            ratios.append(times["arc"] / times["plain"])
            print(f"{i:>4} {times['plain']:>18.3f} {times['arc']:>24.3f} {ratios[-1]:>7.3f}")
    median = statistics.median(ratios)
    verdict = "meets" if median <= TARGET else "MISSES"
    print(f"\nmedian ratio ArcCheckpointCallback / ModelCheckpoint over {args.pairs} pairs, {args.epochs} epochs: ")
    print(f"{median:.3f} ({verdict} the target <= {TARGET})")


if __name__ == "__main__":
    main()
