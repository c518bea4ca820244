"""The ingest registry proves a file's identity against its bytes (issue 15, item 1).

A file continues a registry entry only when its first `offset` decompressed bytes hash to the
entry's prefix_sha256: two EVTX exports sharing their 4 KiB header are two files, two empty
files are not one, and every rotation the ingest guide lists is still recognized.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
import zlib
from pathlib import Path

import duckdb
import pytest

from auditctl.config import Config
from auditctl.ingest import identity
from auditctl.ingest.identity import LiveProofs
from auditctl.ingest.ingester import Ingester, expand_paths
from auditctl.store import Store
from support import CORPUS, ROOT, query, registry

LINE = "Mar  1 10:{:02d}:{:02d} web1 sshd[7]: Failed password for root from 203.0.113.{} port 22 ssh2\n"
# ../shared/corpus beside the checkout, or beside a folder of worktrees
CORPUS = next((p / "shared" / "corpus" for p in ROOT.parents if (p / "shared" / "corpus").is_dir()), CORPUS)
TACTICS = CORPUS / "yamato-hayabusa-sample-evtx" / "EVTX-to-MITRE-Attack"
# two real exports whose first 4 KiB (the EVTX file header) are byte for byte the same
EVTX_PAIR = (
    TACTICS / "TA0006-Credential Access" / "T1110.xxx-Brut force" / "ID4625-OpenSSH brutforce with non existing users.evtx",
    TACTICS / "TA0004-Privilege Escalation" / "T1546-Image File Execution Options Injection"
    / "ID4656-Failed sethc replacement by CMD.evtx",
)


def ingest(db: Path, *paths, follow: bool = False, live: LiveProofs | None = None):
    files, missing = expand_paths([str(p) for p in paths])
    assert not missing
    with Store.open(db) as store:
        return Ingester(store, registry(), Config(db=db), follow=follow, live=live).ingest(files)


def write_lines(path: Path, start: int, count: int, mode: str = "w") -> None:
    with path.open(mode) as f:
        for i in range(start, start + count):
            f.write(LINE.format(i // 60 % 60, i % 60, i % 250))


def raws(db: Path) -> list[str]:
    return [r[0] for r in query(db, "SELECT raw FROM events ORDER BY seq")]


def by_name(summary) -> dict[str, tuple[str, int]]:
    return {Path(f.path).name: (f.status, f.events) for f in summary.files}


# -- EVTX -------------------------------------------------------------------------------------

@pytest.mark.skipif(not EVTX_PAIR[0].exists(), reason="needs ../shared/corpus (hayabusa sample evtx)")
def test_two_evtx_exports_sharing_their_4_kib_header_are_both_stored_in_full(tmp_path, db):
    evtx = pytest.importorskip("evtx")
    a, b = (shutil.copy(p, tmp_path / f"{n}.evtx") for n, p in zip("ab", EVTX_PAIR, strict=True))
    assert Path(a).read_bytes()[:4096] == Path(b).read_bytes()[:4096]
    assert Path(a).read_bytes() != Path(b).read_bytes()
    records = {Path(p).name: sum(1 for _ in evtx.PyEvtxParser(str(p)).records()) for p in (a, b)}
    assert min(records.values()) > 0

    first = ingest(db, a)
    second = ingest(db, b)

    assert by_name(first) == {"a.evtx": ("ingested", records["a.evtx"])}
    assert by_name(second) == {"b.evtx": ("ingested", records["b.evtx"])}, second.files[0].note
    stored = dict(query(db, "SELECT parse_filename(source), count(*) FROM events GROUP BY ALL"))
    assert stored == records
    again = ingest(db, tmp_path)
    assert {f.status for f in again.files} == {"unchanged"} and again.events == 0


def _live_log_earlier(data: bytes, chunks: int) -> bytes:
    """The same preallocated live .evtx log when only its first `chunks` 64 KiB chunks were
    written: the file header's last chunk, next record id, chunk count and CRC32 set to match."""
    header = bytearray(data[:4096])
    last_chunk = data[4096 + (chunks - 1) * 65536: 4096 + chunks * 65536]
    last_record = struct.unpack_from("<Q", last_chunk, 16)[0]
    struct.pack_into("<QQ", header, 16, chunks - 1, last_record + 1)
    struct.pack_into("<H", header, 42, chunks)
    struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120])))
    body = data[4096: 4096 + chunks * 65536]
    return bytes(header) + body + bytes(len(data) - 4096 - len(body))


