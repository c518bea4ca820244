"""The review report: every section's numbers on planted data, the same facts in Markdown,
self-contained HTML with charts, the diff against the previous report, exit codes, and the
crontab and systemd examples of docs/guides/reports.md run as written."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from auditctl.errors import ExitCode
from auditctl.report.build import period_range
from events import T0, added, created, deleted, fail, ok, sudo
from support import ROOT, SAMPLES

DAY = timedelta(days=1)


def day_one() -> list[str]:
    lines = [ok(i * 600, user="alice", ip="10.0.0.5", host="web2") for i in range(3)]  # web2 then goes quiet
    lines += [fail(3600 + i * 5, user="root", ip="203.0.113.66") for i in range(10)]
    lines += [created(7200, "bob"), added(7260, "bob", "sudo"), sudo(7300, user="alice"),
              f"{(T0 + timedelta(seconds=7400)).strftime('%Y-%m-%dT%H:%M:%SZ')} web1 passwd[9]: "
              "pam_unix(passwd:chauthtok): password changed for bob",
              ok(30000, user="alice", ip="10.0.0.5"), ok(80000, user="alice", ip="10.0.0.5"),
              sudo(150000, user="alice", host="web1"), sudo(2 * 86400 - 3600, user="alice", host="web1")]  # web1 keeps talking
    lines.append("this line is in no known format")
    return lines


def day_two() -> list[str]:
    base = 86400
    return [created(base + 100, "carol"), added(base + 160, "carol", "wheel"), deleted(base + 200, "bob"),
            ok(base + 300, user="carol", ip="198.51.100.5"), ok(base + 400, user="alice", ip="10.0.0.5")]


@pytest.fixture
def env(tmp_path, monkeypatch):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"signing_key: {tmp_path / 'k.key'}\nkey_name: reporter\n")
    monkeypatch.setenv("AUDITCTL_CONFIG", str(cfg))
    return tmp_path


def report_json(cli, since: datetime, until: datetime, *extra: str) -> dict:
    result = cli("report", "--since", since.isoformat(), "--until", until.isoformat(), "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def first(cli, env):
    log = env / "auth.log"
    log.write_text("\n".join(day_one()) + "\n")
    assert cli("ingest", str(log)).exit_code == 0
    return report_json(cli, T0, T0 + 2 * DAY)  # two days: web2's silence (> 24 h) ends inside it


def test_every_section_on_planted_data(first):
    doc = first
    cov = doc["coverage"]
    # 21 stamped events in the period, and the unparsed line, which takes its neighbour's time
    assert cov["events"] == 22 and cov["hosts"] == 2 and cov["by_host"] == {"web1": 18, "web2": 3, "(no host)": 1}
    assert cov["by_category"] == {"authentication": 15, "privileged_action": 3, "user_management": 2,
                                  "permission_change": 1, "other": 1}
    assert sorted(cov["per_day"]) == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert sum(sum(d.values()) for d in cov["per_day"].values()) == 22
    um = doc["user_management"]
    assert um["by_action"] == {"user_created": 1, "password_changed": 1}
    assert [(e["action"], e["target"]) for e in um["events"]] == [("user_created", "bob"), ("password_changed", "bob")]
    perm = doc["permission_changes"]
    assert perm["count"] == 1 and perm["admin_grants"] == 1
    assert perm["events"][0]["admin"] is True and perm["events"][0]["role"] == "sudo"
    auth = doc["authentication"]
    assert (auth["logins"], auth["failed_logins"], auth["users"]) == (5, 10, 1)
    assert auth["top_failing_sources"][0]["value"] == "203.0.113.66" and auth["top_failing_sources"][0]["failures"] == 10
    assert auth["top_failing_users"][0]["value"] == "root"
    assert auth["over_time"]["bucket"] == "hour" and sum(p["failures"] for p in auth["over_time"]["points"]) == 10
    assert doc["privileged_actions"]["count"] == 3 and doc["privileged_actions"]["by_actor"][0]["actor"] == "alice"
    rules = {i["rule"]: i for i in doc["findings"]["items"]}
    assert rules["auth.failed-login-burst.ip"]["count"] == 10 and rules["auth.failed-login-burst.ip"]["severity"] == "high"
    assert rules["auth.failed-login-burst.ip"]["evidence"][0]["action"] == "login"
    assert rules["iam.admin-granted"]["group"] == {"actor": None, "target": "bob", "role": "sudo"}
    assert doc["silent_sources"] == []  # web2 sent 3 events: no rhythm to miss (see test_silence)
    assert doc["changes_since_previous"]["baseline"] is True
    integ = doc["integrity"]
    assert integ["intact"] and integ["checkpoint"]["tree_size"] == 22 and len(integ["checkpoint"]["root"]) == 64
    assert integ["checkpoint"]["note"].splitlines()[1] == "22"
    assert [(Path(u["source"]).name, u["unparsed"]) for u in doc["unparsed"]] == [("auth.log", 1)]
    s = doc["summary"]
    assert (s["failed_logins"], s["admin_grants"], s["silent_sources"], s["unparsed"], s["tree_size"]) == (10, 1, 0, 1, 22)


def test_markdown_states_the_same_facts(cli, first):
    md = cli("report", "--since", T0.isoformat(), "--until", (T0 + 2 * DAY).isoformat(), "--format", "md").stdout
    for fact in ("# Audit log review: 2026-03-02 10:00:00 to 2026-03-04 10:00:00 UTC", "**intact**",
                 f"root `{first['integrity']['checkpoint']['root']}`", "10 failed logins", "| 203.0.113.66 | 10 |",
                 "**ADMIN** group_member_added", "| bob |", "auth.failed-login-burst.ip",
                 "## Changes since the previous report", "## Coverage gaps: unparsed records"):
        assert fact in md, fact


class _Balance(HTMLParser):
    VOID = {"meta", "br", "img", "hr", "input", "link", "rect", "line", "circle", "path"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def test_html_is_well_formed_self_contained_and_has_charts(cli, first, env):
    out = env / "reports" / "review.html"
    result = cli("report", "--since", T0.isoformat(), "--until", (T0 + 2 * DAY).isoformat(), "--format", "html",
                 "--output", str(out))
    assert result.exit_code == 0 and "wrote" in result.output
    html = out.read_text()
    checker = _Balance()
    checker.feed(html)
    checker.close()
    assert checker.stack == [] and html.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?://|//cdn|<script|<link|@import|url\(", html, re.I)
    assert not any(k in ("src", "href") for k, _ in checker.attrs)
    assert checker.tags.count("svg") == 2 and checker.tags.count("rect") > 10
    assert "Events per day by category" in html and "Logins per hour" in html
    assert 'class="sev high"' in html and "@media print" in html and "203.0.113.66" in html


def test_second_report_lists_only_changes_since_the_first(cli, first, env):
    log2 = env / "auth2.log"
    log2.write_text("\n".join(day_two()) + "\n")
    cli("ingest", str(log2))
    doc = report_json(cli, T0 + DAY, T0 + 2 * DAY)
    c = doc["changes_since_previous"]
    assert c["baseline"] is False and c["previous_report"]
    assert c["new_admins"] == [{"account": "carol", "role": "wheel"}]
    assert c["new_accounts"] == ["carol"] and c["accounts_gone"] == ["bob"]
    assert c["new_admin_sources"] == [{"account": "carol", "src_ip": "198.51.100.5"}]
    assert c["admins_removed"] == []
    assert doc["user_management"]["by_action"] == {"user_created": 1, "user_deleted": 1}
    third = report_json(cli, T0 + DAY, T0 + 2 * DAY)  # nothing happened since the second
    assert (third["changes_since_previous"]["new_admins"], third["changes_since_previous"]["new_accounts"],
            third["changes_since_previous"]["new_admin_sources"]) == ([], [], [])


def test_fail_on_exits_3_after_writing(cli, env):
    log = env / "auth.log"
    log.write_text("\n".join(day_one()) + "\n")
    out = env / "r.md"
    result = cli("report", "--since", T0.isoformat(), "--until", (T0 + DAY).isoformat(), "--ingest", str(log),
                 "--output", str(out), "--fail-on", "high")
    assert result.exit_code == ExitCode.FINDINGS and out.read_text().startswith("# Audit log review")
    again = cli("report", "--since", T0.isoformat(), "--until", (T0 + DAY).isoformat(), "--fail-on", "high")
    assert again.exit_code == 0  # nothing new since: the findings were reported already


def test_bad_options(cli, env):
    assert cli("report", "--format", "pdf").exit_code == ExitCode.USAGE
    assert cli("report", "--period", "year").exit_code == ExitCode.USAGE
    assert cli("report", "--since", "2026-02-01", "--until", "2026-01-01").exit_code == ExitCode.USAGE
    assert cli("report", "--fail-on", "dire").exit_code == ExitCode.USAGE


def test_period_ranges():
    now = datetime(2026, 3, 11, 6, 0, tzinfo=UTC)  # a Wednesday
    assert period_range("day", now, UTC) == (datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC))
    assert period_range("week", now, UTC) == (datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC))
    assert period_range("month", now, UTC) == (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    from zoneinfo import ZoneInfo
    since, _ = period_range("day", now, ZoneInfo("America/New_York"))
    assert since == datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # local midnight (EDT from March 8)


# -- the report guide's scheduling examples, run as written ------------------------------

README = (ROOT / "docs" / "guides" / "reports.md").read_text()  # the report guide's examples


def _example(name: str) -> str:
    m = re.search(rf"<!-- example:{name} -->\n```[a-z]*\n(.*?)```", README, re.S)
    assert m, f"example {name} missing from docs/guides/reports.md"
    return m.group(1)


def _sandboxed(command: str, tmp: Path) -> str:
    """The README's paths pointed at a scratch directory: the command itself is unchanged."""
    return (command.replace("/var/log/", f"{tmp}/var/log/").replace("/var/lib/auditctl/", f"{tmp}/var/lib/auditctl/"))


