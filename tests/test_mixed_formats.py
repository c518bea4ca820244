"""Files that mix formats record by record: each record is read by the parser that can read it.

Real Kubernetes audit events (Falco's trace files) interleaved with Azure diagnostic records
written after Microsoft's documented shape of AKS control-plane logs (category `kube-audit` /
`kube-audit-admin`, the audit event as JSON text in `properties.log`) and an Activity Log record.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import pytest

from auditctl.config import Config
from auditctl.ingest.ingester import Ingester
from auditctl.ingest.parsing import choose_parser, read_events, try_file
from auditctl.sources import read_head
from auditctl.store import Store
from support import CORPUS, registry

FALCO = CORPUS / "falcosecurity-falco" / "test" / "trace_files" / "k8s_audit"
CLUSTER_ID = ("/SUBSCRIPTIONS/8F3A2C1D-1111-4A2B-9C3D-0123456789AB/RESOURCEGROUPS/PROD-RG/PROVIDERS/"
              "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD-AKS")

# Kubernetes audit events as an AKS API server logs them (audit.k8s.io/v1).
_SECRET_GET = {
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
    "auditID": "5b0e7a52-0f7d-4c0e-8d59-3f0b7b1d2a11", "stage": "ResponseComplete",
    "requestURI": "/api/v1/namespaces/payments/secrets/db-password", "verb": "get",
    "user": {"username": "alice@contoso.com", "groups": ["system:authenticated"]},
    "sourceIPs": ["20.61.12.7"], "userAgent": "kubectl/v1.29.1 (linux/amd64) kubernetes/bc401b9",
    "objectRef": {"resource": "secrets", "namespace": "payments", "name": "db-password", "apiVersion": "v1"},
    "responseStatus": {"metadata": {}, "code": 200},
    "requestReceivedTimestamp": "2024-03-12T09:41:07.118532Z",
    "stageTimestamp": "2024-03-12T09:41:07.121904Z",
    "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
}
_BINDING = {
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
    "auditID": "9d2c4f60-3a55-4a7c-b3f1-6e0f2a9c7b42", "stage": "ResponseComplete",
    "requestURI": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "verb": "create",
    "user": {"username": "masterclient", "groups": ["system:masters", "system:authenticated"]},
    "sourceIPs": ["20.61.12.9"], "userAgent": "kubectl/v1.29.1",
    "objectRef": {"resource": "clusterrolebindings", "name": "ops-admin",
                  "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1"},
    "responseStatus": {"metadata": {}, "code": 201},
    "requestObject": {"kind": "ClusterRoleBinding", "metadata": {"name": "ops-admin"},
                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "cluster-admin"},
                      "subjects": [{"kind": "User", "name": "bob@contoso.com"}]},
    "requestReceivedTimestamp": "2024-03-12T09:43:55.002113Z",
    "stageTimestamp": "2024-03-12T09:43:55.010587Z",
}


def _aks(category: str, event: dict, time: str) -> dict:
    return {
        "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
        "category": category, "ccpNamespace": "65f0c3a1e4b0d10001a1b2c3", "resourceId": CLUSTER_ID,
        "properties": {"log": orjson.dumps(event).decode(), "stream": "stdout",
                       "pod": "kube-apiserver-6d4f8b9c7-x2lqp"},
        "time": time,
    }


AKS_SECRET = _aks("kube-audit", _SECRET_GET, "2024-03-12T09:41:07.1240000Z")
AKS_BINDING = _aks("kube-audit-admin", _BINDING, "2024-03-12T09:43:55.0130000Z")
ACTIVITY = {
    "time": "2024-03-12T09:50:01.5521003Z", "resourceId": "/SUBSCRIPTIONS/8F3A2C1D-1111-4A2B-9C3D-0123456789AB/RESOURCEGROUPS/PROD-RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD-AKS",
    "operationName": "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/LISTCLUSTERADMINCREDENTIAL/ACTION",
    "category": "Administrative", "resultType": "Success", "caller": "alice@contoso.com",
    "callerIpAddress": "20.61.12.7", "correlationId": "0c1f7d5e-2b6a-4f0e-9a1c-3d2e4f5a6b7c",
    "properties": {"statusCode": "OK"},
}


def _falco_lines() -> list[str]:
    if not FALCO.is_dir():
        pytest.skip("Falco k8s audit corpus not present")
    return [p.read_text().strip() for p in sorted(FALCO.glob("*.json"))]


def mixed_file(path: Path) -> dict[int, str]:
    """Falco's k8s lines interleaved with Azure records; line number -> the parser that reads it."""
    falco = _falco_lines()
    azure = [orjson.dumps(r).decode() for r in (AKS_SECRET, AKS_BINDING, ACTIVITY)]
    lines, owners = [], {}
    for i, text in enumerate(falco):
        lines.append(text)
        owners[len(lines)] = "k8s_audit"
        if i < len(azure):
            lines.append(azure[i])
            owners[len(lines)] = "azure"
    path.write_text("\n".join(lines) + "\n")
    return owners


