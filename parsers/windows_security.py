"""Windows event logs of every channel: `.evtx` files, exported Event XML, evtx_dump, Winlogbeat and NXLog JSON.

The Security log and the others (Sysmon, PowerShell, System, Task Scheduler, Defender, Firewall,
WMI, ...) in four shapes of the same records, each detected on its own:

* `.evtx` binary files (header magic `ElfFile\\0`), read with the `evtx` package (a maintained
  Rust EVTX reader; no binary parsing here). `raw` = the record as the reader renders it in JSON,
  `origin` = `record <n>`, the record's number in the file's own record header (a filtered
  "Save as" export renumbers records 1, 2, 3 ...; the event's EventRecordID is attrs.EventRecordID),
  `line` None. A record the reader cannot decode becomes an
  unparsed event whose `raw` is the reader's error message (the record's bytes cannot be
  rendered). An `.evtx` file is read whole: ingest resumes files by byte offset, which means
  nothing inside an EVTX file, so when asked to start past byte 0 (the same file seen again
  with its first 4 KB unchanged) the parser yields nothing; an exported `.evtx` does not grow.
* Event XML: `wevtutil qe Security /f:xml` (a sequence of `<Event xmlns=...>` elements without a
  root, often one a line), `wevtutil ... /e:Events`, Event Viewer "Save as XML" and
  `Get-WinEvent | % ToXml` (`<Events><Event>...`, also UTF-16 with a byte-order mark). Each
  `<Event>...</Event>` is cut out of the byte stream and parsed on its own with the stdlib
  ElementTree, so a broken record becomes one unparsed event and the others still parse;
  `raw` = the record's text verbatim, `line` = its first line. Text outside any record (other
  than the XML declaration and an `<Events>` wrapper) is kept as unparsed. XML reads a CR LF
  inside a value as LF; a line break and indentation alone inside an element are a
  pretty-printer's layout of an empty element (as the evtx package writes it) and read as "".
* The evtx reader's JSON, as `evtx_dump` writes it: one `{"Event": {"System": ..., "EventData":
  ...}}` a line (`-o jsonl`), or indented documents from a `{` line to a `}` line, each after
  a `Record <n>` line (`-o json`; `origin` = `record <n>`). `raw` = the document's lines
  verbatim, `line` = its first line. A document cut short by the end of the file is unparsed.
* JSON lines from Winlogbeat (`winlog.event_id`, `winlog.channel`, `winlog.event_data` /
  `winlog.user_data`, `@timestamp`; ECS `user.*`/`source.ip`/`group.name` fill in when
  `event_data` is absent) and NXLog `im_msvistalog` + `to_json()` (flat `EventID`, `SourceName`,
  `Channel`, `Hostname`, `EventTime` (local time of the agent: read in the configured time zone),
  `EventType`, and the event's data fields as top-level keys). `raw` = the line.

The record's own fields, for rules (Sigma's Windows rules name them) -- attrs hold:
- every EventData `<Data Name=...>` and every UserData leaf (nested ones flattened) under its own
  name, with its text exactly as written: "-" stays "-", an empty element is "" (the evtx
  reader's typed values, numbers and booleans, as their XML text; an empty element with
  attributes only, `<Error Code="15007"/>`, as a dict of them). Unnamed `<Data>` elements are
  param1, param2 ... (as Winlogbeat names them), and `Data` holds the texts of param1, param2 ...
  joined by newlines whenever they are all the event data says (besides `Binary`): the event's
  data as a whole, which Sigma rules for classic events (PowerShell 400/800, MSSQL, ESENT) match
  with `Data|contains`. (Winlogbeat cannot tell unnamed from named param1 ..., so the Service
  Control Manager's named param1 ... get a `Data` too, from every shape alike.)
- the System values, under these names: `EventID` (number), `Channel`, `Provider` (the provider's
  Name), `EventRecordID` (number), `Computer`, `Level`, `Task`, `Opcode`, `Version` (numbers),
  `Keywords` (hex text, `0x8020000000000000`), `ExecutionProcessID` and `ExecutionThreadID`
  (System/Execution, numbers), `SecurityUserID` (System/Security UserID, a SID). Only what the
  record has: classic events have no Opcode, Version or Execution. Winlogbeat writes Level,
  Task, Opcode and Keywords as rendered names ("Info", "Logon"), so from Winlogbeat those four are
  absent; NXLog gives no Level (its Keywords, a signed number, become the hex text).
- a name clash between a data field and a System value: the identity (EventID, Channel, Provider,
  EventRecordID) keeps its name and the data field moves to `data.<name>` (1108's UserData
  EventID; 104's Channel, the log that was cleared); any other System value yields to the data
  field and moves to `System.<name>` (Sysmon 4's Version is Sysmon's version).
- derived keys in snake_case: actor_domain/actor_sid, target_domain/target_sid,
  group_domain/group_sid, logon_type with logon_type_name, status/sub_status with a short
  meaning, workstation, process_name, authentication_package, logon_process, src_port,
  command_line, event_record_id, channel (when not Security); privileged_group = true for
  Administrators, Domain Admins, Enterprise Admins and Schema Admins (by name or well-known SID).
"-" is Windows' "no value" for the columns below (actor, src_ip, ... stay empty) and in the
derived keys; any other spelling, such as a group called "None", is a name.

Security log (the event-id table is `RULES`):
- Logon events (4624, 4625, 4634, 4647, 4776, 4768, 4769, 4771, 4778, 4779): `actor` = the
  account that logs on (TargetUserName; AccountName for 4778/4779), as `actor` is for sshd logins;
  the reporting account (SubjectUserName, usually the machine account) goes to attrs.subject_user.
- Everything else: `actor` = SubjectUserName, `target` = the account acted on (TargetUserName,
  OldTargetUserName for a rename, the member for group membership: the CN of MemberName when it
  is a distinguished name, else MemberSid), `role` = the group (TargetUserName of group events)
  or the privileges (4672 PrivilegeList, 4704/4705, 4717/4718), `resource` = the object: the new
  or exiting process (4688 NewProcessName, 4689 ProcessName), the service (4697), the scheduled
  task (4698-4702 TaskName), the registry key or object (4657, 4663 ObjectName), the program of a
  filtered connection (5156/5157 Application: which address is the source depends on Direction,
  so src_ip stays empty), the log cleared (104 Channel).
- `host` = Computer, `app` = the provider, `pid` = the logging process (System/Execution
  ProcessID), `session` = TargetLogonId for logon events, SubjectLogonId otherwise, `src_ip` =
  IpAddress (`-` dropped, loopback kept, `::ffff:a.b.c.d` written as `a.b.c.d`),
  `original_action` = the event id as text.
- `outcome` from the Keywords audit bits (Audit Success / Audit Failure; Winlogbeat `keywords`,
  NXLog `EventType`); without them, the table's default (4625/4771 failure; 4768/4769/4776 by
  `Status` 0x0) or unknown.
- Event ids not in the table -> system/log, actor = SubjectUserName when there is one.

Other channels (`CHANNEL_RULES`, by provider and event id; the table below): Sysmon's events each
get their own action (process_start, network_connect, file_write, registry_change, module_load,
process_access, pipe_created, dns_query, wmi_subscription ...), with actor = User (DOMAIN\\name,
split; SourceUser for 8 and 10), session = LogonId, src_ip = SourceIp, resource = the object
(Image, TargetFilename, TargetObject, DestinationIp, QueryName ...). Tampering with the audit
trail lands in policy_change: Sysmon stopped or reconfigured (4, 16: audit_config_changed),
Defender's real-time protection or scanning switched off (5001, 5010, 5012:
audit_config_changed) or its configuration changed (5007, 5004: policy_changed, resource = the
new value), a log cleared (System 104: log_cleared), firewall rules and settings changed
(policy_changed). Services: installed (7045 and Security 4697: service_installed), start type
changed (7040: service_modified), entered the running or stopped state (7036, by its English
param2: service_start / service_stop, else log), failed (7000-7034). Scheduled tasks: registered,
updated, disabled, deleted (106, 140, 142, 141; Security 4698-4702: task_created,
task_modified, task_deleted) and run (100, 110, 129, 200, 201; task_run, 201's outcome from
ResultCode). PowerShell: module logging 4103 (actor from ContextInfo's "User = " line), script
blocks 4104 (resource = Path), classic engine start 400 and pipeline 800 (resource =
HostApplication / CommandLine, actor = UserId, from the details in Data): script_run. Defender
detections and remediations (1006-1008, 1015, 1116-1119, 1121/1122): malware_detected, outcome
= the remediation's result, actor = Detection User, resource = Path. RDP 1149: authenticate.
Any other event of any channel -> system/log, its fields kept.
"""

from __future__ import annotations

import io
import ipaddress
import os
import re
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple
from xml.etree import ElementTree as ET

import orjson

from auditctl.ingest.jsonrecords import as_dict, iso_time
from auditctl.ingest.rawbytes import decode_record, loads_json
from auditctl.plugins import Parser
from auditctl.schema import Event, unparsed_event
from auditctl.sources import GZIP_MAGIC, Head, Source, SourceError

NAME = "windows_security"
SECURITY_PROVIDER = "microsoft-windows-security-auditing"
EVENTLOG_PROVIDER = "microsoft-windows-eventlog"

# --- the event-id table ---------------------------------------------------------------------
# How the actor / target / role are read:
LOGON = "logon"          # actor = TargetUserName (who logged on), session = TargetLogonId
SESSION = "session"      # 4778/4779: actor = AccountName, src_ip = ClientAddress
CRED = "cred"            # 4776/4768/4769/4771: actor = TargetUserName (user@REALM split)
EXPLICIT = "explicit"    # 4648: actor = Subject, target = TargetUserName, resource = TargetServerName
PRIV = "priv"            # 4672: actor = Subject, role = PrivilegeList
RIGHT = "right"          # 4704/4705/4717/4718: actor = Subject, target = TargetSid, role = rights
ACCOUNT = "account"      # user management: actor = Subject, target = TargetUserName
RENAME = "rename"        # 4781: target = OldTargetUserName, new name in attrs
LOCKOUT = "lockout"      # 4740: TargetDomainName is the caller computer
GROUP = "group"          # actor = Subject, role = TargetUserName (the group)
MEMBER = "member"        # GROUP + target = the member
OBJECT = "object"        # actor = Subject, resource = ObjectName / ShareName
SUBJECT = "subject"      # actor = Subject only
PROCESS = "process"      # 4688/4689: actor = Subject, resource = NewProcessName / ProcessName
SERVICE = "service"      # 4697: actor = Subject, resource = ServiceName
TASK = "task"            # 4698-4702: actor = Subject, resource = TaskName
WFP = "wfp"              # 5156/5157: resource = Application (which side is the source depends on Direction)
CLEARED = "cleared"      # 1102/104: actor = Subject, resource = the log cleared (104's Channel)

