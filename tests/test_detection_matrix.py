"""Which parser detection picks for every file of the shared corpus: a change to any plugin's
detect() that moves a file to another parser fails here (the sample logs are held to their
parsers by test_golden). Regenerate deliberately: `python tests/test_detection_matrix.py`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditctl.ingest.parsing import choose_parser
from auditctl.sources import SourceError, read_head
from support import CORPUS, registry

EXPECTED = Path(__file__).with_name("corpus_detection.json")


def detected(path: Path) -> str:
    try:
        return choose_parser(read_head(path), registry()).parser.name
    except SourceError:
        return "error"


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and not p.name.startswith("."))


def test_every_corpus_file_keeps_its_parser():
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not present at {CORPUS}")
    expected = json.loads(EXPECTED.read_text())
    got = {str(p.relative_to(CORPUS)): detected(p) for p in corpus_files()}
    changed = {k: (expected.get(k), v) for k, v in got.items() if k in expected and expected[k] != v}
    assert changed == {}, "corpus files detected as another parser (expected, got)"


if __name__ == "__main__":
    matrix = {str(p.relative_to(CORPUS)): detected(p) for p in corpus_files()}
    EXPECTED.write_text(json.dumps(matrix, indent=1, sort_keys=True) + "\n")
