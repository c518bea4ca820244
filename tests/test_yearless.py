"""Year-less syslog stamps: the year from --year, the rotated file's name or the content, and a
note when it is only a guess from the file's modification time."""

from __future__ import annotations

import gzip
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from auditctl.config import Config
from auditctl.ingest.ingester import Ingester
from auditctl.store import Store
from support import CORPUS, registry

SYSTEM = CORPUS / "elastic-beats-2019" / "filebeat" / "module" / "system"
AUTH = SYSTEM / "auth" / "test" / "test.log"  # Feb 21..24, no year anywhere
DARWIN = SYSTEM / "syslog" / "test" / "darwin-syslog.log"  # Dec 13, `2016-12-13` in messages
TODAY = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def corpus(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"corpus file {path} not present")
    return path


def copied(src: Path, dest: Path) -> Path:
    """A copy made today: its mtime says nothing about when the log was written."""
    shutil.copyfile(src, dest)
    os.utime(dest, (TODAY.timestamp(), TODAY.timestamp()))
    return dest


def ingest(db: Path, path: Path, **kwargs):
    with Store.open(db) as store:
        return Ingester(store, registry(), Config(db=db, workers=1), **kwargs).ingest([str(path)]).files[0]


def years(db: Path) -> list[int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT year(ts AT TIME ZONE 'UTC') FROM events ORDER BY seq").fetchall()]
    finally:
        con.close()


def test_a_copied_log_is_dated_by_mtime_with_a_warning(tmp_path):
    log = copied(corpus(AUTH), tmp_path / "auth.log")
    result = ingest(tmp_path / "a.duckdb", log)
    assert set(years(tmp_path / "a.duckdb")) == {2026}
    assert "modification time (2026), a guess" in result.note and "--year" in result.note


def test_year_option_dates_every_stamp(tmp_path):
    log = copied(corpus(AUTH), tmp_path / "auth.log")
    result = ingest(tmp_path / "a.duckdb", log, year=2019)
    assert set(years(tmp_path / "a.duckdb")) == {2019}
    assert "guess" not in result.note and "--year" in result.note


@pytest.mark.parametrize("name", ["auth.log-20190301", "auth.log-20190301.gz"])
def test_the_date_of_a_rotated_file_name_gives_the_year(tmp_path, name):
    src = corpus(AUTH)
    log = tmp_path / name
    if name.endswith(".gz"):
        log.write_bytes(gzip.compress(src.read_bytes()))
        os.utime(log, (TODAY.timestamp(), TODAY.timestamp()))
    else:
        copied(src, log)
    result = ingest(tmp_path / "a.duckdb", log)
    assert set(years(tmp_path / "a.duckdb")) == {2019}
    assert "file name" in result.note


def test_an_iso_date_in_the_messages_gives_the_year(tmp_path):
    log = copied(corpus(DARWIN), tmp_path / "system.log")
    result = ingest(tmp_path / "a.duckdb", log)
    assert set(years(tmp_path / "a.duckdb")) == {2016}
    assert "content" in result.note


def test_an_audit_epoch_gives_the_year_and_the_rollover_is_kept(tmp_path):
    log = tmp_path / "kern.log"
    log.write_text(
        "Dec 31 23:58:01 web1 kernel: [ 3.1] audit: type=1400 audit(1514764681.120:42): apparmor=\"STATUS\"\n"
        "Dec 31 23:59:59 web1 CRON[811]: pam_unix(cron:session): session closed for user root\n"
        "Jan  1 00:00:02 web1 sshd[901]: Accepted publickey for deploy from 198.51.100.4 port 51122 ssh2\n")
    os.utime(log, (TODAY.timestamp(), TODAY.timestamp()))
    result = ingest(tmp_path / "a.duckdb", log)
    assert years(tmp_path / "a.duckdb") == [2017, 2017, 2018]
    assert "content" in result.note


def test_year_is_the_year_of_the_last_stamp_across_new_year(tmp_path):
    log = tmp_path / "auth.log"
    log.write_text(
        "Dec 30 10:00:00 web1 sshd[1]: Accepted password for a from 198.51.100.4 port 1 ssh2\n"
        "Jan  2 10:00:00 web1 sshd[2]: Accepted password for b from 198.51.100.4 port 2 ssh2\n")
    ingest(tmp_path / "a.duckdb", log, year=2018)
    assert years(tmp_path / "a.duckdb") == [2017, 2018]


def test_files_with_years_get_no_note(tmp_path):
    log = tmp_path / "iso.log"
    log.write_text("2019-06-14T10:40:20+00:00 web1 sshd[1]: Accepted password for a from 198.51.100.4 port 1 ssh2\n")
    assert ingest(tmp_path / "a.duckdb", log).note == ""


def test_cli_year_option_and_summary_note(cli, tmp_path):
    log = copied(corpus(AUTH), tmp_path / "auth.log")
    out = cli("ingest", str(log))
    assert out.exit_code == 0, out.output
    assert f"{log}: year-less stamps dated by the file's modification time (2026)" in out.output
    other = copied(corpus(AUTH), tmp_path / "auth-old.log")
    with other.open("a") as f:
        f.write("Feb 25 09:00:00 localhost sshd[1]: Connection closed by 10.0.2.2 port 1\n")
    out = cli("ingest", "--year", "2019", str(other))
    assert out.exit_code == 0, out.output
    assert "guess" not in out.output
