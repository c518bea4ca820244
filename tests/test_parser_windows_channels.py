"""windows_security beyond the Security log: Sysmon, PowerShell, System, Task Scheduler, Defender,
Firewall, WMI. The records: SigmaHQ's regression data (real recordings, tests/data/sigma_regression,
see its README), the hayabusa corpus, and `sample_logs/windows_security/other-channels.xml`
(written for this project, see tests/golden/windows_security/LICENSE-NOTE.md).

For each record: it parses (none unparsed), gets the category/action of the table below (the
meaning the parser documents), and its attrs carry every EventData/UserData field verbatim and
the System values, compared with SigmaHQ's own JSON rendering of the same records. The same
records read as EVTX, as Event XML, as evtx_dump JSON and as Winlogbeat JSON give the same attrs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditctl.ingest.parsing import choose_parser
from auditctl.schema import validate_event
from auditctl.sources import head_from_bytes, open_source, read_head
from support import CORPUS, ROOT, SAMPLES, parser_and_reader, registry

evtx = pytest.importorskip("evtx")
WSEC = pytest.importorskip("test_parser_windows_security")  # its independent ElementTree reading

NAME = "windows_security"
REGRESSION = ROOT / "tests" / "data" / "sigma_regression"
OTHER = SAMPLES / NAME / "other-channels.xml"
parser, events = parser_and_reader(NAME)

SYSMON, TASKS = "Microsoft-Windows-Sysmon", "Microsoft-Windows-TaskScheduler"
DEFENDER = "Microsoft-Windows-Windows Defender"
SECURITY, WMI = "Microsoft-Windows-Security-Auditing", "Microsoft-Windows-WMI-Activity"
# (provider, event id) -> (category, action): the meaning each well-known event gets
MEANING = {
    (SYSMON, 1): ("system", "process_start"), (SYSMON, 7): ("system", "module_load"),
    (SYSMON, 10): ("system", "process_access"), (SYSMON, 11): ("system", "file_write"),
    (SYSMON, 12): ("system", "registry_change"), (SYSMON, 13): ("system", "registry_change"),
    (SYSMON, 16): ("policy_change", "audit_config_changed"), (SYSMON, 17): ("system", "pipe_created"),
    (TASKS, 142): ("system", "task_modified"), (DEFENDER, 1119): ("system", "malware_detected"),
    (SECURITY, 4648): ("authentication", "authenticate"), (SECURITY, 4701): ("system", "task_modified"),
    (WMI, 5858): ("system", "log"),
}
# the System values attrs keep, by name, and where the evtx reader's JSON has them
SYSTEM = {"EventID": ("EventID",), "Channel": ("Channel",), "Provider": ("Provider", "#attributes", "Name"),
          "Computer": ("Computer",), "EventRecordID": ("EventRecordID",), "Level": ("Level",), "Task": ("Task",),
          "Opcode": ("Opcode",), "Keywords": ("Keywords",), "Version": ("Version",),
          "ExecutionProcessID": ("Execution", "#attributes", "ProcessID"),
          "ExecutionThreadID": ("Execution", "#attributes", "ThreadID"),
          "SecurityUserID": ("Security", "#attributes", "UserID")}


def regression_files() -> list[Path]:
    return sorted(REGRESSION.rglob("*.evtx"))


def json_documents(path: Path) -> list[dict]:
    """The records of a SigmaHQ .json file (indented documents one after another), read with json."""
    text, docs, pos = path.read_text(), [], 0
    decoder = json.JSONDecoder()
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        doc, pos = decoder.raw_decode(text, pos)
        docs.append(doc)
    return docs


def dig(node, path):
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def as_text(value):
    """A value of the evtx reader's JSON as Windows writes it in XML."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else str(value)


def data_fields(event: dict) -> dict:
    """EventData's fields, or UserData's wrapper's leaves, as text (attributes-only elements skipped)."""
    data = event.get("EventData") or next(iter((event.get("UserData") or {}).values()), {})
    return {k: as_text(v) for k, v in data.items() if not k.startswith("#") and not isinstance(v, dict)}


def by_record_id(evs) -> dict:
    return {e.attrs["EventRecordID"]: e for e in evs}


def test_the_selection_is_the_one_the_readme_describes():
    files = regression_files()
    assert len(files) == 20
    for path in files:
        info = (path.parent / "info.yml").read_text()
        assert path.stem in info and (path.with_suffix(".json")).is_file()  # the rule id, the JSON rendering
    seen = {(e.attrs["Provider"], int(e.original_action)) for p in files for e in events(p)}
    assert seen == set(MEANING)


