"""Figures an auditor can reproduce: a report over real logs from the shared corpus (the
elastic-beats auth.log and secure files), whose summary line agrees with every table under it
(Markdown, HTML and JSON), whose every figure in the docs' report guide (docs/guides/reports.md) is reproduced by
the grep or auditctl command printed next to it, that clusters one tool's lines for one
change into one row, reads well when empty, and counts findings the way `check` does."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from auditctl.cli.app import app
from auditctl.config import Config
from auditctl.detect.rules import load_rules, rule_from_dict
from auditctl.detect.runner import run_checks
from auditctl.ingest.ingester import Ingester
from auditctl.store import Store
from events import T0, at, created, deleted
from support import CORPUS, ROOT, registry

AUTH = CORPUS / "elastic-beats-2019" / "filebeat" / "module" / "system" / "auth" / "test"
LOGS = ("auth-ubuntu1204.log", "secure-rhel7.log")
PERIOD = ("--since", "2019-01-01", "--until", "2020-01-01")
EMPTY = ("--since", "2019-03-01", "--until", "2019-03-08")  # no event in the logs falls here

needs_corpus = pytest.mark.skipif(not AUTH.is_dir(), reason="shared corpus not available")


class Run:
    """auditctl in-process against one scratch store, with its own home and config."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        (tmp / "config.yaml").write_text(f"signing_key: {tmp / 'k.key'}\nkey_name: reporter\n")
        self.env = {"AUDITCTL_CONFIG": str(tmp / "config.yaml"), "AUDITCTL_DB": str(tmp / "audit.duckdb"),
                    "HOME": str(tmp / "home"), "COLUMNS": "200",
                    **{k: str(tmp / k.lower()) for k in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME",
                                                         "XDG_CACHE_HOME")}}

    def __call__(self, *args: str) -> str:
        result = CliRunner().invoke(app, list(args), env=self.env)
        assert result.exit_code == 0, result.output
        return result.stdout


@pytest.fixture(scope="session")
def corpus_run(tmp_path_factory) -> tuple[Run, dict[str, Any]]:
    """The corpus ingested once, and one report of each format over it (and over an empty week)."""
    if not AUTH.is_dir():
        pytest.skip("shared corpus not available")
    run = Run(tmp_path_factory.mktemp("figures"))
    run("ingest", "--year", "2019", *(str(AUTH / name) for name in LOGS))
    out = {"json": json.loads(run("report", *PERIOD, "--format", "json")),
           "md": run("report", *PERIOD, "--format", "md"), "html": run("report", *PERIOD, "--format", "html"),
           "empty_md": run("report", *EMPTY, "--format", "md"), "empty_html": run("report", *EMPTY, "--format", "html"),
           "empty_json": json.loads(run("report", *EMPTY, "--format", "json"))}
    return run, out


# -- Markdown parsing ---------------------------------------------------------------------------

def sections(md: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", md, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table in `text`: rows of cells, the header row first."""
    found, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            if not line.startswith("|---"):
                current.append([c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]])
        elif current:
            found.append(current)
            current = []
    return found


def num(pattern: str, text: str) -> int:
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in {text[:400]!r}"
    return int(m.group(1).replace(",", ""))


def column_sum(table: list[list[str]], column: str) -> int:
    i = table[0].index(column)
    return sum(int(r[i].replace(",", "")) for r in table[1:])


def distinct_values(table: list[list[str]], unlabelled: str) -> int:
    """Rows that are values, plus the N of a "(N others)" row; not the "(no ...)" row."""
    n = 0
    for row in table[1:]:
        m = re.fullmatch(r"\((\d+) other.*\)", row[0])
        n += int(m.group(1)) if m else (0 if row[0] == unlabelled else 1)
    return n


