"""Generic JSON lines: one JSON object a line, in any shape.

Three ways a line becomes an event, tried in this order:

1. A configured mapping (`parsers: jsonl: mappings: [...]` in the config, i.e. `source.options`)
   whose `when` matches the object: its `fields` name the dotted paths to read, `values` translate
   the source's words into ours. The options are checked once per file; a wrong mapping raises
   ValueError naming the mapping and the field.
2. An Elastic Common Schema document (nested `{"user": {"name": ..}}` or flattened
   `{"user.name": ..}` keys, recognised by `event`/`ecs` fields): mapped automatically through the
   tables below (`ECS_FIELDS`, `ECS_ACTIONS`, `_ecs_classify`).
3. Any other object: `system`/`log`, time and message from common keys, a few top-level scalars
   in attrs. Lines that are not JSON objects are kept as unparsed events.

Options (all optional):

    ecs: true                    # map ECS-shaped documents automatically
    mappings:
      - name: accounts           # used in error messages and attrs.mapping
        when: {logger: accounts.audit}     # dotted path -> value or list of values; all must match
        fields: {ts: ts, actor: by, target: user, action: event, outcome: result,
                 src_ip: [remote_ip, client.ip]}   # event field -> dotted path(s), first found wins
        values: {action: {create_user: user_created}, outcome: {ok: success}}
        category: user_management    # default: the mapped action's usual category
        ts_format: auto          # auto, iso, epoch, epoch_ms, epoch_us, epoch_ns, "%d/%m/%Y %H:%M"
        attrs: [request_id]      # paths copied into attrs (default: top-level scalars not mapped)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any

import orjson

from auditctl.ingest.rawbytes import loads_json
from auditctl.plugins import Parser
from auditctl.schema import ACTIONS, CATEGORY_DESCRIPTIONS, Event, unparsed_event
from auditctl.sources import Head, Source
from auditctl.timeutil import parse_iso

NAME = "jsonl"
DETECT_SCORE = 0.5  # generic: specific JSON parsers (cloudtrail, k8s_audit...) score 0.9+ and win
ATTRS_LIMIT = 16  # top-level scalar keys copied into attrs when nothing better is known
ATTR_TEXT_LIMIT = 256
# JSON has null for "no value": only blank text is empty; "-", "None" or "null" is a value
NULLISH = frozenset({""})
OUTCOMES = ("success", "failure", "unknown")

# ---------------------------------------------------------------------------------------------
# Dotted paths that reach nested keys, flattened keys, or any mix of the two.


class _Path:
    __slots__ = ("keys", "n", "text")

    def __init__(self, text: str) -> None:
        parts = text.split(".")
        self.text = text
        self.n = len(parts)
        # keys[i][j - i - 1] = ".".join(parts[i:j]): every way to group the remaining parts
        self.keys = tuple(
            tuple(".".join(parts[i:j]) for j in range(i + 1, self.n + 1)) for i in range(self.n))

    def get(self, doc: dict[str, Any]) -> Any:
        value = doc.get(self.text)  # a plain key, or a flattened one
        if value is not None or self.n == 1:
            return value
        return self._walk(doc, 0)  # nested, or a mix of nesting and dotted keys

    def _walk(self, obj: dict[str, Any], i: int) -> Any:
        for offset, key in enumerate(self.keys[i]):
            value = obj.get(key)
            if value is None:
                continue
            j = i + offset + 1
            if j == self.n:
                return value
            if isinstance(value, dict):
                found = self._walk(value, j)
                if found is not None:
                    return found
        return None


def _flatten(doc: dict[str, Any], roots: frozenset[str]) -> dict[str, Any]:
    """Every non-object value under `roots` by its dotted path; lists stay values."""
    out: dict[str, Any] = {}
    stack: list[tuple[str, dict[str, Any]]] = []
    for key, value in doc.items():
        if key.partition(".")[0] not in roots:
            continue
        if isinstance(value, dict):
            stack.append((f"{key}.", value))
        else:
            out.setdefault(key, value)
    while stack:
        prefix, obj = stack.pop()
        for key, value in obj.items():
            if isinstance(value, dict):
                stack.append((f"{prefix}{key}.", value))
            else:
                out.setdefault(prefix + key, value)
    return out


def _first(doc: dict[str, Any], paths: tuple[_Path, ...]) -> Any:
    for path in paths:
        value = path.get(doc)
        if value is not None:
            return value
    return None


def _text(value: Any) -> str | None:
    """A field value as text; empty, placeholder and structured values are None."""
    if isinstance(value, str):
        value = value.strip()
        return None if value.lower() in NULLISH else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        for item in value:
            text = _text(item) if not isinstance(item, list | dict) else None
            if text is not None:
                return text
    return None


def _key(value: Any) -> str:
    """How a JSON or YAML value is compared with the keys of `when` and `values`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _one_line(text: str) -> str:
    return " ".join(text.split()) if "\n" in text or "\r" in text else text


