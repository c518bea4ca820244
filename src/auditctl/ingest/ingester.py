"""Ingest: find files, pick parsers, resume where the registry says, store events in batches.

Each file is stored in one transaction together with its registry entry: a file that fails
half-way (truncated gzip, a crashing plugin, an event outside the schema) leaves nothing behind
and is reported by name, and the remaining files are still ingested. A failed write to the
store itself (disk full, I/O error) is the store's fault, not the file's: it stops the ingest,
and the files not read yet are named.

Idempotency: the registry remembers, per file, the byte offset reached (in decompressed bytes)
and the SHA-256 of the bytes [0, offset) (`prefix_sha256`). A file on disk continues an entry
only when that is proven against its bytes: entries with the same path, the same device+inode
or the same 4 KiB head are candidates, and one matches only if the file's own first `offset`
decompressed bytes hash to its prefix_sha256 (identity.py; the head is only a cheap filter, as
every .evtx header is 4 KiB). The proven entry with the largest offset wins: nothing more in the
file is "unchanged" (and says what was proven), more is read from that offset, so a grown file
adds only its new lines and a rotated file (renamed, or compressed to .gz) adds only what was
written after the last ingest. No proven entry: the file is read from the start, and the note
says why when an entry at its path or inode was disproven (shorter: truncated; other head: a new
file; same head but other bytes before the offset: edited in place, the earlier events kept). An
empty file is "empty", is not remembered, and is read from the start once it has content.
Entries from before schema 8 have no prefix hash: they are proven by the whole-file SHA-256 they
hold when it covers the offset, else the file is read from the start and the note says events
may be stored twice. An .evtx log that grew (a new file header) continues the entry at its path by EventRecordID
(`_evtx_continuation`), and a journal file (rewritten in place, renamed by rotation) continues it by
cursor: journalctl starts at the last stored entry, which must come first (`_journal_continuation`). In follow mode (`watch`) a live file is proven cheaply from the hash state
kept by the watching process (identity.LiveProofs: same inode, head and last 4 KiB).

A file read whole from its start by a parser with a bulk path (`ingest.bulk`, e.g. auth.log
for syslog) is parsed in DuckDB SQL, the lines SQL cannot prove it reads as the plugin does
going to the plugin; everything after the parse (times, checks, seq, registry) is as for the
plugin's batches, and `engine="python"` turns bulk paths off.

A wrong --parser cannot be undone by deleting (every event is a signed leaf), so a forced parser
that cannot read most of a file's first records is refused before anything is kept, and
`reparse` reads a known file again from the start, appends the new events and records the
file's earlier events as superseded (they stay stored and signed, hidden from readers).
"""

from __future__ import annotations

import base64
import dataclasses
import glob
import io
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from auditctl.config import Config
from auditctl.ingest.batch import complete_batch, events_to_arrow, paused_gc
from auditctl.ingest.bulk import ENGINES, BulkJob, BulkPath, bulk_connection, bulk_path_for
from auditctl.ingest.bulk.lines import concat as concat_tables
from auditctl.ingest.discovery import PluginRegistry
from auditctl.ingest.eventtime import TimeFiller
from auditctl.ingest.identity import TAIL_BYTES, ContentHasher, LiveProofs
from auditctl.ingest.journal import CURSOR_ORIGIN, JOURNAL_MAGIC, cursor_of
from auditctl.ingest.parallel import PARALLEL_MIN_BYTES, parse_parallel, plan_chunks, worker_count
from auditctl.ingest.parsing import FALLBACK, RecordRetry, choose_parser
from auditctl.ingest.rawbytes import decode_record
from auditctl.ingest.validate import InvalidEvent, check_vocabulary
from auditctl.ingest.yearless import choose_year
from auditctl.plugins import Parser
from auditctl.schema import Event
from auditctl.sources import (
    FileIdentity,
    Source,
    SourceError,
    file_sha256,
    head_from_bytes,
    head_hash_of,
    identify,
    open_binary,
    open_source,
    read_head,
    stdin_source,
)
from auditctl.store import Store
from auditctl.store.registry import FileRecord
from auditctl.timeutil import get_tz

