"""The page's charts, hand-written SVG: line charts (ticks, legend, epoch markers) and the confusion-matrix heat map.

Pure functions of plain values that return escaped markup (:class:`~markupsafe.Markup`, escaped with the page's one
rule in :mod:`~arccnet_ckpt.report.markup`), ready for the templates. Hand-written because it must be fast (a
comparison draws dozens of charts) and self-contained (no script, no font, no URL). Numbers read as everywhere else:
:mod:`~arccnet_ckpt.report.format`.

* colours: :data:`PALETTE` and :func:`colour` for series and runs, :func:`heat` and :func:`text_on` for the heat map;
* :func:`line_chart` with :class:`Series` and :class:`Marker`, and :func:`ticks` for its axes;
* :func:`matrix_svg`: the confusion matrix, rows true classes, columns predicted ones.
* a group's charts: :func:`strip_chart` (one number over the runs) and :func:`error_bar_chart` (per class).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from arccnet_ckpt.report import format as fmt
from arccnet_ckpt.report.markup import escape_text as _esc

_DASH = fmt.EM_DASH

# Tableau 10: distinct hues that stay apart for the common colour-vision deficiencies.
PALETTE = (
    "#4e79a7",
    "#e15759",
    "#59a14f",
    "#f28e2b",
    "#b07aa1",
    "#76b7b2",
    "#edc948",
    "#9c755f",
    "#ff9da7",
    "#7f7f7f",
)
# ColorBrewer "Blues", light to dark: the heat-map scale.
_BLUES = ((247, 251, 255), (198, 219, 239), (107, 174, 214), (33, 113, 181), (8, 48, 107))
_DARK_TEXT = "#1a1a1a"
_LIGHT_TEXT = "#ffffff"
# The epoch markers are thin neutral grey lines, never a hue or a stroke of the series (2 px, coloured, solid or
# dashed 6-4): the best epoch is solid, the early stop dotted.
_MARKER_COLOUR = "#6b6f75"
BEST_DASH = ""
STOP_DASH = "1.5 3"
MATRIX_NOTE = (
    "Rows: true class; columns: predicted class. Each cell: count and share of its row (the recall for the diagonal); "
    "the colour follows the row share."
)
_LONG_LABEL = 22  # characters of a class name shown in the matrix before it is cut (the full name is in a tooltip)


def colour(index: int) -> str:
    """The colour of the ``index``-th series or run."""
    return PALETTE[index % len(PALETTE)]


# ------------------------------------------------------------------------------------------- confusion matrix


def _lerp(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return (r, g, bl)


def heat(fraction: float) -> tuple[int, int, int]:
    """The fill of a cell holding ``fraction`` (0..1) of its row."""
    t = min(max(fraction, 0.0), 1.0) * (len(_BLUES) - 1)
    low = min(int(t), len(_BLUES) - 2)
    return _lerp(_BLUES[low], _BLUES[low + 1], t - low)


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG relative luminance of an sRGB colour."""

    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_on(rgb: tuple[int, int, int]) -> str:
    """Dark or white text, whichever contrasts more with the fill."""
    lum = luminance(rgb)
    dark = luminance((0x1A, 0x1A, 0x1A))
    on_dark = (lum + 0.05) / (dark + 0.05)
    on_white = 1.05 / (lum + 0.05)
    return _DARK_TEXT if on_dark >= on_white else _LIGHT_TEXT


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _short(name: str) -> str:
    return name if len(name) <= _LONG_LABEL else name[: _LONG_LABEL - 1] + "\u2026"


