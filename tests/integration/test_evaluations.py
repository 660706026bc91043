"""Every ``trainer.test`` is kept as an evaluation; one of them is the run's headline; one report per dataloader.

The scripts below are shaped like a researcher's: a LightningModule that logs ``test_f1`` per batch with
torchmetrics' functional F1 and returns its logits and labels, a datamodule, ``trainer.test(ckpt_path="best")``, then
weeks later a new script with a new Trainer and a new callback that tests the run's best checkpoint on a harder set.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from conftest import read_json
from sklearn.metrics import confusion_matrix
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.functional.classification import multiclass_f1_score

from arccnet_ckpt import ArcCheckpointCallback, ArcCkptWarning, load_run
from arccnet_ckpt.cli import main
from arccnet_ckpt.core.recorder import FitSnapshot, RunIdentity, RunRecorder
from arccnet_ckpt.records.reader import read_record
from arccnet_ckpt.report.html import render_html

# ---------------------------------------------------------------------------------------------- a user's script


def flares(n: int, seed: int, *, noise: float = 0.0) -> TensorDataset:
    """Cut-out features whose class is the sign of the first one; ``noise``: the share of labels drawn at random."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=gen)
    y = (x[:, 0] > 0).long()
    noisy = torch.rand(n, generator=gen) < noise
    y[noisy] = torch.randint(0, 2, (int(noisy.sum()),), generator=gen)
    return TensorDataset(x, y)


