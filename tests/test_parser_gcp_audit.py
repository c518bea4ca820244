"""The gcp_audit parser: detection, the method mapping, IAM policy deltas, file shapes.

There is no Google Cloud audit log in ../shared/corpus/, so there is no corpus comparison here;
the samples follow the Cloud Logging LogEntry and the AuditLog protoPayload (authenticationInfo,
requestMetadata, serviceData.policyDelta, status) as documented by Google.
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
from support import SAMPLES, bytes_reader, json_records, nth_original, parser_and_reader

NAME = "gcp_audit"
JSONL = SAMPLES / NAME / "cloudaudit_sink.jsonl"
ARRAY = SAMPLES / NAME / "gcloud_logging_read.json"
PROJECT = "acme-prod-4471"
CI = f"ci-deployer@{PROJECT}.iam.gserviceaccount.com"
BACKUP = f"backup-agent@{PROJECT}.iam.gserviceaccount.com"


parser, events = parser_and_reader(NAME)
parse_bytes = bytes_reader(events, "entries.json")


by_method = nth_original


def entry(method="SetIamPolicy", log="activity", **proto):
    pp = {"@type": "type.googleapis.com/google.cloud.audit.AuditLog", "status": {},
          "authenticationInfo": {"principalEmail": "alice@example.com"},
          "requestMetadata": {"callerIp": "192.0.2.10", "callerSuppliedUserAgent": "gcloud"},
          "serviceName": "cloudresourcemanager.googleapis.com", "methodName": method,
          "resourceName": "projects/p1"}
    pp.update(proto)
    return {"protoPayload": pp, "insertId": "ins-1", "resource": {"type": "project", "labels": {"project_id": "p1"}},
            "timestamp": "2026-03-19T08:00:00.123456789Z", "severity": "NOTICE",
            "logName": f"projects/p1/logs/cloudaudit.googleapis.com%2F{log}"}


def deltas(*binding, audit=None):
    pd = {"bindingDeltas": [{"action": a, "role": r, "member": m} for a, r, m in binding]}
    if audit:
        pd["auditConfigDeltas"] = audit
    return {"serviceData": {"@type": "type.googleapis.com/google.iam.v1.logging.AuditData", "policyDelta": pd}}


# --- detection --------------------------------------------------------------------------------

# --- mapping ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "n", "category", "action", "outcome", "actor", "target", "role"), [
    ("SetIamPolicy", 0, "permission_change", "role_granted", "success", "alice@acme.example",
     "contractor.jm@gmail.com", "roles/editor"),
    ("storage.setIamPermissions", 0, "permission_change", "role_granted", "success",
     "contractor.jm@gmail.com", "allUsers", "roles/storage.objectViewer"),
    ("google.iam.admin.v1.CreateServiceAccount", 0, "user_management", "user_created", "success",
     "alice@acme.example", BACKUP, None),
    ("google.iam.admin.v1.CreateServiceAccountKey", 0, "user_management", "password_changed", "success",
     "alice@acme.example", BACKUP, None),
    ("google.iam.admin.v1.DeleteServiceAccountKey", 0, "user_management", "user_modified", "success",
     "alice@acme.example", BACKUP, None),
    ("google.iam.admin.v1.DeleteServiceAccount", 0, "user_management", "user_deleted", "success",
     "alice@acme.example", BACKUP, None),
    ("google.iam.admin.v1.CreateRole", 0, "policy_change", "policy_changed", "success",
     "alice@acme.example", None, None),
    ("google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion", 0, "data_access", "access",
     "success", CI, None, None),
    ("storage.objects.get", 0, "data_access", "access", "success",
     f"etl-runner@{PROJECT}.iam.gserviceaccount.com", None, None),
    ("storage.objects.get", 1, "data_access", "access", "failure", "contractor.jm@gmail.com", None, None),
    ("GenerateAccessToken", 0, "privileged_action", "privilege_escalation", "success", "bob.ops@acme.example",
     None, CI),
    ("v1.compute.firewalls.insert", 0, "policy_change", "policy_changed", "success", CI, None, None),
    ("google.logging.v2.ConfigServiceV2.DeleteSink", 0, "policy_change", "audit_config_changed", "success",
     CI, None, None),
    ("beta.compute.instances.stop", 0, "system", "log", "success", "bob.ops@acme.example", None, None),
    ("compute.instances.preempted", 0, "system", "log", "success", "system@google.com", None, None),
    ("io.k8s.core.v1.secrets.get", 0, "data_access", "access", "success",
     "system:serviceaccount:payments:api-server", None, None),
    ("storage.objects.list", 0, "data_access", "access", "failure", "contractor.jm@gmail.com", None, None),
])
def test_mapping(method, n, category, action, outcome, actor, target, role):
    ev = by_method(events(JSONL), method, n)
    assert (ev.category, ev.action, ev.outcome, ev.actor, ev.target, ev.role) == (
        category, action, outcome, actor, target, role)
    assert ev.host == PROJECT


def test_one_event_per_policy_delta():
    evs = [e for e in events(JSONL) if e.line == 2]
    assert [(e.origin, e.category, e.action, e.target, e.role) for e in evs] == [
        ("bindingDeltas[0]", "permission_change", "role_granted", CI, "roles/owner"),
        ("bindingDeltas[1]", "permission_change", "role_revoked", "auditors@acme.example", "roles/viewer"),
        ("auditConfigDeltas[0]", "policy_change", "audit_config_changed", None, None),
    ]
    assert len({e.raw for e in evs}) == 1 and len({e.session for e in evs}) == 1
    assert evs[0].attrs["member_type"] == "serviceAccount" and evs[1].attrs["member_type"] == "group"
    assert evs[2].attrs["audit_service"] == "allServices" and evs[2].attrs["audit_log_type"] == "DATA_READ"
    assert evs[2].attrs["delta_action"] == "REMOVE"


def test_policy_set_without_deltas_and_denied():
    ev = by_method(events(JSONL), "SetIamPolicy", 4)  # after line 1 and the three deltas of line 2
    assert (ev.category, ev.action, ev.outcome) == ("policy_change", "policy_changed", "failure")
    assert ev.attrs["status_code"] == 7 and "does not have permission" in ev.attrs["status_message"]


def test_common_fields():
    evs = events(JSONL)
    first = evs[0]
    assert first.app == "cloudresourcemanager.googleapis.com" and first.resource == f"projects/{PROJECT}"
    assert first.src_ip == "198.51.100.23" and first.user_agent.startswith("google-cloud-sdk gcloud/468.0.0")
    assert first.session == first.attrs["event_id"]  # no operation: the insertId
    assert first.attrs["log_type"] == "admin_activity"
    secret = by_method(evs, "google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion")
    assert secret.src_ip is None and secret.attrs["caller_ip"] == "gce-internal-ip"
    assert secret.attrs["log_type"] == "data_access"
    firewall = by_method(evs, "v1.compute.firewalls.insert")
    assert firewall.session.startswith("operation-")  # operation.id
    assert firewall.attrs["delegated_from"] == "bob.ops@acme.example"
    denied = by_method(evs, "storage.objects.list")
    assert denied.attrs["log_type"] == "policy_denied"


def test_gcloud_array_shape():
    evs = events(ARRAY)
    items = json.loads(ARRAY.read_text())
    assert len(items) == 15 and len(evs) == 17  # the first SetIamPolicy entry holds three deltas
    assert {e.origin.split(".")[0] for e in evs} == {f"[{i}]" for i in range(15)}
    for ev in evs:
        index = int(ev.origin[1:].split("]")[0])
        assert orjson.loads(ev.raw) == items[index] and ev.line is None
        assert validate_event(ev) == []
    multi = [e for e in evs if e.origin.startswith("[14]")]
    assert [e.origin for e in multi] == ["[14].bindingDeltas[0]", "[14].bindingDeltas[1]",
                                         "[14].auditConfigDeltas[0]"]
    assert [e.action for e in multi] == ["role_revoked", "role_revoked", "audit_config_changed"]
    stderr = next(e for e in evs if e.attrs.get("log") == "stderr")
    assert (stderr.category, stderr.action, stderr.outcome) == ("system", "log", "unknown")
    assert stderr.message.startswith("2026/03/20 16:24:09 stripe")
    assert by_method(evs, "google.logging.v2.LoggingServiceV2.DeleteLog").action == "log_cleared"
    assert by_method(evs, "google.iam.admin.v1.DisableServiceAccount").action == "user_locked"
    assert by_method(evs, "google.iam.admin.v1.EnableServiceAccount").action == "user_unlocked"
    token = by_method(evs, "GenerateAccessToken")
    assert token.outcome == "failure" and token.attrs["status_message"] == "Service account is disabled."


def test_timestamps_with_nanoseconds(tmp_path):
    ev, = parse_bytes(tmp_path, orjson.dumps(entry("google.iam.admin.v1.CreateRole")) + b"\n")
    assert ev.ts.isoformat() == "2026-03-19T08:00:00.123456+00:00"


@pytest.mark.parametrize(("member", "target", "kind"), [
    ("user:alice@example.com", "alice@example.com", "user"),
    ("serviceAccount:sa@p.iam.gserviceaccount.com", "sa@p.iam.gserviceaccount.com", "serviceAccount"),
    ("group:ops@example.com", "ops@example.com", "group"),
    ("domain:example.com", "example.com", "domain"),
    ("allAuthenticatedUsers", "allAuthenticatedUsers", None),
])
def test_members(tmp_path, member, target, kind):
    ev, = parse_bytes(tmp_path, orjson.dumps(entry(**deltas(("ADD", "roles/viewer", member)))) + b"\n")
    assert ev.target == target and ev.attrs.get("member_type") == kind and ev.attrs["member"] == member


# --- shapes and bad records --------------------------------------------------------------------

def test_entries_list_answer_and_non_entries(tmp_path):
    doc = {"entries": [entry(**deltas(("ADD", "roles/viewer", "user:a@example.com"))), {"foo": 1}, "junk"],
           "nextPageToken": "abc"}
    evs = parse_bytes(tmp_path, json.dumps(doc, indent=2).encode())
    assert [(e.origin, e.action) for e in evs] == [
        ("entries[0]", "role_granted"), ("entries[1]", "unparsed"), ("entries[2]", "unparsed")]
    assert "not a Cloud Logging LogEntry" in evs[1].attrs["reason"]


def test_binding_deltas_of_an_array_record_are_located_within_it(tmp_path):
    """(tests/test_parsers_common.py reads every JSON-lines sample as one array document.)"""
    evs = parse_bytes(tmp_path, json.dumps(json_records(JSONL)).encode(), "one-line-array.json")
    assert evs[0].origin == "[0]" and evs[1].origin == "[1].bindingDeltas[0]"


# --- robustness --------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)
_PROTO = st.fixed_dictionaries(
    {"@type": st.just("type.googleapis.com/google.cloud.audit.AuditLog"),
     "methodName": st.sampled_from(["SetIamPolicy", "google.iam.admin.v1.CreateServiceAccount",
                                    "GenerateAccessToken", "storage.objects.get"]) | _JSON},
    optional={k: _JSON for k in ("serviceData", "authenticationInfo", "requestMetadata", "request",
                                 "response", "status", "resourceName", "serviceName")})


@settings(deadline=None, database=None)  # max_examples: the profile in conftest.py
@given(st.fixed_dictionaries({"protoPayload": _PROTO},
                             optional={k: _JSON for k in ("logName", "timestamp", "resource", "operation",
                                                          "insertId")}))
def test_any_entry_shape_becomes_events(rec):
    raw = orjson.dumps(rec)
    evs = list(parser().parse(Source(label="t", stream=io.BytesIO(raw + b"\n"))))
    assert len(evs) >= 1 and all(e.raw == raw.decode() and validate_event(e) == [] for e in evs)


@pytest.mark.parametrize(("method", "action", "outcome"), [
    ("loginSuccess", "login", "success"), ("loginFailure", "login", "failure"),
    ("logout", "logout", "success"), ("loginChallenge", "authenticate", "success")])
def test_workspace_sign_ins_are_login_attempts(tmp_path, method, action, outcome):
    """Workspace login audit shared into Cloud Audit Logs: the sign-in success/failure is the
    attempt (action login, counted as a failed login); a challenge is a check inside one."""
    rec = {"logName": "organizations/123/logs/cloudaudit.googleapis.com%2Fdata_access",
           "timestamp": "2026-03-16T08:00:00Z", "resource": {"type": "audited_resource"},
           "protoPayload": {
               "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
               "serviceName": "login.googleapis.com",
               "methodName": f"google.login.LoginService.{method}",
               "authenticationInfo": {"principalEmail": "bob@example.com"},
               "requestMetadata": {"callerIp": "203.0.113.8"},
               "resourceName": "organizations/123"}}
    path = tmp_path / "login.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    (ev,) = events(path)
    assert (ev.category, ev.action, ev.outcome) == ("authentication", action, outcome)
    assert (ev.actor, ev.src_ip) == ("bob@example.com", "203.0.113.8")
