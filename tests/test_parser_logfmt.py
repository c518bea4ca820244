"""The logfmt parser: detection, tokenizing, common keys, configured mappings."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from auditctl.sources import head_from_bytes
from support import SAMPLES, parser_and_reader

NAME = "logfmt"
GRAFANA = SAMPLES / NAME / "grafana.log"
APP = SAMPLES / NAME / "accounts-api.log"
GRAFANA_LOGIN = {"mappings": [{
    "name": "grafana-login",
    "when": {"logger": "authn.service", "msg": ["Successful Login", "Failed to authenticate request"]},
    "fields": {"actor": "uname", "action": "msg", "outcome": "msg", "src_ip": "remote_addr"},
    "values": {"action": {"Successful Login": "login", "Failed to authenticate request": "authenticate"},
               "outcome": {"Successful Login": "success", "Failed to authenticate request": "failure"}},
    "category": "authentication",
}]}


parser, events = parser_and_reader(NAME)


def one(tmp_path, line: str, **kwargs):
    path = tmp_path / "app.log"
    path.write_text(line + "\n", encoding="utf-8")
    evs = events(path, **kwargs)
    assert len(evs) == 1
    return evs[0]


def at(path, line, **kwargs):
    return next(e for e in events(path, **kwargs) if e.line == line)


# --- detection -------------------------------------------------------------------------------

def test_needs_time_level_or_msg_keys():
    data = b"a=1 b=2 c=3\nd=4 e=5 f=6\n"
    assert parser().detect(head_from_bytes("x.log", data)) < 0.3


# --- tokenizing and common keys ---------------------------------------------------------------

def test_quoted_values_escapes_and_bare_keys(tmp_path):
    ev = one(tmp_path, r'ts=2026-03-14T09:00:00Z level=info msg="say \"hi\"\nthere" path=/a=b debug url="" x=')
    assert ev.message == 'say "hi" there'  # one line
    assert ev.resource == "/a=b"
    assert ev.attrs == {"level": "info", "debug": "true"}  # empty values are left out
    assert ev.ts == datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("stamp", "expected"), [
    ("t=2017-05-11T13:03:09+0800", datetime(2017, 5, 11, 5, 3, 9, tzinfo=UTC)),
    ('time="2026-03-14 09:00:00"', datetime(2026, 3, 14, 9, 0, tzinfo=UTC)),
    ("ts=1773478953.5", datetime(2026, 3, 14, 9, 2, 33, 500000, tzinfo=UTC)),
    ("timestamp=1773478953000", datetime(2026, 3, 14, 9, 2, 33, tzinfo=UTC)),
])
def test_time_keys_and_formats(tmp_path, stamp, expected):
    assert one(tmp_path, f"{stamp} level=info msg=x").ts == expected


def test_heroku_at_is_a_level_and_fwd_the_client(tmp_path):
    ev = one(tmp_path, 'at=error code=H12 desc="Request timeout" method=GET path="/" host=app.herokuapp.com '
                       'request_id=8601b555 fwd="81.2.69.142, 10.0.0.1" dyno=web.1 status=503 bytes=0')
    assert (ev.category, ev.action, ev.outcome) == ("data_access", "access", "failure")
    assert (ev.src_ip, ev.session, ev.resource, ev.host) == ("81.2.69.142", "8601b555", "/", None)
    assert ev.attrs["level"] == "error" and ev.attrs["host"] == "app.herokuapp.com"


def test_application_audit_events():
    login, failed = at(APP, 3), at(APP, 4)
    assert (login.category, login.action, login.outcome, login.actor, login.src_ip, login.session) == (
        "authentication", "login", "success", "alice", "10.20.1.15", "7f3c9e2a")
    assert login.user_agent.startswith("Mozilla/5.0") and login.original_action == "login"
    assert (failed.action, failed.outcome, failed.actor, failed.attrs["reason"]) == (
        "login", "failure", "administrator", "bad_password")
    locked = at(APP, 7)  # the action word is already one of ours
    assert (locked.category, locked.action, locked.actor, locked.target) == (
        "user_management", "user_locked", "system", "administrator")
    created, granted, deleted = at(APP, 8), at(APP, 9), at(APP, 13)
    assert (created.action, created.actor, created.target) == ("user_created", "alice", "svc-report")
    assert (granted.category, granted.action, granted.role, granted.target) == (
        "permission_change", "role_granted", "billing-admin", "svc-report")
    assert (deleted.action, deleted.outcome) == ("user_deleted", "success")
    assert at(APP, 10).action == "password_changed"
    assert (at(APP, 12).action, at(APP, 12).resource) == ("access", "/exports/payroll-2026-02.csv")
    assert (at(APP, 14).action, at(APP, 15).action, at(APP, 15).outcome) == ("logout", "authenticate", "failure")
    assert at(APP, 1).pid == 4121 and at(APP, 1).action == "log"


def test_http_request_logs():
    denied, ok, forbidden = at(GRAFANA, 5), at(GRAFANA, 10), at(GRAFANA, 12)
    assert (denied.category, denied.action, denied.outcome, denied.src_ip) == (
        "authentication", "authenticate", "failure", "203.0.113.50")
    assert (ok.category, ok.action, ok.outcome, ok.actor, ok.resource) == (
        "data_access", "access", "success", "alice", "/login")
    assert (forbidden.outcome, forbidden.original_action) == ("failure", "GET")
    assert at(GRAFANA, 1).action == "log" and at(GRAFANA, 1).attrs["logger"] == "settings"


# --- configured mappings -----------------------------------------------------------------------

def test_configured_mapping_turns_grafana_messages_into_logins():
    failed = at(GRAFANA, 6, options=GRAFANA_LOGIN)
    assert (failed.category, failed.action, failed.outcome, failed.actor, failed.src_ip) == (
        "authentication", "authenticate", "failure", "admin", "203.0.113.50")
    assert failed.original_action == "Failed to authenticate request"
    assert failed.attrs["mapping"] == "grafana-login" and failed.attrs["logger"] == "authn.service"
    ok = at(GRAFANA, 9, options=GRAFANA_LOGIN)
    assert (ok.action, ok.outcome, ok.actor, ok.src_ip) == ("login", "success", "alice", "10.20.1.15")
    other = at(GRAFANA, 10, options=GRAFANA_LOGIN)  # `when` does not match: common keys
    assert other.action == "access" and "mapping" not in other.attrs


@pytest.mark.parametrize(("options", "message"), [
    ({"mapping": []}, "unknown key"),
    ({"mappings": [{"name": "m", "fields": {"who": "user"}}]}, "mapping 'm' (mappings[0]): fields.who"),
    ({"mappings": [{"fields": {"action": "evt"}, "values": {"action": {"x": "pwned"}}}]}, "values.action.x"),
    ({"mappings": [{"fields": {"actor": "u"}, "values": {"action": {"x": "login"}}}]}, "fields.action does not say"),
    ({"mappings": [{"fields": {"actor": "u"}, "category": "nope"}]}, "category"),
])
def test_bad_mappings_are_reported(tmp_path, options, message):
    path = tmp_path / "app.log"
    path.write_text("ts=2026-03-14T09:00:00Z level=info msg=x\n")
    with pytest.raises(ValueError, match=re.escape(message)):
        events(path, options=options)
