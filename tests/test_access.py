"""Access levels: roles from OS identities, sealed sensitive fields, file modes, self-audit."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest
import yaml

from auditctl import roles
from auditctl.access.selfaudit import scrub_args
from auditctl.errors import ExitCode
from auditctl.roles import Identity
from support import SAMPLES

INCIDENT = SAMPLES / "syslog" / "incident.log"
AUTH = SAMPLES / "syslog" / "auth.log"
ATTACKER = "45.155.205.17"  # sshd brute force in incident.log
USERS = {
    "alice": Identity("alice", 1001, frozenset({"alice"})),  # admin by name
    "carol": Identity("carol", 1002, frozenset({"carol", "audit"})),  # auditor by group
    "victor": Identity("victor", 1003, frozenset({"victor", "staff"})),  # viewer by group
    "bob": Identity("bob", 1004, frozenset({"bob"})),  # no role
}


class Secured:
    """A database under access control, and a way to run auditctl as one of USERS."""

    def __init__(self, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
        self.db = cli.db
        self.cli = cli
        self.monkeypatch = monkeypatch
        self.config = tmp_path / "config.yaml"
        self.settings = {
            "signing_key": str(tmp_path / "keys" / "signing.key"),
            "access": {"roles": {"admin": {"users": ["alice"]}, "auditor": {"groups": ["audit"]},
                                 "viewer": {"groups": ["staff"]}}},
        }
        self.write_config()
        monkeypatch.setenv("AUDITCTL_CONFIG", str(self.config))

    def write_config(self) -> None:
        self.config.write_text(yaml.safe_dump(self.settings))

    def as_user(self, name: str, *args: str, input: str | None = None):
        self.monkeypatch.setattr(roles, "current_identity", lambda: USERS[name])
        return self.cli(*args, input=input)

    def rows(self, sql: str, path: Path | None = None) -> list[tuple]:
        con = duckdb.connect(str(path or self.db), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    @property
    def sealed_store(self) -> Path:
        return self.db.with_name(self.db.name + ".sealed")

    @property
    def spool(self) -> Path:
        return self.db.with_name(self.db.name + ".access-spool")

    def trail(self) -> list[dict]:
        """The self-audit events, as an admin sees them (this drains the spool first)."""
        assert self.as_user("alice", "checkpoint").exit_code == 0
        out = self.as_user("alice", "search", "--parser", "auditctl", "-n", "0", "-f", "json")
        return json.loads(out.stdout)


@pytest.fixture
def secured(tmp_path, cli, monkeypatch) -> Secured:
    return Secured(tmp_path, cli, monkeypatch)


def _search(secured: Secured, user: str, *args: str) -> list[dict]:
    result = secured.as_user(user, "search", "--category", "authentication", "-n", "0", "-f", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- roles ---------------------------------------------------------------------------------------

def test_roles_come_from_user_and_group_names():
    policy = roles.parse_access({"roles": {"admin": {"users": ["alice"]}, "auditor": {"groups": ["audit"]},
                                            "viewer": {"groups": ["staff", "audit"]}}}, Path("c.yaml"))
    assert roles.role_of(USERS["alice"], policy) == roles.Role.ADMIN
    assert roles.role_of(USERS["carol"], policy) == roles.Role.AUDITOR  # the highest of its roles
    assert roles.role_of(USERS["victor"], policy) == roles.Role.VIEWER
    assert roles.role_of(USERS["bob"], policy) is None
    assert roles.role_of(Identity("root", 0, frozenset()), policy) == roles.Role.ADMIN
    assert roles.role_of(USERS["bob"], roles.AccessPolicy()) == roles.Role.ADMIN  # single-user mode


def test_a_user_without_a_role_gets_nothing_and_a_clear_message(secured):
    assert secured.as_user("alice", "ingest", str(INCIDENT)).exit_code == 0
    result = secured.as_user("bob", "search")
    assert result.exit_code == ExitCode.DENIED
    assert "user bob has no auditctl role" in result.output and str(secured.config) in result.output
    assert ATTACKER not in result.stdout and "sealed:" not in result.stdout
    denied = [e for e in secured.trail() if e["actor"] == "bob"]
    assert len(denied) == 1 and denied[0]["outcome"] == "failure" and denied[0]["attrs"]["denied"] is True


def test_each_role_runs_only_its_commands(secured):
    assert secured.as_user("alice", "ingest", str(INCIDENT)).exit_code == 0
    assert secured.as_user("victor", "stats").exit_code == 0
    for command in (["verify"], ["findings"], ["export"], ["report"]):
        result = secured.as_user("victor", *command)
        assert result.exit_code == ExitCode.DENIED and "needs the auditor role" in result.output, command
    assert secured.as_user("carol", "verify").exit_code == 0
    for command in (["ingest", str(AUTH)], ["check"], ["checkpoint"], ["retention", "apply"]):
        result = secured.as_user("carol", *command)
        assert result.exit_code == ExitCode.DENIED and "needs the admin role" in result.output, command


def test_role_changes_in_the_config_take_effect_and_are_recorded(secured):
    assert secured.as_user("alice", "ingest", str(INCIDENT)).exit_code == 0
    assert secured.as_user("carol", "verify").exit_code == 0
    secured.settings["access"]["roles"]["auditor"] = {"users": []}
    secured.settings["access"]["roles"]["viewer"] = {"groups": ["staff", "audit"]}
    secured.write_config()
    assert secured.as_user("carol", "verify").exit_code == ExitCode.DENIED
    assert secured.as_user("carol", "search").exit_code == 0
    changes = [e for e in secured.trail() if e["action"] == "audit_config_changed"]
    assert [c["original_action"] for c in changes] == ["file_created", "file_changed"]
    assert changes[-1]["resource"] == str(secured.config.resolve())
    assert changes[-1]["attrs"]["sha256_before"] != changes[-1]["attrs"]["sha256_after"]


def test_role_option_lowers_but_never_raises(secured):
    assert secured.as_user("alice", "ingest", str(INCIDENT)).exit_code == 0
    assert secured.as_user("alice", "--role", "viewer", "verify").exit_code == ExitCode.DENIED
    assert secured.as_user("victor", "--role", "admin", "verify").exit_code == ExitCode.DENIED
    whoami = json.loads(secured.as_user("victor", "--role", "admin", "access", "whoami", "-f", "json").stdout)
    assert whoami["role"] == "viewer" and "verify" not in whoami["may_run"]


# -- sealed fields ----------------------------------------------------------------------------------

def test_viewer_sees_tokens_and_admin_sees_exactly_what_was_logged(secured, tmp_path):
    assert secured.as_user("alice", "ingest", str(INCIDENT)).exit_code == 0
    viewer = _search(secured, "victor")
    admin = _search(secured, "alice")
    assert len(viewer) == len(admin) > 20
    for row in viewer:
        for column in ("raw", "message", "src_ip"):
            assert row[column] is None or row[column].startswith("sealed:"), (column, row[column])
        assert row["actor"] is not None and not row["actor"].startswith("sealed:")  # not configured sensitive
    assert ATTACKER not in json.dumps(viewer)
    # the admin's view is the unsealed ingest of the same file, column for column
    plain_db = tmp_path / "plain" / "audit.duckdb"
    secured.monkeypatch.setenv("AUDITCTL_CONFIG", str(tmp_path / "none.yaml"))
    from conftest import Cli

    plain = Cli(plain_db)
    assert plain("ingest", str(INCIDENT)).exit_code == 0
    expected = json.loads(plain("search", "--category", "authentication", "-n", "0", "-f", "json").stdout)
    ignore = {"seq", "ingested_at"}
    assert [{k: v for k, v in r.items() if k not in ignore} for r in admin] == \
           [{k: v for k, v in r.items() if k not in ignore} for r in expected]


def test_equal_values_have_equal_tokens_so_viewers_can_still_count(secured):
    assert secured.as_user("alice", "ingest", str(INCIDENT)).exit_code == 0
    by_ip = json.loads(secured.as_user("victor", "stats", "--by", "src_ip", "--category", "authentication",
                                       "-f", "json").stdout)
    plain = json.loads(secured.as_user("alice", "stats", "--by", "src_ip", "--category", "authentication",
                                       "-f", "json").stdout)
    assert sorted(r["events"] for r in by_ip) == sorted(r["events"] for r in plain)
    assert any(r["src_ip"] == ATTACKER for r in plain)
    assert all(r["src_ip"] is None or r["src_ip"].startswith("sealed:") for r in by_ip)


def test_the_database_file_and_the_archive_hold_no_sensitive_plaintext(secured):
    secured.settings["retention"] = {"default": {"archive_after": "1d"}}
    secured.write_config()
    assert secured.as_user("alice", "ingest", str(INCIDENT)).exit_code == 0
    # read the files the way a curious viewer would: with DuckDB, around auditctl
    auth = secured.rows("SELECT src_ip, raw, message, attrs FROM events WHERE category = 'authentication'")
    assert auth and all(v is None or "sealed:" in str(v) for row in auth for v in row)
    every_value = secured.rows("SELECT * FROM events")
    assert ATTACKER not in repr(every_value)
    assert secured.as_user("alice", "retention", "apply").exit_code == 0
    archive = secured.db.with_name(secured.db.name + ".archive")
    parquet = sorted(archive.rglob("*.parquet"))
    assert parquet
    archived = duckdb.sql(f"SELECT * FROM read_parquet({[str(p) for p in parquet]})").fetchall()
    assert len(archived) > 20 and ATTACKER not in repr(archived)
    # and an admin still reads them in plaintext through auditctl, from the archive
    assert any(r["src_ip"] == ATTACKER for r in _search(secured, "alice"))


def test_sealed_store_is_admin_only_and_plaintext_matches_tokens(secured):
    assert secured.as_user("alice", "ingest", str(INCIDENT)).exit_code == 0
    assert stat.S_IMODE(secured.sealed_store.stat().st_mode) == 0o600
    count = secured.rows("SELECT count(*) FROM sealed WHERE src_ip = '" + ATTACKER + "'", secured.sealed_store)
    assert count[0][0] == 12
    result = secured.as_user("alice", "verify", "-f", "table")
    assert result.exit_code == 0 and "values match their signed tokens" in result.stdout


@pytest.mark.parametrize("tamper, kind", [
    ("UPDATE sealed SET src_ip = '10.9.9.9' WHERE seq = (SELECT min(seq) FROM sealed WHERE src_ip IS NOT NULL)",
     "sealed_mismatch"),
    ("DELETE FROM sealed WHERE seq = (SELECT min(seq) FROM sealed)", "sealed_missing"),
    ("INSERT INTO sealed (seq, raw) VALUES (999999, 'planted')", "sealed_orphan"),
])
def test_admin_verify_finds_a_tampered_sealed_store(secured, tamper, kind):
    assert secured.as_user("alice", "ingest", str(INCIDENT)).exit_code == 0
    con = duckdb.connect(str(secured.sealed_store))
    con.execute(tamper)
    con.close()
    result = secured.as_user("alice", "verify", "-f", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    assert kind in {p["kind"] for p in json.loads(result.stdout)["problems"]}
    assert secured.as_user("carol", "verify").exit_code == 0  # auditors cannot see the sealed store


def test_rules_group_by_sealed_fields_for_admins_and_in_cron(secured):
    assert secured.as_user("alice", "ingest", str(INCIDENT)).exit_code == 0
    assert secured.as_user("alice", "check").exit_code == 0
    stored = secured.rows("SELECT group_key FROM findings WHERE rule_id = 'auth.failed-login-burst.ip'")
    assert stored and all("sealed:" in g for (g,) in stored) and ATTACKER not in repr(stored)
    admin = json.loads(secured.as_user("alice", "findings", "--rule", "auth.failed-login-burst.ip", "-f", "json").stdout)
    auditor = json.loads(secured.as_user("carol", "findings", "--rule", "auth.failed-login-burst.ip", "-f", "json").stdout)
    assert ATTACKER in {f["group"].get("src_ip") for f in admin}
    assert len(admin) == len(auditor) and ATTACKER not in json.dumps(auditor)
    # the same findings as without access control
    plain = _plain_findings(secured)
    assert sorted((f["group"]["src_ip"], f["count"]) for f in admin) == \
           sorted((f["group"]["src_ip"], f["count"]) for f in plain if f["rule"] == "auth.failed-login-burst.ip")


def _plain_findings(secured: Secured) -> list[dict]:
    from conftest import Cli

    secured.monkeypatch.setenv("AUDITCTL_CONFIG", str(secured.config.with_name("none.yaml")))
    plain = Cli(secured.db.parent.parent / "plain" / "audit.duckdb")
    assert plain("ingest", str(INCIDENT)).exit_code == 0
    assert plain("check").exit_code == 0
    found = json.loads(plain("findings", "-f", "json").stdout)
    secured.monkeypatch.setenv("AUDITCTL_CONFIG", str(secured.config))
    return found


def test_report_reveals_for_admins_only_and_stores_no_plaintext(secured):
    assert secured.as_user("alice", "ingest", str(INCIDENT)).exit_code == 0
    admin = secured.as_user("alice", "report", "--since", "2000-01-01", "-f", "json")
    assert admin.exit_code == 0 and ATTACKER in admin.stdout and "sealed:" not in admin.stdout
    state = secured.rows("SELECT state FROM reports")
    assert state and ATTACKER not in repr(state)
    auditor = secured.as_user("carol", "report", "--since", "2000-01-01", "-f", "json")
    assert auditor.exit_code == 0, auditor.output
    assert ATTACKER not in auditor.stdout and "sealed:" in auditor.stdout
    assert secured.rows("SELECT count(*) FROM reports")[0][0] == 1  # a reader's report stores nothing


def test_retention_deletion_removes_the_plaintext_too(secured):
    secured.settings["retention"] = {"default": {"archive_after": "1d", "delete_after": "2d"}}
    secured.write_config()
    assert secured.as_user("alice", "ingest", str(INCIDENT)).exit_code == 0
    assert secured.rows("SELECT count(*) FROM sealed", secured.sealed_store)[0][0] > 0
    assert secured.as_user("alice", "retention", "apply").exit_code == 0
    assert secured.rows("SELECT count(*) FROM sealed", secured.sealed_store)[0][0] == 0
    assert secured.as_user("alice", "verify").exit_code == 0


def test_sensitivity_config_errors_name_the_entry_and_field(secured):
    secured.settings["access"]["sensitive"] = [{"where": {"category": "authentication"}, "fields": ["seq"]}]
    secured.write_config()
    result = secured.as_user("alice", "search")
    assert result.exit_code == ExitCode.USAGE
    assert "access.sensitive[0]: cannot seal seq" in result.output
    secured.settings["access"]["sensitive"] = [{"where": {"colour": "x"}, "fields": ["raw"]}]
    secured.write_config()
    assert "access.sensitive[0]: where.colour: unknown field" in secured.as_user("alice", "search").output


def test_whole_sources_can_be_sensitive(secured):
    secured.settings["access"]["sensitive"] = [{"name": "hr", "where": {"source": "*incident*"}, "fields": "all"}]
    secured.write_config()
    assert secured.as_user("alice", "ingest", str(INCIDENT), str(AUTH)).exit_code == 0
    rows = json.loads(secured.as_user("victor", "search", "-n", "0", "-f", "json").stdout)
    incident = [r for r in rows if r["source"].endswith("incident.log")]
    others = [r for r in rows if r["source"].endswith("auth.log")]
    assert incident and all(r["actor"] is None or r["actor"].startswith("sealed:") for r in incident)
    assert all(r["host"].startswith("sealed:") for r in incident)
    assert others and not any(str(r["raw"]).startswith("sealed:") for r in others)


# -- self-audit --------------------------------------------------------------------------------------

def test_every_sensitive_read_is_in_the_trail_and_the_trail_verifies(secured, tmp_path):
    assert secured.as_user("alice", "ingest", str(INCIDENT)).exit_code == 0
    secured.as_user("alice", "search", "--ip", ATTACKER)
    secured.as_user("alice", "export", "-f", "ecs", "-o", str(tmp_path / "out.ndjson"))
    secured.as_user("carol", "verify")
    secured.as_user("carol", "report", "--since", "2000-01-01", "-f", "json")
    secured.as_user("victor", "search", "--user", "root")
    secured.as_user("victor", "stats")
    assert len(list(secured.spool.iterdir())) == 4  # non-admins cannot sign: their records wait
    assert secured.as_user("carol", "verify").exit_code == 0  # the spool never makes the log unverifiable
    trail = secured.trail()
    assert not list(secured.spool.iterdir())
    seen = [(e["actor"], e["original_action"], e["role"]) for e in trail if e["category"] == "data_access"]
    assert seen == [("alice", "search", "admin"), ("alice", "export", "admin"), ("carol", "verify", "auditor"),
                    ("carol", "report", "auditor"), ("victor", "search", "viewer"), ("victor", "stats", "viewer"),
                    ("carol", "verify", "auditor")]
    search = trail[[e["original_action"] for e in trail].index("search")]
    assert search["attrs"]["args"] == ["search", "--ip", ATTACKER] and search["attrs"]["results"] == 12
    assert all(e["parser"] == "auditctl" and e["app"] == "auditctl" for e in trail)
    assert secured.as_user("carol", "verify").exit_code == 0
    report = json.loads(secured.as_user("alice", "report", "--since", "2000-01-01", "-f", "json").stdout)
    people = {a["actor"]: a["commands"] for a in report["access_log"]["by_actor"]}
    assert people["victor"] == {"search": 1, "stats": 1} and people["carol"] == {"verify": 3, "report": 1}
    assert people["alice"]["export"] == 1


def test_single_user_mode_records_nothing(cli):
    assert cli("ingest", str(INCIDENT)).exit_code == 0
    cli("search")
    assert json.loads(cli("search", "--parser", "auditctl", "-f", "json").stdout) == []


def test_arguments_are_scrubbed_of_secrets():
    assert scrub_args(["watch", "alert=webhook:https://bot:hunter2@hooks.example/x?token=abc&x=1",
                       "--api-key", "s3cr3t", "--password=pw", "api_token=t0k", "user=root"]) == [
        "watch", "alert=webhook:https://***@hooks.example/x?token=***&x=1", "--api-key", "***",
        "--password=***", "api_token=***", "user=root"]


# -- file permissions -------------------------------------------------------------------------------

def test_files_are_created_restrictive_and_looser_ones_are_reported(secured):
    assert secured.as_user("alice", "ingest", str(INCIDENT)).exit_code == 0
    secured.as_user("victor", "search")
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(secured.db) & 0o027 == 0
    assert mode(secured.sealed_store) == 0o600
    assert mode(Path(secured.settings["signing_key"])) == 0o600
    assert mode(Path(secured.settings["signing_key"]).with_name("sealing.key")) == 0o600
    assert mode(secured.spool) == 0o1730
    assert secured.as_user("alice", "access", "check").exit_code == 0
    os.chmod(secured.db, 0o644)
    os.chmod(secured.sealed_store, 0o640)
    result = secured.as_user("alice", "search")
    assert "database is open to others (mode 0644, at most 0640)" in result.output
    assert "sealed store (plaintext of sensitive fields) is open to its group" in result.output
    assert secured.as_user("alice", "access", "check").exit_code == ExitCode.ERROR
    assert secured.as_user("alice", "access", "check", "--fix").exit_code == 0
    assert mode(secured.db) == 0o640 and mode(secured.sealed_store) == 0o600


def test_auditctl_never_warns_about_files_it_wrote_itself(secured, tmp_path):
    """Everything auditctl creates (database, keys, checkpoints, archive segments and their
    manifests, deletion receipts, reports, exported checkpoints) gets the modes its own checks want."""
    secured.settings["retention"] = {"default": {"archive_after": "30d"},
                                     "policies": [{"name": "noise", "match": {"category": "system"},
                                                   "archive_after": "30d", "delete_after": "60d"}]}
    secured.write_config()
    assert secured.as_user("alice", "ingest", str(INCIDENT), str(AUTH)).exit_code == 0
    applied = secured.as_user("alice", "retention", "apply", "-f", "json")
    assert applied.exit_code == 0, applied.output
    assert "open to" not in applied.output
    archive = secured.db.with_name(secured.db.name + ".archive")
    assert list(archive.rglob("*.parquet")) and list(archive.rglob("*seg-*.json"))
    report = tmp_path / "out" / "report.json"
    assert secured.as_user("alice", "report", "--since", "2000-01-01", "-f", "json", "-o", str(report)).exit_code == 0
    assert secured.as_user("alice", "checkpoint", "--out", str(tmp_path / "out" / "cp.note")).exit_code == 0
    check = secured.as_user("alice", "access", "check")
    assert check.exit_code == 0, check.output
    later = secured.as_user("alice", "stats")
    assert later.exit_code == 0 and "warning" not in later.output, later.output
    for path in [*archive.rglob("*"), report, tmp_path / "out" / "cp.note"]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o027 == 0, path


# -- a real second OS user ------------------------------------------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("runuser"),
                    reason="needs root, useradd and runuser to create a second OS user")
def test_a_real_viewer_account_cannot_read_sensitive_content(tmp_path):
    user, group = "auditctl-test-viewer", "auditctl-test-readers"
    subprocess.run(["groupadd", "-f", group], check=True)
    if subprocess.run(["id", user], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--no-create-home", "-G", group, user], check=True)
    shared = Path(tempfile.mkdtemp(prefix="auditctl-real-user-"))  # pytest's tmp_path is root-only
    try:
        shared.chmod(0o755)
        _run_as_real_viewer(shared, user, group)
    finally:
        shutil.rmtree(shared, ignore_errors=True)
        subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["groupdel", group], capture_output=True)


def _run_as_real_viewer(tmp_path: Path, user: str, group: str) -> None:
    home = tmp_path / "srv"
    home.mkdir()
    home.chmod(0o755)
    config = home / "config.yaml"
    config.write_text(yaml.safe_dump({
        "db": str(home / "data" / "audit.duckdb"), "signing_key": str(home / "keys" / "signing.key"),
        "access": {"group": group, "roles": {"admin": {"users": ["root"]}, "viewer": {"groups": [group]}}}}))
    os.chmod(config, 0o644)
    exe = str(Path(sys.executable).with_name("auditctl"))
    env = {"PATH": os.environ["PATH"], "AUDITCTL_CONFIG": str(config), "HOME": str(home), "COLUMNS": "200"}
    subprocess.run([exe, "ingest", str(INCIDENT)], env=env, check=True, capture_output=True)
    data = home / "data"
    data.chmod(0o750)
    shutil.chown(data, group=group)
    fix = subprocess.run([exe, "access", "check", "--fix"], env=env, capture_output=True, text=True)
    assert fix.returncode == 0, fix.stdout + fix.stderr
    as_viewer = ["runuser", "-u", user, "--"]
    loot = tmp_path / "loot"
    loot.mkdir(mode=0o777)
    loot.chmod(0o777)

    def grab(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run([*as_viewer, "cp", str(path), str(loot / path.name)], capture_output=True, text=True)

    # what the viewer account can read holds tokens only; the rest is closed to it
    assert grab(data / "audit.duckdb").returncode == 0
    copy = duckdb.connect(str(loot / "audit.duckdb"), read_only=True)
    auth = copy.execute("SELECT src_ip, raw, message FROM events WHERE category = 'authentication'").fetchall()
    every = copy.execute("SELECT * FROM events").fetchall()
    copy.close()
    assert auth and all(v is None or v.startswith("sealed:") for row in auth for v in row)
    assert ATTACKER not in repr(every)
    for closed in (data / "audit.duckdb.sealed", home / "keys" / "sealing.key", home / "keys" / "signing.key"):
        result = grab(closed)
        assert result.returncode != 0 and "Permission denied" in result.stderr, closed
    if subprocess.run([*as_viewer, exe, "--version"], capture_output=True).returncode != 0:
        return  # this machine's Python is not reachable by other accounts: the file checks above must do
    search = subprocess.run([*as_viewer, exe, "search", "--category", "authentication", "-n", "0", "-f", "json"],
                            env=env, capture_output=True, text=True)
    assert search.returncode == 0, search.stderr
    assert ATTACKER not in search.stdout
    assert subprocess.run([*as_viewer, exe, "verify"], env=env, capture_output=True).returncode == ExitCode.DENIED
    trail = subprocess.run([exe, "search", "--parser", "auditctl", "--actor", user, "-f", "json"], env=env,
                           capture_output=True, text=True)
    assert [e["original_action"] for e in json.loads(trail.stdout)] == ["search", "verify"]
    assert subprocess.run([exe, "verify"], env=env, capture_output=True).returncode == 0


def test_watch_seals_what_it_follows_and_drains_the_spool(secured, tmp_path):
    log = tmp_path / "auth.log"
    log.write_text(INCIDENT.read_text())
    assert secured.as_user("alice", "ingest", str(AUTH)).exit_code == 0
    secured.as_user("victor", "search")
    assert len(list(secured.spool.iterdir())) == 1
    result = secured.as_user("alice", "watch", str(log), "--cycles", "1", "--interval", "0.05")
    assert result.exit_code == 0, result.output
    assert not list(secured.spool.iterdir())
    sealed = secured.rows(f"SELECT count(*) FROM events WHERE source = '{log}' AND src_ip LIKE 'sealed:%'")
    assert sealed[0][0] == 24
    assert ATTACKER not in repr(secured.rows("SELECT * FROM events"))
    assert secured.as_user("alice", "verify").exit_code == 0


def test_config_and_rule_files_must_be_written_by_admins_only(secured, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "mine.yaml").write_text("[]\n")
    secured.settings["rules"] = {"dirs": [str(rules)]}
    secured.write_config()
    assert secured.as_user("alice", "ingest", str(INCIDENT)).exit_code == 0
    assert secured.as_user("alice", "access", "check").exit_code == 0
    os.chmod(secured.config, 0o666)
    result = secured.as_user("alice", "search")
    assert "config file is open to others and its group (mode 0666, at most 0644)" in result.output
    if os.geteuid() == 0:
        os.chown(rules / "mine.yaml", 65534, -1)  # nobody: not an admin
        checked = secured.as_user("alice", "access", "check", "--fix", "-f", "json")
        assert checked.exit_code == ExitCode.ERROR
        problems = {Path(f["path"]).name: f["problem"] for f in json.loads(checked.stdout) if f["problem"]}
        assert list(problems) == ["mine.yaml"] and "owned by nobody, who is not an admin" in problems["mine.yaml"]
        assert stat.S_IMODE(secured.config.stat().st_mode) == 0o644


def test_records_this_run_wrote_itself_are_not_taken_for_an_earlier_runs(secured):
    """The config-change record and the self-audit trail are written by the same command that
    signs them: only events a stopped run left unsigned are "adopted" (as `make demo` showed)."""
    first = secured.as_user("alice", "ingest", str(AUTH))
    again = secured.as_user("alice", "ingest", str(INCIDENT))
    assert first.exit_code == again.exit_code == 0, first.output + again.output
    assert "earlier run" not in first.output + again.output
    assert secured.rows("SELECT count(*) FROM checkpoints WHERE note LIKE '%adopted%'") == [(0,)]


def test_every_guarded_command_has_a_role_and_an_unlisted_one_is_refused():
    """`guarded` fails closed: a command the role table forgot is refused for everyone, so a
    new command cannot slip past access control by omission."""
    import re

    cli_dir = Path(roles.__file__).parent / "cli"
    guarded = {name for path in cli_dir.glob("*.py")
               for name in re.findall(r'@guarded\("([^"]+)"\)', path.read_text())}
    assert guarded and guarded <= set(roles.COMMAND_ROLES), guarded - set(roles.COMMAND_ROLES)
    admin = Identity("root", 0, frozenset({"root"}))
    with pytest.raises(roles.AccessDenied, match="no entry in auditctl's role table"):
        roles.require("frobnicate", admin, roles.Role.ADMIN, None)