_AU, _UM, _PC, _POL, _PA, _DA, _SYS = (
    "authentication", "user_management", "permission_change", "policy_change",
    "privileged_action", "data_access", "system")

# id -> (category, action, default outcome, kind, short description). Default outcome
# "status": success when the Status field is 0x0, failure otherwise.
_Rule = tuple[str, str, str, str, str]
RULES: dict[int, _Rule] = {
    # logons
    4624: (_AU, "login", "success", LOGON, "An account was successfully logged on"),
    4625: (_AU, "login", "failure", LOGON, "An account failed to log on"),
    4634: (_AU, "logout", "success", LOGON, "An account was logged off"),
    4647: (_AU, "logout", "success", LOGON, "User initiated logoff"),
    4648: (_AU, "authenticate", "success", EXPLICIT, "A logon was attempted using explicit credentials"),
    4778: (_AU, "session_start", "success", SESSION, "A session was reconnected to a Window Station"),
    4779: (_AU, "session_end", "success", SESSION, "A session was disconnected from a Window Station"),
    # credential validation on a domain controller
    4768: (_AU, "authenticate", "status", CRED, "A Kerberos authentication ticket (TGT) was requested"),
    4769: (_AU, "authenticate", "status", CRED, "A Kerberos service ticket was requested"),
    4771: (_AU, "authenticate", "failure", CRED, "Kerberos pre-authentication failed"),
    4776: (_AU, "authenticate", "status", CRED, "The computer attempted to validate the credentials for an account"),
    # privileges
    4672: (_PA, "privilege_escalation", "success", PRIV, "Special privileges assigned to new logon"),
    4704: (_PC, "role_granted", "success", RIGHT, "A user right was assigned"),
    4705: (_PC, "role_revoked", "success", RIGHT, "A user right was removed"),
    4717: (_PC, "role_granted", "success", RIGHT, "System security access was granted to an account"),
    4718: (_PC, "role_revoked", "success", RIGHT, "System security access was removed from an account"),
    # user accounts
    4720: (_UM, "user_created", "success", ACCOUNT, "A user account was created"),
    4722: (_UM, "user_unlocked", "success", ACCOUNT, "A user account was enabled"),
    4723: (_UM, "password_changed", "success", ACCOUNT, "An attempt was made to change an account's password"),
    4724: (_UM, "password_changed", "success", ACCOUNT, "An attempt was made to reset an account's password"),
    4725: (_UM, "user_locked", "success", ACCOUNT, "A user account was disabled"),
    4726: (_UM, "user_deleted", "success", ACCOUNT, "A user account was deleted"),
    4738: (_UM, "user_modified", "success", ACCOUNT, "A user account was changed"),
    4740: (_UM, "user_locked", "success", LOCKOUT, "A user account was locked out"),
    4767: (_UM, "user_unlocked", "success", ACCOUNT, "A user account was unlocked"),
    4781: (_UM, "user_modified", "success", RENAME, "The name of an account was changed"),
    4741: (_UM, "user_created", "success", ACCOUNT, "A computer account was created"),
    4742: (_UM, "user_modified", "success", ACCOUNT, "A computer account was changed"),
    4743: (_UM, "user_deleted", "success", ACCOUNT, "A computer account was deleted"),
    # security groups
    4727: (_UM, "group_created", "success", GROUP, "A security-enabled global group was created"),
    4731: (_UM, "group_created", "success", GROUP, "A security-enabled local group was created"),
    4754: (_UM, "group_created", "success", GROUP, "A security-enabled universal group was created"),
    4730: (_UM, "group_deleted", "success", GROUP, "A security-enabled global group was deleted"),
    4734: (_UM, "group_deleted", "success", GROUP, "A security-enabled local group was deleted"),
    4758: (_UM, "group_deleted", "success", GROUP, "A security-enabled universal group was deleted"),
    4735: (_UM, "group_modified", "success", GROUP, "A security-enabled local group was changed"),
    4737: (_UM, "group_modified", "success", GROUP, "A security-enabled global group was changed"),
    4755: (_UM, "group_modified", "success", GROUP, "A security-enabled universal group was changed"),
    4728: (_PC, "group_member_added", "success", MEMBER, "A member was added to a security-enabled global group"),
    4732: (_PC, "group_member_added", "success", MEMBER, "A member was added to a security-enabled local group"),
    4756: (_PC, "group_member_added", "success", MEMBER, "A member was added to a security-enabled universal group"),
    4729: (_PC, "group_member_removed", "success", MEMBER, "A member was removed from a security-enabled global group"),
    4733: (_PC, "group_member_removed", "success", MEMBER, "A member was removed from a security-enabled local group"),
    4757: (_PC, "group_member_removed", "success", MEMBER, "A member was removed from a security-enabled universal group"),
    # policy and the audit trail itself
    4719: (_POL, "audit_config_changed", "success", SUBJECT, "System audit policy was changed"),
    4906: (_POL, "audit_config_changed", "success", SUBJECT, "The CrashOnAuditFail value has changed"),
    4907: (_POL, "audit_config_changed", "success", OBJECT, "Auditing settings on object were changed"),
    4713: (_POL, "policy_changed", "success", SUBJECT, "Kerberos policy was changed"),
    4739: (_POL, "policy_changed", "success", SUBJECT, "Domain Policy was changed"),
    # object access
    4663: (_DA, "access", "success", OBJECT, "An attempt was made to access an object"),
    5140: (_DA, "access", "success", OBJECT, "A network share object was accessed"),
    5145: (_DA, "access", "success", OBJECT, "A network share object was checked for access"),
    # processes, services, scheduled tasks, registry, connections
    4688: (_SYS, "process_start", "success", PROCESS, "A new process has been created"),
    4689: (_SYS, "process_end", "success", PROCESS, "A process has exited"),
    4697: (_SYS, "service_installed", "success", SERVICE, "A service was installed in the system"),
    4698: (_SYS, "task_created", "success", TASK, "A scheduled task was created"),
    4699: (_SYS, "task_deleted", "success", TASK, "A scheduled task was deleted"),
    4700: (_SYS, "task_modified", "success", TASK, "A scheduled task was enabled"),
    4701: (_SYS, "task_modified", "success", TASK, "A scheduled task was disabled"),
    4702: (_SYS, "task_modified", "success", TASK, "A scheduled task was updated"),
    4657: (_SYS, "registry_change", "success", OBJECT, "A registry value was modified"),
    5156: (_SYS, "network_connect", "success", WFP, "The Windows Filtering Platform has permitted a connection"),
    5157: (_SYS, "network_connect", "failure", WFP, "The Windows Filtering Platform has blocked a connection"),
    # the machine
    4608: (_SYS, "service_start", "success", SUBJECT, "Windows is starting up"),
    4609: (_SYS, "service_stop", "success", SUBJECT, "Windows is shutting down"),
}
# Events of the Eventlog service itself (in the Security channel, and 104 in System).
EVENTLOG_RULES: dict[int, _Rule] = {
    1100: (_POL, "audit_config_changed", "success", SUBJECT, "The event logging service has shut down"),
    1102: (_POL, "log_cleared", "success", CLEARED, "The audit log was cleared"),
    104: (_POL, "log_cleared", "success", CLEARED, "An event log was cleared"),
}
# Short descriptions of some unmapped ids, for the message only.
OTHER_TITLES: dict[int, str] = {
    4611: "A trusted logon process has been registered with the Local Security Authority",
    4616: "The system time was changed",
    4627: "Group membership information",
    4656: "A handle to an object was requested",
    4660: "An object was deleted",
    4673: "A privileged service was called",
    4798: "A user's local group membership was enumerated",
    4799: "A security-enabled local group membership was enumerated",
    4902: "The Per-user audit policy table was created",
    5024: "The Windows Firewall Service has started successfully",
    5033: "The Windows Firewall Driver has started successfully",
    5152: "The Windows Filtering Platform has blocked a packet",
    1101: "Audit events have been dropped by the transport",
    1104: "The security log is now full",
    1105: "Event log automatic backup",
    1108: "The event logging service encountered an error",
}
_LOGON_KINDS = frozenset({LOGON, SESSION, CRED})

# Other channels, by provider (lower case) and event id. Every field is kept in attrs whatever the
# row says: a row names the event, gives its meaning, and says where the resource and the actor
# are, each the first of its fields that has a value. A field written "Field:Key" is the value on
# the `Key = value` (or `Key=value`) line inside Field, as PowerShell writes its context ("Data" is
# the classic events' unnamed data, see _unnamed_data); an actor written DOMAIN\name is split.
# Outcome "result": success when ResultCode is 0, else failure. Action "state" (7036): the
# service's new state (param2) picks service_start or service_stop.
class ChannelRule(NamedTuple):
    category: str
    action: str
    outcome: str
    title: str
    resource: tuple[str, ...] = ()
    actor: tuple[str, ...] = ()


SYSMON = "microsoft-windows-sysmon"
SCM = "service control manager"
EVENTLOG_SERVICE = "eventlog"
RDP = "microsoft-windows-terminalservices-remoteconnectionmanager"
POWERSHELL = "microsoft-windows-powershell"
POWERSHELL_CORE = "powershellcore"
POWERSHELL_CLASSIC = "powershell"
TASK_SCHEDULER = "microsoft-windows-taskscheduler"
DEFENDER = "microsoft-windows-windows defender"
FIREWALL = "microsoft-windows-windows firewall with advanced security"
WMI = "microsoft-windows-wmi-activity"

_R = ChannelRule
_USER, _IMAGE, _FILE, _REG, _TASK = ("User",), ("Image",), ("TargetFilename",), ("TargetObject",), ("TaskName",)
_SVC, _RULE = ("param1",), ("RuleName",)
_THREAT, _DETECTED_BY = ("Path",), ("Detection User", "User")
_SCRIPT = (_SYS, "script_run")
_PS_MODULE = _R(*_SCRIPT, "success", "PowerShell pipeline executed (module logging)", ("ContextInfo:Command Name",),
                ("ContextInfo:User",))
