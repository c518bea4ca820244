"""Retention: policies, dry run, archive across the boundary, verify over hot + archived + deleted
events, tampering with the archive, an interrupted archive, and legal hold."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from auditctl.config import Config
from auditctl.errors import ExitCode
from auditctl.integrity.signing import load_or_create_key, parse_note
from auditctl.store import Store
from support import SAMPLES

AS_OF = "2026-12-01"
POLICY = """\
signing_key: {tmp}/k.key
key_name: keeper
retention:
  policies:
    - {{name: noise, match: {{category: system}}, archive_after: 30d, delete_after: 365d}}
    - {{name: auth, match: {{category: authentication}}, archive_after: 180d}}
  legal_hold:
    - {{match: {{parser: auditd}}}}
"""


@pytest.fixture
def env(tmp_path, monkeypatch):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(POLICY.format(tmp=tmp_path))
    monkeypatch.setenv("AUDITCTL_CONFIG", str(cfg))
    return tmp_path


@pytest.fixture
def loaded(cli, env, sample_stores):
    sample_stores.copy_into(env, POLICY)  # as `cli("ingest", str(SAMPLES))` would, once a session
    return cli


def lines(result) -> list[dict]:
    return [json.loads(x) for x in result.stdout.splitlines() if x.strip()]


def hot_count(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        con.close()


def test_dry_run_changes_nothing(loaded, db):
    before = hot_count(db)
    doc = json.loads(loaded("retention", "apply", "--dry-run", "--as-of", AS_OF, "--format", "json").stdout)
    assert doc["dry_run"] and doc["archive_events"] > 0
    assert hot_count(db) == before and not db.with_name(db.name + ".archive").exists()


def test_policies_per_category(loaded, db):
    # on 2026-06-01: system events older than 30 days are archived; authentication keeps 180 days
    doc = json.loads(loaded("retention", "apply", "--dry-run", "--as-of", "2026-06-01", "--format", "json").stdout)
    con = duckdb.connect(str(db), read_only=True)
    expected = con.execute(
        "SELECT count(*) FROM events WHERE ts IS NOT NULL AND ("
        "(category = 'system' AND ts < TIMESTAMPTZ '2026-05-02') OR "
        "(category = 'authentication' AND ts < TIMESTAMPTZ '2025-12-03') OR "
        "(category NOT IN ('system', 'authentication') AND ts < TIMESTAMPTZ '2026-03-03'))").fetchone()[0]
    deletable = con.execute("SELECT count(*) FROM events WHERE category = 'system' AND ts < TIMESTAMPTZ '2025-06-01' "
                            "AND parser <> 'auditd'").fetchone()[0]
    held = con.execute("SELECT count(*) FROM events WHERE category = 'system' AND ts < TIMESTAMPTZ '2025-06-01' "
                       "AND parser = 'auditd'").fetchone()[0]
    con.close()
    assert doc["archive_events"] + doc["delete_hot_events"] == expected
    assert doc["delete_hot_events"] == deletable and doc["held_by_legal_hold"] == held > 0


def test_archive_is_transparent_to_search_check_and_report(loaded, db):
    before = lines(loaded("search", "--limit", "0"))
    checked = json.loads(loaded("check", "--since", "2020-01-01", "--until", AS_OF, "--format", "json").stdout)
    done = json.loads(loaded("retention", "apply", "--as-of", AS_OF, "--format", "json").stdout)
    assert done["archived_events"] > 200 and len(done["segments"]) >= 5
    for seg in done["segments"]:
        assert "/year=" in seg and "/month=" in seg and Path(seg).exists()
    kept = {e["seq"] for e in before} - set()
    after = lines(loaded("search", "--limit", "0"))
    deleted = {e["seq"] for e in before} - {e["seq"] for e in after}
    assert len(deleted) == done["deleted_events"]
    assert [e for e in before if e["seq"] not in deleted] == after  # same rows, same order, same fields
    assert kept
    # rules over the archive boundary give the same findings as before (the store dedups them)
    rerun = json.loads(loaded("check", "--since", "2020-01-01", "--until", AS_OF, "--format", "json").stdout)
    assert rerun == [] and checked
    user = lines(loaded("search", "--user", "bob", "--since", "2026-01-01", "--until", "2026-01-02", "--limit", "0"))
    assert user and all(e["ts"].startswith("2026-01-01") for e in user)
    report = json.loads(loaded("report", "--since", "2000-01-01", "--until", AS_OF, "--format", "json").stdout)
    assert report["coverage"]["events"] == len([e for e in after if e["ts"]])


def test_verify_covers_hot_archived_and_deleted(loaded, db):
    loaded("retention", "apply", "--as-of", AS_OF)
    result = loaded("verify", "--format", "json")
    assert result.exit_code == 0, result.stdout
    status = json.loads(loaded("retention", "status", "--format", "json").stdout)
    assert status["archived_rows"] > 200 and status["deleted_rows"] > 0 and status["archive_segments"] >= 5
    assert status["raw_bytes"] > 0 and status["compression_ratio"] > 0


def _segment(db: Path) -> Path:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return Path(con.execute("SELECT path FROM archive_segments WHERE deleted_at IS NULL ORDER BY rows DESC "
                                "LIMIT 1").fetchone()[0])
    finally:
        con.close()


def test_changed_or_missing_archive_file_is_found(loaded, db):
    loaded("retention", "apply", "--as-of", AS_OF)
    seg = _segment(db)
    original = seg.read_bytes()
    seg.write_bytes(original[:-10] + b"0123456789")
    result = loaded("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY and "archive_modified" in result.stdout
    seg.unlink()
    result = loaded("verify", "--format", "json")
    kinds = {p["kind"] for p in json.loads(result.stdout)["problems"]}
    assert result.exit_code == ExitCode.INTEGRITY and {"archive_missing", "deleted"} <= kinds


def test_row_edited_inside_a_segment_is_named(loaded, db, tmp_path):
    loaded("retention", "apply", "--as-of", AS_OF)
    seg = _segment(db)
    con = duckdb.connect()
    victim = con.execute(f"SELECT min(seq) FROM read_parquet('{seg}')").fetchone()[0]
    edited = tmp_path / "edited.parquet"
    con.execute(f"COPY (SELECT * REPLACE (CASE WHEN seq = {victim} THEN 'someone-else' ELSE actor END AS actor) "
                f"FROM read_parquet('{seg}') ORDER BY seq) TO '{edited}' (FORMAT parquet)")
    con.close()
    shutil.copy(edited, seg)
    found = json.loads(loaded("verify", "--format", "json").stdout)["problems"]
    assert any(p["kind"] == "modified" and p["seq"] == victim for p in found)
    assert any(p["kind"] == "archive_modified" for p in found)


def test_manifest_re_signed_with_another_key(loaded, db, env):
    loaded("retention", "apply", "--as-of", AS_OF)
    rogue, _ = load_or_create_key(env / "rogue.key", "keeper")
    con = duckdb.connect(str(db))
    sid, note = con.execute("SELECT id, manifest FROM archive_segments LIMIT 1").fetchone()
    forged = rogue.sign_note(parse_note(note).body)
    con.execute("UPDATE archive_segments SET manifest = ? WHERE id = ?", [forged, sid])
    con.close()
    result = loaded("verify", "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    assert any(p["kind"] == "bad_signature" and f"archive segment {sid}" in p["message"]
               for p in json.loads(result.stdout)["problems"])


def test_deletion_by_policy_is_told_apart_from_tampering(loaded, db):
    loaded("retention", "apply", "--as-of", AS_OF)
    assert loaded("verify").exit_code == 0  # policy deletions carry receipts and kept hashes
    con = duckdb.connect(str(db))
    seq = con.execute("SELECT min(seq) FROM tombstones").fetchone()[0]
    con.execute("DELETE FROM tombstones WHERE seq = ?", [seq])  # now it looks like a plain deletion
    con.close()
    problems = json.loads(loaded("verify", "--format", "json").stdout)["problems"]
    assert {"receipt_mismatch"} <= {p["kind"] for p in problems}


def test_interrupted_archive_loses_nothing_and_doubles_nothing(env, monkeypatch, tmp_path):
    from auditctl.archive import retention
    from auditctl.ingest.ingester import Ingester, expand_paths
    from support import registry

    db = tmp_path / "i.duckdb"
    cfg = Config(db=db, signing_key=tmp_path / "k.key", key_name="keeper")
    key, _ = load_or_create_key(cfg.signing_key, "keeper")
    policy = retention.parse_retention({"default": {"archive_after": "30d"}})
    with Store.open(db) as store:
        Ingester(store, registry(), cfg).ingest(expand_paths([str(SAMPLES / "syslog")])[0])
        from auditctl.integrity.verify import make_checkpoint, verify
        make_checkpoint(store, key, None)
        total = store.event_count_and_max_seq()[0]

        calls = {"n": 0}
        real = Store.add_segment

        def crash_on_second(self, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("power cut")
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Store, "add_segment", crash_on_second)
        with pytest.raises(RuntimeError, match="power cut"):
            retention.apply(store, policy, key, tmp_path / "arch", datetime(2026, 12, 1, tzinfo=UTC))
        monkeypatch.setattr(Store, "add_segment", real)
        store.define_log_views()
        assert store.event_count_and_max_seq()[0] == total  # nothing lost, nothing counted twice
        orphans = list((tmp_path / "arch").rglob("seg-*.parquet"))
        assert len(orphans) == 2  # one recorded, one orphan
        done = retention.apply(store, policy, key, tmp_path / "arch", datetime(2026, 12, 1, tzinfo=UTC))
        assert len(done.orphans_removed) == 2  # the orphan parquet and its manifest
        assert store.event_count_and_max_seq() == (total, total)
        assert verify(store, key.verifier, None).intact


def test_bad_retention_config_names_the_policy_and_field(cli, tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("retention:\n  policies:\n    - {name: p1, match: {colour: red}}\n")
    monkeypatch.setenv("AUDITCTL_CONFIG", str(cfg))
    cli("ingest", str(SAMPLES / "syslog" / "iso.log"))
    result = cli("retention", "apply", "--dry-run")
    assert result.exit_code == ExitCode.USAGE and "retention policy 'p1': match.colour" in result.output


# -- the archive as other engines read it (docs/guides/retention.md, "Other engines") ---------------------------

def _engine_visible(archive: Path) -> list[Path]:
    """The files Spark/Hive/Trino take as data when pointed at the folder: all but those whose
    name, or a folder's on the way, starts with `_` or `.`."""
    return sorted(p for p in archive.rglob("*") if p.is_file()
                  and not any(part.startswith(("_", ".")) for part in p.relative_to(archive).parts))


