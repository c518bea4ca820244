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
    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"


def default_format() -> Format:
    return Format.TABLE if sys.stdout.isatty() else Format.JSONL


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if key == "attrs" and isinstance(value, str):
            value = orjson.loads(value)
        out[key] = _plain(value)
    return out


def render_rows(rows: Sequence[dict[str, Any]], fmt: Format, *, columns: Sequence[str] | None = None,
                title: str | None = None, caption: str | None = None, console: Console | None = None) -> None:
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
                     caption=caption, console=console)


def table_width() -> int:
    """The terminal's width; 160 when piped without COLUMNS (rich would assume 80)."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console().width
    return 160


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, title: str | None = None,
                 caption: str | None = None, console: Console | None = None) -> None:
    console = console or Console(width=table_width())
    table = Table(title=title, caption=caption, show_lines=False, header_style="bold",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for col in columns:
        if col in WRAPPED_COLUMNS:
            table.add_column(col, overflow="fold", min_width=20)
        else:  # short values: one line each, cut with an ellipsis only when the terminal is narrow
            table.add_column(col, no_wrap=True, overflow="ellipsis", min_width=min(len(col), 8), max_width=_MAX_WIDTH.get(col, 16))
    for r in rows:
        table.add_row(*[_cell(col, r.get(col)) for col in columns])
    console.print(table)


_OUTCOME_STYLE = {"failure": "red", "success": "green"}
_MAX_WIDTH = {"ts": 25, "action": 20, "category": 17, "first": 25, "last": 25, "source": 60, "path": 60,
              "id": 32, "rule": 32, "kind": 20}
WRAPPED_COLUMNS = frozenset({"message", "raw", "description", "problems", "note", "path", "title", "fires on",
                             "group", "detail"})


def _cell(col: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = str(value).replace("\n", " ⏎ ")
    if col == "outcome" and value in _OUTCOME_STYLE:
        return f"[{_OUTCOME_STYLE[value]}]{text}[/]"
    return text.replace("[", "\\[")
