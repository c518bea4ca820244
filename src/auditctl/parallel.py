"""Parsing one large file in parallel processes, with results in file order.

Only for parsers that declare `splittable` (every line an independent record) and for
uncompressed files: the file is cut at line boundaries into chunks, each worker parses its
byte range into an Arrow table, and the parent receives the tables in chunk order, so the
stored events, their order and their hashes are the same as a serial parse.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from auditctl.batch import events_to_arrow, paused_gc
from auditctl.plugins import PluginRegistry, load_registry
from auditctl.sources import READ_CHUNK, open_source
from auditctl.timeutil import get_tz

CHUNK_BYTES = 8 * 1024 * 1024
PARALLEL_MIN_BYTES = 2 * CHUNK_BYTES


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int
    first_line: int


@dataclass(frozen=True)
class ChunkResult:
    table: pa.Table
    unparsed: int
    end: int
    next_line: int


def worker_count(configured: int) -> int:
    return configured or (os.cpu_count() or 1)


def plan_chunks(path: Path, start: int, start_line: int, chunk_bytes: int = CHUNK_BYTES) -> list[Chunk]:
    """Cut [start, EOF) at line starts into pieces of about chunk_bytes, with their first line numbers."""
    size = path.stat().st_size
    chunks: list[Chunk] = []
    line = start_line
    pos = start
    with path.open("rb") as f:
        while pos < size:
            f.seek(min(pos + chunk_bytes, size))
            if f.tell() < size:
                f.readline()  # run on to the next line start
            end = min(f.tell(), size)
            chunks.append(Chunk(pos, end, line))
            line += _count_newlines(f, pos, end)
            pos = end
    return chunks


def _count_newlines(f: Any, start: int, end: int) -> int:
    f.seek(start)
    count = 0
    remaining = end - start
    while remaining > 0:
        data = f.read(min(remaining, READ_CHUNK * 4))
        if not data:
            break
        count += data.count(b"\n")
        remaining -= len(data)
    f.seek(end)
    return count


_REGISTRY: PluginRegistry | None = None


def _init_worker(user_dirs: Sequence[str]) -> None:
    global _REGISTRY
    _REGISTRY = load_registry(user_dirs)


def _parse_chunk(path: str, parser_name: str, chunk: Chunk, tz: str, reference: datetime,
                 options: dict[str, Any]) -> ChunkResult:
    assert _REGISTRY is not None
    parser = _REGISTRY.get(parser_name)
    source = open_source(Path(path), start_offset=chunk.start, start_line=chunk.first_line,
                         end_offset=chunk.end, tz=get_tz(tz), reference_time=reference, options=options)
    with paused_gc():
        try:
            events = list(parser.parse(source))
        finally:
            source.stream.close()
        unparsed = sum(1 for e in events if e.action == "unparsed")
        return ChunkResult(events_to_arrow(events), unparsed, source.consumed, source.next_line)


def parse_parallel(path: Path, parser_name: str, chunks: Sequence[Chunk], *, workers: int,
                   user_dirs: Sequence[str], tz: str, reference: datetime,
                   options: dict[str, Any]) -> Iterator[ChunkResult]:
    """Results in chunk order; at most 2 x workers chunks are in flight (bounded memory)."""
    ctx = multiprocessing.get_context("spawn")  # the parent holds DuckDB threads: never fork
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(list(user_dirs),)) as pool:
        pending: deque[Future[ChunkResult]] = deque()
        todo = iter(chunks)
        for chunk in todo:
            pending.append(pool.submit(_parse_chunk, str(path), parser_name, chunk, tz, reference, options))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(_parse_chunk, str(path), parser_name, nxt, tz, reference, options))
            yield result
