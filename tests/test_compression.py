"""Rotated logs come gzip'd, xz'd or bzip2'd: each is read through, from a file or stdin."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs" / "syslog" / "auth.log"
PACKERS = {"gz": gzip.compress, "xz": lzma.compress, "bz2": bz2.compress}


@pytest.fixture(scope="module")
def plain_events(tmp_path_factory) -> int:
    """Events of the uncompressed sample (a line may hold two events, e.g. sudo's command)."""
    from auditctl.config import Config
    from auditctl.ingest.discovery import load_registry
    from auditctl.ingest.ingester import Ingester
    from auditctl.store import Store

    folder = tmp_path_factory.mktemp("plain")
    with Store.open(folder / "a.duckdb") as store:
        return Ingester(store, load_registry(), Config(db=folder / "a.duckdb")).ingest([str(SAMPLE)]).events


@pytest.mark.parametrize("suffix", sorted(PACKERS))
def test_compressed_files_are_read_like_plain_ones(cli, tmp_path, suffix, plain_events):
    packed = tmp_path / f"auth.log.1.{suffix}"
    packed.write_bytes(PACKERS[suffix](SAMPLE.read_bytes()))
    result = cli("ingest", str(packed), "--format", "json")
    assert result.exit_code == 0, result.output
    lines = plain_events
    rows = json.loads(cli("stats", "--by", "parser", "--format", "json").stdout)
    assert rows == [{"parser": "syslog", "events": lines, **{k: v for k, v in rows[0].items()
                                                             if k not in ("parser", "events")}}]
    assert cli("ingest", str(packed)).exit_code == 0  # the second time: nothing new
    again = json.loads(cli("stats", "--by", "parser", "--format", "json").stdout)
    assert again[0]["events"] == lines


@pytest.mark.parametrize("suffix", sorted(PACKERS))
def test_compressed_stdin(cli, suffix, plain_events):
    result = cli("ingest", "-", input=PACKERS[suffix](SAMPLE.read_bytes()))
    assert result.exit_code == 0, result.output
    rows = json.loads(cli("stats", "--by", "parser", "--format", "json").stdout)
    assert rows[0]["parser"] == "syslog" and rows[0]["events"] == plain_events
