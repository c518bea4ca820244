"""The generic JSON lines parser: detection, ECS mapping, configured mappings, fallbacks, corpus."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from auditctl.ingest.parsing import read_events
from auditctl.schema import validate_event
from auditctl.sources import head_from_bytes, read_head
from support import CORPUS, REFERENCE_TIME, SAMPLES, registry

ECS_SAMPLE = SAMPLES / "jsonl" / "ecs.jsonl"
PLAIN_SAMPLE = SAMPLES / "jsonl" / "plain.jsonl"

# The app in plain.jsonl (a zap-logging Go service) described through a configured mapping.
ACCOUNTS = {
    "name": "accounts-audit",
    "when": {"logger": "audit"},
    "fields": {
        "ts": "ts", "action": "event", "actor": "actor", "target": "subject", "role": "role",
        "outcome": "result", "src_ip": "remote_ip", "user_agent": "user_agent",
        "session": "request_id", "message": "msg",
    },
    "values": {
        "action": {
            "session.login": "login", "session.logout": "logout", "user.create": "user_created",
            "user.delete": "user_deleted", "user.password_reset": "password_changed",
            "role.grant": "role_granted", "role.revoke": "role_revoked",
        },
        "outcome": {"ok": "success", "denied": "failure", "error": "failure"},
    },
    "ts_format": "epoch",
}


def jsonl():
    return registry().get("jsonl")


def parse_text(tmp_path, text: str, name: str = "x.jsonl", **kwargs):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_events(path, registry(), "jsonl", reference_time=REFERENCE_TIME, **kwargs)


def parse_docs(tmp_path, *docs, **kwargs):
    return parse_text(tmp_path, "".join(json.dumps(d) + "\n" for d in docs), **kwargs)


def by_line(events):
    return {e.line: e for e in events}


# -- detection ----------------------------------------------------------------------------


def test_detection_tolerates_a_few_bad_lines():
    lines = [json.dumps({"msg": f"m{i}"}) for i in range(8)] + ["garbage", "{cut"]
    assert jsonl().detect(head_from_bytes("x.log", "\n".join(lines).encode())) == 0.5
    mostly_text = ["plain text line"] * 8 + [json.dumps({"msg": "m"})] * 2
    assert jsonl().detect(head_from_bytes("x.log", "\n".join(mostly_text).encode())) == 0.0


# -- ECS documents --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ecs_events():
    return read_events(ECS_SAMPLE, registry(), "jsonl", reference_time=REFERENCE_TIME)


def find(events, original_action, target=None):
    return next(e for e in events if e.original_action == original_action
                and (target is None or e.target == target))


def test_ecs_logon_success_and_failure(ecs_events):
    ok = find(ecs_events, "logged-in")
    assert (ok.category, ok.action, ok.outcome, ok.actor, ok.src_ip, ok.host) == (
        "authentication", "login", "success", "alice", "10.20.1.15", "WS015.corp.example.com")
    assert ok.ts == datetime(2024, 3, 11, 8, 2, 11, 402000, tzinfo=UTC)
    bad = find(ecs_events, "logon-failed")
    assert (bad.action, bad.outcome, bad.actor, bad.src_ip) == (
        "login", "failure", "administrator", "185.220.101.4")
    assert bad.attrs["event.code"] == "4625"
    out = find(ecs_events, "logged-out")
    assert (out.category, out.action) == ("authentication", "logout")


def test_ecs_user_creation_has_actor_and_target(ecs_events):
    ev = find(ecs_events, "added-user-account", "svc_backup")
    assert (ev.category, ev.action, ev.actor, ev.target, ev.outcome) == (
        "user_management", "user_created", "admin.jsmith", "svc_backup", "success")
    assert ev.message == "added-user-account by admin.jsmith on svc_backup: success"


def test_ecs_group_membership(ecs_events):
    added = find(ecs_events, "added-member-to-group", "svc_backup")
    assert (added.category, added.action, added.actor, added.target, added.role) == (
        "permission_change", "group_member_added", "admin.jsmith", "svc_backup", "Domain Admins")
    removed = find(ecs_events, "removed-member-from-group")
    assert (removed.action, removed.target, removed.role) == (
        "group_member_removed", "alice", "Administrators")


def test_ecs_account_lifecycle(ecs_events):
    expected = {
        "enabled-user-account": "user_unlocked", "reset-password": "password_changed",
        "locked-out-user-account": "user_locked", "disabled-user-account": "user_locked",
        "deleted-user-account": "user_deleted", "changed-password": "password_changed",
        "changed-audit-config": "audit_config_changed", "ran-command": "command_run",
    }
    for original, action in expected.items():
        assert find(ecs_events, original).action == action, original


def test_flattened_dotted_keys_read_like_nested_ones(ecs_events):
    flat = find(ecs_events, "added-user-account", "contractor11")
    assert (flat.action, flat.actor, flat.target, flat.host) == (
        "user_created", "admin.jsmith", "contractor11", "DC01.corp.example.com")
    ssh = [e for e in ecs_events if e.original_action == "ssh_login"]
    assert [(e.outcome, e.actor, e.src_ip, e.app) for e in ssh] == [
        ("success", "deploy", "203.0.113.45", "sshd"),
        ("failure", "oracle", "185.220.101.4", "sshd"),
        ("failure", "root", "185.220.101.4", "sshd"),
    ]
    assert {e.action for e in ssh} == {"login"}


def test_nested_flat_and_mixed_forms_give_the_same_event(tmp_path):
    nested = {"@timestamp": "2024-03-11T09:15:40Z",
              "event": {"action": "added-member-to-group", "category": ["iam"],
                        "type": ["group", "change"], "outcome": "success"},
              "user": {"name": "root", "target": {"name": "alice"}},
              "group": {"name": "wheel"}, "source": {"ip": "10.0.0.5"}, "host": {"name": "h1"}}
    flat = {"@timestamp": "2024-03-11T09:15:40Z", "event.action": "added-member-to-group",
            "event.category": ["iam"], "event.type": ["group", "change"],
            "event.outcome": "success", "user.name": "root", "user.target.name": "alice",
            "group.name": "wheel", "source.ip": "10.0.0.5", "host.name": "h1"}
    mixed = {"@timestamp": "2024-03-11T09:15:40Z", "event": {"action": "added-member-to-group",
             "category": "iam", "type": ["group", "change"], "outcome": "success"},
             "user": {"name": "root", "target.name": "alice"}, "group.name": "wheel",
             "source": {"ip": "10.0.0.5"}, "host.name": "h1"}
    events = parse_docs(tmp_path, nested, flat, mixed)
    fields = ("ts", "category", "action", "outcome", "actor", "target", "role", "src_ip", "host",
              "original_action", "message")
    rows = [tuple(getattr(e, f) for f in fields) for e in events]
    assert rows[0] == rows[1] == rows[2]
    assert rows[0][1:6] == ("permission_change", "group_member_added", "success", "root", "alice")


@pytest.mark.parametrize(("event", "expected"), [
    ({"category": ["iam"], "type": ["user", "creation"]}, ("user_management", "user_created")),
    ({"category": ["iam"], "type": ["user", "deletion"]}, ("user_management", "user_deleted")),
    ({"category": ["iam"], "type": ["group", "creation"]}, ("user_management", "group_created")),
    ({"category": ["iam"], "type": ["group", "deletion"]}, ("user_management", "group_deleted")),
    ({"category": ["iam"], "type": ["group", "change"]}, ("user_management", "group_modified")),
    ({"category": ["iam"], "type": ["group", "change"], "action": "group-member-add"},
     ("permission_change", "group_member_added")),
    ({"category": ["iam"], "type": ["user", "change"], "action": "user-password-change"},
     ("user_management", "password_changed")),
    ({"category": ["iam"], "type": ["user", "change"]}, ("user_management", "user_modified")),
    ({"category": ["iam"], "type": ["admin", "change"]}, ("policy_change", "policy_changed")),
    ({"category": ["iam"], "action": "role-granted"}, ("permission_change", "role_granted")),
    ({"category": ["authentication"], "type": ["start"]}, ("authentication", "login")),
    ({"category": ["authentication"], "type": ["end"]}, ("authentication", "logout")),
    ({"category": ["authentication"], "type": ["info"]}, ("authentication", "authenticate")),
    ({"category": "authentication", "type": "authentication_failure", "action": "ssh_login"},
     ("authentication", "login")),
    ({"category": ["session"], "type": ["start"]}, ("authentication", "session_start")),
    ({"category": ["session"], "type": ["end"]}, ("authentication", "session_end")),
    ({"category": ["configuration"], "type": ["change"]}, ("policy_change", "policy_changed")),
    ({"category": ["configuration"], "type": ["change"], "action": "audit-log-rule-changed"},
     ("policy_change", "audit_config_changed")),
    ({"category": ["web"], "type": ["access"]}, ("data_access", "access")),
    ({"category": ["file"], "type": ["deletion"]}, ("data_access", "access")),
    ({"category": ["process"], "type": ["start"], "action": "executed"}, ("system", "log")),
    ({"category": ["network"], "type": ["connection"]}, ("system", "log")),
    ({"action": "user_login"}, ("authentication", "login")),  # no category: action words
    ({"action": "user-added-to-group"}, ("permission_change", "group_member_added")),
    ({"action": "user_acct"}, ("authentication", "authenticate")),
    ({"action": "netfilter_cfg"}, ("system", "log")),
    ({"module": "auditd"}, ("system", "log")),
])
def test_ecs_category_and_type_table(tmp_path, event, expected):
    (ev,) = parse_docs(tmp_path, {"@timestamp": "2024-01-01T00:00:00Z", "event": event})
    assert (ev.category, ev.action) == expected
    assert validate_event(ev) == []


def test_ecs_outcome_sources(tmp_path):
    docs = [
        {"event": {"outcome": "failure"}},
        {"event": {"outcome": "1"}},  # an odd value from the 2019 auditd module: not guessed
        {"event.type": "authentication_success"},  # ECS 1.0
        {"event": {"category": ["web"], "type": ["denied"]}},
        {"event": {"category": ["web"]}},
    ]
    assert [e.outcome for e in parse_docs(tmp_path, *docs)] == [
        "failure", "unknown", "success", "failure", "unknown"]


def test_ecs_blank_is_empty_but_placeholder_spellings_are_values(tmp_path):
    """JSON says "no value" with null: blank text is empty, but a user called "null" or a group
    called "None" is a name (issue 16 item 3: never null because of its spelling)."""
    (ev,) = parse_docs(tmp_path, {"@timestamp": "2024-03-11T13:12:09.412+01:00",
                                  "message": "two\nlines", "ecs.version": "1.6.0",
                                  "user": {"name": "null", "target": {"name": "-"}},
                                  "group": {"name": "None"}, "source": {"ip": ""},
                                  "host": {"name": " "},
                                  "service": {"name": "accounts-web"},
                                  "process": {"name": "MainProcess"}})
    assert (ev.actor, ev.src_ip, ev.app, ev.message) == ("null", None, "accounts-web", "two lines")
    assert (ev.target, ev.role, ev.host) == ("-", "None", None)
    assert ev.ts == datetime(2024, 3, 11, 12, 12, 9, 412000, tzinfo=UTC)
    assert (ev.category, ev.action, ev.outcome) == ("system", "log", "unknown")


def test_ecs_mapping_can_be_switched_off(tmp_path):
    doc = {"@timestamp": "2024-01-01T00:00:00Z", "event": {"action": "logged-in"},
           "user": {"name": "alice"}}
    (ev,) = parse_docs(tmp_path, doc, options={"ecs": False})
    assert (ev.category, ev.action, ev.actor) == ("system", "log", None)
    assert ev.ts == datetime(2024, 1, 1, tzinfo=UTC)


# -- other objects ---------------------------------------------------------------------------


def test_plain_objects_become_log_events(tmp_path):
    events = read_events(PLAIN_SAMPLE, registry(), "jsonl", reference_time=REFERENCE_TIME)
    first = events[0]
    assert (first.category, first.action, first.message) == ("system", "log", "starting server")
    assert first.ts == datetime(2024, 3, 11, 8, 0, 0, 118302, tzinfo=UTC)  # zap epoch seconds
    assert first.attrs == {"level": "info", "caller": "cmd/accounts-api/main.go:88",
                           "addr": ":8443", "version": "2.7.1"}
    assert first.raw == PLAIN_SAMPLE.read_text().splitlines()[0]
    assert {e.action for e in events} == {"log", "unparsed"}


@pytest.mark.parametrize(("doc", "ts"), [
    ({"timestamp": "2024-03-11 08:00:00"}, datetime(2024, 3, 11, 8, tzinfo=UTC)),
    ({"time": "2024-03-11T08:00:00.123456789Z"},
     datetime(2024, 3, 11, 8, 0, 0, 123456, tzinfo=UTC)),
    ({"ts": 1710144000123}, datetime(2024, 3, 11, 8, 0, 0, 123000, tzinfo=UTC)),  # epoch ms
    ({"date": "1710144000"}, datetime(2024, 3, 11, 8, tzinfo=UTC)),
    ({"time": 1710144000123456789}, datetime(2024, 3, 11, 8, 0, 0, 123457, tzinfo=UTC)),
    ({"msg": "no time at all"}, None),
    ({"time": 12.5}, None),  # a duration, not a time
])
def test_common_time_keys(tmp_path, doc, ts):
    (ev,) = parse_docs(tmp_path, doc)
    assert ev.ts == ts
    assert validate_event(ev) == []


def test_unreadable_time_is_kept_in_attrs(tmp_path):
    (ev,) = parse_docs(tmp_path, {"time": "yesterday-ish", "msg": "x"})
    assert ev.ts is None
    assert ev.attrs["time"] == "yesterday-ish"


def test_naive_times_use_the_source_time_zone(tmp_path):
    from zoneinfo import ZoneInfo
    (ev,) = parse_docs(tmp_path, {"timestamp": "2024-03-11T09:00:00", "message": "m"},
                       tz=ZoneInfo("Europe/Berlin"))
    assert ev.ts == datetime(2024, 3, 11, 8, tzinfo=UTC)


def test_attrs_stay_small(tmp_path):
    doc = {f"k{i}": i for i in range(40)} | {"nested": {"a": 1}, "long": "x" * 1000}
    (ev,) = parse_docs(tmp_path, doc)
    assert len(ev.attrs) == 16
    assert "nested" not in ev.attrs
    (ev,) = parse_docs(tmp_path, {"long": "x" * 1000})
    assert len(ev.attrs["long"]) == 256
    assert ev.raw == json.dumps({"long": "x" * 1000})


def test_malformed_and_non_object_lines_are_kept(tmp_path):
    text = '{"ok": 1}\n{"cut": \n[1, 2]\n"just text"\n\n   \nnot json at all\n{"ok": 2}\r\n'
    events = parse_text(tmp_path, text)
    assert [e.line for e in events] == [1, 2, 3, 4, 7, 8]
    assert [e.action for e in events] == ["log", "unparsed", "unparsed", "unparsed", "unparsed",
                                         "log"]
    reasons = [e.attrs["reason"] for e in events if e.action == "unparsed"]
    assert reasons[0].startswith("jsonl: not valid JSON")
    assert reasons[1] == "jsonl: the line is a list, not a JSON object"
    assert reasons[2] == "jsonl: the line is a str, not a JSON object"
    assert events[1].raw == '{"cut": '
    assert events[-1].raw == '{"ok": 2}'


def test_byte_order_mark_is_ignored(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"message": "first"}\n{"message": "second"}\n')
    assert jsonl().detect(read_head(path)) == 0.5
    events = read_events(path, registry(), "jsonl")
    assert [e.message for e in events] == ["first", "second"]


# -- configured mappings ---------------------------------------------------------------------


def test_configured_mapping_reads_the_apps_own_shape():
    events = read_events(PLAIN_SAMPLE, registry(), "jsonl", options={"mappings": [ACCOUNTS]})
    lines = by_line(events)
    login = lines[2]
    assert (login.category, login.action, login.outcome, login.actor, login.src_ip) == (
        "authentication", "login", "success", "alice", "10.20.1.15")
    assert login.ts == datetime(2024, 3, 11, 8, 2, 11, 402117, tzinfo=UTC)
    assert login.session == "01HRQ8Z4K2V6Y9S1T3W5X7A9B1"
    assert login.user_agent.startswith("Mozilla/5.0")
    assert (login.original_action, login.message) == ("session.login", "login succeeded")
    assert login.attrs["mapping"] == "accounts-audit"
    assert login.attrs["caller"] == "audit/audit.go:57"
    assert "actor" not in login.attrs  # mapped fields are not repeated in attrs
    failed = lines[3]
    assert (failed.action, failed.outcome, failed.actor) == ("login", "failure", "bob")
    created = lines[5]
    assert (created.category, created.action, created.actor, created.target) == (
        "user_management", "user_created", "admin.jsmith", "contractor11")
    granted = lines[6]
    assert (granted.category, granted.action, granted.target, granted.role) == (
        "permission_change", "role_granted", "contractor11", "billing-admin")
    assert (lines[8].action, lines[8].target) == ("password_changed", "bob")
    assert (lines[10].action, lines[10].role) == ("role_revoked", "billing-admin")
    deleted = lines[11]
    assert (deleted.action, deleted.outcome, deleted.target) == (
        "user_deleted", "failure", "contractor07")
    assert (lines[12].category, lines[12].action) == ("authentication", "logout")
    # lines the mapping's `when` does not match fall back to the generic shape
    assert (lines[1].category, lines[1].action, lines[1].message) == (
        "system", "log", "starting server")
    assert lines[9].action == lines[13].action == "unparsed"
    assert all(validate_event(e) == [] for e in events)


def test_mapping_paths_formats_and_values(tmp_path):
    mapping = {
        "name": "vpn",
        "when": {"source.kind": ["vpn", "ipsec"]},
        "fields": {"ts": "when", "actor": ["auth.user.login", "auth.user.email"],
                   "action": "what", "outcome": "auth.ok", "src_ip": "peer.addr",
                   "host": "gw", "category": "area"},
        "values": {"action": {"connect": "login"}, "category": {"sec": "authentication"}},
        "ts_format": "%d/%m/%Y %H:%M:%S",
        "attrs": ["peer.port", "missing.path"],
    }
    docs = [
        {"source": {"kind": "vpn"}, "when": "11/03/2024 09:30:00", "what": "connect",
         "auth": {"user": {"email": "carol@example.com"}, "ok": True},
         "peer.addr": "192.0.2.7", "peer": {"port": 4500}, "gw": "vpn-gw-1", "area": "sec"},
        {"source": {"kind": "ipsec"}, "when": "bad", "what": "rekey",
         "auth": {"ok": False}},
        {"source": {"kind": "web"}, "message": "not for this mapping"},
    ]
    from zoneinfo import ZoneInfo
    events = parse_docs(tmp_path, *docs, options={"mappings": [mapping]},
                        tz=ZoneInfo("Europe/Paris"))
    vpn, rekey, other = events
    assert vpn.ts == datetime(2024, 3, 11, 8, 30, tzinfo=UTC)
    assert (vpn.category, vpn.action, vpn.outcome, vpn.actor, vpn.src_ip, vpn.host) == (
        "authentication", "login", "success", "carol@example.com", "192.0.2.7", "vpn-gw-1")
    assert vpn.attrs == {"mapping": "vpn", "peer.port": 4500}
    assert (rekey.ts, rekey.action, rekey.original_action, rekey.outcome) == (
        None, "log", "rekey", "failure")
    assert rekey.attrs["ts_unparsed"] == "bad"
    assert (other.category, other.action, other.message) == (
        "system", "log", "not for this mapping")


@pytest.mark.parametrize(("fmt", "value", "ts"), [
    ("epoch_ms", 1710144000123, datetime(2024, 3, 11, 8, 0, 0, 123000, tzinfo=UTC)),
    ("epoch", "1710144000", datetime(2024, 3, 11, 8, tzinfo=UTC)),
    ("iso", "2024-03-11T08:00:00Z", datetime(2024, 3, 11, 8, tzinfo=UTC)),
    ("auto", 1710144000, datetime(2024, 3, 11, 8, tzinfo=UTC)),
])
def test_mapping_time_formats(tmp_path, fmt, value, ts):
    mapping = {"fields": {"ts": "t", "action": "a"}, "ts_format": fmt, "category": "system"}
    (ev,) = parse_docs(tmp_path, {"t": value, "a": "service_start"},
                       options={"mappings": [mapping]})
    assert ev.ts == ts
    assert (ev.category, ev.action) == ("system", "service_start")  # a vocabulary word as is


def test_first_matching_mapping_wins_and_ecs_comes_after(tmp_path):
    mappings = [{"name": "a", "when": {"kind": "a"}, "fields": {"actor": "who"}},
                {"name": "catch-all", "fields": {"actor": "user"}}]
    ecs_doc = {"event": {"action": "logged-in"}, "user": {"name": "eve"}, "kind": "b"}
    events = parse_docs(tmp_path, {"kind": "a", "who": "x"}, {"kind": "b", "user": "y"}, ecs_doc,
                        options={"mappings": mappings})
    assert [(e.attrs["mapping"], e.actor) for e in events[:2]] == [("a", "x"), ("catch-all", "y")]
    assert events[2].attrs["mapping"] == "catch-all"  # a mapping without `when` takes everything
    (ecs,) = parse_docs(tmp_path, ecs_doc, options={"mappings": mappings[:1]})
    assert (ecs.action, ecs.actor) == ("login", "eve")


@pytest.mark.parametrize(("options", "message"), [
    ({"mappings": [{"name": "myapp", "fields": {"actr": "who"}}]},
     "mapping 'myapp' (mappings[0]): fields.actr: unknown event field"),
    ({"mappings": [{"name": "myapp", "fields": {"actor": 3}}]},
     "mapping 'myapp' (mappings[0]): fields.actor: must be a dotted path"),
    ({"mappings": [{"fields": {"actor": "a"}}, {"name": "b", "fields": {"action": "op"},
                                                "values": {"action": {"mk": "make_user"}}}]},
     "mapping 'b' (mappings[1]): values.action.mk: 'make_user' is not a valid action"),
    ({"mappings": [{"name": "m", "fields": {"outcome": "r"},
                    "values": {"outcome": {"ok": "yes"}}}]},
     "values.outcome.ok: 'yes' is not a valid outcome"),
    ({"mappings": [{"name": "m", "fields": {"actor": "a"}, "values": {"action": {"x": "login"}}}]},
     "values.action: given but fields.action does not say where to read it"),
    ({"mappings": [{"name": "m", "fields": {"ts": "t"}, "ts_format": "unix"}]},
     "mapping 'm' (mappings[0]): ts_format: 'unix'"),
    ({"mappings": [{"name": "m", "fields": {"actor": "a"}, "category": "iam"}]},
     "mapping 'm' (mappings[0]): category: 'iam' is not a category"),
    ({"mappings": [{"name": "m", "fields": {"actor": "a"}, "when": {"k": {"x": 1}}}]},
     "mapping 'm' (mappings[0]): when.k:"),
    ({"mappings": [{"name": "m", "field": {"actor": "a"}}]},
     "mapping 'm' (mappings[0]): field: unknown key"),
    ({"mappings": [{"name": "m"}]}, "mapping 'm' (mappings[0]): fields: must map"),
    ({"mappings": {"name": "m"}}, "mappings must be a list"),
    ({"mapping": []}, "unknown key(s) 'mapping'"),
])
def test_bad_mapping_raises_naming_the_field(tmp_path, options, message):
    with pytest.raises(ValueError) as info:
        parse_docs(tmp_path, {"a": 1}, options=options)
    assert message in str(info.value)


def test_config_section_of_yaml_shape_is_accepted(tmp_path):
    import yaml
    options = yaml.safe_load("""