def test_every_record_of_a_mixed_file_is_read_by_its_own_parser(tmp_path):
    log = tmp_path / "mixed.json"
    owners = mixed_file(log)
    chosen = choose_parser(read_head(log), registry()).parser.name
    events = read_events(log, registry())
    assert [e.action for e in events if e.action == "unparsed"] == []
    assert {e.line: e.parser or chosen for e in events} == owners


def test_a_forced_parser_is_not_second_guessed(tmp_path):
    log = tmp_path / "mixed.json"
    owners = mixed_file(log)
    events = read_events(log, registry(), "k8s_audit")
    unparsed = {e.line for e in events if e.action == "unparsed"}
    assert unparsed == {line for line, owner in owners.items() if owner == "azure"}
    assert all(e.parser is None for e in events)


def test_parsers_test_shows_the_parser_of_each_record(tmp_path):
    log = tmp_path / "mixed.json"
    mixed_file(log)
    trial = try_file(log, registry(), limit=4)
    assert all(e.action != "unparsed" for e in trial.events)
    assert {e.parser for e in trial.events} - {None} != set()


def _ingest(db: Path, log: Path, workers: int) -> object:
    with Store.open(db) as store:
        return Ingester(store, registry(), Config(db=db, workers=workers)).ingest([str(log)])


def test_ingest_stores_the_parser_of_each_record_serial_and_parallel(tmp_path, monkeypatch):
    import auditctl.ingest.ingester as ingest_module
    import auditctl.ingest.parallel as parallel

    log = tmp_path / "mixed.json"
    owners = mixed_file(log)
    serial, par = tmp_path / "serial.duckdb", tmp_path / "parallel.duckdb"
    result = _ingest(serial, log, workers=1)
    assert result.unparsed == 0 and result.events == len(owners)
    monkeypatch.setattr(ingest_module, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(parallel, "FIRST_CHUNK_BYTES", 2048)
    assert _ingest(par, log, workers=2).unparsed == 0
    query = "SELECT line, parser, category, action, actor, raw FROM events ORDER BY seq"
    stored = []
    for db in (serial, par):
        con = duckdb.connect(str(db), read_only=True)
        stored.append(con.execute(query).fetchall())
        con.close()
    assert stored[0] == stored[1]
    assert {row[0]: row[1] for row in stored[0]} == owners


def test_the_ingest_summary_counts_each_record_under_the_parser_that_stored_it(tmp_path, monkeypatch):
    """The summary's "by parser" figures are the ones `stats --by parser` gives afterwards."""
    import auditctl.ingest.ingester as ingest_module
    import auditctl.ingest.parallel as parallel

    log = tmp_path / "mixed.json"
    owners = mixed_file(log)
    expected: dict[str, int] = {}
    for owner in owners.values():
        expected[owner] = expected.get(owner, 0) + 1
    assert _ingest(tmp_path / "serial.duckdb", log, workers=1).per_parser == expected
    monkeypatch.setattr(ingest_module, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(parallel, "FIRST_CHUNK_BYTES", 2048)
    assert _ingest(tmp_path / "parallel.duckdb", log, workers=2).per_parser == expected


def test_azure_unwraps_aks_kube_audit_records_into_kubernetes_audit_events(tmp_path):
    log = tmp_path / "PT1H.json"
    log.write_text("\n".join(orjson.dumps(r).decode() for r in (AKS_SECRET, AKS_BINDING)) + "\n")
    secret, binding = read_events(log, registry(), "azure")
    assert (secret.category, secret.action, secret.outcome) == ("data_access", "access", "success")
    assert (secret.actor, secret.resource, secret.src_ip) == (
        "alice@contoso.com", "secrets/payments/db-password", "20.61.12.7")
    assert secret.app == "kube-apiserver" and secret.original_action == "get"
    assert secret.session == _SECRET_GET["auditID"]
    assert secret.ts.isoformat() == "2024-03-12T09:41:07.121904+00:00"
    assert secret.host == "8f3a2c1d-1111-4a2b-9c3d-0123456789ab"
    assert secret.attrs["cluster"] == "PROD-AKS" and secret.attrs["log_category"] == "kube-audit"
    assert secret.attrs["azure_resource_id"] == CLUSTER_ID
    assert secret.attrs["pod"] == "kube-apiserver-6d4f8b9c7-x2lqp"
    assert secret.raw == orjson.dumps(AKS_SECRET).decode()
    assert (binding.category, binding.action) == ("permission_change", "role_granted")
    assert (binding.role, binding.target, binding.actor) == ("cluster-admin", "bob@contoso.com", "masterclient")
    assert binding.attrs["log_category"] == "kube-audit-admin"


def test_a_kube_audit_record_without_an_audit_event_is_kept_as_unparsed(tmp_path):
    log = tmp_path / "PT1H.json"
    broken = dict(AKS_SECRET, properties={"log": "I0312 09:41:07.1 apiserver started", "stream": "stderr"})
    log.write_text(orjson.dumps(broken).decode() + "\n")
    (ev,) = read_events(log, registry(), "azure")
    assert ev.action == "unparsed" and "properties.log is not JSON" in ev.attrs["reason"]