# ---------------------------------------------------------------------------------------------
# Time


def _epoch(value: float, unit: str) -> datetime:
    if unit == "auto":
        unit = ("epoch_ns" if value > 1e17 else "epoch_us" if value > 1e14
                else "epoch_ms" if value > 1e11 else "epoch")
    divisor = {"epoch": 1, "epoch_ms": 1e3, "epoch_us": 1e6, "epoch_ns": 1e9}[unit]
    return datetime.fromtimestamp(value / divisor, UTC)


@lru_cache(maxsize=4096)
def _strptime(text: str, fmt: str, tz: tzinfo) -> datetime:
    dt = datetime.strptime(text, fmt)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(UTC)


def _to_time(value: Any, fmt: str, tz: tzinfo) -> datetime | None:
    """A timestamp value read as `fmt`; None when it cannot be read.

    `auto` takes ISO 8601 text or a number of seconds/ms/us/ns since the epoch judged by size;
    numbers before 2001 (< 1e9 s) are refused there, as they are more likely durations.
    """
    if isinstance(value, bool) or value is None:
        return None
    try:
        if fmt == "auto":
            if isinstance(value, int | float):
                return _epoch(float(value), "auto") if value >= 1e9 else None
            text = str(value).strip()
            try:
                return parse_iso(text, tz)
            except ValueError:
                number = float(text)  # epoch as text; ValueError when it is not a number
                return _epoch(number, "auto") if number >= 1e9 else None
        if fmt == "iso":
            return parse_iso(str(value).strip(), tz)
        if fmt.startswith("epoch"):
            return _epoch(float(value), fmt)
        return _strptime(str(value).strip(), fmt, tz)
    except (ValueError, TypeError, OverflowError, OSError):
        return None


# ---------------------------------------------------------------------------------------------
# ECS documents


def _web_access(get: Callable[[str], Any]) -> bool:
    """Whether an ECS document is a web server's access log line (where "-" means no user)."""
    dataset = get("event.dataset") or get("fileset.name")
    return get("http.request.method") is not None or (isinstance(dataset, str) and dataset.endswith("access"))

ECS_ROOTS = frozenset({"event", "ecs"})
# Event field <- ECS field(s), first present wins.
ECS_FIELDS: dict[str, tuple[str, ...]] = {
    "actor": ("user.name",),
    "target": ("user.target.name",),
    "role": ("group.name", "user.target.group.name"),
    "resource": ("file.path", "url.original"),
    "src_ip": ("source.ip", "client.ip"),
    "user_agent": ("user_agent.original",),
    "host": ("host.name", "host.hostname"),
    "app": ("service.name", "process.name"),
    "message": ("message",),
}
# Kept in attrs when present (raw has the rest).
ECS_ATTRS = (
    "event.code", "event.id", "event.kind", "event.category", "event.type", "event.dataset",
    "event.module", "event.provider", "event.reason", "user.id", "user.domain", "user.target.id",
    "user.target.domain", "group.id", "group.domain", "source.port",
    "http.request.method", "http.response.status_code", "log.level", "ecs.version",
)

