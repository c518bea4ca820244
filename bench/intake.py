"""`make bench` (intake): syslog received over TLS with client certificates, on loopback, next to
plain TCP in the same run.

1. Receiver only: a child process runs one auditctl listener (framing, spool records, spool
   writes; no ingest) with no rate limit, and one sender connection in this process sends N
   octet-counted RFC 5424 messages. Per transport: messages/s (from connecting to the last
   message in the spool) and the receiver's CPU time per message (user + system, from its
   rusage). Each transport runs `--repeat` times, interleaved; the median is reported.
2. End to end: `auditctl watch --listen tls://` (mutual TLS) takes N messages and stores,
   signs and checks them; messages/s from connecting until the status file says all are
   stored, and the watch process's CPU per message (from /proc).

    python bench/intake.py [--messages N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from pki import Pki, make_pki  # noqa: E402

AUDITCTL = Path(sys.executable).parent / "auditctl"
CHUNK = 1 << 20


def messages(n: int) -> bytes:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out = []
    for i in range(n):
        m = (f"<38>1 {stamp} web1.example.com sshd {i % 30000} - - Failed password for user{i % 97} "
             f"from 198.51.{i % 250}.{i % 200} port {1024 + i % 60000} ssh2").encode()
        out.append(str(len(m)).encode() + b" " + m)
    return b"".join(out)


def client_context(pki: Pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca.path))
    ctx.load_cert_chain(pki.client.cert, pki.client.key)
    return ctx


def send(proto: str, port: int, data: bytes, pki: Pki) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=300) as raw:
        sock = client_context(pki).wrap_socket(raw, server_hostname="localhost") if proto == "tls" else raw
        view = memoryview(data)
        for start in range(0, len(data), CHUNK):
            sock.sendall(view[start:start + CHUNK])
        if isinstance(sock, ssl.SSLSocket):
            sock.unwrap()


# -- receiver only -------------------------------------------------------------------------

def serve(proto: str, n: int, work: Path) -> None:
    """The child: one listener until it has n messages; prints its port, then its CPU seconds."""
    from auditctl.config import ListenSettings, TlsSettings
    from auditctl.live.listener import Listener, parse_listen
    from auditctl.live.spool import SpoolBudget

    tls = TlsSettings(cert=work / "pki" / "server.crt", key=work / "pki" / "server.key",
                      client_ca=work / "pki" / "fleet-ca.pem")
    settings = ListenSettings(rate_per_sender=0, rate_total=0, spool_max_bytes=64 << 30, tls=tls)
    spool = work / f"spool-{proto}-{os.getpid()}"
    listener = Listener(parse_listen(f"{proto}://127.0.0.1:0"), settings, spool, SpoolBudget(settings.spool_max_bytes))
    listener.start()
    before = resource.getrusage(resource.RUSAGE_SELF)
    print(listener.port, flush=True)
    while listener.stats.snapshot()["messages"] < n:
        time.sleep(0.01)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(json.dumps({"cpu": cpu, "spool_bytes": listener.spool.disk_bytes}), flush=True)
    listener.stop()
    shutil.rmtree(spool, ignore_errors=True)


def receive_once(proto: str, n: int, data: bytes, work: Path, pki: Pki) -> tuple[float, float, int]:
    """(wall seconds, receiver CPU seconds, spool bytes) for one run."""
    child = subprocess.Popen([sys.executable, __file__, "--serve", proto, "--messages", str(n), "--work", str(work)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    port = int(child.stdout.readline())
    started = time.perf_counter()
    send(proto, port, data, pki)
    result = json.loads(child.stdout.readline())
    wall = time.perf_counter() - started
    if child.wait(timeout=120) != 0:
        raise SystemExit(f"the {proto} receiver failed")
    return wall, result["cpu"], result["spool_bytes"]


# -- end to end ----------------------------------------------------------------------------

def proc_cpu(pid: int) -> float:
    """User + system seconds of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def end_to_end(n: int, data: bytes, work: Path, pki: Pki) -> tuple[float, float]:
    """(wall seconds, watch CPU seconds) until `watch --listen tls://` has stored n messages."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = work / "watch.yaml"
    tls = {"cert": str(pki.server.cert), "key": str(pki.server.key), "client_ca": str(pki.ca.path)}
    config.write_text(json.dumps({"signing_key": str(work / "signing.key"), "lock_wait_seconds": 30,
                                  "listen": {"rate_per_sender": 0, "rate_total": 0, "tls": tls}}))
    db = work / "e2e.duckdb"
    env = {**os.environ, "AUDITCTL_CONFIG": str(config), "AUDITCTL_DB": str(db)}
    proc = subprocess.Popen([str(AUDITCTL), "watch", "--listen", f"tls://127.0.0.1:{port}", "--interval", "0.2",
                             "--alert", f"jsonl:{work / 'alerts.jsonl'}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    status = db.with_name(db.name + ".watch-status.json")
    try:
        deadline = time.monotonic() + 60
        while not status.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        cpu_before = proc_cpu(proc.pid)
        started = time.perf_counter()
        send("tls", port, data, pki)
        while True:
            try:
                stored = json.loads(status.read_text())["listeners"][0]["stored"]
            except (OSError, ValueError, KeyError, IndexError):
                stored = 0
            if stored >= n:
                break
            if proc.poll() is not None or time.perf_counter() - started > 600:
                raise SystemExit(f"watch stopped or stalled at {stored:,} of {n:,} messages")
            time.sleep(0.05)
        wall = time.perf_counter() - started
        cpu = proc_cpu(proc.pid) - cpu_before
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--end-to-end", type=int, default=100_000, help="messages for the watch run (0: skip)")
    ap.add_argument("--serve", choices=("tcp", "tls"), help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.messages, args.work)
        return
    work = Path(tempfile.mkdtemp(prefix="auditctl-bench-intake-"))
    try:
        pki = make_pki(work / "pki")
        data = messages(args.messages)
        runs: dict[str, list[tuple[float, float, int]]] = {"tcp": [], "tls": []}
        for _ in range(args.repeat):
            for proto in ("tcp", "tls"):
                runs[proto].append(receive_once(proto, args.messages, data, work, pki))
        size = len(data) / args.messages
        print(f"\nauditctl intake bench: {args.messages:,} RFC 5424 messages ({size:.0f} B framed) over one "
              f"connection on loopback, receiver only (framing, spool records, spool writes), median of "
              f"{args.repeat}:")
        rows = [("transport", "messages/s", "MB/s", "receiver CPU/message", "CPU vs plain TCP", "spool bytes/message")]
        base_cpu = statistics.median(r[1] for r in runs["tcp"])
        for proto, label in (("tcp", "plain TCP"), ("tls", "TLS 1.3, mutual (client certificate)")):
            wall = statistics.median(r[0] for r in runs[proto])
            cpu = statistics.median(r[1] for r in runs[proto])
            rows.append((label, f"{args.messages / wall:,.0f}", f"{len(data) / wall / 1e6:.1f}",
                         f"{cpu / args.messages * 1e6:.1f} µs", f"{cpu / base_cpu:.2f}x",
                         f"{runs[proto][0][2] / args.messages:.0f}"))
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
        if args.end_to_end:
            n = args.end_to_end
            wall, cpu = end_to_end(n, messages(n), work, pki)
            print(f"\nwatch --listen tls:// end to end (received, parsed, stored, signed, checked): {n:,} messages "
                  f"in {wall:.2f} s = {n / wall:,.0f} messages/s; watch CPU {cpu / n * 1e6:.1f} µs a message")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
