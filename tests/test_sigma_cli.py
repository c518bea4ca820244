"""Sigma through the command line: check --sigma, the config's sigma list, rules list / validate /
coverage, findings carrying the Sigma rule's metadata, overrides and what is skipped."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from auditctl.store.migrations import SCHEMA_VERSION
from support import query

# A real SigmaHQ rule (rules/cloud/aws/cloudtrail/aws_cloudtrail_disable_logging.yml, DRL 1.1)
STOP_LOGGING = """\
title: AWS CloudTrail Important Change
id: 4db60cc0-36fb-42b7-9b58-a5b53019fb74
status: test
description: Detects disabling, deleting and updating of a Trail
references:
    - https://docs.aws.amazon.com/awscloudtrail/latest/userguide/best-practices-security.html
author: vitaliy0x1
date: 2020-01-21
tags:
    - attack.defense-evasion
    - attack.t1562.001
logsource:
    product: aws
    service: cloudtrail
detection:
    selection_source:
        eventSource: cloudtrail.amazonaws.com
        eventName:
            - StopLogging
            - UpdateTrail
            - DeleteTrail
    condition: selection_source
falsepositives:
    - Valid change in a Trail
level: medium
"""

MACOS = """\
title: A macOS rule
id: 11111111-2222-3333-4444-555555555555
logsource: {product: macos, category: process_creation}
detection:
    selection: {Image|endswith: /osascript}
    condition: selection
level: low
"""

LOOKAHEAD = """\
title: Needs a look-ahead
id: 22222222-3333-4444-5555-666666666666
logsource: {product: aws, service: cloudtrail}
detection:
    selection: {eventName|re: '^(?!Describe).*Policy$'}
    condition: selection
