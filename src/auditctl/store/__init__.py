"""The DuckDB store: one file holding the events, the file registry, integrity data, findings
and archive records. Commands open it, work and close.

`Store` is composed of one part per concern, each owning its SQL (feature packages may build SQL
text, e.g. detect.rulesql and report.sql, that `Store.run_query` runs):

- connection: opening and locking, transactions, memory, metadata, running compiled SQL
- migrations: the tables and one migration per schema version
- events: appending batches and the log views every reader uses
- registry: what ingest remembers about each file, and superseded runs
- tree: the Merkle leaf SQL, tree levels, digests and checkpoints
- findings: findings, check runs and saved report state
- archive: archived segments, deletion receipts and tombstones
- query: EventFilter compiled to SQL (filters), search, COPY and stats
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from auditctl.errors import AuditctlError
from auditctl.store.archive import Archive
from auditctl.store.connection import connect
from auditctl.store.findings import Findings
from auditctl.store.migrations import Migrations
from auditctl.store.query import Query
from auditctl.store.registry import Registry
from auditctl.store.tree import Tree


class Store(Registry, Query, Tree, Findings, Archive, Migrations):
    """The store, as every command opens it: `Store.open(path)`."""

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
        con = connect(path, read_only, wait)
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
