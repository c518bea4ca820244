"""What people see: terminal tables that say what they leave out, capped finding lists, and
`--user` finding every event that names a person. Through the CLI, on real logs."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from auditctl.cli.app import app
from auditctl.cli.commands_search import TABLE_COLUMNS
from auditctl.cli.output import elide_middle, render_table
from support import CORPUS

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="needs the shared corpus (AUDITCTL_TEST_CORPUS)")


def corpus_path(rel: str) -> Path:
    return CORPUS / rel


AUTH_DIR = "elastic-beats-2019/filebeat/module/system/auth/test"
RUNAS = ("yamato-hayabusa-sample-evtx/EVTX-to-MITRE-Attack/TA0004-Privilege Escalation/"
         "T1134-Access Token Manipulation/ID4648-4624-RunAsCS login.evtx")


class Shell:
    """auditctl at a terminal of a given width (COLUMNS), against one database."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def __call__(self, *args: str, width: int = 200):
        env = {"COLUMNS": str(width), **{k: v for k, v in os.environ.items() if k.startswith("AUDITCTL")}}
        result = CliRunner().invoke(app, ["--db", str(self.db), *args], env=env)
        assert result.exit_code in (0, 3), result.output
        return result.stdout


@pytest.fixture
def shell(db: Path) -> Shell:
    return Shell(db)


@pytest.fixture
def secure_log(shell: Shell) -> Shell:
    log = corpus_path(f"{AUTH_DIR}/secure-rhel7.log")
    shell("ingest", "--year", "2018", str(log))
    return shell


def _header(out: str) -> list[str]:
    line = next(ln for ln in out.splitlines() if ln.strip().startswith(("seq", "ts")))
    return line.split()


def _left_out(out: str) -> list[str]:
    flat = " ".join(out.split())
    m = re.search(r"columns left out: (.*?); widen the terminal or use --format json", flat)
    return m.group(1).split(", ") if m else []


@pytest.mark.parametrize("width", [80, 100, 120, 200])
def test_search_table_fits_and_names_every_column_it_leaves_out(secure_log, width):
    out = secure_log("search", "--format", "table", "--limit", "20", "--action", "login", width=width)
    assert max(len(line) for line in out.splitlines()) <= width
    shown, left_out = _header(out), _left_out(out)
    assert sorted(shown + left_out) == sorted(TABLE_COLUMNS), (shown, left_out)
    assert {"ts", "action", "outcome", "actor", "message"} <= set(shown)
    if width >= 120:  # the columns the issue saw vanish silently
        assert {"host", "src_ip"} <= set(shown)
    if width == 200:
        assert left_out == []


@pytest.mark.parametrize("width", [80, 120])
def test_messages_wrap_instead_of_being_cut(secure_log, width):
    rows = json.loads(secure_log("search", "--format", "json", "--action", "login", "--limit", "5"))
    out = secure_log("search", "--format", "table", "--action", "login", "--limit", "5", width=width)
    words = " ".join(out.split())
    for row in rows:
        for word in row["message"].split():  # every word is there, none replaced by an ellipsis
            assert word in words or len(word) > 20, word
    assert "…" not in out


def test_null_and_empty_text_read_differently():
    console = Console(width=60, record=True, color_system=None)
    render_table([{"host": None, "actor": ""}, {"host": "web1", "actor": "alice"}], ["host", "actor"],
                 console=console)
    lines = console.export_text().splitlines()
    assert lines[2].split() == ["·", '""']
    assert lines[3].split() == ["web1", "alice"]


def test_paths_lose_their_middle_so_file_names_stay_apart(shell):
    for name in ("test.log", "secure-rhel7.log", "auth-ubuntu1204.log"):
        shell("ingest", "--year", "2018", str(corpus_path(f"{AUTH_DIR}/{name}")))
    narrow = shell("stats", "--by", "source", "--format", "table", width=80)
    assert max(len(line) for line in narrow.splitlines()) <= 80
    cells = {line.split()[0] for line in narrow.splitlines() if line.startswith("/")}
    assert len(cells) == 3 and all("…" in cell and cell.endswith(".log") for cell in cells)
    out = shell("stats", "--by", "source", "--format", "table", width=100)
    for name in ("/test/test.log", "/secure-rhel7.log", "/auth-ubuntu1204.log"):
        assert name in out
    top = "/" + corpus_path(AUTH_DIR).resolve().parts[1]
    assert out.count("…") == 3 and top in out
    assert elide_middle("/var/log/nginx/archive/2026/auth.log.1", 21) == "/var/log/…/auth.log.1"
    assert elide_middle("/var/log/nginx/archive/2026/auth.log.1", 26).endswith("…/2026/auth.log.1")
    assert elide_middle("/var/log/nginx/archive/2026/auth.log.1", 26).startswith("/var/log")


