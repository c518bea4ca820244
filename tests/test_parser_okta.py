"""The okta parser: detection, the eventType mapping, both file shapes, bad records.

There is no Okta System Log in ../shared/corpus/, so there is no corpus comparison here; the
samples follow the LogEvent object of the Okta System Log API (actor, client, outcome,
authenticationContext, debugContext.debugData, target[]) and its event types.
"""

from __future__ import annotations

import io
import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditctl.schema import validate_event
from auditctl.sources import Source, head_from_bytes
from support import SAMPLES, bytes_reader, nth_original, parser_and_reader

NAME = "okta"
JSONL = SAMPLES / NAME / "system_log.jsonl"
PAGE = SAMPLES / NAME / "logs_api_page.json"


parser, events = parser_and_reader(NAME)
parse_bytes = bytes_reader(events, "okta.json")


by_type = nth_original


def log_event(etype="user.session.start", **fields):
    """A LogEvent in the documented layout, with the fields the parser reads."""
    rec = {
        "actor": {"id": "00u1", "type": "User", "alternateId": "alice@example.com", "displayName": "Alice"},
        "client": {"userAgent": {"rawUserAgent": "Mozilla/5.0", "os": "Mac OS X", "browser": "CHROME"},
                   "zone": "null", "device": "Computer", "ipAddress": "192.0.2.10"},
        "authenticationContext": {"externalSessionId": "102abc"},
        "displayMessage": "User login to Okta", "eventType": etype,
        "outcome": {"result": "SUCCESS", "reason": None}, "published": "2026-03-16T08:00:00.000Z",
        "severity": "INFO", "debugContext": {"debugData": {}}, "legacyEventType": None,
        "transaction": {"type": "WEB", "id": "tx1", "detail": {}}, "uuid": "u-1", "version": "0",
        "target": None,
    }
    rec.update(fields)
    return rec


# --- detection --------------------------------------------------------------------------------

def test_bare_okta_like_keys_are_only_a_guess():
    head = head_from_bytes("x.log", b'{"eventType":"user.session.start","published":"2026-03-16T08:00:00Z"}\n')
    assert 0.3 <= parser().detect(head) < 0.9


