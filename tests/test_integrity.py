"""Tamper evidence: every kind of tampering, done to the database file with DuckDB directly."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditctl.config import Config
from auditctl.errors import ExitCode
from auditctl.ingest.ingester import Ingester, expand_paths
from auditctl.integrity.merkle import Frontier, canonical_event, leaf_hash, mth
from auditctl.integrity.signing import VerifierKey, load_or_create_key, parse_note
from auditctl.integrity.verify import make_checkpoint, verify
from auditctl.schema import COLUMN_NAMES
from auditctl.store import Store
from auditctl.store.events import MESSAGE_SQL
from support import SAMPLES, registry

AUTH = SAMPLES / "syslog" / "auth.log"


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A config whose key and checkpoint file live in tmp_path, shared by library and CLI."""
    cfg_file = tmp_path / "config.yaml"
    cfg_file.write_text(f"signing_key: {tmp_path / 'keys' / 'signing.key'}\nkey_name: test-signer\n")
    monkeypatch.setenv("AUDITCTL_CONFIG", str(cfg_file))
    return tmp_path


# the events as stored logically (a message found in raw is kept as its position in raw)
LOGICAL_EVENTS = f"(SELECT * REPLACE ({MESSAGE_SQL} AS message) FROM events)"

def sql(db: Path, *statements: str) -> list:
    """Change the database the way an intruder would: DuckDB directly, no auditctl."""
    con = duckdb.connect(str(db))
    try:
        out = []
        for s in statements:
            out = con.execute(s).fetchall()
        return out
    finally:
        con.close()


def kinds(result) -> list[str]:
    return [p["kind"] for p in json.loads(result.stdout)["problems"]]


def problems(result) -> list[dict]:
    return json.loads(result.stdout)["problems"]


@pytest.fixture
def signed(cli, env):
    """A store with two ingests (two signed checkpoints)."""
    assert cli("ingest", str(AUTH)).exit_code == 0
    assert cli("ingest", str(SAMPLES / "auditd")).exit_code == 0
    return cli


