"""logfmt: `key=value key2="quoted value"` lines (Go kit, logrus, Grafana, Loki, Heroku style).

A value is bare (no spaces or quotes) or double-quoted with `\\"`, `\\\\`, `\\n`, `\\t` escapes; a
key alone means `true`. The first occurrence of a key wins. A line that is not a sequence of
such pairs (an unterminated quote, a Go panic trace, plain text: no pairs, or more bare words
than pairs) is kept as an unparsed event.

Common keys, first present wins:
  ts          time, ts, timestamp, t, @timestamp, at (when not a level word): ISO 8601 or epoch
              seconds/ms/us; unreadable -> attrs.ts_unparsed
  level       level, lvl, severity, at (Heroku's at=info|error) -> attrs.level
  message     msg, message
  actor       user, username, user_name, uname, actor, login
  target      target, target_user;  role: role, group
  src_ip      ip, remote_ip, client_ip, remote_addr, src_ip, source_ip, clientip, fwd (first address,
              port removed)
  host        hostname (a `host` key is usually the HTTP Host header: it stays in attrs)
  app         app, service, component, program;  pid: pid
  session     session, session_id, sid, request_id, req_id
  user_agent  user_agent, useragent, ua, http_user_agent
  resource    resource, object, file, path, url, uri
  action word action, event, evt, event_type, op, operation -> original_action
  outcome     outcome, result, status, success: success/ok/true/allowed... -> success,
              failure/failed/error/false/denied/blocked... -> failure, HTTP codes 1xx-3xx success,
              4xx-5xx failure
Category/action from the action word (split into lower-case words):
  a word of the action vocabulary itself (`action=user_created`) -> that action
  login, logon, signin, sign+in, log+in            -> authentication/login
  logout, logoff, signout, sign+out, log+out       -> authentication/logout
  auth, authenticate, authentication, authenticated -> authentication/authenticate
  user|account + create|created|add|added|new      -> user_management/user_created
  user|account + delete|deleted|remove|removed     -> user_management/user_deleted
  password + change|changed|reset|set|update       -> user_management/password_changed
  role|permission|privilege + grant|granted|assign -> permission_change/role_granted (revoke -> role_revoked)
  download(ed), export(ed), access(ed)             -> data_access/access
  otherwise, with `method` and `path` keys (an HTTP request log): status 401/407 ->
  authentication/authenticate failure, any other -> data_access/access; else system/log.
attrs: level and up to 16 keys not used above (values cut at 256 characters).

Options (`parsers: logfmt: ...` in the config), checked once per file (ValueError names the
mapping and field):

    mappings:
      - name: grafana-login            # used in errors and attrs.mapping
        when: {logger: authn.service, msg: ["Successful Login", "Failed to authenticate request"]}
        fields: {actor: uname, action: msg, outcome: msg, src_ip: remote_addr}   # key or [keys]
        values: {action: {Successful Login: login, Failed to authenticate request: authenticate},
                 outcome: {Successful Login: success, Failed to authenticate request: failure}}
        category: authentication       # default: the mapped action's usual category

The first mapping whose `when` keys all have one of the listed values wins; fields it does not
name are filled from the common keys above.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from auditctl.plugins import Parser
from auditctl.schema import ACTIONS, CATEGORY_DESCRIPTIONS, Event, unparsed_event
from auditctl.sources import Head, Source
from auditctl.timeutil import parse_iso

_TOKEN = re.compile(r'[ \t]*([^\s="]+)(?:=(?:"((?:[^"\\]|\\.)*)"|([^\s"]*)))?')
_ESCAPES = re.compile(r"\\(.)")
_ESCAPE_MAP = {"n": "\n", "t": "\t", "r": "\r"}
_IDENT = re.compile(r"[A-Za-z_@][\w.\-@/:\[\]]*$")
_AUDITD = re.compile(r"(?:node=\S+ )?type=\S+ msg=audit\(")
_WORDS = re.compile(r"[a-z]+")
_PORT = re.compile(r"^\[?([0-9a-fA-F:.]+?)\]?(?::\d+)?$")

TIME_KEYS = ("time", "ts", "timestamp", "t", "@timestamp")
LEVEL_KEYS = ("level", "lvl", "severity")
LEVEL_WORDS = frozenset({"trace", "debug", "info", "notice", "warn", "warning", "error", "err",
                         "crit", "critical", "fatal", "panic", "alert", "emerg"})
MESSAGE_KEYS = ("msg", "message")
ACTOR_KEYS = ("user", "username", "user_name", "uname", "actor", "login")
TARGET_KEYS = ("target", "target_user")
ROLE_KEYS = ("role", "group")
IP_KEYS = ("ip", "remote_ip", "client_ip", "remote_addr", "src_ip", "source_ip", "clientip", "fwd")
HOST_KEYS = ("hostname",)
APP_KEYS = ("app", "service", "component", "program")
SESSION_KEYS = ("session", "session_id", "sid", "request_id", "req_id")
AGENT_KEYS = ("user_agent", "useragent", "ua", "http_user_agent")
RESOURCE_KEYS = ("resource", "object", "file", "path", "url", "uri")
ACTION_KEYS = ("action", "event", "evt", "event_type", "op", "operation")
OUTCOME_KEYS = ("outcome", "result", "status", "success")
ATTRS_LIMIT = 16
ATTR_TEXT_LIMIT = 256
# logfmt says "no value" with `key=`; Go's fmt renders a nil value as <nil>. Any other text
# ("-", "none", "null") is the value.
NULLISH = frozenset({"", "<nil>"})

OUTCOME_WORDS = {
    "success": "success", "succeeded": "success", "successful": "success", "ok": "success",
    "true": "success", "allowed": "success", "allow": "success", "pass": "success",
    "passed": "success", "accepted": "success", "granted": "success",
    "failure": "failure", "failed": "failure", "fail": "failure", "error": "failure",
    "false": "failure", "denied": "failure", "deny": "failure", "rejected": "failure",
    "invalid": "failure", "blocked": "failure", "unauthorized": "failure", "forbidden": "failure",
    "unknown": "unknown",
}
_LOGIN = frozenset({"login", "logon", "signin", "loggedin"})
_LOGOUT = frozenset({"logout", "logoff", "signout", "loggedout"})
_AUTH = frozenset({"auth", "authenticate", "authentication", "authenticated"})
_ACCOUNT = frozenset({"user", "account"})
_CREATE = frozenset({"create", "created", "add", "added", "new"})
_DELETE = frozenset({"delete", "deleted", "remove", "removed"})
_PASSWORD_CHANGE = frozenset({"change", "changed", "reset", "set", "update", "updated"})
_ROLE = frozenset({"role", "permission", "privilege"})
_GRANT = frozenset({"grant", "granted", "assign", "assigned"})
_REVOKE = frozenset({"revoke", "revoked", "unassign", "unassigned"})
_DATA = frozenset({"download", "downloaded", "export", "exported", "access", "accessed"})


def tokenize(text: str) -> tuple[dict[str, str], int, int]:
    """(pairs, number of key=value pairs, number of bare keys); ValueError when not logfmt."""
    pairs: dict[str, str] = {}
    n_pairs = n_bare = 0
    pos = 0
    end = len(text.rstrip())
    match = _TOKEN.match
    while pos < end:
        m = match(text, pos)
        if m is None:
            raise ValueError(f"unexpected {text[pos:].lstrip()[:1]!r} at column {pos + 1}")
        key, quoted, bare = m.groups()
        if quoted is not None:
            value = _ESCAPES.sub(lambda e: _ESCAPE_MAP.get(e[1], e[1]), quoted) if "\\" in quoted else quoted
            n_pairs += 1
        elif bare is not None:
            value = bare
            n_pairs += 1
        else:
            value = "true"
            n_bare += 1
        pairs.setdefault(key, value)
        pos = m.end()
    return pairs, n_pairs, n_bare


def _looks_logfmt(line: str) -> tuple[bool, bool]:
    """(a logfmt line, and it has a time, level or message key) for detection."""
    if _AUDITD.match(line):
        return False, False
    try:
        pairs, n_pairs, n_bare = tokenize(line)
    except ValueError:
        return False, False
    first = line.lstrip().split("=", 1)[0]
    if n_pairs < 3 or n_bare * 4 > n_pairs or not _IDENT.match(first) or " " in first:
        return False, False
    if not all(_IDENT.match(k) for k in pairs):
        return False, False
    keyed = any(k in pairs for k in (*TIME_KEYS, "at", *LEVEL_KEYS, *MESSAGE_KEYS))
    return True, keyed


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return None if value.lower() in NULLISH else value


def _first(pairs: dict[str, str], keys: tuple[str, ...]) -> tuple[str | None, str | None]:
    for key in keys:
        raw = pairs.get(key)
        if raw is None:
            continue
        value = _text(raw)
        if value is not None:
            return value, key
    return None, None


def _time(value: str, tz: tzinfo) -> datetime | None:
    try:
        return parse_iso(value, tz)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return None
    if number < 1e9:
        return None
    if number > 1e17:
        number /= 1e9
    elif number > 1e14:
        number /= 1e6
    elif number > 1e11:
        number /= 1e3
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _ip(value: str | None) -> str | None:
    if value is None:
        return None
    first = value.split(",")[0].strip()
    m = _PORT.match(first)
    if m is None:
        return None
    addr = m[1]
    if first.count(":") > 1 and not first.startswith("["):
        addr = first  # a bare IPv6 address: its last group is not a port
    return addr if any(c.isdigit() for c in addr) and ("." in addr or ":" in addr) else None


def _outcome(value: str | None) -> str:
    if value is None:
        return "unknown"
    low = value.lower()
    word = OUTCOME_WORDS.get(low)
    if word is not None:
        return word
    if len(low) == 3 and low.isdigit():
        return "success" if low[0] in "123" else "failure" if low[0] in "45" else "unknown"
    return "unknown"


def classify(word: str | None) -> tuple[str, str] | None:
    """(category, action) for a source's action word, or None when it says nothing we map."""
    if not word:
        return None
    low = word.strip().lower()
    if low in ACTIONS and low != "unparsed":
        return ACTIONS[low][0], low
    words = frozenset(_WORDS.findall(low))
    joined = "".join(_WORDS.findall(low))
    if words & _LOGOUT or "logout" in joined or "signout" in joined or "logoff" in joined:
        return "authentication", "logout"
    if words & _LOGIN or joined.endswith(("login", "signin", "logon")):
        return "authentication", "login"
    if words & _AUTH:
        return "authentication", "authenticate"
    if words & _ACCOUNT:
        if words & _CREATE:
            return "user_management", "user_created"
        if words & _DELETE:
            return "user_management", "user_deleted"
    if "password" in words and words & _PASSWORD_CHANGE:
        return "user_management", "password_changed"
    if words & _ROLE:
        if words & _GRANT:
            return "permission_change", "role_granted"
        if words & _REVOKE:
            return "permission_change", "role_revoked"
    if words & _DATA:
        return "data_access", "access"
    return None