STDIN = "-"
ProgressFn = Callable[[int], None]  # bytes consumed since the last call


@dataclass
class FileResult:
    path: str
    parser: str | None = None
    events: int = 0
    unparsed: int = 0
    status: str = "ingested"  # ingested | unchanged | empty | skipped (a known format, not a log) | failed
    note: str = ""
    store_error: bool = False  # failed because the store could not be written
    offset: int | None = None  # bytes of the file stored so far (committed); None when unknown (failed)
    # events stored per parser: a mixed-format file's records are stored by several
    parsers: Counter[str] = field(default_factory=Counter)
    reader: str | None = None  # how it was read: bulk (SQL), parallel (plugin workers) or serial (plugin)


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
            counts.update(f.parsers)
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
                 follow: bool = False, year: int | None = None, live: LiveProofs | None = None,
                 force: bool = False, reparse: bool = False, engine: str = "auto") -> None:
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
        self.store = store
        self.registry = registry
        self.config = config
        self.forced = forced_parser
        self.progress = progress or (lambda n: None)
        self.tz = get_tz(config.timezone)
        self.follow = follow  # live files: only complete lines, no parallel chunks
        self.year = year  # --year: the year of the last year-less stamp of every file
        # follow mode: hash states kept across cycles by the caller (watch), so a live file is
        # not re-hashed in full every cycle
        self.live = (live or LiveProofs()) if follow else None
        self.force = force  # keep what a forced parser could not read (no _ForcedCheck)
        self.reparse = reparse  # read known files again from the start, superseding their events
        self.engine = engine  # see ingest.bulk.ENGINES
        self._check: _ForcedCheck | None = None
        self._hasher: ThreadPoolExecutor | None = None
        self._next_seq: int | None = None
        self._times: TimeFiller | None = None  # the current source's time filler
        self._reader_notes: list[str] = []  # what the current file's reader said (journalctl's stderr)
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
        self._reader_notes = []
        self._times = None
        known: FileRecord | None = None
        hasher: ContentHasher | None = None
        pending: list[Future] = []
        self._check = _ForcedCheck(str(path)) if self.forced and not self.force else None
        try:
            self._times = TimeFiller(datetime.fromtimestamp(path.stat().st_mtime, UTC), "file")
            ident = identify(path)
            known, proof, hasher, previous = self._match_registry(path, ident)
            if self.reparse:
                return self._reparse_file(path, ident, known or previous, result)
            offset, line = (known.offset, known.next_line) if known else (0, 1)
            result.offset = offset
            if not hasher.has_more(offset):
                result.parser = known.parser if known else None
                if known:
                    result.status, result.note = "unchanged", f"nothing new: {proof}"
                else:
                    result.status, result.note = "empty", "empty file: nothing to read yet"
                return result
            parser = self._parser_for(path, known)
            result.parser = parser.name
            if parser.not_a_log:
                result.status, result.note = "skipped", f"skipped: not a log ({parser.not_a_log})"
                return result
            reference = self._reference_time(path, ident, parser, result)
            proof_note = f"resumed at byte {offset:,}: {proof}" if known else proof
            result.note = "; ".join(n for n in (proof_note, result.note) if n)
            assert self._hasher is not None
            # the rest of the file is hashed beside parsing (hashing releases the GIL)
            if parser.changes_in_place:  # hashed before the parser reads: see _continuation
                whole: Future = Future()
                whole.set_result(hasher.finish())
            else:
                whole = self._hasher.submit(hasher.finish)
            on_disk = self._hasher.submit(file_sha256, path) if ident.compressed else None
            pending = [f for f in (whole, on_disk) if f is not None]
            after = self._continuation(path, parser, known, previous)
            try:
                file_id, consumed = self._read_and_remember(path, ident, known, parser, (offset, line, reference),
                                                            hasher, (whole, on_disk), result, after)
                if after is not None:
                    result.note = after.note()
                    if after.proven and result.events == 0 and result.unparsed == 0:
                        result.status = "unchanged"  # the entry is saved: next time proven by its bytes
            except _NotContinued:
                result.events = result.unparsed = 0
                result.parsers.clear()
                result.note = after.note() if after is not None else result.note
                file_id, consumed = self._read_and_remember(path, ident, known, parser, (offset, line, reference),
                                                            hasher, (whole, on_disk), result, None)
            result.offset = consumed
            result.note = "; ".join(n for n in (result.note, *self._reader_notes) if n)
            if self.live is not None:
                self.live.remember(file_id, consumed, hasher.state_at(consumed), ident, path)
        except _Unchanged as unread:
            result.status = "unchanged" if known else "ingested"
            result.note = "nothing new" if known else "no complete record yet"
            if unread.args[0] and not self.follow:
                result.note += f": {result.parser} read nothing from the {unread.args[0]:,} bytes past byte {offset:,}"
        except Exception as exc:  # a plugin bug must not stop the other files
            self._failed(result, str(path), exc)
        finally:
            wait(pending)  # the hashing thread reads through `hasher`: let it finish first
            if hasher is not None:
                hasher.close()
        return result

    def _failed(self, result: FileResult, name: str, exc: Exception) -> None:
        """One line naming the input and the real cause (the transaction was rolled back)."""
        result.status, result.events, result.unparsed, result.offset = "failed", 0, 0, None
        result.parsers.clear()
        result.store_error = isinstance(exc, duckdb.Error)
        what = "stdin" if name == "stdin" else "this file"
        result.note = f"{failure_cause(exc, name, result.parser, self.store.path)}; nothing from {what} was stored"

    def _reparse_file(self, path: Path, ident: FileIdentity, known: FileRecord | None,
                      result: FileResult) -> FileResult:
        """Read the whole file again with the forced or detected parser, and record the events
        its registry entry produced so far as superseded by the new ones."""
        parser = self._parser_for(path, known)
        result.parser = parser.name
        if parser.not_a_log:
            result.status, result.note = "skipped", f"skipped: not a log ({parser.not_a_log})"
            return result
        old = self._live_runs(path, known) if known else []
        reference = self._reference_time(path, ident, parser, result)
        assert self._hasher is not None
        digest = self._hasher.submit(file_sha256, path)
        hasher = ContentHasher(path)
        with self.store.transaction():
            try:
                if parser.changes_in_place:
                    hasher.finish()  # before the parser reads (see _journal_continuation)
                consumed, next_line = self._store_file(path, ident, parser, 0, 1, result, reference)
                prefix = hasher.digest_at(consumed)
            finally:
                hasher.close()
            rec = self._remember(path, ident, known, parser, consumed, next_line, (digest.result(), ident.size),
                                 prefix, result, fresh=True)
            new_run = (rec.first_seq, rec.last_seq) if rec.first_seq and rec.last_seq else None
            if known and old:
                self.store.supersede(old, new_run, rec.file_id, f"reparsed with {parser.name} (was {known.parser})",
                                     datetime.now(UTC))
        earlier = sum(b - a + 1 for a, b in old)
        result.note = (f"reparsed from the start with {parser.name}; {earlier:,} earlier event(s) of "
                       f"parser {known.parser} superseded" if known else "not ingested before: nothing superseded")
        result.note = "; ".join(n for n in (result.note, *self._reader_notes) if n)
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

    def _read_and_remember(self, path: Path, ident: FileIdentity, known: FileRecord | None, parser: Parser,
                           start: tuple[int, int, datetime], hasher: ContentHasher,
                           hashing: tuple[Future, Future | None], result: FileResult,
                           after: _AfterRecord | _AfterCursor | None) -> tuple[int, int]:
        """Store the file's events and its registry entry in one transaction: (file_id, offset)."""
        (offset, line, reference), (whole, on_disk) = start, hashing
        self._next_seq = None
        self._reader_notes.clear()
        with self.store.transaction():
            consumed, next_line = self._store_file(path, ident, parser, offset, line, result, reference, after,
                                                   resume=after.resume if after is not None else None)
            if after is not None and not after.proven:
                raise _NotContinued  # rolls the transaction back: read again, in full
            digest, length = whole.result()
            if consumed == offset:
                raise _Unchanged(length - offset)
            prefix = digest if consumed == length else hasher.digest_at(consumed)
            if prefix is None:
                raise SourceError(f"{path}: it shrank while it was read")
            # verify --sources re-hashes [0, size) on disk: for a plain file, the bytes read
            hashed = (on_disk.result(), ident.size) if on_disk is not None else (prefix, consumed)
            if after is not None:  # the same log, grown: its entry continues
                known = after.previous
            rec = self._remember(path, ident, known, parser, consumed, next_line, hashed, prefix, result)
            return rec.file_id, consumed

    def _continuation(self, path: Path, parser: Parser, known: FileRecord | None,
                      previous: FileRecord | None) -> _AfterRecord | _AfterCursor | None:
        """How a file whose bytes do not simply extend its entry continues it, if it can: an .evtx
        log by EventRecordID, a journal file by cursor (its header changes with every entry
        appended, and journald renames it when it rotates it)."""
        if known is None:
            after = self._evtx_continuation(path, parser, previous)
            if after is not None:
                return after
        return self._journal_continuation(path, parser, known or previous)

    def _journal_continuation(self, path: Path, parser: Parser, rec: FileRecord | None) -> _AfterCursor | None:
        """A journal file seen before (at this path or inode, or proven by its bytes) continues its
        entry when journalctl, started at the last cursor stored from it, gives that entry first.

        Why this never skips or duplicates an entry: a cursor names one entry (seqnum id, seqnum,
        boot id, times and a hash of its fields), and a journal file's entries are only ever
        appended, so the entries after the stored one are exactly those not read from this file
        before. --after-cursor is not used: on a file without that entry journalctl seeks to a
        nearby one and silently skips it. And the file is hashed before journalctl reads it
        (Parser.changes_in_place), with every append rewriting the header hashed first, so a
        stored hash is never matched later by a file holding entries journalctl did not print."""
        if rec is None or rec.parser != parser.name or rec.first_seq is None:
            return None
        try:
            with open_binary(path) as f:
                if f.read(len(JOURNAL_MAGIC)) != JOURNAL_MAGIC:
                    return None
        except (OSError, EOFError, ValueError):
            return None
        runs = self.store.live_file_runs(rec.file_id) or [(rec.first_seq, rec.last_seq or rec.first_seq)]
        where = " OR ".join("seq BETWEEN ? AND ?" for _ in runs)
        row = self.store.con.execute(
            f"SELECT origin FROM events WHERE ({where}) AND parser = ? AND starts_with(origin, ?) "
            "ORDER BY seq DESC LIMIT 1", [*(s for run in runs for s in run), parser.name, CURSOR_ORIGIN]).fetchone()
        cursor = cursor_of(row[0]) if row else None
        return _AfterCursor(cursor, rec) if cursor else None

    def _evtx_continuation(self, path: Path, parser: Parser, previous: FileRecord | None) -> _AfterRecord | None:
        """An .evtx log that grew has a new file header, so its bytes cannot continue the entry
        seen at its path. It continues it by records: when the record with the last stored
        EventRecordID is in it with the same raw, only the records after it are new."""
        if previous is None or previous.parser != parser.name or previous.first_seq is None:
            return None
        with path.open("rb") as f:
            if f.read(8) != b"ElfFile\x00":
                return None
        row = self.store.con.execute(
            "SELECT TRY_CAST(json_extract(attrs, '$.event_record_id') AS BIGINT) AS rid, raw FROM events "
            "WHERE source = ? AND seq BETWEEN ? AND ? AND rid IS NOT NULL ORDER BY rid DESC LIMIT 1",
            [previous.path, previous.first_seq, previous.last_seq]).fetchone()
        return _AfterRecord(int(row[0]), row[1], previous) if row else None

    def _match_registry(self, path: Path, ident: FileIdentity
                        ) -> tuple[FileRecord | None, str, ContentHasher, FileRecord | None]:
        """The registry entry this file is proven to continue (largest offset first), a note
        saying how it was proven or why it is read from the start, the file's hasher, and the
        disproven entry last seen at this path or inode (if any)."""
        here = str(path.resolve())
        # an entry at offset 0 proves nothing (every file starts with the empty prefix)
        candidates = [r for r in self.store.file_candidates(here, ident.device, ident.inode, ident.head_hash)
                      if r.offset > 0]
        if self.live is not None:
            for rec in candidates:
                start = self.live.start(rec.file_id, rec.offset, rec.prefix_sha256, ident, path)
                if start is not None and self._same_head(path, ident, rec):
                    return (rec, f"same inode, head and last {TAIL_BYTES:,} bytes as this watch read",
                            ContentHasher(path, start), None)
        hasher = ContentHasher(path)
        proven: list[FileRecord] = []
        reasons: list[str] = []
        previous = None
        for rec in sorted(candidates, key=lambda r: r.offset):  # one forward pass over the file
            why, always = self._disproof(path, ident, rec, hasher)
            here_before = rec.path == here or (rec.device, rec.inode) == (ident.device, ident.inode)
            if not why:
                proven.append(rec)
            elif always or here_before:
                reasons.append(why)
            if why and here_before:
                previous = rec
        if not proven:
            return None, "; ".join(dict.fromkeys(reasons)), hasher, previous
        best = max(proven, key=lambda r: r.offset)
        how = "SHA-256" if best.prefix_sha256 else "whole-file SHA-256 (registry of an older auditctl)"
        moved = "" if best.path == here else f" (seen before as {best.path})"
        return best, f"its first {best.offset:,} bytes match the {how} stored at the last ingest{moved}", hasher, None

    @staticmethod
    def _same_head(path: Path, ident: FileIdentity, rec: FileRecord) -> bool:
        if rec.head_len > ident.head_len:
            return False
        if rec.head_len == ident.head_len:
            return rec.head_hash == ident.head_hash
        return head_hash_of(path, rec.head_len) == rec.head_hash

    def _disproof(self, path: Path, ident: FileIdentity, rec: FileRecord,
                  hasher: ContentHasher) -> tuple[str, bool]:
        """Why `path` is not proven to continue `rec` ("" when it is), and whether to say so
        even when `rec` was another path. A file at `rec`'s path with another inode is a new file
        there (the one ingested was renamed away by rotation, or replaced), never "truncated"."""
        if rec.path == str(path.resolve()) and (rec.device, rec.inode) != (ident.device, ident.inode):
            new_file = ("a new file at this path (another inode: the file ingested here before was rotated "
                        "away or replaced): read from the start")
            truncated = changed = edited = new_file
        else:
            truncated = "file is shorter than before (truncated): read from the start"
            changed = "content differs from what was ingested at this path (rotated or truncated): read from the start"
            edited = (f"its first {rec.offset:,} bytes changed since they were ingested (edited in place): "
                      f"read from the start; the {rec.events:,} events stored from them before are kept")
        if not ident.compressed and ident.size < rec.offset:
            return truncated, False
        if not self._same_head(path, ident, rec):
            return changed, False
        at = hasher.digest_at(rec.offset)
        if at is None:
            return truncated, False
        if rec.prefix_sha256 is not None:
            if at == rec.prefix_sha256:
                return "", False
            return edited, False
        # an entry from before schema 8: only the hash of the whole file as it was then
        if rec.sha256 is not None:
            if rec.compressed and ident.compressed and ident.size == rec.size and file_sha256(path) == rec.sha256:
                return "", False
            if not rec.compressed and rec.size >= rec.offset and hasher.digest_at(rec.size) == rec.sha256:
                return "", False
        return (f"the registry entry from an older auditctl cannot prove that its first {rec.offset:,} bytes "
                f"are the ones ingested: read from the start; the {rec.events:,} events stored from them "
                "before may now be stored twice"), True

    def _parser_for(self, path: Path, known: FileRecord | None) -> Parser:
        if self.forced:
            return self.registry.get(self.forced)
        if known is not None and known.parser in self.registry.plugins and not self.reparse:
            return self.registry.get(known.parser)
        try:
            return choose_parser(read_head(path), self.registry).parser
        except SourceError as exc:  # name the whole path, not just the file name
            raise SourceError(f"{path}: {str(exc).split(': ', 1)[-1]}") from None

    def _reference_time(self, path: Path, ident: FileIdentity, parser: Parser,
                        result: FileResult) -> datetime:
        """What year-less stamps are dated against: the file's mtime unless --year, the file
        name or its content says the year (auditctl.ingest.yearless); the note says which."""
        mtime = datetime.fromtimestamp(ident.mtime, UTC)
        if not parser.yearless:
            return mtime
        choice = choose_year(path, self.tz, mtime, self.year)
        if choice is None:
            return mtime
        result.note = choice.note()
        return choice.reference

    def _store_file(self, path: Path, ident: FileIdentity, parser: Parser, offset: int, line: int,
                    result: FileResult, reference: datetime,
                    keep: Callable[[Event], bool] | None = None, resume: str | None = None) -> tuple[int, int]:
        label = str(path.resolve())
        options = self.config.options_for(parser.name)
        workers = worker_count(self.config.workers)
        parallel = (not ident.compressed and workers > 1 and not self.follow and keep is None
                    and ident.size - offset >= PARALLEL_MIN_BYTES and parser.splits(read_head(path)))
        bulk = self._bulk_path(parser, offset, options, keep) if not (parallel and self.engine == "auto") else None
        if bulk is not None:
            result.reader = "bulk"
            consumed, next_line = self._store_bulk(bulk, path, label, parser, options, workers, result, reference)
            if self._check:
                self._check.finish(parser.name)
            return consumed, next_line
        if parallel:
            result.reader = "parallel"
            consumed, next_line = self._store_parallel(path, label, parser, offset, line, options, workers, result,
                                                       reference)
            if self._check:
                self._check.finish(parser.name)
            return consumed, next_line
        result.reader = "serial"
        source = open_source(path, start_offset=offset, start_line=line, tz=self.tz, options=options,
                             reference_time=reference, resume=resume,
                             complete_lines_only=self.follow and not ident.compressed)
        try:
            with paused_gc():
                self._store_events(source, parser, label, result, keep)
        finally:
            source.stream.close()
            self._reader_notes.extend(source.notes)
        return source.consumed, source.next_line

    def _bulk_path(self, parser: Parser, offset: int, options: dict[str, Any],
                   keep: Callable[[Event], bool] | None) -> BulkPath | None:
        """The parser's bulk path when it may stand in for the plugin: a whole file read from
        its start in one pass (no resume, follow mode or record filter)."""
        if self.engine == "python" or offset != 0 or self.follow or keep is not None:
            return None
        bulk = bulk_path_for(parser.name)
        info = self.registry.plugins.get(parser.name)
        if bulk is None or info is None or info.origin != "builtin" or info.parser is not parser:
            return None  # a bulk path stands in for the built-in plugin only
        return bulk if bulk.accepts(options) else None

    def _store_bulk(self, bulk: BulkPath, path: Path, label: str, parser: Parser, options: dict[str, Any],
                    workers: int, result: FileResult, reference: datetime) -> tuple[int, int]:
        """Store the bulk path's tables; the lines it hands back are read by the plugin (with
        the record retry of the serial path), one run of consecutive lines at a time."""
        retry_options = self._retry_options(parser)
        retry = RecordRetry(parser.name, self.registry, retry_options) if retry_options is not None else None

        def fallback(first: int, lines: list[bytes]) -> list[Event]:
            source = Source(label=str(path), stream=io.BytesIO(b"".join(lines)), start_line=first,
                            reference_time=reference, tz=self.tz, options=options, path=path)
            events = parser.parse(source)
            if retry is not None:
                events = retry.events(events, source)
            with paused_gc():
                found = list(events)
            result.unparsed += sum(1 for e in found if e.action == "unparsed")
            return found

        job = BulkJob(path=path, tz=self.tz, reference_time=reference, options=options, fallback=fallback,
                      progress=self.progress)
        con = bulk_connection(workers)
        try:
            for table in _first_batch_as_serial(_bulk_tables(bulk, con, job), self.config.batch_size):
                self._append(table, label, parser.name, result)
        finally:
            con.close()
        return job.consumed, job.next_line

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

    def _store_events(self, source: Source, parser: Parser, label: str, result: FileResult,
                      keep: Callable[[Event], bool] | None = None) -> None:
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
            if keep is not None and not keep(ev):
                continue
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
        if self._check:  # before the first rows are stored
            self._check.add(part.column("action"), parser)
        if self._next_seq is None:
            self._next_seq = self.store.next_seq()  # once per file: then counted here
        first = self._next_seq
        if self._times is not None:
            part = self._times.fill(part)
        part = complete_batch(part, first_seq=first, ingested_at=datetime.now(UTC), source=label, parser=parser)
        self.store.append_events(part)
        self._next_seq = first + part.num_rows
        result.events += part.num_rows
        for row in part.column("parser").value_counts().to_pylist():
            result.parsers[row["values"]] += row["counts"]

    def _remember(self, path: Path, ident: FileIdentity, known: FileRecord | None, parser: Parser,
                  consumed: int, next_line: int, hashed: tuple[str | None, int], prefix: str | None,
                  result: FileResult, fresh: bool = False) -> FileRecord:
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
            prefix_sha256=prefix,
        )
        self.store.save_file(rec, datetime.now(UTC))
        if first_seq is not None:
            self.store.add_file_run(rec.file_id, first_seq, last_seq)
        return rec

    # -- stdin ---------------------------------------------------------------------------

    def _ingest_stdin(self) -> FileResult:
        result = FileResult(path="stdin")
        self._next_seq = None
        self._times = TimeFiller(datetime.now(UTC), "ingest")
        self._check = _ForcedCheck("stdin") if self.forced and not self.force else None
        if self.reparse:
            result.status = "failed"
            result.note = "stdin: cannot reparse standard input (it cannot be read again); nothing was stored"
            return result
        try:
            source = stdin_source(tz=self.tz)
            if self.year is not None:  # no file to look at: every year-less stamp in that year
                source.reference_time = datetime(self.year, 12, 31, 23, 59, 59, tzinfo=self.tz)
            data = source.stream.read()
            source.stream.seek(0)
            parser = (self.registry.get(self.forced) if self.forced
                      else choose_parser(head_from_bytes("stdin", data), self.registry).parser)
            result.parser = parser.name
            if parser.not_a_log:
                result.status, result.note = "skipped", f"skipped: not a log ({parser.not_a_log})"
                return result
            source.options = self.config.options_for(parser.name)
            with self.store.transaction():
                self._store_events(source, parser, "stdin", result)
        except Exception as exc:  # as for a file: one line, the store error apart
            self._failed(result, "stdin", exc)
        return result


