"""The journald parser: detection, field decoding, and auth messages mapped exactly like syslog's."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import orjson

from auditctl.ingest.parsing import read_events
from auditctl.sources import Source, head_from_bytes
from auditctl.testing import event_dict
from support import REFERENCE_TIME, SAMPLES, parser_and_reader, registry

NAME = "journald"
SAMPLE = SAMPLES / NAME / "journal.json"
AUTH_LOG = SAMPLES / "syslog" / "auth.log"


parser, events = parser_and_reader(NAME)


def entry(**fields):
    doc = {"__CURSOR": "s=1;i=2;b=3;m=4;t=5;x=6", "__REALTIME_TIMESTAMP": "1773479521000000",
           "__MONOTONIC_TIMESTAMP": "91234567890", "_BOOT_ID": "0b2d7a1c", "_HOSTNAME": "web-01",
           "_TRANSPORT": "syslog", "PRIORITY": "6"}
    doc.update(fields)
    return orjson.dumps(doc)


def one(tmp_path, data: bytes):
    path = tmp_path / "journal.json"
    path.write_bytes(data + b"\n")
    evs = events(path)
    assert len(evs) == 1
    return evs[0]


def at(line):
    return next(e for e in events(SAMPLE) if e.line == line)


# --- detection -------------------------------------------------------------------------------

def test_detects_json_seq(tmp_path):
    data = b"\x1e" + entry(MESSAGE="hello") + b"\n"
    assert parser().detect(head_from_bytes("j.json", data * 3)) >= 0.9


# --- fields ------------------------------------------------------------------------------------

def test_fields_and_time(tmp_path):
    ev = one(tmp_path, entry(SYSLOG_IDENTIFIER="cron", _COMM="cron", _PID="812", _UID="0", MESSAGE="hello",
                             _SYSTEMD_UNIT="cron.service", SYSLOG_FACILITY="9"))
    assert (ev.category, ev.action, ev.host, ev.app, ev.pid, ev.message) == (
        "system", "log", "web-01", "cron", 812, "hello")
    assert ev.ts == datetime(2026, 3, 14, 9, 12, 1, tzinfo=UTC)  # __REALTIME_TIMESTAMP
    assert ev.attrs == {"severity": 6, "facility": 9, "process_uid": 0, "transport": "syslog", "unit": "cron.service"}
    source_time = one(tmp_path, entry(MESSAGE="x", _SOURCE_REALTIME_TIMESTAMP="1773479520999820"))
    assert source_time.ts == datetime(2026, 3, 14, 9, 12, 0, 999820, tzinfo=UTC)  # the program's own time


def test_byte_arrays_repeated_fields_and_omitted_messages(tmp_path):
    ev = one(tmp_path, entry(SYSLOG_IDENTIFIER=["sshd", "sshd-session"], _COMM="sshd",
                             MESSAGE=list(b"Accepted password for m\xfcller from 10.0.0.7 port 22 ssh2")))
    assert (ev.app, ev.action, ev.actor, ev.src_ip) == ("sshd", "login", "m\ufffdller", "10.0.0.7")
    omitted = one(tmp_path, entry(SYSLOG_IDENTIFIER="backup.sh", MESSAGE=None))
    assert omitted.message is None and omitted.attrs["message_omitted"] is True
    no_ident = one(tmp_path, entry(_COMM="nginx", SYSLOG_PID="77", MESSAGE="worker started\nagain"))
    assert (no_ident.app, no_ident.pid, no_ident.message) == ("nginx", 77, "worker started again")


def test_auth_messages_map_exactly_like_auth_log():
    """The same sshd/sudo/PAM/useradd lines from auth.log give the same categories and fields."""
    syslog_events = {ev.message: ev for ev in read_events(AUTH_LOG, registry(), "syslog",
                                                          reference_time=REFERENCE_TIME)}
    keys = ("category", "action", "outcome", "actor", "target", "role", "resource", "src_ip",
            "original_action", "app")
    compared = 0
    for line in AUTH_LOG.read_text().splitlines():
        _, sep, rest = line.partition(": ")
        ev_sys = syslog_events.get(rest.strip())
        if not sep or ev_sys is None or ev_sys.action in ("log", "unparsed") or ev_sys.app is None:
            continue
        doc = entry(SYSLOG_IDENTIFIER=ev_sys.app, _PID=str(ev_sys.pid or 1), MESSAGE=rest)
        ev_j = parse_entry(doc)
        got = {k: getattr(ev_j, k) for k in keys}
        want = {k: getattr(ev_sys, k) for k in keys}
        assert got == want, line
        compared += 1
    assert compared >= 20


def parse_entry(doc: bytes):
    source = Source(label="mem", stream=io.BytesIO(doc + b"\n"), reference_time=REFERENCE_TIME)
    return next(iter(parser().parse(source)))


# --- mapping on the sample ----------------------------------------------------------------------

def test_sample_mapping():
    started = at(1)
    assert (started.category, started.action, started.outcome, started.resource) == (
        "system", "service_start", "success", "ssh.service")
    accepted = at(4)
    assert (accepted.category, accepted.action, accepted.actor, accepted.src_ip, accepted.pid) == (
        "authentication", "login", "alice", "10.20.1.15", 3312)
    assert (at(6).action, at(6).actor, at(6).session) == ("session_start", "alice", "12")
    invalid = at(7)
    assert (invalid.action, invalid.outcome, invalid.actor, invalid.attrs["invalid_user"]) == (
        "login", "failure", "oracle", True)
    sudo = at(11)
    assert (sudo.category, sudo.action, sudo.actor, sudo.target, sudo.resource) == (
        "privileged_action", "command_run", "alice", "root", "/usr/sbin/useradd -m -G wheel dan")
    assert sudo.attrs["audit_loginuid"] == 1001
    created = at(15)
    assert (created.action, created.target, created.attrs["uid"], created.attrs["process_uid"]) == (
        "user_created", "dan", 1002, 0)  # useradd's uid= wins over journald's _UID
    assert (at(16).action, at(16).target, at(16).role) == ("group_member_added", "dan", "wheel")
    assert (at(18).action, at(18).target) == ("password_changed", "dan")
    assert (at(19).action, at(19).actor, at(19).target) == ("privilege_escalation", "alice", "root")
    assert (at(24).action, at(24).outcome, at(24).resource) == ("service_stop", "success", "nginx.service")
    assert (at(26).action, at(26).outcome, at(26).resource) == ("service_start", "failure", "nginx.service")
    assert at(27).message == "Benutzer M\ufffdller angemeldet (Kasse 3)"
    assert (at(30).action, at(30).actor) == ("logout", "alice")
    assert (at(31).action, at(31).session) == ("session_end", "12")


def test_same_events_as_golden_when_parsed_twice():
    """The syslog module is loaded once and cached: a second parse gives identical events."""
    assert [event_dict(e) for e in events(SAMPLE)] == [event_dict(e) for e in events(SAMPLE)]
