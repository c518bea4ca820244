"""The cef parser: detection (bare and syslog-wrapped), header/extension escapes, the mapping table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from auditctl.ingest.parsing import choose_parser
from auditctl.sources import read_head
from support import SAMPLES, parser_and_reader, registry

NAME = "cef"
BARE = SAMPLES / NAME / "arcsight.cef"
WRAPPED = SAMPLES / NAME / "syslog-forwarded.log"


parser, events = parser_and_reader(NAME)


def one(tmp_path, line: str):
    path = tmp_path / "events.cef"
    path.write_text(line + "\n", encoding="utf-8")
    evs = events(path)
    assert len(evs) == 1
    return evs[0]


def at(path, line):
    return next(e for e in events(path) if e.line == line)


# --- detection -------------------------------------------------------------------------------

def test_syslog_wrapped_cef_beats_syslog():
    head = read_head(WRAPPED)
    choice = choose_parser(head, registry())
    assert choice.parser.name == NAME
    assert dict((n, s) for s, n in choice.ranking).get("syslog", 0.0) < parser().detect(head)


# --- header and extension --------------------------------------------------------------------

def test_header_and_extension_escapes(tmp_path):
    ev = one(tmp_path, r"CEF:0|Acme\|Labs|Gate\\Keeper|1.0|100|Door opened|2|rt=1773478953000 "
                       r"msg=a\=b c\\d\nnext line fname=C:\\Windows\\x.exe cs1Label=Note cs1=x = y")
    assert ev.app == "Acme|Labs Gate\\Keeper"
    assert ev.message == "Door opened: a=b c\\d next line"  # one line
    assert ev.resource == "C:\\Windows\\x.exe"
    assert ev.attrs["Note"] == "x = y"  # a space before `=` does not start a key
    assert ev.ts == datetime(2026, 3, 14, 9, 2, 33, tzinfo=UTC)


@pytest.mark.parametrize(("ext", "expected"), [
    ("rt=1773478953000", datetime(2026, 3, 14, 9, 2, 33, tzinfo=UTC)),
    ("rt=Mar 14 2026 09:02:33", datetime(2026, 3, 14, 9, 2, 33, tzinfo=UTC)),
    ("rt=Mar 14 2026 10:02:33.250 +0100", datetime(2026, 3, 14, 9, 2, 33, 250000, tzinfo=UTC)),
    ("rt=Mar 14 09:02:33 UTC", datetime(2026, 3, 14, 9, 2, 33, tzinfo=UTC)),  # year inferred
    ("end=2026-03-14T09:02:33.0000000Z", datetime(2026, 3, 14, 9, 2, 33, tzinfo=UTC)),
    ("start=Mar 14 2026 09:02:33 GMT", datetime(2026, 3, 14, 9, 2, 33, tzinfo=UTC)),
])
def test_time_formats(tmp_path, ext, expected):
    assert one(tmp_path, f"CEF:0|V|P|1|1|Something|3|{ext}").ts == expected


def test_unreadable_time_is_kept_in_attrs(tmp_path):
    ev = one(tmp_path, "CEF:0|V|P|1|1|Something|3|rt=yesterday-ish")
    assert ev.ts is None and ev.attrs["rt_unparsed"] == "yesterday-ish"


def test_syslog_header_gives_time_and_host_when_the_extension_does_not(tmp_path):
    ev = one(tmp_path, "<134>Mar 14 08:58:01 dsm01 CEF:0|Trend Micro|Deep Security Manager|20.0|600|User Signed In|3|suser=bob src=10.0.0.1")
    assert ev.ts == datetime(2026, 3, 14, 8, 58, 1, tzinfo=UTC) and ev.host == "dsm01"
    ev = one(tmp_path, "<12>1 2026-03-14T09:15:22.481Z pta01 PTA - - - CEF:0|CyberArk|PTA|12.6|1|Suspected credentials theft|8|suser=x")
    assert ev.ts == datetime(2026, 3, 14, 9, 15, 22, 481000, tzinfo=UTC) and ev.host == "pta01"


def test_severity_levels(tmp_path):
    for severity, level in (("0", "Low"), ("3", "Low"), ("5", "Medium"), ("8", "High"), ("10", "Very-High"),
                            ("Very-High", "Very-High"), ("medium", "Medium")):
        ev = one(tmp_path, f"CEF:0|V|P|1|1|Something|{severity}|src=10.0.0.1")
        assert (ev.attrs["severity"], ev.attrs["severity_level"]) == (severity, level)


# --- mapping on the samples ------------------------------------------------------------------

def test_windows_events_by_id():
    ok, failed, locked, created, added, cleared = (at(BARE, n) for n in (1, 2, 4, 5, 6, 7))
    assert (ok.action, ok.outcome, ok.actor, ok.src_ip, ok.host) == (
        "login", "success", "alice", "10.20.1.15", "DC01.corp.example.com")
    assert (failed.action, failed.outcome, failed.actor, failed.src_ip) == ("login", "failure", "administrator", "185.220.101.4")
    assert (locked.category, locked.action, locked.actor, locked.target) == (
        "user_management", "user_locked", "DC01$", "administrator")
    assert (created.action, created.actor, created.target) == ("user_created", "admin.jdoe", "svc-backup")
    assert (added.category, added.action, added.target, added.role) == (
        "permission_change", "group_member_added", "svc-backup", "Domain Admins")
    assert (cleared.category, cleared.action, cleared.actor) == ("policy_change", "log_cleared", "admin.jdoe")
    assert ok.original_action == "Microsoft-Windows-Security-Auditing:4624"
    assert ok.app == "Microsoft Microsoft Windows"


def test_keyword_rules_on_other_vendors():
    signed_in, sign_in_failed, locked_out, signed_out = (at(BARE, n) for n in (9, 10, 11, 12))
    assert (signed_in.category, signed_in.action, signed_in.outcome, signed_in.actor) == (
        "authentication", "login", "success", "secadmin")
    assert (sign_in_failed.action, sign_in_failed.outcome, sign_in_failed.src_ip) == ("login", "failure", "203.0.113.50")
    assert (locked_out.action, locked_out.outcome) == ("user_locked", "success")
    assert (signed_out.action, signed_out.outcome) == ("logout", "success")
    firewall = at(BARE, 14)
    assert (firewall.category, firewall.action, firewall.outcome) == ("system", "log", "failure")  # act=deny
    policy = at(BARE, 16)
    assert (policy.category, policy.action, policy.actor) == ("policy_change", "policy_changed", "fwadmin")
    sudo = at(BARE, 17)
    assert (sudo.category, sudo.action, sudo.actor, sudo.target, sudo.pid) == (
        "privileged_action", "command_run", "dave", "root", 40122)
    grant = at(BARE, 18)
    assert (grant.action, grant.actor, grant.target, grant.role, grant.src_ip, grant.outcome) == (
        "role_granted", "carol", "erin", "billing-admin", "2001:db8::17", "success")
    assert grant.attrs["cef_version"] == 1 and grant.user_agent == "Mozilla/5.0 (X11; Linux x86_64)"
    deleted = at(BARE, 19)
    assert (deleted.action, deleted.target) == ("user_deleted", "old.contractor")


def test_wrapped_sample_mapping():
    retrieve = at(WRAPPED, 6)
    assert (retrieve.category, retrieve.action, retrieve.actor) == ("data_access", "access", "jsmith")
    assert retrieve.resource == "Root\\Operating System-UnixSSH-10.0.5.20-root"
    assert retrieve.attrs["Safe Name"] == "Linux-Root" and "Affected User Name" not in retrieve.attrs  # empty
    cpm = at(WRAPPED, 8)
    assert (cpm.action, cpm.actor, cpm.target, cpm.host) == ("password_changed", "PasswordManager", "root", "10.0.5.20")
    waf = at(WRAPPED, 13)
    assert (waf.action, waf.outcome, waf.actor, waf.role) == ("login", "failure", "admin", None)  # ServerGroup is no group
    assert waf.host == "waf01" and waf.ts == datetime(2026, 3, 14, 9, 20, 47, tzinfo=UTC)


def test_login_with_source_and_destination_user(tmp_path):
    ev = one(tmp_path, "CEF:0|V|P|1|7|User logon|3|suser=alice duser=root src=10.0.0.2 outcome=success")
    assert (ev.action, ev.actor, ev.target, ev.attrs["source_user"]) == ("login", "root", None, "alice")
