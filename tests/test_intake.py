"""The syslog receiver's front door (issue 19): TLS with client certificates, sender identity in
every event, the host check, sender networks, rate limits, the spool cap, exact bytes, counts.

Real TLS throughout (the standard library's ssl on both ends, and `openssl s_client` where it is
installed), with certificates made by tests/pki.py. Only loopback addresses; every wait is
bounded and waits for a condition, never for a time."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditctl.config import Config, ConfigError, ListenSettings, TlsSettings, load_config
from auditctl.detect.rules import load_rules
from auditctl.detect.runner import run_checks
from auditctl.errors import UsageError
from auditctl.ingest.received import connection_part, encode_record, host_check, read_record
from auditctl.integrity.keys import verifier_key
from auditctl.integrity.signing import load_or_create_key
from auditctl.integrity.verify import verify
from auditctl.live.limits import Networks, TokenBucket, is_loopback_host
from auditctl.live.listener import FrameReader, parse_listen
from auditctl.live.watch import Watcher
from auditctl.report.build import collection
from auditctl.store import Store
from pki import Pki, make_pki
from support import query, registry

AUDITCTL = Path(sys.executable).parent / "auditctl"
OPENSSL = shutil.which("openssl")


def msg(i: int, host: str = "web1.example.com", text: str = "") -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (f"<38>1 {now} {host} sshd {i} - - Failed password for u{i} from 198.51.100.9 port {1000 + i} ssh2"
            + text).encode()


def framed(messages: list[bytes]) -> bytes:
    return b"".join(str(len(m)).encode() + b" " + m for m in messages)


def wait_for(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


# -- framing ---------------------------------------------------------------------------------

def test_frames_octet_counted_and_newline_framed_in_any_pieces():
    stream = framed([b"<13>one", b"<13>two\nlines"]) + b"<13>three\r\n2026-03-14T10:00:00Z host app: four\n"
    expected = [(b"<13>one", None), (b"<13>two\nlines", None), (b"<13>three", None),
                (b"2026-03-14T10:00:00Z host app: four", None)]
    assert FrameReader(1000).feed(stream) == expected
    reader = FrameReader(1000)
    got = [m for i in range(len(stream)) for m in reader.feed(stream[i:i + 1])]  # one byte at a time
    assert got == expected and reader.close() == []


def test_an_oversized_message_is_kept_cut_and_flagged_with_its_length():
    reader = FrameReader(480)
    big = b"<13>" + b"a" * 2000
    got = reader.feed(framed([big, b"<13>after"]) + b"x" * 1000 + b"\n<13>last\n")
    assert got == [(big[:480], len(big)), (b"<13>after", None), (b"x" * 480, 1000), (b"<13>last", None)]


def test_what_a_closed_stream_leaves_is_kept():
    reader = FrameReader(1000)
    assert reader.feed(b"<13>no line end") == []
    assert reader.close() == [(b"<13>no line end", None)]
    reader.feed(b"100 <13>cut short")
    assert reader.close() == [(b"<13>cut short", 100)]  # flagged: 100 bytes announced


# -- the spool record ------------------------------------------------------------------------

@pytest.mark.parametrize("message", [b"<13>plain", b"<13>two\nlines\ttabs", b"<13>caf\xc3\xa9",
                                     b"<13>not utf-8 \xff\xfe", b"<13>nul \x00 inside"])
def test_a_spool_record_gives_back_the_exact_bytes(message):
    conn = connection_part("tls://127.0.0.1:6514", "192.0.2.7", 4000, {"cn": "a"}, ["a"])
    line = encode_record(message, b"2026-03-14T10:00:00.000001Z", conn)
    assert line.endswith(b"}\n") and line.count(b"\n") == 1
    rec = read_record(line[:-1].decode())
    assert rec.message.encode("utf-8", "surrogateescape") == message
    assert (rec.peer, rec.port, rec.tls, rec.names) == ("192.0.2.7", 4000, {"cn": "a"}, ["a"])
    assert rec.length == len(message) and not rec.truncated


def test_host_check():
    names = ["web1.example.com", "10.0.0.5", "*.dmz.example.com"]
    assert host_check("WEB1.example.com.", names) == "match"
    assert host_check("10.0.0.5", names) == "match"
    assert host_check("www.dmz.example.com", names) == "match"
    assert host_check("web2.example.com", names) == "mismatch"
    assert host_check("web1", names) == "mismatch"  # a short name needs an allowlist entry
    assert host_check(None, names) == "absent"


# -- limits and settings ---------------------------------------------------------------------

def test_token_bucket_slows_and_refuses_by_the_clock():
    now = [0.0]
    bucket = TokenBucket(10, clock=lambda: now[0])
    assert bucket.take(10) == 0.0 and bucket.take(5) == pytest.approx(0.5)  # in debt: wait half a second
    now[0] = 1.5
    assert bucket.try_take(10) and not bucket.try_take(1)
    assert TokenBucket(0).take(10**9) == 0.0  # 0 = no limit


def test_networks_and_loopback():
    nets = Networks(["10.0.0.0/8", "::1/128"])
    assert nets.allows("10.1.2.3") and nets.allows("::1") and nets.allows("::ffff:10.0.0.1")
    assert not nets.allows("192.0.2.1") and not nets.allows("not-an-ip")
    assert nets.beyond_loopback and not Networks(["127.0.0.0/8", "::1/128"]).beyond_loopback
    assert Networks([]).allows("192.0.2.1")
    assert is_loopback_host("127.0.0.1") and is_loopback_host("::1") and not is_loopback_host("192.0.2.1")


def test_listen_settings(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("listen:\n  rate_per_sender: 5\n  plain_senders: 10.0.0.0/8\n  tls:\n    cert: /c.pem\n"
                   "    key: /k.pem\n    client_ca: /ca.pem\n    min_version: TLSv1.3\n"
                   "    host_names: {relay.example.com: ['*.example.com']}\n")
    listen = load_config(cfg).listen
    assert listen.rate_per_sender == 5 and listen.plain_senders == ["10.0.0.0/8"]
    assert listen.tls.min_version == "1.3" and listen.tls.mutual and listen.max_message_bytes == 65536
    assert load_config(tmp_path / "none.yaml").listen.plain_senders == ["127.0.0.0/8", "::1/128"]
    for bad, why in (("listen: {tls: {min_version: '1.1'}}", "1.2 or 1.3"),
                     ("listen: {tls: {require_client_cert: true}}", "client_ca"),
                     ("listen: {plain_senders: [nonsense]}", "not an address"),
                     ("listen: {spool_max_bytes: 1000}", "at least 1 MiB"),
                     ("listen: {speed: 1}", "unknown setting")):
        cfg.write_text(bad + "\n")
        with pytest.raises(ConfigError, match=why):
            load_config(cfg)


def test_plain_listeners_stay_on_loopback_unless_the_config_names_remote_senders(tmp_path):
    cfg = Config(db=tmp_path / "w.duckdb", signing_key=tmp_path / "k.key")
    key, _ = load_or_create_key(cfg.signing_key, "w")
    with pytest.raises(UsageError, match="plain_senders"):
        Watcher(cfg, registry(), [], [], [], key, [parse_listen("udp://0.0.0.0:0")])
    cfg.listen = ListenSettings(plain_senders=["192.0.2.0/24"])
    w = Watcher(cfg, registry(), [], [], [], key, [parse_listen("tcp://0.0.0.0:0")])
    try:
        assert any("unauthenticated" in m and "192.0.2.0/24" in m for m in w.listeners[0].warnings)
    finally:
        w.listeners[0].stop()
    with pytest.raises(UsageError, match=r"listen\.tls\.cert"):
        Watcher(cfg, registry(), [], [], [], key, [parse_listen("tls://127.0.0.1:0")])
    assert parse_listen("tls://127.0.0.1").port == 6514
    with pytest.raises(UsageError):
        parse_listen("tls://:6514")


# -- a receiving watch, in this process ------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


class Receiver:
    """A Watcher with listeners, started; cycles run when the test says."""

    def __init__(self, tmp: Path, listen: list[str], settings: ListenSettings) -> None:
        self.cfg = Config(db=tmp / "w.duckdb", signing_key=tmp / "k.key", key_name="w", listen=settings)
        key, _ = load_or_create_key(self.cfg.signing_key, "w")
        self.watcher = Watcher(self.cfg, registry(), [], load_rules(), [], key, [parse_listen(s) for s in listen])
        for listener in self.watcher.listeners:
            listener.start()
        self.stopped = False

    def port(self, i: int = 0) -> int:
        return self.watcher.listeners[i].port

    def stats(self, i: int = 0) -> dict:
        return self.watcher.listeners[i].stats.snapshot()

    def stop(self) -> None:
        if not self.stopped:
            for listener in self.watcher.listeners:
                listener.stop()
            self.watcher.cycle(final=True)
            self.stopped = True

    def rows(self, sql: str) -> list[tuple]:
        return query(self.cfg.db, sql)

    def received(self) -> list[dict]:
        rows = self.rows("SELECT seq, host, raw, raw_b64, received FROM events WHERE parser = 'syslog' ORDER BY seq")
        return [{"seq": s, "host": h, "raw": r, "raw_b64": b, "received": json.loads(a)} for s, h, r, b, a in rows]


@pytest.fixture
def receiver(tmp_path, pki) -> Iterator[callable]:
    made: list[Receiver] = []

    def make(listen: list[str], **settings) -> Receiver:
        tls = settings.pop("tls", {})
        tls = TlsSettings(cert=pki.server.cert, key=pki.server.key, client_ca=pki.ca.path, **tls)
        made.append(Receiver(tmp_path, listen, ListenSettings(tls=tls, **settings)))
        return made[-1]
    yield make
    for r in made:
        r.stop()


def client_context(pki: Pki, issued=None, *, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca.path))
    if issued is not None:
        ctx.load_cert_chain(issued.cert, issued.key)
    if version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1: deprecated, as they should be
            ctx.minimum_version = ctx.maximum_version = version
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer old TLS: the server must refuse it
    return ctx


def tls_send(port: int, ctx: ssl.SSLContext, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=120) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(data)
        s.unwrap()  # waits for the server's close_notify: everything sent was read


def tls_try(port: int, ctx: ssl.SSLContext, data: bytes) -> None:
    """A client the server should refuse: whatever it says back (TLS 1.3 clients learn of a
    refused certificate only after their handshake) is no concern of the test."""
    with contextlib.suppress(ssl.SSLError, OSError):
        tls_send(port, ctx, data)


def test_a_client_with_a_valid_certificate_is_stored_with_its_identity(receiver, pki):
    r = receiver(["tls://127.0.0.1:0"])
    messages = [msg(1), msg(2, text="\n\tcontinued on a second line"), msg(3) + b" not utf-8 \xff\xfe",
                msg(4, text=" \x00 nul"), msg(5)]
    tls_send(r.port(), client_context(pki, pki.client), framed(messages[:4]) + messages[4] + b"\n")
    r.watcher.cycle()
    got = r.received()
    exact = [base64.b64decode(e["raw_b64"]) if e["raw_b64"] else e["raw"].encode() for e in got]
    assert exact == messages  # exact bytes: line ends, invalid UTF-8 and NUL included
    received = got[0]["received"]
    assert received["peer"] == "127.0.0.1" and received["listener"] == f"tls://127.0.0.1:{r.port()}"
    assert received["tls"]["cn"] == "web1.example.com" and received["tls"]["san"] == ["DNS:web1.example.com"]
    assert received["tls"]["fingerprint"] == pki.client.fingerprint and received["tls"]["issuer"] == "fleet-ca"
    assert {e["received"]["host_check"] for e in got} == {"match"}
    stats = r.stats()
    assert stats["messages"] == 5 and stats["tls_failures"] == 0 and stats["identities"] == {"web1.example.com": 5}
    r.stop()
    assert not list(r.watcher.spool_dir.iterdir())  # every segment stored, then removed
    with Store.open(r.cfg.db, read_only=True) as store:
        assert verify(store, verifier_key(r.cfg, None), r.cfg.checkpoints_path).intact
    with Store.open(r.cfg.db) as store:  # the sender's identity is signed with the event
        store.con.execute("UPDATE events SET received = replace(received, 'web1.example.com', 'web2.example.com') "
                          "WHERE seq = 2")
        report = verify(store, verifier_key(r.cfg, None), r.cfg.checkpoints_path)
    assert not report.intact and any(p.seq == 2 for p in report.problems)


def test_refused_clients_are_counted_and_store_nothing(receiver, pki):
    r = receiver(["tls://127.0.0.1:0"])
    port = r.port()
    tls_try(port, client_context(pki, None), framed([msg(1)]))  # no certificate
    tls_try(port, client_context(pki, pki.expired), framed([msg(2)]))
    tls_try(port, client_context(pki, pki.stranger), framed([msg(3)]))  # signed by another CA
    tls_try(port, client_context(pki, pki.client, version=ssl.TLSVersion.TLSv1_1), framed([msg(4)]))
    tls_try(port, client_context(pki, pki.client, version=ssl.TLSVersion.TLSv1), framed([msg(5)]))
    with socket.create_connection(("127.0.0.1", port)) as plain:  # plain syslog at the TLS port
        plain.sendall(framed([msg(6)]))
    assert wait_for(lambda: r.stats()["tls_failures"] == 6)
    reasons = r.stats()["tls_failure_reasons"]
    assert reasons.get("peer did not return a certificate") == 1 and reasons.get("certificate has expired") == 1
    assert reasons.get("unable to get local issuer certificate") == 1
    assert sum(n for k, n in reasons.items() if "version" in k or "protocol" in k) >= 3, reasons
    r.stop()
    assert r.received() == []
    (attrs,) = [json.loads(a) for (a,) in r.rows("SELECT attrs FROM events WHERE action = 'log_collected'")]
    assert attrs["tls_failures"] == 6 and attrs["messages"] == 0
    with Store.open(r.cfg.db, read_only=True) as store:
        col = collection(store, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    assert col["total"]["tls_failures"] == 6 and col["total"]["messages"] == 0


def test_host_name_spoofing_is_flagged_and_found(receiver, pki):
    r = receiver(["tls://127.0.0.1:0"], tls={"host_names": {pki.client.fingerprint.upper(): ["*.web1.internal"]}})
    tls_send(r.port(), client_context(pki, pki.client),
             framed([msg(1), msg(2, host="db9.example.com"), msg(3, host="a.web1.internal"), b"<13>no header"]))
    r.watcher.cycle()
    checks = {e["host"]: e["received"]["host_check"] for e in r.received()}
    assert checks == {"web1.example.com": "match", "db9.example.com": "mismatch", "a.web1.internal": "match",
                      None: "absent"}
    spoofed = next(e for e in r.received() if e["host"] == "db9.example.com")
    assert spoofed["received"]["allowed"] == ["web1.example.com", "*.web1.internal"]
    status = json.loads(r.watcher.status_file.read_text())
    assert status["listeners"][0]["host_mismatches"] == 1
    (finding,) = r.rows("SELECT group_key, count FROM findings WHERE rule_id = 'intake.host-mismatch'")
    assert json.loads(finding[0]) == {"received.tls.cn": "web1.example.com", "host": "db9.example.com"}


def test_an_oversized_message_is_stored_cut_and_flagged(receiver, pki):
    r = receiver(["tls://127.0.0.1:0"], max_message_bytes=1024)
    big = msg(1, text=" " + "z" * 5000)
    tls_send(r.port(), client_context(pki, pki.client), framed([big, msg(2)]))
    r.watcher.cycle()
    first, second = r.received()
    assert first["raw"].encode() == big[:1024]
    assert first["received"]["truncated"] is True and first["received"]["length"] == len(big)
    assert "truncated" not in second["received"] and r.stats()["truncated"] == 1


def test_a_flood_over_the_rate_is_slowed_and_nothing_accepted_is_lost(receiver, pki):
    r = receiver(["tls://127.0.0.1:0", "udp://127.0.0.1:0"], rate_per_sender=300, rate_total=100_000)
    tls_send(r.port(0), client_context(pki, pki.client), framed([msg(i) for i in range(600)]))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for i in range(1000, 1350):
            udp.sendto(msg(i), ("127.0.0.1", r.port(1)))  # 350 at once: more than a second's worth
    assert wait_for(lambda: (r.stats(1)["messages"] + r.stats(1)["dropped"]) == 350)
    r.watcher.cycle()
    tls, udp_stats = r.stats(0), r.stats(1)
    assert tls["messages"] == 600 and tls["throttled"] > 0 and tls["dropped"] == 0  # slowed, not dropped
    assert udp_stats["dropped_rate"] > 0 and udp_stats["messages"] + udp_stats["dropped"] == 350
    pids = [int(p) for (p,) in r.rows("SELECT pid FROM events WHERE parser = 'syslog' ORDER BY seq")]
    assert pids[:600] == list(range(600))  # every TLS message, once, in order
    assert len(pids) == 600 + udp_stats["messages"] and len(set(pids)) == len(pids)
    r.stop()
    dropped = [json.loads(a)["dropped"] for (a,) in r.rows("SELECT attrs FROM events WHERE action = 'log_collected'")]
    assert sum(dropped) == udp_stats["dropped"]
    with Store.open(r.cfg.db) as store:  # the record of the final cycle: checked now
        run_checks(store, load_rules(), datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC))
    (finding,) = r.rows("SELECT group_key FROM findings WHERE rule_id = 'intake.messages-dropped'")
    assert json.loads(finding[0]) == {"attrs.listener": f"udp://127.0.0.1:{r.port(1)}"}


def test_the_spool_cap_stops_reading_until_watch_stores_and_udp_drops_are_counted(receiver, pki):
    cap = 1 << 20
    r = receiver(["tls://127.0.0.1:0", "udp://127.0.0.1:0"], spool_max_bytes=cap, max_message_bytes=4096,
                 rate_per_sender=0, rate_total=0)
    messages = [msg(i, text=" " + "p" * 900) for i in range(2400)]  # ~2.4 MB of records: over twice the cap
    sender = threading.Thread(target=tls_send, args=(r.port(0), client_context(pki, pki.client), framed(messages)))
    sender.start()
    assert wait_for(lambda: r.stats(0)["paused"] > 0)  # the listener stopped reading: the spool is full
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:  # ~190 KB: more than the room left
        for i in range(60):
            udp.sendto(msg(10_000 + i, text=" " + "u" * 3000), ("127.0.0.1", r.port(1)))
    assert wait_for(lambda: r.stats(1)["dropped_full"] + r.stats(1)["messages"] == 60)
    assert r.stats(1)["dropped_full"] > 0
    expected = 2400 + r.stats(1)["messages"]
    stored = [0]

    def cycle() -> int:  # each cycle stores and frees segments: the listener reads on
        stored[0] += r.watcher.cycle().events
        return stored[0]
    assert wait_for(lambda: cycle() >= expected, 120)
    sender.join(timeout=60)
    assert r.watcher.budget.peak <= cap  # never above the cap
    pids = [int(p) for (p,) in r.rows("SELECT pid FROM events WHERE parser = 'syslog' AND pid < 10000 ORDER BY seq")]
    assert pids == list(range(2400))


def test_plain_senders_outside_the_networks_are_refused(receiver):
    r = receiver(["tcp://127.0.0.1:0", "udp://127.0.0.1:0"], plain_senders=["192.0.2.0/24"])
    with socket.create_connection(("127.0.0.1", r.port(0))) as s:
        s.sendall(msg(1) + b"\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(msg(2), ("127.0.0.1", r.port(1)))
    assert wait_for(lambda: r.stats(0)["refused"] == 1 and r.stats(1)["refused"] == 1)
    r.watcher.cycle()
    assert r.received() == []


def test_udp_and_tcp_messages_keep_their_bytes_and_peer(receiver):
    r = receiver(["tcp://127.0.0.1:0", "udp://127.0.0.1:0"])
    with socket.create_connection(("127.0.0.1", r.port(0))) as s:
        s.sendall(framed([msg(1, text="\nsecond line")]) + b"2026-03-14T10:00:00Z edge2 app[1]: newline framed\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"<13>Mar 14 10:00:00 edge3 app: " + b"u" * 20_000 + b"\n", ("127.0.0.1", r.port(1)))
    assert wait_for(lambda: r.stats(0)["messages"] == 2 and r.stats(1)["messages"] == 1)
    r.watcher.cycle()
    got = {e["host"]: e for e in r.received()}
    assert got["web1.example.com"]["raw"].endswith("ssh2\nsecond line")
    assert got["edge3"]["raw"].endswith("u" * 20_000)  # over 8 KiB, which the old receiver cut
    assert all("tls" not in e["received"] and e["received"]["peer"] == "127.0.0.1"
               for e in got.values())


# -- end to end, `auditctl watch` in a subprocess ----------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def watch_env(tmp: Path, pki: Pki, **listen) -> dict:
    cfg = tmp / "c.yaml"
    tls = {"cert": str(pki.server.cert), "key": str(pki.server.key), "client_ca": str(pki.ca.path)}
    cfg.write_text(json.dumps({"signing_key": str(tmp / "k.key"), "lock_wait_seconds": 10,
                               "listen": {"tls": tls, **listen}}))
    return {**os.environ, "AUDITCTL_CONFIG": str(cfg), "AUDITCTL_DB": str(tmp / "w.duckdb")}


def status(env: dict) -> dict | None:
    out = subprocess.run([str(AUDITCTL), "watch", "--status", "--format", "json"], env=env, capture_output=True,
                         text=True, timeout=60)
    return json.loads(out.stdout) if out.returncode == 0 else None


@pytest.mark.slow
@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed: the s_client tests need it")
def test_openssl_s_client_is_accepted_with_its_certificate_and_refused_with_tls_1_1(tmp_path, pki):
    port = free_port()
    env = watch_env(tmp_path, pki)
    proc = subprocess.Popen([str(AUDITCTL), "watch", "--listen", f"tls://127.0.0.1:{port}", "--interval", "0.2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: status(env) is not None, 60)
        line = msg(7) + b"\n"
        sent = subprocess.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-quiet", "-no_ign_eof", "-verify_return_error",
                               "-CAfile", str(pki.ca.path), "-cert", str(pki.client.cert), "-key", str(pki.client.key)],
                              input=line, capture_output=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        old = subprocess.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_1", "-cipher",
                              "DEFAULT:@SECLEVEL=0", "-CAfile", str(pki.ca.path), "-cert", str(pki.client.cert),
                              "-key", str(pki.client.key)], input=b"", capture_output=True, timeout=60)
        assert old.returncode != 0  # the server refused TLS 1.1
        assert wait_for(lambda: (s := status(env)) is not None and s["listeners"][0]["stored"] == 1
                        and s["listeners"][0]["tls_failures"] == 1, 60)
        (listener,) = status(env)["listeners"]
        assert listener["identities"] == {"web1.example.com": 1} and listener["messages"] == 1
        assert any("version" in r or "protocol" in r for r in listener["tls_failure_reasons"]), listener
        table = subprocess.run([str(AUDITCTL), "watch", "--status", "--format", "table"], env=env,
                               capture_output=True, text=True, timeout=60)
        assert "running" in table.stdout and "web1.example.com (1)" in table.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    rows = query(tmp_path / "w.duckdb", "SELECT raw, received FROM events WHERE parser = 'syslog'")
    assert rows[0][0].encode() == line[:-1]
    assert json.loads(rows[0][1])["tls"]["fingerprint"] == pki.client.fingerprint


def _spooled_pids(spool: Path) -> set[int]:
    out = set()
    for segment in spool.glob("*.jsonl"):
        for raw in segment.read_text().splitlines():
            out.add(int(read_record(raw).message.split()[4]))
    return out


@pytest.mark.slow
def test_kill_9_during_a_tls_stream_stores_every_spooled_message_exactly_once(tmp_path, pki):
    port = free_port()
    env = watch_env(tmp_path, pki)
    db = tmp_path / "w.duckdb"
    cmd = [str(AUDITCTL), "watch", "--listen", f"tls://127.0.0.1:{port}", "--interval", "0.05"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sent = [0]

    def stream() -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, \
                    client_context(pki, pki.client).wrap_socket(raw, server_hostname="localhost") as s:
                while sent[0] < 200_000:
                    s.sendall(framed([msg(i) for i in range(sent[0], sent[0] + 50)]))
                    sent[0] += 50
        except OSError:
            pass  # the receiver was killed
    try:
        assert wait_for(lambda: status(env) is not None, 60)
        client = threading.Thread(target=stream)
        client.start()
        assert wait_for(lambda: (s := status(env)) is not None and s["listeners"][0]["stored"] > 2000, 60)
    finally:
        proc.kill()  # kill -9 while messages stream in and cycles store them
        proc.wait(timeout=30)
    client.join(timeout=60)
    before = {int(p) for (p,) in query(db, "SELECT pid FROM events WHERE parser = 'syslog'")}
    spooled = _spooled_pids(tmp_path / "w.duckdb.spool")
    subprocess.run([*cmd, "--cycles", "3"], env=env, timeout=120, check=True, capture_output=True)
    pids = [int(p) for (p,) in query(db, "SELECT pid FROM events WHERE parser = 'syslog' ORDER BY seq")]
    assert len(pids) == len(set(pids))  # nothing twice
    assert set(pids) == before | spooled  # everything that reached the spool
    assert set(pids) == set(range(len(pids)))  # in the order sent, no gap
    verify = subprocess.run([str(AUDITCTL), "verify", "--format", "json"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert json.loads(verify.stdout)["intact"], verify.stdout
