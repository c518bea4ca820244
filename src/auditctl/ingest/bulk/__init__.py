"""Bulk paths: a high-volume format parsed in DuckDB SQL, proven identical to its plugin.

A bulk path reads a whole file (from offset 0, plain or compressed) and yields Arrow tables in
`batch.EVENT_SCHEMA`, in file order, holding exactly what `events_to_arrow` makes of the
plugin's events for the same lines. The SQL claims only lines it can prove it handles as the
plugin does; every other line goes to `BulkJob.fallback` (the plugin itself, through the
ingester's record retry) and its events are spliced in at their place. So the plugin stays the
reference implementation, and `ingest --engine python` (`Ingester(engine="python")`) skips
the bulk paths altogether.

The ingester uses a bulk path only where the plugin path would read the file from its start
in one pass: no resume offset, no follow mode, no stdin, no `keep` filter (the .evtx
continuation). Everything after the tables (TimeFiller, vocabulary checks, the forced-parser
check, seq, the registry entry) is the ingester's, as for the plugin's batches.

To add a bulk path: write a class with the `BulkPath` protocol (a `parser` name, `accepts`
and `tables`) and list it in `_PATHS`. `tests/test_bulk_identity.py` must then cover its
format: both engines over the same inputs, every column and the Merkle root compared.
"""

from __future__ import annotations

import duckdb

from auditctl.ingest.bulk.base import ENGINES, BulkJob, BulkPath, Fallback

__all__ = ["ENGINES", "BulkJob", "BulkPath", "Fallback", "bulk_connection", "bulk_path_for"]


def _paths() -> dict[str, BulkPath]:
    from auditctl.ingest.bulk.syslog import SyslogBulk

    return {p.parser: p for p in (SyslogBulk(),)}


_PATHS: dict[str, BulkPath] | None = None


def bulk_path_for(parser_name: str) -> BulkPath | None:
    """The bulk path standing in for the named plugin, or None."""
    global _PATHS
    if _PATHS is None:
        _PATHS = _paths()
    return _PATHS.get(parser_name)


def bulk_connection(threads: int) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for parsing only (the store's connection stays single-threaded for
    its writes; this one uses the cores for the SQL parse)."""
    con = duckdb.connect(":memory:", config={"threads": max(1, threads), "memory_limit": "512MB"})
    con.execute("SET TimeZone = 'UTC'")
    return con
