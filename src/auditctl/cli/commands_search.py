"""`auditctl search` and `auditctl stats`."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated

import typer

from auditctl.cli.common import handles_errors, state
from auditctl.cli.guard import guarded, note_results, reader
from auditctl.cli.output import Format, default_format, render_rows, table_width
from auditctl.errors import UsageError
from auditctl.filters import EventFilter
from auditctl.schema import ACTIONS, CATEGORY_DESCRIPTIONS, COLUMN_NAMES, TS_SOURCES
from auditctl.search import event_stats, finding_seqs, search_events
from auditctl.store import STAT_DIMENSIONS
from auditctl.timeutil import get_tz, parse_when

TABLE_COLUMNS = ("seq", "ts", "host", "app", "category", "action", "outcome", "actor", "target",
                 "role", "src_ip", "message")
# Narrower terminals drop the columns another one implies (action implies category).
NARROW_COLUMNS = ("ts", "host", "action", "outcome", "actor", "target", "role", "src_ip", "message")
TINY_COLUMNS = ("ts", "action", "outcome", "actor", "target", "message")


def table_columns(width: int) -> tuple[str, ...]:
    if width >= 180:
        return TABLE_COLUMNS
    return NARROW_COLUMNS if width >= 120 else TINY_COLUMNS

Multi = list[str] | None


def _when(value: str | None, option: str, tz: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_when(value, tz=get_tz(tz))
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _check_vocab(values: Multi, known: list[str], option: str) -> tuple[str, ...]:
    checked = tuple(values or ())
    for v in checked:
        if "*" not in v and "?" not in v and v not in known:
            raise UsageError(f"{option}: unknown value {v!r} (known: {', '.join(known)})")
    return checked


def build_filter(text: str | None, category: Multi, action: Multi, user: Multi, actor: Multi,
                 target: Multi, outcome: Multi, host: Multi, ip: Multi, parser: Multi, source: Multi,
                 since: str | None, until: str | None) -> EventFilter:
    tz = state().config.timezone
    return EventFilter(
        text=text, categories=_check_vocab(category, list(CATEGORY_DESCRIPTIONS), "--category"),
        actions=_check_vocab(action, list(ACTIONS), "--action"), users=tuple(user or ()),
        actors=tuple(actor or ()), targets=tuple(target or ()),
        outcomes=_check_vocab(outcome, ["success", "failure", "unknown"], "--outcome"),
        hosts=tuple(host or ()), ips=tuple(ip or ()), parsers=tuple(parser or ()),
        sources=tuple(source or ()), since=_when(since, "--since", tz), until=_when(until, "--until", tz),
    )


TextArg = Annotated[str | None, typer.Argument(help="Case-insensitive text to find in the raw record or message.", show_default=False)]
CategoryOpt = Annotated[Multi, typer.Option("--category", "-c", help="Category (repeatable).", show_default=False)]
ActionOpt = Annotated[Multi, typer.Option("--action", "-a", help="Action (repeatable).", show_default=False)]
UserOpt = Annotated[Multi, typer.Option("--user", "-u", help="Actor or target (repeatable; * and ? wildcards).", show_default=False)]
ActorOpt = Annotated[Multi, typer.Option("--actor", help="Who did it (repeatable).", show_default=False)]
TargetOpt = Annotated[Multi, typer.Option("--target", help="The account acted upon (repeatable).", show_default=False)]
OutcomeOpt = Annotated[Multi, typer.Option("--outcome", "-o", help="success, failure or unknown.", show_default=False)]
HostOpt = Annotated[Multi, typer.Option("--host", help="Host (repeatable; wildcards).", show_default=False)]
IpOpt = Annotated[Multi, typer.Option("--ip", help="Source IP: exact, wildcard (10.0.*) or IPv4 CIDR (10.0.0.0/8).", show_default=False)]
ParserOpt = Annotated[Multi, typer.Option("--parser", "-p", help="Parser that produced the event.", show_default=False)]
SourceOpt = Annotated[Multi, typer.Option("--source", help="Source file path (wildcards).", show_default=False)]
SinceOpt = Annotated[str | None, typer.Option("--since", help="From this time: 15m, 24h, 7d, today, yesterday, or ISO.", show_default=False)]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Before this time (same forms as --since).", show_default=False)]
SupersededOpt = Annotated[bool, typer.Option("--include-superseded", help="Also events a reparse superseded (hidden by default; search marks them).")]
FormatOpt = Annotated[Format | None, typer.Option("--format", "-f", help="table (default on a terminal), json, jsonl (default when piped), csv.", show_default=False)]


@handles_errors
@guarded("search")
def search(
    text: TextArg = None, category: CategoryOpt = None, action: ActionOpt = None, user: UserOpt = None,
    actor: ActorOpt = None, target: TargetOpt = None, outcome: OutcomeOpt = None, host: HostOpt = None,
    ip: IpOpt = None, parser: ParserOpt = None, source: SourceOpt = None, since: SinceOpt = None,
    until: UntilOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="At most this many events (0 = all).")] = 100,
    reverse: Annotated[bool, typer.Option("--reverse", "-r", help="Newest first.")] = False,
    finding: Annotated[int | None, typer.Option("--finding", help="Only the events behind this finding (see `auditctl findings`).", show_default=False)] = None,
    undecodable: Annotated[bool, typer.Option("--undecodable", help="Only records whose bytes were not valid UTF-8 (exact bytes in raw_b64).")] = False,
    time_from: Annotated[Multi, typer.Option("--time-from", help=f"Only events whose time came from: {', '.join(TS_SOURCES)} (repeatable).", show_default=False)] = None,
    include_superseded: SupersededOpt = False,
    fmt: FormatOpt = None,
) -> None:
    """Find events by category, person, action, outcome, host, IP, time and text (oldest first)."""
    flt = build_filter(text, category, action, user, actor, target, outcome, host, ip, parser, source,
                       since, until)
    flt = dataclasses.replace(flt, undecodable=undecodable,
                              ts_sources=_check_vocab(time_from, list(TS_SOURCES), "--time-from"))
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
    columns = table_columns(table_width()) if fmt == Format.TABLE else COLUMN_NAMES
    if include_superseded:
        columns = (*columns, "superseded")
    if fmt == Format.TABLE and any(_notes(r) for r in result.rows):
        result.rows[:] = [{**r, "notes": _notes(r)} for r in result.rows]
        columns = (*columns, "notes")
    render_rows(result.rows, fmt, columns=columns, caption=caption)


def _notes(row: dict) -> str:
    """What a reader must know about a row that its columns do not show."""
    notes = []
    if row.get("ts_source") not in (None, "record"):
        notes.append(f"time from {row['ts_source']}")
    if row.get("raw_b64"):
        notes.append("undecodable bytes")
    return "; ".join(notes)


@handles_errors
@guarded("stats")
def stats(
    by: Annotated[list[str] | None, typer.Option("--by", "-b", help=f"Group by ({', '.join(STAT_DIMENSIONS)}); repeatable.", show_default=False)] = None,
    text: TextArg = None, category: CategoryOpt = None, action: ActionOpt = None, user: UserOpt = None,
    outcome: OutcomeOpt = None, host: HostOpt = None, ip: IpOpt = None, parser: ParserOpt = None,
    since: SinceOpt = None, until: UntilOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="At most this many rows (0 = all).")] = 0,
    include_superseded: SupersededOpt = False,
    fmt: FormatOpt = None,
) -> None:
    """Count events by category, action, parser, host, day and more."""
    dims = by or ["category"]
    for d in dims:
        if d not in STAT_DIMENSIONS:
            raise UsageError(f"--by: cannot group by {d!r} (choose from {', '.join(STAT_DIMENSIONS)})")
    flt = build_filter(text, category, action, user, None, None, outcome, host, ip, parser, None, since, until)
    with reader() as store:
        if include_superseded:
            store.show_superseded()
        rows = event_stats(store, dims, flt, limit=limit or None)
    fmt = fmt or default_format()
    total = sum(r["events"] for r in rows)
    render_rows(rows, fmt, caption=f"{total:,} events", title=f"events by {', '.join(dims)}")


def register(app: typer.Typer) -> None:
    app.command("search")(search)
    app.command("stats")(stats)
