"""The windows_security parser: detection, the event-id mapping, the three input shapes, corpus.

Samples (provenance in tests/golden/windows_security/LICENSE-NOTE.md):
- `wevtutil-security.xml`: `wevtutil qe Security /f:xml` output (rootless, one event a line,
  CRLF, multi-line PrivilegeList values), with one record cut short;
- `winlogbeat.ndjson`: Winlogbeat 8 file output (Security and one System-channel event), one
  line cut short;
- `hayabusa-openssh-bruteforce.evtx`: a real EVTX file (CC0, from the hayabusa sample set).

Corpus conformance: every `.evtx` under ../shared/corpus/omerbenamram-evtx/samples/ and
../shared/corpus/yamato-hayabusa-sample-evtx/ is read; the records are counted independently
(the evtx package's XML rendering) and compared field by field with that rendering.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from xml.etree import ElementTree as ET

import duckdb
import pytest

from auditctl.config import Config
from auditctl.ingest.ingester import Ingester, expand_paths
from auditctl.ingest.parsing import choose_parser
from auditctl.schema import validate_event
from auditctl.sources import Source, head_from_bytes, open_source, read_head
from auditctl.store import Store
from support import CORPUS, SAMPLES, nth_original, parser_and_reader, registry

evtx = pytest.importorskip("evtx")

NAME = "windows_security"
XML = SAMPLES / NAME / "wevtutil-security.xml"
WLB = SAMPLES / NAME / "winlogbeat.ndjson"
EVTX = SAMPLES / NAME / "hayabusa-openssh-bruteforce.evtx"
MODULE = sys.modules[type(registry().get(NAME)).__module__]
EVTX_DIRS = [CORPUS / "omerbenamram-evtx" / "samples", CORPUS / "yamato-hayabusa-sample-evtx"]
HAYABUSA = CORPUS / "yamato-hayabusa-sample-evtx" / "EVTX-to-MITRE-Attack"
NS = "http://schemas.microsoft.com/win/2004/08/events/event"


parser, events = parser_and_reader(NAME)


one = nth_original


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def xml_event(eid, data, *, keywords="0x8020000000000000", provider="Microsoft-Windows-Security-Auditing",
              record=1, quote="'"):
    q = quote
    items = "".join(f"<Data Name={q}{k}{q}>{v}</Data>" for k, v in data.items())
    return (f"<Event xmlns={q}{NS}{q}><System><Provider Name={q}{provider}{q}/><EventID>{eid}</EventID>"
            f"<Keywords>{keywords}</Keywords><TimeCreated SystemTime={q}2024-01-02T03:04:05.1234567Z{q}/>"
            f"<EventRecordID>{record}</EventRecordID><Execution ProcessID={q}640{q} ThreadID={q}7{q}/>"
            f"<Channel>Security</Channel><Computer>ws1.example.com</Computer><Security/></System>"
            f"<EventData>{items}</EventData></Event>")


NXLOG_4625 = {
    "EventTime": "2024-01-02 09:15:00", "Hostname": "WS1.example.com", "Keywords": -9218868437227405312,
    "EventType": "AUDIT_FAILURE", "SeverityValue": 4, "Severity": "ERROR", "EventID": 4625,
    "SourceName": "Microsoft-Windows-Security-Auditing", "ProviderGuid": "{54849625-5478-4994-A5BA-3E3B0328C30D}",
    "Version": 0, "Task": 12544, "OpcodeValue": 0, "RecordNumber": 77120, "ExecutionProcessID": 640,
    "ExecutionThreadID": 3312, "Channel": "Security", "Message": "An account failed to log on.\r\n\r\nSubject: ...",
    "Category": "Logon", "Opcode": "Info", "SubjectUserSid": "S-1-0-0", "SubjectUserName": "-",
    "SubjectDomainName": "-", "SubjectLogonId": "0x0", "TargetUserSid": "S-1-0-0", "TargetUserName": "mallory",
    "TargetDomainName": "", "Status": "0xC000006D", "FailureReason": "%%2313", "SubStatus": "0xC0000064",
    "LogonType": "10", "LogonProcessName": "User32 ", "AuthenticationPackageName": "Negotiate",
    "WorkstationName": "WS1", "IpAddress": "198.51.100.9", "IpPort": "51234",
    "EventReceivedTime": "2024-01-02 09:15:01", "SourceModuleName": "eventlog", "SourceModuleType": "im_msvistalog",
}


# --- detection -------------------------------------------------------------------------------

def test_detects_nxlog_json_and_event_viewer_utf16_xml():
    nx = json.dumps(NXLOG_4625).encode() + b"\n"
    assert parser().detect(head_from_bytes("nxlog.json", nx)) >= 0.95
    saved = ('<?xml version="1.0" encoding="UTF-16"?>\r\n<Events>'
             + xml_event(4624, {"TargetUserName": "a"}) + "</Events>")
    head = head_from_bytes("saved.xml", b"\xff\xfe" + saved.encode("utf-16-le"))
    assert parser().detect(head) >= 0.95
    assert choose_parser(head, registry()).parser.name == NAME


def test_winlogbeat_of_another_channel_still_ours_but_ecs_only_documents_are_left_to_jsonl():
    doc = {"@timestamp": "2024-01-02T03:04:05Z", "winlog": {"channel": "System", "event_id": "7045",
                                                            "provider_name": "Service Control Manager",
                                                            "event_data": {"ServiceName": "x"}}}
    assert parser().detect(head_from_bytes("w.json", json.dumps(doc).encode() + b"\n")) == 0.9
    ecs = (SAMPLES / "jsonl" / "ecs.jsonl")
    assert parser().detect(read_head(ecs)) < 0.3
    assert choose_parser(read_head(ecs), registry()).parser.name == "jsonl"


# --- the XML sample ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def xml_events():
    return events(XML)


def test_xml_logon_and_failure_details(xml_events):
    ok = one(xml_events, "4624")
    assert (ok.category, ok.action, ok.outcome) == ("authentication", "login", "success")
    assert ok.actor == "admin.jsmith" and ok.src_ip == "10.20.1.15" and ok.session == "0x5a3f21c"
    assert ok.attrs["logon_type"] == 10 and ok.attrs["logon_type_name"] == "RemoteInteractive"
    assert ok.attrs["subject_user"] == "DC01$" and ok.attrs["actor_domain"] == "CORP"
    assert ok.host == "DC01.corp.example.com" and ok.app == "Microsoft-Windows-Security-Auditing" and ok.pid == 652
    assert ok.ts == datetime(2024, 3, 11, 8, 2, 11, 402345, tzinfo=UTC)
    bad = one(xml_events, "4625")
    assert (bad.action, bad.outcome, bad.actor, bad.src_ip) == ("login", "failure", "administrator", "185.220.101.4")
    assert bad.attrs["sub_status"] == "0xc000006a" and bad.attrs["sub_status_meaning"] == "bad password"
    assert one(xml_events, "4625", 2).attrs["sub_status_meaning"] == "no such user"
    assert bad.session is None  # LogonId 0x0 is no session


def test_xml_account_management(xml_events):
    created = one(xml_events, "4720")
    assert (created.category, created.action) == ("user_management", "user_created")
    assert (created.actor, created.target) == ("admin.jsmith", "svc_backup")
    assert created.attrs["actor_domain"] == "CORP" and created.attrs["target_sid"].endswith("-2210")
    assert one(xml_events, "4722").action == "user_unlocked"
    assert one(xml_events, "4724").action == "password_changed"
    assert one(xml_events, "4725").action == "user_locked"
    assert one(xml_events, "4726").action == "user_deleted"
    changed = one(xml_events, "4738")
    assert changed.action == "user_modified" and changed.attrs["changed"] == ["PasswordLastSet", "UserAccountControl"]
    lockout = one(xml_events, "4740")
    assert (lockout.action, lockout.target, lockout.attrs["caller_computer"]) == ("user_locked", "bob", "WS022")
    assert one(xml_events, "4767").action == "user_unlocked"
    rename = one(xml_events, "4781")
    assert rename.action == "user_modified" and rename.target == "tmpuser"
    assert (rename.attrs["old_name"], rename.attrs["new_name"]) == ("tmpuser", "contractor01")
    own = one(xml_events, "4723")  # the user's own password change, refused (Audit Failure)
    assert (own.action, own.outcome, own.actor, own.target) == ("password_changed", "failure", "alice", "alice")


def test_xml_groups_and_privileges(xml_events):
    added = one(xml_events, "4728")
    assert (added.category, added.action) == ("permission_change", "group_member_added")
    assert (added.actor, added.target, added.role) == ("admin.jsmith", "svc_backup", "Domain Admins")
    assert added.attrs["privileged_group"] is True and added.attrs["member_dn"].startswith("CN=svc_backup,")
    local = one(xml_events, "4732")
    assert (local.target, local.role, local.attrs["privileged_group"]) == ("Alice Nguyen", "Administrators", True)
    assert one(xml_events, "4733").action == "group_member_removed"
    assert (one(xml_events, "4727").action, one(xml_events, "4727").role) == ("group_created", "SQL Operators")
    assert one(xml_events, "4737").attrs["new_name"] == "SQL Ops"
    assert (one(xml_events, "4730").action, one(xml_events, "4730").role) == ("group_deleted", "SQL Ops")
    assert "privileged_group" not in one(xml_events, "4727").attrs
    special = one(xml_events, "4672")
    assert (special.category, special.action, special.actor) == ("privileged_action", "privilege_escalation",
                                                                 "admin.jsmith")
    assert special.role.startswith("SeSecurityPrivilege, SeBackupPrivilege, ") and "\n" not in special.role
    explicit = one(xml_events, "4648")
    assert (explicit.action, explicit.actor, explicit.target, explicit.resource) == (
        "authenticate", "admin.jsmith", "sqladmin", "SQL01.corp.example.com")


def test_xml_kerberos_audit_trail_and_unknown_ids(xml_events):
    preauth = one(xml_events, "4771")
    assert (preauth.action, preauth.outcome, preauth.actor, preauth.src_ip) == (
        "authenticate", "failure", "bob", "10.20.4.22")  # ::ffff:10.20.4.22
    assert preauth.attrs["status_meaning"] == "bad password"
    tgt = one(xml_events, "4768")
    assert tgt.outcome == "success" and tgt.resource == "krbtgt"
    policy = one(xml_events, "4719")
    assert (policy.category, policy.action) == ("policy_change", "audit_config_changed")
    assert policy.attrs["audit_policy_changes"] == "Success removed, Failure removed"
    cleared = one(xml_events, "1102")
    assert (cleared.category, cleared.action, cleared.actor) == ("policy_change", "log_cleared", "admin.jsmith")
    assert cleared.app == "Microsoft-Windows-Eventlog"
    stopped = one(xml_events, "1100")
    assert (stopped.category, stopped.action) == ("policy_change", "audit_config_changed")
    other = one(xml_events, "4798")
    assert (other.category, other.action, other.actor) == ("system", "log", "admin.jsmith")
    assert [e.action for e in xml_events if e.original_action in ("4634", "4647")] == ["logout", "logout"]


def test_xml_lines_raw_and_the_cut_record(xml_events):
    assert [e.line for e in xml_events[:4]] == [1, 2, 12, 13]  # 4672's privilege list spans 10 lines
    assert xml_events[0].raw.startswith(f"<Event xmlns='{NS}'>") and xml_events[0].raw.endswith("</Event>")
    assert "SeBackupPrivilege\r\n" in xml_events[1].raw  # verbatim
    cut = [e for e in xml_events if e.action == "unparsed"]
    assert len(cut) == 1 and "cut short" in cut[0].attrs["reason"] and cut[0].line == 35
    assert one(xml_events, "4725").line == 36
    assert all(validate_event(e) == [] for e in xml_events)


def test_event_viewer_saved_xml_utf16_with_rendering_info(tmp_path):
    first = xml_event(4624, {"TargetUserName": "carol", "TargetLogonId": "0x1", "LogonType": "2"}, quote='"')
    second = xml_event(4616, {"SubjectUserName": "LOCAL SERVICE"}, record=2, quote='"').replace(
        "</EventData>", "</EventData><RenderingInfo Culture='en-US'><Message>The system time was changed.\r\n"
        "Subject: ...</Message><Level>Information</Level></RenderingInfo>")
    text = f'<?xml version="1.0" encoding="UTF-16"?>\r\n<Events>\r\n{first}\r\n{second}\r\n</Events>\r\n'
    evs = events(write(tmp_path, "saved.xml", b"\xff\xfe" + text.encode("utf-16-le")))
    assert [(e.original_action, e.action, e.actor, e.line) for e in evs] == [
        ("4624", "login", "carol", 3), ("4616", "log", "LOCAL SERVICE", 4)]
    assert evs[1].message.startswith("The system time was changed")


def test_pretty_printed_xml_and_text_outside_records(tmp_path):
    pretty = xml_event(4740, {"TargetUserName": "dave", "TargetDomainName": "PC9", "SubjectUserName": "DC$"},
                       quote='"').replace("><", ">\n  <")
    text = "Copied from Event Viewer:\n" + pretty + "\n<Event><System><EventID>4624</Event>\n" + pretty + "\n"
    evs = events(write(tmp_path, "copy.xml", text))
    assert [e.action for e in evs] == ["unparsed", "user_locked", "unparsed", "user_locked"]
    assert evs[0].raw == "Copied from Event Viewer:" and evs[0].line == 1
    assert evs[1].line == 2 and evs[1].attrs["caller_computer"] == "PC9"
    assert "malformed" in evs[2].attrs["reason"]
    assert evs[3].line == evs[2].line + 1


def test_xml_read_in_tiny_blocks_gives_the_same_events(monkeypatch, tmp_path):
    whole = events(XML)
    one_line = write(tmp_path, "one-line.xml", XML.read_bytes().replace(b"</Event>\r\n", b"</Event>"))
    monkeypatch.setattr(MODULE, "READ_SIZE", 97)
    small = events(XML)
    assert [(e.line, e.raw, e.action) for e in small] == [(e.line, e.raw, e.action) for e in whole]
    joined = events(one_line)
    assert [(e.raw, e.action) for e in joined] == [(e.raw.rstrip(), e.action) for e in whole]


def test_a_live_xml_file_leaves_a_record_being_written(tmp_path):
    done = xml_event(4624, {"TargetUserName": "erin"}) + "\n"
    partial = xml_event(4634, {"TargetUserName": "erin"})[:150]
    path = write(tmp_path, "live.xml", done + partial)
    source = open_source(path, complete_lines_only=True)
    try:
        evs = list(parser().parse(source))
    finally:
        source.stream.close()
    assert [e.original_action for e in evs] == ["4624"]
    assert source.consumed == len(done.encode()) and source.next_line == 2


# --- Winlogbeat and NXLog JSON lines ---------------------------------------------------------------

@pytest.fixture(scope="module")
def wlb_events():
    return events(WLB)


def test_winlogbeat_mapping(wlb_events):
    fails = [e for e in wlb_events if e.original_action == "4625"]
    assert len(fails) == 6 and {e.src_ip for e in fails} == {"203.0.113.77"}
    assert {e.actor for e in fails} == {"administrator", "admin", "backup", "scanner", "jdoe", "test"}
    ok = one(wlb_events, "4624")
    assert (ok.actor, ok.outcome, ok.attrs["lm_package"], ok.host) == ("backup", "success", "NTLM V2", "fs01.acme.local")
    assert ok.attrs["event_record_id"] == 884217 and ok.line == 8
    ent = one(wlb_events, "4756")
    assert (ent.action, ent.target, ent.role, ent.attrs["privileged_group"]) == (
        "group_member_added", "helpdesk2", "Enterprise Admins", True)
    rdp = one(wlb_events, "4732")
    assert rdp.target.endswith("-1311") and "privileged_group" not in rdp.attrs
    ticket = one(wlb_events, "4769")
    assert (ticket.actor, ticket.attrs["actor_domain"], ticket.resource) == ("helpdesk2", "ACME.LOCAL", "svc_sql")
    assert ticket.attrs["ticket_encryption_type"] == "0x17" and ticket.src_ip == "10.0.8.23"
    assert one(wlb_events, "4768").outcome == "failure"
    cleared = one(wlb_events, "1102")  # winlog.user_data
    assert (cleared.action, cleared.actor) == ("log_cleared", "backup")
    session = one(wlb_events, "4778")
    assert (session.action, session.actor, session.src_ip) == ("session_start", "it.mlopez", "10.0.12.41")
    service = one(wlb_events, "7045")  # System channel
    assert (service.category, service.action, service.attrs["channel"]) == ("system", "service_installed", "System")
    assert service.message == "A service was installed in the system: PSEXESVC"
    bad = [e for e in wlb_events if e.action == "unparsed"]
    assert len(bad) == 1 and bad[0].line == 25 and "not JSON" in bad[0].attrs["reason"]


def test_winlogbeat_ecs_only_document_uses_the_ecs_fields(tmp_path):
    line = (SAMPLES / "jsonl" / "ecs.jsonl").read_text().splitlines()[10]  # 4728 without event_data
    ev = events(write(tmp_path, "ecs.json", line + "\n"))[0]
    assert (ev.action, ev.actor, ev.target, ev.role) == ("group_member_added", "admin.jsmith", "svc_backup",
                                                         "Domain Admins")
    assert ev.attrs["privileged_group"] is True


def test_nxlog_json(tmp_path):
    other = dict(NXLOG_4625, EventID=4720, EventType="AUDIT_SUCCESS", TargetUserName="newbie",
                 SubjectUserName="admin", RecordNumber=77121)
    text = json.dumps(NXLOG_4625) + "\n" + json.dumps(other) + "\n" + '{"EventID": "x"}\n'
    evs = events(write(tmp_path, "nxlog.json", text), tz=timezone(timedelta(hours=1)))
    fail = evs[0]
    assert (fail.action, fail.outcome, fail.actor, fail.src_ip) == ("login", "failure", "mallory", "198.51.100.9")
    assert fail.ts == datetime(2024, 1, 2, 8, 15, tzinfo=UTC)  # EventTime is the agent's local time
    assert fail.attrs["sub_status"] == "0xc0000064" and fail.attrs["sub_status_meaning"] == "no such user"
    assert fail.attrs["logon_type_name"] == "RemoteInteractive" and fail.attrs["src_port"] == 51234
    assert (fail.host, fail.pid, fail.attrs["event_record_id"]) == ("WS1.example.com", 640, 77120)
    assert (evs[1].action, evs[1].actor, evs[1].target) == ("user_created", "admin", "newbie")
    assert evs[2].action == "unparsed"


# --- EVTX ----------------------------------------------------------------------------------------

def test_evtx_sample(tmp_path):
    evs = events(EVTX)
    assert len(evs) == 20 and all(e.line is None and e.origin.startswith("record ") for e in evs)
    first = evs[0]
    assert (first.original_action, first.action, first.actor, first.origin) == (
        "1102", "log_cleared", "admmig", "record 1")  # the file's own record number
    assert first.attrs["event_record_id"] == 1861976  # the event's EventRecordID
    assert json.loads(first.raw)["Event"]["System"]["EventID"] == 1102  # the reader's JSON rendering


def test_evtx_gzipped_and_from_memory(tmp_path):
    plain = [(e.origin, e.action, e.actor, e.raw) for e in events(EVTX)]
    gz = write(tmp_path, "x.evtx.gz", gzip.compress(EVTX.read_bytes()))
    assert choose_parser(read_head(gz), registry()).parser.name == NAME
    assert [(e.origin, e.action, e.actor, e.raw) for e in events(gz, None)] == plain
    source = Source(label="stdin", stream=io.BytesIO(EVTX.read_bytes()))
    assert [(e.origin, e.action, e.actor, e.raw) for e in parser().parse(source)] == plain
    assert source.consumed == EVTX.stat().st_size


def test_evtx_is_read_whole_and_not_again(tmp_path, db):
    copy = tmp_path / "Security.evtx"
    shutil.copy(EVTX, copy)
    first, second = ingest(db, copy), ingest(db, copy)
    assert first.events == 20 and second.events == 0 and second.files[0].status == "unchanged"
    source = open_source(copy, start_offset=4096)
    try:
        assert list(parser().parse(source)) == []  # no byte offset to resume from inside an EVTX file
    finally:
        source.stream.close()


def test_corrupt_evtx_records_are_kept_as_unparsed(tmp_path):
    data = bytearray((CORPUS / "omerbenamram-evtx" / "samples" / "post-Security.evtx").read_bytes()
                     if CORPUS.is_dir() else EVTX.read_bytes())
    data[4096 + 512 + 3000: 4096 + 512 + 3400] = b"A" * 400
    evs = events(write(tmp_path, "bad.evtx", bytes(data)))
    bad = [e for e in evs if e.action == "unparsed"]
    assert bad and all("could not decode" in e.attrs["reason"] and e.raw for e in bad)
    assert len(evs) > len(bad)


def test_gzipped_xml_and_json(tmp_path):
    for sample in (XML, WLB):
        gz = write(tmp_path, sample.name + ".gz", gzip.compress(sample.read_bytes()))
        assert choose_parser(read_head(gz), registry()).parser.name == NAME
        got = [(e.line, e.action, e.raw) for e in events(gz, None)]
        assert got == [(e.line, e.action, e.raw) for e in events(sample)]


def test_grown_xml_file_resumes_after_the_last_record(tmp_path, db):
    path = tmp_path / "export.xml"
    path.write_text(xml_event(4624, {"TargetUserName": "a"}, record=1) + "\n")
    assert ingest(db, path).events == 1
    with path.open("a") as f:
        f.write(xml_event(4634, {"TargetUserName": "a"}, record=2) + "\n")
    assert ingest(db, path).events == 1
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT original_action, line FROM events ORDER BY seq").fetchall() == [
            ("4624", 1), ("4634", 2)]
    finally:
        con.close()


def ingest(db: Path, *paths):
    files, missing = expand_paths([str(p) for p in paths])
    assert not missing
    with Store.open(db) as store:
        return Ingester(store, registry(), Config(db=db)).ingest(files)


# --- corpus conformance ------------------------------------------------------------------------

def corpus_files() -> list[Path]:
    return sorted(p for d in EVTX_DIRS if d.is_dir() for p in d.rglob("*.evtx"))


def xml_records(path: Path) -> list[dict]:
    """The evtx reader's XML rendering, parsed independently of the plugin."""
    out = []
    for rec in evtx.PyEvtxParser(str(path)).records():
        root = ET.fromstring(rec["data"].encode())
        system = root.find(f"{{{NS}}}System")
        data = {}
        for n, item in enumerate(root.iter(f"{{{NS}}}Data"), 1):
            data[item.get("Name") or f"param{n}"] = (item.text or "").strip()
        user_data = root.find(f"{{{NS}}}UserData")
        for item in (user_data.iter() if user_data is not None else ()):
            if len(item) == 0:  # the leaves of UserData's wrapper element, in any namespace
                data[item.tag.rsplit("}", 1)[-1]] = (item.text or "").strip()
        out.append({"id": rec["event_record_id"], "eid": system.find(f"{{{NS}}}EventID").text,
                    "provider": system.find(f"{{{NS}}}Provider").get("Name"),
                    "channel": system.find(f"{{{NS}}}Channel").text,
                    "record_id": int(system.find(f"{{{NS}}}EventRecordID").text),
                    "computer": system.find(f"{{{NS}}}Computer").text, "data": data})
    return out


