"""utmp/wtmp/btmp: binary login records, their exact bytes, resuming an append-only file, and
lastlog skipped as not a log. Records are built with `struct` (tests/utmp_records.py); where
util-linux's `utmpdump` and `last` are installed, they decode the same files for comparison."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from auditctl.errors import ExitCode
from auditctl.ingest.parsing import choose_parser, read_events
from auditctl.sources import Source, read_head
from support import SAMPLES, registry
from utmp_records import T0, btmp_sample, faillog_entry, lastlog_sample, record, sessions_sample, v4, v6, wtmp_sample

WTMP = SAMPLES / "utmp" / "wtmp"
BTMP = SAMPLES / "utmp" / "btmp"
PARTIAL = record(7, 9001, "pts/9", "ts/9", "mallory", "192.0.2.99", T0 + 9000, 0, v4("192.0.2.99"))[:100]


def _events(path: Path, forced: str | None = None, **options):
    kwargs = {"options": options} if options else {}
    return read_events(path, registry(), forced, **kwargs)


def _stored(db: Path) -> list[dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute("SELECT seq, action, outcome, raw, raw_b64, origin, line FROM events ORDER BY seq")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def _stored_bytes(db: Path) -> bytes:
    return b"".join(base64.b64decode(e["raw_b64"]) for e in _stored(db))


# -- decoding ------------------------------------------------------------------------------------

def test_every_ut_type_maps_to_the_vocabulary():
    got = [(e.original_action, e.category, e.action, e.outcome, e.actor) for e in _events(WTMP)]
    assert got == [
        ("BOOT_TIME", "system", "service_start", "success", None),
        ("RUN_LVL", "system", "log", "success", None),
        ("INIT_PROCESS", "system", "process_start", "success", None),
        ("LOGIN_PROCESS", "system", "log", "unknown", None),
        ("USER_PROCESS", "authentication", "login", "success", "root"),
        ("USER_PROCESS", "authentication", "login", "success", "alice"),
        ("USER_PROCESS", "authentication", "login", "success", "bob"),
        ("USER_PROCESS", "authentication", "login", "success", "carol"),
        ("USER_PROCESS", "authentication", "login", "success", "dave"),
        ("DEAD_PROCESS", "authentication", "logout", "success", None),
        ("DEAD_PROCESS", "authentication", "logout", "success", None),
        ("NEW_TIME", "system", "log", "success", None),
        ("OLD_TIME", "system", "log", "success", None),
        ("ACCOUNTING", "system", "log", "unknown", None),
        ("EMPTY", "system", "log", "unknown", None),
        ("RUN_LVL", "system", "service_stop", "success", None),
    ]


def test_addresses_hosts_sessions_and_times():
    evs = {e.actor: e for e in _events(WTMP) if e.action == "login"}
    assert evs["alice"].src_ip == "192.0.2.10" and evs["alice"].session == "2210" and evs["alice"].pid == 2210
    assert evs["bob"].src_ip == "2001:db8:4006:812::200e"
    # a host name: the address from ut_addr_v6 is src_ip, the name stays in attrs.from
    assert evs["carol"].src_ip == "198.51.100.4" and evs["carol"].attrs["from"] == "bastion.example.com"
    assert evs["dave"].src_ip == "203.0.113.9"  # ::ffff:203.0.113.9, written as IPv4
    assert evs["root"].src_ip is None and "from" not in evs["root"].attrs and evs["root"].attrs["tty"] == "tty1"
    assert evs["alice"].ts.isoformat() == "2024-03-12T09:00:00.654321+00:00"
    assert all(e.line is None and e.origin.startswith("record ") for e in _events(WTMP))
    boot = _events(WTMP)[0]
    assert boot.src_ip is None and "from" not in boot.attrs and "6.1.0-18-amd64" in boot.message
    runlevel = _events(WTMP)[1]
    assert (runlevel.attrs["runlevel"], runlevel.attrs["previous_runlevel"]) == ("5", "N")
    assert _events(WTMP)[14].ts is None  # an EMPTY record has no time


def test_a_host_that_is_an_address_is_src_ip_when_ut_addr_v6_is_empty(tmp_path):
    path = tmp_path / "wtmp"
    path.write_bytes(record(7, 5, "pts/0", "ts/0", "erin", "2001:db8::5", T0) + record(7, 6, "pts/1", "ts/1", "fay", "", T0))
    erin, fay = _events(path)
    assert erin.src_ip == "2001:db8::5" and "from" not in erin.attrs
    assert fay.src_ip is None and "host" not in fay.attrs


def test_btmp_records_are_failed_logins():
    evs = _events(BTMP)
    assert {(e.category, e.action, e.outcome) for e in evs} == {("authentication", "login", "failure")}
    assert [(e.actor, e.src_ip) for e in evs] == [
        ("admin", "203.0.113.50"), ("admin", "203.0.113.50"), ("oracle", "2001:db8::66"),
        ("root", "198.51.100.77"), ("alice", None)]
    assert evs[3].attrs["from"] == "scanner.example.net"


@pytest.mark.parametrize("name", ["btmp.1", "btmp-20240401", "btmp.1.gz"])
def test_rotated_btmp_names_are_failed_logins(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(btmp_sample())
    if name.endswith(".gz"):
        import gzip
        path.write_bytes(gzip.compress(btmp_sample()))
    assert {e.outcome for e in _events(path)} == {"failure"}


def test_the_btmp_option_for_a_renamed_copy(tmp_path):
    copy = tmp_path / "failed-logins.bin"
    copy.write_bytes(btmp_sample())
    assert {e.outcome for e in _events(copy)} == {"unknown"}  # LOGIN_PROCESS: a getty, as in wtmp
    assert {e.outcome for e in _events(copy, "utmp", btmp=True)} == {"failure"}


def test_a_partial_record_at_the_end_is_kept_with_its_bytes(tmp_path):
    path = tmp_path / "wtmp"
    path.write_bytes(wtmp_sample() + PARTIAL)
    assert choose_parser(read_head(path), registry()).parser.name == "utmp"
    evs = _events(path)
    assert len(evs) == 17
    tail = evs[-1]
    assert tail.action == "unparsed" and tail.raw_bytes == PARTIAL and "partial record" in tail.attrs["reason"]
    assert tail.origin == f"byte {len(wtmp_sample())}"
    assert b"".join(e.raw_bytes for e in evs) == path.read_bytes()


def test_an_unknown_ut_type_is_unparsed_with_its_bytes(tmp_path):
    path = tmp_path / "wtmp"
    odd = record(42, 1, "pts/0", "", "x", "", T0)
    path.write_bytes(wtmp_sample() + odd)
    ev = _events(path, "utmp")[-1]
    assert ev.action == "unparsed" and "ut_type 42" in ev.attrs["reason"] and ev.raw_bytes == odd


def test_following_a_live_file_leaves_a_partial_record_for_later():
    parser = registry().get("utmp")
    source = Source(label="wtmp", stream=io.BytesIO(wtmp_sample() + PARTIAL), complete_lines_only=True)
    evs = list(parser.parse(source))
    assert len(evs) == 16 and source.consumed == len(wtmp_sample())


# -- util-linux decodes the same ---------------------------------------------------------------

@pytest.mark.skipif(not shutil.which("utmpdump"), reason="util-linux utmpdump not installed")
@pytest.mark.parametrize("sample", [WTMP, BTMP])
def test_raw_is_what_utmpdump_prints(sample):
    dumped = subprocess.run(["utmpdump", str(sample)], capture_output=True, text=True, check=True,
                            env={**os.environ, "TZ": "UTC"}).stdout.splitlines()
    assert [e.raw for e in _events(sample)] == dumped


@pytest.mark.skipif(not shutil.which("last"), reason="util-linux last not installed")
def test_last_reads_the_same_users_ttys_and_addresses():
    out = subprocess.run(["last", "-f", str(WTMP), "-i", "-w"], capture_output=True, text=True, check=True,
                         env={**os.environ, "TZ": "UTC"}).stdout.splitlines()
    sessions = [ln.split()[:3] for ln in out if ln and not ln.startswith(("reboot", "wtmp", "shutdown"))]
    ours = [[e.actor, e.attrs["tty"], e.src_ip or "0.0.0.0"] for e in _events(WTMP) if e.action == "login"]
    assert sessions == list(reversed(ours))  # last lists the newest first


# -- ingest: bytes, records, resuming ---------------------------------------------------------

def test_bytes_in_are_bytes_out_and_the_leaf_hash_covers_them(cli, db, tmp_path):
    path = tmp_path / "wtmp"
    path.write_bytes(wtmp_sample() + PARTIAL)
    assert cli("ingest", str(path)).exit_code == 0
    assert _stored_bytes(db) == path.read_bytes()
    assert all(e["raw"] and e["line"] is None for e in _stored(db))
    assert cli("verify").exit_code == 0
    con = duckdb.connect(str(db))
    changed = bytearray(wtmp_sample()[384 * 5:384 * 6])
    changed[44] = ord("A")  # another user in the stored bytes, raw untouched
    con.execute("UPDATE events SET raw_b64 = ? WHERE seq = 6", [base64.b64encode(bytes(changed)).decode()])
    con.close()
    result = cli("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    assert any(p["kind"] == "modified" and p["seq"] == 6 for p in json.loads(result.stdout)["problems"])


def test_stats_records_counts_one_per_record(cli, tmp_path):
    path = tmp_path / "wtmp"
    path.write_bytes(wtmp_sample() + PARTIAL)
    assert cli("ingest", str(path)).exit_code == 0
    rows = json.loads(cli("stats", "--by", "source", "--records", "-f", "json").stdout)
    assert [(r["events"], r["records"]) for r in rows] == [(17, 17)]  # 16 records and the partial one


def test_a_second_ingest_adds_nothing_and_an_appended_record_once(cli, db, tmp_path):
    path = tmp_path / "wtmp"
    path.write_bytes(wtmp_sample())
    assert cli("ingest", str(path)).exit_code == 0
    again = json.loads(cli("ingest", str(path), "-f", "json").stdout)
    assert again["events"] == 0 and again["files"][0]["status"] == "unchanged"
    new = record(7, 4000, "pts/4", "ts/4", "gina", "192.0.2.44", T0 + 8000, 0, v4("192.0.2.44"))
    with path.open("ab") as f:
        f.write(new)
    grown = json.loads(cli("ingest", str(path), "-f", "json").stdout)
    assert grown["events"] == 1 and "resumed at byte 6,144" in grown["files"][0]["note"]
    assert json.loads(cli("ingest", str(path), "-f", "json").stdout)["events"] == 0
    assert _stored_bytes(db) == path.read_bytes()
    assert [e["origin"] for e in _stored(db)][-1] == "record 17 at byte 6144"


def test_a_partial_record_completed_later_is_stored_once_in_two_pieces(cli, db, tmp_path):
    path = tmp_path / "wtmp"
    full = record(7, 9001, "pts/9", "ts/9", "mallory", "192.0.2.99", T0 + 9000, 0, v4("192.0.2.99"))
    path.write_bytes(wtmp_sample() + full[:100])
    assert cli("ingest", str(path)).exit_code == 0
    after = record(8, 9001, "pts/9", "ts/9", "", "", T0 + 9100)
    with path.open("ab") as f:
        f.write(full[100:] + after)
    result = json.loads(cli("ingest", str(path), "-f", "json").stdout)
    assert result["events"] == 2
    stored = _stored(db)
    assert [e["action"] for e in stored[-3:]] == ["unparsed", "unparsed", "logout"]
    assert _stored_bytes(db) == path.read_bytes()  # nothing lost, nothing twice


def test_rotated_wtmp_adds_only_what_was_appended(cli, db, tmp_path):
    logs = tmp_path / "log"
    logs.mkdir()
    log = logs / "wtmp"
    log.write_bytes(wtmp_sample())
    assert cli("ingest", str(logs)).exit_code == 0
    with log.open("ab") as f:
        f.write(record(7, 4100, "pts/5", "ts/5", "hana", "", T0 + 8100))
    log.rename(logs / "wtmp.1")
    log.write_bytes(record(2, 0, "~", "~~", "reboot", "6.1.0-18-amd64", T0 + 90000))
    result = json.loads(cli("ingest", str(logs), "-f", "json").stdout)
    assert {Path(f["path"]).name: f["events"] for f in result["files"]} == {"wtmp.1": 1, "wtmp": 1}
    assert len(_stored(db)) == 18


def test_lastlog_is_skipped_as_not_a_log_and_the_run_succeeds(cli, tmp_path):
    logs = tmp_path / "log"
    logs.mkdir()
    (logs / "lastlog").write_bytes(lastlog_sample())
    (logs / "wtmp").write_bytes(wtmp_sample())
    (logs / "btmp").write_bytes(btmp_sample())
    result = cli("ingest", str(logs))
    assert result.exit_code == 0, result.output
    assert "lastlog: skipped: not a log (a per-uid table of last logins" in result.output
    doc = json.loads(cli("ingest", str(logs), "-f", "json").stdout)
    statuses = {Path(f["path"]).name: f["status"] for f in doc["files"]}
    assert statuses == {"lastlog": "skipped", "wtmp": "unchanged", "btmp": "unchanged"}


def test_parsers_test_says_lastlog_is_skipped(cli):
    result = cli("parsers", "test", str(SAMPLES / "lastlog" / "lastlog"), "-f", "table")
    assert result.exit_code == 0 and "ingest skips this file: not a log" in result.output, result.output


def test_lastlog_is_recognized_by_name_and_entries_only(tmp_path):
    parser = registry().get("lastlog")
    assert parser.detect(read_head(SAMPLES / "lastlog" / "lastlog")) >= 0.9
    renamed = tmp_path / "table.bin"
    renamed.write_bytes(lastlog_sample())
    assert parser.detect(read_head(renamed)) == 0.0
    odd = tmp_path / "lastlog"
    odd.write_bytes(lastlog_sample()[:-1])  # not whole entries
    assert parser.detect(read_head(odd)) == 0.0
    ipv6_only = tmp_path / "wtmp"
    ipv6_only.write_bytes(record(7, 1, "pts/0", "", "ivan", "", T0, 0, v6("2001:db8::1")))
    assert parser.detect(read_head(ipv6_only)) == 0.0



def test_faillog_is_skipped_as_not_a_log_like_lastlog(cli, tmp_path):
    logs = tmp_path / "log"
    logs.mkdir()
    table = faillog_entry() * 1000 + faillog_entry(3, "ssh:notty", T0) + faillog_entry() * 10
    (logs / "faillog").write_bytes(table)
    (logs / "wtmp").write_bytes(wtmp_sample())
    result = cli("ingest", str(logs))
    assert result.exit_code == 0, result.output
    assert "faillog: skipped: not a log (a per-uid table of failure counters" in result.output
    parser = registry().get("faillog")
    assert parser.detect(read_head(logs / "faillog")) >= 0.9
    assert parser.detect(read_head(logs / "wtmp")) == 0.0
    other = tmp_path / "faillog"
    other.write_bytes(b"Dec  4 10:00:00 host sshd[1]: Failed password for root\n" * 3)
    assert parser.detect(read_head(other)) == 0.0


def test_the_current_sessions_table_is_skipped_and_forced_reads_it(cli, tmp_path):
    """/run/utmp is rewritten in place as sessions end: each ingest would store its open sessions
    again (duplicate logins). It is skipped by name; --parser utmp still reads it."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "utmp").write_bytes(sessions_sample())
    result = cli("ingest", str(run / "utmp"))
    assert result.exit_code == 0, result.output
    assert "skipped: not a log (the table of current sessions" in result.output
    assert registry().get("utmp_sessions").detect(read_head(run / "utmp")) == 0.97
    assert registry().get("utmp_sessions").detect(read_head(WTMP)) == 0.0
    forced = json.loads(cli("ingest", "--parser", "utmp", "--format", "json", str(run / "utmp")).stdout)
    assert forced["files"][0]["events"] == len(sessions_sample()) // 384 == 4
