"""Sigma correlation rules run as exact sliding windows over the store, with the base rules'
events as the evidence: event_count, value_count, temporal and temporal_ordered, group-by and
aliases, generate, and what we cannot express (skipped with the reason).

Events are Windows Security logons written as Winlogbeat lines and ingested for real."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditctl.config import Config
from auditctl.detect.runner import Finding, run_checks
from auditctl.detect.sigma.load import SigmaSet, load_sigma
from auditctl.ingest.ingester import Ingester
from auditctl.store import Store
from support import registry

DAY = datetime(2024, 5, 2, tzinfo=UTC)
UNTIL = DAY + timedelta(days=1)

FAILED = """\
title: Failed logon
name: failed_logon
id: 0d4c4e36-2a8e-4d5b-8f53-6f0c1f2e3a01
logsource: {product: windows, service: security}
detection:
  selection:
    EventID: 4625
  condition: selection
level: low
"""
SUCCESS = """\
title: Successful network logon
name: network_logon
id: 0d4c4e36-2a8e-4d5b-8f53-6f0c1f2e3a02
logsource: {product: windows, service: security}
detection:
  selection:
    EventID: 4624
    LogonType: 3
  condition: selection
level: low
"""
PRIVILEGED = """\
title: Special privileges assigned
name: special_privileges
id: 0d4c4e36-2a8e-4d5b-8f53-6f0c1f2e3a03
logsource: {product: windows, service: security}
detection:
  selection:
    EventID: 4672
  condition: selection