_PS_BLOCK = _R(*_SCRIPT, "unknown", "PowerShell script block", ("Path",))
_FW = (_POL, "policy_changed", "success")
CHANNEL_RULES: dict[tuple[str, int], ChannelRule] = {
    # Sysmon (Microsoft-Windows-Sysmon/Operational)
    (SYSMON, 1): _R(_SYS, "process_start", "success", "Process created", _IMAGE, _USER),
    (SYSMON, 2): _R(_SYS, "file_write", "success", "A process changed a file creation time", _FILE, _USER),
    (SYSMON, 3): _R(_SYS, "network_connect", "success", "Network connection", ("DestinationIp",), _USER),
    (SYSMON, 4): _R(_POL, "audit_config_changed", "success", "Sysmon service state changed", ("State",)),
    (SYSMON, 5): _R(_SYS, "process_end", "success", "Process terminated", _IMAGE, _USER),
    (SYSMON, 6): _R(_SYS, "module_load", "success", "Driver loaded", ("ImageLoaded",)),
    (SYSMON, 7): _R(_SYS, "module_load", "success", "Image loaded", ("ImageLoaded",), _USER),
    (SYSMON, 8): _R(_SYS, "process_access", "success", "CreateRemoteThread", ("TargetImage",), ("SourceUser",)),
    (SYSMON, 9): _R(_DA, "access", "success", "RawAccessRead", ("Device",), _USER),
    (SYSMON, 10): _R(_SYS, "process_access", "success", "Process accessed", ("TargetImage",), ("SourceUser",)),
    (SYSMON, 11): _R(_SYS, "file_write", "success", "File created", _FILE, _USER),
    (SYSMON, 12): _R(_SYS, "registry_change", "success", "Registry key or value created or deleted", _REG, _USER),
    (SYSMON, 13): _R(_SYS, "registry_change", "success", "Registry value set", _REG, _USER),
    (SYSMON, 14): _R(_SYS, "registry_change", "success", "Registry key or value renamed", _REG, _USER),
    (SYSMON, 15): _R(_SYS, "file_write", "success", "File stream created", _FILE, _USER),
    (SYSMON, 16): _R(_POL, "audit_config_changed", "success", "Sysmon configuration changed", ("Configuration",)),
    (SYSMON, 17): _R(_SYS, "pipe_created", "success", "Pipe created", ("PipeName",), _USER),
    (SYSMON, 18): _R(_SYS, "pipe_created", "success", "Pipe connected", ("PipeName",), _USER),
    (SYSMON, 19): _R(_SYS, "wmi_subscription", "success", "WMI event filter registered", ("Name",), _USER),
    (SYSMON, 20): _R(_SYS, "wmi_subscription", "success", "WMI event consumer registered", ("Name",), _USER),
    (SYSMON, 21): _R(_SYS, "wmi_subscription", "success", "WMI consumer bound to a filter", ("Consumer",), _USER),
    (SYSMON, 22): _R(_SYS, "dns_query", "success", "DNS query", ("QueryName",), _USER),
    (SYSMON, 23): _R(_SYS, "file_delete", "success", "File deleted (archived)", _FILE, _USER),
    (SYSMON, 24): _R(_SYS, "log", "unknown", "Clipboard changed", _IMAGE, _USER),
    (SYSMON, 25): _R(_SYS, "process_access", "success", "Process image tampered with", _IMAGE, _USER),
    (SYSMON, 26): _R(_SYS, "file_delete", "success", "File deleted", _FILE, _USER),
    (SYSMON, 27): _R(_SYS, "file_write", "failure", "Executable file creation blocked", _FILE, _USER),
    (SYSMON, 28): _R(_SYS, "file_delete", "failure", "File shredding blocked", _FILE, _USER),
    (SYSMON, 29): _R(_SYS, "file_write", "success", "Executable file detected", _FILE, _USER),
    (SYSMON, 255): _R(_SYS, "log", "unknown", "Sysmon error", ("ID",)),
    # Service Control Manager and the Event log service (System)
    (SCM, 7000): _R(_SYS, "service_start", "failure", "A service failed to start", _SVC),
    (SCM, 7001): _R(_SYS, "service_start", "failure", "A service depends on a service that failed to start", _SVC),
    (SCM, 7009): _R(_SYS, "service_start", "failure",
                    "A timeout was reached while waiting for a service to connect", ("param2",)),
    (SCM, 7022): _R(_SYS, "service_start", "failure", "A service hung on starting", _SVC),
    (SCM, 7023): _R(_SYS, "service_stop", "failure", "A service terminated with an error", _SVC),
    (SCM, 7024): _R(_SYS, "service_stop", "failure", "A service terminated with a service-specific error", _SVC),
    (SCM, 7031): _R(_SYS, "service_stop", "failure", "A service terminated unexpectedly (recovery follows)", _SVC),
    (SCM, 7034): _R(_SYS, "service_stop", "failure", "A service terminated unexpectedly", _SVC),
    (SCM, 7035): _R(_SYS, "log", "unknown", "A control was sent to a service", _SVC),
    (SCM, 7036): _R(_SYS, "state", "success", "A service changed state", _SVC),
    (SCM, 7040): _R(_SYS, "service_modified", "success", "The start type of a service was changed", _SVC),
    (SCM, 7045): _R(_SYS, "service_installed", "success", "A service was installed in the system", ("ServiceName",)),
    (EVENTLOG_SERVICE, 6005): _R(_SYS, "service_start", "success", "The Event log service was started"),
    (EVENTLOG_SERVICE, 6006): _R(_SYS, "service_stop", "success", "The Event log service was stopped"),
    # Remote Desktop (actor Param1, domain Param2, source address Param3)
    (RDP, 1149): _R(_AU, "authenticate", "success", "Remote Desktop Services: user authentication succeeded"),
    # PowerShell: Operational (and PowerShell 7's PowerShellCore/Operational), classic "Windows PowerShell"
    (POWERSHELL, 4103): _PS_MODULE,
    (POWERSHELL, 4104): _PS_BLOCK,
    (POWERSHELL, 4105): _R(_SYS, "log", "unknown", "PowerShell script block invocation started", ("ScriptBlockId",)),
    (POWERSHELL, 4106): _R(_SYS, "log", "unknown", "PowerShell script block invocation completed", ("ScriptBlockId",)),
    (POWERSHELL, 40961): _R(_SYS, "log", "unknown", "PowerShell console is starting up"),
    (POWERSHELL, 40962): _R(_SYS, "log", "unknown", "PowerShell console is ready for user input"),
    (POWERSHELL_CORE, 4103): _PS_MODULE,
    (POWERSHELL_CORE, 4104): _PS_BLOCK,
    (POWERSHELL_CLASSIC, 400): _R(*_SCRIPT, "success", "PowerShell engine started", ("Data:HostApplication",)),
    (POWERSHELL_CLASSIC, 403): _R(_SYS, "log", "unknown", "PowerShell engine stopped", ("Data:HostApplication",)),
    (POWERSHELL_CLASSIC, 600): _R(_SYS, "log", "unknown", "PowerShell provider started", ("Data:ProviderName",)),
    (POWERSHELL_CLASSIC, 800): _R(*_SCRIPT, "success", "PowerShell pipeline executed",
                                  ("Data:CommandLine", "Data:HostApplication"), ("Data:UserId",)),
    # Task Scheduler (Microsoft-Windows-TaskScheduler/Operational)
    (TASK_SCHEDULER, 106): _R(_SYS, "task_created", "success", "Scheduled task registered", _TASK, ("UserContext",)),
    (TASK_SCHEDULER, 140): _R(_SYS, "task_modified", "success", "Scheduled task updated", _TASK, ("UserName",)),
    (TASK_SCHEDULER, 141): _R(_SYS, "task_deleted", "success", "Scheduled task deleted", _TASK, ("UserName",)),
    (TASK_SCHEDULER, 142): _R(_SYS, "task_modified", "success", "Scheduled task disabled", _TASK, ("UserName",)),
    (TASK_SCHEDULER, 100): _R(_SYS, "task_run", "success", "Scheduled task started", _TASK, ("UserContext",)),
    (TASK_SCHEDULER, 110): _R(_SYS, "task_run", "success", "Scheduled task launched by a user", _TASK,
                              ("UserContext",)),
    (TASK_SCHEDULER, 129): _R(_SYS, "task_run", "success", "Scheduled task process created", _TASK),
    (TASK_SCHEDULER, 200): _R(_SYS, "task_run", "success", "Scheduled task action started", _TASK),
    (TASK_SCHEDULER, 201): _R(_SYS, "task_run", "result", "Scheduled task action completed", _TASK),
    (TASK_SCHEDULER, 102): _R(_SYS, "task_run", "success", "Scheduled task finished", _TASK, ("UserContext",)),
    # Microsoft Defender Antivirus (Microsoft-Windows-Windows Defender/Operational)
    (DEFENDER, 1006): _R(_SYS, "malware_detected", "unknown", "A scan found malware", _THREAT, _DETECTED_BY),
    (DEFENDER, 1007): _R(_SYS, "malware_detected", "success", "Action taken against malware", _THREAT, _DETECTED_BY),
    (DEFENDER, 1008): _R(_SYS, "malware_detected", "failure", "Action against malware failed", _THREAT,
                         _DETECTED_BY),
    (DEFENDER, 1009): _R(_SYS, "log", "unknown", "An item was restored from quarantine", _THREAT, _DETECTED_BY),
    (DEFENDER, 1013): _R(_SYS, "log", "unknown", "The malware detection history was deleted", (), _DETECTED_BY),
    (DEFENDER, 1015): _R(_SYS, "malware_detected", "unknown", "Suspicious behavior detected", _THREAT, _DETECTED_BY),
    (DEFENDER, 1116): _R(_SYS, "malware_detected", "unknown", "Malware or unwanted software detected", _THREAT,
                         _DETECTED_BY),
    (DEFENDER, 1117): _R(_SYS, "malware_detected", "success", "Action taken against malware or unwanted software",
                         _THREAT, _DETECTED_BY),
    (DEFENDER, 1118): _R(_SYS, "malware_detected", "failure", "Action against malware failed (non-critical)",
                         _THREAT, _DETECTED_BY),
    (DEFENDER, 1119): _R(_SYS, "malware_detected", "failure", "Action against malware failed (critical)", _THREAT,
                         _DETECTED_BY),
    (DEFENDER, 1121): _R(_SYS, "malware_detected", "success", "Attack surface reduction rule blocked an operation",
                         _THREAT, _DETECTED_BY),
    (DEFENDER, 1122): _R(_SYS, "malware_detected", "unknown", "Attack surface reduction rule audited an operation",
                         _THREAT, _DETECTED_BY),
    (DEFENDER, 3002): _R(_SYS, "log", "failure", "Real-time protection encountered an error and failed",
                         ("Feature Name",)),
    (DEFENDER, 5000): _R(_POL, "audit_config_changed", "success", "Real-time protection was enabled"),
    (DEFENDER, 5001): _R(_POL, "audit_config_changed", "success", "Real-time protection was disabled"),
    (DEFENDER, 5004): _R(_POL, "policy_changed", "success", "Real-time protection configuration changed",
                         ("Feature Name",)),
    (DEFENDER, 5007): _R(_POL, "policy_changed", "success", "Antimalware configuration changed",
                         ("New Value", "Old Value")),
    (DEFENDER, 5010): _R(_POL, "audit_config_changed", "success",
                         "Scanning for malware and unwanted software was disabled"),
    (DEFENDER, 5012): _R(_POL, "audit_config_changed", "success", "Scanning for viruses was disabled"),
    (DEFENDER, 5013): _R(_POL, "policy_changed", "failure", "Tamper protection blocked a change", ("Value",)),
    (DEFENDER, 5101): _R(_SYS, "log", "unknown", "The antimalware platform is expired"),
    # Windows Defender Firewall (…/Firewall); Windows 11 logs the same changes under new ids
    **{(FIREWALL, eid): _R(*_FW, "A rule was added to the firewall exception list", _RULE)
       for eid in (2004, 2071, 2097)},
    **{(FIREWALL, eid): _R(*_FW, "A rule was changed in the firewall exception list", _RULE) for eid in (2005, 2073)},
    **{(FIREWALL, eid): _R(*_FW, "A rule was deleted from the firewall exception list", _RULE) for eid in (2006, 2052)},
    **{(FIREWALL, eid): _R(*_FW, "A firewall setting was changed") for eid in (2002, 2003, 2082, 2083)},
    (FIREWALL, 2008): _R(*_FW, "Firewall Group Policy settings were changed"),
    **{(FIREWALL, eid): _R(*_FW, "The firewall was reset to its default configuration") for eid in (2032, 2060)},
    **{(FIREWALL, eid): _R(*_FW, "All rules were deleted from the firewall configuration") for eid in (2033, 2059)},
    # WMI (Microsoft-Windows-WMI-Activity/Operational)
    (WMI, 5857): _R(_SYS, "log", "unknown", "A WMI provider was started", ("ProviderPath",)),
    (WMI, 5858): _R(_SYS, "log", "failure", "A WMI operation failed", ("Operation",), _USER),
    (WMI, 5860): _R(_SYS, "log", "unknown", "A temporary WMI event subscription was registered", ("Query",), _USER),
    (WMI, 5861): _R(_SYS, "wmi_subscription", "success", "A permanent WMI event subscription was registered",
                    ("CONSUMER",)),
}

