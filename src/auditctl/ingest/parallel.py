"""Parsing one large file in parallel processes, with results in file order.

Only for files a parser `splits` (every line an independent record: `splittable` parsers, and
CloudTrail's one-record-a-line shape), and only uncompressed: the file is cut at line
boundaries into chunks, each worker parses its byte range into an Arrow table, and the parent
receives the tables in chunk order, so the stored events, their order and their hashes are
the same as a serial parse.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc

from auditctl.ingest.batch import events_to_arrow, paused_gc
from auditctl.ingest.discovery import PluginRegistry, load_registry
from auditctl.ingest.parsing import RecordRetry
from auditctl.sources import READ_CHUNK, open_source
from auditctl.timeutil import get_tz

CHUNK_BYTES = 8 * 1024 * 1024
FIRST_CHUNK_BYTES = 1024 * 1024
PARALLEL_MIN_BYTES = 2 * CHUNK_BYTES


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int
    first_line: int


@dataclass(frozen=True)
class ChunkResult:
    """What a worker hands back: its events as an Arrow IPC file (read back memory-mapped,
    which costs less than pickling the table through a pipe) and where it stopped."""

    ipc_path: str
    unparsed: int
    end: int
    next_line: int

    def read_table(self) -> pa.Table:
        with pa.memory_map(self.ipc_path) as source:
            table = pa.ipc.open_file(source).read_all()
        os.unlink(self.ipc_path)
        return table


def worker_count(configured: int) -> int:
    return configured or (os.cpu_count() or 1)


def plan_chunks(path: Path, start: int, start_line: int, chunk_bytes: int = CHUNK_BYTES) -> list[Chunk]:
    """Cut [start, EOF) at line starts into pieces of about chunk_bytes, with their first line numbers.

    The first chunks are small (1, 2, 4 MiB ...) so the first results, and with them the
    parent's inserts, start early. A chunk never starts on a line that begins with white
    space: such lines continue the record before them (macOS syslog, folded messages).
    """
    size = path.stat().st_size
    chunks: list[Chunk] = []
    line = start_line
    pos = start
    with path.open("rb") as f:
        while pos < size:
            step = min(chunk_bytes, FIRST_CHUNK_BYTES << len(chunks))
            f.seek(min(pos + step, size))
            if f.tell() < size:
                f.readline()  # run on to the next line start
                while f.tell() < size and f.peek(1)[:1] in (b" ", b"\t"):
                    f.readline()
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


def _init_worker(user_dirs: Sequence[str], parent: int, spool: str) -> None:
    global _REGISTRY
    _exit_with_parent(parent, spool)
    _REGISTRY = load_registry(user_dirs)


_PR_SET_PDEATHSIG = 1


def _exit_with_parent(parent: int, spool: str) -> None:
    """A worker must not outlive its ingest: after `kill -9` of the parent nobody would ever
    send it work or stop it (each worker holds both ends of the pool's queues, so it never sees
    end-of-file), and the spool of Arrow files would stay in /dev/shm.

    On Linux the kernel signals the worker when the parent dies (prctl PR_SET_PDEATHSIG:
    strictly, when the parent *thread* that started it ends; ProcessPoolExecutor starts
    workers from the submitting thread, the ingest's main thread). Elsewhere a thread
    watches the parent pid. Once the workers are gone, the resource tracker they share
    sees its pipe close and exits too.
    """
    def leave(*_: object) -> None:
        if os.getppid() != parent:  # SIGTERM from a living parent (pool shutdown) just ends the worker
            shutil.rmtree(spool, ignore_errors=True)
        os._exit(1)

    if sys.platform.startswith("linux") and _set_parent_death_signal(signal.SIGTERM):
        signal.signal(signal.SIGTERM, leave)
        if os.getppid() != parent:  # it died before the kernel was told
            leave()
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        leave()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _set_parent_death_signal(sig: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _parse_chunk(path: str, parser_name: str, chunk: Chunk, tz: str, reference: datetime,
                 options: dict[str, Any], spool: str,
                 retry_options: dict[str, dict[str, Any]] | None = None) -> ChunkResult:
    assert _REGISTRY is not None
    parser = _REGISTRY.get(parser_name)
    source = open_source(Path(path), start_offset=chunk.start, start_line=chunk.first_line,
                         end_offset=chunk.end, tz=get_tz(tz), reference_time=reference, options=options)
    with paused_gc():
        try:
            parsed = parser.parse(source)
            if retry_options is not None:  # the same per-record retry as a serial parse
                parsed = RecordRetry(parser_name, _REGISTRY, retry_options).events(parsed, source)
            events = list(parsed)
        finally:
            source.stream.close()
        unparsed = sum(1 for e in events if e.action == "unparsed")
        table = events_to_arrow(events)
    ipc_path = os.path.join(spool, f"chunk-{chunk.start}.arrow")
    with pa.OSFile(ipc_path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return ChunkResult(ipc_path, unparsed, source.consumed, source.next_line)


def parse_parallel(path: Path, parser_name: str, chunks: Sequence[Chunk], *, workers: int,
                   user_dirs: Sequence[str], tz: str, reference: datetime,
                   options: dict[str, Any],
                   retry_options: dict[str, dict[str, Any]] | None = None) -> Iterator[ChunkResult]:
    """Results in chunk order; at most 2 x workers chunks are in flight (bounded memory)."""
    ctx = multiprocessing.get_context("spawn")  # the parent holds DuckDB threads: never fork
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    # the pid in the name tells whose spool a leftover is
    with tempfile.TemporaryDirectory(prefix=f"auditctl-{os.getpid()}-", dir=shm) as spool, \
            ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                initargs=(list(user_dirs), os.getpid(), spool)) as pool:
        pending: deque[Future[ChunkResult]] = deque()
        todo = iter(chunks)
        for chunk in todo:
            pending.append(pool.submit(_parse_chunk, str(path), parser_name, chunk, tz, reference, options, spool,
                                       retry_options))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(_parse_chunk, str(path), parser_name, nxt, tz, reference, options,
                                           spool, retry_options))
            yield result
