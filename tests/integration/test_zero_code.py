"""Zero-code predictions: a ``test_step`` that returns only the loss still gets a full report (the forward hook).

The modules are shaped like the users' flare classifiers: ``import pytorch_lightning as pl``,
``save_hyperparameters()``, ``x, y = batch; logits = self(x)``, EarlyStopping, ``trainer.test(ckpt_path="best")``.
The reference is scikit-learn on the best checkpoint's model, run over the test loader by the test itself.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from conftest import make_trainer, read_json
from pytorch_lightning.callbacks import Callback, EarlyStopping
from sklearn.metrics import average_precision_score, classification_report, roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from arccnet_ckpt.pytorch_lightning import ArcCheckpointCallback

FEATURES = 6


def _loaders(num_classes: int, *, float_targets: bool) -> dict[str, DataLoader]:
    gen = torch.Generator().manual_seed(7)
    loaders = {}
    for split, n in (("train", 64), ("val", 32), ("test", 90)):
        y = torch.randint(0, num_classes, (n,), generator=gen)
        x = torch.randn(n, FEATURES, generator=gen) + nn.functional.one_hot(y, FEATURES).float()  # learnable
        targets = y.float() if float_targets else y  # BCE users keep 0.0/1.0 float labels
        loaders[split] = DataLoader(TensorDataset(x, targets), batch_size=16)
    return loaders


class FlareModel(pl.LightningModule):
    """One logit column with BCEWithLogitsLoss (``num_classes=2``), or C logits with CrossEntropyLoss."""

    def __init__(self, num_classes: int = 2, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()
        outputs = 1 if num_classes == 2 else num_classes
        self.net = nn.Sequential(nn.Linear(FEATURES, 16), nn.ReLU(), nn.Linear(16, outputs))
        self.loss_fn = nn.BCEWithLogitsLoss() if num_classes == 2 else nn.CrossEntropyLoss()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(logits.squeeze(1), y) if self.hparams.num_classes == 2 else self.loss_fn(logits, y)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = self._loss(logits, y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", self._loss(self(x), y))

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = self._loss(logits, y)
        self.log("test_loss", loss)
        return loss  # only the loss, as the users' modules do

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def _fit_and_test(tmp_path: Path, data_folder: Path, model: pl.LightningModule, loaders: dict[str, DataLoader]) -> Any:
    cb = ArcCheckpointCallback(root_name="flares/zero_code", data_folder=data_folder, monitor="val_loss", mode="min")
    trainer = make_trainer(
        tmp_path, [cb, EarlyStopping("val_loss", mode="min", patience=3)], namespace="pytorch_lightning",
        max_epochs=4, limit_train_batches=None, limit_val_batches=None, limit_test_batches=None,
    )  # fmt: skip
    trainer.fit(model, train_dataloaders=loaders["train"], val_dataloaders=loaders["val"])
    trainer.test(model, dataloaders=loaders["test"], ckpt_path="best")
    return cb


def _reference(cb: ArcCheckpointCallback, loader: DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    """The best checkpoint's probabilities ``(N, C)`` over the test loader, and the targets."""
    best = FlareModel.load_from_checkpoint(cb.best_model_path).eval()
    with torch.no_grad():
        logits = torch.cat([best(x) for x, _ in loader]).double()
    targets = torch.cat([y for _, y in loader]).long()
    if logits.shape[1] == 1:
        positive = logits[:, 0].sigmoid()
        return torch.stack([1 - positive, positive], dim=1), targets
    return logits.softmax(dim=1), targets


