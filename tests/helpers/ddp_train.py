"""A 2-process CPU DDP fit + test with ArcCheckpointCallback, run as a script by tests/test_ddp.py.

Lightning's "ddp" strategy re-launches this script for rank 1, as it would on a cluster node. Every call to
``store.write_text`` (the package's name, which other modules call, and :mod:`arccnet_ckpt.store.write`'s, which
``write_artifact`` calls) is logged per rank, so the test can check that only rank 0 wrote.

    python tests/helpers/ddp_train.py DATA_FOLDER LOG_FOLDER [--fail-write FILENAME [--error TYPE]] [--stop-on-rank1]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lightning.pytorch as pl  # noqa: E402
import torch  # noqa: E402
from conftest import ScriptedClassifier, TinyData  # noqa: E402
from lightning.pytorch.callbacks import EarlyStopping  # noqa: E402

from arccnet_ckpt import ArcCheckpointCallback, RunFolderError, store  # noqa: E402


class SyncedClassifier(ScriptedClassifier):
    def test_step(self, batch, batch_idx):
        x, y = batch
        logits = self.layer(x)
        self.log("test_loss", self.loss_fn(logits, y), sync_dist=True)
        self.log("test_samples", torch.tensor(float(len(y))), reduce_fx="sum", sync_dist=True)
        return {"preds": logits, "target": y}


class RankOneGetsWorse(SyncedClassifier):
    """Logs val_f1 per rank (self.log's default, no sync_dist): rank 0 keeps improving, rank 1 only gets worse, so an
    EarlyStopping with patience 1 trips on rank 1 alone at epoch 1, and Lightning stops both ranks."""

    def validation_step(self, batch, batch_idx):
        score = 0.5 + 0.1 * self.current_epoch if self.global_rank == 0 else 0.5 - 0.1 * self.current_epoch
        self.log("val_f1", score)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_folder")
    parser.add_argument("log_folder")
    parser.add_argument("--fail-write", default=None, help="rank 0 fails to write this artifact")
    parser.add_argument("--error", default="RunFolderError", choices=["RunFolderError", "ValueError"])
    parser.add_argument("--stop-on-rank1", action="store_true", help="EarlyStopping trips on rank 1 only")
    args = parser.parse_args()
    error_type = {"RunFolderError": RunFolderError, "ValueError": ValueError}[args.error]

    rank = int(os.environ.get("LOCAL_RANK", "0"))
    log = Path(args.log_folder) / f"writes-rank{rank}.log"
    original = store.write_text

    def logged_write(path, text):
        with log.open("a") as fh:
            fh.write(f"{os.path.basename(os.fspath(path))}\n")
        if args.fail_write and rank == 0 and os.path.basename(os.fspath(path)) == args.fail_write:
            raise error_type(f"{path}: simulated write failure on rank 0")
        original(path, text)

    # Both names: replacing the package's alone would miss every write_artifact call, made inside store.write.
    store.write_text = store.write.write_text = logged_write

    cb = ArcCheckpointCallback(root_name="ddp/test", data_folder=args.data_folder, class_names=["a", "b", "c"])
    stoppers = [EarlyStopping("val_f1", mode="max", patience=1)] if args.stop_on_rank1 else []
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=4 if args.stop_on_rank1 else 2,
        limit_train_batches=2,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[cb, *stoppers],
    )
    model = RankOneGetsWorse() if args.stop_on_rank1 else SyncedClassifier()
    trainer.fit(model, datamodule=TinyData())
    trainer.test(model, datamodule=TinyData(), ckpt_path="best")
    print(f"rank {trainer.global_rank} run_dir {cb.run_dir}", flush=True)
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()  # a clean exit: gloo may abort at exit otherwise


if __name__ == "__main__":
    main()
