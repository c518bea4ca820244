"""The k8s_audit parser: detection, the verb/resource mapping, stages, shapes, real Falco traces."""

from __future__ import annotations

import io
import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditctl.ingest.parsing import choose_parser
from auditctl.schema import validate_event
from auditctl.sources import Source, read_head
from support import CORPUS, SAMPLES, bytes_reader, parser_and_reader, registry

NAME = "k8s_audit"
SAMPLE = SAMPLES / NAME / "audit.log"
FALCO = CORPUS / "falcosecurity-falco" / "test" / "trace_files" / "k8s_audit"


parser, events = parser_and_reader(NAME)
parse_bytes = bytes_reader(events, "audit.json")


def at(line):
    return next(e for e in events(SAMPLE) if e.line == line)


def audit(verb="get", resource="pods", namespace="default", name="web", code=200, **fields):
    ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
          "auditID": "0b4c5a2e-1d3f-4e5a-9b8c-7d6e5f4a3b2c", "stage": "ResponseComplete",
          "requestURI": f"/api/v1/namespaces/{namespace}/{resource}/{name}", "verb": verb,
          "user": {"username": "alice", "groups": ["system:authenticated"]},
          "sourceIPs": ["10.0.0.5"], "userAgent": "kubectl/v1.29.2",
          "objectRef": {"resource": resource, "namespace": namespace, "name": name,
                        "apiVersion": "v1"},
          "responseStatus": {"metadata": {}, "code": code},
          "requestReceivedTimestamp": "2026-03-14T10:00:00.000000Z",
          "stageTimestamp": "2026-03-14T10:00:00.004000Z"}
    ev.update(fields)
    return ev


# --- detection -------------------------------------------------------------------------------

# --- mapping on the sample --------------------------------------------------------------------

def test_every_sample_line_is_an_event():
    evs = events(SAMPLE)
    lines = SAMPLE.read_text().splitlines()
    assert len(evs) == len(lines) == 32
    for ev in evs:
        assert ev.raw == lines[ev.line - 1] and validate_event(ev) == []
        if ev.action != "unparsed":
            assert ev.app == "kube-apiserver" and ev.session and ev.ts is not None


def test_clusterrolebinding_grant_in_two_stages():
    received, complete = at(7), at(8)
    for ev in (received, complete):
        assert (ev.category, ev.action, ev.role) == ("permission_change", "role_granted",
                                                     "cluster-admin")
        assert ev.target == "mallory@example.com,system:serviceaccount:ci:builder"
        assert ev.actor == "alice@example.com" and ev.resource == "clusterrolebindings/ci-admin"
        assert ev.attrs["subject_kinds"] == ["ServiceAccount", "User"]
    assert received.session == complete.session
    assert (received.outcome, received.attrs["stage"]) == ("unknown", "RequestReceived")
    assert (complete.outcome, complete.attrs["code"]) == ("success", 201)


def test_rolebinding_to_group_and_revocations():
    grant = at(9)
    assert (grant.role, grant.target, grant.attrs["role_kind"]) == ("edit", "developers",
                                                                    "ClusterRole")
    assert grant.resource == "rolebindings/dev/dev-team-edit"
    assert at(10).action == "role_revoked" and at(10).resource == "rolebindings/dev/legacy-view"
    assert at(31).action == "role_revoked" and at(31).resource == "clusterrolebindings/ci-admin"


def test_secrets_roles_and_service_accounts():
    assert (at(4).category, at(4).action, at(4).resource) == (
        "data_access", "access", "secrets/default/db-credentials")
    forbidden = at(5)
    assert (forbidden.outcome, forbidden.actor, forbidden.resource) == (
        "failure", "bob@example.com", "secrets/kube-system")
    assert forbidden.attrs["decision"] == "forbid"
    assert at(28).action == "access" and at(28).original_action == "update"  # secret written
    assert (at(11).category, at(11).action) == ("policy_change", "policy_changed")
    assert (at(13).action, at(13).target) == ("user_created", "system:serviceaccount:ci:deployer")
    assert (at(14).action, at(14).target) == ("user_deleted", "system:serviceaccount:ci:old-bot")
    assert at(15).action == "log" and at(15).resource == "serviceaccounts/ci/deployer/token"


