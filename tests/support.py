"""Shared test helpers: the plugin registry, golden files, and the real corpus."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import orjson

from auditctl.ingest.discovery import PluginRegistry, load_registry
from auditctl.schema import EVENT_FIELDS, Event

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
REFERENCE_TIME = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@lru_cache(maxsize=1)
def registry() -> PluginRegistry:
    return load_registry(entry_points=False)


def event_dict(ev: Event) -> dict[str, Any]:
    d = {name: getattr(ev, name) for name in EVENT_FIELDS}
    d["ts"] = ev.ts.astimezone(UTC).isoformat() if ev.ts else None
    return d


def golden_path(sample: Path) -> Path:
    rel = sample.relative_to(SAMPLES)
    return GOLDEN / rel.parent / (rel.name + ".jsonl")


def write_golden(sample: Path, events: list[Event]) -> Path:
    path = golden_path(sample)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [orjson.dumps(event_dict(e), option=orjson.OPT_SORT_KEYS).decode() for e in events]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_golden(sample: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in golden_path(sample).read_text(encoding="utf-8").splitlines() if line]


def sample_files() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and not p.name.startswith("."))


def query(db: Path, sql: str) -> list[tuple]:
    """Rows of a read-only query on a store (tests look at what was really stored)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