def _run_shell(command: str, tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": str(tmp),
           "AUDITCTL_CONFIG": str(tmp / "config.yaml"), "AUDITCTL_DB": str(tmp / "audit.duckdb")}
    (tmp / "config.yaml").write_text(f"signing_key: {tmp / 'k.key'}\n")
    (tmp / "var" / "log" / "audit").mkdir(parents=True)
    shutil.copy(ROOT / "sample_logs" / "syslog" / "auth.log", tmp / "var" / "log" / "auth.log")
    shutil.copy(ROOT / "sample_logs" / "auditd" / "audit.log", tmp / "var" / "log" / "audit" / "audit.log")
    (tmp / "var" / "lib" / "auditctl" / "reports").mkdir(parents=True)
    return subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("which", ["daily", "weekly"])
def test_crontab_lines_run_as_written(tmp_path, which):
    lines = [ln for ln in _example("crontab").splitlines() if ln.strip() and not ln.startswith("#")]
    line = next(ln for ln in lines if (which == "daily") == (ln.split()[4] == "*"))
    fields = line.split(None, 5)
    assert fields[:2] == ["0", "6"]
    command = fields[5].replace("\\%", "%")  # cron's escaping of % in the command field
    result = _run_shell(_sandboxed(command, tmp_path), tmp_path)
    assert result.returncode in (0, ExitCode.FINDINGS), result.stderr
    written = list((tmp_path / "var" / "lib" / "auditctl" / "reports").iterdir())
    assert len(written) == 1 and written[0].stat().st_size > 1000