def _bulk_tables(bulk: BulkPath, con: duckdb.DuckDBPyConnection, job: BulkJob) -> Iterator[pa.Table]:
    tables = bulk.tables(con, job)
    while True:
        try:
            table = next(tables, None)
        except duckdb.Error as exc:  # the parse's own database, not the store
            raise BulkPathError(f"bulk path of {bulk.parser}: {str(exc).splitlines()[0]}") from exc
        if table is None:
            return
        yield table


def _first_batch_as_serial(tables: Iterable[pa.Table], size: int) -> Iterator[pa.Table]:
    """The tables, the first ones merged or cut where the serial path ends its first batch.

    Until a record with a time of its own is stored, TimeFiller lends times only within one
    batch: records before the first stamp borrow it (`next`) when it is in their batch, else
    they get the file's time (`file`, and then `previous`). So where the first batch ends
    decides their times: here as in `_store_events` (batch_size events or ARROW_BATCH_BYTES
    of raw). After the first stamp, batch boundaries change nothing."""
    held: list[pa.Table] = []
    rest = iter(tables)
    for table in rest:
        held.append(table)
        combined = concat_tables(held)
        stamped = pc.indices_nonzero(pc.is_valid(combined.column("ts")))
        first = stamped[0].as_py() if len(stamped) else None
        cut = None if first == 0 else _serial_first_cut(combined, size)
        if first is None and cut is None:
            continue  # no stamp yet and shorter than the serial path's first batch
        if first is not None and (cut is None or first < cut):
            yield combined
        else:
            yield combined.slice(0, cut)
            yield combined.slice(cut)
        break
    else:
        if held:
            yield concat_tables(held)
        return
    yield from rest