@needs_corpus
def test_markdown_summary_line_and_tables_agree(corpus_run):
    md = corpus_run[1]["md"]
    sec = sections(md)
    summary = sec["Summary"]
    events = num(r"- ([\d,]+) events", summary)
    cov = sec["Period and data covered"]
    category, host, source, per_day = tables(cov)
    for table in (category, host, source):
        assert column_sum(table, "events") == events
    assert sum(sum(int(c) for c in row[1:]) for row in per_day[1:]) == events
    assert distinct_values(host, "(no host)") == num(r"on (\d+) hosts", summary) == num(r"on (\d+) hosts", cov)
    assert distinct_values(source, "") == num(r"from (\d+) sources", summary)
    no_host = [int(r[1]) for r in host[1:] if r[0] == "(no host)"]
    assert no_host == [num(r"([\d,]+) events name no host", cov)]
    assert "" not in [r[0] for r in host[1:]]  # a blank host is no row of its own

    um = sec["User management changes"]
    (changes,) = tables(um)
    assert len(changes) - 1 == num(r"([\d,]+) user management changes", summary) == num(r"(\d+) change\(s\)", um)
    assert column_sum(changes, "lines") == num(r"in (\d+) log line", um)

    auth = sec["Authentication"]
    by_ip, by_user, other = tables(auth)
    failed = num(r"([\d,]+) failed logins", summary)
    assert failed == num(r"([\d,]+) failed logins", auth) == column_sum(by_ip, "failed logins") == column_sum(by_user, "failed logins")
    assert distinct_values(by_ip, "(no source IP)") == num(r"from (\d+) source IPs", auth)
    assert distinct_values(by_user, "(no user)") == num(r"against (\d+) users", auth)
    assert column_sum(other, "failures") == num(r"([\d,]+) other authentication failures", summary) \
        == num(r"([\d,]+) other authentication failures", auth)
    assert num(r"([\d,]+) successful logins", summary) == num(r"([\d,]+) successful logins", auth)

    priv = sec["Privileged actions"]
    assert column_sum(tables(priv)[0], "actions") == num(r"([\d,]+) privileged actions", summary)

    fnd = sec["Findings"]
    total = num(r"- (\d+) findings", summary)
    assert total == num(r"(\d+) finding\(s\) active", fnd) == len(re.findall(r"^- \*\*", fnd, re.M))
    for n, sev in re.findall(r"(\d+) (critical|high|medium|low|info)", summary.split("findings:")[1].splitlines()[0]):
        assert int(n) == num(rf"### {sev.upper()} \((\d+)\)", fnd) == len(re.findall(
            r"^- \*\*", fnd.split(f"### {sev.upper()}")[1].split("###")[0], re.M))

    silent = sec["Sources that went silent"]
    assert len(tables(silent)[0]) - 1 == num(r"(\d+) silent sources", summary)
    assert num(r"([\d,]+) unparsed records", summary) == 0 and "No unparsed records between" in sec["Coverage gaps: unparsed records"]


@needs_corpus
def test_json_summary_and_sections_agree(corpus_run):
    doc = corpus_run[1]["json"]
    s, cov, a = doc["summary"], doc["coverage"], doc["authentication"]
    for key in ("by_category", "by_host", "by_source"):
        assert sum(cov[key].values()) == s["events"] == cov["events"]
    assert sum(sum(d.values()) for d in cov["per_day"].values()) == s["events"]
    for key in ("top_failing_sources", "top_failing_users"):
        assert sum(r["failures"] for r in a[key]) == s["failed_logins"] == a["failed_logins"]
    assert sum(r["failures"] for r in a["other_failures_by_kind"]) == s["other_auth_failures"]
    assert len(doc["user_management"]["events"]) == s["user_management_changes"]
    assert sum(e["lines"] for e in doc["user_management"]["events"]) == doc["user_management"]["lines"]
    assert sum(r["actions"] for r in doc["privileged_actions"]["by_actor"]) == s["privileged_actions"]
    assert len(doc["findings"]["items"]) == s["findings"] == sum(s["findings_by_severity"].values())
    assert len(doc["silent_sources"]) == s["silent_sources"]
    assert sum(r["unparsed"] for r in doc["unparsed"]) == s["unparsed"]


@needs_corpus
def test_html_cards_are_the_json_summary(corpus_run):
    html, s = corpus_run[1]["html"], corpus_run[1]["json"]["summary"]
    cards = dict((label, int(v.replace(",", ""))) for v, label in re.findall(r'<div class="card"><b>([\d,]+)</b>([^<]+)</div>', html))
    assert cards["failed logins"] == s["failed_logins"] and cards["events"] == s["events"]
    assert cards["user mgmt changes"] == s["user_management_changes"] and cards["findings"] == s["findings"]


