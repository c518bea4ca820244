"""The `where` language: conditions on events, as rules, retention policies, legal holds and
sensitive-field (sealing) rules write them, validated and compiled to bound DuckDB SQL.

A `where` is a mapping of field -> condition, all of which must hold; `any_of`, `all_of` and
`none_of` take lists of such mappings. A field is a schema column, `attrs.<key>` (or
`received.<key>`), or the virtual `hour` / `weekday` (in the caller's time zone). A condition is a value, a list of
values (any of them), null (the field is NULL), or a mapping of operators (OPERATORS).

One case rule, for this language and for search filters (`auditctl.store.query`): a plain
value matches exactly (`=`, case-sensitive); a value with `*` or `?` wildcards, like the `like`
operator, matches case-insensitively (ILIKE); free text (`--text`) is a case-insensitive
substring. `like_pattern` is the one routine that turns a wildcard value into a LIKE pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from auditctl.schema import COLUMN_NAMES

VIRTUAL_FIELDS = ("hour", "weekday")  # in the caller's time zone
FIELDS = (*COLUMN_NAMES, *VIRTUAL_FIELDS)
OPERATORS = ("eq", "in", "like", "re", "gt", "gte", "lt", "lte", "exists", "not", "between")
WEEKDAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
COMBINATORS = ("any_of", "all_of", "none_of")
_WILDCARD = re.compile(r"[*?]")



# -- wildcards -----------------------------------------------------------------------------

def has_wildcard(value: str) -> bool:
    return bool(_WILDCARD.search(value))


def like_escape(text: str) -> str:
    """`text` with LIKE's own special characters (% _ and the escape, backslash) escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(value: str) -> str:
    """A wildcard value (`*` any run, `?` one character) as a LIKE pattern for `ESCAPE '\\'`."""
    return like_escape(value).replace("*", "%").replace("?", "_")


WILDCARD_MATCH = "ILIKE {} ESCAPE '\\'"  # the case rule: wildcards ignore case


# -- validation ----------------------------------------------------------------------------

def check_where(where: Any, fail: Any, path: str = "") -> None:
    """Validate a `where` mapping: field -> condition; any_of/all_of/none_of -> lists of mappings.
    `fail(path, why)` returns the exception to raise: each caller names its own file and key."""
    if not isinstance(where, dict):
        raise fail(path, "a mapping of field -> condition")
    for key, cond in where.items():
        here = f"{path}.{key}" if path else key
        if key in COMBINATORS:
            if not isinstance(cond, list) or not cond:
                raise fail(here, "a non-empty list of mappings")
            for i, sub in enumerate(cond):
                check_where(sub, fail, f"{here}[{i}]")
            continue
        check_field(key, lambda why, h=here: fail(h, why))
        check_condition(cond, lambda why, h=here: fail(h, why), key)


JSON_COLUMNS = ("attrs", "received")  # `attrs.<key>`, `received.<key>`: a path into the JSON


def check_field(name: str, fail: Any) -> None:
    column, dot, path = name.partition(".")
    if dot and column in JSON_COLUMNS and path and re.match(r"^[A-Za-z0-9_.\-]+$", path):
        return
    if name not in FIELDS:
        raise fail(f"unknown field {name!r} (use a schema column, attrs.<key>, received.<key>, hour or weekday)")


def check_condition(cond: Any, fail: Any, field_name: str) -> None:
    if isinstance(cond, list):
        if not cond:
            raise fail("an empty list matches nothing")
        for item in cond:
            check_condition(item, fail, field_name)
        return
    if isinstance(cond, dict):
        for op, arg in cond.items():
            _check_operator(op, arg, fail, field_name)
        return
    if field_name == "weekday" and isinstance(cond, str) and cond.lower()[:3] not in WEEKDAYS:
        raise fail(f"{cond!r} is not a weekday (mon..sun)")
    if not isinstance(cond, str | int | float | bool) and cond is not None:
        raise fail(f"unsupported value {cond!r}")


def _check_operator(op: str, arg: Any, fail: Any, field_name: str) -> None:
    if op not in OPERATORS:
        raise fail(f"unknown operator {op!r} (known: {', '.join(OPERATORS)})")
    if op == "re":
        try:
            re.compile(str(arg))
        except re.error as exc:
            raise fail(f"bad regex: {exc}") from None
        if re.search(r"\(\?[=!<]|\\[1-9]", str(arg)):
            raise fail("lookaround and backreferences are not supported (RE2)")
    elif op == "not":
        check_condition(arg, fail, field_name)
    elif op == "exists" and not isinstance(arg, bool):
        raise fail("exists takes true or false")
    elif op == "between" and not (isinstance(arg, list) and len(arg) == 2):
        raise fail("between takes [low, high]")
    elif op == "in" and not isinstance(arg, list):
        raise fail("in takes a list")


