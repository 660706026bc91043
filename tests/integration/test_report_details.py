"""The single-run ``report.html`` says what is true: a dead run is stale, missing history is explained by what
happened, curves of one epoch and of ``on_step=True, on_epoch=True`` logging read right, the best-epoch marker is not
mistaken for a series, early stopping is described as it was configured; and the binary example's printout agrees
with Lightning's own message."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import ScriptedClassifier, TinyData, make_trainer
from lightning.pytorch.callbacks import EarlyStopping

from arccnet_ckpt import ArcCheckpointCallback, History, load_run
from arccnet_ckpt.report.html import render_html
from arccnet_ckpt.report.svg import PALETTE as _PALETTE
from arccnet_ckpt.runs import Run

TESTS = Path(__file__).parents[1]
ROOT = TESTS.parent
EXAMPLES = ROOT / "examples"
pytestmark = pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")

_KILLED_SCRIPT = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from conftest import ScriptedClassifier, TinyData, make_trainer
from lightning.pytorch.callbacks import Callback
from arccnet_ckpt import ArcCheckpointCallback

class KillAtEpoch2(Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer or scancel --signal=KILL does

checkpoint = ArcCheckpointCallback(root_name="flares/multiclass", data_folder=sys.argv[1])
trainer = make_trainer(Path(sys.argv[2]), [checkpoint, KillAtEpoch2()], max_epochs=5)
trainer.fit(ScriptedClassifier(num_classes=3), datamodule=TinyData(num_classes=3))
"""


# ------------------------------------------------------------------------------------------------ reading a page