# ---------------------------------------------------------------------------------------------
# Configured mappings

MAPPABLE = ("ts", "category", "action", "outcome", "host", "app", "actor", "target", "role",
            "resource", "src_ip", "user_agent", "session", "message", "original_action")
_MAPPING_KEYS = ("name", "when", "fields", "values", "category")


@dataclass(frozen=True)
class Mapping:
    name: str
    when: tuple[tuple[str, frozenset[str]], ...]
    fields: dict[str, tuple[str, ...]]
    values: dict[str, dict[str, str]]
    category: str | None

    def matches(self, pairs: dict[str, str]) -> bool:
        return all(pairs.get(key) in allowed for key, allowed in self.when)


def compile_options(options: Any) -> tuple[Mapping, ...]:
    if not options:
        return ()
    if not isinstance(options, dict):
        raise ValueError(f"logfmt options must be a mapping, got {type(options).__name__}")
    unknown = sorted(set(options) - {"mappings"})
    if unknown:
        raise ValueError(f"logfmt options: unknown key(s) {', '.join(map(repr, unknown))}; known: mappings")
    raw = options.get("mappings") or []
    if not isinstance(raw, list):
        raise ValueError("logfmt options: mappings must be a list of mappings")
    return tuple(_compile(spec, i) for i, spec in enumerate(raw))


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compile(spec: Any, index: int) -> Mapping:
    where = f"mappings[{index}]"
    if isinstance(spec, dict) and isinstance(spec.get("name"), str):
        where = f"mapping {spec['name']!r} ({where})"

    def fail(field: str, problem: str) -> ValueError:
        return ValueError(f"logfmt options: {where}: {field}: {problem}")

    if not isinstance(spec, dict):
        raise fail("mapping", "must be a mapping with when, fields, values")
    for key in spec:
        if key not in _MAPPING_KEYS:
            raise fail(str(key), f"unknown key; use {', '.join(_MAPPING_KEYS)}")
    name = spec.get("name", where)
    when_spec = spec.get("when") or {}
    if not isinstance(when_spec, dict):
        raise fail("when", "must map keys to a value or a list of values")
    when = []
    for key, allowed in when_spec.items():
        choices = allowed if isinstance(allowed, list) else [allowed]
        if not choices or any(isinstance(v, dict | list) or v is None for v in choices):
            raise fail(f"when.{key}", "must be a value or a list of values")
        when.append((str(key), frozenset(_scalar(v) for v in choices)))
    fields_spec = spec.get("fields")
    if not isinstance(fields_spec, dict) or not fields_spec:
        raise fail("fields", "must map event fields (ts, actor, action, ...) to keys")
    fields: dict[str, tuple[str, ...]] = {}
    for field, keys in fields_spec.items():
        if field not in MAPPABLE:
            raise fail(f"fields.{field}", f"unknown event field; use one of {', '.join(MAPPABLE)}")
        klist = keys if isinstance(keys, list) else [keys]
        if not klist or not all(isinstance(k, str) and k for k in klist):
            raise fail(f"fields.{field}", f"must be a key or a list of keys, got {keys!r}")
        fields[field] = tuple(klist)
    values_spec = spec.get("values") or {}
    if not isinstance(values_spec, dict):
        raise fail("values", "must map event fields to {source value: our value} tables")
    vocab = {"action": ACTIONS, "outcome": ("success", "failure", "unknown"),
             "category": CATEGORY_DESCRIPTIONS}
    values: dict[str, dict[str, str]] = {}
    for field, table in values_spec.items():
        if field not in fields:
            raise fail(f"values.{field}", f"given but fields.{field} does not say where to read it")
        if not isinstance(table, dict):
            raise fail(f"values.{field}", "must map source values to our values")
        for src, ours in table.items():
            allowed = vocab.get(field)
            if not isinstance(ours, str) or (allowed is not None and ours not in allowed):
                raise fail(f"values.{field}.{src}", f"{ours!r} is not a valid {field}")
        values[field] = {_scalar(k): v for k, v in table.items()}
    category = spec.get("category")
    if category is not None and category not in CATEGORY_DESCRIPTIONS:
        raise fail("category", f"{category!r} is not a category")
    return Mapping(name=str(name), when=tuple(when), fields=fields, values=values, category=category)


