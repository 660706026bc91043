"""One run's files, read once for the page: :class:`RunView` and :func:`read_view`.

Every file of a run may be missing or unreadable (legacy runs, failed runs, evaluations): a file that cannot be read
is ``None`` in the view and its error is in :attr:`RunView.problems`, so each section of the page says what was not
recorded instead of failing. The run's status is the one read-side rule, :func:`~arccnet_ckpt.core.lifecycle.status_of`
(``ls``, ``show`` and the page agree on a stale run). Nothing here imports torch, lightning or Jinja2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from arccnet_ckpt.core.lifecycle import status_of
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.records import (
    ClassificationReport,
    ConfigRecord,
    EarlyStoppingState,
    History,
    MinimalLogging,
    TrainingSummary,
)
from arccnet_ckpt.report import format as fmt
from arccnet_ckpt.runs import Run
from arccnet_ckpt.runs.query import early_stop

T = TypeVar("T")


@dataclass
class RunView:
    """One run's files, read once; a file that cannot be read is ``None`` and its error is in ``problems``."""

    name: str
    path: str
    summary: TrainingSummary | None
    config: ConfigRecord | None
    report: ClassificationReport | None
    history: History | None
    minimal: MinimalLogging | None
    root_name: str | None
    model_name: str | None
    loss_function: str | None
    best_checkpoint: str | None
    start_time: datetime | None
    notes: list[str]
    now: datetime
    status: str = "incomplete"
    legacy: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.summary.kind if self.summary is not None else "training"

    @property
    def monitor(self) -> str | None:
        if self.summary is not None and self.summary.monitor:
            return self.summary.monitor
        if self.history is not None and self.history.monitor:
            return self.history.monitor
        return self.minimal.best_metric_name if self.minimal is not None else None

    @property
    def mode(self) -> str | None:
        if self.summary is not None and self.summary.mode:
            return self.summary.mode
        return self.history.mode if self.history is not None else None

    @property
    def best_value(self) -> float | None:
        if self.summary is not None and self.summary.best_metric_value is not None:
            return self.summary.best_metric_value
        return self.minimal.best_metric_value if self.minimal is not None else None

    @property
    def best_epoch(self) -> int | None:
        if self.summary is not None and self.summary.best_epoch is not None:
            return self.summary.best_epoch
        return self.minimal.best_epoch if self.minimal is not None else None

    def test_metrics(self) -> dict[str, float | None]:
        """The test metrics of the summary and the report, the summary's first."""
        out: dict[str, float | None] = {}
        if self.report is not None:
            out.update(self.report.test_metrics)
        if self.summary is not None:
            out.update(self.summary.test_results)
        if not out and self.minimal is not None:
            out.update(self.minimal.test_results)
        return dict(sorted(out.items()))

    @property
    def early_stop(self) -> EarlyStoppingState | None:
        """Why and when early stopping ended the fit, if it did and it was recorded."""
        return early_stop(self.summary)

    @property
    def environment(self) -> dict[str, Any]:
        """The recorded environment as plain JSON values; empty if not recorded."""
        if self.config is None or self.config.environment is None:
            return {}
        return self.config.environment.model_dump(mode="json")

    def heartbeat(self) -> str | None:
        """``2026-05-01 10:00:00 UTC, 3 h ago``: the summary's last write (the start time for runs older than it)."""
        if self.summary is None:
            return None
        beat = self.summary.updated_at or self.summary.start_time
        return f"{fmt.when(beat, fmt.EM_DASH)}, {fmt.ago((self.now - beat).total_seconds())}"


def read_view(run: Run, now: datetime, stale_after: timedelta) -> RunView:
    problems: list[str] = []

    def attempt(get: Callable[[], T], default: T) -> T:
        try:
            return get()
        except (ArcCkptError, OSError, ValueError) as e:
            problems.append(str(e))
            return default

    summary = attempt(lambda: run.summary, None)
    minimal = attempt(lambda: run.minimal, None)
    return RunView(
        name=run.name,
        path=run.path,
        summary=summary,
        config=attempt(lambda: run.config, None),
        report=attempt(lambda: run.report, None),
        history=attempt(lambda: run.history, None),
        minimal=minimal,
        root_name=attempt(lambda: run.root_name, None),
        model_name=attempt(lambda: run.model_name, None),
        loss_function=attempt(lambda: run.loss_function, None),
        best_checkpoint=attempt(lambda: run.best_checkpoint, None),
        start_time=attempt(lambda: run.start_time, None),
        notes=attempt(lambda: run.notes, []),
        now=now,
        status=status_of(summary, now, stale_after, recorded=minimal.status if minimal is not None else None),
        legacy=attempt(lambda: run.is_legacy, False),
        problems=list(dict.fromkeys(problems)),  # a broken file fails every value read from it
    )