def test_exec_and_attach():
    exec_ = at(16)
    assert (exec_.category, exec_.action, exec_.outcome) == (
        "privileged_action", "command_run", "success")
    assert exec_.attrs["command"] == "sh -c cat /var/run/secrets/kubernetes.io/serviceaccount/token"
    assert exec_.attrs["container"] == "api" and exec_.attrs["code"] == 101
    assert exec_.resource == "pods/payments/api-7d9f8c6b5-x2kqp/exec"
    assert at(18).action == "command_run" and at(18).resource.endswith("/attach")
    assert (at(19).action, at(19).outcome, at(19).attrs["command"]) == (
        "command_run", "failure", "bash")


def test_unauthenticated_requests_and_other_outcomes():
    for line in (20, 21, 22):
        ev = at(line)
        assert (ev.category, ev.action, ev.outcome) == ("authentication", "authenticate", "failure")
        assert ev.actor is None and ev.src_ip == "203.0.113.50"
    health = at(23)
    assert (health.action, health.resource, health.actor) == ("log", "/readyz", "system:anonymous")
    assert at(24).attrs["impersonated_user"] == "ops-admin" and at(24).actor == "alice@example.com"
    assert at(26).action == "log" and at(26).original_action == "delete"
    panic = at(32)
    assert (panic.outcome, panic.attrs["stage"]) == ("failure", "Panic")


# --- other shapes and inputs ------------------------------------------------------------------

def test_event_list_on_one_line_and_pretty_printed(tmp_path):
    items = [audit(), audit("delete", "serviceaccounts", name="bot"), {"foo": 1}]
    doc = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items}
    evs = parse_bytes(tmp_path, orjson.dumps(doc) + b"\n")
    assert [(e.line, e.origin, e.action) for e in evs] == [
        (1, "items[0]", "access"), (1, "items[1]", "user_deleted"), (1, "items[2]", "unparsed")]
    assert orjson.loads(evs[1].raw) == items[1]
    evs = parse_bytes(tmp_path, json.dumps(doc, indent=2).encode(), "pretty.json")
    assert [(e.line, e.origin, e.action) for e in evs] == [
        (None, "items[0]", "access"), (None, "items[1]", "user_deleted"),
        (None, "items[2]", "unparsed")]


def test_pretty_printed_single_event(tmp_path):
    evs = parse_bytes(tmp_path, json.dumps(audit("list", "secrets"), indent=2).encode())
    assert len(evs) == 1 and evs[0].action == "access" and evs[0].line == 1


def test_non_audit_json_line_is_unparsed(tmp_path):
    data = orjson.dumps(audit()) + b"\n" + b'{"msg": "hello"}\n'
    evs = parse_bytes(tmp_path, data)
    assert [e.action for e in evs] == ["access", "unparsed"]
    assert evs[1].attrs["reason"] == "k8s_audit: not a Kubernetes audit event"


def test_fields(tmp_path):
    ev = parse_bytes(tmp_path, orjson.dumps(audit(sourceIPs=["10.0.0.5", "10.0.0.1"])))[0]
    assert ev.src_ip == "10.0.0.5" and ev.attrs["source_ips"] == ["10.0.0.5", "10.0.0.1"]
    assert ev.ts.isoformat() == "2026-03-14T10:00:00.004000+00:00"
    assert ev.user_agent == "kubectl/v1.29.2" and ev.host is None
    no_stage_time = audit()
    del no_stage_time["stageTimestamp"]
    ev = parse_bytes(tmp_path, orjson.dumps(no_stage_time))[0]
    assert ev.ts.isoformat() == "2026-03-14T10:00:00+00:00"


def test_stream_without_peek():
    data = orjson.dumps(audit()) + b"\n" + orjson.dumps(audit("create", "serviceaccounts"))
    source = Source(label="stdin", stream=io.BytesIO(data))
    assert [(e.line, e.action) for e in parser().parse(source)] == [
        (1, "access"), (2, "user_created")]


def test_parsing_from_an_offset_reads_lines():
    line = orjson.dumps(audit()) + b"\n"
    stream = io.BytesIO(line * 3)
    stream.seek(len(line))
    source = Source(label="chunk", stream=stream, start_offset=len(line), start_line=2)
    assert [e.line for e in parser().parse(source)] == [2, 3]