def _name(value):
    return None if value in (None, "", "-") else value


def expected_names(eid: str, data: dict, provider: str = "Microsoft-Windows-Security-Auditing") -> dict:
    """Who should be actor/target by the documented mapping, straight from the XML."""
    subject, target = _name(data.get("SubjectUserName")), _name(data.get("TargetUserName"))
    if provider == "Microsoft-Windows-Sysmon":  # User = DOMAIN\name of the process (8, 10: SourceUser)
        user = _name(data.get("SourceUser" if eid in ("8", "10") else "User"))
        return {"actor": user.rpartition("\\")[2] if user else None}
    if provider == "Microsoft-Windows-PowerShell" and eid == "4103":  # ContextInfo's "User = DOMAIN\name"
        m = re.search(r"^\s*User = (.+?)\s*$", data.get("ContextInfo", ""), re.M)
        return {"actor": m.group(1).rpartition("\\")[2] if m else None}
    if provider == "PowerShell" and eid == "800":  # the details' "UserId=DOMAIN\name"
        m = re.search(r"^\s*UserId=(.+?)\s*$", "\n".join(data.values()), re.M)
        return {"actor": m.group(1).rpartition("\\")[2] if m else None}
    if provider == "Microsoft-Windows-TerminalServices-RemoteConnectionManager":  # 1149: Param1 = user
        return {"actor": _name(data.get("Param1"))}
    if eid in ("4624", "4625", "4634", "4647"):
        return {"actor": target}
    if eid in ("4768", "4769", "4771", "4776"):
        # Kerberos TGT/service ticket requests, pre-authentication and NTLM credential validation
        # have no Subject: the account is TargetUserName (Microsoft's event documentation). The
        # oracle used to fall through to SubjectUserName for 4768/4769 (None: wrong) and took a
        # 4776 name typed as a UPN (user@offsec.lan) whole. A name written user@REALM (always for
        # 4769, when the client sent a UPN for 4776) is the account `user` of that domain, as the
        # same account's 4624 says (TargetUserName + TargetDomainName); the plugin keeps the
        # realm in attrs.actor_domain and the literal text in attrs.TargetUserName.
        return {"actor": target.partition("@")[0] if target else None}
    if eid in ("4720", "4722", "4723", "4724", "4725", "4726", "4738", "4740", "4767", "4648"):
        return {"actor": subject, "target": target}
    if eid in ("4728", "4729", "4732", "4733", "4756", "4757", "4727", "4730", "4731", "4734", "4735",
               "4737", "4754", "4755", "4758"):
        return {"actor": subject, "role": target}
    if eid == "4781":
        return {"actor": subject, "target": _name(data.get("OldTargetUserName"))}
    return {"actor": subject}


