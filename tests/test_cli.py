"""Every command and option through the CLI, including bad input and exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from auditctl.cli.app import app
from auditctl.errors import ExitCode
from support import SAMPLES

AUTH = SAMPLES / "syslog" / "auth.log"


def jsonl(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.fixture
def loaded(loaded_samples):
    return loaded_samples


def test_help_lists_every_command():
    from typer.testing import CliRunner

    out = CliRunner().invoke(app, ["--help"]).output
    for command in ("ingest", "search", "stats", "parsers"):
        assert command in out


@pytest.mark.parametrize("command", [["ingest"], ["search"], ["stats"], ["parsers"], ["parsers", "test"]])
def test_every_command_has_help(cli, command):
    result = cli(*command, "--help")
    assert result.exit_code == 0 and "Usage" in result.output


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.output.startswith("auditctl ")


# -- ingest --------------------------------------------------------------------------------

def test_ingest_summary_and_idempotency(cli):
    first = cli("ingest", str(SAMPLES / "syslog"))
    assert first.exit_code == 0, first.output
    assert "events from 6 file(s)" in first.stdout and "by parser: syslog" in first.stdout
    second = cli("ingest", str(SAMPLES / "syslog"))
    assert second.exit_code == 0 and second.stdout.startswith("0 events") and "unchanged since last ingest: 6" in second.stdout


def test_ingest_json_summary(cli):
    result = cli("ingest", str(AUTH), "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["events"] == 61 and doc["per_parser"] == {"syslog": 61} and doc["unparsed"] == 1
    assert doc["files"][0]["status"] == "ingested"


def test_ingest_forced_parser_and_unknown_parser(cli, tmp_path):
    odd = tmp_path / "odd.txt"
    odd.write_text("Mar  1 10:00:00 h sshd[1]: Accepted password for z from 1.2.3.4 port 1 ssh2\n")
    assert cli("ingest", "--parser", "syslog", str(odd)).exit_code == 0
    bad = cli("ingest", "--parser", "nope", str(odd))
    assert bad.exit_code == ExitCode.USAGE and "no parser named 'nope'" in bad.output


def test_ingest_missing_path_is_an_error_but_others_are_ingested(cli, tmp_path):
    result = cli("ingest", str(tmp_path / "missing.log"), str(AUTH))
    assert result.exit_code == ExitCode.ERROR
    # the error console wraps at its own width, and a long tmp path (pytest-xdist) wraps the name
    assert "missing.log: no such file" in result.output  # one line, never wrapped
    assert "61 events" in result.output


def test_ingest_bad_file_exit_code_and_one_line_error(cli, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\xff" * 5000)
    result = cli("ingest", str(junk), str(AUTH))
    assert result.exit_code == ExitCode.ERROR
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "junk.bin" in errors[0] and "Traceback" not in result.output


def test_ingest_stdin(cli):
    result = cli("ingest", "-", input=AUTH.read_text())
    assert result.exit_code == 0, result.output
    found = jsonl(cli("search", "--source", "stdin", "--limit", "0").stdout)
    assert len(found) == 61 and {r["source"] for r in found} == {"stdin"}


def test_ingest_bad_timezone_is_a_usage_error(cli):
    result = cli("ingest", "--tz", "Mars/Olympus", str(AUTH))
    assert result.exit_code == ExitCode.USAGE and "unknown time zone" in result.output


def test_ingest_tz_option_shifts_yearless_stamps(cli, tmp_path):
    log = tmp_path / "x.log"
    log.write_text("Jun  1 12:00:00 h app: hello\n")
    cli("ingest", "--tz", "Asia/Tokyo", str(log))
    (row,) = jsonl(cli("search", "hello").stdout)
    assert row["ts"].endswith("T03:00:00+00:00")


def test_nothing_to_ingest(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("ingest", str(empty)).exit_code == ExitCode.USAGE


# -- search --------------------------------------------------------------------------------

def test_search_filters(loaded):
    def count(*args):
        result = loaded("search", "--limit", "0", *args)
        assert result.exit_code == 0, result.output
        return jsonl(result.stdout)

    assert {r["category"] for r in count("--category", "user_management")} == {"user_management"}
    failures = count("--category", "authentication", "--outcome", "failure")
    assert failures and all(r["outcome"] == "failure" for r in failures)
    bob = count("--user", "bob")
    assert bob and all(_names_person(r, "bob") for r in bob)
    assert all(r["actor"] == "alice" for r in count("--actor", "alice"))
    assert all(r["target"] == "root" for r in count("--target", "root"))
    assert {r["action"] for r in count("--action", "user_created", "--action", "user_deleted")} == {"user_created", "user_deleted"}
    hosts = {r["host"] for r in count("--host", "bast*")}
    assert "bastion" in hosts and all(h.startswith("bast") for h in hosts)
    assert {r["src_ip"] for r in count("--ip", "185.220.101.33")} == {"185.220.101.33"}
    in_net = {r["src_ip"] for r in count("--ip", "10.20.0.0/16")}
    assert {"10.20.1.15", "10.20.4.2"} <= in_net and all(ip.startswith("10.20.") for ip in in_net)
    assert not any(r["src_ip"] == "10.20.1.15" for r in count("--ip", "10.21.0.0/16"))
    assert {r["parser"] for r in count("--parser", "syslog")} == {"syslog"}
    assert all("incorrect password" in r["raw"] for r in count("INCORRECT PASSWORD"))
    assert count("--user", "nobody-at-all") == []


def _names_person(row: dict, name: str) -> bool:
    from auditctl.store.filters import PERSON_ATTRS, PERSON_COLUMNS

    attrs = row.get("attrs") or {}
    return name in [row[c] for c in PERSON_COLUMNS] + [attrs.get(k) for k in PERSON_ATTRS]


def test_search_time_range(loaded):
    rows = jsonl(loaded("search", "--since", "2026-01-01T00:05:00", "--until", "2026-01-01T00:06:00",
                        "--parser", "syslog").output)
    assert rows and all("2026-01-01T00:05" in r["ts"] for r in rows)


def test_search_limit_reverse_and_caption(loaded):
    rows = jsonl(loaded("search", "--parser", "syslog", "--limit", "3", "--reverse").stdout)
    assert len(rows) == 3 and rows[0]["ts"] >= rows[1]["ts"] >= rows[2]["ts"]
    table = loaded("search", "--parser", "syslog", "--limit", "2", "--format", "table").output
    assert "2 of" in table and "raise --limit" in table


def test_search_formats(loaded):
    as_json = json.loads(loaded("search", "--action", "user_created", "--format", "json").stdout)
    assert as_json and set(as_json[0]) >= {"seq", "ts", "category", "action", "actor", "target", "raw", "attrs"}
    assert isinstance(as_json[0]["attrs"], dict | None)
    as_csv = list(csv.DictReader(io.StringIO(loaded("search", "--action", "user_created", "--format", "csv").stdout)))
    assert len(as_csv) == len(as_json) and as_csv[0]["action"] == "user_created"
    table = loaded("search", "--action", "user_created", "--format", "table").output
    assert "user_created" in table and "seq" in table


def test_search_values_are_bound_not_pasted(loaded):
    result = loaded("search", "--user", "x' OR '1'='1", "--limit", "0")
    assert result.exit_code == 0 and jsonl(result.stdout) == []
    result = loaded("search", "'; DROP TABLE events; --")
    assert result.exit_code == 0
    assert jsonl(loaded("search", "--limit", "1").stdout)


@pytest.mark.parametrize(("args", "message"), [
    (["--category", "nonsense"], "unknown value 'nonsense'"),
    (["--outcome", "maybe"], "unknown value 'maybe'"),
    (["--since", "last tuesday"], "cannot read time"),
    (["--since", "2026-02-01", "--until", "2026-01-01"], "--since is after --until"),
    (["--ip", "10.0.0.0/33"], "--ip 10.0.0.0/33"),
])
def test_search_usage_errors(loaded, args, message):
    result = loaded("search", *args)
    assert result.exit_code == ExitCode.USAGE and message in result.output


def test_search_without_a_database(cli):
    result = cli("search")
    assert result.exit_code == ExitCode.ERROR and "no database" in result.output


# -- stats ---------------------------------------------------------------------------------

def test_stats_by_dimensions(loaded):
    rows = jsonl(loaded("stats", "--by", "category").stdout)
    assert {r["category"] for r in rows} >= {"authentication", "user_management", "other"}
    total = jsonl(loaded("stats", "--by", "parser").stdout)
    assert sum(r["events"] for r in rows) == sum(r["events"] for r in total)
    days = jsonl(loaded("stats", "--by", "day", "--parser", "syslog").stdout)
    dated = [r["day"] for r in days]
    assert dated == sorted(dated) and None not in dated  # every event has a time (ts_source says whose)
    pairs = jsonl(loaded("stats", "--by", "host", "--by", "outcome", "--outcome", "failure").stdout)
    assert pairs and all(r["outcome"] == "failure" and r["failures"] == r["events"] for r in pairs)
    assert loaded("stats", "--by", "colour").exit_code == ExitCode.USAGE


# -- parsers -------------------------------------------------------------------------------

def test_parsers_listing(cli):
    rows = jsonl(cli("parsers").stdout)
    names = {r["name"] for r in rows}
    assert {"syslog", "jsonl"} <= names and all(r["origin"] == "builtin" for r in rows)
    assert "syslog" in cli("parsers", "--format", "table").output


def test_parsers_test_shows_choice_reason_and_records(cli):
    result = cli("parsers", "test", str(AUTH), "--limit", "3", "--format", "table")
    assert result.exit_code == 0, result.output
    assert "parser syslog" in result.output and "RFC 3164" in result.output and "detection scores" in result.output
    rows = jsonl(cli("parsers", "test", str(AUTH), "-n", "2").stdout)
    assert len(rows) == 2 and rows[0]["parser"] == "syslog" and rows[0]["action"] == "login"


def test_parsers_test_bad_inputs(cli, tmp_path):
    assert cli("parsers", "test", str(tmp_path / "nope")).exit_code == ExitCode.USAGE
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00" * 100)
    result = cli("parsers", "test", str(junk))
    assert result.exit_code == ExitCode.ERROR and "binary data" in result.output


# -- plugins from user directories ---------------------------------------------------------

PLUGIN = textwrap.dedent('''
    from auditctl.plugins import LineParser
    from auditctl.schema import Event
    from auditctl.timeutil import parse_iso

    class Door(LineParser):
        name = "door"
        description = "badge reader: TIME|BADGE|DOOR|OK/DENIED"

        def detect(self, head):
            return 0.9 if head.lines and all(ln.count("|") == 3 for ln in head.lines) else 0.0

        def parse_line(self, text, source):
            ts, badge, door, result = text.split("|")
            return Event(ts=parse_iso(ts), category="authentication", action="login",
                         outcome="success" if result == "OK" else "failure", actor=badge, resource=door)

    parser = Door()
''')


def test_user_plugin_directory_is_discovered_and_used(cli, tmp_path, monkeypatch):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "door.py").write_text(PLUGIN)
    (plugins / "broken.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.setenv("AUDITCTL_PARSERS_DIR", str(plugins))
    listing = cli("parsers")
    assert "door" in listing.output and "broken.py line 1 failed to load: RuntimeError: boom; skipped" in listing.output
    log = tmp_path / "badges.log"
    log.write_text("2026-01-02T03:04:05Z|B-17|lab|DENIED\n2026-01-02T03:04:09Z|B-17|lab|OK\n")
    result = cli("ingest", str(log))
    assert result.exit_code == 0 and "door 2" in result.output
    rows = jsonl(cli("search", "--parser", "door").stdout)
    assert [(r["actor"], r["outcome"]) for r in rows] == [("B-17", "failure"), ("B-17", "success")]


def test_parsers_dirs_from_config(cli, tmp_path, monkeypatch):
    plugins = tmp_path / "cfgplugins"
    plugins.mkdir()
    (plugins / "door.py").write_text(PLUGIN)
    config = tmp_path / "config.yaml"
    config.write_text(f"parsers_dirs: [{plugins}]\n")
    monkeypatch.setenv("AUDITCTL_CONFIG", str(config))
    rows = jsonl(cli("parsers").stdout)
    assert {"name": "door", "origin": "user"}.items() <= next(r for r in rows if r["name"] == "door").items()


def test_bad_config_is_one_line_usage_error(cli, tmp_path, monkeypatch):
    config = tmp_path / "config.yaml"
    config.write_text("colour: blue\n")
    monkeypatch.setenv("AUDITCTL_CONFIG", str(config))
    result = cli("search")
    assert result.exit_code == ExitCode.USAGE and "unknown setting(s): colour" in result.output


# -- a second writer -----------------------------------------------------------------------

def test_second_writer_gets_database_in_use(cli, db, tmp_path, monkeypatch):
    cli("ingest", str(AUTH))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); time.sleep(30)", str(db)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        config = tmp_path / "fast.yaml"
        config.write_text("lock_wait_seconds: 0.3\n")
        monkeypatch.setenv("AUDITCTL_CONFIG", str(config))
        started = time.monotonic()
        result = cli("ingest", str(AUTH))
        assert result.exit_code == ExitCode.BUSY
        assert f"in use by PID {holder.pid}" in result.output and "Traceback" not in result.output
        assert time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait()


def test_python_dash_m_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "auditctl", "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("auditctl")


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "auditctl"
    result = subprocess.run([str(script), "parsers"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "syslog" in result.stdout


def test_free_text_search_finds_raw_and_messages_not_in_raw_and_takes_wildcards_literally(cli, tmp_path):
    log = tmp_path / "t.log"
    log.write_text("Jun  1 12:00:00 h app: job_42 finished 100% ok\n"
                   "Jun  1 12:00:01 h app: jobX42 finished 100 ok\n")
    evtx = SAMPLES / "windows_security" / "hayabusa-openssh-bruteforce.evtx"
    assert cli("ingest", str(log), str(evtx)).exit_code == 0

    def found(text: str) -> list[str]:
        return [r["raw"] for r in jsonl(cli("search", text, "-f", "jsonl").stdout)]

    assert found("JOB_42") == [log.read_text().splitlines()[0]]  # case-insensitive; _ is not a wildcard
    assert found("100%") == [log.read_text().splitlines()[0]]  # % is not a wildcard
    assert len(found("finished")) == 2
    generated = jsonl(cli("search", "LOGON WAS ATTEMPTED using explicit", "-n", "0", "-f", "jsonl").stdout)
    assert generated and all("logon was attempted" not in r["raw"].lower() for r in generated)  # message only


def test_memory_limit_from_config_caps_duckdb_and_bad_values_are_named(cli, tmp_path, monkeypatch):
    from auditctl.access.session import open_reader
    from auditctl.config import load_config

    config = tmp_path / "c.yaml"
    config.write_text(f"db: {cli.db}\nmemory_limit: 300MB\n")
    monkeypatch.setenv("AUDITCTL_CONFIG", str(config))
    assert cli("ingest", str(AUTH)).exit_code == 0
    store, _ = open_reader(load_config(config), None)
    with store:
        assert store.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == "286.1 MiB"
    config.write_text(f"db: {cli.db}\nmemory_limit: lots\n")
    result = cli("search")
    assert result.exit_code == ExitCode.ERROR and "memory_limit 'lots'" in result.output
