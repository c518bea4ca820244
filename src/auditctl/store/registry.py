"""The file registry: what ingest remembers about each file, the seq runs it wrote, and
the runs a reparse superseded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from auditctl.store.connection import first_row
from auditctl.store.events import EventLog


@dataclass
class FileRecord:
    """What the registry remembers about one ingested file."""

    file_id: int
    path: str
    device: int
    inode: int
    head_hash: str
    head_len: int
    compressed: bool
    offset: int
    next_line: int
    size: int
    mtime: float
    sha256: str | None
    parser: str
    events: int
    first_seq: int | None
    last_seq: int | None
    prefix_sha256: str | None = None  # of the decompressed bytes [0, offset); None before schema 8


_FILE_COLS = ("file_id, path, device, inode, head_hash, head_len, compressed, \"offset\", next_line, "
              "size, mtime, sha256, parser, events, first_seq, last_seq, prefix_sha256")



class Registry(EventLog):
    def file_candidates(self, path: str, device: int, inode: int, head_hash: str) -> list[FileRecord]:
        rows = self.con.execute(
            f"SELECT {_FILE_COLS} FROM files WHERE path = ? OR (device = ? AND inode = ?) "
            "OR head_hash = ? ORDER BY \"offset\" DESC",
            [path, device, inode, head_hash],
        ).fetchall()
        return [FileRecord(*row) for row in rows]

    def save_file(self, rec: FileRecord, now: datetime) -> None:
        exists = first_row(self.con.execute("SELECT 1 FROM files WHERE file_id = ?", [rec.file_id]))
        values = [rec.path, rec.device, rec.inode, rec.head_hash, rec.head_len, rec.compressed,
                  rec.offset, rec.next_line, rec.size, rec.mtime, rec.sha256, rec.parser,
                  rec.events, rec.first_seq, rec.last_seq, rec.prefix_sha256]
        if exists:
            self.con.execute(
                "UPDATE files SET path=?, device=?, inode=?, head_hash=?, head_len=?, compressed=?, "
                "\"offset\"=?, next_line=?, size=?, mtime=?, sha256=?, parser=?, events=?, "
                "first_seq=?, last_seq=?, prefix_sha256=?, last_ingested=? WHERE file_id=?",
                [*values, now, rec.file_id])
        else:
            self.con.execute(
                f"INSERT INTO files ({_FILE_COLS}, first_ingested, last_ingested) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [rec.file_id, *values, now, now])

    def add_file_run(self, file_id: int, first_seq: int, last_seq: int) -> None:
        self.con.execute("INSERT INTO file_runs VALUES (?, ?, ?)", [file_id, first_seq, last_seq])

    def live_file_runs(self, file_id: int) -> list[tuple[int, int]]:
        """The seq runs this file entry wrote that no reparse has superseded yet."""
        rows = self.con.execute(
            "SELECT first_seq, last_seq FROM file_runs r WHERE file_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM superseded s WHERE s.first_seq = r.first_seq AND s.last_seq = r.last_seq) "
            "ORDER BY first_seq", [file_id]).fetchall()
        return [(int(a), int(b)) for a, b in rows]

    def event_runs(self, first_seq: int, last_seq: int, source: str, parser: str,
                   skip: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """Runs of consecutive seqs in [first_seq, last_seq] of events from `source` by `parser`,
        outside the runs in `skip`: a file's events from before file_runs were recorded."""
        outside = "".join(f" AND seq NOT BETWEEN {int(a)} AND {int(b)}" for a, b in skip)
        rows = self.con.execute(
            "SELECT min(seq), max(seq) FROM (SELECT seq, seq - row_number() OVER (ORDER BY seq) AS island "
            f"FROM stored_events WHERE seq BETWEEN ? AND ? AND source = ? AND parser = ?{outside}) "
            "GROUP BY island ORDER BY 1", [first_seq, last_seq, source, parser]).fetchall()
        return [(int(a), int(b)) for a, b in rows]

    def supersede(self, runs: Sequence[tuple[int, int]], by: tuple[int, int] | None, file_id: int,
                  reason: str, now: datetime) -> None:
        """Record `runs` as superseded by the events in `by`; the events themselves stay as signed."""
        for first, last in runs:
            self.con.execute("INSERT INTO superseded VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [first, last, by[0] if by else None, by[1] if by else None, file_id, now, reason])
        self.define_log_views()

    def new_file_id(self) -> int:
        row = first_row(self.con.execute("SELECT coalesce(max(file_id), 0) + 1 FROM files"))
        return int(row[0]) if row else 1

    def files(self) -> list[FileRecord]:
        rows = self.con.execute(f"SELECT {_FILE_COLS} FROM files ORDER BY file_id").fetchall()
        return [FileRecord(*row) for row in rows]
