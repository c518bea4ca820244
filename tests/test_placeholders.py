"""A text value is never read as "no value" because of its spelling (issue 16 item 3).

A Windows group is called "None"; a Linux group can be called "unknown"; a GitHub or Okta
group, a CEF account or a logfmt user can be "null", "N/A" or "-". Each parser drops only what
its own format defines as empty: JSON null and blank text everywhere, and a format's documented
placeholder where it has one ("-" for the user in a web access log and for any Windows event
data value; auditd's "?" and "(null)"; PostgreSQL's "[unknown]"; Okta's "unknown" ids). One
test per place that used to null a value by its spelling, each with a value that must survive.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditctl.archive.export import to_ecs, to_ocsf
from auditctl.ingest.declarative import load_declarative
from auditctl.ingest.parsing import read_events
from support import registry


def parse(tmp_path: Path, parser: str, text: str, name: str = "log.txt") -> list:
    path = tmp_path / name
    path.write_text(text)
    return [e for e in read_events(path, registry(), parser) if e.action != "unparsed"]


def one(tmp_path: Path, parser: str, text: str, name: str = "log.txt"):
    (ev,) = parse(tmp_path, parser, text, name)
    return ev


# ---------------------------------------------------------------- auditd


@pytest.mark.parametrize("group", ["unknown", "unset"])
def test_auditd_group_named_like_a_placeholder_is_kept(tmp_path, group):
    ev = one(tmp_path, "auditd", (
        "type=ADD_GROUP msg=audit(1700000000.123:42): pid=1 uid=0 auid=1000 ses=3 "
        f"msg='op=add-group id=1005 exe=\"/usr/sbin/groupadd\" hostname=db1 addr=? "
        f"terminal=pts/0 res=success grp=\"{group}\"'\n"))
    assert ev.action == "group_created" and ev.target == group


def test_auditd_own_placeholders_stay_empty(tmp_path):
    ev = one(tmp_path, "auditd", (
        "type=USER_LOGIN msg=audit(1700000000.123:43): pid=1 uid=0 auid=4294967295 ses=4294967295 "
        "msg='op=login acct=\"(unknown)\" exe=\"/usr/sbin/sshd\" hostname=? addr=203.0.113.9 "
        "terminal=ssh res=failed'\n"))
    assert (ev.actor, ev.src_ip, ev.outcome) == (None, "203.0.113.9", "failure")


# ---------------------------------------------------------------- cloud JSON formats


def test_cloudtrail_user_and_group_named_none_are_kept(tmp_path):
    rec = {"eventVersion": "1.08", "eventTime": "2026-03-16T08:00:00Z",
           "eventSource": "iam.amazonaws.com", "eventName": "AddUserToGroup",
           "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
           "userIdentity": {"type": "IAMUser", "userName": "None", "accountId": "123456789012",
                            "arn": "arn:aws:iam::123456789012:user/None"},
           "requestParameters": {"groupName": "-", "userName": "null"},
           "responseElements": None, "recipientAccountId": "123456789012"}
    ev = one(tmp_path, "cloudtrail", json.dumps({"Records": [rec]}), "ct.json")
    assert (ev.actor, ev.target, ev.role) == ("None", "null", "-")


def _okta(group: str) -> dict:
    return {"uuid": "u1", "published": "2026-03-16T08:00:00.000Z",
            "eventType": "group.user_membership.add", "displayMessage": "Add user to group membership",
            "actor": {"id": "00u1", "type": "User", "alternateId": "admin@example.com",
                      "displayName": "Admin"},
            "client": {"ipAddress": "198.51.100.23", "zone": "null"},
            "authenticationContext": {"externalSessionId": "unknown"},
            "outcome": {"result": "SUCCESS"},
            "target": [{"id": "00u2", "type": "User", "alternateId": "bob@example.com", "displayName": "Bob"},
                       {"id": "00g1", "type": "UserGroup", "alternateId": "unknown", "displayName": group}]}


@pytest.mark.parametrize("group", ["None", "null", "-", "unknown"])
def test_okta_group_named_like_a_placeholder_is_kept(tmp_path, group):
    ev = one(tmp_path, "okta", json.dumps(_okta(group)) + "\n", "okta.jsonl")
    assert (ev.action, ev.target, ev.role) == ("group_member_added", "bob@example.com", group)
    assert ev.session is None  # Okta's own "unknown" session id is no session


def test_okta_unknown_actor_is_empty(tmp_path):
    rec = _okta("Staff")
    rec["actor"] = {"id": "unknown", "type": "User", "alternateId": "unknown", "displayName": "unknown"}
    ev = one(tmp_path, "okta", json.dumps(rec) + "\n", "okta.jsonl")
    assert ev.actor is None and "actor_name" not in (ev.attrs or {})


def test_github_team_and_user_named_like_placeholders_are_kept(tmp_path):
    rec = {"@timestamp": 1710576000000, "action": "team.add_member", "actor": "-",
           "org": "acme", "team": "acme/None", "user": "null", "_document_id": "d1"}
    ev = one(tmp_path, "github_audit", json.dumps(rec) + "\n", "gh.jsonl")
    assert (ev.actor, ev.target) == ("-", "null") and ev.role.endswith("None")


def test_gcp_principal_and_role_named_like_placeholders_are_kept(tmp_path):
    rec = {"logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity",
           "timestamp": "2026-03-16T08:00:00Z", "resource": {"type": "project"},
           "protoPayload": {
               "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
               "methodName": "SetIamPolicy", "serviceName": "cloudresourcemanager.googleapis.com",
               "authenticationInfo": {"principalEmail": "-"},
               "requestMetadata": {"callerIp": "198.51.100.9"},
               "serviceData": {"policyDelta": {"bindingDeltas": [
                   {"action": "ADD", "role": "None", "member": "user:null@example.com"}]}}}}
    ev = one(tmp_path, "gcp_audit", json.dumps(rec) + "\n", "gcp.jsonl")
    assert (ev.actor, ev.role, ev.target) == ("-", "None", "null@example.com")


def test_azure_caller_named_like_a_placeholder_is_kept(tmp_path):
    rec = {"time": "2026-03-16T08:00:00Z", "category": "Administrative",
           "operationName": "Microsoft.Authorization/roleAssignments/write",
           "resourceId": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/a1",
           "resultType": "Success", "caller": "null", "callerIpAddress": "198.51.100.4",
           "correlationId": "-"}
    ev = one(tmp_path, "azure", json.dumps(rec) + "\n", "azure.jsonl")
    assert (ev.actor, ev.session) == ("null", "-")


def test_jsonl_ecs_dash_is_empty_only_for_a_web_access_user(tmp_path):
    docs = [{"@timestamp": "2026-03-16T08:00:00Z", "event": {"dataset": "nginx.access"},
             "http": {"request": {"method": "GET"}}, "user": {"name": "-"}},
            {"@timestamp": "2026-03-16T08:00:00Z", "event": {"category": ["iam"], "action": "added-user-account"},
             "user": {"name": "-", "target": {"name": "None"}}, "group": {"name": "null"}}]
    web, iam = parse(tmp_path, "jsonl", "".join(json.dumps(d) + "\n" for d in docs), "x.jsonl")
    assert web.actor is None
    assert (iam.actor, iam.target, iam.role) == ("-", "None", "null")


# ---------------------------------------------------------------- text formats


def test_cef_accounts_named_like_placeholders_are_kept(tmp_path):
    line = ("CEF:0|Acme|IAM|1.0|100|User added to group|3|rt=Mar 16 2026 08:00:00 UTC "
            "suser=N/A duser=None cs1Label=group cs1=unknown src=198.51.100.5\n")
    ev = one(tmp_path, "cef", line, "x.cef")
    assert (ev.actor, ev.target, ev.role) == ("N/A", "None", "unknown")


def test_logfmt_user_named_none_is_kept_and_go_nil_is_empty(tmp_path):
    text = ('time=2026-03-16T08:00:00Z level=info msg="user added to group" user=none '
            'target=- group=null src_ip=<nil>\n')
    ev = one(tmp_path, "logfmt", text, "x.log")
    assert (ev.actor, ev.target, ev.role, ev.src_ip) == ("none", "-", "null", None)


def test_postgres_user_named_unknown_is_kept_and_its_own_placeholder_is_empty(tmp_path):
    text = ("2026-03-16 08:00:00.123 UTC [4242] user=unknown,db=-,app=psql,client=[local] "
            "LOG:  AUDIT: SESSION,1,1,ROLE,GRANT,,,GRANT admins TO bob,<not logged>\n"
            "2026-03-16 08:00:01.123 UTC [4243] user=[unknown],db=[unknown],app=[unknown],client=[local] "
            "LOG:  connection received: host=[local]\n")
    grant, conn = parse(tmp_path, "postgres", text, "postgresql.log")
    assert (grant.actor, (grant.attrs or {}).get("database")) == ("unknown", "-")
    assert conn.actor is None


def test_postgres_set_role_to_a_role_quoted_default_is_kept(tmp_path):
    text = ("2026-03-16 08:00:00.123 UTC [4242] user=alice,db=app,app=psql,client=10.0.0.5 "
            "LOG:  AUDIT: SESSION,1,1,ROLE,SET,,,\"SET ROLE \"\"default\"\"\",<not logged>\n"
            "2026-03-16 08:00:01.123 UTC [4242] user=alice,db=app,app=psql,client=10.0.0.5 "
            "LOG:  AUDIT: SESSION,2,1,ROLE,SET,,,SET ROLE NONE,<not logged>\n")
    first, second = parse(tmp_path, "postgres", text, "postgresql.log")
    assert (first.action, first.target) == ("privilege_escalation", "default")
    assert second.action != "privilege_escalation"


def test_declarative_format_keeps_a_dash_unless_it_declares_it_empty(tmp_path):
    spec = ("name: door\nsamples: ['2026-01-02T03:04:05Z|-|lab|DENIED']\n"
            "regex: '^(?P<ts>[^|]+)\\|(?P<badge>[^|]+)\\|(?P<door>[^|]+)\\|(?P<result>\\w+)$'\n"
            "timestamp: {field: ts, format: iso}\nfields: {actor: badge, resource: door}\n")
    (tmp_path / "a.yaml").write_text(spec)
    (tmp_path / "b.yaml").write_text(spec.replace("name: door", "name: door2") + "empty: ['-']\n")
    line = "2026-01-02T03:04:05Z|-|None|DENIED"
    plain, declared = load_declarative(tmp_path / "a.yaml"), load_declarative(tmp_path / "b.yaml")
    ev, ev2 = plain.parse_line(line, None), declared.parse_line(line, None)  # the source is not read
    assert (ev.actor, ev.resource) == ("-", "None")
    assert (ev2.actor, ev2.resource) == (None, "None")


# ---------------------------------------------------------------- export


def _row(**fields) -> dict:
    row = {"ts": None, "message": "m", "category": "user_management", "action": "group_member_added",
           "original_action": "4732", "outcome": "success", "parser": "windows_security", "raw": "r",
           "seq": 1, "ingested_at": None, "actor": "admin", "target": "bob", "role": "None",
           "src_ip": None, "user_agent": None, "host": "-", "app": None, "pid": None, "source": "s",
           "line": 1, "origin": None, "resource": None, "session": None, "attrs": None}
    row.update(fields)
    return row


def test_export_keeps_values_spelled_like_placeholders():
    ecs, ocsf = to_ecs(_row()), to_ocsf(_row())
    assert ecs["group"]["name"] == "None" and ecs["host"]["name"] == "-"
    assert ocsf["group"]["name"] == "None" and ocsf["device"]["hostname"] == "-"
    assert "name" not in to_ecs(_row(role=None)).get("group", {})
