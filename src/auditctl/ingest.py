"""Ingest: find files, pick parsers, resume where the registry says, store events in batches.

Each file is stored in one transaction together with its registry entry: a file that fails
half-way (truncated gzip, a crashing plugin) leaves nothing behind and is reported by name,
and the remaining files are still ingested.

Idempotency: the registry recognizes a file by the SHA-256 of its first 4 KiB (decompressed),
checked against entries with the same path, the same device+inode, or the same head. A file
seen before resumes at the byte offset reached last time, so a grown file adds only its new
lines, and a rotated file (renamed, or compressed to .gz) adds only what was written after the
last ingest. A file shorter than the remembered offset was truncated and is read from the start.

A wrong --parser cannot be undone by deleting (every event is a signed leaf), so a forced parser
that cannot read most of a file's first records is refused before anything is kept, and
`reparse` reads a known file again from the start, appends the new events and records the
file's earlier events as superseded (they stay stored and signed, hidden from readers).
"""

from __future__ import annotations

import dataclasses
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

import pyarrow as pa
import pyarrow.compute as pc

from auditctl.batch import complete_batch, events_to_arrow, paused_gc
from auditctl.config import Config
from auditctl.parallel import PARALLEL_MIN_BYTES, parse_parallel, plan_chunks, worker_count
from auditctl.parsing import choose_parser
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


