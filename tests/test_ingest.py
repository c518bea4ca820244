"""Ingest: idempotency, growth, rotation, truncation, bad files, stdin, parallel == serial."""

from __future__ import annotations

import gzip
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from auditctl.config import Config
from auditctl.ingest.ingester import Ingester, expand_paths, rotation_order
from auditctl.store import Store
from support import ROOT, SAMPLES, query, registry

sys.path.insert(0, str(ROOT / "bench"))
from generate import lines as generated_lines
from generate_cloudtrail import lines as cloudtrail_lines

LINE = "Mar  1 10:00:{:02d} web1 sshd[7]: Failed password for root from 203.0.113.{} port 22 ssh2\n"


def ingest(db: Path, *paths, engine: str = "auto", **cfg) -> object:
    config = Config(db=db, **cfg)
    files, missing = expand_paths([str(p) for p in paths])
    assert not missing
    with Store.open(db) as store:
        return Ingester(store, registry(), config, engine=engine).ingest(files)


def rows(db: Path, sql: str = "SELECT seq, line, raw FROM events ORDER BY seq") -> list[tuple]:
    return query(db, sql)


def write_lines(path: Path, start: int, count: int, mode: str = "w") -> None:
    with path.open(mode) as f:
        for i in range(start, start + count):
            f.write(LINE.format(i % 60, i % 250))


def test_ingesting_the_same_file_twice_adds_nothing(tmp_path, db):
    log = tmp_path / "auth.log"
    write_lines(log, 0, 10)
    first = ingest(db, log)
    second = ingest(db, log)
    assert first.events == 10 and second.events == 0
    assert second.files[0].status == "unchanged"
    assert [r[0] for r in rows(db)] == list(range(1, 11))


def test_a_grown_file_adds_only_the_new_lines(tmp_path, db):
    log = tmp_path / "auth.log"
    write_lines(log, 0, 5)
    ingest(db, log)
    write_lines(log, 5, 3, mode="a")
    result = ingest(db, log)
    assert result.events == 3
    stored = rows(db)
    assert [r[0] for r in stored] == list(range(1, 9))
    assert [r[1] for r in stored] == list(range(1, 9))  # line numbers continue
    assert len({r[2] for r in stored}) == 8


