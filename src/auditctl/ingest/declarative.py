"""Declarative line formats: a parser defined in YAML, with no Python.

A YAML file in a parsers directory is loaded through the same discovery as Python plugins:

    name: door                                  # lowercase, unique
    description: badge reader exports
    samples:                                    # required: each must match, and is parsed on load
      - "2026-01-02T03:04:05Z|B-17|lab|DENIED"
    regex: '^(?P<ts>[^|]+)\\|(?P<badge>[^|]+)\\|(?P<door>[^|]+)\\|(?P<result>\\w+)$'
    # or, for JSON lines instead of a regex:  json: true   (then fields name dotted JSON paths)
    timestamp: {field: ts, format: iso}         # iso | epoch | epoch_ms | a strptime format; timezone: optional
    fields: {actor: badge, resource: door}      # schema field -> regex group (or JSON path)
    category: authentication                    # a constant, or {field: ..., values: {...}, default: ...}
    action: login
    outcome: {field: result, values: {OK: success, DENIED: failure}, default: unknown}
    empty: ["-"]                                # optional: the format's spellings of "no value"

A mapped value is None when missing or blank, or spelled as one of `empty` (none by default):
text is never read as "no value" because of its spelling unless the format says so.
Every error names the file and the field. Lines that do not match are kept as unparsed events.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from auditctl.ingest.rawbytes import loads_json
from auditctl.plugins import LineParser
from auditctl.schema import ACTIONS, CATEGORY_DESCRIPTIONS, Event
from auditctl.sources import Head, Source
from auditctl.timeutil import from_epoch, get_tz, parse_iso

MAPPABLE = ("actor", "target", "role", "resource", "src_ip", "user_agent", "session", "host", "app", "message",
            "original_action", "pid")
_KEYS = {"name", "description", "samples", "regex", "json", "timestamp", "fields", "category", "action", "outcome",
         "empty"}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class DeclarativeError(ValueError):
    pass


class DeclarativeParser(LineParser):
    """A LineParser built from a YAML definition."""

    name = ""  # per instance (set in __init__)
    description = ""

    def __init__(self, spec: dict[str, Any], origin: str) -> None:
        self.origin = origin
        self.spec = spec
        self.name = spec["name"]  # type: ignore[misc]
        self.description = spec.get("description") or f"declarative format from {Path(origin).name}"  # type: ignore[misc]
        self.is_json = bool(spec.get("json"))
        self.regex = None if self.is_json else re.compile(spec["regex"])
        self.fields: dict[str, str] = spec.get("fields") or {}
        self.ts_spec: dict[str, Any] = spec.get("timestamp") or {}
        self.tz = get_tz(self.ts_spec.get("timezone"))
        self.empty = frozenset({"", *(spec.get("empty") or ())})

    def score(self, head: Head) -> tuple[float, str]:
        lines = head.lines[:20]
        if not lines:
            return 0.0, ""
        hits = sum(1 for ln in lines if self._values(ln) is not None)
        ratio = hits / len(lines)
        return (0.9 * ratio if ratio >= 0.5 else 0.0), f"{hits} of the first {len(lines)} lines match {self.origin}"

    def _values(self, text: str) -> dict[str, Any] | None:
        if self.regex is not None:
            m = self.regex.match(text)
            return m.groupdict() if m else None
        try:
            doc = loads_json(text)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(doc, dict):
            return None
        wanted: set[str] = {str(w) for w in (self.ts_spec.get("field"), *self.fields.values(),
                                             *(v.get("field") for v in (self.spec.get(k) for k in
                                                                        ("category", "action", "outcome"))
                                               if isinstance(v, dict))) if w is not None}
        out = {path: _dotted(doc, path) for path in wanted}
        return out if any(v is not None for v in out.values()) else None

    def parse_line(self, text: str, source: Source) -> Event | None:
        values = self._values(text)
        if values is None:
            return None
        ts = self._time(values.get(self.ts_spec.get("field", "")))
        ev = Event(ts=ts, category=self._pick("category", values, "system"), action=self._pick("action", values, "log"),
                   outcome=self._pick("outcome", values, "unknown"), app=self.name)
        for target, group in self.fields.items():
            value = values.get(group)
            if value is not None and str(value).strip() not in self.empty:
                setattr(ev, target, int(value) if target == "pid" and str(value).isdigit() else
                        (None if target == "pid" else str(value)))
        extra = {k: v for k, v in values.items() if k not in self.fields.values() and k != self.ts_spec.get("field")
                 and v not in (None, "")}
        ev.attrs = extra or None
        return ev

    def _pick(self, key: str, values: dict[str, Any], default: str) -> str:
        spec = self.spec.get(key)
        if spec is None:
            return default
        if isinstance(spec, str):
            return spec
        raw = values.get(spec["field"])
        return str(spec.get("values", {}).get(raw, spec.get("default", default)))

    def _time(self, raw: Any) -> datetime | None:
        if raw in (None, ""):
            return None
        fmt = self.ts_spec.get("format", "iso")
        try:
            if fmt == "iso":
                return parse_iso(str(raw), self.tz)
            if fmt in ("epoch", "epoch_ms"):
                return from_epoch(float(raw) / (1000 if fmt == "epoch_ms" else 1))
            dt = datetime.strptime(str(raw), fmt)
            return (dt if dt.tzinfo else dt.replace(tzinfo=self.tz)).astimezone(UTC)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"timestamp {raw!r}: {exc}") from None


def _dotted(doc: dict[str, Any], path: str) -> Any:
    cur: Any = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur if not isinstance(cur, dict | list) else orjson.dumps(cur).decode()


def load_declarative(path: Path) -> DeclarativeParser:
    """Read and validate a YAML format definition; every error names the file and the field."""
    def fail(field: str, why: str) -> DeclarativeError:
        return DeclarativeError(f"{path}: {field}: {why}")

    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DeclarativeError(f"{path}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(spec, dict):
        raise fail("(top)", "a mapping with name, samples, regex (or json), fields ...")
    unknown = set(spec) - _KEYS
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown field (known: {', '.join(sorted(_KEYS))})")
    if not _NAME.match(str(spec.get("name", ""))):
        raise fail("name", "required: lowercase letters, digits and _")
    samples = spec.get("samples")
    if not isinstance(samples, list) or not samples or not all(isinstance(s, str) for s in samples):
        raise fail("samples", "required: a list of example lines")
    if not spec.get("json"):
        try:
            groups = set(re.compile(str(spec.get("regex") or "")).groupindex)
        except re.error as exc:
            raise fail("regex", f"does not compile: {exc}") from None
        if not spec.get("regex"):
            raise fail("regex", "required (or json: true)")
    else:
        groups = None
    fields = spec.get("fields") or {}
    if not isinstance(fields, dict):
        raise fail("fields", "a mapping of schema field -> group or JSON path")
    for target, group in fields.items():
        if target not in MAPPABLE:
            raise fail(f"fields.{target}", f"not a schema field you can map (use {', '.join(MAPPABLE)})")
        if groups is not None and group not in groups:
            raise fail(f"fields.{target}", f"the regex has no group named {group!r}")
    empty = spec.get("empty")
    if empty is not None and (not isinstance(empty, list) or not all(isinstance(e, str) for e in empty)):
        raise fail("empty", 'a list of texts that mean "no value" in this format (e.g. ["-"])')
    ts = spec.get("timestamp") or {}
    if not isinstance(ts, dict) or (groups is not None and ts and ts.get("field") not in groups):
        raise fail("timestamp.field", "names a regex group (or JSON path) holding the time")
    if ts.get("timezone"):
        try:
            get_tz(ts["timezone"])
        except ValueError as exc:
            raise fail("timestamp.timezone", str(exc)) from None
    for key, vocab in (("category", CATEGORY_DESCRIPTIONS), ("action", ACTIONS),
                       ("outcome", {"success": 1, "failure": 1, "unknown": 1})):
        value = spec.get(key)
        if value is None:
            continue
        words = [value] if isinstance(value, str) else [*(value.get("values") or {}).values(), value.get("default")]
        if not isinstance(value, str) and (not isinstance(value, dict) or "field" not in value):
            raise fail(key, "a constant word, or {field: ..., values: {...}, default: ...}")
        if not isinstance(value, str) and groups is not None and value["field"] not in groups:
            raise fail(f"{key}.field", f"the regex has no group named {value['field']!r}")
        for word in words:
            if word is not None and word not in vocab:
                raise fail(key, f"{word!r} is not in the vocabulary ({', '.join(vocab)})")
    parser = DeclarativeParser(spec, str(path))
    for i, sample in enumerate(samples):
        values = parser._values(sample)
        if values is None:
            raise fail(f"samples[{i}]", "does not match the regex" if groups is not None else "is not a JSON object")
        try:
            parser._time(values.get(ts.get("field", "")))
        except ValueError as exc:
            raise fail(f"samples[{i}]", str(exc)) from None
    return parser
