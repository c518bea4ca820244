"""watch: following files through rotation, the syslog receiver, alert sinks, kill -9, and other
commands working while it runs. Every loop is bounded; only loopback addresses are used."""

from __future__ import annotations

import gzip
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from auditctl.config import Config
from auditctl.detect.rules import load_rules
from auditctl.errors import ConfigError
from auditctl.integrity.signing import load_or_create_key
from auditctl.live.alerts import Sink, parse_sink
from auditctl.live.watch import Watcher
from support import registry

AUDITCTL = Path(sys.executable).parent / "auditctl"


def line(i: int, ip: str = "203.0.113.80", user: str = "root") -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp} web1 sshd[{i}]: Failed password for {user} from {ip} port {1000 + i} ssh2\n"


def append(path: Path, start: int, count: int, **kw) -> None:
    with path.open("a") as f:
        for i in range(start, start + count):
            f.write(line(i, **kw))


def stored(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT pid, source FROM events ORDER BY seq").fetchall()
    finally:
        con.close()


@pytest.fixture
def watcher(tmp_path):
    cfg = Config(db=tmp_path / "w.duckdb", signing_key=tmp_path / "k.key", key_name="w")
    key, _ = load_or_create_key(cfg.signing_key, "w")
    out = tmp_path / "alerts.jsonl"
    w = Watcher(cfg, registry(), [str(tmp_path / "logs")], load_rules(), [Sink(parse_sink(f"jsonl:{out}"))], key)
    (tmp_path / "logs").mkdir()
    w.alerts_file = out  # type: ignore[attr-defined]
    return w


def test_new_lines_partial_lines_and_new_files(watcher, tmp_path):
    log = tmp_path / "logs" / "auth.log"
    append(log, 0, 3)
    with log.open("a") as f:
        f.write(line(3)[:20])  # a line still being written
    assert watcher.cycle().events == 3
    with log.open("a") as f:
        f.write(line(3)[20:])
    assert watcher.cycle().events == 1
    append(tmp_path / "logs" / "late.log", 100, 2)  # appears later in the watched directory
    assert watcher.cycle().events == 2
    assert [p for p, _ in stored(watcher.config.db)] == [0, 1, 2, 3, 100, 101]


def test_rotation_by_rename_reads_the_old_tail_first(watcher, tmp_path):
    log = tmp_path / "logs" / "auth.log"
    append(log, 0, 2)
    watcher.cycle()
    append(log, 2, 2)  # written after the last cycle, before rotation
    log.rename(tmp_path / "logs" / "auth.log.1")
    append(log, 10, 2)
    assert watcher.cycle().events == 4
    assert [p for p, _ in stored(watcher.config.db)] == [0, 1, 2, 3, 10, 11]
    with (tmp_path / "logs" / "auth.log.1").open("rb") as src, gzip.open(tmp_path / "logs" / "auth.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (tmp_path / "logs" / "auth.log.1").unlink()
    assert watcher.cycle().events == 0  # the compressed rotation adds nothing twice


def test_rotation_outside_the_watched_glob(tmp_path):
    """Following one file by name: the renamed old file is found by its inode."""
    cfg = Config(db=tmp_path / "w.duckdb", signing_key=tmp_path / "k.key", key_name="w")
    key, _ = load_or_create_key(cfg.signing_key, "w")
    log = tmp_path / "auth.log"
    w = Watcher(cfg, registry(), [str(log)], [], [], key)
    append(log, 0, 2)
    w.cycle()
    append(log, 2, 1)
    log.rename(tmp_path / "auth.log.old")
    append(log, 20, 1)
    assert w.cycle().events == 2
    assert [p for p, _ in stored(cfg.db)] == [0, 1, 2, 20]


def test_copytruncate(watcher, tmp_path):
    log = tmp_path / "logs" / "auth.log"
    append(log, 0, 5)
    watcher.cycle()
    append(log, 5, 1)
    shutil.copy(log, tmp_path / "copy.log")  # logrotate's copy goes elsewhere here
    log.write_text("")
    append(log, 50, 2)
    assert watcher.cycle().events == 2
    assert [p for p, _ in stored(watcher.config.db)][-2:] == [50, 51]


def test_a_burst_spanning_two_cycles_is_one_alert_with_a_count(watcher, tmp_path):
    log = tmp_path / "logs" / "auth.log"
    append(log, 0, 5)
    watcher.cycle()
    append(log, 5, 5)
    first = watcher.cycle()
    append(log, 10, 20)
    watcher.cycle()
    alerts = [json.loads(x) for x in watcher.alerts_file.read_text().splitlines()]
    by_rule = {a["rule"]: a for a in alerts}
    assert [a["rule"] for a in alerts].count("auth.failed-login-burst.ip") == 1
    assert by_rule["auth.failed-login-burst.ip"]["count"] == 10 and first.alerts >= 1
    findings = duckdb.connect(str(watcher.config.db), read_only=True).execute(
        "SELECT count, rule_id FROM findings WHERE rule_id = 'auth.failed-login-burst.ip'").fetchall()
    assert findings == [(30, "auth.failed-login-burst.ip")]  # the stored finding kept counting


def test_sink_routing_and_rate_limit(tmp_path):
    out = tmp_path / "a.jsonl"
    sink = Sink(parse_sink({"kind": "jsonl", "target": str(out), "min_severity": "high", "rules": ["auth.*"],
                            "rate_limit": 2}))
    base = {"rule": "auth.x", "severity": "high", "title": "t", "group_text": "g", "count": 1, "first": "", "last": "",
            "status": "new"}
    assert not sink.offer({**base, "severity": "medium"})
    assert not sink.offer({**base, "rule": "iam.x"})
    assert [sink.offer(base) for _ in range(4)] == [True, True, False, False]
    assert sink.suppressed == 2 and len(out.read_text().splitlines()) == 2


def test_a_flood_of_lower_alerts_does_not_use_up_the_rate_limit_of_higher_ones(tmp_path):
    """120 off-hours findings (medium) in a minute must not hold back a brute-force one (high)."""
    out = tmp_path / "a.jsonl"
    sink = Sink(parse_sink({"kind": "jsonl", "target": str(out), "rate_limit": 3}))
    base = {"rule": "priv.off-hours", "severity": "medium", "title": "t", "group_text": "g", "count": 1,
            "first": "", "last": "", "status": "new"}
    assert [sink.offer(base) for _ in range(5)] == [True, True, True, False, False]
    assert sink.offer({**base, "rule": "auth.failed-login-burst.ip", "severity": "high"})
    delivered = [json.loads(line) for line in out.read_text().splitlines()]
    assert delivered[-1]["rule"] == "auth.failed-login-burst.ip" and delivered[-1]["suppressed_before"] == 2
    assert not sink.offer(base)


@pytest.mark.parametrize(("spec", "message"), [
    ("pager", "kind: choose one of"), ("webhook:ftp://x", r"is not an http\(s\) URL"),
    ("jsonl", "target: jsonl needs one"), ("syslog:10.0.0.1:514", "use udp://"),
])
def test_bad_sink_specs(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_sink(spec)


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []
    fail_first = 0

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Hook.received.append(body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    _Hook.fail_first = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_webhook_retries_then_delivers_and_slack_body(hook):
    _Hook.fail_first = 2
    alert = {"rule": "r", "severity": "high", "title": "T", "group_text": "src_ip=1.2.3.4", "count": 9,
             "first": "a", "last": "b", "status": "new"}
    assert Sink(parse_sink({"kind": "webhook", "target": hook, "retries": 3, "timeout": 2})).offer(alert)
    assert _Hook.received[-1]["count"] == 9
    assert Sink(parse_sink(f"slack:{hook}")).offer(alert)
    assert _Hook.received[-1]["text"].startswith(":rotating_light: *HIGH* T")


def test_exec_sink_gets_the_alert_on_stdin(tmp_path):
    out = tmp_path / "got.json"
    sink = Sink(parse_sink(f"exec:cat > {out}"))
    assert sink.offer({"rule": "r", "severity": "low", "title": "t", "group_text": "g", "count": 1, "first": "",
                       "last": "", "status": "new"})
    assert json.loads(out.read_text())["rule"] == "r"


def test_syslog_sink_sends_udp():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    port = receiver.getsockname()[1]
    Sink(parse_sink(f"syslog:udp://127.0.0.1:{port}")).offer(
        {"rule": "r", "severity": "critical", "title": "t", "group_text": "g", "count": 1, "first": "", "last": "",
         "status": "new"})
    data, _ = receiver.recvfrom(65535)
    assert b"auditctl:" in data and b'"rule": "r"' in data
    receiver.close()


# -- end to end, in a subprocess ------------------------------------------------------------

def _free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path) -> dict:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"signing_key: {tmp_path / 'k.key'}\nlock_wait_seconds: 10\n")
    return {**os.environ, "AUDITCTL_CONFIG": str(cfg), "AUDITCTL_DB": str(tmp_path / "w.duckdb")}


def _wait_for(predicate, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_watch_subprocess_alerts_by_webhook_and_jsonl_and_search_works_meanwhile(tmp_path, hook):
    log = tmp_path / "auth.log"
    log.write_text("")
    alerts = tmp_path / "alerts.jsonl"
    env = _env(tmp_path)
    proc = subprocess.Popen([str(AUDITCTL), "watch", str(log), "--alert", f"jsonl:{alerts}", "--alert",
                             f"webhook:{hook}", "--interval", "0.2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        append(log, 0, 12, ip="198.51.100.23")
        assert _wait_for(lambda: alerts.exists() and "auth.failed-login-burst.ip" in alerts.read_text())
        assert _wait_for(lambda: any(a.get("rule") == "auth.failed-login-burst.ip" for a in _Hook.received))
        started = time.monotonic()
        search = subprocess.run([str(AUDITCTL), "search", "--ip", "198.51.100.23", "--limit", "0"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert search.returncode == 0 and len(search.stdout.splitlines()) == 12
        assert time.monotonic() - started < 15
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped after" in err


@pytest.mark.slow
def test_kill_9_and_restart_store_every_line_exactly_once(tmp_path):
    log = tmp_path / "auth.log"
    log.write_text("")
    env = _env(tmp_path)
    cmd = [str(AUDITCTL), "watch", str(log), "--alert", f"jsonl:{tmp_path / 'a.jsonl'}", "--interval", "0.05"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    written = 0
    try:
        for _ in range(30):
            append(log, written, 20, user=f"u{written % 7}")
            written += 20
            time.sleep(0.03)
    finally:
        proc.kill()  # kill -9 in the middle of whatever it was doing
        proc.wait(timeout=30)
    append(log, written, 50)
    written += 50
    subprocess.run([*cmd, "--cycles", "3"], env=env, timeout=120, check=True, capture_output=True)
    pids = [p for p, _ in stored(tmp_path / "w.duckdb")]
    assert sorted(pids) == list(range(written)) and len(pids) == len(set(pids))
    verify = subprocess.run([str(AUDITCTL), "verify", "--format", "json"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert json.loads(verify.stdout)["intact"], verify.stdout


@pytest.mark.slow
def test_syslog_over_udp_and_tcp(tmp_path):
    udp, tcp = _free_port(socket.SOCK_DGRAM), _free_port()
    env = _env(tmp_path)
    proc = subprocess.Popen([str(AUDITCTL), "watch", "--listen", f"udp://127.0.0.1:{udp}", "--listen",
                             f"tcp://127.0.0.1:{tcp}", "--interval", "0.2", "--alert", f"jsonl:{tmp_path / 'a.jsonl'}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: (tmp_path / "w.duckdb.spool").exists())
        time.sleep(0.5)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(f"<38>1 {now} edge1 sshd 1 - - Accepted password for ann from 10.1.1.1 port 22 ssh2".encode(),
                     ("127.0.0.1", udp))
            s.sendto(b"<86>Mar  1 10:00:00 edge2 sudo:   ann : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/id",
                     ("127.0.0.1", udp))
        with socket.create_connection(("127.0.0.1", tcp), timeout=5) as s:
            framed = f"<38>1 {now} edge3 sshd 2 - - Failed password for bob from 10.2.2.2 port 22 ssh2".encode()
            s.sendall(str(len(framed)).encode() + b" " + framed)  # octet counting
            s.sendall(f"<38>1 {now} edge4 useradd 3 - - new user: name=eve, UID=1, GID=1, home=/h, shell=/bin/sh\n".encode())

        def hosts():
            try:
                con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
            except duckdb.Error:
                return set()
            try:
                return {r[0] for r in con.execute("SELECT host FROM events").fetchall()}
            finally:
                con.close()
        assert _wait_for(lambda: hosts() == {"edge1", "edge2", "edge3", "edge4"}, 30)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


def test_watch_needs_something_to_watch(cli, tmp_path):
    assert cli("watch").exit_code == 2
    assert cli("watch", "--listen", "udp://:5514").exit_code == 2


SSH_BRUTE_SIGMA = """\
title: SSH brute force (Sigma correlation over sshd failures)
name: sshd_failed_password
id: 7a1f5c2e-0000-4000-8000-000000000001
logsource: {product: linux, service: sshd}
detection:
    keywords: ['Failed password']
    condition: keywords
level: low
---
title: Many sshd failures from one host
id: 7a1f5c2e-0000-4000-8000-000000000002
correlation:
    type: event_count
    rules: [sshd_failed_password]
    group-by: [host]
    timespan: 10m
    condition: {gte: 8}
level: high
"""


def test_watch_runs_sigma_rules_and_correlations_like_native_ones(tmp_path):
    """A Sigma rule and a Sigma event_count correlation alert from watch, with the Sigma
    metadata in the alert; the base rule (generate: false) makes no alerts of its own."""
    rules = tmp_path / "brute.yml"
    rules.write_text(SSH_BRUTE_SIGMA)
    from auditctl.detect.sigma.load import load_sigma

    sigma = load_sigma([rules])
    assert not sigma.skipped and len(sigma.rules) == 1 and len(sigma.bases) == 1
    cfg = Config(db=tmp_path / "w.duckdb", signing_key=tmp_path / "k.key", key_name="w")
    key, _ = load_or_create_key(cfg.signing_key, "w")
    out = tmp_path / "alerts.jsonl"
    (tmp_path / "logs").mkdir()
    w = Watcher(cfg, registry(), [str(tmp_path / "logs")], sigma.rules, [Sink(parse_sink(f"jsonl:{out}"))], key)
    log = tmp_path / "logs" / "auth.log"
    append(log, 0, 5)
    w.cycle()
    assert not out.exists() or out.read_text() == ""  # 5 failures: below the correlation's 8
    append(log, 5, 5)
    w.cycle()
    alerts = [json.loads(x) for x in out.read_text().splitlines()]
    assert [a["rule"] for a in alerts] == ["7a1f5c2e-0000-4000-8000-000000000002"]
    assert alerts[0]["count"] == 10 and alerts[0]["sigma"]["kind"] == "event_count"
    assert alerts[0]["severity"] == "high" and alerts[0]["group"] == {"host": "web1"}
