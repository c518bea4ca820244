"""Plugin discovery: built-ins from a checkout and from the wheel, entry points, broken plugins."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from auditctl.ingest.discovery import load_registry
from support import ROOT

ENTRY_PLUGIN = textwrap.dedent('''
    from auditctl.plugins import LineParser
    from auditctl.schema import Event

    class Vendor(LineParser):
        name = "vendorfmt"
        description = "a format shipped by an installed package"

        def parse_line(self, text, source):
            return Event(ts=None, category="system", action="log", message=text)

    parser = Vendor()
''')


def test_builtins_load_from_the_checkout():
    registry = load_registry(entry_points=False)
    assert {"syslog", "auditd", "jsonl", "cloudtrail", "k8s_audit"} <= set(registry.plugins)
    assert all(info.origin == "builtin" for info in registry)
    assert not registry.warnings


def test_entry_point_plugins_are_discovered(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "vendorpkg-1.0.dist-info").mkdir(parents=True)
    (site / "vendorpkg-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: vendorpkg\nVersion: 1.0\n")
    (site / "vendorpkg-1.0.dist-info" / "entry_points.txt").write_text(
        "[auditctl.parsers]\nvendorfmt = vendorpkg_parser:parser\nbroken = vendorpkg_missing:parser\n")
    (site / "vendorpkg_parser.py").write_text(ENTRY_PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    registry = load_registry()
    info = registry.plugins["vendorfmt"]
    assert info.origin == "package vendorpkg"
    assert any("broken" in w and "failed to load" in w for w in registry.warnings)


def test_a_plugin_cannot_take_a_builtin_name(tmp_path):
    (tmp_path / "syslog.py").write_text(ENTRY_PLUGIN.replace('"vendorfmt"', '"syslog"'))
    registry = load_registry([tmp_path], entry_points=False)
    assert registry.plugins["syslog"].origin == "builtin"
    assert any("already loaded" in w for w in registry.warnings)


def test_missing_user_directory_warns(tmp_path):
    registry = load_registry([tmp_path / "nope"], entry_points=False)
    assert any("does not exist" in w for w in registry.warnings)


@pytest.mark.slow
def test_built_wheel_carries_and_loads_the_builtin_parsers(tmp_path):
    """Build the wheel, install it alone into a directory, and load plugins from there."""
    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    if build.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {build.stderr.strip()[-200:]}")
    wheel = next(dist.glob("auditctl-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for plugin in ("syslog", "auditd", "jsonl", "cloudtrail", "k8s_audit"):
        assert f"auditctl/builtin_parsers/{plugin}.py" in names
    # the shipped Sigma rules are package data, with their licence
    sigma = ROOT / "src" / "auditctl" / "detect" / "sigma" / "pack"
    shipped = {str(p.relative_to(ROOT / "src")) for p in sigma.rglob("*") if p.is_file()}
    assert shipped <= set(names) and "auditctl/detect/sigma/pack/LICENSE.DRL-1.1" in shipped
    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    code = ("import auditctl.ingest.discovery as p; r = p.load_registry(entry_points=False); "
            "print(p.builtin_parsers_dir()); print(sorted(r.plugins))")
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120, check=True).stdout.splitlines()
    assert Path(out[0]) == target / "auditctl" / "builtin_parsers"
    assert "syslog" in out[1] and "k8s_audit" in out[1]


def test_a_user_plugin_gets_the_builtins_golden_checks(tmp_path):
    """auditctl.testing, as a third-party parser's tests would use it."""
    from auditctl import testing

    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "vendorfmt.py").write_text(ENTRY_PLUGIN.replace(
        "class Vendor(LineParser):", "class Vendor(LineParser):\n    def detect(self, head):\n"
        "        return 0.9 if head.text.startswith('vendor ') else 0.0\n"))
    parser = load_registry([tmp_path / "plugins"], entry_points=False).get("vendorfmt")
    sample, golden = tmp_path / "sample.log", tmp_path / "golden" / "sample.log.jsonl"
    sample.write_text("vendor one\nvendor two\n")
    with pytest.raises(AssertionError, match="no golden file"):
        testing.assert_matches_golden(parser, sample, golden)
    assert testing.regenerate_golden(parser, sample, golden) == 2
    testing.assert_matches_golden(parser, sample, golden)
    testing.assert_valid_events(parser, sample)
    testing.assert_detects(parser, sample)
    testing.assert_does_not_detect(parser, ROOT / "sample_logs" / "syslog" / "auth.log")
    sample.write_text("vendor one\nvendor 2\n")
    with pytest.raises(AssertionError, match=r"event 1 \(line 2\) differs.*message: got 'vendor 2'"):
        testing.assert_matches_golden(parser, sample, golden)
    with pytest.raises(AssertionError, match=r"below 0\.3"):
        testing.assert_detects(parser, ROOT / "sample_logs" / "syslog" / "auth.log")