# event.action words of the Elastic producers (Winlogbeat security, Auditbeat auditd and
# system, Filebeat system/auth), separators normalized to "-", and the action they mean.
ECS_ACTIONS: dict[str, str] = {
    "logged-in": "login", "logon-failed": "login", "ssh-login": "login", "user-login": "login",
    "logged-out": "logout", "user-logout": "logout",
    "authenticated": "authenticate", "was-authorized": "authenticate",
    "acquired-credentials": "authenticate", "refreshed-credentials": "authenticate",
    "disposed-credentials": "authenticate", "user-auth": "authenticate",
    "user-acct": "authenticate", "cred-acq": "authenticate", "cred-refr": "authenticate",
    "cred-disp": "authenticate",
    "started-session": "session_start", "user-start": "session_start",
    "ended-session": "session_end", "user-end": "session_end",
    "added-user-account": "user_created", "user-added": "user_created",
    "deleted-user-account": "user_deleted", "user-removed": "user_deleted",
    "modified-user-account": "user_modified", "renamed-user-account": "user_modified",
    "user-changed": "user_modified",
    "disabled-user-account": "user_locked", "locked-out-user-account": "user_locked",
    "enabled-user-account": "user_unlocked", "unlocked-user-account": "user_unlocked",
    "changed-password": "password_changed", "reset-password": "password_changed",
    "password-changed": "password_changed", "user-chauthtok": "password_changed",
    "added-group-account": "group_created", "added-distribution-group-account": "group_created",
    "deleted-group-account": "group_deleted",
    "deleted-distribution-group-account": "group_deleted",
    "modified-group-account": "group_modified", "type-changed-group-account": "group_modified",
    "changed-distribution-group-account": "group_modified",
    "added-member-to-group": "group_member_added",
    "added-member-to-distribution-group": "group_member_added",
    "removed-member-from-group": "group_member_removed",
    "removed-member-from-distribution-group": "group_member_removed",
    "assigned-user-role-to": "role_granted", "role-assign": "role_granted",
    "removed-use-role-from": "role_revoked", "removed-user-role-from": "role_revoked",
    "role-remove": "role_revoked",
    "changed-audit-config": "audit_config_changed",
    "changed-audit-configuration": "audit_config_changed", "config-change": "audit_config_changed",
    "audit-log-cleared": "log_cleared",
    "ran-command": "command_run", "user-cmd": "command_run",
    "started-service": "service_start", "service-start": "service_start",
    "daemon-start": "service_start",
    "stopped-service": "service_stop", "service-stop": "service_stop", "daemon-end": "service_stop",
    "logging-service-shutdown": "service_stop",
    "syscall": "syscall",
}

_ECS_READ_ROOTS = frozenset(
    k.partition(".")[0] for k in (*(k for ks in ECS_FIELDS.values() for k in ks), *ECS_ATTRS,
                                  "@timestamp", "event.action"))
_SEP = re.compile(r"[\s_./:]+")
_LOGOUT = re.compile(r"log-?out|log-?off|logged-out|sign-?out|signed-out")
_LOGIN = re.compile(r"log-?in|log-?on|logged-in|sign-?in|signed-in")
_AUDIT = re.compile(r"audit")
_CLEARED = re.compile(r"clear")
_ADD = frozenset({"add", "added", "adds", "grant", "granted", "assign", "assigned", "join"})
_REMOVE = frozenset({"remove", "removed", "removes", "revoke", "revoked", "unassign", "leave"})
_CREATE = frozenset({"create", "created", "new", "useradd", "groupadd", "adduser", "addgroup"})
_DELETE = frozenset({"delete", "deleted", "del", "userdel", "groupdel", "deluser", "delgroup"})
_CHANGE = frozenset({"change", "changed", "modify", "modified", "update", "updated", "set",
                     "reset", "rename", "renamed", "usermod", "groupmod", "lock", "locked",
                     "unlock", "unlocked", "enable", "enabled", "disable", "disabled"})