@pytest.mark.skipif(not (CORPUS / "omerbenamram-evtx").exists(), reason="needs ../shared/corpus (omerbenamram evtx)")
def test_a_live_evtx_log_that_grew_adds_only_the_records_after_the_last_stored_event_record_id(tmp_path, db):
    pytest.importorskip("evtx")
    data = (CORPUS / "omerbenamram-evtx" / "samples" / "Security_with_size_t.evtx").read_bytes()
    log = tmp_path / "Security.evtx"
    log.write_bytes(_live_log_earlier(data, 4))  # records 1..425 of 636
    assert ingest(db, log).events == 425
    with log.open("r+b") as f:  # the log grew in place: a new header, two more chunks
        f.write(data)
    grown = ingest(db, log)
    assert by_name(grown) == {"Security.evtx": ("ingested", 636 - 425)}, grown.files[0].note
    assert "425 records up to it were skipped" in grown.files[0].note
    ids = [r[0] for r in query(db, "SELECT CAST(attrs->>'event_record_id' AS INT) FROM events ORDER BY seq")]
    assert ids == list(range(1, 637))
    assert by_name(ingest(db, log)) == {"Security.evtx": ("unchanged", 0)}
    # another log at the same path, without record 636: read in full, and the note says why
    other = (CORPUS / "omerbenamram-evtx" / "samples" / "post-Security.evtx").read_bytes()
    log.write_bytes(other)
    replaced = ingest(db, log)
    assert by_name(replaced) == {"Security.evtx": ("ingested", 126)}
    assert "without the record 636" in replaced.files[0].note


# -- empty files ------------------------------------------------------------------------------

def test_two_distinct_empty_files_are_empty_not_unchanged_and_read_from_the_start_once_grown(tmp_path, db):
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.touch()
    assert by_name(ingest(db, a)) == {"a.log": ("empty", 0)}
    b.touch()
    second = ingest(db, b)
    assert by_name(second) == {"b.log": ("empty", 0)}
    assert "empty" in second.files[0].note
    assert query(db, "SELECT count(*) FROM files") == [(0,)]  # nothing to remember
    write_lines(b, 0, 3)
    grown = ingest(db, a, b)
    assert by_name(grown) == {"a.log": ("empty", 0), "b.log": ("ingested", 3)}
    assert [r[0] for r in query(db, "SELECT line FROM events ORDER BY seq")] == [1, 2, 3]


def test_an_empty_gzip_is_empty(tmp_path, db):
    gz = tmp_path / "old.log.gz"
    with gzip.open(gz, "wb"):
        pass
    assert by_name(ingest(db, gz)) == {"old.log.gz": ("empty", 0)}


# -- unchanged, edited, truncated -------------------------------------------------------------

def test_an_unchanged_file_is_unchanged_with_proof(tmp_path, db):
    log = tmp_path / "auth.log"
    write_lines(log, 0, 20)
    ingest(db, log)
    again = ingest(db, log)
    assert by_name(again) == {"auth.log": ("unchanged", 0)}
    assert f"first {log.stat().st_size:,} bytes match the SHA-256" in again.files[0].note
    (prefix,), = query(db, "SELECT prefix_sha256 FROM files")
    assert prefix == hashlib.sha256(log.read_bytes()).hexdigest()


def test_a_file_edited_in_place_in_its_prefix_is_read_again_from_the_start_and_says_why(tmp_path, db):
    log = tmp_path / "auth.log"
    write_lines(log, 0, 100)  # > 4 KiB: the edit is past the head, only the prefix hash sees it
    ingest(db, log)
    data = bytearray(log.read_bytes())
    at = data.index(b"203.0.113.90 ")
    assert at > 4096
    data[at:at + 12] = b"198.51.100.9"
    log.write_bytes(bytes(data) + LINE.format(1, 40, 100).encode())
    result = ingest(db, log)
    assert by_name(result) == {"auth.log": ("ingested", 101)}
    assert "edited in place" in result.files[0].note and "100 events stored from them before are kept" in result.files[0].note
    assert sum("198.51.100.9" in r for r in raws(db)) == 1
    assert len(raws(db)) == 201


