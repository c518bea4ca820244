"""Reading JSON records for parser plugins: JSON lines, a JSON array, or a wrapper document
(`{"records": [...]}`), with every record a plugin cannot map kept as an unparsed event.

A plugin subclasses `JsonRecordsParser` (or calls `read_records(source, map_record, name,
wrappers)` itself); `map_record(rec, raw, line, origin)` returns an Event or a list of Events. Whole documents get `origin` = `[i]` (or
`records[i]`) and `raw` = the record's compact JSON; JSON lines keep their line and text.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

import orjson

from auditctl.plugins import Parser
from auditctl.rawbytes import decode_record, loads_json
from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head, Source

_DOC_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:\[|\{\s*\r?\n)")
MapRecord = Callable[[dict[str, Any], str, "int | None", "str | None"], "Event | list[Event]"]


def text_or_none(value: Any, empty: frozenset[str]) -> str | None:
    """A JSON value as stripped text; None for missing, nested, or placeholder values in `empty`."""
    if value is None or isinstance(value, dict | list):
        return None
    text = (value if isinstance(value, str) else str(value)).strip()
    return None if text in empty else text


def as_dict(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty one (for safe chained lookups)."""
    return value if isinstance(value, dict) else {}


def is_json_lines(head: Head) -> bool:
    """Whether `read_records` reads this file line by line: then each line stands alone, and
    the file may be cut at line boundaries and parsed in parallel (`Parser.splits`)."""
    return not _DOC_START.match(head.data[:4096])


class JsonRecordsParser(Parser):
    """A parser of JSON records read by `read_records`. Subclasses set `name`, `description`,
    `score`, `map_record` (a staticmethod) and the `wrappers` keys of their documents. A file of
    JSON lines may be parsed in parallel; a document must be read whole."""

    wrappers: ClassVar[tuple[str, ...]] = ()

    @staticmethod
    def map_record(rec: dict[str, Any], raw: str, line: int | None, origin: str | None) -> Event | list[Event]:
        raise NotImplementedError

    def splits(self, head: Head) -> bool:
        return is_json_lines(head)

    def parse(self, source: Source) -> Iterator[Event]:
        return read_records(source, self.map_record, self.name, self.wrappers)


def read_records(source: Source, record: MapRecord, name: str, wrappers: tuple[str, ...] = ()) -> Iterator[Event]:
    """Events of a whole document (array, wrapper, pretty object) or of JSON lines."""
    start = source.peek(4096)
    if start is None:  # cannot look ahead without consuming: read it all
        data = source.read_all()
        if _DOC_START.match(data[:4096]):
            yield from _document(data, source.start_line, record, name, wrappers)
        else:
            yield from _lines(_split_lines(data, source.start_line), record, name, wrappers)
    elif source.start_offset == 0 and _DOC_START.match(start):
        yield from _document(source.read_all(), source.start_line, record, name, wrappers)
    else:
        yield from _lines(source.lines(), record, name, wrappers)


def _document(data: bytes, start_line: int, record: MapRecord, name: str, wrappers: tuple[str, ...]) -> Iterator[Event]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        doc = _load(data)
    except orjson.JSONDecodeError:
        # not one document (JSON lines after all, or broken): every line is kept
        yield from _lines(_split_lines(data, start_line), record, name, wrappers)
        return
    found = _wrapped(doc, wrappers) if isinstance(doc, dict) else None
    if found is not None:
        prefix, records = found
    elif isinstance(doc, list):
        prefix, records = "", doc
    else:
        yield from _one(doc, orjson.dumps(doc).decode(), start_line, None, record, name)
        return
    for i, rec in enumerate(records):
        yield from _one(rec, orjson.dumps(rec).decode(), None, f"{prefix}[{i}]", record, name)


def _lines(lines: Iterable[tuple[int, str]], record: MapRecord, name: str, wrappers: tuple[str, ...]) -> Iterator[Event]:
    loads, dumps, error = loads_json, orjson.dumps, orjson.JSONDecodeError
    for number, text in lines:
        stripped = text.strip().lstrip("\ufeff")
        if not stripped:
            continue
        try:
            obj = loads(stripped)
        except error as exc:
            yield unparsed_event(text, f"{name}: invalid JSON: {exc}", line=number)
            continue
        found = _wrapped(obj, wrappers) if isinstance(obj, dict) else None
        if found is None and not isinstance(obj, list):
            yield from _one(obj, text, number, None, record, name)
            continue
        prefix, records = found if found is not None else ("", obj)
        for i, rec in enumerate(records):
            yield from _one(rec, dumps(rec).decode(), number, f"{prefix}[{i}]", record, name)


def _one(rec: Any, raw: str, line: int | None, origin: str | None, record: MapRecord, name: str) -> list[Event]:
    if not isinstance(rec, dict):
        return [unparsed_event(raw, f"{name}: record is not a JSON object", line=line, origin=origin)]
    try:
        result = record(rec, raw, line, origin)
    except Exception as exc:  # a record of an unexpected shape must not stop the file
        return [unparsed_event(raw, f"{name}: {type(exc).__name__}: {exc}", line=line, origin=origin)]
    return [result] if isinstance(result, Event) else result


def _wrapped(doc: dict[str, Any], wrappers: tuple[str, ...]) -> tuple[str, list[Any]] | None:
    for key in wrappers:
        value = doc.get(key)
        if isinstance(value, list):
            return key, value
    return None


def _load(data: bytes) -> Any:
    """orjson.loads of a whole document without the cyclic GC rescanning its containers."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return orjson.loads(data)
    finally:
        if enabled:
            gc.enable()


def _split_lines(data: bytes, start_line: int) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(data.split(b"\n"), start=start_line):
        yield number, decode_record(raw.rstrip(b"\r"))

