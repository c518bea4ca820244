"""postgres: PostgreSQL server logs (stderr format, any log_line_prefix) with pgaudit records.

A line is `<%m or %t timestamp> <zone><prefix><SEVERITY>:  <message>`; the prefix may hold
`[%p]`, `%u@%d`, `user=%u,db=%d,app=%a,client=%h`, `%r` (`host(port)`), `%h`, `%c` in any order:
    2026-03-14 09:12:03.481 UTC [4121] alice@app LOG:  connection authorized: user=alice database=app
    2026-03-14 09:12:03 UTC [4121]: [3-1] user=alice,db=app,app=psql,client=10.0.0.5 LOG:  ...
    2026-03-14 09:12:03 UTC:10.0.0.5(52314):alice@app:[4121]:LOG:  ...      (Amazon RDS)
One record is the line plus its tab-indented continuation lines (multi-line statements) and the
DETAIL/HINT/CONTEXT/STATEMENT/QUERY/LOCATION lines of the same process that follow it (kept in
attrs.detail, attrs.hint, ...; raw = all the lines). Records span lines, so the parser is not
splittable. A line in none of these shapes is kept as an unparsed event.

Who: actor = the session user from the prefix (%u), else the user of the process's `connection
authorized` line seen earlier in the file; src_ip = the client from the prefix (%h, %r,
client=), else from the process's `connection received` line. Both are remembered per process
id until its `disconnection`. app = "postgres", pid = %p, session = %c; attrs: severity,
database, application_name, port.

Mapping (original_action = the message's own words, the pgaudit command, or the SQL command):
  LOG  connection received: host= port=              -> system/log (src_ip)
  LOG  connection authenticated: identity= method=   -> authentication/authenticate, success
  LOG  [replication ]connection authorized: user= database= -> authentication/login, success
  LOG  disconnection: session time: ... user= host=  -> authentication/logout, success
  FATAL  <method> authentication failed for user "x" -> authentication/login, failure (actor x)
  FATAL  no pg_hba.conf entry for host "h", user "u", database "d" / pg_hba.conf rejects
         connection ...; role "x" does not exist / is not permitted to log in; database "d"
         does not exist; too many connections for role "x"  -> authentication/login, failure
  LOG  database system is ready to accept connections -> system/service_start
  LOG  database system is shut down                  -> system/service_stop
  LOG  AUDIT: <pgaudit record>  (AUDIT_TYPE,STATEMENT_ID,SUBSTATEMENT_ID,CLASS,COMMAND,
       OBJECT_TYPE,OBJECT_NAME,STATEMENT,PARAMETER; CSV): by CLASS
         ROLE        -> the statement table below (CREATE/ALTER/DROP ROLE, GRANT, REVOKE ...),
                        else by COMMAND: CREATE ROLE/USER user_created, ALTER ROLE/USER
                        user_modified, DROP ROLE/USER user_deleted, GRANT role_granted, REVOKE
                        role_revoked
         READ, WRITE -> data_access/access, resource = OBJECT_NAME (else the statement's table)
         DDL, MISC, MISC_SET, FUNCTION -> the statement table when it names a policy, audit,
                        SET ROLE or account statement, else system/log (attrs.class)
  LOG  statement: / duration: ... statement: / execute <name>: (log_statement) -> the statement
       table, else system/log
  ERROR with a STATEMENT line whose statement is in the table (other than data access) -> that
       action, failure (e.g. `permission denied to create role` + `CREATE ROLE eve`)
  ERROR  permission denied for <object type> <name>  -> data_access/access, failure (resource)
  ERROR  permission denied to ... / must be superuser|owner ... -> privileged_action/command_run,
       failure
  anything else                                      -> system/log
pgaudit and log_statement write their line before the statement runs, so those events have
outcome unknown; a failure follows as its own ERROR record.

The statement table (SQL keywords in any case; unquoted names folded to lower case, as
PostgreSQL does; lists joined with ","):
  CREATE ROLE|USER r                -> user_management/user_created, target r
  ALTER ROLE|USER r [NO]SUPERUSER|CREATEROLE|CREATEDB|REPLICATION|BYPASSRLS
                                    -> permission_change/role_granted (NO...: role_revoked), role =
                                       the attribute(s), target r
  ALTER ROLE|USER r ... PASSWORD    -> user_management/password_changed, target r
  ALTER ROLE|USER r NOLOGIN / LOGIN -> user_management/user_locked / user_unlocked
  ALTER ROLE|USER|DATABASE x ... SET|RESET pgaudit.* -> policy_change/audit_config_changed
  ALTER ROLE|USER r ... (else)      -> user_management/user_modified
  DROP ROLE|USER r[, ...]           -> user_management/user_deleted
  CREATE GROUP g / DROP GROUP g     -> user_management/group_created / group_deleted, role g
  ALTER GROUP g ADD|DROP USER u,... -> permission_change/group_member_added / removed, role g, target u
  GRANT p ON obj TO u               -> permission_change/role_granted, role p, resource obj, target u
  GRANT r TO u                      -> permission_change/role_granted, role r, target u
  REVOKE ... FROM u                 -> permission_change/role_revoked (same fields)
  CREATE|ALTER|DROP POLICY p ON t, ALTER TABLE t ENABLE|DISABLE|FORCE|NO FORCE ROW LEVEL
  SECURITY                          -> policy_change/policy_changed, resource
  ALTER SYSTEM SET|RESET pgaudit.*|log_* | logging_collector | shared_preload_libraries,
  SET [SESSION|LOCAL] pgaudit.*, DROP EXTENSION pgaudit -> policy_change/audit_config_changed
  SET [SESSION|LOCAL] ROLE r, SET SESSION AUTHORIZATION r -> privileged_action/
                                       privilege_escalation, target r
  SELECT/INSERT/UPDATE/DELETE/MERGE/COPY/TRUNCATE -> data_access/access, resource = the table
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from auditctl.plugins import Parser
from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head, Source

AUTH = "authentication"
USERS = "user_management"
PERMS = "permission_change"
POLICY = "policy_change"
PRIV = "privileged_action"
DATA = "data_access"

_LINE = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?)(?: ([A-Za-z]{1,6}|[+-]\d\d(?::?\d\d)?)\b)?"
    r"(.*?)\b(LOG|FATAL|ERROR|WARNING|NOTICE|INFO|DEBUG[1-5]?|PANIC|DETAIL|HINT|CONTEXT|STATEMENT|"
    r"QUERY|LOCATION):  (.*)$", re.S)
ATTACHED = frozenset({"DETAIL", "HINT", "CONTEXT", "STATEMENT", "QUERY", "LOCATION"})
# Zone abbreviations PostgreSQL prints that are not IANA names; ambiguous ones (CST, IST) are not here.
ZONE_OFFSETS = {"CET": 1, "CEST": 2, "EET": 2, "EEST": 3, "WET": 0, "WEST": 1, "BST": 1, "EST": -5,
                "EDT": -4, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7, "AKST": -9,
                "AKDT": -8, "HST": -10, "JST": 9, "KST": 9, "AEST": 10, "AEDT": 11, "NZST": 12,
                "NZDT": 13, "MSK": 3, "SGT": 8, "HKT": 8}
ATTR_TEXT_LIMIT = 512
MESSAGE_LIMIT = 500
MAX_SESSIONS = 100_000

_P_PID = re.compile(r"\[(\d+)\]")
_P_USERDB = re.compile(r"(?:^|[\s:\]])(\[unknown\]|[^\s@:\[\],=]*)@(\[unknown\]|[^\s@:\[\],=]*)(?=[\s:,\[]|$)")
_P_KV = re.compile(r"\b(user|db|database|app|application|client|host|remote)=([^,\s]*)")
_P_REMOTE = re.compile(r"([0-9a-fA-F:.]*[0-9a-fA-F]|\[local\])\((\d+)\)")
_P_IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.(])")
_P_SESSION = re.compile(r"(?<![\w.:-])([0-9a-f]{1,8}\.[0-9a-f]{1,8})(?![\w.])")

# -- messages -----------------------------------------------------------------------------

_RECEIVED = re.compile(r"connection received: host=(\S+?)(?: port=(\d+))?\s*$")
_AUTHENTICATED = re.compile(r'connection authenticated: identity="(.*?)" method=(\S+)(?: \((.*)\))?')
_AUTHORIZED = re.compile(r"(replication )?connection authorized: user=(\S+)(.*)$", re.S)
_AUTHORIZED_DB = re.compile(r" database=(\S+)")
_AUTHORIZED_APP = re.compile(r" application_name=(.*?)(?= SSL | GSS |$)")
_DISCONNECTION = re.compile(
    r"disconnection: session time: (\S+) user=(\S*) database=(\S*) host=(\S+?)(?: port=(\d+))?\s*$")
_AUTH_FAILED = re.compile(r'(\S+) authentication failed for user "(.*)"')
_HBA = re.compile(r'(?:no pg_hba\.conf entry for|pg_hba\.conf rejects) (replication )?(?:connection )?'
                  r'(?:from |for )?host "(.*?)", user "(.*?)"(?:, database "(.*?)")?(?:, (.*))?$')
_ROLE_MISSING = re.compile(r'role "(.*)" (does not exist|is not permitted to log in)')
_DB_MISSING = re.compile(r'database "(.*)" does not exist')
_TOO_MANY = re.compile(r'too many connections for role "(.*)"')
_STATEMENT = re.compile(r"(?:duration: [\d.]+ ms  )?(?:statement|execute [^:]*): (.*)$", re.S)
_DENIED_FOR = re.compile(r"permission denied for (table|relation|schema|database|sequence|view|"
                         r"materialized view|foreign table|function|procedure|routine|column|"
                         r"large object|type|language|tablespace|parameter) (.+)$")
_DENIED_TO = re.compile(r"(?:permission denied to |must be superuser |must be owner of |must have )(.*)$")

# -- SQL statements -----------------------------------------------------------------------

_ID = r'("(?:[^"]|"")+"|[\w$.]+)'
_NAMES = r'((?:"(?:[^"]|"")+"|[\w$.]+)(?:\s*,\s*(?:"(?:[^"]|"")+"|[\w$.]+))*)'
_I = re.I | re.S
_SQL_RULES = [
    ("create_role", re.compile(rf"CREATE\s+(?:ROLE|USER)\s+{_ID}", _I)),
    ("create_group", re.compile(rf"CREATE\s+GROUP\s+{_ID}", _I)),
    ("alter_group_member", re.compile(rf"ALTER\s+GROUP\s+{_ID}\s+(ADD|DROP)\s+USER\s+{_NAMES}", _I)),
    ("alter_group", re.compile(rf"ALTER\s+GROUP\s+{_ID}", _I)),
    ("alter_role", re.compile(rf"ALTER\s+(?:ROLE|USER)\s+{_ID}(.*)$", _I)),
    ("alter_database", re.compile(rf"ALTER\s+DATABASE\s+{_ID}(.*)$", _I)),
    ("drop_role", re.compile(rf"DROP\s+(?:ROLE|USER)\s+(?:IF\s+EXISTS\s+)?{_NAMES}", _I)),
    ("drop_group", re.compile(rf"DROP\s+GROUP\s+(?:IF\s+EXISTS\s+)?{_NAMES}", _I)),
    ("grant_on", re.compile(r"GRANT\s+(.+?)\s+ON\s+(.+?)\s+TO\s+(.+?)"
                            r"(?:\s+WITH\s+GRANT\s+OPTION|\s+GRANTED\s+BY\s+.*?)?\s*;?\s*$", _I)),
    ("grant", re.compile(r"GRANT\s+(.+?)\s+TO\s+(.+?)"
                         r"(?:\s+WITH\s+(?:ADMIN|INHERIT|SET)\s+(?:OPTION|TRUE|FALSE)|\s+GRANTED\s+BY\s+.*?)*\s*;?\s*$", _I)),
    ("revoke_on", re.compile(r"REVOKE\s+(?:GRANT\s+OPTION\s+FOR\s+)?(.+?)\s+ON\s+(.+?)\s+FROM\s+(.+?)"
                             r"(?:\s+GRANTED\s+BY\s+\S+)?(?:\s+(?:CASCADE|RESTRICT))?\s*;?\s*$", _I)),
    ("revoke", re.compile(r"REVOKE\s+(?:(?:ADMIN|INHERIT|SET)\s+OPTION\s+FOR\s+)?(.+?)\s+FROM\s+(.+?)"
                          r"(?:\s+GRANTED\s+BY\s+\S+)?(?:\s+(?:CASCADE|RESTRICT))?\s*;?\s*$", _I)),
    ("policy", re.compile(rf"(CREATE|ALTER|DROP)\s+POLICY\s+(?:IF\s+EXISTS\s+)?{_ID}\s+ON\s+{_ID}", _I)),
    ("rls", re.compile(rf"ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_ID}\s+"
                       r"(ENABLE|DISABLE|FORCE|NO\s+FORCE)\s+ROW\s+LEVEL\s+SECURITY", _I)),
    ("alter_system", re.compile(rf"ALTER\s+SYSTEM\s+(SET|RESET)\s+{_ID}", _I)),
    ("set_audit", re.compile(r"(?:SET|RESET)\s+(?:SESSION\s+|LOCAL\s+)?(pgaudit\.\w+)", _I)),
    ("drop_pgaudit", re.compile(r"DROP\s+EXTENSION\s+(?:IF\s+EXISTS\s+)?\"?pgaudit\b", _I)),
    ("set_role", re.compile(rf"SET\s+(?:SESSION\s+|LOCAL\s+)?(?:ROLE|SESSION\s+AUTHORIZATION)\s+{_ID}", _I)),
    ("dml", re.compile(r"(SELECT|INSERT|UPDATE|DELETE|MERGE|COPY|TRUNCATE|WITH)\b", _I)),
]
_ROLE_ATTR = re.compile(r"\b(NO)?(SUPERUSER|CREATEROLE|CREATEDB|REPLICATION|BYPASSRLS)\b", re.I)
_WORD = re.compile(r"\b(PASSWORD|NOLOGIN|LOGIN|RENAME\s+TO)\b", re.I)
_SET_PGAUDIT = re.compile(r"\b(?:SET|RESET)\s+\"?pgaudit\.", re.I)
_AUDIT_PARAMS = re.compile(r"(?:pgaudit\.\w+|log_\w+|logging_collector|shared_preload_libraries)$", re.I)
_TABLE = re.compile(rf"(?:\bINTO|\bFROM|^\s*UPDATE(?:\s+ONLY)?|^\s*TRUNCATE(?:\s+TABLE)?(?:\s+ONLY)?|^\s*COPY)\s+{_ID}", re.I)
_SPACE = re.compile(r"\s+")


def _name(text: str) -> str:
    """An SQL identifier as PostgreSQL stores it: quotes removed, unquoted names in lower case."""
    text = text.strip()
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        return text[1:-1].replace('""', '"')
    return text.lower()


def _names(text: str) -> str:
    parts = [p.strip() for p in re.findall(r'"(?:[^"]|"")+"|[^,]+', text) if p.strip()]
    out = []
    for part in parts:
        part = re.sub(r"^(?:GROUP|ROLE|USER)\s+", "", part, flags=re.I).strip()
        if part:
            out.append(part if part.upper() in ("PUBLIC", "CURRENT_USER", "SESSION_USER", "CURRENT_ROLE")
                       else _name(part))
    return ",".join(out)


def _squash(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


@dataclass
class Sql:
    """What an SQL statement does, in our words."""

    category: str
    action: str
    command: str
    target: str | None = None
    role: str | None = None
    resource: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


def classify_sql(statement: str) -> Sql | None:
    """The statement table of the module docstring; None for statements it does not name."""
    stmt = statement.strip().lstrip("(")
    for kind, pattern in _SQL_RULES:
        m = pattern.match(stmt)
        if m is None:
            continue
        sql = _sql(kind, m, stmt)
        if sql is not None and kind in ("create_role", "alter_role", "drop_role"):
            sql.command = " ".join(stmt.split()[:2]).upper()  # CREATE USER stays CREATE USER
        return sql
    return None


def _sql(kind: str, m: re.Match[str], stmt: str) -> Sql | None:
    """One statement-table rule applied to its match."""
    if kind == "create_role":
        return Sql(USERS, "user_created", "CREATE ROLE", target=_name(m[1]))
    if kind == "create_group":
        return Sql(USERS, "group_created", "CREATE GROUP", role=_name(m[1]))
    if kind == "alter_group_member":
        added = m[2].upper() == "ADD"
        return Sql(PERMS, "group_member_added" if added else "group_member_removed",
                   f"ALTER GROUP {m[2].upper()} USER", role=_name(m[1]), target=_names(m[3]))
    if kind == "alter_group":
        return Sql(USERS, "group_modified", "ALTER GROUP", role=_name(m[1]))
    if kind == "alter_role":
        return _alter_role(_name(m[1]), m[2])
    if kind == "alter_database":
        if _SET_PGAUDIT.search(m[2]):
            return Sql(POLICY, "audit_config_changed", "ALTER DATABASE", resource=_name(m[1]))
        return None
    if kind == "drop_role":
        return Sql(USERS, "user_deleted", "DROP ROLE", target=_names(m[1]))
    if kind == "drop_group":
        return Sql(USERS, "group_deleted", "DROP GROUP", role=_names(m[1]))
    if kind in ("grant_on", "revoke_on"):
        grant = kind == "grant_on"
        return Sql(PERMS, "role_granted" if grant else "role_revoked", "GRANT" if grant else "REVOKE",
                   role=_squash(m[1]).upper().replace(" ,", ",").replace(", ", ","),
                   resource=_squash(m[2]), target=_names(m[3]))
    if kind in ("grant", "revoke"):
        grant = kind == "grant"
        return Sql(PERMS, "role_granted" if grant else "role_revoked", "GRANT" if grant else "REVOKE",
                   role=_names(m[1]), target=_names(m[2]))
    if kind == "policy":
        return Sql(POLICY, "policy_changed", f"{m[1].upper()} POLICY",
                   resource=f"{_name(m[2])} ON {_name(m[3])}")
    if kind == "rls":
        return Sql(POLICY, "policy_changed", f"ALTER TABLE {_squash(m[2]).upper()} ROW LEVEL SECURITY",
                   resource=_name(m[1]))
    if kind == "alter_system":
        param = _name(m[2])
        if _AUDIT_PARAMS.match(param):
            return Sql(POLICY, "audit_config_changed", f"ALTER SYSTEM {m[1].upper()}", resource=param)
        return None
    if kind == "set_audit":
        return Sql(POLICY, "audit_config_changed", "SET", resource=m[1].lower())
    if kind == "drop_pgaudit":
        return Sql(POLICY, "audit_config_changed", "DROP EXTENSION", resource="pgaudit")
    if kind == "set_role":
        role = _name(m[1])
        # NONE resets the role ("none" is reserved: no role has that name); DEFAULT resets it only
        # as a keyword: a quoted "default" is a role's name.
        if role == "none" or (role == "default" and not m[1].strip().startswith('"')):
            return None
        return Sql(PRIV, "privilege_escalation", "SET ROLE", target=role)
    if kind == "dml":
        command = m[1].upper()
        table = _TABLE.search(stmt)
        return Sql(DATA, "access", command, resource=_name(table[1]) if table else None)
    return None


def _alter_role(name: str, rest: str) -> Sql:
    if _SET_PGAUDIT.search(rest):
        return Sql(POLICY, "audit_config_changed", "ALTER ROLE", resource=name)
    granted: list[str] = []
    revoked: list[str] = []
    for no, attr in _ROLE_ATTR.findall(rest):
        (revoked if no else granted).append(attr.upper())
    if granted or revoked:
        return Sql(PERMS, "role_granted" if granted else "role_revoked", "ALTER ROLE", target=name,
                   role=",".join(granted or revoked))
    words = {w.upper().split()[0] for w in _WORD.findall(rest)}
    if "RENAME" in words:
        m = re.search(rf"RENAME\s+TO\s+{_ID}", rest, re.I)
        return Sql(USERS, "user_modified", "ALTER ROLE", target=name,
                   attrs={"new_name": _name(m[1])} if m else {})
    if "PASSWORD" in words:
        return Sql(USERS, "password_changed", "ALTER ROLE", target=name)
    if "NOLOGIN" in words:
        return Sql(USERS, "user_locked", "ALTER ROLE", target=name)
    if "LOGIN" in words:
        return Sql(USERS, "user_unlocked", "ALTER ROLE", target=name)
    return Sql(USERS, "user_modified", "ALTER ROLE", target=name)


_ROLE_COMMANDS = {"CREATE ROLE": "user_created", "CREATE USER": "user_created",
                  "ALTER ROLE": "user_modified", "ALTER USER": "user_modified",
                  "DROP ROLE": "user_deleted", "DROP USER": "user_deleted",
                  "GRANT": "role_granted", "REVOKE": "role_revoked"}


# -- records ------------------------------------------------------------------------------


@dataclass
class Prefix:
    pid: int | None = None
    user: str | None = None
    database: str | None = None
    host: str | None = None
    port: int | None = None
    app: str | None = None
    session: str | None = None


@dataclass
class Record:
    line: int
    lines: list[str]
    ts: datetime | None
    prefix: Prefix
    severity: str
    message: str
    tz_assumed: bool = False  # the zone abbreviation was unknown: the configured zone was used
    extra: dict[str, str] = field(default_factory=dict)
    last: str | None = None  # where continuation lines go: None = message, else an extra key


@lru_cache(maxsize=4096)
def _address(text: str) -> str | None:
    """An IP address from a prefix field; separators (`:` in RDS prefixes) trimmed from the left."""
    candidate = text
    while candidate:
        try:
            ipaddress.ip_address(candidate)
            return candidate
        except ValueError:
            if not candidate.startswith(":"):
                return None
            candidate = candidate[1:]
    return None


def _unknown(value: str | None) -> str | None:
    # PostgreSQL's own spellings of "not known" in log_line_prefix (%u, %d, %r, %h); a user or
    # database called "unknown" or "-" is a name
    if not value or value in ("[unknown]", "[local]"):
        return None
    return value


def parse_prefix(text: str) -> Prefix:
    p = Prefix()
    m = _P_PID.search(text)
    if m:
        p.pid = int(m[1])
    for key, value in _P_KV.findall(text):
        value = _unknown(value)
        if value is None:
            continue
        if key == "user":
            p.user = value
        elif key in ("db", "database"):
            p.database = value
        elif key in ("app", "application"):
            p.app = value
        else:
            p.host = value
    m = _P_USERDB.search(text)
    if m:
        p.user = p.user or _unknown(m[1])
        p.database = p.database or _unknown(m[2])
    m = _P_REMOTE.search(text)
    if m:
        p.host = p.host or _address(m[1])
        p.port = int(m[2])
    if p.host is None:
        m = _P_IPV4.search(text)
        if m:
            p.host = m[1]
    m = _P_SESSION.search(text)
    if m:
        p.session = m[1]
    return p


class PostgresParser(Parser):
    name = "postgres"
    description = "PostgreSQL server logs (stderr, any log_line_prefix): connections, auth failures, pgaudit, DDL"
    splittable = False  # records span lines (continuations, DETAIL/STATEMENT) and sessions are tracked

    def score(self, head: Head) -> tuple[float, str]:
        lines = [ln for ln in head.lines[:30] if not ln.startswith("\t")]
        if not lines:
            return 0.0, "empty"
        hits = sum(1 for ln in lines if _LINE.match(ln))
        # ISO-stamped syslog detection (0.95) also matches these lines: the severity marker
        # with two spaces (`LOG:  `) is PostgreSQL's own, so a clear match scores above it.
        if hits >= 0.5 * len(lines):
            return 0.97, f"{hits} of the first {len(lines)} lines have a PostgreSQL timestamp and `SEVERITY:  ` marker"
        return 0.0, f"only {hits} of the first {len(lines)} lines look like PostgreSQL log lines"

    def parse(self, source: Source) -> Iterator[Event]:
        builder = _Builder(source.tz)
        pending: Record | None = None
        for number, text in source.lines():
            if not text.strip():
                continue
            if text[0] == "\t" and pending is not None:
                builder.continue_record(pending, text)
                continue
            m = _LINE.match(text)
            if m is None:
                if pending is not None:
                    yield from builder.build(pending)
                    pending = None
                reason = ("continuation line without a record before it" if text[0] == "\t"
                          else "not a PostgreSQL log line")
                yield unparsed_event(text, f"postgres: {reason}", line=number)
                continue
            stamp, zone, prefix_text, severity, message = m.groups()
            prefix = builder.prefix(prefix_text)
            if (severity in ATTACHED and pending is not None and pending.prefix.pid == prefix.pid):
                pending.lines.append(text)
                key = severity.lower()
                pending.extra[key] = (pending.extra[key] + "\n" + message) if key in pending.extra else message
                pending.last = key
                continue
            if pending is not None:
                yield from builder.build(pending)
            try:
                ts, zone_known = builder.time(stamp, zone)
            except ValueError as exc:
                pending = None
                yield unparsed_event(text, f"postgres: {exc}", line=number)
                continue
            pending = Record(number, [text], ts, prefix, severity, message, tz_assumed=not zone_known)
        if pending is not None:
            yield from builder.build(pending)


class _Builder:
    """Turns records into events, remembering each process's user and client address."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self.sessions: dict[int, dict[str, Any]] = {}
        self._prefixes: dict[str, Prefix] = {}
        self._times: dict[tuple[str, str | None], tuple[datetime, bool]] = {}
        self._zones: dict[str | None, tuple[tzinfo, bool]] = {}

    def prefix(self, text: str) -> Prefix:
        hit = self._prefixes.get(text)
        if hit is None:
            if len(self._prefixes) > 50_000:
                self._prefixes.clear()
            hit = self._prefixes[text] = parse_prefix(text)
        return hit

    def time(self, stamp: str, zone: str | None) -> tuple[datetime, bool]:
        """(UTC time, whether the zone was understood) for a log line's timestamp."""
        key = (stamp, zone)
        hit = self._times.get(key)
        if hit is not None:
            return hit
        tz, known = self._zone(zone)
        value = (datetime.fromisoformat(stamp).replace(tzinfo=tz).astimezone(UTC), known)
        if len(self._times) > 50_000:
            self._times.clear()
        self._times[key] = value
        return value

    def _zone(self, name: str | None) -> tuple[tzinfo, bool]:
        hit = self._zones.get(name)
        if hit is not None:
            return hit
        zone: tzinfo | None = None
        if name is None:
            zone = self.tz
        elif name.upper() in ("UTC", "GMT", "Z", "UT"):
            zone = UTC
        elif name[0] in "+-":
            digits = name[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            zone = timezone(-delta if name[0] == "-" else delta)
        elif name.upper() in ZONE_OFFSETS:
            zone = timezone(timedelta(hours=ZONE_OFFSETS[name.upper()]), name.upper())
        else:
            try:
                zone = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                zone = None
        result = (zone, True) if zone is not None else (self.tz, False)
        self._zones[name] = result
        return result

    @staticmethod
    def continue_record(record: Record, text: str) -> None:
        record.lines.append(text)
        body = text[1:]  # PostgreSQL puts one tab after each newline of a message
        if record.last is None:
            record.message += "\n" + body
        else:
            record.extra[record.last] += "\n" + body

    def build(self, rec: Record) -> Iterator[Event]:
        p = rec.prefix
        session = self.sessions.get(p.pid) if p.pid is not None else None
        msg = rec.message
        attrs: dict[str, Any] = {"severity": rec.severity}
        ev = self._classify(rec, msg, attrs, session)
        known_user = p.user or (session.get("user") if session else None)
        ev.actor = ev.actor or known_user
        ev.src_ip = ev.src_ip or p.host or (session.get("host") if session else None)
        database = p.database or (session.get("database") if session else None)
        if database and "database" not in attrs:
            attrs["database"] = database
        if p.app:
            attrs.setdefault("application_name", p.app)
        if p.port is not None:
            attrs.setdefault("port", p.port)
        for key, value in rec.extra.items():
            attrs[key] = value[:ATTR_TEXT_LIMIT]
        if rec.tz_assumed:
            attrs["tz_assumed"] = True
        ev.ts = rec.ts
        ev.app = "postgres"
        ev.pid = p.pid
        ev.session = p.session
        ev.raw = "\n".join(rec.lines)
        ev.line = rec.line
        if ev.message is None:
            ev.message = _squash(msg)[:MESSAGE_LIMIT] or None
        ev.attrs = attrs
        yield ev

    def _remember(self, pid: int | None, **values: Any) -> None:
        if pid is None:
            return
        if len(self.sessions) > MAX_SESSIONS:
            self.sessions.clear()
        self.sessions.setdefault(pid, {}).update({k: v for k, v in values.items() if v is not None})

    def _classify(self, rec: Record, msg: str, attrs: dict[str, Any],
                  session: dict[str, Any] | None) -> Event:
        sev, pid = rec.severity, rec.prefix.pid
        if sev not in ("FATAL", "ERROR", "PANIC") and sev not in ATTACHED:
            if msg.startswith("AUDIT: "):
                return self._pgaudit(msg[7:], attrs)
            if msg.startswith("connection "):
                m = _RECEIVED.match(msg)
                if m:
                    host = _unknown(m[1])
                    if pid is not None:
                        self.sessions.pop(pid, None)  # a new connection in this process
                    self._remember(pid, host=host)
                    if m[2]:
                        attrs["port"] = int(m[2])
                    return _ev("system", "log", "unknown", "connection received", src_ip=host)
                m = _AUTHENTICATED.match(msg)
                if m:
                    attrs["method"] = m[2]
                    if m[1]:
                        attrs["identity"] = m[1]
                    if m[3]:
                        attrs["hba_line"] = m[3]
                    return _ev(AUTH, "authenticate", "success", "connection authenticated",
                               actor=rec.prefix.user or m[1] or None)
                m = _AUTHORIZED.match(msg)
                if m:
                    user, rest = m[2], m[3]
                    db = _AUTHORIZED_DB.search(rest)
                    app = _AUTHORIZED_APP.search(rest)
                    if db:
                        attrs["database"] = db[1]
                    if app and app[1]:
                        attrs["application_name"] = app[1]
                    if " SSL enabled" in rest:
                        attrs["ssl"] = True
                    if m[1]:
                        attrs["replication"] = True
                    self._remember(pid, user=user, database=db[1] if db else None)
                    return _ev(AUTH, "login", "success", f"{m[1] or ''}connection authorized", actor=user)
            if msg.startswith("disconnection: "):
                m = _DISCONNECTION.match(msg)
                if m:
                    attrs["session_time"] = m[1]
                    if m[3]:
                        attrs["database"] = m[3]
                    if m[5]:
                        attrs["port"] = int(m[5])
                    if pid is not None:
                        self.sessions.pop(pid, None)
                    return _ev(AUTH, "logout", "success", "disconnection", actor=m[2] or None,
                               src_ip=_unknown(m[4]))
            if msg.startswith("database system is ready to accept"):
                return _ev("system", "service_start", "success", "ready to accept connections")
            if msg.startswith("database system is shut down"):
                return _ev("system", "service_stop", "success", "database system is shut down")
            m = _STATEMENT.match(msg)
            if m:
                sql = classify_sql(m[1])
                if sql is not None:
                    return _from_sql(sql, "unknown", attrs, m[1])
                return _ev("system", "log", "unknown", "statement")
            return _ev("system", "log", "unknown", None)
        if sev == "FATAL":
            return self._fatal(msg, attrs)
        if sev == "ERROR":
            statement = rec.extra.get("statement")
            sql = classify_sql(statement) if statement else None
            if sql is not None and sql.action != "access":
                attrs["reason"] = _squash(msg)[:ATTR_TEXT_LIMIT]
                ev = _from_sql(sql, "failure", attrs, statement or "")
                ev.message = _squash(f"{msg}: {statement}")[:MESSAGE_LIMIT]
                return ev
            m = _DENIED_FOR.match(msg)
            if m:
                attrs["object_type"] = m[1]
                return _ev(DATA, "access", "failure", "permission denied", resource=m[2].strip())
            m = _DENIED_TO.match(msg)
            if m:
                return _ev(PRIV, "command_run", "failure", "permission denied",
                           resource=_squash(statement)[:ATTR_TEXT_LIMIT] if statement else None)
        return _ev("system", "log", "unknown", None)

    @staticmethod
    def _fatal(msg: str, attrs: dict[str, Any]) -> Event:
        m = _AUTH_FAILED.match(msg)
        if m:
            attrs["method"] = m[1]
            return _ev(AUTH, "login", "failure", f"{m[1]} authentication failed", actor=m[2])
        m = _HBA.match(msg)
        if m:
            if m[4]:
                attrs["database"] = m[4]
            if m[5]:
                attrs["encryption"] = m[5]
            if m[1]:
                attrs["replication"] = True
            word = "no pg_hba.conf entry" if msg.startswith("no ") else "pg_hba.conf rejects connection"
            return _ev(AUTH, "login", "failure", word, actor=m[3] or None, src_ip=_unknown(m[2]))
        m = _ROLE_MISSING.match(msg)
        if m:
            return _ev(AUTH, "login", "failure", f"role {m[2]}", actor=m[1])
        m = _DB_MISSING.match(msg)
        if m:
            attrs["database"] = m[1]
            return _ev(AUTH, "login", "failure", "database does not exist")
        m = _TOO_MANY.match(msg)
        if m:
            return _ev(AUTH, "login", "failure", "too many connections for role", actor=m[1])
        return _ev("system", "log", "unknown", None)

    @staticmethod
    def _pgaudit(text: str, attrs: dict[str, Any]) -> Event:
        try:
            fields = next(csv.reader([text]))
        except (csv.Error, StopIteration):
            fields = []
        if len(fields) < 8:
            attrs["reason"] = "pgaudit record with fewer than 8 fields"
            return _ev("system", "log", "unknown", "AUDIT")
        audit_type, statement_id, substatement_id, klass, command, object_type, object_name = fields[:7]
        statement = fields[7]
        attrs.update({"audit_type": audit_type, "statement_id": statement_id,
                      "substatement_id": substatement_id, "class": klass, "command": command})
        if object_type:
            attrs["object_type"] = object_type
        if len(fields) > 8 and fields[8] not in ("<not logged>", "<none>", ""):
            attrs["parameter"] = fields[8][:ATTR_TEXT_LIMIT]
        logged = statement not in ("<not logged>", "<previously logged>", "")
        if logged:
            attrs["statement"] = _squash(statement)[:ATTR_TEXT_LIMIT]
        sql = classify_sql(statement) if logged else None
        message = _squash(f"AUDIT {klass} {command}: {statement}")[:MESSAGE_LIMIT]
        if klass in ("READ", "WRITE"):
            ev = _ev(DATA, "access", "unknown", command,
                     resource=object_name or (sql.resource if sql else None))
        elif sql is not None and (klass == "ROLE" or sql.category != DATA):
            ev = _from_sql(sql, "unknown", attrs, statement)
            ev.original_action = command or sql.command
            if object_name and ev.resource is None and sql.category not in (USERS, PERMS):
                ev.resource = object_name
        elif klass == "ROLE" and command.upper() in _ROLE_COMMANDS:
            action = _ROLE_COMMANDS[command.upper()]
            category = USERS if action.startswith("user_") else PERMS
            ev = _ev(category, action, "unknown", command)
        else:
            ev = _ev("system", "log", "unknown", command or "AUDIT", resource=object_name or None)
        ev.message = message
        return ev


def _ev(category: str, action: str, outcome: str, original: str | None, actor: str | None = None,
        src_ip: str | None = None, resource: str | None = None) -> Event:
    return Event(ts=None, category=category, action=action, outcome=outcome, original_action=original,
                 actor=actor or None, src_ip=src_ip or None, resource=resource or None)


def _from_sql(sql: Sql, outcome: str, attrs: dict[str, Any], statement: str) -> Event:
    attrs.update(sql.attrs)
    attrs.setdefault("statement", _squash(statement)[:ATTR_TEXT_LIMIT])
    ev = Event(ts=None, category=sql.category, action=sql.action, outcome=outcome,
               original_action=sql.command, target=sql.target or None, role=sql.role or None,
               resource=sql.resource or None)
    return ev


parser = PostgresParser()
