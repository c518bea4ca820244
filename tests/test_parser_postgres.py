"""The postgres parser: detection, prefixes, multi-line records, sessions, pgaudit and SQL mapping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from support import SAMPLES, parser_and_reader

NAME = "postgres"
DEBIAN = SAMPLES / NAME / "postgresql-16-main.log"
RDS = SAMPLES / NAME / "rds-postgresql.log"


parser, events = parser_and_reader(NAME)


def parse_text(tmp_path, text: str):
    path = tmp_path / "postgresql.log"
    path.write_text(text, encoding="utf-8")
    return events(path)


def at(path, line):
    return next(e for e in events(path) if e.line == line)


def audit(statement: str, klass="ROLE", command="", object_type="", object_name="") -> str:
    quoted = f'"{statement}"' if "," in statement else statement
    return (f"2026-03-14 09:15:10.551 UTC [4201] dbadmin@app LOG:  AUDIT: SESSION,1,1,{klass},{command},"
            f"{object_type},{object_name},{quoted},<not logged>\n")


# --- detection -------------------------------------------------------------------------------

# --- connections and authentication ------------------------------------------------------------

def test_connection_lifecycle_with_the_default_prefix():
    received, authenticated, authorized, logout = (at(DEBIAN, n) for n in (12, 13, 14, 26))
    assert (received.category, received.action, received.src_ip) == ("system", "log", "10.0.0.12")
    assert (authenticated.action, authenticated.outcome, authenticated.attrs["method"]) == (
        "authenticate", "success", "scram-sha-256")
    assert (authorized.category, authorized.action, authorized.outcome, authorized.actor) == (
        "authentication", "login", "success", "dbadmin")
    assert authorized.src_ip == "10.0.0.12"  # remembered from the process's `connection received`
    assert authorized.attrs["application_name"] == "psql" and authorized.attrs["ssl"] is True
    assert (logout.action, logout.actor, logout.src_ip, logout.attrs["session_time"]) == (
        "logout", "dbadmin", "10.0.0.12", "0:04:24.002")
    assert authorized.ts == datetime(2026, 3, 14, 9, 14, 41, 20000, tzinfo=UTC)
    assert (authorized.app, authorized.pid) == ("postgres", 4201)


def test_authentication_failures():
    password, hba, ghost = at(DEBIAN, 6), at(DEBIAN, 9), at(DEBIAN, 11)
    for ev in (password, hba, ghost):
        assert (ev.category, ev.action, ev.outcome, ev.src_ip) == (
            "authentication", "login", "failure", "203.0.113.50")
    assert (password.actor, password.original_action) == ("postgres", "password authentication failed")
    assert password.attrs["detail"].startswith("Connection matched file")
    assert password.raw.count("\n") == 1  # the DETAIL line belongs to the record
    assert (hba.actor, hba.attrs["database"], hba.attrs["encryption"]) == ("admin", "postgres", "no encryption")
    assert ghost.actor == "ghost"


def test_rds_prefix_gives_client_and_multi_line_detail():
    failed = at(RDS, 11)
    assert (failed.action, failed.outcome, failed.actor, failed.src_ip, failed.attrs["port"]) == (
        "login", "failure", "admin", "203.0.113.77", 61022)
    assert failed.attrs["detail"] == ('Role "admin" does not exist.\nConnection matched file '
                                      '"/rdsdbdata/config/pg_hba.conf" line 13: "host\tall\tall\t0.0.0.0/0\tmd5"')
    assert failed.raw.count("\n") == 2
    assert at(RDS, 3).src_ip == "10.0.9.14" and at(RDS, 1).actor is None


@pytest.mark.parametrize(("prefix", "expected"), [
    ("2026-03-14 09:12:03 UTC [4121]: [3-1] user=alice,db=app,app=psql,client=10.0.0.5 ",
     ("alice", "10.0.0.5", 4121, "app", "psql")),
    ("2026-03-14 09:12:03.481 CET [4121] 10.0.0.5(52314) alice@app 65f1a2b3.101d ",
     ("alice", "10.0.0.5", 4121, "app", None)),
    ("2026-03-14 09:12:03 UTC:[local]:alice@app:[4121]:", ("alice", None, 4121, "app", None)),
])
def test_prefix_variants(tmp_path, prefix, expected):
    ev = parse_text(tmp_path, prefix + "LOG:  statement: SELECT 1\n")[0]
    assert (ev.actor, ev.src_ip, ev.pid, ev.attrs.get("database"), ev.attrs.get("application_name")) == expected


def test_zones(tmp_path):
    cet = parse_text(tmp_path, "2026-03-14 10:12:03.481 CET [1] LOG:  checkpoint starting: time\n")[0]
    assert cet.ts == datetime(2026, 3, 14, 9, 12, 3, 481000, tzinfo=UTC)
    numeric = parse_text(tmp_path, "2026-03-14 12:12:03 +03 [1] LOG:  checkpoint starting: time\n")[0]
    assert numeric.ts == datetime(2026, 3, 14, 9, 12, 3, tzinfo=UTC)
    odd = parse_text(tmp_path, "2026-03-14 09:12:03 XYZT [1] LOG:  checkpoint starting: time\n")[0]
    assert odd.ts == datetime(2026, 3, 14, 9, 12, 3, tzinfo=UTC) and odd.attrs["tz_assumed"] is True


# --- pgaudit and statements ----------------------------------------------------------------------

def test_pgaudit_role_class():
    created, granted, grant_on, superuser, nologin, dropped = (at(DEBIAN, n) for n in (15, 16, 17, 23, 24, 25))
    assert (created.category, created.action, created.actor, created.target, created.outcome) == (
        "user_management", "user_created", "dbadmin", "report_ro", "unknown")
    assert created.attrs["class"] == "ROLE" and created.original_action == "CREATE ROLE"
    assert created.attrs["statement"] == "CREATE ROLE report_ro LOGIN PASSWORD <REDACTED>"
    assert (granted.category, granted.action, granted.role, granted.target) == (
        "permission_change", "role_granted", "pg_read_all_data", "report_ro")
    assert (grant_on.role, grant_on.resource, grant_on.target) == ("SELECT,UPDATE", "TABLE public.payroll", "report_ro")
    assert (superuser.action, superuser.role, superuser.target) == ("role_granted", "SUPERUSER", "mallory")
    assert (nologin.action, nologin.target) == ("user_locked", "temp_contractor")
    assert (dropped.action, dropped.target) == ("user_deleted", "temp_contractor")


def test_pgaudit_ddl_read_write_misc():
    table, policy, rls, insert = (at(DEBIAN, n) for n in (18, 19, 20, 22))
    assert (table.category, table.action, table.resource, table.attrs["class"]) == (
        "system", "log", "public.payroll_2026", "DDL")
    assert (policy.category, policy.action, policy.resource) == ("policy_change", "policy_changed", "payroll_self ON payroll")
    assert (rls.action, rls.resource) == ("policy_changed", "payroll")
    assert rls.attrs["statement"] == "ALTER TABLE payroll ENABLE ROW LEVEL SECURITY"  # continuation joined
    assert rls.raw.count("\n") == 1
    assert (insert.category, insert.action, insert.resource, insert.original_action) == (
        "data_access", "access", "public.payroll", "INSERT")
    select = at(DEBIAN, 29)
    assert (select.action, select.actor, select.src_ip, select.resource) == ("access", "bob", "10.0.4.21", "public.customers")
    evasion = at(DEBIAN, 35)
    assert (evasion.category, evasion.action, evasion.actor, evasion.resource) == (
        "policy_change", "audit_config_changed", "bob", "pgaudit.log")


def test_errors_with_statements():
    denied = at(DEBIAN, 30)
    assert (denied.category, denied.action, denied.outcome, denied.resource) == (
        "data_access", "access", "failure", "payroll")
    assert denied.attrs["statement"] == "SELECT name, salary FROM payroll;"
    attempt = at(DEBIAN, 32)  # ERROR + DETAIL + STATEMENT
    assert (attempt.category, attempt.action, attempt.outcome, attempt.actor, attempt.target) == (
        "user_management", "user_created", "failure", "bob", "shadow_admin")
    assert attempt.attrs["reason"] == "permission denied to create role"
    assert attempt.attrs["detail"].startswith("Only roles with the CREATEROLE")
    assert attempt.raw.count("\n") == 2


def test_log_statement_lines():
    created, granted, modified, set_role, revoked, dropped = (at(RDS, n) for n in (6, 7, 8, 9, 14, 15))
    assert (created.action, created.target, created.original_action, created.actor) == (
        "user_created", "ops_temp", "CREATE USER", "dbadmin")
    assert (granted.action, granted.role, granted.target, granted.src_ip) == (
        "role_granted", "rds_superuser", "ops_temp", "10.0.9.20")
    assert modified.action == "user_modified"
    assert (set_role.category, set_role.action, set_role.target) == ("privileged_action", "privilege_escalation", "rds_superuser")
    assert (revoked.action, revoked.role, revoked.target) == ("role_revoked", "rds_superuser", "ops_temp")
    assert (dropped.action, dropped.target, dropped.original_action) == ("user_deleted", "ops_temp", "DROP USER")


@pytest.mark.parametrize(("statement", "expected"), [
    ('CREATE USER "Report Bot" WITH LOGIN', ("user_created", "Report Bot", None)),
    ("CREATE ROLE Analysts", ("user_created", "analysts", None)),  # unquoted names fold to lower case
    ("ALTER ROLE bob WITH ENCRYPTED PASSWORD <REDACTED>", ("password_changed", "bob", None)),
    ("ALTER ROLE bob NOSUPERUSER NOCREATEROLE", ("role_revoked", "bob", "SUPERUSER,CREATEROLE")),
    ("ALTER ROLE bob LOGIN", ("user_unlocked", "bob", None)),
    ("ALTER ROLE bob RENAME TO robert", ("user_modified", "bob", None)),
    ("ALTER ROLE bob SET pgaudit.log = 'none'", ("audit_config_changed", None, None)),
    ("DROP ROLE IF EXISTS a, b", ("user_deleted", "a,b", None)),
    ("GRANT admin, auditor TO GROUP devs, carol WITH ADMIN OPTION", ("role_granted", "devs,carol", "admin,auditor")),
    ("REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA hr FROM intern CASCADE", ("role_revoked", "intern", "ALL PRIVILEGES")),
    ("ALTER GROUP devs ADD USER erin, frank", ("group_member_added", "erin,frank", "devs")),
    ("ALTER GROUP devs DROP USER erin", ("group_member_removed", "erin", "devs")),
    ("CREATE GROUP auditors", ("group_created", None, "auditors")),
    ("ALTER SYSTEM SET log_statement = 'none'", ("audit_config_changed", None, None)),
    ("DROP EXTENSION pgaudit", ("audit_config_changed", None, None)),
    ("SET SESSION AUTHORIZATION postgres", ("privilege_escalation", "postgres", None)),
])
def test_statement_table(tmp_path, statement, expected):
    ev = parse_text(tmp_path, f"2026-03-14 09:15:10 UTC [7] dbadmin@app LOG:  statement: {statement}\n")[0]
    assert (ev.action, ev.target, ev.role) == expected
    assert ev.actor == "dbadmin" and ev.outcome == "unknown"


def test_pgaudit_without_statement_falls_back_to_the_command(tmp_path):
    ev = parse_text(tmp_path, audit("<not logged>", command="DROP ROLE"))[0]
    assert (ev.category, ev.action, ev.target) == ("user_management", "user_deleted", None)
    short = parse_text(tmp_path, "2026-03-14 09:15:10 UTC [7] LOG:  AUDIT: SESSION,1\n")[0]
    assert (short.action, short.attrs["reason"]) == ("log", "pgaudit record with fewer than 8 fields")


def test_orphan_continuation_is_kept(tmp_path):
    evs = parse_text(tmp_path, "\tstray continuation\n2026-03-14 09:15:10 UTC [7] LOG:  checkpoint starting: time\n")
    assert [e.action for e in evs] == ["unparsed", "log"]
    assert "continuation line" in evs[0].attrs["reason"]
