"""Where the test predictions come from (outputs, outputs' labels + the forward output, the forward output + the
batch's targets), how the scores are read (probabilities or logits), and the one-line reason for each bad input."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.metrics import classification_report, roc_auc_score

from arccnet_ckpt.metrics import TestPredictionCollector
from arccnet_ckpt.metrics import confusion as confusion_module
from arccnet_ckpt.metrics.batches import ForwardCall
from arccnet_ckpt.records import DataloaderReport

FIX = (
    'return {"logits": logits, "y": y} from test_step, or name your keys with '
    "ArcCheckpointCallback(preds_key=..., target_key=...)"
)
LOSS = torch.tensor(0.7)  # what a test_step that returns only the loss hands to on_test_batch_end


def _data(n: int = 64, width: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    classes = 2 if width == 1 else width
    y = torch.randint(0, classes, (n,), generator=gen)
    x = torch.randn(n, 4, generator=gen)
    if width == 1:
        return x, (torch.randn(n, generator=gen) + 2.0 * y - 1.0).unsqueeze(1), y
    return x, torch.randn(n, width, generator=gen) + 2.0 * torch.nn.functional.one_hot(y, width), y


def _feed(collector: TestPredictionCollector, outputs: Any, logits: Any, batch: Any, calls: int = 1) -> None:
    collector.update(outputs, forward=ForwardCall(output=logits, calls=calls), batch=batch)


def _predictions(**fields: Any) -> dict[str, Any]:
    base = {"source": "outputs", "scores": "logits", "transform": "softmax", "labels": "scores", "key": "logits"}
    base.update({"threshold": None, "ranking": "exact", "max_error": None, "note": None})
    return {**base, **fields}


def _fields(collector: TestPredictionCollector, names: list[str] | None = None) -> dict[str, Any]:
    fields = collector.report_fields(names)
    DataloaderReport(index=0, **fields)  # what the callback writes must validate
    return fields


def test_outputs_with_scores_come_first() -> None:
    x, logits, y = _data()
    collector = TestPredictionCollector()
    other = torch.zeros_like(logits)  # a forward output that must be ignored
    _feed(collector, {"loss": LOSS, "logits": logits, "y": y}, other, (x, y))
    fields = _fields(collector)
    assert fields["predictions"] == _predictions()
    probs = logits.softmax(dim=1).double().numpy()
    assert fields["roc_auc"]["macro"] == pytest.approx(roc_auc_score(y.numpy(), probs, multi_class="ovr"), abs=1e-9)


def test_outputs_labels_take_their_scores_from_the_forward_output() -> None:
    x, logits, y = _data()
    collector = TestPredictionCollector()
    _feed(collector, {"preds": logits.argmax(dim=1), "targets": y}, logits, (x, y))
    fields = _fields(collector)
    assert fields["predictions"] == _predictions(source="forward", labels="outputs", key=None)
    probs = logits.softmax(dim=1).double().numpy()
    assert fields["roc_auc"]["weighted"] == pytest.approx(
        roc_auc_score(y.numpy(), probs, multi_class="ovr", average="weighted"), abs=1e-9
    )
    assert fields["scores_note"] is None


def test_outputs_labels_that_disagree_with_the_forward_output_drop_the_scores() -> None:
    x, logits, y = _data()
    labels = logits.argmax(dim=1)
    labels[:5] = (labels[:5] + 1) % 3
    collector = TestPredictionCollector()
    _feed(collector, {"preds": labels, "targets": y}, logits, (x, y))
    fields = _fields(collector)
    assert fields["scores_note"] == (
        "no score-based fields: 5 of 64 labels returned by test_step differ from the argmax of the forward output: "
        "the forward output was not these predictions"
    )
    assert fields["roc_auc"] is fields["curves"] is fields["calibration"] is None
    assert all(entry["roc_auc"] is None for entry in fields["per_class"].values())
    assert sum(map(sum, fields["confusion_matrix"])) == 64  # the labels still make the matrix
    assert fields["predictions"]["labels"] == "outputs"


def test_outputs_labels_without_a_usable_forward_are_labels_only() -> None:
    x, logits, y = _data()
    collector = TestPredictionCollector()
    _feed(collector, {"preds": logits.argmax(dim=1), "targets": y}, logits, (x, y), calls=2)
    fields = _fields(collector)
    assert fields["predictions"] == _predictions(
        scores="labels", transform=None, labels="outputs", key="preds", ranking=None
    )
    assert fields["scores_note"] == (
        "no score-based fields: test_step returned labels only ('preds' holds integers) and the module's forward ran "
        "2 times in one test batch, so its output is ambiguous"
    )
    assert fields["per_class"]["0"]["tss"] is not None  # the counts-based numbers stay


def test_a_test_step_returning_only_the_loss_gets_its_report_from_the_forward_output() -> None:
    """The users' binary module: one logit, BCE-with-logits targets as floats, test_step returning the loss."""
    collector = TestPredictionCollector()
    y_true, y_pred = [], []
    for seed in range(3):
        x, logit, y = _data(n=40, width=1, seed=seed)
        _feed(collector, LOSS, logit, (x, y.float()))
        y_true += y.tolist()
        y_pred += (logit[:, 0] > 0).long().tolist()
    fields = _fields(collector)
    assert fields["predictions"] == _predictions(source="forward", key=None, transform="sigmoid", threshold=0.5)
    expected = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    for k, name in enumerate(("negative", "positive")):
        assert fields["per_class"][name]["precision"] == pytest.approx(expected[str(k)]["precision"], abs=1e-9)
        assert fields["per_class"][name]["recall"] == pytest.approx(expected[str(k)]["recall"], abs=1e-9)
    assert "per_class_note" not in fields


