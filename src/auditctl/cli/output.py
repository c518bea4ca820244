"""Rendering rows for people (rich tables on a TTY) and for pipes (JSON, JSONL, CSV)."""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from rich import box
from rich.console import Console
from rich.table import Table


class Format(StrEnum):
    """For commands that print rows."""

    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"


class DocFormat(StrEnum):
    """For commands that print one summary document (ingest, verify, retention ...)."""

    TABLE = "table"
    JSON = "json"


def default_format() -> Format:
    return Format.TABLE if sys.stdout.isatty() else Format.JSONL


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if key in ("attrs", "received") and isinstance(value, str):
            value = orjson.loads(value)
        out[key] = _plain(value)
    return out


def render_rows(rows: Sequence[dict[str, Any]], fmt: Format, *, columns: Sequence[str] | None = None,
                title: str | None = None, caption: str | None = None, console: Console | None = None,
                optional: Sequence[str] = ()) -> None:
    """`optional`: table columns that may be left out (in that order) on a narrow terminal."""
    out = sys.stdout
    if fmt == Format.JSON:
        out.write(orjson.dumps([_json_row(r) for r in rows], option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt == Format.JSONL:
        for r in rows:
            out.write(orjson.dumps(_json_row(r)).decode() + "\n")
    elif fmt == Format.CSV:
        names = list(columns or (rows[0].keys() if rows else []))
        writer = csv.DictWriter(out, fieldnames=names, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: _plain(v) for k, v in r.items()})
    else:
        render_table(rows, columns or (list(rows[0].keys()) if rows else []), title=title,
                     caption=caption, console=console, optional=optional)


def table_width() -> int:
    """The terminal's width; 160 when piped without COLUMNS (rich would assume 80)."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console().width
    return 160


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, title: str | None = None,
                 caption: str | None = None, console: Console | None = None,
                 optional: Sequence[str] = ()) -> None:
    """A table that fits the terminal without hiding what it leaves out. `optional` columns
    are dropped, in that order, only when the others would not fit at a readable width; the
    caption names them. Long text wraps, paths lose their middle, NULL shows as a dim `·`
    and the empty string as `""`."""
    console = console or Console(width=table_width())
    texts = {col: [_plain_cell(r.get(col)) for r in rows] for col in columns}
    layout = fit_columns(columns, texts, console.width, optional)
    left_out = [c for c in columns if c not in layout]
    if left_out:
        note = f"columns left out: {', '.join(left_out)}; widen the terminal or use --format json"
        caption = f"{caption}\n{note}" if caption else note
    table = Table(title=title, caption=caption, show_lines=False, header_style="bold", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for col, width in layout.items():  # every width is decided here, so rich never squeezes a column
        if column_kind(col) in ("path", "fixed"):
            table.add_column(col, no_wrap=True, width=width)
        else:  # text wraps at words, names fold: nothing is cut
            table.add_column(col, overflow="fold", width=width)
    for i, r in enumerate(rows):
        table.add_row(*[_cell(col, r.get(col), texts[col][i], width) for col, width in layout.items()])
    console.print(table)


TEXT_MIN = 20  # a message or title narrower than this is unreadable: a column is left out instead
LAST_RESORT_MIN = 10  # only when the essential columns do not fit otherwise
PATH_MIN = 16  # enough for `/var/…/auth.log.1`
NAME_MAX = 32  # actor, host, IP ...: kept on one line up to this width (a column goes first), folded beyond
NAME_FOLD_MIN = 16  # ... but folded down to this width before a message is squeezed below TEXT_COMFORT
TEXT_COMFORT = 40
GAP = 2  # between columns
_OUTCOME_STYLE = {"failure": "red", "success": "green"}
FIXED_COLUMNS = frozenset({"seq", "ts", "first", "last", "outcome", "id", "count", "severity", "status",
                           "events", "failures", "line", "mode", "day", "hour"})
TEXT_COLUMNS = frozenset({"message", "raw", "description", "problems", "note", "title", "fires on", "group",
                          "detail", "value", "notes", "problem", "reason", "why"})
PATH_COLUMNS = frozenset({"source", "path", "file"})
NULL_MARK = "·"


def column_kind(col: str) -> str:
    """fixed (never cut), text (wraps), path (elided in the middle) or name (folds)."""
    if col in FIXED_COLUMNS:
        return "fixed"
    if col in TEXT_COLUMNS:
        return "text"
    return "path" if col in PATH_COLUMNS else "name"


def fit_columns(columns: Sequence[str], texts: dict[str, list[str]], width: int,
                optional: Sequence[str]) -> dict[str, int]:
    """Column -> its width (for wrapping columns: their minimum). Optional columns go first,
    in order, until every kept column fits at its readable minimum."""
    natural = {c: max([len(c), *(len(t) for t in texts[c])]) for c in columns}
    minimum = {c: _min_width(c, natural[c]) for c in columns}
    kept = list(columns)
    droppable = [c for c in optional if c in kept]

    def needed() -> int:
        return sum(minimum[c] for c in kept) + GAP * (len(kept) - 1)

    while droppable and needed() > width:
        kept.remove(droppable.pop(0))
    squeezable = [c for c in kept if column_kind(c) in ("text", "path")]
    while needed() > width and squeezable:  # the essential columns alone are too wide: text gives way
        widest = max(squeezable, key=lambda c: minimum[c])
        if minimum[widest] <= LAST_RESORT_MIN:
            break
        minimum[widest] -= 1
    widths = {c: minimum[c] for c in kept}
    spare = max(0, width - needed())
    growing = [c for c in kept if column_kind(c) in ("path", "text")]
    while spare > 0 and growing:  # paths and text share the rest, each up to its natural width
        share = max(1, spare // len(growing))
        for c in list(growing):
            grow = min(natural[c] - widths[c], share, spare)
            widths[c] += grow
            spare -= grow
            if widths[c] >= natural[c]:
                growing.remove(c)
    _names_give_way(widths, natural)
    return widths


def _names_give_way(widths: dict[str, int], natural: dict[str, int]) -> None:
    """A message squeezed to a few words a line reads worse than a long name folded once:
    names (down to NAME_FOLD_MIN) give a column's width to text below TEXT_COMFORT."""
    def short_text() -> list[str]:
        return [c for c in widths if column_kind(c) == "text" and widths[c] < min(natural[c], TEXT_COMFORT)]

    while (texts := short_text()):
        names = [c for c in widths if column_kind(c) == "name" and widths[c] > NAME_FOLD_MIN]
        if not names:
            return
        widths[max(names, key=lambda c: widths[c])] -= 1
        widths[min(texts, key=lambda c: widths[c])] += 1


def _min_width(col: str, natural: int) -> int:
    kind = column_kind(col)
    if kind == "fixed":
        return natural
    return min(natural, {"text": TEXT_MIN, "path": PATH_MIN}.get(kind, NAME_MAX))


def elide_middle(text: str, width: int) -> str:
    """`/var/log/…/auth.log.1`: a path keeps its start and its end, losing the middle. The end
    is the parent folder and file name when they fit in two thirds of the width, else the file
    name when it leaves room for two characters of the start, else the name's last part."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    name_at = text.rfind("/")
    parent_at = text.rfind("/", 0, name_at) if name_at > 0 else -1
    tail_len = (width - 1) * 2 // 3
    if parent_at > 0 and len(text) - parent_at <= tail_len:
        tail_len = len(text) - parent_at
    elif name_at > 0 and len(text) - name_at <= width - 3:
        tail_len = len(text) - name_at
    return text[:width - 1 - tail_len] + "…" + text[len(text) - tail_len:]


def _plain_cell(value: Any) -> str:
    """The text a cell shows, before markup: what widths are measured on."""
    if value is None:
        return NULL_MARK
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if value == "":
        return '""'
    return str(value).replace("\n", " ⏎ ")


def _cell(col: str, value: Any, text: str, width: int) -> str:
    if value is None:
        return f"[dim]{NULL_MARK}[/]"
    if col in PATH_COLUMNS:
        text = elide_middle(text, width)
    text = text.replace("[", "\\[")
    if col == "outcome" and value in _OUTCOME_STYLE:
        return f"[{_OUTCOME_STYLE[value]}]{text}[/]"
    return text