def matrix_svg(matrix: Sequence[Sequence[float]], names: list[str], *, caption: bool = True) -> Markup:
    """The confusion matrix as an SVG heat map: rows are true classes, columns predicted ones.

    Counts are whole numbers; a group's mean matrix holds fractions, written as every number on the page is
    (:func:`~arccnet_ckpt.report.format.number`).
    """
    n = len(matrix)
    cell = 72 if n <= 5 else max(36, 560 // n)
    total_size = max(11.0, min(14.0, cell * 0.22))
    show_pct = cell >= 46
    char_w = 7.2  # width of one 12 px character, roughly
    shown = [_short(name) for name in names]
    longest = max((len(s) for s in [*shown, "Total"]), default=5)
    label_w = min(190.0, longest * char_w + 10)
    rotate = longest * char_w > cell - 8
    col_h = min(150.0, longest * char_w * 0.72 + 14) if rotate else 20.0
    total_w = 64.0
    left = 24 + label_w + 8
    top = 26 + col_h + 6
    width = left + n * cell + total_w + (col_h * 0.72 if rotate else 8)
    height = top + n * cell + 30 + 8
    row_totals = [sum(row) for row in matrix]
    col_totals = [sum(row[j] for row in matrix) for j in range(n)]
    grand = sum(row_totals)

    out = [
        f'<svg class="cm" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'role="img" aria-label="Confusion matrix, rows true class, columns predicted class">',
        f'<text x="{left + n * cell / 2:.1f}" y="16" text-anchor="middle" font-size="13" font-weight="600">'
        "Predicted</text>",
        f'<text transform="translate(14 {top + n * cell / 2:.1f}) rotate(-90)" text-anchor="middle" font-size="13" '
        'font-weight="600">True</text>',
    ]
    for j, label in enumerate([*shown, "Total"]):
        cx = left + j * cell + cell / 2 if j < n else left + n * cell + total_w / 2
        full = names[j] if j < n else "Total"
        weight = ' fill="#5f6368"' if j == n else ""
        if rotate:
            out.append(
                f'<text x="{cx:.1f}" y="{top - 6:.1f}" font-size="12" transform="rotate(-45 {cx:.1f} {top - 6:.1f})"'
                f"{weight}><title>{_esc(full)}</title>{_esc(label)}</text>"
            )
        else:
            out.append(
                f'<text x="{cx:.1f}" y="{top - 6:.1f}" font-size="12" text-anchor="middle"{weight}>'
                f"<title>{_esc(full)}</title>{_esc(label)}</text>"
            )
    for i in range(n):
        y = top + i * cell
        out.append(
            f'<text x="{left - 8:.1f}" y="{y + cell / 2 + 4:.1f}" font-size="12" text-anchor="end">'
            f"<title>{_esc(names[i])}</title>{_esc(shown[i])}</text>"
        )
        for j in range(n):
            out.append(_matrix_cell(matrix[i][j], row_totals[i], i, j, names, left + j * cell, y, cell, show_pct))
        out.append(
            f'<text class="cm-total" data-row="{i}" x="{left + n * cell + total_w / 2:.1f}" y="{y + cell / 2 + 4:.1f}" '
            f'font-size="{total_size:.1f}" text-anchor="middle" fill="#5f6368">{fmt.number(row_totals[i])}</text>'
        )
    y = top + n * cell
    out.append(
        f'<text x="{left - 8:.1f}" y="{y + 19:.1f}" font-size="12" text-anchor="end" fill="#5f6368">Total</text>'
    )
    for j in range(n):
        out.append(
            f'<text class="cm-total" data-col="{j}" x="{left + j * cell + cell / 2:.1f}" y="{y + 19:.1f}" '
            f'font-size="{total_size:.1f}" text-anchor="middle" fill="#5f6368">{fmt.number(col_totals[j])}</text>'
        )
    out.append(
        f'<text x="{left + n * cell + total_w / 2:.1f}" y="{y + 19:.1f}" font-size="{total_size:.1f}" '
        f'text-anchor="middle" font-weight="600" fill="#5f6368">{fmt.number(grand)}</text>'
    )
    out.append(
        f'<rect x="{left}" y="{top}" width="{n * cell}" height="{n * cell}" fill="none" stroke="#9aa0a6" '
        'stroke-width="1"/>'
    )
    out.append("</svg>")
    note = f'<p class="sub">{_esc(MATRIX_NOTE)}</p>' if caption else ""
    return Markup(f'<figure class="cm-figure">{"".join(out)}{note}</figure>')  # noqa: S704 (every text in it went through _esc)


def _matrix_cell(
    count: float, row_total: float, i: int, j: int, names: list[str], x: float, y: float, cell: float, show_pct: bool
) -> str:
    fraction = count / row_total if row_total else 0.0
    fill = heat(fraction)
    ink = text_on(fill)
    pct = fmt.percent(fraction) if row_total else _DASH
    count_size = min(16.0, cell * 0.26)
    shown = fmt.number(count)
    tip = f"true {names[i]}, predicted {names[j]}: {shown} ({pct} of the row)"
    cx = x + cell / 2
    count_y = y + cell / 2 + (count_size * 0.1 if show_pct else count_size * 0.35)
    texts = (
        f'<text x="{cx:.1f}" y="{count_y:.1f}" font-size="{count_size:.1f}" font-weight="600" text-anchor="middle" '
        f'fill="{ink}">{shown}</text>'
    )
    if show_pct:
        texts += (
            f'<text x="{cx:.1f}" y="{count_y + count_size * 1.05:.1f}" font-size="{count_size * 0.72:.1f}" '
            f'text-anchor="middle" fill="{ink}" fill-opacity="0.85">{_esc(pct)}</text>'
        )
    return (
        f'<g class="cm-cell" data-row="{i}" data-col="{j}" data-count="{count}"><title>{_esc(tip)}</title>'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell}" height="{cell}" fill="{_hex(fill)}" stroke="#fff" '
        f'stroke-width="1"/>{texts}</g>'
    )