@pytest.mark.parametrize(
    ("output", "key"),
    [
        ({"embedding": torch.ones(64, 8, dtype=torch.int64), "logits": None}, "logits"),
        ({"features": torch.ones(64, 2, dtype=torch.int64), "out": None}, "features"),
        ((None, "name"), "forward[0]"),
        (("name", None), "forward[1]"),
    ],
)
def test_a_forward_dict_or_tuple_gives_its_prediction_key_else_its_first_tensor(output: Any, key: str) -> None:
    x, logits, y = _data()
    if isinstance(output, dict):
        output = {k: (logits if v is None else v) for k, v in output.items()}
        if key == "features":  # integer features first: the first tensor is not scores
            collector = TestPredictionCollector()
            _feed(collector, LOSS, output, (x, y))
            assert _fields(collector)["per_class_note"] == (
                "no per-class report: test_step returned a Tensor, not a mapping: return a dict with a prediction key "
                "('preds', 'logits', 'probs') and a target key ('target', 'targets', 'y'); the forward output "
                f"'features' holds torch.int64 values, not scores: {FIX}"
            )
            return
    else:
        output = tuple(logits if v is None else v for v in output)
    collector = TestPredictionCollector()
    _feed(collector, LOSS, output, (x, y))
    assert _fields(collector)["predictions"]["key"] == key


@pytest.mark.parametrize(
    ("calls", "batch", "why"),
    [
        (2, "full", "the module's forward ran 2 times in one test batch, so its output is ambiguous"),
        (0, "full", "the module's forward did not run during the test step"),
        (
            1,
            "short",
            "the forward output has no matching targets (batch[1] holds 63 targets but the scores hold 64 rows)",
        ),
        (
            1,
            "no targets",
            "the forward output has no matching targets (the batch is not an (inputs, targets, ...) "
            "tuple or list with a tensor as element 1)",
        ),
    ],
)
def test_no_guess_when_the_forward_output_is_ambiguous_or_unmatched(calls: int, batch: str, why: str) -> None:
    x, logits, y = _data()
    the_batch = {"full": (x, y), "short": (x, y[:-1]), "no targets": (x, ["a"] * 64)}[batch]
    collector = TestPredictionCollector()
    _feed(collector, LOSS, logits, the_batch, calls=calls)
    fields = _fields(collector)
    assert fields == {
        "per_class": None,
        "per_class_note": "no per-class report: test_step returned a Tensor, not a mapping: return a dict with a "
        f"prediction key ('preds', 'logits', 'probs') and a target key ('target', 'targets', 'y'); {why}: {FIX}",
    }