mappings:
  - name: legacy
    when: {svc: legacy, enabled: true}
    fields: {action: op, outcome: rc}
    values:
      action: {1: user_created, 2: user_deleted}
      outcome: {0: success}
""")
    docs = [{"svc": "legacy", "enabled": True, "op": 1, "rc": 0},
            {"svc": "legacy", "enabled": True, "op": 2, "rc": 5}]
    created, deleted = parse_docs(tmp_path, *docs, options=options)
    assert (created.action, created.outcome, created.original_action) == (
        "user_created", "success", "1")
    assert (deleted.action, deleted.outcome) == ("user_deleted", "unknown")


# -- real ECS documents from the corpus -------------------------------------------------------

BEATS = CORPUS / "elastic-beats-2019" / "filebeat" / "module"


def _norm(value):
    if isinstance(value, str):
        value = value.strip()
        return None if value in ("", "-", "?") else value
    return None if value is None else str(value)


def test_corpus_ecs_goldens_read_back(tmp_path):
    """Filebeat's expected outputs (flattened ECS 1.x documents), turned into JSON lines.

    These are plain field reads (user.name, source.ip, event.outcome, @timestamp, host,
    event.category), so agreement should be total; 99% leaves room only for a placeholder
    value we deliberately read as empty. Records are counted independently from the arrays.
    """
    files = sorted(BEATS.glob("*/*/test/*-expected.json")) if BEATS.is_dir() else []
    if not files:
        pytest.skip("corpus not available")
    compared = agreed = 0
    disagreements = []
    for expected_file in files:
        docs = json.loads(expected_file.read_text(encoding="utf-8"))
        path = tmp_path / (expected_file.stem + ".jsonl")
        path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
        assert jsonl().detect(read_head(path)) == 0.5
        events = read_events(path, registry(), "jsonl")
        assert len(events) == len(docs), expected_file
        for doc, ev in zip(docs, events, strict=True):
            assert ev.action != "unparsed" and validate_event(ev) == [], (expected_file, doc)
            outcome = doc.get("event.outcome")
            pairs = {
                "user.name": (_norm(doc.get("user.name")), ev.actor),
                "source.ip": (_norm(doc.get("source.ip")), ev.src_ip),
                "event.outcome": (outcome if outcome in ("success", "failure") else "unknown",
                                  ev.outcome),
                "host": (_norm(doc.get("host.name") or doc.get("host.hostname")), ev.host),
                "process.name": (_norm(doc.get("process.name")), ev.app),
            }
            if "@timestamp" in doc:
                pairs["@timestamp"] = (
                    datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00")), ev.ts)
            if doc.get("event.category") == "authentication":
                pairs["event.category"] = ("authentication", ev.category)
            for name, (want, got) in pairs.items():
                compared += 1
                if want == got:
                    agreed += 1
                else:
                    disagreements.append(
                        f"{expected_file.name} line {ev.line}: {name} {want!r} != {got!r}")
    rate = agreed / compared
    print(f"ECS corpus agreement: {agreed}/{compared} = {rate:.2%}")
    print("\n".join(disagreements))
    assert rate >= 0.99