@needs_corpus
def test_failed_logins_are_login_attempts_only(corpus_run):
    """secure-rhel7.log holds 352 `Failed password for root` lines, each followed by PAM's
    `requirement "uid >= 1000" not met` (351) and now and then pam_unix's `authentication
    failure` and summary lines: the report counted 868 failures for root before."""
    a = corpus_run[1]["json"]["authentication"]
    raw = (AUTH / "secure-rhel7.log").read_text()
    assert a["failed_logins"] == raw.count("Failed password for root") == 352
    assert a["top_failing_users"] == [{"value": "root", "failures": 352, "first": "2019-02-22T16:45:20+00:00",
                                       "last": "2019-02-22T17:04:48+00:00"}]
    kinds = {r["value"]: r["failures"] for r in a["other_failures_by_kind"]}
    assert kinds["pam_succeed_if(sshd:auth) requirement not met"] == raw.count('requirement "uid >= 1000" not met')
    assert "Failed password" not in kinds


@needs_corpus
def test_groupadd_lines_are_one_change(corpus_run):
    """groupadd writes three lines per group (/etc/group, /etc/gshadow, new group): one row
    each, with the three lines' seqs as its evidence."""
    run, out = corpus_run
    rows = [(e["action"], e["target"] or e["role"], e["lines"]) for e in out["json"]["user_management"]["events"]]
    assert rows == [("group_created", "tsg", 3), ("user_created", "tsg", 1), ("password_changed", "tsg", 1), ("user_modified", "tsg", 1),
                    ("group_created", "mysql", 3), ("user_created", "mysql", 1), ("user_modified", "mysql", 1),
                    ("user_modified", "mysql", 1)]  # chage, then chfn: two programs, two changes
    tsg = out["json"]["user_management"]["events"][0]
    lines = [json.loads(x)["message"] for x in run("search", "groupadd", "--host", "precise32", "-f", "jsonl",
                                                    "--limit", "0").splitlines()]
    assert lines[:3] == ["group added to /etc/group: name=tsg, GID=1003", "group added to /etc/gshadow: name=tsg",
                         "new group: name=tsg, GID=1003"]
    assert len(tsg["seqs"]) == 3


@needs_corpus
def test_silence_is_named_by_the_hosts_last_event(corpus_run):
    """precise32 logs from Feb 9 to Feb 16 (hundreds of events on 8 days), is quiet until
    Feb 21, then logs again: one silence, from its last line before the gap to its next line
    (by hand from the log below); slave22 (one day of logs) and the blank host are no sources."""
    text = (AUTH / "auth-ubuntu1204.log").read_text().splitlines()
    first_21 = next(i for i, ln in enumerate(text) if ln.startswith("Feb 21 "))
    assert text[first_21 - 1].startswith("Feb 16 06:04:36") and text[first_21].startswith("Feb 21 20:53:59")
    silent = corpus_run[1]["json"]["silent_sources"]
    assert [(x["group"], x["last_event"], x["next_event"]) for x in silent] == [
        ({"host": "precise32"}, "2019-02-16T06:04:36+00:00", "2019-02-21T20:53:59+00:00")]


def readme_figures() -> list[tuple[str, str]]:
    """The figures table of the report guide, which once lived in the README."""
    readme = (ROOT / "docs" / "guides" / "reports.md").read_text()
    block = readme.split("<!-- example:report-figures -->", 1)[1].split("\n\n", 1)[0]
    rows = [r for r in tables(block)[0][1:]]
    return [(r[0].strip("`"), r[2].strip("`")) for r in rows]


def _at(doc: Any, path: str) -> Any:
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        doc = doc[int(part[1:-1])] if part.startswith("[") else doc[part]
    return doc


@needs_corpus
def test_every_readme_figure_is_reproduced_by_its_command(corpus_run):
    run, out = corpus_run
    figures = readme_figures()
    assert len(figures) >= 30  # every headline figure and the first rows of its tables
    env = {**os.environ, **run.env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT / "src"), "L": " ".join(LOGS)}
    for path, command in figures:
        expected = _at(out["json"], path)
        got = subprocess.run(["bash", "-c", command], cwd=AUTH, env=env, capture_output=True, text=True, timeout=120)
        assert got.returncode == 0 and got.stdout.strip() == str(expected), (path, command, got.stdout, got.stderr)


@needs_corpus
def test_an_empty_period_reads_well(corpus_run):
    out = corpus_run[1]
    md, html, doc = out["empty_md"], out["empty_html"], out["empty_json"]
    between = "between 2019-03-01 00:00:00 and 2019-03-08 00:00:00 UTC."
    for text in (md, html):
        assert "( to )" not in text and "_none_" not in text and ">none<" not in text
        for what in ("events", "user management changes", "permission changes", "logins or authentication failures",
                     "privileged actions", "findings", "unparsed records"):
            assert f"No {what} {between}" in text, what
        assert f"No source with a regular rhythm went silent {between}" in text
    assert doc["summary"]["events"] == 0 and doc["coverage"]["per_day"] == {} and doc["coverage"]["first_event"] is None