def test_a_truncated_file_is_read_from_the_start(tmp_path, db):
    log = tmp_path / "auth.log"
    write_lines(log, 0, 50)
    ingest(db, log)
    write_lines(log, 0, 2)
    result = ingest(db, log)
    assert by_name(result) == {"auth.log": ("ingested", 2)} and "truncated" in result.files[0].note
    assert "new file" not in result.files[0].note  # the same inode, emptied and written again


def test_a_new_file_at_a_rotated_path_is_not_called_truncated(tmp_path, db):
    """auth.log renamed to auth.log.1 and a new, shorter auth.log created: the new file has
    another inode, so it is a new file at a known path, not the old one truncated."""
    log = tmp_path / "auth.log"
    write_lines(log, 0, 50)
    ingest(db, log)
    log.rename(tmp_path / "auth.log.1")
    write_lines(log, 100, 2)
    note = ingest(db, log).files[0].note
    assert "truncated" not in note and "a new file at this path" in note, note
    write_lines(log, 200, 60)  # longer than the entry's offset, other head: also a new file
    log.rename(tmp_path / "auth.log.2")
    write_lines(log, 300, 70)
    note = ingest(db, log).files[0].note
    assert "truncated" not in note and "a new file at this path" in note, note


# -- rotation (the ingest guide's table)---------------------------------------------------------

def test_grown_renamed_then_compressed_and_a_new_file_at_the_old_path(tmp_path, db):
    """auth.log -> auth.log.1 -> auth.log.2.gz, each step with lines written since."""
    log, one, two = tmp_path / "auth.log", tmp_path / "auth.log.1", tmp_path / "auth.log.2.gz"
    write_lines(log, 0, 100)
    assert ingest(db, tmp_path).events == 100
    write_lines(log, 100, 10, mode="a")  # grown
    assert by_name(ingest(db, tmp_path)) == {"auth.log": ("ingested", 10)}
    write_lines(log, 110, 5, mode="a")
    log.rename(one)  # renamed and grown
    write_lines(log, 200, 7)  # a new file at the old path
    result = ingest(db, tmp_path)
    assert by_name(result) == {"auth.log.1": ("ingested", 5), "auth.log": ("ingested", 7)}
    assert "seen before as" in next(f.note for f in result.files if f.path.endswith(".1"))
    with one.open("rb") as src, gzip.open(two, "wb") as dst:  # rotated again, then gzip'd
        shutil.copyfileobj(src, dst)
    one.unlink()
    write_lines(log, 207, 3, mode="a")
    log.rename(one)
    write_lines(log, 300, 2)
    result = ingest(db, tmp_path)
    assert by_name(result) == {"auth.log.2.gz": ("unchanged", 0), "auth.log.1": ("ingested", 3),
                               "auth.log": ("ingested", 2)}
    assert len(raws(db)) == 100 + 10 + 5 + 7 + 3 + 2 == len(set(raws(db)))


def test_renamed_without_growth_is_unchanged_under_its_new_name(tmp_path, db):
    log = tmp_path / "auth.log"
    write_lines(log, 0, 60)
    ingest(db, log)
    log.rename(tmp_path / "auth.log.1")
    result = ingest(db, tmp_path)
    assert by_name(result) == {"auth.log.1": ("unchanged", 0)}
    assert "seen before as" in result.files[0].note and str(log) in result.files[0].note


def test_copytruncate_then_new_writes(tmp_path, db):
    log = tmp_path / "auth.log"
    write_lines(log, 0, 60)
    ingest(db, log)
    write_lines(log, 60, 4, mode="a")
    shutil.copy(log, tmp_path / "auth.log.1")  # copytruncate: copy, then empty the original
    with log.open("w"):
        pass
    write_lines(log, 500, 3, mode="a")
    result = ingest(db, tmp_path)
    assert by_name(result) == {"auth.log.1": ("ingested", 4), "auth.log": ("ingested", 3)}
    assert len(raws(db)) == 67 == len(set(raws(db)))


