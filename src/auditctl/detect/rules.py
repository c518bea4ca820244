"""Detection rules: the YAML model, loading and validation.

A rule file holds one rule per YAML document, or a list of rules. Every error names the file,
the rule id and the field, in one line. Rule types (close to Sigma's concepts and its
correlation rules):

- `match`: every matching event is a finding (grouped by `group_by` within `cooldown`)
- `threshold`: at least `count` matching events within a sliding `window`, per group
- `distinct`: at least `count` distinct values of `field` within `window`, per group
- `sequence`: `steps` in order within `window`, per group, each step with a `count`
- `first_seen`: a `value` (one field or a tuple) not seen for the group in the `baseline`
  window before, for a group that was seen there (a known user from a new IP)
- `absence`: a group (a source, a host) with a regular rhythm is silent longer than `window`
  and longer than `rhythm.factor` times its usual gap (see `Rhythm`)

`unit: change` (match, threshold, sequence) counts changes instead of lines: the lines one tool
wrote for one change are one (`auditctl.detect.changes`). `learning` (first_seen): nothing is new in the
first `learning` of each group's history (default 7d): the baseline must be learned first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from auditctl.config import Config
from auditctl.errors import AuditctlError, ExitCode
from auditctl.timeutil import duration_text, get_tz, parse_duration
from auditctl.where import check_field, check_where

SEVERITIES = ("info", "low", "medium", "high", "critical")
TYPES = ("match", "threshold", "distinct", "sequence", "first_seen", "absence")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class RuleError(AuditctlError):
    """An invalid rule: the message names file, rule id and field."""

    exit_code = ExitCode.USAGE


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Step:
    where: dict[str, Any]
    count: int = 1
    sql: str = ""  # a compiled condition (Sigma) instead of `where`


@dataclass(frozen=True)
class Rhythm:
    """When a silence counts (absence rules): in the `baseline` before it the group had at least
    `min_events` events on at least `min_days` distinct days, and the silence is longer than
    `factor` times its usual gap (the 90th percentile of the gaps between its active hours)."""

    min_events: int = 20
    min_days: int = 3
    factor: float = 3.0


DEFAULT_LEARNING = timedelta(days=7)


@dataclass(frozen=True)
class SigmaInfo:
    """What a rule compiled from Sigma keeps of its source, for listings and findings."""

    id: str
    level: str
    logsource: str
    kind: str = "rule"  # rule | event_count | value_count | temporal | temporal_ordered | value_sum
    falsepositives: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    author: str = ""
    license: str = ""
    status: str = ""
    scope_sql: str = ""  # SQL selecting the events of its logsource (coverage), without the detection

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "level": self.level, "logsource": self.logsource, "kind": self.kind,
                "falsepositives": list(self.falsepositives), "references": list(self.references),
                "author": self.author, "license": self.license, "status": self.status}


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    type: str
    where: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    tags: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    count: int = 1
    window: timedelta | None = None
    field: str | None = None  # distinct
    value: tuple[str, ...] = ()  # first_seen
    baseline: timedelta | None = None  # first_seen, absence (look-back)
    steps: tuple[Step, ...] = ()
    cooldown: timedelta = timedelta(hours=1)
    timezone: str = "UTC"
    enabled: bool = True
    origin: str = ""  # file it came from
    unit: str = "event"  # event | change
    learning: timedelta = DEFAULT_LEARNING  # first_seen
    rhythm: Rhythm = Rhythm()  # absence
    # Compiled SQL instead of the `where` language (Sigma rules): the condition, the JSON group
    # key expression (instead of `group_by`) and the distinct value (instead of `field`).
    sql: str = ""
    sql_group: str = ""
    sql_value: str = ""
    sigma: SigmaInfo | None = None

    @property
    def summary(self) -> str:
        w = duration_text(self.window) if self.window else ""
        g = ", ".join(self.group_by) or "all"
        match self.type:
            case "threshold":
                return f">= {self.count} {self.unit}s in {w} per {g}"
            case "distinct":
                return f">= {self.count} distinct {self.field} in {w} per {g}"
            case "sequence":
                parts = " then ".join(f"{s.count}x step{i + 1}" for i, s in enumerate(self.steps))
                return f"{parts} within {w} per {g}{' (counting changes)' if self.unit == 'change' else ''}"
            case "first_seen":
                b = duration_text(self.baseline) if self.baseline else ""
                return (f"new {'+'.join(self.value)} per {g} (baseline {b}; "
                        f"learning the first {duration_text(self.learning)} of each {g})")
            case "absence":
                r = self.rhythm
                return (f"silent > {w} and > {r.factor:g}x its usual gap per {g}, after >= {r.min_events} "
                        f"events on >= {r.min_days} days")
        return f"every matching event, per {g}"


# -- loading ------------------------------------------------------------------------------

def builtin_rules_dir() -> Path:
    return Path(__file__).parent / "pack"


def configured_rules(cfg: Config, extra: Sequence[Path] | None = None, builtin: bool = True) -> list[Rule]:
    """The rules a command runs: the built-in pack (unless `builtin` is off), config `rules.dirs`
    and `extra` files, less what config disables, with config's overrides applied."""
    paths = [Path(p).expanduser() for p in cfg.rules_dirs] + list(extra or [])
    return load_rules(paths, builtin=builtin, disabled=cfg.disabled_rules, overrides=cfg.rule_overrides)


