"""Reading events: an EventFilter compiled to bound SQL, search, streaming, COPY and stats.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from auditctl.errors import AuditctlError
from auditctl.schema import COLUMN_NAMES
from auditctl.store.connection import ROW_GROUP_ROWS, Connection, first_row
from auditctl.store.filters import PERSON_ATTRS, PERSON_COLUMNS, EventFilter, ipv4_range
from auditctl.where import has_wildcard, like_escape, like_pattern, wildcard_sql

# The input records an event holds: each non-blank line of its raw text when it was read from
# lines (an auditd event coalesces one record a line; a multi-line message spans lines); none
# when it repeats the line of the event before it (a GCP line with three binding deltas gives
# three events); one when it has no line number (an .evtx record, a record in a JSON document).
_RECORDS = ("CASE WHEN line IS NULL THEN 1 "
            "WHEN line = lag(line) OVER w AND source = lag(source) OVER w AND raw = lag(raw) OVER w THEN 0 "
            "ELSE coalesce(len(list_filter(string_split(raw, chr(10)), lambda x: regexp_matches(x, '\\S'))), 1) END")

STAT_DIMENSIONS = {
    "category": "category", "action": "action", "parser": "parser", "host": "host",
    "outcome": "outcome", "app": "app", "actor": "actor", "target": "target", "role": "role",
    "src_ip": "src_ip", "source": "source",
    "day": "strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d')",
    "hour": "strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d %H:00')",
}


def _value_match(column: str, values: Sequence[str], params: list[Any]) -> str:
    """`column` equals any value; values with * or ? match as wildcards."""
    exact = [v for v in values if not has_wildcard(v)]
    parts = []
    if exact:
        parts.append(f"{column} IN ({', '.join('?' * len(exact))})")
        params.extend(exact)
    for v in values:
        if has_wildcard(v):
            parts.append(wildcard_sql(column, v, "?"))
            params.append(like_pattern(v))
    return "(" + " OR ".join(parts) + ")"


def _person_match(values: Sequence[str], params: list[Any]) -> str:
    """Any field that names a person (filters.PERSON_COLUMNS and PERSON_ATTRS) equals a value.
    The attrs keys are read only where the JSON text contains the value (a cheap LIKE first)."""
    parts = [_value_match(col, values, params) for col in PERSON_COLUMNS]
    paths = "[" + ", ".join(f"'$.{key}'" for key in PERSON_ATTRS) + "]"
    for v in values:
        if '"' in v or "\\" in v:  # JSON escapes these, so the text test would miss them
            near = "attrs IS NOT NULL"
        else:
            # a wildcard ignores case (where.py's case rule), so its cheap test must too
            near = f"CAST(attrs AS VARCHAR) {'ILIKE' if has_wildcard(v) else 'LIKE'} ? ESCAPE '\\'"
            params.append("%" + like_pattern(v) + "%")
        names = f"json_extract_string(attrs, {paths})"
        if has_wildcard(v):
            parts.append(f"({near} AND len(list_filter({names}, lambda x: {wildcard_sql('x', v, '?')})) > 0)")
            params.append(like_pattern(v))
        else:
            parts.append(f"({near} AND list_contains({names}, ?))")
            params.append(v)
    return "(" + " OR ".join(parts) + ")"


_IPV4_INT = ("(TRY_CAST(split_part(src_ip, '.', 1) AS BIGINT) * 16777216 + "
             "TRY_CAST(split_part(src_ip, '.', 2) AS BIGINT) * 65536 + "
             "TRY_CAST(split_part(src_ip, '.', 3) AS BIGINT) * 256 + "
             "TRY_CAST(split_part(src_ip, '.', 4) AS BIGINT))")


def _ip_match(values: Sequence[str], params: list[Any]) -> str:
    plain = [v for v in values if "/" not in v]
    parts = [_value_match("src_ip", plain, params)] if plain else []
    for cidr in (v for v in values if "/" in v):
        lo, hi = ipv4_range(cidr)
        parts.append(f"(src_ip LIKE '%.%.%.%' AND {_IPV4_INT} BETWEEN ? AND ?)")
        params.extend([lo, hi])
    return "(" + " OR ".join(parts) + ")"


def compile_filter(flt: EventFilter) -> tuple[str, list[Any]]:
    """A WHERE clause and its parameters. Every value is bound, never pasted into SQL."""
    clauses: list[str] = []
    params: list[Any] = []
    simple = (("category", flt.categories), ("action", flt.actions), ("actor", flt.actors),
              ("target", flt.targets), ("role", flt.groups), ("outcome", flt.outcomes), ("host", flt.hosts),
              ("parser", flt.parsers), ("source", flt.sources))
    for column, values in simple:
        if values:
            clauses.append(_value_match(column, values, params))
    if flt.users:
        clauses.append(_person_match(flt.users, params))
    if flt.ips:
        clauses.append(_ip_match(flt.ips, params))
    if flt.since:
        clauses.append("ts >= ?")
        params.append(flt.since)
    if flt.until:
        clauses.append("ts < ?")
        params.append(flt.until)
    if flt.text:
        clauses.append(_text_match(flt.text, params))
    if flt.undecodable:
        clauses.append("raw_b64 IS NOT NULL")
    if flt.ts_sources:
        clauses.append(_value_match("coalesce(ts_source, 'record')", flt.ts_sources, params))
    if flt.seqs:
        clauses.append("seq IN (SELECT unnest(CAST(? AS BIGINT[])))")
        params.append(list(flt.seqs))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _text_match(text: str, params: list[Any]) -> str:
    """Case-insensitive substring of raw or message. A message cut from raw is not searched
    twice, and ESCAPE is used only when needed: each halves the time of a search."""
    special = any(ch in text for ch in "%_\\")
    escaped = like_escape(text) if special else text
    params.extend(["%" + escaped + "%"] * 2)
    like = "ILIKE ? ESCAPE '\\'" if special else "ILIKE ?"
    return f"(raw {like} OR (NOT message_in_raw AND message {like}))"



class Query(Connection):
    def search(self, flt: EventFilter, *, limit: int | None, newest_first: bool = False,
               columns: Sequence[str] = COLUMN_NAMES) -> list[dict[str, Any]]:
        where, params = compile_filter(flt)
        order = "DESC" if newest_first else "ASC"
        selected = list(columns)
        if self.include_superseded:
            selected.append(f"coalesce({self.superseded_sql or 'NULL'}, false) AS superseded")
        sql = (f"SELECT {', '.join(selected)} FROM all_events{where} "
               f"ORDER BY ts {order} NULLS LAST, seq {order}")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        cur = self.con.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def iter_events(self, flt: EventFilter, batch: int = 10_000) -> Iterator[list[dict[str, Any]]]:
        """Every selected event in (ts, seq) order, in batches (streaming: no full result in memory)."""
        where, params = compile_filter(flt)
        cur = self.con.execute(f"SELECT {', '.join(COLUMN_NAMES)} FROM all_events{where} "
                               "ORDER BY ts NULLS LAST, seq", params)
        names = [d[0] for d in cur.description]
        while rows := cur.fetchmany(batch):
            yield [dict(zip(names, r, strict=True)) for r in rows]

    def copy_selected(self, flt: EventFilter, fmt: str, output: Path | None, out: IO[bytes]) -> int:
        """jsonl, csv or parquet written by DuckDB's COPY, to `output` (or streamed to `out`)."""
        import tempfile

        where, params = compile_filter(flt)
        options = {"jsonl": "FORMAT json", "csv": "FORMAT csv, HEADER true",
                   "parquet": f"FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS}"}[fmt]
        target = output
        tmp_dir = None
        if target is None:
            tmp_dir = tempfile.TemporaryDirectory(prefix="auditctl-export-")
            target = Path(tmp_dir.name) / f"out.{fmt}"
        quoted = str(target).replace("'", "''")
        try:
            self.con.execute(f"COPY (SELECT {', '.join(COLUMN_NAMES)} FROM all_events{where} "
                             f"ORDER BY ts NULLS LAST, seq) TO '{quoted}' ({options})", params)
            row = first_row(self.con.execute(f"SELECT count(*) FROM all_events{where}", params))
            if tmp_dir is not None:
                with target.open("rb") as f:
                    while chunk := f.read(1 << 20):
                        out.write(chunk)
        finally:
            if tmp_dir is not None:
                tmp_dir.cleanup()
        return int(row[0]) if row else 0

    def count(self, flt: EventFilter) -> int:
        where, params = compile_filter(flt)
        row = first_row(self.con.execute(f"SELECT count(*) FROM all_events{where}", params))
        return int(row[0]) if row else 0

    def stats(self, by: Sequence[str], flt: EventFilter, limit: int | None = None,
              records: bool = False) -> list[dict[str, Any]]:
        """Counts per group; `records` adds the input records the events hold (reads `raw`)."""
        unknown = [b for b in by if b not in STAT_DIMENSIONS]
        if unknown:
            raise AuditctlError(f"cannot group by {', '.join(unknown)}; choose from {', '.join(STAT_DIMENSIONS)}")
        where, params = compile_filter(flt)
        dims = ", ".join(f"{STAT_DIMENSIONS[b]} AS {b}" for b in by)
        positions = ", ".join(str(i + 1) for i in range(len(by)))
        table, held = f"all_events{where}", ""
        if records:
            table = f"(SELECT *, {_RECORDS} AS _records FROM all_events{where} WINDOW w AS (ORDER BY seq))"
            held = "sum(_records)::BIGINT AS records, "
        sql = (f"SELECT {dims}, count(*) AS events, "
               f"count(*) FILTER (WHERE outcome = 'failure') AS failures, {held}"
               f"min(ts) AS first, max(ts) AS last FROM {table} GROUP BY {positions} "
               f"ORDER BY {'1' if by[0] in ('day', 'hour') else 'events DESC'}, {positions}")
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        cur = self.con.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def summary(self) -> dict[str, Any]:
        row = first_row(self.con.execute(
            "SELECT count(*), min(ts), max(ts), count(DISTINCT source), "
            "count(*) FILTER (WHERE action = 'unparsed') FROM all_events"))
        assert row is not None
        return {"events": row[0], "first": row[1], "last": row[2], "sources": row[3], "unparsed": row[4]}