# ------------------------------------------------------------------------------------------------------ charts


@dataclass
class Series:
    label: str
    points: list[tuple[float, float]]
    colour: str
    dashed: bool = False


@dataclass
class Marker:
    x: float
    label: str
    tag: str
    dash: str = BEST_DASH


def nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * magnitude:
            return m * magnitude
    return 10 * magnitude


def ticks(low: float, high: float, count: int = 5, *, integer: bool = False, floor: float | None = None) -> list[float]:
    """Round tick values covering ``low..high`` (the first and last ticks are the axis ends).

    A single value (``low == high``: a constant, one epoch) gets an axis around it, never below ``floor``: a loss
    of 0.69 is drawn on 0.6..0.8, a rate of 0 on 0..1, not on -1..1.
    """
    if high <= low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
        if floor is not None:
            low = max(low, floor)
    step = nice_step(high - low, count)
    if integer:
        step = max(1.0, math.ceil(step))
    start = math.floor(low / step + 1e-9) * step
    end = math.ceil(high / step - 1e-9) * step
    n = int(round((end - start) / step))
    return [start + k * step for k in range(n + 1)]


def line_chart(series: list[Series], markers: list[Marker], x_label: str, title: str) -> Markup:
    """One SVG line chart with axes, ticks and markers, and an HTML legend under it."""
    width = 540.0
    height = 250.0 + (22.0 if markers else 0.0)
    left, right, bottom = 62.0, 18.0, 44.0
    top = 36.0 if markers else 14.0
    xs = [x for s in series for x, _ in s.points] + [m.x for m in markers]
    ys = [y for s in series for _, y in s.points]
    x_ticks = ticks(min(xs), max(xs), 8, integer=True)
    y_low, y_high = min(ys), max(ys)
    pad = (y_high - y_low) * 0.05
    # No negative axis for values that cannot be negative (losses, rates, scores).
    floor = 0.0 if y_low >= 0 else None
    y_ticks = ticks(max(y_low - pad, 0.0) if y_low >= 0 else y_low - pad, y_high + pad, 5, floor=floor)
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    if min(xs) == max(xs):  # one epoch (or step): its point in the middle, its one tick under it
        x_ticks = [min(xs)]
        x0, x1 = min(xs) - 0.5, min(xs) + 0.5
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * plot_h

    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    out = [
        f'<svg class="chart" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'role="img" aria-label="{_esc(title)}">'
    ]
    for y in y_ticks:
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#eceff1"/>'
            f'<text x="{left - 6}" y="{py(y) + 4:.1f}" font-size="11" text-anchor="end" fill="#5f6368">'
            f"{_esc(fmt.tick(y, y_step))}</text>"
        )
    for x in x_ticks:
        out.append(
            f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" stroke="#9aa0a6"/>'
            f'<text x="{px(x):.1f}" y="{top + plot_h + 17}" font-size="11" text-anchor="middle" fill="#5f6368">'
            f"{_esc(fmt.tick(x, x_step))}</text>"
        )
    out.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#9aa0a6"/>'
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" font-size="12" text-anchor="middle">{_esc(x_label)}</text>'
    )
    previous: float | None = None
    for marker in markers:
        x = px(marker.x)
        # A second label close to the first goes on the row above it.
        label_y = top - 18 if previous is not None and abs(x - previous) < 40 else top - 5
        previous = x
        dash = f' stroke-dasharray="{marker.dash}"' if marker.dash else ""
        out.append(
            f'<line class="marker" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="{_MARKER_COLOUR}" '
            f'stroke-width="1"{dash}><title>{_esc(marker.label)}</title></line>'
            f'<text x="{x:.1f}" y="{label_y}" font-size="11" text-anchor="{_anchor(x, left, width - right)}" '
            f'fill="{_MARKER_COLOUR}">{_esc(marker.tag)}</text>'
        )
    for s in series:
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s.points)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{s.colour}" stroke-width="2"{dash} '
            f'stroke-linejoin="round"><title>{_esc(s.label)}</title></polyline>'
        )
        if len(s.points) <= 60:
            radius = 2.6 if len(s.points) > 1 else 4.0  # a lone point has no line to show it
            label = f"{_esc(s.label)}: "
            at = f" at {_esc(x_label)} "  # escaped once a series, not once a point: a comparison has thousands
            out.extend(
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="{radius}" fill="{s.colour}">'
                f"<title>{label}{_esc(fmt.number(y, _DASH))}{at}{_esc(fmt.number(x, _DASH))}</title></circle>"
                for x, y in s.points
            )
    out.append("</svg>")
    chart_legend = legend(series, markers)
    return Markup(f'<figure class="chart"><figcaption>{_esc(title)}</figcaption>{"".join(out)}{chart_legend}</figure>')  # noqa: S704 (every text in it went through _esc)


