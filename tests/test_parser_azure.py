"""The azure parser: detection, Entra ID sign-ins and audit logs, the Activity Log, shapes.

There is no Azure log in ../shared/corpus/, so there is no corpus comparison here; the samples
follow the diagnostic-settings export schema (`time`, `resourceId`, `operationName`, `category`,
`resultType`, `callerIpAddress`, `correlationId`, `identity`, `properties`) of the Azure
Activity Log and of the Microsoft Entra ID SignInLogs and AuditLogs categories.
"""

from __future__ import annotations

import io
import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditctl.schema import validate_event
from auditctl.sources import Source
from support import SAMPLES, bytes_reader, nth_original, parser_and_reader

NAME = "azure"
ENTRA = SAMPLES / NAME / "entra_PT1H.json"
HUB = SAMPLES / NAME / "activity_eventhub.json"
TENANT = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"
SUB = "7d1c4e2a-93b5-4f0e-b6a8-2c5d9e1f3a70"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-payments"
LEE_OID = "9b8a7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"


parser, events = parser_and_reader(NAME)
parse_bytes = bytes_reader(events, "PT1H.json")


by_op = nth_original


def sign_in(code=0, category="SignInLogs", **props):
    p = {"userPrincipalName": "alice@contoso.example", "appDisplayName": "Azure Portal", "ipAddress": "192.0.2.10",
         "status": {"errorCode": code}, "resourceDisplayName": "Windows Azure Service Management API"}
    p.update(props)
    return {"time": "2026-03-23T08:00:00.1234567Z", "resourceId": f"/tenants/{TENANT}/providers/Microsoft.aadiam",
            "operationName": "Sign-in activity", "category": category, "tenantId": TENANT, "resultType": str(code),
            "callerIpAddress": "192.0.2.10", "correlationId": "c-1", "properties": p}


def activity(op="MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE", result="Success", **props):
    return {"time": "2026-03-23T09:00:00.0000000Z",
            "resourceId": f"{RG}/providers/Microsoft.Authorization/roleAssignments/ra-1",
            "operationName": op, "category": "Administrative", "resultType": result,
            "callerIpAddress": "192.0.2.10", "correlationId": "c-2",
            "identity": {"claims": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "admin@contoso.example"}},
            "properties": props}


# --- detection --------------------------------------------------------------------------------

# --- Entra ID sign-ins ---------------------------------------------------------------------------

def test_sign_ins():
    evs = [e for e in events(ENTRA) if e.original_action == "Sign-in activity"]
    ok = evs[0]
    assert (ok.category, ok.action, ok.outcome, ok.actor) == (
        "authentication", "login", "success", "MeganB@contoso.example")
    assert ok.app == "OfficeHome" and ok.resource == "Office 365 Exchange Online"
    assert ok.src_ip == "198.51.100.23" and ok.user_agent.startswith("Mozilla/5.0")
    assert ok.host == TENANT and ok.session == orjson.loads(ok.raw)["correlationId"]
    assert ok.attrs["error_code"] == 0 and ok.attrs["authentication_requirement"] == "multiFactorAuthentication"
    bad = evs[1]
    assert (bad.outcome, bad.actor, bad.attrs["error_code"]) == ("failure", "LeeG@contoso.example", 50126)
    assert bad.attrs["failure_reason"].startswith("Error validating credentials")
    assert "failed (50126:" in bad.message
    locked, blocked = evs[3], evs[4]
    assert (locked.outcome, locked.attrs["error_code"]) == ("failure", 50053)
    assert (blocked.outcome, blocked.attrs["conditional_access"]) == ("failure", "failure")
    non_interactive = evs[5]
    assert (non_interactive.action, non_interactive.attrs["log_category"]) == (
        "authenticate", "NonInteractiveUserSignInLogs")


@pytest.mark.parametrize(("category", "action"), [
    ("SignInLogs", "login"), ("NonInteractiveUserSignInLogs", "authenticate"),
    ("ServicePrincipalSignInLogs", "authenticate"), ("ManagedIdentitySignInLogs", "authenticate"),
])
def test_sign_in_categories(tmp_path, category, action):
    ev, = parse_bytes(tmp_path, orjson.dumps(sign_in(category=category)) + b"\n")
    assert (ev.category, ev.action, ev.outcome) == ("authentication", action, "success")


def test_properties_given_as_json_text(tmp_path):
    rec = sign_in(50126)
    rec["properties"] = json.dumps(rec["properties"])
    ev, = parse_bytes(tmp_path, orjson.dumps(rec) + b"\n")
    assert (ev.actor, ev.outcome, ev.app) == ("alice@contoso.example", "failure", "Azure Portal")


def test_sign_in_without_status_uses_result_type(tmp_path):
    rec = sign_in(50126)
    del rec["properties"]["status"]
    ev, = parse_bytes(tmp_path, orjson.dumps(rec) + b"\n")
    assert ev.outcome == "failure" and ev.attrs["error_code"] == "50126"
    assert ev.ts.isoformat() == "2026-03-23T08:00:00.123456+00:00"