@pytest.mark.parametrize(
    ("make", "scores", "transform", "threshold"),
    [
        (lambda logits: logits.softmax(dim=1), "probabilities", None, None),
        (lambda logits: logits, "logits", "softmax", None),
        (lambda logits: logits[:, :1].sigmoid(), "probabilities", None, 0.5),
        (lambda logits: logits[:, :1] * 5, "logits", "sigmoid", 0.5),
    ],
)
def test_scores_are_read_as_torchmetrics_does(make: Any, scores: str, transform: str | None, threshold: Any) -> None:
    x, logits, y = _data()
    values = make(logits)
    if values.shape[1] == 1:
        y = (y > 0).long()
    collector = TestPredictionCollector()
    _feed(collector, {"preds": values, "y": y}, None, (x, y))
    fields = _fields(collector)
    assert fields["predictions"] == _predictions(key="preds", scores=scores, transform=transform, threshold=threshold)
    probs = values.softmax(dim=1) if transform == "softmax" else values
    probs = probs.sigmoid() if transform == "sigmoid" else probs
    columns = probs.double().numpy()
    if columns.shape[1] == 1:
        expected = roc_auc_score(y.numpy(), columns[:, 0])
    else:
        expected = roc_auc_score(y.numpy(), columns, multi_class="ovr")
    assert fields["roc_auc"]["macro"] == pytest.approx(expected, abs=1e-9)


def test_a_later_batch_that_cannot_be_probabilities_is_reported() -> None:
    x, logits, y = _data()
    collector = TestPredictionCollector()
    _feed(collector, {"preds": logits[:32].softmax(dim=1), "y": y[:32]}, None, None)
    _feed(collector, {"preds": logits[32:], "y": y[32:]}, None, None)
    fields = _fields(collector)
    assert fields["predictions"]["scores"] == "probabilities"
    assert fields["scores_note"] == (
        "no score-based fields: the first batch's scores looked like probabilities, but 1 later batches held values "
        "outside [0, 1] (or rows that do not sum to 1): return logits or probabilities, not both"
    )
    assert fields["roc_auc"] is None


def test_nan_scores_leave_the_score_fields_null_and_say_how_many_rows() -> None:
    x, logits, y = _data()
    logits[3, 1] = float("nan")
    logits[7, 0] = float("inf")
    collector = TestPredictionCollector()
    _feed(collector, LOSS, logits, (x, y))
    fields = _fields(collector)
    assert fields["scores_note"] == (
        "no score-based fields: 2 of 64 rows of the scores are NaN after the softmax (NaN or infinite scores)"
    )
    assert fields["roc_auc"] is fields["curves"] is fields["calibration"] is None
    assert fields["num_samples"] == 64


def test_empty_batches_are_skipped_and_said() -> None:
    x, logits, y = _data()
    collector = TestPredictionCollector()
    _feed(collector, LOSS, logits[:0], (x[:0], y[:0]))
    assert _fields(collector) == {
        "per_class": None,
        "per_class_note": "no per-class report: the test batches held no samples",
    }
    _feed(collector, LOSS, logits, (x, y))
    _feed(collector, LOSS, logits[:0], (x[:0], y[:0]))
    fields = _fields(collector)
    assert fields["num_samples"] == 64
    assert fields["predictions"]["scores"] == "logits"
    assert fields["predictions"]["note"] == "2 test batch(es) of size 0 were skipped"


