"""One DuckDB connection: opening it against another process's lock, transactions, memory
settings, metadata, and running SQL that other packages compile.

DuckDB allows one writing process, so a second writer waits up to `lock_wait_seconds` and then
fails with the holder's PID and command line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

import duckdb
import pyarrow as pa

from auditctl.errors import AuditctlError, DatabaseBusy

T = TypeVar("T")


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


def connect(path: Path, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    # no progress bar: DuckDB draws one on a terminal for queries over 2 s, into output a pipe reads
    con = retry_locked(path, wait, lambda: duckdb.connect(str(path), read_only=read_only))
    con.execute("SET enable_progress_bar = false")
    return con


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


_LOCK_RE = re.compile(r"PID (\d+)")


def first_row(cur: duckdb.DuckDBPyConnection) -> tuple | None:
    """The first row, reading the whole result (DuckDB wants results finished before the next statement)."""
    rows = cur.fetchall()
    return rows[0] if rows else None


def sql_list(paths: Sequence[str]) -> str:
    """A SQL list literal of file paths (paths are ours, written by auditctl; quotes doubled)."""
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def sql_quote(text: str) -> str:
    return text.replace("'", "''")




ROW_GROUP_ROWS = 122_880  # DuckDB's row group size, used for the Parquet files too


class BatchSealer(Protocol):
    """What the store asks of the field sealer it is given (`auditctl.access.sealing.Sealer`):
    the store seals batches and pairs its transactions with the sealed store's, nothing more."""

    def seal(self, batch: pa.Table, con: duckdb.DuckDBPyConnection) -> pa.Table: ...
    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def forget(self, seqs: Sequence[int]) -> None: ...
    def drop_beyond(self, max_seq: int) -> None: ...
    def close(self) -> None: ...



class Connection:
    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only
        self.memory_limit: str | None = None  # DuckDB's cap for this store (config memory_limit)
        self.sealer: BatchSealer | None = None
        self.sealed_fields: tuple[str, ...] = ()  # set when the sealed store is attached
        self._single_threaded = False  # single_threaded_writes() is in force
        self.include_superseded = False  # show_superseded(): readers see superseded events too
        self.superseded_sql: str | None = None  # SQL true for a superseded seq; None: none are
        self.first_own_seq: int | None = None  # the first seq appended through this Store

    def close(self) -> None:
        if self.sealer is not None:
            self.sealer.close()
        self.con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    def meta(self, key: str) -> str | None:
        row = first_row(self.con.execute("SELECT value FROM meta WHERE key = ?", [key]))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    def _count(self, sql: str, params: Sequence[Any]) -> int:
        row = first_row(self.con.execute(sql, params))
        return int(row[0]) if row else 0

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
