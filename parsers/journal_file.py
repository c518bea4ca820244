"""journal_file: binary systemd journal files (`/var/log/journal/<machine-id>/*.journal`, archived
`system@...journal`, `*.journal~`), read through journalctl.

Detected by the journal file magic `LPKSHHRH` (a compressed journal file too: it is unpacked to
a temporary file first). The entries are read with `journalctl --file=PATH --output=json --all
--no-pager`: no journal file parsing here, journalctl is the reader, as on every systemd host
(without it the file fails with "journalctl not found: install systemd or export with
journalctl -o json"). `--all` prints fields over 4 KiB in full instead of as null.

Each entry becomes exactly the event the `journald` parser makes from the same JSON line (the
mapping is `auditctl.ingest.journal.entry_event`: see the journald parser for the fields and
how sshd, sudo, PAM, useradd ... messages map). `raw` = journalctl's JSON rendering of the entry
(`-o json`), as an EVTX record's raw is the reader's rendering of it (the file's bytes are not one
record a line), with its fields in sorted order: journalctl prints them in hash-table order, a
different one on every run, and sorted the same entry always has the same raw. The values are
journalctl's (a field that is not UTF-8 is a list of byte values, a repeated field a list of its
values). `origin` = `cursor <__CURSOR>`, the entry's journal cursor; `line` is empty.

Resuming: a journal file is rewritten in place as it grows (its header changes with every
entry) and is renamed when journald rotates it, so ingest does not resume it by byte offset but
by cursor: journalctl starts at the last entry stored (`--cursor=`), ingest proves that first
entry is the one it stored (same cursor: seqnum id, seqnum, boot, times and the hash of the
entry's fields), and keeps only the entries after it (see `auditctl.ingest.ingester`).

A damaged file: journalctl reads what it can; what it printed on stderr goes, on one line, into
the ingest note, and the entries it read are kept. journalctl skips a damaged entry without a
word, so a full read that gave fewer entries than the header counts (`journalctl --header`,
asked first) says so in the note too. When journalctl read nothing and failed, the file fails
with its message, like any unreadable file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import orjson

from auditctl.ingest.journal import (
    CURSOR_ORIGIN,
    JOURNAL_MAGIC,
    JOURNALCTL_MISSING,
    JournalRead,
    entry_event,
    header_entries,
    is_entry,
    read_journal_file,
)
from auditctl.ingest.rawbytes import loads_json
from auditctl.plugins import Parser
from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head, Source, SourceError, is_gzip, open_binary

NAME = "journal_file"


class JournalFileParser(Parser):
    name = NAME
    description = "binary systemd journal files (*.journal), read with journalctl; mapped as journald"
    changes_in_place = True

    def score(self, head: Head) -> tuple[float, str]:
        if head.data[:8] == JOURNAL_MAGIC:
            return 0.99, "systemd journal file header (LPKSHHRH magic)"
        return 0.0, "no journal file magic (LPKSHHRH)"

    def parse(self, source: Source) -> Iterator[Event]:
        if source.start_offset > 0 and source.resume is None:
            # the same file seen again, its bytes up to the offset unchanged: as every entry
            # appended rewrites the header, nothing was added (a byte offset means nothing here)
            source.consumed = source.start_offset
            return
        if source.path is not None and not is_gzip(source.path):
            source.consumed = os.fstat(source.stream.fileno()).st_size  # before journalctl reads
            yield from _entries(source.path, source)
            return
        if source.path is not None:
            with open_binary(source.path) as f:
                data = f.read()
        else:
            data = source.read_all()
        source.consumed = len(data)
        with tempfile.TemporaryDirectory(prefix="auditctl-journal-") as tmp:
            unpacked = Path(tmp) / "unpacked.journal"
            unpacked.write_bytes(data)
            yield from _entries(unpacked, source)


def _entries(path: Path, source: Source) -> Iterator[Event]:
    report = JournalRead()
    read = 0
    # counted before the entries are read: a live file only gains entries meanwhile
    counted = header_entries(path) if source.resume is None else None
    try:
        for text in read_journal_file(path, source.resume, report):
            read += 1
            yield _event(text)
    except FileNotFoundError as exc:
        if str(exc) == JOURNALCTL_MISSING:
            raise SourceError(f"{source.label}: {JOURNALCTL_MISSING}") from None
        raise
    said = report.complaint()
    failed = report.returncode not in (0, None)
    if said or failed:
        line = f"journalctl: {said or 'no message'}" + (f" (exit status {report.returncode})" if failed else "")
        if read == 0 and failed and source.resume is None:
            raise SourceError(f"{source.label}: {line}")
        source.notes.append(line + (f"; the {read:,} entries it read are kept" if read else ""))
    if counted is not None and read < counted:  # journalctl skips a damaged entry without a word
        source.notes.append(f"journalctl read {read:,} of the {counted:,} entries the file's header counts "
                            "(damaged entries are skipped); the entries read are kept")


def _event(text: str) -> Event:
    try:
        doc = loads_json(text)
    except orjson.JSONDecodeError as exc:
        return unparsed_event(text, f"{NAME}: journalctl printed a line that is not JSON: {exc}")
    if not is_entry(doc):
        return unparsed_event(text, f"{NAME}: journalctl printed JSON that is not a journal entry")
    ev = entry_event(doc)
    # journalctl prints an entry's fields in hash-table order, a different one on every run:
    # sorted, the same entry always has the same raw (values exactly as journalctl gave them)
    ev.raw = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()
    cursor = doc.get("__CURSOR")
    if isinstance(cursor, str) and cursor:
        ev.origin = CURSOR_ORIGIN + cursor
    return ev


parser = JournalFileParser()
