"""What ingest promises about every record: its exact bytes, and a time.

Bytes: a record that is not valid UTF-8 is stored with its exact bytes (`raw_b64`), the leaf
hash covers them, and search/export say which records held them. Time: every event gets a
`ts`, and `ts_source` says whether it is the record's own stamp or borrowed.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from pathlib import Path

import duckdb
import pytest

from auditctl.errors import ExitCode
from auditctl.ingest.received import MARK_BYTES, connection_part, encode_record, read_record

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"
BAD = b"\xe9\xff"  # Latin-1 'e acute' and a byte that is never UTF-8


def _line_files() -> list[Path]:
    """Every sample read record by record from lines (not whole JSON/XML documents, not binary)."""
    found = []
    for path in sorted(SAMPLES.rglob("*")):
        if not path.is_file() or path.suffix in (".evtx", ".xml"):
            continue
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        if data.lstrip()[:1] == b"[" or data.startswith(b"{\n") or data.startswith(b"{\r\n"):
            continue  # one JSON document: its records are stored as their compact JSON
        if b"\0" in data:
            continue  # binary records (utmp/wtmp): their bytes are checked in tests/test_parser_utmp.py
        if data.startswith(MARK_BYTES):
            continue  # the receiver's spool: raw is the message a record holds (test_receiver_spool_...)
        if len([ln for ln in data.split(b"\n") if ln.strip()]) < 5:
            continue
        found.append(path)
    return found


def _spoil(line: bytes) -> bytes:
    """The line with undecodable bytes inside it: in the last JSON string, else before its end."""
    if line.rstrip().endswith(b"}"):
        quote = line.rfind(b'"')
        return line[:quote] + BAD + line[quote:]
    return line[:-1] + BAD + line[-1:]


def _stored(db: Path) -> list[dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute("SELECT seq, line, raw, raw_b64, ts, ts_source, action FROM events ORDER BY seq")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def _exact(ev: dict) -> bytes:
    return base64.b64decode(ev["raw_b64"]) if ev["raw_b64"] else ev["raw"].encode()


@pytest.mark.parametrize("sample", _line_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bytes_in_are_bytes_out(cli, db, tmp_path, sample):
    data = gzip.decompress(sample.read_bytes()) if sample.suffix == ".gz" else sample.read_bytes()
    lines = data.split(b"\n")
    spoiled = {i for i, ln in enumerate(lines) if ln.strip()}
    spoiled = set(sorted(spoiled)[1:4])  # three records, not the first (detection reads the head)
    lines = [_spoil(ln) if i in spoiled else ln for i, ln in enumerate(lines)]
    copy = tmp_path / sample.name.removesuffix(".gz")
    copy.write_bytes(b"\n".join(lines))
    result = cli("ingest", "--parser", _parser_of(cli, sample), str(copy))
    assert result.exit_code == 0, result.output
    events = _stored(db)
    assert events
    file_lines = set(copy.read_bytes().split(b"\n"))
    for ev in events:  # a record of several lines (auditd) holds whole lines of the file
        assert all(piece in file_lines for piece in _exact(ev).split(b"\n")), ev
        if ev["raw_b64"]:
            assert BAD in _exact(ev) and _exact(ev).decode("utf-8", "replace") == ev["raw"]
        else:
            assert "\ufffd" not in ev["raw"] or "\ufffd".encode() in copy.read_bytes()
    numbered = {ev["line"]: ev for ev in events if ev["line"] and "\n" not in ev["raw"]}
    for i in spoiled:
        if i + 1 in numbered:  # a single-line record starting at this line
            assert _exact(numbered[i + 1]) == lines[i].rstrip(b"\r"), sample
    assert any(ev["raw_b64"] for ev in events), "no record kept its undecodable bytes"


def test_receiver_spool_records_are_their_messages(cli, db, tmp_path):
    """A spool line of `watch --listen` is not the record: the message inside it is. Every
    record becomes an event whose raw holds the message's exact bytes (not UTF-8 included)."""
    sample = SAMPLES / "syslog" / "received.jsonl"
    conn = connection_part("udp://127.0.0.1:5514", "127.0.0.1", 5000, None, None)
    spoiled = encode_record(b"<13>Mar 14 09:13:00 kiosk7 app[90]: bad " + BAD + b" bytes\nand a line", b"2026-03-14T09:13:00Z",
                            conn)
    copy = tmp_path / "received.jsonl"
    copy.write_bytes(sample.read_bytes() + spoiled)
    assert cli("ingest", str(copy)).exit_code == 0
    messages = [read_record(ln).message.encode("utf-8", "surrogateescape")
                for ln in copy.read_text().splitlines()]
    assert [_exact(ev) for ev in _stored(db)] == messages
    assert _stored(db)[-1]["raw_b64"] is not None


