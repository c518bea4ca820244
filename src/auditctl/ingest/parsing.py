"""Choosing a parser for a file and reading its events, without storing them."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from auditctl.ingest.discovery import DETECT_THRESHOLD, PluginInfo, PluginRegistry
from auditctl.ingest.yearless import choose_year
from auditctl.plugins import FallbackParser, Parser
from auditctl.schema import Event
from auditctl.sources import Head, Source, SourceError, head_from_bytes, open_source, read_head


@dataclass(frozen=True)
class Choice:
    """Which parser reads a file, and why."""

    parser: Parser
    confidence: float
    reason: str
    ranking: list[tuple[float, str]]


FALLBACK = FallbackParser()


def choose_parser(head: Head, registry: PluginRegistry, forced: str | None = None) -> Choice:
    """The forced parser, else the best detection, else the fallback that keeps lines as unparsed.

    Raises SourceError for binary data no parser claims.
    """
    ranked = registry.detect(head)
    ranking = [(score, info.name) for score, info in ranked if score > 0]
    if forced:
        return Choice(registry.get(forced), 1.0, "forced with --parser", ranking)
    best: PluginInfo | None = ranked[0][1] if ranked and ranked[0][0] >= 0.3 else None
    if best is not None:
        why = best.parser.explain(head) or "its detect() scored highest"
        return Choice(best.parser, ranked[0][0], why, ranking)
    if head.is_binary:
        raise SourceError(f"{head.name}: binary data in no known format")
    return Choice(FALLBACK, 0.0, "no parser recognized the format; lines kept as unparsed", ranking)


@dataclass
class RecordRetry:
    """Re-reads, one record at a time, what the file's parser could not: for files that mix
    formats record by record (Kubernetes audit events beside Azure diagnostic records).

    Only unparsed events pay: the other parsers are ranked by detect() on that one record and
    the first whose events for it are all parsed wins; those events name it in `parser`.
    Generic parsers (any JSON object) and the fallback are not offered the record, and the
    decision depends on the record alone, so serial and parallel ingest store the same events.
    """

    chosen: str
    registry: PluginRegistry
    options: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # per parser name
    retried: int = 0
    rescued: int = 0

    def events(self, events: Iterable[Event], source: Source) -> Iterator[Event]:
        for ev in events:
            if ev.action == "unparsed" and ev.raw and ev.parser is None:
                yield from self.record(ev, source)
            else:
                yield ev

    def record(self, ev: Event, source: Source) -> list[Event]:
        """The events of another parser for this unparsed event's record, else the event itself."""
        self.retried += 1
        data = ev.raw_bytes if ev.raw_bytes is not None else ev.raw.encode("utf-8", "surrogateescape")
        for score, info in self.registry.detect(head_from_bytes("record", data)):
            if score < DETECT_THRESHOLD:
                break
            if info.name == self.chosen or info.parser.generic:
                continue
            found = self._parse_with(info.parser, data, ev, source)
            if found:
                self.rescued += 1
                return found
        return [ev]

    def _parse_with(self, parser: Parser, data: bytes, ev: Event, source: Source) -> list[Event]:
        one = Source(label=source.label, stream=io.BytesIO(data), start_line=ev.line or 1,
                     reference_time=source.reference_time, tz=source.tz,
                     options=dict(self.options.get(parser.name, {})), path=source.path)
        try:
            found = list(parser.parse(one))
        except Exception:  # another plugin's failure on a record it did not claim is no error
            return []
        if not found or any(e.action == "unparsed" for e in found):
            return []
        for e in found:
            e.parser = parser.name
            e.line = ev.line
            e.origin = e.origin or ev.origin
        return found


def retrying(choice: Choice, registry: PluginRegistry, forced: str | None,
             options: Mapping[str, dict[str, Any]] | None = None) -> RecordRetry | None:
    """The per-record retry for a detected parser; none for a forced one (the user's choice) or
    for a file no parser claimed (every line would pay for a detection)."""
    if forced or choice.parser is FALLBACK:
        return None
    return RecordRetry(choice.parser.name, registry, options or {})


def parse_path(
    path: Path, parser: Parser, *, tz: tzinfo | None = None, reference_time: datetime | None = None,
    options: dict[str, Any] | None = None, start_offset: int = 0, start_line: int = 1,
) -> tuple[Source, Iterator[Event]]:
    kwargs: dict[str, Any] = {"options": options or {}}
    if tz is not None:
        kwargs["tz"] = tz
    if reference_time is not None:
        kwargs["reference_time"] = reference_time
    source = open_source(path, start_offset=start_offset, start_line=start_line, **kwargs)
    return source, parser.parse(source)


def read_events(path: Path, registry: PluginRegistry, forced: str | None = None, **kwargs: Any) -> list[Event]:
    """All events of a small file (tests, `parsers test`)."""
    choice = choose_parser(read_head(path), registry, forced)
    source, events = parse_path(path, choice.parser, **kwargs)
    retry = retrying(choice, registry, forced, {choice.parser.name: kwargs.get("options") or {}})
    try:
        return list(retry.events(events, source) if retry else events)
    finally:
        source.stream.close()


@dataclass(frozen=True)
class Trial:
    """How a file's first records parse: for `auditctl parsers test`."""

    path: Path
    choice: Choice
    events: list[Event]


def try_file(path: Path, registry: PluginRegistry, forced: str | None = None, limit: int = 10,
             **kwargs: Any) -> Trial:
    choice = choose_parser(read_head(path), registry, forced)
    if choice.parser.yearless and kwargs.get("reference_time") is None:
        mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        year = choose_year(path, kwargs.get("tz") or UTC, mtime)
        kwargs["reference_time"] = year.reference if year else mtime
    source, events = parse_path(path, choice.parser, **kwargs)
    retry = retrying(choice, registry, forced, {choice.parser.name: kwargs.get("options") or {}})
    first: list[Event] = []
    try:
        for ev in (retry.events(events, source) if retry else events):
            first.append(ev)
            if len(first) >= limit:
                break
    finally:
        source.stream.close()
    return Trial(path, choice, first)
