"""The cloudtrail parser: detection, the event-name mapping, identities, both file shapes.

There is no CloudTrail in ../shared/corpus/, so there is no corpus comparison here; the
samples follow the record layout of the AWS CloudTrail user guide (log file examples, sign-in
events, userIdentity element, Insights events).
"""

from __future__ import annotations

import gzip
import io
import json
import sys

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditctl.ingest.parsing import choose_parser
from auditctl.schema import validate_event
from auditctl.sources import Source, head_from_bytes
from support import SAMPLES, bytes_reader, nth_original, parser_and_reader, registry

NAME = "cloudtrail"
DELIVERED = (SAMPLES / NAME
             / "111122223333_CloudTrail_us-east-1_20260314T0935Z_Xk3pR7vQm2LwN8sD.json.gz")
JSONL = SAMPLES / NAME / "cloudwatch-export.jsonl"
ACCT = "111122223333"
RULES = sys.modules[type(registry().get(NAME)).__module__].RULES  # the plugin's event-name table


parser, events = parser_and_reader(NAME)
parse_bytes = bytes_reader(events, "trail.json")


by_action = nth_original


def record(name="CreateUser", **fields):
    """A minimal management-event record in the documented layout."""
    rec = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": ACCT,
                         "arn": f"arn:aws:iam::{ACCT}:user/alice", "userName": "alice"},
        "eventTime": "2026-03-14T10:00:00Z", "eventSource": "iam.amazonaws.com",
        "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.10",
        "userAgent": "aws-cli/2.15.30", "requestParameters": {"userName": "bob"},
        "responseElements": None, "requestID": "req-1", "eventID": "evt-1",
        "readOnly": False, "eventType": "AwsApiCall", "recipientAccountId": ACCT,
    }
    rec.update(fields)
    return rec


# --- detection -------------------------------------------------------------------------------

def test_detects_a_document_cut_by_the_head_size():
    doc = {"Records": [record(requestParameters={"userName": f"user{i:04}", "pad": "x" * 200})
                       for i in range(400)]}
    data = orjson.dumps(doc)
    assert len(data) > 128 * 1024
    head = head_from_bytes("123456789012_CloudTrail_us-east-1_20260314T0935Z_abc.json", data)
    assert len(head.data) == 64 * 1024
    assert parser().detect(head) >= 0.9
    assert choose_parser(head, registry()).parser.name == NAME


# --- the delivered document ------------------------------------------------------------------

def test_delivered_file_one_event_per_record_with_origin_and_exact_raw():
    evs = events(DELIVERED)
    with gzip.open(DELIVERED) as f:
        delivered = f.read().decode()
    records = json.loads(delivered)["Records"]
    assert len(evs) == len(records) == 27
    for i, (ev, rec) in enumerate(zip(evs, records, strict=True)):
        assert ev.origin == f"Records[{i}]" and ev.line is None
        assert orjson.loads(ev.raw) == rec and ev.raw in delivered  # the record's own text, not re-serialized
        assert validate_event(ev) == []
        assert ev.host == ACCT and ev.attrs["region"] == "us-east-1"
        assert ev.attrs["event_id"] == rec["eventID"]
        assert ev.session == rec.get("requestID", rec["eventID"])


def test_console_logins():
    evs = [e for e in events(DELIVERED) if e.original_action == "ConsoleLogin"]
    alice, hidden, bob, root = evs
    assert (alice.category, alice.action, alice.outcome, alice.actor) == (
        "authentication", "login", "success", "alice")
    assert alice.attrs["mfa"] is True and alice.src_ip == "203.0.113.24"
    assert alice.app == "signin.amazonaws.com" and alice.user_agent.startswith("Mozilla/5.0")
    # a failed sign-in with a mistyped user name: the name is withheld by AWS
    assert hidden.outcome == "failure" and hidden.actor is None
    assert hidden.attrs["user_name_hidden"] is True
    assert hidden.attrs["error_message"] == "No username found in supplied account"
    assert (bob.outcome, bob.actor, bob.attrs["mfa"]) == ("failure", "bob", False)
    assert (root.actor, root.outcome, root.attrs["account_id"]) == ("root", "success", ACCT)


