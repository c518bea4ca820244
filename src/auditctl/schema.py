"""The one event schema every parser normalizes into.

Column meanings follow the Elastic Common Schema so that export to ECS/OCSF is a mapping.
The tables here are the source of truth for the README's schema tables (a test checks both
agree) and for the store's DDL.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Category(StrEnum):
    AUTHENTICATION = "authentication"
    USER_MANAGEMENT = "user_management"
    PERMISSION_CHANGE = "permission_change"
    POLICY_CHANGE = "policy_change"
    PRIVILEGED_ACTION = "privileged_action"
    DATA_ACCESS = "data_access"
    SYSTEM = "system"
    OTHER = "other"


CATEGORY_DESCRIPTIONS: dict[str, str] = {
    "authentication": "logins, logouts, credential checks, sessions (ECS `authentication`)",
    "user_management": "accounts and groups created, deleted, changed, locked; passwords (ECS `iam`)",
    "permission_change": "group membership and roles granted or revoked (ECS `iam` change)",
    "policy_change": "security/audit policy changed, audit logging or monitoring (Sysmon, Defender) stopped, logs cleared",
    "privileged_action": "acting with elevated rights: sudo commands, su, pod exec, assume-role",
    "data_access": "reading or writing protected data: secrets, objects, web requests",
    "system": "host activity (services, processes, files, registry, network, scripts, scheduled tasks, anti-malware) and messages with no more specific category",
    "other": "records no parser understood (`action=unparsed`, reason in `attrs.reason`)",
}


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


# The action vocabulary: action -> (usual category, meaning). Parsers use only these words;
# the source's own word goes to `original_action`.
ACTIONS: dict[str, tuple[str, str]] = {
    "login": ("authentication", "an interactive or network logon (sshd Accepted/Failed, ConsoleLogin)"),
    "logout": ("authentication", "a logon session ended or the client disconnected"),
    "authenticate": ("authentication", "a credential check without a logon (pam auth, sudo password)"),
    "session_start": ("authentication", "a PAM/logind session opened"),
    "session_end": ("authentication", "a PAM/logind session closed"),
    "user_created": ("user_management", "an account was created"),
    "user_deleted": ("user_management", "an account was deleted"),
    "user_modified": ("user_management", "an account's attributes changed (shell, home, name, uid)"),
    "user_locked": ("user_management", "an account was locked or disabled"),
    "user_unlocked": ("user_management", "an account was unlocked or enabled"),
    "password_changed": ("user_management", "a password or credential was set, changed or reset"),
    "group_created": ("user_management", "a group was created"),
    "group_deleted": ("user_management", "a group was deleted"),
    "group_modified": ("user_management", "a group's attributes changed"),
    "group_member_added": ("permission_change", "an account was added to a group"),
    "group_member_removed": ("permission_change", "an account was removed from a group"),
    "role_granted": ("permission_change", "a role, policy or privilege was granted to a principal"),
    "role_revoked": ("permission_change", "a role, policy or privilege was taken away"),
    "policy_changed": ("policy_change", "a security policy was changed"),
    "audit_config_changed": ("policy_change", "audit configuration changed, logging or monitoring stopped or started"),
    "log_cleared": ("policy_change", "an audit log or trail was cleared or deleted"),
    "privilege_escalation": ("privileged_action", "switching to another (usually more privileged) user: su, sudo -i, AssumeRole"),
    "command_run": ("privileged_action", "a command run with elevated rights (sudo COMMAND, pod exec)"),
    "access": ("data_access", "protected data read or written (secret get, object read, HTTP request)"),
    "log_read": ("data_access", "auditctl: stored audit events were searched, counted or reported (self-audit)"),
    "log_exported": ("data_access", "auditctl: stored audit events were exported (self-audit)"),
    "log_verified": ("data_access", "auditctl: the store's integrity was verified (self-audit)"),
    "retention_applied": ("policy_change", "auditctl: retention archived or deleted stored events (self-audit)"),
    "log_collected": ("system", "auditctl: a syslog listener's refusals, TLS handshake failures and drops over an "
                                "interval (watch --listen)"),
    "service_start": ("system", "a daemon or service started"),
    "service_stop": ("system", "a daemon or service stopped or aborted"),
    "service_installed": ("system", "a service was installed (Windows 7045, 4697)"),
    "service_modified": ("system", "a service's configuration changed (Windows 7040: its start type)"),
    "process_start": ("system", "a process was started (Sysmon 1, Windows 4688)"),
    "process_end": ("system", "a process exited (Sysmon 5, Windows 4689)"),
    "process_access": ("system", "a process opened, injected a thread into or tampered with another process "
                                 "(Sysmon 8, 10, 25)"),
    "module_load": ("system", "a driver or a library (DLL) was loaded (Sysmon 6, 7)"),
    "file_write": ("system", "a file was created or overwritten, or its creation time or streams changed"),
    "file_delete": ("system", "a file was deleted"),
    "registry_change": ("system", "a registry key or value was created, set, renamed or deleted"),
    "network_connect": ("system", "a network connection was made, or blocked (outcome failure)"),
    "dns_query": ("system", "a DNS name was looked up"),
    "pipe_created": ("system", "a named pipe was created or connected to (Sysmon 17, 18)"),
    "wmi_subscription": ("system", "a WMI event filter, consumer or binding was registered (a persistence mechanism)"),
    "script_run": ("system", "script code ran: a PowerShell script block, pipeline or engine start"),
    "task_created": ("system", "a scheduled task was created or registered"),
    "task_deleted": ("system", "a scheduled task was deleted"),
    "task_modified": ("system", "a scheduled task was changed, enabled or disabled"),
    "task_run": ("system", "a scheduled task ran: started, launched its action, or finished (one run logs several)"),
    "malware_detected": ("system", "anti-malware found a threat or acted on it (outcome: the remediation's result)"),
    "syscall": ("system", "an audited system call (auditd SYSCALL/EXECVE/PATH) with its key"),
    "log": ("system", "a message with no more specific meaning"),
    "unparsed": ("other", "a record no parser understood; kept verbatim"),
}


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    meaning: str
    ecs: str = "—"
    # Columns added after the first leaf encoding are "tail" columns: the canonical encoding
    # writes them after the original ones, tagged by name, and only when they hold a value, so
    # every leaf signed before they existed keeps its hash (see merkle.canonical).
    tail: bool = False


# Stored columns, in storage order. `seq`, `ingested_at`, `source` and `parser` are filled in
# by ingest; everything else comes from the parser's Event.
COLUMNS: tuple[Column, ...] = (
    Column("seq", "BIGINT", "position in the tamper-evident log: 1, 2, 3 ... gap-free"),
    Column("ts", "TIMESTAMPTZ", "when it happened, UTC", "@timestamp"),
    Column("ingested_at", "TIMESTAMPTZ", "when auditctl stored it", "event.ingested"),
    Column("source", "VARCHAR", "where it came from: absolute file path, or `stdin`", "log.file.path"),
    Column("line", "BIGINT", "1-based line of the record's first line in the source (NULL if not line-based)", "log.offset"),
    Column("origin", "VARCHAR", "locator inside the source when a line is not enough (`Records[17]`, `serial 1234`)"),
    Column("parser", "VARCHAR", "the parser plugin that produced it", "event.module"),
    Column("host", "VARCHAR", "machine the event happened on", "host.name"),
    Column("app", "VARCHAR", "program or service (`sshd`, `sudo`, `iam.amazonaws.com`)", "process.name / service.name"),
    Column("pid", "BIGINT", "process id of the program that logged or did it, when known", "process.pid"),
    Column("category", "VARCHAR", "one of the categories below", "event.category"),
    Column("action", "VARCHAR", "one word of the action vocabulary below", "event.type / event.action"),
    Column("original_action", "VARCHAR", "the source's own word (`Failed password`, `CreateUser`, `ADD_USER`)", "event.code"),
    Column("outcome", "VARCHAR", "`success`, `failure` or `unknown`", "event.outcome"),
    Column("actor", "VARCHAR", "who did it", "user.name"),
    Column("target", "VARCHAR", "the account acted upon", "user.target.name"),
    Column("role", "VARCHAR", "group, role or privilege granted, revoked or used", "group.name"),
    Column("resource", "VARCHAR", "other object acted on (file, command, bucket, k8s object)"),
    Column("src_ip", "VARCHAR", "source address of the request", "source.ip"),
    Column("user_agent", "VARCHAR", "client software", "user_agent.original"),
    Column("session", "VARCHAR", "session, logon or request id", "session id"),
    Column("message", "VARCHAR", "one-line human summary (stored as a position in `raw` when it is cut from it)", "message"),
    Column("raw", "VARCHAR", "the original record, verbatim (zstd-compressed)", "event.original"),
    Column("attrs", "JSON", "every other field the parser found; `reason` for unparsed records", "vendor namespace"),
    Column("ts_source", "VARCHAR", "where `ts` came from: `record` (its own stamp), `previous` or `next` (the "
           "neighbouring record's in the same file), `file` (the file's modification time), `ingest` (ingest time)",
           tail=True),
    Column("raw_b64", "VARCHAR", "the record's exact bytes, base64, when they are not valid UTF-8 (`raw` then shows "
           "U+FFFD for each undecodable byte) or the record is binary (a utmp/wtmp entry: `raw` then is a readable "
           "rendering of it); NULL otherwise", "event.original (bytes)", tail=True),
    Column("received", "JSON", "how a message received by `watch --listen` arrived: time, listener, sender address "
           "and port, the TLS client certificate, the host check (never sealed); NULL for other events",
           "observer / tls.client", tail=True),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
TAIL_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.tail)
TS_SOURCES: tuple[str, ...] = ("record", "previous", "next", "file", "ingest")


@dataclass(slots=True, kw_only=True)
class Event:
    """One normalized event as a parser yields it.

    `ts` must be timezone-aware (any zone; it is stored as UTC). Leave a field None when the
    source does not say; never invent values.
    """

    ts: datetime | None
    category: str = Category.OTHER.value
    action: str = "unparsed"
    outcome: str = Outcome.UNKNOWN.value
    host: str | None = None
    app: str | None = None
    pid: int | None = None
    actor: str | None = None
    target: str | None = None
    role: str | None = None
    resource: str | None = None
    src_ip: str | None = None
    user_agent: str | None = None
    session: str | None = None
    message: str | None = None
    original_action: str | None = None
    raw: str = ""
    attrs: dict[str, Any] | None = None
    line: int | None = None
    origin: str | None = None
    # How a message received by `watch --listen` arrived (auditctl.ingest.received); a column
    # of its own, never sealed: the sender's identity must stay checkable by every reader.
    received: dict[str, Any] | None = None
    # Set only when another parser than the file's read this record (parsing.RecordRetry);
    # None means the file's parser. Not one of EVENT_FIELDS: ingest fills the column.
    parser: str | None = None
    # The record's exact bytes when `raw` is a readable rendering of a binary record (a utmp
    # entry): stored base64 in `raw_b64`, covered by the leaf hash. Not one of EVENT_FIELDS.
    raw_bytes: bytes | None = None


EVENT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Event)
                                      if f.name not in ("parser", "raw_bytes"))


def unparsed_event(
    raw: str, reason: str, *, ts: datetime | None = None, line: int | None = None,
    origin: str | None = None, host: str | None = None, app: str | None = None,
) -> Event:
    """The event for a record no parser understood: kept, counted and searchable."""
    return Event(
        ts=ts, category=Category.OTHER.value, action="unparsed", raw=raw,
        attrs={"reason": reason}, line=line, origin=origin, host=host, app=app,
        message=raw[:200] if raw else None,
    )


def validate_event(ev: Event) -> list[str]:
    """Problems with an event's vocabulary; empty when it conforms (used by tests and `parsers test`)."""
    problems = []
    if ev.category not in CATEGORY_DESCRIPTIONS:
        problems.append(f"unknown category {ev.category!r}")
    if ev.action not in ACTIONS:
        problems.append(f"unknown action {ev.action!r}")
    if ev.outcome not in ("success", "failure", "unknown"):
        problems.append(f"unknown outcome {ev.outcome!r}")
    if ev.ts is not None and ev.ts.tzinfo is None:
        problems.append("timestamp without a time zone")
    return problems


# Fields that may be declared sensitive: everything but the columns that place an event in
# the log (seq, times, source, line) and the ones rules and reports classify by.
SEALABLE_FIELDS: tuple[str, ...] = ("host", "app", "original_action", "actor", "target", "role", "resource",
                                    "src_ip", "user_agent", "session", "message", "raw", "attrs")