def test_non_tensor_outputs_and_inputs() -> None:
    collector = TestPredictionCollector()
    _feed(collector, {"probs": [[0.2, 0.8], [0.7, 0.3], [0.4, 0.6]], "y": [1, 0, 0]}, None, (["a", "b", "c"], None))
    fields = _fields(collector)
    assert fields["predictions"]["key"] == "probs"
    assert fields["predictions"]["scores"] == "probabilities"
    assert fields["per_class"]["positive"]["roc_auc"] == 1.0

    strange = TestPredictionCollector()
    _feed(strange, LOSS, "a string", (["a"], torch.tensor([0])))
    assert _fields(strange)["per_class_note"].endswith(
        f"the forward output is a str, not a tensor, a dict or a tuple holding one: {FIX}"
    )


def test_targets_that_are_not_whole_numbers_leave_a_reason() -> None:
    x, logits, y = _data(width=1)
    collector = TestPredictionCollector()
    _feed(collector, LOSS, logits, (x, torch.full((64,), 0.3)))
    assert _fields(collector) == {
        "per_class": None,
        "per_class_note": "no per-class report: 64 of 64 targets are not whole numbers (soft or continuous labels?); "
        "expected class indices",
    }


def test_tss_and_hss_equal_the_formula_on_the_confusion_matrix() -> None:
    x, logits, y = _data(n=300, width=4, seed=3)
    collector = TestPredictionCollector()
    _feed(collector, LOSS, logits, (x, y))
    fields = _fields(collector)
    matrix = np.array(fields["confusion_matrix"], dtype=np.int64)
    total = matrix.sum()
    for k, name in enumerate(fields["class_names"]):
        tp = matrix[k, k]
        fn = matrix[k].sum() - tp
        fp = matrix[:, k].sum() - tp
        tn = total - tp - fn - fp
        tss = tp / (tp + fn) - fp / (fp + tn)
        hss = 2 * (tp * tn - fp * fn) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))
        assert fields["per_class"][name]["tss"] == pytest.approx(tss, abs=1e-12)
        assert fields["per_class"][name]["hss"] == pytest.approx(hss, abs=1e-12)


def _forbid_host_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def host_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a tensor value was read on the host")

    for name in ("item", "tolist", "__bool__", "__int__", "__index__", "__float__"):
        monkeypatch.setattr(torch.Tensor, name, host_read)