LOGON_TYPES = {
    0: "System", 2: "Interactive", 3: "Network", 4: "Batch", 5: "Service", 7: "Unlock",
    8: "NetworkCleartext", 9: "NewCredentials", 10: "RemoteInteractive", 11: "CachedInteractive",
    12: "CachedRemoteInteractive", 13: "CachedUnlock",
}
# NTSTATUS codes of failed logons (4625 Status/SubStatus, 4776 Status), as documented for 4625.
NT_STATUS = {
    "0x0": "success",
    "0xc000005e": "no logon servers available",
    "0xc0000064": "no such user",
    "0xc000006a": "bad password",
    "0xc000006d": "bad user name or password",
    "0xc000006e": "account restriction",
    "0xc000006f": "outside allowed logon hours",
    "0xc0000070": "workstation restriction",
    "0xc0000071": "password expired",
    "0xc0000072": "account disabled",
    "0xc00000dc": "server in wrong state",
    "0xc0000133": "clock skew with the domain controller",
    "0xc000015b": "logon type not granted",
    "0xc000018c": "trust relationship failed",
    "0xc0000192": "Netlogon service not started",
    "0xc0000193": "account expired",
    "0xc0000224": "password must change at next logon",
    "0xc0000234": "account locked out",
    "0xc0000413": "authentication firewall: not allowed",
}
# Kerberos result codes (4768/4769/4771 Status, RFC 4120 error codes).
KERBEROS_STATUS = {
    "0x0": "success",
    "0x6": "no such user",
    "0x7": "no such service",
    "0xc": "policy rejects the request",
    "0x12": "account disabled, expired or locked out",
    "0x17": "password expired",
    "0x18": "bad password",
    "0x1f": "integrity check failed",
    "0x25": "clock skew",
}
FAILURE_REASONS = {"%%2313": "Unknown user name or bad password."}
AUDIT_POLICY_CHANGES = {"%%8448": "Success removed", "%%8449": "Success added",
                        "%%8450": "Failure removed", "%%8451": "Failure added"}
PRIVILEGED_GROUPS = frozenset({"domain admins", "enterprise admins", "administrators", "schema admins"})
_PRIVILEGED_SID = re.compile(r"^S-1-5-32-544$|^S-1-5-21-[\d-]+-(?:512|518|519)$")
_UAC_FIELDS = ("SamAccountName", "DisplayName", "UserPrincipalName", "HomeDirectory", "HomePath",
               "ScriptPath", "ProfilePath", "UserWorkstations", "PasswordLastSet", "AccountExpires",
               "PrimaryGroupId", "AllowedToDelegateTo", "UserAccountControl", "UserParameters",
               "SidHistory", "LogonHours", "DnsHostName", "ServicePrincipalNames")

# "-" is Windows' placeholder for "no value"; any other spelling ("None", "?", "(unknown)") can be
# a real name (Windows has a built-in group called "None") and is kept as written.
_EMPTY = frozenset({"", "-"})
_NULL_SID = "S-1-0-0"
_AUDIT_SUCCESS = 0x20000000000000
_AUDIT_FAILURE = 0x10000000000000
_WS = re.compile(r"\s+")
_CN = re.compile(r"^CN=((?:\\.|[^,\\])+)", re.I)

# --- detection ------------------------------------------------------------------------------
EVTX_MAGIC = b"ElfFile\x00"
_XML_EVENT = re.compile(
    rb"<Event\s+xmlns\s*=\s*[\"']http://schemas\.microsoft\.com/win/2004/08/events/event[\"']")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# evtx_dump -o json: indented documents, each after a "Record <n>" line unless told not to write it
_EVTX_DUMP_JSON = re.compile(rb'\A\s*(?:Record \d+\s*\n\s*)?\{\s*\n\s*"Event"\s*:\s*\{')


def _s(value: Any) -> str | None:
    """A value as a stripped string; empty, '-' and the like -> None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return None if value in _EMPTY else value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return None


def _text_of(data: bytes) -> bytes:
    """UTF-16 text (with a byte-order mark) as UTF-8 bytes; anything else unchanged."""
    if data[:2] in _UTF16_BOMS:
        return data.decode("utf-16", "replace").encode("utf-8")
    if data[:3] == b"\xef\xbb\xbf":
        return data[3:]
    return data


def _json_kind(doc: dict[str, Any]) -> tuple[float, str]:
    event = doc.get("Event")
    if isinstance(event, dict) and isinstance(event.get("System"), dict) and "EventID" in event["System"]:
        return 0.95, "Windows event JSON as the evtx reader and evtx_dump write it (Event.System.EventID)"
    winlog = doc.get("winlog")
    if isinstance(winlog, dict) and "event_id" in winlog:
        channel = winlog.get("channel")
        if any(k in winlog for k in ("event_data", "user_data", "provider_name")):
            if channel == "Security":
                return 0.95, "Winlogbeat JSON of the Security channel (winlog.event_id, winlog.channel)"
            return 0.9, f"Winlogbeat JSON (winlog.event_id, winlog.provider_name), channel {channel}"
        return 0.25, ("Winlogbeat-like ECS JSON without winlog.event_data/provider_name: "
                      "the generic jsonl parser's ECS mapping reads it")
    if "EventID" in doc:
        channel = doc.get("Channel")
        source = str(doc.get("SourceName") or "").lower()
        if channel == "Security" or source in (SECURITY_PROVIDER, EVENTLOG_PROVIDER):
            return 0.95, "NXLog Windows event JSON of the Security log (EventID, SourceName/Channel)"
        if doc.get("SourceModuleType") == "im_msvistalog" or ("SourceName" in doc and "Hostname" in doc
                                                               and "EventTime" in doc):
            return 0.9, f"NXLog Windows event JSON (EventID, SourceName), channel {channel}"
    return 0.0, ""


# --- shared mapping -------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def _ip(text: str) -> str | None:
    value = text.strip()
    if value.startswith("::ffff:") and "." in value:
        value = value[7:]
    try:
        return str(ipaddress.ip_address(value.split("%", 1)[0]))
    except ValueError:
        return None


@lru_cache(maxsize=256)
def _keywords_outcome(value: str | int) -> str | None:
    try:
        bits = value if isinstance(value, int) else int(value, 16 if value.lower().startswith("0x") else 10)
    except ValueError:
        return None
    if bits & _AUDIT_FAILURE:
        return "failure"
    if bits & _AUDIT_SUCCESS:
        return "success"
    return None


def _outcome_of(keywords: Any) -> str | None:
    """Audit Success/Failure from the Keywords in any of their spellings."""
    if keywords is None:
        return None
    if isinstance(keywords, list):  # Winlogbeat: ["Audit Success"]
        for word in keywords:
            if word == "Audit Failure":
                return "failure"
            if word == "Audit Success":
                return "success"
        return None
    if isinstance(keywords, str | int) and not isinstance(keywords, bool):
        return _keywords_outcome(keywords)
    return None


def _time(value: Any, source: Source) -> datetime | None:
    return iso_time(value, source.tz)


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = _s(value)
    if text is None:
        return None
    try:
        return int(text, 16) if text[:2].lower() == "0x" else int(text)
    except ValueError:
        return None


def _member(data: dict[str, Any], attrs: dict[str, Any]) -> str | None:
    """The account added to / removed from a group: CN of a DN, the name, else the SID."""
    name = _s(data.get("MemberName"))
    sid = _s(data.get("MemberSid"))
    if sid and sid != _NULL_SID:
        attrs["member_sid"] = sid
    if name:
        m = _CN.match(name)
        if m:
            attrs["member_dn"] = name
            return m.group(1).replace("\\", "")
        return name
    return sid


def _privileged(group: str | None, sid: str | None) -> bool:
    if group and group.lower() in PRIVILEGED_GROUPS:
        return True
    return bool(sid and _PRIVILEGED_SID.match(sid))


def _set(attrs: dict[str, Any], key: str, value: Any) -> None:
    value = _s(value)
    if value is not None:
        attrs[key] = value


def _common_attrs(data: dict[str, Any], attrs: dict[str, Any], kerberos: bool) -> None:
    """Fields worth keeping from any event's data, when present."""
    get = data.get
    logon_type = _int(get("LogonType"))
    if logon_type is not None:
        attrs["logon_type"] = logon_type
        if logon_type in LOGON_TYPES:
            attrs["logon_type_name"] = LOGON_TYPES[logon_type]
    table = KERBEROS_STATUS if kerberos else NT_STATUS
    for key, name in (("Status", "status"), ("SubStatus", "sub_status")):
        code = _s(get(key))
        if code:
            code = code.lower()
            attrs[name] = code
            if code in table and not (code == "0x0" and key == "SubStatus"):
                attrs[name + "_meaning"] = table[code]
    reason = _s(get("FailureReason"))
    if reason:
        attrs["failure_reason"] = FAILURE_REASONS.get(reason, reason)
    _set(attrs, "workstation", get("WorkstationName") or get("Workstation"))
    _set(attrs, "process_name", get("ProcessName"))
    _set(attrs, "authentication_package", get("AuthenticationPackageName") or get("PackageName"))
    _set(attrs, "logon_process", get("LogonProcessName"))
    _set(attrs, "lm_package", get("LmPackageName"))
    _set(attrs, "ticket_encryption_type", get("TicketEncryptionType"))
    port = _int(get("IpPort"))
    if port:
        attrs["src_port"] = port
    elevated = _s(get("ElevatedToken"))
    if elevated in ("%%1842", "%%1843"):
        attrs["elevated_token"] = elevated == "%%1842"
    _set(attrs, "outbound_user", get("TargetOutboundUserName"))


