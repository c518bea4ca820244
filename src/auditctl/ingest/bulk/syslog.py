"""The syslog plugin's bulk path: RFC 3164 auth.log lines parsed in DuckDB SQL.

A line is claimed by SQL only when all of this holds, else the plugin reads it:
- it is printable ASCII (no control character, no byte the plugin would carry as a surrogate);
- it has the plugin's fast header exactly (`Mmm dd hh:mm:ss host app[pid]: msg`, no fraction,
  no year, no `(` in the program, a pid of at most 18 digits);
- its stamp's hour is one the plugin dates consistently: the year and UTC offset that
  `timeutil.infer_year` gives at minutes 00:00, 30:00 and 59:59 of that hour agree, so the
  second is the hour's start plus mm:ss (a DST change inside the hour, an invalid date, a
  Feb 29 without a year go to the plugin);
- the next line does not start with a space or tab (the plugin may join it as a continuation);
- its message is one of `authshapes.SHAPES`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from auditctl.ingest import authlog
from auditctl.ingest.batch import EVENT_SCHEMA
from auditctl.ingest.bulk.authshapes import OTHER_APPS, SHAPES, Shape, is_ipv4, js, s
from auditctl.ingest.bulk.base import BulkJob
from auditctl.ingest.bulk.lines import LineBlock, line_blocks, splice
from auditctl.timeutil import MONTHS, infer_year

_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))


def _word_class(exclude: str) -> str:
    """An RE2 class of printable non-space ASCII without `exclude` (ranges, no negation: a
    negated class would let control characters and other bytes through)."""
    chars = [c for c in _PRINTABLE if c not in exclude]
    ranges: list[str] = []
    start = prev = chars[0]
    for c in [*chars[1:], "\x00"]:
        if ord(c) == ord(prev) + 1:
            prev = c
            continue
        ranges.append(_esc(start) if start == prev else f"{_esc(start)}-{_esc(prev)}")
        start = prev = c
    return "[" + "".join(ranges) + "]"


def _esc(c: str) -> str:
    return "\\" + c if c in "\\]-^[" else c


# _FAST_BSD of parsers/syslog.py: `([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) ([^\s\[:]+)
# ([^\s\[\]:]+)(?:\[(\d+)\])?: ?(.*)`, and no `(` in the program (older `sshd(pam_unix)` tags).
HEADER = ("^[A-Z][a-z]{2} [ 0-9][0-9] [0-9][0-9]:[0-5][0-9]:[0-5][0-9] "
          f"{_word_class('[:')}+ {_word_class('[]:(')}+(\\[[0-9]{{1,18}}\\])?:[ -~]*$")
_REST = "substr(line, 17)"  # `host app[pid]: msg`: the host and program hold no `:`
_TAG = "substr(rest, strpos(rest, ' ') + 1, strpos(rest, ':') - strpos(rest, ' ') - 1)"
_HANDLED = sorted({name.lower() for name in authlog._BY_APP})


def _condition(shape: Shape) -> str:
    parts = []
    if shape.apps == OTHER_APPS:
        parts.append(f"lower(app) NOT IN ({', '.join(s(a) for a in _HANDLED)})")
    elif shape.apps is not None:
        parts.append(f"app IN ({', '.join(s(a) for a in shape.apps)})")
    if shape.prefix:
        parts.append(f"starts_with(msg, {s(shape.prefix)})")
    if shape.prefix != "pam_":
        # interpret() reads a PAM line (`pam_x(svc:kind): ...`) before any program's rules
        parts.append("NOT starts_with(msg, 'pam_')")
    parts.append("NOT starts_with(msg, 'message repeated ')")  # rsyslog's summaries: the plugin's
    if shape.pattern:
        parts.append(f"regexp_matches(msg, {s(shape.pattern)})")
    if shape.guard:
        parts.append(f"({shape.guard})")
    if shape.address:
        parts.append(f"NOT contains({shape.address}, ':')")  # IPv6 or no address: the plugin's is_ip
    return " AND ".join(parts)


def _attrs(shape: Shape) -> str | None:
    """The attrs JSON text (orjson's compact form, the plugin's key order); NULL when empty."""
    attrs = shape.attrs
    if shape.address:
        attrs += (("rhost", js(shape.address), f"{shape.address} <> '' AND NOT {is_ipv4(shape.address)}"),)
    if not attrs:
        return None
    members = [f"""CASE WHEN {cond} THEN '"{key}":' || {value} END""" if cond else f"""'"{key}":' || {value}"""
               for key, value, cond in attrs]
    joined = f"concat_ws(',', {', '.join(members)})"
    if all(cond is None for _, _, cond in attrs):
        return f"'{{' || {joined} || '}}'"
    return f"CASE WHEN {joined} = '' THEN NULL ELSE '{{' || {joined} || '}}' END"


def _select(shape: Shape, number: int) -> str:
    """The events of one shape's rows: its expressions evaluated on its rows only."""
    def field(expr: str | None) -> str:
        return expr if expr is not None else "NULL::VARCHAR"

    attrs = _attrs(shape)
    src_ip = (f"CASE WHEN {is_ipv4(shape.address)} THEN {shape.address} END" if shape.address
              else shape.src_ip)
    rows = f"(SELECT * FROM shaped WHERE shape = {number})"
    for name, expr in shape.let:  # one layer each: a later value may use an earlier one
        rows = f"(SELECT *, {expr} AS {name} FROM {rows})"
    return f"""SELECT hour_key, secs, {shape.category} AS category, {shape.action} AS action,
       {shape.outcome} AS outcome, host, app, pid, {field(shape.actor)} AS actor, {field(shape.target)} AS target,
       NULL::VARCHAR AS role, {field(shape.resource)} AS resource, {field(src_ip)} AS src_ip,
       NULL::VARCHAR AS user_agent, {field(shape.session)} AS session, msg AS message,
       {field(shape.original)} AS original_action, line AS raw, {field(attrs)} AS attrs, n AS line,
       NULL::VARCHAR AS origin, NULL::VARCHAR AS received, NULL::VARCHAR AS raw_b64
FROM {rows}"""