def test_corpus_every_record_becomes_an_event_and_agrees_with_the_xml_rendering():
    files = corpus_files()
    if not files:
        pytest.skip("corpus not present")
    compared = agreed = 0
    disagreements = []
    for path in files:
        evs = events(path)
        recs = xml_records(path)
        assert len(evs) == len(recs), path  # every record became an event, none invented
        assert not [e for e in evs if e.action == "unparsed"], path
        for ev, rec in zip(evs, recs, strict=True):
            assert validate_event(ev) == [], ev
            checks = {"event id": (ev.original_action, rec["eid"]),
                      "record": (ev.origin, f"record {rec['id']}"),
                      "event record id": ((ev.attrs or {}).get("event_record_id"), rec["record_id"]),
                      "host": (ev.host, rec["computer"])}
            if "LogonType" in rec["data"]:
                checks["logon type"] = ((ev.attrs or {}).get("logon_type"), int(rec["data"]["LogonType"]))
            for field, want in expected_names(rec["eid"], rec["data"], rec["provider"]).items():
                checks[field] = (getattr(ev, field), want)
            compared += 1
            wrong = {k: v for k, v in checks.items() if v[0] != v[1]}
            if wrong:
                disagreements.append(f"{path.name} record {rec['id']} ({rec['eid']}): {wrong}")
            else:
                agreed += 1
    rate = agreed / compared
    print(f"windows_security corpus: {compared} records in {len(files)} files, agreement {rate:.4f}")
    for line in disagreements:
        print("  disagree:", line)
    # Both sides come from the same reader and the same record, so there is no format ambiguity
    # to excuse: any disagreement is a mapping bug. Require all of them to agree.
    assert rate == 1.0