def _resolve(kind: str, eid: int | None, data: dict[str, Any], attrs: dict[str, Any]):
    """(actor, target, role, resource, session, src_ip text) for one event of this kind."""
    get = data.get
    actor = target = role = resource = None
    subject = _s(get("SubjectUserName"))
    session = _s(get("SubjectLogonId"))
    ip_text = _s(get("IpAddress"))

    def subject_attrs(prefix: str) -> None:
        _set(attrs, prefix + "_domain", get("SubjectDomainName"))
        sid = _s(get("SubjectUserSid"))
        if sid and sid != _NULL_SID:
            attrs[prefix + "_sid"] = sid

    def target_attrs(prefix: str) -> None:
        _set(attrs, prefix + "_domain", get("TargetDomainName"))
        sid = _s(get("TargetUserSid")) or _s(get("TargetSid"))
        if sid and sid != _NULL_SID:
            attrs[prefix + "_sid"] = sid

    if kind in _LOGON_KINDS:
        if kind == SESSION:
            actor = _s(get("AccountName"))
            _set(attrs, "actor_domain", get("AccountDomain"))
            session = _s(get("LogonID"))
            ip_text = _s(get("ClientAddress"))
            _set(attrs, "client_name", get("ClientName"))
        else:
            actor = _s(get("TargetUserName"))
            target_attrs("actor")
            session = _s(get("TargetLogonId")) or (session if kind == CRED else None)
            if kind == CRED:
                if actor and "@" in actor:
                    actor, _, realm = actor.partition("@")
                    attrs.setdefault("actor_domain", realm)
                resource = _s(get("ServiceName"))
        if subject and subject != actor:
            attrs["subject_user"] = subject
            _set(attrs, "subject_domain", get("SubjectDomainName"))
    elif kind in (GROUP, MEMBER):
        actor = subject
        subject_attrs("actor")
        role = _s(get("TargetUserName")) or _s(get("SamAccountName"))
        _set(attrs, "group_domain", get("TargetDomainName"))
        group_sid = _s(get("TargetSid"))
        if group_sid:
            attrs["group_sid"] = group_sid
        if kind == MEMBER:
            target = _member(data, attrs)
        if _privileged(role, group_sid):
            attrs["privileged_group"] = True
        new_name = _s(get("SamAccountName"))
        if new_name and new_name != role and eid in (4735, 4737, 4755):
            attrs["new_name"] = new_name
    else:
        actor = subject
        subject_attrs("actor")
        if kind in (ACCOUNT, LOCKOUT):
            target = _s(get("TargetUserName"))
            if kind == LOCKOUT:
                _set(attrs, "caller_computer", get("TargetDomainName"))
                sid = _s(get("TargetSid"))
                if sid:
                    attrs["target_sid"] = sid
            else:
                target_attrs("target")
            if eid in (4720, 4738, 4741, 4742):
                changed = [k for k in _UAC_FIELDS if _s(get(k)) is not None]
                if eid in (4738, 4742) and changed:
                    attrs["changed"] = changed
                for key, name in (("SamAccountName", "sam_account_name"),
                                  ("UserPrincipalName", "user_principal_name"),
                                  ("DisplayName", "display_name")):
                    value = _s(get(key))
                    if value and value != target and value != "%%1793":
                        attrs[name] = value
                old, new = _s(get("OldUacValue")), _s(get("NewUacValue"))
                if old and new and old != new:
                    attrs["uac_old"], attrs["uac_new"] = old, new
        elif kind == RENAME:
            target = _s(get("OldTargetUserName"))
            _set(attrs, "old_name", get("OldTargetUserName"))
            _set(attrs, "new_name", get("NewTargetUserName"))
            target_attrs("target")
        elif kind == EXPLICIT:
            target = _s(get("TargetUserName"))
            target_attrs("target")
            resource = _s(get("TargetServerName"))
            info = _s(get("TargetInfo"))
            if info and info != resource:
                attrs["target_info"] = info
        elif kind == PRIV:
            privileges = _s(get("PrivilegeList"))
            if privileges:
                role = ", ".join(_WS.split(privileges))
        elif kind == RIGHT:
            target = _s(get("TargetSid"))
            rights = _s(get("PrivilegeList")) or _s(get("AccessGranted")) or _s(get("AccessRemoved"))
            if rights:
                role = ", ".join(_WS.split(rights))
        elif kind == PROCESS:
            resource = _s(get("NewProcessName")) or _s(get("ProcessName"))
            _set(attrs, "command_line", (_s(get("CommandLine")) or "")[:1000])
        elif kind == SERVICE:
            resource = _s(get("ServiceName"))
        elif kind == TASK:
            resource = _s(get("TaskName"))
        elif kind == WFP:
            resource = _s(get("Application"))
        elif kind == CLEARED:
            resource = _s(get("Channel"))  # 104: the log that was cleared
        elif kind == OBJECT:
            share = _s(get("ShareName"))
            relative = _s(get("RelativeTargetName"))
            resource = _s(get("ObjectName")) or (
                f"{share}\\{relative}" if share and relative else share)
            _set(attrs, "object_type", get("ObjectType"))
            _set(attrs, "access_mask", get("AccessMask"))
        if eid == 4719:
            for key, name in (("CategoryId", "category_id"), ("SubcategoryId", "subcategory_id"),
                              ("SubcategoryGuid", "subcategory_guid")):
                _set(attrs, name, get(key))
            changes = _s(get("AuditPolicyChanges"))
            if changes:
                attrs["audit_policy_changes"] = ", ".join(
                    AUDIT_POLICY_CHANGES.get(c.strip(), c.strip()) for c in changes.split(",") if c.strip())
    if session in ("0x0", "0"):
        session = None
    return actor, target, role, resource, session, ip_text


def _generic(data: dict[str, Any], attrs: dict[str, Any]):
    """Unmapped events: the subject is the actor; a process or object is the resource."""
    get = data.get
    actor = _s(get("SubjectUserName"))
    _set(attrs, "actor_domain", get("SubjectDomainName"))
    session = _s(get("SubjectLogonId"))
    if session in ("0x0", "0"):
        session = None
    resource = _s(get("NewProcessName")) or _s(get("ObjectName")) or _s(get("ServiceName"))
    _set(attrs, "command_line", (_s(get("CommandLine")) or "")[:1000])
    return actor, resource, session, _s(get("IpAddress"))


@lru_cache(maxsize=64)
def _key_line(key: str) -> re.Pattern[str]:
    return re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=[ \t]*(.*?)[ \t\r]*$", re.M)


def _named(spec: str, data: dict[str, Any], attrs: dict[str, Any]) -> str | None:
    """The value a CHANNEL_RULES field names: a data field, or "Field:Key" (the `Key = value` line
    inside the field's text; "Data" is the joined unnamed data)."""
    name, _, key = spec.partition(":")
    value = attrs.get("Data") if name == "Data" else data.get(name)
    if not key:
        return _s(value)
    if not isinstance(value, str):
        return None
    m = _key_line(key).search(value)
    return _s(m.group(1)) if m else None


def _first_named(specs: tuple[str, ...], data: dict[str, Any], attrs: dict[str, Any]) -> str | None:
    for spec in specs:
        value = _named(spec, data, attrs)
        if value is not None:
            return value
    return None


def _channel_fields(prov: str, rule: ChannelRule, data: dict[str, Any], attrs: dict[str, Any], actor, session,
                    ip_text):
    """(actor, session, source address, message kind) of a mapped event of another channel."""
    get = data.get
    if prov == RDP:  # 1149: Param1 = user, Param2 = domain, Param3 = client address
        _set(attrs, "actor_domain", get("Param2"))
        return _s(get("Param1")), session, _s(get("Param3")), LOGON
    user = _first_named(rule.actor, data, attrs)
    if user:  # DOMAIN\name
        domain, _, actor = user.rpartition("\\")
        if domain:
            attrs.setdefault("actor_domain", domain)
    if prov == SYSMON:
        session = session or _s(get("LogonId"))
        ip_text = ip_text or _s(get("SourceIp"))
    return actor, session, ip_text, SUBJECT


