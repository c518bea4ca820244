"""The receiver's spool: where a received message is durable before `watch` stores it.

Each listener appends records (`auditctl.ingest.received`, one JSON line a message, exact bytes)
to numbered segment files `<db>.spool/<label>.<n>.jsonl`, flushed after each read from a
socket; `watch` fsyncs them every cycle and ingests them like any followed file, through the
registry of offsets, so after `kill -9` nothing in the spool is lost or stored twice. A segment
is closed at a size (an eighth of the cap, at most 64 MiB) and a new one started; a closed
segment whose every byte is stored (its registry offset is its size) is removed: its messages
are in the signed log, raw bytes and all.

`SpoolBudget` caps the bytes the spool holds on disk, over all listeners. At the cap a TCP or
TLS listener stops reading its sockets until `watch` has stored and removed a segment (the
senders' TCP windows close and they wait), and a UDP listener drops datagrams and counts them.
A start always opens a new segment, after ending the last one with a line end if a crash cut
its last line (that line is then kept as an unparsed record).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path

MAX_SEGMENT = 64 << 20


class SpoolBudget:
    """Bytes on disk over all spools, and the cap on them."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self.peak = 0
        self.cond = threading.Condition()

    @property
    def segment_bytes(self) -> int:
        return max(64 << 10, min(MAX_SEGMENT, self.max_bytes // 8))

    def try_reserve(self, n: int) -> bool:
        """Take `n` bytes if they fit under the cap (or if the spool is empty: a record larger
        than the cap must still be written one day)."""
        with self.cond:
            if self.used and self.used + n > self.max_bytes:
                return False
            self._add(n)
            return True

    def reserve(self, n: int, stop: threading.Event) -> None:
        """Wait until `n` bytes fit, then take them. When `stop` is set it takes them anyway:
        what was read from a socket is never dropped."""
        with self.cond:
            while self.used and self.used + n > self.max_bytes and not stop.is_set():
                self.cond.wait(0.2)
            self._add(n)

    def force(self, n: int) -> None:
        with self.cond:
            self._add(n)

    def _add(self, n: int) -> None:
        self.used += n
        self.peak = max(self.peak, self.used)

    def release(self, n: int) -> None:
        with self.cond:
            self.used = max(0, self.used - n)
            self.cond.notify_all()


class Spool:
    """One listener's segments."""

    def __init__(self, directory: Path, label: str, budget: SpoolBudget) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory.resolve()  # watch reports offsets by resolved path
        self.label = label
        self.budget = budget
        self._pattern = re.compile(re.escape(label) + r"\.(\d{6,})\.jsonl")
        self._lock = threading.Lock()
        self.sizes: dict[Path, int] = {}  # every segment of this listener on disk
        self.stored: dict[Path, int] = {}  # the bytes of each that watch has stored
        existing = self.segments()
        for path in existing:
            self.sizes[path] = path.stat().st_size
        if existing:
            _end_cut_line(existing[-1])
            self.sizes[existing[-1]] = existing[-1].stat().st_size
        budget.force(sum(self.sizes.values()))
        self._number = int(self._pattern.fullmatch(existing[-1].name)[1]) if existing else 0  # type: ignore[index]
        self.current: Path | None = self._open_next()

    def segments(self) -> list[Path]:
        found = [p for p in self.directory.iterdir() if self._pattern.fullmatch(p.name)]
        return sorted(found, key=lambda p: int(self._pattern.fullmatch(p.name)[1]))  # type: ignore[index]

    def _open_next(self) -> Path:
        self._number += 1
        path = self.directory / f"{self.label}.{self._number:06d}.jsonl"
        self._file = path.open("ab")
        self.sizes[path] = 0
        return path

    # -- writing ---------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Append records whose bytes the caller reserved in the budget; flushed at once."""
        with self._lock:
            assert self.current is not None, "the spool is closed"
            self._file.write(data)
            self._file.flush()
            self.sizes[self.current] += len(data)
            if self.sizes[self.current] >= self.budget.segment_bytes:
                self._file.close()
                self.current = self._open_next()

    def sync(self) -> None:
        with self._lock:
            if not self._file.closed:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the current segment: nothing is written any more, so once stored it goes too."""
        with self._lock:
            self._file.close()
            self.current = None

    # -- what watch stored -----------------------------------------------------------------

    def stored_upto(self, offsets: Mapping[str, int]) -> list[Path]:
        """Take the offsets watch committed (path -> bytes stored); remove closed segments
        stored to their end. Returns the removed segments."""
        removed = []
        with self._lock:
            for path, size in list(self.sizes.items()):
                offset = offsets.get(str(path))
                if offset is None:
                    continue
                self.stored[path] = offset
                if path != self.current and offset >= size:
                    path.unlink(missing_ok=True)
                    del self.sizes[path]
                    self.stored.pop(path, None)
                    removed.append(path)
                    self.budget.release(size)
        return removed

    @property
    def backlog(self) -> int:
        """Bytes received and not stored yet."""
        with self._lock:
            return sum(size - min(size, self.stored.get(path, 0)) for path, size in self.sizes.items())

    @property
    def disk_bytes(self) -> int:
        with self._lock:
            return sum(self.sizes.values())


def _end_cut_line(path: Path) -> None:
    """A segment whose last line was cut (a crash mid-write) gets its line end, so the cut line
    is read (as an unparsed record) and not joined to anything."""
    size = path.stat().st_size
    if not size:
        return
    with path.open("rb+") as f:
        f.seek(size - 1)
        if f.read(1) != b"\n":
            f.write(b"\n")
