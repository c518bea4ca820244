"""Linux audit daemon logs (`/var/log/audit/audit.log`), RAW and ENRICHED formats.

A record is one line: `[node=NAME ]type=TYPE msg=audit(EPOCH.MS:SERIAL): key=value ...`. User-space
records carry a second, quoted `msg='key=value ...'`; ENRICHED logs append a 0x1d (GS) byte and
the numeric ids translated to names in upper case (`AUID="alice" UID="root" ID="bob"`). Where
the GS byte did not survive (rsyslog writes `#035`; text tools make it a space or drop it), a
trailing run of upper-case fields is the enriched part all the same.

One Event per audit EVENT, not per record: records with the same node, time and serial belong
together (SYSCALL + EXECVE + CWD + PATH + PROCTITLE + EOE). They are usually adjacent but may
interleave, so events wait in a bounded, ordered buffer: an event is complete at its EOE record,
at once if it is a single-record user-space message (USER_*, CRED_*, ADD_*, DAEMON_*, ...), when
it is `window` records old (default 1000, option `window`), or at end of file. Events come out
in the order of their first record; raw = the record lines joined with "\\n", line = the first
record's line, origin = `serial N`. A line without a `msg=audit(time:serial)` header is kept as
an unparsed event of its own.

Mapping (the main record is the first that is not SYSCALL/EXECVE/PATH/CWD/PROCTITLE/SOCKADDR/EOE/
..., else SYSCALL; original_action = its type):
  USER_LOGIN -> authentication/login            USER_LOGOUT -> authentication/logout
  USER_AUTH, USER_ACCT, USER_ERR, GRP_AUTH, CRED_ACQ, CRED_REFR, CRED_DISP
             -> authentication/authenticate  (CRED_* are PAM setcred calls; we keep them as
                credential checks rather than sessions so sessions are not counted twice)
  USER_START, LOGIN (login uid set by the kernel) -> authentication/session_start
  USER_END   -> authentication/session_end
  ADD_USER / DEL_USER -> user_created / user_deleted; ADD_GROUP / DEL_GROUP -> group_created /
  group_deleted; ACCT_LOCK / ACCT_UNLOCK -> user_locked / user_unlocked
  USER_MGMT, GRP_MGMT, USER_CHAUTHTOK, GRP_CHAUTHTOK: decided by op= (shadow-utils writes both
  `add-user-to-group` and `adding user to group`; old versions log usermod changes as
  USER_CHAUTHTOK): a user+group or member op -> group_member_added / group_member_removed
  (target = acct, role = grp); lock/unlock -> user_locked / user_unlocked; USER_CHAUTHTOK with a
  password op (or none) and GRP_CHAUTHTOK -> password_changed; else USER_MGMT/USER_CHAUTHTOK ->
  user_modified and GRP_MGMT -> group_modified (so the add-home-dir / add-shadow-group companions
  of useradd/groupadd do not count as a second creation; likewise add-user-to-shadow-group, which
  repeats a membership change in /etc/gshadow, is group_modified with target and role kept).
  ROLE_ASSIGN, USER_ROLE_CHANGE -> permission_change/role_granted; ROLE_REMOVE -> role_revoked
    (role = new-role/new-seuser/selected-context; pam_selinux writes USER_ROLE_CHANGE at every
    SELinux login)
  CONFIG_CHANGE, FEATURE_CHANGE, DAEMON_CONFIG/RECONFIG/RESUME -> policy_change/audit_config_changed
  DAEMON_END, DAEMON_ABORT -> policy_change/audit_config_changed (the audit daemon stopping means
    audit logging stopped: a defence-evasion signal rules must see; resource = auditd)
  DAEMON_START -> system/service_start (app auditd); SERVICE_START/STOP -> service_start/stop
  MAC_STATUS, MAC_POLICY_LOAD, MAC_CONFIG_CHANGE, USER_MAC_* , ROLE_MODIFY -> policy_change/
    policy_changed
  NETFILTER_CFG (a firewall table registered or its rules replaced) -> policy_change/
    policy_changed, resource = the table (auparse and go-libaudit class it as configuration)
  USER_CMD -> privileged_action/command_run, resource = the decoded cmd
  SYSCALL (+EXECVE/PATH/...) -> system/syscall, resource = the first non-PARENT PATH name, else
    exe; attrs.key = the audit rule key(s) (comma-joined), attrs.argv for execve, attrs.proctitle
    otherwise, attrs.cwd, attrs.sockaddr (decoded SOCKADDR), attrs.records = the record types
  anything else (AVC, CRYPTO_*, ANOM_*, TTY, BPF, ...) -> system/log (resource = a
    PATH name when the event has one)
Fields: actor = AUID (ENRICHED name) when the login uid is set; else, for authentication records,
the account logging in (acct, or ID/id), else the numeric auid; for other records the numeric
auid, else UID/uid. auid 4294967295 is "unset". Account-management records: target = acct, else
ID (name) or id. Authentication records with a known AUID: target = acct when it differs (su and
sudo to root). outcome = res (success/yes/1, failed/no/0), else SYSCALL success=. src_ip = addr
(not "?"). session = ses. host = node=, else hostname= only when addr is absent or loopback
(for sshd and PAM, hostname= is the REMOTE peer's name; it stays in attrs.hostname). app = the
basename of exe, else comm. Hex-encoded values (acct, cmd, exe, comm, cwd, name, proctitle, key,
EXECVE a0..an, ...) are decoded; proctitle NULs become spaces.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from auditctl.plugins import Parser
from auditctl.schema import Event, unparsed_event
from auditctl.sources import HEAD_BYTES, Head, Source

DEFAULT_WINDOW = 1000

_HEADER = re.compile(
    r"(?:node=(\S+) )?type=([A-Za-z0-9_\[\]]+) msg=audit\((\d+)(?:\.(\d+))?:(\d+)\):?")
# key=value: a "quoted" value, a plain one, or (rarely) 'single-quoted', "unterminated or {braced}.
_KV = re.compile(
    r"""([A-Za-z_][\w\-\[\]]*)=(?:"([^"]*)"|([^\s\x1d"'{][^\s\x1d]*)|('[^']*'?|"[^"]*|\{[^}]*\}?|))""")
_OP = re.compile(r"""(?:^|\s)op=([^\s"'][^='"]*?)(?=\s+[A-Za-z_][\w\-\[\]]*=|\s*$|\s+:)""")
_HEXCHARS = re.compile(r"[0-9A-F]+")
_TRAILING = frozenset('",)')
_EXECVE_ARG = re.compile(r"a\d+")

# Fields the kernel and libaudit hex-encode when they contain spaces, quotes or control bytes.
_ENCODED = frozenset({
    "acct", "cmd", "comm", "cwd", "data", "dir", "exe", "file", "name", "path", "proctitle", "key",
    "ocomm", "watch", "grp", "new_group", "old_group", "new-disk", "old-disk", "vm", "sw",
    "root_dir", "new-chardev", "old-chardev", "device", "cgroup",
})
# Records that add detail to an event but do not say what it is.
_AUX = frozenset({
    "SYSCALL", "EXECVE", "PATH", "CWD", "PROCTITLE", "SOCKADDR", "EOE", "BPRM_FCAPS", "OBJ_PID",
    "MMAP", "FD_PAIR", "IPC", "IPC_SET_PERM", "CAPSET", "MQ_OPEN", "MQ_SENDRECV", "MQ_NOTIFY",
    "MQ_GETSETATTR", "SOCKETCALL", "URINGOP", "OPENAT2",
})
# User-space messages: each is a whole event of one record.
_STANDALONE_PREFIXES = ("USER_", "CRED_", "ADD_", "DEL_", "GRP_", "ROLE_", "ACCT_", "DAEMON_",
                        "SERVICE_", "SYSTEM_", "CRYPTO_", "USYS_", "VIRT_", "ANOM_LOGIN_")
_STANDALONE = frozenset({"USER", "SOFTWARE_UPDATE", "CHGRP_ID", "CHUSER_ID", "TRUSTED_APP"})

_AUTH = "authentication"
_UM = "user_management"
_PC = "permission_change"
_POL = "policy_change"
_SYS = "system"
_SIMPLE: dict[str, tuple[str, str]] = {
    "USER_LOGIN": (_AUTH, "login"),
    "USER_LOGOUT": (_AUTH, "logout"),
    "USER_AUTH": (_AUTH, "authenticate"),
    "USER_ACCT": (_AUTH, "authenticate"),
    "USER_ERR": (_AUTH, "authenticate"),
    "GRP_AUTH": (_AUTH, "authenticate"),
    "CRED_ACQ": (_AUTH, "authenticate"),
    "CRED_REFR": (_AUTH, "authenticate"),
    "CRED_DISP": (_AUTH, "authenticate"),
    "USER_START": (_AUTH, "session_start"),
    "LOGIN": (_AUTH, "session_start"),
    "USER_END": (_AUTH, "session_end"),
    "ADD_USER": (_UM, "user_created"),
    "DEL_USER": (_UM, "user_deleted"),
    "ADD_GROUP": (_UM, "group_created"),
    "DEL_GROUP": (_UM, "group_deleted"),
    "ACCT_LOCK": (_UM, "user_locked"),
    "ACCT_UNLOCK": (_UM, "user_unlocked"),
    "USER_CHAUTHTOK": (_UM, "password_changed"),
    "GRP_CHAUTHTOK": (_UM, "password_changed"),
    "USER_MGMT": (_UM, "user_modified"),
    "GRP_MGMT": (_UM, "group_modified"),
    "ROLE_ASSIGN": (_PC, "role_granted"),
    "USER_ROLE_CHANGE": (_PC, "role_granted"),
    "ROLE_REMOVE": (_PC, "role_revoked"),
    "ROLE_MODIFY": (_POL, "policy_changed"),
    "CONFIG_CHANGE": (_POL, "audit_config_changed"),
    "FEATURE_CHANGE": (_POL, "audit_config_changed"),
    "DAEMON_CONFIG": (_POL, "audit_config_changed"),
    "DAEMON_RECONFIG": (_POL, "audit_config_changed"),
    "DAEMON_RESUME": (_POL, "audit_config_changed"),
    "DAEMON_END": (_POL, "audit_config_changed"),
    "DAEMON_ABORT": (_POL, "audit_config_changed"),
    "DAEMON_START": (_SYS, "service_start"),
    "SERVICE_START": (_SYS, "service_start"),
    "SERVICE_STOP": (_SYS, "service_stop"),
    "MAC_STATUS": (_POL, "policy_changed"),
    "MAC_POLICY_LOAD": (_POL, "policy_changed"),
    "NETFILTER_CFG": (_POL, "policy_changed"),
    "MAC_CONFIG_CHANGE": (_POL, "policy_changed"),
    "USER_MAC_STATUS": (_POL, "policy_changed"),
    "USER_MAC_POLICY_LOAD": (_POL, "policy_changed"),
    "USER_MAC_CONFIG_CHANGE": (_POL, "policy_changed"),
    "USER_CMD": ("privileged_action", "command_run"),
    "SYSCALL": (_SYS, "syscall"),
}
_AUTH_TYPES = frozenset(t for t, (c, _) in _SIMPLE.items() if c == _AUTH)
_ACCOUNT_TYPES = frozenset({
    "ADD_USER", "DEL_USER", "ADD_GROUP", "DEL_GROUP", "ACCT_LOCK", "ACCT_UNLOCK", "USER_CHAUTHTOK",
    "GRP_CHAUTHTOK", "USER_MGMT", "GRP_MGMT", "ROLE_ASSIGN", "ROLE_REMOVE", "ROLE_MODIFY",
})
_GROUP_TYPES = frozenset({"ADD_GROUP", "DEL_GROUP", "GRP_MGMT", "GRP_CHAUTHTOK"})
_BY_OP = frozenset({"USER_MGMT", "GRP_MGMT", "USER_CHAUTHTOK", "GRP_CHAUTHTOK"})
_AUDIT_SETTINGS = ("audit_enabled", "audit_failure", "audit_backlog_limit", "audit_rate_limit",
                   "audit_backlog_wait_time", "audit_pid", "backlog_wait_time_actual")

# auditd's and its clients' own spellings of "no value"; none is a valid user or group name
# (a group called "unknown" or "unset" is a name). "unset" is the enriched AUID of an unset id.
_NONE = frozenset({"", "?", "(null)", "(none)", "(unknown)", "(invalid user)", "(unknown user)"})
_NO_ID = _NONE | {"unset"}
_NO_VALUE = frozenset({"", "?", "(null)", "(none)"})
_UNSET_ID = frozenset({"", "?", "4294967295", "-1", "unset", "(none)"})
# Fields copied to attrs from the main record (the rest are ids/labels raw keeps, or mapped
# to columns).
_ATTR_SKIP = frozenset({
    "msg", "subj", "arch", "a0", "a1", "a2", "a3", "items", "gid", "egid", "sgid", "fsgid", "suid",
    "fsuid", "ses", "addr", "res", "cmd", "unit", "proctitle", "key", "saddr", "argc", "pid",
})
_SYSCALL_ATTRS = ("syscall", "success", "exit", "exe", "comm", "ppid", "uid", "euid",
                  "auid", "tty")
_ENRICHED_SKIP = frozenset({"ARCH", "GID", "EGID", "SGID", "FSGID", "SUID", "FSUID", "OGID"})
_MAX_PATHS = 8
_MAX_TEXT = 2000


class _Record:
    """One audit.log line with a header; its fields are parsed on first use."""

    __slots__ = ("_enriched", "_fields", "body", "frac", "line_no", "node", "sec", "serial", "text",
                 "type")

    def __init__(self, line_no: int, text: str, m: re.Match[str]) -> None:
        self.line_no = line_no
        self.text = text
        self.node, self.type, self.sec, self.frac, self.serial = m.groups()
        self.body = text[m.end():]
        self._fields: dict[str, str] | None = None
        self._enriched: dict[str, str] | None = None

    @property
    def fields(self) -> dict[str, str]:
        if self._fields is None:
            body, sep, enriched = self.body.partition("\x1d")
            if not sep:
                body, sep, enriched = _enriched_without_gs(self.body)
            self._fields = _parse_fields(body, self.type == "EXECVE")
            self._enriched = _parse_fields(enriched, False) if sep else {}
        return self._fields

    @property
    def enriched(self) -> dict[str, str]:
        if self._enriched is None:
            _ = self.fields
        return self._enriched or {}


# The ENRICHED part when its 0x1d did not survive (rsyslog's `#035`, a space, or nothing
# after a closing quote): a run of upper-case KEY=value fields up to the end of the line.
# auditd's own keys are lower case, so the run cannot begin inside the record.
_ENRICHED_TAIL = re.compile(r"""(?:#035|(?<=[\s'"]))((?:[A-Z][A-Z0-9_]*=(?:"[^"]*"|[^\s"']+)\s*)+)$""")


def _enriched_without_gs(body: str) -> tuple[str, str, str]:
    # every enriched record with an id names it (UID=, AUID=, OUID=, ID=...): a cheap test first
    if "ID=" not in body and "ARCH=" not in body:
        return body, "", ""
    m = _ENRICHED_TAIL.search(body)
    if m is None:
        return body, "", ""
    return body[:m.start()], "\x1d", m[1]


def _unhex(value: str) -> str | None:
    if len(value) >= 2 and not len(value) % 2 and _HEXCHARS.fullmatch(value):
        try:
            return bytes.fromhex(value).decode("utf-8", "replace")
        except ValueError:
            return None
    return None


def _parse_fields(text: str, execve: bool) -> dict[str, str]:
    """key=value pairs; quotes stripped, hex decoded, a nested msg='...' merged in."""
    out: dict[str, str] = {}
    op_unquoted = False
    for key, quoted, plain, other in _KV.findall(text):
        if plain:
            if plain[-1] in _TRAILING:  # stray quote; `(hostname=?, ... res=success)` of RHEL 5
                plain = plain.rstrip('"')
                if plain.endswith(","):
                    plain = plain[:-1]
                if plain.endswith(")") and "(" not in plain:
                    plain = plain[:-1]
            if key in _ENCODED or (execve and _EXECVE_ARG.fullmatch(key)):
                decoded = _unhex(plain)
                if decoded is not None:
                    plain = decoded
            elif key == "op":
                op_unquoted = True
            out[key] = plain
        elif not other:
            out[key] = quoted  # also `key=` with nothing after it
        elif other[0] == "'":
            inner = other[1:-1] if len(other) > 1 and other[-1] == "'" else other[1:]
            if key == "msg":
                out.update(_parse_fields(inner, execve))
            else:
                out[key] = inner
        elif other[0] == '"':  # unterminated quote
            out[key] = other[1:]
        else:  # {...} (SADDR={ ... } in ENRICHED)
            out[key] = other
    if op_unquoted:
        m = _OP.search(text)  # shadow-utils on Debian writes `op=adding user to group`
        if m:
            out["op"] = m.group(1).strip()
    return out


def _clean(value: str | None, empty: frozenset[str] = _NONE) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return None if value in empty else value


def _id(value: str | None) -> str | None:
    return None if value is None or value in _UNSET_ID else value


def _basename(path: str | None) -> str | None:
    if not path:
        return None
    base = path.rstrip("/").rsplit("/", 1)[-1]
    return base.split(" (deleted)", 1)[0] or None


def _is_loopback(addr: str) -> bool:
    return addr.startswith("127.") or addr in ("::1", "localhost")


def _is_ip(value: str) -> bool:
    return bool(value) and (value.replace(".", "").isdigit() or ":" in value)


def _sockaddr(value: str | None) -> str | None:
    """A SOCKADDR record's saddr (hex struct sockaddr) as `ip:port`, `[ip6]:port` or a path."""
    if not value:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    if len(raw) < 2:
        return None
    family = int.from_bytes(raw[:2], "little")
    if family == 2 and len(raw) >= 8:
        return f"{ipaddress.IPv4Address(raw[4:8])}:{int.from_bytes(raw[2:4], 'big')}"
    if family == 10 and len(raw) >= 24:
        return f"[{ipaddress.IPv6Address(raw[8:24])}]:{int.from_bytes(raw[2:4], 'big')}"
    if family == 1:
        path = raw[2:].split(b"\x00", 1)[0] or b"@" + raw[3:].split(b"\x00", 1)[0]
        return path.decode("utf-8", "replace") or None
    return None


def _argv(records: list[_Record]) -> list[str]:
    fields: dict[str, str] = {}
    for rec in records:
        fields.update(rec.fields)
    args: list[str] = []
    i = 0
    while True:
        key = f"a{i}"
        if key in fields:
            args.append(fields[key])
        elif f"{key}[0]" in fields:
            parts = []
            j = 0
            while f"{key}[{j}]" in fields:
                parts.append(fields[f"{key}[{j}]"])
                j += 1
            joined = "".join(parts)
            args.append(_unhex(joined) or joined)
        else:
            break
        i += 1
    return args


def _keys(value: str | None) -> str | None:
    value = _clean(value)
    if value is None:
        return None
    keys = [k for k in value.split("\x01") if k and k != "(null)"]
    return ",".join(keys) or None


def _by_op(rtype: str, op: str | None) -> str:
    """The action of a USER_MGMT / GRP_MGMT / *_CHAUTHTOK record, from its op= text."""
    o = (op or "").lower().replace("-", " ").replace("_", " ")
    password = "passw" in o or "chauthtok" in o
    if not password:
        member = "member" in o or ("user" in o and "group" in o)
        # `add-user-to-shadow-group` repeats the change in /etc/gshadow: not a second membership
        if member and "shadow" in o:
            return "group_modified"
        if member and ("add" in o or "append" in o):
            return "group_member_added"
        if member and ("delet" in o or "remov" in o):
            return "group_member_removed"
    if "unlock" in o:
        return "user_unlocked"
    if "lock" in o:
        return "user_locked"
    if rtype == "GRP_CHAUTHTOK":
        return "password_changed"
    if rtype == "USER_CHAUTHTOK":
        return "password_changed" if (password or not o or o.startswith("pam")) else "user_modified"
    if rtype == "GRP_MGMT":
        return "group_modified"
    return "user_modified"


def _outcome(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.lower()
    if v in ("success", "yes", "1"):
        return "success"
    if v in ("failed", "fail", "failure", "no", "0"):
        return "failure"
    return None


def _timestamp(sec: str, frac: str | None) -> datetime:
    micro = int((frac or "0")[:6].ljust(6, "0"))
    return datetime.fromtimestamp(int(sec), UTC).replace(microsecond=micro)


def _head_lines(head: Head) -> list[str]:
    # Not head.lines: str.splitlines() also breaks at 0x1d, the ENRICHED separator.
    lines = head.text.split("\n")
    if len(head.data) >= HEAD_BYTES and lines:
        lines.pop()  # cut by the head size
    return [ln for ln in lines if ln.strip()][:25]


class _Pending:
    __slots__ = ("done", "first", "line", "records", "text")

    def __init__(self, first: int) -> None:
        self.first = first
        self.done = False
        self.records: list[_Record] = []
        self.text: str | None = None  # a line without a header
        self.line = 0


class AuditdParser(Parser):
    name = "auditd"
    description = "Linux audit.log (auditd RAW or ENRICHED): one event per audit serial"
    splittable = False  # records of one event span lines

    def detect(self, head: Head) -> float:
        try:
            lines = _head_lines(head)
            if not lines:
                return 0.0
            hits = sum(1 for ln in lines if _HEADER.match(ln))
            if not hits:
                return 0.0
            share = hits / len(lines)
            return 0.95 if share >= 0.5 else 0.5 + 0.4 * share
        except Exception:
            return 0.0

    def explain(self, head: Head) -> str:
        lines = _head_lines(head)
        hits = sum(1 for ln in lines if _HEADER.match(ln))
        return f"{hits} of the first {len(lines)} lines start `type=... msg=audit(epoch:serial)`"

    @staticmethod
    def parse_record(text: str, line_no: int = 0) -> _Record | None:
        """One line as a record (None without an audit header); for tests and tools."""
        m = _HEADER.match(text)
        return _Record(line_no, text, m) if m else None

    def parse(self, source: Source) -> Iterator[Event]:
        try:
            window = max(1, int(source.options.get("window", DEFAULT_WINDOW)))
        except (TypeError, ValueError):
            window = DEFAULT_WINDOW
        pending: dict[tuple[Any, ...], _Pending] = {}
        count = 0
        header = _HEADER.match
        for line_no, text in source.lines():
            if not text.strip():
                continue
            count += 1
            m = header(text)
            if m is None:
                p = _Pending(count)
                p.text, p.line, p.done = text, line_no, True
                pending[("#", line_no)] = p
            else:
                rec = _Record(line_no, text, m)
                key = (rec.node, rec.sec, rec.frac, rec.serial)
                found = pending.get(key)
                if found is None:
                    found = pending[key] = _Pending(count)
                p = found
                p.records.append(rec)
                rtype = rec.type
                if rtype == "EOE" or rtype in _STANDALONE or rtype.startswith(_STANDALONE_PREFIXES):
                    p.done = True
            while pending:
                key, front = next(iter(pending.items()))
                if not front.done and count - front.first < window:
                    break
                del pending[key]
                yield self._event(front)
        for front in pending.values():
            yield self._event(front)

    def _event(self, p: _Pending) -> Event:
        if p.text is not None:
            return unparsed_event(p.text, "auditd: no `type=... msg=audit(time:serial)` header",
                                  line=p.line)
        raw = "\n".join(r.text for r in p.records)
        try:
            return _build(p.records, raw)
        except Exception as exc:  # never let one odd record stop the file
            first = p.records[0]
            return unparsed_event(raw, f"auditd: {type(exc).__name__}: {exc}", line=first.line_no,
                                  origin=f"serial {first.serial}", host=first.node)


def _build(records: list[_Record], raw: str) -> Event:
    main = syscall = proctitle = cwd_rec = sockaddr = None
    path_recs: list[_Record] = []
    execve: list[_Record] = []
    for rec in records:  # one pass; aux records are parsed only if their data is used
        t = rec.type
        if t == "SYSCALL":
            if syscall is None:
                syscall = rec
        elif t == "PATH":
            path_recs.append(rec)
        elif t == "EXECVE":
            execve.append(rec)
        elif t == "PROCTITLE":
            proctitle = proctitle or rec
        elif t == "CWD":
            cwd_rec = cwd_rec or rec
        elif t == "SOCKADDR":
            sockaddr = sockaddr or rec
        elif main is None and t not in _AUX:
            main = rec
    if main is None:
        main = syscall or records[0]
    rtype = main.type
    f = main.fields
    sc = syscall.fields if syscall is not None and syscall is not main else {}
    enr = dict(syscall.enriched) if syscall is not None else {}
    enr.update(main.enriched)

    def get(name: str) -> str | None:
        v = f.get(name)
        return v if v is not None else sc.get(name)

    category, action = _SIMPLE.get(rtype, (_SYS, "syscall" if rtype in _AUX else "log"))
    op = _clean(f.get("op"))
    if rtype in _BY_OP:
        action = _by_op(rtype, op)
        category = _PC if action.startswith("group_member") else _UM

    # who
    auid = _id(get("auid"))
    auid_name = _clean(enr.get("AUID"), _NO_ID)
    acct = _clean(f.get("acct"))
    account = acct or _clean(enr.get("ID"), _NO_ID) or _id(f.get("id"))
    uid_name = _clean(enr.get("UID"), _NO_ID) or _id(get("uid"))
    actor = target = role = resource = None
    if rtype in _AUTH_TYPES:
        actor = auid_name or account or auid
        if auid_name and account and account != auid_name:
            target = account
    else:
        actor = auid_name or auid or uid_name
        if rtype in _GROUP_TYPES:  # the group is the account acted on (grp= in GRP_MGMT)
            target = acct or _clean(f.get("grp")) or account
        elif rtype in _ACCOUNT_TYPES:
            target = account
    if action in ("group_member_added", "group_member_removed") or (
            action == "group_modified" and rtype == "USER_MGMT"):
        role = _clean(f.get("grp")) or _clean(f.get("group"))
    elif rtype in ("ROLE_ASSIGN", "USER_ROLE_CHANGE", "ROLE_REMOVE"):
        names: tuple[str, ...]
        if rtype == "ROLE_REMOVE":
            names = ("old-role", "old-seuser", "old-context")
        else:
            names = ("new-role", "new-seuser", "selected-context", "new-context")
        role = next((v for v in (_clean(f.get(n)) for n in names) if v), None)

    # what
    exe = _clean(get("exe"))
    paths: list[str] = []
    resource_path = None
    for r in path_recs:
        name = _clean(r.fields.get("name"))
        if name:
            paths.append(name)
            if resource_path is None and r.fields.get(
                    "nametype", r.fields.get("objtype")) != "PARENT":
                resource_path = name
    argv = _argv(execve) if execve else []
    if rtype == "USER_CMD":
        resource = _clean(f.get("cmd"))
    elif rtype in ("SERVICE_START", "SERVICE_STOP"):
        resource = _clean(f.get("unit"))
    elif rtype.startswith("DAEMON_"):
        resource = "auditd"
    elif rtype == "NETFILTER_CFG":
        resource = _clean(f.get("table"))
    elif rtype == "CONFIG_CHANGE":
        setting = next((k for k in _AUDIT_SETTINGS if k in f), None)
        resource = op if op and op != "set" else (setting or op)
    if resource is None and (action == "syscall" or paths):
        resource = resource_path or (paths[0] if paths else None) or exe

    # where
    addr = _clean(f.get("addr"))
    src_ip = addr
    host = main.node
    hostname = _clean(f.get("hostname"))
    if host is None and hostname and (addr is None or _is_loopback(addr)) and not _is_ip(hostname):
        host = hostname
    session = _id(get("ses"))
    app = _basename(exe) or _clean(get("comm"))
    if app is None and rtype.startswith("DAEMON_"):
        app = "auditd"

    outcome = _outcome(f.get("res")) or _outcome(f.get("success")) or _outcome(sc.get("success"))

    attrs: dict[str, Any] = {}
    if rtype not in _AUX or rtype == "SYSCALL":  # PATH/EXECVE/CWD data has attrs of its own
        for k, v in f.items():
            if k not in _ATTR_SKIP and v not in _NO_VALUE:
                attrs[k] = v[:_MAX_TEXT]
    if op:
        attrs["op"] = op
    for k in _SYSCALL_ATTRS:
        value = sc.get(k)
        if value is not None and value not in _NO_VALUE and k not in attrs:
            attrs[k] = value
    for k, v in enr.items():
        if k not in _ENRICHED_SKIP and v not in _NO_ID and k not in attrs:
            attrs[k] = v
    key = _keys(f.get("key")) or _keys(sc.get("key"))
    if key:
        attrs["key"] = key
    if argv:
        attrs["argv"] = [a[:_MAX_TEXT] for a in argv]
    else:
        title = proctitle.fields.get("proctitle") if proctitle is not None else None
        if title:
            attrs["proctitle"] = title.replace("\x00", " ").strip()[:_MAX_TEXT]
    sock = _sockaddr(sockaddr.fields.get("saddr")) if sockaddr is not None else None
    if sock:
        attrs["sockaddr"] = sock
        if src_ip is None and _peer_syscall(sc or f, enr):
            peer = sock.rpartition(":")[0].strip("[]")
            src_ip = peer if _is_ip(peer) else None
    cwd = cwd_rec.fields.get("cwd") if cwd_rec is not None else None
    if cwd and "cwd" not in attrs:
        attrs["cwd"] = cwd
    if len(paths) > 1:
        attrs["paths"] = paths[:_MAX_PATHS]
    if len(records) > 1:
        attrs["records"] = [r.type for r in records]
    if main.node:
        attrs["node"] = main.node

    final_outcome = outcome or "unknown"
    parts = [rtype]
    if op:
        parts.append(op)
    if actor:
        parts.append(f"by {actor}")
    if target and target != actor:
        parts.append(f"on {target}")
    if role:
        parts.append(f"role {role}")
    if resource and resource in f and rtype == "CONFIG_CHANGE":
        parts.append(f"{resource}={f[resource]}" + (f" (was {f['old']})" if "old" in f else ""))
    elif resource and resource != op:
        parts.append(resource if len(resource) <= 120 else resource[:117] + "...")
    if src_ip:
        parts.append(f"from {src_ip}")
    if key:
        parts.append(f"key={key}")
    parts.append(f"({final_outcome})")
    message = " ".join(parts).replace("\n", " ")

    return Event(
        ts=_timestamp(main.sec, main.frac), category=category, action=action,
        outcome=final_outcome, host=host, app=app, actor=actor, target=target, role=role,
        resource=resource, src_ip=src_ip, session=session, message=message,
        original_action=rtype, raw=raw, attrs=attrs or None, line=records[0].line_no,
        pid=_pid(f.get("pid") or sc.get("pid")),
        origin=f"serial {main.serial}",
    )


# Syscalls whose SOCKADDR is the remote peer (the client accepted, the sender of a datagram), by
# name (ENRICHED SYSCALL=) or by number on x86_64 and aarch64; for connect/bind/sendto it is the
# destination or our own address, so it is no source.
_PEER_SYSCALLS = frozenset({"accept", "accept4", "recvfrom", "recvmsg"})
_PEER_NUMBERS = {"c000003e": frozenset({"43", "288", "45", "47"}),
                 "c00000b7": frozenset({"202", "242", "207", "212"})}


def _peer_syscall(fields: dict[str, str], enriched: dict[str, str]) -> bool:
    name = enriched.get("SYSCALL")
    if name:
        return name in _PEER_SYSCALLS
    return fields.get("syscall", "") in _PEER_NUMBERS.get(fields.get("arch", ""), frozenset())


def _pid(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


parser = AuditdParser()
