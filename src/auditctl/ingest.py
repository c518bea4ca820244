"""Ingest: find files, pick parsers, resume where the registry says, store events in batches.

Each file is stored in one transaction together with its registry entry: a file that fails
half-way (truncated gzip, a crashing plugin, an event outside the schema) leaves nothing behind
and is reported by name, and the remaining files are still ingested. A failed write to the
store itself (disk full, I/O error) is the store's fault, not the file's: it stops the ingest,
and the files not read yet are named.

Idempotency: the registry recognizes a file by the SHA-256 of its first 4 KiB (decompressed),
checked against entries with the same path, the same device+inode, or the same head. A file
seen before resumes at the byte offset reached last time, so a grown file adds only its new
lines, and a rotated file (renamed, or compressed to .gz) adds only what was written after the
last ingest. A file shorter than the remembered offset was truncated and is read from the start.
"""

from __future__ import annotations

import glob
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from auditctl.batch import complete_batch, events_to_arrow, paused_gc
from auditctl.config import Config
from auditctl.eventtime import TimeFiller
from auditctl.parallel import PARALLEL_MIN_BYTES, parse_parallel, plan_chunks, worker_count
from auditctl.parsing import FALLBACK, RecordRetry, choose_parser
from auditctl.plugins import Parser, PluginRegistry
from auditctl.schema import Event
from auditctl.sources import (
    FileIdentity,
    Source,
    SourceError,
    file_sha256,
    head_from_bytes,
    head_hash_of,
    identify,
    open_source,
    read_head,
    stdin_source,
)
from auditctl.store import FileRecord, Store
from auditctl.timeutil import get_tz
from auditctl.validate import InvalidEvent, check_vocabulary
from auditctl.yearless import choose_year

STDIN = "-"
ProgressFn = Callable[[int], None]  # bytes consumed since the last call


@dataclass
class FileResult:
    path: str
    parser: str | None = None
    events: int = 0
    unparsed: int = 0
    status: str = "ingested"  # ingested | unchanged | failed
    note: str = ""
    store_error: bool = False  # failed because the store could not be written


