from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from auditctl.cli.app import app

# the real home, as it was before any test ran: nothing may be written there
REAL_HOMES = {Path(os.path.expanduser("~")).resolve(), Path(pwd.getpwuid(os.getuid()).pw_dir).resolve()}
HOME_DIRS = ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
AUDITCTL_IN_HOME = [home / sub / "auditctl" for home in REAL_HOMES
                    for sub in (".local/share", ".config", ".local/state", ".cache")]

# Property tests: a bounded number of examples for `make test`, many more in CI (`.ci/run` sets CI).
settings.register_profile("dev", max_examples=30, deadline=None, database=None)
settings.register_profile("ci", max_examples=300, deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


def _isolate(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    monkeypatch.setenv("AUDITCTL_CONFIG", str(tmp / "no-config.yaml"))
    monkeypatch.delenv("AUDITCTL_DB", raising=False)
    monkeypatch.delenv("AUDITCTL_PARSERS_DIR", raising=False)
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    for name in HOME_DIRS:
        monkeypatch.setenv(name, str(home if name == "HOME" else tmp / name.lower()))


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads or writes the developer's own home: config, database, keys, plugins.

    HOME and every XDG base directory point into tmp_path (subprocesses inherit them), and a
    test fails if an auditctl folder appeared in the real home while it ran."""
    _isolate(monkeypatch, tmp_path)
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


class SampleStores:
    """Stores holding every sample log, ingested once per session (per xdist worker) for each
    config, under the same isolation as a test. Ingesting sample_logs/ takes about a second, and
    dozens of tests only read such a store: each gets a copy, never the original."""

    CONFIG = "template-config.yaml"

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.made: dict[str, Path] = {}

    def copy_into(self, tmp_path: Path, config: str = "") -> None:
        """Lay a store out in tmp_path as `isolated_env` and the `db` fixture do: tmp_path/db/
        and the HOME/XDG folders holding the signing key that signed it. `config` is a config
        file's text with `{tmp}` for tmp_path (the test writes its own copy)."""
        template = self.made.get(config) or self._make(config)
        shutil.copytree(template, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns(self.CONFIG))

    def _make(self, config: str) -> Path:
        from support import SAMPLES

        tmp = self.factory.mktemp("samples-store")
        with pytest.MonkeyPatch.context() as mp:
            _isolate(mp, tmp)
            if config:
                (tmp / self.CONFIG).write_text(config.format(tmp=tmp))
                mp.setenv("AUDITCTL_CONFIG", str(tmp / self.CONFIG))
            (tmp / "db").mkdir()
            result = Cli(tmp / "db" / "audit.duckdb")("ingest", str(SAMPLES))
        assert result.exit_code == 0, result.output
        self.made[config] = tmp
        return tmp


@pytest.fixture(scope="session")
def sample_stores(tmp_path_factory: pytest.TempPathFactory) -> SampleStores:
    return SampleStores(tmp_path_factory)


@pytest.fixture
def loaded_samples(cli: Cli, sample_stores: SampleStores, tmp_path: Path) -> Cli:
    """`cli` on a store that already holds every sample (what `auditctl ingest sample_logs` gives)."""
    assert cli.db.parent.parent == tmp_path
    sample_stores.copy_into(tmp_path)
    return cli


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Corpus tests never skip silently: say how many skipped for want of ../shared/corpus."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "corpus" in _skip_reason(r).lower()]
    if skipped:
        from support import CORPUS

        terminalreporter.write_line(
            f"corpus: {len(skipped)} tests skipped: the shared corpus is not beside this checkout "
            f"(looked for {CORPUS}; set AUDITCTL_TEST_CORPUS); the conformance tests ran on tests/corpus")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