@pytest.mark.parametrize("path", regression_files(), ids=lambda p: p.parent.name)
def test_regression_records_parse_with_their_meaning_and_keep_their_fields(path):
    evs = events(path)
    assert evs and not [e for e in evs if e.action == "unparsed"]
    for ev, rec in zip(evs, evtx.PyEvtxParser(str(path)).records(), strict=True):
        assert validate_event(ev) == []
        assert (ev.category, ev.action) == MEANING[(ev.attrs["Provider"], int(ev.original_action))]
        # every field verbatim ("-" and "" included) and the System values, read with ElementTree
        system, fields = WSEC.xml_fields(rec["data"])
        assert {k: lf(ev.attrs.get(k)) for k in {**system, **fields}} == {**system, **fields}
    # SigmaHQ's own JSON rendering of the matching records says the same, but for the trailing
    # spaces its converter cut (`"C:\Windows\System32\cmd.exe" ` is in the .evtx with its space)
    found = by_record_id(evs)
    for doc in json_documents(path.with_suffix(".json")):
        event = doc["Event"]
        attrs = found[event["System"]["EventRecordID"]].attrs
        for name, value in data_fields(event).items():
            assert attrs.get(name) == value or attrs[name].rstrip() == value, (name, value, attrs.get(name))
        for name, where in SYSTEM.items():
            value = dig(event["System"], where)
            if value is not None:
                assert attrs.get(name) == value, name


def test_regression_values_that_mean_nothing_stay_in_attrs_but_not_in_the_columns():
    path = next(p for p in regression_files() if "explicit_credential_local_logon" in str(p))
    ev = events(path)[0]
    assert (ev.attrs["IpAddress"], ev.attrs["IpPort"], ev.src_ip) == ("-", "-", None)  # Sigma: IpAddress: '-'
    assert (ev.actor, ev.target, ev.resource) == ("xodih", "testuser", "localhost")
    spawn = events(next(p for p in regression_files() if "cross_user_process_spawn" in str(p)))
    dashes = {k for e in spawn for k, v in e.attrs.items() if v == "-"}
    assert "RuleName" in dashes


def test_regression_records_name_actor_and_resource_from_their_own_fields():
    by_rule = {p.parent.name: events(p) for p in regression_files()}
    access = by_rule["proc_access_win_susp_dbgcore_dbghelp_load"][0]  # Sysmon 10: SourceUser acts on TargetImage
    assert access.resource == access.attrs["TargetImage"]
    assert access.actor == access.attrs["SourceUser"].rpartition("\\")[2]
    pipe = by_rule["pipe_created_win_exploit_redsun_named_pipe"][0]
    assert (pipe.resource, pipe.message) == (pipe.attrs["PipeName"], f"Pipe created: {pipe.attrs['PipeName']} by xodih")
    task = by_rule["win_taskscheduler_susp_schtasks_delete_or_disable"][0]
    assert (task.resource, task.actor) == ("\\Microsoft\\Windows\\SystemRestore\\SR", "System")
    disabled = by_rule["win_security_susp_scheduled_task_delete_or_disable"][0]
    assert (disabled.resource, disabled.actor) == (task.resource, "xodih")
    config = by_rule["sysmon_config_modification"][0]
    assert config.resource == config.attrs["Configuration"]
    defender = by_rule["win_defender_exploit_redsun_tiering_engine_detected_as_eicar"][0]
    assert (defender.outcome, defender.actor, defender.resource) == (
        "failure", "xodih", defender.attrs["Path"])  # 1119: remediation failed
    wmi = by_rule["win_wmi_activity_nteventlogfile_cleareventlog"][0]
    assert wmi.attrs["ClientProcessId"] == "25920" and wmi.outcome == "failure"  # UserData leaves, as text


FIELDS = ("ts", "category", "action", "outcome", "host", "app", "pid", "actor", "target", "role", "resource",
          "src_ip", "session", "original_action", "message", "attrs")


