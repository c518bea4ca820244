"""Opening log files: gzip by magic number, file heads for detection, identity, line reading.

A `Source` is what a parser reads. It hides compression, where reading resumes, and which
line number comes first, and it counts the bytes consumed so ingest can remember how far it
got in each file.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import IO, Any, cast

GZIP_MAGIC = b"\x1f\x8b"
HEAD_BYTES = 64 * 1024
HEAD_LINES = 50
FINGERPRINT_BYTES = 4096
READ_CHUNK = 1 << 20


_DECOMPRESS_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)


class SourceError(Exception):
    """A file that cannot be read as a log (unreadable, truncated gzip, binary junk)."""


XZ_MAGIC = b"\xfd7zXZ\x00"
BZIP2_MAGIC = b"BZh"


def compression(path: Path) -> str | None:
    """`gzip`, `xz` or `bzip2` by the file's magic number (rotated logs use all three), else None."""
    with path.open("rb") as f:
        magic = f.read(6)
    if magic[:2] == GZIP_MAGIC:
        return "gzip"
    if magic == XZ_MAGIC:
        return "xz"
    if magic[:3] == BZIP2_MAGIC and magic[3:4] in b"123456789" and len(magic) > 3:
        return "bzip2"
    return None


def is_gzip(path: Path) -> bool:
    """Whether the file is compressed (any supported kind): offsets then count decompressed bytes."""
    return compression(path) is not None


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading its (decompressed) bytes."""
    kind = compression(path)
    if kind == "gzip":
        return cast(IO[bytes], gzip.open(path, "rb"))
    if kind == "xz":
        return cast(IO[bytes], lzma.open(path, "rb"))
    if kind == "bzip2":
        return cast(IO[bytes], bz2.open(path, "rb"))
    return path.open("rb")


def decode(raw: bytes) -> str:
    """Bytes of one record to text. Invalid UTF-8 is replaced, never fatal."""
    return raw.decode("utf-8", "replace")


@dataclass(frozen=True)
class Head:
    """The first bytes and lines of a file, for cheap format detection."""

    name: str
    data: bytes

    @property
    def text(self) -> str:
        return decode(self.data)

    @property
    def lines(self) -> list[str]:
        text = self.text
        # split on newlines only: str.splitlines() also breaks at \x1d, auditd's ENRICHED separator
        lines = [ln.rstrip("\r") for ln in text.split("\n")]
        if lines and lines[-1] == "":
            lines.pop()
        if len(self.data) >= HEAD_BYTES and not text.endswith("\n") and lines:
            lines.pop()  # the last line was cut by the head size
        return [ln for ln in lines if ln.strip()][:HEAD_LINES]

    @property
    def is_binary(self) -> bool:
        if not self.data:
            return False
        sample = self.data[:8192]
        if b"\x00" in sample:
            return True
        text_like = sum(1 for b in sample if b >= 32 or b in (9, 10, 13))
        return text_like / len(sample) < 0.85


def read_head(path: Path, size: int = HEAD_BYTES) -> Head:
    try:
        with open_binary(path) as f:
            data = f.read(size)
    except (OSError, EOFError, *_DECOMPRESS_ERRORS) as exc:
        raise SourceError(f"{path}: cannot read: {_reason(exc)}") from exc
    return Head(name=path.name, data=data)


def head_from_bytes(name: str, data: bytes) -> Head:
    return Head(name=name, data=data[:HEAD_BYTES])


@dataclass(frozen=True)
class FileIdentity:
    """What `stat` and the first 4 KiB say about a file: how the registry finds candidate
    entries for it (the match itself is proven on the bytes up to the offset, see identity.py)."""

    path: str
    device: int
    inode: int
    size: int  # on-disk size (compressed size for .gz)
    mtime: float
    head_hash: str  # SHA-256 of the first `head_len` decompressed bytes
    head_len: int
    compressed: bool


def identify(path: Path) -> FileIdentity:
    st = path.stat()
    compressed = is_gzip(path)
    try:
        with open_binary(path) as f:
            head = f.read(FINGERPRINT_BYTES)
    except (OSError, EOFError, *_DECOMPRESS_ERRORS) as exc:
        raise SourceError(f"{path}: cannot read: {_reason(exc)}") from exc
    return FileIdentity(
        path=str(path), device=st.st_dev, inode=st.st_ino, size=st.st_size, mtime=st.st_mtime,
        head_hash=hashlib.sha256(head).hexdigest(), head_len=len(head), compressed=compressed,
    )


def head_hash_of(path: Path, length: int) -> str:
    with open_binary(path) as f:
        return hashlib.sha256(f.read(length)).hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of the file as it is on disk (compressed bytes for .gz)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(READ_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Source:
    """What a parser reads: a byte stream positioned where reading starts.

    `lines()` serves line-based formats; `stream` and `read_all()` serve documents and binary
    formats. `consumed` is the byte offset (in decompressed bytes) reached so far.
    """

    label: str
    stream: IO[bytes]
    start_offset: int = 0
    start_line: int = 1
    end_offset: int | None = None  # stop before this offset (parallel chunks)
    reference_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    tz: tzinfo = UTC
    options: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    consumed: int = 0
    next_line: int = 0
    complete_lines_only: bool = False  # following a live file: leave a line still being written
    # where a format read through another program resumes, instead of a byte offset (a journal
    # file: the cursor of the last entry stored; the parser yields that entry first, so ingest
    # can prove it is the one stored before it keeps the entries after it)
    resume: str | None = None
    # what the reader said about the file besides its records (a tool's warnings), for the ingest note
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.consumed = self.start_offset
        self.next_line = self.start_line

    def raw_lines(self, *, keep_ends: bool = False) -> Iterator[tuple[int, bytes]]:
        """(line number, bytes without the line ending, or with it when `keep_ends`), from the start offset."""
        number = self.start_line
        pos = self.start_offset
        end = self.end_offset
        try:
            for raw in self.stream:
                if end is not None and pos >= end:
                    break
                if self.complete_lines_only and not raw.endswith(b"\n"):
                    break  # the writer has not finished this line: read it next time
                pos += len(raw)
                self.consumed = pos
                self.next_line = number + 1
                yield number, raw if keep_ends else without_line_end(raw)
                number += 1
        except _DECOMPRESS_ERRORS as exc:
            raise SourceError(f"{self.label}: line {number}: {_reason(exc)}") from exc

    def peek(self, size: int = 4096) -> bytes | None:
        """The next bytes without consuming them; None when the stream cannot look ahead."""
        stream = self.stream
        try:
            peek = getattr(stream, "peek", None)
            if peek is not None:
                return bytes(peek(size)[:size])
            if stream.seekable():
                pos = stream.tell()
                data = stream.read(size)
                stream.seek(pos)
                return data
        except Exception:  # a damaged stream fails again, with a SourceError, when it is read
            return b""
        return None

    def lines(self) -> Iterator[tuple[int, str]]:
        """(line number, text without the line ending), from the start offset. Bytes that are
        not UTF-8 come as lone surrogates, so the text maps back to them (see rawbytes)."""
        for number, raw in self.raw_lines():
            yield number, raw.decode("utf-8", "surrogateescape")

    def read_all(self) -> bytes:
        try:
            data = self.stream.read() if self.end_offset is None else self.stream.read(
                self.end_offset - self.start_offset)
        except _DECOMPRESS_ERRORS as exc:
            raise SourceError(f"{self.label}: {_reason(exc)}") from exc
        self.consumed = self.start_offset + len(data)
        return data


def open_source(path: Path, *, start_offset: int = 0, start_line: int = 1, **kwargs: Any) -> Source:
    """Open `path` as a Source positioned at `start_offset` (decompressed bytes)."""
    try:
        stream = open_binary(path)
        if start_offset:
            _skip(stream, start_offset)
    except (OSError, EOFError, *_DECOMPRESS_ERRORS) as exc:
        raise SourceError(f"{path}: cannot read: {_reason(exc)}") from exc
    ref = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    kwargs.setdefault("reference_time", ref)
    return Source(label=str(path), stream=stream, start_offset=start_offset, start_line=start_line,
                  path=path, **kwargs)


def stdin_source(**kwargs: Any) -> Source:
    data = sys.stdin.buffer.read()
    decompress = {GZIP_MAGIC: gzip.decompress, XZ_MAGIC[:2]: lzma.decompress, BZIP2_MAGIC[:2]: bz2.decompress}
    unpack = decompress.get(data[:2]) if data[:6] == XZ_MAGIC or data[:2] != XZ_MAGIC[:2] else None
    if unpack is not None and (data[:2] != BZIP2_MAGIC[:2] or data[2:4] in (b"h1", b"h2", b"h3", b"h4", b"h5",
                                                                             b"h6", b"h7", b"h8", b"h9")):
        try:
            data = unpack(data)
        except _DECOMPRESS_ERRORS as exc:
            raise SourceError(f"stdin: {_reason(exc)}") from exc
    return Source(label="stdin", stream=io.BytesIO(data), **kwargs)


def _skip(stream: IO[bytes], offset: int) -> None:
    if hasattr(stream, "seekable") and stream.seekable() and not isinstance(stream, gzip.GzipFile):
        stream.seek(offset)
        return
    remaining = offset
    while remaining > 0:
        chunk = stream.read(min(remaining, READ_CHUNK))
        if not chunk:
            break
        remaining -= len(chunk)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "compressed file is truncated"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def newline_positions(path: Path) -> tuple[int, int]:
    """(size, number of newlines) of an uncompressed file, read in large chunks."""
    size = 0
    newlines = 0
    with path.open("rb") as f:
        while chunk := f.read(READ_CHUNK * 8):
            size += len(chunk)
            newlines += chunk.count(b"\n")
    return size, newlines


def os_identity_key(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def without_line_end(raw: bytes) -> bytes:
    """The line without its `\n` or `\r\n`: any other carriage return is the record's own byte."""
    if raw.endswith(b"\r\n"):
        return raw[:-2]
    return raw[:-1] if raw.endswith(b"\n") else raw
