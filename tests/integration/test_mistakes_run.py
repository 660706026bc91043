"""The most confident mistakes of a real test, with thumbnails, zero-code: a cutout classifier shaped like the users'.

Their Hale-class module returns ``{"loss", "preds": argmax labels, "targets"}`` from ``test_step`` and takes
``(N, 1, H, W)`` magnetogram cutouts. The reference is a heap over the best checkpoint's own softmax on the test
loader, computed by the test.
"""

from __future__ import annotations

import heapq
import io
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import make_trainer, read_json
from cutouts import HALE, HaleCutoutModel, cutouts
from PIL import Image
from torch.utils.data import DataLoader

from arccnet_ckpt.pytorch_lightning import ArcCheckpointCallback


def _run(tmp_path: Path, data_folder: Path, **options: Any) -> tuple[ArcCheckpointCallback, DataLoader]:
    cb = ArcCheckpointCallback(
        root_name="cutouts/hale", data_folder=data_folder, class_names=HALE, monitor="val_loss", mode="min", **options
    )
    trainer = make_trainer(
        tmp_path, [cb], namespace="pytorch_lightning",
        max_epochs=2, limit_train_batches=None, limit_val_batches=None, limit_test_batches=None,
    )  # fmt: skip
    test = cutouts(120, seed=3)
    trainer.fit(HaleCutoutModel(), train_dataloaders=cutouts(96, seed=1), val_dataloaders=cutouts(32, seed=2))
    trainer.test(ckpt_path="best", dataloaders=test)
    return cb, test


def _reference_mistakes(cb: ArcCheckpointCallback, loader: DataLoader, k: int) -> list[tuple[float, int, int, int]]:
    """(confidence, index, target, predicted) of the k most confident mistakes, by a heap over the best model."""
    best = HaleCutoutModel.load_from_checkpoint(cb.best_model_path).eval()
    with torch.no_grad():
        probs = torch.cat([best(x).softmax(dim=1) for x, _ in loader])
    targets = torch.cat([y for _, y in loader])
    confidence, predicted = probs.max(dim=1)
    wrong = [
        (float(confidence[i]), -i, int(targets[i]), int(predicted[i]))
        for i in range(len(targets))
        if predicted[i] != targets[i]
    ]
    return [(c, -negative, t, p) for c, negative, t, p in heapq.nlargest(k, wrong)]


def test_a_cutout_run_lists_its_most_confident_mistakes_with_thumbnails(tmp_path, data_folder) -> None:
    cb, test = _run(tmp_path, data_folder)
    run_dir = Path(cb.run_dir)
    report = read_json(run_dir / "classification_report.json")
    assert report["predictions"]["source"] == "forward"
    assert report["predictions"]["labels"] == "outputs"  # the labels test_step returned, scores from forward
    expected = _reference_mistakes(cb, test, 10)
    assert len(expected) == 10
    got = report["mistakes"]
    assert [(m["index"], m["target"], m["predicted"]) for m in got] == [
        (index, HALE[target], HALE[predicted]) for _, index, target, predicted in expected
    ]
    assert [m["confidence"] for m in got] == pytest.approx([c for c, *_ in expected], abs=1e-5)
    assert report["mistakes_note"] is None
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    for rank, mistake in enumerate(got, start=1):
        assert mistake["thumbnail"] == f"mistakes/test1-{rank:02d}.png"
        png = (run_dir / mistake["thumbnail"]).read_bytes()
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG"
            assert image.mode == "L"
            assert max(image.size) <= 96
        assert "data:image/png;base64," in page
    # the summary's evaluation knows its thumbnails' report; the folder holds just these ten
    assert sorted(p.name for p in (run_dir / "mistakes").iterdir()) == [f"test1-{r:02d}.png" for r in range(1, 11)]


def test_a_second_test_keeps_the_first_tests_thumbnails(tmp_path, data_folder) -> None:
    cb, test = _run(tmp_path, data_folder, mistakes=3)
    trainer = make_trainer(tmp_path, [cb], namespace="pytorch_lightning", limit_test_batches=None)
    with pytest.warns(UserWarning, match="kept as evaluation 2"):
        trainer.test(HaleCutoutModel.load_from_checkpoint(cb.best_model_path), dataloaders=test)
    run_dir = Path(cb.run_dir)
    names = sorted(p.name for p in (run_dir / "mistakes").iterdir())
    assert names == [*(f"test1-{r:02d}.png" for r in (1, 2, 3)), *(f"test2-{r:02d}.png" for r in (1, 2, 3))]
    report = read_json(run_dir / "classification_report.json")
    second = report["evaluations"][1]["dataloaders"][0]["mistakes"]
    assert [m["thumbnail"] for m in second] == [f"mistakes/test2-{r:02d}.png" for r in (1, 2, 3)]
    assert [m["thumbnail"] for m in report["mistakes"]] == [f"mistakes/test1-{r:02d}.png" for r in (1, 2, 3)]


def test_mistakes_zero_turns_the_list_off(tmp_path, data_folder) -> None:
    cb, _ = _run(tmp_path, data_folder, mistakes=0)
    report = read_json(Path(cb.run_dir) / "classification_report.json")
    assert report["mistakes"] is None
    assert report["mistakes_note"] is None
    assert not (Path(cb.run_dir) / "mistakes").exists()
    assert report["roc_auc"]["macro"] is not None  # the rest of the report is there


@pytest.mark.parametrize("bad", [-1, 2.5, "10", True])
def test_a_bad_mistakes_value_is_refused_at_construction(bad) -> None:
    with pytest.raises(ValueError, match=r"mistakes must be a whole number >= 0 .*got"):
        ArcCheckpointCallback(root_name="r", mistakes=bad)
