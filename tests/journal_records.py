"""Real binary journal files for the journal_file tests, written by systemd's own tools.

`export_stream(entries)` writes entries in the journal export format (systemd's
JOURNAL_EXPORT_FORMATS: `FIELD=value` lines, a field holding a newline or control byte as its
name, a newline, its length as a little-endian 64-bit number, its bytes and a newline; a blank
line ends an entry) and `make_journal` feeds it to `systemd-journal-remote --output=FILE`, which
writes a journal file as journald does (or appends to one that exists: the same file, grown).

The committed fixtures are made from the journald sample's entries (`python tests/journal_records.py`
rewrites them; needs systemd-journal-remote, Debian package of that name). They are xz-compressed:
a journal file is allocated 8 MiB at a time and is mostly zeros. Tests unpack them with `unpack`.
"""

from __future__ import annotations

import lzma
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
JOURNALD_SAMPLE = ROOT / "sample_logs" / "journald" / "journal.json"
SAMPLE = ROOT / "sample_logs" / "journal_file" / "system.journal.xz"
DATA = Path(__file__).resolve().parent / "data" / "journal"
REMOTE = "/lib/systemd/systemd-journal-remote"
# journalctl prints these, journal-remote makes its own (or refuses them as fields)
_NOT_FIELDS = {"__CURSOR", "__SEQNUM", "__SEQNUM_ID"}


def sample_entries() -> list[dict[str, Any]]:
    """The journald sample's entries (its broken lines and fields without a value left out)."""
    out = []
    for line in JOURNALD_SAMPLE.read_bytes().splitlines():
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            out.append(doc)
    return out


def export_stream(entries: list[dict[str, Any]]) -> bytes:
    out = bytearray()
    for entry in entries:
        for key, value in entry.items():
            if key in _NOT_FIELDS or value is None:
                continue
            data = bytes(value) if isinstance(value, list) else str(value).encode()
            if any(b < 32 and b != 9 for b in data):
                out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
            else:
                out += key.encode() + b"=" + data + b"\n"
        out += b"\n"
    return bytes(out)


def make_journal(entries: list[dict[str, Any]], out: Path) -> Path:
    """Write (or append to) the journal file `out` with systemd-journal-remote."""
    stream = out.with_suffix(".export")
    stream.write_bytes(export_stream(entries))
    try:
        subprocess.run([REMOTE, f"--output={out}", str(stream)], check=True, capture_output=True)
    finally:
        stream.unlink()
    return out


def unpack(fixture: Path, out: Path) -> Path:
    """A committed .journal.xz fixture as a plain journal file at `out`."""
    out.write_bytes(lzma.decompress(fixture.read_bytes()))
    return out


def _pack(journal: Path, target: Path) -> None:
    target.write_bytes(lzma.compress(journal.read_bytes(), preset=9 | lzma.PRESET_EXTREME))


def main() -> None:
    import tempfile

    entries = sample_entries()
    DATA.mkdir(parents=True, exist_ok=True)
    SAMPLE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _pack(make_journal(entries, work / "sample.journal"), SAMPLE)
        grown = make_journal(entries[:10], work / "grown.journal")
        _pack(grown, DATA / "grown-1.journal.xz")  # the first 10 entries
        make_journal(entries[10:20], grown)  # the same file, 10 more entries appended
        _pack(grown, DATA / "grown-2.journal.xz")
        _pack(make_journal(entries[20:], work / "next.journal"), DATA / "next.journal.xz")  # a new file
    print("wrote", SAMPLE, *sorted(DATA.glob("*.xz")))


if __name__ == "__main__":
    if not Path(REMOTE).exists() and shutil.which("systemd-journal-remote") is None:
        raise SystemExit("needs systemd-journal-remote (apt-get install systemd-journal-remote)")
    main()