def _serial_first_cut(table: pa.Table, size: int) -> int | None:
    """How many of these events `_store_events` puts in its first batch, None if all of them
    and the batch is not full yet. Its raw count is `len(ev.raw)`: code points of the text,
    whose undecodable bytes (raw_b64 rows) count one each."""
    head = table.slice(0, size)
    lengths = pc.utf8_length(head.column("raw")).to_pylist()
    exact = head.column("raw_b64")
    if exact.null_count < len(exact):
        for i, b64 in enumerate(exact.to_pylist()):
            if b64 is not None:
                lengths[i] = len(decode_record(base64.b64decode(b64)))
    total = 0
    for i, n in enumerate(lengths, start=1):
        total += n or 0
        if i >= size or total >= ARROW_BATCH_BYTES:
            return i
    return None


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


class _AfterRecord:
    """Keeps the events of an .evtx log after its last stored EventRecordID, and checks that the
    record with that id is the one stored (the same log, grown) while it reads."""

    resume: str | None = None  # read from the start: records up to the last id are skipped

    def __init__(self, last_id: int, raw: str, previous: FileRecord) -> None:
        self.last_id, self.raw, self.previous = last_id, raw, previous
        self.proven = False
        self.skipped = 0

    def __call__(self, ev: Event) -> bool:
        rid = ev.attrs.get("event_record_id") if ev.attrs else None
        if not isinstance(rid, int) or rid > self.last_id:
            return True
        self.proven = self.proven or (rid == self.last_id and ev.raw == self.raw)
        self.skipped += 1
        return False

    def note(self) -> str:
        if self.proven:
            return (f"an EVTX log seen before as {self.previous.path}, grown (new file header): its record "
                    f"{self.last_id} is the one stored, so its {self.skipped:,} records up to it were skipped")
        return (f"an EVTX log at a path seen before, without the record {self.last_id} stored from there: "
                "read in full (a cleared log; or the events stored before may now be stored twice)")