@dataclass
class IngestSummary:
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    checkpoint: Any = None  # the signed checkpoint written after the ingest (integrity.Checkpoint)
    checkpoint_seconds: float = 0.0

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
                 follow: bool = False, force: bool = False, reparse: bool = False) -> None:
        self.store = store
        self.registry = registry
        self.config = config
        self.forced = forced_parser
        self.progress = progress or (lambda n: None)
        self.tz = get_tz(config.timezone)
        self.follow = follow  # live files: only complete lines, no parallel chunks
        self.force = force  # keep what a forced parser could not read (no _ForcedCheck)
        self.reparse = reparse  # read known files again from the start, superseding their events
        self._check: _ForcedCheck | None = None
        self._hasher: ThreadPoolExecutor | None = None
        self._next_seq: int | None = None
        if forced_parser:
            registry.get(forced_parser)  # fail early on an unknown name
        store.single_threaded_writes()

    def ingest(self, paths: Iterable[str]) -> IngestSummary:
        started = time.perf_counter()
        summary = IngestSummary()
        # hashing a whole file releases the GIL: it runs beside parsing instead of after it
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
        own = {str(self.store.path.resolve()), str(self.store.path.resolve()) + ".wal"}
        for path in paths:
            if path != STDIN and str(Path(path).resolve()) in own:
                continue  # never ingest our own database
            summary.files.append(self._ingest_stdin() if path == STDIN else self._ingest_file(Path(path)))
        self._hasher.shutdown()
        self._hasher = None
        summary.seconds = time.perf_counter() - started
        return summary

    # -- one file ------------------------------------------------------------------------

    def _ingest_file(self, path: Path) -> FileResult:
        result = FileResult(path=str(path))
        self._next_seq = None  # a rolled-back file gives its seqs back
        self._check = _ForcedCheck(str(path)) if self.forced and not self.force else None
        try:
            ident = identify(path)
            known = self._match_registry(path, ident)
            if self.reparse:
                return self._reparse_file(path, ident, known, result)
            offset, line, note = self._resume_point(path, ident, known)
            if known and offset == known.offset and not ident.compressed and ident.size == offset:
                result.status, result.parser, result.note = "unchanged", known.parser, "nothing new"
                return result
            parser = self._parser_for(path, known)
            result.parser = parser.name
            result.note = note
            # A followed file keeps the hash of the prefix first seen: re-hashing a large live file
            # every cycle costs more than the new lines (verify --sources checks that prefix).
            keep_hash = self.follow and known is not None and known.sha256 is not None and offset > 0
            assert self._hasher is not None
            digest = None if keep_hash else self._hasher.submit(file_sha256, path)
            with self.store.transaction():
                consumed, next_line = self._store_file(path, ident, parser, offset, line, result)
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
        except SourceError as exc:
            result.status, result.events, result.unparsed = "failed", 0, 0
            result.note = f"{exc}; nothing from this file was stored"
        except OSError as exc:
            result.status, result.events, result.unparsed = "failed", 0, 0
            result.note = f"{path}: {exc.strerror or exc}; nothing from this file was stored"
        except Exception as exc:  # a plugin bug must not stop the other files
            result.status, result.events, result.unparsed = "failed", 0, 0
            result.note = (f"{path}: parser {result.parser} failed: {type(exc).__name__}: {exc}; "
                           "nothing from this file was stored")
        return result

    def _reparse_file(self, path: Path, ident: FileIdentity, known: FileRecord | None,
                      result: FileResult) -> FileResult:
        """Read the whole file again with the forced or detected parser, and record the events
        its registry entry produced so far as superseded by the new ones."""
        parser = self._parser_for(path, known)
        result.parser = parser.name
        old = self._live_runs(path, known) if known else []
        assert self._hasher is not None
        digest = self._hasher.submit(file_sha256, path)
        with self.store.transaction():
            consumed, next_line = self._store_file(path, ident, parser, 0, 1, result)
            rec = self._remember(path, ident, known, parser, consumed, next_line, (digest.result(), ident.size),
                                 result, fresh=True)
            new_run = (rec.first_seq, rec.last_seq) if rec.first_seq and rec.last_seq else None
            if known and old:
                self.store.supersede(old, new_run, rec.file_id, f"reparsed with {parser.name} (was {known.parser})",
                                     datetime.now(UTC))
        earlier = sum(b - a + 1 for a, b in old)
        result.note = (f"reparsed from the start with {parser.name}; {earlier:,} earlier event(s) of "
                       f"parser {known.parser} superseded" if known else "not ingested before: nothing superseded")
        return result

    def _live_runs(self, path: Path, known: FileRecord) -> list[tuple[int, int]]:
        """The seq runs of this file's current events. Runs written before file_runs existed
        (schema 8) are found by source within the entry's seq range, and must add up."""
        runs = self.store.live_file_runs(known.file_id)
        missing = known.events - sum(b - a + 1 for a, b in runs)
        if missing > 0 and known.first_seq is not None and known.last_seq is not None:
            legacy = self.store.event_runs(known.first_seq, known.last_seq, known.path, known.parser, runs)
            if sum(b - a + 1 for a, b in legacy) != missing:
                raise SourceError(f"{path}: cannot tell which stored events came from this file (it was ingested "
                                  "in several runs by an older auditctl); nothing was reparsed")
            runs = sorted(runs + legacy)
        return runs

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
        if known is not None and known.parser in self.registry.plugins and not self.reparse:
            return self.registry.get(known.parser)
        try:
            return choose_parser(read_head(path), self.registry).parser
        except SourceError as exc:  # name the whole path, not just the file name
            raise SourceError(f"{path}: {str(exc).split(': ', 1)[-1]}") from None

    def _store_file(self, path: Path, ident: FileIdentity, parser: Parser, offset: int, line: int,
                    result: FileResult) -> tuple[int, int]:
        label = str(path.resolve())
        options = self.config.options_for(parser.name)
        workers = worker_count(self.config.workers)
        if (not ident.compressed and workers > 1 and not self.follow
                and ident.size - offset >= PARALLEL_MIN_BYTES and parser.splits(read_head(path))):
            consumed, next_line = self._store_parallel(path, label, parser, offset, line, options, workers, result)
            if self._check:
                self._check.finish(parser.name)
            return consumed, next_line
        source = open_source(path, start_offset=offset, start_line=line, tz=self.tz, options=options,
                             complete_lines_only=self.follow and not ident.compressed)
        try:
            with paused_gc():
                self._store_events(source, parser, label, result)
        finally:
            source.stream.close()
        return source.consumed, source.next_line

    def _store_parallel(self, path: Path, label: str, parser: Parser, offset: int, line: int,
                        options: dict, workers: int, result: FileResult) -> tuple[int, int]:
        chunks = plan_chunks(path, offset, line)
        reference = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        consumed, next_line = offset, line
        for chunk in parse_parallel(path, parser.name, chunks, workers=workers,
                                    user_dirs=self.config.parsers_dirs, tz=self.config.timezone,
                                    reference=reference, options=options):
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
        for ev in parser.parse(source):
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
        if self._check:
            self._check.finish(parser.name)

    @staticmethod
    def _to_arrow(batch: list[Event], result: FileResult) -> pa.Table:
        result.unparsed += sum(1 for e in batch if e.action == "unparsed")
        return events_to_arrow(batch)

    def _append(self, part: pa.Table, label: str, parser: str, result: FileResult) -> None:
        if part.num_rows == 0:
            return
        if self._check:  # before the first rows are stored
            self._check.add(part.column("action"), parser)
        if self._next_seq is None:
            self._next_seq = self.store.next_seq()  # once per file: then counted here
        first = self._next_seq
        self.store.append_events(complete_batch(part, first_seq=first, ingested_at=datetime.now(UTC),
                                                source=label, parser=parser))
        self._next_seq = first + part.num_rows
        result.events += part.num_rows

    def _remember(self, path: Path, ident: FileIdentity, known: FileRecord | None, parser: Parser,
                  consumed: int, next_line: int, hashed: tuple[str | None, int], result: FileResult,
                  fresh: bool = False) -> FileRecord:
        """Save the registry entry and the seq run this transaction wrote. `fresh` (reparse):
        the entry keeps its id but counts only the events just written."""
        sha256, hashed_size = hashed
        last_seq = self.store.next_seq() - 1 if self._next_seq is None else self._next_seq - 1
        first_seq = last_seq - result.events + 1 if result.events else None
        if fresh:
            known = dataclasses.replace(known, offset=0, events=0, first_seq=None, last_seq=None) if known else None
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
        if first_seq is not None:
            self.store.add_file_run(rec.file_id, first_seq, last_seq)
        return rec

    # -- stdin ---------------------------------------------------------------------------

    def _ingest_stdin(self) -> FileResult:
        result = FileResult(path="stdin")
        self._next_seq = None
        self._check = _ForcedCheck("stdin") if self.forced and not self.force else None
        if self.reparse:
            result.status = "failed"
            result.note = "stdin: cannot reparse standard input (it cannot be read again); nothing was stored"
            return result
        try:
            source = stdin_source(tz=self.tz)
            data = source.stream.read()
            source.stream.seek(0)
            parser = (self.registry.get(self.forced) if self.forced
                      else choose_parser(head_from_bytes("stdin", data), self.registry).parser)
            result.parser = parser.name
            source.options = self.config.options_for(parser.name)
            with self.store.transaction():
                self._store_events(source, parser, "stdin", result)
        except SourceError as exc:
            result.status, result.events, result.unparsed = "failed", 0, 0
            result.note = f"{exc}; nothing from stdin was stored"
        return result


