"""The event log: appending batches (sealing fields on the way) and the views every reader
uses (`stored_events`, `current_events`, `all_events`, `log_seqs`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from auditctl.schema import COLUMN_NAMES, COLUMNS, SEALABLE_FIELDS
from auditctl.store.connection import (
    BatchSealer,
    Connection,
    first_row,
    retry_locked,
    sql_list,
    sql_quote,
)

# Superseded runs beyond this many are excluded by a join instead of a literal predicate.
INLINE_SUPERSEDED_RUNS = 20


# An event's message as stored: its own text, else cut from raw. A message column that is
# set wins, so an edit to it shows (and verify sees it).
MESSAGE_SQL = "coalesce(message, substr(raw, message_at, message_len))"


_FOUND_IN_RAW = "(message IS NOT NULL AND raw IS NOT NULL AND contains(raw, message))"


# The events table's physical order: the original columns, message_at/len (schema 6), then
# the tail columns (schema 8, and `received`: schema 10).
_APPEND_SQL = ", ".join(
    [f"CASE WHEN {_FOUND_IN_RAW} THEN NULL ELSE message END" if c.name == "message" else c.name
     for c in COLUMNS if not c.tail]
    + [f"CASE WHEN {_FOUND_IN_RAW} THEN strpos(raw, message) END",
       f"CASE WHEN {_FOUND_IN_RAW} THEN length(message) END"]
    + [c.name for c in COLUMNS if c.tail])


def _revealed(column: str) -> str:
    if column == "attrs":
        return "coalesce(CAST(s.attrs AS JSON), e.attrs) AS attrs"
    return f"coalesce(s.{column}, e.{column}) AS {column}"



class EventLog(Connection):
    def parquet_select(self, files: Sequence[str], extra: str = "") -> str:
        """`<event columns> FROM read_parquet(files)`, NULL for the tail columns of segments
        written before those columns existed. Segments all of one layout are read lazily (a
        damaged one fails where it is read, and verify names it); mixed layouts by name."""
        try:
            per_file = self.con.execute(
                f"SELECT file_name, list(name) FROM parquet_schema({sql_list(files)}) GROUP BY file_name").fetchall()
        except duckdb.Error:
            per_file = []
        layouts = {frozenset(names) & set(COLUMN_NAMES) for _, names in per_file}
        if len(layouts) <= 1:
            found = next(iter(layouts), frozenset(COLUMN_NAMES))
            source = f"read_parquet({sql_list(files)}, hive_partitioning = false)"
        else:
            found = frozenset().union(*layouts)
            source = f"read_parquet({sql_list(files)}, hive_partitioning = false, union_by_name = true)"
        cols = ", ".join(c if c in found else f"CAST(NULL AS VARCHAR) AS {c}" for c in COLUMN_NAMES)
        return f"{cols}{', ' + extra if extra else ''} FROM {source}"

    def archive_files(self) -> list[str]:
        rows = self.con.execute(
            "SELECT path FROM archive_segments WHERE deleted_at IS NULL ORDER BY seq_min").fetchall()
        return [r[0] for r in rows]

    def define_log_views(self, exclude: Sequence[str] = ()) -> None:
        """`stored_events`: hot events plus archived Parquet segments, as stored (sealed fields as
        tokens), read where a query needs them (DuckDB skips row groups by their ts statistics);
        `current_events`: stored events less those a reparse superseded (unless show_superseded());
        what search, rules and reports read;
        `all_events`: current events with sealed fields revealed when the sealed store is attached;
        `log_seqs`: every seq of the log, deleted (tombstoned) ones included.
        `exclude`: segment files known to be damaged."""
        files = [f for f in self.archive_files() if Path(f).exists() and f not in exclude]
        cols = ", ".join(COLUMN_NAMES)
        # message_in_raw: the message is a substring of raw, so a text search can skip it
        archived = f" UNION ALL SELECT {self.parquet_select(files, 'false')}" if files else ""
        hot = ", ".join(f"{MESSAGE_SQL} AS message" if c == "message" else c for c in COLUMN_NAMES)
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW hot_events AS SELECT {hot}, message_at IS NOT NULL AS "
                         "message_in_raw FROM events")
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW stored_events AS SELECT {cols}, message_in_raw FROM hot_events"
                         f"{archived}")
        self.con.execute("CREATE OR REPLACE TEMP VIEW log_seqs AS SELECT seq FROM stored_events "
                         "UNION ALL SELECT seq FROM tombstones")
        self.superseded_sql = self._superseded_predicate()
        hide = f" WHERE NOT {self.superseded_sql}" if self.superseded_sql and not self.include_superseded else ""
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW current_events AS SELECT * FROM stored_events{hide}")
        if self.sealed_fields:
            shown = ", ".join([*(_revealed(c) if c in self.sealed_fields else f"e.{c}" for c in COLUMN_NAMES),
                               "e.message_in_raw"])
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW all_events AS SELECT {shown} FROM current_events e "
                             "LEFT JOIN sealed_store.sealed s ON s.seq = e.seq")
        else:
            self.con.execute("CREATE OR REPLACE TEMP VIEW all_events AS SELECT * FROM current_events")

    def _superseded_predicate(self) -> str | None:
        """Adjacent runs merged (reparsing twice leaves two). A few runs become a literal range
        test; more, a join. Over 10M rows, half superseded: 1 run 0.17 s literal vs 1.06 s join,
        10 runs 0.21 vs 0.93 s, 100 runs 1.37 vs 0.64 s (no filter: 0.16 s)."""
        runs = self.con.execute(
            "SELECT min(first_seq), max(last_seq) FROM (SELECT *, sum(CASE WHEN first_seq <= reach + 1 THEN 0 "
            "ELSE 1 END) OVER (ORDER BY first_seq) AS island FROM (SELECT first_seq, last_seq, max(last_seq) OVER "
            "(ORDER BY first_seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach FROM superseded)) "
            "GROUP BY island ORDER BY 1 LIMIT ?", [INLINE_SUPERSEDED_RUNS + 1]).fetchall()
        if not runs:
            return None
        if len(runs) > INLINE_SUPERSEDED_RUNS:
            return "(seq IN (SELECT unnest(range(first_seq, last_seq + 1)) FROM superseded))"
        return "(" + " OR ".join(f"seq BETWEEN {int(a)} AND {int(b)}" for a, b in runs) + ")"

    def show_superseded(self) -> None:
        """Readers (search, stats, export, rules, reports) see superseded events too."""
        self.include_superseded = True
        self.define_log_views()

    def attach_sealer(self, sealer: BatchSealer) -> None:
        """Seal sensitive fields of every batch appended from now on (ingest, watch)."""
        self.sealer = sealer
        sealer.drop_beyond(self.event_count_and_max_seq()[1])

    def attach_sealed_store(self, path: Path, wait: float = 5.0) -> None:
        """Show sealed fields in plaintext (admins): `all_events` joins the sealed store."""
        retry_locked(path, wait, lambda: self.con.execute(f"ATTACH '{sql_quote(str(path))}' AS sealed_store (READ_ONLY)"))
        self.sealed_fields = tuple(SEALABLE_FIELDS)
        self.define_log_views()

    def reveal_tokens(self, tokens: Collection[str]) -> dict[str, str]:
        """token -> plaintext for the tokens given, from the attached sealed store."""
        if not tokens or not self.sealed_fields:
            return {}
        self.con.register("_wanted", pa.table({"t": pa.array(sorted(tokens), pa.string())}))
        found: dict[str, str] = {}
        try:
            for column in self.sealed_fields:
                stored = f"json_extract_string(e.{column}, '$')" if column == "attrs" else f"e.{column}"
                rows = self.con.execute(
                    f"SELECT DISTINCT {stored}, s.{column} FROM stored_events e JOIN sealed_store.sealed s "
                    f"ON s.seq = e.seq WHERE s.{column} IS NOT NULL AND {stored} IN (SELECT t FROM _wanted)").fetchall()
                found.update({t: v for t, v in rows})
        finally:
            self.con.unregister("_wanted")
        return found

    def sealed_pairs(self, batch: int = 100_000) -> Iterator[tuple[str, list[tuple[int, str | None, str | None]]]]:
        """(column, [(seq, stored value, sealed plaintext)]) for every event with sealed fields,
        and for stored tokens with no plaintext: what `verify` checks against the key."""
        for column in self.sealed_fields:
            stored = f"json_extract_string(e.{column}, '$')" if column == "attrs" else f"e.{column}"
            cur = self.con.execute(
                f"SELECT e.seq, {stored}, s.{column} FROM stored_events e LEFT JOIN sealed_store.sealed s "
                f"ON s.seq = e.seq WHERE s.{column} IS NOT NULL OR starts_with({stored}, 'sealed:') ORDER BY e.seq")
            while rows := cur.fetchmany(batch):
                yield column, rows

    def sealed_orphans(self) -> list[int]:
        """Plaintext rows whose event is gone (deleted by hand, or a retention run that stopped)."""
        rows = self.con.execute("SELECT s.seq FROM sealed_store.sealed s ANTI JOIN log_seqs l ON l.seq = s.seq "
                                "ORDER BY s.seq LIMIT 100").fetchall()
        return [r[0] for r in rows]

    def next_seq(self) -> int:
        row = first_row(self.con.execute("SELECT coalesce(max(seq), 0) + 1 FROM log_seqs"))
        return int(row[0]) if row else 1

    def distinct_seqs(self) -> int:
        row = first_row(self.con.execute("SELECT count(DISTINCT seq) FROM log_seqs"))
        return int(row[0]) if row else 0

    def append_events(self, batch: pa.Table, *, seal: bool = True) -> None:
        """Append a batch whose columns are exactly COLUMN_NAMES, `seq` already assigned.

        With several DuckDB threads the batch is first made one contiguous chunk: they would
        scan a multi-chunk Arrow table in parallel, each writing its own partly filled row
        groups, merged at commit with free blocks left behind (measured: a file 1.6x larger).
        Ingest writes with one thread, which reads the chunks in order, so it skips that copy
        (a row group of CloudTrail records is ~200 MB).
        """
        if self.first_own_seq is None and batch.num_rows:
            self.first_own_seq = int(batch.column("seq")[0].as_py())
        if seal and self.sealer is not None:
            batch = self.sealer.seal(batch, self.con)
        # from_arrow, not register(): a registered table stays referenced until the
        # transaction commits, so a large file's batches would all stay in memory.
        if not self._single_threaded:
            batch = batch.combine_chunks()
        self.con.from_arrow(batch.select(list(COLUMN_NAMES))).project(_APPEND_SQL).insert_into("events")

    def end_before_own_writes(self) -> int:
        """The log's last seq not written through this Store: what a checkpoint signed now
        adopts from an earlier run if it is beyond the last checkpoint (a run that stopped
        before signing). Self-audit records and spool drains of this run are its own."""
        if self.first_own_seq is not None:
            return self.first_own_seq - 1
        return self.event_count_and_max_seq()[1]

    def event_count_and_max_seq(self) -> tuple[int, int]:
        row = first_row(self.con.execute("SELECT count(*), coalesce(max(seq), 0) FROM log_seqs"))
        assert row is not None
        return int(row[0]), int(row[1])
