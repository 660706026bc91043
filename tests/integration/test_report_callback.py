"""The per-class report the callback writes at test end, checked against scikit-learn on the same predictions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from conftest import ScriptedClassifier, TinyData, make_trainer, read_json
from sklearn.metrics import classification_report, confusion_matrix

from arccnet_ckpt import ArcCheckpointCallback, ArcCkptWarning, ClassificationReport


def _all_test_predictions(model: ScriptedClassifier, dm: TinyData) -> tuple[list[int], list[int]]:
    xs, ys = zip(*dm.test_dataloader(), strict=True)
    with torch.no_grad():
        preds = model.layer(torch.cat(xs)).argmax(1)
    return preds.tolist(), torch.cat(ys).tolist()


def test_multiclass_report_equals_scikit_learn(tmp_path: Path, data_folder: Path) -> None:
    names = ["Quiet", "C", "M_X"]
    cb = ArcCheckpointCallback(root_name="flares/multiclass", data_folder=data_folder, class_names=names)
    model, dm = ScriptedClassifier(), TinyData()
    trainer = make_trainer(tmp_path, [cb], max_epochs=2, limit_test_batches=None)
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm)

    report = ClassificationReport.model_validate(read_json(Path(cb.run_dir) / "classification_report.json"))
    y_pred, y_true = _all_test_predictions(model, dm)
    expected = classification_report(
        y_true, y_pred, labels=[0, 1, 2], target_names=names, output_dict=True, zero_division=0
    )
    assert report.class_names == names
    assert report.num_samples == len(y_true) == 24
    assert report.confusion_matrix == confusion_matrix(y_true, y_pred, labels=[0, 1, 2]).tolist()
    for name in names:
        got = report.per_class[name]
        want = expected[name]
        assert (got.precision, got.recall, got.f1) == pytest.approx(
            (want["precision"], want["recall"], want["f1-score"]), abs=1e-9
        )
        assert got.support == want["support"]
    assert report.accuracy == pytest.approx(expected["accuracy"], abs=1e-9)
    assert report.macro_avg.f1 == pytest.approx(expected["macro avg"]["f1-score"], abs=1e-9)
    assert report.weighted_avg.recall == pytest.approx(expected["weighted avg"]["recall"], abs=1e-9)
    assert report.per_class_note is None


class BinaryProbs(ScriptedClassifier):
    def __init__(self, **kwargs):
        super().__init__(num_classes=2, **kwargs)

    def test_step(self, batch, batch_idx):
        x, y = batch
        probs = self.layer(x).softmax(1)[:, 1]
        self.log("test_score", probs.mean())
        return {"probs": probs, "targets": y.float()}


def test_binary_probabilities_use_a_threshold_and_default_names(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="flares/binary_classification", data_folder=data_folder, threshold=0.5)
    model, dm = BinaryProbs(), TinyData(num_classes=2)
    trainer = make_trainer(tmp_path, [cb], max_epochs=1, limit_test_batches=None)
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm)
    report = read_json(Path(cb.run_dir) / "classification_report.json")
    xs, ys = zip(*dm.test_dataloader(), strict=True)
    with torch.no_grad():
        y_pred = (model.layer(torch.cat(xs)).softmax(1)[:, 1] > 0.5).long().tolist()
    y_true = torch.cat(ys).tolist()
    assert report["class_names"] == list(report["per_class"]) == ["negative", "positive"]  # binary, no names given
    assert report["confusion_matrix"] == confusion_matrix(y_true, y_pred, labels=[0, 1]).tolist()


class ArgmaxLabels(ScriptedClassifier):
    """A binary model whose ``test_step`` returns argmax labels, with the targets under ``targets``."""

    def test_step(self, batch, batch_idx):
        x, y = batch
        logits = self.layer(x)
        self.log("test_loss", self.loss_fn(logits, y))
        return {"preds": logits.argmax(1), "targets": y}


class OneScore(ScriptedClassifier):
    """The same model returning one logit difference per sample."""

    def test_step(self, batch, batch_idx):
        x, y = batch
        logits = self.layer(x)
        self.log("test_loss", self.loss_fn(logits, y))
        return {"logits": logits[:, 1] - logits[:, 0], "targets": y}


@pytest.mark.parametrize("model_class", [ArgmaxLabels, OneScore, ScriptedClassifier])
def test_an_unnamed_two_class_run_is_negative_positive_whatever_test_step_returns(
    tmp_path, data_folder, model_class
) -> None:
    cb = ArcCheckpointCallback(root_name="flares/binary", data_folder=data_folder, monitor="val_loss", mode="min")
    model, dm = model_class(num_classes=2), TinyData(num_classes=2)
    trainer = make_trainer(tmp_path, [cb], max_epochs=2)
    trainer.fit(model, datamodule=dm)
    trainer.test(ckpt_path="best", datamodule=dm)
    report = read_json(Path(cb.run_dir) / "classification_report.json")
    assert report["class_names"] == list(report["per_class"]) == ["negative", "positive"]
    (evaluation,) = read_json(Path(cb.run_dir) / "training_summary.json")["evaluations"]
    assert set(evaluation["dataloaders"][0]["class_counts"]) == {"negative", "positive"}


class ReturnsLossOnly(ScriptedClassifier):
    def test_step(self, batch, batch_idx):
        x, y = batch
        loss = self.loss_fn(self.layer(x), y)
        self.log("test_loss", loss)
        return loss


def test_unusable_test_step_output_keeps_metrics_and_says_why(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder)
    model = ReturnsLossOnly()
    trainer = make_trainer(tmp_path, [cb], max_epochs=1)
    trainer.fit(model, datamodule=TinyData())
    trainer.test(model, datamodule=TinyData())
    report = read_json(Path(cb.run_dir) / "classification_report.json")
    assert report["per_class"] is None
    assert report["confusion_matrix"] is None
    assert set(report["test_metrics"]) == {"test_loss"}
    assert report["per_class_note"].startswith("no per-class report: test_step returned a Tensor")


class FourthClassLabels(ScriptedClassifier):
    def test_step(self, batch, batch_idx):
        x, y = batch
        return {"preds": torch.full_like(y, 3), "target": y}


def test_a_label_outside_the_class_names_leaves_a_clear_reason_and_the_test_goes_on(tmp_path, data_folder) -> None:
    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, class_names=["Quiet", "C", "M_X"])
    model = FourthClassLabels()
    trainer = make_trainer(tmp_path, [cb], max_epochs=1)
    trainer.fit(model, datamodule=TinyData())
    message = r"prediction label 3 is outside the allowed range\(0, 3\).*3 names"
    with pytest.warns(ArcCkptWarning, match=message):
        results = trainer.test(model, datamodule=TinyData())
    assert results  # the test finished and returned its metrics
    report = read_json(Path(cb.run_dir) / "classification_report.json")
    assert report["per_class"] is None
    assert re.match(
        r"^no per-class report: test_step output: prediction label 3 is outside the allowed range\(0, 3\); 24 of 24 "
        r"prediction labels are outside it .*pass the full list of class names to ArcCheckpointCallback",
        report["per_class_note"],
    )


def test_custom_keys_are_configurable(tmp_path, data_folder) -> None:
    class CustomKeys(ScriptedClassifier):
        def test_step(self, batch, batch_idx):
            x, y = batch
            return {"scores": self.layer(x), "labels": y}

    cb = ArcCheckpointCallback(root_name="r", data_folder=data_folder, preds_key="scores", target_key="labels")
    model = CustomKeys()
    trainer = make_trainer(tmp_path, [cb], max_epochs=1)
    trainer.fit(model, datamodule=TinyData())
    trainer.test(model, datamodule=TinyData())
    report = read_json(Path(cb.run_dir) / "classification_report.json")
    assert report["num_samples"] == 24
    assert list(report["per_class"]) == ["0", "1", "2"]