def test_corpus_snapshot_record_matches_the_readers_own_golden():
    snap = CORPUS / "omerbenamram-evtx" / "tests" / "snapshots" / "test_record_samples__event_json_with_size_t.snap"
    if not snap.exists():
        pytest.skip("corpus not present")
    doc = json.loads(snap.read_text().split("---", 2)[2])
    system, data = doc["Event"]["System"], doc["Event"]["EventData"]
    evs = events(CORPUS / "omerbenamram-evtx" / "samples" / "Security_with_size_t.evtx")
    ev = next(e for e in evs if (e.attrs or {}).get("event_record_id") == system["EventRecordID"])
    assert ev.original_action == str(system["EventID"]) == "4907"
    assert (ev.category, ev.action) == ("policy_change", "audit_config_changed")
    assert ev.actor == data["SubjectUserName"] and ev.resource == data["ObjectName"]
    assert ev.host == system["Computer"] and ev.pid == system["Execution"]["#attributes"]["ProcessID"]
    assert ev.ts == datetime(2015, 8, 23, 21, 25, 49, 63125, tzinfo=UTC)


def hayabusa(pattern: str) -> list:
    matches = sorted(HAYABUSA.rglob(pattern)) if HAYABUSA.is_dir() else []
    if not matches:
        pytest.skip("corpus not present")
    return events(matches[0])


