"""Shared scopes (`auditctl.detect.rulesql.SharedScope`): Sigma rules of one logsource run over a
table of that logsource's events, read once, instead of each rule over every event. The
findings must be the same, finding for finding (ids, groups, times, seqs), as one query per
rule over the events view: checked on a realistic mixed store (the benchmark's generators,
with more attack-like events, and every sample log) with rules covering the backend's
constructs, and with the shipped SigmaHQ set when the checkout has it."""

from __future__ import annotations

import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

import auditctl.detect.rulesql as rulesql
import auditctl.detect.runner as runner
from auditctl.config import Config
from auditctl.detect.ruleset import bundled_sigma_dir
from auditctl.detect.rulesql import compile_rule, shared_scopes
from auditctl.detect.sigma.load import load_sigma
from auditctl.ingest.ingester import Ingester
from auditctl.store import Store
from support import ROOT, registry, sample_files

sys.path.insert(0, str(ROOT / "bench"))
from generate import lines as auth_lines
from generate_cloudtrail import lines as cloudtrail_lines
from generate_windows import lines as windows_lines

SINCE, UNTIL, NOW = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)


def _rule(n: int, logsource: str, detection: str, level: str = "high") -> str:
    return textwrap.dedent(f"""\
        title: Scope test rule {n}
        id: 00000000-0000-4000-8000-{n:012d}
        status: test
        logsource: {logsource}
        level: {level}
        detection:
        """) + textwrap.indent(textwrap.dedent(detection), "    ")


PROC = "{product: windows, category: process_creation}"
SECURITY = "{product: windows, service: security}"
# What the backend writes, rule by rule: modifiers, NOT filters, the 4688 renames (coalesce),
# numbers, regular expressions, CIDR, fieldref, exists, keywords over the raw record, JSON
# fields of CloudTrail, wildcard list fields (auditd), a quote in a value, and values that
# look like the SQL the rewrite replaces (they are literals and must stay literals).
RULES = [
    _rule(1, PROC, """\
        selection:
            Image|endswith: '\\rundll32.exe'
            CommandLine|contains|all: [comsvcs, minidump]
        condition: selection
        """),
    _rule(2, PROC, """\
        selection: {ParentImage|endswith: '\\WINWORD.EXE'}
        filter: {CommandLine|contains: report}
        condition: selection and not filter
        """),
    _rule(3, PROC, """\
        selection: {CommandLine|re: '(?i)-enc\\s+[A-Za-z0-9+/=]{20,}'}
        condition: selection
        """),
    _rule(4, PROC, """\
        selection: {ParentImage|fieldref: Image}
        condition: selection
        """, "low"),
    _rule(5, PROC, """\
        selection:
            Hashes|exists: true
            CommandLine|contains: whoami
        condition: selection
        """),
    _rule(6, SECURITY, """\
        selection: {EventID: 4625}
        filter: {IpAddress|cidr: 10.0.0.0/8}
        condition: selection and not filter
        """),
    _rule(7, SECURITY, """\
        selection:
            EventID: 4732
            TargetUserName: [Administrators, "O'Brien"]
        condition: selection
        """),
    _rule(8, SECURITY, """\
        selection:
            EventID: 4624
            Computer|startswith: SRV-DC
            LogonType: 10
        condition: selection
        """, "medium"),
    _rule(9, "{product: windows, service: system}", """\
        selection:
            Provider_Name: Service Control Manager
            EventID: 7045
            ImagePath|contains: ['\\Temp\\', PSEXESVC, ' -nop ']
        condition: selection
        """),
    _rule(10, "{product: windows, category: registry_set}", """\
        selection:
            TargetObject|contains: '\\CurrentVersion\\Run'
            Details|startswith: 'C:\\Users\\Public'
        condition: selection
        """),
    _rule(11, "{product: windows, category: network_connection}", """\
        selection:
            Initiated: 'true'
            DestinationPort: 443
            Image|endswith: '\\rundll32.exe'
        condition: selection
        """),
    _rule(12, "{product: windows, category: ps_script}", """\
        selection: {ScriptBlockText|contains: [Invoke-Mimikatz, DownloadString, "json_extract_string(attrs, '$.x')"]}
        condition: selection
        """),
    _rule(13, "{product: aws, service: cloudtrail}", """\
        selection:
            eventSource: iam.amazonaws.com
            eventName: [AttachUserPolicy, CreateAccessKey]
            requestParameters.policyArn|endswith: AdministratorAccess
        condition: selection
        """),
    _rule(14, "{product: aws, service: cloudtrail}", """\
        selection:
            eventName: ConsoleLogin
            userIdentity.type: Root
        condition: selection
        """, "critical"),
    _rule(15, "{product: linux}", """\
        keywords: ['Failed password for root', "lower(host)", "json_extract_string(raw, '$.eventName')"]
        condition: keywords
        """, "low"),
    _rule(16, "{product: linux, service: sshd}", """\
        keywords: [Invalid user]
        condition: keywords
        """, "low"),
    _rule(17, "{product: linux, service: auditd}", """\
        selection: {type: [EXECVE, SYSCALL]}
        condition: selection
        """, "low"),
    _rule(18, "{product: linux, category: process_creation}", """\
        selection: {Image|endswith: [/bash, /sh, /id]}
        condition: selection
        """, "low"),
    _rule(19, "{product: kubernetes, service: audit}", """\
        selection: {verb: [create, delete], objectRef.resource|exists: true}
        condition: selection
        """, "low"),
    _rule(20, SECURITY, """\
        selection: {EventID: 4625, LogonType: [2, 3, 10]}
        condition: selection
        """, "low"),
]
# a correlation over rule 20 (it runs as a windowed rule, over every event, beside the scopes)
CORRELATION = """\
title: Failed logons from one address
id: 00000000-0000-4000-8000-000000000099
correlation:
    type: event_count
    rules: [00000000-0000-4000-8000-000000000020]
    group-by: [TargetUserName]
    timespan: 10m
    condition: {gte: 3}
    generate: true
level: high
"""