def _parser_of(cli, sample: Path) -> str:
    shown = cli("parsers", "test", str(sample), "--format", "json")
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.stdout)[0]["parser"]


def test_the_leaf_hash_covers_the_exact_bytes(cli, db, tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(b"Mar 14 09:35:01 web1 sshd[411]: Failed password for j\xe9r\xf4me from 203.0.113.9 port 22 ssh2\n"
                    b"Mar 14 09:35:02 web1 sshd[411]: Failed password for root from 203.0.113.9 port 22 ssh2\n")
    assert cli("ingest", str(log)).exit_code == 0
    ev = _stored(db)[0]
    assert _exact(ev) == log.read_bytes().split(b"\n")[0]
    assert cli("verify").exit_code == 0
    con = duckdb.connect(str(db))
    other = base64.b64encode(b"Mar 14 09:35:01 web1 sshd[411]: Failed password for j\xe9r\xf5me").decode()
    con.execute("UPDATE events SET raw_b64 = ? WHERE seq = 1", [other])
    con.close()
    result = cli("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    assert any(p["kind"] == "modified" and p["seq"] == 1 for p in json.loads(result.stdout)["problems"])


def test_search_and_export_name_records_with_undecodable_bytes(cli, db, tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(b"Mar 14 09:35:01 web1 sshd[411]: Failed password for j\xe9r\xf4me from 203.0.113.9 port 22 ssh2\n"
                    b"Mar 14 09:35:02 web1 sshd[411]: Failed password for root from 203.0.113.9 port 22 ssh2\n")
    assert cli("ingest", str(log)).exit_code == 0
    rows = [json.loads(x) for x in cli("search", "--format", "jsonl").stdout.splitlines()]
    assert [r["raw_b64"] is not None for r in rows] == [True, False]
    assert base64.b64decode(rows[0]["raw_b64"]) == log.read_bytes().split(b"\n")[0]
    only = cli("search", "--undecodable", "--format", "jsonl").stdout.splitlines()
    assert len(only) == 1 and json.loads(only[0])["seq"] == rows[0]["seq"]
    table = cli("search", "--format", "table").stdout
    assert "undecodable" in table
    ecs = [json.loads(x) for x in cli("export", "--format", "ecs").stdout.splitlines() if '"event"' in x]
    assert ecs[0]["auditctl"]["raw_b64"] == rows[0]["raw_b64"] and "raw_b64" not in ecs[1].get("auditctl", {})
    ocsf = [json.loads(x) for x in cli("export", "--format", "ocsf").stdout.splitlines()]
    assert ocsf[0]["unmapped"]["raw_b64"] == rows[0]["raw_b64"]


# -- time -------------------------------------------------------------------------------------

def test_every_event_has_a_time_and_says_where_it_came_from(cli, db, tmp_path):
    log = tmp_path / "mixed.log"
    log.write_bytes(b"garbage before any stamp\n"
                    b"Mar 14 09:35:01 web1 sshd[411]: Accepted password for alice from 203.0.113.9 port 22 ssh2\n"
                    b"a line no parser understands\n"
                    b"Mar 14 09:36:01 web1 sshd[411]: Failed password for root from 203.0.113.9 port 22 ssh2\n")
    os.utime(log, (1773480000, 1773480000))  # 2026-03-14
    assert cli("ingest", str(log)).exit_code == 0
    events = _stored(db)
    assert [e["ts_source"] for e in events] == ["next", "record", "previous", "record"]
    assert all(e["ts"] is not None for e in events)
    assert events[0]["ts"] == events[1]["ts"] and events[2]["ts"] == events[1]["ts"]
    found = cli("search", "--since", "2026-03-14T09:35:00Z", "--until", "2026-03-14T09:35:30Z", "--format", "jsonl")
    assert len(found.stdout.splitlines()) == 3  # the unparsed neighbours are inside the window


def test_a_file_without_any_stamp_takes_its_modification_time(cli, db, tmp_path):
    log = tmp_path / "notes.txt"
    log.write_text("first line of nothing known\nsecond line\n")
    os.utime(log, (1773480000, 1773480000))
    assert cli("ingest", str(log)).exit_code == 0
    events = _stored(db)
    assert [e["ts_source"] for e in events] == ["file", "file"]
    assert all(e["ts"].timestamp() == 1773480000 for e in events)


def test_stdin_without_stamps_takes_the_ingest_time(cli, db):
    assert cli("ingest", "-", input=b"nothing a parser knows\n").exit_code == 0
    assert [e["ts_source"] for e in _stored(db)] == ["ingest"]


def test_borrowed_times_carry_across_batches(tmp_path):
    """The filler keeps the last time of one batch for the leading records of the next."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from auditctl.ingest.eventtime import TimeFiller

    t = pa.timestamp("us", tz="UTC")
    stamp = datetime(2026, 3, 14, 9, 35, tzinfo=UTC)
    filler = TimeFiller(datetime(2026, 1, 1, tzinfo=UTC), "file")
    first = filler.fill(pa.table({"ts": pa.array([None, stamp, None], t)}))
    second = filler.fill(pa.table({"ts": pa.array([None, None], t)}))
    assert first.column("ts_source").to_pylist() == ["next", "record", "previous"]
    assert second.column("ts_source").to_pylist() == ["previous", "previous"]
    assert second.column("ts").to_pylist() == [stamp, stamp]


# -- nothing skipped ------------------------------------------------------------------------------

def _corpus_line_files() -> list[Path]:
    from support import CORPUS

    roots = [SAMPLES, *([CORPUS] if CORPUS.is_dir() else [])]
    found = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.suffix in (".evtx", ".xml", ".json", ".golden", ".yaml", ".md") \
                    or "expected" in path.name or path.name.startswith(("LICENSE", "README")):
                continue
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            if b"\x00" in data[:4096] or data.lstrip()[:1] == b"[" or data.startswith(b"{\n"):
                continue
            if data.lstrip()[:1] == b"{" and len(data.strip().split(b"\n")) == 1:
                continue  # one JSON document ({"Records": [...]}): stored record by record as compact JSON
            if data.startswith(MARK_BYTES):
                continue  # the receiver's spool: see test_receiver_spool_records_are_their_messages
            found.append(path)
    return found


def test_every_line_of_every_line_based_file_is_in_some_event(tmp_path):
    """Ingest keeps every non-blank line: each one is the raw record, or part of it, of an event
    (a multi-line auditd event holds several lines; a sudo line may give two events)."""
    from auditctl.config import Config
    from auditctl.ingest.discovery import load_registry
    from auditctl.ingest.ingester import Ingester
    from auditctl.store import Store

    files = _corpus_line_files()
    assert len(files) > 20
    db = tmp_path / "all.duckdb"
    with Store.open(db) as store:
        summary = Ingester(store, load_registry(), Config(db=db)).ingest([str(f) for f in files])
        assert not summary.failed, [f.note for f in summary.failed]
        rows = store.con.execute("SELECT source, raw, raw_b64 FROM events").fetchall()
    pieces: dict[str, set[bytes]] = {}
    for source, raw, exact in rows:
        data = base64.b64decode(exact) if exact else raw.encode()
        pieces.setdefault(source, set()).update(p.strip() for p in data.split(b"\n"))
    for path in files:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        kept = pieces.get(str(path.resolve()), set())
        missing = [ln for ln in data.split(b"\n") if ln.strip() and ln.strip() not in kept]
        assert not missing, f"{path}: {len(missing)} line(s) in no event, e.g. {missing[0][:120]!r}"


def _document_files() -> list[Path]:
    """Samples that are one JSON document (an API page, a delivered CloudTrail file...)."""
    found = []
    for path in sorted(SAMPLES.rglob("*.json*")):
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        if data.lstrip()[:1] in (b"[", b"{") and (data.startswith((b"[", b"{\n")) or len(data.strip().split(b"\n")) == 1):
            found.append(path)
    return found


@pytest.mark.parametrize("sample", _document_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_records_of_a_document_keep_their_exact_text(cli, db, tmp_path, sample):
    """Each record of a JSON document is stored as its own bytes in the file (not re-serialized),
    undecodable bytes included."""
    data = gzip.decompress(sample.read_bytes()) if sample.suffix == ".gz" else sample.read_bytes()
    at = data.find(b'": "', len(data) // 2)  # a string value in a later record
    spoiled = data[:at + 4] + BAD + data[at + 4:] if at > 0 else data
    copy = tmp_path / sample.name.removesuffix(".gz")
    copy.write_bytes(spoiled)
    assert cli("ingest", "--parser", _parser_of(cli, sample), str(copy)).exit_code == 0
    events = _stored(db)
    assert len(events) > 1
    for ev in events:
        assert _exact(ev) in spoiled, ev["raw"][:200]
    if at > 0:
        assert sum(1 for ev in events if ev["raw_b64"]) == 1


@pytest.mark.parametrize(("line", "expected"), [
    ("[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok", "2005-12-04T04:47:44+00:00"),  # Apache error log
    ("2024-03-11T08:11:03.123Z INFO started", "2024-03-11T08:11:03.123000+00:00"),
    ("2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop", "2015-10-18T18:01:47.978000+00:00"),
    ("2024/03/11 08:11:03 [error] 123#0: open() failed", "2024-03-11T08:11:03+00:00"),  # nginx error log
    ('10.0.0.1 - - [11/Mar/2024:08:11:03 +0100] "GET / HTTP/1.1" 200 5', "2024-03-11T07:11:03+00:00"),
    ("- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond[2916]: (root) CMD", "2005-11-09T20:01:01+00:00"),
    # Debian's own logs (this project's /var/log): a colon right after the seconds, two spaces before the time
    ("update-alternatives 2025-06-24 14:36:53: link group pager updated to point to /usr/bin/less",
     "2025-06-24T14:36:53+00:00"),  # /var/log/alternatives.log
    ("Start-Date: 2025-06-24  14:36:25", "2025-06-24T14:36:25+00:00"),  # /var/log/apt/history.log
    ("Log started: 2026-10-16  23:03:57", "2026-10-16T23:03:57+00:00"),  # /var/log/apt/term.log
    ("2024-01-01 10:00:00:123 no such stamp", None),  # digits run on past the seconds: not a stamp
    ("no stamp here", None),
    ("081109 203615 148 INFO dfs.DataNode$PacketResponder", None),  # no full year: not taken
    ("ERROR request 1234 failed; retry at 2024-01-01 00:00:00 by the scheduler" + "." * 40, None),
])
def test_a_line_in_no_known_format_keeps_its_own_stamp(line, expected):
    from datetime import UTC

    from auditctl.stamps import find_stamp

    found = find_stamp(line)
    assert (found.astimezone(UTC).isoformat() if found else None) == expected


def test_unparsed_lines_with_a_stamp_are_placed_at_it(cli, db, tmp_path):
    log = tmp_path / "error_log"
    log.write_text("[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties\n"
                   "a continuation line without a stamp\n"
                   "[Sun Dec 04 04:51:08 2005] [notice] jk2_init() Found child 6725 in scoreboard slot 10\n")
    assert cli("ingest", str(log)).exit_code == 0
    events = _stored(db)
    assert [e["action"] for e in events] == ["unparsed"] * 3
    assert [e["ts_source"] for e in events] == ["record", "previous", "record"]
    assert [e["ts"].isoformat() for e in events] == ["2005-12-04T04:47:44+00:00"] * 2 + ["2005-12-04T04:51:08+00:00"]


def test_apt_history_is_placed_at_its_own_dates_not_the_files_mtime(cli, db, tmp_path):
    """/var/log/apt/history.log as Debian writes it: two spaces between date and time."""
    log = tmp_path / "history.log"
    log.write_text("\n"
                   "Start-Date: 2025-06-24  14:36:25\n"
                   "Commandline: apt-get -qqy upgrade\n"
                   "Upgrade: libsystemd0:amd64 (252.36-1~deb12u1, 252.38-1~deb12u1)\n"
                   "End-Date: 2025-06-24  14:36:27\n")
    assert cli("ingest", str(log)).exit_code == 0
    events = _stored(db)
    assert [e["ts_source"] for e in events] == ["record", "previous", "previous", "record"]
    assert [e["ts"].isoformat() for e in events] == ["2025-06-24T14:36:25+00:00"] * 3 + ["2025-06-24T14:36:27+00:00"]


def test_stats_records_add_up_to_the_lines_and_evtx_records_of_the_input(cli, tmp_path):
    """`stats --records` accounts for every input record: the non-blank lines of each line-read
    file (an auditd event holds several, one per audit record; a multi-line message one per line)
    and each record of an .evtx file, counted here without auditctl."""
    import evtx

    files = _corpus_line_files()
    exports = sorted(SAMPLES.rglob("*.evtx"))
    db = tmp_path / "records.duckdb"
    assert cli("--db", str(db), "ingest", *map(str, files), *map(str, exports)).exit_code == 0
    expected = {}
    for path in files:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        expected[str(path.resolve())] = sum(1 for ln in data.split(b"\n") if ln.strip())
    for path in exports:
        expected[str(path.resolve())] = sum(1 for _ in evtx.PyEvtxParser(str(path)).records_json())
    result = cli("--db", str(db), "stats", "--by", "source", "--records", "-f", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["source"]: r["records"] for r in rows} == expected
    coalesced = [r for r in rows if r["records"] > r["events"]]
    assert any("audit" in r["source"] for r in coalesced)  # the figure events alone cannot give


def test_only_the_line_end_is_taken_from_a_line(cli, db, tmp_path):
    """`\\n` or `\\r\\n` ends a line; a carriage return before it is the record's own byte (a log
    written through two CRLF conversions ends its lines with `\\r\\r\\n`)."""
    log = tmp_path / "app.log"
    log.write_bytes(b"2024-03-11T08:11:03Z one\r\n2024-03-11T08:11:04Z two\r\r\n2024-03-11T08:11:05Z three\n")
    assert cli("ingest", str(log)).exit_code == 0
    assert [e["raw"] for e in _stored(db)] == ["2024-03-11T08:11:03Z one", "2024-03-11T08:11:04Z two\r",
                                              "2024-03-11T08:11:05Z three"]
