"""The DuckDB store: the only module that speaks SQL.

One file holds the events, the file registry and metadata. Commands open it, work and close;
DuckDB allows one writing process, so a second writer waits up to `lock_wait_seconds` and then
fails with the holder's PID and command line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import duckdb
import pyarrow as pa

from auditctl.errors import AuditctlError, DatabaseBusy
from auditctl.roles import SEALABLE_FIELDS
from auditctl.schema import COLUMN_NAMES, COLUMNS
from auditctl.store.filters import PERSON_ATTRS, PERSON_COLUMNS, EventFilter, ipv4_range

if TYPE_CHECKING:
    from auditctl.access.sealing import Sealer

T = TypeVar("T")

SCHEMA_VERSION = 8
# Long free text compresses better with zstd than with DuckDB's default FSST/dictionary
# (raw: 51.7 -> 34.6 MB and faster to write, per 600k auth.log lines). Only raw: forcing zstd
# on every column made the file bigger, and on `message`, which is NULL wherever it is cut
# from raw (schema 6), zstd still spends ~4 bytes a row: 4.2 MB per 1M NULLs, vs ~0.
ZSTD_COLUMNS = frozenset({"raw"})
_HASH_SLICE = 1 << 20  # seqs whose leaves are hashed in one step (bounds memory)
ROW_GROUP_ROWS = 122_880  # DuckDB's row group size, used for the Parquet files too

_EVENTS_DDL = "CREATE TABLE events (\n  " + ",\n  ".join(
    f"{c.name} {c.sql_type}" + (" USING COMPRESSION zstd" if c.name in ZSTD_COLUMNS else "")
    for c in COLUMNS if not c.tail
) + "\n)"

# Each migration takes the store from version i to i+1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        _EVENTS_DDL,
        """CREATE TABLE files (
            file_id BIGINT PRIMARY KEY, path VARCHAR, device UBIGINT, inode UBIGINT,
            head_hash VARCHAR, head_len BIGINT, compressed BOOLEAN,
            "offset" BIGINT, next_line BIGINT, size BIGINT, mtime DOUBLE, sha256 VARCHAR,
            parser VARCHAR, events BIGINT, first_seq BIGINT, last_seq BIGINT,
            first_ingested TIMESTAMPTZ, last_ingested TIMESTAMPTZ)""",
    ),
    (
        # integrity: the first bytes of each event's leaf hash (to name a changed event),
        # and the signed checkpoints
        "CREATE TABLE digests (seq BIGINT, digest UBIGINT)",
        """CREATE TABLE checkpoints (
            id BIGINT, tree_size BIGINT, root VARCHAR, created_at TIMESTAMPTZ, origin VARCHAR,
            key_name VARCHAR, key_id VARCHAR, note VARCHAR)""",
        "INSERT INTO meta SELECT 'db_id', CAST(uuid() AS VARCHAR)",
    ),
    (
        # anomaly checks: findings (deduplicated per rule and group) and the runs that made them
        """CREATE TABLE findings (
            id BIGINT, rule_id VARCHAR, severity VARCHAR, title VARCHAR, group_key VARCHAR,
            first_ts TIMESTAMPTZ, last_ts TIMESTAMPTZ, count BIGINT, seqs BIGINT[],
            created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, check_run BIGINT, tags VARCHAR[])""",
        """CREATE TABLE check_runs (
            id BIGINT, started_at TIMESTAMPTZ, since TIMESTAMPTZ, until TIMESTAMPTZ, rules BIGINT,
            new_findings BIGINT, updated_findings BIGINT, seconds DOUBLE)""",
    ),
    (
        # review reports: what each one covered and the state the next one compares with
        """CREATE TABLE reports (
            id BIGINT, created_at TIMESTAMPTZ, period VARCHAR, since TIMESTAMPTZ, until TIMESTAMPTZ,
            state VARCHAR, summary VARCHAR)""",
    ),
    (
        # retention: archived Parquet segments, and the leaf hashes of deleted events
        """CREATE TABLE archive_segments (
            id BIGINT, path VARCHAR, partition VARCHAR, seq_min BIGINT, seq_max BIGINT, rows BIGINT,
            ts_min TIMESTAMPTZ, ts_max TIMESTAMPTZ, bytes BIGINT, sha256 VARCHAR, root VARCHAR,
            manifest VARCHAR, created_at TIMESTAMPTZ, deleted_at TIMESTAMPTZ)""",
        "CREATE TABLE tombstones (seq BIGINT, leaf BLOB, receipt BIGINT)",
        """CREATE TABLE deletion_receipts (
            id BIGINT, created_at TIMESTAMPTZ, policy VARCHAR, events BIGINT, seq_ranges VARCHAR,
            leaves_root VARCHAR, note VARCHAR)""",
    ),
    (
        # storage: a message that is a substring of raw (every syslog line) is kept as its
        # position and length in raw instead of a second copy (see hot_events)
        "ALTER TABLE events ADD COLUMN message_at INTEGER",
        "ALTER TABLE events ADD COLUMN message_len INTEGER",
    ),
    (
        # storage: digests keep 4 bytes of each leaf hash, not 8 (4 MB less per 1M events).
        # They only name the changed event; detection rests on the signed roots, so a 2^-32
        # chance that a change keeps its digest still fails verify, as `root_mismatch`.
        "CREATE TABLE digests_v7 AS SELECT seq, CAST(digest >> 32 AS UINTEGER) AS digest FROM digests ORDER BY seq",
        "DROP TABLE digests",
        "ALTER TABLE digests_v7 RENAME TO digests",
    ),
    (
        # trust: every event has a time and says where it came from; records that are not valid
        # UTF-8 keep their exact bytes. Tail columns: leaves signed before keep their hashes.
        "ALTER TABLE events ADD COLUMN IF NOT EXISTS ts_source VARCHAR",
        "ALTER TABLE events ADD COLUMN IF NOT EXISTS raw_b64 VARCHAR",
        # registry: SHA-256 of a file's decompressed bytes [0, offset), to prove a match (identity.py)
        "ALTER TABLE files ADD COLUMN IF NOT EXISTS prefix_sha256 VARCHAR",
        # reparse: the seq runs each file transaction wrote (exact even when other files were
        # ingested between a file's resumes), and the runs a reparse superseded. Events are never
        # changed: superseded ones are only hidden from search, rules and reports.
        # (idempotent: a test re-runs it on a store that already has them)
        "CREATE TABLE IF NOT EXISTS file_runs (file_id BIGINT, first_seq BIGINT, last_seq BIGINT)",
        "INSERT INTO file_runs SELECT file_id, first_seq, last_seq FROM files f "
        "WHERE events > 0 AND last_seq - first_seq + 1 = events "
        "AND NOT EXISTS (SELECT 1 FROM file_runs r WHERE r.file_id = f.file_id)",
        """CREATE TABLE IF NOT EXISTS superseded (
            first_seq BIGINT, last_seq BIGINT, by_first_seq BIGINT, by_last_seq BIGINT, file_id BIGINT,
            superseded_at TIMESTAMPTZ, reason VARCHAR)""",
    ),
)
# Superseded runs beyond this many are excluded by a join instead of a literal predicate.
INLINE_SUPERSEDED_RUNS = 20

# An event's message as stored: its own text, else cut from raw. A message column that is
# set wins, so an edit to it shows (and verify sees it).
MESSAGE_SQL = "coalesce(message, substr(raw, message_at, message_len))"
_FOUND_IN_RAW = "(message IS NOT NULL AND raw IS NOT NULL AND contains(raw, message))"
# The events table's physical order: the original columns, message_at/len (schema 6), then
# the tail columns (schema 8).
_APPEND_SQL = ", ".join(
    [f"CASE WHEN {_FOUND_IN_RAW} THEN NULL ELSE message END" if c.name == "message" else c.name
     for c in COLUMNS if not c.tail]
    + [f"CASE WHEN {_FOUND_IN_RAW} THEN strpos(raw, message) END",
       f"CASE WHEN {_FOUND_IN_RAW} THEN length(message) END"]
    + [c.name for c in COLUMNS if c.tail])

STAT_DIMENSIONS = {
    "category": "category", "action": "action", "parser": "parser", "host": "host",
    "outcome": "outcome", "app": "app", "actor": "actor", "target": "target", "role": "role",
    "src_ip": "src_ip", "source": "source",
    "day": "strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d')",
    "hour": "strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d %H:00')",
}


@dataclass
class FileRecord:
    """What the registry remembers about one ingested file."""

    file_id: int
    path: str
    device: int
    inode: int
    head_hash: str
    head_len: int
    compressed: bool
    offset: int
    next_line: int
    size: int
    mtime: float
    sha256: str | None
    parser: str
    events: int
    first_seq: int | None
    last_seq: int | None
    prefix_sha256: str | None = None  # of the decompressed bytes [0, offset); None before schema 8


class Store:
    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only
        self.memory_limit: str | None = None  # DuckDB's cap for this store (config memory_limit)
        self.sealer: Sealer | None = None
        self.sealed_fields: tuple[str, ...] = ()  # set when the sealed store is attached
        self._single_threaded = False  # single_threaded_writes() is in force
        self.include_superseded = False  # show_superseded(): readers see superseded events too
        self.superseded_sql: str | None = None  # SQL true for a superseded seq; None: none are
        self.first_own_seq: int | None = None  # the first seq appended through this Store

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, read_only: bool = False, wait: float = 5.0, memory_limit: str | None = None) -> Store:
        path = Path(path)
        if read_only and not path.exists():
            raise AuditctlError(f"no database at {path}: run `auditctl ingest` first (or pass --db)")
        if not read_only:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise AuditctlError(f"{path}: cannot create the database folder {exc.filename or path.parent}: "
                                    f"{exc.strerror or exc}") from None
        con = _connect(path, read_only, wait)
        store = cls(con, path, read_only)
        if memory_limit:
            store.memory_limit = memory_limit
            try:
                con.execute("SET memory_limit = ?", [memory_limit])
            except duckdb.Error as exc:
                con.close()
                raise AuditctlError(f"memory_limit {memory_limit!r}: {str(exc).splitlines()[0]}") from None
        if read_only:
            store._check_version()
        else:
            store.migrate()
        store.define_log_views()
        return store

    def parquet_select(self, files: Sequence[str], extra: str = "") -> str:
        """`<event columns> FROM read_parquet(files)`, NULL for the tail columns of segments
        written before those columns existed. Segments all of one layout are read lazily (a
        damaged one fails where it is read, and verify names it); mixed layouts by name."""
        try:
            per_file = self.con.execute(
                f"SELECT file_name, list(name) FROM parquet_schema({_sql_list(files)}) GROUP BY file_name").fetchall()
        except duckdb.Error:
            per_file = []
        layouts = {frozenset(names) & set(COLUMN_NAMES) for _, names in per_file}
        if len(layouts) <= 1:
            found = next(iter(layouts), frozenset(COLUMN_NAMES))
            source = f"read_parquet({_sql_list(files)}, hive_partitioning = false)"
        else:
            found = frozenset().union(*layouts)
            source = f"read_parquet({_sql_list(files)}, hive_partitioning = false, union_by_name = true)"
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

    # -- sealed fields -------------------------------------------------------------------

    def attach_sealer(self, sealer: Sealer) -> None:
        """Seal sensitive fields of every batch appended from now on (ingest, watch)."""
        self.sealer = sealer
        sealer.drop_beyond(self.event_count_and_max_seq()[1])

    def attach_sealed_store(self, path: Path, wait: float = 5.0) -> None:
        """Show sealed fields in plaintext (admins): `all_events` joins the sealed store."""
        retry_locked(path, wait, lambda: self.con.execute(f"ATTACH '{_quote(str(path))}' AS sealed_store (READ_ONLY)"))
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

    def close(self) -> None:
        if self.sealer is not None:
            self.sealer.close()
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        has_meta = _first(self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"))
        if not has_meta or not has_meta[0]:
            return 0
        row = _first(self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'"))
        return int(row[0]) if row else 0

    def migrate(self) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise AuditctlError(
                f"{self.path} was written by a newer auditctl (schema {version} > {SCHEMA_VERSION})")
        for target in range(version, SCHEMA_VERSION):
            with self.transaction():
                for statement in MIGRATIONS[target]:
                    self.con.execute(statement)
                self.con.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(target + 1)])
                if target == 0:
                    self.con.execute("INSERT INTO meta VALUES ('created_at', ?)",
                                     [datetime.now(UTC).isoformat()])

    def _check_version(self) -> None:
        version = self.schema_version()
        if version != SCHEMA_VERSION:
            raise AuditctlError(
                f"{self.path} has schema {version}, this auditctl needs {SCHEMA_VERSION}: "
                "run any writing command (e.g. `auditctl ingest`) to migrate it")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction; the sealed store's (if sealing) commits just before this one."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
            if self.sealer is not None:
                self.sealer.commit()
        except BaseException:
            self.con.execute("ROLLBACK")
            if self.sealer is not None:
                self.sealer.rollback()
            raise
        self.con.execute("COMMIT")

    # -- writing events ------------------------------------------------------------------

    def next_seq(self) -> int:
        row = _first(self.con.execute("SELECT coalesce(max(seq), 0) + 1 FROM log_seqs"))
        return int(row[0]) if row else 1

    def distinct_seqs(self) -> int:
        row = _first(self.con.execute("SELECT count(DISTINCT seq) FROM log_seqs"))
        return int(row[0]) if row else 0

    def default_settings(self) -> None:
        """Undo single_threaded_writes(): hashing and queries use every core."""
        self.con.execute("RESET threads")
        self._single_threaded = False
        self._restore_memory_limit()

    def single_threaded_writes(self) -> None:
        """One DuckDB thread for bulk appends: faster here (2.2 vs 2.7 us/row), and every row
        group is written once, so the file has no free blocks left by merged row groups."""
        self.con.execute("SET threads = 1")
        self.con.execute("SET memory_limit = '384MB'")
        self._single_threaded = True

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

    # -- integrity: leaves, tree levels, digests, checkpoints -----------------------------

    def meta(self, key: str) -> str | None:
        row = _first(self.con.execute("SELECT value FROM meta WHERE key = ?", [key]))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    def end_before_own_writes(self) -> int:
        """The log's last seq not written through this Store: what a checkpoint signed now
        adopts from an earlier run if it is beyond the last checkpoint (a run that stopped
        before signing). Self-audit records and spool drains of this run are its own."""
        if self.first_own_seq is not None:
            return self.first_own_seq - 1
        return self.event_count_and_max_seq()[1]

    def event_count_and_max_seq(self) -> tuple[int, int]:
        row = _first(self.con.execute("SELECT count(*), coalesce(max(seq), 0) FROM log_seqs"))
        assert row is not None
        return int(row[0]), int(row[1])

    def leaves_table(self, name: str, after: int, upto: int, *, contiguous: bool = False) -> int:
        """Temp table `name(j, h, seq)`: the leaf hash of every event with after < seq <= upto, and
        j = its 0-based position in seq order. When the caller knows seq has no gaps or repeats,
        j is simply seq - 1 (sorting a million rows to number them cost 0.8 s).

        Hashed a slice of seqs at a time, so memory stays flat however long the log is. (Hashing
        in Python with hashlib was tried: fetching the canonical encodings out of DuckDB cost
        more than the faster hash saved, 16 s vs 12 s per 10M events.)"""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} (j BIGINT, h BLOB, seq BIGINT)")
        for lo in range(after, upto, _HASH_SLICE):
            self.con.execute(f"INSERT INTO {name} SELECT seq - 1, unhex({leaf_sql()}), seq FROM stored_events "
                             "WHERE seq > ? AND seq <= ?", [lo, min(lo + _HASH_SLICE, upto)])
        self.con.execute(f"INSERT INTO {name} SELECT seq - 1, leaf, seq FROM tombstones WHERE seq > ? AND seq <= ?",
                         [after, upto])
        if not contiguous:  # number the leaves by their place in seq order
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT CAST(? AS BIGINT) + "
                             f"row_number() OVER (ORDER BY seq) - 1 AS j, h, seq FROM {name}", [after])
        return self._count(f"SELECT count(*) FROM {name}", [])

    def _count(self, sql: str, params: Sequence[Any]) -> int:
        row = _first(self.con.execute(sql, params))
        return int(row[0]) if row else 0

    @contextmanager
    def bounded_memory(self, limit: str = "512MB") -> Iterator[None]:
        """Cap DuckDB's memory for whole-log work (hashing, tree levels): beyond it, temp tables
        and aggregates spill to disk, so memory stays flat as the log grows."""
        self.con.execute(f"SET memory_limit = '{limit}'")
        try:
            yield
        except BaseException:
            with suppress(duckdb.Error):  # an aborted transaction refuses SET: report the first error
                self._restore_memory_limit()
            raise
        self._restore_memory_limit()

    def _restore_memory_limit(self) -> None:
        if self.memory_limit:
            self.con.execute("SET memory_limit = ?", [self.memory_limit])
        else:
            self.con.execute("RESET memory_limit")

    def save_digests(self, leaves: str) -> None:
        self.con.execute(f"INSERT INTO digests SELECT seq, {_DIGEST.format(h='h')} FROM {leaves}")

    def add_node(self, table: str, index: int, digest: bytes) -> None:
        self.con.execute(f"INSERT INTO {table} (j, h) VALUES (?, ?)", [index, digest])

    def pair_level(self, source: str, target: str) -> int:
        """Temp table `target(j, h)`: parents of every complete (left, right) pair in `source`."""
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT j // 2 AS j, "
            "unhex(sha256('\\x01'::BLOB || max(h) FILTER (WHERE j % 2 = 0) "
            "|| max(h) FILTER (WHERE j % 2 = 1))) AS h "
            f"FROM {source} GROUP BY j // 2 HAVING count(*) = 2")
        row = _first(self.con.execute(f"SELECT count(*) FROM {target}"))
        return int(row[0]) if row else 0

    def nodes(self, table: str, indexes: Sequence[int]) -> dict[int, bytes]:
        if not indexes:
            return {}
        rows = self.con.execute(
            f"SELECT j, h FROM {table} WHERE j IN ({', '.join('?' * len(indexes))})", list(indexes)).fetchall()
        return {int(j): bytes(h) for j, h in rows}

    def drop_temp(self, *tables: str) -> None:
        for t in tables:
            self.con.execute(f"DROP TABLE IF EXISTS {t}")

    def add_checkpoint(self, tree_size: int, root: str, created_at: datetime, origin: str,
                       key_name: str, key_id: str, note: str) -> int:
        row = _first(self.con.execute("SELECT coalesce(max(id), 0) + 1 FROM checkpoints"))
        cid = int(row[0]) if row else 1
        self.con.execute("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [cid, tree_size, root, created_at, origin, key_name, key_id, note])
        return cid

    def checkpoints(self) -> list[dict[str, Any]]:
        cur = self.con.execute("SELECT * FROM checkpoints ORDER BY id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def seq_problems(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(gaps as (after, before) seq pairs, duplicated seqs with their count)."""
        row = _first(self.con.execute("SELECT count(*), coalesce(min(seq), 1), coalesce(max(seq), 0) FROM log_seqs"))
        if row and row[0] == row[2] and row[1] == 1:
            # n rows with seqs in 1..n: a gap forces a repeat, so only repeats need looking for
            dups = self.con.execute(
                "SELECT seq, count(*) FROM log_seqs GROUP BY seq HAVING count(*) > 1 ORDER BY seq").fetchall()
            if not dups:
                return [], []
        gaps = self.con.execute(
            "SELECT seq, nxt FROM (SELECT seq, lead(seq) OVER (ORDER BY seq) AS nxt "
            "FROM (SELECT DISTINCT seq FROM log_seqs)) WHERE nxt IS NOT NULL AND nxt <> seq + 1 ORDER BY seq").fetchall()
        first = _first(self.con.execute("SELECT min(seq) FROM log_seqs"))
        if first and first[0] is not None and first[0] > 1:
            gaps.insert(0, (0, int(first[0])))
        dups = self.con.execute(
            "SELECT seq, count(*) FROM log_seqs GROUP BY seq HAVING count(*) > 1 ORDER BY seq").fetchall()
        return [(int(a), int(b)) for a, b in gaps], [(int(a), int(b)) for a, b in dups]

    def digest_mismatches(self, leaves: str, limit: int, after: int, upto: int) -> list[dict[str, Any]]:
        """Events with after < seq <= upto whose recomputed leaf (in `leaves`) disagrees with the
        stored digest or has none. The comparison joins only digests and leaves; the events are
        looked up for the few that differ."""
        actual = _DIGEST.format(h="l.h")
        cur = self.con.execute(
            "WITH d AS (SELECT seq, any_value(digest) AS digest FROM digests WHERE seq > ? AND seq <= ? GROUP BY seq), "
            f"bad AS (SELECT l.seq, d.digest AS stored, {actual} AS actual FROM {leaves} l LEFT JOIN d ON d.seq = l.seq "
            f"ANTI JOIN tombstones t ON t.seq = l.seq WHERE d.digest IS DISTINCT FROM {actual} ORDER BY l.seq LIMIT ?) "
            "SELECT e.seq, e.ts, e.source, e.line, e.origin, bad.stored, bad.actual FROM bad "
            "JOIN stored_events e ON e.seq = bad.seq ORDER BY e.seq", [after, upto, limit])
        names = [x[0] for x in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def digests_without_events(self, limit: int) -> list[int]:
        rows = self.con.execute(
            "SELECT d.seq FROM digests d ANTI JOIN log_seqs e ON e.seq = d.seq ORDER BY d.seq LIMIT ?",
            [limit]).fetchall()
        return [int(r[0]) for r in rows]

    def digest_with_seq(self, pairs: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
        """Of the (at, as_seq) pairs, those where an event stored at seq `at`, hashed as if its seq
        were `as_seq`, matches the digest recorded for `as_seq`: one query for any number of pairs."""
        if not pairs:
            return set()
        digest = _DIGEST.format(h="unhex(" + leaf_sql("_as_seq") + ")")
        at = [a for a, _ in pairs]
        rows = self.con.execute(  # the constant range lets DuckDB skip row groups and segments
            "WITH p AS (SELECT unnest(?) AS _at, unnest(?) AS _as_seq), "
            "e AS (SELECT s.*, p._as_seq FROM p JOIN (SELECT * FROM stored_events WHERE seq BETWEEN ? AND ?) s "
            "ON s.seq = p._at) "
            f"SELECT DISTINCT e.seq, e._as_seq FROM e JOIN digests d ON d.seq = e._as_seq WHERE d.digest = {digest}",
            [at, [b for _, b in pairs], min(at), max(at)]).fetchall()
        return {(int(a), int(b)) for a, b in rows}

    def event_locators(self, seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Where each event came from (ts, source, line, origin), by seq: one query for all."""
        if not seqs:
            return {}
        cur = self.con.execute("SELECT seq, any_value(ts) AS ts, any_value(source) AS source, any_value(line) AS line, "
                               "any_value(origin) AS origin FROM stored_events WHERE seq BETWEEN ? AND ? "
                               "AND seq IN (SELECT unnest(?)) GROUP BY seq", [min(seqs), max(seqs), list(seqs)])
        names = [x[0] for x in cur.description]
        return {int(r[0]): dict(zip(names, r, strict=True)) for r in cur.fetchall()}

    def event_locator(self, seq: int) -> dict[str, Any] | None:
        return self.event_locators([seq]).get(seq)

    # -- anomaly checks --------------------------------------------------------------------

    def run_query(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        """Run SQL compiled by `auditctl.detect.rulesql` (every value in it is a bound parameter)."""
        cur = self.con.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def run_query_over(self, name: str, table: pa.Table, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        """run_query with an Arrow table visible to the SQL as `name` (a list of seqs, say)."""
        self.con.register(name, table)
        try:
            return self.run_query(sql, params)
        finally:
            self.con.unregister(name)

    def findings_of_rule(self, rule_id: str) -> list[dict[str, Any]]:
        return self.run_query(f"SELECT {_FINDING_COLS} FROM findings WHERE rule_id = ? ORDER BY first_ts",
                              [rule_id])

    def next_finding_id(self) -> int:
        row = _first(self.con.execute("SELECT coalesce(max(id), 0) + 1 FROM findings"))
        return int(row[0]) if row else 1

    def insert_findings(self, rows: list[dict[str, Any]]) -> None:
        """Insert many findings at once (through Arrow: row-by-row inserts run ~500 rows/s)."""
        if rows:
            table = pa.Table.from_pylist(rows, schema=_FINDINGS_SCHEMA)
            self.con.from_arrow(table).insert_into("findings")

    def update_findings(self, rows: list[dict[str, Any]]) -> None:
        """Set first/last time, count, seqs, updated_at and check_run of many findings by id."""
        if not rows:
            return
        table = pa.Table.from_pylist(rows, schema=_FINDINGS_SCHEMA)
        self.con.register("_finding_updates", table)
        try:
            self.con.execute(
                "UPDATE findings SET first_ts = u.first_ts, last_ts = u.last_ts, count = u.count, seqs = u.seqs, "
                "updated_at = u.updated_at, check_run = u.check_run FROM _finding_updates u WHERE findings.id = u.id")
        finally:
            self.con.unregister("_finding_updates")

    def list_findings(self, *, ids: Sequence[int] = (), rules: Sequence[str] = (), severities: Sequence[str] = (),
                      since: datetime | None = None, check_run: int | None = None,
                      limit: int | None = None) -> list[dict[str, Any]]:
        where, params = _findings_where(ids, rules, severities, since, check_run)
        sql = f"SELECT {_FINDING_COLS} FROM findings{where} ORDER BY last_ts DESC, id DESC"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return self.run_query(sql, params)

    def count_findings(self, *, rules: Sequence[str] = (), severities: Sequence[str] = (),
                       since: datetime | None = None) -> int:
        where, params = _findings_where((), rules, severities, since, None)
        row = _first(self.con.execute(f"SELECT count(*) FROM findings{where}", params))
        return int(row[0]) if row else 0

    def add_check_run(self, started: datetime, since: datetime | None, until: datetime, rules: int) -> int:
        row = _first(self.con.execute("SELECT coalesce(max(id), 0) + 1 FROM check_runs"))
        rid = int(row[0]) if row else 1
        self.con.execute("INSERT INTO check_runs VALUES (?, ?, ?, ?, ?, 0, 0, 0)", [rid, started, since, until, rules])
        return rid

    def finish_check_run(self, rid: int, new: int, updated: int, seconds: float) -> None:
        self.con.execute("UPDATE check_runs SET new_findings = ?, updated_findings = ?, seconds = ? WHERE id = ?",
                         [new, updated, seconds, rid])

    def last_check_until(self) -> datetime | None:
        row = _first(self.con.execute("SELECT max(until) FROM check_runs"))
        return row[0] if row else None

    # -- retention ---------------------------------------------------------------------------

    def next_segment_id(self) -> int:
        row = _first(self.con.execute("SELECT coalesce(max(id), 0) + 1 FROM archive_segments"))
        return int(row[0]) if row else 1

    def copy_events_to_parquet(self, seqs: Sequence[int], path: Path) -> None:
        target = str(path).replace("'", "''")
        self.con.execute(
            f"COPY (SELECT {', '.join(COLUMN_NAMES)} FROM hot_events WHERE seq IN (SELECT unnest(CAST(? AS BIGINT[]))) "
            f"ORDER BY seq) TO '{target}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})",
            [list(seqs)])

    def add_segment(self, seg_id: int, path: str, partition: str, manifest: dict[str, Any], size: int, note: str,
                    now: datetime) -> None:
        self.con.execute(
            "INSERT INTO archive_segments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            [seg_id, path, partition, manifest["seq_min"], manifest["seq_max"], manifest["rows"],
             manifest["ts_min"], manifest["ts_max"], size, manifest["sha256"], manifest["leaves_root"], note, now])

    def delete_events(self, seqs: Sequence[int]) -> None:
        self.con.execute("DELETE FROM events WHERE seq IN (SELECT unnest(CAST(? AS BIGINT[])))", [list(seqs)])

    def add_receipt(self, now: datetime, policy: str, events: int, ranges: str, root: str, note: str) -> int:
        row = _first(self.con.execute("SELECT coalesce(max(id), 0) + 1 FROM deletion_receipts"))
        rid = int(row[0]) if row else 1
        self.con.execute("INSERT INTO deletion_receipts VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [rid, now, policy, events, ranges, root, note])
        return rid

    def add_tombstones(self, leaves: Sequence[tuple[int, bytes]], receipt: int) -> None:
        table = pa.table({"seq": pa.array([s for s, _ in leaves], pa.int64()),
                          "leaf": pa.array([h for _, h in leaves], pa.binary()),
                          "receipt": pa.array([receipt] * len(leaves), pa.int64())})
        self.con.from_arrow(table).insert_into("tombstones")
        if self.sealer is not None:  # deleted for good: their plaintext goes too, in the paired transaction
            self.sealer.begin()
            self.sealer.forget([s for s, _ in leaves])

    def segment_path(self, seg_id: int) -> str:
        row = _first(self.con.execute("SELECT path FROM archive_segments WHERE id = ?", [seg_id]))
        assert row is not None
        return str(row[0])

    def mark_segment_deleted(self, seg_id: int, now: datetime) -> None:
        self.con.execute("UPDATE archive_segments SET deleted_at = ? WHERE id = ?", [now, seg_id])

    def parquet_readable(self, path: str) -> bool:
        try:
            self.con.execute(f"SELECT count(*) FROM read_parquet({_sql_list([path])})").fetchall()
            return True
        except duckdb.Error:
            return False

    def segments(self) -> list[dict[str, Any]]:
        return self.run_query("SELECT * FROM archive_segments ORDER BY id", [])

    def receipts(self) -> list[dict[str, Any]]:
        return self.run_query("SELECT * FROM deletion_receipts ORDER BY id", [])

    def tombstone_leaves(self, receipt: int) -> list[tuple[int, bytes]]:
        rows = self.con.execute("SELECT seq, leaf FROM tombstones WHERE receipt = ? ORDER BY seq", [receipt]).fetchall()
        return [(int(a), bytes(b)) for a, b in rows]

    def storage_stats(self) -> dict[str, Any]:
        hot = _first(self.con.execute("SELECT count(*), min(ts) FROM events"))
        arch = _first(self.con.execute(
            "SELECT count(*), coalesce(sum(rows), 0), coalesce(sum(bytes), 0), max(ts_max) FROM archive_segments "
            "WHERE deleted_at IS NULL"))
        dead = _first(self.con.execute("SELECT count(*) FROM tombstones"))
        raw = _first(self.con.execute("SELECT coalesce(sum(size), 0) FROM files"))
        assert hot and arch and dead and raw
        return {"hot_rows": int(hot[0]), "oldest_hot": hot[1], "db_bytes": self.path.stat().st_size,
                "archive_segments": int(arch[0]), "archived_rows": int(arch[1]), "archive_bytes": int(arch[2]),
                "newest_archived": arch[3], "deleted_rows": int(dead[0]), "raw_bytes": int(raw[0])}

    # -- review reports --------------------------------------------------------------------

    def save_report(self, created_at: datetime, period: str, since: datetime, until: datetime, state: str,
                    summary: str) -> int:
        row = _first(self.con.execute("SELECT coalesce(max(id), 0) + 1 FROM reports"))
        rid = int(row[0]) if row else 1
        self.con.execute("INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [rid, created_at, period, since, until, state, summary])
        return rid

    def last_report(self, period: str) -> dict[str, Any] | None:
        rows = self.run_query("SELECT * FROM reports WHERE period = ? ORDER BY id DESC LIMIT 1", [period])
        return rows[0] if rows else None

    # -- file registry -------------------------------------------------------------------

    def file_candidates(self, path: str, device: int, inode: int, head_hash: str) -> list[FileRecord]:
        rows = self.con.execute(
            f"SELECT {_FILE_COLS} FROM files WHERE path = ? OR (device = ? AND inode = ?) "
            "OR head_hash = ? ORDER BY \"offset\" DESC",
            [path, device, inode, head_hash],
        ).fetchall()
        return [FileRecord(*row) for row in rows]

    def save_file(self, rec: FileRecord, now: datetime) -> None:
        exists = _first(self.con.execute("SELECT 1 FROM files WHERE file_id = ?", [rec.file_id]))
        values = [rec.path, rec.device, rec.inode, rec.head_hash, rec.head_len, rec.compressed,
                  rec.offset, rec.next_line, rec.size, rec.mtime, rec.sha256, rec.parser,
                  rec.events, rec.first_seq, rec.last_seq, rec.prefix_sha256]
        if exists:
            self.con.execute(
                "UPDATE files SET path=?, device=?, inode=?, head_hash=?, head_len=?, compressed=?, "
                "\"offset\"=?, next_line=?, size=?, mtime=?, sha256=?, parser=?, events=?, "
                "first_seq=?, last_seq=?, prefix_sha256=?, last_ingested=? WHERE file_id=?",
                [*values, now, rec.file_id])
        else:
            self.con.execute(
                f"INSERT INTO files ({_FILE_COLS}, first_ingested, last_ingested) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [rec.file_id, *values, now, now])

    def add_file_run(self, file_id: int, first_seq: int, last_seq: int) -> None:
        self.con.execute("INSERT INTO file_runs VALUES (?, ?, ?)", [file_id, first_seq, last_seq])

    def live_file_runs(self, file_id: int) -> list[tuple[int, int]]:
        """The seq runs this file entry wrote that no reparse has superseded yet."""
        rows = self.con.execute(
            "SELECT first_seq, last_seq FROM file_runs r WHERE file_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM superseded s WHERE s.first_seq = r.first_seq AND s.last_seq = r.last_seq) "
            "ORDER BY first_seq", [file_id]).fetchall()
        return [(int(a), int(b)) for a, b in rows]

    def event_runs(self, first_seq: int, last_seq: int, source: str, parser: str,
                   skip: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """Runs of consecutive seqs in [first_seq, last_seq] of events from `source` by `parser`,
        outside the runs in `skip`: a file's events from before file_runs were recorded."""
        outside = "".join(f" AND seq NOT BETWEEN {int(a)} AND {int(b)}" for a, b in skip)
        rows = self.con.execute(
            "SELECT min(seq), max(seq) FROM (SELECT seq, seq - row_number() OVER (ORDER BY seq) AS island "
            f"FROM stored_events WHERE seq BETWEEN ? AND ? AND source = ? AND parser = ?{outside}) "
            "GROUP BY island ORDER BY 1", [first_seq, last_seq, source, parser]).fetchall()
        return [(int(a), int(b)) for a, b in rows]

    def supersede(self, runs: Sequence[tuple[int, int]], by: tuple[int, int] | None, file_id: int,
                  reason: str, now: datetime) -> None:
        """Record `runs` as superseded by the events in `by`; the events themselves stay as signed."""
        for first, last in runs:
            self.con.execute("INSERT INTO superseded VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [first, last, by[0] if by else None, by[1] if by else None, file_id, now, reason])
        self.define_log_views()

    def new_file_id(self) -> int:
        row = _first(self.con.execute("SELECT coalesce(max(file_id), 0) + 1 FROM files"))
        return int(row[0]) if row else 1

    def files(self) -> list[FileRecord]:
        rows = self.con.execute(f"SELECT {_FILE_COLS} FROM files ORDER BY file_id").fetchall()
        return [FileRecord(*row) for row in rows]

    # -- reading -------------------------------------------------------------------------

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
            row = _first(self.con.execute(f"SELECT count(*) FROM all_events{where}", params))
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
        row = _first(self.con.execute(f"SELECT count(*) FROM all_events{where}", params))
        return int(row[0]) if row else 0

    def stats(self, by: Sequence[str], flt: EventFilter, limit: int | None = None) -> list[dict[str, Any]]:
        unknown = [b for b in by if b not in STAT_DIMENSIONS]
        if unknown:
            raise AuditctlError(f"cannot group by {', '.join(unknown)}; choose from {', '.join(STAT_DIMENSIONS)}")
        where, params = compile_filter(flt)
        dims = ", ".join(f"{STAT_DIMENSIONS[b]} AS {b}" for b in by)
        positions = ", ".join(str(i + 1) for i in range(len(by)))
        sql = (f"SELECT {dims}, count(*) AS events, "
               "count(*) FILTER (WHERE outcome = 'failure') AS failures, "
               f"min(ts) AS first, max(ts) AS last FROM all_events{where} GROUP BY {positions} "
               f"ORDER BY {'1' if by[0] in ('day', 'hour') else 'events DESC'}, {positions}")
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        cur = self.con.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def summary(self) -> dict[str, Any]:
        row = _first(self.con.execute(
            "SELECT count(*), min(ts), max(ts), count(DISTINCT source), "
            "count(*) FILTER (WHERE action = 'unparsed') FROM all_events"))
        assert row is not None
        return {"events": row[0], "first": row[1], "last": row[2], "sources": row[3], "unparsed": row[4]}


def _revealed(column: str) -> str:
    if column == "attrs":
        return "coalesce(CAST(s.attrs AS JSON), e.attrs) AS attrs"
    return f"coalesce(s.{column}, e.{column}) AS {column}"


def _quote(text: str) -> str:
    return text.replace("'", "''")


def leaf_sql(seq_sql: str = "seq") -> str:
    """SQL for an event's RFC 6962 leaf hash, as hex: SHA-256(0x00 || canonical encoding).

    The encoding is `merkle.canonical`: every column in schema order as `<bytes>:<text>`, NULL
    as `-`. `seq_sql` lets verification ask what the hash would be under another seq.
    """
    return f"sha256({canonical_sql(seq_sql)})"


def canonical_sql(seq_sql: str = "seq") -> str:
    """0x00 and the canonical encoding, built by one flat concat: concat() skips NULLs, so a
    NULL field contributes only its '-' (measured 10% faster than nesting coalesce and ||), and
    a NULL tail column contributes nothing (see merkle.canonical)."""
    parts = []
    for c in COLUMNS:
        text = _canonical_text(c.name, c.sql_type, seq_sql)
        if c.tail:
            parts.append(f"CASE WHEN {text} IS NOT NULL THEN '{c.name}' || CAST(strlen({text}) AS VARCHAR) || ':' END")
        else:
            parts.append(f"CASE WHEN {text} IS NULL THEN '-' ELSE CAST(strlen({text}) AS VARCHAR) || ':' END")
        parts.append(text)
    return f"concat(chr(0), {', '.join(parts)})"


def _canonical_text(column: str, sql_type: str, seq_sql: str) -> str:
    if column == "seq":
        return f"CAST({seq_sql} AS VARCHAR)"
    if sql_type == "TIMESTAMPTZ":
        return f"CAST(epoch_us({column}) AS VARCHAR)"
    if sql_type == "VARCHAR":
        return column
    return f"CAST({column} AS VARCHAR)"


# The first 4 bytes of a leaf hash (a BLOB expression `h`) as an unsigned 32-bit integer.
_DIGEST = "CAST(('0x' || substr(hex({h}), 1, 8)) AS UINTEGER)"

_FINDINGS_SCHEMA = pa.schema([
    ("id", pa.int64()), ("rule_id", pa.string()), ("severity", pa.string()), ("title", pa.string()),
    ("group_key", pa.string()), ("first_ts", pa.timestamp("us", tz="UTC")), ("last_ts", pa.timestamp("us", tz="UTC")),
    ("count", pa.int64()), ("seqs", pa.list_(pa.int64())), ("created_at", pa.timestamp("us", tz="UTC")),
    ("updated_at", pa.timestamp("us", tz="UTC")), ("check_run", pa.int64()), ("tags", pa.list_(pa.string())),
])

_FINDING_COLS = ("id, rule_id, severity, title, group_key, first_ts, last_ts, count, seqs, created_at, "
                 "updated_at, check_run, tags")

_FILE_COLS = ("file_id, path, device, inode, head_hash, head_len, compressed, \"offset\", next_line, "
              "size, mtime, sha256, parser, events, first_seq, last_seq, prefix_sha256")

_WILDCARD = re.compile(r"[*?]")


def _value_match(column: str, values: Sequence[str], params: list[Any]) -> str:
    """`column` equals any value; values with * or ? match as wildcards."""
    exact = [v for v in values if not _WILDCARD.search(v)]
    parts = []
    if exact:
        parts.append(f"{column} IN ({', '.join('?' * len(exact))})")
        params.extend(exact)
    for v in values:
        if _WILDCARD.search(v):
            escaped = v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            parts.append(f"{column} LIKE ? ESCAPE '\\'")
            params.append(escaped.replace("*", "%").replace("?", "_"))
    return "(" + " OR ".join(parts) + ")"


def _findings_where(ids: Sequence[int], rules: Sequence[str], severities: Sequence[str],
                    since: datetime | None, check_run: int | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, values in (("id", ids), ("rule_id", rules), ("severity", severities)):
        if values:
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    if since is not None:
        clauses.append("last_ts >= ?")
        params.append(since)
    if check_run is not None:
        clauses.append("check_run = ?")
        params.append(check_run)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _person_match(values: Sequence[str], params: list[Any]) -> str:
    """Any field that names a person (filters.PERSON_COLUMNS and PERSON_ATTRS) equals a value.
    The attrs keys are read only where the JSON text contains the value (a cheap LIKE first)."""
    parts = [_value_match(col, values, params) for col in PERSON_COLUMNS]
    paths = "[" + ", ".join(f"'$.{key}'" for key in PERSON_ATTRS) + "]"
    for v in values:
        if '"' in v or "\\" in v:  # JSON escapes these, so the text test would miss them
            near = "attrs IS NOT NULL"
        else:
            near = "CAST(attrs AS VARCHAR) LIKE ? ESCAPE '\\'"
            params.append("%" + _like_pattern(v) + "%")
        names = f"json_extract_string(attrs, {paths})"
        if _WILDCARD.search(v):
            parts.append(f"({near} AND len(list_filter({names}, lambda x: x LIKE ? ESCAPE '\\')) > 0)")
            params.append(_like_pattern(v))
        else:
            parts.append(f"({near} AND list_contains({names}, ?))")
            params.append(v)
    return "(" + " OR ".join(parts) + ")"


def _like_pattern(value: str) -> str:
    """A wildcard value (`*`, `?`) as a LIKE pattern, its own % _ and backslash escaped."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


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
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") if special else text
    params.extend(["%" + escaped + "%"] * 2)
    like = "ILIKE ? ESCAPE '\\'" if special else "ILIKE ?"
    return f"(raw {like} OR (NOT message_in_raw AND message {like}))"


def _sql_list(paths: Sequence[str]) -> str:
    """A SQL list literal of file paths (paths are ours, written by auditctl; quotes doubled)."""
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _first(cur: duckdb.DuckDBPyConnection) -> tuple | None:
    """The first row, reading the whole result (DuckDB wants results finished before the next statement)."""
    rows = cur.fetchall()
    return rows[0] if rows else None


_LOCK_RE = re.compile(r"PID (\d+)")


def _connect(path: Path, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    return retry_locked(path, wait, lambda: duckdb.connect(str(path), read_only=read_only))


def retry_locked(path: Path, wait: float, open_it: Callable[[], T]) -> T:
    """Open a DuckDB file, waiting up to `wait` seconds while another process holds its lock."""
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        try:
            return open_it()
        except duckdb.IOException as exc:
            message = str(exc)
            if "lock" not in message.lower():
                raise AuditctlError(f"{path}: cannot open database: {message.splitlines()[0]}") from None
            if time.monotonic() >= deadline:
                raise DatabaseBusy(_busy_message(path, message)) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        except duckdb.Error as exc:
            raise AuditctlError(f"{path}: cannot open database: {str(exc).splitlines()[0]}") from None


def _busy_message(path: Path, message: str) -> str:
    m = _LOCK_RE.search(message)
    if not m:
        return f"database {path} is in use by another auditctl process; try again when it finishes"
    pid = m.group(1)
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        cmd = "unknown command"
    return f"database {path} is in use by PID {pid} ({cmd}); try again when it finishes"