def test_hayabusa_fast_created_then_deleted_user():
    evs = hayabusa("ID4720-4726*.evtx")
    assert [(e.action, e.actor, e.target) for e in evs] == [
        ("user_created", "lambda-user", "admin-kriss"), ("user_deleted", "lambda-user", "admin-kriss")]
    assert evs[1].ts - evs[0].ts < timedelta(minutes=10)  # the iam.user-created-then-deleted window


def test_hayabusa_members_added_to_sensitive_domain_groups():
    evs = hayabusa("ID4728-4756*.evtx")
    assert [(e.original_action, e.action, e.target, e.role) for e in evs] == [
        ("4728", "group_member_added", "honey-pot1", "Domain Admins"),
        ("4756", "group_member_added", "honey-pot1", "Enterprise Admins"),
        ("4756", "group_member_added", "honey-pot1", "Enterprise Key Admins"),
        ("4756", "group_member_added", "honey-pot1", "Schema Admins")]
    assert [bool((e.attrs or {}).get("privileged_group")) for e in evs] == [True, True, False, True]
    assert {e.actor for e in evs} == {"lambda-user"}


def test_hayabusa_openssh_brute_force_with_non_existing_users():
    evs = hayabusa("ID4625-OpenSSH*.evtx")
    fails = [e for e in evs if e.action == "login" and e.outcome == "failure"]
    assert len(fails) == 5 and {e.attrs["sub_status_meaning"] for e in fails} == {"no such user"}
    assert fails[-1].ts - fails[0].ts < timedelta(seconds=10)
    assert one(evs, "1102").action == "log_cleared"  # the log was cleared first