level: low
"""


def at(clock: str) -> str:
    """`HH:MM:SS` on the test day as an ISO time."""
    return f"2024-05-02T{clock}Z"


def logon(clock: str, event_id: int, **data: Any) -> str:
    return json.dumps({"@timestamp": at(clock), "host": {"name": "dc01"}, "event": {"code": str(event_id)},
                       "winlog": {"channel": "Security", "computer_name": "dc01", "event_id": str(event_id),
                                  "provider_name": "Microsoft-Windows-Security-Auditing", "event_data": data}})


def failed(clock: str, user: str, ip: str = "203.0.113.7") -> str:
    return logon(clock, 4625, TargetUserName=user, IpAddress=ip, LogonType="3")


def success(clock: str, user: str, ip: str = "203.0.113.7") -> str:
    return logon(clock, 4624, TargetUserName=user, IpAddress=ip, LogonType="3")


def privileged(clock: str, user: str) -> str:
    return logon(clock, 4672, SubjectUserName=user)


def correlation(kind: str, rules: list[str], body: str, title: str = "Correlated") -> str:
    return textwrap.dedent(f"""\
        title: {title}
        id: 5b7f1c2a-9d3e-4f6a-8b1c-2d3e4f5a6b7c
        correlation:
          type: {kind}
          rules: {json.dumps(rules)}
        """) + textwrap.indent(textwrap.dedent(body), "  ") + "level: high\n"


def run(tmp_path: Path, lines: list[str], *docs: str) -> tuple[list[Finding], SigmaSet, dict[int, int]]:
    """Ingest `lines` (in order), load the Sigma documents from one file, run them: the findings,
    the loaded set, and line number (1-based) -> seq. Each call has a store of its own."""
    tmp_path = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    tmp_path.mkdir()
    log = tmp_path / "security.ndjson"
    log.write_text("\n".join(lines) + "\n")
    rules = tmp_path / "rules.yml"
    rules.write_text("\n---\n".join(docs))
    loaded = load_sigma([rules])
    db = tmp_path / "audit.duckdb"
    with Store.open(db) as store:
        Ingester(store, registry(), Config(db=db)).ingest([str(log)])
        result = run_checks(store, loaded.rules, None, UNTIL)
        seq_of = {line: seq for seq, line in store.con.execute("SELECT seq, line FROM events").fetchall()}
    return result.findings, loaded, seq_of


EVENT_COUNT = correlation("event_count", ["failed_logon"], """\
    group-by:
      - TargetUserName
    timespan: 10m
    condition:
      gte: 5
    """, title="Brute force on one account")


def test_event_count_finds_a_burst_across_a_bucket_boundary(tmp_path: Path):
    """Three failures at 10:08-10:09:59 and two at 10:10:01-10:11: fixed 10-minute buckets
    (10:00-10:10, 10:10-10:20) hold 3 and 2 and would miss them; the sliding window holds all five."""
    lines = [failed("10:08:00", "alice"), failed("10:08:30", "alice"), failed("10:09:59", "alice"),
             failed("10:10:01", "alice"), failed("10:11:00", "alice"),
             # bob: four failures, one short; carol: five spread over 12 minutes, never five in 10
             failed("10:08:00", "bob"), failed("10:09:00", "bob"), failed("10:10:30", "bob"), failed("10:11:00", "bob"),
             *(failed(f"11:{m:02d}:00", "carol") for m in (0, 3, 6, 9, 12)),
             success("10:09:00", "alice")]  # not a base event
    found, loaded, seq = run(tmp_path, lines, FAILED, EVENT_COUNT)
    assert [r.id for r in loaded.rules] == ["5b7f1c2a-9d3e-4f6a-8b1c-2d3e4f5a6b7c"]
    assert [(f.group_key, f.count, f.seqs) for f in found] == [
        ({"TargetUserName": "alice"}, 5, [seq[i] for i in range(1, 6)])]
    assert found[0].first_ts == DAY + timedelta(hours=10, minutes=8)
    assert found[0].last_ts == DAY + timedelta(hours=10, minutes=11)


def test_event_count_gt_and_no_group_by(tmp_path: Path):
    lines = [failed(f"10:0{i}:00", f"user{i}") for i in range(5)]
    over_four = correlation("event_count", ["failed_logon"], """\
        timespan: 5m
        condition:
          gt: 4
        """)
    found, _, seq = run(tmp_path, lines, FAILED, over_four)
    assert [(f.group_key, f.seqs) for f in found] == [({}, [seq[i] for i in range(1, 6)])]
    over_five = over_four.replace("gt: 4", "gt: 5")
    assert run(tmp_path, lines, FAILED, over_five)[0] == []


def test_value_count_distinct_accounts_from_one_address(tmp_path: Path):
    spray = correlation("value_count", ["failed_logon"], """\
        group-by:
          - IpAddress
        timespan: 5m
        condition:
          gte: 3
          field: TargetUserName
        """, title="Password spray")
    lines = [failed("10:00:00", "alice"), failed("10:01:00", "alice"), failed("10:02:00", "bob"),
             failed("10:03:00", "carol"),  # three accounts from .7 within 3 minutes
             failed("10:00:00", "alice", "198.51.100.9"), failed("10:01:00", "alice", "198.51.100.9"),
             failed("10:02:00", "alice", "198.51.100.9"), failed("10:03:00", "bob", "198.51.100.9")]  # two accounts
    found, _, seq = run(tmp_path, lines, FAILED, spray)
    assert [(f.group_key, f.seqs) for f in found] == [({"IpAddress": "203.0.113.7"}, [seq[i] for i in range(1, 5)])]


def test_temporal_all_rules_in_any_order_within_the_timespan(tmp_path: Path):
    rule = correlation("temporal", ["failed_logon", "network_logon"], """\
        group-by:
          - TargetUserName
        timespan: 5m
        """, title="Failure and success")
    lines = [success("10:00:00", "alice"), failed("10:03:00", "alice"),  # success first: still temporal
             failed("10:00:00", "bob"), failed("10:01:00", "bob"),  # only failures
             failed("10:00:00", "carol"), success("10:06:00", "carol")]  # 6 minutes apart
    found, _, seq = run(tmp_path, lines, FAILED, SUCCESS, rule)
    assert [(f.group_key, f.seqs) for f in found] == [({"TargetUserName": "alice"}, [seq[1], seq[2]])]


def test_temporal_ordered_with_aliases(tmp_path: Path):
    """Failures for an account, then special privileges for it: the account is TargetUserName in
    4625 and SubjectUserName in 4672, joined by an alias."""
    rule = correlation("temporal_ordered", ["failed_logon", "special_privileges"], """\
        group-by:
          - user
        timespan: 10m
        aliases:
          user:
            failed_logon: TargetUserName
            special_privileges: SubjectUserName
        """, title="Failures then privileges")
    lines = [failed("10:00:00", "alice"), privileged("10:04:00", "alice"),  # in order: found
             privileged("10:00:00", "bob"), failed("10:04:00", "bob"),  # wrong order
             failed("10:00:00", "carol"), privileged("10:04:00", "dave"),  # different accounts
             failed("10:00:00", "erin"), privileged("10:11:00", "erin")]  # too far apart
    found, _, seq = run(tmp_path, lines, FAILED, PRIVILEGED, rule)
    assert [(f.group_key, f.seqs) for f in found] == [({"user": "alice"}, [seq[1], seq[2]])]


def test_base_rules_of_a_correlation_make_no_findings_of_their_own_unless_generate(tmp_path: Path):
    lines = [failed(f"10:0{i}:00", "alice") for i in range(5)]
    found, loaded, _ = run(tmp_path, lines, FAILED, EVENT_COUNT)
    assert [b.title for b in loaded.bases] == ["Failed logon"]
    assert [f.title for f in found] == ["Brute force on one account"]
    generating = EVENT_COUNT.replace("  type: event_count", "  type: event_count\n  generate: true")
    found, loaded, _ = run(tmp_path, lines, FAILED, generating)
    assert loaded.bases == []
    assert sorted(f.title for f in found) == ["Brute force on one account", "Failed logon"]


def test_a_condition_a_window_cannot_express_is_skipped_with_the_reason(tmp_path: Path):
    fewer = correlation("event_count", ["failed_logon"], """\
        group-by:
          - TargetUserName
        timespan: 1h
        condition:
          lt: 3
        """, title="Too few failures")
    _, loaded, _ = run(tmp_path, [failed("10:00:00", "alice")], FAILED, fewer)
    [skipped] = loaded.skipped
    assert "Too few failures" in skipped.line
    assert skipped.reason.startswith("unsupported: condition lt 3")
    # its base rule, now referenced by nothing that runs, makes findings of its own again
    assert [r.title for r in loaded.rules] == ["Failed logon"]


def test_a_correlation_over_a_skipped_rule_is_skipped(tmp_path: Path):
    unknown = FAILED.replace("service: security", "service: no-such-log")
    _, loaded, _ = run(tmp_path, [failed("10:00:00", "alice")], unknown, EVENT_COUNT)
    reasons = sorted(s.reason for s in loaded.skipped)
    assert any("which was skipped" in r for r in reasons), reasons
    assert any("no parser here reads logsource" in r for r in reasons), reasons
