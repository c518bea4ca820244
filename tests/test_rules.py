"""The rule engine: every rule type and every built-in rule, each on a planted incident that must
be found (exact group and count) and a near miss that must not be."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditctl.config import Config
from auditctl.detect.rules import RuleError, load_file, load_rules, rule_from_dict
from auditctl.detect.runner import run_checks
from auditctl.errors import ExitCode
from auditctl.ingest.ingester import Ingester
from auditctl.store import Store
from events import T0, UNTIL, added, created, deleted, ecs, fail, ok, sudo
from support import registry


def findings(tmp_path: Path, lines: list[str], rule_ids: list[str] | str, *, extra_rules: list[dict] | None = None,
             name: str = "events.log", until: datetime = UNTIL, since: datetime | None = None):
    log = tmp_path / name
    log.write_text("\n".join(lines) + "\n")
    db = tmp_path / f"{name}.duckdb"  # one database per call: calls in a test must not share events
    with Store.open(db) as store:
        Ingester(store, registry(), Config(db=db)).ingest([str(log)])
        rules = [r for r in load_rules() if r.id in ([rule_ids] if isinstance(rule_ids, str) else rule_ids)]
        rules += [rule_from_dict(d, "test", i) for i, d in enumerate(extra_rules or [])]
        assert rules, rule_ids
        result = run_checks(store, rules, since, until)
        seq_of = {row[1]: row[0] for row in store.con.execute("SELECT seq, line FROM events").fetchall()}
    return result.findings, seq_of


# -- built-in rules: planted incident and near miss --------------------------------------

def test_failed_login_burst_per_ip(tmp_path):
    lines = [fail(i * 10, user=f"u{i % 3}") for i in range(8)]  # 8 in 70 s
    found, seq = findings(tmp_path, lines, "auth.failed-login-burst.ip")
    assert [(f.group_key, f.count) for f in found] == [({"src_ip": "203.0.113.7"}, 8)]
    assert found[0].seqs == [seq[i] for i in range(1, 9)]


def test_failed_login_burst_near_misses(tmp_path):
    seven = [fail(i * 10) for i in range(7)]  # one below the threshold
    spread = [fail(i * 20) for i in range(8)]  # 8 failures over 140 s: never 8 within 120 s
    two_ips = [fail(i * 10, ip="203.0.113.7" if i % 2 else "203.0.113.8") for i in range(8)]
    for lines in (seven, spread, two_ips):
        assert findings(tmp_path, lines, "auth.failed-login-burst.ip", name=f"n{len(lines)}{lines[1][:25]}")[0] == []


def test_a_long_storm_is_one_finding_with_a_count(tmp_path):
    lines = [fail(i * 5) for i in range(300)]
    found, _ = findings(tmp_path, lines, "auth.failed-login-burst.ip")
    assert len(found) == 1 and found[0].count == 300


def test_storms_further_apart_than_window_plus_cooldown_are_separate_findings(tmp_path):
    """Clusters of qualifying events are cut where two qualifying events are more than window +
    cooldown apart (here 60 s + 300 s); events in the same second are never cut apart. Each
    storm qualifies from its second second (3 events in 60 s) to its third."""
    rule = {"id": "t.burst", "title": "t", "severity": "high", "type": "threshold", "group_by": ["src_ip"],
            "where": {"action": "login", "outcome": "failure"}, "count": 3, "window": "60s", "cooldown": "300s"}
    def storm(start: int, n: int) -> list[str]:
        return [fail(start + i // 2) for i in range(n)]  # two a second
    apart = storm(0, 6) + storm(362, 6)  # qualifying at 1-2 s, then at 363 s: 361 s apart
    close = storm(0, 6) + storm(361, 6)  # 360 s apart: one cluster
    found, seq = findings(tmp_path, apart, [], extra_rules=[rule], name="apart.log")
    assert [(f.count, f.seqs) for f in found] == [(6, [seq[i] for i in range(1, 7)]), (6, [seq[i] for i in range(7, 13)])]
    found, _ = findings(tmp_path, close, [], extra_rules=[rule], name="close.log")
    assert [f.count for f in found] == [12]


def test_failed_login_burst_per_user(tmp_path):
    lines = [fail(i * 10, user="carol", ip=f"198.51.100.{i}") for i in range(9)]
    found, _ = findings(tmp_path, lines, "auth.failed-login-burst.user")
    assert [(f.group_key, f.count) for f in found] == [({"actor": "carol"}, 9)]
    assert findings(tmp_path, lines[:7], "auth.failed-login-burst.user", name="b.log")[0] == []


def test_password_spraying(tmp_path):
    lines = [fail(i * 3600, user=f"user{i}", ip="192.0.2.50") for i in range(4)]  # 4 users over 3 h
    found, _ = findings(tmp_path, lines, "auth.password-spraying")
    assert [(f.group_key, f.count) for f in found] == [({"src_ip": "192.0.2.50"}, 4)]
    three_users = [fail(i * 600, user=f"user{i % 3}", ip="192.0.2.50") for i in range(9)]  # many tries, 3 users
    assert findings(tmp_path, three_users, "auth.password-spraying", name="b.log")[0] == []
    outside_day = [fail(i * 9 * 3600, user=f"user{i}", ip="192.0.2.50") for i in range(4)]  # 27 h apart in all
    assert findings(tmp_path, outside_day, "auth.password-spraying", name="c.log")[0] == []


def test_success_after_failures(tmp_path):
    lines = [fail(i * 20, user="dave", ip="198.51.100.9") for i in range(5)] + [ok(200, user="dave", ip="198.51.100.9")]
    found, seq = findings(tmp_path, lines, "auth.success-after-failures")
    assert [(f.group_key, f.count) for f in found] == [({"actor": "dave", "src_ip": "198.51.100.9"}, 6)]
    assert found[0].seqs == [seq[i] for i in range(1, 7)]


@pytest.mark.parametrize(("case", "lines"), [
    ("four failures", [fail(i * 20, user="dave") for i in range(4)] + [ok(100, user="dave")]),
    ("too slow", [fail(i * 20, user="dave") for i in range(5)] + [ok(700, user="dave")]),
    ("wrong order", [ok(0, user="dave")] + [fail(10 + i * 20, user="dave") for i in range(5)]),
    ("other address", [fail(i * 20, user="dave") for i in range(5)] + [ok(200, user="dave", ip="10.0.0.1")]),
])
def test_success_after_failures_near_misses(tmp_path, case, lines):
    assert findings(tmp_path, lines, "auth.success-after-failures")[0] == [], case


def test_admin_granted(tmp_path):
    lines = [added(0, "bob", "sudo"), added(10, "eve", "docker"),
             ecs(20, "added-member-to-group", user={"name": "admin", "target": {"name": "mallory"}},
                 group={"name": "Domain Admins"}, event={"action": "added-member-to-group", "outcome": "success"})]
    found, _ = findings(tmp_path, lines[:2], "iam.admin-granted")
    assert [(f.group_key, f.count) for f in found] == [({"actor": None, "target": "bob", "role": "sudo"}, 1)]
    found, _ = findings(tmp_path, [lines[2]], "iam.admin-granted", name="win.jsonl")
    assert [f.group_key for f in found] == [{"actor": "admin", "target": "mallory", "role": "Domain Admins"}]


def test_mass_user_deletion(tmp_path):
    lines = [deleted(i * 60, f"temp{i}") for i in range(6)]  # 6 in 5 minutes
    found, _ = findings(tmp_path, lines, "iam.mass-user-deletion")
    assert [(f.group_key, f.count) for f in found] == [({"actor": None}, 6)]
    five = [deleted(i * 60, f"temp{i}") for i in range(5)]
    slow = [deleted(i * 125, f"temp{i}") for i in range(6)]  # 6 deletions spread over 10 min 25 s
    assert findings(tmp_path, five, "iam.mass-user-deletion", name="b.log")[0] == []
    assert findings(tmp_path, slow, "iam.mass-user-deletion", name="c.log")[0] == []


def test_user_created_then_deleted(tmp_path):
    lines = [created(0, "ghost"), sudo(60), deleted(300, "ghost")]
    found, _ = findings(tmp_path, lines, "iam.user-created-then-deleted")
    assert [(f.group_key, f.count) for f in found] == [({"target": "ghost"}, 2)]
    late = [created(0, "ghost"), deleted(700, "ghost")]
    other = [created(0, "ghost"), deleted(60, "spirit")]
    backwards = [deleted(0, "ghost"), created(60, "ghost")]
    for i, lines in enumerate((late, other, backwards)):
        assert findings(tmp_path, lines, "iam.user-created-then-deleted", name=f"{i}.log")[0] == []


def test_audit_logging_disabled(tmp_path):
    lines = [ecs(0, "audit-log-cleared", user={"name": "admin"}), ecs(60, "logged-in", user={"name": "admin"})]
    found, _ = findings(tmp_path, lines, "audit.logging-disabled", name="w.jsonl")
    assert len(found) == 1 and found[0].group_key["actor"] == "admin"
    audit = Path(__file__).parent.parent / "sample_logs" / "auditd" / "audit.log"
    found, _ = findings(tmp_path, audit.read_text().splitlines(), "audit.logging-disabled", name="audit.log",
                        until=datetime(2030, 1, 1, tzinfo=UTC))
    assert {f.group_key["original_action"] for f in found} == {"CONFIG_CHANGE", "DAEMON_END"}


def test_audit_logging_near_miss(tmp_path):
    lines = [ecs(0, "changed-audit-config", user={"name": "admin"})]  # a config change, logging not stopped
    assert findings(tmp_path, lines, "audit.logging-disabled", name="w.jsonl")[0] == []


def test_privileged_off_hours(tmp_path):
    night = T0.replace(hour=2) - T0  # 02:00 on a Monday
    saturday = timedelta(days=5)
    lines = [sudo(night.total_seconds()), sudo(saturday.total_seconds(), user="bob"), sudo(0, user="carol")]
    found, _ = findings(tmp_path, lines, "priv.off-hours")
    assert sorted(f.group_key["actor"] for f in found) == ["alice", "bob"]  # carol at 10:00 on Monday is fine


def test_login_from_new_ip(tmp_path):
    day = 86400
    lines = [ok(0, user="erin", ip="10.0.0.5"), ok(4 * day, user="erin", ip="10.0.0.5"),
             ok(8 * day, user="erin", ip="198.51.100.77"), ok(9 * day, user="frank", ip="198.51.100.77")]
    found, seq = findings(tmp_path, lines, "auth.login-new-ip", until=T0 + timedelta(days=10))
    # erin's third login, 8 days into her history, is from a new address; frank's first login
    # has no baseline to compare
    assert [(f.group_key, f.seqs) for f in found] == [({"actor": "erin", "src_ip": "198.51.100.77"}, [seq[3]])]


def test_nothing_is_new_while_the_baseline_is_learned(tmp_path):
    """A fresh store: every user's first logins are not "new" (500k lines gave 124,997 such
    findings); only after the learning period (7 days of the user's history) is an address new."""
    day = 86400
    lines = [ok(i * 3600, user=f"u{i % 5}", ip=f"198.51.100.{i}") for i in range(100)]  # 4 days, 100 addresses
    lines += [ok(8 * day, user="u1", ip="203.0.113.9")]  # u1, 8 days after its first login
    log = tmp_path / "fresh.log"
    log.write_text("\n".join(lines) + "\n")
    db = tmp_path / "fresh.duckdb"
    with Store.open(db) as store:
        Ingester(store, registry(), Config(db=db)).ingest([str(log)])
        rule = next(r for r in load_rules() if r.id == "auth.login-new-ip")
        early = run_checks(store, [rule], None, T0 + timedelta(days=5), persist=False)
        assert early.findings == []
        assert early.learning[0]["groups"] == 5 and early.learning[0]["groups_learning"] == 5
        assert early.learning[0]["learning_until"] == T0 + timedelta(hours=4, days=7)  # u4's first login + 7 d
        later = run_checks(store, [rule], None, T0 + timedelta(days=9), persist=False)
        assert [f.group_key for f in later.findings] == [{"actor": "u1", "src_ip": "203.0.113.9"}]
        assert later.learning == []
        # learning 0s: the old behaviour, every second address of a user is "new"
        eager = rule_from_dict({**{"id": "t.eager", "title": "t", "severity": "low", "type": "first_seen"},
                                "where": rule.where, "group_by": ["actor"], "value": ["src_ip"],
                                "baseline": "30d", "learning": "0s"}, "test", 0)
        assert len(run_checks(store, [eager], None, T0 + timedelta(days=5), persist=False).findings) == 95


RELAXED = {"min_events": 1, "min_days": 1, "factor": 1}  # any source counts: only the gap matters


def relaxed_silence(**changes) -> dict:
    return {"id": "t.silent", "title": "t", "severity": "low", "type": "absence", "group_by": ["host"],
            "where": {"host": {"exists": True}}, "window": "24h", "baseline": "7d", "rhythm": RELAXED, **changes}


def test_source_silent(tmp_path):
    """Hand-computed: web1 logs every hour from T0 (Mon 10:00) for 96 hours (97 events on 5
    days; usual gap 1 h), then stops at T0+96h; at T0+126h it has been silent 30 h > 24 h and
    > 3 x 1 h. web2 logs on (no silence); web3's 5 events in 4 hours were never a rhythm."""
    lines = [sudo(i * 3600, host="web1") for i in range(97)] + [sudo(i * 3600, host="web2") for i in range(126)]
    lines += [sudo(i * 3600, host="web3") for i in range(5)]
    found, seq = findings(tmp_path, lines, "source.silent", until=T0 + timedelta(hours=126))
    assert [f.group_key for f in found] == [{"host": "web1"}]
    assert found[0].first_ts == T0 + timedelta(hours=96) and found[0].seqs == [seq[97]]


def test_a_slow_source_is_silent_only_after_several_of_its_usual_gaps(tmp_path):
    """A host that logs once a day (usual gap 24 h) is not silent after 30 h, but is after 80 h
    (> 3 x 24 h); a blank host never is a source of its own."""
    daily = [sudo(d * 86400 + m * 60, host="batch1") for d in range(6) for m in range(5)]  # 5 lines a day, 6 days
    # as in the corpus's auth-ubuntu1204.log: a BSD line whose host field is empty (host = '')
    blank = [f"{(T0 + timedelta(hours=h)).strftime('%b %e %H:%M:%S')}  sshd[8317]: last message repeated 2 times"
             for h in range(0, 100)]
    last = T0 + timedelta(days=5, minutes=4)
    assert findings(tmp_path, daily + blank, "source.silent", until=last + timedelta(hours=30))[0] == []
    found, _ = findings(tmp_path, daily + blank, "source.silent", until=last + timedelta(hours=80), name="b.log")
    assert [(f.group_key, f.first_ts) for f in found] == [({"host": "batch1"}, last)]


def test_source_silent_gap_inside_the_range(tmp_path):
    lines = [sudo(0, host="web3"), sudo(30 * 3600, host="web3"), sudo(31 * 3600, host="web3")]
    found, _ = findings(tmp_path, lines, [], extra_rules=[relaxed_silence()], until=T0 + timedelta(hours=32), since=T0)
    assert [(f.first_ts, f.last_ts) for f in found] == [(T0, T0 + timedelta(hours=30))]
    near = [sudo(0, host="web3"), sudo(20 * 3600, host="web3")]
    assert findings(tmp_path, near, [], extra_rules=[relaxed_silence()], until=T0 + timedelta(hours=21), since=T0,
                    name="n.log")[0] == []


def test_silences_are_named_by_the_last_event_before_them_wherever_they_fall(tmp_path):
    """A silence is found between any two consecutive events more than `window` apart, also
    when both sit in neighbouring `window`-sized stretches of the clock; it is named by the
    last event before it (of several in that second, the last stored)."""
    rule = {"id": "t.quiet", "title": "t", "severity": "low", "type": "absence", "group_by": ["host"],
            "where": {"host": {"exists": True}}, "window": "100s", "baseline": "1d", "rhythm": RELAXED}
    at = [0, 50, 99, 199, 199, 199, 300, 401, 450]  # silences: 199 -> 300 (101 s) and 300 -> 401 (101 s)
    lines = [sudo(t, host="db1") for t in at] + [sudo(t, host="db2") for t in range(0, 460, 100)]
    found, seq = findings(tmp_path, lines, [], extra_rules=[rule], since=T0, until=T0 + timedelta(seconds=460))
    # 99 -> 199 is exactly 100 s: not a silence. The two silences touch, so they are one finding.
    assert [(f.group_key["host"], f.first_ts - T0, f.last_ts - T0, f.seqs) for f in found] == [
        ("db1", timedelta(seconds=199), timedelta(seconds=401), [seq[6], seq[7]])]


# -- rule features -------------------------------------------------------------------------

def test_where_operators(tmp_path):
    lines = [fail(0, user="admin1"), fail(1, user="bob"), ok(2, user="admin2", ip="10.1.1.1"), sudo(3)]
    def ids(where):
        rule = {"id": "t", "title": "t", "severity": "low", "type": "match", "where": where, "group_by": ["actor"],
                "cooldown": "1s"}
        return sorted(f.group_key["actor"] for f in findings(tmp_path, lines, [], extra_rules=[rule],
                                                              name=f"{abs(hash(str(where)))}.log")[0])
    assert ids({"actor": "admin*"}) == ["admin1", "admin2"]
    assert ids({"actor": {"re": "^ad.*1$"}}) == ["admin1"]
    assert ids({"actor": {"not": ["bob", "alice"]}, "category": "authentication"}) == ["admin1", "admin2"]
    assert ids({"src_ip": {"like": "10.*"}}) == ["admin2"]
    assert ids({"attrs.method": "password", "outcome": "failure"}) == ["admin1", "bob"]
    assert ids({"any_of": [{"actor": "bob"}, {"app": "sudo"}]}) == ["alice", "bob"]
    assert ids({"none_of": [{"category": "authentication"}]}) == ["alice"]
    assert ids({"pid": {"gte": 1}, "actor": {"in": ["bob"]}}) == ["bob"]


def test_rule_validation_errors_name_file_rule_and_field(tmp_path):
    cases = {
        "severity: urgent": "rule r1: severity: 'urgent' is not one of",
        "type: burst": "rule r1: type: 'burst' is not one of",
        "type: threshold\n  window: 2 minutes\n  count: 3": "rule r1: window: '2 minutes' is not a duration",
        "type: threshold\n  count: 3": "rule r1: window: required for a threshold rule",
        "where: {colour: red}": "rule r1: where.colour: unknown field 'colour'",
        "where: {actor: {near: x}}": "rule r1: where.actor: unknown operator 'near'",
        "where: {actor: {re: '(?=x)'}}": "rule r1: where.actor: lookaround",
        "group_by: [nope]": "rule r1: group_by: unknown field 'nope'",
        "frequency: 3": "rule r1: frequency: unknown field",
    }
    for body, expected in cases.items():
        path = tmp_path / "bad.yaml"
        text = "- id: r1\n  title: T\n  severity: low\n  type: match\n  " + body + "\n"
        if body.startswith(("severity", "type")):
            text = text.replace("  severity: low\n", "", 1 if body.startswith("severity") else 0)
            text = text.replace("  type: match\n", "", 1 if body.startswith("type") else 0)
        path.write_text(text)
        with pytest.raises(RuleError) as err:
            load_file(path)
        assert str(err.value).startswith(f"{path}: ") and expected in str(err.value), str(err.value)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("- id: x\n  title: [unclosed\n")
    with pytest.raises(RuleError, match=r"broken.yaml line \d+: not valid YAML"):
        load_file(path)


USER_RULE = textwrap.dedent("""\
    id: local.sudo-by-alice
    title: alice used sudo
    severity: info
    type: match
    where: {app: sudo, actor: alice}
    group_by: [host]
    ---
    id: auth.failed-login-burst.ip
    title: Failed-login burst (tuned for our VPN)
    severity: high
    type: threshold
    where: {category: authentication, action: login, outcome: failure, src_ip: {exists: true}}
    group_by: [src_ip]
    count: 3
    window: 60s
""")


def test_user_rules_work_beside_builtins_and_can_replace_them(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "local.yaml").write_text(USER_RULE)
    rules = {r.id: r for r in load_rules([tmp_path / "rules"])}
    assert "local.sudo-by-alice" in rules and "iam.admin-granted" in rules
    assert rules["auth.failed-login-burst.ip"].count == 3
    assert rules["auth.failed-login-burst.ip"].origin.endswith("local.yaml")


def test_config_disables_and_overrides(tmp_path):
    rules = {r.id: r for r in load_rules(disabled=["priv.off-hours"],
                                         overrides={"iam.mass-user-deletion": {"count": 20}})}
    assert "priv.off-hours" not in rules and rules["iam.mass-user-deletion"].count == 20
    with pytest.raises(RuleError, match="no rule with id 'nope'"):
        load_rules(overrides={"nope": {"count": 1}})


def test_every_builtin_rule_is_documented():
    readme = (Path(__file__).parent.parent / "docs" / "reference" / "rules.md").read_text()
    for rule in load_rules():
        assert f"`{rule.id}`" in readme, rule.id
        assert rule.description and rule.tags


# -- the commands --------------------------------------------------------------------------

def test_check_findings_search_and_fail_on(cli, tmp_path):
    log = tmp_path / "burst.log"
    log.write_text("\n".join([fail(i * 5) for i in range(10)] + [added(100, "bob", "wheel")]) + "\n")
    cli("ingest", str(log))
    result = cli("check", "--format", "json", "--until", "2026-03-10", "--fail-on", "high")
    assert result.exit_code == ExitCode.FINDINGS, result.output
    found = {f["rule"]: f for f in json.loads(result.stdout)}
    assert found["auth.failed-login-burst.ip"]["count"] == 10 and found["auth.failed-login-burst.ip"]["status"] == "new"
    # the next run starts where this one ended: nothing new
    again = cli("check", "--format", "json", "--fail-on", "high")
    assert again.exit_code == 0 and json.loads(again.stdout) == []
    # re-checking the same range merges into the same findings
    rerun = cli("check", "--format", "json", "--since", "2026-03-01", "--until", "2026-03-10")
    assert json.loads(rerun.stdout) == []
    listed = json.loads(cli("findings", "--format", "json").stdout)
    assert len(listed) == len(found)
    fid = found["auth.failed-login-burst.ip"]["id"]
    events = [json.loads(ln) for ln in cli("search", "--finding", str(fid), "--limit", "0").stdout.splitlines()]
    assert len(events) == 10 and {e["outcome"] for e in events} == {"failure"}
    assert cli("search", "--finding", "999").exit_code == ExitCode.ERROR
    assert cli("check", "--fail-on", "dire").exit_code == ExitCode.USAGE
    table = cli("findings", "--severity", "high", "--format", "table").stdout
    assert "auth.failed-login-burst.ip" in table


def test_rules_list_and_validate(cli, tmp_path):
    rows = [json.loads(ln) for ln in cli("rules", "list").stdout.splitlines()]
    assert len(rows) == 13 and all(r["origin"].endswith("builtin.yaml") for r in rows)
    good = tmp_path / "good.yaml"
    good.write_text(USER_RULE)
    assert cli("rules", "validate", str(good)).stdout.strip() == "2 rule(s) valid"
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ntitle: t\nseverity: low\ntype: threshold\n")
    result = cli("rules", "validate", str(bad))
    assert result.exit_code == ExitCode.USAGE and "rule x: window: required" in result.output
    only_user = [json.loads(ln) for ln in cli("rules", "list", "--no-builtin", "--rules", str(good)).stdout.splitlines()]
    assert [r["id"] for r in only_user] == ["local.sudo-by-alice", "auth.failed-login-burst.ip"]