def test_rotation_by_rename_then_compression_adds_only_unseen_lines(tmp_path, db):
    log = tmp_path / "auth.log"
    write_lines(log, 0, 100)
    ingest(db, log)
    write_lines(log, 100, 5, mode="a")  # written after the last ingest, before rotation
    rotated = tmp_path / "auth.log.1"
    log.rename(rotated)
    write_lines(log, 200, 4)  # the new file
    result = ingest(db, tmp_path)
    assert result.events == 9
    by_file = {Path(f.path).name: f.events for f in result.files}
    assert by_file == {"auth.log.1": 5, "auth.log": 4}
    # later the rotated file is compressed: nothing new in it
    with rotated.open("rb") as src, gzip.open(tmp_path / "auth.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    rotated.unlink()
    again = ingest(db, tmp_path)
    assert again.events == 0
    assert len(rows(db)) == 109


def test_a_truncated_file_is_read_from_the_start(tmp_path, db):
    log = tmp_path / "auth.log"
    write_lines(log, 0, 50)
    ingest(db, log)
    write_lines(log, 0, 2)  # copytruncate-like: same first line, shorter file
    result = ingest(db, log)
    assert result.events == 2
    assert "truncated" in result.files[0].note
    assert len(rows(db)) == 52


def test_one_bad_file_is_reported_and_the_others_are_ingested(tmp_path, db):
    good = tmp_path / "a-good.log"
    write_lines(good, 0, 3)
    truncated = tmp_path / "b-truncated.log.gz"
    truncated.write_bytes(gzip.compress(b"".join(LINE.format(i, i).encode() for i in range(2000)))[:300])
    junk = tmp_path / "c-junk.bin"
    junk.write_bytes(bytes(range(256)) * 50)
    result = ingest(db, good, truncated, junk)
    status = {Path(f.path).name: f.status for f in result.files}
    assert status == {"a-good.log": "ingested", "b-truncated.log.gz": "failed", "c-junk.bin": "failed"}
    notes = {Path(f.path).name: f.note for f in result.failed}
    assert "truncated" in notes["b-truncated.log.gz"] and "nothing from this file was stored" in notes["b-truncated.log.gz"]
    assert "binary" in notes["c-junk.bin"]
    assert len(rows(db)) == 3  # nothing half-written from the truncated file
    sources = rows(db, "SELECT count(*) FROM files")
    assert sources == [(1,)]


def test_unknown_text_format_is_kept_as_unparsed(tmp_path, db):
    notes = tmp_path / "notes.txt"
    notes.write_text("just some words\nand more words\n")
    result = ingest(db, notes)
    assert result.files[0].parser == "unknown" and result.unparsed == 2
    assert rows(db, "SELECT category, action, attrs->>'reason' FROM events") == [
        ("other", "unparsed", "no parser recognized this file's format")] * 2


def test_seq_is_gap_free_across_files_and_failures(tmp_path, db):
    a = tmp_path / "a.log"
    write_lines(a, 0, 4)
    bad = tmp_path / "b.log.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    c = tmp_path / "c.log"
    write_lines(c, 10, 3)
    ingest(db, a, bad, c)
    assert [r[0] for r in rows(db)] == list(range(1, 8))


def test_expand_paths_orders_rotations_oldest_first_and_reports_missing(tmp_path):
    for name in ("auth.log", "auth.log.1", "auth.log.2.gz", "auth.log.10.gz"):
        (tmp_path / name).write_text("x\n")
    files, missing = expand_paths([str(tmp_path), str(tmp_path / "nope*.log")])
    assert [Path(f).name for f in files] == ["auth.log.10.gz", "auth.log.2.gz", "auth.log.1", "auth.log"]
    assert missing == [str(tmp_path / "nope*.log")]
    assert rotation_order(Path("/x/secure-20240101")) < rotation_order(Path("/x/secure"))


def test_glob_arguments(tmp_path):
    (tmp_path / "a.log").write_text("x\n")
    (tmp_path / "b.txt").write_text("x\n")
    files, _ = expand_paths([str(tmp_path / "*.log")])
    assert [Path(f).name for f in files] == ["a.log"]


def test_parallel_parse_stores_the_same_events_in_the_same_order(tmp_path, monkeypatch):
    import auditctl.ingest.ingester as ingest_module
    import auditctl.ingest.parallel as parallel

    log = tmp_path / "big.log"
    log.write_text("\n".join(generated_lines(6000, seed=7)) + "\n")
    serial_db, parallel_db = tmp_path / "serial.duckdb", tmp_path / "parallel.duckdb"
    ingest(serial_db, log, workers=1, engine="python")  # the plugin's two paths (auth.log has a bulk path)
    monkeypatch.setattr(ingest_module, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 64 * 1024)
    result = ingest(parallel_db, log, workers=2, engine="python")
    assert result.events == 6000  # one line, one event ("message repeated" is one summary)
    cols = "seq, ts, line, host, app, category, action, outcome, actor, target, role, src_ip, message, raw, attrs"
    assert rows(serial_db, f"SELECT {cols} FROM events ORDER BY seq") == rows(parallel_db, f"SELECT {cols} FROM events ORDER BY seq")
    reg = "SELECT \"offset\", next_line, events FROM files"
    assert rows(serial_db, reg) == rows(parallel_db, reg)


@pytest.mark.slow  # 130,000 lines ingested twice: 6-11 s
def test_serial_ingest_inserts_small_batches_with_the_same_rows_and_file_size(tmp_path, monkeypatch):
    """Events become Arrow and are inserted at most ARROW_BATCH_BYTES of raw at a time (wide
    records held 1 GB as objects); the store gets the same rows and is no larger (DuckDB
    writing with one thread fills row groups across inserts)."""
    import auditctl.ingest.batch
    import auditctl.ingest.ingester as ingest_module

    log = tmp_path / "big.log"
    log.write_text("\n".join(generated_lines(130_000, seed=3)) + "\n")
    ingest(tmp_path / "default.duckdb", log, workers=1, engine="python")  # the plugin's serial path
    calls = []
    monkeypatch.setattr(ingest_module, "ARROW_BATCH_BYTES", 256 * 1024)
    monkeypatch.setattr(ingest_module, "events_to_arrow", lambda b: calls.append(len(b)) or auditctl.ingest.batch.events_to_arrow(b))
    ingest(tmp_path / "small.duckdb", log, workers=1, engine="python")
    assert len(calls) > 40 and max(calls) < 5000
    cols = "seq, ts, line, host, app, category, action, outcome, actor, target, src_ip, message, raw, attrs"
    assert rows(tmp_path / "default.duckdb", f"SELECT {cols} FROM events ORDER BY seq") == \
        rows(tmp_path / "small.duckdb", f"SELECT {cols} FROM events ORDER BY seq")
    sizes = [(tmp_path / name).stat().st_size for name in ("default.duckdb", "small.duckdb")]
    assert sizes[1] <= sizes[0] * 1.05


def _cloudtrail_file(path: Path, shape: str) -> None:
    records = list(cloudtrail_lines(1500, seed=11))
    path.write_text("\n".join(records) + "\n" if shape == "lines" else '{"Records": [' + ",\n".join(records) + "]}\n")


def _repeated_sample(sample: str) -> Callable[[Path, str], None]:
    """JSON lines: the sample's lines 8 times over; a document: the sample as it is."""
    def write(path: Path, shape: str) -> None:
        text = (SAMPLES / sample).read_text()
        path.write_text(text.rstrip("\n") + "\n" if shape == "document" else "".join([text.rstrip("\n") + "\n"] * 8))
    return write


@pytest.mark.parametrize("parser, shape, make", [
    ("cloudtrail", "lines", _cloudtrail_file),
    ("cloudtrail", "document", _cloudtrail_file),
    ("okta", "lines", _repeated_sample("okta/system_log.jsonl")),
    ("okta", "document", _repeated_sample("okta/logs_api_page.json")),
    ("gcp_audit", "lines", _repeated_sample("gcp_audit/cloudaudit_sink.jsonl")),
    ("gcp_audit", "document", _repeated_sample("gcp_audit/gcloud_logging_read.json")),
    ("github_audit", "lines", _repeated_sample("github_audit/audit_stream.jsonl")),
    ("github_audit", "document", _repeated_sample("github_audit/enterprise_api_page.json")),
    ("azure", "lines", _repeated_sample("azure/entra_PT1H.json")),
    ("azure", "document", _repeated_sample("azure/activity_eventhub.json")),
])
def test_json_lines_are_parsed_in_parallel_and_documents_are_not(tmp_path, monkeypatch, parser, shape, make):
    """Cloud audit formats are split only when the file is one record a line, with the serial
    result; a document ({"Records": [...]}, an API page's array) must be read whole."""
    import auditctl.ingest.ingester as ingest_module
    import auditctl.ingest.parallel as parallel

    log = tmp_path / "audit.json"
    make(log, shape)
    serial_db, parallel_db = tmp_path / "serial.duckdb", tmp_path / "parallel.duckdb"
    serial = ingest(serial_db, log, workers=1)
    monkeypatch.setattr(ingest_module, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(parallel, "FIRST_CHUNK_BYTES", 4096)
    chunks: list = []
    monkeypatch.setattr(ingest_module, "plan_chunks", lambda *a: chunks.extend(parallel.plan_chunks(*a)) or chunks)
    result = ingest(parallel_db, log, workers=2)
    assert result.per_parser == serial.per_parser == {parser: serial.events} and result.unparsed == serial.unparsed
    assert (len(chunks) > 2) == (shape == "lines")
    cols = "seq, ts, line, origin, host, app, category, action, outcome, actor, target, role, resource, src_ip, message, raw, attrs"
    assert rows(serial_db, f"SELECT {cols} FROM events ORDER BY seq") == rows(parallel_db, f"SELECT {cols} FROM events ORDER BY seq")


def test_all_sample_logs_ingest_with_their_parsers(db):
    result = ingest(db, SAMPLES)
    assert not result.failed, [f.note for f in result.failed]
    for f in result.files:
        assert f.parser == Path(f.path).relative_to(SAMPLES).parts[0], f.path
    assert result.events == rows(db, "SELECT count(*) FROM events")[0][0]


def test_file_registry_records_hash_and_seq_range(tmp_path, db):
    log = tmp_path / "auth.log"
    write_lines(log, 0, 7)
    ingest(db, log)
    (path, sha, first, last, events), = rows(db, "SELECT path, sha256, first_seq, last_seq, events FROM files")
    import hashlib
    assert path == str(log.resolve()) and sha == hashlib.sha256(log.read_bytes()).hexdigest()
    assert (first, last, events) == (1, 7, 7)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_is_reported(tmp_path, db):
    log = tmp_path / "secret.log"
    write_lines(log, 0, 1)
    log.chmod(0)
    result = ingest(db, log)
    assert result.failed and "permission denied" in result.failed[0].note


def test_a_message_found_in_raw_is_stored_once_and_read_back_exactly(tmp_path, db):
    log = tmp_path / "mixed.log"
    log.write_text("Mar  1 00:00:01 h sshd[1]: Accepted password for ünïcode from 10.0.0.1 port 22 ssh2\n"
                   "Mar  1 00:00:02 h sshd[2]: message repeated 2 times: [ Failed password for root from "
                   "10.0.0.2 port 22 ssh2]\n", encoding="utf-8")
    files = [log, *sorted(p for p in SAMPLES.rglob("*") if p.is_file())]
    for path in files:
        ingest(db, path)
    compact = rows(db, "SELECT count(*) FROM events WHERE message IS NULL AND message_at IS NOT NULL")[0][0]
    assert compact > 100
    with Store.open(db, read_only=True) as store:
        read_back = store.run_query("SELECT seq, message FROM hot_events ORDER BY seq", [])
    expected = [ev.message for path in files for ev in _parse(path)]
    assert [r["message"] for r in read_back] == expected
    assert read_back[0]["message"] == "Accepted password for ünïcode from 10.0.0.1 port 22 ssh2"


def _parse(path: Path) -> list:
    from auditctl.ingest.parsing import read_events

    return list(read_events(path, registry()))