@pytest.mark.parametrize("path", regression_files(), ids=lambda p: p.parent.name)
def test_regression_as_evtx_dump_json_and_event_xml_gives_the_same_events(path, tmp_path):
    from_evtx = events(path)
    records = list(evtx.PyEvtxParser(str(path)).records_json())
    dump = tmp_path / "dump.json"  # what evtx_dump -o json writes (the same reader, indented)
    dump.write_text("".join(f"Record {r['event_record_id']}\n{json.dumps(json.loads(r['data']), indent=2)}\n"
                            for r in records))
    assert choose_parser(read_head(dump), registry()).parser.name == NAME
    from_json = events(dump)
    assert [e.origin for e in from_json] == [e.origin for e in from_evtx]
    assert [[getattr(e, f) for f in FIELDS] for e in from_json] == [[getattr(e, f) for f in FIELDS] for e in from_evtx]
    xml = tmp_path / "records.xml"  # XML reads CR LF inside text as LF (XML 1.0, 2.11)
    xml.write_text("\n".join(r["data"] for r in evtx.PyEvtxParser(str(path)).records()))
    from_xml = events(xml)
    assert [[lf(getattr(e, f)) for f in FIELDS] for e in from_xml] == [
        [lf(getattr(e, f)) for f in FIELDS] for e in from_evtx]


@pytest.mark.parametrize("path", regression_files()[:6], ids=lambda p: p.parent.name)
def test_sigmahq_json_renderings_are_read_too(path):
    from_evtx = by_record_id(events(path))
    dump = path.with_suffix(".json")
    assert choose_parser(read_head(dump), registry()).parser.name == NAME
    from_json = events(dump)
    assert from_json and all(e.line and e.raw.startswith("{") and e.raw.endswith("}") for e in from_json)
    for ev in from_json:
        want = from_evtx[ev.attrs["EventRecordID"]]
        assert (ev.ts, ev.category, ev.action, ev.actor, ev.resource) == (
            want.ts, want.category, want.action, want.actor, want.resource)


def lf(value):
    if isinstance(value, dict):
        return {k: lf(v) for k, v in value.items()}
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


def winlogbeat(event: dict) -> dict:
    """The record as Winlogbeat 8 writes it (event_data or user_data values as text, unnamed
    <Data> as param1, param2 ...); the rendered opcode/task/level/keywords names are left out."""
    system = event["System"]
    eid = system["EventID"]
    eid = eid["#text"] if isinstance(eid, dict) else eid
    winlog = {"channel": system["Channel"], "event_id": str(eid),
              "provider_name": system["Provider"]["#attributes"]["Name"],
              "computer_name": system["Computer"], "record_id": str(system["EventRecordID"]),
              "process": {"pid": dig(system, ("Execution", "#attributes", "ProcessID")),
                          "thread": {"id": dig(system, ("Execution", "#attributes", "ThreadID"))}}}
    if "Version" in system:
        winlog["version"] = system["Version"]
    if dig(system, ("Security", "#attributes", "UserID")):
        winlog["user"] = {"identifier": system["Security"]["#attributes"]["UserID"]}
    if isinstance(event.get("EventData"), dict):
        winlog["event_data"] = data_fields(event)
    else:
        wrapper = next(iter(event["UserData"]))
        winlog["user_data"] = {"xml_name": wrapper, **data_fields(event)}
    return {"@timestamp": system["TimeCreated"]["#attributes"]["SystemTime"], "winlog": winlog}


def test_the_same_records_as_winlogbeat_json_keep_the_same_attrs_but_the_rendered_system_names(tmp_path):
    docs = [json.loads(r["data"]) for p in regression_files() for r in evtx.PyEvtxParser(str(p)).records_json()]
    path = tmp_path / "winlogbeat.ndjson"
    path.write_text("".join(json.dumps(winlogbeat(d["Event"])) + "\n" for d in docs))
    from_beat = events(path)
    from_evtx = {rid: e for p in regression_files() for rid, e in by_record_id(events(p)).items()}
    assert len(from_beat) == len(docs) >= 20
    for ev in from_beat:
        want = from_evtx[ev.attrs["EventRecordID"]]
        assert (ev.category, ev.action, ev.actor, ev.resource) == (want.category, want.action, want.actor,
                                                                   want.resource)
        rendered_by_winlogbeat = {"Level", "Task", "Opcode", "Keywords"}  # names there ("Info"), not numbers
        assert ev.attrs == {k: v for k, v in want.attrs.items() if k not in rendered_by_winlogbeat}


# --- the other channels' sample ---------------------------------------------------------------

@pytest.fixture(scope="module")
def other():
    return {(e.original_action, e.line): e for e in events(OTHER)}


