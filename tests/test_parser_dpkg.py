"""dpkg.log: detected as dpkg (not syslog: its verbs are no host names), mapped to system events."""

from __future__ import annotations

from datetime import UTC, datetime

from auditctl.ingest.parsing import choose_parser, read_events
from auditctl.sources import head_from_bytes, read_head
from auditctl.timeutil import get_tz
from support import SAMPLES, registry

SAMPLE = SAMPLES / "dpkg" / "dpkg.log"
# The first lines of this machine's /var/log/dpkg.log (Debian 12), as in the sample.
REAL = SAMPLE.read_text().splitlines()[:30]
APT_HISTORY = """
Start-Date: 2025-06-24  14:36:25
Commandline: apt-get -qqy upgrade
Upgrade: libsystemd0:amd64 (252.36-1~deb12u1, 252.38-1~deb12u1), libudev1:amd64 (252.36-1~deb12u1, 252.38-1~deb12u1)
End-Date: 2025-06-24  14:36:26
"""
APT_TERM = """
Log started: 2025-06-24  14:36:25
(Reading database ... 6089 files and directories currently installed.)
Preparing to unpack .../libsystemd0_252.38-1~deb12u1_amd64.deb ...
Unpacking libsystemd0:amd64 (252.38-1~deb12u1) over (252.36-1~deb12u1) ...
Setting up libsystemd0:amd64 (252.38-1~deb12u1) ...
Log ended: 2025-06-24  14:36:26
"""


def test_dpkg_log_is_detected_as_dpkg_not_syslog():
    head = head_from_bytes("dpkg.log", ("\n".join(REAL) + "\n").encode())
    assert registry().get("syslog").detect(head) < 0.3
    assert choose_parser(head, registry()).parser.name == "dpkg"
    assert choose_parser(read_head(SAMPLE), registry()).parser.name == "dpkg"


def test_apt_logs_are_claimed_by_neither_syslog_nor_dpkg():
    for text in (APT_HISTORY, APT_TERM):
        head = head_from_bytes("history.log", text.encode())
        assert registry().get("dpkg").detect(head) < 0.3
        assert registry().get("syslog").detect(head) < 0.3


def test_dpkg_does_not_claim_syslog():
    assert registry().get("dpkg").detect(read_head(SAMPLES / "syslog" / "auth.log")) < 0.3


def test_package_changes_are_system_events_with_dpkg_verbs():
    events = read_events(SAMPLE, registry())
    assert all(e.category == "system" and e.action == "log" and e.app == "dpkg" for e in events)
    assert all(e.host is None for e in events)
    by_verb = {}
    for e in events:
        by_verb.setdefault(e.original_action, e)
    assert set(by_verb) == {"startup", "upgrade", "status", "configure", "install", "trigproc",
                            "conffile", "remove", "purge"}
    up = by_verb["upgrade"]
    assert up.resource == "libsystemd0:amd64"
    assert up.attrs == {"package": "libsystemd0", "arch": "amd64",
                        "installed_version": "252.36-1~deb12u1", "available_version": "252.38-1~deb12u1"}
    removed = [e for e in events if e.original_action == "status" and e.attrs["state"] == "not-installed"]
    assert removed and all(e.outcome == "success" and e.resource == "telnet:amd64" for e in removed)


def test_the_zone_less_stamp_is_local_time_of_the_source_zone():
    (first, *_) = read_events(SAMPLE, registry(), tz=get_tz("Europe/Berlin"))
    assert first.ts == datetime(2025, 6, 24, 12, 36, 25, tzinfo=UTC)
