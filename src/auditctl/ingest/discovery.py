"""The one discovery path for every parser plugin: built-ins, entry points, user folders.

Built-ins live in the top-level `parsers/` folder (inside the wheel as
`auditctl/builtin_parsers`) and load through the same directory loader as user folders;
installed packages register objects under the entry-point group `auditctl.parsers`; users
add directories with `parsers_dirs` in config or `AUDITCTL_PARSERS_DIR` (a path list). The
current directory is never searched: loading a file runs its code. A plugin that fails to
load is reported as a warning and skipped. The contract itself: `auditctl.plugins`.
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

from auditctl.ingest.declarative import DeclarativeError, load_declarative
from auditctl.plugins import Parser
from auditctl.sources import Head

ENTRY_POINT_GROUP = "auditctl.parsers"
PARSERS_DIR_ENV = "AUDITCTL_PARSERS_DIR"
DETECT_THRESHOLD = 0.3
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


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
    packaged = Path(__file__).parents[1] / "builtin_parsers"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "parsers"


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
