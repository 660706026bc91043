"""Printing for the command line: the one renderer of a verb's result (:func:`render`: a table or text, JSON, JSON
Lines or CSV), and its parts: aligned tables (coloured on a terminal only), key-value lines, messages on stderr.

A verb's API function returns a result (a small dataclass) with the methods of :class:`Rendered`; ``cmd_X`` hands
it to :func:`render` with ``--format``, as pipx's commands hand their result to one renderer.

JSON documents carry ``"schema"`` (what they describe) and ``"version"`` (:data:`JSON_VERSION`); nothing but the
document goes to stdout, so ``arccnet-ckpt ls --format json | jq`` always works. Messages go to stderr.

Every text the command line prints for a person (tables, ``show``'s key-value lines, ``verify``/``prune`` lines,
messages on stderr) passes through :func:`escape`: folder names and JSON strings come from shared folders, and a
control character in them must not drive the terminal. JSON and CSV carry the exact values.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TextIO, TypeVar

from arccnet_ckpt.report import format as fmt

PROG = "arccnet-ckpt"

JSON_VERSION = 1
"""The version of every JSON document the command line prints; bumped only when a field changes meaning."""

FORMATS = ("table", "json", "jsonl", "csv")

_COLOURS = {
    "completed": "32",
    "better": "32",
    "failed": "31",
    "worse": "31",
    "interrupted": "33",
    "running": "36",
    "stale": "35",
    "header": "1",
    "dim": "2",
}


# C0 controls (newline, carriage return, tab and ESC, which starts every terminal sequence: OSC titles, clear-screen,
# OSC 8 links), DEL, C1 controls (0x9b is a one-byte CSI), the bidirectional overrides, embeddings and isolates that
# reorder what is shown (U+202A-U+202E, U+2066-U+2069, and the marks U+200E, U+200F, U+061C), and the line and
# paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

T = TypeVar("T")


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: object) -> str:
    """``text`` safe to print on a terminal: control and bidi characters written as escapes (``\\x1b``, ``\\n``,
    ``\\u202e``), everything else unchanged.

    A folder named ``\\x1b]0;pwned\\x07`` would retitle the terminal, ``\\x1b[2J`` clear it, and a newline forge a
    table row; escaped, each shows as what it is. Printable text, accents and CJK included, is left as it is.
    """
    value = str(text)
    return _UNSAFE.sub(_escaped, value) if _UNSAFE.search(value) is not None else value


def write_line(text: object, out: TextIO | None = None) -> None:
    """Print one line of text for a person, escaped (see :func:`escape`)."""
    (out or sys.stdout).write(escape(text) + "\n")


def key_values(lines: Sequence[tuple[str, str | Sequence[tuple[str, str | None]]]], *, colour: bool) -> None:
    """Print ``key  value`` lines with the keys aligned (``show``).

    Args:
        lines: ``(key, value)``; a value is a string, or ``(text, style)`` parts whose styles :func:`paint` applies.
        colour: Whether to colour (see :func:`use_colour`).
    """
    width = max((len(key) for key, _ in lines), default=0)
    for key, value in lines:
        parts = [(value, None)] if isinstance(value, str) else value
        text = "".join(paint(part, style, colour) for part, style in parts)
        sys.stdout.write(f"{escape(key).ljust(width)}  {text}\n")


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, style: str | None, colour: bool) -> str:
    """``text``, escaped, in the colour of ``style`` (a status, ``better``/``worse``, ``header``) when ``colour``."""
    code = _COLOURS.get(style or "")
    text = escape(text)
    return f"\033[{code}m{text}\033[0m" if colour and code else text


def cell(value: Any) -> str:
    """A value as a table shows it: 4 significant digits, ``-`` for missing, times to the minute."""
    if type(value) is str:
        return str(value)
    if isinstance(value, datetime):
        return fmt.minute(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return fmt.number(value)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    styles: Iterable[Sequence[str | None]] | None = None,
    colour: bool = False,
    out: TextIO | None = None,
) -> None:
    """Print an aligned table: numbers right-aligned, two spaces between columns.

    Args:
        headers: Column titles, printed as given (the callers upper-case their own words, never a key or a name).
        rows: One sequence of values per row (formatted with :func:`cell`).
        styles: Per row, per column, a style name for :func:`paint` (``None`` for plain).
        colour: Whether to colour (see :func:`use_colour`).
        out: The stream (default stdout).
    """
    out = out or sys.stdout
    raw = [list(r) for r in rows]
    columns = list(zip(*raw, strict=True)) if raw else [() for _ in headers]
    text_columns = [[escape(cell(v)) for v in column] for column in columns]
    headers = [escape(h) for h in headers]
    widths = [max([len(h), *map(len, column)]) for h, column in zip(headers, text_columns, strict=True)]
    numeric = [_numeric_column(column) for column in columns]
    last = len(headers) - 1
    for i, column in enumerate(text_columns):
        if numeric[i]:
            text_columns[i] = [v.rjust(widths[i]) for v in column]
        elif i < last:
            text_columns[i] = [v.ljust(widths[i]) for v in column]
    if colour and styles is not None:
        for r, style in enumerate(styles):
            for i, name in enumerate(style):
                if name:
                    text_columns[i][r] = paint(text_columns[i][r], name, colour)
    header = "  ".join(h.ljust(widths[i]) if i < last else h for i, h in enumerate(headers))
    lines = [paint(header.rstrip(), "header", colour)]
    lines.extend("  ".join(parts).rstrip() for parts in zip(*text_columns, strict=True))
    out.write("\n".join(lines) + "\n")


def _numeric_column(values: Sequence[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)


def dump_json(document: dict[str, Any], out: TextIO | None = None) -> None:
    """Print one JSON document (indented, strict: no NaN)."""
    (out or sys.stdout).write(json.dumps(_jsonable(document), indent=2, allow_nan=False) + "\n")


def dump_jsonl(items: Iterable[dict[str, Any]], out: TextIO | None = None) -> None:
    """Print one compact JSON object per line."""
    stream = out or sys.stdout
    for item in items:
        stream.write(json.dumps(_jsonable(item), separators=(",", ":"), allow_nan=False) + "\n")


def dump_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]], out: TextIO | None = None) -> None:
    """Print CSV with a header row: raw values (full precision, ISO times, empty for missing)."""
    writer = csv.writer(out or sys.stdout, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if v is None else _csv_value(v) for v in row])


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def progress(items: Sequence[T], label: str, out: TextIO | None = None) -> Iterator[T]:
    """Yield ``items``, showing ``label 3/120`` on one rewritten line of ``out`` (stderr) while they are worked on.

    Only on a terminal: a pipe, a file or a CI log gets nothing, so output that is read by a program stays as it was.
    The line is cleared at the end.
    """
    stream = out or sys.stderr
    shown = stream.isatty() and len(items) > 1
    for index, item in enumerate(items, start=1):
        if shown:
            stream.write(f"\r\x1b[K{escape(label)} {index}/{len(items)}")
            stream.flush()
        yield item
    if shown:
        stream.write("\r\x1b[K")
        stream.flush()


class Rendered:
    """A verb's result, as :func:`render` prints it: one method per output format.

    A verb's result class overrides the formats its ``--format`` offers (the parser refuses the others).
    """

    def document(self) -> dict[str, Any]:
        """The ``--format json`` document, ``"schema"`` first (:func:`render` adds ``"version"``)."""
        raise NotImplementedError(f"{type(self).__name__} has no JSON form")

    def lines(self) -> Iterable[dict[str, Any]]:
        """The ``--format jsonl`` objects, one a line."""
        raise NotImplementedError(f"{type(self).__name__} has no JSON Lines form")

    def csv(self) -> tuple[Sequence[str], Iterable[Sequence[Any]]]:
        """The ``--format csv`` header and rows."""
        raise NotImplementedError(f"{type(self).__name__} has no CSV form")

    def text(self, colour: bool) -> None:
        """Print the result for a person (``--format table``)."""
        raise NotImplementedError(f"{type(self).__name__} has no text form")


def render(result: Rendered, fmt: str | None) -> None:
    """Print ``result`` in the format ``fmt`` (``table``, the default, ``json``, ``jsonl`` or ``csv``)."""
    if fmt == "json":
        document = result.document()
        dump_json({"schema": document.pop("schema"), "version": JSON_VERSION, **document})
    elif fmt == "jsonl":
        dump_jsonl(result.lines())
    elif fmt == "csv":
        dump_csv(*result.csv())
    else:
        result.text(use_colour(sys.stdout))


def message(text: str) -> None:
    """A message for a person on stderr, after the program's name (``arccnet-ckpt: warning: ...``)."""
    write_line(f"{PROG}: {text}", sys.stderr)


def warn_skipped(problems: Iterable[tuple[str, str]]) -> None:
    """A warning on stderr for each run folder a verb skipped, and why."""
    for path, problem in problems:
        message(f"warning: skipped {path}: {problem}")


def write_value(text: str) -> None:
    """A path for ``$(...)``: exact when stdout is a pipe, escaped on a terminal (it was read from a shared folder)."""
    sys.stdout.write((escape(text) if sys.stdout.isatty() else text) + "\n")
