"""The bulk path contract (re-exported by `auditctl.ingest.bulk`, which documents it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from auditctl.schema import Event

# ingest --engine. auto: the parallel plugin path where a file splits across workers, else the
# bulk path where one applies (measured: bulk SQL costs ~20% less CPU than the plugins, but one
# process reading the lines is slower on the wall clock than two plugin workers); bulk: the bulk
# path wherever it applies; python: the plugins only (the reference).
ENGINES = ("auto", "bulk", "python")

# The plugin's events for consecutive raw lines (bytes with their line endings, exactly as the
# file holds them: a `\r` before the end is the record's own byte) that start at the given
# 1-based line number.
Fallback = Callable[[int, list[bytes]], list[Event]]


@dataclass
class BulkJob:
    """One file for a bulk path: what the plugin would be given, and where the path reports
    how far it read (`consumed`: decompressed bytes; `next_line`), as `Source` does."""

    path: Path
    tz: tzinfo
    reference_time: datetime  # what year-less stamps are dated against (yearless.choose_year)
    options: dict[str, Any]
    fallback: Fallback
    progress: Callable[[int], None] = field(default=lambda n: None)  # bytes read since the last call
    consumed: int = 0
    next_line: int = 1


class BulkPath(Protocol):
    parser: str  # the plugin it stands in for

    def accepts(self, options: dict[str, Any]) -> bool:
        """Whether the path reproduces the plugin under these parser options."""
        ...

    def tables(self, con: duckdb.DuckDBPyConnection, job: BulkJob) -> Iterator[pa.Table]:
        """EVENT_SCHEMA tables (optionally with a `parser` column, as `events_to_arrow` adds
        for records another parser read) in file order; sets job.consumed/next_line."""
        ...
