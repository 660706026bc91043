"""The score-based charts, hand-written SVG like :mod:`~arccnet_ckpt.report.svg`'s: ROC and precision-recall curves
per class (:func:`curve_chart`) and the reliability diagram (:func:`reliability_chart`).

Both draw on the unit square (every axis is a rate or a probability, 0 to 1), return escaped markup
(:class:`~markupsafe.Markup`: every text went through the page's one escaping rule) and load nothing. What to draw
is chosen by :mod:`~arccnet_ckpt.report.scores`. Nothing here imports torch or Jinja2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from arccnet_ckpt.records import CalibrationBin
from arccnet_ckpt.report import format as fmt
from arccnet_ckpt.report.markup import escape_text as _esc
from arccnet_ckpt.report.svg import Series, legend

_SIZE = 280.0  # the plot's side, px
_LEFT, _TOP, _RIGHT, _BOTTOM = 52.0, 26.0, 14.0, 44.0
_WIDTH, _HEIGHT = _LEFT + _SIZE + _RIGHT, _TOP + _SIZE + _BOTTOM
_TICKS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
_GRID = "#eceff1"
_AXIS = "#9aa0a6"
_MUTED = "#5f6368"
_CHANCE_DASH = "5 3"
_ACCURACY_FILL = "#4e79a7"
_GAP_FILL = "#e15759"


@dataclass
class Curve:
    """One class's curve: its name, the figure the legend gives it (``AUC 0.91``), its points and colour."""

    name: str
    figure: str
    xs: list[float]
    ys: list[float]
    colour: str


def _x(value: float) -> float:
    return _LEFT + min(max(value, 0.0), 1.0) * _SIZE


def _y(value: float) -> float:
    return _TOP + (1.0 - min(max(value, 0.0), 1.0)) * _SIZE


def _frame(css: str, title: str, x_label: str, y_label: str) -> list[str]:
    """The opening tag, the grid, the ticks and the axis labels of a unit-square chart."""
    out = [
        f'<svg class="{css}" viewBox="0 0 {_WIDTH:.0f} {_HEIGHT:.0f}" width="{_WIDTH:.0f}" height="{_HEIGHT:.0f}" '
        f'role="img" aria-label="{_esc(title)}">'
    ]
    for t in _TICKS:
        label = fmt.tick(t, 0.2)
        out.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + _SIZE}" y1="{_y(t):.1f}" y2="{_y(t):.1f}" stroke="{_GRID}"/>'
            f'<text x="{_LEFT - 6}" y="{_y(t) + 4:.1f}" font-size="11" text-anchor="end" fill="{_MUTED}">{label}</text>'
            f'<line x1="{_x(t):.1f}" x2="{_x(t):.1f}" y1="{_TOP + _SIZE}" y2="{_TOP + _SIZE + 4}" stroke="{_AXIS}"/>'
            f'<text x="{_x(t):.1f}" y="{_TOP + _SIZE + 17}" font-size="11" text-anchor="middle" fill="{_MUTED}">'
            f"{label}</text>"
        )
    out.append(
        f'<rect x="{_LEFT}" y="{_TOP}" width="{_SIZE}" height="{_SIZE}" fill="none" stroke="{_AXIS}"/>'
        f'<text x="{_LEFT + _SIZE / 2:.1f}" y="{_HEIGHT - 8:.0f}" font-size="12" text-anchor="middle">'
        f"{_esc(x_label)}</text>"
        f'<text transform="translate(14 {_TOP + _SIZE / 2:.1f}) rotate(-90)" font-size="12" text-anchor="middle">'
        f"{_esc(y_label)}</text>"
    )
    return out


def _diagonal(css: str, label: str) -> str:
    return (
        f'<line class="{css}" x1="{_x(0):.1f}" y1="{_y(0):.1f}" x2="{_x(1):.1f}" y2="{_y(1):.1f}" stroke="{_AXIS}" '
        f'stroke-width="1" stroke-dasharray="{_CHANCE_DASH}"><title>{_esc(label)}</title></line>'
    )


