"""The Sigma backend, construct by construct: each rule runs as the SQL we compile over a tiny
events table, and the test names exactly which events it matches (and the near misses it must not).

The table has the store's columns (`auditctl.schema.COLUMNS`) and events shaped as our parsers
write them: Windows fields in `attrs` under their own names (EventID a number), JSON sources
verbatim in `raw`, auditd records verbatim in `raw` with the record types and decoded argv in
`attrs`.
"""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sigma.collection import SigmaCollection

from auditctl.detect.sigma.load import check_sql, condition_sql, load_sigma
from auditctl.detect.sigma.logsources import find_logsource
from auditctl.schema import COLUMNS

SYSMON = "Microsoft-Windows-Sysmon/Operational"
PROC = "{product: windows, category: process_creation}"
SECURITY = "{product: windows, service: security}"
CLOUDTRAIL = "{product: aws, service: cloudtrail}"
AUDITD = "{product: linux, service: auditd}"


def table(events: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    """An in-memory `current_events` holding `events` (seq = position, from 1)."""
    con = duckdb.connect(":memory:")
    con.execute("CREATE TABLE current_events (" + ", ".join(f"{c.name} {c.sql_type}" for c in COLUMNS) + ")")
    names = [c.name for c in COLUMNS]
    for seq, ev in enumerate(events, 1):
        row = {**ev, "seq": seq, "attrs": None if ev.get("attrs") is None else json.dumps(ev["attrs"])}
        con.execute(f"INSERT INTO current_events ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                    list(row.values()))
    assert set(row) <= set(names)
    return con


def compile_rule(detection: str, logsource: str = PROC) -> str:
    text = f"title: t\nlogsource: {logsource}\ndetection:\n{textwrap.indent(textwrap.dedent(detection), '  ')}"
    rule = SigmaCollection.from_yaml(text).rules[0]
    entry = find_logsource(rule.logsource)
    assert entry is not None
    sql = condition_sql(rule, entry)
    assert check_sql(sql) is None, sql
    return sql


def matching(detection: str, events: list[dict[str, Any]], logsource: str = PROC) -> list[int]:
    """The seqs (1-based positions in `events`) the rule matches."""
    sql = compile_rule(detection, logsource)
    return [s for (s,) in table(events).execute(f"SELECT seq FROM current_events WHERE {sql} ORDER BY seq").fetchall()]


def proc(**fields: Any) -> dict[str, Any]:
    """A Sysmon process creation event (EventID 1) with these EventData fields."""
    attrs = {"EventID": 1, "Channel": SYSMON, **fields}
    return {"parser": "windows_security", "attrs": attrs, "raw": json.dumps({"Event": {"EventData": attrs}})}


def sec(event_id: int, **fields: Any) -> dict[str, Any]:
    attrs = {"EventID": event_id, "Channel": "Security", **fields}
    return {"parser": "windows_security", "attrs": attrs, "raw": json.dumps({"Event": {"EventData": attrs}})}


def cloudtrail(**doc: Any) -> dict[str, Any]:
    return {"parser": "cloudtrail", "raw": json.dumps(doc), "attrs": {}}


def auditd(*records: str, argv: list[str] | None = None) -> dict[str, Any]:
    """An auditd event of several records (one line each), as the parser stores it."""
    types = [r.split()[0].removeprefix("type=") for r in records]
    attrs: dict[str, Any] = {"records": types} if len(records) > 1 else {}
    if argv:
        attrs["argv"] = argv
    return {"parser": "auditd", "raw": "\n".join(records), "attrs": attrs or None, "original_action": types[0]}


# -- strings ------------------------------------------------------------------------------------

def test_plain_equality_ignores_case_and_is_a_whole_value_match():
    events = [proc(Image=r"C:\Windows\System32\cmd.exe"), proc(Image=r"c:\windows\system32\CMD.EXE"),
              proc(Image=r"C:\Windows\System32\cmd.exe.bak"), proc(Image=r"D:\C:\Windows\System32\cmd.exe"),
              proc(CommandLine=r"C:\Windows\System32\cmd.exe")]
    assert matching(r"""
        sel:
          Image: 'C:\Windows\System32\cmd.exe'
        condition: sel""", events) == [1, 2]


def test_cased_matches_the_exact_case_only():
    events = [proc(CommandLine="Invoke-Mimikatz"), proc(CommandLine="invoke-mimikatz"),
              proc(CommandLine="x Invoke-Mimikatz y")]
    assert matching("""
        sel:
          CommandLine|cased: 'Invoke-Mimikatz'
        condition: sel""", events) == [1]
    assert matching("""
        sel:
          CommandLine|cased|contains: 'Invoke-Mimikatz'
        condition: sel""", events) == [1, 3]


def test_wildcards_inside_values_with_windows_paths():
    r"""Sigma's escapes: `\\*` is a backslash then a wildcard; `\*` an asterisk; a backslash before
    any other character is itself."""
    events = [proc(Image=r"C:\Windows\Temp\evil.exe"), proc(Image=r"c:\windows\SysWOW64\x\evil.exe"),
              proc(Image=r"C:\Windows\evil.exe"), proc(Image=r"C:\Windowsevil.exe"),
              proc(Image=r"C:\Program Files\evil.exe"), proc(Image=r"C:\Windows*\evil.exe")]
    assert matching(r"""
        sel:
          Image: 'C:\Windows\\*\evil.exe'
        condition: sel""", events) == [1, 2]
    assert matching(r"""
        sel:
          Image: 'C:\Windows\\*'
        condition: sel""", events) == [1, 2, 3]
    assert matching(r"""
        sel:
          Image: 'C:\Windows\*\evil.exe'
        condition: sel""", events) == [6]
    assert matching(r"""
        sel:
          Image|startswith: 'C:\Windows\'
        condition: sel""", events) == [1, 2, 3]


def test_single_character_wildcard():
    events = [proc(CommandLine="net1 user"), proc(CommandLine="netX user"), proc(CommandLine="net user"),
              proc(CommandLine="net12 user")]
    assert matching("""
        sel:
          CommandLine: 'net? user'
        condition: sel""", events) == [1, 2]


def test_percent_underscore_and_backslash_are_literals_not_like_patterns():
    events = [proc(CommandLine="100%_done"), proc(CommandLine="100xydone"), proc(CommandLine="100%_done!"),
              proc(CommandLine=r"a\b"), proc(CommandLine=r"a\\b"), proc(CommandLine="ab")]
    assert matching("""
        sel:
          CommandLine: '100%_done'
        condition: sel""", events) == [1]
    assert matching("""
        sel:
          CommandLine|contains: '%_d'
        condition: sel""", events) == [1, 3]
    # with a wildcard too (a LIKE pattern is written): % and _ still literal
    assert matching("""
        sel:
          CommandLine: '100%_*e'
        condition: sel""", events) == [1]
    assert matching(r"""
        sel:
          CommandLine: 'a\b'
        condition: sel""", events) == [4]


def test_escaped_wildcards_are_literal_characters():
    events = [proc(CommandLine="a*b"), proc(CommandLine="axb"), proc(CommandLine="a?b"), proc(CommandLine="a\\*b")]
    assert matching(r"""
        sel:
          CommandLine: 'a\*b'
        condition: sel""", events) == [1]
    assert matching(r"""
        sel:
          CommandLine: 'a\?b'
        condition: sel""", events) == [3]
    # an escaped backslash before a wildcard: a literal backslash, then the wildcard
    assert matching(r"""
        sel:
          CommandLine: 'a\\*'
        condition: sel""", events) == [4]


def test_wildcards_span_lines():
    events = [proc(ScriptBlockText="line one\nIEX (New-Object Net.WebClient)\nline three", EventID=1)]
    assert matching("""
        sel:
          ScriptBlockText: 'line*three'
        condition: sel""", events) == [1]


def test_contains_startswith_endswith():
    events = [proc(CommandLine="powershell -enc AAAA"), proc(CommandLine="cmd /c powershell"),
              proc(CommandLine="POWERSHELL"), proc(CommandLine="pwsh")]
    assert matching("""
        sel:
          CommandLine|contains: 'powershell'
        condition: sel""", events) == [1, 2, 3]
    assert matching("""
        sel:
          CommandLine|startswith: 'powershell'
        condition: sel""", events) == [1, 3]
    assert matching("""
        sel:
          CommandLine|endswith: 'powershell'
        condition: sel""", events) == [2, 3]


def test_all_needs_every_value():
    events = [proc(CommandLine="net user admin /add"), proc(CommandLine="net user admin"),
              proc(CommandLine="/ADD net USER")]
    assert matching("""
        sel:
          CommandLine|contains|all:
            - 'net user'
            - '/add'
        condition: sel""", events) == [1, 3]


def test_a_list_of_values_is_any_of_them():
    events = [proc(Image="a.exe"), proc(Image="b.exe"), proc(Image="c.exe")]
    assert matching("""
        sel:
          Image: [a.exe, B.EXE]
        condition: sel""", events) == [1, 2]


# -- regular expressions ------------------------------------------------------------------------

def test_re_is_a_case_sensitive_search():
    events = [proc(CommandLine="run mimikatz now"), proc(CommandLine="run MIMIKATZ now"), proc(CommandLine="mimi")]
    assert matching("""
        sel:
          CommandLine|re: 'mimi(katz)?\\s'
        condition: sel""", events) == [1]


def test_re_flags_ignorecase_multiline_dotall():
    events = [proc(CommandLine="first\nSECOND line"), proc(CommandLine="first second line")]
    assert matching("""
        sel:
          CommandLine|re|i: 'second'
        condition: sel""", events) == [1, 2]
    assert matching("""
        sel:
          CommandLine|re|m: '^SECOND'
        condition: sel""", events) == [1]
    assert matching("""
        sel:
          CommandLine|re: '^SECOND'
        condition: sel""", events) == []
    assert matching("""
        sel:
          CommandLine|re|s: 'first.SECOND'
        condition: sel""", events) == [1]
    assert matching("""
        sel:
          CommandLine|re: 'first.SECOND'
        condition: sel""", events) == []


def test_re_with_contains_keeps_the_whole_expression():
    """pySigma extends the expression for |re|contains (`.*(?:x|y).*`); the pattern must not be
    lost (it once compiled to an empty pattern, which matches everything)."""
    events = [proc(CommandLine="abc"), proc(CommandLine="xyz"), proc(CommandLine="nothing")]
    assert matching("""
        sel:
          CommandLine|re|contains: 'b|y'
        condition: sel""", events) == [1, 2]
    assert matching("""
        sel:
          CommandLine|re|startswith: 'x'
        condition: sel""", events) == [2]


def test_a_regex_re2_cannot_run_skips_the_rule_with_the_reason(tmp_path: Path):
    (tmp_path / "lookahead.yml").write_text(textwrap.dedent("""\
        title: Look-ahead
        id: 7f3c0a52-4c1e-4d0b-9a7e-1f2d3c4b5a69
        logsource: {product: windows, category: process_creation}
        detection:
          sel:
            CommandLine|re: 'foo(?=bar)'
          condition: sel
        """))
    loaded = load_sigma([tmp_path])
    assert loaded.rules == []
    [skipped] = loaded.skipped
    assert "Look-ahead" in skipped.line and "skipped" in skipped.line
    assert "foo(?=bar)" in skipped.reason and "(?=" in skipped.reason


# -- addresses --------------------------------------------------------------------------------

def test_cidr_ipv4():
    events = [sec(4624, IpAddress=a) for a in ("10.1.2.3", "11.0.0.1", "10.0.0.256", "010.0.0.1", "10.0.0",
                                               "::ffff:10.0.0.1", "-", "192.168.1.255", "192.168.2.0")]
    assert matching("""
        sel:
          IpAddress|cidr: ['10.0.0.0/8', '192.168.1.0/24']
        condition: sel""", events, SECURITY) == [1, 8]


def test_cidr_ipv6_any_spelling():
    addrs = ["fe80::1", "FE80:0:0:0:0:0:0:1", "febf:ffff::1", "fec0::1", "::1", "fe80::1%12",
             "fe80:0000:0000:0000:0000:0000:0000:0001", "10.0.0.1", "fe80::1::2", "::ffff:10.0.0.1"]
    events = [sec(4624, IpAddress=a) for a in addrs]
    assert matching("""
        sel:
          IpAddress|cidr: 'fe80::/10'
        condition: sel""", events, SECURITY) == [1, 2, 3, 6, 7]
    assert matching("""
        sel:
          IpAddress|cidr: '::ffff:0:0/96'
        condition: sel""", events, SECURITY) == [10]
    assert matching("""
        sel:
          IpAddress|cidr: '::1/128'
        condition: sel""", events, SECURITY) == [5]


def test_not_cidr_private_ranges_with_a_missing_or_odd_address():
    events = [sec(4624, IpAddress="8.8.8.8"), sec(4624, IpAddress="10.0.0.1"), sec(4624), sec(4624, IpAddress="-")]
    assert matching("""
        sel:
          EventID: 4624
        private:
          IpAddress|cidr: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', '::1/128', 'fe80::/10']
        condition: sel and not private""", events, SECURITY) == [1, 3, 4]


# -- expansions -------------------------------------------------------------------------------

def test_windash_matches_every_dash():
    events = [proc(CommandLine=f"powershell {d}enc AAAA") for d in ("-", "/", "\u2013", "\u2014", "\u2015", "+")]
    assert matching("""
        sel:
          CommandLine|windash|contains: ' -enc '
        condition: sel""", events) == [1, 2, 3, 4, 5]


def test_base64offset_contains_finds_the_value_at_any_offset():
    def b64(s: str) -> str:
        return base64.b64encode(s.encode()).decode()
    events = [proc(CommandLine=f"powershell -e {b64(prefix + 'http://evil')}") for prefix in ("", "a", "ab")]
    events.append(proc(CommandLine=f"powershell -e {b64('https://good')}"))
    assert matching("""
        sel:
          CommandLine|base64offset|contains: 'http://'
        condition: sel""", events) == [1, 2, 3]


# -- fields present or not, other fields, numbers ------------------------------------------

def test_exists():
    events = [proc(ParentImage="x"), proc(ParentImage=""), proc()]
    assert matching("""
        sel:
          ParentImage|exists: true
        condition: sel""", events) == [1, 2]
    assert matching("""
        sel:
          ParentImage|exists: false
        condition: sel""", events) == [3]


def test_null_means_the_field_is_absent():
    events = [proc(ParentImage="x"), proc(ParentImage=""), proc(ParentImage=None), proc()]
    assert matching("""
        sel:
          ParentImage: null
        condition: sel""", events) == [3, 4]
    assert matching("""
        sel:
          ParentImage: null
        condition: not sel""", events) == [1, 2]


def test_fieldref_compares_two_fields_of_the_event():
    events = [sec(4648, SubjectUserName="alice", TargetUserName="ALICE"),
              sec(4648, SubjectUserName="alice", TargetUserName="bob"),
              sec(4648, SubjectUserName="alice", TargetUserName="alice2"),
              sec(4648, SubjectUserName="alice", TargetUserName="x-alice"),
              sec(4648, TargetUserName="alice")]
    assert matching("""
        sel:
          TargetUserName|fieldref: SubjectUserName
        condition: sel""", events, SECURITY) == [1]
    assert matching("""
        sel:
          TargetUserName|fieldref|startswith: SubjectUserName
        condition: sel""", events, SECURITY) == [1, 3]
    assert matching("""
        sel:
          TargetUserName|fieldref|endswith: SubjectUserName
        condition: sel""", events, SECURITY) == [1, 4]
    assert matching("""
        sel:
          TargetUserName|fieldref|contains: SubjectUserName
        condition: sel""", events, SECURITY) == [1, 3, 4]
    # a missing referenced field matches nothing, so `not` holds
    assert matching("""
        sel:
          TargetUserName|fieldref: SubjectUserName
        condition: not sel""", events, SECURITY) == [2, 3, 4, 5]


def test_numeric_comparisons():
    events = [sec(4624, LogonType=v) for v in (2, "3", "10", "x", " 11 ", "1e1", None)]
    assert matching("""
        sel:
          LogonType|gt: 3
        condition: sel""", events, SECURITY) == [3, 5, 6]
    assert matching("""
        sel:
          LogonType|gte: 3
        condition: sel""", events, SECURITY) == [2, 3, 5, 6]
    assert matching("""
        sel:
          LogonType|lt: 3
        condition: sel""", events, SECURITY) == [1]
    assert matching("""
        sel:
          LogonType|lte: 3
        condition: sel""", events, SECURITY) == [1, 2]


def test_numbers_match_numbers_and_number_strings():
    """`EventID: 4688` matches the parser's number 4688 and a text "4688"; `'4688'` too."""
    events = [proc(EventID=4688, Channel="Security", NewProcessName="a"), proc(EventID="4688", Channel="Security", NewProcessName="b"),
              proc(EventID=46880, Channel="Security", NewProcessName="c"), proc(EventID=4689, Channel="Security")]
    assert matching("""
        sel:
          EventID: 4688
        condition: sel""", events, SECURITY) == [1, 2]
    assert matching("""
        sel:
          EventID: '4688'
        condition: sel""", events, SECURITY) == [1, 2]
    assert matching("""
        sel:
          LogonType: 3
        condition: sel""", [sec(4624, LogonType="3"), sec(4624, LogonType=3), sec(4624, LogonType="03")],
        SECURITY) == [1, 2]


def test_booleans():
    events = [cloudtrail(eventName="PutBucketAcl", readOnly=False), cloudtrail(eventName="GetObject", readOnly=True),
              cloudtrail(eventName="X", readOnly="false"), cloudtrail(eventName="Y")]
    assert matching("""
        sel:
          readOnly: false
        condition: sel""", events, CLOUDTRAIL) == [1, 3]
    assert matching("""
        sel:
          readOnly: true
        condition: sel""", events, CLOUDTRAIL) == [2]


def test_json_paths_nested_and_dotted():
    events = [cloudtrail(eventSource="iam.amazonaws.com", userIdentity={"type": "Root", "arn": "arn:aws:iam::1:root"}),
              cloudtrail(eventSource="iam.amazonaws.com", userIdentity={"type": "IAMUser"}),
              cloudtrail(eventSource="iam.amazonaws.com")]
    assert matching("""
        sel:
          eventSource: iam.amazonaws.com
          userIdentity.type: Root
        condition: sel""", events, CLOUDTRAIL) == [1]
    assert matching("""
        sel:
          eventSource: iam.amazonaws.com
        filter:
          userIdentity.type: Root
        condition: sel and not filter""", events, CLOUDTRAIL) == [2, 3]


# -- keywords, conditions -----------------------------------------------------------------------

def test_keywords_search_the_raw_record():
    events = [auditd('type=USER_CMD msg=audit(1.0:1): cmd="whoami" res=success'),
              auditd('type=USER_CMD msg=audit(1.0:2): cmd="id" res=success')]
    assert matching("""
        keywords:
          - 'WHOAMI'
        condition: keywords""", events, AUDITD) == [1]


def test_windows_keywords_search_every_field_value_as_written():
    """The raw record of a Windows event is XML or JSON with its own escapes; a keyword with a
    backslash or a quote is found as the event shows it, in any field."""
    events = [proc(ImageLoaded=r"C:\Temp\mimilib.dll"), proc(CommandLine='x -Confirm "False"'),
              proc(CommandLine=r"C:\Temp\other.dll")]
    assert matching(r"""
        keywords:
          - '\mimilib.dll'
          - '-Confirm "False"'
        condition: keywords""", events) == [1, 2]


def test_one_of_and_all_of():
    events = [proc(Image="a.exe"), proc(CommandLine="b"), proc(Image="a.exe", CommandLine="b"), proc(Image="c.exe")]
    detection = """
        selection_img:
          Image: a.exe
        selection_cli:
          CommandLine: b
        condition: {}"""
    assert matching(detection.format("1 of selection_*"), events) == [1, 2, 3]
    assert matching(detection.format("all of selection_*"), events) == [3]
    assert matching(detection.format("all of them"), events) == [3]
    assert matching(detection.format("1 of them"), events) == [1, 2, 3]


def test_not_filter_holds_when_the_filter_field_is_missing():
    events = [proc(Image="evil.exe"), proc(Image="evil.exe", ParentImage="explorer.exe"),
              proc(Image="evil.exe", ParentImage="services.exe")]
    assert matching("""
        sel:
          Image: evil.exe
        filter:
          ParentImage: explorer.exe
        filter_contains:
          ParentImage|contains: services
        condition: sel and not filter and not filter_contains""", events) == [1]
    assert matching("""
        sel:
          Image: evil.exe
        filter:
          ParentImage|re: 'explorer'
        condition: sel and not 1 of filter*""", events) == [1, 3]


def test_values_are_literals_never_sql():
    attack = "a'); DROP TABLE current_events; --"
    events = [proc(CommandLine=attack), proc(CommandLine="a"), proc(CommandLine=attack + "x")]
    for modifier in ("", "|contains", "|startswith", "|cased", "|re"):
        value = attack.replace("(", "\\(").replace(")", "\\)") if modifier == "|re" else attack
        found = matching(f"""
            sel:
              CommandLine{modifier}: {json.dumps(value)}
            condition: sel""", events)
        assert 1 in found and 2 not in found, (modifier, found)
    keyword = f"""
        keywords:
          - {json.dumps(attack)}
        condition: keywords"""
    assert matching(keyword, events) == [1, 3]


def test_logsource_picks_its_events():
    """A process_creation rule runs over Sysmon 1 and Security 4688 (whose own field names are
    mapped), not over other ids, channels or parsers."""
    events = [proc(Image=r"C:\x\evil.exe"), sec(4688, NewProcessName=r"C:\x\evil.exe"),
              sec(4689, NewProcessName=r"C:\x\evil.exe"), proc(Image=r"C:\x\evil.exe", EventID=7),
              {"parser": "syslog", "attrs": {"EventID": 1, "Channel": SYSMON, "Image": r"C:\x\evil.exe"}, "raw": ""}]
    assert matching(r"""
        sel:
          Image|endswith: '\evil.exe'
        condition: sel""", events) == [1, 2]


# -- list fields (auditd: one event, several records) -------------------------------------------

EXECVE = auditd('type=SYSCALL msg=audit(1.0:1): arch=c000003e syscall=59 success=yes exe="/usr/bin/chmod" key="perm"',
                'type=EXECVE msg=audit(1.0:1): argc=3 a0="chmod" a1="+x" a2="/tmp/x"',
                'type=PATH msg=audit(1.0:1): item=0 name="/usr/bin/chmod" nametype=NORMAL',
                'type=PATH msg=audit(1.0:1): item=1 name="/lib64/ld-linux-x86-64.so.2" nametype=NORMAL',
                argv=["chmod", "+x", "/tmp/x"])
SINGLE = auditd("type=SERVICE_STOP msg=audit(1.0:2): pid=1 uid=0 auid=4294967295 ses=4294967295 "
                "msg='unit=firewalld comm=\"systemd\" exe=\"/usr/lib/systemd/systemd\" hostname=? res=success'")
SYSLOG_CALL = auditd('type=SYSCALL msg=audit(1.0:3): arch=c000003e syscall=103 success=yes a0=5 a1=0 a2=0 a3=0 '
                     'exe="/usr/bin/dmesg"\x1dARCH=x86_64 SYSCALL=syslog AUID="alice"',
                     "type=PROCTITLE msg=audit(1.0:3): proctitle=646D657367002D63")


def test_auditd_type_is_any_record_type_including_a_single_record_event():
    events = [EXECVE, SINGLE, SYSLOG_CALL]
    assert matching("""
        sel:
          type: PATH
        condition: sel""", events, AUDITD) == [1]
    assert matching("""
        sel:
          type: SERVICE_STOP
          unit: firewalld
        condition: sel""", events, AUDITD) == [2]
    assert matching("""
        sel:
          type: SYSCALL
        condition: sel""", events, AUDITD) == [1, 3]
    assert matching("""
        sel:
          type: PATH
        condition: not sel""", events, AUDITD) == [2, 3]


def test_auditd_a_field_of_several_records_matches_when_any_does():
    events = [EXECVE, SINGLE]
    assert matching("""
        sel:
          name|endswith: '.so.2'
        condition: sel""", events, AUDITD) == [1]
    assert matching("""
        sel:
          name: '/usr/bin/chmod'
        condition: sel""", events, AUDITD) == [1]
    assert matching("""
        sel:
          name: '/etc/passwd'
        condition: not sel""", events, AUDITD) == [1, 2]
    assert matching("""
        sel:
          name: null
        condition: sel""", events, AUDITD) == [2]


def test_auditd_fields_inside_msg_and_after_the_enrichment_byte():
    events = [EXECVE, SINGLE, SYSLOG_CALL]
    # the first pair inside msg='...' and the last one before its closing quote
    assert matching("""
        sel:
          unit: firewalld
          res: success
        condition: sel""", events, AUDITD) == [2]
    assert matching("""
        sel:
          SYSCALL: syslog
          AUID: alice
        condition: sel""", events, AUDITD) == [3]


def test_auditd_arguments_execve_decoded_and_syscall_own():
    events = [EXECVE, SYSLOG_CALL]
    assert matching("""
        sel:
          type: EXECVE
          a0: chmod
          a1: '+x'
        condition: sel""", events, AUDITD) == [1]
    assert matching("""
        sel:
          type: SYSCALL
          SYSCALL: syslog
          a0: [4, 5, 6]
        condition: sel""", events, AUDITD) == [2]
    assert matching("""
        sel:
          a3: 0
        condition: sel""", events, AUDITD) == [2]


@pytest.mark.parametrize("detection", [
    "sel:\n  CommandLine|expand: '%foo%'\ncondition: sel",
    "sel:\n  CommandLine|minute: 5\ncondition: sel",
])
def test_unsupported_constructs_are_named(detection: str, tmp_path: Path):
    (tmp_path / "r.yml").write_text(f"title: U\nlogsource: {PROC}\ndetection:\n{textwrap.indent(detection, '  ')}\n")
    loaded = load_sigma([tmp_path])
    assert loaded.rules == [] and len(loaded.skipped) == 1
    reason = loaded.skipped[0].reason
    assert reason.startswith(("unsupported", "invalid Sigma")) and ("placeholder" in reason or "timestamp" in reason)


def test_not_of_an_expanded_value_negates_all_of_it():
    """`windash` and `base64offset` expand one value into several; `not` negates them all
    (found by the made-up rules of the equivalence test: the SQL once read `NOT a OR b OR c`)."""
    events = [proc(CommandLine="x -f y"), proc(CommandLine="x /f y"), proc(CommandLine="x y")]
    assert matching("""
        sel:
          Image|exists: false
        filter:
          CommandLine|windash|contains: ' -f '
        condition: sel and not filter""", events) == [3]


def test_a_record_kept_unparsed_in_a_json_log_has_no_fields_and_stops_nothing():
    """A truncated line of a CloudTrail file is stored unparsed, parser `cloudtrail`, raw not
    JSON: the rule must still run over the other events (json_extract would raise)."""
    events = [cloudtrail(eventName="StopLogging"), {"parser": "cloudtrail", "raw": '{"eventName":"StopLo', "attrs": None},
              cloudtrail(eventName="StartLogging")]
    assert matching("""
        sel:
          eventName: StopLogging
        condition: sel""", events, CLOUDTRAIL) == [1]
    assert matching("""
        sel:
          eventName: StopLogging
        condition: not sel""", events, CLOUDTRAIL) == [2, 3]


def test_web_query_string_is_missing_without_a_question_mark():
    events = [{"parser": "web_access", "resource": "/index.php?id=1' OR 1=1", "raw": ""},
              {"parser": "web_access", "resource": "/select-union.html", "raw": ""}]
    assert matching("""
        sel:
          cs-uri-query|contains: "'"
        condition: sel""", events, "{category: webserver}") == [1]
    assert matching("""
        sel:
          cs-uri-query: null
        condition: sel""", events, "{category: webserver}") == [2]


def test_each_json_document_is_parsed_once_per_part_of_the_condition():
    """Forty values of one field and four fields: the logsource's own condition reads Channel and
    EventID with one parse, the detection its fields with one more (for the events that pass),
    and the parser test comes first, as a plain column test DuckDB can push into the scan."""
    values = "\n".join(f"            - 'tool{i}.exe'" for i in range(40))
    sql = compile_rule(f"""
        sel:
          Image|endswith:
{values}
          CommandLine|contains: ' -x '
          ParentImage|endswith: '\\cmd.exe'
          User|contains: 'admin'
        condition: sel""")
    assert sql.startswith("(parser IN ('windows_security') AND ")
    assert sql.count("json_extract_string(attrs") == 2, sql
    events = [proc(Image=r"C:\t\TOOL7.exe", CommandLine="a -x b", ParentImage=r"C:\cmd.exe", User="ADMIN"),
              proc(Image=r"C:\t\tool7.exe", CommandLine="a -y b", ParentImage=r"C:\cmd.exe", User="admin")]
    assert [s for (s,) in table(events).execute(f"SELECT seq FROM current_events WHERE {sql}").fetchall()] == [1]