def _assert_report_equals_sklearn(report: dict[str, Any], probs: torch.Tensor, y: torch.Tensor, names: list[str]):
    labels = list(range(len(names)))
    y_pred = (probs[:, 1] > 0.5).long() if len(names) == 2 else probs.argmax(dim=1)
    expected = classification_report(
        y.tolist(), y_pred.tolist(), labels=labels, target_names=names, output_dict=True, zero_division=0
    )
    assert report["class_names"] == names
    assert report["num_samples"] == len(y)
    for k, name in enumerate(names):
        got, want = report["per_class"][name], expected[name]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx(
            (want["precision"], want["recall"], want["f1-score"]), abs=1e-9
        ), name
        assert got["support"] == want["support"]
        truth = (y == k).long().tolist()
        assert got["roc_auc"] == pytest.approx(roc_auc_score(truth, probs[:, k].tolist()), abs=1e-6), name
        assert got["average_precision"] == pytest.approx(
            average_precision_score(truth, probs[:, k].tolist()), abs=1e-6
        ), name
    assert report["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-9)
    assert report["macro_avg"]["f1"] == pytest.approx(expected["macro avg"]["f1-score"], abs=1e-9)


def test_a_binary_module_whose_test_step_returns_the_loss_gets_the_full_report(tmp_path, data_folder) -> None:
    loaders = _loaders(2, float_targets=True)
    cb = _fit_and_test(tmp_path, data_folder, FlareModel(num_classes=2), loaders)
    report = read_json(Path(cb.run_dir) / "classification_report.json")
    assert report["predictions"]["source"] == "forward"
    assert (report["predictions"]["scores"], report["predictions"]["transform"]) == ("logits", "sigmoid")
    probs, y = _reference(cb, loaders["test"])
    _assert_report_equals_sklearn(report, probs, y, ["negative", "positive"])
    assert report["roc_auc"]["macro"] == pytest.approx(roc_auc_score(y.tolist(), probs[:, 1].tolist()), abs=1e-6)
    assert report["per_class_note"] is None


def test_a_multiclass_module_whose_test_step_returns_the_loss_gets_the_full_report(tmp_path, data_folder) -> None:
    loaders = _loaders(4, float_targets=False)
    cb = _fit_and_test(tmp_path, data_folder, FlareModel(num_classes=4), loaders)
    report = read_json(Path(cb.run_dir) / "classification_report.json")
    assert report["predictions"]["source"] == "forward"
    assert (report["predictions"]["scores"], report["predictions"]["transform"]) == ("logits", "softmax")
    probs, y = _reference(cb, loaders["test"])
    _assert_report_equals_sklearn(report, probs, y, ["0", "1", "2", "3"])
    for average in ("macro", "weighted"):
        want = roc_auc_score(y.tolist(), probs.tolist(), multi_class="ovr", average=average)
        assert report["roc_auc"][average] == pytest.approx(want, abs=1e-6)


class TwiceForward(FlareModel):
    """Test-time augmentation: forward runs twice per test batch, so no single output is the prediction."""

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = (self(x) + self(x.flip(1))) / 2
        loss = self._loss(logits, y)
        self.log("test_loss", loss)
        return loss


def test_a_forward_that_runs_twice_per_batch_gives_no_per_class_report_and_says_why(tmp_path, data_folder) -> None:
    cb = _fit_and_test(tmp_path, data_folder, TwiceForward(num_classes=3), _loaders(3, float_targets=False))
    report = read_json(Path(cb.run_dir) / "classification_report.json")
    assert report["per_class"] is None
    assert "the module's forward ran 2 times in one test batch, so its output is ambiguous" in report["per_class_note"]


# ------------------------------------------------------------------------------------ the hook's life


class HookSpy(Callback):
    """Counts the module's forward hooks in each loop's batches."""

    def __init__(self) -> None:
        self.seen: dict[str, set[int]] = {}

    def _see(self, loop: str, pl_module: pl.LightningModule) -> None:
        self.seen.setdefault(loop, set()).add(len(pl_module._forward_hooks))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._see("fit", pl_module)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._see("validate", pl_module)

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._see("predict", pl_module)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._see("test", pl_module)


def _nothing_recorded_after(cb: ArcCheckpointCallback, model: pl.LightningModule, hooks: int) -> None:
    assert len(model._forward_hooks) == hooks
    assert not cb._run.testing.forward.installed
    model(torch.randn(3, FEATURES))
    assert cb._run.testing.forward.call.calls == 0


def test_the_forward_hook_lives_only_for_the_test_loop(tmp_path, data_folder) -> None:
    loaders = _loaders(3, float_targets=False)
    model, spy = FlareModel(num_classes=3), HookSpy()
    model.register_forward_hook(lambda module, args, output: None)  # the user's own hook stays
    hooks = len(model._forward_hooks)
    cb = ArcCheckpointCallback(root_name="flares/hooks", data_folder=data_folder, monitor="val_loss", mode="min")
    trainer = make_trainer(tmp_path, [cb, spy], namespace="pytorch_lightning", max_epochs=1)
    trainer.fit(model, train_dataloaders=loaders["train"], val_dataloaders=loaders["val"])
    trainer.validate(model, dataloaders=loaders["val"])
    trainer.predict(model, dataloaders=DataLoader(torch.randn(8, FEATURES), batch_size=4))
    trainer.test(model, dataloaders=loaders["test"])
    assert spy.seen == {"fit": {hooks}, "validate": {hooks}, "predict": {hooks}, "test": {hooks + 1}}
    _nothing_recorded_after(cb, model, hooks)


class FailingTest(FlareModel):
    def __init__(self, error: type[BaseException] = RuntimeError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = super().test_step(batch, batch_idx)
        if batch_idx == 1:
            raise self.error("boom in test_step")
        return loss


def test_the_forward_hook_is_removed_when_test_step_raises(tmp_path, data_folder) -> None:
    model = FailingTest(num_classes=3)
    hooks = len(model._forward_hooks)
    cb = ArcCheckpointCallback(root_name="flares/hooks", data_folder=data_folder, monitor="val_loss", mode="min")
    trainer = make_trainer(tmp_path, [cb], namespace="pytorch_lightning")
    with pytest.raises(RuntimeError, match="boom in test_step"):
        trainer.test(model, dataloaders=_loaders(3, float_targets=False)["test"])
    _nothing_recorded_after(cb, model, hooks)


def test_the_forward_hook_is_removed_after_a_keyboard_interrupt_in_test(tmp_path, data_folder) -> None:
    model = FailingTest(error=KeyboardInterrupt, num_classes=3)
    hooks = len(model._forward_hooks)
    cb = ArcCheckpointCallback(root_name="flares/hooks", data_folder=data_folder, monitor="val_loss", mode="min")
    trainer = make_trainer(tmp_path, [cb], namespace="pytorch_lightning")
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit):  # Lightning turns Ctrl-C into a graceful shutdown and exit(1)
            trainer.test(model, dataloaders=_loaders(3, float_targets=False)["test"])
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores SIGINT from then on
    _nothing_recorded_after(cb, model, hooks)


def test_each_test_batch_hands_the_collector_its_forward_call(tmp_path, data_folder, monkeypatch) -> None:
    model = TwiceForward(num_classes=3)
    loader = _loaders(3, float_targets=False)["test"]
    cb = ArcCheckpointCallback(root_name="flares/hooks", data_folder=data_folder, monitor="val_loss", mode="min")
    handed: list[tuple[int, torch.Tensor, torch.Tensor, Any]] = []
    update = cb._run.testing.collector.update

    def spy(outputs: Any, *args: Any, forward: Any = None, batch: Any = None, **kwargs: Any) -> None:
        handed.append((forward.calls, forward.output, forward.inputs, batch))
        update(outputs, *args, forward=forward, batch=batch, **kwargs)

    monkeypatch.setattr(cb._run.testing.collector, "update", spy)
    trainer = make_trainer(tmp_path, [cb], namespace="pytorch_lightning", limit_test_batches=None)
    trainer.test(model, dataloaders=loader)
    assert len(handed) == len(loader)
    for (calls, output, inputs, batch), (x, _) in zip(handed, loader, strict=True):
        assert calls == 2  # counted per batch, reset at each batch start
        assert torch.equal(inputs, x.flip(1))  # the last call's first positional argument
        assert torch.allclose(output, model(x.flip(1)))  # the last call's output
        assert not output.requires_grad
        assert torch.equal(batch[0], x)