@dataclass
class IngestSummary:
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    checkpoint: Any = None  # the signed checkpoint written after the ingest (integrity.Checkpoint)
    checkpoint_seconds: float = 0.0
    not_read: list[str] = field(default_factory=list)  # left when a store error stopped the ingest
    checkpoint_error: str = ""

    @property
    def events(self) -> int:
        return sum(f.events for f in self.files)

    @property
    def unparsed(self) -> int:
        return sum(f.unparsed for f in self.files)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def per_parser(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for f in self.files:
            if f.parser and f.events:
                counts[f.parser] += f.events
        return dict(counts.most_common())

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


_ROTATION = re.compile(r"^(?P<base>.+?)(?:[.-](?P<n>\d+))?(?P<gz>\.gz)?$")


def rotation_order(path: Path) -> tuple[str, str, int, str]:
    """Sort key putting rotated siblings oldest first: auth.log.2.gz, auth.log.1, auth.log."""
    m = _ROTATION.match(path.name)
    base, n = (m.group("base"), int(m.group("n"))) if m and m.group("n") else (path.name, 0)
    return (str(path.parent), base, -n, path.name)


def expand_paths(args: Iterable[str]) -> tuple[list[str], list[str]]:
    """Files to ingest (in order) and the arguments that matched nothing."""
    found: list[str] = []
    missing: list[str] = []
    for arg in args:
        if arg == STDIN:
            found.append(STDIN)
            continue
        p = Path(arg).expanduser()
        if p.is_dir():
            files = [f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")]
            found.extend(str(f) for f in sorted(files, key=rotation_order))
        elif p.exists():
            found.append(str(p))
        else:
            matches = [Path(m) for m in glob.glob(arg, recursive=True) if Path(m).is_file()]
            if matches:
                found.extend(str(m) for m in sorted(matches, key=rotation_order))
            else:
                missing.append(arg)
    unique = list(dict.fromkeys(found))  # first occurrence wins, order kept
    return unique, missing


ARROW_BATCH_BYTES = 16 << 20  # raw bytes of parsed Events turned into Arrow at a time


class Ingester:
    def __init__(self, store: Store, registry: PluginRegistry, config: Config, *,
                 forced_parser: str | None = None, progress: ProgressFn | None = None,
                 follow: bool = False, year: int | None = None) -> None:
        self.store = store
        self.registry = registry
        self.config = config
        self.forced = forced_parser
        self.progress = progress or (lambda n: None)
        self.tz = get_tz(config.timezone)
        self.follow = follow  # live files: only complete lines, no parallel chunks
        self.year = year  # --year: the year of the last year-less stamp of every file
        self._hasher: ThreadPoolExecutor | None = None
        self._next_seq: int | None = None
        self._times: TimeFiller | None = None  # the current source's time filler
        if forced_parser:
            registry.get(forced_parser)  # fail early on an unknown name
        store.single_threaded_writes()

    def ingest(self, paths: Iterable[str]) -> IngestSummary:
        started = time.perf_counter()
        summary = IngestSummary()
        # hashing a whole file releases the GIL: it runs beside parsing instead of after it
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
        own = {str(self.store.path.resolve()), str(self.store.path.resolve()) + ".wal"}
        todo = [p for p in paths if p == STDIN or str(Path(p).resolve()) not in own]  # never our own database
        for i, path in enumerate(todo):
            result = self._ingest_stdin() if path == STDIN else self._ingest_file(Path(path))
            summary.files.append(result)
            if result.store_error:
                summary.not_read = todo[i + 1:]
                break
        self._hasher.shutdown()
        self._hasher = None
        summary.seconds = time.perf_counter() - started
        return summary

    # -- one file ------------------------------------------------------------------------

    def _ingest_file(self, path: Path) -> FileResult:
        result = FileResult(path=str(path))
        self._next_seq = None  # a rolled-back file gives its seqs back
        self._times = None
        try:
            self._times = TimeFiller(datetime.fromtimestamp(path.stat().st_mtime, UTC), "file")
            ident = identify(path)
            known = self._match_registry(path, ident)
            offset, line, note = self._resume_point(path, ident, known)
            if known and offset == known.offset and not ident.compressed and ident.size == offset:
                result.status, result.parser, result.note = "unchanged", known.parser, "nothing new"
                return result
            parser = self._parser_for(path, known)
            result.parser = parser.name
            reference = self._reference_time(path, ident, parser, result)
            result.note = "; ".join(n for n in (note, result.note) if n)
            # A followed file keeps the hash of the prefix first seen: re-hashing a large live file
            # every cycle costs more than the new lines (verify --sources checks that prefix).
            keep_hash = self.follow and known is not None and known.sha256 is not None and offset > 0
            assert self._hasher is not None
            digest = None if keep_hash else self._hasher.submit(file_sha256, path)
            with self.store.transaction():
                consumed, next_line = self._store_file(path, ident, parser, offset, line, result, reference)
                if known and consumed == offset:
                    raise _Unchanged
                if digest is not None:
                    hashed: tuple[str | None, int] = (digest.result(), ident.size)
                else:
                    assert known is not None
                    hashed = (known.sha256, known.size)
                self._remember(path, ident, known, parser, consumed, next_line, hashed, result)
        except _Unchanged:
            result.status, result.note = "unchanged", "nothing new"
        except Exception as exc:  # a plugin bug must not stop the other files
            self._failed(result, str(path), exc)
        return result

    def _failed(self, result: FileResult, name: str, exc: Exception) -> None:
        """One line naming the input and the real cause (the transaction was rolled back)."""
        result.status, result.events, result.unparsed = "failed", 0, 0
        result.store_error = isinstance(exc, duckdb.Error)
        what = "stdin" if name == "stdin" else "this file"
        result.note = f"{failure_cause(exc, name, result.parser, self.store.path)}; nothing from {what} was stored"

    def _match_registry(self, path: Path, ident: FileIdentity) -> FileRecord | None:
        for rec in self.store.file_candidates(str(path.resolve()), ident.device, ident.inode, ident.head_hash):
            if rec.head_len == ident.head_len and rec.head_hash == ident.head_hash:
                return rec
            if rec.head_len < ident.head_len and head_hash_of(path, rec.head_len) == rec.head_hash:
                return rec
        return None

    def _resume_point(self, path: Path, ident: FileIdentity, known: FileRecord | None) -> tuple[int, int, str]:
        if known is None:
            seen_here = self.store.file_candidates(str(path.resolve()), ident.device, ident.inode, "")
            if seen_here:
                return 0, 1, "content differs from what was ingested at this path (rotated or truncated): read from the start"
            return 0, 1, ""
        if not ident.compressed and ident.size < known.offset:
            return 0, 1, "file is shorter than before (truncated): read from the start"
        moved = "" if known.path == str(path.resolve()) else f" (seen before as {known.path})"
        return known.offset, known.next_line, f"resumed at byte {known.offset}{moved}" if known.offset else ""

    def _parser_for(self, path: Path, known: FileRecord | None) -> Parser:
        if self.forced:
            return self.registry.get(self.forced)
        if known is not None and known.parser in self.registry.plugins:
            return self.registry.get(known.parser)
        try:
            return choose_parser(read_head(path), self.registry).parser
        except SourceError as exc:  # name the whole path, not just the file name
            raise SourceError(f"{path}: {str(exc).split(': ', 1)[-1]}") from None

    def _reference_time(self, path: Path, ident: FileIdentity, parser: Parser,
                        result: FileResult) -> datetime:
        """What year-less stamps are dated against: the file's mtime unless --year, the file
        name or its content says the year (auditctl.yearless); the note says which."""
        mtime = datetime.fromtimestamp(ident.mtime, UTC)
        if not parser.yearless:
            return mtime
        choice = choose_year(path, self.tz, mtime, self.year)
        if choice is None:
            return mtime
        result.note = choice.note()
        return choice.reference

    def _store_file(self, path: Path, ident: FileIdentity, parser: Parser, offset: int, line: int,
                    result: FileResult, reference: datetime) -> tuple[int, int]:
        label = str(path.resolve())
        options = self.config.options_for(parser.name)
        workers = worker_count(self.config.workers)
        if (not ident.compressed and workers > 1 and not self.follow
                and ident.size - offset >= PARALLEL_MIN_BYTES and parser.splits(read_head(path))):
            return self._store_parallel(path, label, parser, offset, line, options, workers, result,
                                        reference)
        source = open_source(path, start_offset=offset, start_line=line, tz=self.tz, options=options,
                             reference_time=reference,
                             complete_lines_only=self.follow and not ident.compressed)
        try:
            with paused_gc():
                self._store_events(source, parser, label, result)
        finally:
            source.stream.close()
        return source.consumed, source.next_line

    def _store_parallel(self, path: Path, label: str, parser: Parser, offset: int, line: int,
                        options: dict, workers: int, result: FileResult,
                        reference: datetime) -> tuple[int, int]:
        chunks = plan_chunks(path, offset, line)
        consumed, next_line = offset, line
        for chunk in parse_parallel(path, parser.name, chunks, workers=workers,
                                    user_dirs=self.config.parsers_dirs, tz=self.config.timezone,
                                    reference=reference, options=options,
                                    retry_options=self._retry_options(parser)):
            self._append(chunk.read_table(), label, parser.name, result)
            result.unparsed += chunk.unparsed
            self.progress(chunk.end - consumed)
            consumed, next_line = chunk.end, chunk.next_line
        return consumed, next_line

    def _store_events(self, source: Source, parser: Parser, label: str, result: FileResult) -> None:
        """Parse serially, inserting a batch of Arrow at a time: at most `batch_size` events
        and ARROW_BATCH_BYTES of raw (122,880 CloudTrail records held 1 GB as Events)."""
        batch: list[Event] = []
        raw_bytes = 0
        last = source.consumed
        size = self.config.batch_size
        events = parser.parse(source)
        retry_options = self._retry_options(parser)
        if retry_options is not None:
            events = RecordRetry(parser.name, self.registry, retry_options).events(events, source)
        for ev in events:
            batch.append(ev)
            raw_bytes += len(ev.raw)
            if len(batch) >= size or raw_bytes >= ARROW_BATCH_BYTES:
                self._append(self._to_arrow(batch, result), label, parser.name, result)
                self.progress(source.consumed - last)
                last = source.consumed
                batch, raw_bytes = [], 0
        if batch:
            self._append(self._to_arrow(batch, result), label, parser.name, result)
        self.progress(source.consumed - last)

    def _retry_options(self, parser: Parser) -> dict[str, dict[str, Any]] | None:
        """Parser options for re-reading unparsed records with other parsers (mixed-format
        files); None when the parser was forced or is the fallback: then nothing is retried."""
        if self.forced or parser is FALLBACK:
            return None
        return self.config.parser_options

    @staticmethod
    def _to_arrow(batch: list[Event], result: FileResult) -> pa.Table:
        result.unparsed += sum(1 for e in batch if e.action == "unparsed")
        return events_to_arrow(batch)

    def _append(self, part: pa.Table, label: str, parser: str, result: FileResult) -> None:
        if part.num_rows == 0:
            return
        check_vocabulary(part)
        if self._next_seq is None:
            self._next_seq = self.store.next_seq()  # once per file: then counted here
        first = self._next_seq
        if self._times is not None:
            part = self._times.fill(part)
        self.store.append_events(complete_batch(part, first_seq=first, ingested_at=datetime.now(UTC),
                                                source=label, parser=parser))
        self._next_seq = first + part.num_rows
        result.events += part.num_rows

    def _remember(self, path: Path, ident: FileIdentity, known: FileRecord | None, parser: Parser,
                  consumed: int, next_line: int, hashed: tuple[str | None, int], result: FileResult) -> None:
        sha256, hashed_size = hashed
        last_seq = self.store.next_seq() - 1 if self._next_seq is None else self._next_seq - 1
        first_seq = last_seq - result.events + 1 if result.events else None
        rec = FileRecord(
            file_id=known.file_id if known and consumed >= known.offset else self.store.new_file_id(),
            path=str(path.resolve()), device=ident.device, inode=ident.inode,
            head_hash=ident.head_hash, head_len=ident.head_len, compressed=ident.compressed,
            offset=consumed, next_line=next_line, size=hashed_size, mtime=ident.mtime,
            sha256=sha256, parser=parser.name,
            events=(known.events if known and consumed >= known.offset else 0) + result.events,
            first_seq=(known.first_seq if known and known.first_seq else first_seq),
            last_seq=last_seq if result.events else (known.last_seq if known else None),
        )
        self.store.save_file(rec, datetime.now(UTC))

    # -- stdin ---------------------------------------------------------------------------

    def _ingest_stdin(self) -> FileResult:
        result = FileResult(path="stdin")
        self._next_seq = None
        self._times = TimeFiller(datetime.now(UTC), "ingest")
        try:
            source = stdin_source(tz=self.tz)
            if self.year is not None:  # no file to look at: every year-less stamp in that year
                source.reference_time = datetime(self.year, 12, 31, 23, 59, 59, tzinfo=self.tz)
            data = source.stream.read()
            source.stream.seek(0)
            parser = (self.registry.get(self.forced) if self.forced
                      else choose_parser(head_from_bytes("stdin", data), self.registry).parser)
            result.parser = parser.name
            source.options = self.config.options_for(parser.name)
            with self.store.transaction():
                self._store_events(source, parser, "stdin", result)
        except Exception as exc:  # as for a file: one line, the store error apart
            self._failed(result, "stdin", exc)
        return result


def failure_cause(exc: Exception, name: str, parser: str | None, db: Path) -> str:
    """Why `name` failed: the store, the input, or the parser, each said as such."""
    if isinstance(exc, duckdb.Error):
        return f"{name}: could not write to the store {db}: {str(exc).splitlines()[0]}"
    if isinstance(exc, SourceError):
        return str(exc)  # names the input already
    if isinstance(exc, InvalidEvent):
        return f"{name}: parser {parser} emitted an invalid event{exc.where}: {exc.problem}"
    if isinstance(exc, OSError):
        return f"{name}: {exc.strerror or exc}"
    by = f"parser {parser} failed" if parser else "failed"
    return f"{name}: {by}: {type(exc).__name__}: {exc}"


class _Unchanged(Exception):
    """Raised inside the file transaction to roll back when a resumed read found nothing."""