# --- real Falco traces ----------------------------------------------------------------------------

def _count_records(path) -> int:
    """Records in a file, counted without the parser: JSON objects a line, EventList items."""
    n = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        n += len(obj["items"]) if obj.get("kind") == "EventList" else 1
    return n


def test_falco_corpus_every_record_becomes_an_event():
    if not FALCO.is_dir():
        pytest.skip("corpus folder absent")
    files = sorted(p for p in FALCO.iterdir() if p.is_file())
    assert files
    for path in files:
        assert choose_parser(read_head(path), registry()).parser.name == NAME, path.name
        evs = events(path, None)
        assert len(evs) == _count_records(path), path.name
        assert all(e.action != "unparsed" and validate_event(e) == [] for e in evs), path.name


def test_falco_corpus_known_facts():
    """Facts read off the trace files by hand (Falco ships no normalized goldens for them)."""
    if not FALCO.is_dir():
        pytest.skip("corpus folder absent")

    def only(name):
        evs = events(FALCO / name, None)
        assert len(evs) == 1
        return evs[0]

    crb = only("attach_cluster_admin_role.json")
    assert (crb.category, crb.action, crb.outcome) == ("permission_change", "role_granted",
                                                       "success")
    assert (crb.role, crb.target, crb.actor) == ("cluster-admin", "minikube", "minikube-user")
    assert crb.resource == "clusterrolebindings/some-reader-binding"
    assert crb.src_ip == "192.168.99.1" and crb.session == "c97244c7-4aec-4714-946a-8204d00ecdca"

    sa = only("create_serviceaccount.json")
    assert (sa.action, sa.target, sa.actor) == (
        "user_created", "system:serviceaccount:default:myacct", "minikube-user")

    exec_ = only("exec_pod.json")
    assert (exec_.action, exec_.outcome) == ("command_run", "success")
    assert exec_.attrs["command"] == "bash" and exec_.attrs["stage"] == "ResponseStarted"
    assert exec_.resource == "pods/default/nginx-deployment-7998647bdf-phvq7/exec"

    ns = only("anonymous_creates_namespace_foo.json")  # an audit.k8s.io/v1beta1 event
    assert (ns.actor, ns.action, ns.resource, ns.outcome) == (
        "system:anonymous", "log", "namespaces/foo", "success")
    assert ns.ts.isoformat() == "2018-10-25T13:58:49.736141+00:00"


# --- robustness --------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8)


@settings(deadline=None, database=None)  # max_examples: the profile in conftest.py
@given(st.fixed_dictionaries({"auditID": _JSON}, optional={
    "stage": st.sampled_from(["RequestReceived", "ResponseStarted", "ResponseComplete",
                              "Panic"]) | _JSON,
    "verb": st.sampled_from(["get", "create", "delete", "patch"]) | _JSON,
    "user": _JSON, "impersonatedUser": _JSON, "sourceIPs": _JSON, "userAgent": _JSON,
    "requestURI": _JSON, "annotations": _JSON, "requestObject": _JSON, "responseObject": _JSON,
    "requestReceivedTimestamp": _JSON, "stageTimestamp": _JSON,
    "objectRef": st.fixed_dictionaries({}, optional={
        "resource": st.sampled_from(["pods", "secrets", "rolebindings", "serviceaccounts"]) | _JSON,
        "subresource": st.sampled_from(["exec", "attach"]) | _JSON,
        "apiGroup": st.just("rbac.authorization.k8s.io") | _JSON,
        "namespace": _JSON, "name": _JSON}) | _JSON,
    "responseStatus": st.fixed_dictionaries({}, optional={
        "code": st.integers(100, 599) | _JSON, "message": _JSON, "reason": _JSON}) | _JSON,
}))
def test_any_event_shape_becomes_an_event(obj):
    line = orjson.dumps(obj)
    evs = list(parser().parse(Source(label="t", stream=io.BytesIO(line + b"\n"))))
    assert len(evs) == 1 and evs[0].raw == line.decode() and validate_event(evs[0]) == []