@pytest.mark.parametrize(("name", "category", "action", "actor", "target", "role"), [
    ("CreateUser", "user_management", "user_created", "alice", "carol", None),
    ("CreateLoginProfile", "user_management", "password_changed", "alice", "carol", None),
    ("CreateAccessKey", "user_management", "password_changed", "alice", "carol", None),
    ("AddUserToGroup", "permission_change", "group_member_added", "alice", "carol", "Admins"),
    ("AttachUserPolicy", "permission_change", "role_granted", "alice", "carol",
     "arn:aws:iam::aws:policy/AdministratorAccess"),
    ("CreateGroup", "user_management", "group_created", "alice", None, "Auditors"),
    ("RemoveUserFromGroup", "permission_change", "group_member_removed", "alice", "dave",
     "Developers"),
    ("DeleteUser", "user_management", "user_deleted", "alice", "dave", None),
    ("AssumeRole", "privileged_action", "privilege_escalation", "carol", None,
     f"arn:aws:iam::{ACCT}:role/OrganizationAccountAccessRole"),
    ("AssumeRoleWithSAML", "privileged_action", "privilege_escalation", "erin@example.com", None,
     f"arn:aws:iam::{ACCT}:role/FinanceReadOnly"),
    ("StopLogging", "policy_change", "audit_config_changed", "OrganizationAccountAccessRole",
     None, None),
    ("PutEventSelectors", "policy_change", "audit_config_changed",
     "OrganizationAccountAccessRole", None, None),
    ("DeleteTrail", "policy_change", "log_cleared", "OrganizationAccountAccessRole", None, None),
    ("GetSecretValue", "data_access", "access", "OrganizationAccountAccessRole", None, None),
    ("GetObject", "data_access", "access", "OrganizationAccountAccessRole", None, None),
    ("PutRolePolicy", "permission_change", "role_granted", "ci-deployer", "lambda-exec",
     "s3-export-write"),
    ("DetachRolePolicy", "permission_change", "role_revoked", "ci-deployer", "lambda-exec",
     "arn:aws:iam::aws:policy/ReadOnlyAccess"),
    ("DescribeInstances", "data_access", "access", "ci-deployer", None, None),
    ("AuthorizeSecurityGroupIngress", "policy_change", "policy_changed", "ci-deployer", None, None),
    ("UpdateAccountPasswordPolicy", "policy_change", "policy_changed", "root", None, None),
    ("RotateKey", "system", "log", "kms.amazonaws.com", None, None),
    ("ChangePassword", "user_management", "password_changed", "bob", "bob", None),
])
def test_mapping(name, category, action, actor, target, role):
    ev = by_action(events(DELIVERED), name)
    assert (ev.category, ev.action, ev.actor, ev.target, ev.role) == (
        category, action, actor, target, role)
    assert ev.original_action == name


def test_failed_call_carries_the_error():
    ev = by_action(events(DELIVERED), "DeleteUser")
    assert ev.outcome == "failure"
    assert ev.attrs["error_code"] == "DeleteConflictException"
    assert "login profile" in ev.attrs["error_message"]


def test_assumed_role_identity_and_resources():
    evs = events(DELIVERED)
    stop = by_action(evs, "StopLogging")
    assert stop.attrs["session_name"] == "carol-session"
    assert stop.attrs["identity_type"] == "AssumedRole"
    assert stop.resource == f"arn:aws:cloudtrail:us-east-1:{ACCT}:trail/management-events"
    assert by_action(evs, "GetSecretValue").resource == "prod/payments/db"
    assert by_action(evs, "GetObject").resource == (
        "arn:aws:s3:::acme-payments-exports/2026/03/cardholders.csv")
    assume = by_action(evs, "AssumeRole")
    assert assume.attrs["role_session_name"] == "carol-session"


def test_service_principal_has_no_source_ip():
    ec2 = by_action(events(DELIVERED), "AssumeRole", 1)
    assert ec2.actor == "ec2.amazonaws.com" and ec2.attrs["identity_type"] == "AWSService"
    assert ec2.src_ip is None and ec2.attrs["source_name"] == "ec2.amazonaws.com"


# --- one record a line ----------------------------------------------------------------------

def test_json_lines_mapping():
    evs = events(JSONL)
    login = by_action(evs, "ConsoleLogin")
    assert login.actor == "AWSReservedSSO_AdministratorAccess_1a2b3c4d5e6f7a8b"
    assert login.attrs["session_name"] == "frank@example.com"
    denied = by_action(evs, "CreateUser")
    assert (denied.outcome, denied.target, denied.attrs["error_code"]) == (
        "failure", "backdoor", "AccessDenied")
    stop = by_action(evs, "StopLogging")
    assert (stop.action, stop.outcome) == ("audit_config_changed", "failure")
    oidc = by_action(evs, "AssumeRoleWithWebIdentity")
    assert oidc.actor == "repo:acme/infra:ref:refs/heads/main"
    assert oidc.attrs["identity_type"] == "WebIdentityUser"
    fed = by_action(evs, "DeleteObject")
    assert (fed.actor, fed.attrs["session_issuer"], fed.category) == (
        "build-bot", "ci", "data_access")
    assert by_action(evs, "UpdateUser").attrs["new_user_name"] == "svc-reporting"
    assert by_action(evs, "DeleteAccessKey").action == "user_modified"
    assert by_action(evs, "CreateBucket").action == "log"


