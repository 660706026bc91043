"""``training_summary.json`` ``data``: what the Trainer saw of each split, counted on the device (a real Trainer)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from conftest import _dataset, make_classes, make_trainer, read_json
from pytorch_lightning.callbacks import EarlyStopping
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset, WeightedRandomSampler

from arccnet_ckpt import ArcCkptWarning
from arccnet_ckpt.pytorch_lightning import ArcCheckpointCallback

ScriptedClassifier, TinyData = make_classes("pytorch_lightning")  # the users' `import pytorch_lightning as pl`


def _summary_data(cb: ArcCheckpointCallback) -> dict[str, Any]:
    return read_json(Path(cb.run_dir) / "training_summary.json")["data"]


def _labels(dataset: TensorDataset) -> list[int]:
    return dataset.tensors[1].tolist()


def _named(counts: Counter[int], names: list[str]) -> dict[str, int]:
    return {name: counts.get(k, 0) for k, name in enumerate(names)}


class Data(pl.LightningDataModule):
    """Train 40, val 20, test 30 samples of 3 classes, in batches of 8 (the last one short)."""

    def __init__(self, batch_size: int = 8, seed: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.train_set, self.val_set, self.test_set = _dataset(40, 3, seed), _dataset(20, 3, 11), _dataset(30, 3, 12)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.hparams.batch_size)


def _fit_and_test(tmp_path: Path, data_folder: Path, dm: Any, model: Any = None, **callback: Any) -> Any:
    cb = ArcCheckpointCallback(root_name="flares/counts", data_folder=data_folder, **callback)
    early = EarlyStopping(cb.monitor, mode=cb.mode, patience=5)
    trainer = make_trainer(
        tmp_path, [cb, early], namespace="pytorch_lightning", max_epochs=2,
        limit_train_batches=None, limit_val_batches=None, limit_test_batches=None, num_sanity_val_steps=1,
    )  # fmt: skip
    model = model or ScriptedClassifier()
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm, ckpt_path="best")
    return cb


def test_data_counts_equal_a_count_over_the_datasets(tmp_path: Path, data_folder: Path) -> None:
    dm = Data()
    cb = _fit_and_test(tmp_path, data_folder, dm)
    data = _summary_data(cb)
    names = ["0", "1", "2"]
    for split, dataset, epoch in (("train", dm.train_set, 0), ("val", dm.val_set, 0), ("test", dm.test_set, None)):
        labels = _labels(dataset)
        assert data[split] == {
            "num_samples": len(labels),
            "num_batches": math.ceil(len(labels) / 8),  # val: the full run, not the 1-batch sanity check
            "class_counts": _named(Counter(labels), names),
            "epoch": epoch,
            "note": None,
        }, split


def test_explicit_class_names_name_the_counts(tmp_path: Path, data_folder: Path) -> None:
    dm = Data()
    names = ["Quiet", "C", "M_X"]
    cb = _fit_and_test(tmp_path, data_folder, dm, class_names=names)
    data = _summary_data(cb)
    assert data["train"]["class_counts"] == _named(Counter(_labels(dm.train_set)), names)
    assert data["test"]["class_counts"] == _named(Counter(_labels(dm.test_set)), names)


class RecordingSampler(WeightedRandomSampler):
    """A weighted sampler that remembers the indices it drew, epoch by epoch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.drawn: list[list[int]] = []

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        self.drawn.append(indices)
        return iter(indices)


class Resampled(Data):
    """Class 0 drawn 20 times as often as the others: what the model sees is not the dataset."""

    def __init__(self) -> None:
        super().__init__()
        weights = [20.0 if label == 0 else 1.0 for label in _labels(self.train_set)]
        self.sampler = RecordingSampler(weights, num_samples=48, replacement=True)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=8, sampler=self.sampler)


def test_a_weighted_sampler_shows_what_the_model_saw(tmp_path: Path, data_folder: Path) -> None:
    dm = Resampled()
    cb = _fit_and_test(tmp_path, data_folder, dm)
    first_epoch = dm.sampler.drawn[0]
    labels = _labels(dm.train_set)
    seen = Counter(labels[i] for i in first_epoch)
    train = _summary_data(cb)["train"]
    assert train["class_counts"] == _named(seen, ["0", "1", "2"])
    assert train["num_samples"] == 48
    assert train["num_batches"] == 6
    assert train["class_counts"] != _named(Counter(labels), ["0", "1", "2"])  # not the dataset's counts


