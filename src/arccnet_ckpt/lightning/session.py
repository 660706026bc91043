"""The callback's state for one fit, as plain values, and the decisions taken on them. No Lightning import.

The hooks of :class:`~arccnet_ckpt.lightning.callback.ArcCheckpointLogic` read the Trainer into plain values and hand
them to a :class:`FitSession`; everything it decides is testable without a Trainer:

* which history entry a validation makes, and when (:meth:`FitSession.validation_ended`,
  :meth:`FitSession.take_pending`);
* which metrics are this point's measurements and which are leftovers (:meth:`FitSession.history_metrics`);
* which splits' data counts are read, to be written with the next record (:attr:`FitSession.data_counts`; the
  first full epoch of the run: kept across fits of one callback, and the recorder keeps counts already recorded);
* which epoch saved the best checkpoint (:meth:`FitSession.note_best`, :meth:`FitSession.best_epoch`);
* how many optimizer steps this fit ran (:meth:`FitSession.steps_this_fit`);
* what a checkpoint carries of the run, and what restoring one gives back (:meth:`FitSession.state`,
  :meth:`FitSession.restore`): a flat dict of named plain fields, read back without any I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from arccnet_ckpt.core.recorder import RunIdentity

_UNSET = object()


@dataclass
class FitSession:
    """What the callback knows of the run and of the current fit, as plain values."""

    identity: RunIdentity | None = None  # the run, decided on rank 0 at fit (or test) start and shared
    restored: dict[str, Any] | None = None  # the run state a resumed checkpoint carried
    best: tuple[str, int | None] | None = None  # (best_model_path, the epoch that saved it); carried in checkpoints
    active: Literal["fit", "evaluation"] | None = None  # what an exception would end
    pending_epoch: int | None = None  # the epoch of a validation whose history entry is not written yet
    epoch_end_metrics: dict[str, float | None] = field(default_factory=dict)  # the last epoch end's training aggregates
    validation_metrics: dict[str, float | None] = field(default_factory=dict)  # what the epoch-end validation left
    fit_start_step: int | None = None  # the global step this fit's training started at
    learning_rates: list[Any] | None = None  # the rates the last training step used (raw, in group order)
    saved: dict[str, None] = field(default_factory=dict)  # every checkpoint this fit saved (async clean-up)
    best_score: Any = None  # ModelCheckpoint's best_model_score when the best was noted (compared by identity)
    data_counts: dict[str, dict[str, Any]] = field(default_factory=dict)  # train/val counts read (summed over ranks)

    def begin_fit(self) -> None:
        """A fit starts: forget what the previous fit of this callback left (the run and its best stay)."""
        self.saved.clear()
        self.pending_epoch = None
        self.epoch_end_metrics = {}
        self.validation_metrics = {}
        self.learning_rates = None
        self.fit_start_step = None

    # ------------------------------------------------------------------------------------------------ history

    def validation_ended(self, epoch: int, *, last_batch: bool, metrics: Mapping[str, float | None]) -> bool:
        """A validation run of the fit ended in ``epoch``; whether its history entry is to be written now.

        Inside an epoch (not after its ``last_batch``) no epoch aggregates will follow: write now. At the epoch's
        end the training aggregates come with ``on_train_epoch_end``: keep what validation left (``metrics``) to
        tell them apart, and write there, once.
        """
        self.pending_epoch = epoch
        if not last_batch:
            return True
        self.validation_metrics = dict(metrics)
        return False

    def take_pending(self) -> int | None:
        """The epoch of the validation whose entry is to be written now (``None``: none), no longer pending."""
        epoch, self.pending_epoch = self.pending_epoch, None
        return epoch

    def history_metrics(self, metrics: Mapping[str, float | None], *, epoch_end: bool) -> dict[str, float | None]:
        """The metrics of a history entry: this point's measurements, without the leftovers.

        Inside an epoch, Lightning still holds the previous epoch's training aggregates (``train_loss_epoch``): such
        a value, equal to the one the epoch's end produced, is a leftover and is left out. At the epoch's end, the
        training aggregates are the values that changed since the epoch-end validation; a validation metric that
        repeats its value (a plateau) is a measurement and stays.
        """
        if epoch_end:
            validation, self.validation_metrics = self.validation_metrics, {}
            self.epoch_end_metrics = {k: v for k, v in metrics.items() if validation.get(k, _UNSET) != v}
            return dict(metrics)
        last = self.epoch_end_metrics
        return {k: v for k, v in metrics.items() if k not in last or last[k] != v}

    def steps_this_fit(self, global_step: int) -> int | None:
        """The optimizer steps since this fit's training started; ``None`` when it never started."""
        return None if self.fit_start_step is None else global_step - self.fit_start_step

    # ------------------------------------------------------------------------------------------- checkpoints

    def note_best(self, best_model_path: str | None, best_score: Any, epoch: int) -> None:
        """ModelCheckpoint may have saved a new best: remember which epoch saved it (the first to see it).

        A new best is a new path or a new score object (ModelCheckpoint assigns one at each new best; a file name
        without a metric, such as ``weights.ckpt``, is reused by the next best).
        """
        if not best_model_path:
            return
        if self.best is None or self.best[0] != best_model_path or best_score is not self.best_score:
            self.best = (best_model_path, int(epoch))
            self.best_score = best_score

    def best_epoch(self, best_model_path: str | None) -> int | None:
        """The epoch that saved ``best_model_path``, as noted (``None`` when unknown)."""
        if best_model_path and self.best is not None and self.best[0] == best_model_path:
            return self.best[1]
        return None

    def restored_best(self, best_model_path: str | None, best_score: Any) -> None:
        """ModelCheckpoint restored ``best_model_path`` and its score: the best the run state named (when it named
        none, its epoch is unknown, ``None``, not the epoch of whichever hook sees the path first)."""
        self.best_score = best_score
        if best_model_path and (self.best is None or self.best[0] != best_model_path):
            self.best = (best_model_path, None)

    def note_saved(self, paths: Iterable[str | None]) -> None:
        """Checkpoints ModelCheckpoint saved or keeps (removed at fit end if superseded while saved in background)."""
        self.saved.update(dict.fromkeys(p for p in paths if p))

    # --------------------------------------------------------------------------------------------- the state

    def state(self) -> dict[str, Any]:
        """What a checkpoint carries of the run: the identity's fields (``start_time`` as ISO text, ``group`` as
        ``[id, source, index]``) and ``best`` (``[path, epoch]`` or ``None``); ``{}`` before the run is decided."""
        if self.identity is None:
            return {}
        return {
            **asdict(self.identity),
            "start_time": self.identity.start_time.isoformat(),
            "best": list(self.best) if self.best else None,
            "group": [group.id, group.source, group.index] if (group := self.identity.group) else None,
        }

    def restore(self, state: Any) -> list[str]:
        """Take the run state a checkpoint carried (only stores values); returns what was not usable, to warn about.

        Ignored once the run is decided (a checkpoint loaded into a running fit) or when ``state`` is not a dict.
        """
        if self.identity is not None or not isinstance(state, dict):
            return []
        self.restored = dict(state)
        best = state.get("best")
        if isinstance(best, (list, tuple)) and len(best) == 2:
            try:
                self.best = (str(best[0]), None if best[1] is None else int(best[1]))
            except (TypeError, ValueError):
                return [f"best={best!r} is not [path, epoch]"]
        elif best is not None:
            return [f"best={best!r} is not [path, epoch]"]
        return []

    @property
    def restored_run_dir(self) -> str | None:
        """The run folder the restored checkpoint names, if any."""
        folder = (self.restored or {}).get("run_dir")
        return folder if isinstance(folder, str) and folder else None