def test_a_copy_of_an_ingested_file_is_unchanged_and_a_different_file_with_the_same_head_is_not(tmp_path, db):
    log = tmp_path / "auth.log"
    write_lines(log, 0, 100)
    ingest(db, log)
    shutil.copy(log, tmp_path / "copy.log")
    same_head = tmp_path / "other.log"
    same_head.write_bytes(log.read_bytes()[:4096] + b"Mar  2 00:00:00 web2 sshd[8]: Accepted password for bob\n")
    result = ingest(db, tmp_path / "copy.log", same_head)
    lines = same_head.read_bytes().count(b"\n")
    assert by_name(result) == {"copy.log": ("unchanged", 0), "other.log": ("ingested", lines)}


# -- registries written before schema 8 -------------------------------------------------------

def _as_schema_7(db: Path) -> None:
    con = duckdb.connect(str(db))
    try:
        con.execute("ALTER TABLE files DROP COLUMN prefix_sha256")
        con.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    finally:
        con.close()


def test_an_old_registry_entry_is_proven_by_its_whole_file_hash(tmp_path, db):
    log = tmp_path / "auth.log"
    write_lines(log, 0, 30)
    ingest(db, log)
    _as_schema_7(db)
    assert by_name(ingest(db, log)) == {"auth.log": ("unchanged", 0)}
    write_lines(log, 30, 2, mode="a")
    grown = ingest(db, log)
    assert by_name(grown) == {"auth.log": ("ingested", 2)} and "older auditctl" in grown.files[0].note
    (prefix,), = query(db, "SELECT prefix_sha256 FROM files")
    assert prefix == hashlib.sha256(log.read_bytes()).hexdigest()


def test_an_old_registry_entry_that_cannot_prove_its_offset_is_read_again_and_says_so(tmp_path, db):
    log = tmp_path / "auth.log"
    write_lines(log, 0, 30)
    ingest(db, log)
    _as_schema_7(db)
    # as a schema 7 `watch` left it: the whole-file hash of an earlier, shorter state
    con = duckdb.connect(str(db))
    con.execute("UPDATE files SET size = 89, sha256 = ?", [hashlib.sha256(log.read_bytes()[:89]).hexdigest()])
    con.close()
    result = ingest(db, log)
    assert by_name(result) == {"auth.log": ("ingested", 30)}
    assert "may now be stored twice" in result.files[0].note


# -- follow mode (watch) ----------------------------------------------------------------------

def test_follow_mode_proves_a_live_file_without_rehashing_its_prefix(tmp_path, db, monkeypatch):
    log = tmp_path / "auth.log"
    write_lines(log, 0, 2000)  # ~175 KB
    live = LiveProofs()
    assert ingest(db, log, follow=True, live=live).events == 2000
    read: list[int] = []
    real_open = identity.open_binary

    def counting_open(path):
        stream = real_open(path)
        real_read = stream.read

        def read_and_count(n=-1):
            data = real_read(n)
            read.append(len(data))
            return data
        stream.read = read_and_count
        return stream
    monkeypatch.setattr(identity, "open_binary", counting_open)
    for cycle in range(3):
        write_lines(log, 2000 + cycle, 1, mode="a")
        with log.open("a") as f:
            f.write("Mar  1 11:00:00 web1 sshd[7]: a line still being writ")  # no newline yet
        result = ingest(db, log, follow=True, live=live)
        assert by_name(result) == {"auth.log": ("ingested", 1)}, result.files[0].note
        assert "this watch read" in result.files[0].note
        data = log.read_bytes()
        log.write_bytes(data[:data.rindex(b"\n") + 1])  # the writer finishes by rewriting it away
    assert sum(read) < 10_000  # the new lines only, never the 175 KB prefix
    (offset, prefix, sha, size), = query(db, 'SELECT "offset", prefix_sha256, sha256, size FROM files')
    data = log.read_bytes()
    assert offset == len(data) and prefix == hashlib.sha256(data).hexdigest()
    assert (sha, size) == (prefix, offset)  # verify --sources checks what was read


def test_follow_mode_reads_a_replaced_file_from_the_start(tmp_path, db):
    log = tmp_path / "auth.log"
    write_lines(log, 0, 100)
    live = LiveProofs()
    ingest(db, log, follow=True, live=live)
    data = bytearray(log.read_bytes())
    data[-30:-20] = b"X" * 10  # in the last 4 KiB before the offset
    log.write_bytes(bytes(data) + LINE.format(5, 5, 5).encode())
    result = ingest(db, log, follow=True, live=live)
    assert by_name(result) == {"auth.log": ("ingested", 101)} and "edited in place" in result.files[0].note
