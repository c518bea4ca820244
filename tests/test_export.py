"""`auditctl export` and declarative YAML formats."""

from __future__ import annotations

import csv
import io
import json
import textwrap

import duckdb
import pytest

from auditctl.archive.export import ECS_CATEGORY, ECS_TYPE, OCSF
from auditctl.errors import ExitCode
from auditctl.ingest.declarative import DeclarativeError, load_declarative
from auditctl.schema import ACTIONS, CATEGORY_DESCRIPTIONS, COLUMN_NAMES

# ECS 8.x allowed values (ecs-field-reference: event.category / event.type)
ECS_CATEGORIES = {"api", "authentication", "configuration", "database", "driver", "email", "file", "host", "iam",
                  "intrusion_detection", "library", "malware", "network", "package", "process", "registry",
                  "session", "threat", "vulnerability", "web"}
ECS_TYPES = {"access", "admin", "allowed", "change", "connection", "creation", "deletion", "denied", "end", "error",
             "group", "indicator", "info", "installation", "protocol", "start", "user"}
# ECS fields the export writes (besides the custom `auditctl.*` namespace)
ECS_FIELDS = {"@timestamp", "ecs.version", "message", "event.kind", "event.category", "event.type", "event.action",
              "event.outcome", "event.module", "event.dataset", "event.original", "event.sequence", "event.ingested",
              "user.name", "user.target.name", "group.name", "source.ip", "user_agent.original", "host.name",
              "process.name", "process.pid", "log.file.path"}


def flatten(doc: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in doc.items():
        if isinstance(v, dict) and k != "attrs":
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.fixture
def loaded(loaded_samples):
    return loaded_samples


def test_mapping_tables_cover_the_vocabulary():
    assert set(ECS_CATEGORY) == set(CATEGORY_DESCRIPTIONS) and set(ECS_TYPE) == set(ACTIONS)
    assert all(set(v) <= ECS_CATEGORIES for v in ECS_CATEGORY.values())
    assert all(set(v) <= ECS_TYPES for v in ECS_TYPE.values())


def test_ecs_export_is_bulk_ndjson_with_valid_ecs_fields(loaded):
    out = loaded("export", "--format", "ecs").stdout.splitlines()
    assert len(out) % 2 == 0 and out[0] == '{"create":{}}'
    docs = [json.loads(x) for x in out[1::2]]
    total = len(loaded("search", "--limit", "0").stdout.splitlines())
    assert len(docs) == total
    for doc in docs:
        fields = {k for k in flatten(doc) if not k.startswith("auditctl.")}
        assert fields <= ECS_FIELDS, fields - ECS_FIELDS
        assert set(doc["event"].get("category", [])) <= ECS_CATEGORIES and set(doc["event"]["type"]) <= ECS_TYPES
        assert doc["event"]["outcome"] in ("success", "failure", "unknown")
    grant = next(d for d in docs if d.get("group", {}).get("name") == "Domain Admins")
    assert grant["user"]["target"]["name"] == "svc_backup" and grant["event"]["category"] == ["iam"]


@pytest.mark.parametrize(("action", "class_uid", "activity_id"), [
    ("login", 3002, 1), ("logout", 3002, 2), ("user_created", 3001, 1), ("user_deleted", 3001, 6),
    ("password_changed", 3001, 3), ("user_locked", 3001, 5), ("group_member_added", 3006, 3),
    ("group_member_removed", 3006, 4), ("role_granted", 3005, 1), ("role_revoked", 3005, 2),
    ("command_run", 1007, 1), ("log", 0, 99),
])
def test_ocsf_classes_and_activities(loaded, action, class_uid, activity_id):
    docs = [json.loads(x) for x in loaded("export", "--format", "ocsf", "--action", action).stdout.splitlines()]
    assert docs, action
    for d in docs:
        assert (d["class_uid"], d["activity_id"]) == (class_uid, activity_id)
        assert d["category_uid"] == class_uid // 1000 and d["type_uid"] == class_uid * 100 + activity_id
        assert d["metadata"]["product"]["name"] == "auditctl" and d["status_id"] in (0, 1, 2)
    assert OCSF.get(action, (0, 99)) == (class_uid, activity_id)


def test_plain_formats_and_filters(loaded, tmp_path):
    rows = [json.loads(x) for x in loaded("export", "--format", "jsonl", "--category", "user_management").stdout.splitlines()]
    assert rows and {r["category"] for r in rows} == {"user_management"} and list(rows[0]) == list(COLUMN_NAMES)
    table = list(csv.DictReader(io.StringIO(loaded("export", "--format", "csv", "--user", "bob").stdout)))
    assert table and all("bob" in (r["actor"], r["target"], r["role"]) or "bob" in r["attrs"] for r in table)
    out = tmp_path / "auth.parquet"
    result = loaded("export", "--format", "parquet", "--output", str(out), "--category", "authentication")
    assert result.exit_code == 0 and "exported" in result.output
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}')").fetchall()[0][0] == \
        len(loaded("search", "--category", "authentication", "--limit", "0").stdout.splitlines())
    assert loaded("export", "--format", "parquet").exit_code == ExitCode.USAGE
    assert loaded("export", "--format", "xml").exit_code == ExitCode.USAGE
    ecs_file = tmp_path / "e.ndjson"
    assert loaded("export", "--format", "ecs", "-o", str(ecs_file)).exit_code == 0 and ecs_file.stat().st_size > 0


