"""A pySigma backend that turns a Sigma rule's detection into a DuckDB boolean expression.

pySigma parses the rule, applies the processing pipeline (logsource conditions, renames),
expands modifiers (`windash`, `base64offset`, `all`...) and walks the condition; this backend
writes each leaf. Sigma semantics kept:

- string matching is case-insensitive unless `|cased`; `*` and `?` are wildcards;
- a missing field matches nothing, so `not filter` holds for an event without the field
  (every leaf is `coalesce(..., false)`: SQL's NULL would otherwise swallow the NOT);
- a list field (auditd records, JSON arrays) matches when any element does;
- keywords (values without a field) search the raw record;
- numbers compare as text for equality (`EventID: 4688` matches `"4688"`), as numbers for
  `gt`/`lt`; regular expressions are RE2 (DuckDB): a pattern RE2 cannot run fails the rule at
  compile time with the reason.

Values are SQL literals written by `sql_text` (quotes doubled), never raw text in SQL.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any, ClassVar

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionNOT, ConditionOR
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from auditctl.detect.sigma.fields import FieldSql, keyword_field, resolve, sql_text

Pred = Callable[[str], str]  # a predicate over one text value (an SQL expression)


class Unsupported(NotImplementedError):
    """A construct this backend cannot express; the message names it."""


def like_pattern(value: SigmaString) -> str:
    """A Sigma string with wildcards as a LIKE pattern (escape character `\\`)."""
    out = []
    for part in value.s:
        if isinstance(part, str):
            out.append(part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
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
    pattern = like_pattern(value)
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

    # -- fields -----------------------------------------------------------------------------

    def field(self, name: str | None) -> FieldSql:
        if name is None:
            return FieldSql("raw")
        try:
            return resolve(self.family, name)
        except ValueError as exc:
            raise Unsupported(str(exc)) from None

    def leaf(self, name: str | None, pred: Pred) -> str:
        """`pred` over the field's value (any element, for a list field), NULL as false."""
        f = self.field(name)
        if f.multi:
            return f"coalesce(list_bool_or(list_transform({f.expr}, lambda v: coalesce({pred('v')}, false))), false)"
        return f"coalesce({pred(f.expr)}, false)"

    # -- structure --------------------------------------------------------------------------

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> str | None:
        """`NOT (...)` always: pySigma groups a negated AND/OR but not a negated leaf whose value
        expanded into several (`windash`, `base64offset`), which then read `NOT a OR b OR c`."""
        arg = cond.args[0]
        if arg is None:
            return None
        inner = self.convert_condition(arg, state)
        return None if inner is None else f"NOT ({inner})"

    def convert_condition_field_eq_expansion(self, cond: ConditionFieldEqualsValueExpression,
                                             state: ConversionState) -> str:
        return f"({super().convert_condition_field_eq_expansion(cond, state)})"

    # -- leaves -----------------------------------------------------------------------------

    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaString)
        return self.leaf(cond.field, string_predicate(cond.value, cased=False))

    def convert_condition_field_eq_val_str_case_sensitive(self, cond: ConditionFieldEqualsValueExpression,
                                                          state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaString)
        return self.leaf(cond.field, string_predicate(cond.value, cased=True))

    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaNumber)
        text = str(cond.value.number)
        return self.leaf(cond.field, lambda x: f"{x} = {sql_text(text)}")

    def convert_condition_field_eq_val_bool(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaBool)
        text = "true" if cond.value.boolean else "false"
        return self.leaf(cond.field, lambda x: f"lower({x}) = '{text}'")

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression,
                                          state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaRegularExpression)
        return self.leaf(cond.field, regex_predicate(cond.value))

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaCIDRExpression)
        return self.leaf(cond.field, cidr_predicate(cond.value))

    def convert_condition_field_compare_op_val(self, cond: ConditionFieldEqualsValueExpression,
                                               state: ConversionState) -> str:
        value = cond.value
        assert isinstance(value, SigmaCompareExpression)
        if not isinstance(value.number, SigmaNumber):
            raise Unsupported("comparison with a timestamp part")
        op, number = _OPS[value.op], value.number.number
        return self.leaf(cond.field, lambda x: f"{_NUMERIC.format(x=x)} {op} {number}")

    def convert_condition_field_eq_field(self, cond: ConditionFieldEqualsValueExpression,
                                         state: ConversionState) -> str:
        ref = cond.value
        assert isinstance(ref, SigmaFieldReference)
        other = self.field(ref.field)
        if other.multi:
            raise Unsupported(f"fieldref to the list field {ref.field}")
        y = f"lower({other.expr})"
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
        return f"(coalesce(len({f.expr}), 0) = 0)" if f.multi else f"({f.expr} IS NULL)"

    def convert_condition_field_exists(self, cond: ConditionFieldEqualsValueExpression,
                                       state: ConversionState) -> str:
        f = self.field(cond.field)
        return f"coalesce(len({f.expr}) > 0, false)" if f.multi else f"({f.expr} IS NOT NULL)"

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

    def keyword_leaf(self, pred: Pred) -> str:
        f = keyword_field(self.family)
        if f.multi:
            return f"coalesce(list_bool_or(list_transform({f.expr}, lambda v: coalesce({pred('v')}, false))), false)"
        return f"coalesce({pred(f.expr)}, false)"

    def convert_condition_val_str(self, cond: Any, state: ConversionState) -> str:
        value = cond.value
        assert isinstance(value, SigmaString)
        cased = isinstance(value, SigmaCasedString)
        if not value.startswith(SpecialChars.WILDCARD_MULTI):
            value = SpecialChars.WILDCARD_MULTI + value
        if not value.endswith(SpecialChars.WILDCARD_MULTI):
            value = value + SpecialChars.WILDCARD_MULTI
        return self.keyword_leaf(string_predicate(value, cased=cased))

    def convert_condition_val_num(self, cond: Any, state: ConversionState) -> str:
        text = str(cond.value.number)
        return self.keyword_leaf(lambda x: f"contains({x}, {sql_text(text)})")

    def convert_condition_val_re(self, cond: Any, state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaRegularExpression)
        return self.keyword_leaf(regex_predicate(cond.value))

    def finalize_query_default(self, rule: Any, query: str, index: int, state: ConversionState) -> str:
        return query