# ---------------------------------------------------------------------------------------------


class LogfmtParser(Parser):
    name = "logfmt"
    description = "logfmt key=value lines (Go kit, logrus, Grafana, Heroku); common keys mapped, others by config"
    splittable = True

    def score(self, head: Head) -> tuple[float, str]:
        lines = head.lines[:30]
        if not lines:
            return 0.0, "empty"
        if sum(1 for ln in lines if _AUDITD.match(ln)) * 2 >= len(lines):
            return 0.0, "Linux audit records (type=... msg=audit(...)), not logfmt"
        results = [_looks_logfmt(ln) for ln in lines]
        good = sum(1 for ok, _ in results if ok)
        keyed = sum(1 for ok, k in results if ok and k)
        if good >= 0.7 * len(lines) and keyed >= 0.5 * good:
            return 0.6, (f"{good} of the first {len(lines)} lines are logfmt key=value pairs "
                         f"({keyed} with a time, level or msg key)")
        return 0.0, f"only {good} of the first {len(lines)} lines are logfmt key=value pairs"

    def parse(self, source: Source) -> Iterator[Event]:
        mappings = compile_options(source.options)
        tz = source.tz
        for number, text in source.lines():
            if not text.strip():
                continue
            try:
                pairs, n_pairs, n_bare = tokenize(text)
            except ValueError as exc:
                yield unparsed_event(text, f"logfmt: {exc}", line=number)
                continue
            if n_pairs == 0 or n_bare > n_pairs:
                yield unparsed_event(text, "logfmt: no key=value pairs" if n_pairs == 0 else
                                     "logfmt: mostly bare words, not key=value pairs", line=number)
                continue
            mapping = next((m for m in mappings if m.matches(pairs)), None)
            ev = self._event(pairs, tz, mapping)
            ev.raw = text
            ev.line = number
            yield ev

    @staticmethod
    def _event(pairs: dict[str, str], tz: tzinfo, mapping: Mapping | None) -> Event:
        attrs: dict[str, Any] = {}
        used: set[str] = set()

        def pick(field: str, keys: tuple[str, ...]) -> str | None:
            if mapping is not None and field in mapping.fields:
                value, key = _first(pairs, mapping.fields[field])
                if key:
                    used.add(key)
                table = mapping.values.get(field)
                if value is not None and table is not None:
                    return table.get(value, value)
                return value
            value, key = _first(pairs, keys)
            if key:
                used.add(key)
            return value

        at = _text(pairs.get("at"))
        at_is_level = at is not None and at.lower() in LEVEL_WORDS
        level = pick("level", LEVEL_KEYS) or (at if at_is_level else None)
        if at_is_level:
            used.add("at")
        if level:
            attrs["level"] = level
        stamp = pick("ts", TIME_KEYS + (() if at_is_level else ("at",)))
        ts = None
        if stamp is not None:
            ts = _time(stamp, tz)
            if ts is None:
                attrs["ts_unparsed"] = stamp[:100]
        word = pick("original_action", ACTION_KEYS)
        outcome_raw = pick("outcome", OUTCOME_KEYS)
        if mapping is not None and "action" in mapping.fields:
            mapped = pick("action", ())
            found = (ACTIONS[mapped][0], mapped) if mapped in ACTIONS else classify(mapped)
            word = word or _first(pairs, mapping.fields["action"])[0]
        else:
            found = classify(word)
        outcome = _outcome(outcome_raw)
        if found is None and "method" in pairs and "path" in pairs:
            status = pairs.get("status", "")
            if status in ("401", "407"):
                found, outcome = ("authentication", "authenticate"), "failure"
            else:
                found = ("data_access", "access")
            word = word or pairs["method"]
        category, action = found or ("system", "log")
        if mapping is not None:
            attrs["mapping"] = mapping.name
            category = pick("category", ()) or mapping.category or category
            if category not in CATEGORY_DESCRIPTIONS:
                category = ACTIONS[action][0]
        pid_text = _text(pairs.get("pid"))
        pid = int(pid_text) if pid_text is not None and pid_text.isdigit() else None
        if pid is not None:
            used.add("pid")
        message = pick("message", MESSAGE_KEYS)
        if message is not None and "\n" in message:
            message = " ".join(message.split())
        ev = Event(
            ts=ts, category=category, action=action, outcome=outcome, original_action=word,
            actor=pick("actor", ACTOR_KEYS), target=pick("target", TARGET_KEYS),
            role=pick("role", ROLE_KEYS), src_ip=_ip(pick("src_ip", IP_KEYS)), host=pick("host", HOST_KEYS),
            app=pick("app", APP_KEYS), pid=pid, session=pick("session", SESSION_KEYS),
            user_agent=pick("user_agent", AGENT_KEYS), resource=pick("resource", RESOURCE_KEYS),
            message=message)
        extra = 0
        for key, value in pairs.items():
            if key in used or extra >= ATTRS_LIMIT or _text(value) is None:
                continue
            attrs[key] = value[:ATTR_TEXT_LIMIT]
            extra += 1
        ev.attrs = attrs or None
        return ev


parser = LogfmtParser()