def test_stats_says_when_limit_left_rows_out(secure_log):
    out = secure_log("stats", "--by", "action", "--limit", "2", "--format", "table")
    assert "more rows left out by --limit 2" in " ".join(out.split())
    assert "left out" not in secure_log("stats", "--by", "action", "--format", "table")


# -- --user: every field that names a person ----------------------------------------------

def test_user_finds_the_private_group_of_the_user(shell):
    """useradd tsg on Ubuntu writes three `group ... name=tsg` lines with tsg in role only."""
    shell("ingest", "--year", "2018", str(corpus_path(f"{AUTH_DIR}/auth-ubuntu1204.log")))
    rows = [json.loads(x) for x in shell("search", "--user", "tsg", "--limit", "0", "--format", "jsonl").splitlines()]
    group_rows = [r for r in rows if r["action"] == "group_created"]
    assert len(group_rows) == 3 and {r["role"] for r in group_rows} == {"tsg"}
    assert all(r["actor"] != "tsg" and r["target"] != "tsg" for r in group_rows)
    as_group = [json.loads(x) for x in shell("search", "--group", "tsg", "--limit", "0", "--format", "jsonl").splitlines()]
    assert as_group and all(r["role"] == "tsg" for r in as_group)
    by_actor = shell("search", "--actor", "tsg", "--limit", "0", "--format", "jsonl")
    assert "group_created" not in by_actor


def test_user_finds_the_windows_subject_of_a_logon(shell):
    """RunAsCs: admmig started a logon as test10; the 4624 has actor test10, admmig in attrs."""
    shell("ingest", str(corpus_path(RUNAS)))
    rows = [json.loads(x) for x in shell("search", "--user", "admmig", "--limit", "0", "--format", "jsonl").splitlines()]
    logons = [r for r in rows if r["original_action"] == "4624"]
    assert logons and all(r["actor"] == "test10" and r["attrs"]["subject_user"] == "admmig" for r in logons)
    assert "4624" not in {json.loads(x)["original_action"] for x in
                          shell("search", "--actor", "admmig", "--limit", "0", "--format", "jsonl").splitlines()}
    counted = json.loads(shell("stats", "--by", "action", "--user", "admmig", "--format", "json"))
    assert sum(r["events"] for r in counted) == len(rows)


# -- check and findings: a capped table, complete machine formats -------------------------

RULE = """
id: test.every-login
title: Every login source
severity: low
type: match
where: {action: [login, authenticate]}
group_by: [src_ip, line]
"""


@pytest.fixture
def many_findings(shell, tmp_path) -> Shell:
    log = corpus_path(f"{AUTH_DIR}/secure-rhel7.log")
    shell("ingest", "--year", "2018", str(log))
    (tmp_path / "rules.yaml").write_text(RULE)
    shell.rules = str(tmp_path / "rules.yaml")  # type: ignore[attr-defined]
    return shell


def test_check_caps_the_table_but_not_the_machine_formats(many_findings):
    sh = many_findings
    out = sh("check", "--no-builtin", "--rules", sh.rules, "--since", "2000-01-01", "--format", "table")
    flat = " ".join(out.split())
    total = int(re.search(r"([\d,]+) finding\(s\) changed by this check", flat).group(1).replace(",", ""))
    assert total > 150
    assert f"{total - 100:,} more not shown: use --format jsonl, or --limit N (0 = all)" in flat
    assert len([ln for ln in out.splitlines() if re.match(r"\s*\d+\s+low\s", ln)]) == 100
    stored = sh("findings", "--format", "jsonl").splitlines()
    assert len(stored) == total
    listed = list(csv.DictReader(io.StringIO(sh("findings", "--format", "csv"))))
    assert len(listed) == total and listed[0]["rule"] == "test.every-login" and listed[0]["seqs"]
    table = " ".join(sh("findings", "--format", "table", "--limit", "7").split())
    assert f"{total:,} stored finding(s)" in table and f"{total - 7:,} more not shown" in table
    assert "more not shown" not in " ".join(sh("findings", "--format", "table", "--limit", "0").split())