def iter_rule_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml"))
        elif path.exists():
            yield path
        else:
            raise RuleError(f"{path}: no such rule file or directory")


def load_file(path: Path) -> list[Rule]:
    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise RuleError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise RuleError(f"{path}: cannot read: {exc.strerror or exc}") from None
    raw: list[Any] = []
    for doc in docs:
        if doc is None:
            continue
        raw.extend(doc if isinstance(doc, list) else [doc])
    rules = [rule_from_dict(item, str(path), i) for i, item in enumerate(raw)]
    seen: set[str] = set()
    for r in rules:
        if r.id in seen:
            raise RuleError(f"{path}: rule {r.id}: id used twice in one file")
        seen.add(r.id)
    return rules


def load_rules(user_paths: Iterable[Path] = (), *, builtin: bool = True, disabled: Iterable[str] = (),
               overrides: dict[str, dict[str, Any]] | None = None) -> list[Rule]:
    """Built-in rules, then user rules (a user rule with a built-in's id replaces it)."""
    by_id: dict[str, Rule] = {}
    paths = ([builtin_rules_dir()] if builtin else []) + list(user_paths)
    for path in iter_rule_files(paths):
        for rule in load_file(path):
            by_id[rule.id] = rule
    for rule_id, changes in (overrides or {}).items():
        if rule_id not in by_id:
            raise RuleError(f"config: rules.overrides: no rule with id {rule_id!r}")
        base = by_id[rule_id]
        by_id[rule_id] = rule_from_dict({**_as_dict(base), **changes}, f"{base.origin} (overridden in config)", 0)
    off = set(disabled)
    unknown = off - set(by_id)
    if unknown:
        raise RuleError(f"config: rules.disabled: no rule with id {', '.join(sorted(unknown))}")
    return [r for r in by_id.values() if r.enabled and r.id not in off]


def _as_dict(rule: Rule) -> dict[str, Any]:
    d: dict[str, Any] = {"id": rule.id, "title": rule.title, "severity": rule.severity, "type": rule.type,
                         "where": rule.where, "description": rule.description, "tags": list(rule.tags),
                         "group_by": list(rule.group_by), "count": rule.count, "cooldown": duration_text(rule.cooldown),
                         "timezone": rule.timezone, "enabled": rule.enabled}
    if rule.window:
        d["window"] = duration_text(rule.window)
    if rule.field:
        d["field"] = rule.field
    if rule.value:
        d["value"] = list(rule.value)
    if rule.baseline:
        d["baseline"] = duration_text(rule.baseline)
    if rule.steps:
        d["steps"] = [{"where": s.where, "count": s.count} for s in rule.steps]
    d["unit"] = rule.unit
    if rule.type == "first_seen":
        d["learning"] = duration_text(rule.learning) if rule.learning else "0s"
    if rule.type == "absence":
        d["rhythm"] = {"min_events": rule.rhythm.min_events, "min_days": rule.rhythm.min_days,
                       "factor": rule.rhythm.factor}
    return d


# -- validation ---------------------------------------------------------------------------

_KEYS = {"id", "title", "description", "severity", "type", "tags", "where", "group_by", "count", "window",
         "field", "value", "baseline", "steps", "cooldown", "timezone", "enabled", "references",
         "unit", "learning", "rhythm"}
_NEEDS = {"threshold": ("window", "count"), "distinct": ("window", "count", "field"),
          "sequence": ("window", "steps"), "first_seen": ("value", "baseline"), "absence": ("window", "group_by")}


