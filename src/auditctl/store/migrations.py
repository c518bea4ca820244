"""The store's tables: the DDL and one migration per schema version.
"""

from __future__ import annotations

from datetime import UTC, datetime

from auditctl.errors import AuditctlError
from auditctl.schema import COLUMNS
from auditctl.store.connection import Connection, first_row

SCHEMA_VERSION = 10


# Long free text compresses better with zstd than with DuckDB's default FSST/dictionary
# (raw: 51.7 -> 34.6 MB and faster to write, per 600k auth.log lines). Only raw: forcing zstd
# on every column made the file bigger, and on `message`, which is NULL wherever it is cut
# from raw (schema 6), zstd still spends ~4 bytes a row: 4.2 MB per 1M NULLs, vs ~0.
ZSTD_COLUMNS = frozenset({"raw"})


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
    (
        # findings say which rule made them beyond its id: for a Sigma rule its id, level,
        # logsource, false positives and references (JSON; NULL for native rules)
        "ALTER TABLE findings ADD COLUMN IF NOT EXISTS detail JSON",
    ),
    (
        # syslog received by watch --listen: how each message arrived (sender, TLS client
        # certificate, host check), a tail column that is never sealed
        "ALTER TABLE events ADD COLUMN IF NOT EXISTS received JSON",
    ),
)



class Migrations(Connection):
    def schema_version(self) -> int:
        has_meta = first_row(self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"))
        if not has_meta or not has_meta[0]:
            return 0
        row = first_row(self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'"))
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