DOOR = textwrap.dedent("""\
    name: door
    description: badge reader exports
    samples:
      - "2026-01-02T03:04:05Z|B-17|lab|DENIED"
    regex: '^(?P<ts>[^|]+)\\|(?P<badge>[^|]+)\\|(?P<door>[^|]+)\\|(?P<result>\\w+)$'
    timestamp: {field: ts, format: iso}
    fields: {actor: badge, resource: door}
    category: authentication
    action: login
    outcome: {field: result, values: {OK: success, DENIED: failure}, default: unknown}
""")

VPN = textwrap.dedent("""\
    name: vpn_json
    samples: ['{"when": 1767225600, "who": {"name": "ann"}, "ip": "198.51.100.2", "ok": "yes"}']
    json: true
    timestamp: {field: when, format: epoch}
    fields: {actor: who.name, src_ip: ip}
    category: authentication
    action: login
    outcome: {field: ok, values: {"yes": success, "no": failure}}
""")


def test_declarative_formats_ingest_detect_and_search(cli, tmp_path, monkeypatch):
    plugins = tmp_path / "formats"
    plugins.mkdir()
    (plugins / "door.yaml").write_text(DOOR)
    (plugins / "vpn.yml").write_text(VPN)
    monkeypatch.setenv("AUDITCTL_PARSERS_DIR", str(plugins))
    listing = {r["name"]: r for r in map(json.loads, cli("parsers").stdout.splitlines())}
    assert listing["door"]["origin"] == "user (yaml)" and listing["vpn_json"]["origin"] == "user (yaml)"
    badges = tmp_path / "badges.log"
    badges.write_text("2026-01-02T03:04:05Z|B-17|lab|DENIED\n2026-01-02T03:04:09Z|B-17|lab|OK\nnot a badge line\n")
    vpn = tmp_path / "vpn.jsonl"
    vpn.write_text('{"when": 1767225600, "who": {"name": "ann"}, "ip": "198.51.100.2", "ok": "no"}\n'
                   '{"when": 1767225660, "who": {"name": "ann"}, "ip": "198.51.100.2", "ok": "yes"}\n')
    trial = cli("parsers", "test", str(badges), "--format", "table").stdout
    assert "parser door" in trial and "lines match" in trial
    assert cli("ingest", str(badges), str(vpn)).exit_code == 0
    door = [json.loads(x) for x in cli("search", "--parser", "door").stdout.splitlines()]
    assert [(e["actor"], e["outcome"], e["resource"]) for e in door if e["action"] != "unparsed"] == [("B-17", "failure", "lab"), ("B-17", "success", "lab")]
    assert [e["action"] for e in map(json.loads, cli("search", "--parser", "door", "--action", "unparsed").stdout.splitlines())] == ["unparsed"]
    anns = [json.loads(x) for x in cli("search", "--parser", "vpn_json").stdout.splitlines()]
    assert [(e["actor"], e["src_ip"], e["outcome"]) for e in anns] == [("ann", "198.51.100.2", "failure"),
                                                                       ("ann", "198.51.100.2", "success")]
    assert anns[0]["ts"].startswith("2026-01-01T00:00:00")


@pytest.mark.parametrize(("change", "message"), [
    (("samples:\n  - \"2026-01-02T03:04:05Z|B-17|lab|DENIED\"", "samples: []"), "samples: required"),
    (("fields: {actor: badge, resource: door}", "fields: {actor: badge, resource: gate}"), "fields.resource: the regex has no group named 'gate'"),
    (("action: login", "action: logon"), "action: 'logon' is not in the vocabulary"),
    (("name: door", "name: Door"), "name: required"),
    (("timestamp: {field: ts, format: iso}", "timestamp: {field: ts, format: '%d/%m/%Y'}"), "samples[0]: timestamp"),
    (("category: authentication", "category: authentication\ncolour: red"), "colour: unknown field"),
    (("description: badge reader exports", "description: [unclosed"), "not valid YAML"),
])
def test_declarative_errors_name_the_file_and_field(tmp_path, change, message):
    path = tmp_path / "door.yaml"
    old, new = change
    text = DOOR.replace(old, new)
    assert text != DOOR, change
    path.write_text(text)
    with pytest.raises(DeclarativeError) as err:
        load_declarative(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value), str(err.value)


def test_a_broken_declarative_format_warns_and_is_skipped(cli, tmp_path, monkeypatch):
    (tmp_path / "bad.yaml").write_text("name: bad\nsamples: [x]\nregex: '('\n")
    monkeypatch.setenv("AUDITCTL_PARSERS_DIR", str(tmp_path))
    result = cli("parsers")
    assert result.exit_code == 0 and "bad.yaml: regex: does not compile" in result.output