def _anchor(x: float, low: float, high: float) -> str:
    if x - low < 30:
        return "start"
    if high - x < 30:
        return "end"
    return "middle"


def legend(series: list[Series], markers: list[Marker]) -> str:
    """The HTML legend under a chart: a swatch and the label of each series, then of each marker."""
    items = []
    for s in series:
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        items.append(
            f'<li><svg width="24" height="10" aria-hidden="true"><line x1="1" y1="5" x2="23" y2="5" '
            f'stroke="{s.colour}" stroke-width="2.5"{dash}/></svg>{_esc(s.label)}</li>'
        )
    for m in markers:
        dash = f' stroke-dasharray="{m.dash}"' if m.dash else ""
        items.append(
            f'<li><svg width="24" height="10" aria-hidden="true"><line x1="12" y1="0" x2="12" y2="10" '
            f'stroke="{_MARKER_COLOUR}" stroke-width="1"{dash}/></svg>{_esc(m.label)}</li>'
        )
    return f'<ul class="legend">{"".join(items)}</ul>'


# ------------------------------------------------------------------------------------ a group's charts


def strip_chart(points: Sequence[tuple[str, float]], mean: float, std: float, label: str) -> Markup:
    """One number over a group's runs: a dot per run (its name and value in a tooltip), the mean as a line and the
    band of ±1 standard deviation around it, on an axis that holds all of them."""
    width, height, left, right, centre = 300.0, 46.0, 10.0, 10.0, 16.0
    values = [v for _, v in points]
    x_ticks = ticks(min([*values, mean - std]), max([*values, mean + std]), 3)
    x0, x1 = x_ticks[0], x_ticks[-1]
    step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    out = [
        f'<svg class="strip" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'role="img" aria-label="{_esc(label)}: each run, the mean and ±1 std">',
        f'<line x1="{left}" x2="{width - right}" y1="{centre + 12}" y2="{centre + 12}" stroke="#9aa0a6"/>',
    ]
    for x in (x_ticks[0], x_ticks[-1]):
        out.append(
            f'<text x="{px(x):.1f}" y="{height - 3}" font-size="10" text-anchor="{_anchor(px(x), left, width - right)}"'
            f' fill="#5f6368">{_esc(fmt.tick(x, step))}</text>'
        )
    band = f"mean {fmt.number(mean)} ± std {fmt.number(std)}"
    out.append(
        f'<rect class="std-band" x="{px(mean - std):.1f}" y="{centre - 10}" '
        f'width="{px(mean + std) - px(mean - std):.1f}" height="20" fill="{PALETTE[0]}" fill-opacity="0.16">'
        f"<title>{_esc(band)}</title></rect>"
        f'<line class="mean" x1="{px(mean):.1f}" x2="{px(mean):.1f}" y1="{centre - 12}" y2="{centre + 12}" '
        f'stroke="{_DARK_TEXT}" stroke-width="2"><title>{_esc(band)}</title></line>'
    )
    for k, (name, value) in enumerate(points):
        y = centre + ((k % 3) - 1) * 5  # equal values side by side, not one on another
        out.append(
            f'<circle class="fold-point" data-value="{value!r}" cx="{px(value):.1f}" cy="{y:.1f}" r="4" '
            f'fill="{colour(k)}" stroke="#fff" stroke-width="1"><title>{_esc(name)}: {_esc(fmt.number(value))}'
            "</title></circle>"
        )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (every text in it went through _esc)


