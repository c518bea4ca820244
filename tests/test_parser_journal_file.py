"""The journal_file parser: binary journal files read through journalctl, mapped as journald maps
the same JSON, and resumed by cursor (grown in place, rotated, replaced) without losing or
repeating an entry. The journal files are real ones, written by systemd-journal-remote
(tests/journal_records.py); journalctl is systemd's own."""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from auditctl.ingest.identity import ContentHasher
from auditctl.ingest.journal import header_entries, journalctl_command
from auditctl.sources import read_head
from journal_records import DATA, SAMPLE, unpack
from support import parser_and_reader, query, registry

JOURNALCTL = shutil.which("journalctl")
pytestmark = pytest.mark.skipif(JOURNALCTL is None, reason="needs systemd's journalctl")

parser, events = parser_and_reader("journal_file")


def journal(tmp_path: Path, fixture: Path = SAMPLE, name: str = "system.journal") -> Path:
    return unpack(fixture, tmp_path / name)


def journalctl_json(path: Path) -> list[dict]:
    out = subprocess.run([JOURNALCTL, f"--file={path}", "-o", "json", "--all", "--no-pager"],
                         capture_output=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def stored(db: Path) -> list[tuple]:
    return query(db, "SELECT origin, raw, source FROM events WHERE parser = 'journal_file' ORDER BY seq")


def cursors(db: Path) -> list[str]:
    return [origin.removeprefix("cursor ") for origin, _raw, _source in stored(db)]


def ingest_json(cli, *paths) -> dict:
    result = cli("ingest", *map(str, paths), "-f", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- reading ---------------------------------------------------------------------------------

def test_each_entry_is_the_event_journald_makes_of_journalctls_json(tmp_path):
    path = journal(tmp_path)
    entries = journalctl_json(path)
    export = tmp_path / "export.json"
    export.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in entries))
    mine, theirs = events(path), events(export, forced="journald")
    assert len(mine) == len(entries) == 29
    for ev, other, entry in zip(mine, theirs, entries, strict=True):
        assert ev.origin == "cursor " + entry["__CURSOR"]
        assert json.loads(ev.raw) == entry  # journalctl's values, its fields sorted
        assert list(json.loads(ev.raw)) == sorted(entry)
        assert ev.line is None
        assert replace(ev, raw="", origin=None) == replace(other, raw="", origin=None, line=None)
    actions = [e.action for e in mine]
    assert {"login", "user_created", "group_member_added", "service_start", "service_stop"} <= set(actions)


def test_raw_is_the_same_on_every_read(tmp_path):
    path = journal(tmp_path)
    assert [e.raw for e in events(path)] == [e.raw for e in events(path)]


def test_a_compressed_journal_file_reads_as_the_plain_one(tmp_path):
    plain = journal(tmp_path)
    assert [(e.raw, e.origin) for e in events(SAMPLE)] == [(e.raw, e.origin) for e in events(plain)]


def test_binary_journal_files_in_var_log_are_ingested(cli, db, tmp_path):
    machine = tmp_path / "log" / "journal" / "3f1e9c2b7a6d4e5f8091a2b3c4d5e6f7"
    machine.mkdir(parents=True)
    journal(machine, DATA / "grown-2.journal.xz", "system@00062d1e0b2c-5f2a7e1c9d3b4a10.journal~")
    journal(machine, DATA / "next.journal.xz", "user-1000.journal")
    result = cli("ingest", str(tmp_path / "log"))
    assert result.exit_code == 0, result.output
    assert len(stored(db)) == 20 + 9
    doc = ingest_json(cli, tmp_path / "log")
    assert doc["events"] == 0 and {f["status"] for f in doc["files"]} == {"unchanged"}


# --- resuming --------------------------------------------------------------------------------

def test_a_journal_grown_in_place_adds_its_new_entries_once(cli, db, tmp_path):
    path = journal(tmp_path, DATA / "grown-1.journal.xz")
    inode = path.stat().st_ino
    assert ingest_json(cli, path)["events"] == 10
    path.write_bytes(unpack(DATA / "grown-2.journal.xz", tmp_path / "v2").read_bytes())  # journald appended
    assert path.stat().st_ino == inode
    doc = ingest_json(cli, path)
    assert doc["events"] == 10
    assert "same cursor" in doc["files"][0]["note"] and "10 entries after it read" in doc["files"][0]["note"]
    assert cursors(db) == [e["__CURSOR"] for e in journalctl_json(path)]  # each entry once, in order
    again = ingest_json(cli, path)
    assert again["events"] == 0 and again["files"][0]["status"] == "unchanged"


