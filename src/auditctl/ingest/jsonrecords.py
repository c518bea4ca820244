"""Reading JSON records for parser plugins: JSON lines, a JSON array, or a wrapper document
(`{"records": [...]}`), with every record a plugin cannot map kept as an unparsed event.

A plugin subclasses `JsonRecordsParser` (or calls `read_records(source, map_record, name,
wrappers)` itself); `map_record(rec, raw, line, origin)` returns an Event or a list of Events. Whole documents get `origin` = `[i]` (or
`records[i]`) and `raw` = the record's exact text in the document (its span, found with the
standard library's JSON decoder); JSON lines keep their line and text.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, ClassVar

import orjson

from auditctl.ingest.rawbytes import decode_record, loads_json
from auditctl.plugins import Parser
from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head, Source
from auditctl.timeutil import parse_iso

_DOC_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:\[|\{\s*\r?\n)")
MapRecord = Callable[[dict[str, Any], str, "int | None", "str | None"], "Event | list[Event]"]


NO_TEXT = frozenset({""})


def text_or_none(value: Any, empty: frozenset[str] = NO_TEXT) -> str | None:
    """A JSON value as stripped text; None for missing, null, nested or blank values, and for
    the placeholders in `empty`. JSON has null for "no value", so `empty` should hold only a
    spelling the format itself documents as a placeholder for that field (Okta's "unknown"
    ids): any other text ("None", "null", "-") is a value, however it is spelled."""
    if value is None or isinstance(value, dict | list):
        return None
    text = (value if isinstance(value, str) else str(value)).strip()
    return None if text in empty else text


def iso_time(value: Any, tz: tzinfo = UTC) -> datetime | None:
    """An ISO 8601 / RFC 3339 string as an aware UTC time (naive stamps in `tz`); None for a
    missing, empty or non-string value or a stamp that does not parse."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_iso(value, tz)
    except ValueError:
        return None


def json_text(head: Head) -> str | None:
    """The head's text if it starts like a JSON object or array (after a BOM and blanks), else
    None: the first check of a JSON format's `score`."""
    text = head.text
    return text if text.lstrip("\ufeff \t\r\n").startswith(("{", "[")) else None


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
            yield from _lines(split_lines(data, source.start_line), record, name, wrappers)
    elif source.start_offset == 0 and _DOC_START.match(start):
        yield from _document(source.read_all(), source.start_line, record, name, wrappers)
    else:
        yield from _lines(source.lines(), record, name, wrappers)


def _document(data: bytes, start_line: int, record: MapRecord, name: str, wrappers: tuple[str, ...]) -> Iterator[Event]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        doc = read_document(data, wrappers)
    except ValueError:
        # not one document (JSON lines after all, or broken): every line is kept
        yield from _lines(split_lines(data, start_line), record, name, wrappers)
        return
    if doc.records is None:
        yield from _one(doc.value, doc.text, start_line, None, record, name)
        return
    for i, (rec, raw) in enumerate(doc.records):
        yield from _one(rec, raw, None, f"{doc.prefix}[{i}]", record, name)


