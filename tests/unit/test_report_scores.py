"""The score-based parts of the page and the command line, without a browser: thumbnails read from the run folder,
the ``predictions`` line, which sections a report adds, and the ``--where`` keys into the records."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from folders import make_run, make_scored_run, scored_report_fields

from arccnet_ckpt import load_run
from arccnet_ckpt.cli.select import UsageError, key_parts
from arccnet_ckpt.cli.where import Where, unknown_field
from arccnet_ckpt.records import ClassificationReport, PredictionSource
from arccnet_ckpt.report import format as fmt
from arccnet_ckpt.report.scores import MAX_THUMBNAIL_BYTES, read_thumbnail, report_scores, shown_sections

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def scored(tmp_path: Path) -> Path:
    return Path(make_scored_run(tmp_path))


def test_a_thumbnail_is_embedded_as_the_file_s_own_bytes(scored: Path) -> None:
    name = sorted(os.listdir(scored / "mistakes"))[0]
    uri, problem = read_thumbnail(str(scored), f"mistakes/{name}")
    assert problem == ""
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == (scored / "mistakes" / name).read_bytes()


@pytest.mark.parametrize(
    ("write", "relative", "problem"),
    [
        (
            lambda d: (d / "mistakes" / "big.png").write_bytes(PNG + b"\0" * MAX_THUMBNAIL_BYTES),
            "mistakes/big.png",
            r"not shown: mistakes/big.png: larger than the 262,144-byte limit \(it holds 262,152 bytes\)",
        ),
        (
            lambda d: (d / "mistakes" / "x.png").write_bytes(b"GIF89a" + b"\0" * 40),
            "mistakes/x.png",
            "not shown: mistakes/x.png is not a PNG file",
        ),
        (lambda d: None, "mistakes/gone.png", "not shown: mistakes/gone.png: No such file or directory"),
        (lambda d: None, "../../etc/passwd", r"not shown: ../../etc/passwd is not a path inside the run folder"),
        (lambda d: None, "/etc/passwd", r"not shown: /etc/passwd is not a path inside the run folder"),
        (
            lambda d: os.mkfifo(d / "mistakes" / "fifo.png"),
            "mistakes/fifo.png",
            r"not shown: mistakes/fifo.png: a FIFO \(named pipe\), not a regular file",
        ),
    ],
    ids=["too-large", "not-png", "missing", "outside", "absolute", "fifo"],
)
def test_a_thumbnail_that_cannot_be_shown_says_why(
    scored: Path, write: Callable[[Path], object], relative: str, problem: str
) -> None:
    write(scored)
    uri, why = read_thumbnail(str(scored), relative)
    assert uri == ""
    assert re.match(problem, why), why


def test_the_predictions_line_says_source_scores_transform_and_ranking() -> None:
    exact = PredictionSource(source="forward", scores="logits", transform="softmax", ranking="exact")
    assert fmt.predictions_line(exact) == (
        "source forward, scores logits (softmax), labels from the scores, ranking exact"
    )
    binned = PredictionSource(
        source="outputs",
        scores="probabilities",
        labels="outputs",
        key="probs",
        threshold=0.5,
        ranking="binned",
        max_error=0.00123,
        note="labels agree with the scores' argmax",
    )
    assert fmt.predictions_line(binned) == (
        "source outputs (probs), scores probabilities, threshold 0.5, labels from test_step's outputs, "
        "ranking binned (max error 0.00123); labels agree with the scores' argmax"
    )


def test_a_report_without_score_fields_adds_no_section(tmp_path: Path, scored: Path) -> None:
    plain = load_run(make_run(tmp_path / "plain"))
    assert plain.report is not None
    assert shown_sections([report_scores(plain.path, plain.report, "")]) == frozenset()
    full = load_run(scored)
    assert full.report is not None
    assert shown_sections([report_scores(str(scored), full.report, "")]) == {"curves", "calibration", "mistakes"}
    labels_only = ClassificationReport(scores_note="the predictions were integer labels: no score-based field")
    assert shown_sections([report_scores(str(scored), labels_only, "")]) == {"curves", "calibration"}


def test_the_score_rows_follow_the_matrix_order_and_the_curves_carry_the_auc(scored: Path) -> None:
    report = load_run(scored).report
    assert report is not None
    assert report.per_class is not None
    scores = report_scores(str(scored), report, "")
    assert [r.name for r in scores.rows] == report.class_names
    roc = str(scores.charts[0])
    for name, m in report.per_class.items():
        assert f"{name} (AUC {fmt.number(m.roc_auc)})" in roc
    assert [m.index for m in scores.gallery] == [m.index for m in report.mistakes or []]


# ----------------------------------------------------------------------------------------------------- --where keys


def test_key_parts_take_a_quoted_segment_whole() -> None:
    assert key_parts('report.per_class."no flare".tss') == ["report", "per_class", "no flare", "tss"]
    assert key_parts("report.per_class.'C>1'.hss") == ["report", "per_class", "C>1", "hss"]
    assert key_parts("report.per_class.C.1.tss") == ["report", "per_class", "C", "1", "tss"]
    assert key_parts('report."unclosed') is None
    assert key_parts("a..b") is None


@pytest.mark.parametrize(
    "key",
    [
        "report.roc_auc.macro",
        "report.per_class.M.tss",
        "report.per_class.C.1.tss",  # a class named C.1
        'report.per_class."no flare".average_precision',
        "report.dataloaders.1.roc_auc.weighted",
        "report.evaluations.0.dataloaders.0.per_class.M.hss",
        "report.calibration.ece",
        "report.curves.M.roc.fpr",
        "data.train.class_counts.M",
        "test_results.test_f1",
        "best_val_f1",
        "minimal.best_epoch",
        "config.anything.at.all",
    ],
)
def test_a_key_into_the_records_is_allowed(key: str) -> None:
    assert unknown_field(key_parts(key) or []) == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("report.roc_auc.macroo>0.8", r"report.roc_auc has no field 'macroo'; its fields: macro, weighted"),
        (
            "report.per_class.M.tsss>0",
            r"report.per_class.M has no field 'tsss'; its fields: precision, recall, f1, support, roc_auc, "
            r"average_precision, tss, hss \(quote a key",
        ),
        ("report.roc_aucc.macro>0.8", r"report has no field 'roc_aucc'; its fields: .*, roc_auc, curves, "),
        ("data.trian.num_samples>0", r"data has no field 'trian'; its fields: train, val, test"),
        ("report.dataloaders.first.roc_auc.macro>0", r"report.dataloaders is a list: the next segment is a position"),
        ("report.calibration.ece.x>0", r"report.calibration.ece is a value, with no field 'x'"),
    ],
)
def test_an_unknown_field_is_a_usage_error_listing_the_allowed_ones(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Where.parse(text)


def test_where_compares_a_nested_score(scored: Path) -> None:
    run = load_run(scored)
    assert run.report is not None
    assert run.report.roc_auc is not None
    assert run.report.per_class is not None
    macro = run.report.roc_auc.macro
    assert macro is not None
    assert Where.parse(f"report.roc_auc.macro>={macro}").matches(run)
    assert not Where.parse(f"report.roc_auc.macro>{macro}").matches(run)
    tss = run.report.per_class["M_X"].tss
    assert Where.parse(f"report.per_class.M_X.tss={tss}").matches(run)
    assert Where.parse(f"report.per_class.'M_X'.tss={tss}").matches(run)


def test_a_class_name_with_a_blank_or_a_dot_is_reached(tmp_path: Path) -> None:
    run = load_run(make_scored_run(tmp_path, class_names=("no flare", "C.1", "M>X")))
    assert run.report is not None
    assert run.report.per_class is not None
    for quoted, name in (('"no flare"', "no flare"), ("C.1", "C.1"), ("'M>X'", "M>X")):
        value = run.report.per_class[name].tss
        assert Where.parse(f"report.per_class.{quoted}.tss={value}").matches(run)
        assert not Where.parse(f"report.per_class.{quoted}.tss>{value}").matches(run)


def test_the_builder_s_numbers_agree_with_sklearn() -> None:
    """The hand-made report is computed, not typed: its averages are its classes' own."""
    fields = scored_report_fields(["a", "b"], num_samples=80, seed=3, mistakes=3)
    per_class = fields["per_class"]
    assert fields["roc_auc"]["macro"] == pytest.approx(per_class["b"]["roc_auc"])  # binary: the positive class's
    assert per_class["a"]["tss"] == pytest.approx(per_class["b"]["tss"])  # one-vs-rest of two classes: the same table
    confidences = [m["confidence"] for m in fields["mistakes"]]
    assert confidences == sorted(confidences, reverse=True)
    assert sum(b["count"] for b in fields["calibration"]["bins"]) == 80
