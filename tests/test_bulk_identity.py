"""Proof of identity of the bulk paths (auditctl.ingest.bulk): the same files ingested with
`engine="python"` (the plugins alone, the reference) and `engine="bulk"` (bulk SQL where it
applies) give the same stored events, column by column, the same Merkle root, and the same
registry entries. ingested_at is pinned (it is the wall clock of each batch); every other
column must be equal.

Inputs: the corpus's syslog files and the vendored samples, bench/generate.py output, and
hypothesis-made files of every bulk shape and its near misses, with odd tokens, invalid UTF-8,
control characters, NUL, \\r, long lines, continuation lines, bad and boundary stamps (year
rollover, the last hour before the year-inference limit, DST changes) in several zones.
"""

from __future__ import annotations

import gzip
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import auditctl.ingest.bulk.syslog as bulk_syslog
import auditctl.ingest.ingester as ingester_module
from auditctl.config import Config
from auditctl.ingest.bulk import bulk_connection, bulk_path_for
from auditctl.ingest.bulk.authshapes import SHAPES
from auditctl.ingest.bulk.syslog import shape_names
from auditctl.ingest.ingester import Ingester
from auditctl.integrity.signing import load_or_create_key
from auditctl.integrity.verify import make_checkpoint
from auditctl.schema import COLUMN_NAMES
from auditctl.store import Store
from support import CORPUS, ROOT, SAMPLES, query, registry

sys.path.insert(0, str(ROOT / "bench"))
from generate import lines as generated_lines

PINNED = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)
RAW = COLUMN_NAMES.index("raw")
_FILE_COLUMNS = ('"offset"', "next_line", "events", "first_seq", "last_seq", "prefix_sha256", "sha256", "parser")