def _whole_records(sample: Path, tmp: Path) -> Path:
    """The sample, less its truncated JSON lines (each JSON sample has one, kept unparsed): a
    JSON-field Sigma rule fails on such a record, shared scope or not (reported, not ours)."""
    if sample.suffix in (".gz", ".evtx"):
        return sample
    lines = sample.read_text(encoding="utf-8", errors="replace").splitlines()
    if not any(line.startswith("{") for line in lines[:3]):
        return sample
    out = tmp / sample.parent.name / sample.name
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(line for line in lines if _is_json(line)) + "\n")
    return out


def _is_json(line: str) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


@pytest.fixture(scope="module")
def mixed_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("scopes")
    (tmp / "windows.jsonl").write_text("\n".join(windows_lines(6000, attack=0.05)) + "\n")
    (tmp / "cloudtrail.jsonl").write_text("\n".join(cloudtrail_lines(1500)) + "\n")
    (tmp / "auth.log").write_text("\n".join(auth_lines(1500)) + "\n")
    samples = [str(_whole_records(p, tmp)) for p in sample_files()]
    db = tmp / "store.duckdb"
    with Store.open(db) as store:
        Ingester(store, registry(), Config(db=db)).ingest([str(tmp / "windows.jsonl"), str(tmp / "cloudtrail.jsonl"),
                                                           str(tmp / "auth.log"), *samples])
    return db


def _check(db: Path, rules: list, shared: bool, monkeypatch: pytest.MonkeyPatch) -> runner.CheckResult:
    monkeypatch.setattr(runner, "SHARED_SCOPES", shared)
    with Store.open(db, read_only=True) as store:
        return runner.run_checks(store, rules, SINCE, UNTIL, now=NOW, persist=False)