# -- compilation ---------------------------------------------------------------------------

@dataclass
class Sql:
    """A SQL fragment's parameters, bound in order."""

    params: list[Any] = field(default_factory=list)  # may start with values for $1.. already used

    def bind(self, value: Any) -> str:
        """A numbered placeholder ($1, $2 ...), so fragments can be placed in any order."""
        self.params.append(value)
        return f"${len(self.params)}"


def field_sql(name: str, timezone: str = "UTC") -> str:
    """The SQL for a field: a column, a JSON path into attrs, or hour/weekday in `timezone`."""
    column, dot, path = name.partition(".")
    if dot and column in JSON_COLUMNS:
        return f"json_extract_string({column}, '$.{path}')"
    tz = timezone.replace("'", "")  # validated as an IANA name by the caller; never quoted text
    if name == "hour":
        return f"hour(ts AT TIME ZONE '{tz}')"
    if name == "weekday":
        return f"isodow(ts AT TIME ZONE '{tz}')"
    return name


def where_sql(where: dict[str, Any], q: Sql, timezone: str = "UTC") -> str:
    """A `where` mapping as a SQL boolean; every value is a bound parameter."""
    parts = []
    for key, cond in where.items():
        if key == "any_of":
            parts.append("(" + " OR ".join(where_sql(sub, q, timezone) for sub in cond) + ")")
        elif key == "all_of":
            parts.append("(" + " AND ".join(where_sql(sub, q, timezone) for sub in cond) + ")")
        elif key == "none_of":
            parts.append("NOT (" + " OR ".join(where_sql(sub, q, timezone) for sub in cond) + ")")
        else:
            parts.append(condition_sql(field_sql(key, timezone), key, cond, q))
    return "(" + " AND ".join(parts) + ")" if parts else "TRUE"


def condition_sql(col: str, name: str, cond: Any, q: Sql) -> str:
    """One field's condition on the SQL expression `col` (`name` is the field, for weekdays)."""
    if isinstance(cond, list):
        return "(" + " OR ".join(condition_sql(col, name, c, q) for c in cond) + ")"
    if isinstance(cond, dict):
        return "(" + " AND ".join(_operator(col, name, op, arg, q) for op, arg in cond.items()) + ")"
    if cond is None:
        return f"{col} IS NULL"
    if isinstance(cond, str) and has_wildcard(cond):
        return wildcard_sql(col, cond, q.bind(like_pattern(cond)))
    return f"{col} = {q.bind(_value(name, cond))}"


def wildcard_sql(col: str, value: str, placeholder: str) -> str:
    """`col` matches the wildcard `value`, bound (as like_pattern(value)) at `placeholder`."""
    return f"{col} {WILDCARD_MATCH.format(placeholder)}"


def _value(name: str, value: Any) -> Any:
    if name == "weekday" and isinstance(value, str):
        return WEEKDAYS[value.lower()[:3]]
    return value


def _numeric(col: str, name: str, args: list[Any]) -> str:
    """A JSON value (attrs.x, received.x) compared with numbers is compared as a number."""
    if name.split(".", 1)[0] in JSON_COLUMNS and "." in name and all(isinstance(a, int | float) and not isinstance(a, bool) for a in args):
        return f"TRY_CAST({col} AS DOUBLE)"
    return col


def _operator(col: str, name: str, op: str, arg: Any, q: Sql) -> str:
    match op:
        case "eq":
            return condition_sql(col, name, arg, q)
        case "in":
            return "(" + " OR ".join(condition_sql(col, name, a, q) for a in arg) + ")"
        case "like":
            return wildcard_sql(col, str(arg), q.bind(like_pattern(str(arg))))
        case "re":
            return f"regexp_matches({col}, {q.bind(str(arg))})"
        case "gt" | "gte" | "lt" | "lte":
            sym = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
            return f"{_numeric(col, name, [arg])} {sym} {q.bind(_value(name, arg))}"
        case "between":
            lo, hi = (_value(name, a) for a in arg)
            return f"{_numeric(col, name, arg)} BETWEEN {q.bind(lo)} AND {q.bind(hi)}"
        case "exists":
            return f"{col} IS {'NOT ' if arg else ''}NULL"
        case "not":
            return f"NOT coalesce({condition_sql(col, name, arg, q)}, FALSE)"
    raise ValueError(f"unknown operator {op}")  # check_condition rejects these first