# --- Entra ID audit logs -------------------------------------------------------------------------

@pytest.mark.parametrize(("op", "n", "category", "action", "outcome", "actor", "target", "role"), [
    ("Add user", 0, "user_management", "user_created", "success", "admin@contoso.example",
     "NestorW@contoso.example", None),
    ("Reset user password", 0, "user_management", "password_changed", "success", "admin@contoso.example",
     "NestorW@contoso.example", None),
    ("Change user password", 0, "user_management", "password_changed", "success", "MeganB@contoso.example",
     "MeganB@contoso.example", None),
    ("Add member to group", 0, "permission_change", "group_member_added", "success", "admin@contoso.example",
     "NestorW@contoso.example", "Finance-Approvers"),  # the group name only in modifiedProperties
    ("Add member to group", 1, "permission_change", "group_member_added", "failure", "admin@contoso.example",
     "jo.mallory_partner.example#EXT#@contoso.example", "Finance-Approvers"),
    ("Remove member from group", 0, "permission_change", "group_member_removed", "success",
     "admin@contoso.example", "NestorW@contoso.example", "Finance-Approvers"),
    ("Add member to role", 0, "permission_change", "role_granted", "success", "admin@contoso.example",
     "NestorW@contoso.example", "Global Administrator"),
    ("Remove member from role", 0, "permission_change", "role_revoked", "success", "admin@contoso.example",
     "NestorW@contoso.example", "Global Administrator"),
    ("Disable account", 0, "user_management", "user_locked", "success", "admin@contoso.example",
     "NestorW@contoso.example", None),
    ("Update user", 0, "user_management", "user_modified", "success", "admin@contoso.example",
     "LeeG@contoso.example", None),
    ("Delete user", 0, "user_management", "user_deleted", "success", "admin@contoso.example",
     "5f0c1e2d3b4a49788c6d7e8f9a0b1c2dNestorW@contoso.example", None),
    ("Add service principal credentials", 0, "user_management", "password_changed", "success",
     "Microsoft Azure CLI", "billing-sync", None),
    ("Update conditional access policy", 0, "policy_change", "policy_changed", "success",
     "admin@contoso.example", None, None),
    ("Update StsRefreshTokenValidFrom Timestamp", 0, "system", "log", "success",
     "Microsoft Substrate Management", "LeeG@contoso.example", None),
])
def test_audit_mapping(op, n, category, action, outcome, actor, target, role):
    ev = by_op(events(ENTRA), op, n)
    assert (ev.category, ev.action, ev.outcome, ev.actor, ev.target, ev.role) == (
        category, action, outcome, actor, target, role)
    assert ev.host == TENANT


def test_audit_details():
    evs = events(ENTRA)
    added = by_op(evs, "Add user")
    assert added.app == "Core Directory" and added.src_ip == "198.51.100.23"
    assert added.attrs["audit_category"] == "UserManagement" and added.attrs["operation_type"] == "Add"
    policy = by_op(evs, "Update conditional access policy")
    assert policy.resource == "Require MFA for admins" and policy.app == "Conditional Access"
    failed = by_op(evs, "Add member to group", 1)
    assert failed.attrs["result_reason"].endswith("DirectoryUniquenessException")
    creds = by_op(evs, "Add service principal credentials")
    assert creds.user_agent == "Microsoft Azure Graph Client Library 2.1.17-internal"  # additionalDetails
    assert creds.src_ip is None


# --- Activity Log --------------------------------------------------------------------------------

def test_role_assignment_write_start_and_success():
    evs = events(HUB)
    start, done = evs[0], evs[1]
    for ev in (start, done):
        assert (ev.category, ev.action, ev.actor, ev.target, ev.role, ev.resource) == (
            "permission_change", "role_granted", "admin@contoso.example", LEE_OID, "Contributor", RG)
        assert ev.attrs["role_definition_id"].endswith("b24988ac-6180-42a0-ab88-20f7382dd24c")
        assert ev.attrs["principal_type"] == "User" and ev.host == SUB and ev.app == "MICROSOFT.AUTHORIZATION"
    assert (start.outcome, done.outcome) == ("unknown", "success")  # Start, then Success
    assert start.session == done.session  # one correlationId


