"""How numbers, times, durations, sizes (and a report's ``predictions``) read, in the command line's tables and in
``report.html`` alike.

The one formatting module: ``arccnet-ckpt show`` and the HTML report print the same run the same way. Pure
functions of plain values; no torch, no I/O. ``missing`` is what stands for no value: ``-`` in a terminal, an em
dash on the page.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arccnet_ckpt.records import PredictionSource

DASH = "-"
"""What a missing value reads as in the command line."""

EM_DASH = "\u2014"
"""What a missing value reads as on the page."""


def number(value: Any, missing: str = DASH) -> str:
    """A value with 4 significant digits: integers whole, large floats grouped (``12,345``), ``yes``/``no``.

    ``None`` and a non-finite float are ``missing``; anything else is ``str(value)``.
    """
    if value is None:
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return missing
        if 1e4 <= abs(value) < 1e12:
            return f"{value:,.0f}"
        text = f"{value:.4g}"
        return "0" if text == "-0" else text
    return str(value)


def percent(fraction: float) -> str:
    """A share as a percentage to one decimal: ``0.4567`` -> ``45.7%``."""
    return f"{100 * fraction:.1f}%"


def tick(value: float, step: float) -> str:
    """An axis tick ``value`` on an axis of ticks ``step`` apart: ``0`` for zero, whole numbers whole, else 4 digits."""
    if abs(value) < step * 1e-6:
        return "0"
    if step >= 1 and abs(value) < 1e6 and float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


def when(value: datetime | None, missing: str = DASH) -> str:
    """A moment in UTC to the second: ``2025-02-12 14:30:45 UTC``."""
    if value is None:
        return missing
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def minute(value: datetime | None, missing: str = DASH) -> str:
    """A moment in UTC to the minute, for a table cell: ``2025-02-12 14:30``."""
    if value is None:
        return missing
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")


def duration(seconds: float | None, missing: str = DASH) -> str:
    """A span of time: ``4.2 s``, ``3 min 07 s``, ``2 h 05 min 00 s``, ``1 d 3 h 20 min``."""
    if seconds is None or not math.isfinite(seconds):
        return missing
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h {minutes:02d} min"
    if hours:
        return f"{hours} h {minutes:02d} min {secs:02d} s"
    return f"{minutes} min {secs:02d} s"


def ago(seconds: float) -> str:
    """A span back from now in its two largest units: ``3 h ago``, ``2 d 4 h ago``, ``12 min ago``."""
    if seconds < 0:
        return "in the future (check the clocks)"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h ago" if hours else f"{days} d ago"
    if hours:
        return f"{hours} h {minutes} min ago" if minutes else f"{hours} h ago"
    return f"{minutes} min ago"


def human_bytes(size: int) -> str:
    """``1536`` -> ``1.5 KiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def setting(value: Any) -> str:
    """A setting as written in the config: strings as they are, everything else as JSON (``[1, 2]``, ``null``)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def predictions_line(predictions: PredictionSource) -> str:
    """``classification_report.json``'s ``predictions`` in one line, for the page and ``show`` alike:
    ``source forward, scores logits (softmax), labels from the scores, ranking exact``."""
    p = predictions
    parts = [f"source {p.source}" + (f" ({p.key})" if p.key else "")]
    scores = f"scores {p.scores}" + (f" ({p.transform})" if p.transform else "")
    if p.threshold is not None:
        scores += f", threshold {number(p.threshold)}"
    parts.append(scores)
    parts.append("labels from test_step's outputs" if p.labels == "outputs" else "labels from the scores")
    if p.ranking is not None:
        ranking = f"ranking {p.ranking}"
        if p.max_error is not None:
            ranking += f" (max error {number(p.max_error)})"
        parts.append(ranking)
    line = ", ".join(parts)
    return f"{line}; {p.note}" if p.note else line