@pytest.fixture
def archived(cli, tmp_path, monkeypatch):
    """Every event that has a time archived (and some deleted, with a receipt), nothing held."""
    cfg = tmp_path / "all.yaml"
    cfg.write_text(f"signing_key: {tmp_path}/k.key\nretention:\n  default: {{archive_after: 30d}}\n"
                   "  policies:\n    - {name: noise, match: {category: system}, archive_after: 30d, delete_after: 60d}\n")
    monkeypatch.setenv("AUDITCTL_CONFIG", str(cfg))
    assert cli("ingest", str(SAMPLES)).exit_code == 0
    done = json.loads(cli("retention", "apply", "--as-of", "2100-01-01", "-f", "json").stdout)
    assert done["archived_events"] > 200 and done["deleted_events"] > 0
    return cli


def test_manifests_and_receipts_sit_where_engines_skip_them(archived, db):
    archive = db.with_name(db.name + ".archive")
    manifests = list(archive.rglob("_seg-*.json"))
    assert manifests and not list(archive.rglob("seg-*.json"))
    assert (archive / "_deletion-receipts.jsonl").exists()
    visible = _engine_visible(archive)
    assert visible and all(p.suffix == ".parquet" for p in visible), visible
    assert len(manifests) == len(visible)  # one signed manifest per segment


