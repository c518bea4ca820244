"""Where a Sigma field's value lives in our events, as DuckDB SQL.

A Sigma rule names fields the way the source writes them (`TargetUserName`, `eventName`,
`objectRef.resource`, auditd's `a0`). Our parsers keep those values: Windows EventData and
System fields in `attrs` under their own names, JSON sources (CloudTrail, Okta, GitHub,
Azure, GCP, Kubernetes) verbatim in `raw`, auditd records verbatim in `raw` with the decoded
argv, record types and paths in `attrs`. A *family* says how a field is found for a kind of
source; the logsource table (`logsources`) says which family a Sigma logsource uses.

A field resolves to a `FieldSql`: a text expression, or (`multi`) a list expression whose
elements are each tested, the field matching when any element does (a Sigma field over an
auditd event's several records). A field read from a JSON column also names its JSON path(s),
so that the backend can read every field a rule needs with one parse of the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SAFE_KEY = re.compile(r"^[A-Za-z0-9_@$-]+$")
_AUDITD_ARG = re.compile(r"^a(\d+)$")


@dataclass(frozen=True)
class FieldSql:
    expr: str
    multi: bool = False  # expr is a list of text; the field matches when any element does
    # ((JSON column, path), ...) when expr is json_extract_string of the first of them present
    paths: tuple[tuple[str, str], ...] = ()
    via: str = ""  # with paths: expr is this template applied to that text (`{}` stands for it)


def sql_text(value: str) -> str:
    """A SQL string literal (single quotes doubled; DuckDB strings have no backslash escapes)."""
    return "'" + value.replace("'", "''") + "'"


def json_path(dotted: str) -> str:
    """`a.b.c` as a JSON path with every key quoted, so keys with odd characters stay keys."""
    keys = [k for k in dotted.split(".") if k]
    return "$" + "".join("." + (k if _SAFE_KEY.match(k) else '"' + k.replace('"', '\\"') + '"') for k in keys)


def json_path_key(name: str) -> str:
    """One attrs key (which may itself contain dots) as a JSON path."""
    return '$."' + name.replace('"', '\\"') + '"'


def json_text(column: str, paths: str | list[str]) -> str:
    """json_extract_string of one path or a list of them (one parse). For `raw`, through try():
    a record kept unparsed (a truncated line of a JSON log) is no JSON; it has no fields, and
    must not stop the rule for every other event."""
    arg = sql_text(paths) if isinstance(paths, str) else "[" + ", ".join(sql_text(p) for p in paths) + "]"
    expr = f"json_extract_string({column}, {arg})"
    return f"try({expr})" if column == "raw" else expr


def _json_field(column: str, path: str) -> FieldSql:
    return FieldSql(json_text(column, path), paths=((column, path),))


def _coalesce(exprs: list[str]) -> str:
    return exprs[0] if len(exprs) == 1 else "coalesce(" + ", ".join(exprs) + ")"


def _first_present(parts: list[FieldSql]) -> FieldSql:
    paths = tuple(p for part in parts for p in part.paths) if all(part.paths for part in parts) else ()
    return FieldSql(_coalesce([p.expr for p in parts]), paths=paths)


# Columns every family can name with a leading `@` (the pipelines use these for the
# logsource restriction: `@parser`, `@app`).
COLUMN_FIELDS = frozenset({"parser", "app", "host", "actor", "target", "role", "resource", "src_ip", "user_agent",
                           "action", "category", "outcome", "original_action", "session", "message", "raw"})


def resolve(family: str, name: str) -> FieldSql:
    """The SQL for Sigma field `name` (after the pipeline's renames) in `family`."""
    if name.startswith("@") and name[1:] in COLUMN_FIELDS:
        return FieldSql(name[1:])
    alternatives = name.split("|")  # a pipeline rename may offer alternatives: first present wins
    if len(alternatives) > 1:
        parts = [resolve(family, alt) for alt in alternatives]
        if any(p.multi for p in parts):
            raise ValueError(f"field {name!r}: alternatives cannot be list fields")
        return _first_present(parts)
    return _FAMILIES[family](name)


def keyword_field(family: str) -> FieldSql:
    """Where a keyword (a value without a field) is looked for: the raw record, or for Windows
    every field's value (the raw record is XML or JSON there, with `\\` and `&quot;` escapes
    a keyword written as the event shows it would miss)."""
    if family in ("windows", "windows_spaced"):
        return FieldSql("json_extract_string(attrs, '$.*')", multi=True)
    return FieldSql("raw")


def _windows(name: str) -> FieldSql:
    return _json_field("attrs", json_path_key(name))


def _attrs(name: str) -> FieldSql:
    return _json_field("attrs", json_path_key(name))


_WORDS = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _windows_spaced(name: str) -> FieldSql:
    """Microsoft Defender names its fields with spaces (`Threat Name`); Sigma rules write them
    without (`ThreatName`): the name as written, else with its words spaced."""
    spaced = _WORDS.sub(" ", name)
    if spaced == name:
        return _windows(name)
    return _first_present([_windows(name), _windows(spaced)])


_SYSLOG_COLUMNS = {"host": "host", "hostname": "host", "Hostname": "host", "program": "app", "app": "app",
                   "pid": "CAST(pid AS VARCHAR)", "user": "actor", "User": "actor", "message": "message",
                   "msg": "message", "src_ip": "src_ip"}


def _syslog(name: str) -> FieldSql:
    """syslog / auth.log / journald / journal_file: the header's fields are columns, the rest are in attrs."""
    column = _SYSLOG_COLUMNS.get(name)
    return FieldSql(column) if column else _attrs(name)


def _json_raw(name: str) -> FieldSql:
    return _json_field("raw", json_path(name))


def _azure(name: str) -> FieldSql:
    # Azure exports spell the same key operationName (REST, Event Hub) or OperationName
    # (Log Analytics): try both first-letter cases of the top-level key.
    head, _, rest = name.partition(".")
    spellings = dict.fromkeys([head, head[:1].lower() + head[1:], head[:1].upper() + head[1:]])
    return _first_present([_json_raw(h + ("." + rest if rest else "")) for h in spellings])


# auditd's own text: a record starts a line (after `node=` when it has one); key=value pairs
# are separated by blanks, sit inside msg='...' too (so a key may follow a quote), and the
# enriched names follow a 0x1d byte. A value is quoted ("...", quotes taken off) or runs to the
# next blank, 0x1d or closing quote.
_AUDITD_VALUE = r"(\"[^\"]*\"|[^\s\x1d']*)"


def _auditd_pairs(name: str, line_prefix: str = "") -> str:
    if line_prefix:  # the value of the first `name=` on lines starting with `line_prefix`
        pattern = rf"(?m)^(?:node=\S+ )?{line_prefix}[^\n]*?[\s\x1d']{name}={_AUDITD_VALUE}"
    else:
        pattern = rf"(?:^|[\s\x1d']){name}={_AUDITD_VALUE}"
    unquote = "CASE WHEN len(v) >= 2 AND starts_with(v, '\"') AND ends_with(v, '\"') THEN v[2:-2] ELSE v END"
    return f"list_transform(regexp_extract_all(raw, {sql_text(pattern)}, 1), lambda v: {unquote})"


def _auditd(name: str) -> FieldSql:
    """auditd: one event holds several records (SYSCALL, EXECVE, PATH...): a field matches when
    any record has it. `type` is the record types; `aN` the decoded EXECVE argument N of an
    execve, else the SYSCALL record's own aN (N <= 3: a system call argument, in hex as auditd
    writes it: `personality` with 40000). Only events without argv read the raw record for it."""
    if name == "type":  # the parser lists them when there are several (a JSON read beats a regex)
        return FieldSql("coalesce(CAST(json_extract(attrs, '$.records') AS VARCHAR[]), "
                        "CASE WHEN original_action IS NULL THEN CAST([] AS VARCHAR[]) ELSE [original_action] END)",
                        multi=True)
    arg = _AUDITD_ARG.match(name)
    if arg:
        n = int(arg.group(1))
        argv = f"list_filter([json_extract_string(attrs, '$.argv[{n}]')], lambda v: v IS NOT NULL)"
        if n > 3:  # a SYSCALL record has a0..a3
            return FieldSql(argv, multi=True)
        syscall = _auditd_pairs(name, line_prefix="type=SYSCALL ")
        return FieldSql(f"CASE WHEN json_exists(attrs, '$.argv') THEN {argv} ELSE {syscall} END", multi=True)
    if not re.match(r"^[A-Za-z0-9_-]+$", name):
        raise ValueError(f"field {name!r} is not an auditd field name")
    return FieldSql(_auditd_pairs(name), multi=True)


def _auditd_process(name: str) -> FieldSql:
    """Linux process_creation read from auditd execve events (Sysmon for Linux field names)."""
    in_attrs = {"Image": "$.exe", "CurrentDirectory": "$.cwd", "LogonId": "$.auid", "ParentProcessId": "$.ppid"}
    computed = {"User": "actor", "ProcessId": "CAST(pid AS VARCHAR)"}
    if name in in_attrs:
        return _json_field("attrs", in_attrs[name])
    if name == "CommandLine":
        joined = "array_to_string(CAST(CAST({} AS JSON) AS VARCHAR[]), ' ')"
        return FieldSql(joined.format(json_text("attrs", "$.argv")), paths=(("attrs", "$.argv"),), via=joined)
    if name in computed:
        return FieldSql(computed[name])
    return _auditd(name)


def _web(name: str) -> FieldSql:
    """Web server access logs in W3C/Sigma `webserver` names."""
    columns = {
        "c-ip": "src_ip", "cs-uri": "resource", "c-uri": "resource", "cs-user-agent": "user_agent",
        "c-useragent": "user_agent", "cs-username": "actor", "cs-uri-stem": "split_part(resource, '?', 1)",
        "cs-uri-query": "CASE WHEN contains(resource, '?') THEN substr(resource, strpos(resource, '?') + 1) END",
    }
    attrs = {"cs-method": "method", "sc-status": "status", "cs-referer": "referer", "cs-host": "vhost",
             "cs-version": "protocol", "sc-bytes": "bytes"}
    if name in columns:
        return FieldSql(columns[name])
    return _attrs(attrs.get(name, name))


_FAMILIES = {
    "windows": _windows,
    "windows_spaced": _windows_spaced,
    "auditd": _auditd,
    "auditd_process": _auditd_process,
    "syslog": _syslog,
    "json": _json_raw,
    "azure": _azure,
    "web": _web,
}
FAMILIES = tuple(_FAMILIES)
