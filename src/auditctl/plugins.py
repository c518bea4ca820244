"""The parser plugin contract: the public API a parser plugin imports.

A plugin is a Python file that defines `parser = SomeParser()` (or `parsers = [...]`), a
subclass of `Parser` (or of `LineParser` for one record per line). Plugins import only the
plugin API: this module, `auditctl.sources` (Source, Head) and `auditctl.schema` (Event),
plus any library helper (`auditctl.timeutil`, `auditctl.ingest.jsonrecords` ...); never
another plugin. How plugins are found and loaded: `auditctl.ingest.discovery`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head, Source
from auditctl.stamps import find_stamp


class Parser:
    """Base class of every parser plugin.

    Subclasses set `name` and `description`, implement `score(head)` (cheap: a confidence
    0..1 and why; or `detect(head)` and `explain(head)` separately) and `parse(source)` (yields Events lazily; records it does
    not understand become `unparsed_event`s, never silently dropped).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # True when every line is an independent record: ingest may then split a large file into
    # byte ranges and parse them in parallel processes.
    splittable: ClassVar[bool] = False
    # True for a parser that claims any record of a broad shape (any JSON object): it is not
    # offered a single record that the file's own parser could not read (parsing.RecordRetry).
    generic: ClassVar[bool] = False
    # True when records may carry year-less stamps (`Mar 12 10:52:25`): ingest then picks the
    # year from --year, the file name or content before the file's mtime (auditctl.ingest.yearless).
    yearless: ClassVar[bool] = False
    # Set for a format that is recognized but is not a log (lastlog: a table of each uid's last
    # login, rewritten in place): ingest then reports the file as skipped with this reason and
    # reads nothing from it, instead of failing on binary data in no known format.
    not_a_log: ClassVar[str] = ""
    # True for a format whose files are rewritten in place as they grow (a journal file's header
    # changes with every entry appended): ingest then hashes the file before the parser reads
    # it, so the hash it stores never covers records the parser did not see.
    changes_in_place: ClassVar[bool] = False

    def score(self, head: Head) -> tuple[float, str]:
        """Confidence 0..1 and the reason for it. Override this, or detect() and explain()."""
        return 0.0, ""

    def detect(self, head: Head) -> float:
        try:
            return self.score(head)[0]
        except Exception:  # detection must never break ingest
            return 0.0

    def explain(self, head: Head) -> str:
        """Why detect() gave its answer, for `auditctl parsers test`."""
        try:
            return self.score(head)[1]
        except Exception:
            return ""

    def parse(self, source: Source) -> Iterator[Event]:
        raise NotImplementedError

    def splits(self, head: Head) -> bool:
        """Whether the file starting with `head` may be cut at line boundaries and its byte
        ranges parsed in parallel (default: `splittable`, whatever the file)."""
        return self.splittable


class LineParser(Parser):
    """Helper base for formats with one record per line.

    Implement `parse_line(text, source)` returning an Event, a list of Events, or None for
    "not this format" (the line is then kept as unparsed with a reason). Raising ValueError
    also keeps the line as unparsed, with the error as the reason. Line numbers and `raw` are
    filled in for you.
    """

    splittable = True

    def parse_line(self, text: str, source: Source) -> Event | list[Event] | None:
        raise NotImplementedError

    def parse(self, source: Source) -> Iterator[Event]:
        parse_line = self.parse_line
        for number, text in source.lines():
            if not text.strip():
                continue
            try:
                result = parse_line(text, source)
            except ValueError as exc:
                yield unparsed_event(text, f"{self.name}: {exc}", line=number)
                continue
            if result is None:
                yield unparsed_event(text, f"not recognized by the {self.name} parser", line=number)
            elif isinstance(result, Event):
                result.line = number
                if not result.raw:
                    result.raw = text
                yield result
            else:
                for ev in result:
                    ev.line = number
                    if not ev.raw:
                        ev.raw = text
                    yield ev


class FallbackParser(LineParser):
    """Keeps every line of a text file no plugin recognized, as unparsed events."""

    name = "unknown"
    description = "text lines in no known format, kept verbatim as unparsed events"

    def parse_line(self, text: str, source: Source) -> Event | None:
        return unparsed_event(text, "no parser recognized this file's format", ts=find_stamp(text, source.tz))