def build_sql(shapes: tuple[Shape, ...] = SHAPES) -> str:
    """One query over the registered block `blk(n, line)`: the claimed lines' events (ts as
    the stamp's hour key and seconds into the hour), ordered by line."""
    cases = " ".join(f"WHEN {_condition(sh)} THEN {i}" for i, sh in enumerate(shapes, start=1))
    selects = "\nUNION ALL\n".join(_select(sh, i) for i, sh in enumerate(shapes, start=1))
    return f"""
WITH head AS (
  SELECT n, line, {_REST} AS rest FROM blk WHERE regexp_matches(line, {s(HEADER)})
), parts AS (
  SELECT n, line, substr(line, 1, 9) AS hour_key,
         CAST(substr(line, 11, 2) AS BIGINT) * 60 + CAST(substr(line, 14, 2) AS BIGINT) AS secs,
         split_part(rest, ' ', 1) AS host, {_TAG} AS tag, trim(substr(rest, strpos(rest, ':') + 1)) AS msg
  FROM head
), tagged AS (
  SELECT n, line, hour_key, secs, host, msg, split_part(tag, '[', 1) AS app,
         CASE WHEN strpos(tag, '[') > 0
              THEN CAST(substr(tag, strpos(tag, '[') + 1, length(tag) - strpos(tag, '[') - 1) AS BIGINT) END AS pid
  FROM parts
), shaped AS MATERIALIZED (
  SELECT *, CASE {cases} ELSE 0 END AS shape FROM tagged
)
SELECT * FROM (
{selects}
) ORDER BY line
"""


def shape_names(con: duckdb.DuckDBPyConnection, lines: list[str]) -> list[str | None]:
    """Which shape claims each line (None: the plugin reads it), the stamp aside: for tests
    and for finding what a log's unclaimed lines are."""
    sql = build_sql()
    classify = sql[:sql.index("SELECT * FROM (")] + "SELECT n, shape FROM shaped"
    con.register("blk", pa.table({"n": pa.array(range(len(lines)), pa.int64()), "line": pa.array(lines, pa.string())}))
    try:
        found = dict(con.sql(classify).fetchall())
    finally:
        con.unregister("blk")
    return [SHAPES[found[i] - 1].name if found.get(i) else None for i in range(len(lines))]


class HourBases:
    """The UTC start (epoch µs) of each `Mmm dd hh` the plugin dates the same way throughout
    the hour, against one reference time; None for hours the plugin must date itself."""

    def __init__(self, reference: datetime, tz: tzinfo) -> None:
        self.reference, self.tz = reference, tz
        self.known: dict[str, int | None] = {}

    def __call__(self, key: str) -> int | None:
        if key not in self.known:
            self.known[key] = self._base(key)
        return self.known[key]

    def _base(self, key: str) -> int | None:
        month = MONTHS.get(key[:3])
        if month is None:
            return None
        day, hour = int(key[4:6]), int(key[7:9])
        try:
            start, middle, end = (infer_year(month, day, hour, mm, ss, 0, self.tz, self.reference)
                                  for mm, ss in ((0, 0), (30, 0), (59, 59)))
        except ValueError:  # no such date or hour: the plugin keeps the line unparsed
            return None
        if middle - start != timedelta(minutes=30) or end - start != timedelta(seconds=3599):
            return None
        return (start - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TS = pa.timestamp("us", tz="UTC")


class SyslogBulk:
    parser = "syslog"

    def __init__(self) -> None:
        self.sql = build_sql()

    def accepts(self, options: dict[str, Any]) -> bool:
        return not options  # the syslog plugin reads no options today: any would be new

    def tables(self, con: duckdb.DuckDBPyConnection, job: BulkJob) -> Iterator[pa.Table]:
        bases = HourBases(job.reference_time, job.tz)
        for block in line_blocks(job):
            yield splice(self._claimed(con, block, bases), block, job)

    def _claimed(self, con: duckdb.DuckDBPyConnection, block: LineBlock, bases: HourBases) -> pa.Table:
        blk = pa.table({"n": block.numbers(), "line": block.ascii_text()})
        con.register("blk", blk)
        try:
            rows = con.sql(self.sql).to_arrow_table()
        finally:
            con.unregister("blk")
        keys = pc.dictionary_encode(rows.column("hour_key").combine_chunks())
        base = pa.array([bases(k) for k in keys.dictionary.to_pylist()], pa.int64()).take(keys.indices)
        ts = pc.add(base, pc.multiply(rows.column("secs"), 1_000_000))
        keep = pc.is_valid(ts)
        held = block.before_indented()
        if held:
            keep = pc.and_(keep, pc.invert(pc.is_in(rows.column("line"), pa.array(held, pa.int64()))))
        rows = rows.drop_columns(["hour_key", "secs"]).add_column(0, "ts", ts.cast(_TS))
        return rows.filter(keep).cast(EVENT_SCHEMA)