def test_hayabusa_failed_login_denied_by_account_restriction():
    evs = hayabusa("ID4625-failed login with denied access*.evtx")
    assert [(e.action, e.outcome) for e in evs] == [("login", "failure")] * 2
    # the account name is "-" in these records: no actor is invented
    assert [(e.actor, e.src_ip, e.attrs["status_meaning"]) for e in evs] == [
        (None, "10.23.23.9", "account restriction")] * 2
    assert "sub_status_meaning" not in evs[0].attrs  # SubStatus 0x0 explains nothing
    assert evs[0].message == "An account failed to log on: unknown account from 10.23.23.9 (RemoteInteractive, account restriction)"


def test_hayabusa_hidden_user_and_quick_local_group_membership():
    hidden = hayabusa("ID472, 4728 Hidden user creation.evtx")
    created = one(hidden, "4720")
    assert created.target.endswith("$") and created.actor == "admmig"
    assert one(hidden, "4726").target == created.target
    admins = [e for e in hidden if e.role == "Administrators"]
    assert [e.action for e in admins] == ["group_member_added", "group_member_removed"]
    assert all(e.attrs["privileged_group"] for e in admins)
    quick = hayabusa("ID4732-4733*.evtx")
    assert [e.action for e in quick] == ["group_member_added"] * 3 + ["group_member_removed"] * 2


# --- original fields: every channel's EventData / UserData kept under its own names -------------

CHANNELS = {"Security", "System", "Application", "DNS Server", "Windows PowerShell",
            "Microsoft-Windows-PowerShell/Operational", "Microsoft-Windows-Sysmon/Operational",
            "Microsoft-Windows-PrintService/Admin", "Microsoft-Windows-PrintService/Operational"}


def _value(text):
    """What attrs hold for a field's XML text: the text as written ("-" too); an empty element is ""
    (as is the evtx package's XML layout of one: a line break and indentation)."""
    return "" if text is None or ("\n" in text and text.isspace()) else text


