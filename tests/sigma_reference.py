"""A reference Sigma evaluator in plain Python, and events made from a rule's own values.

The equivalence tests compare the SQL our backend writes (`auditctl.detect.sigma.backend`) with
this evaluator, rule by rule and event by event. Both read the same condition tree: pySigma's
parse of the rule after the same processing pipeline (so `1 of`, modifiers, `windash`,
`base64offset` expansions and the logsource conditions are pySigma's, not ours). Everything below
the tree is written here again, independently and in the plainest Python: where a Sigma field
lives in an event (per field family), how a value matches (wildcards through a Python regular
expression, CIDR through `ipaddress`, `re` through Python's `re`...).

Semantics (the same ones the backend documents): strings match case-insensitively unless
`|cased`, a whole-value match with `*`/`?` wildcards (which match newlines too); a missing field
matches nothing (so `not` of it holds); a list field matches when any element does; keywords
search the raw record (Windows: every field value); numbers are equal as text, compared as
numbers for gt/lt; `null` means the field is absent; CIDR membership as `ipaddress` decides it;
auditd: `type` is the parser's record list, `aN` an execve's argument N, else the SYSCALL
record's own aN, other fields every key=value of the records (inside msg='...' too).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import random
import re
import re._parser as sre_parse  # type: ignore[import-not-found]
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from auditctl.detect.sigma.logsources import Logsource, pipeline_for

COLUMNS = ("parser", "app", "host", "actor", "target", "role", "resource", "src_ip", "user_agent", "action",
           "category", "outcome", "original_action", "session", "message", "raw")
Values = list[str] | None  # a field's values as text; None: the event has no such field


# -- the condition trees ----------------------------------------------------------------------

def condition_trees(rule: SigmaRule, entry: Logsource) -> list[Any]:
    """The rule's condition trees after the logsource's pipeline (on a copy of the rule)."""
    rule = copy.deepcopy(rule)
    pipeline_for(entry).apply(rule)
    return [c.parsed for c in rule.detection.parsed_condition]


# -- events -----------------------------------------------------------------------------------

@dataclass
class Ev:
    """One event as the store holds it: columns, attrs (a dict) and raw text."""

    seq: int
    parser: str
    raw: str
    attrs: dict[str, Any] | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    ts: datetime = datetime(2024, 1, 1, tzinfo=UTC)

    def row(self) -> dict[str, Any]:
        return {**self.columns, "seq": self.seq, "ts": self.ts, "parser": self.parser, "raw": self.raw,
                "attrs": None if self.attrs is None else json.dumps(self.attrs)}


def text(value: Any) -> str | None:
    """A JSON value as DuckDB's json_extract_string gives it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -- where a field lives, per family ----------------------------------------------------------

@lru_cache(maxsize=100_000)
def _auditd_pairs(raw: str) -> list[tuple[str, str]]:
    """Every key=value of an auditd event's records, those inside msg='...' and the enriched
    ones after 0x1d included; quotes taken off."""
    out = []
    for token in re.split(r"[\s\x1d]+", raw):
        while "=" in token:
            key, _, value = token.partition("=")
            if not re.fullmatch(r"[A-Za-z0-9_-]+", key):
                break
            if value.startswith("'"):  # msg='op=... : the first pair inside the quotes
                out.append((key, ""))
                token = value[1:]
                continue
            value = value.rstrip("'")
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            out.append((key, value))
            break
    return out


def _json_get(doc: Any, dotted: str) -> Any:
    for key in [k for k in dotted.split(".") if k]:
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return doc


def _single(value: Any) -> Values:
    t = text(value)
    return None if t is None else [t]


_SYSLOG_COLUMNS = {"host": "host", "hostname": "host", "Hostname": "host", "program": "app", "app": "app",
                   "pid": "pid", "user": "actor", "User": "actor", "message": "message", "msg": "message",
                   "src_ip": "src_ip"}