_MEMBER = frozenset({"member", "members", "membership"})
_ACCOUNT = frozenset({"user", "users", "account"})
_ROLE = frozenset({"role", "roles", "privilege", "privileges", "permission", "permissions"})
_PASSWORD = frozenset({"password", "passwd", "chauthtok", "chpasswd", "credential"})
_UNLOCK = frozenset({"unlock", "unlocked", "enable", "enabled"})
_LOCK = frozenset({"lock", "locked", "lockout", "disable", "disabled"})
_IAM_NOUNS = frozenset({"user", "group", "account", "member", "password", "role"})
_DATA = frozenset({"web", "file", "database", "api"})


def _word_set(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset({value.strip().lower()}) if value.strip() else frozenset()
    if isinstance(value, list):
        return frozenset(v.strip().lower() for v in value if isinstance(v, str) and v.strip())
    return frozenset()


def _norm_action(action: str) -> str:
    return _SEP.sub("-", action.strip().lower()).strip("-")


@lru_cache(maxsize=4096)
def _ecs_classify(action: str, cats: frozenset[str], types: frozenset[str]) -> tuple[str, str]:
    """(category, action) for an ECS document from event.action, event.category, event.type."""
    norm = _norm_action(action) if action else ""
    known = ECS_ACTIONS.get(norm)
    if known:
        return ACTIONS[known][0], known
    words = frozenset(norm.split("-")) if norm else frozenset()
    if not cats:  # no category: infer one from unmistakable action words only
        if _LOGOUT.search(norm) or _LOGIN.search(norm):
            cats = frozenset({"authentication"})
        elif words & _IAM_NOUNS and words & (_CREATE | _DELETE | _CHANGE | _ADD | _REMOVE):
            cats = frozenset({"iam"})
    if not types:
        types = frozenset(
            t for t, vocab in (("creation", _CREATE | _ADD), ("deletion", _DELETE | _REMOVE),
                               ("change", _CHANGE))
            if words & vocab)
    if "authentication" in cats:
        if _LOGOUT.search(norm) or "end" in types:
            return "authentication", "logout"
        if _LOGIN.search(norm) or "start" in types:
            return "authentication", "login"
        return "authentication", "authenticate"
    if "iam" in cats:
        return _iam_action(words, types)
    if "session" in cats:
        if "start" in types:
            return "authentication", "session_start"
        if "end" in types:
            return "authentication", "session_end"
        return "authentication", "log"
    if "configuration" in cats and (not types or types & {"change", "creation", "deletion"}):
        if _AUDIT.search(norm):
            if _CLEARED.search(norm):
                return "policy_change", "log_cleared"
            return "policy_change", "audit_config_changed"
        return "policy_change", "policy_changed"
    if cats & _DATA:
        return "data_access", "access"
    return "system", "log"


def _iam_action(words: frozenset[str], types: frozenset[str]) -> tuple[str, str]:
    adds, removes = bool(words & _ADD), bool(words & _REMOVE)
    into_group = "group" in words and words & _ACCOUNT and words & {"to", "from", "into"}
    if words & _MEMBER or (into_group and (adds or removes)):
        if removes:
            return "permission_change", "group_member_removed"
        if adds:
            return "permission_change", "group_member_added"
        return "user_management", "group_modified"
    if words & _ROLE and (adds or removes):
        return "permission_change", "role_revoked" if removes else "role_granted"
    is_group = "group" in types or ("user" not in types and "group" in words)
    if "creation" in types:
        return "user_management", "group_created" if is_group else "user_created"
    if "deletion" in types:
        return "user_management", "group_deleted" if is_group else "user_deleted"
    if is_group:
        return "user_management", "group_modified"
    if words & _PASSWORD:
        return "user_management", "password_changed"
    if words & _UNLOCK:
        return "user_management", "user_unlocked"
    if words & _LOCK:
        return "user_management", "user_locked"
    if "user" in types:
        return "user_management", "user_modified"
    if "admin" in types:  # IAM administration not about one user or group (ECS `admin`)
        return "policy_change", "policy_changed"
    if "change" in types:
        return "user_management", "user_modified"
    return "user_management", "log"


def _ecs_outcome(value: Any, types: frozenset[str]) -> str:
    if isinstance(value, str) and value.lower() in OUTCOMES:
        return value.lower()
    for t in types:  # ECS 1.0-1.4: event.type authentication_success / authentication_failure
        if t.endswith("_success") or t == "allowed":
            return "success"
        if t.endswith("_failure") or t == "denied":
            return "failure"
    return "unknown"


def _is_ecs(doc: dict[str, Any]) -> bool:
    if isinstance(doc.get("event"), dict) or "ecs" in doc:
        return True
    return any(k.partition(".")[0] in ECS_ROOTS for k in doc if "." in k)


def _summary(verb: str, ev: Event) -> str:
    text = verb
    if ev.actor:
        text += f" by {ev.actor}"
    if ev.target:
        text += f" on {ev.target}"
    if ev.role:
        text += f" ({ev.role})"
    if ev.src_ip:
        text += f" from {ev.src_ip}"
    if ev.outcome != "unknown":
        text += f": {ev.outcome}"
    return text


# ---------------------------------------------------------------------------------------------
# Configured mappings

MAPPABLE = ("ts", "category", "action", "outcome", "host", "app", "actor", "target", "role",
            "resource", "src_ip", "user_agent", "session", "message", "original_action")
_TEXT_FIELDS = ("host", "app", "actor", "target", "role", "resource", "src_ip", "user_agent",
                "session", "message")
TS_FORMATS = ("auto", "iso", "epoch", "epoch_ms", "epoch_us", "epoch_ns")
_MAPPING_KEYS = ("name", "when", "fields", "values", "category", "ts_format", "attrs")
_OPTION_KEYS = ("ecs", "mappings")
# Outcome words understood without a `values.outcome` table.
OUTCOME_WORDS = {
    "success": "success", "succeeded": "success", "successful": "success", "ok": "success",
    "true": "success", "allowed": "success", "allow": "success", "pass": "success",
    "failure": "failure", "failed": "failure", "fail": "failure", "error": "failure",
    "false": "failure", "denied": "failure", "deny": "failure", "rejected": "failure",
    "unknown": "unknown",
}


@dataclass(frozen=True)
class Mapping:
    name: str
    when: tuple[tuple[_Path, frozenset[str]], ...]
    fields: dict[str, tuple[_Path, ...]]
    values: dict[str, dict[str, str]]
    category: str | None
    ts_format: str
    attrs: tuple[_Path, ...] | None
    used_keys: frozenset[str]  # top-level keys the fields read (left out of default attrs)

    def matches(self, doc: dict[str, Any]) -> bool:
        for path, allowed in self.when:
            value = path.get(doc)
            if isinstance(value, list):
                if not any(_key(v) in allowed for v in value if not isinstance(v, dict | list)):
                    return False
            elif value is None or isinstance(value, dict) or _key(value) not in allowed:
                return False
        return True


@dataclass(frozen=True)
class Options:
    ecs: bool = True
    mappings: tuple[Mapping, ...] = ()


def compile_options(options: Any) -> Options:
    """Check the plugin's options once; ValueError names the mapping and the field at fault."""
    if not options:
        return Options()
    if not isinstance(options, dict):
        raise ValueError(f"jsonl options must be a mapping, got {type(options).__name__}")
    unknown = sorted(set(options) - set(_OPTION_KEYS))
    if unknown:
        raise ValueError(f"jsonl options: unknown key(s) {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(_OPTION_KEYS)}")
    ecs = options.get("ecs", True)
    if not isinstance(ecs, bool):
        raise ValueError("jsonl options: ecs must be true or false")
    raw = options.get("mappings") or []
    if not isinstance(raw, list):
        raise ValueError("jsonl options: mappings must be a list of mappings")
    return Options(ecs=ecs, mappings=tuple(_compile_mapping(m, i) for i, m in enumerate(raw)))


def _compile_mapping(spec: Any, index: int) -> Mapping:
    where = f"mappings[{index}]"
    if isinstance(spec, dict) and isinstance(spec.get("name"), str) and spec["name"].strip():
        where = f"mapping {spec['name']!r} ({where})"

    def fail(field: str, problem: str) -> ValueError:
        return ValueError(f"jsonl options: {where}: {field}: {problem}")

    if not isinstance(spec, dict):
        raise fail("mapping", "must be a mapping with fields, when, values")
    name = spec.get("name", f"mappings[{index}]")
    if not isinstance(name, str) or not name.strip():
        raise fail("name", "must be non-empty text")
    for key in spec:
        if key not in _MAPPING_KEYS:
            raise fail(str(key), f"unknown key; use {', '.join(_MAPPING_KEYS)}")

    when_spec = spec.get("when") or {}
    if not isinstance(when_spec, dict):
        raise fail("when", "must map dotted paths to a value or a list of values")
    when = []
    for path, allowed in when_spec.items():
        options = allowed if isinstance(allowed, list) else [allowed]
        if not isinstance(path, str) or not path or not options or any(
                isinstance(v, dict | list) or v is None for v in options):
            raise fail(f"when.{path}", "must be a dotted path with a value or a list of values")
        when.append((_Path(path), frozenset(_key(v) for v in options)))

    fields_spec = spec.get("fields")
    if not isinstance(fields_spec, dict) or not fields_spec:
        raise fail("fields", "must map event fields (ts, actor, action, ...) to dotted paths")
    fields: dict[str, tuple[_Path, ...]] = {}
    for field, paths in fields_spec.items():
        if field not in MAPPABLE:
            raise fail(f"fields.{field}", f"unknown event field; use one of {', '.join(MAPPABLE)}")
        plist = paths if isinstance(paths, list) else [paths]
        if not plist or not all(isinstance(p, str) and p.strip() for p in plist):
            raise fail(f"fields.{field}", f"must be a dotted path or a list of them, got {paths!r}")
        fields[field] = tuple(_Path(p.strip()) for p in plist)

    values_spec = spec.get("values") or {}
    if not isinstance(values_spec, dict):
        raise fail("values", "must map event fields to {source value: our value} tables")
    allowed_targets = {"action": ACTIONS, "outcome": OUTCOMES, "category": CATEGORY_DESCRIPTIONS}
    values: dict[str, dict[str, str]] = {}
    for field, table in values_spec.items():
        if field not in MAPPABLE:
            raise fail(f"values.{field}", f"unknown event field; use one of {', '.join(MAPPABLE)}")
        if field not in fields:
            raise fail(f"values.{field}", f"given but fields.{field} does not say where to read it")
        if not isinstance(table, dict):
            raise fail(f"values.{field}", "must map source values to our values")
        for src, ours in table.items():
            vocab = allowed_targets.get(field)
            if not isinstance(ours, str) or (vocab is not None and ours not in vocab):
                choices = f"; use one of {', '.join(vocab)}" if vocab is not None else ""
                raise fail(f"values.{field}.{src}", f"{ours!r} is not a valid {field}{choices}")
        values[field] = {_key(k): v for k, v in table.items()}

    category = spec.get("category")
    if category is not None and category not in CATEGORY_DESCRIPTIONS:
        raise fail("category", f"{category!r} is not a category; use one of "
                   f"{', '.join(CATEGORY_DESCRIPTIONS)}")
    ts_format = spec.get("ts_format", "auto")
    if not isinstance(ts_format, str) or (ts_format not in TS_FORMATS and "%" not in ts_format):
        raise fail("ts_format", f"{ts_format!r}: use {', '.join(TS_FORMATS)} or a strptime format")
    attrs_spec = spec.get("attrs")
    attrs = None
    if attrs_spec is not None:
        if not isinstance(attrs_spec, list) or not all(
                isinstance(p, str) and p for p in attrs_spec):
            raise fail("attrs", "must be a list of dotted paths")
        attrs = tuple(_Path(p) for p in attrs_spec)
    used = frozenset(k for paths in fields.values() for p in paths for k in (p.text, p.keys[0][0]))
    return Mapping(name=name, when=tuple(when), fields=fields, values=values, category=category,
                   ts_format=ts_format, attrs=attrs, used_keys=used)


# ---------------------------------------------------------------------------------------------
# Other objects

TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "date", "datetime", "eventTime",
             "event_time", "created_at")