def read_document(data: bytes, wrappers: tuple[str, ...] = ()) -> Document:
    """One JSON document of a whole file, each record with its exact text, without the cyclic
    GC rescanning the millions of containers a large document makes (nothing runs in between).

    A compact document (as CloudTrail delivers them) is read with orjson, and each record's
    re-serialization is checked against the bytes where it must stand: when every one matches,
    those bytes are its text (2.5x faster than the standard decoder). Otherwise split_document."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _compact_document(data, wrappers) or split_document(decode_record(data), wrappers)
    finally:
        if enabled:
            gc.enable()


def _compact_document(data: bytes, wrappers: tuple[str, ...]) -> Document | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    found = _wrapped(value, wrappers) if isinstance(value, dict) else None
    if found is not None:
        prefix, items = found
        pos = data.find(b'"' + prefix.encode() + b'":[')
        pos = pos + len(prefix) + 3 if pos >= 0 else -1
    elif isinstance(value, list):
        prefix, items = "", value
        pos = data.find(b"[") + 1
    else:
        return None
    if pos <= 0:
        return None
    records: list[tuple[Any, str]] = []
    dumps = orjson.dumps
    for i, item in enumerate(items):
        if i and data[pos:pos + 1] == b",":
            pos += 1
        encoded = dumps(item)
        if not data.startswith(encoded, pos):
            return None
        records.append((item, encoded.decode()))
        pos += len(encoded)
    if data[pos:pos + 1] != b"]":
        return None
    return Document(value, decode_record(data).strip().lstrip("\ufeff"), prefix, records)


def _lines(lines: Iterable[tuple[int, str]], record: MapRecord, name: str, wrappers: tuple[str, ...]) -> Iterator[Event]:
    loads, error = loads_json, orjson.JSONDecodeError
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
        prefix, records = line_records(text, obj, wrappers)
        for i, (rec, raw) in enumerate(records):
            yield from _one(rec, raw, number, f"{prefix}[{i}]", record, name)


def line_records(text: str, obj: list[Any] | dict[str, Any], wrappers: tuple[str, ...]) -> tuple[str, list[tuple[Any, str]]]:
    """The records of a document on one line (`obj`, an array or an object with a `wrappers`
    array), each with its exact text on the line, and their prefix (the wrapper key, or "")."""
    try:
        doc: Document | None = split_document(text, wrappers)
    except ValueError:
        doc = None
    if doc is not None and doc.records is not None:
        return doc.prefix, doc.records
    # e.g. a wrapper whose array was not where split_document looks: records re-serialized
    found = _wrapped(obj, wrappers) if isinstance(obj, dict) else None
    prefix, records = found if found is not None else ("", obj)
    return prefix, [(r, orjson.dumps(r).decode()) for r in records]


def json_lines(lines: Iterable[tuple[int, str]], name: str,
               events: Callable[[Any, str, int], Iterable[Event]]) -> Iterator[Event]:
    """Events of JSON lines read as they are: blank lines skipped, a line that is not JSON kept
    as unparsed, and `events(value, text, line)` for each other line."""
    for number, text in lines:
        if not text.strip():
            continue
        try:
            obj = loads_json(text)
        except orjson.JSONDecodeError as exc:
            yield unparsed_event(text, f"{name}: invalid JSON: {exc}", line=number)
            continue
        yield from events(obj, text, number)


def _one(rec: Any, raw: str, line: int | None, origin: str | None, record: MapRecord, name: str) -> list[Event]:
    if not isinstance(rec, dict):
        return [unparsed_event(raw, f"{name}: record is not a JSON object", line=line, origin=origin)]
    try:
        result = record(rec, raw, line, origin)
    except Exception as exc:  # a record of an unexpected shape must not stop the file
        return [unparsed_event(raw, f"{name}: {type(exc).__name__}: {exc}", line=line, origin=origin)]
    return [result] if isinstance(result, Event) else result


@dataclass
class Document:
    """One JSON document read with each record's exact text: `records` holds (value, text) of
    the elements of its top-level array or of its first wrapper key's array (`prefix`); a
    document with neither has `records` None and `value`/`text` for the whole."""

    value: Any
    text: str
    prefix: str = ""
    records: list[tuple[Any, str]] | None = None


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def split_document(text: str, wrappers: tuple[str, ...] = ()) -> Document:
    """Parse one JSON document with the standard library's decoder, keeping the exact text of
    every record (its span in the document), so a record's raw is the bytes that were read, not
    a re-serialization. Raises ValueError when the text is not exactly one JSON document."""
    start = _SPACE.match(text, 1 if text.startswith("\ufeff") else 0).end()  # type: ignore[union-attr]
    if text.startswith("[", start):
        records, end = _array_items(text, start)
        value: Any = [v for v, _ in records]
        doc = Document(value, text[start:end], "", records)
    elif text.startswith("{", start):
        doc, end = _object_with_records(text, start, wrappers)
    else:
        value, end = _DECODER.raw_decode(text, start)
        doc = Document(value, text[start:end])
    if _SPACE.match(text, end).end() != len(text):  # type: ignore[union-attr]
        raise ValueError("more than one JSON document")
    return doc


def _array_items(text: str, pos: int) -> tuple[list[tuple[Any, str]], int]:
    """The elements of the array at `pos` with their text, and the position after it."""
    items: list[tuple[Any, str]] = []
    pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
    if text.startswith("]", pos):
        return items, pos + 1
    while True:
        value, end = _DECODER.raw_decode(text, pos)
        items.append((value, text[pos:end]))
        pos = _SPACE.match(text, end).end()  # type: ignore[union-attr]
        if text.startswith(",", pos):
            pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        elif text.startswith("]", pos):
            return items, pos + 1
        else:
            raise ValueError(f"expected , or ] at character {pos}")


def _object_with_records(text: str, start: int, wrappers: tuple[str, ...]) -> tuple[Document, int]:
    """An object whose wrapper keys' arrays are read element by element (with their text)."""
    members: dict[str, Any] = {}
    arrays: dict[str, list[tuple[Any, str]]] = {}
    pos = _SPACE.match(text, start + 1).end()  # type: ignore[union-attr]
    while not text.startswith("}", pos):
        key, pos = _DECODER.raw_decode(text, pos)
        if not isinstance(key, str):
            raise ValueError(f"expected a key at character {pos}")
        pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        if not text.startswith(":", pos):
            raise ValueError(f"expected : at character {pos}")
        pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        if key in wrappers and text.startswith("[", pos):
            arrays[key], pos = _array_items(text, pos)
            members[key] = [v for v, _ in arrays[key]]
        else:
            members[key], pos = _DECODER.raw_decode(text, pos)
        pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        if text.startswith(",", pos):
            pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        elif not text.startswith("}", pos):
            raise ValueError(f"expected , or }} at character {pos}")
    end = pos + 1
    doc = Document(members, text[start:end])
    for key in wrappers:  # the first wrapper in the plugin's order, as _wrapped chooses
        if key in arrays:
            doc.prefix, doc.records = key, arrays[key]
            break
    return doc, end


def _wrapped(doc: dict[str, Any], wrappers: tuple[str, ...]) -> tuple[str, list[Any]] | None:
    for key in wrappers:
        value = doc.get(key)
        if isinstance(value, list):
            return key, value
    return None


def split_lines(data: bytes, start_line: int) -> Iterator[tuple[int, str]]:
    """The numbered lines of a file read whole (what `Source.lines()` gives of a stream)."""
    for number, raw in enumerate(data.split(b"\n"), start=start_line):
        yield number, decode_record(raw.rstrip(b"\r"))