def test_systemd_units_run_as_written(tmp_path):
    service, timer = _example("systemd-service"), _example("systemd-timer")
    assert "OnCalendar=Mon *-*-* 06:00:00" in timer and "Persistent=true" in timer
    exec_start = next(ln.split("=", 1)[1] for ln in service.splitlines() if ln.startswith("ExecStart="))
    assert exec_start.startswith("/usr/local/bin/auditctl ")
    command = exec_start.replace("/usr/local/bin/auditctl", "auditctl", 1)
    result = _run_shell(_sandboxed(command, tmp_path), tmp_path)
    assert result.returncode in (0, ExitCode.FINDINGS), result.stderr
    assert any((tmp_path / "var" / "lib" / "auditctl" / "reports").iterdir())
    if shutil.which("systemd-analyze"):
        check = subprocess.run(["systemd-analyze", "calendar", "Mon *-*-* 06:00:00"], capture_output=True, text=True)
        assert check.returncode == 0


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="optional: Debian's chromium package is not installed")
def test_html_report_renders_in_headless_chromium(cli, first, env):
    out = env / "review.html"
    cli("report", "--since", T0.isoformat(), "--until", (T0 + DAY).isoformat(), "--format", "html", "--output", str(out))
    shot = env / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={env / 'chrome'}",
                    "--window-size=1200,2400", f"--screenshot={shot}", out.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000  # a blank page is a few KB


def test_evidence_is_the_first_five_events_of_each_finding_in_time_order(cli, env):
    for sample in ("incident.log", "auth.log"):
        assert cli("ingest", str(SAMPLES / "syslog" / sample)).exit_code == 0
    doc = json.loads(cli("report", "--since", "2000-01-01", "--format", "json").stdout)
    items = doc["findings"]["items"]
    assert len(items) > 5 and any(i["count"] > 5 for i in items)
    for item in items:
        events = json.loads(cli("search", "--finding", str(item["id"]), "-n", "0", "-f", "json").stdout)
        expected = [e["seq"] for e in sorted(events, key=lambda e: (e["ts"], e["seq"]))[:5]]
        assert [e["seq"] for e in item["evidence"]] == expected, item["rule"]


def test_a_report_run_out_of_order_is_not_compared_with_a_later_period(cli, env):
    """A report over an earlier period, generated after one over a later period, has no earlier
    state to compare with: it must not list the later period's accounts as 'new'."""
    log = env / "auth.log"
    log.write_text("\n".join(day_one() + day_two()) + "\n")
    assert cli("ingest", str(log)).exit_code == 0
    later = report_json(cli, T0 + DAY, T0 + 2 * DAY)
    assert later["changes_since_previous"]["baseline"] is True
    earlier = report_json(cli, T0, T0 + DAY)
    c = earlier["changes_since_previous"]
    assert c["baseline"] is True and c["new_accounts"] == [] and c["accounts_gone"] == []
    again = report_json(cli, T0 + DAY, T0 + 2 * DAY)  # compared with the earlier period's report, named
    c = again["changes_since_previous"]
    assert c["baseline"] is False and c["previous_period"] == {"since": T0.isoformat(), "until": (T0 + DAY).isoformat()}
    assert c["new_accounts"] == ["carol"] and c["accounts_gone"] == ["bob"]
    md = cli("report", "--since", (T0 + DAY).isoformat(), "--until", (T0 + 2 * DAY).isoformat(), "--format", "md")
    assert f"Compared with the report for {(T0 + DAY).strftime('%Y-%m-%d')}" in md.output