def _service_state(data: dict[str, Any]) -> tuple[str, str]:
    """7036's action and title from the state the service entered (param2, English text)."""
    state = _s(data.get("param2"))
    action = {"running": "service_start", "stopped": "service_stop"}.get((state or "").lower(), "log")
    return action, (f"A service entered the {state} state" if state else "A service changed state")


def _result_outcome(data: dict[str, Any]) -> str:
    code = _int(data.get("ResultCode"))
    return "unknown" if code is None else ("success" if code == 0 else "failure")


def _message(title: str, kind: str, action: str, actor, target, role, resource, src_ip,
             attrs: dict[str, Any], outcome: str) -> str:
    if kind in _LOGON_KINDS:
        text = f"{title}: {actor or 'unknown account'}"
        if src_ip:
            text += f" from {src_ip}"
        details = [attrs["logon_type_name"]] if "logon_type_name" in attrs else []
        if outcome == "failure":
            why = attrs.get("sub_status_meaning") or attrs.get("status_meaning")
            if why:
                details.append(why)
        if resource:
            details.insert(0, resource)
        return text + (f" ({', '.join(details)})" if details else "")
    if kind == MEMBER:
        way = "to" if action == "group_member_added" else "from"
        return f"{title}: {target or 'unknown member'} {way} {role or 'unknown group'} by {actor or 'unknown'}"
    obj = target or role or resource
    if kind == RENAME and attrs.get("new_name"):
        obj = f"{target} -> {attrs['new_name']}"
    text = title
    if obj:
        text += f": {obj}"
    if actor:
        text += f" by {actor}"
    return text