@dataclass
class ErrorSeries:
    """One field over the classes (precision, recall...): each class's mean and std, or ``None`` where unrecorded."""

    label: str
    values: list[tuple[float, float] | None]
    colour: str


def error_bar_chart(classes: Sequence[str], series: Sequence[ErrorSeries], title: str) -> Markup:
    """Grouped bars, a group per class and a bar per series, each with an error bar of ±1 std, and a legend."""
    bar, gap, right, top, bottom, char_w = 14.0, 20.0, 12.0, 12.0, 8.0, 7.2
    shown = [_short(c) for c in classes]
    longest = max((len(c) for c in shown), default=1)
    group_w = max(bar * len(series) + gap, 300.0 / max(len(classes), 1))  # a few classes still fill the width
    rotate = longest * char_w > group_w - 4
    # A turned label (-35 degrees, anchored at its end) reaches down sin 35 and left cos 35 of its length.
    label_h = min(110.0, longest * char_w * 0.58 + 12) if rotate else 16.0
    first = len(shown[0]) * char_w * 0.82 - group_w / 2 + 8 if rotate and shown else 0.0
    left = max(46.0, first)
    plot_h = 200.0
    width = left + group_w * len(classes) + right
    height = top + plot_h + label_h + bottom
    spans = [(m - s, m + s) for e in series for v in e.values if v is not None for m, s in [v]]
    y_ticks = ticks(min([0.0, *(lo for lo, _ in spans)]), max([1.0, *(hi for _, hi in spans)]), 5)
    y0, y1 = y_ticks[0], y_ticks[-1]
    step = y_ticks[1] - y_ticks[0]

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * plot_h

    out = [
        f'<svg class="error-bars" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'role="img" aria-label="{_esc(title)}">'
    ]
    for y in y_ticks:
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#eceff1"/>'
            f'<text x="{left - 6}" y="{py(y) + 4:.1f}" font-size="11" text-anchor="end" fill="#5f6368">'
            f"{_esc(fmt.tick(y, step))}</text>"
        )
    zero = py(min(max(0.0, y0), y1))
    for i, name in enumerate(classes):
        gx = left + (group_w - bar * len(series)) / 2 + i * group_w
        for k, e in enumerate(series):
            value = e.values[i]
            if value is None:
                continue
            mean, std = value
            x = gx + k * bar
            cx = x + bar / 2
            tip = f"{name}, {e.label}: {fmt.number(mean)} ± {fmt.number(std)}"
            lo, hi = py(mean - std), py(mean + std)
            out.append(
                f'<g class="err-bar" data-class="{_esc(name)}" data-field="{_esc(e.label)}" data-mean="{mean!r}" '
                f'data-std="{std!r}"><title>{_esc(tip)}</title>'
                f'<rect x="{x + 1:.1f}" y="{min(py(mean), zero):.1f}" width="{bar - 2:.1f}" '
                f'height="{abs(zero - py(mean)):.1f}" fill="{e.colour}"/>'
                f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{hi:.1f}" y2="{lo:.1f}" stroke="{_DARK_TEXT}" '
                'stroke-width="1.2"/>'
                f'<line x1="{cx - 3:.1f}" x2="{cx + 3:.1f}" y1="{hi:.1f}" y2="{hi:.1f}" stroke="{_DARK_TEXT}"/>'
                f'<line x1="{cx - 3:.1f}" x2="{cx + 3:.1f}" y1="{lo:.1f}" y2="{lo:.1f}" stroke="{_DARK_TEXT}"/></g>'
            )
        lx, ly = gx + bar * len(series) / 2, top + plot_h + 14
        turn = f' transform="rotate(-35 {lx:.1f} {ly:.1f})" text-anchor="end"' if rotate else ' text-anchor="middle"'
        out.append(
            f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="12"{turn}><title>{_esc(name)}</title>{_esc(shown[i])}</text>'
        )
    out.append(
        f'<rect x="{left}" y="{top}" width="{width - left - right:.1f}" height="{plot_h}" fill="none" '
        'stroke="#9aa0a6"/>'
        "</svg>"
    )
    key = legend([Series(e.label, [], e.colour) for e in series], [])
    return Markup(f'<figure class="error-chart"><figcaption>{_esc(title)}</figcaption>{"".join(out)}{key}</figure>')  # noqa: S704 (every text in it went through _esc)
