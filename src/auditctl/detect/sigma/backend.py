r"""A pySigma backend that turns a Sigma rule's detection into a DuckDB boolean expression.

pySigma parses the rule, applies the processing pipeline (logsource conditions, renames),
expands modifiers (`windash`, `base64offset`, `all`...) and walks the condition; this backend
writes each leaf. Sigma semantics kept (tests/test_sigma_backend.py, one test a construct; an
equivalence test compares every match with a plain-Python evaluation of pySigma's tree):

- string matching is case-insensitive unless `|cased`; `*` and `?` are wildcards (matching
  newlines too), `\\*` a backslash then a wildcard, `\*` an asterisk;
- a missing field matches nothing, so `not filter` holds for an event without the field
  (every leaf is `coalesce(..., false)`: SQL's NULL would otherwise swallow the NOT);
- a list field (auditd records) matches when any element does;
- keywords (values without a field) search the raw record; Windows events: every field's
  value, as the event shows it (its raw XML or JSON escapes backslashes and quotes);
- numbers compare as text for equality (`EventID: 4688` matches 4688 and `"4688"`), as numbers
  for `gt`/`lt` (a value that is no decimal number matches neither); `null` is a missing field;
- `cidr` is exact: IPv4 by number (no leading zeros, as Python's `ipaddress`), IPv6 in any
  spelling (compressed, upper case, `%zone`, IPv4 tail); the other version never matches (no
  `::ffff:10.0.0.1` in `10.0.0.0/8`);
- regular expressions are RE2 (DuckDB, and pySigma's default policy): a pattern RE2 cannot run
  (look-around, back-references) makes the rule invalid with the reason. RE2's `$` (without
  `m`) matches only at the very end, not before a final newline as Python's and PCRE's do.

The SQL is shaped for speed without changing what matches: the logsource's parser test first,
as a plain column test DuckDB pushes into the scan; then the logsource's own condition (channel,
event ids), reading its JSON fields with one parse; then the detection, reading every JSON
field it names with one more parse, only for the events that passed (`Binder`); the values of
one field are one test of a value read once; AND is written as CASE, which DuckDB evaluates
lazily where an AND below an OR is not.

Values are SQL literals written by `sql_text` (quotes doubled), never raw text in SQL.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionIdentifier,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from auditctl.detect.sigma.fields import FieldSql, json_text, keyword_field, resolve, sql_text
from auditctl.where import like_escape

Pred = Callable[[str], str]  # a predicate over one text value (an SQL expression)


class Unsupported(NotImplementedError):
    """A construct this backend cannot express; the message names it."""


def sigma_like_pattern(value: SigmaString) -> str:
    """A Sigma string with wildcards as a LIKE pattern (escape character `\\`); its text is
    escaped by the one LIKE escaping routine, `auditctl.where.like_escape`."""
    out = []
    for part in value.s:
        if isinstance(part, str):
            out.append(like_escape(part))
        elif part == SpecialChars.WILDCARD_MULTI:
            out.append("%")
        elif part == SpecialChars.WILDCARD_SINGLE:
            out.append("_")
        else:
            raise Unsupported(f"placeholder {part} in a value")
    return "".join(out)


def plain_text(value: SigmaString) -> str:
    parts = []
    for part in value.s:
        if not isinstance(part, str):
            raise Unsupported(f"placeholder {part} in a value")
        parts.append(part)
    return "".join(parts)


def string_predicate(value: SigmaString, cased: bool) -> Pred:
    """The test of one text value against a Sigma string (with or without wildcards)."""
    def low(x: str) -> str:
        return x if cased else f"lower({x})"

    def lit(text: str) -> str:
        return sql_text(text if cased else text.lower())

    multi = SpecialChars.WILDCARD_MULTI
    if not value.contains_special():
        text = plain_text(value)
        return lambda x: f"{low(x)} = {lit(text)}"
    inner = value[1:-1] if len(value) >= 2 else None
    if value.startswith(multi) and value.endswith(multi) and inner is not None and not inner.contains_special():
        text = plain_text(inner)
        return lambda x: f"contains({low(x)}, {lit(text)})"
    if value.endswith(multi) and not value[:-1].contains_special():
        text = plain_text(value[:-1])
        return lambda x: f"starts_with({low(x)}, {lit(text)})"
    if value.startswith(multi) and not value[1:].contains_special():
        text = plain_text(value[1:])
        return lambda x: f"ends_with({low(x)}, {lit(text)})"
    pattern = sigma_like_pattern(value)
    op = "LIKE" if cased else "ILIKE"
    return lambda x: f"{x} {op} {sql_text(pattern)} ESCAPE '\\'"


def regex_predicate(value: SigmaRegularExpression) -> Pred:
    flags = ""
    for flag in value.flags:
        flags += {SigmaRegularExpressionFlag.IGNORECASE: "i", SigmaRegularExpressionFlag.MULTILINE: "m",
                  SigmaRegularExpressionFlag.DOTALL: "s"}[flag]
    # str(), not .original: the contains/startswith/endswith modifiers extend the expression
    # (`.*(?:x|y).*`) and leave .original empty
    pattern = (f"(?{flags})" if flags else "") + str(value.regexp)
    return lambda x: f"regexp_matches({x}, {sql_text(pattern)})"


_NUMERIC = "TRY_CAST({x} AS DOUBLE)"
_OPS = {CompareOperators.LT: "<", CompareOperators.LTE: "<=", CompareOperators.GT: ">", CompareOperators.GTE: ">=",
        CompareOperators.NEQ: "<>"}


_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"
_H16 = "[0-9a-f]{1,4}"


def ipv4_number(x: str) -> str:
    """SQL: IPv4 address text as a number, NULL when it is not one (octets 0-255, no leading
    zeros, as Python's `ipaddress` reads them)."""
    octets = " + ".join(f"CAST(regexp_extract({x}, {sql_text(_IPV4)}, {i + 1}) AS BIGINT) * {256 ** (3 - i)}"
                        for i in range(4))
    return f"CASE WHEN regexp_full_match({x}, {sql_text(_IPV4)}) THEN {octets} END"


def ipv6_hex(x: str) -> str:
    """SQL: IPv6 address text as its 32 hex digits, NULL when it is not one. Every spelling
    counts: compressed (`::`) or not, any case, leading zeros, a `%zone`, an IPv4 tail."""
    tail4 = f"^(.*:){_IPV4}$"
    # an IPv4 tail becomes two hex groups
    s0 = f"lower(split_part({x}, '%', 1))"
    v4 = (f"CASE WHEN regexp_matches(a, {sql_text(tail4)}) THEN regexp_extract(a, {sql_text(tail4)}, 1) || "
          f"printf('%x:%x', {_octet_pair('a', tail4, 2)}, {_octet_pair('a', tail4, 4)}) ELSE a END")
    head = "CASE WHEN starts_with(s, '::') THEN CAST([] AS VARCHAR[]) ELSE string_split(split_part(s, '::', 1), ':') END"
    tail = "CASE WHEN ends_with(s, '::') THEN CAST([] AS VARCHAR[]) ELSE string_split(split_part(s, '::', 2), ':') END"
    full = f"regexp_full_match(s, {sql_text(f'{_H16}(:{_H16}){{7}}')})"
    short = f"regexp_full_match(s, {sql_text(f'(({_H16}:)*{_H16})?::(({_H16}:)*{_H16})?')})"
    groups = (f"CASE WHEN {full} THEN string_split(s, ':') WHEN {short} AND len(h) + len(t) <= 7 "
              "THEN h || list_transform(range(8 - len(h) - len(t)), lambda i: '0') || t END")
    digits = "array_to_string(list_transform(g, lambda p: lpad(p, 4, '0')), '')"
    return (f"list_transform([{s0}], lambda a: list_transform([{v4}], lambda s: list_transform([{head}], lambda h: "
            f"list_transform([{tail}], lambda t: list_transform([{groups}], lambda g: {digits})[1])[1])[1])[1])[1]")


def _octet_pair(x: str, pattern: str, group: int) -> str:
    return (f"CAST(regexp_extract({x}, {sql_text(pattern)}, {group}) AS BIGINT) * 256 + "
            f"CAST(regexp_extract({x}, {sql_text(pattern)}, {group + 1}) AS BIGINT)")


def cidr_predicate(value: SigmaCIDRExpression) -> Pred:
    """Membership of an address in a network, by number (IPv4) or by its 32 hex digits (IPv6):
    exact, unlike prefix wildcards; an address of the other version never matches."""
    net = value.network
    if isinstance(net, ipaddress.IPv4Network):
        lo, hi = int(net.network_address), int(net.broadcast_address)
        return lambda x: f"({ipv4_number(x)} BETWEEN {lo} AND {hi})"
    lo6, hi6 = f"{int(net.network_address):032x}", f"{int(net.broadcast_address):032x}"
    return lambda x: f"({ipv6_hex(x)} BETWEEN '{lo6}' AND '{hi6}')"


ROW = "sigma_row"  # the lambda parameter holding one event's JSON fields
GATE = "sigma_gate"  # the same, for the logsource's own condition
_KEYWORD = "\x00keyword"  # grouping key of keyword leaves (no field)


class Binder:
    """The JSON fields one condition reads, each document parsed once per event.

    A rule names the same field in many leaves (`CommandLine|contains` with forty values) and
    json_extract_string parses the whole document each time: every JSON path the condition reads
    is extracted by one multi-path call per JSON column, into a struct the condition reads inside
    a lambda, `list_transform([{'attrs': json_extract_string(attrs, [...])}], lambda sigma_row:
    <condition>)[1]`. Other fields (auditd's regular expressions over the raw record) stay in the
    condition where they are used: evaluated only for the events the tests before them leave."""

    def __init__(self, row: str = ROW) -> None:
        self.row = row  # the lambda parameter
        self.paths: dict[str, dict[str, int]] = {}  # JSON column -> path -> position (1-based)

    def ref(self, f: FieldSql) -> str:
        """The SQL of the field's value: read from the struct when it is a JSON path."""
        if not f.paths or f.multi:
            return f.expr
        refs = []
        for column, path in f.paths:
            slots = self.paths.setdefault(column, {})
            slots.setdefault(path, len(slots) + 1)
            refs.append(f"{self.row}.{column}[{slots[path]}]")
        value = refs[0] if len(refs) == 1 else "coalesce(" + ", ".join(refs) + ")"
        return f.via.format(value) if f.via else value

    def wrap(self, condition: str, gate: str = "") -> str:
        """`condition` over the bound fields, for the events that pass `gate` (a condition that
        reads its fields itself): a lambda evaluates all of its body for every event it gets,
        so the struct is only built for the events the gate lets through."""
        if not self.paths:
            return f"({gate}) AND ({condition})" if gate else condition
        members = ", ".join(f"'{column}': {json_text(column, list(slots))}" for column, slots in self.paths.items())
        struct = f"[{{{members}}}]"
        if gate:
            struct = f"CASE WHEN {gate} THEN {struct} END"
        return f"coalesce(list_transform({struct}, lambda {self.row}: {condition})[1], false)"


def column_prefilter(tree: Any) -> list[str]:
    """The conjuncts of a condition that test only which parser read the event (the logsource's
    `@parser`), as exact SQL. Written before everything else, they let DuckDB skip the events of
    other sources before any JSON is parsed (and skip whole row groups by their statistics)."""
    if isinstance(tree, ConditionAND):
        return [c for a in tree.args for c in column_prefilter(a)]
    leaves = tree.args if isinstance(tree, ConditionOR) else [tree]
    names = []
    for leaf in leaves:
        if not (isinstance(leaf, ConditionFieldEqualsValueExpression) and leaf.field == "@parser"
                and isinstance(leaf.value, SigmaString) and not leaf.value.contains_special()):
            return []
        names.append(plain_text(leaf.value))  # as the pipeline names it: parser names are exact
    return [f"parser IN ({', '.join(sql_text(n) for n in names)})"] if names else []


def _from_pipeline(node: Any) -> bool:
    """Whether a part of the condition is one a processing pipeline added (pySigma names the
    detections of AddConditionTransformation `_cond_...`), not the rule's own."""
    while node is not None and not isinstance(node, ConditionIdentifier):
        node = getattr(node, "parent", None)
    return node is not None and str(node.identifier).startswith("_cond_")


def value_predicate(value: Any) -> Pred | None:
    """The test of one text against a value that is compared with the field's text, or None for
    the values that are not (null, exists, field references)."""
    match value:
        case SigmaCasedString():
            return string_predicate(value, cased=True)
        case SigmaString():
            return string_predicate(value, cased=False)
        case SigmaBool():
            text = "true" if value.boolean else "false"
            return lambda x: f"lower({x}) = '{text}'"
        case SigmaCompareExpression():
            if not isinstance(value.number, SigmaNumber) or isinstance(value.number, SigmaTimestampPart):
                raise Unsupported("comparison with a timestamp part")
            op, number = _OPS[value.op], value.number.number
            return lambda x: f"{_NUMERIC.format(x=x)} {op} {number}"
        case SigmaTimestampPart():
            raise Unsupported("timestamp part modifiers (|minute, |hour...)")
        case SigmaNumber():
            digits = sql_text(str(value.number))
            return lambda x: f"{x} = {digits}"
        case SigmaRegularExpression():
            return regex_predicate(value)
        case SigmaCIDRExpression():
            return cidr_predicate(value)
        case SigmaExpansion():
            preds = [value_predicate(v) for v in value.values]
            if any(p is None for p in preds):
                return None
            return any_of([p for p in preds if p is not None])
    return None


def any_of(preds: list[Pred]) -> Pred:
    return preds[0] if len(preds) == 1 else lambda x: "(" + " OR ".join(p(x) for p in preds) + ")"


_BOUND = r"sigma_(?:row|gate)\.\w+\[\d+\]"
_CHEAP = re.compile(rf"[a-z_]+|{_BOUND}|coalesce\({_BOUND}(, {_BOUND})*\)")


def _is_cheap(expr: str) -> bool:
    """A column or bound JSON fields: no need to evaluate it once for many tests."""
    return _CHEAP.fullmatch(expr) is not None


class DuckDBBackend(TextQueryBackend):
    """Sigma detections to DuckDB SQL over `current_events`, for one field family."""

    name: ClassVar[str] = "auditctl DuckDB"
    formats: ClassVar[dict[str, str]] = {"default": "a DuckDB boolean expression over the events view"}
    requires_pipeline: ClassVar[bool] = False
    precedence: ClassVar[Any] = (ConditionNOT, ConditionAND, ConditionOR)
    group_expression: ClassVar[str] = "({expr})"
    parenthesize = True
    token_separator = " "
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = " = "
    # pySigma may turn an OR of one field's values into an IN; we write every leaf ourselves
    convert_or_as_in: ClassVar[bool] = False
    convert_and_as_in: ClassVar[bool] = False

    def __init__(self, family: str, processing_pipeline: Any = None) -> None:
        super().__init__(processing_pipeline=processing_pipeline, collect_errors=False)
        self.family = family
        self.binder = Binder()
        self.prefilter: list[str] | None = None  # None: the next condition's root is still to come

    def convert_condition(self, cond: Any, state: ConversionState) -> Any:
        if self.prefilter is None:  # the root of one of the rule's conditions
            self.prefilter = column_prefilter(cond)
            gate = [a for a in cond.args if _from_pipeline(a)] if isinstance(cond, ConditionAND) else []
            if gate and len(gate) < len(cond.args):
                return self.gated(gate, [a for a in cond.args if a not in gate], state)
        return super().convert_condition(cond, state)

    def gated(self, gate: list[Any], rest: list[Any], state: ConversionState) -> str:
        """The logsource's own condition (the pipeline's, which picks the channel, event ids or
        record type) reads its few fields itself, first; the rule's detection reads its bound
        fields only for the events that pass it."""
        self.binder = Binder(GATE)
        gate_sql = self.binder.wrap(" AND ".join(f"({self.convert_condition(g, state)})" for g in gate))
        self.binder = Binder()
        body = " AND ".join(f"({self.convert_condition(r, state)})" for r in rest)
        query = self.binder.wrap(body, gate_sql)
        self.binder = Binder()  # nothing left to wrap in finish_query
        return query

    def finish_query(self, rule: Any, query: Any, state: ConversionState) -> Any:
        """One condition done: its JSON fields bound, its parser test in front."""
        query = self.binder.wrap(str(super().finish_query(rule, query, state)))
        query = " AND ".join([*(self.prefilter or []), query])
        self.binder, self.prefilter = Binder(), None
        return query

    # -- fields -----------------------------------------------------------------------------

    def field(self, name: str | None) -> FieldSql:
        if name is None:
            return keyword_field(self.family)
        try:
            return resolve(self.family, name)
        except ValueError as exc:
            raise Unsupported(str(exc)) from None

    def leaf(self, name: str | None, pred: Pred) -> str:
        """`pred` over the field's value (any element, for a list field), NULL as false. A field
        that is an expression (not a column, not a bound JSON path) is evaluated once, however
        often `pred` names it."""
        f = self.field(name)
        x = self.binder.ref(f)
        if f.multi:
            return f"coalesce(list_bool_or(list_transform({x}, lambda v: coalesce({pred('v')}, false))), false)"
        if _is_cheap(x):
            return f"coalesce({pred(x)}, false)"
        return f"coalesce(list_transform([{x}], lambda v: {pred('v')})[1], false)"

    # -- structure --------------------------------------------------------------------------

    def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> str:
        """The values of one field (a value list, `windash` variants, a keyword list) become one
        test of the field: `(a OR b OR c)` over a value read once."""
        groups: dict[str, list[Pred]] = {}
        others = []
        for arg in cond.args:
            pred = None
            if isinstance(arg, ConditionFieldEqualsValueExpression):
                pred = value_predicate(arg.value)
                key = arg.field
            elif isinstance(arg, ConditionValueExpression):
                pred = self.keyword_predicate(arg.value)
                key = _KEYWORD
            if pred is None:
                others.append(arg)
            else:
                groups.setdefault(key, []).append(pred)
        parts = [self.leaf(None if key == _KEYWORD else key, any_of(preds)) for key, preds in groups.items()]
        for arg in others:
            converted = self.convert_condition(arg, state)
            if converted is not None:
                parts.append(f"({converted})")
        return parts[0] if len(parts) == 1 else " OR ".join(parts)

    def convert_condition_and(self, cond: ConditionAND, state: ConversionState) -> str:
        """`CASE WHEN a THEN b ELSE false END`: DuckDB evaluates a CASE branch only for the events
        that reach it, but both sides of an AND below an OR for every event."""
        parts = [p for p in (self.convert_condition(a, state) for a in cond.args) if p is not None]
        out = parts[-1]
        for part in reversed(parts[:-1]):
            out = f"CASE WHEN {part} THEN {out} ELSE false END"
        return out

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> str | None:
        """`NOT (...)` always: pySigma groups a negated AND/OR but not a negated leaf whose value
        expanded into several (`windash`, `base64offset`), which then read `NOT a OR b OR c`."""
        arg = cond.args[0]
        if arg is None:
            return None
        inner = self.convert_condition(arg, state)
        return None if inner is None else f"NOT ({inner})"

    # -- leaves -----------------------------------------------------------------------------

    def value_leaf(self, cond: ConditionFieldEqualsValueExpression) -> str:
        pred = value_predicate(cond.value)
        assert pred is not None, cond.value
        return self.leaf(cond.field, pred)

    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        return self.value_leaf(cond)

    def convert_condition_field_eq_val_str_case_sensitive(self, cond: ConditionFieldEqualsValueExpression,
                                                          state: ConversionState) -> str:
        return self.value_leaf(cond)

    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        return self.value_leaf(cond)

    def convert_condition_field_eq_val_bool(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> str:
        return self.value_leaf(cond)

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression,
                                          state: ConversionState) -> str:
        return self.value_leaf(cond)

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> str:
        return self.value_leaf(cond)

    def convert_condition_field_compare_op_val(self, cond: ConditionFieldEqualsValueExpression,
                                               state: ConversionState) -> str:
        return self.value_leaf(cond)

    def convert_condition_field_eq_expansion(self, cond: ConditionFieldEqualsValueExpression,
                                             state: ConversionState) -> str:
        pred = value_predicate(cond.value)
        if pred is None:
            return f"({super().convert_condition_field_eq_expansion(cond, state)})"
        return self.leaf(cond.field, pred)

    def convert_condition_field_eq_field(self, cond: ConditionFieldEqualsValueExpression,
                                         state: ConversionState) -> str:
        ref = cond.value
        assert isinstance(ref, SigmaFieldReference)
        other = self.field(ref.field)
        if other.multi:
            raise Unsupported(f"fieldref to the list field {ref.field}")
        y = f"lower({self.binder.ref(other)})"
        if ref.starts_with and ref.ends_with:
            return self.leaf(cond.field, lambda x: f"contains(lower({x}), {y})")
        if ref.starts_with:
            return self.leaf(cond.field, lambda x: f"starts_with(lower({x}), {y})")
        if ref.ends_with:
            return self.leaf(cond.field, lambda x: f"ends_with(lower({x}), {y})")
        return self.leaf(cond.field, lambda x: f"lower({x}) = {y}")

    def convert_condition_field_eq_val_null(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaNull)
        f = self.field(cond.field)
        x = self.binder.ref(f)
        return f"(coalesce(len({x}), 0) = 0)" if f.multi else f"({x} IS NULL)"

    def convert_condition_field_exists(self, cond: ConditionFieldEqualsValueExpression,
                                       state: ConversionState) -> str:
        f = self.field(cond.field)
        x = self.binder.ref(f)
        return f"coalesce(len({x}) > 0, false)" if f.multi else f"({x} IS NOT NULL)"

    def convert_condition_field_not_exists(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        return f"NOT {self.convert_condition_field_exists(cond, state)}"

    def convert_condition_field_eq_val_timestamp_part(self, cond: Any, state: ConversionState) -> str:
        raise Unsupported("timestamp part modifiers (|minute, |hour...)")

    def convert_condition_field_eq_query_expr(self, cond: Any, state: ConversionState) -> str:
        raise Unsupported("query expression placeholders")

    def convert_condition_query_expr(self, cond: Any, state: ConversionState) -> str:
        raise Unsupported("query expression placeholders")

    # -- keywords: values without a field search the raw record (Windows: every field's value) --

    def keyword_predicate(self, value: Any) -> Pred | None:
        if isinstance(value, SigmaString):
            if not value.startswith(SpecialChars.WILDCARD_MULTI):
                value = SpecialChars.WILDCARD_MULTI + value
            if not value.endswith(SpecialChars.WILDCARD_MULTI):
                value = value + SpecialChars.WILDCARD_MULTI
            return value_predicate(value)
        if isinstance(value, SigmaNumber):
            text = str(value.number)
            return lambda x: f"contains({x}, {sql_text(text)})"
        if isinstance(value, SigmaRegularExpression):
            return regex_predicate(value)
        return None

    def keyword_leaf(self, cond: Any) -> str:
        pred = self.keyword_predicate(cond.value)
        if pred is None:
            raise Unsupported(f"a keyword of type {type(cond.value).__name__}")
        return self.leaf(None, pred)

    def convert_condition_val_str(self, cond: Any, state: ConversionState) -> str:
        return self.keyword_leaf(cond)

    def convert_condition_val_num(self, cond: Any, state: ConversionState) -> str:
        return self.keyword_leaf(cond)

    def convert_condition_val_re(self, cond: Any, state: ConversionState) -> str:
        return self.keyword_leaf(cond)

    def finalize_query_default(self, rule: Any, query: str, index: int, state: ConversionState) -> str:
        return query