def section(text: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', text, re.S)
    assert match, f"no section {section_id!r}"
    return match.group(1)


def plain(fragment: str) -> str:
    """The text of an HTML fragment, tags dropped and entities decoded, whitespace collapsed."""
    import html

    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def badge(text: str) -> str:
    match = re.search(r'<h1>.*?<span class="badge ([a-z]+)">([a-z]+)</span></h1>', text, re.S)
    assert match, "no status badge in the header"
    assert match.group(1) == match.group(2)
    return match.group(2)


def card(text: str, label: str) -> tuple[str, str]:
    """(value, detail) of a headline card, as text."""
    pattern = (
        rf'<div class="card"><div class="label">{re.escape(label)}</div><div class="value">(.*?)</div>'
        r'(?:<div class="detail">(.*?)</div>)?</div>'
    )
    match = re.search(pattern, text, re.S)
    assert match, f"no card {label!r}"
    return plain(match.group(1)), plain(match.group(2) or "")


def figures(text: str) -> dict[str, str]:
    return dict(re.findall(r'<figure class="chart"><figcaption>(.*?)</figcaption>(.*?)</figure>', text, re.S))


def series_titles(figure: str) -> list[str]:
    return re.findall(r"<polyline [^>]*><title>(.*?)</title></polyline>", figure)


def tick_labels(figure: str) -> tuple[list[float], list[float]]:
    """(x ticks, y ticks) of a chart: y labels are right-aligned at the left axis, x labels centred under it."""
    y = [float(v) for v in re.findall(r'<text [^>]*text-anchor="end" fill="#5f6368">([^<]+)</text>', figure)]
    x = [float(v) for v in re.findall(r'<text [^>]*text-anchor="middle" fill="#5f6368">([^<]+)</text>', figure)]
    return x, y


# --------------------------------------------------------------------------------------------------------- runs


class StepAndEpochLogger(ScriptedClassifier):  # type: ignore[misc,valid-type]
    """Logs its training loss as many scripts do: ``on_step=True, on_epoch=True``."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self.layer(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss


@dataclass
class Fits:
    without_early_stopping: Run
    one_epoch: Run
    failed_at_first_step: Run
    stopped_at_the_last_epoch: Run
    stopped_early: Run


def _fit(base: Path, name: str, model: Any, callbacks: list[Any], **trainer_kwargs: Any) -> Run:
    checkpoint = ArcCheckpointCallback(root_name="flares/multiclass", data_folder=base / "data")
    trainer = make_trainer(base / name, [checkpoint, *callbacks], **trainer_kwargs)
    trainer.fit(model, datamodule=TinyData(num_classes=3))
    assert checkpoint.run_dir is not None
    return load_run(checkpoint.run_dir)


@pytest.fixture(scope="module")
def fits(tmp_path_factory: pytest.TempPathFactory) -> Fits:
    base = tmp_path_factory.mktemp("details")
    without = _fit(base, "a", StepAndEpochLogger(num_classes=3), [], max_epochs=3)
    one_epoch = _fit(base, "b", ScriptedClassifier(num_classes=3), [EarlyStopping("val_f1", mode="max")], max_epochs=1)
    failed_cb = ArcCheckpointCallback(root_name="flares/multiclass", data_folder=base / "data")
    with pytest.raises(RuntimeError, match="boom in training_step"):
        make_trainer(base / "c", [failed_cb, EarlyStopping("val_f1", mode="max")]).fit(
            ScriptedClassifier(num_classes=3, fail_at_step=0), datamodule=TinyData(num_classes=3)
        )
    assert failed_cb.run_dir is not None
    # Best at epoch 0, patience 2: EarlyStopping runs out of patience at epoch 2, the last of max_epochs=3 (at_last)
    # and before the end of max_epochs=6 (early).
    at_last, early = (
        _fit(
            base,
            name,
            ScriptedClassifier(num_classes=3, val_scores=(0.9, 0.5, 0.5)),
            [EarlyStopping("val_f1", mode="max", patience=2)],
            max_epochs=max_epochs,
        )
        for name, max_epochs in (("d", 3), ("e", 6))
    )
    return Fits(without, one_epoch, load_run(failed_cb.run_dir), at_last, early)


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A fit SIGKILLed at the start of its third epoch: its summary still says ``running``."""
    base = tmp_path_factory.mktemp("killed")
    script = base / "train.py"
    script.write_text(_KILLED_SCRIPT.format(tests=str(TESTS)), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(base / "data"), str(base / "root")],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == -9, done.stdout[-2000:] + done.stderr[-2000:]
    (run_dir,) = (base / "data" / "checkpoints" / "flares" / "multiclass").iterdir()
    run = load_run(run_dir)
    assert run.summary is not None
    assert run.summary.status == "running"
    return run


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "arccnet_ckpt", *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


# ---------------------------------------------------------------------------------------------- point 10: stale


def test_a_sigkilled_run_is_stale_on_its_report_as_in_ls(killed: Run) -> None:
    summary = killed.summary
    assert summary is not None
    assert summary.updated_at is not None
    # Past --stale-after 1s and past three of its epochs (the whole fit so far, three times, is more than that).
    silent = 3 * (summary.updated_at - summary.start_time) + timedelta(seconds=1.5)
    time.sleep(max(0.0, (summary.updated_at + silent - datetime.now(timezone.utc)).total_seconds()))
    listed = json.loads(_cli("ls", str(Path(killed.path).parents[2]), "--stale-after", "1s", "--format", "json").stdout)
    (record,) = listed["runs"]
    assert record["stale"] is True

    _cli("report", killed.path, "--stale-after", "1s")
    text = (Path(killed.path) / "report.html").read_text(encoding="utf-8")
    assert badge(text) == "stale"
    note = plain(re.search(r'<p class="stale-note">(.*?)</p>', text, re.S).group(1))  # type: ignore[union-attr]
    beat = summary.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert re.search(rf"last heartbeat was {re.escape(beat)}, \d+ s ago", note), note
    facts = plain(re.search(r'<dl class="facts">(.*?)</dl>', text, re.S).group(1))  # type: ignore[union-attr]
    assert f"Last heartbeat {beat}," in facts


def test_the_page_says_stale_by_the_same_rule_as_ls_and_when_the_heartbeat_stopped(killed: Run) -> None:
    summary = killed.summary
    assert summary is not None
    assert summary.updated_at is not None
    beat = summary.updated_at
    later = render_html([killed], now=beat + timedelta(hours=3, minutes=2))  # the default --stale-after is 1h
    assert badge(later) == "stale"
    assert f"last heartbeat was {beat:%Y-%m-%d %H:%M:%S} UTC, 3 h 2 min ago" in plain(later)
    soon = render_html([killed], now=beat + timedelta(minutes=10))  # within the hour: it may be alive
    assert badge(soon) == "running"
    assert '<p class="stale-note">' not in soon
    assert f"Last heartbeat {beat:%Y-%m-%d %H:%M:%S} UTC, 10 min ago" in plain(soon)
    # --stale-after is honoured as in ls.
    assert badge(render_html([killed], now=beat + timedelta(minutes=10), stale_after=timedelta(minutes=5))) == "stale"


# ---------------------------------------------------------------------------------------- point 11: the details


def test_missing_history_is_explained_by_what_happened(fits: Fits, tmp_path: Path) -> None:
    failed = render_html([fits.failed_at_first_step])
    curves = plain(section(failed, "curves"))
    assert curves == (
        "Training curves Not recorded: the run failed before its first validation (history.json is written at each "
        "validation)."
    )
    assert "old system" not in failed

    copy = tmp_path / fits.one_epoch.name
    shutil.copytree(fits.one_epoch.path, copy)
    (copy / History.filename).unlink()
    curves = plain(section(render_html([load_run(copy)]), "curves"))
    assert curves == "Training curves Not recorded: history.json is missing from the run folder."


def test_a_one_epoch_curve_is_drawn_on_an_axis_around_its_value(fits: Fits) -> None:
    history = fits.one_epoch.history
    assert history is not None
    assert len(history.entries) == 1
    charts = figures(render_html([fits.one_epoch]))
    for name in ("Loss", "Scores", "Learning rate"):
        x, y = tick_labels(charts[name])
        assert x == [0.0], (name, x)  # one tick: epoch 0
        assert min(y) >= 0, (name, y)  # no axis from -1 to 1
        frame = re.search(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', charts[name])
        assert frame is not None
        left, width = float(frame.group(1)), float(frame.group(2))
        (cx,) = {float(v) for v in re.findall(r'<circle cx="([\d.]+)"', charts[name])}
        assert cx == pytest.approx(left + width / 2, abs=0.1), name  # the point in the middle, not on the frame
    val_loss = history.series("val_loss")[0][1]
    x, y = tick_labels(charts["Loss"])
    assert min(y) < val_loss < max(y)
    assert max(y) - min(y) <= val_loss  # zoomed around the value, not 0..1 nor -1..1
    val_f1 = history.series("val_f1")[0][1]
    x, y = tick_labels(charts["Scores"])
    assert min(y) < val_f1 < max(y)
    assert max(y) - min(y) <= val_f1


def test_the_best_epoch_marker_looks_like_no_series(fits: Fits) -> None:
    for figure in figures(render_html([fits.stopped_early])).values():
        markers = dict(re.findall(r'<line class="marker" ([^>]*)><title>(.*?)</title></line>', figure))
        assert sorted(markers.values()) == ["best epoch (0)", "early stop (epoch 2)"]
        series = re.findall(r"<polyline ([^>]*)>", figure)
        assert series
        series_strokes = {re.search(r'stroke="([^"]+)"', s).group(1) for s in series}  # type: ignore[union-attr]
        for marker in markers:
            stroke = re.search(r'stroke="([^"]+)"', marker).group(1)  # type: ignore[union-attr]
            assert stroke not in series_strokes
            assert stroke not in _PALETTE
            assert 'stroke-width="1"' in marker  # series are 2 px
        best = next(attrs for attrs, title in markers.items() if title.startswith("best epoch"))
        assert "stroke-dasharray" not in best  # a solid grey line, unlike the dashed training series
        assert "#2a7d3b" not in figure  # the old green dashed marker


def test_x_and_x_epoch_with_the_same_values_are_one_curve_named_x(fits: Fits) -> None:
    history = fits.without_early_stopping.history
    assert history is not None
    assert [v for _, v in history.series("train_loss")] == [v for _, v in history.series("train_loss_epoch")]
    loss = figures(render_html([fits.without_early_stopping]))["Loss"]
    assert sorted(series_titles(loss)) == ["train_loss", "train_loss_step", "val_loss"]
    assert "train_loss_epoch" not in loss


def test_early_stopping_is_described_as_it_was_configured(fits: Fits) -> None:
    value, detail = card(render_html([fits.without_early_stopping]), "Early stop")
    assert (value, detail) == ("none", "no EarlyStopping callback was used; the fit stopped at max_epochs=3")

    value, detail = card(render_html([fits.one_epoch]), "Early stop")
    assert (value, detail) == ("not triggered", "the fit stopped at max_epochs=1")

    value, detail = card(render_html([fits.stopped_at_the_last_epoch]), "Early stop")
    assert value == "PATIENCE_EXHAUSTED at epoch 2"
    assert detail.endswith("The fit stopped at max_epochs=3, reached at the same epoch.")

    value, detail = card(render_html([fits.stopped_early]), "Early stop")
    assert value == "PATIENCE_EXHAUSTED at epoch 2"
    assert "max_epochs" not in detail


# ------------------------------------------------------------------------------------------ point 14: examples


@pytest.mark.parametrize(
    ("max_epochs", "lightning_says", "example_says"),
    [
        # EarlyStopping's patience runs out at epoch 7, the last of 8: Lightning stops for max_epochs.
        ("8", "`max_epochs=8` reached", "stopped: max_epochs=8 reached (EarlyStopping's PATIENCE_EXHAUSTED"),
        ("30", None, "stopped: EarlyStopping: PATIENCE_EXHAUSTED at epoch 7"),
    ],
)
def test_the_binary_examples_printout_agrees_with_lightning(
    tmp_path: Path, max_epochs: str, lightning_says: str | None, example_says: str
) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "train_binary.py"), "--max-epochs", max_epochs],
        cwd=tmp_path,
        env={**os.environ, "ARCCNET_DATA_FOLDER": str(tmp_path / "data"), "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    both = done.stdout + done.stderr
    if lightning_says is None:
        assert "max_epochs" not in both
    else:
        assert lightning_says in both
    assert example_says in done.stdout
    assert "early stopping triggered" not in done.stdout