# --- mapping ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("etype", "n", "category", "action", "outcome", "actor", "target", "role"), [
    ("user.session.start", 0, "authentication", "login", "success", "alice.nguyen@example.com", None, None),
    ("user.session.start", 1, "authentication", "login", "failure", "bob.jansen@example.com", None, None),
    ("user.session.end", 0, "authentication", "logout", "success", "alice.nguyen@example.com", None, None),
    ("user.authentication.auth_via_mfa", 0, "authentication", "authenticate", "success",
     "alice.nguyen@example.com", None, None),
    ("user.authentication.sso", 0, "authentication", "authenticate", "success",
     "alice.nguyen@example.com", None, None),
    ("user.account.lock", 0, "user_management", "user_locked", "success", "bob.jansen@example.com",
     "bob.jansen@example.com", None),
    ("user.account.unlock", 0, "user_management", "user_unlocked", "success", "it-admin@example.com",
     "bob.jansen@example.com", None),
    ("user.lifecycle.create", 0, "user_management", "user_created", "success", "it-admin@example.com",
     "carol.diaz@example.com", None),
    ("user.lifecycle.activate", 0, "user_management", "user_unlocked", "success", "it-admin@example.com",
     "carol.diaz@example.com", None),
    ("user.lifecycle.suspend", 0, "user_management", "user_locked", "success", "it-admin@example.com",
     "erin.moss@example.com", None),
    ("user.lifecycle.deactivate", 0, "user_management", "user_locked", "success", "it-admin@example.com",
     "erin.moss@example.com", None),
    ("user.lifecycle.delete.initiated", 0, "user_management", "user_deleted", "success",
     "it-admin@example.com", "erin.moss@example.com", None),
    ("group.user_membership.add", 0, "permission_change", "group_member_added", "success",
     "it-admin@example.com", "carol.diaz@example.com", "Engineering"),
    ("group.user_membership.remove", 0, "permission_change", "group_member_removed", "success",
     "it-admin@example.com", "dave.okafor@example.com", "Contractors"),
    ("application.user_membership.add", 0, "permission_change", "role_granted", "success",
     "it-admin@example.com", "carol.diaz@example.com", "AWS IAM Identity Center"),
    ("user.account.privilege.grant", 0, "permission_change", "role_granted", "success",
     "it-admin@example.com", "carol.diaz@example.com", "Super administrator"),
    ("user.account.privilege.revoke", 0, "permission_change", "role_revoked", "success",
     "it-admin@example.com", "carol.diaz@example.com", None),
    ("user.account.update_password", 0, "user_management", "password_changed", "success",
     "carol.diaz@example.com", "carol.diaz@example.com", None),
    ("user.account.reset_password", 0, "user_management", "password_changed", "success",
     "it-admin@example.com", "dave.okafor@example.com", None),
    ("user.mfa.factor.deactivate", 0, "user_management", "user_modified", "success",
     "it-admin@example.com", "dave.okafor@example.com", None),
    ("policy.lifecycle.update", 0, "policy_change", "policy_changed", "success", "it-admin@example.com",
     None, None),
    ("policy.rule.update", 0, "policy_change", "policy_changed", "success", "it-admin@example.com",
     None, None),
    ("policy.evaluate_sign_on", 0, "system", "log", "success", "alice.nguyen@example.com", None, None),
    ("system.api_token.create", 0, "user_management", "password_changed", "success",
     "it-admin@example.com", None, None),
    ("system.org.rate_limit.warning", 0, "system", "log", "success", "siem-export", None, None),
])
def test_mapping(etype, n, category, action, outcome, actor, target, role):
    ev = by_type(events(JSONL), etype, n)
    assert (ev.category, ev.action, ev.outcome, ev.actor, ev.target, ev.role) == (
        category, action, outcome, actor, target, role)
    assert ev.app == "okta" and ev.host is None


def test_common_fields_of_a_login():
    ev = by_type(events(JSONL), "user.session.start")
    assert ev.src_ip == "198.51.100.23"
    assert ev.user_agent.startswith("Mozilla/5.0 (Macintosh")
    assert ev.session == "102u8jzPde0IgxLd6GncfBAep"  # authenticationContext.externalSessionId
    assert ev.ts.isoformat() == "2026-03-16T08:02:12.170000+00:00"
    assert ev.attrs["actor_name"] == "Alice Nguyen" and ev.attrs["credential_type"] == "PASSWORD"
    assert ev.attrs["country"] == "United States" and ev.attrs["outcome_result"] == "SUCCESS"


def test_failed_login_keeps_the_reason():
    ev = by_type(events(JSONL), "user.session.start", 3)
    assert ev.outcome == "failure" and ev.attrs["outcome_reason"] == "LOCKED_OUT"
    assert ev.session is None  # externalSessionId "unknown"
    assert "failed (LOCKED_OUT)" in ev.message


def test_policy_objects_are_the_resource():
    evs = events(JSONL)
    assert by_type(evs, "policy.lifecycle.update").resource == "Default Policy"
    assert by_type(evs, "policy.rule.update").resource == "Default Rule"
    assert by_type(evs, "user.authentication.sso").resource == "Slack"


@pytest.mark.parametrize(("result", "outcome"), [
    ("SUCCESS", "success"), ("ALLOW", "success"), ("FAILURE", "failure"), ("DENY", "failure"),
    ("CHALLENGE", "unknown"), ("SKIPPED", "unknown"), ("UNKNOWN", "unknown"), (None, "unknown"),
])
def test_outcomes(tmp_path, result, outcome):
    rec = log_event(outcome={"result": result, "reason": None})
    ev, = parse_bytes(tmp_path, orjson.dumps(rec) + b"\n")
    assert ev.outcome == outcome


