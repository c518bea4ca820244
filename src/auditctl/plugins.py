"""The parser plugin contract and the one discovery path for every plugin.

A plugin is a Python file that defines `parser = SomeParser()` (or `parsers = [...]`).
Built-ins live in the top-level `parsers/` folder (inside the wheel as
`auditctl/builtin_parsers`); installed packages register objects under the entry-point group
`auditctl.parsers`; users add directories with `parsers_dirs` in config or
`AUDITCTL_PARSERS_DIR` (a path list). The current directory is never searched: loading a
file runs its code. A plugin that fails to load is reported as a warning and skipped.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head, Source
from auditctl.stamps import find_stamp

ENTRY_POINT_GROUP = "auditctl.parsers"
PARSERS_DIR_ENV = "AUDITCTL_PARSERS_DIR"
DETECT_THRESHOLD = 0.3
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


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
    # year from --year, the file name or content before the file's mtime (auditctl.yearless).
    yearless: ClassVar[bool] = False

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


@dataclass(frozen=True)
class PluginInfo:
    name: str
    origin: str  # "builtin", "entry point <dist>", "user <dir>"
    location: str
    description: str
    parser: Parser


@dataclass
class PluginRegistry:
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def get(self, name: str) -> Parser:
        try:
            return self.plugins[name].parser
        except KeyError:
            known = ", ".join(sorted(self.plugins)) or "none"
            raise KeyError(f"no parser named {name!r} (known: {known})") from None

    def __iter__(self) -> Iterator[PluginInfo]:
        return iter(self.plugins.values())

    def detect(self, head: Head) -> list[tuple[float, PluginInfo]]:
        """Every plugin's confidence for this head, best first (ties keep load order)."""
        scores: list[tuple[float, PluginInfo]] = []
        for info in self.plugins.values():
            try:
                score = float(info.parser.detect(head))
            except Exception as exc:  # a plugin's detect must never break ingest
                self.warnings.append(f"parser {info.name}: detect failed: {exc}")
                score = 0.0
            scores.append((score, info))
        scores.sort(key=lambda pair: -pair[0])
        return scores

    def best(self, head: Head) -> tuple[PluginInfo | None, float]:
        ranked = self.detect(head)
        if ranked and ranked[0][0] >= DETECT_THRESHOLD:
            return ranked[0][1], ranked[0][0]
        return None, ranked[0][0] if ranked else 0.0

    def add(self, parser: Parser, origin: str, location: str) -> None:
        name = getattr(parser, "name", "")
        if not isinstance(parser, Parser) or not _NAME_RE.match(name or ""):
            self.warnings.append(f"{location}: not a parser plugin (needs a Parser with a lowercase name)")
            return
        if name in self.plugins:
            self.warnings.append(
                f"{location}: parser {name!r} already loaded from {self.plugins[name].location}; skipped")
            return
        self.plugins[name] = PluginInfo(name, origin, location, parser.description, parser)


def builtin_parsers_dir() -> Path:
    """The built-in plugins: inside the installed package, else the checkout's parsers/."""
    packaged = Path(__file__).parent / "builtin_parsers"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "parsers"


def user_parser_dirs(configured: Sequence[str | Path] = ()) -> list[Path]:
    dirs = [Path(p).expanduser() for p in configured]
    env = os.environ.get(PARSERS_DIR_ENV, "")
    dirs += [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return dirs


def load_registry(user_dirs: Sequence[str | Path] = (), *, entry_points: bool = True) -> PluginRegistry:
    registry = PluginRegistry()
    _load_dir(registry, builtin_parsers_dir(), origin="builtin")
    if entry_points:
        _load_entry_points(registry)
    for directory in user_parser_dirs(user_dirs):
        if not directory.is_dir():
            registry.warnings.append(f"parsers directory {directory} does not exist; skipped")
            continue
        _load_dir(registry, directory, origin="user")
    return registry


def _load_dir(registry: PluginRegistry, directory: Path, origin: str) -> None:
    for path in sorted([*directory.glob("*.py"), *directory.glob("*.yaml"), *directory.glob("*.yml")]):
        if path.name.startswith("_"):
            continue
        if path.suffix in (".yaml", ".yml"):
            _load_declarative(registry, path, origin)
            continue
        for parser in _parsers_from_file(registry, path, origin):
            registry.add(parser, origin, str(path))


def _load_declarative(registry: PluginRegistry, path: Path, origin: str) -> None:
    from auditctl.declarative import DeclarativeError, load_declarative

    try:
        parser = load_declarative(path)
    except DeclarativeError as exc:
        registry.warnings.append(f"declarative format {exc}; skipped")
        return
    registry.add(parser, f"{origin} (yaml)", str(path))


def _parsers_from_file(registry: PluginRegistry, path: Path, origin: str) -> Iterable[Parser]:
    module_name = f"auditctl_plugin_{origin}_{path.stem}"
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError("not a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # so dataclasses and pickling can find it
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        where = _last_frame_in(path, exc)
        registry.warnings.append(f"parser plugin {path}{where} failed to load: {type(exc).__name__}: {exc}; skipped")
        return []
    found = list(getattr(module, "parsers", []))
    if hasattr(module, "parser"):
        found.append(module.parser)
    if not found:
        registry.warnings.append(f"{path}: defines neither `parser` nor `parsers`; skipped")
    return found


def _last_frame_in(path: Path, exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
    return f" line {frames[-1].lineno}" if frames else ""


def _load_entry_points(registry: PluginRegistry) -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        location = f"{ep.value} ({ep.dist.name if ep.dist else 'unknown package'})"
        try:
            obj = ep.load()
            parser = obj() if isinstance(obj, type) else obj
        except Exception as exc:
            registry.warnings.append(f"parser entry point {ep.name} = {location} failed to load: {exc}; skipped")
            continue
        registry.add(parser, f"package {ep.dist.name if ep.dist else '?'}", location)
