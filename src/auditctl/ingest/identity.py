"""Proving that a file on disk is one the ingest registry remembers, against its bytes.

The registry keeps, for each file, the SHA-256 of its decompressed bytes [0, offset) where
the last ingest stopped (`files.prefix_sha256`). A file matches an entry only when its own
first `offset` decompressed bytes hash to that value; a 4 KiB head is only a cheap filter
(every `.evtx` header is 4 KiB, so different exports share it). One forward pass per file
(`ContentHasher`) gives the hash at each candidate's offset, the hash of the whole file (the
`sha256` that `verify --sources` checks) and the new prefix hash at the offset reached.

`watch` (follow mode) does not re-hash a large live file every cycle: `LiveProofs` keeps, in
the watching process, the hash state at the offset it last committed. The next cycle accepts
that state when the file has the same device and inode, is no shorter, its 4 KiB head is
unchanged and the 4 KiB just before the offset are the bytes this process read there; the
new prefix hash then continues from the kept state over the new bytes only. The first cycle
of a `watch` proves each file in full, as `ingest` does.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from auditctl.sources import READ_CHUNK, FileIdentity, SourceError, _reason, _skip, open_binary

TAIL_BYTES = 4096  # follow mode: the bytes just before the offset, compared on every cycle


class ContentHasher:
    """SHA-256 of a file's decompressed bytes in one forward pass, with the digest at any offset.

    Offsets asked for in increasing order cost one read of the file; an offset behind the
    current position restarts from the nearest kept state before it.
    """

    def __init__(self, path: Path, start: tuple[int, Any] | None = None) -> None:
        self.path = path
        self._marks: dict[int, Any] = {0: hashlib.sha256()}
        if start is not None:
            self._marks[start[0]] = start[1].copy()
        self._stream: IO[bytes] | None = None
        self._h: Any = None
        self.pos = -1  # nothing open yet
        self.length: int | None = None  # the decompressed length, once the end was reached

    def digest_at(self, offset: int) -> str | None:
        """SHA-256 of bytes [0, offset), or None when the file is shorter."""
        state = self.state_at(offset)
        return None if state is None else state.hexdigest()

    def state_at(self, offset: int) -> Any | None:
        if offset in self._marks:
            return self._marks[offset].copy()
        if offset < self.pos or self.pos < 0:
            self._restart(max(o for o in self._marks if o <= offset))
        self._read_to(offset)
        if self.pos < offset:
            return None
        self._marks[offset] = self._h.copy()
        return self._h.copy()

    def has_more(self, offset: int) -> bool:
        """Whether the file holds any byte past `offset` (reads at most one more byte)."""
        if self.length is not None:
            return self.length > offset
        if self.pos > offset:
            return True
        if self.state_at(offset) is None:
            return False
        if self.pos != offset:  # the state came from a kept mark: read on from there
            self._restart(offset)
        self._read_to(offset + 1)
        return self.pos > offset

    def finish(self) -> tuple[str, int]:
        """Read to the end: (SHA-256 of the whole decompressed file, its length)."""
        if self.pos < 0:
            self._restart(max(self._marks))
        self._read_to(None)
        self._marks[self.pos] = self._h.copy()
        return self._h.hexdigest(), self.pos

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _restart(self, offset: int) -> None:
        self.close()
        try:
            self._stream = open_binary(self.path)
            if offset:
                _skip(self._stream, offset)
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise SourceError(f"{self.path}: cannot read: {_reason(exc)}") from exc
        self._h = self._marks[offset].copy()
        self.pos = offset

    def _read_to(self, offset: int | None) -> None:
        assert self._stream is not None
        try:
            while offset is None or self.pos < offset:
                want = READ_CHUNK if offset is None else min(READ_CHUNK, offset - self.pos)
                chunk = self._stream.read(want)
                if not chunk:
                    self.length = self.pos
                    return
                self._h.update(chunk)
                self.pos += len(chunk)
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise SourceError(f"{self.path}: {_reason(exc)}") from exc


@dataclass
class _Live:
    device: int
    inode: int
    offset: int
    prefix: str
    state: Any
    tail: bytes


class LiveProofs:
    """Follow mode: the hash state this process holds for each followed file (by file_id)."""

    def __init__(self) -> None:
        self._files: dict[int, _Live] = {}

    def start(self, file_id: int, offset: int, prefix: str | None, ident: FileIdentity,
              path: Path) -> tuple[int, Any] | None:
        """(offset, hash state there) when the file is still the one read up to `offset`."""
        live = self._files.get(file_id)
        if (live is None or ident.compressed or ident.size < offset
                or (live.offset, live.prefix, live.device, live.inode) != (offset, prefix, ident.device, ident.inode)):
            return None
        if _tail(path, offset) != live.tail:
            return None
        return offset, live.state.copy()

    def remember(self, file_id: int, offset: int, state: Any, ident: FileIdentity, path: Path) -> None:
        if ident.compressed:
            return
        self._files[file_id] = _Live(ident.device, ident.inode, offset, state.hexdigest(), state.copy(),
                                     _tail(path, offset))


def _tail(path: Path, offset: int) -> bytes:
    start = max(0, offset - TAIL_BYTES)
    with path.open("rb") as f:
        f.seek(start)
        return f.read(offset - start)
