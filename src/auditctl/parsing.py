"""Choosing a parser for a file and reading its events, without storing them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from auditctl.plugins import FallbackParser, Parser, PluginInfo, PluginRegistry
from auditctl.schema import Event
from auditctl.sources import Head, Source, SourceError, open_source, read_head


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
    try:
        return list(events)
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
    source, events = parse_path(path, choice.parser, **kwargs)
    first: list[Event] = []
    try:
        for ev in events:
            first.append(ev)
            if len(first) >= limit:
                break
    finally:
        source.stream.close()
    return Trial(path, choice, first)
