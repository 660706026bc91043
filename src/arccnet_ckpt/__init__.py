"""arccnet-ckpt: every Lightning run leaves a complete, validated folder next to its best checkpoint.

Quick start::

    from lightning.pytorch import Trainer
    from arccnet_ckpt import ArcCheckpointCallback, load_run

    cb = ArcCheckpointCallback(root_name="flares/binary_classification", config=config)
    trainer = Trainer(callbacks=[cb])
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm, ckpt_path="best")
    run = load_run(cb.run_dir)

Reading runs back (:func:`load_run`, :func:`find_runs`, :func:`best_run`, :func:`find_groups`, :func:`load_group`)
does not import torch or lightning:
the callback and the manual API are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arccnet_ckpt.errors import (
    ArcCkptError,
    ArcCkptWarning,
    ArtifactError,
    CheckpointMismatchError,
    GroupNotFoundError,
    LabelError,
    LifecycleError,
    ManagerWarning,
    NamespaceMismatchError,
    RankZeroError,
    RunFolderError,
    RunNotFoundError,
)
from arccnet_ckpt.lazy import lazy_getattr
from arccnet_ckpt.records import (
    SCHEMA_VERSION,
    ClassificationReport,
    ClassMetrics,
    ConfigRecord,
    DataloaderCounts,
    DataloaderReport,
    EarlyStoppingState,
    ErrorInfo,
    EvaluationReport,
    History,
    HistoryEntry,
    MinimalLogging,
    ResumeInfo,
    TestEvaluation,
    TrainingSummary,
    validate_artifact,
)
from arccnet_ckpt.runs import Group, GroupSummary, Run, best_run, find_groups, find_runs, load_group, load_run

if TYPE_CHECKING:
    from arccnet_ckpt.lightning.callback import ArcCheckpointCallback
    from arccnet_ckpt.manager import (
        BinaryClassificationCheckpointManager,
        CheckpointManager,
        CutoutHaleCheckpointManager,
        CutoutMcintoshCheckpointManager,
        MulticlassFlareCheckpointManager,
    )
    from arccnet_ckpt.report.html import render_html, write_report

__version__ = "0.1.0"

_LAZY = {
    "ArcCheckpointCallback": "arccnet_ckpt.lightning.callback",
    "CheckpointManager": "arccnet_ckpt.manager",
    "BinaryClassificationCheckpointManager": "arccnet_ckpt.manager",
    "MulticlassFlareCheckpointManager": "arccnet_ckpt.manager",
    "CutoutHaleCheckpointManager": "arccnet_ckpt.manager",
    "CutoutMcintoshCheckpointManager": "arccnet_ckpt.manager",
    "render_html": "arccnet_ckpt.report.html",
    "write_report": "arccnet_ckpt.report.html",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "SCHEMA_VERSION",
    "ArcCheckpointCallback",
    "ArcCkptError",
    "ArcCkptWarning",
    "ArtifactError",
    "CheckpointMismatchError",
    "BinaryClassificationCheckpointManager",
    "CheckpointManager",
    "ClassMetrics",
    "ClassificationReport",
    "ConfigRecord",
    "CutoutHaleCheckpointManager",
    "CutoutMcintoshCheckpointManager",
    "DataloaderCounts",
    "DataloaderReport",
    "EarlyStoppingState",
    "ErrorInfo",
    "EvaluationReport",
    "Group",
    "GroupNotFoundError",
    "GroupSummary",
    "History",
    "HistoryEntry",
    "LabelError",
    "LifecycleError",
    "ManagerWarning",
    "MinimalLogging",
    "MulticlassFlareCheckpointManager",
    "NamespaceMismatchError",
    "RankZeroError",
    "ResumeInfo",
    "Run",
    "RunFolderError",
    "RunNotFoundError",
    "TestEvaluation",
    "TrainingSummary",
    "__version__",
    "best_run",
    "find_groups",
    "find_runs",
    "load_group",
    "load_run",
    "render_html",
    "validate_artifact",
    "write_report",
]