def test_denied_sign_on_policy_in_the_api_page():
    evs = events(PAGE)
    deny = evs[0]
    assert (deny.original_action, deny.category, deny.action, deny.outcome) == (
        "policy.evaluate_sign_on", "system", "log", "failure")
    challenge = evs[2]
    assert challenge.outcome == "unknown" and challenge.attrs["outcome_result"] == "CHALLENGE"
    removed = by_type(evs, "application.user_membership.remove")
    assert (removed.action, removed.target, removed.role) == (
        "role_revoked", "dave.okafor@example.com", "AWS IAM Identity Center")


# --- shapes and bad records --------------------------------------------------------------------

def test_api_page_array_one_event_per_item():
    evs = events(PAGE)
    items = json.loads(PAGE.read_text())
    assert len(evs) == len(items) == 15
    for i, (ev, item) in enumerate(zip(evs, items, strict=True)):
        assert ev.origin == f"[{i}]" and ev.line is None
        assert orjson.loads(ev.raw) == item and ev.raw in PAGE.read_text()  # its exact text in the page
        assert validate_event(ev) == []
    error = evs[13]  # an API error object saved among the events
    assert error.action == "unparsed" and "no eventType" in error.attrs["reason"]


def test_one_array_a_line_and_non_object_items(tmp_path):
    page1 = orjson.dumps([log_event(), log_event("user.session.end")])
    page2 = orjson.dumps([log_event("user.lifecycle.create"), "junk", {"errorCode": "E0000011"}])
    evs = parse_bytes(tmp_path, page1 + b"\n" + page2 + b"\n", "pages.jsonl")
    assert [(e.line, e.origin, e.action) for e in evs] == [
        (1, "[0]", "login"), (1, "[1]", "logout"), (2, "[0]", "user_created"), (2, "[1]", "unparsed"),
        (2, "[2]", "unparsed")]


def test_pretty_single_object_and_bom(tmp_path):
    evs = parse_bytes(tmp_path, b"\xef\xbb\xbf" + json.dumps(log_event(), indent=2).encode(), "one.json")
    assert len(evs) == 1 and evs[0].action == "login" and evs[0].line == 1
    evs = parse_bytes(tmp_path, b"\xef\xbb\xbf" + orjson.dumps(log_event()) + b"\n", "bom.jsonl")
    assert evs[0].action == "login"


def test_truncated_array_keeps_every_line(tmp_path):
    data = json.dumps([log_event(), log_event()], indent=2).encode()[:-30]
    evs = parse_bytes(tmp_path, data, "cut.json")
    assert evs and all(e.action == "unparsed" for e in evs)
    assert len(evs) == len([ln for ln in data.split(b"\n") if ln.strip()])


def test_stream_without_look_ahead():
    class NoPeek(io.RawIOBase):
        def __init__(self, data):
            self._b = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buf):
            return self._b.readinto(buf)

    data = json.dumps([log_event(), log_event("user.session.end")]).encode()
    evs = list(parser().parse(Source(label="stdin", stream=NoPeek(data))))
    assert [(e.origin, e.action) for e in evs] == [("[0]", "login"), ("[1]", "logout")]


# --- robustness --------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)


@settings(deadline=None, database=None)  # max_examples: the profile in conftest.py
@given(st.fixed_dictionaries(
    {"eventType": st.sampled_from(["user.session.start", "group.user_membership.add",
                                   "user.account.privilege.grant", "policy.rule.update"]) | _JSON},
    optional={k: _JSON for k in ("actor", "client", "outcome", "target", "published", "debugContext",
                                 "authenticationContext", "displayMessage", "uuid", "transaction")}))
def test_any_record_shape_becomes_one_event(rec):
    raw = orjson.dumps(rec)
    evs = list(parser().parse(Source(label="t", stream=io.BytesIO(raw + b"\n"))))
    assert len(evs) == 1 and evs[0].raw == raw.decode() and validate_event(evs[0]) == []
