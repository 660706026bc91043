"""The per-class test report: predictions out of ``test_step``, a streaming confusion matrix, and the metrics.

Nothing here imports Lightning, so every piece is testable on plain tensors:

* :mod:`~arccnet_ckpt.metrics.predictions`: :func:`predictions_from_outputs` turns what ``test_step`` returned (the
  ``outputs`` that Lightning hands to ``on_test_batch_end``) into integer predicted and true labels, or says in one
  line why it could not.
* :mod:`~arccnet_ckpt.metrics.confusion`: :class:`ConfusionMatrix` adds batches of labels into a ``C x C`` count
  matrix kept on the batches' device; its memory does not grow with the size of the test set, predictions are never
  stored, and with a fixed number of classes no batch makes the host wait for the device.
* :mod:`~arccnet_ckpt.metrics.report`: :func:`compute_report` turns the matrix into precision, recall, F1 and support
  per class, accuracy, and the macro and weighted averages, with the same numbers as scikit-learn's
  ``classification_report(..., zero_division=0)``.
* :mod:`~arccnet_ckpt.metrics.scores`: where a batch's scores come from (test_step's outputs, else the module's
  forward output and the batch's targets) and how they are read (probabilities or logits, decided on the device).
* :mod:`~arccnet_ckpt.metrics.ranking`: ROC and PR curves, ``roc_auc`` and ``average_precision``, equal to
  scikit-learn's within :data:`SCORE_BUDGET` floats per dataloader, binned with a bounded error past it.
* :mod:`~arccnet_ckpt.metrics.calibration`: the reliability diagram's bins and the ECE, streamed on the device.
* :mod:`~arccnet_ckpt.metrics.score_fields`: one dataloader's score state (update, gather over processes) and the
  score-based report fields.
* :mod:`~arccnet_ckpt.metrics.collector`: :class:`TestPredictionCollector`, the stateful part a callback drives:
  update per batch, sum over processes at test end, report fields.

Example:
    >>> import torch
    >>> cm = ConfusionMatrix(num_classes=3)
    >>> result = predictions_from_outputs({"logits": torch.tensor([[2.0, 0.1, 0.3]]), "y": torch.tensor([0])})
    >>> cm.update(*result)
    >>> cm.check()
    >>> compute_report(cm.matrix, default_class_names(3, binary=result.binary))["accuracy"]
    1.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arccnet_ckpt.lazy import lazy_getattr
from arccnet_ckpt.metrics.report import BINARY_CLASS_NAMES, compute_report, default_class_names

if TYPE_CHECKING:
    from arccnet_ckpt.metrics.collector import TestPredictionCollector
    from arccnet_ckpt.metrics.confusion import ConfusionMatrix
    from arccnet_ckpt.metrics.predictions import (
        DEFAULT_PREDS_KEYS,
        DEFAULT_TARGET_KEYS,
        Predictions,
        predictions_from_outputs,
    )
    from arccnet_ckpt.metrics.ranking import SCORE_BUDGET

# The torch-based parts load on first use: the read side (``runs.group_stats``) imports ``metrics.report`` alone,
# and importing a submodule runs this file first.
_LAZY = {
    "TestPredictionCollector": "arccnet_ckpt.metrics.collector",
    "ConfusionMatrix": "arccnet_ckpt.metrics.confusion",
    "DEFAULT_PREDS_KEYS": "arccnet_ckpt.metrics.predictions",
    "DEFAULT_TARGET_KEYS": "arccnet_ckpt.metrics.predictions",
    "Predictions": "arccnet_ckpt.metrics.predictions",
    "predictions_from_outputs": "arccnet_ckpt.metrics.predictions",
    "SCORE_BUDGET": "arccnet_ckpt.metrics.ranking",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "BINARY_CLASS_NAMES",
    "DEFAULT_PREDS_KEYS",
    "DEFAULT_TARGET_KEYS",
    "SCORE_BUDGET",
    "ConfusionMatrix",
    "Predictions",
    "TestPredictionCollector",
    "compute_report",
    "default_class_names",
    "predictions_from_outputs",
]
