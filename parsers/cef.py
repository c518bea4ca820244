"""cef: ArcSight Common Event Format, bare or after a syslog header.

    CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension
    <134>Feb  1 12:00:00 host CEF:0|...      (RFC 3164 wrapper)   <134>1 2026-02-01T12:00:00Z host app - - - CEF:0|...

Header fields are `|`-separated with `\\|` and `\\\\` escapes. The extension is `key=value` pairs
separated by spaces; a value may contain spaces and the escapes `\\=`, `\\\\`, `\\n`, `\\r`: a key
starts at a space followed by `key=`. CEF 0 and 1 are read alike. Full key names
(`sourceUserName`) are accepted for the short ones (`suser`) read below.

Fields: ts = rt, else end, else start (epoch milliseconds, `MMM dd yyyy HH:mm:ss[.SSS][ zone]`,
`MMM dd HH:mm:ss` with the year inferred like syslog, or ISO 8601), else the syslog header time;
app = "Vendor Product"; host = dhost, else dvchost, else the syslog header host, else shost;
src_ip = src; pid = spid, else dvcpid; user_agent = requestClientApplication; resource = filePath,
fname or request; original_action = the Signature ID (else Name); message = Name (+ ": " msg).
actor = suser and target = duser, except for login/logout/authenticate events: there the account
logging in is the actor, duser (the account on the destination, as ArcSight maps Windows logons)
else suser; a different suser is kept in attrs.source_user. role (for user, group, permission
and privileged events only) = a custom string (cs1..cs6) whose csNLabel names a group, role or
privilege ("Group Name", "Role"), else dpriv (permission changes) or spriv (privileged actions).
attrs: cef_version, signature_id, severity (as written), severity_level (Low 0-3, Medium 4-6,
High 7-8, Very-High 9-10), device_version, labelled custom fields (csN, cnN, deviceCustomDateN,
flexStringN ... with a `<key>Label`) under their label, up to 16 other extension keys.

Outcome: outcome (success/failure words, ArcSight `/Success` `/Failure`), else act (blocked,
denied, dropped, rejected, failed -> failure; allowed, accepted, permitted -> success), else words in
Name (failed/failure/denied/blocked/invalid/unsuccessful/rejected -> failure; success/successful/
succeeded/accepted/allowed and past-tense reports such as created/deleted/added/removed/granted/
revoked/changed/reset/locked out/signed in/logged on -> success), else unknown.

Category/action: Microsoft Windows security events by event ID (Signature ID, `...:4624`):
  4624 login, 4625 login (failure), 4634/4647 logout, 4648 authenticate, 4672 privileged_action/log,
  4720 user_created, 4722 user_unlocked (enabled), 4723/4724 password_changed, 4725 user_locked
  (disabled), 4726 user_deleted, 4738 user_modified, 4740 user_locked, 4767 user_unlocked,
  4727/4731/4754 group_created, 4730/4734/4758 group_deleted, 4728/4732/4756 group_member_added,
  4729/4733/4757 group_member_removed, 4719 audit_config_changed, 1102 log_cleared.
Otherwise the first matching keyword rule on "Name cat SignatureID" (lower case) wins:
  log out/off, sign out                            -> authentication/logout
  added ... to ... group, member added             -> permission_change/group_member_added
  removed ... from ... group, member removed       -> permission_change/group_member_removed
  user/account ... created|added, create user      -> user_management/user_created
  user/account ... deleted|removed, delete user    -> user_management/user_deleted
  password ... changed|reset|set                   -> user_management/password_changed
  user/account ... unlocked|enabled                -> user_management/user_unlocked
  user/account ... locked|disabled, locked out     -> user_management/user_locked
  group ... created / deleted                      -> user_management/group_created / group_deleted
  role/privilege/permission ... granted|assigned   -> permission_change/role_granted
  role/privilege/permission ... revoked|removed    -> permission_change/role_revoked
  audit log/trail ... cleared|deleted, log cleared -> policy_change/log_cleared
  audit policy/config, auditing disabled|stopped   -> policy_change/audit_config_changed
  policy ... changed|modified|updated|created|deleted -> policy_change/policy_changed
  log in/on, sign in, login, logon, authenticat*   -> authentication/login
  retrieve(d), download(ed), file/object/data/secret access, accessed -> data_access/access
  privileged/elevated/sudo/admin ... command       -> privileged_action/command_run
  privilege, admin, sudo, elevat*, run as, escalat* -> privileged_action/privilege_escalation
  anything else                                    -> system/log
A line without a CEF header is kept as an unparsed event.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from auditctl.plugins import Parser
from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head, Source
from auditctl.timeutil import MONTHS, YearlessStamp, from_epoch, parse_iso

AUTH = "authentication"
USERS = "user_management"
PERMS = "permission_change"
POLICY = "policy_change"
PRIV = "privileged_action"

_FIELD = r"((?:[^|\\]|\\.)*)\|"
_CEF = re.compile(r"CEF:\s?(\d+)\|" + _FIELD * 6 + r"(.*)", re.S)
_CEF_ANYWHERE = re.compile(r"CEF:\s?[01]\|")
_PREFIX = re.compile(
    r"(?:<(\d{1,3})>)?(?:1 )?"
    r"(?:([A-Z][a-z]{2} +\d{1,2}(?: \d{4})? \d\d:\d\d:\d\d(?:\.\d+)?)"
    r"|(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?))"
    r"(?: (\S+))?")
_KEY = re.compile(r"(?:^| )([A-Za-z0-9_.\[\]-]+)=")
_ESCAPE = re.compile(r"\\(.)", re.S)
_HEADER_ESCAPE = re.compile(r"\\([|\\])")
_TEXT_TIME = re.compile(
    r"([A-Z][a-z]{2}) +(\d{1,2})(?: (\d{4}))? (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?: (\S+))?$")
_OFFSET = re.compile(r"(?:GMT|UTC)?([+-])(\d\d):?(\d\d)$")
_WIN_ID = re.compile(r"(\d{3,5})$")

ALIASES = {
    "sourceUserName": "suser", "destinationUserName": "duser", "sourceAddress": "src",
    "destinationAddress": "dst", "sourceHostName": "shost", "destinationHostName": "dhost",
    "deviceHostName": "dvchost", "deviceAction": "act", "eventOutcome": "outcome",
    "deviceEventCategory": "cat", "deviceReceiptTime": "rt", "endTime": "end",
    "startTime": "start", "message": "msg", "sourceProcessId": "spid", "deviceProcessId": "dvcpid",
    "destinationUserPrivileges": "dpriv", "sourceUserPrivileges": "spriv", "requestUrl": "request",
    "fileName": "fname",
}
_MAPPED = frozenset({"suser", "duser", "src", "shost", "dhost", "dvchost", "outcome", "rt", "end",
                     "start", "msg", "spid", "dvcpid", "requestClientApplication", "filePath",
                     "fname", "request"})
ATTRS_LIMIT = 16
ATTR_TEXT_LIMIT = 256
# CEF says "no value" by leaving the key out; any text ("-", "None", "N/A") is the value
_NULL = frozenset({""})

_SUCCESS_WORDS = frozenset({"success", "succeeded", "successful", "ok", "allowed", "allow", "accept",
                            "accepted", "permit", "permitted", "pass", "passed"})
_FAILURE_WORDS = frozenset({"failure", "failed", "fail", "blocked", "block", "denied", "deny",
                            "drop", "dropped", "reject", "rejected", "error", "quarantined",
                            "prevented", "terminated"})
_NAME_FAILURE = re.compile(r"\b(?:fail(?:s|ed|ure)?|denied|blocked|invalid|unsuccessful|rejected)\b")
# A past-tense Name ("User Locked Out", "A user account was created") reports what happened.
_NAME_SUCCESS = re.compile(
    r"\b(?:success(?:ful(?:ly)?)?|succeeded|accepted|allowed|granted|revoked|created|deleted|added|"
    r"removed|cleared|changed|reset|(?:un)?locked(?: out)?|enabled|disabled|"
    r"(?:signed|logged) (?:in|on|out|off))\b")

WINDOWS_EVENTS: dict[str, tuple[str, str, str | None]] = {
    "4624": (AUTH, "login", "success"), "4625": (AUTH, "login", "failure"),
    "4634": (AUTH, "logout", "success"), "4647": (AUTH, "logout", "success"),
    "4648": (AUTH, "authenticate", None), "4672": (PRIV, "log", "success"),
    "4720": (USERS, "user_created", "success"), "4722": (USERS, "user_unlocked", "success"),
    "4723": (USERS, "password_changed", None), "4724": (USERS, "password_changed", None),
    "4725": (USERS, "user_locked", "success"), "4726": (USERS, "user_deleted", "success"),
    "4738": (USERS, "user_modified", "success"), "4740": (USERS, "user_locked", "success"),
    "4767": (USERS, "user_unlocked", "success"),
    "4727": (USERS, "group_created", "success"), "4731": (USERS, "group_created", "success"),
    "4754": (USERS, "group_created", "success"), "4730": (USERS, "group_deleted", "success"),
    "4734": (USERS, "group_deleted", "success"), "4758": (USERS, "group_deleted", "success"),
    "4728": (PERMS, "group_member_added", "success"), "4732": (PERMS, "group_member_added", "success"),
    "4756": (PERMS, "group_member_added", "success"),
    "4729": (PERMS, "group_member_removed", "success"),
    "4733": (PERMS, "group_member_removed", "success"),
    "4757": (PERMS, "group_member_removed", "success"),
    "4719": (POLICY, "audit_config_changed", "success"), "1102": (POLICY, "log_cleared", "success"),
}

_U = r"(?:user|account)s?\b"
KEYWORD_RULES: list[tuple[re.Pattern[str], str, str]] = [(re.compile(p), c, a) for p, c, a in (
    (r"\blog(?:ged|ging)?[ -]?(?:out|off)\b|\bsign(?:ed)?[ -]?(?:out|off)\b", AUTH, "logout"),
    (r"\badd(?:ed)?\b.*\bto\b.*\bgroup\b|\bmember\b.*\badded\b|\bgroup member(?:ship)? add",
     PERMS, "group_member_added"),
    (r"\bremoved?\b.*\bfrom\b.*\bgroup\b|\bmember\b.*\bremoved\b|\bgroup member(?:ship)? remov",
     PERMS, "group_member_removed"),
    (rf"\b{_U}.*\b(?:created|added)\b|\b(?:create|new|add)\s+{_U}", USERS, "user_created"),
    (rf"\b{_U}.*\b(?:deleted|removed)\b|\bdelete\s+{_U}", USERS, "user_deleted"),
    (r"\bpassword\b.*\b(?:change|changed|reset|set)\b|\b(?:change|reset)\w*\s+(?:\w+\s+)?password",
     USERS, "password_changed"),
    (rf"\b{_U}.*\b(?:unlocked|enabled)\b", USERS, "user_unlocked"),
    (rf"\b{_U}.*\b(?:locked|disabled)\b|\blocked out\b|\blockout\b", USERS, "user_locked"),
    (r"\bgroup\b.*\bcreated\b|\bcreate\s+group\b", USERS, "group_created"),
    (r"\bgroup\b.*\bdeleted\b|\bdelete\s+group\b", USERS, "group_deleted"),
    (r"\b(?:role|privilege|permission)s?\b.*\b(?:granted|assigned)\b|\b(?:grant|assign)\w*\s+(?:\w+\s+)?(?:role|privilege|permission)",
     PERMS, "role_granted"),
    (r"\b(?:role|privilege|permission)s?\b.*\b(?:revoked|removed)\b|\brevoke\w*\s+(?:\w+\s+)?(?:role|privilege|permission)",
     PERMS, "role_revoked"),
    (r"\baudit\b.*\b(?:log|trail)s?\b.*\b(?:clear|cleared|deleted|purged)\b|\blogs? (?:was |were )?cleared\b",
     POLICY, "log_cleared"),
    (r"\baudit(?:ing)? (?:policy|config)|\baudit(?:ing)?\b.*\b(?:disabled|stopped)\b", POLICY,
     "audit_config_changed"),
    (r"\bpolic(?:y|ies)\b.*\b(?:change|changed|modified|updated|created|deleted)\b|\b(?:change|modif|updat)\w*\s+(?:\w+\s+)?polic",
     POLICY, "policy_changed"),
    (r"\blog(?:ged|ging)?[ -]?(?:in|on)\b|\bsign(?:ed)?[ -]?in\b|\blogins?\b|\blogons?\b|authenticat",
     AUTH, "login"),
    (r"\bretriev(?:e|ed|al)\b|\bdownload(?:ed)?\b|\b(?:file|object|data|secret) access\b|\baccessed\b",
     "data_access", "access"),
    (r"\b(?:privileged|elevated|sudo|admin)\b.*\bcommand|\bcommand\b.*\b(?:elevated|privileged)\b",
     PRIV, "command_run"),
    (r"privilege|\badmin|\bsudo\b|elevat|\brun ?as\b|escalat", PRIV, "privilege_escalation"),
)]
_ROLE_LABEL = re.compile(r"(?<![A-Za-z])(?:[Gg]roup|[Rr]ole|[Pp]rivilege)s?(?![a-z])")
_ROLE_CATEGORIES = frozenset({PERMS, USERS, PRIV})
_LOGIN_ACTIONS = frozenset({"login", "logout", "authenticate"})


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return None if value in _NULL else value


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return _ESCAPE.sub(lambda m: "\n" if m[1] == "n" else "\r" if m[1] == "r" else m[1], value)


def extension(text: str) -> dict[str, str]:
    """The extension's key=value pairs, values unescaped; full key names become short ones."""
    parts = _KEY.split(text)  # [text before the first key, key, value, key, value, ...]
    out: dict[str, str] = {}
    alias = ALIASES.get
    for i in range(1, len(parts) - 1, 2):
        key, value = parts[i], parts[i + 1].rstrip()
        out[alias(key, key)] = _unescape(value) if "\\" in value else value
    return out