def test_insights_event_is_not_the_call():
    ev = next(e for e in events(JSONL) if e.attrs.get("event_type") == "AwsCloudTrailInsight")
    assert (ev.category, ev.action, ev.outcome) == ("system", "log", "unknown")
    assert ev.original_action == "DeleteAccessKey" and ev.app == "iam.amazonaws.com"
    assert ev.attrs["insight_state"] == "Start"


# --- identities and defaults on single records -----------------------------------------------

def one(tmp_path, rec):
    evs = parse_bytes(tmp_path, orjson.dumps({"Records": [rec]}))
    assert len(evs) == 1
    return evs[0]


def test_identity_center_user(tmp_path):
    rec = record("ListBuckets", eventSource="s3.amazonaws.com", readOnly=True, userIdentity={
        "type": "IdentityCenterUser", "accountId": ACCT,
        "onBehalfOf": {"userId": "544894e8-80c1-707f-60e3-3ba6510dfac1",
                       "identityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-1"},
        "credentialId": "EXAMPLEcredential"})
    ev = one(tmp_path, rec)
    assert ev.actor == "544894e8-80c1-707f-60e3-3ba6510dfac1"
    assert ev.attrs["identity_store_arn"].endswith("identitystore/d-1")
    assert (ev.category, ev.action) == ("data_access", "access")


def test_aws_account_identity(tmp_path):
    rec = record(userIdentity={"type": "AWSAccount", "principalId": "AIDAOTHER",
                               "accountId": "999988887777"})
    assert one(tmp_path, rec).actor == "999988887777"


def test_unknown_calls_by_read_only_flag_or_prefix(tmp_path):
    assert one(tmp_path, record("RunInstances", readOnly=False)).action == "log"
    assert one(tmp_path, record("Decrypt", readOnly=True)).action == "access"
    no_flag = record("DescribeVolumes")
    del no_flag["readOnly"]
    assert one(tmp_path, no_flag).category == "data_access"


def test_change_password_without_user_name_targets_the_caller(tmp_path):
    ev = one(tmp_path, record("ChangePassword", requestParameters=None))
    assert (ev.action, ev.actor, ev.target) == ("password_changed", "alice", "alice")


def test_ipv6_source_and_missing_fields(tmp_path):
    ev = one(tmp_path, record(sourceIPAddress="2001:db8::7", userAgent="", requestID=None))
    assert ev.src_ip == "2001:db8::7" and ev.user_agent is None and ev.session == "evt-1"


def test_record_without_event_name_and_non_object_record_are_kept(tmp_path):
    rec = record()
    del rec["eventName"]
    evs = parse_bytes(tmp_path, orjson.dumps({"Records": [rec, "junk", record()]}))
    assert [e.action for e in evs] == ["unparsed", "unparsed", "user_created"]
    assert [e.origin for e in evs] == ["Records[0]", "Records[1]", "Records[2]"]
    assert evs[0].ts is not None


def test_eventbridge_wrapper_line(tmp_path):
    line = orjson.dumps({"version": "0", "id": "x", "detail-type": "AWS API Call via CloudTrail",
                         "source": "aws.iam", "detail": record()})
    evs = parse_bytes(tmp_path, line + b"\n")
    assert evs[0].action == "user_created" and evs[0].raw == line.decode() and evs[0].line == 1


# --- other shapes and inputs ------------------------------------------------------------------

def test_json_lines_keep_broken_lines_and_non_objects_with_their_reason(tmp_path):
    """A JSON-lines file (the records of a document on one line among them): a line that is
    not JSON, one that is not an object, and a record that is not an object are each kept."""
    lines = [b'{"eventName": "CreateUser", ', b"[1, 2]",
             orjson.dumps({"Records": [record(), "junk"]}), orjson.dumps(record("DeleteUser"))]
    evs = parse_bytes(tmp_path, b"\n".join(lines) + b"\n")
    assert [(e.line, e.origin, e.action) for e in evs] == [
        (1, None, "unparsed"), (2, None, "unparsed"), (3, "Records[0]", "user_created"),
        (3, "Records[1]", "unparsed"), (4, None, "user_deleted")]
    reasons = [e.attrs["reason"] for e in evs if e.action == "unparsed"]
    assert reasons[0].startswith("cloudtrail: invalid JSON: ")
    assert reasons[1:] == ["cloudtrail: line is not a JSON object", "cloudtrail: record is not a JSON object"]
    assert [e.raw for e in evs[2:4]] == [orjson.dumps(record()).decode(), '"junk"']