@pytest.mark.parametrize(("op", "n", "category", "action", "outcome", "actor", "role"), [
    ("MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE", 2, "permission_change", "role_granted", "failure",
     "AdeleV@contoso.example", "Owner"),
    ("MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/DELETE", 0, "permission_change", "role_revoked", "success",
     "admin@contoso.example", "Contributor"),
    ("MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE", 3, "permission_change", "role_granted", "success",
     "admin@contoso.example", "fa23ad8b-c56e-40d8-ac0c-ce449e1d2c64"),  # not a built-in id we name
    ("MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SECURITYRULES/WRITE", 0, "policy_change", "policy_changed",
     "success", "admin@contoso.example", None),
    ("MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION", 0, "data_access", "access", "success",
     "3f1e9b2c-7a4d-4c8e-9f0a-1b2c3d4e5f6a", None),  # a service principal: its appid claim
    ("MICROSOFT.COMPUTE/VIRTUALMACHINES/RUNCOMMAND/ACTION", 0, "privileged_action", "command_run", "unknown",
     "admin@contoso.example", None),
    ("MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE", 0, "policy_change", "audit_config_changed", "success",
     "admin@contoso.example", None),
    ("MICROSOFT.AUTHORIZATION/POLICYASSIGNMENTS/WRITE", 0, "policy_change", "policy_changed", "success",
     "admin@contoso.example", None),
    ("MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE", 0, "system", "log", "success",
     "3f1e9b2c-7a4d-4c8e-9f0a-1b2c3d4e5f6a", None),
    ("Microsoft.Resourcehealth/healthevent/Activated/action", 0, "system", "log", "unknown", None, None),
])
def test_activity_mapping(op, n, category, action, outcome, actor, role):
    ev = by_op(events(HUB), op, n)
    assert (ev.category, ev.action, ev.outcome, ev.actor, ev.role) == (category, action, outcome, actor, role)
    assert ev.host == SUB


def test_failed_role_assignment_and_removed_one():
    evs = events(HUB)
    failed = by_op(evs, "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE", 2)
    assert failed.attrs["result_signature"] == "Failed.Forbidden" and failed.attrs["status_code"] == "Forbidden"
    assert failed.src_ip == "203.0.113.45" and "failed (Failed.Forbidden)" in failed.message
    removed = by_op(evs, "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/DELETE")
    assert (removed.target, removed.resource) == (LEE_OID, RG)  # from the responseBody


def test_caller_field_wins_over_claims(tmp_path):
    rec = activity(requestbody=json.dumps({"Properties": {"PrincipalId": "p-1", "RoleDefinitionId":
                   "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
                   "Scope": RG}}))
    rec["caller"] = "ops@contoso.example"
    ev, = parse_bytes(tmp_path, orjson.dumps(rec) + b"\n")
    assert (ev.actor, ev.role, ev.target) == ("ops@contoso.example", "Reader", "p-1")


# --- shapes and bad records ----------------------------------------------------------------------

def test_storage_blob_json_lines():
    evs = events(ENTRA)
    lines = ENTRA.read_text().splitlines()
    assert len(evs) == len(lines) == 25  # one event per record, nothing dropped
    for ev in evs:
        assert ev.raw == lines[ev.line - 1] and ev.origin is None
        assert validate_event(ev) == []


def test_malformed_and_unknown_records_are_kept_unparsed():
    bad = [e for e in events(ENTRA) if e.action == "unparsed"]
    assert [e.line for e in bad] == [14, 25]
    assert bad[0].attrs["reason"].startswith("azure: invalid JSON")
    assert "neither operationName nor category" in bad[1].attrs["reason"]


def test_event_hub_document():
    evs = events(HUB)
    records = json.loads(HUB.read_text())["records"]
    assert len(evs) == len(records) == 13
    for i, (ev, rec) in enumerate(zip(evs, records, strict=True)):
        assert ev.origin == f"records[{i}]" and ev.line is None
        assert orjson.loads(ev.raw) == rec
        assert validate_event(ev) == []
    assert evs[-1].action == "unparsed"


def test_event_hub_messages_one_a_line(tmp_path):
    msg1 = orjson.dumps({"records": [sign_in(), activity()]})
    msg2 = orjson.dumps({"records": [sign_in(50126)]})
    evs = parse_bytes(tmp_path, msg1 + b"\n" + msg2 + b"\n", "capture.jsonl")
    assert [(e.line, e.origin, e.action, e.outcome) for e in evs] == [
        (1, "records[0]", "login", "success"), (1, "records[1]", "role_granted", "success"),
        (2, "records[0]", "login", "failure")]


# --- robustness ----------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)


@settings(deadline=None, database=None)  # max_examples: the profile in conftest.py
@given(st.fixed_dictionaries(
    {"category": st.sampled_from(["SignInLogs", "AuditLogs", "Administrative"]) | _JSON,
     "operationName": st.sampled_from(["Add member to group", "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE",
                                       "Sign-in activity"]) | _JSON},
    optional={k: _JSON for k in ("time", "resourceId", "properties", "identity", "resultType",
                                 "callerIpAddress", "correlationId", "caller")}))
def test_any_record_shape_becomes_one_event(rec):
    raw = orjson.dumps(rec)
    evs = list(parser().parse(Source(label="t", stream=io.BytesIO(raw + b"\n"))))
    assert len(evs) == 1 and evs[0].raw == raw.decode() and validate_event(evs[0]) == []