class Fields:
    """Field lookup for one family: `values(ev, name)`, every value the field has (auditd: one
    per record that has it)."""

    def __init__(self, family: str) -> None:
        self.family = family

    def values(self, ev: Ev, name: str) -> Values:
        if name.startswith("@") and name[1:] in COLUMNS:
            col = name[1:]
            return _single(ev.parser if col == "parser" else ev.raw if col == "raw" else ev.columns.get(col))
        if "|" in name:
            for alt in name.split("|"):
                found = self.values(ev, alt)
                if found is not None:
                    return found
            return None
        attrs = ev.attrs or {}
        match self.family:
            case "windows":
                return _single(attrs.get(name))
            case "windows_spaced":  # Defender: `ThreatName` is written `Threat Name`
                spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
                return _single(attrs.get(name) if attrs.get(name) is not None else attrs.get(spaced))
            case "syslog":  # the header's fields are columns
                column = _SYSLOG_COLUMNS.get(name)
                if column:
                    return _single(ev.columns.get(column))
                return _single(attrs.get(name))
            case "json":
                return _single(_json_get(_doc(ev), name))
            case "azure":
                head, _, rest = name.partition(".")
                for h in dict.fromkeys([head, head[:1].lower() + head[1:], head[:1].upper() + head[1:]]):
                    found = _single(_json_get(_doc(ev), h + ("." + rest if rest else "")))
                    if found is not None:
                        return found
                return None
            case "auditd":
                return self._auditd(ev, name)
            case "auditd_process":
                if name in _AUDITD_PROCESS:
                    return _AUDITD_PROCESS[name](ev)
                return self._auditd(ev, name)
            case "web":
                return _web(ev, name)
        raise AssertionError(self.family)

    def _auditd(self, ev: Ev, name: str) -> Values:
        attrs = ev.attrs or {}
        if name == "type":  # the record types the parser lists, or the one record's type
            if attrs.get("records"):
                return list(attrs["records"])
            first = ev.columns.get("original_action")
            return [first] if first is not None else []
        arg = re.fullmatch(r"a(\d+)", name)
        out: list[str] = []
        if arg:  # an execve's argument N, else the SYSCALL record's own aN (hex, as written)
            if "argv" in attrs:
                n = int(arg.group(1))
                return [attrs["argv"][n]] if n < len(attrs["argv"]) else []
            for line in ev.raw.split("\n") if int(arg.group(1)) <= 3 else []:  # a SYSCALL has a0..a3
                if re.match(r"(node=\S+ )?type=SYSCALL ", line):
                    out.extend(v for k, v in _auditd_pairs(line) if k == name)
            return out
        return [v for k, v in _auditd_pairs(ev.raw) if k == name]


def _doc(ev: Ev) -> Any:
    return _json_doc(ev.raw)