def test_concatenated_documents_one_a_line(tmp_path):
    doc1 = orjson.dumps({"Records": [record(), record("DeleteUser")]})
    doc2 = orjson.dumps({"Records": [record("AddUserToGroup")]})
    evs = parse_bytes(tmp_path, doc1 + b"\n" + doc2 + b"\n")
    assert [(e.line, e.origin, e.action) for e in evs] == [
        (1, "Records[0]", "user_created"), (1, "Records[1]", "user_deleted"),
        (2, "Records[0]", "group_member_added")]


def test_pretty_printed_document_and_bare_list(tmp_path):
    pretty = json.dumps({"Records": [record(), record("DeleteUser")]}, indent=4).encode()
    evs = parse_bytes(tmp_path, pretty)
    assert [(e.origin, e.action) for e in evs] == [
        ("Records[0]", "user_created"), ("Records[1]", "user_deleted")]
    evs = parse_bytes(tmp_path, json.dumps([record()], indent=2).encode(), "list.json")
    assert evs[0].origin == "[0]" and evs[0].action == "user_created"


def test_truncated_document_keeps_every_line(tmp_path):
    data = json.dumps({"Records": [record(), record()]}, indent=2).encode()[:-40]
    evs = parse_bytes(tmp_path, data)
    assert evs and all(e.action == "unparsed" for e in evs)
    assert len(evs) == len([ln for ln in data.split(b"\n") if ln.strip()])


def test_stream_without_peek():
    data = orjson.dumps({"Records": [record(), record("DeleteUser")]})
    source = Source(label="stdin", stream=io.BytesIO(data))
    evs = list(parser().parse(source))
    assert [e.action for e in evs] == ["user_created", "user_deleted"]
    lines = (orjson.dumps(record()) + b"\n") * 2
    source = Source(label="stdin", stream=io.BytesIO(lines))
    assert [e.line for e in parser().parse(source)] == [1, 2]


def test_large_delivered_file(tmp_path):
    recs = [record(requestParameters={"userName": f"user{i}"}) for i in range(3000)]
    path = tmp_path / f"{ACCT}_CloudTrail_us-east-1_20260314T0935Z_big.json.gz"
    path.write_bytes(gzip.compress(orjson.dumps({"Records": recs})))
    evs = events(path, None)
    assert len(evs) == 3000 and evs[-1].target == "user2999" and evs[-1].origin == "Records[2999]"


# --- robustness --------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8)
_KEYS = ["userIdentity", "eventTime", "eventSource", "eventName", "sourceIPAddress",
         "userAgent", "requestParameters", "responseElements", "additionalEventData",
         "errorCode", "errorMessage", "readOnly", "resources", "eventType", "insightDetails",
         "recipientAccountId", "requestID", "eventID", "detail"]
_IDENTITY = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["IAMUser", "AssumedRole", "Root", "AWSService", "FederatedUser",
                             "SAMLUser", "IdentityCenterUser", "AWSAccount", "Unknown"]) | _JSON,
    "arn": _JSON, "userName": _JSON, "sessionContext": _JSON, "onBehalfOf": _JSON,
    "invokedBy": _JSON, "accountId": _JSON, "principalId": _JSON})


@settings(deadline=None, database=None)  # max_examples: the profile in conftest.py
@given(st.fixed_dictionaries(
    {"eventName": st.sampled_from(sorted(RULES)) | _JSON},
    optional={**{k: _JSON for k in _KEYS if k != "eventName"}, "userIdentity": _IDENTITY}))
def test_any_record_shape_becomes_an_event(rec):
    raw = orjson.dumps(rec).decode()
    source = Source(label="t", stream=io.BytesIO(orjson.dumps({"Records": [rec]})))
    evs = list(parser().parse(source))
    assert len(evs) == 1 and evs[0].raw == raw and validate_event(evs[0]) == []


def test_a_non_text_resource_arn_is_stored_as_text_and_the_file_is_stored(cli, tmp_path):
    """A resources[].ARN that is not a string (a list, a number) became Event.resource as is,
    and Arrow then failed the whole file: every record of it was lost."""
    lines = [record("DescribeThing", resources=[{"ARN": ["arn:aws:x:::a", "arn:aws:x:::b"]}]),
             record("DescribeThing", resources=[{"ARN": 12345}], eventID="evt-2"),
             record("DescribeThing", resources=[{"ARN": "arn:aws:x:::c"}], eventID="evt-3")]
    log = tmp_path / "trail.jsonl"
    log.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in lines))
    result = cli("ingest", str(log))
    assert result.exit_code == 0, result.output
    found = [json.loads(x) for x in cli("search", "--format", "jsonl").stdout.splitlines()]
    assert [e["resource"] for e in found if e["parser"] == "cloudtrail"] == [
        '["arn:aws:x:::a","arn:aws:x:::b"]', "12345", "arn:aws:x:::c"]
