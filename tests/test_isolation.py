"""Tests never touch the real home: every default path resolves into the test's tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from auditctl.config import Config, default_config_path, load_config
from conftest import HOME_DIRS, REAL_HOMES
from support import SAMPLES


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def test_every_default_path_is_in_the_test_folder(tmp_path, monkeypatch):
    cfg = Config()
    defaults = [cfg.db, cfg.signing_key, cfg.sealing_key_path, cfg.checkpoints_path, cfg.verifier_key_path,
                default_config_path(), Path.home(), Path(os.path.expanduser("~/x"))]
    monkeypatch.delenv("AUDITCTL_CONFIG")  # the config default too, not only the one the fixture names
    defaults += [default_config_path(), load_config().db]
    for path in defaults:
        assert _inside(path, tmp_path), path
        assert not any(_inside(path, home) for home in REAL_HOMES if not _inside(tmp_path, home)), path


def test_a_cli_run_with_every_default_writes_only_into_the_test_folder(cli, tmp_path, monkeypatch):
    """The first ingest creates the signing key at its default place: the isolated XDG data home."""
    monkeypatch.delenv("AUDITCTL_CONFIG")
    result = cli("ingest", str(SAMPLES / "syslog" / "auth.log"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "xdg_data_home" / "auditctl" / "signing.key").exists()


def test_subprocesses_inherit_the_isolated_home(tmp_path):
    code = f"import os, pathlib; print(pathlib.Path.home()); [print(os.environ[n]) for n in {HOME_DIRS!r}]"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert len(out) == 1 + len(HOME_DIRS) and all(_inside(Path(p), tmp_path) for p in out)