def test_other_channels_sample_meanings(other):
    got = {(eid, e.category, e.action, e.outcome, e.actor, e.resource) for (eid, _), e in other.items()}
    temp = "C:\\Users\\alice\\AppData\\Local\\Temp\\"
    certutil = "C:\\Windows\\System32\\certutil.exe"
    assert got == {
        ("400", "system", "script_run", "success", None,
         "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\Users\\alice\\Downloads\\get.ps1"),
        ("4104", "system", "script_run", "unknown", None, "C:\\Users\\alice\\Downloads\\get.ps1"),
        ("4688", "system", "process_start", "success", "alice", certutil),
        ("22", "system", "dns_query", "success", "alice", "files.example.net"),
        ("3", "system", "network_connect", "success", "alice", "203.0.113.80"),
        ("5", "system", "process_end", "success", "alice", certutil),
        ("4689", "system", "process_end", "success", "alice", certutil),
        ("1116", "system", "malware_detected", "unknown", "alice", f"file:_{temp}mm.exe"),
        ("1117", "system", "malware_detected", "success", "alice", f"file:_{temp}mm.exe"),
        ("7045", "system", "service_installed", "success", None, "RTCore64"),
        ("6", "system", "module_load", "success", None, f"{temp}RTCore64.sys"),
        ("7036", "system", "service_start", "success", None, "RTCore64"),
        ("25", "system", "process_access", "success", "alice", "C:\\Windows\\System32\\svchost.exe"),
        ("8", "system", "process_access", "success", "alice", "C:\\Windows\\explorer.exe"),
        ("23", "system", "file_delete", "success", "alice", f"{temp}stage2.dll"),
        ("106", "system", "task_created", "success", "alice", "\\Updater"),
        ("200", "system", "task_run", "success", None, "\\Updater"),
        ("201", "system", "task_run", "failure", None, "\\Updater"),  # ResultCode 2147942402
        ("20", "system", "wmi_subscription", "success", "alice", '"Updater"'),
        ("5007", "policy_change", "policy_changed", "success", None,
         "HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Exclusions\\Paths\\C:\\Users\\alice\\AppData\\Local\\Temp = 0x0"),
        ("7040", "system", "service_modified", "success", None, "Microsoft Defender Antivirus Service"),
        ("5001", "policy_change", "audit_config_changed", "success", None, None),
        ("7036", "system", "service_stop", "success", None, "Microsoft Defender Antivirus Service"),
        ("2004", "policy_change", "policy_changed", "success", None, "Updater"),
        ("4", "policy_change", "audit_config_changed", "success", None, "Stopped"),
        ("141", "system", "task_deleted", "success", "alice", "\\Updater"),
        ("4699", "system", "task_deleted", "success", "alice", "\\Updater"),
        ("104", "policy_change", "log_cleared", "success", "alice", "Microsoft-Windows-Sysmon/Operational"),
    }
    assert all(validate_event(e) == [] for e in other.values())


def test_other_channels_sample_fields_and_system_values(other):
    first = {eid: e for (eid, _), e in sorted(other.items(), key=lambda kv: kv[0][1], reverse=True)}
    net = first["3"]
    assert (net.src_ip, net.attrs["DestinationPort"], net.attrs["SourcePortName"]) == ("10.20.7.41", "443", "-")
    started = first["4688"]  # the new process's account is "-": kept as written, no column takes it
    assert (started.attrs["TargetUserName"], started.target) == ("-", None)
    assert started.attrs["ParentProcessName"].endswith("powershell.exe") and started.attrs["CommandLine"]
    service = first["7045"]
    assert (service.attrs["ImagePath"], service.attrs["AccountName"]) == (
        "C:\\Users\\alice\\AppData\\Local\\Temp\\RTCore64.sys", "")  # an empty element is ""
    assert (service.attrs["ExecutionProcessID"], service.attrs["ExecutionThreadID"], service.pid) == (788, 8004, 788)
    assert service.attrs["SecurityUserID"] == "S-1-5-21-3623811015-3361044348-30300820-1107"
    assert (service.attrs["Level"], service.attrs["Task"], service.attrs["Opcode"], service.attrs["Version"],
            service.attrs["Keywords"], service.attrs["Computer"]) == (4, 0, 0, 0, "0x8080000000000000",
                                                                     "WS07.corp.example.com")
    state = first["4"]  # Sysmon's own Version field keeps its name; the System one moves aside
    assert (state.attrs["Version"], state.attrs["System.Version"]) == ("15.14", 3)
    cleared = first["104"]  # the System channel owns Channel; the cleared log is data.Channel
    assert (cleared.attrs["Channel"], cleared.attrs["data.Channel"]) == ("System", cleared.resource)
    classic = first["400"]  # no <Execution>, <Opcode>, <Version> in classic events: none invented
    assert not {"ExecutionProcessID", "Opcode", "Version", "SecurityUserID"} & set(classic.attrs)
    assert classic.attrs["Data"].startswith("Available\nNone\n\tNewEngineState=Available")
    malware = first["1116"]
    assert (malware.attrs["Threat Name"], malware.attrs["Unused"]) == ("HackTool:Win32/Mimikatz!pz", "")
    assert first["2004"].attrs["ApplicationPath"].endswith("loader.exe")


