"""Shared test helpers: the plugin registry, golden files, and the real corpus."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import duckdb

from auditctl import testing
from auditctl.ingest.discovery import PluginRegistry, load_registry

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