class DictSamples(Dataset):
    def __init__(self, base: TensorDataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x, y = self.base[i]
        return {"image": x, "label": y}


class DictData(Data):
    def train_dataloader(self) -> DataLoader:
        return DataLoader(DictSamples(self.train_set), batch_size=8)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(DictSamples(self.val_set), batch_size=8)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(DictSamples(self.test_set), batch_size=8)


class DictModel(ScriptedClassifier):
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return super().training_step((batch["image"], batch["label"]), batch_idx)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        super().validation_step((batch["image"], batch["label"]), batch_idx)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss_fn(self(batch["image"]), batch["label"])
        self.log("test_loss", loss)
        return loss

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


def test_a_dict_batch_is_counted_from_its_target_key(tmp_path: Path, data_folder: Path) -> None:
    dm = DictData()
    cb = _fit_and_test(tmp_path, data_folder, dm, model=DictModel())
    data = _summary_data(cb)
    assert data["val"]["class_counts"] == _named(Counter(_labels(dm.val_set)), ["0", "1", "2"])
    assert data["test"]["num_samples"] == 30


class Unlabelled(pl.LightningDataModule):
    """Batches of inputs only, as an autoencoder's."""

    def _loader(self, n: int) -> DataLoader:
        return DataLoader(torch.randn(n, 8), batch_size=8)

    def train_dataloader(self) -> DataLoader:
        return self._loader(20)

    def val_dataloader(self) -> DataLoader:
        return self._loader(10)

    def test_dataloader(self) -> DataLoader:
        return self._loader(12)


class AutoEncoder(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Linear(8, 8)

    def _loss(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(self.net(x), x)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self._loss(batch)

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.log("val_loss", self._loss(batch))

    def test_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("test_loss", loss)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_batches_without_targets_give_null_class_counts_and_the_reason(tmp_path: Path, data_folder: Path) -> None:
    cb = _fit_and_test(tmp_path, data_folder, Unlabelled(), model=AutoEncoder(), monitor="val_loss", mode="min")
    data = _summary_data(cb)
    reason = "no class counts: the batch is a Tensor, not an (inputs, targets) tuple or a dict"
    assert data["train"] == {"num_samples": 20, "num_batches": 3, "class_counts": None, "epoch": 0, "note": reason}
    assert (data["val"]["num_samples"], data["test"]["num_samples"]) == (10, 12)
    assert data["test"]["note"] == reason


def test_the_counts_survive_a_resume(tmp_path: Path, data_folder: Path) -> None:
    dm = Data()
    cb = ArcCheckpointCallback(root_name="flares/counts", data_folder=data_folder, save_last=True)
    trainer = make_trainer(tmp_path, [cb], namespace="pytorch_lightning", max_epochs=1, limit_train_batches=None)
    trainer.fit(ScriptedClassifier(), datamodule=dm)
    first = _summary_data(cb)
    assert first["train"]["class_counts"] == _named(Counter(_labels(dm.train_set)), ["0", "1", "2"])

    other = Data(seed=5)  # other training data: a recount would differ
    assert Counter(_labels(other.train_set)) != Counter(_labels(dm.train_set))
    again = ArcCheckpointCallback(root_name="flares/counts", data_folder=data_folder, save_last=True)
    trainer = make_trainer(tmp_path, [again], namespace="pytorch_lightning", max_epochs=3, limit_train_batches=None)
    trainer.fit(ScriptedClassifier(), datamodule=other, ckpt_path=cb.last_model_path)
    assert again.run_dir == cb.run_dir
    assert read_json(Path(cb.run_dir) / "training_summary.json")["status"] == "completed"
    resumed = _summary_data(again)
    assert resumed["train"] == first["train"]
    assert resumed["val"] == first["val"]


def test_the_headline_test_gives_the_test_counts(tmp_path: Path, data_folder: Path) -> None:
    dm = Data()
    cb = _fit_and_test(tmp_path, data_folder, dm)
    headline = _summary_data(cb)["test"]
    # A later test of other data is kept as an evaluation, not the headline: data.test stays.
    trainer = make_trainer(tmp_path, [cb], namespace="pytorch_lightning", limit_test_batches=None)
    with pytest.warns(ArcCkptWarning, match="not made the headline"):
        trainer.test(ScriptedClassifier(), dataloaders=DataLoader(_dataset(5, 3, 99), batch_size=8))
    assert _summary_data(cb)["test"] == headline


def test_a_test_only_trainer_counts_its_test_loop(tmp_path: Path, data_folder: Path) -> None:
    cb = ArcCheckpointCallback(root_name="flares/eval", data_folder=data_folder)
    trainer = make_trainer(tmp_path, [cb], namespace="pytorch_lightning", limit_test_batches=None)
    dm = TinyData()
    trainer.test(ScriptedClassifier(), datamodule=dm)
    data = _summary_data(cb)
    labels = torch.cat([y for _, y in dm.test_dataloader()]).tolist()
    assert data["test"]["class_counts"] == _named(Counter(labels), ["0", "1", "2"])
    assert data["train"] is None
    assert data["val"] is None


@pytest.mark.slow
def test_ddp_counts_are_summed_over_the_ranks(tmp_path: Path) -> None:
    from test_ddp import _completed, _run

    done = _run(tmp_path)  # 2 CPU ranks, class_names a, b, c; each rank sees half of every split
    assert _completed(done, "run_dir "), done.stderr[-3000:]
    (run_dir,) = (tmp_path / "data" / "checkpoints" / "ddp" / "test").iterdir()
    data = read_json(run_dir / "training_summary.json")["data"]
    names = ["a", "b", "c"]
    # train: 2 batches of 8 per rank; val: 1 batch of 8 per rank; test: 12 samples per rank in batches of 8
    for split, dataset, batches in (
        ("train", _dataset(32, 3, 0), 4), ("val", _dataset(16, 3, 1), 2), ("test", _dataset(24, 3, 2), 4),
    ):  # fmt: skip
        labels = _labels(dataset)
        assert data[split]["class_counts"] == _named(Counter(labels), names), split
        assert (data[split]["num_samples"], data[split]["num_batches"]) == (len(labels), batches), split
