"""A wrong --parser: refused unless forced, and undone by `ingest --reparse`, which appends the
right events and marks the earlier ones superseded (hidden from readers, still signed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from auditctl.store import Store
from auditctl.store import events as store_events
from support import CORPUS, SAMPLES

# resolved: the store keeps a source by its real path (the corpus may be reached through a link)
AUTH = (CORPUS / "elastic-beats-2019/filebeat/module/system/auth/test/auth-ubuntu1204.log").resolve()  # 1,000 lines
SMALL = SAMPLES / "syslog" / "auth.log"  # 61 syslog records, one unparsed
WIDE = ["--since", "2000-01-01", "--until", "2100-01-01"]

pytestmark = pytest.mark.skipif(not AUTH.exists(), reason=f"corpus file {AUTH} not present")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def q(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def total(cli, *args: str) -> int:
    res = cli("stats", "--by", "parser", "--format", "jsonl", *args)
    assert res.exit_code == 0, res.output
    return sum(r["events"] for r in jsonl(res.stdout))


def test_a_forced_parser_that_reads_nothing_is_refused_and_stores_nothing(cli, db):
    res = cli("ingest", "--parser", "k8s_audit", str(AUTH))
    assert res.exit_code == 1
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert str(AUTH) in errors[0] and "k8s_audit" in errors[0] and "100 of the first 100" in errors[0]
    assert "auto-detection" in errors[0] and "--force" in errors[0]
    assert q(db, "SELECT count(*) FROM events WHERE parser <> 'auditctl'") == [(0,)]
    assert q(db, "SELECT count(*) FROM files") == [(0,)]
    # nothing remembered: the right parser now reads the file instead of calling it unchanged
    res = cli("ingest", str(AUTH))
    assert res.exit_code == 0, res.output
    assert q(db, "SELECT parser, count(*) FROM events WHERE source = ? GROUP BY 1".replace("?", f"'{AUTH}'")) == [
        ("syslog", 1000)]


def test_a_short_file_is_refused_only_when_nothing_of_it_parses(cli, db, tmp_path):
    short = tmp_path / "three.log"
    short.write_text("".join(AUTH.read_text().splitlines(keepends=True)[:3]))
    res = cli("ingest", "--parser", "k8s_audit", str(short))
    assert res.exit_code == 1 and "3 of the first 3" in res.stderr
    # a forced parser that reads most records is fine, even with one it cannot read
    res = cli("ingest", "--parser", "syslog", str(SMALL))
    assert res.exit_code == 0, res.output
    assert q(db, "SELECT count(*) FROM events WHERE parser = 'syslog' AND action = 'unparsed'") == [(1,)]


def test_auto_detection_is_never_refused(cli, db, tmp_path):
    noise = tmp_path / "notes.txt"
    noise.write_text("".join(f"note {i}: nothing a parser knows\n" for i in range(200)))
    res = cli("ingest", str(noise))
    assert res.exit_code == 0, res.output
    assert q(db, "SELECT count(*) FROM events WHERE action = 'unparsed'") == [(200,)]


def test_stdin_with_a_wrong_forced_parser_is_refused(cli, db):
    res = cli("ingest", "--parser", "k8s_audit", "-", input=AUTH.read_bytes())
    assert res.exit_code == 1 and "stdin: parser k8s_audit" in res.stderr
    assert q(db, "SELECT count(*) FROM events WHERE parser <> 'auditctl'") == [(0,)]


def test_force_then_reparse_gives_the_right_events_and_hides_the_wrong_ones(cli, db):
    assert cli("ingest", "--parser", "k8s_audit", "--force", str(AUTH)).exit_code == 0
    assert cli("ingest", str(SMALL)).exit_code == 0
    assert cli("ingest", str(AUTH)).stdout.count("unchanged") == 1  # the old trap: the registry remembers it
    shown_before = total(cli)

    res = cli("ingest", "--reparse", str(AUTH))
    assert res.exit_code == 0, res.output
    assert "1,000 earlier event(s) of parser k8s_audit superseded" in res.stdout
    wrong = q(db, "SELECT min(seq), max(seq) FROM events WHERE parser = 'k8s_audit'")[0]
    right = q(db, "SELECT min(seq), max(seq), count(*) FROM events WHERE parser = 'syslog' AND source = "
                  f"'{AUTH}'")[0]
    assert right[0] > wrong[1] and right[2] == 1000  # appended, new seqs
    assert q(db, "SELECT first_seq, last_seq, by_first_seq, by_last_seq FROM superseded") == [
        (wrong[0], wrong[1], right[0], right[1])]
    assert q(db, "SELECT parser, first_seq, last_seq, events FROM files WHERE path = " + f"'{AUTH}'") == [
        ("syslog", right[0], right[1], 1000)]

    stored = q(db, "SELECT count(*) FROM events")[0][0]
    assert total(cli) == shown_before - 1000 + 1000
    assert total(cli, "--include-superseded") == stored  # every stored event is accounted for
    assert total(cli, "--parser", "k8s_audit") == 0

    hidden = cli("search", "--parser", "k8s_audit", "--format", "jsonl")
    assert hidden.exit_code == 0 and jsonl(hidden.stdout) == []
    shown = jsonl(cli("search", "--parser", "k8s_audit", "--include-superseded", "-n", "0", "-f", "jsonl").stdout)
    assert len(shown) == 1000 and all(r["superseded"] for r in shown)
    current = jsonl(cli("search", "--source", str(AUTH), "--include-superseded", "-n", "0", "-f", "jsonl").stdout)
    assert {r["parser"]: r["superseded"] for r in current} == {"k8s_audit": True, "syslog": False}

    exported = cli("export", "--format", "jsonl")
    assert exported.exit_code == 0 and not any(r["parser"] == "k8s_audit" for r in jsonl(exported.stdout))
    assert len(jsonl(cli("export", "--format", "jsonl", "--include-superseded").stdout)) == stored

    verify = cli("verify", "--format", "json")
    assert verify.exit_code == 0, verify.output
    assert json.loads(verify.stdout)["events"] == q(db, "SELECT count(*) FROM events")[0][0]


def test_reparsing_twice_supersedes_the_first_reparse(cli, db):
    assert cli("ingest", str(AUTH)).exit_code == 0
    assert cli("ingest", "--reparse", str(AUTH)).exit_code == 0
    res = cli("ingest", "--reparse", str(AUTH))
    assert res.exit_code == 0 and "1,000 earlier event(s) of parser syslog superseded" in res.stdout
    runs = q(db, "SELECT first_seq, last_seq, by_first_seq, by_last_seq FROM superseded ORDER BY first_seq")
    assert runs == [(1, 1000, 1001, 2000), (1001, 2000, 2001, 3000)]
    with Store.open(db, read_only=True) as store:
        assert store.superseded_sql == "(seq BETWEEN 1 AND 2000)"  # adjacent runs hidden as one
    assert q(db, "SELECT count(*) FROM events WHERE source = " + f"'{AUTH}'") == [(3000,)]
    shown = jsonl(cli("search", "--source", str(AUTH), "-n", "0", "-f", "jsonl").stdout)
    assert [r["seq"] for r in shown] == sorted(r["seq"] for r in shown) and {r["seq"] for r in shown} == set(
        range(2001, 3001))


def test_rules_and_reports_do_not_count_superseded_events(cli, tmp_path):
    """A reparse with the same parser doubles the stored events; check and report must not."""
    from conftest import Cli

    once, twice = Cli(tmp_path / "once.duckdb"), Cli(tmp_path / "twice.duckdb")
    for c in (once, twice):
        assert c("ingest", str(AUTH)).exit_code == 0
    assert twice("ingest", "--reparse", str(AUTH)).exit_code == 0

    def findings(c) -> list[tuple]:
        res = c("check", *WIDE, "--format", "jsonl")
        assert res.exit_code == 0, res.output
        return sorted((f["rule"], json.dumps(f["group"]), f["count"]) for f in jsonl(res.stdout))

    def report(c) -> dict:
        res = c("report", *WIDE, "--format", "json")
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        return {"coverage": doc["coverage"]["events"], "auth": doc["authentication"]["failed_logins"],
                "priv": doc["summary"]["privileged_actions"], "um": doc["summary"]["user_management_changes"]}

    found_once = findings(once)  # a second check would only re-find them (deduplicated)
    assert found_once and findings(twice) == found_once
    assert report(twice) == report(once)


def test_a_file_ingested_in_several_runs_supersedes_only_its_own_events(cli, db, tmp_path):
    log = tmp_path / "auth.log"
    lines = AUTH.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:40]))
    assert cli("ingest", str(log)).exit_code == 0  # seqs 1-40
    assert cli("ingest", str(SMALL)).exit_code == 0  # 41-101, another file
    with log.open("a") as f:
        f.write("".join(lines[40:50]))
    assert cli("ingest", str(log)).exit_code == 0  # 102-111, resumed
    assert q(db, "SELECT first_seq, last_seq, events FROM files WHERE path = " + f"'{log}'") == [(1, 111, 50)]

    res = cli("ingest", "--reparse", str(log))
    assert res.exit_code == 0 and "50 earlier event(s)" in res.stdout, res.output
    assert q(db, "SELECT first_seq, last_seq FROM superseded ORDER BY 1") == [(1, 40), (102, 111)]
    assert total(cli, "--include-superseded") == q(db, "SELECT count(*) FROM events")[0][0]
    small = jsonl(cli("search", "--source", str(SMALL), "-n", "0", "-f", "jsonl").stdout)
    assert len(small) == 61  # the other file's events are untouched


def test_runs_from_before_schema_8_are_found_by_source(cli, db, tmp_path):
    """A store migrated from schema 7 has no file_runs for a file ingested in several runs."""
    log = tmp_path / "auth.log"
    lines = AUTH.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:40]))
    cli("ingest", str(log))
    cli("ingest", str(SMALL))
    with log.open("a") as f:
        f.write("".join(lines[40:50]))
    cli("ingest", str(log))
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM file_runs")  # as the 7 -> 8 migration leaves a non-contiguous entry
    con.close()
    res = cli("ingest", "--reparse", str(log))
    assert res.exit_code == 0, res.output
    assert q(db, "SELECT first_seq, last_seq FROM superseded ORDER BY 1") == [(1, 40), (102, 111)]


def test_many_superseded_runs_are_hidden_by_a_join(cli, db, monkeypatch):
    monkeypatch.setattr(store_events, "INLINE_SUPERSEDED_RUNS", 0)
    assert cli("ingest", "--parser", "k8s_audit", "--force", str(AUTH)).exit_code == 0
    assert cli("ingest", "--reparse", str(AUTH)).exit_code == 0
    assert total(cli, "--parser", "k8s_audit") == 0
    shown = jsonl(cli("search", "--include-superseded", "--parser", "k8s_audit", "-n", "3", "-f", "jsonl").stdout)
    assert len(shown) == 3 and all(r["superseded"] for r in shown)


def test_reparse_of_stdin_is_a_usage_error(cli):
    res = cli("ingest", "--reparse", "-", input=SMALL.read_bytes())
    assert res.exit_code == 2 and "standard input cannot be read again" in res.stderr


def test_a_never_ingested_file_is_simply_ingested(cli, db, tmp_path):
    copy = tmp_path / "copy.log"
    shutil.copy(SMALL, copy)
    res = cli("ingest", "--reparse", str(copy))
    assert res.exit_code == 0 and "not ingested before" in res.stdout
    assert q(db, "SELECT count(*) FROM superseded") == [(0,)]


def test_a_file_parsed_in_parallel_is_refused_from_its_first_chunk(db, monkeypatch):
    from auditctl.config import Config
    from auditctl.ingest import ingester as ingest_module
    from auditctl.ingest import parallel
    from auditctl.ingest.ingester import Ingester
    from auditctl.store import Store
    from support import registry

    monkeypatch.setattr(ingest_module, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(parallel, "FIRST_CHUNK_BYTES", 4096)
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 16 * 1024)
    chunks: list[object] = []
    real = ingest_module.parse_parallel

    def spy(*args, **kwargs):
        for chunk in real(*args, **kwargs):
            chunks.append(chunk)
            yield chunk

    monkeypatch.setattr(ingest_module, "parse_parallel", spy)
    with Store.open(db) as store:
        # jsonl splits at lines, so its file goes the parallel way; syslog lines are not JSON
        result = Ingester(store, registry(), Config(db=db, workers=2), forced_parser="jsonl").ingest([str(AUTH)])
        assert result.files[0].status == "failed" and "parser jsonl" in result.files[0].note
        assert store.con.execute("SELECT count(*) FROM events").fetchone() == (0,)
    # parsed in parallel, and stopped once the first 100 records were judged
    assert 0 < len(chunks) < len(parallel.plan_chunks(AUTH, 0, 1))