def rule_from_dict(data: Any, origin: str, index: int) -> Rule:
    if not isinstance(data, dict):
        raise RuleError(f"{origin}: rule #{index + 1}: a rule is a mapping of fields")
    rule_id = str(data.get("id") or f"#{index + 1}")

    def fail(field_name: str, why: str) -> RuleError:
        return RuleError(f"{origin}: rule {rule_id}: {field_name}: {why}")

    if not data.get("id"):
        raise fail("id", "missing")
    if not _ID.match(rule_id):
        raise fail("id", "use lowercase letters, digits, '.', '_' and '-'")
    unknown = set(data) - _KEYS
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown field (known: {', '.join(sorted(_KEYS))})")
    for required in ("title", "severity", "type"):
        if not data.get(required):
            raise fail(required, "missing")
    if data["severity"] not in SEVERITIES:
        raise fail("severity", f"{data['severity']!r} is not one of {', '.join(SEVERITIES)}")
    rtype = data["type"]
    if rtype not in TYPES:
        raise fail("type", f"{rtype!r} is not one of {', '.join(TYPES)}")
    for needed in _NEEDS.get(rtype, ()):
        if data.get(needed) in (None, "", []):
            raise fail(needed, f"required for a {rtype} rule")

    def duration(name: str) -> timedelta | None:
        if data.get(name) is None:
            return None
        try:
            td = parse_duration(data[name])
        except ValueError as exc:
            raise fail(name, str(exc)) from None
        if td <= timedelta(0):
            raise fail(name, "must be positive")
        return td

    def field_list(name: str) -> tuple[str, ...]:
        value = data.get(name) or []
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise fail(name, "a field name or a list of field names")
        for item in items:
            check_field(item, lambda why, n=name: fail(n, why))
        return tuple(items)

    timezone = str(data.get("timezone", "UTC"))
    try:
        get_tz(timezone)
    except ValueError as exc:
        raise fail("timezone", str(exc)) from None
    count = data.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise fail("count", "a whole number >= 1")
    where = data.get("where") or {}
    check_where(where, lambda path, why: fail(f"where.{path}" if path else "where", why))
    steps = []
    for i, step in enumerate(data.get("steps") or []):
        if not isinstance(step, dict) or "where" not in step:
            raise fail(f"steps[{i}]", "each step is a mapping with `where` (and `count`)")
        c = step.get("count", 1)
        if not isinstance(c, int) or isinstance(c, bool) or c < 1:
            raise fail(f"steps[{i}].count", "a whole number >= 1")
        check_where(step["where"], lambda path, why, i=i: fail(f"steps[{i}].where.{path}", why))
        steps.append(Step(step["where"], c))
    if rtype == "sequence" and len(steps) < 2:
        raise fail("steps", "a sequence needs at least two steps")
    tags = data.get("tags") or []
    if not isinstance(tags, list):
        raise fail("tags", "a list")
    unit = data.get("unit", "event")
    if unit not in ("event", "change"):
        raise fail("unit", "event or change")
    learning = DEFAULT_LEARNING
    if data.get("learning") is not None:
        try:
            learning = parse_duration(data["learning"])
        except ValueError as exc:
            raise fail("learning", str(exc)) from None
        if learning < timedelta(0):
            raise fail("learning", "must not be negative")
    rule = Rule(
        id=rule_id, title=str(data["title"]), severity=data["severity"], type=rtype, where=where,
        description=str(data.get("description") or "").strip(), tags=tuple(str(t) for t in tags),
        group_by=field_list("group_by"), count=count, window=duration("window"),
        field=(field_list("field") or (None,))[0], value=field_list("value"), baseline=duration("baseline"),
        steps=tuple(steps), cooldown=duration("cooldown") or timedelta(hours=1), timezone=timezone,
        enabled=bool(data.get("enabled", True)), origin=origin, unit=unit, learning=learning,
        rhythm=_rhythm(data.get("rhythm"), fail),
    )
    return rule


def _rhythm(value: Any, fail: Any) -> Rhythm:
    if value is None:
        return Rhythm()
    if not isinstance(value, dict) or set(value) - {"min_events", "min_days", "factor"}:
        raise fail("rhythm", "a mapping of min_events, min_days and factor")
    r = Rhythm(**value)
    for name in ("min_events", "min_days"):
        v = getattr(r, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise fail(f"rhythm.{name}", "a whole number >= 1")
    if not isinstance(r.factor, int | float) or isinstance(r.factor, bool) or r.factor <= 0:
        raise fail("rhythm.factor", "a positive number")
    return r


