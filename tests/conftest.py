from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditctl.cli.app import app


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads the developer's own config, database or plugin directories."""
    monkeypatch.setenv("AUDITCTL_CONFIG", str(tmp_path / "no-config.yaml"))
    monkeypatch.delenv("AUDITCTL_DB", raising=False)
    monkeypatch.delenv("AUDITCTL_PARSERS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    yield


@pytest.fixture
def db(tmp_path: Path) -> Path:
    (tmp_path / "db").mkdir()
    return tmp_path / "db" / "audit.duckdb"


class Cli:
    """Runs auditctl in-process against one database, like a user at a shell."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | bytes | None = None):
        return self.runner.invoke(app, ["--db", str(self.db), *args], input=input,
                                  env={"COLUMNS": "200", **{k: v for k, v in os.environ.items() if k.startswith("AUDITCTL")}})


@pytest.fixture
def cli(db: Path) -> Cli:
    return Cli(db)