def test_a_rotated_journal_adds_what_was_written_before_rotation_and_the_new_file(cli, db, tmp_path):
    logs = tmp_path / "journal"
    logs.mkdir()
    active = journal(logs, DATA / "grown-1.journal.xz")
    assert ingest_json(cli, logs)["events"] == 10
    # journald appends 10 entries, archives the file under a new name, opens a new system.journal
    active.write_bytes(unpack(DATA / "grown-2.journal.xz", tmp_path / "v2").read_bytes())
    archived = logs / "system@c210c65578a343d19752bfc9c1ce4c48-0000000000000001-00064cf860dd9a40.journal"
    active.rename(archived)
    journal(logs, DATA / "next.journal.xz")
    doc = ingest_json(cli, logs)
    assert {Path(f["path"]).name: f["events"] for f in doc["files"]} == {archived.name: 10, "system.journal": 9}
    expected = [e["__CURSOR"] for e in journalctl_json(archived) + journalctl_json(logs / "system.journal")]
    assert sorted(cursors(db)) == sorted(expected) and len(set(cursors(db))) == 29
    assert ingest_json(cli, logs)["events"] == 0


def test_the_new_file_read_before_the_archived_one_is_not_confused_with_it(cli, db, tmp_path):
    logs = tmp_path / "journal"
    logs.mkdir()
    active = journal(logs, DATA / "grown-1.journal.xz")
    assert ingest_json(cli, active)["events"] == 10
    active.write_bytes(unpack(DATA / "grown-2.journal.xz", tmp_path / "v2").read_bytes())
    archived = logs / "system@rotated.journal~"
    active.rename(archived)
    journal(logs, DATA / "next.journal.xz")
    first = ingest_json(cli, logs / "system.journal")  # the new file at the old path, first
    assert first["events"] == 9 and "read in full" in first["files"][0]["note"]
    assert ingest_json(cli, archived)["events"] == 10  # continues the entry by its inode
    assert len(cursors(db)) == len(set(cursors(db))) == 29


def test_another_journal_at_the_same_inode_is_read_in_full_not_after_a_look_alike_entry(cli, db, tmp_path):
    """The sample file holds entries with the same times as grown-1's but is another journal:
    journalctl --after-cursor would seek to the entry with the stored entry's time and skip it
    and all before it; started at the cursor, the first entry is not the one stored."""
    path = journal(tmp_path, DATA / "grown-1.journal.xz")
    last = journalctl_json(path)[-1]["__CURSOR"]
    assert ingest_json(cli, path)["events"] == 10
    path.write_bytes(unpack(SAMPLE, tmp_path / "other").read_bytes())
    after = subprocess.run([*journalctl_command(JOURNALCTL, path, None), f"--after-cursor={last}"],
                           capture_output=True, check=True).stdout.splitlines()
    assert len(after) < 29  # what --after-cursor alone would have lost
    doc = ingest_json(cli, path)
    assert doc["events"] == 29 and "read in full" in doc["files"][0]["note"]