def test_check_and_report_count_the_same_findings(tmp_path):
    """check lists the findings it created or updated; the report lists every finding active
    in the period and says which are new, updated, or from an earlier check: the same total."""
    run = Run(tmp_path)
    log = tmp_path / "auth.log"
    log.write_text("\n".join([created(0, "tmp1"), deleted(120, "tmp1")]
                             + [f"{at(300 + i * 5)} web1 sshd[9]: Failed password for root from 203.0.113.9 port 22 ssh2"
                                for i in range(10)]) + "\n")
    run("ingest", str(log))
    span = ("--since", T0.isoformat(), "--until", (T0.replace(hour=23)).isoformat())
    checked = run("check", *span, "-f", "table")
    assert re.search(r"3 finding\(s\) changed by this check: 3 new, 0 updated", checked), checked
    again = run("check", *span, "-f", "table")
    assert "0 finding(s) changed by this check: 0 new, 0 updated" in again
    doc = json.loads(run("report", *span, "--format", "json"))
    assert doc["findings"]["counts"] == {"total": 3, "new": 0, "updated": 0, "earlier": 3}
    md = run("report", *span, "--format", "md")
    assert "3 finding(s) active in the period: 0 new and 0 updated by this report's check, 3 from earlier checks." in md
    assert len(run("findings", "-f", "jsonl").splitlines()) == 3


def _store(tmp_path: Path, lines: list[str]) -> Store:
    log = tmp_path / "events.log"
    log.write_text("\n".join(lines) + "\n")
    store = Store.open(tmp_path / "s.duckdb")
    Ingester(store, registry(), Config(db=tmp_path / "s.duckdb")).ingest([str(log)])
    return store


def test_rules_count_usermods_group_and_shadow_lines_as_one_grant(tmp_path):
    """usermod -aG writes `add 'u' to group 'g'` and `add 'u' to shadow group 'g'`: the admin
    rule finds one grant with both lines; a threshold over changes counts one per user."""
    lines = []
    for i, user in enumerate(("ann", "bob")):
        lines += [f"{at(i * 30)} web1 usermod[{40 + i}]: add '{user}' to group 'sudo'",
                  f"{at(i * 30)} web1 usermod[{40 + i}]: add '{user}' to shadow group 'sudo'"]
    with _store(tmp_path, lines) as store:
        admin = next(r for r in load_rules() if r.id == "iam.admin-granted")
        found = run_checks(store, [admin], None, T0.replace(hour=23), persist=False).findings
        assert [(f.group_key["target"], f.seqs) for f in found] == [("ann", [1, 2]), ("bob", [3, 4])]
        base = {"id": "t.grants", "title": "t", "severity": "low", "type": "threshold", "count": 3, "window": "10m",
                "where": {"action": "group_member_added"}, "group_by": ["host"]}
        per_line = rule_from_dict(base, "test", 0)
        per_change = rule_from_dict({**base, "unit": "change"}, "test", 0)
        assert len(run_checks(store, [per_line], None, T0.replace(hour=23), persist=False).findings) == 1  # 4 lines
        assert run_checks(store, [per_change], None, T0.replace(hour=23), persist=False).findings == []  # 2 changes


def test_a_threshold_over_changes_keeps_every_line_as_evidence(tmp_path):
    lines = []
    for i in range(3):
        lines += [f"{at(i * 30)} web1 usermod[{40 + i}]: add 'u{i}' to group 'wheel'",
                  f"{at(i * 30)} web1 usermod[{40 + i}]: add 'u{i}' to shadow group 'wheel'"]
    with _store(tmp_path, lines) as store:
        rule = rule_from_dict({"id": "t.grants", "title": "t", "severity": "low", "type": "threshold", "count": 3,
                               "window": "10m", "where": {"action": "group_member_added"}, "group_by": ["host"],
                               "unit": "change"}, "test", 0)
        found = run_checks(store, [rule], None, T0.replace(hour=23), persist=False).findings
        assert [(f.count, f.seqs) for f in found] == [(6, [1, 2, 3, 4, 5, 6])]