class _AfterCursor:
    """Keeps the entries of a journal file after the last stored cursor: journalctl starts at
    that cursor (Source.resume), and the first entry must be the one stored, else the file does
    not continue the entry and is read in full (_NotContinued)."""

    def __init__(self, cursor: str, previous: FileRecord) -> None:
        self.resume: str | None = cursor
        self.previous = previous
        self.proven = False
        self.kept = 0

    def __call__(self, ev: Event) -> bool:
        if self.proven:
            self.kept += 1
            return True
        if cursor_of(ev.origin) != self.resume:
            raise _NotContinued  # stop reading: this file does not hold the entry stored last
        self.proven = True
        return False

    def note(self) -> str:
        if self.proven:
            new = f"{self.kept:,} entries after it read" if self.kept else "no entry after it yet"
            return (f"a journal file seen before as {self.previous.path}: journalctl gives the entry last stored from "
                    f"it (same cursor) first, so only what follows it is new ({new})")
        return ("a journal file at a path or inode seen before that does not hold the entry last stored from there "
                "(a new journal file, as after rotation): read in full")


class _NotContinued(Exception):
    """Raised inside the file transaction when an .evtx log turned out not to continue the one
    stored: roll back and read it in full."""
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


class BulkPathError(Exception):
    """A bulk path's SQL failed: the file fails as for a plugin bug (not as a store error);
    `--engine python` reads it with the plugin alone."""


class _Unchanged(Exception):
    """Raised inside the file transaction to roll back when a resumed read found nothing."""