# --- evtx_dump JSON -----------------------------------------------------------------------------

def _record_json(eid: int, rid: int, data: dict, indent: int | None = 2) -> str:
    return json.dumps({"Event": {"#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
                                 "System": {"Provider": {"#attributes": {"Name": SYSMON}}, "EventID": eid,
                                            "Level": 4,
                                            "TimeCreated": {"#attributes": {"SystemTime": "2024-05-06T09:14:02.118Z"}},
                                            "EventRecordID": rid, "Channel": "Microsoft-Windows-Sysmon/Operational",
                                            "Computer": "ws07"},
                                 "EventData": data}}, indent=indent)


def test_evtx_dump_json_with_record_headers_lines_and_json_lines(tmp_path):
    image = {"Image": "C:\\Windows\\System32\\cmd.exe", "User": "CORP\\bob", "RuleName": "-"}
    text = f"Record 7\n{_record_json(1, 70, image)}\nRecord 8\n{_record_json(5, 71, image)}\n"
    path = tmp_path / "dump.json"
    path.write_bytes(text.replace("\n", "\r\n").encode())
    assert parser().detect(read_head(path)) >= 0.95
    first, second = events(path)
    assert (first.origin, first.line, first.action, first.actor) == ("record 7", 2, "process_start", "bob")
    assert (second.origin, second.line, second.action) == (
        "record 8", text[:text.index("Record 8")].count("\n") + 2, "process_end")
    assert first.raw == _record_json(1, 70, image).replace("\n", "\r\n")  # the document's bytes verbatim
    assert first.attrs["RuleName"] == "-"
    lines = tmp_path / "dump.jsonl"  # evtx_dump -o jsonl
    lines.write_text(_record_json(1, 70, image, None) + "\n")
    assert parser().detect(head_from_bytes("x.jsonl", lines.read_bytes())) >= 0.95
    (one,) = events(lines)
    assert (one.action, one.attrs) == (first.action, first.attrs) and one.origin is None


def test_evtx_dump_json_cut_short_is_kept_and_a_live_file_waits_for_the_rest(tmp_path):
    done = _record_json(1, 70, {"Image": "a.exe"}) + "\n"
    partial = _record_json(1, 71, {"Image": "b.exe"})[:60] + "\n"
    path = tmp_path / "dump.json"
    path.write_text(done + partial)
    evs = events(path)
    assert [e.action for e in evs] == ["process_start", "unparsed"] and "cut short" in evs[1].attrs["reason"]
    source = open_source(path, complete_lines_only=True)
    try:
        live = list(parser().parse(source))
    finally:
        source.stream.close()
    assert [e.action for e in live] == ["process_start"]
    assert source.consumed == len(done.encode()) and source.next_line == done.count("\n") + 1


def test_hayabusa_corpus_sysmon_and_powershell_records_have_their_meanings():
    root = CORPUS / "yamato-hayabusa-sample-evtx"
    if not root.is_dir():
        pytest.skip("corpus not present")
    seen: dict[tuple[str, str], set] = {}
    for path in sorted(root.rglob("*.evtx")):
        for ev in events(path):
            key = (ev.attrs["Channel"], ev.original_action)
            seen.setdefault(key, set()).add((ev.category, ev.action))
    sysmon, ps = "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-PowerShell/Operational"
    assert seen[(sysmon, "1")] == {("system", "process_start")}
    assert seen[(sysmon, "11")] == {("system", "file_write")}
    assert seen[(sysmon, "13")] == {("system", "registry_change")}
    assert seen[(sysmon, "17")] == seen[(sysmon, "18")] == {("system", "pipe_created")}
    assert seen[(sysmon, "22")] == {("system", "dns_query")}
    assert seen[(ps, "4103")] == seen[(ps, "4104")] == seen[("Windows PowerShell", "800")] == {("system", "script_run")}
    assert seen[("Security", "4688")] == {("system", "process_start")}
    assert seen[("Security", "4697")] == {("system", "service_installed")}
    assert seen[("Security", "4698")] == {("system", "task_created")}
    assert seen[("System", "7009")] == {("system", "service_start")}