FORCED_SAMPLE = 100  # the first records a forced parser is judged on


class ParserMismatch(SourceError):
    """A parser forced with --parser could not read most of a file's first records."""


class _ForcedCheck:
    """Refuse a file when the forced parser reads most of its first records as unparsed: once
    stored they could never be removed (every event is a signed leaf). Judged on the first
    FORCED_SAMPLE records: more than half unparsed, or all of them when there are fewer than 10."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.seen = 0
        self.unparsed = 0
        self.done = False

    def add(self, actions: pa.ChunkedArray, parser: str) -> None:
        if self.done:
            return
        sample = actions.slice(0, FORCED_SAMPLE - self.seen)
        self.seen += len(sample)
        self.unparsed += int(pc.sum(pc.equal(sample, "unparsed")).as_py() or 0)
        if self.seen >= FORCED_SAMPLE:
            self.finish(parser)

    def finish(self, parser: str) -> None:
        if self.done:
            return
        self.done = True
        n, bad = self.seen, self.unparsed
        if n and (bad == n or (n >= 10 and 2 * bad > n)):
            raise ParserMismatch(
                f"{self.label}: parser {parser} (forced with --parser) read {bad} of the first {n} records as unparsed "
                f"({bad / n:.0%}); drop --parser to let auto-detection choose, or add --force to store them anyway")


class _Unchanged(Exception):
    """Raised inside the file transaction to roll back when a resumed read found nothing."""