def _same_findings(db: Path, rules: list, monkeypatch: pytest.MonkeyPatch) -> runner.CheckResult:
    shared = _check(db, rules, True, monkeypatch)
    per_rule = _check(db, rules, False, monkeypatch)
    assert [f.to_json() for f in shared.findings] == [f.to_json() for f in per_rule.findings]
    assert shared.per_rule == per_rule.per_rule
    return shared


@pytest.mark.parametrize("chunk_bytes", [rulesql.CHUNK_BYTES, 64 << 10], ids=["whole", "chunked"])
def test_the_constructs_find_the_same_with_shared_scopes(mixed_store: Path, tmp_path: Path, chunk_bytes: int,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rulesql, "CHUNK_BYTES", chunk_bytes)  # small: each scope read in many chunks
    chunked: list[int] = []
    run_chunked = runner._Scopes._run_chunked
    monkeypatch.setattr(runner._Scopes, "_run_chunked",
                        lambda self, scope, chunks: (chunked.append(len(chunks)), run_chunked(self, scope, chunks))[1])
    for n, text in enumerate([*RULES, CORRELATION]):
        (tmp_path / f"r{n:02d}.yml").write_text(text)
    loaded = load_sigma([tmp_path])
    assert not loaded.skipped, [s.line for s in loaded.skipped]
    result = _same_findings(mixed_store, loaded.rules, monkeypatch)
    hit = {rule for rule, n in result.per_rule.items() if n}
    # the store holds what most of them look for: the comparison is not one of empty lists
    assert len(hit) >= 18, sorted(hit)
    assert "00000000-0000-4000-8000-000000000099" in hit  # the correlation, beside the scopes
    assert (max(chunked, default=1) > 1) == (chunk_bytes == 64 << 10)


@pytest.mark.slow  # ~20 s each: the old one-query-per-rule runner is the baseline it compares with (CI runs it)
@pytest.mark.parametrize("chunk_bytes", [rulesql.CHUNK_BYTES, 256 << 10], ids=["whole", "chunked"])
def test_the_shipped_set_finds_the_same_with_shared_scopes(mixed_store: Path, chunk_bytes: int,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rulesql, "CHUNK_BYTES", chunk_bytes)
    pack = bundled_sigma_dir()
    if not any(pack.rglob("*.yml")):
        pytest.skip("no shipped Sigma set in this checkout")
    loaded = load_sigma([pack])
    result = _same_findings(mixed_store, loaded.rules, monkeypatch)
    assert sum(1 for n in result.per_rule.values() if n) >= 5


def test_the_rewrite_leaves_literals_alone(tmp_path: Path) -> None:
    """A value that reads like a field or lower() is text: the scope's rule still compares it."""
    (tmp_path / "r.yml").write_text(RULES[11] + "\n---\n" + RULES[14])
    loaded = load_sigma([tmp_path])
    scopes = shared_scopes(loaded.rules, SINCE, UNTIL).scopes
    sqls = [compile_rule(r, SINCE, UNTIL, source=s.table)[0] for s in scopes for r in s.rules.values()]
    assert any("'json_extract_string(attrs, ''$.x'')'" in sql for sql in sqls)
    assert any("'lower(host)'" in sql for sql in sqls)
    assert any("'json_extract_string(raw, ''$.eventname'')'" in sql for sql in sqls)
    assert not any("json_extract_string(attrs, '$.\"ScriptBlockText\"')" in sql for sql in sqls)  # a column now


def test_only_plain_match_rules_share(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(RULES[-1] + "\n---\n" + CORRELATION)
    loaded = load_sigma([tmp_path])
    correlation = next(r for r in loaded.rules if r.type != "match")
    with pytest.raises(ValueError, match="only a match rule"):
        compile_rule(correlation, SINCE, UNTIL, source="_sigma_scope_0")
    assert [list(s.rules) for s in shared_scopes(loaded.rules, SINCE, UNTIL).scopes] == [
        [i for i, r in enumerate(loaded.rules) if r.type == "match"]]