def _field_value(value: Any) -> Any:
    """An event data value as Windows writes it in XML: its text, verbatim ("-" stays "-"; an empty
    element is ""); the evtx reader's typed values as that text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return [_field_value(v) for v in value]
    return value


def _original_fields(data: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """Every EventData/UserData name/value pair under its own name (nested UserData flattened to
    its leaves; `#attributes` of the reader's JSON dropped), so rules can name the fields."""
    for key, value in data.items():
        if key.startswith("#"):
            continue
        if isinstance(value, dict):
            if "#text" in value:  # an element with attributes
                value = value["#text"]
            elif set(value) == {"#attributes"} and isinstance(value["#attributes"], dict):
                # an empty element that says it all in attributes (<Error Code="15007"/>)
                value = {k: _field_value(v) for k, v in value["#attributes"].items()}
            else:
                _original_fields(value, out)
                continue
        out[key] = _field_value(value)
    return out


_PARAM = re.compile(r"param(\d+)")


def _unnamed_data(attrs: dict[str, Any]) -> None:
    """`Data`: the texts of param1, param2 ... joined by newlines, when they are all the event data
    says (besides Binary): classic events' unnamed <Data> elements, which we and Winlogbeat name
    param1, param2 ..., and the Service Control Manager's named ones, which Winlogbeat cannot tell
    apart. Sigma rules match such events' data as a whole through the field `Data`."""
    if "Data" in attrs:
        return
    params: list[tuple[int, str]] = []
    for key, value in attrs.items():
        m = _PARAM.fullmatch(key)
        if m is None:
            if key != "Binary":
                return
        elif isinstance(value, str):
            params.append((int(m.group(1)), value))
        else:
            return
    if params:
        attrs["Data"] = "\n".join(text for _, text in sorted(params))


# System values kept in attrs under these names (numbers as numbers, as EventID is).
SYSTEM_NUMBERS = frozenset({"EventRecordID", "Version", "Level", "Task", "Opcode", "ExecutionProcessID",
                            "ExecutionThreadID"})


def _system_values(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in SYSTEM_NUMBERS:
            number = _int(value)
            value = number if number is not None else _s(value)
        else:
            value = _s(value)
        if value is not None:
            out[key] = value
    return out


def _build(eid: int | None, provider: str | None, channel: str | None, data: dict[str, Any],
           *, ts, host, system: dict[str, Any], outcome_hint: str | None, raw: str, line: int | None,
           origin: str | None, rendered: Any = None) -> Event:
    attrs = _original_fields(data, {})
    _unnamed_data(attrs)
    system = _system_values(system)
    record_id = system.pop("EventRecordID", None)
    for key, value in (("EventID", eid), ("Channel", channel), ("Provider", provider), ("EventRecordID", record_id)):
        if value is not None:  # the event's identity owns the name; a data field of that name moves
            if key in attrs and attrs[key] != value and attrs[key] != str(value):
                attrs["data." + key] = attrs[key]  # (1108's UserData EventID: the failed event's id)
            attrs[key] = value
    for key, value in system.items():  # other System values yield to a data field of their name
        same = key not in attrs or attrs[key] == value or attrs[key] == str(value)
        attrs[key if same else "System." + key] = value  # (Sysmon 4's Version is Sysmon's version)
    if isinstance(record_id, int):
        attrs["event_record_id"] = record_id
    if channel and channel != "Security":
        attrs["channel"] = channel
    pid = system.get("ExecutionProcessID")
    prov = (provider or "").lower()
    rule = None
    if eid is not None:
        if prov == EVENTLOG_PROVIDER:
            rule = EVENTLOG_RULES.get(eid)
        elif prov == SECURITY_PROVIDER:
            rule = RULES.get(eid)
        elif not prov and channel in (None, "Security"):
            rule = RULES.get(eid) or EVENTLOG_RULES.get(eid)
    title: str | None
    if rule is not None:
        category, action, default, kind, title = rule
        _common_attrs(data, attrs, kind == CRED and eid != 4776)
        actor, target, role, resource, session, ip_text = _resolve(kind, eid, data, attrs)
    else:
        category, action, default, kind = "system", "log", "unknown", SUBJECT
        title = OTHER_TITLES.get(eid) if eid is not None and prov in ("", SECURITY_PROVIDER) else None
        _common_attrs(data, attrs, False)
        actor, resource, session, ip_text = _generic(data, attrs)
        target = role = None
        channel_rule = CHANNEL_RULES.get((prov, eid)) if eid is not None else None
        if channel_rule is not None:
            category, action, default, title = channel_rule[:4]
            resource = _first_named(channel_rule.resource, data, attrs)
            actor, session, ip_text, kind = _channel_fields(prov, channel_rule, data, attrs, actor, session,
                                                            ip_text)
            if action == "state":
                action, title = _service_state(data)
            if default == "result":
                default = _result_outcome(data)
        title = title or _first_line(rendered) or f"Event {eid}"
    src_ip = None
    if ip_text:
        src_ip = _ip(ip_text)
        if src_ip is None:
            attrs["source_address"] = ip_text
    outcome = outcome_hint
    if outcome is None:
        if default == "status":
            status = attrs.get("status")
            outcome = "unknown" if status is None else ("success" if status == "0x0" else "failure")
        else:
            outcome = default
    return Event(
        ts=ts, category=category, action=action, outcome=outcome, host=host, app=provider,
        pid=pid if isinstance(pid, int) else None,
        actor=actor, target=target, role=role, resource=resource, src_ip=src_ip, session=session,
        message=_message(title, kind, action, actor, target, role, resource, src_ip, attrs, outcome),
        original_action=str(eid) if eid is not None else None, raw=raw, attrs=attrs or None,
        line=line, origin=origin)


def _first_line(text: Any) -> str | None:
    """The first line of a rendered message, without its full stop."""
    if not isinstance(text, str):
        return None
    line = text.strip().split("\n", 1)[0].strip().rstrip(".")
    return line[:200] or None


def _event_id(value: Any) -> int | None:
    if isinstance(value, dict):  # {"#attributes": {"Qualifiers": ...}, "#text": 1102}
        value = value.get("#text")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


# --- EVTX (via the evtx package's JSON rendering) -------------------------------------------

def _attr(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        attributes = node.get("#attributes")
        if isinstance(attributes, dict):
            return attributes.get(name)
    return None


def _evtx_data(event: dict[str, Any]) -> dict[str, Any]:
    """EventData's named fields (unnamed <Data> as param1, param2 ...), or the fields of UserData's
    one wrapper element; the reader's `#attributes` and the <Binary> blob come along."""
    data = event.get("EventData")
    if isinstance(data, dict):
        unnamed = data.get("Data")
        if unnamed is not None and set(data) - {"#attributes", "Binary"} == {"Data"}:
            # <Data> without Name attributes
            if isinstance(unnamed, dict):
                unnamed = unnamed.get("#text")
            values = unnamed if isinstance(unnamed, list) else [unnamed]
            fields = {f"param{i}": v for i, v in enumerate(values, 1)}
            fields.update((k, v) for k, v in data.items() if k != "Data")
            return fields
        return data
    user = event.get("UserData")
    if isinstance(user, dict):
        for value in user.values():
            if isinstance(value, dict):
                return value
    return {}


def _evtx_event(text: str, source: Source, origin_id: Any) -> Event:
    origin = f"record {origin_id}" if origin_id is not None else None
    try:
        doc = loads_json(text)
    except orjson.JSONDecodeError as exc:
        return unparsed_event(text, f"{NAME}: evtx record without Event/System: {exc}", origin=origin)
    return _event_document(doc, text, source, origin, None)


def _event_document(doc: Any, raw: str, source: Source, origin: str | None, line: int | None) -> Event:
    """One record in the evtx reader's JSON rendering ({"Event": {"System": ..., "EventData": ...}}),
    from an .evtx file or from evtx_dump's JSON output."""
    try:
        event = doc["Event"]
        system = event["System"]
        if not isinstance(system, dict):
            raise TypeError("System is not an object")
    except (KeyError, TypeError) as exc:
        return unparsed_event(raw, f"{NAME}: evtx record without Event/System: {exc}", origin=origin, line=line)
    eid = _event_id(system.get("EventID"))
    if eid is None:
        return unparsed_event(raw, f"{NAME}: record without an EventID", origin=origin, line=line)
    provider = system.get("Provider")
    execution = system.get("Execution")
    return _build(
        eid, _s(_attr(provider, "Name")) or _s(_attr(provider, "EventSourceName")), _s(system.get("Channel")),
        _evtx_data(event), ts=_time(_attr(system.get("TimeCreated"), "SystemTime"), source),
        host=_s(system.get("Computer")),
        system={"Computer": system.get("Computer"), "EventRecordID": system.get("EventRecordID"),
                "Level": system.get("Level"), "Task": system.get("Task"), "Opcode": system.get("Opcode"),
                "Keywords": system.get("Keywords"), "Version": system.get("Version"),
                "ExecutionProcessID": _attr(execution, "ProcessID"),
                "ExecutionThreadID": _attr(execution, "ThreadID"),
                "SecurityUserID": _attr(system.get("Security"), "UserID")},
        outcome_hint=_outcome_of(system.get("Keywords")), raw=raw, line=line, origin=origin)


def _parse_evtx(source: Source) -> Iterator[Event]:
    if source.start_offset > 0:
        # Same file seen again (its head unchanged): EVTX has no byte offset to resume from.
        source.consumed = source.start_offset
        return
    try:
        import evtx  # the maintained Rust EVTX reader (pip install evtx)
    except ImportError as exc:
        raise SourceError(f"{source.label}: reading .evtx files needs the 'evtx' package "
                          "(pip install evtx)") from exc
    target: Any
    if source.path is not None and not _is_gzip_file(source.path):
        target = str(source.path)
        size = os.path.getsize(source.path)
    else:
        data = source.read_all()
        size = len(data)
        target = io.BytesIO(data)
    try:
        reader = evtx.PyEvtxParser(target)
    except (OSError, RuntimeError, ValueError) as exc:
        raise SourceError(f"{source.label}: not a readable EVTX file: {exc}") from exc
    records = reader.records_json()
    errors_in_a_row = 0
    while True:
        try:
            rec = next(records)
        except StopIteration:
            break
        except Exception as exc:
            # a record (or a chunk) the reader cannot decode: keep its trace, carry on
            errors_in_a_row += 1
            if errors_in_a_row > 100_000:
                raise SourceError(f"{source.label}: the EVTX reader keeps failing: {exc}") from exc
            message = str(exc)
            m = re.search(r"record number (\d+)", message)
            yield unparsed_event(message, f"{NAME}: evtx reader could not decode this record",
                                 origin=f"record {m.group(1)}" if m else None)
            continue
        except BaseException as exc:
            if type(exc).__name__ != "PanicException":  # pyo3: a panic in the Rust reader
                raise
            yield unparsed_event(str(exc) or "panic", f"{NAME}: the evtx reader crashed; "
                                 "the rest of the file could not be read")
            break
        if rec is None:  # the stub says Optional; PyO3 ends the iteration with StopIteration instead
            break
        errors_in_a_row = 0
        try:
            yield _evtx_event(rec["data"], source, rec.get("event_record_id"))
        except Exception as exc:  # a field of an unexpected type: keep the record
            yield unparsed_event(str(rec.get("data", "")), f"{NAME}: cannot map record: "
                                 f"{type(exc).__name__}: {exc}", origin=f"record {rec.get('event_record_id')}")
    source.consumed = size


def _is_gzip_file(path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


# --- Event XML ------------------------------------------------------------------------------
_XML_START = re.compile(rb"<Event(?=[\s>/])")
_XML_END = b"</Event>"
_XML_WRAPPERS = re.compile(rb"<\?xml[^>]*\?>|</?Events(?:\s[^>]*)?>|<!--.*?-->", re.S)
READ_SIZE = 1 << 20


_LOCAL_NAMES: dict[str, str] = {}


def _local(tag: str) -> str:
    """A tag without its namespace (memoized: the same few tags repeat in every record)."""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag.rsplit("}", 1)[-1]
        if len(_LOCAL_NAMES) < 10_000:
            _LOCAL_NAMES[tag] = name
    return name


def _leaf_text(text: str | None) -> str | None:
    """An element's text; a line break and indentation alone are a pretty-printer's layout of an
    empty element (the evtx package writes <Param2>, newline, spaces, </Param2>), not a value."""
    if text and "\n" in text and text.isspace():
        return None
    return text


def _xml_fields(elem: ET.Element) -> tuple[dict[str, Any], dict[str, Any]]:
    system: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for child in elem:
        tag = _local(child.tag)
        if tag == "System":
            for item in child:
                name = _local(item.tag)
                if name == "Provider":
                    system["Provider"] = item.get("Name") or item.get("EventSourceName")
                elif name == "TimeCreated":
                    system["TimeCreated"] = item.get("SystemTime")
                elif name == "Execution":
                    system["ExecutionProcessID"] = item.get("ProcessID")
                    system["ExecutionThreadID"] = item.get("ThreadID")
                elif name == "Security":
                    system["SecurityUserID"] = item.get("UserID")
                else:
                    system[name] = item.text
        elif tag == "EventData":
            n = 0
            for item in child:
                key = item.get("Name")
                if key is None:
                    key = _local(item.tag)
                    if key == "Data":
                        n += 1
                        key = f"param{n}"
                data[key] = _leaf_text(item.text)
        elif tag == "UserData":
            for inner in child:  # the one wrapper element; its leaves by their names
                for item in inner.iter():
                    if item is not inner and len(item) == 0:
                        text = _leaf_text(item.text)
                        if item.attrib and not (text and text.strip()):  # <Error Code="15007"/>
                            data[_local(item.tag)] = {"#attributes": dict(item.attrib)}
                        else:
                            data[_local(item.tag)] = text
                break
        elif tag == "RenderingInfo":  # Event Viewer "Save as XML", wevtutil /f:RenderedXml
            for item in child:
                if _local(item.tag) == "Message":
                    system["Message"] = item.text
    return system, data


def _xml_event(raw_bytes: bytes, source: Source, line: int) -> Event:
    raw = decode_record(raw_bytes)
    try:
        elem = ET.fromstring(raw_bytes)
    except ET.ParseError as exc:
        return unparsed_event(raw, f"{NAME}: malformed Event XML: {exc}", line=line)
    system, data = _xml_fields(elem)
    eid = _event_id(system.get("EventID"))
    if eid is None:
        return unparsed_event(raw, f"{NAME}: Event XML without an EventID", line=line,
                              ts=_time(system.get("TimeCreated"), source))
    return _build(
        eid, _s(system.get("Provider")), _s(system.get("Channel")), data,
        ts=_time(system.get("TimeCreated"), source), host=_s(system.get("Computer")),
        system={key: system.get(key) for key in _XML_SYSTEM},
        outcome_hint=_outcome_of(_s(system.get("Keywords"))), raw=raw, line=line, origin=None,
        rendered=system.get("Message"))


_XML_SYSTEM = ("Computer", "EventRecordID", "Level", "Task", "Opcode", "Keywords", "Version", "ExecutionProcessID",
               "ExecutionThreadID", "SecurityUserID")


def _junk_events(chunk: bytes, line: int) -> Iterator[Event]:
    """Text between records: wrappers are fine, any other line is kept as unparsed."""
    rest = _XML_WRAPPERS.sub(lambda m: b"\n" * m.group().count(b"\n"), chunk)
    if rest.isspace() or not rest:
        return
    for offset, text in enumerate(rest.split(b"\n")):
        text = text.strip()
        if text:
            yield unparsed_event(text.decode("utf-8", "surrogateescape"), f"{NAME}: text outside any <Event> element",
                                 line=line + offset)


def _parse_xml(source: Source, first: bytes) -> Iterator[Event]:
    stream = source.stream
    whole = first[:2] in _UTF16_BOMS
    if whole:  # UTF-16 (PowerShell redirection, Event Viewer): transcode the file at once
        raw_all = source.read_all()
        chunks: Iterator[bytes] = iter([_text_of(raw_all)])
    else:
        def reader() -> Iterator[bytes]:
            while block := stream.read(READ_SIZE):
                yield block
        chunks = reader()
    buf = b""
    base_off = source.start_offset  # file offset of buf[0] (UTF-8 input only)
    base_line = source.start_line   # line number at buf[0]
    eof = False
    at_start = source.start_offset == 0 and not whole
    while not eof:
        block = next(chunks, None)
        if block is None:
            eof = True
        else:
            if at_start and block[:3] == b"\xef\xbb\xbf":  # UTF-8 byte-order mark
                block = block[3:]
                base_off += 3
            at_start = False
            buf += block
        pos = 0
        line = base_line
        while True:
            m = _XML_START.search(buf, pos)
            if m is None:
                break
            end = buf.find(_XML_END, m.end())
            if end == -1 and not eof:
                break  # the record continues in the next block
            after = _XML_START.search(buf, m.end(), end if end != -1 else len(buf))
            if m.start() > pos:
                gap = buf[pos:m.start()]
                if not gap.isspace():
                    yield from _junk_events(gap, line)
                line += gap.count(b"\n")
            if after is not None:  # a record cut short, then the next one
                stop = after.start()
                yield unparsed_event(buf[m.start():stop].strip().decode("utf-8", "surrogateescape"),
                                     f"{NAME}: Event XML cut short (no </Event>)", line=line)
            elif end == -1:  # the file ends inside a record
                if source.complete_lines_only:
                    pos = m.start()
                    break  # a live file: the writer is still writing it
                stop = len(buf)
                yield unparsed_event(buf[m.start():stop].strip().decode("utf-8", "surrogateescape"),
                                     f"{NAME}: Event XML cut short at the end of the file", line=line)
            else:
                stop = end + len(_XML_END)
                yield _xml_event(buf[m.start():stop], source, line)
            line += buf.count(b"\n", m.start(), stop)
            pos = stop
        if eof:
            tail = buf[pos:]
            if not (source.complete_lines_only and _XML_START.search(tail)):
                yield from _junk_events(tail, line)
                line += tail.count(b"\n")
                pos = len(buf)
        elif _XML_START.search(buf, pos) is None:
            # no record starts in the rest: settle the complete lines, keep the last one (it may
            # hold the start of the next record's tag) unless it grew absurdly long
            cut = buf.rfind(b"\n", pos)
            keep_from = cut + 1 if cut != -1 else pos
            if len(buf) - keep_from > 16 * READ_SIZE:
                keep_from = len(buf)
            gap = buf[pos:keep_from]
            yield from _junk_events(gap, line)
            line += gap.count(b"\n")
            pos = keep_from
        base_line = line
        if not whole:
            base_off += pos
            source.consumed = base_off
        source.next_line = base_line
        buf = buf[pos:]
    if whole:
        source.consumed = source.start_offset + len(raw_all)


# --- JSON lines (Winlogbeat, NXLog) ---------------------------------------------------------

def _winlogbeat_event(doc: dict[str, Any], winlog: dict[str, Any], raw: str, line: int,
                      source: Source) -> Event:
    eid = _event_id(winlog.get("event_id"))
    ev_section = as_dict(doc.get("event"))
    if eid is None:
        eid = _event_id(ev_section.get("code"))
    if eid is None:
        return unparsed_event(raw, f"{NAME}: Winlogbeat event without winlog.event_id", line=line)
    event_data = winlog.get("event_data")
    has_data = isinstance(event_data, dict)
    data = as_dict(event_data)
    if not has_data:
        data = as_dict(winlog.get("user_data"))
        data = {k: v for k, v in data.items() if k != "xml_name"}  # Winlogbeat's name of the wrapper
        has_data = bool(data)
    host_section = as_dict(doc.get("host"))
    process = as_dict(winlog.get("process"))
    outcome = _outcome_of(winlog.get("keywords"))
    if outcome is None and ev_section.get("outcome") in ("success", "failure"):
        outcome = ev_section["outcome"]
    ev = _build(
        eid, _s(winlog.get("provider_name")) or _s(ev_section.get("provider")), _s(winlog.get("channel")),
        data, ts=_time(doc.get("@timestamp"), source),
        host=_s(winlog.get("computer_name")) or _s(host_section.get("name")) or _s(host_section.get("hostname")),
        system={"Computer": winlog.get("computer_name"), "EventRecordID": winlog.get("record_id"),
                "Version": winlog.get("version"), "ExecutionProcessID": process.get("pid"),
                "ExecutionThreadID": as_dict(process.get("thread")).get("id"),
                "SecurityUserID": as_dict(winlog.get("user")).get("identifier")},
        outcome_hint=outcome, raw=raw, line=line, origin=None, rendered=doc.get("message"))
    if not has_data:  # ECS fields written by Winlogbeat's security module
        user = as_dict(doc.get("user"))
        group = as_dict(doc.get("group"))
        src = as_dict(doc.get("source"))
        tgt = as_dict(user.get("target"))
        ev.actor = ev.actor or _s(user.get("name"))
        ev.target = ev.target or _s(tgt.get("name"))
        ev.role = ev.role or _s(group.get("name"))
        if ev.src_ip is None and _s(src.get("ip")):
            ev.src_ip = _ip(src["ip"])
        if ev.role and _privileged(ev.role, _s(group.get("id"))):
            ev.attrs = {**(ev.attrs or {}), "privileged_group": True}
    return ev


# NXLog im_msvistalog's own keys beside the event's data fields (System values, the agent's stamps,
# the rendered message): not EventData, so not copied into attrs under their names.
NXLOG_META = frozenset({
    "EventTime", "EventReceivedTime", "Hostname", "Keywords", "EventType", "SeverityValue", "Severity",
    "EventID", "SourceName", "ProviderGuid", "Version", "Task", "OpcodeValue", "Opcode", "RecordNumber",
    "ActivityID", "RelatedActivityID", "ExecutionProcessID", "ExecutionThreadID", "Channel", "Message",
    "Category", "SourceModuleName", "SourceModuleType", "UserID", "AccountType"})


_AUDIT_OUTCOMES = {"AUDIT_SUCCESS": "success", "AUDIT_FAILURE": "failure"}


def _nxlog_event(doc: dict[str, Any], raw: str, line: int, source: Source) -> Event:
    eid = _event_id(doc.get("EventID"))
    if eid is None:
        return unparsed_event(raw, f"{NAME}: NXLog event without a numeric EventID", line=line)
    event_type = doc.get("EventType")
    outcome = _AUDIT_OUTCOMES.get(event_type) if isinstance(event_type, str) else None
    if outcome is None:
        outcome = _outcome_of(doc.get("Keywords"))
    return _build(
        eid, _s(doc.get("SourceName")), _s(doc.get("Channel")),
        {k: v for k, v in doc.items() if k not in NXLOG_META},
        ts=_time(doc.get("EventTime"), source), host=_s(doc.get("Hostname")),
        system={"Computer": doc.get("Hostname"), "EventRecordID": doc.get("RecordNumber"),
                "Task": doc.get("Task"), "Opcode": doc.get("OpcodeValue"),
                "Keywords": _keywords_text(doc.get("Keywords")),
                "Version": doc.get("Version"), "ExecutionProcessID": doc.get("ExecutionProcessID"),
                "ExecutionThreadID": doc.get("ExecutionThreadID"), "SecurityUserID": doc.get("UserID")},
        outcome_hint=outcome, raw=raw, line=line, origin=None, rendered=doc.get("Message"))


def _keywords_text(value: Any) -> Any:
    """NXLog writes Keywords as a signed 64-bit number; Windows as hex text (0x8020000000000000)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"0x{value & 0xFFFF_FFFF_FFFF_FFFF:x}"
    return value


def _json_event(text: str, line: int, source: Source, origin: str | None = None) -> Event:
    try:
        doc = loads_json(text)
    except orjson.JSONDecodeError as exc:
        return unparsed_event(text, f"{NAME}: not JSON: {exc}", line=line, origin=origin)
    if not isinstance(doc, dict):
        return unparsed_event(text, f"{NAME}: JSON line is not an object", line=line, origin=origin)
    try:
        winlog = doc.get("winlog")
        if isinstance(winlog, dict):
            return _winlogbeat_event(doc, winlog, text, line, source)
        if isinstance(doc.get("Event"), dict):
            return _event_document(doc, text, source, origin, line)
        if "EventID" in doc:
            return _nxlog_event(doc, text, line, source)
    except Exception as exc:  # a field of an unexpected type: keep the record, say why
        return unparsed_event(text, f"{NAME}: cannot map record: {type(exc).__name__}: {exc}", line=line,
                              origin=origin)
    return unparsed_event(text, f"{NAME}: JSON without winlog.event_id, Event.System or EventID", line=line,
                          origin=origin)


# evtx_dump -o json writes each record indented over many lines, from a "{" line to a "}" line,
# after a "Record <n>" line (unless --dont-show-record-number).
_RECORD_HEADER = re.compile(rb"Record (\d+)")


def _parse_json(source: Source) -> Iterator[Event]:
    """JSON lines, and evtx_dump's indented JSON documents (raw = the document's lines verbatim)."""
    doc: list[bytes] = []  # the lines of an indented document being read, with their endings
    doc_line = doc_offset = 0
    origin: str | None = None
    for number, raw in source.raw_lines(keep_ends=True):
        text = raw.rstrip(b"\r\n")
        if doc:
            doc.append(raw)
            if text == b"}":
                yield _json_event(decode_record(b"".join(doc).rstrip(b"\r\n")), doc_line, source, origin)
                doc, origin = [], None
            continue
        if text == b"{":
            doc, doc_line, doc_offset = [raw], number, source.consumed - len(raw)
            continue
        header = _RECORD_HEADER.fullmatch(text.strip())
        if header:
            origin = f"record {int(header.group(1))}"
        elif text.strip():
            yield _json_event(decode_record(text), number, source)
            origin = None
    if doc:
        if source.complete_lines_only:  # a live file: the writer is still writing this document
            source.consumed, source.next_line = doc_offset, doc_line
        else:
            yield unparsed_event(decode_record(b"".join(doc).rstrip(b"\r\n")),
                                 f"{NAME}: JSON document cut short at the end of the file", line=doc_line)


# --- the plugin -----------------------------------------------------------------------------

def _peek(stream: Any, size: int = 8192) -> bytes:
    """The next bytes of a stream without consuming them."""
    peek = getattr(stream, "peek", None)
    if peek is not None:
        return peek(size)[:size]
    if stream.seekable():
        pos = stream.tell()
        data = stream.read(size)
        stream.seek(pos)
        return data
    return b""


class WindowsSecurityParser(Parser):
    name = NAME
    description = ("Windows event logs of every channel (Security, Sysmon, PowerShell, System, Defender ...): "
                   ".evtx files, Event XML, evtx_dump, Winlogbeat and NXLog JSON")
    splittable = False  # one parser for binary, XML documents and JSON lines

    def score(self, head: Head) -> tuple[float, str]:
        data = head.data
        if data.startswith(EVTX_MAGIC):
            return 0.99, "EVTX file header (ElfFile magic)"
        text = _text_of(data[:16384]) if data[:2] in _UTF16_BOMS else data[:16384]
        if _XML_EVENT.search(text):
            return 0.95, "Windows Event XML (<Event xmlns=\".../win/2004/08/events/event\">)"
        if _EVTX_DUMP_JSON.match(text) and b'"System"' in text and b'"EventID"' in text:
            return 0.95, "Windows event JSON documents as evtx_dump -o json writes them (Event.System.EventID)"
        best, why = 0.0, ""
        for line in head.lines[:10]:
            stripped = line.strip()
            if not stripped.startswith("{"):
                continue
            try:
                doc = loads_json(stripped)
            except orjson.JSONDecodeError:
                continue
            if isinstance(doc, dict):
                score, reason = _json_kind(doc)
                if score > best:
                    best, why = score, reason
        return best, why

    def parse(self, source: Source) -> Iterator[Event]:
        first = _peek(source.stream)
        if source.start_offset == 0 and first.startswith(EVTX_MAGIC):
            yield from _parse_evtx(source)
            return
        if source.start_offset > 0 and source.path is not None and _starts_with_evtx(source.path):
            yield from _parse_evtx(source)
            return
        if first[:2] in _UTF16_BOMS:
            yield from _parse_xml(source, first)
            return
        if first.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") or _EVTX_DUMP_JSON.match(first):
            yield from _parse_json(source)
        else:
            yield from _parse_xml(source, first)


def _starts_with_evtx(path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if head[:2] == GZIP_MAGIC:
                import gzip
                with gzip.open(path, "rb") as g:
                    head = g.read(8)
            return head == EVTX_MAGIC
    except OSError:
        return False


parser = WindowsSecurityParser()