def test_every_path_reads_nothing_on_the_host_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU half of the no-sync rule (the CUDA test below runs the same paths on a GPU)."""
    x, logits, y = _data()
    collectors = [TestPredictionCollector() for _ in range(4)] + [TestPredictionCollector(score_budget=100)]
    monkeypatch.setattr(confusion_module, "_host_reads_are_free", lambda device: False)
    with monkeypatch.context() as patch:
        _forbid_host_reads(patch)
        for _ in range(3):
            _feed(collectors[0], {"logits": logits, "y": y}, None, None)
            _feed(collectors[1], {"preds": logits.argmax(dim=1), "y": y}, logits, (x, y))
            _feed(collectors[2], LOSS, logits, (x, y.float()))
            _feed(collectors[3], LOSS, logits[:, :1], (x, (y > 0).float()))
            _feed(collectors[4], LOSS, {"logits": logits}, (x, y))  # past the budget: binned
    for collector in collectors:
        assert _fields(collector)["roc_auc"]["macro"] is not None
    assert _fields(collectors[4])["predictions"]["ranking"] == "binned"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_every_path_does_not_sync_on_cuda() -> None:
    from lightning.pytorch.strategies import SingleDeviceStrategy

    x, logits, y = (t.cuda() for t in _data())
    collectors = [TestPredictionCollector() for _ in range(4)] + [TestPredictionCollector(score_budget=100)]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            _feed(collectors[0], {"logits": logits, "y": y}, None, None)
            _feed(collectors[1], {"preds": logits.argmax(dim=1), "y": y}, logits, (x, y))
            _feed(collectors[2], LOSS, logits, (x, y.float()))
            _feed(collectors[3], LOSS, logits[:, :1], (x, (y > 0).float()))
            _feed(collectors[4], LOSS, {"logits": logits}, (x, y))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    cpu = TestPredictionCollector()
    _feed(cpu, {"logits": logits.cpu(), "y": y.cpu()}, None, None)
    for collector in collectors:
        collector.sync(SingleDeviceStrategy(device=torch.device("cuda")))
        assert _fields(collector)["roc_auc"]["macro"] is not None
    assert _fields(collectors[0])["roc_auc"] == pytest.approx(_fields(cpu)["roc_auc"], abs=1e-6)


class _Group:
    """Processes simulated by threads: ``all_gather`` stacks every rank's tensor, and fails on unequal shapes as
    torch.distributed does."""

    def __init__(self, size: int) -> None:
        self.barrier = threading.Barrier(size, timeout=30)
        self.slots: list[Any] = [None] * size


class _Rank:
    root_device = torch.device("cpu")

    def __init__(self, group: _Group, rank: int) -> None:
        self.group, self.rank = group, rank

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        self.group.slots[self.rank] = tensor
        self.group.barrier.wait()
        shapes = {tuple(t.shape) for t in self.group.slots}
        gathered = torch.stack(list(self.group.slots)) if len(shapes) == 1 else None
        self.group.barrier.wait()
        if gathered is None:
            raise RuntimeError(f"all_gather of unequal shapes {shapes}")
        return gathered


@pytest.mark.parametrize("budget", [10**7, 400], ids=["exact", "binned"])
@pytest.mark.parametrize("sizes", [(300, 50), (300, 0)], ids=["uneven", "a-rank-without-data"])
def test_ddp_sync_gathers_the_scores_of_every_rank(sizes: tuple[int, int], budget: int) -> None:
    x, logits, y = _data(n=sum(sizes), seed=7)
    parts = [slice(0, sizes[0]), slice(sizes[0], sum(sizes))]
    collectors = [TestPredictionCollector(score_budget=budget, score_bins=4096) for _ in parts]
    group, errors = _Group(2), []

    def rank(r: int) -> None:
        try:
            part = parts[r]
            if sizes[r]:
                _feed(collectors[r], LOSS, logits[part], (x[part], y[part]))
            collectors[r].sync(_Rank(group, r))
        except Exception as e:  # pragma: no cover - shown by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    single = TestPredictionCollector()
    _feed(single, LOSS, logits, (x, y))
    expected = _fields(single)
    for collector in collectors:
        fields = _fields(collector)
        assert fields["num_samples"] == sum(sizes)
        assert [b["count"] for b in fields["calibration"]["bins"]] == [
            b["count"] for b in expected["calibration"]["bins"]
        ]
        assert fields["calibration"]["ece"] == pytest.approx(expected["calibration"]["ece"], abs=1e-12)
        ranking = "exact" if budget > 10**6 else "binned"
        assert fields["predictions"]["ranking"] == ranking
        tolerance = 1e-9 if ranking == "exact" else fields["predictions"]["max_error"]
        assert fields["roc_auc"]["macro"] == pytest.approx(expected["roc_auc"]["macro"], abs=tolerance)
        for name in fields["class_names"]:
            ours, theirs = fields["per_class"][name], expected["per_class"][name]
            assert ours["average_precision"] == pytest.approx(theirs["average_precision"], abs=tolerance)


def test_a_batch_carries_its_inputs_for_the_mistakes() -> None:
    from arccnet_ckpt.metrics.scores import resolve_batch

    x, logits, y = _data()
    images = torch.rand(64, 1, 8, 8)
    keys = ("preds", "logits", "probs"), ("target", "targets", "y")
    from_forward = resolve_batch(LOSS, ForwardCall(output=logits, calls=1, inputs=images), (x, y), *keys)
    from_batch = resolve_batch({"logits": logits, "y": y}, None, (x, y), *keys)
    not_tensors = resolve_batch({"logits": logits, "y": y}, None, (["a"] * 64, y), *keys)
    assert not isinstance(from_forward, str)
    assert from_forward.inputs is images
    assert not isinstance(from_batch, str)
    assert from_batch.inputs is x
    assert not isinstance(not_tensors, str)
    assert not_tensors.inputs is None
