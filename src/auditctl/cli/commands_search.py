"""`auditctl search` and `auditctl stats`."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from auditctl.cli.common import handles_errors
from auditctl.cli.eventfilter import with_event_filter
from auditctl.cli.guard import guarded, note_results, reader
from auditctl.cli.output import Format, default_format, render_rows
from auditctl.errors import UsageError
from auditctl.schema import COLUMN_NAMES
from auditctl.store.filters import EventFilter
from auditctl.store.query import STAT_DIMENSIONS
from auditctl.store.search import event_stats, finding_seqs, search_events

TABLE_COLUMNS = ("seq", "ts", "host", "app", "category", "action", "outcome", "actor", "target",
                 "role", "src_ip", "message")
# Left out in this order when the terminal is too narrow (the caption says which): the
# category is implied by the action, and the rest are the least asked for first.
OPTIONAL_COLUMNS = ("category", "app", "seq", "role", "notes", "src_ip", "target", "host")
FormatOpt = Annotated[Format | None, typer.Option("--format", "-f", help="table (default on a terminal), json, jsonl (default when piped), csv.", show_default=False)]


@handles_errors
@guarded("search")
@with_event_filter
def search(
    flt: EventFilter,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="At most this many events (0 = all).")] = 100,
    reverse: Annotated[bool, typer.Option("--reverse", "-r", help="Newest first.")] = False,
    finding: Annotated[int | None, typer.Option("--finding", help="Only the events behind this finding (see `auditctl findings`).", show_default=False)] = None,
    include_superseded: bool = False,
    fmt: FormatOpt = None,
) -> None:
    """Find events by category, person, action, outcome, host, IP, time and text (oldest first)."""
    with reader() as store:
        if include_superseded:
            store.show_superseded()
        if finding is not None:
            flt = dataclasses.replace(flt, seqs=finding_seqs(store, finding))
        result = search_events(store, flt, limit=limit or None, newest_first=reverse)
        note_results(result.total, events=[r["seq"] for r in result.rows])
    fmt = fmt or default_format()
    shown = len(result.rows)
    caption = f"{shown:,} of {result.total:,} matching events" + (
        " (raise --limit to see more)" if shown < result.total else "")
    columns = TABLE_COLUMNS if fmt == Format.TABLE else COLUMN_NAMES
    if include_superseded:
        columns = (*columns, "superseded")
    if fmt == Format.TABLE and any(_notes(r) for r in result.rows):
        result.rows[:] = [{**r, "notes": _notes(r)} for r in result.rows]
        columns = (*columns, "notes")
    render_rows(result.rows, fmt, columns=columns, caption=caption, optional=OPTIONAL_COLUMNS)


def _notes(row: dict) -> str:
    """What a reader must know about a row that its columns do not show."""
    notes = []
    if row.get("ts_source") not in (None, "record"):
        notes.append(f"time from {row['ts_source']}")
    if row.get("raw_b64"):  # raw shows U+FFFD for bytes that are not UTF-8, else it renders a binary record
        notes.append("undecodable bytes" if "\ufffd" in (row.get("raw") or "") else "binary record (bytes in raw_b64)")
    return "; ".join(notes)


@handles_errors
@guarded("stats")
@with_event_filter
def stats(
    flt: EventFilter,
    by: Annotated[list[str] | None, typer.Option("--by", "-b", help=f"Group by ({', '.join(STAT_DIMENSIONS)}); repeatable.", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="At most this many rows (0 = all).")] = 0,
    records: Annotated[bool, typer.Option("--records", help="Also count the input records the events hold: each non-blank line of a file read by lines (an auditd event holds one a record; a multi-line message one a line), each .evtx or JSON-document record. Totals equal `grep -c '[^[:space:]]' FILE` and the EVTX record count. Reads every raw record: slower.")] = False,
    include_superseded: bool = False,
    fmt: FormatOpt = None,
) -> None:
    """Count events by category, action, parser, host, day and more."""
    dims = by or ["category"]
    for d in dims:
        if d not in STAT_DIMENSIONS:
            raise UsageError(f"--by: cannot group by {d!r} (choose from {', '.join(STAT_DIMENSIONS)})")
    with reader() as store:
        if include_superseded:
            store.show_superseded()
        rows = event_stats(store, dims, flt, limit=limit + 1 if limit else None, records=records)
    fmt = fmt or default_format()
    more = bool(limit) and len(rows) > limit
    rows = rows[:limit] if limit else rows
    total = sum(r["events"] for r in rows)
    held = f" holding {sum(r['records'] for r in rows):,} input records" if records else ""
    caption = f"{total:,} events{held} in {len(rows):,} rows" + (
        f"; more rows left out by --limit {limit}" if more else "")
    render_rows(rows, fmt, caption=caption, title=f"events by {', '.join(dims)}", optional=("first", "last"))


def register(app: typer.Typer) -> None:
    app.command("search")(search)
    app.command("stats")(stats)