level: low
"""

BROKEN = """\
title: No detection
id: 33333333-4444-5555-6666-777777777777
logsource: {product: aws, service: cloudtrail}
level: low
"""


def _record(name: str, when: str, source: str = "cloudtrail.amazonaws.com") -> dict:
    return {"eventVersion": "1.08", "eventTime": when, "eventSource": source, "eventName": name,
            "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.7", "userAgent": "aws-cli/2.15",
            "userIdentity": {"type": "IAMUser", "userName": "mallory", "arn": "arn:aws:iam::111122223333:user/mallory",
                             "accountId": "111122223333"},
            "requestParameters": {"name": "org-trail"}, "responseElements": None,
            "eventID": f"id-{name}-{when}", "eventType": "AwsApiCall", "recipientAccountId": "111122223333"}


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    """A CloudTrail delivery file: the trail stopped and deleted, plus a near miss (StopLogging
    of another service) and an unrelated call."""
    records = [_record("DescribeTrails", "2026-03-01T10:00:00Z"), _record("StopLogging", "2026-03-01T10:05:00Z"),
               _record("StopLogging", "2026-03-01T10:06:00Z", source="logs.amazonaws.com"),
               _record("DeleteTrail", "2026-03-01T10:07:00Z")]
    path = tmp_path / "111122223333_CloudTrail_us-east-1_20260301T1010Z_x.json"
    path.write_bytes(orjson.dumps({"Records": records}))
    return path


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    d = tmp_path / "sigma"
    d.mkdir()
    (d / "stop_logging.yml").write_text(STOP_LOGGING)
    (d / "macos.yml").write_text(MACOS)
    (d / "lookahead.yml").write_text(LOOKAHEAD)
    return d


def test_check_with_sigma_finds_the_trail_changes_with_their_events(cli, trail, rules_dir):
    assert cli("ingest", str(trail)).exit_code == 0
    result = cli("check", "--no-builtin", "--sigma", str(rules_dir), "--format", "json")
    assert result.exit_code == 0, result.output
    findings = orjson.loads(result.stdout)
    assert [f["rule"] for f in findings] == ["4db60cc0-36fb-42b7-9b58-a5b53019fb74"]
    found = findings[0]
    names = {r[0] for r in query(cli.db, f"SELECT original_action FROM events WHERE seq IN "
                                          f"({', '.join(map(str, found['seqs']))})")}
    assert names == {"StopLogging", "DeleteTrail"} and found["count"] == 2
    assert found["severity"] == "medium" and "attack.t1562.001" in found["tags"]
    sigma = found["detail"]["sigma"]
    assert sigma["level"] == "medium" and sigma["falsepositives"] == ["Valid change in a Trail"]
    assert sigma["logsource"] == "product=aws service=cloudtrail" and sigma["author"] == "vitaliy0x1"
    # the skipped rules are said, one line each, never silently
    assert "lookahead.yml: sigma rule 22222222-3333-4444-5555-666666666666 (Needs a look-ahead): skipped" in result.stderr
    assert "1 rule(s) for 1 logsource(s) no parser here reads" in result.stderr
    # stored findings keep the Sigma metadata
    table = cli("findings", "--format", "table").stdout
    assert "(sigma 4db60cc0, by vitaliy0x1)" in table and "AWS CloudTrail Important" in table  # DRL: name the author
    stored = orjson.loads(cli("findings", "--format", "json").stdout)
    assert stored[0]["detail"]["sigma"]["id"] == "4db60cc0-36fb-42b7-9b58-a5b53019fb74"


def test_config_sigma_list_and_overrides_apply_to_sigma_rules(cli, trail, rules_dir, tmp_path, monkeypatch):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"sigma: [{rules_dir / 'stop_logging.yml'}]\n"
                   "rules: {overrides: {4db60cc0-36fb-42b7-9b58-a5b53019fb74: {severity: critical}}}\n")
    monkeypatch.setenv("AUDITCTL_CONFIG", str(cfg))
    cli("ingest", str(trail))
    result = cli("check", "--no-builtin", "--format", "json", "--fail-on", "critical")
    assert result.exit_code == 3, result.output
    assert [f["severity"] for f in orjson.loads(result.stdout)] == ["critical"]
    cfg.write_text(f"sigma: [{rules_dir / 'stop_logging.yml'}]\n"
                   "rules: {disabled: [4db60cc0-36fb-42b7-9b58-a5b53019fb74]}\n")
    listed = orjson.loads(cli("rules", "list", "--no-builtin", "--format", "json").stdout)
    assert listed == []


def test_rules_list_shows_sigma_metadata(cli, rules_dir):
    result = cli("rules", "list", "--no-builtin", "--sigma", str(rules_dir / "stop_logging.yml"), "--format", "json")
    assert result.exit_code == 0, result.output
    (row,) = orjson.loads(result.stdout)
    assert row["type"] == "sigma rule" and row["level"] == "medium"
    assert row["logsource"] == "product=aws service=cloudtrail" and "attack.defense-evasion" in row["tags"]


def test_rules_validate_lists_every_skipped_rule_and_fails_on_an_invalid_one(cli, rules_dir):
    ok = cli("rules", "validate", str(rules_dir))
    assert ok.exit_code == 0, ok.output
    assert "macos.yml: sigma rule 11111111-2222-3333-4444-555555555555 (A macOS rule): skipped: no parser here " \
           "reads logsource product=macos category=process_creation" in ok.stderr
    assert "look" in ok.stderr.lower() or "regexp" in ok.stderr.lower()
    assert "product=aws service=cloudtrail: 1 compiled, 1 skipped" in ok.stdout
    assert "Sigma: 3 file(s), 1 rule(s) compiled, 2 skipped" in ok.stdout
    (rules_dir / "broken.yml").write_text(BROKEN)
    bad = cli("rules", "validate", str(rules_dir))
    assert bad.exit_code == 2 and "broken.yml" in bad.stderr and "invalid" in bad.output


def test_rules_coverage_tells_which_rules_can_match_the_store(cli, trail, rules_dir, tmp_path):
    win = tmp_path / "win.yml"
    win.write_text(STOP_LOGGING.replace("4db60cc0", "5db60cc0").replace("product: aws\n    service: cloudtrail",
                                                                         "product: windows\n    service: security"))
    cli("ingest", str(trail))
    result = cli("rules", "coverage", "--no-builtin", "--all", "--sigma", str(rules_dir / "stop_logging.yml"),
                 "--sigma", str(win), "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in orjson.loads(result.stdout)}
    aws = rows["4db60cc0-36fb-42b7-9b58-a5b53019fb74"]
    assert aws["events_in_scope"] == 4 and aws["events_matching"] == 2 and aws["can_match"]
    assert not rows["5db60cc0-36fb-42b7-9b58-a5b53019fb74"]["can_match"]


def test_a_store_of_schema_8_gains_the_findings_detail_column(cli, trail, rules_dir):
    cli("ingest", str(trail))
    assert query(cli.db, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]
    cols = {r[0] for r in query(cli.db, "SELECT column_name FROM information_schema.columns "
                                        "WHERE table_name = 'findings'")}
    assert "detail" in cols


def test_a_record_its_parser_could_not_read_does_not_stop_a_cloudtrail_rule(cli, rules_dir):
    """sample_logs' CloudWatch export ends with a cut-off record: it is kept (unparsed, parser
    cloudtrail) and is not JSON; the JSON field lookups treat it as having no fields."""
    export = Path(__file__).resolve().parents[1] / "sample_logs" / "cloudtrail" / "cloudwatch-export.jsonl"
    assert cli("ingest", str(export)).exit_code == 0
    assert query(cli.db, "SELECT count(*) FROM events WHERE parser = 'cloudtrail' AND NOT json_valid(raw)")[0][0] >= 1
    result = cli("check", "--no-builtin", "--sigma", str(rules_dir / "stop_logging.yml"), "--format", "json")
    assert result.exit_code == 0, result.output


def test_report_runs_sigma_rules_and_shows_their_false_positives(cli, trail, rules_dir):
    cli("ingest", str(trail))
    result = cli("report", "--since", "2026-03-01", "--until", "2026-03-02", "--format", "md",
                 "--sigma", str(rules_dir / "stop_logging.yml"))
    assert result.exit_code == 0, result.output
    md = result.stdout
    assert "**AWS CloudTrail Important Change** (`4db60cc0-36fb-42b7-9b58-a5b53019fb74`" in md
    assert ("Sigma rule by vitaliy0x1, level medium, product=aws service=cloudtrail; false positives: "
            "Valid change in a Trail" in md)


def test_check_counts_new_findings_before_limit_cuts_the_table(loaded_samples):
    """The caption's new/updated figures are the check's, not those of the rows shown."""
    result = loaded_samples("check", "--no-builtin", "--sigma", "bundled", "--since", "2000-01-01",
                            "--until", "2026-12-01", "--format", "table", "--limit", "2")
    assert result.exit_code == 0, result.output
    caption = " ".join(result.stdout.split())
    total = int(caption.split(" finding(s) changed")[0].split()[-1].replace(",", ""))
    assert total > 2 and f"{total:,} finding(s) changed by this check: {total:,} new, 0 updated" in caption


def test_a_broken_sigma_file_is_one_line_the_other_rules_run_and_check_exits_2(cli, trail, rules_dir, tmp_path):
    junk = tmp_path / "junk.yml"
    junk.write_bytes(bytes(range(256)) * 4)
    cut = tmp_path / "cut.yml"
    cut.write_text(STOP_LOGGING[:STOP_LOGGING.index("            - UpdateTrail")] + "            - [Upd\n")
    cli("ingest", str(trail))
    result = cli("check", "--no-builtin", "--sigma", str(junk), "--sigma", str(cut),
                 "--sigma", str(rules_dir / "stop_logging.yml"), "--format", "json")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"{junk}: skipped: cannot read") for line in lines)
    assert any(line.startswith(f"{cut}: skipped: line ") and "not valid YAML" in line for line in lines)
    assert [f["rule"] for f in orjson.loads(result.stdout)] == ["4db60cc0-36fb-42b7-9b58-a5b53019fb74"]