def _lf(value):
    """An XML parser reads CR LF inside text as LF (XML 1.0, 2.11); the evtx file keeps CR LF."""
    if isinstance(value, dict):
        return {k: _lf(v) for k, v in value.items()}
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


def system_values(system: ET.Element) -> dict:
    """The System values attrs keep, under the names the parser's docstring gives them."""
    def child(tag):
        return system.find(f"{{{NS}}}{tag}")

    ident = {"EventID": int(child("EventID").text), "Channel": child("Channel").text,
             "Provider": child("Provider").get("Name"), "EventRecordID": int(child("EventRecordID").text),
             "Computer": child("Computer").text}
    for tag in ("Level", "Task", "Opcode", "Version"):
        if child(tag) is not None and child(tag).text:
            ident[tag] = int(child(tag).text)
    if child("Keywords") is not None and child("Keywords").text:
        ident["Keywords"] = child("Keywords").text
    for tag, attr, name in (("Execution", "ProcessID", "ExecutionProcessID"),
                            ("Execution", "ThreadID", "ExecutionThreadID"), ("Security", "UserID", "SecurityUserID")):
        value = child(tag).get(attr) if child(tag) is not None else None
        if value:
            ident[name] = int(value) if name.startswith("Execution") else value
    return ident


def xml_fields(xml: str) -> tuple[dict, dict]:
    """The System values and every EventData/UserData field of one record, read with ElementTree."""
    root = ET.fromstring(xml.encode())
    ident = system_values(root.find(f"{{{NS}}}System"))
    fields: dict = {}
    event_data = root.find(f"{{{NS}}}EventData")
    unnamed = 0
    for item in (event_data if event_data is not None else ()):
        name = item.get("Name")
        if name is None:
            name = item.tag.rsplit("}", 1)[-1]
            if name == "Data":
                unnamed += 1
                name = f"param{unnamed}"
        fields[name] = _value(item.text)
    user_data = root.find(f"{{{NS}}}UserData")
    for wrapper in (user_data if user_data is not None else ()):
        for item in wrapper.iter():
            if item is not wrapper and len(item) == 0:
                empty = not (item.text or "").strip()
                fields[item.tag.rsplit("}", 1)[-1]] = dict(item.attrib) if empty and item.attrib else _value(item.text)
    params = {k: v for k, v in fields.items() if k != "Binary"}
    if params and all(re.fullmatch(r"param\d+", k) for k in params):  # the data as a whole, for Sigma's `Data`
        fields["Data"] = "\n".join(params[f"param{i}"] for i in range(1, len(params) + 1))
    for name in set(fields) & set(ident):
        if fields[name] in (ident[name], str(ident[name])):
            del fields[name]
        elif name in ("EventID", "Channel", "Provider", "EventRecordID"):  # the identity keeps its name
            fields["data." + name] = fields.pop(name)
        else:  # other System values yield to the data field
            ident["System." + name] = ident.pop(name)
    return ident, fields


def test_corpus_attrs_keep_every_event_data_field_of_every_channel():
    files = corpus_files()
    if not files:
        pytest.skip("corpus not present")
    seen: dict[str, int] = {}
    missing = []
    for path in files:
        recs = list(evtx.PyEvtxParser(str(path)).records())
        for ev, rec in zip(events(path), recs, strict=True):
            ident, fields = xml_fields(rec["data"])
            seen[ident["Channel"]] = seen.get(ident["Channel"], 0) + 1
            attrs = ev.attrs or {}
            for name, want in {**fields, **ident}.items():
                if name not in attrs or _lf(attrs[name]) != want:
                    missing.append(f"{path.name} record {rec['event_record_id']} {ident['Channel']}: "
                                   f"{name}={want!r}, attrs {attrs.get(name, '<absent>')!r}")
    print(f"records per channel: {seen}")
    assert set(seen) >= CHANNELS
    assert missing == [], "\n".join(missing[:20])


def test_corpus_xml_rendering_maps_exactly_like_the_evtx_file(tmp_path):
    """The same records as Event XML (what wevtutil exports) give the same events, attrs included."""
    files = corpus_files()
    if not files:
        pytest.skip("corpus not present")
    fields = ("ts", "category", "action", "outcome", "host", "app", "pid", "actor", "target", "role",
              "resource", "src_ip", "session", "original_action", "attrs")
    for path in files:
        xml = write(tmp_path, path.stem + ".xml",
                    "\n".join(r["data"] for r in evtx.PyEvtxParser(str(path)).records()))
        from_evtx, from_xml = events(path), events(xml)
        assert len(from_xml) == len(from_evtx), path
        for a, b in zip(from_evtx, from_xml, strict=True):
            assert [_lf(getattr(b, f)) for f in fields] == [_lf(getattr(a, f)) for f in fields], (
                path.name, a.origin)