@needs_corpus
def test_summary_lines_are_context_not_failures(tmp_path):
    """Lines the syslog parser marks as summaries (`attrs.summary`, `attrs.repeats`: "PAM 2
    more authentication failures", "Too many authentication failures") are neither failed
    logins nor other failures; their repeats are shown as context (the contract), on the real
    secure-rhel7.log."""
    from datetime import UTC, datetime

    from auditctl.report.build import authentication

    db = tmp_path / "s.duckdb"
    with Store.open(db) as store:
        Ingester(store, registry(), Config(db=db)).ingest([str(AUTH / "secure-rhel7.log")])
        since, until = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
        auth = authentication(store, since, until)
        authenticate_failures = store.con.execute(
            "SELECT count(*) FROM events WHERE action = 'authenticate' AND outcome = 'failure'").fetchone()[0]
    raw = (AUTH / "secure-rhel7.log").read_text()
    marked = raw.count("more authentication failures") + raw.count("Too many authentication failures")
    repeats = sum(int(n) for n in re.findall(r"PAM (\d+) more authentication failures", raw))
    assert auth["failed_logins"] == raw.count("Failed password for")
    assert (auth["summary_lines"], auth["summary_repeats"]) == (marked, repeats)
    assert auth["other_failures"] == authenticate_failures - marked
    assert sum(r["failures"] for r in auth["other_failures_by_kind"]) == auth["other_failures"]


def test_attempts_rsyslog_collapsed_are_named_not_called_restatements(tmp_path):
    """rsyslog's `$RepeatedMsgReduction on` (Ubuntu's default) writes a connection's identical
    `Failed password` lines once and then `message repeated N times: [ ... ]`: the N are further
    attempts written nowhere else, unlike PAM's "N more authentication failures", which restate
    attempts sshd logged. The failed-login figure stays a count of lines (stats and rules count
    the same), but the report must say how many attempts syslog collapsed, apart from the
    restatements, so that the figure is not read as the number of attempts."""
    from datetime import UTC, datetime

    from auditctl.report.build import authentication
    from auditctl.report.render import auth_context

    raw = ("Jan  1 00:01:12 bastion sshd[21109]: Failed password for root from 185.220.101.33 port 40188 ssh2\n"
           "Jan  1 00:01:18 bastion sshd[21109]: message repeated 3 times: [ Failed password for root from "
           "185.220.101.33 port 40188 ssh2]\n"
           "Jan  1 00:01:19 bastion sshd[21109]: Disconnecting: Too many authentication failures for root [preauth]\n"
           "Jan  1 00:01:19 bastion sshd[21109]: PAM 3 more authentication failures; logname= uid=0 euid=0 tty=ssh "
           "ruser= rhost=185.220.101.33  user=root\n"
           "Jan  1 00:02:02 bastion sshd[21120]: Failed password for invalid user admin from 185.220.101.33 port "
           "40200 ssh2\n"
           "Jan  1 00:02:09 bastion sshd[21120]: message repeated 2 times: [ Failed password for invalid user admin "
           "from 185.220.101.33 port 40200 ssh2]\n"
           "Jan  1 00:03:00 bastion sshd[21130]: message repeated 4 times: [ Accepted publickey for ops from "
           "10.0.0.5 port 50000 ssh2]\n")
    log = tmp_path / "auth.log"
    log.write_text(raw)
    db = tmp_path / "r.duckdb"
    with Store.open(db) as store:
        Ingester(store, registry(), Config(db=db)).ingest([str(log)])
        auth = authentication(store, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    assert auth["failed_logins"] == 2  # the two Failed lines
    assert (auth["summary_lines"], auth["summary_repeats"]) == (5, 12)
    assert (auth["collapsed_lines"], auth["collapsed_failed_logins"], auth["collapsed_logins"]) == (3, 5, 4)
    text = auth_context(auth)
    assert "5 further failed login attempts" in text and "in neither login figure" in text
    assert "4 further successful logins" in text
    (tmp_path / "cli").mkdir()
    run = Run(tmp_path / "cli")
    run("ingest", str(log))
    md = run("report", "--since", "2000-01-01", "--until", "2100-01-01", "--format", "md")
    doc = json.loads(run("report", "--since", "2000-01-01", "--until", "2100-01-01", "--format", "json"))
    assert doc["summary"]["collapsed_failed_logins"] == doc["authentication"]["collapsed_failed_logins"] == 5
    assert "2 failed logins (and 5 failed attempts syslog wrote only as \"message repeated\")" in md
    assert "5 further failed login attempts" in md
