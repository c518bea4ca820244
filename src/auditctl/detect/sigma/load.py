"""Reading Sigma rule files and turning them into auditctl rules.

pySigma reads every file (single rules, rule collections with `action: global`, correlation
rules, filters); each Sigma rule then either becomes a `Rule` whose condition is DuckDB SQL
from `backend`, or is skipped with one line naming the file, the rule and the reason (a
logsource no parser here collects, a construct the backend cannot express, an invalid rule).
Nothing is skipped silently: `SigmaSet.skipped` holds every one.

Correlation rules become the windowed rule types, with exact sliding windows:
`event_count` -> threshold, `value_count` -> distinct, `temporal` -> distinct over which base
rule matched, `temporal_ordered` -> sequence. The base rules' events are the evidence.
A base rule referenced by a correlation with `generate: false` (the default) does not make
findings of its own.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.exceptions import SigmaError, SigmaRegularExpressionError, SigmaRuleLocation
from sigma.policy import SigmaPolicy
from sigma.policy.regex_engine import RE2RegexEngine, RegexPattern
from sigma.rule import SigmaRule

from auditctl.detect.rules import Rule, SigmaInfo, Step, iter_rule_files
from auditctl.detect.sigma.backend import DuckDBBackend
from auditctl.detect.sigma.fields import resolve, sql_text
from auditctl.detect.sigma.logsources import Logsource, find_logsource, logsource_label, pipeline_for
from auditctl.schema import COLUMNS

LEVELS = {"informational": "info", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}
_ID_OK = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_SLUG = re.compile(r"[^a-z0-9_.-]+")
_WHILE = re.compile(r" \(while converting rule [^)]*\)")
HOST_GROUP = "json_object('host', host)"


@dataclass(frozen=True)
class Skipped:
    """A Sigma rule that does not run here, and why."""

    source: str
    rule_id: str
    title: str
    logsource: str
    reason: str

    @property
    def line(self) -> str:
        if not self.rule_id:  # the file itself could not be read as Sigma
            return f"{self.source}: skipped: {self.reason}"
        name = f"{self.rule_id} ({self.title})" if self.title else self.rule_id
        return f"{self.source}: sigma rule {name}: skipped: {self.reason}"

    @property
    def invalid(self) -> bool:
        """A broken file or rule (as opposed to one that is valid but cannot run here)."""
        return self.reason.startswith(("invalid", "not a Sigma", "not valid YAML", "cannot read"))


@dataclass
class SigmaSet:
    """The rules read from Sigma files: what runs, the base rules only correlations use, and what
    was skipped."""

    rules: list[Rule] = field(default_factory=list)
    bases: list[Rule] = field(default_factory=list)  # referenced by a correlation, no own findings
    skipped: list[Skipped] = field(default_factory=list)
    files: int = 0

    def by_logsource(self) -> dict[str, dict[str, int]]:
        """Per logsource: rules that compiled and rules skipped (the closing counts)."""
        out: dict[str, Counter[str]] = {}
        for r in self.rules + self.bases:
            assert r.sigma is not None
            out.setdefault(r.sigma.logsource, Counter())["compiled"] += 1
        for s in self.skipped:
            out.setdefault(s.logsource, Counter())["skipped"] += 1
        return {k: {"compiled": v["compiled"], "skipped": v["skipped"]} for k, v in sorted(out.items())}

    def reasons(self) -> Counter[str]:
        return Counter(_reason_kind(s.reason) for s in self.skipped)


def _reason_kind(reason: str) -> str:
    return re.sub(r"'[^']*'|\"[^\"]*\"|\b\d+\b", "…", reason.split(":")[0])[:90]


# -- reading --------------------------------------------------------------------------------

def load_sigma(paths: Sequence[Path]) -> SigmaSet:
    """Read Sigma rule files and folders (`*.yml`, `*.yaml`) into runnable rules."""
    out = SigmaSet()
    items: list[Any] = []
    for path in iter_rule_files(paths):
        out.files += 1
        items.extend(_read_file(path, out))
    collection = SigmaCollection(items, collect_filters=False, resolve_references=False)
    _compile_collection(collection, out)
    return out


def _read_file(path: Path, out: SigmaSet) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
        # libyaml when PyYAML has it: the pure-Python loader is 3/4 of loading SigmaHQ's tree
        docs = list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
        coll = SigmaCollection.from_dicts(docs, collect_errors=True, source=SigmaRuleLocation(path),
                                          collect_filters=True, resolve_references=False, policy=_policy())
    except (OSError, UnicodeDecodeError) as exc:
        out.skipped.append(Skipped(str(path), "", "", "(unread)", f"cannot read: {exc}"))
        return []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        out.skipped.append(Skipped(str(path), "", "", "(unread)",
                                   f"{where}not valid YAML: {getattr(exc, 'problem', None) or _one_line(exc)}"))
        return []
    except Exception as exc:  # pySigma raises YAML and Sigma errors for a broken document
        out.skipped.append(Skipped(str(path), "", "", "(unread)", f"not a Sigma rule file: {_one_line(exc)}"))
        return []
    # pySigma copies each rule's errors into the collection's: those are reported with the rule
    of_rules = {id(e) for r in [*coll.rules, *coll.filters] for e in r.errors}
    for error in coll.errors:
        if id(error) not in of_rules:
            out.skipped.append(Skipped(str(path), "", "", "(unread)", _one_line(error)))
    return [*coll.rules, *coll.filters]


class _QuietRE2(RE2RegexEngine):
    """pySigma's RE2 check (DuckDB runs RE2 too), without RE2 logging each bad pattern to stderr:
    the rule's skip line says it once."""

    def compile(self, pattern: str, flags: int = 0) -> RegexPattern:
        import re

        import re2

        prefix = "".join(c for f, c in ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s")) if flags & f)
        options = re2.Options()
        options.log_errors = False
        return re2.compile(f"(?{prefix}){pattern}" if prefix else pattern, options)


@cache
def _policy() -> SigmaPolicy:
    return SigmaPolicy(regex_engine=_QuietRE2())


def _one_line(exc: BaseException | str) -> str:
    return " ".join(str(exc).split())[:300]


def _compile_collection(collection: SigmaCollection, out: SigmaSet) -> None:
    seen: set[str] = set()
    compiled: dict[int, Rule] = {}  # id(SigmaRule) -> its Rule
    entries: dict[int, Logsource] = {}
    correlations: list[SigmaCorrelationRule] = []
    for srule in collection.rules:
        if isinstance(srule, SigmaCorrelationRule):
            correlations.append(srule)
            continue
        rule_or_skip = _compile_rule(srule)
        if isinstance(rule_or_skip, Skipped):
            out.skipped.append(rule_or_skip)
            continue
        rule, entry = rule_or_skip
        if rule.id in seen:
            out.skipped.append(_skip(srule, f"duplicate rule id {rule.id}"))
            continue
        seen.add(rule.id)
        compiled[id(srule)] = rule
        entries[id(srule)] = entry
    silent_bases: set[int] = set()
    for corr in correlations:
        result = _compile_correlation(corr, collection, compiled, entries)
        if isinstance(result, Skipped):
            out.skipped.append(result)
            continue
        rule, bases = result
        if rule.id in seen:
            out.skipped.append(_skip(corr, f"duplicate rule id {rule.id}"))
            continue
        seen.add(rule.id)
        out.rules.append(rule)
        if not corr.generate:
            silent_bases.update(bases)
    for key, rule in compiled.items():
        (out.bases if key in silent_bases else out.rules).append(rule)


def _rule_id(srule: SigmaRule | SigmaCorrelationRule) -> str:
    if srule.id is not None:
        return str(srule.id).lower()
    if srule.name and _ID_OK.match(srule.name.lower()):
        return srule.name.lower()
    stem = srule.source.path.stem.lower() if srule.source else "sigma"
    return _SLUG.sub("-", stem).strip("-") or "sigma"


def _label(srule: SigmaRule | SigmaCorrelationRule) -> str:
    if isinstance(srule, SigmaCorrelationRule):
        return f"correlation {srule.type.name.lower()}"
    ls = srule.logsource
    return logsource_label(ls.product, ls.category, ls.service)


def _source(srule: SigmaRule | SigmaCorrelationRule) -> str:
    return str(srule.source.path) if srule.source else "(sigma)"


def _skip(srule: SigmaRule | SigmaCorrelationRule, reason: str) -> Skipped:
    return Skipped(_source(srule), _rule_id(srule), srule.title, _label(srule), reason)


def _info(srule: SigmaRule | SigmaCorrelationRule, kind: str, scope: str) -> SigmaInfo:
    level = srule.level.name.lower() if srule.level else "medium"
    return SigmaInfo(id=str(srule.id) if srule.id else _rule_id(srule), level=level, logsource=_label(srule),
                     kind=kind, falsepositives=tuple(str(f) for f in srule.falsepositives or ()),
                     references=tuple(srule.references or ()), author=srule.author or "",
                     license=srule.license or "", status=srule.status.name.lower() if srule.status else "",
                     scope_sql=scope)


def scope_sql(entry: Logsource) -> str:
    """The SQL that selects a logsource's events (its pipeline's conditions, no detection)."""
    parts = []
    for name, values in entry.select.items():
        f = resolve(entry.family, name)
        texts = ", ".join(sql_text(str(v).lower()) for v in values)
        parts.append(f"list_has_any(list_transform({f.expr}, lambda v: lower(v)), [{texts}])" if f.multi
                     else f"coalesce(lower({f.expr}) IN ({texts}), false)")
    return " AND ".join(parts) or "TRUE"


def _severity(srule: SigmaRule | SigmaCorrelationRule) -> str:
    return LEVELS.get(srule.level.name.lower(), "medium") if srule.level else "medium"


def _compile_rule(srule: SigmaRule) -> tuple[Rule, Logsource] | Skipped:
    if srule.errors:
        error = srule.errors[0]
        if isinstance(error, SigmaRegularExpressionError):  # valid Sigma (PCRE), but not for RE2
            return _skip(srule, f"unsupported: a regular expression RE2 (DuckDB) cannot run: {_one_line(error)}")
        return _skip(srule, f"invalid Sigma: {_one_line(error)}")
    entry = find_logsource(srule.logsource)
    if entry is None:
        return _skip(srule, f"no parser here reads logsource {_label(srule)}")
    try:
        condition = condition_sql(srule, entry)
    except SigmaError as exc:
        return _skip(srule, f"invalid Sigma: {_one_line(exc)}")
    except NotImplementedError as exc:
        return _skip(srule, f"unsupported: {_WHILE.sub('', _one_line(exc)) or type(exc).__name__}")
    problem = check_sql(condition)
    if problem:
        return _skip(srule, f"does not compile to SQL: {problem}")
    rule = Rule(id=_rule_id(srule), title=srule.title or _rule_id(srule), severity=_severity(srule), type="match",
                description=" ".join((srule.description or "").split()), tags=tuple(str(t) for t in srule.tags),
                group_by=("host",), origin=_source(srule), sql=condition, sql_group=HOST_GROUP,
                sigma=_info(srule, "rule", scope_sql(entry)))
    return rule, entry


def condition_sql(srule: SigmaRule, entry: Logsource) -> str:
    """The rule's detection as one DuckDB boolean expression (several conditions: any of them)."""
    backend = DuckDBBackend(entry.family, pipeline_for(entry))
    queries = backend.convert_rule(srule)
    if not queries:
        raise NotImplementedError("the rule converts to no query")
    return " OR ".join(f"({q})" for q in queries)


@cache
def _checker() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("CREATE TABLE current_events (" + ", ".join(f"{c.name} {c.sql_type}" for c in COLUMNS) + ")")
    return con


def check_sql(condition: str) -> str | None:
    """Why DuckDB rejects a condition, or None. What the backend writes binds by construction
    except a regular expression RE2 cannot run (look-arounds, backreferences): only conditions
    with one are tried (a bind costs ~2 ms; SigmaHQ has ~3,000 rules)."""
    if "regexp_" not in condition:
        return None
    try:
        _checker().execute(f"SELECT count(*) FROM current_events WHERE {condition}").fetchall()
    except duckdb.Error as exc:
        return _one_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return None


# -- correlations ---------------------------------------------------------------------------

_KINDS = {SigmaCorrelationType.EVENT_COUNT: "event_count", SigmaCorrelationType.VALUE_COUNT: "value_count",
          SigmaCorrelationType.TEMPORAL: "temporal", SigmaCorrelationType.TEMPORAL_ORDERED: "temporal_ordered"}


def _compile_correlation(corr: SigmaCorrelationRule, collection: SigmaCollection, compiled: dict[int, Rule],
                         entries: dict[int, Logsource]) -> tuple[Rule, list[int]] | Skipped:
    if corr.errors:
        return _skip(corr, f"invalid Sigma: {_one_line(corr.errors[0])}")
    kind = _KINDS.get(corr.type)
    if kind is None:
        return _skip(corr, f"unsupported: correlation type {corr.type.name.lower()}")
    try:
        corr.resolve_rule_references(collection)
        corr.aliases.resolve_rule_references(collection)  # pySigma resolves only `rules` above
    except SigmaError as exc:
        return _skip(corr, f"invalid Sigma: {_one_line(exc)}")
    bases = []
    for ref in corr.rules or []:
        base = ref.rule
        if isinstance(base, SigmaCorrelationRule):
            return _skip(corr, f"unsupported: refers to the correlation rule {ref.reference}")
        if id(base) not in compiled:
            return _skip(corr, f"refers to rule {ref.reference}, which was skipped")
        bases.append(base)
    if not bases:
        return _skip(corr, "refers to no rule")
    condition = corr.condition
    if not isinstance(condition, SigmaCorrelationCondition):
        return _skip(corr, "unsupported: extended correlation conditions")
    need = _threshold(condition, kind, len(bases))
    if isinstance(need, str):
        return _skip(corr, f"unsupported: {need}")
    try:
        group = _group_sql(corr, bases, compiled, entries)
        value = _value_sql(corr, bases, compiled, entries) if kind == "value_count" else ""
    except ValueError as exc:
        return _skip(corr, f"unsupported: {exc}")
    base_rules = [compiled[id(b)] for b in bases]
    conds = [r.sql for r in base_rules]
    if kind == "temporal":
        value = "CASE " + " ".join(f"WHEN ({c}) THEN {i}" for i, c in enumerate(conds)) + " END"
    rule_type = {"event_count": "threshold", "value_count": "distinct", "temporal": "distinct",
                 "temporal_ordered": "sequence"}[kind]
    steps = tuple(Step(where={}, sql=c) for c in conds) if kind == "temporal_ordered" else ()
    rule = Rule(id=_rule_id(corr), title=corr.title or _rule_id(corr), severity=_severity(corr), type=rule_type,
                description=" ".join((corr.description or "").split()), tags=tuple(str(t) for t in corr.tags),
                group_by=tuple(corr.group_by or ()), count=need, window=timedelta(seconds=corr.timespan.seconds),
                field=_fieldref(corr) if kind == "value_count" else ("rule" if kind == "temporal" else None), steps=steps, origin=_source(corr),
                sql=" OR ".join(f"({c})" for c in conds), sql_group=group, sql_value=value,
                sigma=_info(corr, kind, " OR ".join(f"({b.sigma.scope_sql})" for b in base_rules if b.sigma)))
    return rule, [id(b) for b in bases]


def _fieldref(corr: SigmaCorrelationRule) -> str | None:
    ref = getattr(corr.condition, "fieldref", None)
    return ref if isinstance(ref, str) else None


def _threshold(cond: SigmaCorrelationCondition, kind: str, rules: int) -> int | str:
    """The `>= n` our windows count, or what cannot be expressed."""
    op, count = cond.op, cond.count
    if kind in ("temporal", "temporal_ordered"):
        if op in (SigmaCorrelationConditionOperator.GTE, SigmaCorrelationConditionOperator.GT):
            return rules  # every referenced rule: what temporal means
        return f"temporal condition {op.name.lower()}"
    if not float(count).is_integer():
        return f"a fractional count {count}"
    if op == SigmaCorrelationConditionOperator.GTE:
        return max(int(count), 1)
    if op == SigmaCorrelationConditionOperator.GT:
        return int(count) + 1
    return f"condition {op.name.lower()} {count} (only gte/gt: a window finds bursts, not their absence)"


def _base_field(corr: SigmaCorrelationRule, base: SigmaRule, name: str, entry: Logsource) -> str:
    """The SQL of field `name` (or an alias) of a correlation, for one of its base rules."""
    for alias in corr.aliases:
        if alias.alias == name:
            for ref, mapped in alias.mapping.items():
                if ref.rule is base:
                    name = mapped
                    break
    name = entry.renames.get(name, name)
    f = resolve(entry.family, name)
    if f.multi:
        raise ValueError(f"group-by or count over the list field {name}")
    return f.expr


def _group_sql(corr: SigmaCorrelationRule, bases: Iterable[SigmaRule], compiled: dict[int, Rule],
               entries: dict[int, Logsource]) -> str:
    fields = corr.group_by or []
    if not fields:
        return "'{}'"
    cases = []
    for base in bases:
        key = "json_object(" + ", ".join(
            f"'{f}', {_base_field(corr, base, f, entries[id(base)])}" for f in fields) + ")"
        cases.append(f"WHEN ({compiled[id(base)].sql}) THEN {key}")
    return "CASE " + " ".join(cases) + " END"


def _value_sql(corr: SigmaCorrelationRule, bases: Iterable[SigmaRule], compiled: dict[int, Rule],
               entries: dict[int, Logsource]) -> str:
    assert isinstance(corr.condition, SigmaCorrelationCondition)
    fieldref = corr.condition.fieldref
    if not isinstance(fieldref, str):
        raise ValueError("value_count over several fields")
    cases = [f"WHEN ({compiled[id(b)].sql}) THEN {_base_field(corr, b, fieldref, entries[id(b)])}" for b in bases]
    return "CASE " + " ".join(cases) + " END"