def test_duckdb_reads_the_archive_as_the_readme_shows_and_counts_equal_stats(archived, db):
    archive = db.with_name(db.name + ".archive")
    stats = {r["category"]: r["events"] for r in json.loads(
        archived("stats", "--by", "category", "--since", "1970-01-01", "-f", "json").stdout)}
    failures = {r["actor"]: r["events"] for r in json.loads(archived(
        "stats", "--by", "actor", "--category", "authentication", "--outcome", "failure",
        "--since", "2026-01-01", "--until", "2027-01-01", "-f", "json").stdout)}
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        everything = f"read_parquet('{archive}/**/*.parquet', hive_partitioning = true)"
        by_category = dict(con.execute(f"SELECT category, count(*) FROM {everything} GROUP BY category").fetchall())
        # the retention guide's example, as written there
        readme = dict(con.execute(
            f"SELECT actor, count(*) FROM {everything} WHERE year = 2026 AND category = 'authentication' "
            "AND outcome = 'failure' GROUP BY actor").fetchall())
        misplaced = con.execute(f"SELECT count(*) FROM {everything} WHERE year <> year(ts) OR month <> month(ts)"
                                ).fetchone()[0]
        # and as Spark lists the folder: every file it would take must read as Parquet
        files = [str(p) for p in _engine_visible(archive)]
        as_spark = con.execute("SELECT count(*) FROM read_parquet(?, hive_partitioning = true)", [files]).fetchone()[0]
    finally:
        con.close()
    assert by_category == stats and readme == failures and readme
    assert misplaced == 0 and as_spark == sum(stats.values())


def test_spark_reads_the_archive_folder_as_the_readme_shows(archived, db):
    pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (and needs Java): the DuckDB "
                                  "test above reads the folder the way Spark lists it")
    from pyspark.sql import SparkSession

    archive = db.with_name(db.name + ".archive")
    by_actor = {r["actor"]: r["events"] for r in json.loads(archived(
        "stats", "--by", "actor", "--since", "2026-01-01", "--until", "2027-01-01", "-f", "json").stdout)}
    spark = SparkSession.builder.master("local[1]").appName("auditctl-archive").getOrCreate()
    try:
        rows = spark.read.parquet(str(archive)).where("year = 2026").groupBy("actor").count().collect()
    finally:
        spark.stop()
    assert pyspark and {r["actor"]: r["count"] for r in rows} == by_actor


def test_an_archive_in_the_old_layout_is_renamed_and_still_verifies(archived, db):
    archive = db.with_name(db.name + ".archive")
    for manifest in archive.rglob("_seg-*.json"):  # as versions before wrote them
        manifest.rename(manifest.with_name(manifest.name[1:]))
    (archive / "_deletion-receipts.jsonl").rename(archive / "deletion-receipts.jsonl")
    assert archived("verify").exit_code == 0
    segments = len(list(archive.rglob("*.parquet")))
    done = json.loads(archived("retention", "apply", "--as-of", "2100-01-01", "-f", "json").stdout)
    assert len(done["renamed"]) == segments + 1 and done["orphans_removed"] == []
    assert all(p.suffix == ".parquet" for p in _engine_visible(archive))
    assert len(list(archive.rglob("_seg-*.json"))) == segments
    assert archived("verify").exit_code == 0