def test_hayabusa_other_channels_keep_their_fields_and_plain_meanings():
    sysmon = one(hayabusa("ID1-CMD executed via sticky key call.evtx"), "1")
    assert (sysmon.category, sysmon.action, sysmon.outcome, sysmon.actor, sysmon.attrs["actor_domain"]) == (
        "system", "process_start", "success", "admmig", "OFFSEC")
    assert sysmon.resource == sysmon.attrs["Image"] and sysmon.attrs["ParentImage"]
    assert sysmon.attrs["CommandLine"] and sysmon.attrs["Provider"] == "Microsoft-Windows-Sysmon"
    payload = hayabusa("ID4103-4104-Payload download*.evtx")
    script = one(payload, "4104")
    assert "New-Object Net.WebClient" in script.attrs["ScriptBlockText"] and script.action == "script_run"
    module = one(payload, "4103")  # the user from ContextInfo's "User = OFFSEC\admmig" line
    assert (module.action, module.actor, module.attrs["actor_domain"]) == ("script_run", "admmig", "OFFSEC")
    sid = "S-1-5-21-4230534742-2542757381-3142984815-1111"  # System/Security UserID
    assert script.attrs["SecurityUserID"] == module.attrs["SecurityUserID"] == sid
    classic = one(hayabusa("ID800-4103-4104-Service creation*.evtx"), "800")
    assert classic.attrs["param1"].startswith("New-Service") and classic.attrs["Channel"] == "Windows PowerShell"
    assert (classic.action, classic.actor, classic.resource) == ("script_run", "admmig", classic.attrs["param1"])
    # the unnamed <Data> as a whole, which Sigma's classic PowerShell rules match (`Data|contains`)
    assert classic.attrs["Data"] == "\n".join(classic.attrs[f"param{i}"] for i in (1, 2, 3))
    assert "HostApplication=C:\\Windows\\System32\\WindowsPowerShell" in classic.attrs["Data"]
    timeout = one(hayabusa("ID7009-*.evtx"), "7009")  # the service never reported that it started
    assert (timeout.category, timeout.action, timeout.outcome, timeout.resource) == (
        "system", "service_start", "failure", timeout.attrs["param2"])
    assert timeout.attrs["Binary"]
    rdp = hayabusa("ID1149-*.evtx")
    assert {(e.category, e.action, e.outcome, e.actor) for e in rdp} == {
        ("authentication", "authenticate", "success", "admmig")}
    assert rdp[0].src_ip == rdp[0].attrs["Param3"] and rdp[0].attrs["Param2"] == ""  # an empty element
    dns = one(hayabusa("ID770-*.evtx"), "770")
    assert dns.attrs["param1"].endswith("mimilib.dll") and dns.attrs["Channel"] == "DNS Server"
    spool = one(hayabusa("ID354-808-*.evtx"), "808")
    assert spool.attrs["PluginDllName"].endswith("mimispool.dll") and spool.attrs["ErrorCode"] == "0x7e"
    sql = one(hayabusa("ID15457-*.evtx"), "15457")
    assert [sql.attrs[f"param{i}"] for i in (1, 2, 3)] == ["show advanced options", "1", "1"]
    assert sql.attrs["Data"] == "show advanced options\n1\n1"


def test_winlogbeat_and_nxlog_keep_the_event_data_under_its_names(wlb_events, tmp_path):
    service = one(wlb_events, "7045")
    data = json.loads(service.raw)["winlog"]["event_data"]
    assert {k: service.attrs[k] for k in data} == {k: _value(v) for k, v in data.items()}
    assert service.resource == data["ServiceName"] and service.attrs["Provider"] == "Service Control Manager"
    cleared = one(wlb_events, "1102")  # winlog.user_data, without Winlogbeat's own xml_name
    assert cleared.attrs["SubjectUserName"] == "backup" and "xml_name" not in cleared.attrs
    evs = events(write(tmp_path, "nxlog.json", json.dumps(NXLOG_4625) + "\n"))
    attrs = evs[0].attrs
    assert (attrs["TargetUserName"], attrs["SubStatus"], attrs["IpAddress"]) == ("mallory", "0xC0000064",
                                                                                  "198.51.100.9")
    assert attrs["SubjectUserName"] == "-" and attrs["TargetDomainName"] == ""  # as written
    assert (attrs["Keywords"], attrs["Task"], attrs["Opcode"], attrs["ExecutionThreadID"]) == (
        "0x8010000000000000", 12544, 0, 3312)  # NXLog's signed Keywords as Windows writes them
    assert (attrs["EventID"], attrs["EventRecordID"], attrs["Channel"]) == (4625, 77120, "Security")
    assert not {"Message", "EventTime", "Hostname", "SourceModuleType"} & set(attrs)  # NXLog's own keys


def test_names_spelled_like_null_are_names_only_dash_is_no_value_and_attrs_keep_the_dash(tmp_path, db):
    added = xml_event(4732, {"SubjectUserName": "admin", "TargetUserName": "None", "TargetDomainName": "WS1",
                             "MemberName": "-", "MemberSid": "S-1-5-21-1-2-3-1001"})
    logon = xml_event(4625, {"SubjectUserName": "-", "TargetUserName": "?", "TargetDomainName": "(unknown)",
                             "IpAddress": "-", "LogonType": "3"}, record=2)
    path = write(tmp_path, "names.xml", added + "\n" + logon + "\n")
    group, fail = events(path)
    assert (group.role, group.target, group.actor) == ("None", "S-1-5-21-1-2-3-1001", "admin")
    assert group.attrs["TargetUserName"] == "None" and group.attrs["MemberName"] == "-"
    # "-" is no value for the columns, and a Sigma rule's `IpAddress: '-'` still matches the field
    assert (fail.actor, fail.attrs["actor_domain"], fail.src_ip) == ("?", "(unknown)", None)
    assert fail.attrs["SubjectUserName"] == "-" and fail.attrs["IpAddress"] == "-"
    assert ingest(db, path).events == 2
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT role, attrs->>'TargetUserName', attrs->>'EventRecordID', "
                           "json_extract_string(attrs, '$.\"IpAddress\"') FROM events ORDER BY seq").fetchall()
    finally:
        con.close()
    assert rows == [("None", "None", "1", None), (None, "?", "2", "-")]