class _PinnedClock(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return PINNED


@pytest.fixture
def claimed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Pins the ingester's clock; counts the rows the syslog bulk SQL claimed (so a test also
    proves the bulk path ran, not just that the plugin agrees with itself)."""
    monkeypatch.setattr(ingester_module, "datetime", _PinnedClock)
    counts: list[int] = []
    splice = bulk_syslog.splice

    def counting(rows: Any, block: Any, job: Any) -> Any:
        counts.append(rows.num_rows)
        return splice(rows, block, job)

    monkeypatch.setattr(bulk_syslog, "splice", counting)
    return counts


def _ingest(folder: Path, files: list[Path], engine: str, year: int | None = None, **config: Any) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / f"{engine}.duckdb"
    cfg = Config(db=db, signing_key=folder / "k.key", key_name="identity", **config)
    with Store.open(db) as store:
        summary = Ingester(store, registry(), cfg, engine=engine, year=year).ingest([str(f) for f in files])
        key, _ = load_or_create_key(cfg.signing_key, "identity")
        checkpoint, _ = make_checkpoint(store, key, None)
        rows = store.con.execute(f"SELECT {', '.join(COLUMN_NAMES)} FROM events ORDER BY seq").fetchall()
        entries = store.con.execute(f"SELECT path, {', '.join(_FILE_COLUMNS)} FROM files ORDER BY path").fetchall()
    return {"rows": rows, "root": checkpoint.root, "entries": entries,
            "results": [(f.path, f.parser, f.events, f.unparsed, f.status, f.note, f.offset) for f in summary.files]}


def assert_identical(tmp: Path, files: list[Path], **kwargs: Any) -> None:
    reference = _ingest(tmp / "python", files, "python", **kwargs)
    bulk = _ingest(tmp / "bulk", files, "bulk", **kwargs)
    assert len(bulk["rows"]) == len(reference["rows"])
    for i, name in enumerate(COLUMN_NAMES):
        want = [r[i] for r in reference["rows"]]
        got = [r[i] for r in bulk["rows"]]
        if got != want:
            at = next(j for j, (a, b) in enumerate(zip(want, got, strict=True)) if a != b)
            raise AssertionError(f"column {name} differs at seq {at + 1} (raw {reference['rows'][at][RAW]!r}): "
                                 f"python {want[at]!r}, bulk {got[at]!r}")
    assert bulk["root"] == reference["root"]
    assert bulk["entries"] == reference["entries"]
    assert bulk["results"] == reference["results"]


def test_the_syslog_bulk_path_is_registered_and_the_engine_is_checked(tmp_path):
    assert bulk_path_for("syslog") is not None and bulk_path_for("cloudtrail") is None
    with Store.open(tmp_path / "a.duckdb") as store, pytest.raises(ValueError, match="engine"):
        Ingester(store, registry(), Config(db=tmp_path / "a.duckdb"), engine="rust")


def test_corpus_and_samples(tmp_path, claimed):
    files = sorted((SAMPLES / "syslog").iterdir())
    for module in ("auth", "syslog"):
        folder = CORPUS / "elastic-beats-2019" / "filebeat" / "module" / "system" / module / "test"
        if folder.is_dir():
            files += sorted(folder.glob("*.log"))
    assert_identical(tmp_path, files)
    assert sum(claimed) > 0


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_generated_auth_logs(tmp_path, claimed, seed):
    log = tmp_path / f"auth-{seed}.log"
    log.write_text("\n".join(generated_lines(3000, seed=seed)) + "\n")
    os.utime(log, (PINNED.timestamp(), PINNED.timestamp()))
    assert_identical(tmp_path, [log])
    assert sum(claimed) > 2500  # most lines are the common shapes


def test_a_gzip_file_and_a_year(tmp_path, claimed):
    import gzip

    log = tmp_path / "auth.log.2.gz"
    log.write_bytes(gzip.compress(("\n".join(generated_lines(500, seed=3)) + "\n").encode()))
    assert_identical(tmp_path, [log], year=2024)
    assert sum(claimed) > 400


def test_a_truncated_gzip_fails_alike(tmp_path, claimed, monkeypatch):
    """The whole file fails under both engines, with the same note; and the bulk reader names
    the line the plugin's reader names (for formats whose year inference does not read the
    tail first, as syslog's does)."""
    import gzip

    import auditctl.ingest.bulk.lines as bulk_lines
    from auditctl.ingest.bulk import BulkJob
    from auditctl.sources import SourceError, open_source

    monkeypatch.setattr(bulk_lines, "BLOCK_BYTES", 64 * 1024)
    whole = gzip.compress(("\n".join(generated_lines(40_000, seed=4)) + "\n").encode())
    log = tmp_path / "auth.log.3.gz"
    log.write_bytes(whole[: len(whole) * 2 // 3])
    assert_identical(tmp_path, [log])
    with pytest.raises(SourceError) as plugin:
        for _ in open_source(log).raw_lines():
            pass
    job = BulkJob(path=log, tz=UTC, reference_time=PINNED, options={}, fallback=lambda first, lines: [])
    with pytest.raises(SourceError) as bulk:
        for _ in bulk_lines.line_blocks(job):
            pass
    assert str(bulk.value) == str(plugin.value) and ": line " in str(plugin.value)


# -- hypothesis-made files ----------------------------------------------------------------

ODD = ["root", "alice", "in valid", "user", "from", "port", "invalid", "[preauth]", 'a"b', "back\\slash", "x.",
       "..", ".", "(uid=0)", "a(b", "b)", "", "::1", "fe80::1%eth0", "2001:db8::1", "10.0.0.1", "256.1.1.1",
       "01.2.3.4", "1.2.3.4:", "host.example.com", "a;b", "TTY=x", "by", "\u00e9t\u00e9", "tab\there", "x=y",
       "ssh2", "ssh2:", "opened", "CMD", "(to", "on", "22", "0022", "ab.example", "fe80::1%eth0", "a\x0bb", "x\x0c",
       "\x1c", "a\x1fb", "x\x85", "\x00", "a\x7fb"]
TOKEN = st.one_of(st.sampled_from(ODD), st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1,
                                                max_size=6))
NUMBER = st.sampled_from(["3", "0", "007", "22", "99999999999999999999", "x", ""])
TEMPLATES = [
    "Accepted {m} for {u} from {ip} port {p} ssh2", "Accepted {m} for {u} from {ip} port {p} ssh2: RSA SHA256:{w}",
    "Accepted {m} for {u} from {ip} port {p}", "Accepted {m} for {u} from {ip} port {p}: {w}",
    "Failed {m} for {u} from {ip} port {p} ssh2", "Failed {m} for invalid user {u} from {ip} port {p} ssh2",
    "Failed {m} for invalid user {u} from {ip} port {p}", "Invalid user {u} from {ip} port {p}",
    "Invalid user {u} from {ip}", "Connection closed by {ip} port {p} [preauth]",
    "Connection closed by authenticating user {u} {ip} port {p} [preauth]",
    "Connection closed by invalid user {u} {ip} port {p} [preauth]", "Connection closed by {ip} port {p}",
    "Connection closed by {ip}", "Disconnected from {ip} port {p} [preauth]",
    "Disconnected from invalid user {u} {ip} port {p} [preauth]",
    "Disconnected from authenticating user {u} {ip} port {p} [preauth]", "Disconnected from user {u} {ip} port {p}",
    "Received disconnect from {ip} port {p}:11: {w}", "Received disconnect from {ip} port {p}:11: {w} [preauth]",
    "Received disconnect from {ip}:11: {w}", 'Connection from {ip} port {p} on 10.0.0.1 port 22 rdomain ""',
    "pam_unix({s}:session): session opened for user {u}(uid=0) by (uid=0)",
    "pam_unix({s}:session): session opened for user {u}(uid=1000) by {v}(uid=0)",
    "pam_unix({s}:session): session opened for user {u}(uid=0) by LOGIN(uid=0)",
    "pam_unix({s}:session): session closed for user {u}", "pam_unix({s}:session): session opened for user {u} by {v}",
    "pam_{w}({s}:session): session closed for user {u}",
    "pam_unix({s}:auth): authentication failure; logname={u} uid=0 euid=0 tty={w} ruser={v} rhost={ip}  user={x}",
    "pam_unix({s}:auth): authentication failure; logname={u} uid=0 euid=0 tty={w} ruser={v} rhost={ip}",
    "pam_unix({s}:auth): authentication failure; logname= uid=0 euid=0 tty= ruser= rhost=",
    "{u} : TTY={w} ; PWD={x} ; USER={v} ; COMMAND={w} {x}", "{u} : {n} incorrect password attempts ; TTY={w} ; "
    "PWD={x} ; USER={v} ; COMMAND={w}", "{u} : user NOT in sudoers ; TTY={w} ; PWD={x} ; USER={v} ; COMMAND={w}",
    "{u} : TTY={w} ; PWD={x} ; USER={v} ; GROUP={s} ; COMMAND={w}", "({u}) CMD ({w} {x})", "({u}) CMD ()",
    "New session {n} of user {u}.", "New session {n} of user {u}", "Session {n} logged out. Waiting for processes.",
    "Removed session {n}.", "(to {u}) {v} on {w}", "FAILED SU (to {u}) {v} on {w}",
    "message repeated {n} times: [ Failed password for {u} from {ip} port {p} ssh2]", "last message repeated {n} times",
    "{w}", "{w} {x}", "",
]
# valid values repeated: most lines should reach the shapes, the rest tries the header's edges
APPS = ["sshd"] * 6 + ["sshd-session", "sudo", "sudo", "CRON", "cron", "Cron", "su", "su-l", "runuser",
                        "systemd-logind", "systemd-logind", "kernel", "systemd", "SSHD", "useradd", "login", "my app",
                        "sshd(pam_unix)", "x:y", "[1]"]
MONTHS = ["Jan", "Mar", "Oct", "Dec"] * 3 + ["Feb", "Foo", "jan"]
DAYS = [" 1", " 2", "01", "25", "29", "31", "30"] * 2 + [" 0", "32", "1"]
HOURS = ["00", "01", "02", "03", "12", "23"] * 2 + ["24"]
MINSEC = ["00", "30", "59", "17"] * 3 + ["60", "7"]
HOSTS = ["web01", "host.example.com", "-"] * 3 + ["h:1", "[x]", "\u00e9", "a]b", "a\x0bb"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]


@st.composite
def syslog_line(draw: st.DrawFn) -> bytes:
    fields = {k: draw(TOKEN) for k in ("m", "u", "v", "w", "x", "ip", "s")}
    fields.update(n=draw(NUMBER), p=draw(NUMBER))
    message = draw(st.sampled_from(TEMPLATES)).format(**fields) + draw(st.sampled_from([""] * 6 + [" ", "\x0c", "\t"]))
    pid = draw(st.sampled_from(["", "[1234]", "[0001]", "[]", "[x]", "[1234567890123456789]"]))
    stamp = (f"{draw(st.sampled_from(MONTHS))} {draw(st.sampled_from(DAYS))} {draw(st.sampled_from(HOURS))}:"
             f"{draw(st.sampled_from(MINSEC))}:{draw(st.sampled_from(MINSEC))}")
    spacing = draw(st.sampled_from([": "] * 5 + [":", ":  ", ": \x0c", ":\t"]))
    line = f"{stamp} {draw(st.sampled_from(HOSTS))} {draw(st.sampled_from(APPS))}{pid}{spacing}{message}"
    return line.encode("utf-8", "surrogateescape")


ODD_LINE = st.one_of(
    st.binary(max_size=30),
    st.sampled_from([b"", b"   ", b"\t", b" continued line", b"\tcontinued", b"-- MARK --", b"\x07binary\x00noise",
                     b"Dec 31 23:59:59 web01 sshd[1]: Accepted password for a\xff from 1.2.3.4 port 22 ssh2",
                     b"Dec 31 23:59:59 web01 sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2\r",
                     b"Dec 31 23:59:59 web01 sshd[1]: Failed password for r\x00t from 1.2.3.4 port 22 ssh2",
                     b"Dec 31 23:59:59 web01 sshd[1]: Failed password for r\x1bt from 1.2.3.4 port 22 ssh2",
                     b"Dec 31 23:59:59 web01 sshd[1]: Connection closed by 1.2.3.4 port 22\r\r",
                     b"Dec 31 23:59:59.123 web01 sshd[1]: Connection closed by 1.2.3.4 port 22",
                     b"Dec 31 23:59:59 2026 web01 sshd[1]: Connection closed by 1.2.3.4 port 22",
                     b"2026-12-31T23:59:59Z web01 sshd[1]: Connection closed by 1.2.3.4 port 22",
                     b'{"receiver":1,"broken"',
                     b"Jan  1 00:00:01 web01 kernel: " + b"x" * 20000]),
)
LINE = st.one_of(syslog_line(), syslog_line(), syslog_line(), ODD_LINE)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(lines=st.lists(LINE, min_size=1, max_size=60), zone=st.sampled_from(ZONES),
       reference=st.sampled_from([datetime(2027, 1, 1, 0, 30, tzinfo=UTC), datetime(2026, 3, 29, 1, 15, tzinfo=UTC),
                                  datetime(2026, 10, 25, 3, 0, tzinfo=UTC), datetime(2028, 2, 29, 12, tzinfo=UTC)]),
       newline_at_end=st.booleans(), block=st.sampled_from([1, 100, 1000, 1 << 20]))
def test_hypothesis_lines(tmp_path_factory, claimed, monkeypatch, lines, zone, reference, newline_at_end, block):
    import auditctl.ingest.bulk.lines as bulk_lines

    monkeypatch.setattr(bulk_lines, "BLOCK_BYTES", block)  # block boundaries anywhere, between lines
    tmp = tmp_path_factory.mktemp("bulk")
    log = tmp / "auth.log"
    log.write_bytes(b"\n".join(lines) + (b"\n" if newline_at_end else b""))
    os.utime(log, (reference.timestamp(), reference.timestamp()))  # the year-less stamps' reference
    assert_identical(tmp, [log], timezone=zone)


# One line of each shape: each must be claimed by its own shape, and stored as the plugin stores it.
EXAMPLES = {
    "sshd failed, invalid user": "sshd[1]: Failed password for invalid user admin from 1.2.3.4 port 22 ssh2",
    "sshd failed": "sshd[1]: Failed publickey for root from scanner.example port 0022",
    "sshd accepted": "sshd[1]: Accepted publickey for alice from 10.0.0.1 port 5555 ssh2: ED25519 SHA256:abc",
    "sshd invalid user": "sshd[1]: Invalid user oracle from 1.2.3.4 port 40122",
    "sshd preauth closed, user": "sshd[1]: Connection closed by invalid user x 1.2.3.4 port 22 [preauth]",
    "sshd preauth closed": "sshd[1]: Connection closed by 10.0.0.9 port 22 [preauth]",
    "sshd preauth disconnected, user": "sshd[1]: Disconnected from authenticating user root 1.2.3.4 port 2 [preauth]",
    "sshd preauth disconnected": "sshd[1]: Disconnected from 1.2.3.4 port 22 [preauth]",
    "sshd preauth received disconnect": "sshd[1]: Received disconnect from 1.2.3.4 port 22:11: Bye Bye [preauth]",
    "sshd received disconnect": "sshd[1]: Received disconnect from 1.2.3.4 port 22:11: disconnected by user",
    "sshd disconnected": "sshd[1]: Disconnected from user alice 10.0.0.1 port 22",
    "sshd connection closed": "sshd[1]: Connection closed by 1.2.3.4 port 22",
    "sshd connection from": 'sshd[1]: Connection from 1.2.3.4 port 22 on 10.0.0.1 port 22 rdomain ""',
    "pam session": "CRON[2]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
    "pam auth failure": "sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
                        "ruser= rhost=scanner.example  user=root",
    "sudo command": "sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
    "sudo incorrect password": "sudo: bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/x",
    "cron command": "CRON[3]: (root) CMD (run-parts /etc/cron.hourly)",
    "logind new session": "systemd-logind[4]: New session 12 of user alice.",
    "logind logged out": "systemd-logind[4]: Session 12 logged out. Waiting for processes to exit.",
    "logind other": "systemd-logind[4]: Removed session 12.",
    "su": "su[5]: (to root) alice on pts/2",
    "other program": "kernel: [12.3] audit: backlog limit exceeded",
}


def test_every_shape_claims_its_example_as_the_plugin_reads_it(tmp_path, claimed):
    assert set(EXAMPLES) == {sh.name for sh in SHAPES}
    lines = [f"Mar  3 10:00:{i:02d} web01 {tag}" for i, tag in enumerate(EXAMPLES.values())]
    con = bulk_connection(1)
    try:
        assert shape_names(con, lines) == list(EXAMPLES)
    finally:
        con.close()
    log = tmp_path / "auth.log"
    log.write_text("\n".join(lines) + "\n")
    os.utime(log, (PINNED.timestamp(), PINNED.timestamp()))
    assert_identical(tmp_path, [log])
    assert sum(claimed) == len(EXAMPLES)


# Lines next to the shapes where the plugin picks another rule or none (from reading its
# regexes: lazy groups, rule order, \S against control characters, strip against trim).
NEAR_MISSES = [
    "sshd[1]: Failed publickey for root from 2001:db8::1 port 0022",  # a colon: is_ip asks ipaddress
    "sshd[1]: Accepted password for x from 1:2 port 22 ssh2",
    "sshd[1]: Connection closed by fe80::1%eth0 port 22",
    "sshd[1]: Connection closed by ::1 port 22 [preauth]",
    "sshd[1]: Connection closed by cafe.be port 22 [preauth]",  # the preauth class, not an address
    "sshd[1]: Received disconnect from ab.example port 22:11: x [preauth]",  # the preauth rule's `ab`
    "sshd[1]: Received disconnect from fe80::1%eth0 port 22:11: x [preauth]",
    "sshd[1]: Connection closed by [preauth]",
    "sshd[1]: Disconnected from user root 1.2.3.4 port 22 [preauth]",  # `Disconnected from user` first
    "sshd[1]: Failed password for invalid user from 1.2.3.4 port 22 ssh2",
    "sshd[1]: Failed password for invalid user from from 1.2.3.4 port 22 ssh2",
    "sshd[1]: Failed password for a from b from 1.2.3.4 port 22 ssh2",
    "sshd[1]: Accepted password for tab\tuser from 1.2.3.4 port 22 ssh2",
    "sshd[1]: Accepted password for x from 1.2.3.4 port 22: key text",
    "sshd[1]: Invalid user  from 1.2.3.4 port 22",
    "sshd[1]: Received disconnect from a: port 22:11: x",
    "sshd[1]: Received disconnect from 1.2.3.4 port 22: 11: x",
    "CRON[1]: pam_unix(cron:session): session opened for user root by",
    "CRON[1]: pam_unix(cron:session): session opened for user root(uid=0) by root(uid=0)",
    "CRON[1]: pam_unix(cron:session): session opened for user a(b by c",
    "login[1]: pam_unix(login:session): session opened for user root(uid=0) by LOGIN(uid=0)",
    "login[1]: pam_unix(login:session): session opened for user LOGIN(uid=0) by LOGIN(uid=0)",
    "sshd[1]: error: Received disconnect from 1.2.3.4 port 22:14: No more user authentication methods [preauth]",
    "ftpd[1]: ANONYMOUS FTP LOGIN FROM 10.0.0.7,  (anonymous)",
    "ftpd[1]: connection from 10.0.0.7 (ws7.example.org) at Fri Jun 17 07:07:00 2005",
    "sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=::1  user=root",
    "sshd[1]: pam_unix(sshd:auth): authentication failure; logname=a uid=0 euid=0 tty= ruser=b rhost=1.2.3.4  user=a",
    "sshd[1]: pam_unix(sshd:auth): authentication failure; logname=a uid=0 euid=0 tty= ruser= rhost=  user=a",
    "sshd[1]: pam_unix(sshd:session): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4",
    "sudo: a : TTY=x ; PWD=y ; USER=z ; COMMAND=/bin/echo a ; TTY=x ; PWD=y ; USER=z ; COMMAND=w",
    "sudo: pam_a(b:c): : TTY=x ; PWD=y ; USER=z ; COMMAND=w",
    "sudo: a : TTY= ; PWD= ; USER= ; COMMAND=",
    "sudo: a : 99999999999 incorrect password attempts ; TTY=x ; PWD=y ; USER=z ; COMMAND=w",
    "CRON[1]: (a) CMD (x) CMD (y)",
    "Cron[1]: (a) CMD (x)",
    "systemd-logind[1]: New session 1 of user ..",
    "systemd-logind[1]: New session 1 of user .",
    "systemd-logind[1]: message repeated 2 times: [ New session 1 of user a.]",
    "su[1]: (to root) alice on",
    "kernel: last message repeated 3 times",
    "kernel: pam_unix(x:session): session closed for user a",
    "SSHD[1]: Accepted password for x from 1.2.3.4 port 22 ssh2",
    "sshd[1]:",
    "sshd[1]:    ",
    "sshd[1]: Connection closed by 1.2.3.4 port 22 \x0c",
]


def test_near_misses(tmp_path, claimed):
    lines = [f"Oct  1 10:00:{i % 60:02d} web01 {tag}" for i, tag in enumerate(NEAR_MISSES)]
    log = tmp_path / "auth.log"
    log.write_text("\n".join(lines) + "\n")
    os.utime(log, (PINNED.timestamp(), PINNED.timestamp()))
    assert_identical(tmp_path, [log])


def test_the_cli_engine_option(cli, tmp_path):
    """`ingest --engine python` and the default store the same events through the CLI too."""
    log = tmp_path / "auth.log"
    log.write_text("\n".join(generated_lines(300, seed=5)) + "\n")
    first = cli("ingest", "--engine", "python", "--format", "json", str(log))
    assert first.exit_code == 0, first.output
    rows_python = query(cli.db, f"SELECT {', '.join(c for c in COLUMN_NAMES if c not in ('seq', 'ingested_at'))} "
                                "FROM events ORDER BY seq")
    second = cli("ingest", "--reparse", "--format", "json", str(log))  # the default engine: auto
    assert second.exit_code == 0, second.output
    rows_auto = query(cli.db, f"SELECT {', '.join(c for c in COLUMN_NAMES if c not in ('seq', 'ingested_at'))} "
                              "FROM events WHERE seq > 300 ORDER BY seq")
    assert len(rows_python) == 300 and rows_auto == rows_python
    assert cli("ingest", "--engine", "rust", str(log)).exit_code == 2


@pytest.mark.parametrize("block", [1, 1 << 20])
@pytest.mark.parametrize("batch", [1, 2, 122_880])
def test_leading_records_without_a_time_borrow_as_in_the_serial_path(tmp_path, claimed, monkeypatch, block, batch):
    """Records before the first stamp borrow it only within the first batch (TimeFiller): the
    bulk path cuts its first batch where the serial path does, whatever its blocks."""
    import auditctl.ingest.bulk.lines as bulk_lines

    monkeypatch.setattr(bulk_lines, "BLOCK_BYTES", block)
    log = tmp_path / "auth.log"
    log.write_text("Jan  1 00:00:60 web01 sshd: bad second\nnoise\n"
                   "Jan  1 00:00:00 web01 sshd[1]: Accepted password for root from 1.2.3.4 port 3 ssh2\nmore noise\n")
    os.utime(log, (PINNED.timestamp(), PINNED.timestamp()))
    assert_identical(tmp_path, [log], batch_size=batch)
    assert sum(claimed) == 1


def test_carriage_returns_before_the_line_end_are_the_records_own_bytes(tmp_path, claimed):
    """Only `\\n` or `\\r\\n` ends a line; any other `\\r` is kept in raw by both engines."""
    body = "Oct  1 10:00:0{} web01 sshd[1]: Connection closed by 1.2.3.4 port 22"
    log = tmp_path / "auth.log"
    log.write_bytes(b"".join((body.format(i) + end).encode() for i, end in
                             enumerate(["\n", "\r\n", "\r\r\n", "\r\n\r\n", "\r \n", "\n"])))
    os.utime(log, (PINNED.timestamp(), PINNED.timestamp()))
    assert_identical(tmp_path, [log])


def test_auto_takes_plugin_workers_where_a_file_splits_and_the_bulk_path_elsewhere(tmp_path, monkeypatch):
    """Measured on 2 CPUs, 1M lines: two plugin workers 9.4-9.7 s, the bulk path 10.8-11.1 s
    (but 12 CPU-s against 17); one worker or a .gz: plugins 13.5-15 s, bulk 11.6-11.8 s. So
    `auto` reads a splittable file with workers and the rest in bulk; `bulk` forces bulk."""
    monkeypatch.setattr(ingester_module, "PARALLEL_MIN_BYTES", 1)
    lines = [f"Oct  1 10:{i // 60 % 60:02d}:{i % 60:02d} web01 sshd[{i}]: Connection closed by 10.0.0.{i % 250} port 22"
             for i in range(2000)]
    plain = tmp_path / "auth.log"
    plain.write_text("\n".join(lines) + "\n")
    packed = tmp_path / "auth.log.1.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    readers = {}
    for engine in ("auto", "bulk", "python"):
        for path in (plain, packed):
            cfg = Config(db=tmp_path / f"{engine}-{path.name}.duckdb", workers=2)
            with Store.open(cfg.db) as store:
                result = Ingester(store, registry(), cfg, engine=engine).ingest([str(path)]).files[0]
            readers[engine, path.name] = result.reader
            assert result.events == 2000
    assert readers == {("auto", "auth.log"): "parallel", ("auto", "auth.log.1.gz"): "bulk",
                       ("bulk", "auth.log"): "bulk", ("bulk", "auth.log.1.gz"): "bulk",
                       ("python", "auth.log"): "parallel", ("python", "auth.log.1.gz"): "serial"}
