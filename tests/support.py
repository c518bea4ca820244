"""Shared test helpers: the plugin registry, golden files, and the real corpus."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb

from auditctl import testing
from auditctl.ingest.discovery import PluginRegistry, load_registry
from auditctl.schema import Event

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
GOLDEN = ROOT / "tests" / "golden"
# ../shared/corpus beside the checkout; from a worktree one level deeper (or AUDITCTL_TEST_CORPUS)
CORPUS = Path(os.environ.get("AUDITCTL_TEST_CORPUS") or next(
    (p for p in (ROOT.parent / "shared" / "corpus", ROOT.parents[1] / "shared" / "corpus") if p.is_dir()),
    ROOT.parent / "shared" / "corpus"))
# The few corpus files the core conformance tests need, vendored with the same layout (see
# tests/corpus/NOTICE): those tests run on any fresh clone; tests over the whole corpus skip
# without it, and the test summary counts them (conftest.py).
VENDORED_CORPUS = ROOT / "tests" / "corpus"
CORE_CORPUS = CORPUS if CORPUS.is_dir() else VENDORED_CORPUS
# Year-less syslog stamps are dated against this reference in goldens (checkout mtimes vary).
REFERENCE_TIME = testing.REFERENCE_TIME


@lru_cache(maxsize=1)
def registry() -> PluginRegistry:
    return load_registry(entry_points=False)


def golden_path(sample: Path) -> Path:
    rel = sample.relative_to(SAMPLES)
    return GOLDEN / rel.parent / (rel.name + ".jsonl")


def sample_files() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and not p.name.startswith("."))


def query(db: Path, sql: str) -> list[tuple]:
    """Rows of a read-only query on a store (tests look at what was really stored)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def parser_and_reader(name: str) -> tuple[Callable[[], Any], Callable[..., list[Event]]]:
    """A parser test's `parser()` (the built-in `name`) and `events(path)` (its events of a
    file, at the goldens' reference time; `forced=` another parser, or None to detect)."""
    def parser() -> Any:
        return registry().get(name)

    def events(path: Path, forced: str | None = name, **kwargs: Any) -> list[Event]:
        from auditctl.ingest.parsing import read_events

        return read_events(path, registry(), forced, reference_time=REFERENCE_TIME, **kwargs)

    return parser, events


def bytes_reader(events: Callable[..., list[Event]], file_name: str) -> Callable[..., list[Event]]:
    """A parser test's `parse_bytes(tmp_path, data, name=file_name)`: `events` of those bytes
    written to a file (the name matters to detection: CloudTrail's delivery names, `.gz`)."""
    def parse_bytes(tmp_path: Path, data: bytes, name: str = file_name) -> list[Event]:
        path = tmp_path / name
        path.write_bytes(data)
        return events(path)

    return parse_bytes


def json_records(path: Path) -> list:
    """The JSON values of a JSON-lines file's lines (lines that are not JSON left out)."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def nth_original(events: list[Event], word: str, n: int = 0) -> Event:
    """The n-th event whose `original_action` is `word` (the source's own word)."""
    return [e for e in events if e.original_action == word][n]


# go-libaudit's ECS categories (for the auditd conformance tests) -> the categories of ours that mean the same.
ECS_MEANING = {
    "authentication": {"authentication"},
    "session": {"authentication"},
    "iam": {"user_management", "permission_change"},
    "configuration": {"policy_change"},
    "process": {"system", "privileged_action"},
    "file": {"system"},
    "network": {"system"},
    "host": {"system"},
    "intrusion_detection": {"system"},
}
NO_NAME = {"unset", "(invalid user)", "(unknown)", "?"}