def _figure(kind: str, title: str, svg: list[str], items: list[Series], note: str = "") -> Markup:
    caption = f'<p class="sub">{_esc(note)}</p>' if note else ""
    return Markup(  # noqa: S704 (every text in it went through _esc)
        f'<figure class="score-chart" data-kind="{kind}"><figcaption>{_esc(title)}</figcaption>{"".join(svg)}'
        f"{legend(items, [])}{caption}</figure>"
    )


def curve_chart(kind: str, curves: Sequence[Curve], title: str, x_label: str, y_label: str) -> Markup:
    """The curves of every class on one unit square, each class's figure in the legend; ``kind="roc"`` adds the
    diagonal of a classifier that guesses (AUC 0.5)."""
    out = _frame(f"{kind}-chart", title, x_label, y_label)
    items = [Series(f"{c.name} ({c.figure})", [], c.colour) for c in curves]
    if kind == "roc":
        out.append(_diagonal("chance", "chance: a classifier that guesses (AUC 0.5)"))
        items.append(Series("chance (AUC 0.5)", [], _AXIS, dashed=True))
    for c in curves:
        points = " ".join(f"{_x(x):.1f},{_y(y):.1f}" for x, y in zip(c.xs, c.ys, strict=False))
        out.append(
            f'<polyline class="curve" data-class="{_esc(c.name)}" data-points="{min(len(c.xs), len(c.ys))}" '
            f'points="{points}" fill="none" stroke="{c.colour}" stroke-width="2" stroke-linejoin="round">'
            f"<title>{_esc(c.name)}: {_esc(c.figure)}</title></polyline>"
        )
    out.append("</svg>")
    return _figure(kind, title, out, items)


def reliability_chart(bins: Sequence[CalibrationBin], ece: float | None) -> Markup:
    """The reliability diagram: each bin's accuracy as a bar over its range of confidence, the gap to the bin's mean
    confidence in red, the diagonal of perfect calibration, and each bin's count above it."""
    title = "Reliability diagram"
    out = _frame("reliability-chart", title, "confidence (predicted class's probability)", "accuracy")
    out.append(_diagonal("calibrated", "perfect calibration: accuracy equals confidence"))
    for b in bins:
        x0, x1 = _x(b.lower), _x(b.upper)
        tip = (
            f"{fmt.number(b.lower)}\u2013{fmt.number(b.upper)}: {b.count} predictions, accuracy "
            f"{fmt.number(b.accuracy)}, mean confidence {fmt.number(b.confidence)}"
        )
        parts = [
            f'<g class="rel-bin" data-count="{b.count}" data-accuracy="{_attr(b.accuracy)}" '
            f'data-confidence="{_attr(b.confidence)}"><title>{_esc(tip)}</title>'
        ]
        if b.count and b.accuracy is not None:
            top = _y(b.accuracy)
            parts.append(
                f'<rect class="accuracy" x="{x0 + 1:.1f}" y="{top:.1f}" width="{max(x1 - x0 - 2, 1):.1f}" '
                f'height="{_y(0) - top:.1f}" fill="{_ACCURACY_FILL}" fill-opacity="0.8"/>'
            )
            if b.confidence is not None:
                low, high = sorted((top, _y(b.confidence)))
                parts.append(
                    f'<rect class="gap" x="{x0 + 1:.1f}" y="{low:.1f}" width="{max(x1 - x0 - 2, 1):.1f}" '
                    f'height="{high - low:.1f}" fill="{_GAP_FILL}" fill-opacity="0.35"/>'
                )
        parts.append(
            f'<text x="{(x0 + x1) / 2:.1f}" y="{_TOP - 6:.1f}" font-size="10" text-anchor="middle" fill="{_MUTED}">'
            f"{b.count}</text></g>"
        )
        out.append("".join(parts))
    out.append("</svg>")
    items = [
        Series("accuracy of the bin", [], _ACCURACY_FILL),
        Series("gap to its mean confidence", [], _GAP_FILL),
        Series("perfect calibration", [], _AXIS, dashed=True),
    ]
    note = f"Expected calibration error (ECE): {fmt.number(ece)}. The numbers on top: predictions in each bin."
    return _figure("reliability", title, out, items, note)


def _attr(value: float | None) -> str:
    return "" if value is None else repr(value)
