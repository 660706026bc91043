"""The score-based sections of a run's page, as plain values: what a version 2 ``classification_report.json`` and
the summary's ``data`` add to ``report.html``.

* :func:`run_scores`: one :class:`Scores` for the headline report, or one per test dataloader where there are
  several: the ROC and PR charts with each class's AUC and AP, the per-class skill scores, the reliability diagram,
  the ``predictions`` line, the notes, and the mistakes (:class:`MistakeCard`);
* :func:`read_thumbnail`: a mistake's PNG read from the run folder through the store (bounded by
  :data:`MAX_THUMBNAIL_BYTES`, a PNG only, a path inside the run folder only) as a ``data:`` URI, so the page stays
  one file;
* :func:`data_table`: the class counts of each split (``training_summary.json`` ``data``) as rows of bars.

A version 1 report gives no :class:`Scores` at all, so its page is the page it always was. Drawing is
:mod:`~arccnet_ckpt.report.scoreplots`'s. Nothing here imports torch or Jinja2.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field

from markupsafe import Markup

from arccnet_ckpt import layout, store
from arccnet_ckpt.records import ClassificationReport, DataloaderReport, Mistake, RocAuc, matrix_names
from arccnet_ckpt.report import format as fmt
from arccnet_ckpt.report.scoreplots import Curve, curve_chart, reliability_chart
from arccnet_ckpt.report.svg import colour
from arccnet_ckpt.report.view import RunView

MAX_THUMBNAIL_BYTES = 256 * 1024
"""The largest thumbnail embedded in the page (256 KiB); the package writes them at most 96 px, a few KB each."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SPLITS = ("train", "val", "test")


@dataclass
class ScoreRow:
    """A row of the per-class skill table: one class's ROC AUC, average precision, TSS and HSS."""

    name: str
    roc_auc: float | None
    average_precision: float | None
    tss: float | None
    hss: float | None


@dataclass
class MistakeCard:
    """One of the most confident mistakes: the record's values, and its thumbnail as a ``data:`` URI or why not."""

    rank: int
    index: int
    target: str
    predicted: str
    confidence: float
    thumbnail: str | None
    uri: str = ""
    problem: str = ""


@dataclass
class Scores:
    """What the page shows of one report's scores (the headline's, or one test dataloader's)."""

    heading: str
    charts: list[Markup] = field(default_factory=list)
    rows: list[ScoreRow] = field(default_factory=list)
    roc_auc: RocAuc | None = None
    reliability: Markup | None = None
    predictions: str = ""
    scores_note: str = ""
    mistakes_note: str = ""
    mistakes: list[MistakeCard] | None = None

    @property
    def gallery(self) -> list[MistakeCard]:
        """The mistakes with a thumbnail to show."""
        return [m for m in self.mistakes or [] if m.uri]

    @property
    def text_rows(self) -> list[MistakeCard]:
        """The mistakes without one (no image input, no Pillow, or a file that could not be shown)."""
        return [m for m in self.mistakes or [] if not m.uri]


def run_scores(view: RunView) -> list[Scores]:
    """The score sections of a run's page; none for a run without a version 2 report."""
    report = view.report
    if report is None or report.schema_version < 2:
        return []
    if len(report.dataloaders) > 1:
        return [report_scores(view.path, loader, loader.label()) for loader in report.dataloaders]
    return [report_scores(view.path, report, "")]


def shown_sections(scores: list[Scores]) -> frozenset[str]:
    """Which score sections the page has (``curves``, ``calibration``, ``mistakes``): those some report records
    something for, a value or a note saying why not. A report without any (version 1, or no predictions at all,
    which the per-class section explains) adds no section."""
    shown = set()
    if any(s.charts or s.rows or s.predictions or s.scores_note for s in scores):
        shown.add("curves")
    if any(s.reliability is not None or s.predictions or s.scores_note for s in scores):
        shown.add("calibration")
    if any(s.mistakes is not None or s.mistakes_note for s in scores):
        shown.add("mistakes")
    return frozenset(shown)


def report_scores(path: str, report: ClassificationReport | DataloaderReport, heading: str) -> Scores:
    """The :class:`Scores` of one report of the run folder ``path`` (where its thumbnails are)."""
    names = matrix_names(report) if report.per_class else list(report.curves or {})
    per_class = report.per_class or {}
    rows = [
        ScoreRow(n, m.roc_auc, m.average_precision, m.tss, m.hss)
        for n in names
        if (m := per_class.get(n)) is not None
        and any(v is not None for v in (m.roc_auc, m.average_precision, m.tss, m.hss))
    ]
    scores = Scores(
        heading,
        charts=_curve_charts(report, names),
        rows=rows,
        roc_auc=report.roc_auc if report.roc_auc and report.roc_auc.macro is not None else None,
        reliability=reliability_chart(report.calibration.bins, report.calibration.ece)
        if report.calibration is not None and report.calibration.bins
        else None,
        predictions=fmt.predictions_line(report.predictions) if report.predictions is not None else "",
        scores_note=report.scores_note or "",
        mistakes_note=report.mistakes_note or "",
    )
    if report.mistakes is not None:
        scores.mistakes = [_card(path, rank, m) for rank, m in enumerate(report.mistakes, start=1)]
    return scores