def _zone(name: str | None, default: tzinfo) -> tzinfo:
    if not name:
        return default
    if name in ("UTC", "GMT", "Z", "UT"):
        return UTC
    m = _OFFSET.match(name)
    if m:
        delta = timedelta(hours=int(m[2]), minutes=int(m[3]))
        return timezone(-delta if m[1] == "-" else delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


def _severity_level(value: str) -> str | None:
    if value.isdigit():
        n = int(value)
        return ("Low" if n <= 3 else "Medium" if n <= 6 else "High" if n <= 8 else
                "Very-High" if n <= 10 else None)
    low = value.lower()
    for word in ("Unknown", "Low", "Medium", "High", "Very-High"):
        if low == word.lower():
            return word
    return None


def _word_outcome(value: str | None) -> str | None:
    if not value:
        return None
    word = value.strip().lstrip("/").lower()
    if word in _SUCCESS_WORDS:
        return "success"
    if word in _FAILURE_WORDS:
        return "failure"
    return None


class CefParser(Parser):
    name = "cef"
    description = "ArcSight Common Event Format (CEF:0/CEF:1), bare or after a syslog header"
    splittable = True
    yearless = True

    def score(self, head: Head) -> tuple[float, str]:
        lines = head.lines[:30]
        if not lines:
            return 0.0, "empty"
        found = [(m.start() > 0) for ln in lines if (m := _CEF_ANYWHERE.search(ln[:512])) is not None]
        if len(found) / len(lines) < 0.5:
            return 0.0, f"only {len(found)} of the first {len(lines)} lines carry a CEF header"
        wrapped = sum(found)
        if wrapped:  # syslog scores 0.95 on syslog-wrapped CEF; the CEF payload is what matters
            return 0.97, f"{len(found)} of the first {len(lines)} lines carry a CEF header ({wrapped} after a syslog header)"
        return 0.95, f"{len(found)} of the first {len(lines)} lines start with a CEF header"

    def parse(self, source: Source) -> Iterator[Event]:
        stamp = YearlessStamp(source.reference_time, source.tz)
        tz = source.tz
        for number, text in source.lines():
            if not text.strip():
                continue
            try:
                ev = self._line(text, stamp, tz)
            except ValueError as exc:
                yield unparsed_event(text, f"cef: {exc}", line=number)
                continue
            ev.line = number
            yield ev

    def _line(self, text: str, stamp: YearlessStamp, tz: tzinfo) -> Event:
        start = text.find("CEF:")
        if start < 0:
            raise ValueError("no CEF header")
        m = _CEF.match(text, start)
        if m is None:
            raise ValueError("truncated CEF header (needs 7 |-separated fields)")
        version, vendor, product, dversion, sig, name, severity, ext_text = m.groups()
        header = (vendor, product, dversion, sig, name, severity)
        vendor, product, dversion, sig, name, severity = (
            (_HEADER_ESCAPE.sub(r"\1", f) if "\\" in f else f).strip() for f in header)
        ext = extension(ext_text)
        header_ts = header_host = None
        if start:
            p = _PREFIX.match(text[:start].strip())
            if p:
                _pri, bsd, iso, host = p.groups()
                if bsd:
                    header_ts = self._bsd(bsd, stamp, tz)
                elif iso:
                    header_ts = parse_iso(iso.replace(" ", "T", 1), tz)
                if host and not host.endswith(":"):
                    header_host = host
        attrs: dict = {"cef_version": int(version), "signature_id": sig or None, "severity": severity or None}
        level = _severity_level(severity) if severity else None
        if level:
            attrs["severity_level"] = level
        if dversion:
            attrs["device_version"] = dversion
        ts = None
        for key in ("rt", "end", "start"):
            value = _text(ext.get(key))
            if value is not None:
                ts = self._time(value, stamp, tz)
                if ts is None:
                    attrs[f"{key}_unparsed"] = value[:64]
                else:
                    break
        if ts is None:
            ts = header_ts
        category, action, outcome = self._classify(vendor, sig, name, ext.get("cat") or "")
        outcome = (_word_outcome(ext.get("outcome")) or _word_outcome(ext.get("act"))
                   or outcome or self._name_outcome(name))
        suser, duser = _text(ext.get("suser")), _text(ext.get("duser"))
        actor, target = suser, duser
        if action in _LOGIN_ACTIONS:  # the account logging in is the destination user
            actor, target = duser or suser, None
            if suser and duser and suser != duser:
                attrs["source_user"] = suser
        role = None
        custom: dict[str, str] = {}
        labelled: set[str] = set()
        for key, value in ext.items():  # cs1..cs6, cn1..cn3, deviceCustomDate1, flexString1 ...
            label_text = ext.get(key + "Label")
            if label_text is None:
                continue
            labelled.update((key, key + "Label"))
            value = _text(value)
            if value is None:
                continue
            label = _text(label_text.strip('"')) or key
            custom[label] = value[:ATTR_TEXT_LIMIT]
            if (role is None and key.startswith("cs") and category in _ROLE_CATEGORIES
                    and _ROLE_LABEL.search(label)):
                role = value
        if role is None:
            if category == PERMS:
                role = _text(ext.get("dpriv"))
            elif category == PRIV:
                role = _text(ext.get("spriv"))
        attrs.update(custom)
        extra = 0
        for key, value in ext.items():
            if key in _MAPPED or key in labelled or extra >= ATTRS_LIMIT:
                continue
            if value:
                attrs.setdefault(key, value[:ATTR_TEXT_LIMIT])
                extra += 1
        pid = None
        for key in ("spid", "dvcpid"):
            value = ext.get(key, "").strip()
            if value.isdigit():
                pid = int(value)
                break
        msg = _text(ext.get("msg"))
        message = name or None
        if msg:
            one_line = " ".join(msg.split())
            message = f"{name}: {one_line}" if name else one_line
        app = " ".join(p for p in (vendor, product) if p) or None
        return Event(
            ts=ts, category=category, action=action, outcome=outcome, host=(
                _text(ext.get("dhost")) or _text(ext.get("dvchost")) or header_host or _text(ext.get("shost"))),
            app=app, pid=pid, actor=actor, target=target, role=role,
            resource=_text(ext.get("filePath")) or _text(ext.get("fname")) or _text(ext.get("request")),
            src_ip=_text(ext.get("src")), user_agent=_text(ext.get("requestClientApplication")),
            message=message, original_action=sig or name or None, raw=text,
            attrs={k: v for k, v in attrs.items() if v is not None} or None)

    @staticmethod
    @lru_cache(maxsize=4096)
    def _classify(vendor: str, sig: str, name: str, cat: str) -> tuple[str, str, str | None]:
        if "microsoft" in vendor.lower():
            m = _WIN_ID.search(sig)
            if m and m[1] in WINDOWS_EVENTS:
                return WINDOWS_EVENTS[m[1]]
        text = f"{name} {cat} {sig}".lower()
        for pattern, category, action in KEYWORD_RULES:
            if pattern.search(text):
                return category, action, None
        return "system", "log", None

    @staticmethod
    @lru_cache(maxsize=4096)
    def _name_outcome(name: str) -> str:
        low = name.lower()
        if _NAME_FAILURE.search(low):
            return "failure"
        if _NAME_SUCCESS.search(low):
            return "success"
        return "unknown"

    @staticmethod
    def _bsd(text: str, stamp: YearlessStamp, tz: tzinfo) -> datetime | None:
        parts = text.split()
        if len(parts) == 4:  # Mmm dd yyyy hh:mm:ss
            return CefParser._time(text, stamp, tz)
        try:
            return stamp(f"{parts[0]} {parts[1]:>2} {parts[2]}")
        except ValueError:
            return None

    @staticmethod
    def _time(value: str, stamp: YearlessStamp, tz: tzinfo) -> datetime | None:
        """A CEF time value; None when it cannot be read."""
        try:
            if value.isdigit():
                return from_epoch(int(value)) if len(value) >= 9 else None
            m = _TEXT_TIME.match(value)
            if m:
                mon, day, year, hh, mm, ss, frac, zone_name = m.groups()
                if mon not in MONTHS:
                    return None
                zone = _zone(zone_name, tz)
                micro = int((frac or "0").ljust(6, "0"))
                if year:
                    return datetime(int(year), MONTHS[mon], int(day), int(hh), int(mm), int(ss), micro,
                                    tzinfo=zone).astimezone(UTC)
                yearless = YearlessStamp(stamp.reference, zone) if zone is not stamp.tz else stamp
                return yearless(f"{mon} {int(day):>2} {hh}:{mm}:{ss}" + (f".{frac}" if frac else ""))
            return parse_iso(value, tz)
        except (ValueError, OverflowError, OSError):
            return None


parser = CefParser()