def test_intact_store_verifies(signed):
    result = signed("verify", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["intact"] and doc["checkpoints_checked"] == 2 and doc["covered"] == doc["events"] == 61 + 68
    table = signed("verify", "--format", "table")
    assert table.exit_code == 0 and table.output.startswith("intact: 129 events, 2 signed checkpoint(s)")


def test_root_matches_the_documented_scheme(signed, db):
    """The SQL leaf/tree hashing equals the Python reference (merkle.canonical / mth)."""
    rows = sql(db, f"SELECT {', '.join(COLUMN_NAMES)} FROM {LOGICAL_EVENTS} ORDER BY seq")
    leaves = [leaf_hash(canonical_event(dict(zip(COLUMN_NAMES, r, strict=True)))) for r in rows]
    checkpoints = sql(db, "SELECT tree_size, root FROM checkpoints ORDER BY id")
    for size, root in checkpoints:
        assert mth(leaves[:size]).hex() == root


def test_modified_field_is_named(signed, db):
    sql(db, "UPDATE events SET actor = 'nobody' WHERE seq = 10")
    result = signed("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    p = next(p for p in problems(result) if p["kind"] == "modified")
    assert p["seq"] == 10 and p["source"].endswith("auth.log") and p["line"] == 10 and p["ts"]
    assert "root_mismatch" in kinds(result)


@pytest.mark.parametrize("column", ["ts", "raw", "attrs", "outcome", "ingested_at", "line", "pid"])
def test_every_column_is_covered(signed, db, column):
    value = {"ts": "ts + INTERVAL 1 SECOND", "raw": "raw || ' '", "attrs": "'{}'", "outcome": "CASE outcome WHEN 'success' THEN 'failure' ELSE 'success' END",
             "ingested_at": "ingested_at - INTERVAL 1 DAY", "line": "line + 1000", "pid": "coalesce(pid, 0) + 1"}[column]
    sql(db, f"UPDATE events SET {column} = {value} WHERE seq = 20")
    result = signed("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    assert any(p["kind"] == "modified" and p["seq"] == 20 for p in problems(result))


def test_modified_with_recomputed_digest_is_localized_by_the_signed_roots(signed, db):
    from auditctl.store.tree import _DIGEST, leaf_sql
    sql(db, "UPDATE events SET actor = 'nobody' WHERE seq = 100",
        f"UPDATE digests SET digest = (SELECT {_DIGEST.format(h='unhex(' + leaf_sql() + ')')} FROM {LOGICAL_EVENTS} WHERE seq = 100) WHERE seq = 100")
    result = signed("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    mismatch = [p for p in problems(result) if p["kind"] == "root_mismatch"]
    assert mismatch and "seq 62..129" in mismatch[0]["message"]  # the second ingest's range
    assert not [p for p in problems(result) if p["kind"] == "modified"]


def test_deleted_event_is_named(signed, db):
    sql(db, "DELETE FROM events WHERE seq = 30")
    result = signed("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    deleted = [p for p in problems(result) if p["kind"] == "deleted"]
    assert deleted and "seq 30 missing" in deleted[0]["message"] and deleted[0]["seq"] == 29


def test_inserted_event_with_a_duplicate_seq_is_named(signed, db):
    sql(db, "INSERT INTO events SELECT * REPLACE ('forged' AS actor) FROM events WHERE seq = 40")
    result = signed("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    assert any(p["kind"] == "inserted" and p["seq"] == 40 for p in problems(result))


def test_inserted_event_with_renumbering_is_named(signed, db):
    sql(db, "UPDATE events SET seq = seq + 1 WHERE seq >= 50",
        "INSERT INTO events SELECT * REPLACE (50 AS seq, 'forged' AS actor) FROM events WHERE seq = 49")
    result = signed("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    found = problems(result)
    assert found[0]["seq"] == 50 and found[0]["kind"] == "modified"
    moved = [p for p in found if p["kind"] == "moved"]
    assert moved and moved[0]["seq"] == 51 and "signed as seq 50" in moved[0]["message"]


def test_swapped_events_are_named(signed, db):
    sql(db, "UPDATE events SET seq = CASE seq WHEN 5 THEN 6 WHEN 6 THEN 5 END WHERE seq IN (5, 6)")
    result = signed("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    moved = {p["seq"]: p["message"] for p in problems(result) if p["kind"] == "moved"}
    assert "swapped with seq 6" in moved[5] and "swapped with seq 5" in moved[6]


def test_truncated_tail_is_found(signed, db):
    sql(db, "DELETE FROM events WHERE seq > 100", "DELETE FROM digests WHERE seq > 100")
    result = signed("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    truncated = [p for p in problems(result) if p["kind"] == "truncated"]
    assert truncated and "seq 101..129 were removed" in truncated[0]["message"]


def test_truncation_with_checkpoints_deleted_is_caught_by_the_checkpoint_file(signed, db):
    sql(db, "DELETE FROM events WHERE seq > 61", "DELETE FROM digests WHERE seq > 61",
        "DELETE FROM checkpoints WHERE id = 2",
        "UPDATE meta SET value = (SELECT value FROM meta WHERE key = 'frontier') WHERE key = 'frontier'")
    result = signed("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    assert {"checkpoint_missing", "truncated"} <= set(kinds(result))


def test_checkpoints_re_signed_with_another_key(signed, db, tmp_path):
    rogue, _ = load_or_create_key(tmp_path / "rogue.key", "test-signer")  # same name, other key
    rows = sql(db, "SELECT id, note FROM checkpoints")
    statements = []
    for cid, note in rows:
        body = parse_note(note).body
        forged = rogue.sign_note(body).replace("'", "''")
        statements.append(f"UPDATE checkpoints SET note = '{forged}' WHERE id = {cid}")
    sql(db, *statements)
    cp_file = db.with_name(db.name + ".checkpoints")
    cp_file.write_text("")  # the intruder also emptied the checkpoint file
    result = signed("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    bad = [p for p in problems(result) if p["kind"] == "bad_signature"]
    assert len(bad) == 2 and "re-signed with another key" in bad[0]["message"]


def test_database_rebuilt_without_the_key(signed, db, tmp_path, env):
    """An intruder replaces the database with one built from doctored logs and their own key."""
    honest_key_file = tmp_path / "keys" / "signing.key"
    doctored = tmp_path / "doctored.log"
    doctored.write_text(AUTH.read_text().replace("mallory", "alice"))
    rebuilt = tmp_path / "rebuilt.duckdb"
    rogue_cfg = Config(db=rebuilt, signing_key=tmp_path / "rogue.key", key_name="test-signer")
    with Store.open(rebuilt) as store:
        Ingester(store, registry(), rogue_cfg).ingest([str(doctored)])
        key, _ = load_or_create_key(rogue_cfg.signing_key, "test-signer")
        make_checkpoint(store, key, None)
    shutil.copy(rebuilt, db)
    result = signed("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    found = set(kinds(result))
    assert ("bad_signature" in found and "wrong_log" in found) or "checkpoint_missing" in found
    # an auditor holding only the public key sees the same
    honest = load_or_create_key(honest_key_file, "test-signer")[0].verifier.encode()
    assert signed("verify", "--key", honest, "--format", "json").exit_code == ExitCode.INTEGRITY


def test_appended_events_without_a_checkpoint_are_uncovered(signed, db):
    sql(db, "INSERT INTO events SELECT * REPLACE (130 AS seq) FROM events WHERE seq = 129")
    result = signed("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    assert [p["seq"] for p in problems(result) if p["kind"] == "uncovered"] == [130]


def test_verify_against_an_exported_checkpoint(cli, env, db, tmp_path):
    cli("ingest", str(AUTH))
    exported = tmp_path / "offsite.note"
    result = cli("checkpoint", "--out", str(exported))
    assert result.exit_code == 0 and exported.read_text().startswith("auditctl/")
    as_json = tmp_path / "offsite.json"
    cli("checkpoint", "--format", "json", "--out", str(as_json))
    cli("ingest", str(SAMPLES / "k8s_audit"))
    for path in (exported, as_json):
        ok = cli("verify", "--checkpoint", str(path), "--format", "table")
        assert ok.exit_code == 0 and ok.output.startswith("consistent: the log (93 events) is an append-only extension")
    sql(db, "UPDATE events SET message = 'rewritten' WHERE seq = 3")
    bad = cli("verify", "--checkpoint", str(exported), "--format", "json")
    assert bad.exit_code == ExitCode.INTEGRITY and "history was rewritten" in json.loads(bad.stdout)["message"]


def test_exported_checkpoint_from_another_key_is_rejected(cli, env, tmp_path):
    cli("ingest", str(AUTH))
    exported = tmp_path / "cp.note"
    cli("checkpoint", "--out", str(exported))
    rogue, _ = load_or_create_key(tmp_path / "rogue.key", "test-signer")
    exported.write_text(rogue.sign_note(parse_note(exported.read_text()).body))
    result = cli("verify", "--checkpoint", str(exported), "--format", "table")
    assert result.exit_code == ExitCode.INTEGRITY and "not validly signed" in result.output


def test_verify_sources(cli, env, tmp_path):
    log = tmp_path / "auth.log"
    shutil.copy(AUTH, log)
    grown = tmp_path / "grown.log"
    shutil.copy(SAMPLES / "syslog" / "iso.log", grown)
    cli("ingest", str(log), str(grown))
    ok = cli("verify", "--sources", "--format", "json")
    assert ok.exit_code == 0 and {r["status"] for r in json.loads(ok.stdout)} == {"unchanged"}
    with grown.open("a") as f:
        f.write("2026-05-10T14:40:00Z db01 sshd[1]: Accepted password for a from 1.2.3.4 port 1 ssh2\n")
    log.write_text(log.read_text().replace("mallory", "mallor1"))
    result = cli("verify", "--sources", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    status = {Path(r["path"]).name: r["status"] for r in json.loads(result.stdout)}
    assert status == {"auth.log": "modified", "grown.log": "grown"}
    log.unlink()
    assert {Path(r["path"]).name: r["status"] for r in json.loads(cli("verify", "--sources", "--format", "json").stdout)}["auth.log"] == "missing"


def test_keys_show_and_key_file_mode(cli, env):
    result = cli("keys", "show", "--format", "json")
    doc = json.loads(result.stdout)
    key = VerifierKey.decode(doc["verifier_key"])
    assert key.name == "test-signer" and doc["key_id"] == key.id.hex()
    assert oct(os.stat(env / "keys" / "signing.key").st_mode & 0o777) == "0o600"
    assert "verifier key" in cli("keys", "show", "--format", "table").output


def test_loose_key_permissions_warn(cli, env):
    cli("keys", "show")
    (env / "keys" / "signing.key").chmod(0o644)
    assert "readable by others" in cli("keys", "show").output


def test_the_signing_key_is_never_in_the_database(signed, db, env):
    pem = (env / "keys" / "signing.key").read_text()
    secret_line = pem.splitlines()[1]
    dump = sql(db, "SELECT string_agg(CAST(value AS VARCHAR), '') FROM meta")[0][0] + "".join(
        n for (n,) in sql(db, "SELECT note FROM checkpoints"))
    assert secret_line not in dump and secret_line not in db.read_bytes().decode("latin-1")


def test_verify_without_the_private_key_uses_the_published_public_key(cli, env, db):
    cli("ingest", str(AUTH))
    published = db.with_name(db.name + ".pub")
    assert published.read_text().strip() == json.loads(cli("keys", "show", "-f", "json").stdout)["verifier_key"]
    (env / "keys" / "signing.key").unlink()
    assert cli("verify").exit_code == 0
    published.unlink()
    result = cli("verify")
    assert result.exit_code == ExitCode.ERROR and "--key" in result.output


# -- property: any sequence of appends verifies, and every root is RFC 6962's MTH --------------

EVENT = "Mar  1 10:{:02d}:{:02d} host{} sshd[{}]: Failed password for user{} from 10.0.0.{} port 22 ssh2\n"


# each example ingests and signs for real (~0.6 s): a sixth of the profile's examples (5 in
# `make test`, 50 in CI)
@settings(max_examples=max(5, settings().max_examples // 6), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=6))
def test_random_append_sequences_verify(tmp_path_factory, batches):
    tmp = tmp_path_factory.mktemp("prop")
    db = tmp / "p.duckdb"
    cfg = Config(db=db, signing_key=tmp / "k.key", key_name="prop")
    key, _ = load_or_create_key(cfg.signing_key, "prop")
    log = tmp / "a.log"
    log.write_text("")
    n = 0
    with Store.open(db) as store:
        for size in batches:
            with log.open("a") as f:
                for _ in range(size):
                    f.write(EVENT.format(n // 60 % 60, n % 60, n % 3, n, n % 7, n % 250))
                    n += 1
            Ingester(store, registry(), cfg).ingest([str(log)])
            make_checkpoint(store, key, None)
        frontier = Frontier.from_json(json.loads(store.meta("frontier")))
        assert frontier.size == n
        report = verify(store, key.verifier, None)
        assert report.intact, [p.message for p in report.problems]
        rows = store.con.execute(f"SELECT {', '.join(COLUMN_NAMES)} FROM hot_events ORDER BY seq").fetchall()
        leaves = [leaf_hash(canonical_event(dict(zip(COLUMN_NAMES, r, strict=True)))) for r in rows]
        for cp in store.checkpoints():
            assert mth(leaves[:cp["tree_size"]]).hex() == cp["root"]
        assert frontier.root() == mth(leaves)


def test_a_version_1_database_is_migrated_and_then_signed(tmp_path):
    from auditctl.store.migrations import MIGRATIONS, SCHEMA_VERSION

    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    for statement in MIGRATIONS[0]:
        con.execute(statement)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.close()
    cfg = Config(db=db, signing_key=tmp_path / "k.key", key_name="m")
    with Store.open(db) as store:
        assert store.schema_version() == SCHEMA_VERSION and store.meta("db_id")
        Ingester(store, registry(), cfg).ingest([str(AUTH)])
        key, _ = load_or_create_key(cfg.signing_key, "m")
        cp, new = make_checkpoint(store, key, None)
        assert new and cp.tree_size == 61
        assert verify(store, key.verifier, None).intact


@pytest.mark.parametrize("tamper, kind, seq", [
    (None, None, None),
    ("UPDATE events SET actor = 'nobody' WHERE seq = 23", "modified", 23),
    ("UPDATE events SET message = 'rewritten' WHERE seq = 61", "modified", 61),
])
def test_signing_and_verify_in_small_slices_agree_with_the_reference(cli, env, db, monkeypatch, tamper, kind, seq):
    """Signing and verify work a slice of the log at a time; slices of 5 and 3 events (instead of
    2^20) must give the same roots as hashing the whole log at once."""
    from auditctl.integrity import verify as integrity
    from auditctl.store import tree as store_tree

    monkeypatch.setattr(integrity, "FOLD_CHUNK", 5)
    monkeypatch.setattr(store_tree, "_HASH_SLICE", 3)
    assert cli("ingest", str(AUTH)).exit_code == 0
    assert cli("ingest", str(SAMPLES / "auditd")).exit_code == 0
    rows = sql(db, f"SELECT {', '.join(COLUMN_NAMES)} FROM {LOGICAL_EVENTS} ORDER BY seq")
    leaves = [leaf_hash(canonical_event(dict(zip(COLUMN_NAMES, r, strict=True)))) for r in rows]
    for size, root in sql(db, "SELECT tree_size, root FROM checkpoints ORDER BY id"):
        assert mth(leaves[:size]).hex() == root
    if tamper:
        sql(db, tamper)
    result = cli("verify", "--format", "json")
    if kind is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == ExitCode.INTEGRITY
    assert [p["seq"] for p in problems(result) if p["kind"] == kind] == [seq]
    assert "root_mismatch" in kinds(result)


def test_a_version_6_store_keeps_naming_changed_events_after_its_digests_shrink(tmp_path):
    """Schema 7 keeps 4 bytes of each leaf hash instead of 8; the migration must keep the
    high half, or every event of an old store would look modified."""
    from auditctl.store.tree import leaf_sql

    db = tmp_path / "v6.duckdb"
    cfg = Config(db=db, signing_key=tmp_path / "k.key", key_name="m")
    key, _ = load_or_create_key(cfg.signing_key, "m")
    with Store.open(db) as store:
        Ingester(store, registry(), cfg).ingest([str(AUTH)])
        store.con.execute("UPDATE events SET ts_source = NULL")  # as schema 6 stored them
        make_checkpoint(store, key, None)
    eight_bytes = f"CAST(('0x' || substr(hex(unhex({leaf_sql()})), 1, 16)) AS UBIGINT)"
    sql(db, "DROP TABLE digests",  # the store as schema 6 wrote it
        f"CREATE TABLE digests AS SELECT seq, {eight_bytes} AS digest FROM {LOGICAL_EVENTS}",
        "ALTER TABLE events DROP COLUMN ts_source", "ALTER TABLE events DROP COLUMN raw_b64",
        "UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    with Store.open(db) as store:
        assert verify(store, key.verifier, None).intact
        assert store.con.execute("SELECT typeof(any_value(digest)) FROM digests").fetchone() == ("UINTEGER",)
    sql(db, "UPDATE events SET actor = 'nobody' WHERE seq = 7")
    with Store.open(db) as store:
        report = verify(store, key.verifier, None)
    assert [(p.kind, p.seq) for p in report.problems if p.kind == "modified"] == [("modified", 7)]


# -- issue 15 item 11: precise findings, bounded work, and runs that stopped before signing ----

def test_one_deleted_row_is_one_finding_and_nothing_is_called_truncated(signed, db):
    sql(db, "DELETE FROM events WHERE seq = 30")
    found = problems(signed("verify", "--format", "json"))
    assert [(p["kind"], p["seq"]) for p in found if p["seq"] is not None] == [("deleted", 29)]
    assert "seq 30 missing" in found[0]["message"]
    assert "truncated" not in kinds(signed("verify", "--format", "json"))  # seq 129 is still there
    assert {p["kind"] for p in found} == {"deleted", "root_mismatch"}  # the signed roots no longer match


def test_an_inserted_duplicate_is_not_also_called_uncovered(signed, db):
    sql(db, "INSERT INTO events SELECT * REPLACE ('forged' AS actor) FROM events WHERE seq = 40")
    result = signed("verify", "--format", "json")
    assert "uncovered" not in kinds(result) and "truncated" not in kinds(result)


class CountingConnection:
    """Counts the statements verify sends to DuckDB (round trips, not time)."""

    def __init__(self, con) -> None:
        self.con, self.statements = con, 0

    def execute(self, *args, **kwargs):
        self.statements += 1
        return self.con.execute(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.con, name)


def _verify_counting(db: Path, key_file: Path):
    key = load_or_create_key(key_file, "test-signer")[0].verifier
    with Store.open(db) as store:
        counter = CountingConnection(store.con)
        store.con = counter
        report = verify(store, key, None)
        store.con = counter.con
    return report, counter.statements


def test_damage_to_many_events_is_named_with_a_bounded_number_of_queries(signed, db, env):
    key_file = env / "keys" / "signing.key"
    original = db.with_name("original.duckdb")
    shutil.copy(db, original)
    # the same shape with little damage: an event forged in at seq 128, two moved
    sql(original, "UPDATE events SET seq = seq + 1 WHERE seq >= 128",
        "INSERT INTO events SELECT * REPLACE (128 AS seq, 'forged' AS actor) FROM events WHERE seq = 127")
    small, small_queries = _verify_counting(original, key_file)
    assert [(p.kind, p.seq) for p in small.problems if p.kind in ("modified", "moved")] == [
        ("modified", 128), ("moved", 129), ("moved", 130)]
    # an event forged in at seq 20, every later one renumbered: 110 events moved, 3 swapped pairs
    sql(db, "UPDATE events SET seq = seq + 1 WHERE seq >= 20",
        "INSERT INTO events SELECT * REPLACE (20 AS seq, 'forged' AS actor) FROM events WHERE seq = 19",
        "UPDATE events SET seq = CASE seq WHEN 3 THEN 4 WHEN 4 THEN 3 WHEN 7 THEN 8 WHEN 8 THEN 7 "
        "WHEN 12 THEN 13 WHEN 13 THEN 12 END WHERE seq IN (3, 4, 7, 8, 12, 13)")
    big, big_queries = _verify_counting(db, key_file)
    moved = {p.seq: p.message for p in big.problems if p.kind == "moved"}
    assert sorted(moved) == [3, 4, 7, 8, 12, 13, *range(21, 131)]
    assert all(f"signed as seq {s - 1}" in moved[s] for s in range(21, 131))
    assert "swapped with seq 4" in moved[3] and "swapped with seq 12" in moved[13]
    assert [(p.kind, p.seq) for p in big.problems if p.kind == "modified"] == [("modified", 20)]
    # 117 damaged events cost no more round trips than 3 (before: one query per pair tried, 2,600+)
    assert big_queries == small_queries, (big_queries, small_queries)


def test_events_left_unsigned_by_a_stopped_ingest_are_signed_saying_so(cli, env, db):
    assert cli("ingest", str(AUTH)).exit_code == 0  # 61 events, signed
    # a second ingest stored and committed its events, then died before signing
    cfg = Config(db=db, signing_key=env / "keys" / "signing.key", key_name="test-signer")
    with Store.open(db) as store:
        Ingester(store, registry(), cfg).ingest(expand_paths([str(SAMPLES / "auditd")])[0])
    before = cli("verify", "--format", "json")
    assert [(p["kind"], p["message"][:12]) for p in problems(before)] == [("uncovered", "seq 62..129 ")]
    third = tmp = env / "more.log"
    tmp.write_text(AUTH.read_text().splitlines(keepends=True)[0])
    result = cli("ingest", str(third), "--format", "json")
    assert result.exit_code == 0, result.output
    assert "signing 68 events (seq 62..129) stored by an earlier run that did not sign them" in result.stderr
    assert json.loads(result.stdout)["checkpoint"]["adopted"] == [62, 129]
    after = cli("verify", "--format", "json")
    doc = json.loads(after.stdout)
    assert after.exit_code == 0 and doc["intact"]
    assert len(doc["notes"]) == 1 and "signed seq 62..129 (68 events) stored by an earlier run" in doc["notes"][0]
    assert "note: checkpoint #2 signed seq 62..129" in cli("verify", "--format", "table").stdout
    # the run's own events are not called adopted, and an ordinary ingest says nothing of the kind
    again = cli("ingest", str(SAMPLES / "syslog"), "--format", "json")
    assert "earlier run" not in again.stderr and json.loads(again.stdout)["checkpoint"]["adopted"] is None


def test_an_explicit_checkpoint_over_unsigned_events_says_so(cli, env, db):
    cfg = Config(db=db, signing_key=env / "keys" / "signing.key", key_name="test-signer")
    with Store.open(db) as store:
        Ingester(store, registry(), cfg).ingest([str(AUTH)])
    result = cli("checkpoint", "--format", "json")
    assert result.exit_code == 0
    assert "signing 61 events (seq 1..61) stored by an earlier run" in result.stderr
    assert json.loads(result.stdout)["adopted"] == [1, 61]
