"""Errors are one line naming the file and the real cause, with an exit code; plugin output is
checked against the schema before anything of its file is stored."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from auditctl.errors import ExitCode
from support import ROOT

LINE = "Mar  1 10:00:{:02d} web1 sshd[{}]: Failed password for root from 203.0.113.{} port 22 ssh2\n"

# A third-party plugin that emits whatever its input says: LOOSE|ts|category|action|outcome.
LOOSE = textwrap.dedent('''
    from datetime import datetime
    from auditctl.plugins import LineParser
    from auditctl.schema import Event

    class Loose(LineParser):
        name = "loose"
        description = "test format: LOOSE|TIME|CATEGORY|ACTION|OUTCOME"

        def detect(self, head):
            return 0.9 if head.lines and all(ln.startswith("LOOSE|") for ln in head.lines) else 0.0

        def parse_line(self, text, source):
            _, ts, category, action, outcome = text.split("|")
            return Event(ts=datetime.fromisoformat(ts), category=category, action=action, outcome=outcome)

    parser = Loose()
''')

# One that fails on its second record.
BOOM = textwrap.dedent('''
    from auditctl.plugins import LineParser
    from auditctl.schema import Event
    from auditctl.timeutil import parse_iso

    class Boom(LineParser):
        name = "boom"
        description = "test format that crashes: BOOM|TIME"

        def detect(self, head):
            return 0.9 if head.lines and all(ln.startswith("BOOM|") for ln in head.lines) else 0.0

        def parse_line(self, text, source):
            if text.endswith(":06Z"):
                raise RuntimeError("lost my place")
            return Event(ts=parse_iso(text.split("|")[1]), category="system", action="log")

    parser = Boom()
''')

GOOD = "LOOSE|2026-01-02T03:04:05+00:00|authentication|login|success\n"


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "loose.py").write_text(LOOSE)
    (folder / "boom.py").write_text(BOOM)
    monkeypatch.setenv("AUDITCTL_PARSERS_DIR", str(folder))
    return folder


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def _count(cli, *args: str) -> int:
    result = cli("search", "--format", "jsonl", "--limit", "0", *args)
    assert result.exit_code == 0, result.output
    return len([json.loads(line) for line in result.stdout.splitlines() if line.strip()])


# -- item 9: one line, the real cause, an exit code ----------------------------------------

def test_a_db_whose_folder_cannot_be_created_is_one_line(cli, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should go\n")
    log = tmp_path / "a.log"
    log.write_text(LINE.format(1, 1, 1))
    cli.db = blocker / "sub" / "audit.duckdb"
    result = cli("ingest", str(log))
    assert result.exit_code == ExitCode.ERROR
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert str(blocker) in lines[0] and "Not a directory" in lines[0]


def test_a_plugin_failing_on_stdin_is_one_line_like_on_a_file(cli, tmp_path, plugins):
    text = "BOOM|2026-01-02T03:04:05Z\nBOOM|2026-01-02T03:04:06Z\nBOOM|2026-01-02T03:04:07Z\n"
    log = tmp_path / "boom.log"
    log.write_text(text)
    on_file = cli("ingest", str(log))
    on_stdin = cli("ingest", "-", input=text)
    for result, name in ((on_file, str(log)), (on_stdin, "stdin")):
        assert result.exit_code == ExitCode.ERROR
        assert "Traceback" not in result.output
        assert _errors(result.output) == [
            f"error: {name}: parser boom failed: RuntimeError: lost my place; nothing from "
            f"{'this file' if name != 'stdin' else 'stdin'} was stored"]
    assert _count(cli) == 0


@pytest.mark.slow
def test_a_store_write_error_is_named_and_stops_the_ingest(tmp_path):
    """A real write error: the file size limit (RLIMIT_FSIZE, as a full disk would) is reached
    while the second file is stored. It is reported as the store's error, not the parser's; the
    first file stays stored and signed, the third is not read; all of them ingest later."""
    first, big, third = tmp_path / "first.log", tmp_path / "big.log", tmp_path / "third.log"
    first.write_text("".join(LINE.format(i % 60, i, i % 250) for i in range(100)))
    with big.open("w") as f:
        for i in range(150_000):
            f.write(LINE.format(i % 60, i * 7919 % 100_003, i % 250))
    third.write_text("".join(LINE.format(i % 60, i, 7) for i in range(50)))
    db = tmp_path / "db" / "audit.duckdb"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HOME": str(tmp_path / "home"),
           "XDG_DATA_HOME": str(tmp_path / "xdg"), "AUDITCTL_CONFIG": str(tmp_path / "none.yaml")}

    def run(*paths: Path, limit: int | None = None) -> subprocess.CompletedProcess:
        def limited() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        return subprocess.run([sys.executable, "-m", "auditctl", "--db", str(db), "ingest", "--workers", "1",
                               *map(str, paths)], env=env, capture_output=True, text=True, timeout=600,
                              preexec_fn=limited if limit else None)

    result = run(first, big, third, limit=3 << 20)  # a new store with 100 events takes ~2 MB
    assert result.returncode == ExitCode.ERROR, result.stderr
    assert "Traceback" not in result.stderr
    errors = _errors(result.stderr)
    assert errors[0].startswith(f"error: {big}: could not write to the store {db}: ")
    assert errors[0].endswith("File too large; nothing from this file was stored")
    assert "parser" not in errors[0]
    assert errors[1] == f"error: ingest stopped by the store error: 1 file(s) not read: {third}"
    assert "100 events from 1 file(s)" in result.stdout
    # signing after it may hit the limit too: then that is said, and the next ingest signs
    assert "signed checkpoint" in result.stdout or errors[2:] == [
        f"error: could not write to the store {db}: IO Error: Could not write file \"{db}\": File too large: "
        "the new events are not signed yet (the next ingest signs them)"]
    again = run(first, big, third)
    assert again.returncode == 0, again.stderr
    assert "150,050 events from 2 file(s)" in again.stdout
    verify = subprocess.run([sys.executable, "-m", "auditctl", "--db", str(db), "verify"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert verify.returncode == 0, verify.stdout + verify.stderr


# -- item 10: plugin output is checked before it is stored ------------------------------------

BAD = {
    "category": ("LOOSE|2026-01-02T03:04:05+00:00|hacking|login|success",
                 "category 'hacking' is not in the schema's vocabulary"),
    "action": ("LOOSE|2026-01-02T03:04:05+00:00|authentication|log_in|success",
               "action 'log_in' is not in the schema's vocabulary"),
    "outcome": ("LOOSE|2026-01-02T03:04:05+00:00|authentication|login|ok",
                "outcome 'ok' is not in the schema's vocabulary"),
    "ts": ("LOOSE|2026-01-02T03:04:05|authentication|login|success",
           "ts '2026-01-02 03:04:05' has no time zone"),
}


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for field, (line, _) in BAD.items():
        path = tmp_path / f"bad-{field}.log"
        path.write_text(GOOD + line + "\n" + GOOD)  # the bad record is on line 2
        files[field] = path
    return files


def test_events_outside_the_schema_fail_their_file_and_the_good_file_is_stored(cli, tmp_path, plugins):
    files = _bad_files(tmp_path)
    good = tmp_path / "good.log"
    good.write_text(GOOD * 3)
    result = cli("ingest", *map(str, files.values()), str(good))
    assert result.exit_code == ExitCode.ERROR
    assert "Traceback" not in result.output
    assert sorted(_errors(result.output)) == sorted(
        f"error: {files[field]}: parser loose emitted an invalid event at line 2: {why}; "
        "nothing from this file was stored" for field, (_, why) in BAD.items())
    assert _count(cli) == 3
    assert _count(cli, "--source", str(good)) == 3


@pytest.mark.slow
def test_invalid_events_are_caught_in_parallel_parsing(cli, tmp_path, plugins, monkeypatch):
    import auditctl.ingest.ingester as ingest_module
    import auditctl.ingest.parallel as parallel

    monkeypatch.setattr(ingest_module, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(parallel, "FIRST_CHUNK_BYTES", 4096)
    files = {}
    for field in ("category", "ts"):  # checked in the parent and in the worker
        path = tmp_path / f"bad-{field}.log"
        path.write_text(GOOD * 500 + BAD[field][0] + "\n" + GOOD * 500)
        files[field] = path
    good = tmp_path / "good.log"
    good.write_text(GOOD * 1000)
    result = cli("ingest", "--workers", "2", *map(str, files.values()), str(good))
    assert result.exit_code == ExitCode.ERROR
    assert sorted(_errors(result.output)) == sorted(
        f"error: {files[field]}: parser loose emitted an invalid event at line 501: {BAD[field][1]}; "
        "nothing from this file was stored" for field in files)
    assert _count(cli) == 1000


def test_watch_reports_invalid_events_and_stores_nothing_of_that_file(cli, tmp_path, plugins):
    files = _bad_files(tmp_path)
    result = cli("watch", str(files["outcome"]), "--cycles", "1", "--interval", "0.05")
    assert f"{files['outcome']}: parser loose emitted an invalid event at line 2: " \
           f"{BAD['outcome'][1]}; nothing from this file was stored" in result.output
    assert _count(cli) == 0


def test_an_error_is_one_line_however_long_and_whatever_its_path_holds(cli, tmp_path):
    """A long path is not wrapped by the terminal's width, and `[...]` in it is not markup."""
    deep = tmp_path / ("a-rather-long-folder-name-" * 6) / "[prod] auth.log"
    result = cli("ingest", str(deep))
    assert result.exit_code != 0
    naming = [ln for ln in result.output.splitlines() if "auth.log" in ln]
    assert len(naming) == 1 and naming[0].startswith("error: ") and str(deep) in naming[0], result.output