MESSAGE_KEYS = ("message", "msg", "log")
HOST_KEYS = ("host", "hostname")
APP_KEYS = ("app", "application", "service", "program")


def _generic_time(doc: dict[str, Any], tz: tzinfo) -> tuple[datetime | None, str | None, Any]:
    """(time, key it came from, unreadable value) from the first common time key present."""
    for key in TIME_KEYS:
        value = doc.get(key)
        if value is None or isinstance(value, dict | list):
            continue
        ts = _to_time(value, "auto", tz)
        return ts, key, (None if ts is not None else value)
    return None, None, None


def _pick(doc: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, str | None]:
    for key in keys:
        value = doc.get(key)
        if isinstance(value, str):
            text = _text(value)
            if text is not None:
                return _one_line(text), key
    return None, None


def _scalar_attrs(doc: dict[str, Any], skip: frozenset[str] | set[str]) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for key, value in doc.items():
        if key in skip or value is None or isinstance(value, dict | list):
            continue
        if isinstance(value, str):
            if not value:
                continue
            value = value[:ATTR_TEXT_LIMIT]
        attrs[key] = value
        if len(attrs) >= ATTRS_LIMIT:
            break
    return attrs


# ---------------------------------------------------------------------------------------------


class JsonLinesParser(Parser):
    name = NAME
    generic = True
    description = "generic JSON lines: ECS documents mapped automatically, other shapes by config"
    splittable = True

    def detect(self, head: Head) -> float:
        try:
            objects, _, lines = self._count_objects(head)
        except Exception:
            return 0.0
        if objects and objects >= 0.7 * lines and (objects >= 2 or lines == 1):
            return DETECT_SCORE
        return 0.0

    def explain(self, head: Head) -> str:
        try:
            objects, ecs, lines = self._count_objects(head)
        except Exception:
            return ""
        return (f"{objects} of the first {lines} lines are JSON objects, {ecs} of them ECS "
                "documents (generic JSON lines: a parser for a specific JSON format scores higher)")

    @staticmethod
    def _count_objects(head: Head) -> tuple[int, int, int]:
        """(JSON object lines, ECS-shaped ones among them, lines) in the head."""
        lines = head.lines
        objects = ecs = 0
        for line in lines:
            text = line.strip().lstrip("\ufeff")
            if not text.startswith("{"):
                continue
            try:
                doc = loads_json(text)
            except orjson.JSONDecodeError:
                continue
            if isinstance(doc, dict):
                objects += 1
                ecs += _is_ecs(doc)
        return objects, ecs, len(lines)

    def parse(self, source: Source) -> Iterator[Event]:
        opts = compile_options(source.options)
        mappings = opts.mappings
        ecs = opts.ecs
        tz = source.tz
        loads = loads_json
        decode_error = orjson.JSONDecodeError
        for number, text in source.lines():
            stripped = text.strip()
            if not stripped:
                continue
            if stripped[0] == "\ufeff":  # a byte order mark
                stripped = stripped.lstrip("\ufeff")
            try:
                doc = loads(stripped)
            except decode_error as exc:
                yield unparsed_event(text, f"jsonl: not valid JSON: {exc}", line=number)
                continue
            if not isinstance(doc, dict):
                kind = "a list" if isinstance(doc, list) else f"a {type(doc).__name__}"
                yield unparsed_event(text, f"jsonl: the line is {kind}, not a JSON object",
                                     line=number)
                continue
            ev = None
            for mapping in mappings:
                if mapping.matches(doc):
                    ev = self._mapped(doc, mapping, tz)
                    break
            if ev is None:
                ev = self._ecs(doc, tz) if ecs and _is_ecs(doc) else self._generic(doc, tz)
            ev.raw = text
            ev.line = number
            yield ev

    # -- the three ways ------------------------------------------------------------------

    @staticmethod
    def _ecs(doc: dict[str, Any], tz: tzinfo) -> Event:
        flat = _flatten(doc, _ECS_READ_ROOTS)  # nested, dotted and mixed forms: dotted keys
        get = flat.get
        stamp = get("@timestamp")
        ts = _to_time(stamp, "auto", tz) if stamp is not None else None
        action_word = _text(get("event.action"))
        original = action_word or _text(get("event.code"))
        types = _word_set(get("event.type"))
        category, action = _ecs_classify(action_word or "", _word_set(get("event.category")), types)
        ev = Event(ts=ts, category=category, action=action, original_action=original,
                   outcome=_ecs_outcome(get("event.outcome"), types))
        for name, keys in ECS_FIELDS.items():
            for key in keys:
                value = _text(get(key))
                if value is not None:
                    setattr(ev, name, value)
                    break
        if ev.actor == "-" and _web_access(get):
            # an access log's own "no user" ("-" in %u), which Filebeat before 7.x copied as is
            ev.actor = None
        if ev.message is not None:
            ev.message = _one_line(ev.message)
        elif original or action != "log":
            ev.message = _summary(original or action, ev)
        attrs = {key: v for key in ECS_ATTRS if (v := get(key)) is not None}
        pid = get("process.pid")
        if isinstance(pid, int) and not isinstance(pid, bool):
            ev.pid = pid
        elif pid is not None:
            attrs["process.pid"] = pid
        if stamp is not None and ts is None:
            attrs["ts_unparsed"] = _key(stamp)[:100]
        ev.attrs = attrs or None
        return ev

    @staticmethod
    def _mapped(doc: dict[str, Any], m: Mapping, tz: tzinfo) -> Event:
        fields, values = m.fields, m.values
        attrs: dict[str, Any] = {"mapping": m.name}
        ts = None
        if "ts" in fields:
            stamp = _first(doc, fields["ts"])
            if stamp is not None:
                ts = _to_time(stamp, m.ts_format, tz)
                if ts is None:
                    attrs["ts_unparsed"] = _key(stamp)[:100]
        else:
            ts, _, bad = _generic_time(doc, tz)
            if bad is not None:
                attrs["ts_unparsed"] = _key(bad)[:100]

        def read(field: str) -> str | None:
            text = _text(_first(doc, fields[field])) if field in fields else None
            table = values.get(field)
            if text is not None and table is not None:
                return table.get(text, text)
            return text

        action_raw = _text(_first(doc, fields["action"])) if "action" in fields else None
        action = "log"
        if action_raw is not None:
            mapped = values.get("action", {}).get(action_raw, action_raw)
            action = mapped if mapped in ACTIONS else "log"
        outcome = "unknown"
        outcome_raw = _first(doc, fields["outcome"]) if "outcome" in fields else None
        if outcome_raw is not None and not isinstance(outcome_raw, dict | list):
            key = _key(outcome_raw)
            outcome = (values.get("outcome", {}).get(key)
                       or OUTCOME_WORDS.get(key.lower(), "unknown"))
        category = read("category")
        if category not in CATEGORY_DESCRIPTIONS:
            category = m.category or ACTIONS[action][0]
        ev = Event(ts=ts, category=category, action=action, outcome=outcome,
                   original_action=read("original_action") or action_raw)
        for name in _TEXT_FIELDS:
            if name in fields:
                setattr(ev, name, read(name))
        if ev.message is None and "message" not in fields:
            ev.message, _ = _pick(doc, MESSAGE_KEYS)
        elif ev.message is not None:
            ev.message = _one_line(ev.message)
        if m.attrs is not None:
            attrs.update((p.text, v) for p in m.attrs if (v := p.get(doc)) is not None)
        else:
            attrs.update(_scalar_attrs(doc, m.used_keys | set(MESSAGE_KEYS)))
        ev.attrs = attrs
        return ev

    @staticmethod
    def _generic(doc: dict[str, Any], tz: tzinfo) -> Event:
        ts, ts_key, bad = _generic_time(doc, tz)
        message, msg_key = _pick(doc, MESSAGE_KEYS)
        host, host_key = _pick(doc, HOST_KEYS)
        app, app_key = _pick(doc, APP_KEYS)
        skip = {k for k in (msg_key, host_key, app_key, ts_key if bad is None else None) if k}
        attrs = _scalar_attrs(doc, skip)
        return Event(ts=ts, category="system", action="log", host=host, app=app,
                     message=message, attrs=attrs or None)


parser = JsonLinesParser()
