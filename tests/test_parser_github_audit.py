"""The github_audit parser: detection, the action mapping, both file shapes, bad records.

There is no GitHub audit log in ../shared/corpus/, so there is no corpus comparison here; the
samples use the fields GitHub documents for audit log events (the common fields `@timestamp`,
`_document_id`, `action`, `actor`, `actor_id`, `org`, `business`, `user`, `repo`,
`operation_type`, `request_id`, `user_agent`, plus `actor_ip`, `team`, `permission`...).
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

NAME = "github_audit"
JSONL = SAMPLES / NAME / "audit_stream.jsonl"
PAGE = SAMPLES / NAME / "enterprise_api_page.json"


parser, events = parser_and_reader(NAME)
parse_bytes = bytes_reader(events, "audit.json")


by_action = nth_original


def audit_event(action="org.add_member", **fields):
    rec = {"@timestamp": 1773738724794, "_document_id": "doc-1", "action": action, "actor": "octo-admin",
           "actor_id": 1, "actor_ip": "192.0.2.10", "created_at": 1773738724794, "org": "acme-corp",
           "operation_type": "create", "user": "maria-k", "user_agent": "curl/8.4.0", "request_id": "REQ:1"}
    rec.update(fields)
    return rec


# --- detection --------------------------------------------------------------------------------

def test_older_export_without_org_keys_is_only_a_guess():
    head = head_from_bytes("x.log", b'{"action":"repo.create","actor":"a","created_at":1583763373109}\n')
    assert 0.3 <= parser().detect(head) < 0.9


# --- mapping ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("action_name", "n", "category", "action", "outcome", "actor", "target", "role",
                          "resource"), [
    ("org.add_member", 0, "permission_change", "group_member_added", "success", "octo-admin", "maria-k",
     "acme-corp", None),
    ("org.remove_member", 0, "permission_change", "group_member_removed", "success", "octo-admin", "jdoe",
     "acme-corp", None),
    ("team.add_member", 0, "permission_change", "group_member_added", "success", "octo-admin", "maria-k",
     "acme-corp/platform", None),
    ("team.add_member", 1, "permission_change", "group_member_added", "success", "sec-lead", "maria-k",
     "acme-corp/security", None),  # older export: the team under "data"
    ("team.remove_member", 0, "permission_change", "group_member_removed", "success", "octo-admin", "jdoe",
     "acme-corp/platform", None),
    ("repo.add_member", 0, "permission_change", "role_granted", "success", "octo-admin", "ext-contractor",
     "write", "acme-corp/payments-api"),
    ("repo.remove_member", 0, "permission_change", "role_revoked", "success", "octo-admin", "ext-contractor",
     "write", "acme-corp/payments-api"),
    ("org.update_member", 0, "permission_change", "role_granted", "success", "octo-admin", "maria-k",
     "admin", None),
    ("org.update_member", 1, "permission_change", "role_revoked", "success", "octo-admin", "jdoe",
     "admin", None),
    ("protected_branch.destroy", 0, "policy_change", "policy_changed", "success", "maria-k", None, None,
     "acme-corp/payments-api"),
    ("protected_branch.policy_override", 0, "policy_change", "policy_changed", "success", "octo-admin",
     None, None, "acme-corp/payments-api"),
    ("protected_branch.rejected_ref_update", 0, "data_access", "access", "failure", "ext-contractor", None,
     None, "acme-corp/payments-api"),
    ("repo.access", 0, "policy_change", "policy_changed", "success", "jdoe", None, None,
     "acme-corp/docs-site"),
    ("git.push", 0, "data_access", "access", "success", "maria-k", None, None, "acme-corp/payments-api"),
    ("git.clone", 0, "data_access", "access", "success", "build-bot", None, None, "acme-corp/payments-api"),
    ("personal_access_token.access_granted", 0, "permission_change", "role_granted", "success",
     "octo-admin", "build-bot", None, None),
    ("personal_access_token.access_revoked", 0, "permission_change", "role_revoked", "success",
     "octo-admin", "build-bot", None, None),
    ("org.update_default_repository_permission", 0, "policy_change", "policy_changed", "success",
     "octo-admin", None, None, None),
    ("org.enable_two_factor_requirement", 0, "policy_change", "policy_changed", "success", "octo-admin",
     None, None, None),
    ("repo.create", 0, "system", "log", "success", "maria-k", None, None, "acme-corp/ml-experiments"),
    ("org.invite_member", 0, "system", "log", "success", "octo-admin", "maria-k", None, None),
    ("workflows.completed_workflow_run", 0, "system", "log", "success", "dependabot[bot]", None, None,
     "acme-corp/payments-api"),
])
def test_mapping(action_name, n, category, action, outcome, actor, target, role, resource):
    ev = by_action(events(JSONL), action_name, n)
    assert (ev.category, ev.action, ev.outcome, ev.actor, ev.target, ev.role, ev.resource) == (
        category, action, outcome, actor, target, role, resource)
    assert ev.app == "github" and ev.host == "acme-corp"


@pytest.mark.parametrize(("action_name", "category", "action", "target", "role", "host"), [
    ("business.add_admin", "permission_change", "role_granted", "sec-lead", "enterprise owner", "acme"),
    ("business.remove_admin", "permission_change", "role_revoked", "octo-admin", "enterprise owner", "acme"),
    ("business.remove_member", "permission_change", "group_member_removed", "ext-contractor", "acme", "acme"),
    ("audit_log_streaming.update", "policy_change", "audit_config_changed", None, None, "acme"),
    ("repository_ruleset.update", "policy_change", "policy_changed", None, None, "acme-corp"),
    ("org.block_user", "user_management", "user_locked", "ext-contractor", None, "acme-corp"),
    ("org.unblock_user", "user_management", "user_unlocked", "ext-contractor", None, "acme-corp"),
    ("public_key.create", "user_management", "password_changed", None, None, "acme-corp"),
    ("public_key.delete", "user_management", "user_modified", None, None, "acme-corp"),
    ("team.create", "user_management", "group_created", None, "acme-corp/incident-response", "acme-corp"),
    ("git.fetch", "data_access", "access", None, None, "acme-corp"),
])
def test_enterprise_page_mapping(action_name, category, action, target, role, host):
    ev = by_action(events(PAGE), action_name)
    assert (ev.category, ev.action, ev.target, ev.role, ev.host) == (category, action, target, role, host)


def test_common_fields():
    ev = by_action(events(JSONL), "git.push")
    assert ev.src_ip == "203.0.113.9" and ev.user_agent == "git/2.44.0"
    assert ev.ts.isoformat().startswith("2026-03-17T10:16:04")  # @timestamp, epoch milliseconds
    assert ev.session.count(":") == 4  # request_id
    assert ev.attrs["programmatic_access_type"] == "Personal access token (classic)"
    assert ev.attrs["transport_protocol"] == "http" and ev.attrs["country"] == "NL"
    assert ev.attrs["document_id"] and ev.attrs["operation_type"] == "modify"


def test_older_record_uses_created_at_and_has_no_ip():
    ev = by_action(events(JSONL), "team.add_member", 1)
    assert ev.ts.isoformat() == "2026-03-17T11:42:04.331000+00:00"
    assert ev.src_ip is None and ev.session is None


@pytest.mark.parametrize(("fields", "expected"), [
    ({"permission": "admin", "old_permission": "read"}, ("permission_change", "role_granted", "admin")),
    ({"permission": "read", "old_permission": "admin"}, ("permission_change", "role_revoked", "admin")),
    ({"permission": "write"}, ("permission_change", "role_granted", "write")),
    ({}, ("user_management", "user_modified", None)),
])
def test_update_member_direction(tmp_path, fields, expected):
    ev, = parse_bytes(tmp_path, orjson.dumps(audit_event("org.update_member", **fields)) + b"\n")
    assert (ev.category, ev.action, ev.role) == expected


@pytest.mark.parametrize(("stamp", "iso"), [
    ({"@timestamp": 1773738724794}, "2026-03-17T09:12:04.794000+00:00"),
    ({"@timestamp": None, "created_at": "1773738724794"}, "2026-03-17T09:12:04.794000+00:00"),
    ({"@timestamp": None, "created_at": "2023-08-17 22:19:49.374"}, "2023-08-17T22:19:49.374000+00:00"),
    ({"@timestamp": None, "created_at": "2021-03-07T00:35:08.000Z"}, "2021-03-07T00:35:08+00:00"),
    ({"@timestamp": None, "created_at": "yesterday"}, None),
])
def test_timestamps(tmp_path, stamp, iso):
    ev, = parse_bytes(tmp_path, orjson.dumps(audit_event(**stamp)) + b"\n")
    assert (ev.ts.isoformat() if ev.ts else None) == iso


# --- shapes and bad records --------------------------------------------------------------------

def test_api_page_array_one_event_per_item():
    evs = events(PAGE)
    items = json.loads(PAGE.read_text())
    assert len(evs) == len(items) == 15
    for i, (ev, item) in enumerate(zip(evs, items, strict=True)):
        assert ev.origin == f"[{i}]" and ev.line is None
        assert orjson.loads(ev.raw) == item and ev.raw in PAGE.read_text()  # its exact text in the page
        assert validate_event(ev) == []
    error = evs[8]  # a rate-limit answer saved among the events
    assert error.action == "unparsed" and "no action" in error.attrs["reason"]


def test_non_object_items_and_one_array_a_line(tmp_path):
    data = orjson.dumps([audit_event(), 42, audit_event("git.clone")]) + b"\n" + orjson.dumps(audit_event()) + b"\n"
    evs = parse_bytes(tmp_path, data, "mixed.jsonl")
    assert [(e.line, e.origin, e.action) for e in evs] == [
        (1, "[0]", "group_member_added"), (1, "[1]", "unparsed"), (1, "[2]", "access"),
        (2, None, "group_member_added")]


# --- robustness --------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)


@settings(deadline=None, database=None)  # max_examples: the profile in conftest.py
@given(st.fixed_dictionaries(
    {"action": st.sampled_from(["org.update_member", "team.add_member", "repo.add_member", "git.clone"]) | _JSON},
    optional={k: _JSON for k in ("actor", "user", "team", "data", "permission", "old_permission", "org",
                                 "@timestamp", "created_at", "actor_ip", "repo", "actor_location")}))
def test_any_record_shape_becomes_one_event(rec):
    raw = orjson.dumps(rec)
    evs = list(parser().parse(Source(label="t", stream=io.BytesIO(raw + b"\n"))))
    assert len(evs) == 1 and evs[0].raw == raw.decode() and validate_event(evs[0]) == []
