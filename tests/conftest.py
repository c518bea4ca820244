from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditctl.cli.app import app

# the real home, as it was before any test ran: nothing may be written there
REAL_HOMES = {Path(os.path.expanduser("~")).resolve(), Path(pwd.getpwuid(os.getuid()).pw_dir).resolve()}
HOME_DIRS = ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
AUDITCTL_IN_HOME = [home / sub / "auditctl" for home in REAL_HOMES
                    for sub in (".local/share", ".config", ".local/state", ".cache")]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads or writes the developer's own home: config, database, keys, plugins.

    HOME and every XDG base directory point into tmp_path (subprocesses inherit them), and a
    test fails if an auditctl folder appeared in the real home while it ran."""
    monkeypatch.setenv("AUDITCTL_CONFIG", str(tmp_path / "no-config.yaml"))
    monkeypatch.delenv("AUDITCTL_DB", raising=False)
    monkeypatch.delenv("AUDITCTL_PARSERS_DIR", raising=False)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    for name in HOME_DIRS:
        monkeypatch.setenv(name, str(home if name == "HOME" else tmp_path / name.lower()))
    existed = {p for p in AUDITCTL_IN_HOME if p.exists()}
    yield
    leaked = [str(p) for p in AUDITCTL_IN_HOME if p.exists() and p not in existed]
    assert not leaked, f"the test wrote into the real home: {leaked}"


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