def test_entries_written_while_journalctl_reads_are_read_next_time(cli, db, tmp_path, monkeypatch):
    """The file is hashed before journalctl runs: a journalctl that sees the file as it was while
    journald appends meanwhile leaves a stored hash the grown file does not match."""
    path = journal(tmp_path, DATA / "grown-1.journal.xz")
    grown = unpack(DATA / "grown-2.journal.xz", tmp_path / "v2")
    wrapper = tmp_path / "bin" / "journalctl"
    wrapper.parent.mkdir()
    wrapper.write_text(f"#!/bin/sh\n{JOURNALCTL} \"$@\"\nstatus=$?\n"
                       f"case \"$*\" in *--output=json*) cat {grown} > {path};; esac\nexit $status\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    assert ingest_json(cli, path)["events"] == 10  # journalctl saw 10; the file now holds 20
    monkeypatch.setenv("PATH", str(Path(JOURNALCTL).parent))
    assert ingest_json(cli, path)["events"] == 10
    assert len(cursors(db)) == len(set(cursors(db))) == 20


def test_the_file_is_hashed_before_journalctl_reads_it(cli, db, tmp_path, monkeypatch):
    """The guarantee the test above relies on, under the worst scheduling: were the hash taken
    beside parsing (as for other formats), it could cover entries journalctl never printed."""
    path = journal(tmp_path)
    order: list[str] = []
    reading = threading.Event()
    real_finish, real_popen = ContentHasher.finish, subprocess.Popen

    def finish(self):
        if threading.current_thread() is not threading.main_thread():
            reading.wait(60)  # a hashing thread scheduled last: after journalctl started
        done = real_finish(self)
        order.append("hashed")
        return done

    def popen(cmd, *args, **kwargs):
        if "--output=json" in cmd:
            order.append("journalctl")
            reading.set()
        return real_popen(cmd, *args, **kwargs)

    monkeypatch.setattr(ContentHasher, "finish", finish)
    monkeypatch.setattr(subprocess, "Popen", popen)
    assert ingest_json(cli, path)["events"] == 29
    assert order.index("hashed") < order.index("journalctl"), order


def test_reparse_supersedes_and_the_next_ingest_adds_nothing(cli, db, tmp_path):
    path = journal(tmp_path)
    assert ingest_json(cli, path)["events"] == 29
    doc = ingest_json(cli, "--reparse", path)
    assert doc["events"] == 29 and "29 earlier event(s) of parser journal_file superseded" in doc["files"][0]["note"]
    again = ingest_json(cli, path)
    assert again["events"] == 0 and again["files"][0]["status"] == "unchanged"


# --- failures --------------------------------------------------------------------------------

def test_without_journalctl_the_file_fails_with_one_clear_line(cli, db, tmp_path, monkeypatch):
    path = journal(tmp_path)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = cli("ingest", str(path))
    assert result.exit_code == 1
    line = f"{path}: journalctl not found: install systemd or export with journalctl -o json"
    assert line in result.output, result.output
    assert not query(db, "SELECT count(*) FROM events")[0][0]


def test_a_damaged_journal_keeps_what_journalctl_read_and_says_so(cli, db, tmp_path):
    """journalctl skips a damaged entry without a word: the note compares with the header's count."""
    path = journal(tmp_path)
    entry = journalctl_json(path)[14]
    data = bytearray(path.read_bytes())
    # an entry object holds its seqnum and realtime after a 16-byte object header: spoil that header
    pos = data.find(struct.pack("<QQ", 15, int(entry["__REALTIME_TIMESTAMP"]))) - 16
    assert pos > 0
    data[pos:pos + 16] = b"\xaa" * 16
    path.write_bytes(data)
    read = journalctl_json(path)
    assert len(read) == 28 and header_entries(path) == 29
    doc = ingest_json(cli, path)
    assert doc["events"] == 28
    assert "journalctl read 28 of the 29 entries the file's header counts" in doc["files"][0]["note"]
    assert entry["__CURSOR"] not in cursors(db) and len(cursors(db)) == 28


def test_journalctl_complaints_go_into_one_note_and_the_entries_are_kept(cli, db, tmp_path, monkeypatch):
    path = journal(tmp_path)
    wrapper = tmp_path / "bin" / "journalctl"
    wrapper.parent.mkdir()
    wrapper.write_text(f"#!/bin/sh\n{JOURNALCTL} \"$@\"\necho 'Journal file {path} is truncated,' >&2\n"
                       "echo '  ignoring file.' >&2\nexit 1\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    doc = ingest_json(cli, path)
    assert doc["events"] == 29
    assert (f"journalctl: Journal file {path} is truncated, / ignoring file. (exit status 1); "
            "the 29 entries it read are kept") in doc["files"][0]["note"]


def test_a_journal_journalctl_cannot_open_fails_with_its_message(cli, db, tmp_path):
    path = journal(tmp_path)
    path.write_bytes(path.read_bytes()[:600_000])  # cut short: its header says it is larger
    result = cli("ingest", str(path))
    assert result.exit_code == 1
    assert f"{path}: journalctl: Failed to open files" in result.output, result.output


def test_detection_needs_the_magic_at_the_start(tmp_path):
    path = journal(tmp_path)
    choice = registry().get("journal_file")
    assert choice.detect(read_head(path)) == 0.99
    moved = tmp_path / "moved.bin"
    moved.write_bytes(b"\0" + path.read_bytes()[:4096])
    assert choice.detect(read_head(moved)) == 0.0