class FlareNet(pl.LightningModule):
    def __init__(self, lr: float = 0.5) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Linear(8, 2)
        self.loss_fn = nn.CrossEntropyLoss()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return self.loss_fn(self.net(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_f1", multiclass_f1_score(self.net(x), y, num_classes=2, average="macro"))

    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, torch.Tensor]:
        x, y = batch
        logits = self.net(x)
        self.log("test_f1", multiclass_f1_score(logits, y, num_classes=2, average="macro"))
        return {"logits": logits, "target": y}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class FlareData(pl.LightningDataModule):
    def train_dataloader(self) -> DataLoader:
        return DataLoader(flares(256, 0), batch_size=32, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(flares(64, 1), batch_size=32)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(flares(96, 2), batch_size=32)


def hard_loader() -> DataLoader:
    return DataLoader(flares(64, 3, noise=0.9), batch_size=32)


def trainer_for(tmp_path: Path, callback: ArcCheckpointCallback, **kwargs: Any) -> pl.Trainer:
    settings: dict[str, Any] = {
        "default_root_dir": tmp_path,
        "max_epochs": 3,
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "accelerator": "cpu",
        "devices": 1,
    }
    return pl.Trainer(callbacks=[callback], **{**settings, **kwargs})


def callback(data_folder: Path, **kwargs: Any) -> ArcCheckpointCallback:
    return ArcCheckpointCallback(root_name="flares/binary_classification", data_folder=data_folder, **kwargs)


def fitted(
    tmp_path: Path,
    data_folder: Path,
    model_class: type[FlareNet] = FlareNet,
    data: pl.LightningDataModule | None = None,
    **kwargs: Any,
) -> tuple[ArcCheckpointCallback, FlareNet, pl.Trainer]:
    """A seeded fit of a new ``model_class`` on ``data`` (``FlareData`` by default): (its callback, the model, the
    trainer, to test with)."""
    pl.seed_everything(0)
    cb, model = callback(data_folder), model_class()
    trainer = trainer_for(tmp_path, cb, **kwargs)
    trainer.fit(model, datamodule=data or FlareData())
    return cb, model, trainer


@pytest.fixture
def trained(tmp_path: Path, data_folder: Path) -> tuple[Path, str, FlareNet]:
    """A fit, and its best checkpoint tested on the datamodule's own test set: (run folder, best path, model)."""
    cb, model, trainer = fitted(tmp_path, data_folder)
    trainer.test(model, datamodule=FlareData(), ckpt_path="best")
    return Path(cb.run_dir), cb.best_model_path, model


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    return code, capsys.readouterr().out


# ------------------------------------------------------------------------------------- evaluations kept (point 1)


def test_a_test_only_trainer_on_a_harder_set_keeps_the_headline_and_adds_an_evaluation(
    tmp_path: Path, data_folder: Path, trained: tuple[Path, str, FlareNet]
) -> None:
    run, best_path, _ = trained
    headline = read_json(run / "training_summary.json")["test_results"]["test_f1"]
    assert headline > 0.9
    headline_report = read_json(run / "classification_report.json")
    headline_minimal = read_json(run / "minimal_logging.json")

    # Weeks later, another script: a new Trainer, a new callback, the run's best checkpoint on a harder set.
    model = FlareNet()
    trainer = trainer_for(tmp_path / "later", callback(data_folder))
    with pytest.warns(ArcCkptWarning, match=r"kept as evaluation 2 .*the headline .* stays evaluation 1"):
        trainer.test(model, dataloaders=hard_loader(), ckpt_path=best_path)

    summary = read_json(run / "training_summary.json")
    assert summary["test_results"]["test_f1"] == headline
    first, second = summary["evaluations"]
    relative = Path(best_path).name
    assert (first["number"], first["checkpoint"], first["headline"]) == (1, relative, True)
    assert (second["number"], second["checkpoint"], second["headline"]) == (2, relative, False)
    assert first["test_results"]["test_f1"] == headline
    assert second["test_results"]["test_f1"] < 0.75
    assert datetime.fromisoformat(first["tested_at"]) < datetime.fromisoformat(second["tested_at"])
    assert (first["num_samples"], second["num_samples"]) == (96, 64)
    hard_labels = flares(64, 3, noise=0.9).tensors[1]
    assert second["dataloaders"] == [
        {
            "index": 0,
            "name": None,
            "num_samples": 64,
            "class_counts": {"negative": int((hard_labels == 0).sum()), "positive": int((hard_labels == 1).sum())},
        }
    ]

    report = read_json(run / "classification_report.json")
    assert report["per_class"] == headline_report["per_class"]  # json.load(...)["per_class"]: the headline
    assert report["num_samples"] == 96
    assert report["test_metrics"]["test_f1"] == headline
    assert [e["number"] for e in report["evaluations"]] == [1, 2]
    hard = report["evaluations"][1]["dataloaders"][0]
    assert hard["num_samples"] == 64
    assert report["evaluations"][1]["test_metrics"]["test_f1"] == second["test_results"]["test_f1"]
    assert report["evaluations"][0]["dataloaders"][0]["per_class"] == headline_report["per_class"]
    with torch.no_grad():
        hard_x = flares(64, 3, noise=0.9).tensors[0]
        model_at_best = FlareNet.load_from_checkpoint(best_path)
        preds = model_at_best.net(hard_x).argmax(1)
    assert hard["confusion_matrix"] == confusion_matrix(hard_labels, preds, labels=[0, 1]).tolist()

    minimal = read_json(run / "minimal_logging.json")
    assert minimal["test_f1"] == headline_minimal["test_f1"] == headline
    page = (run / "report.html").read_text(encoding="utf-8")
    assert 'id="evaluations"' in page
    assert page.count('class="evaluation-row') == 2


def test_a_test_only_trainer_without_class_names_uses_the_names_the_run_recorded(
    tmp_path: Path, data_folder: Path
) -> None:
    pl.seed_everything(0)
    cb, model = callback(data_folder, class_names=["Quiet", "Flare"]), FlareNet()
    trainer = trainer_for(tmp_path, cb)
    trainer.fit(model, datamodule=FlareData())
    trainer.test(model, datamodule=FlareData(), ckpt_path="best")
    run = Path(cb.run_dir)

    # Weeks later: a new script whose callback names no classes tests the run's best checkpoint.
    later = trainer_for(tmp_path / "later", callback(data_folder))
    with pytest.warns(ArcCkptWarning, match=r"kept as evaluation 2"):
        later.test(FlareNet(), dataloaders=hard_loader(), ckpt_path=cb.best_model_path)

    report = read_json(run / "classification_report.json")
    second = report["evaluations"][1]["dataloaders"][0]
    assert second["class_names"] == list(second["per_class"]) == ["Quiet", "Flare"]
    counts = read_json(run / "training_summary.json")["evaluations"][1]["dataloaders"][0]["class_counts"]
    hard_labels = flares(64, 3, noise=0.9).tensors[1]
    assert counts == {"Quiet": int((hard_labels == 0).sum()), "Flare": int((hard_labels == 1).sum())}
    assert read_json(run / "config.json")["_arccnet"]["class_names"] == ["Quiet", "Flare"]


def test_a_second_trainer_test_on_the_same_trainer_is_kept_not_made_the_headline(
    tmp_path: Path, data_folder: Path
) -> None:
    cb, model, trainer = fitted(tmp_path, data_folder)
    trainer.test(model, datamodule=FlareData(), ckpt_path="best")
    with pytest.warns(ArcCkptWarning, match="kept as evaluation 2"):
        trainer.test(model, dataloaders=hard_loader(), ckpt_path="best")
    summary = read_json(Path(cb.run_dir) / "training_summary.json")
    assert [e["headline"] for e in summary["evaluations"]] == [True, False]
    assert summary["test_results"] == summary["evaluations"][0]["test_results"]
    assert summary["tested_checkpoint"] == summary["evaluations"][0]["checkpoint"]
    assert summary["test_results"]["test_f1"] > 0.9


def test_a_test_of_the_best_checkpoint_takes_the_headline_from_a_test_of_the_weights_in_memory(
    tmp_path: Path, data_folder: Path
) -> None:
    cb, model, trainer = fitted(tmp_path, data_folder)
    trainer.test(model, dataloaders=hard_loader())  # the weights of the last epoch, on the wrong set
    with pytest.warns(ArcCkptWarning, match=r"evaluation 2 .*is now the headline.*evaluation 1 .*weights in memory"):
        trainer.test(model, datamodule=FlareData(), ckpt_path="best")
    summary = read_json(Path(cb.run_dir) / "training_summary.json")
    assert [(e["checkpoint"], e["headline"]) for e in summary["evaluations"]] == [
        (None, False),
        (Path(cb.best_model_path).name, True),
    ]
    assert summary["test_results"] == summary["evaluations"][1]["test_results"]
    report = read_json(Path(cb.run_dir) / "classification_report.json")
    assert report["num_samples"] == 96
    assert read_json(Path(cb.run_dir) / "minimal_logging.json")["test_f1"] == summary["test_results"]["test_f1"]


def test_headline_test_always_makes_the_callbacks_tests_the_headline(
    tmp_path: Path, data_folder: Path, trained: tuple[Path, str, FlareNet]
) -> None:
    run, best_path, _ = trained
    trainer = trainer_for(tmp_path / "later", callback(data_folder, headline_test="always"))
    trainer.test(FlareNet(), dataloaders=hard_loader(), ckpt_path=best_path)
    summary = read_json(run / "training_summary.json")
    assert [e["headline"] for e in summary["evaluations"]] == [False, True]
    assert summary["test_results"] == summary["evaluations"][1]["test_results"]
    assert read_json(run / "classification_report.json")["num_samples"] == 64


def test_headline_test_is_checked_when_the_callback_is_built(data_folder: Path) -> None:
    with pytest.raises(ValueError, match=r"headline_test must be 'auto', 'always' or 'never', got 'first'"):
        callback(data_folder, headline_test="first")


def test_show_and_the_report_list_every_evaluation(
    tmp_path: Path, data_folder: Path, trained: tuple[Path, str, FlareNet], capsys: pytest.CaptureFixture[str]
) -> None:
    run, best_path, _ = trained
    with pytest.warns(ArcCkptWarning):
        trainer_for(tmp_path / "later", callback(data_folder)).test(
            FlareNet(), dataloaders=hard_loader(), ckpt_path=best_path
        )
    code, out = cli(capsys, "show", run)
    assert code == 0
    lines = out.splitlines()
    start = lines.index("evaluations")
    header, *rows = (re.split(r"\s{2,}", line.strip()) for line in lines[start + 1 : start + 4])
    assert header == ["#", "TESTED", "CHECKPOINT", "DATALOADER", "SAMPLES", "test_f1"]
    summary = read_json(run / "training_summary.json")
    expected = [["1*", Path(best_path).name, "0", "96"], ["2", Path(best_path).name, "0", "64"]]
    assert [[row[0], *row[2:5]] for row in rows] == expected
    for row, evaluation in zip(rows, summary["evaluations"], strict=True):
        assert row[5] == f"{evaluation['test_results']['test_f1']:.4g}"
    assert lines[start + 4] == "* the headline: test_results and the per-class report above"
    assert "evaluation 2, dataloader 0: confusion matrix (rows: true class, columns: predicted)" in out

    page = render_html([load_run(run)])
    assert page.count('class="evaluation-row') == 2
    assert "headline" in page


def test_a_run_tested_before_evaluations_existed_keeps_its_test_as_the_first_evaluation(tmp_path: Path) -> None:
    t0 = datetime(2025, 2, 12, 14, 30, tzinfo=timezone.utc)
    identity = RunIdentity(str(tmp_path), "run", "net", "ce", t0)
    recorder = RunRecorder(identity, read=read_record)
    recorder.start(FitSnapshot(monitor="val_f1", mode="max"), now=t0)
    done = FitSnapshot(monitor="val_f1", mode="max", best_epoch=2, best_model_path="best.ckpt", num_epochs_trained=3)
    recorder.finish(done, now=t0 + timedelta(minutes=5))
    # What the previous version wrote: test_results and tested_checkpoint, no evaluations.
    path = tmp_path / "training_summary.json"
    old = json.loads(path.read_text())
    old.update(test_results={"test_f1": 0.92}, tested_checkpoint="best.ckpt")
    path.write_text(json.dumps(old))
    with pytest.warns(ArcCkptWarning, match="kept as evaluation 2"):
        recorder.record_test({"test_f1": 0.22}, checkpoint="best.ckpt", now=t0 + timedelta(days=30))
    summary = read_json(path)
    assert summary["test_results"] == {"test_f1": 0.92}
    assert [(e["number"], e["headline"], e["test_results"]) for e in summary["evaluations"]] == [
        (1, True, {"test_f1": 0.92}),
        (2, False, {"test_f1": 0.22}),
    ]


@pytest.mark.parametrize(
    ("headline", "checkpoint", "choice", "expected"),
    [
        (None, "other.ckpt", "auto", True),  # the run's first test is the headline, whatever it tested
        ({"checkpoint": "best.ckpt"}, "best.ckpt", "auto", False),  # the best checkpoint, tested again
        ({"checkpoint": None}, "best.ckpt", "auto", True),  # the best checkpoint after the weights in memory
        ({"checkpoint": "old-best.ckpt"}, "best.ckpt", "auto", True),  # a resumed fit found a new best
        ({"checkpoint": None}, "last.ckpt", "auto", False),  # not the best checkpoint
        ({"checkpoint": "best.ckpt"}, "last.ckpt", "always", True),
        (None, "best.ckpt", "never", False),
    ],
)
def test_choose_headline(headline: dict[str, Any] | None, checkpoint: str, choice: str, expected: bool) -> None:
    from arccnet_ckpt.core.recorder import choose_headline

    evaluations = [] if headline is None else [{"number": 1, "headline": True, **headline}]
    assert choose_headline(evaluations, checkpoint, best_model_path="best.ckpt", choice=choice) is expected


# ------------------------------------------------------------------------ one report per test dataloader (point 2)


def _predictions(model: FlareNet, data: TensorDataset) -> tuple[list[int], list[int]]:
    x, y = data.tensors
    with torch.no_grad():
        return y.tolist(), model.net(x).argmax(1).tolist()


def test_two_test_dataloaders_get_one_report_each_never_pooled(tmp_path: Path, data_folder: Path) -> None:
    cb, model, trainer = fitted(tmp_path, data_folder)
    trainer.test(model, dataloaders=[DataLoader(flares(96, 2), batch_size=32), hard_loader()])

    report = read_json(Path(cb.run_dir) / "classification_report.json")
    assert [(d["index"], d["name"], d["num_samples"]) for d in report["dataloaders"]] == [(0, None, 96), (1, None, 64)]
    for loader, data in zip(report["dataloaders"], (flares(96, 2), flares(64, 3, noise=0.9)), strict=True):
        y_true, y_pred = _predictions(model, data)
        assert loader["confusion_matrix"] == confusion_matrix(y_true, y_pred, labels=[0, 1]).tolist()
        assert set(loader["test_metrics"]) == {f"test_f1/dataloader_idx_{loader['index']}"}
    # The top level never pools the two: no 160-sample matrix, and a note that says where the reports are.
    assert report["per_class"] is None
    assert report["confusion_matrix"] is None
    assert report["num_samples"] is None
    assert report["per_class_note"] == "2 test dataloaders, one report each: see dataloaders (0, 1)"
    evaluation = read_json(Path(cb.run_dir) / "training_summary.json")["evaluations"][0]
    assert [d["num_samples"] for d in evaluation["dataloaders"]] == [96, 64]
    assert evaluation["num_samples"] == 160


class TwoRegions(FlareData):
    def test_dataloader(self) -> dict[str, DataLoader]:
        return {"quiet_sun": DataLoader(flares(96, 2), batch_size=32), "active": hard_loader()}


def test_a_datamodules_named_test_dataloaders_name_their_reports(
    tmp_path: Path, data_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cb, model, trainer = fitted(tmp_path, data_folder, data=TwoRegions())
    trainer.test(model, datamodule=TwoRegions(), ckpt_path="best")

    run = Path(cb.run_dir)
    report = read_json(run / "classification_report.json")
    assert [(d["index"], d["name"], d["num_samples"]) for d in report["dataloaders"]] == [
        (0, "quiet_sun", 96),
        (1, "active", 64),
    ]
    assert report["per_class_note"] == "2 test dataloaders, one report each: see dataloaders (quiet_sun, active)"
    summary = read_json(run / "training_summary.json")
    assert [d["name"] for d in summary["evaluations"][0]["dataloaders"]] == ["quiet_sun", "active"]

    code, out = cli(capsys, "show", run)
    assert code == 0
    assert "evaluation 1, dataloader 0 (quiet_sun): confusion matrix (rows: true class, columns: predicted)" in out
    assert "evaluation 1, dataloader 1 (active): confusion matrix (rows: true class, columns: predicted)" in out
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "dataloader 0 (quiet_sun)" in page
    assert "dataloader 1 (active)" in page
    assert page.count('class="cm"') == 2


# ---------------------------------------------------------------------------- binary labels, one set (point 9)


class OneScore(FlareNet):
    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, torch.Tensor]:
        x, y = batch
        probs = self.net(x).softmax(1)[:, 1]
        self.log("test_auc_proxy", probs.mean())
        return {"probs": probs, "target": y}


@pytest.fixture
def binary_run(tmp_path: Path, data_folder: Path) -> Path:
    """A one-epoch fit of a model whose test_step returns one score per sample, tested in memory: its run folder."""
    cb, model, trainer = fitted(tmp_path, data_folder, OneScore, max_epochs=1)
    trainer.test(model, datamodule=FlareData())
    return Path(cb.run_dir)


def test_binary_class_names_are_the_same_in_the_table_the_matrix_and_the_page(
    binary_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = read_json(binary_run / "classification_report.json")
    assert report["class_names"] == list(report["per_class"]) == ["negative", "positive"]

    code, out = cli(capsys, "show", binary_run)
    assert code == 0
    lines = out.splitlines()
    start = lines.index("confusion matrix (rows: true class, columns: predicted)")
    assert lines[start + 1].split() == ["TRUE", "\\", "PRED", "negative", "positive", "TOTAL"]
    assert [lines[start + 2].split()[0], lines[start + 3].split()[0]] == ["negative", "positive"]
    # the per-class table: name, precision, recall, f1, support, then ROC AUC, AP, TSS, HSS (the scores are there)
    assert any(line.split()[:1] == ["negative"] and len(line.split()) == 9 for line in lines[:start])

    page = (binary_run / "report.html").read_text(encoding="utf-8")
    assert "true negative, predicted positive" in page
    assert ">0</text>" not in page.split('class="cm"')[1].split("Predicted")[0]  # no numeric axis label


def test_show_names_the_matrix_of_a_binary_run_written_before_the_names_were_kept(
    binary_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = binary_run / "classification_report.json"
    old = read_json(path)
    old["class_names"] = None  # what earlier versions wrote for a binary run without names
    path.write_text(json.dumps(old))
    code, out = cli(capsys, "show", binary_run)
    assert code == 0
    lines = out.splitlines()
    start = lines.index("confusion matrix (rows: true class, columns: predicted)")
    assert lines[start + 1].split() == ["TRUE", "\\", "PRED", "negative", "positive", "TOTAL"]