def _curve_charts(report: ClassificationReport | DataloaderReport, names: list[str]) -> list[Markup]:
    curves = report.curves or {}
    per_class = report.per_class or {}
    order = [n for n in names if n in curves] + [n for n in curves if n not in names]
    roc, pr = [], []
    for i, name in enumerate(order):
        entry, scores = curves[name], per_class.get(name)
        if entry.roc is not None:
            auc = fmt.number(scores.roc_auc if scores is not None else None)
            roc.append(Curve(name, f"AUC {auc}", entry.roc.fpr, entry.roc.tpr, colour(i)))
        if entry.pr is not None:
            ap = fmt.number(scores.average_precision if scores is not None else None)
            pr.append(Curve(name, f"AP {ap}", entry.pr.recall, entry.pr.precision, colour(i)))
    charts = []
    if roc:
        charts.append(
            curve_chart("roc", roc, "ROC, one class against the rest", "false positive rate", "true positive rate")
        )
    if pr:
        charts.append(curve_chart("pr", pr, "Precision-recall, one class against the rest", "recall", "precision"))
    return charts


def _card(path: str, rank: int, mistake: Mistake) -> MistakeCard:
    card = MistakeCard(rank, mistake.index, mistake.target, mistake.predicted, mistake.confidence, mistake.thumbnail)
    if mistake.thumbnail is not None:
        card.uri, card.problem = read_thumbnail(path, mistake.thumbnail)
    return card


def read_thumbnail(run_path: str, relative: str) -> tuple[str, str]:
    """A thumbnail of the run folder as a ``data:image/png;base64,`` URI, or ``""`` and why it is not shown.

    Only a thumbnail's path as the package writes it is read (``mistakes/<name>.png``: :func:`~arccnet_ckpt.layout.
    thumbnail_path`, never outside the run folder), through the store's bounded read (a FIFO or a device under its
    name is refused, never waited on), and only a PNG of at most :data:`MAX_THUMBNAIL_BYTES`.
    """
    try:
        parts = layout.thumbnail_path(relative)
    except ValueError:
        return "", f"not shown: {relative} is not a path inside the run folder"
    try:
        data = store.read_bounded(store.join(run_path, *parts), limit=MAX_THUMBNAIL_BYTES)
    except OSError as e:
        return "", f"not shown: {relative}: {store.unreadable_reason(e)}"
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return "", f"not shown: {relative} is not a PNG file"
    width, height = struct.unpack(">II", data[16:24])
    if not width or not height:
        return "", f"not shown: {relative} is an empty PNG ({width}x{height})"
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii"), ""


# -------------------------------------------------------------------------------------------- the data counts


@dataclass
class CountCell:
    """One split's count of one class, and its share of the split's largest class (the bar)."""

    count: int | None
    share: float | None


@dataclass
class DataTable:
    """The class counts of each split: a row per class, a column per split, and each split's totals and notes."""

    splits: list[str]
    rows: list[tuple[str, list[CountCell]]]
    samples: list[int | None]
    batches: list[int | None]
    epochs: list[int | None]
    notes: list[str]


def data_table(view: RunView) -> DataTable | None:
    """What data the Trainer saw (``training_summary.json`` ``data``); ``None`` when it is not recorded."""
    data = view.summary.data if view.summary is not None else None
    if data is None:
        return None
    present = [(name, getattr(data, name)) for name in SPLITS if getattr(data, name) is not None]
    if not present:
        return None
    order: dict[str, None] = {}
    if view.report is not None and view.report.class_names:
        order.update(dict.fromkeys(view.report.class_names))
    for _, split in present:
        order.update(dict.fromkeys(split.class_counts or {}))
    largest = [max((split.class_counts or {}).values(), default=0) for _, split in present]
    rows = []
    for name in order:
        cells = []
        for (_, split), top in zip(present, largest, strict=True):
            count = (split.class_counts or {}).get(name)
            cells.append(CountCell(count, count / top if count is not None and top else None))
        rows.append((name, cells))
    return DataTable(
        splits=[name for name, _ in present],
        rows=rows,
        samples=[split.num_samples for _, split in present],
        batches=[split.num_batches for _, split in present],
        epochs=[split.epoch for _, split in present],
        notes=[f"{name}: {split.note}" for name, split in present if split.note],
    )
