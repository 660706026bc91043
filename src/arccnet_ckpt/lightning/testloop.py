"""``TestLoop``: what one callback does during ``trainer.test``, on every rank.

At test start a test-only Trainer's run is opened (:meth:`CallbackRun.open_for_test`), the forward hook put on the
module (:mod:`arccnet_ckpt.lightning.forward`) and the loop counted; each batch hands ``test_step``'s output, the
forward output and the batch to the :class:`~arccnet_ckpt.metrics.TestPredictionCollector`; at test end the hook
comes off, the predictions and counts are gathered (collectives), and rank 0 records the evaluation, writes the
mistakes' thumbnails and ``report.html``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arccnet_ckpt import capture
from arccnet_ckpt.core.evaluations import next_number
from arccnet_ckpt.core.progress import FitSnapshot
from arccnet_ckpt.lightning import observe, ranks
from arccnet_ckpt.lightning.forward import ForwardCapture
from arccnet_ckpt.lightning.namespaces import module
from arccnet_ckpt.lightning.policy import catch_and_warn
from arccnet_ckpt.report.html import write_report

if TYPE_CHECKING:
    import lightning.pytorch as pl

    from arccnet_ckpt.lightning.run import CallbackRun
    from arccnet_ckpt.metrics import TestPredictionCollector

__all__ = ["TestLoop"]


class TestLoop:
    """The test loop of a :class:`~arccnet_ckpt.lightning.run.CallbackRun`: its forward hook and its predictions.

    Args:
        run: The callback's run (its session, recorder, counting and owner).
        collector: Gathers the test predictions for the per-class report.
    """

    __test__ = False  # not a pytest class, despite the name

    def __init__(self, run: CallbackRun, collector: TestPredictionCollector) -> None:
        self.run = run
        self.collector = collector
        self.forward = ForwardCapture()  # the test loop's forward hook, every rank

    @property
    def run_dir(self) -> str | None:
        """The run folder (named in the warnings of :func:`catch_and_warn`)."""
        return self.run.run_dir

    def start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Every rank, at test start: a test-only Trainer's run is opened, the forward hook put on the module, and
        the test loop counted."""
        self.collector.reset()
        if self.run.session.identity is None:
            self.run.open_for_test(trainer, pl_module)
        self.hook_forward(pl_module)
        self.run.counting.begin("test", trainer)

    @catch_and_warn("hook the module's forward for the test report of {run_dir}")
    def hook_forward(self, pl_module: pl.LightningModule) -> None:
        """Every rank: the forward hook, for the test loop only (removed by :meth:`end` and
        :meth:`CallbackRun.interrupted`, and at teardown)."""
        self.forward.install(pl_module)

    def batch_ended(self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int) -> None:
        """Every rank: one test batch's ``test_step`` output, forward output and batch, for the report and counts."""
        identity = self.run.session.identity
        names = identity.class_names if identity else None
        self.collector.update(
            outputs,
            num_classes=len(names) if names else None,
            dataloader_idx=dataloader_idx,
            forward=self.forward.call,
            batch=batch,
        )
        self.run.counting.add("test", batch, batch_idx if dataloader_idx == 0 else 0)

    def end(self, trainer: pl.Trainer) -> None:
        """Every rank, at test end: the forward hook comes off, then the evaluation is recorded."""
        self.forward.remove()
        if self.run.session.identity is None:
            self.run.counting.drop()
            return
        self.record(trainer)
        if self.run.session.active == "evaluation":
            self.run.session.active = None

    def record(self, trainer: pl.Trainer) -> None:
        """Every rank: gather the test predictions and counts (collectives), then write the evaluation on rank 0."""
        test_results = capture.metrics_with_prefix(trainer.callback_metrics, "test")
        count = len(trainer.num_test_batches)  # one entry per test dataloader, the same on every rank
        self.collector.sync(trainer.strategy, count)  # a collective: every rank takes part
        counts = {**self.run.session.data_counts, "test": self.run.counting.end("test", trainer)}  # a collective too
        recorder, identity = self.run.require_recorder(), self.run.require_identity()
        evaluation = self.run.session.active == "evaluation"
        combined = module(self.run.namespace, "utilities").CombinedLoader
        names = capture.safely("the test dataloaders' names", lambda: observe.dataloader_names(trainer, combined), None)

        def record() -> None:
            prefix = f"test{next_number(recorder.summary())}"  # names the thumbnails of this evaluation
            reports = self.collector.dataloader_reports(identity.class_names, test_results, names, prefix=prefix)
            checkpoint = observe.ckpt_path(trainer, identity.run_dir)
            recorder.record_test(
                test_results,
                dataloaders=reports,
                checkpoint=checkpoint,
                headline=self.run.owner.headline_test,
                counts=counts,
                images=self.collector.images,
            )
            if evaluation:
                recorder.finish(FitSnapshot(loggers=observe.loggers_now(trainer, self.run.redaction)))
            self.write_report()

        ranks.on_rank_zero(trainer.strategy, record, "writing the test report")

    @catch_and_warn("write the HTML report of {run_dir}")
    def write_report(self) -> None:
        """Render ``report.html`` from the files on disk (the JSON files are the record: a failure costs a warning)."""
        write_report(self.run.require_recorder().run_dir)