@lru_cache(maxsize=100_000)
def _json_doc(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


_AUDITD_PROCESS = {
    "Image": lambda ev: _single((ev.attrs or {}).get("exe")),
    "CommandLine": lambda ev: None if (ev.attrs or {}).get("argv") is None else [" ".join(ev.attrs["argv"])],
    "CurrentDirectory": lambda ev: _single((ev.attrs or {}).get("cwd")),
    "User": lambda ev: _single(ev.columns.get("actor")),
    "LogonId": lambda ev: _single((ev.attrs or {}).get("auid")),
    "ProcessId": lambda ev: _single(ev.columns.get("pid")),
    "ParentProcessId": lambda ev: _single((ev.attrs or {}).get("ppid")),
}


def _web(ev: Ev, name: str) -> Values:
    resource = ev.columns.get("resource")
    mapped: dict[str, Any] = {
        "c-ip": ev.columns.get("src_ip"), "cs-uri": resource, "c-uri": resource,
        "cs-uri-stem": None if resource is None else resource.split("?")[0],
        "cs-uri-query": None if resource is None or "?" not in resource else resource.split("?", 1)[1],
        "cs-user-agent": ev.columns.get("user_agent"), "c-useragent": ev.columns.get("user_agent"),
        "cs-username": ev.columns.get("actor"),
    }
    attr_names = {"cs-method": "method", "sc-status": "status", "cs-referer": "referer", "cs-host": "vhost",
                  "cs-version": "protocol", "sc-bytes": "bytes"}
    if name in mapped:
        return _single(mapped[name])
    return _single((ev.attrs or {}).get(attr_names.get(name, name)))


# -- matching ---------------------------------------------------------------------------------

def wildcard_regex(value: SigmaString) -> re.Pattern[str]:
    """A Sigma string (wildcards, escapes already parsed by pySigma) as a full-match regex."""
    parts = []
    for part in value.s:
        if isinstance(part, str):
            parts.append(re.escape(part))
        elif part == SpecialChars.WILDCARD_MULTI:
            parts.append(".*")
        elif part == SpecialChars.WILDCARD_SINGLE:
            parts.append(".")
        else:
            raise NotImplementedError(f"placeholder {part}")
    return re.compile("".join(parts), re.DOTALL)


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")
_COMPARE = {CompareOperators.LT: lambda a, b: a < b, CompareOperators.LTE: lambda a, b: a <= b,
            CompareOperators.GT: lambda a, b: a > b, CompareOperators.GTE: lambda a, b: a >= b,
            CompareOperators.NEQ: lambda a, b: a != b}
_FLAGS = {SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE, SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
          SigmaRegularExpressionFlag.DOTALL: re.DOTALL}


def in_network(value: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        addr = ipaddress.ip_address(value.split("%")[0] if ":" in value else value)
    except ValueError:
        return False
    return addr.version == net.version and addr in net


class Reference:
    """Evaluates pySigma condition trees over events: `compile(tree)` gives a test of one event."""

    def __init__(self, family: str) -> None:
        self.fields = Fields(family)
        self.family = family

    def match(self, tree: Any, ev: Ev) -> bool:
        return self.compile(tree)(ev)

    def compile(self, tree: Any) -> Callable[[Ev], bool]:
        match tree:
            case ConditionAND():
                parts = [self.compile(a) for a in tree.args]
                return lambda ev: all(p(ev) for p in parts)
            case ConditionOR():
                parts = [self.compile(a) for a in tree.args]
                return lambda ev: any(p(ev) for p in parts)
            case ConditionNOT():
                inner = self.compile(tree.args[0])
                return lambda ev: not inner(ev)
            case ConditionFieldEqualsValueExpression():
                return self.leaf(tree.field, tree.value)
            case ConditionValueExpression():
                return self.keyword(tree.value)
        raise NotImplementedError(type(tree).__name__)

    def leaf(self, name: str, value: Any) -> Callable[[Ev], bool]:
        get = self.fields.values
        if isinstance(value, SigmaNull):
            return lambda ev: not get(ev, name)
        if isinstance(value, SigmaExists):
            return lambda ev: bool(get(ev, name)) == value.exists
        if isinstance(value, SigmaExpansion):
            parts = [self.leaf(name, v) for v in value.values]
            return lambda ev: any(p(ev) for p in parts)
        if isinstance(value, SigmaFieldReference):
            test = {(False, False): str.__eq__, (True, False): str.startswith, (False, True): str.endswith,
                    (True, True): str.__contains__}[(value.starts_with, value.ends_with)]

            def fieldref(ev: Ev) -> bool:
                others = get(ev, value.field)
                if not others:
                    return False
                return any(test(v.lower(), others[0].lower()) for v in get(ev, name) or [])
            return fieldref
        pred = self.predicate(value)
        return lambda ev: any(pred(v) for v in get(ev, name) or [])

    def predicate(self, value: Any) -> Callable[[str], bool]:
        """The test of one text against a value."""
        if isinstance(value, SigmaString):
            if isinstance(value, SigmaCasedString):
                cased = wildcard_regex(value)
                return lambda v: cased.fullmatch(v) is not None
            folded = wildcard_regex(value.lower())
            return lambda v: folded.fullmatch(v.lower()) is not None
        if isinstance(value, SigmaBool):
            want = "true" if value.boolean else "false"
            return lambda v: v.lower() == want
        if isinstance(value, SigmaNumber):
            number = str(value.number)
            return lambda v: v == number
        if isinstance(value, SigmaRegularExpression):
            flags = 0
            for flag in value.flags:
                flags |= _FLAGS[flag]
            regex = re.compile(str(value.regexp), flags)
            return lambda v: regex.search(v) is not None
        if isinstance(value, SigmaCIDRExpression):
            net = value.network
            return lambda v: in_network(v, net)
        if isinstance(value, SigmaCompareExpression):
            op, n = _COMPARE[value.op], value.number.number
            return lambda v: _NUMBER.fullmatch(v) is not None and bool(op(float(v), n))
        raise NotImplementedError(type(value).__name__)

    def keyword(self, value: Any) -> Callable[[Ev], bool]:
        if isinstance(value, SigmaString):
            inner = SpecialChars.WILDCARD_MULTI + value + SpecialChars.WILDCARD_MULTI
            pred = self.predicate(SigmaCasedString.from_sigma_string(inner) if isinstance(value, SigmaCasedString)
                                  else inner)
        elif isinstance(value, SigmaNumber):
            number = str(value.number)
            pred = lambda h: number in h  # noqa: E731
        else:
            pred = self.predicate(value)
        if self.family in ("windows", "windows_spaced"):
            return lambda ev: any(pred(t) for t in (text(v) for v in (ev.attrs or {}).values()) if t is not None)
        return lambda ev: pred(ev.raw)


# -- events made from a rule's values ---------------------------------------------------------

MISSING = object()  # an assignment that leaves the field out


class Maker:
    """Events that (try to) satisfy or falsify a condition tree, from the rule's own values.

    `sat` and `unsat` build a field assignment (field -> text, a list of texts, or MISSING) by
    walking the tree; `events` renders assignments as events of the family and adds near misses
    (one value changed by a character, or its case flipped where case matters)."""

    def __init__(self, family: str, rng: random.Random) -> None:
        self.family = family
        self.rng = rng

    # assignments

    def sat(self, tree: Any, out: dict[str, Any]) -> None:
        match tree:
            case ConditionAND():
                for a in tree.args:
                    self.sat(a, out)
            case ConditionOR():
                self.sat(self.rng.choice(tree.args), out)
            case ConditionNOT():
                self.unsat(tree.args[0], out)
            case ConditionFieldEqualsValueExpression():
                self.assign(out, tree.field, self.concrete(tree.value, out))
            case ConditionValueExpression():
                kw = self.concrete(tree.value, out)
                if kw is not MISSING:
                    out.setdefault(None, []).append(kw)

    def unsat(self, tree: Any, out: dict[str, Any]) -> None:
        match tree:
            case ConditionAND():
                self.unsat(self.rng.choice(tree.args), out)
            case ConditionOR():
                for a in tree.args:
                    self.unsat(a, out)
            case ConditionNOT():
                self.sat(tree.args[0], out)
            case ConditionFieldEqualsValueExpression():
                if isinstance(tree.value, SigmaNull) or (isinstance(tree.value, SigmaExists) and not tree.value):
                    self.assign(out, tree.field, "present")
                elif tree.field not in out:
                    out[tree.field] = MISSING

    def assign(self, out: dict[str, Any], name: str, value: Any) -> None:
        if value is None:
            return
        if name.startswith("@"):
            out.setdefault(name, value)
            return
        old = out.get(name)
        if old is None or old is MISSING or value is MISSING:
            out[name] = value if old is None or old is MISSING else old
        elif self.family.startswith("auditd") and name == "type":
            out[name] = [*([old] if isinstance(old, str) else old), value]
        elif isinstance(old, str) and isinstance(value, str) and value.lower() not in old.lower():
            out[name] = old + value  # contains/startswith of both, often

    def concrete(self, value: Any, out: dict[str, Any]) -> Any:
        """A text the value matches (a best effort for regular expressions)."""
        rng = self.rng
        if isinstance(value, SigmaExpansion):
            return self.concrete(rng.choice(value.values), out)
        if isinstance(value, SigmaString):
            parts = []
            for part in value.s:
                if isinstance(part, str):
                    parts.append(part)
                elif part == SpecialChars.WILDCARD_MULTI:
                    parts.append(rng.choice(["", "x", " Ab\\c "]))
                elif part == SpecialChars.WILDCARD_SINGLE:
                    parts.append(rng.choice(["q", "%", "_"]))
            s = "".join(parts)
            if not isinstance(value, SigmaCasedString) and rng.random() < 0.3:
                s = s.upper() if rng.random() < 0.5 else s.swapcase()
            return s
        if isinstance(value, SigmaNumber):
            return rng.choice([value.number, str(value.number)])
        if isinstance(value, SigmaBool):
            return value.boolean
        if isinstance(value, SigmaNull):
            return MISSING
        if isinstance(value, SigmaExists):
            return "exists" if value.exists else MISSING
        if isinstance(value, SigmaRegularExpression):
            return regex_example(str(value.regexp), rng)
        if isinstance(value, SigmaCIDRExpression):
            net = value.network
            return str(net.network_address + rng.randrange(min(net.num_addresses, 1 << 20)))
        if isinstance(value, SigmaCompareExpression):
            n = value.number.number
            return str(rng.choice([n - 1, n, n + 1, n + 0.5]))
        if isinstance(value, SigmaFieldReference):
            ref = out.get(value.field)
            if not isinstance(ref, str):
                ref = "ref" + str(rng.randrange(100))
                out[value.field] = ref
            pre = "pre-" if value.ends_with else ""
            post = "-post" if value.starts_with else ""
            return pre + (ref.upper() if rng.random() < 0.5 else ref) + post
        return None

    def near_miss(self, assignment: dict[str, Any]) -> dict[str, Any]:
        """The assignment with one text changed a little."""
        out = dict(assignment)
        names = [k for k, v in out.items() if isinstance(v, str) and v and not (k or "").startswith("@")]
        if not names:
            return out
        name = self.rng.choice(names)
        v = out[name]
        i = self.rng.randrange(len(v))
        how = self.rng.randrange(4)
        if how == 0:
            v = v[:i] + v[i + 1:]
        elif how == 1:
            v = v[:i] + ("z" if v[i] != "z" else "y") + v[i + 1:]
        elif how == 2:
            v = v.swapcase()
        else:
            v = v + "!"
        out[name] = v
        return out

    # rendering

    def render(self, assignment: dict[str, Any], seq: int, parser: str) -> Ev | None:
        columns: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        for name, value in assignment.items():
            if name is None or value is MISSING:
                continue
            if name.startswith("@"):
                if name == "@parser":
                    continue
                columns[name[1:]] = value if isinstance(value, str) else text(value)
                continue
            if "|" in name:
                name = self.rng.choice(name.split("|"))
                if name.startswith("@"):
                    columns[name[1:]] = value if isinstance(value, str) else text(value)
                    continue
            fields[name] = value
        keywords = [k if isinstance(k, str) else text(k) for k in assignment.get(None, [])]
        render = {"windows": self._windows, "syslog": self._windows, "json": self._json, "azure": self._json,
                  "auditd": self._auditd, "auditd_process": self._auditd_process}.get(self.family)
        if render is None:
            return None
        return render(fields, keywords, columns, seq, parser)

    def _windows(self, fields: dict[str, Any], keywords: list[str], columns: dict[str, Any], seq: int,
                 parser: str) -> Ev:
        attrs = {k: _winvalue(v) for k, v in fields.items()}
        for i, kw in enumerate(keywords):
            attrs[f"Payload{i}"] = f"some {kw} text"
        return Ev(seq, parser, json.dumps({"Event": {"EventData": attrs}}), attrs, columns)

    def _json(self, fields: dict[str, Any], keywords: list[str], columns: dict[str, Any], seq: int,
              parser: str) -> Ev:
        doc: dict[str, Any] = {}
        for name, value in fields.items():
            keys = [k for k in name.split(".") if k]
            node = doc
            for k in keys[:-1]:
                nxt = node.setdefault(k, {})
                if not isinstance(nxt, dict):
                    nxt = node[k] = {}
                node = nxt
            if keys:
                node[keys[-1]] = value if isinstance(value, str | int | float | bool) else text(value)
        raw = json.dumps(doc)
        if keywords:
            raw = raw[:-1] + (", " if doc else "") + '"note": "' + " ".join(keywords) + '"}'
        return Ev(seq, parser, raw, None, columns)

    def _auditd(self, fields: dict[str, Any], keywords: list[str], columns: dict[str, Any], seq: int,
                parser: str) -> Ev | None:
        types = fields.pop("type", None) or ["SYSCALL"]
        types = [types] if isinstance(types, str) else [text(t) or "" for t in types]
        argv: dict[int, str] = {}
        pairs = []
        for name, value in fields.items():
            v = text(value) or ""
            if re.search(r"[\s\"'\x1d]", v):
                return None  # auditd writes these hex-encoded
            m = re.fullmatch(r"a(\d+)", name)
            if m and int(m.group(1)) < 12:
                argv[int(m.group(1))] = v
            elif re.fullmatch(r"[A-Za-z0-9_-]+", name):
                pairs.append(f'{name}="{v}"' if self.rng.random() < 0.5 else f"{name}={v}")
        stamp = f"msg=audit(1704067200.000:{seq}):"
        main = types[0] if types else "SYSCALL"
        lines = [f"type={main} {stamp} {' '.join(pairs)}"]
        args = [argv.get(i, "") for i in range(max(argv) + 1)] if argv else []
        if args:
            lines.append(f"type=EXECVE {stamp} argc={len(args)} " + " ".join(f"a{i}={_auditd_arg(a)}" for i, a in enumerate(args)))
        lines += [f"type={t} {stamp} " for t in types[1:] if t != "EXECVE" or not args]
        if keywords:
            lines.append(f"type=PROCTITLE {stamp} proctitle={'_'.join(keywords)}")
        records = [ln.split()[0][5:] for ln in lines]
        attrs: dict[str, Any] = {}
        if len(records) > 1:
            attrs["records"] = records
        if args:
            attrs["argv"] = args
        return Ev(seq, parser, "\n".join(lines), attrs or None, {**columns, "original_action": records[0]})

    def _auditd_process(self, fields: dict[str, Any], keywords: list[str], columns: dict[str, Any], seq: int,
                        parser: str) -> Ev | None:
        attrs: dict[str, Any] = {}
        if "Image" in fields:
            attrs["exe"] = text(fields.pop("Image"))
        if "CommandLine" in fields:
            cmd = text(fields.pop("CommandLine")) or ""
            fields.setdefault("a0", cmd)
        if "CurrentDirectory" in fields:
            attrs["cwd"] = text(fields.pop("CurrentDirectory"))
        if "User" in fields:
            columns["actor"] = text(fields.pop("User"))
        if "ParentProcessId" in fields:
            attrs["ppid"] = text(fields.pop("ParentProcessId"))
        fields.setdefault("type", "EXECVE")
        ev = self._auditd(fields, keywords, columns, seq, parser)
        if ev is not None:
            ev.attrs = {**(ev.attrs or {}), **attrs}
        return ev


def _auditd_arg(arg: str) -> str:
    """An EXECVE argument as auditd writes it: quoted, or hex when it holds a blank or a quote."""
    return arg.encode().hex().upper() if re.search(r"[\s\"'\x1d]", arg) else f'"{arg}"'


def _winvalue(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else text(value)


def regex_example(pattern: str, rng: random.Random) -> str:
    """A string `pattern` probably matches (searched, not anchored): generated from Python's own
    parse of the pattern; look-arounds and back-references are left out."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return ""
    out: list[str] = []
    _emit(parsed, rng, out, {})
    return "".join(out)


def _emit(items: Any, rng: random.Random, out: list[str], groups: dict[int, str]) -> None:
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(av))
        elif name == "NOT_LITERAL":
            out.append("x" if chr(av) != "x" else "y")
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            out.append(_in_char(av))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, sub = av
            n = lo if hi == lo else rng.choice([lo, lo + 1]) if hi is sre_parse.MAXREPEAT or hi > lo else lo
            for _ in range(n):
                _emit(sub, rng, out, groups)
        elif name == "SUBPATTERN":
            start = len(out)
            _emit(av[-1], rng, out, groups)
            if av[0] is not None:
                groups[av[0]] = "".join(out[start:])
        elif name == "ATOMIC_GROUP":
            _emit(av, rng, out, groups)
        elif name == "BRANCH":
            _emit(rng.choice(av[1]), rng, out, groups)
        elif name == "GROUPREF":
            out.append(groups.get(av, ""))
        elif name == "CATEGORY":
            out.append(_category(str(av)))
        # AT (anchors), ASSERT, ASSERT_NOT, GROUPREF_EXISTS: nothing written


def _category(cat: str) -> str:
    return {"CATEGORY_DIGIT": "7", "CATEGORY_NOT_DIGIT": "k", "CATEGORY_SPACE": " ", "CATEGORY_NOT_SPACE": "s",
            "CATEGORY_WORD": "w", "CATEGORY_NOT_WORD": "-"}.get(cat, "a")


def _in_char(items: Any) -> str:
    negate = any(str(op) == "NEGATE" for op, _ in items)
    if negate:
        banned = set()
        for op, av in items:
            if str(op) == "LITERAL":
                banned.add(chr(av))
            elif str(op) == "RANGE":
                banned.update(chr(c) for c in range(av[0], av[1] + 1))
        return next(c for c in "xyz0_ -Q" if c not in banned)
    for op, av in items:
        if str(op) == "LITERAL":
            return chr(av)
        if str(op) == "RANGE":
            return chr(av[0])
        if str(op) == "CATEGORY":
            return _category(str(av))
    return "a"


def make_events(trees: list[Any], family: str, parser: str, rng: random.Random, seq: Iterator[int],
                tries: int = 6) -> list[Ev]:
    """Events for one rule: assignments satisfying each tree (random choices), the same with
    the selection satisfied but a `not` part true as well, and a near miss of each."""
    maker = Maker(family, rng)
    out: list[Ev] = []
    for tree in trees:
        for _ in range(tries):
            hit: dict[str, Any] = {}
            maker.sat(tree, hit)
            variants = [hit, maker.near_miss(hit), maker.near_miss(hit)]
            if rng.random() < 0.5:
                anti: dict[str, Any] = {}
                maker.unsat(tree, anti)
                variants.append({**hit, **{k: v for k, v in anti.items() if v is not MISSING}})
            for a in variants:
                ev = maker.render(a, next(seq), parser)
                if ev is not None:
                    out.append(ev)
    return out

