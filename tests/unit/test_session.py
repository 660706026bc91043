"""The per-fit state and its decisions (lightning/session.py), without a Trainer; and the core's import rule."""

from __future__ import annotations

import ast
from datetime import datetime, timezone
from pathlib import Path

import pytest

import arccnet_ckpt.core
from arccnet_ckpt.core.recorder import RunIdentity
from arccnet_ckpt.lightning.session import FitSession

IDENTITY = RunIdentity(
    run_dir="/data/checkpoints/r/2025-02-12_14-30-45_m_l",
    run_name="2025-02-12_14-30-45_m_l",
    model_name="m",
    loss_function="l",
    start_time=datetime(2025, 2, 12, 14, 30, 45, tzinfo=timezone.utc),
    root_name="r",
)


def test_a_validation_inside_an_epoch_is_written_at_once_and_one_at_its_end_waits_for_the_aggregates() -> None:
    session = FitSession()
    assert session.validation_ended(0, last_batch=False, metrics={"val_f1": 0.5}) is True
    assert session.take_pending() == 0
    assert session.take_pending() is None  # taken once
    assert session.validation_ended(1, last_batch=True, metrics={"val_f1": 0.7}) is False
    assert session.pending_epoch == 1


def test_history_metrics_drop_last_epochs_leftover_aggregates_and_keep_a_plateau() -> None:
    session = FitSession()
    session.validation_ended(0, last_batch=True, metrics={"val_f1": 0.5, "train_loss_epoch": None})
    at_epoch_end = session.history_metrics({"val_f1": 0.5, "train_loss_epoch": 0.7}, epoch_end=True)
    assert at_epoch_end == {"val_f1": 0.5, "train_loss_epoch": 0.7}
    # Inside the next epoch, Lightning still holds train_loss_epoch=0.7: a leftover. val_f1 repeating 0.5 is not.
    inside = session.history_metrics({"val_f1": 0.6, "train_loss_epoch": 0.7}, epoch_end=False)
    assert inside == {"val_f1": 0.6}


def test_the_best_epoch_is_the_epoch_that_first_saw_the_best_path() -> None:
    session = FitSession()
    score, better = object(), object()
    session.note_best("/run/best-a.ckpt", score, 2)
    session.note_best("/run/best-a.ckpt", score, 5)  # the same best seen again later: still epoch 2
    assert session.best_epoch("/run/best-a.ckpt") == 2
    assert session.best_epoch("/run/other.ckpt") is None
    session.note_best("/run/best-a.ckpt", better, 6)  # a name without the metric, reused by a new best
    assert session.best_epoch("/run/best-a.ckpt") == 6


def test_steps_this_fit_count_from_the_fits_training_start() -> None:
    session = FitSession()
    assert session.steps_this_fit(10) is None  # training never started
    session.fit_start_step = 8
    assert session.steps_this_fit(10) == 2


def test_begin_fit_forgets_the_previous_fit_but_keeps_the_run_and_its_best() -> None:
    session = FitSession(identity=IDENTITY, best=("/run/b.ckpt", 1), pending_epoch=3, fit_start_step=4)
    session.note_saved(["/run/a.ckpt", None])
    session.begin_fit()
    assert (session.pending_epoch, session.fit_start_step, session.saved) == (None, None, {})
    assert session.identity == IDENTITY
    assert session.best == ("/run/b.ckpt", 1)


def test_the_state_is_flat_plain_values_and_restores_symmetrically() -> None:
    saved = FitSession(identity=IDENTITY, best=("/run/b.ckpt", 1))
    state = saved.state()
    assert state["run_dir"] == IDENTITY.run_dir
    assert state["start_time"] == "2025-02-12T14:30:45+00:00"
    assert state["best"] == ["/run/b.ckpt", 1]
    assert all(not isinstance(v, dict) for v in state.values())  # flat: nothing nested but the lists it names
    restored = FitSession()
    assert restored.restore(state) == []
    assert restored.restored == state
    assert restored.best == ("/run/b.ckpt", 1)
    assert restored.restored_run_dir == IDENTITY.run_dir


def test_a_restored_state_that_disagrees_is_reported_not_raised() -> None:
    session = FitSession()
    assert session.restore({"run_dir": "/x", "best": ["/x/b.ckpt", "two"]}) == [
        "best=['/x/b.ckpt', 'two'] is not [path, epoch]"
    ]
    assert session.best is None
    assert session.restored_run_dir == "/x"
    assert FitSession(identity=IDENTITY).restore({"run_dir": "/other"}) == []  # a decided run is not replaced


def test_restoring_the_callbacks_state_touches_no_storage(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from arccnet_ckpt import ArcCheckpointCallback, store

    def no_io(*args: object, **kwargs: object) -> bool:
        raise AssertionError("load_state_dict touched the store")

    cb = ArcCheckpointCallback(root_name="r", data_folder=tmp_path)
    state = {**cb.state_dict(), "dirpath": IDENTITY.run_dir, "arc_run": FitSession(identity=IDENTITY).state()}
    monkeypatch.setattr(store, "exists", no_io)
    cb.load_state_dict(state)
    assert cb.dirpath == IDENTITY.run_dir  # so ModelCheckpoint restored its best_k_models of this run


def test_the_core_imports_neither_the_reader_nor_the_report() -> None:
    core = Path(arccnet_ckpt.core.__file__).parent
    for name in ("lifecycle", "recorder", "progress", "evaluations", "merge"):
        tree = ast.parse((core / f"{name}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        bad = {m for m in imported if m and m.startswith(("arccnet_ckpt.runs", "arccnet_ckpt.report", "lightning"))}
        assert not bad, f"core/{name}.py imports {bad}"
