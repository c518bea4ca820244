"""`make bench`: ingest speed, memory and store size, each next to a baseline measured in the same run.

The machine is noisy, so every figure is printed as a ratio to a baseline run minutes apart at
most. Baselines: DuckDB reading the same file's lines into a table with `read_csv` (no parsing:
the floor for "store every line"), and a plain Python regex loop over the lines (parse only).

    python bench/run.py [--lines N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import write  # noqa: E402

AUDITCTL = Path(sys.executable).parent / "auditctl"
TARGET_EVENTS_PER_S = 150_000


def run_child(argv: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes) and stdout of a child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv[:6])} failed (exit {os.waitstatus_to_exitcode(status)}): {err.strip()[-500:]}")
    return seconds, usage.ru_maxrss * 1024, out.decode()


def baseline_duckdb_lines(log: Path, work: Path, *, zstd: bool = False) -> float:
    """DuckDB storing the file's bare lines in a table (no parsing): the floor for "store every
    line"; with `zstd`, in one zstd column, the floor the bulk JSON targets are ratios to."""
    table = ("c.execute('CREATE TABLE lines (line VARCHAR USING COMPRESSION zstd)'); c.execute(\"INSERT INTO lines "
             if zstd else "c.execute(\"CREATE TABLE lines AS ")
    code = (
        f"import duckdb, sys; c = duckdb.connect(sys.argv[2]); {table}"
        "SELECT * FROM read_csv(?, columns={'line': 'VARCHAR'}, "
        "delim=chr(1), quote='', escape='', header=false, auto_detect=false, strict_mode=false, "
        "ignore_errors=true)\", [sys.argv[1]]); c.close()"
    )
    name = "zstd-lines.duckdb" if zstd else "baseline.duckdb"
    seconds, _, _ = run_child([sys.executable, "-c", code, str(log), str(work / name)])
    return seconds


def baseline_duckdb_hash(db: Path) -> float:
    """DuckDB hashing only the raw column of every stored event: the floor for hashing events."""
    code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True);"
            "c.execute('SELECT count(sha256(raw)) FROM events').fetchall()")
    seconds, _, _ = run_child([sys.executable, "-c", code, str(db)])
    return seconds


def baseline_duckdb_window(db: Path) -> float:
    """One hand-written sliding-window query (failed logins per IP in 120 s): the floor for a rule."""
    code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True);"
            "c.execute(\"SELECT count(*) FROM (SELECT count(*) OVER (PARTITION BY src_ip ORDER BY ts "
            "RANGE BETWEEN INTERVAL 120 SECONDS PRECEDING AND CURRENT ROW) AS n FROM events "
            "WHERE outcome = 'failure' AND action = 'login') WHERE n >= 8\").fetchall()")
    seconds, _, _ = run_child([sys.executable, "-c", code, str(db)])
    return seconds


def baseline_python_regex(log: Path) -> float:
    header = re.compile(r"([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: (.*)")
    started = time.perf_counter()
    n = 0
    with log.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if header.match(line):
                n += 1
    return time.perf_counter() - started


def bench_watch(work: Path, env: dict, rate: int = 5000, seconds: float = 8.0) -> dict[str, float]:
    """Latency from a burst written to its alert delivered, under `rate` lines/s of background
    traffic; and how long a `search` takes while watch runs, next to one when it does not."""
    import threading
    from datetime import UTC, datetime

    log, alerts = work / "live.log", work / "live-alerts.jsonl"
    log.write_text("")
    db = work / "live.duckdb"
    wenv = {**env, "AUDITCTL_DB": str(db)}
    search_cmd = [str(AUDITCTL), "search", "--limit", "1", "--ip", "192.0.2.1"]
    proc = subprocess.Popen([str(AUDITCTL), "watch", str(log), "--alert", f"jsonl:{alerts}", "--interval", "0.2"],
                            env=wenv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop = threading.Event()
    noise = [ln for ln in __import__("generate").lines(20000, seed=3) if "Failed password" not in ln]

    def writer() -> None:
        i = 0
        with log.open("a") as f:
            while not stop.is_set():
                t = time.perf_counter()
                stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
                chunk = [f"{stamp}Z{noise[(i + k) % len(noise)][15:]}" for k in range(rate // 10)]
                f.write("\n".join(chunk) + "\n")
                f.flush()
                i += len(chunk)
                time.sleep(max(0.0, 0.1 - (time.perf_counter() - t)))

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        time.sleep(seconds / 2)
        searches = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(search_cmd, env=wenv, capture_output=True, timeout=60)
            searches.append(time.perf_counter() - started)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        burst = "".join(f"{stamp}Z web9 sshd[{i}]: Failed password for root from 198.51.100.250 port {i} ssh2\n"
                        for i in range(10))
        with log.open("a") as f:
            f.write(burst)
        written = time.perf_counter()
        latency = float("nan")
        while time.perf_counter() - written < 30:
            if alerts.exists() and "198.51.100.250" in alerts.read_text():
                latency = time.perf_counter() - written
                break
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(timeout=5)
        proc.send_signal(__import__("signal").SIGTERM)
        proc.wait(timeout=120)
    quiet = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(search_cmd, env=wenv, capture_output=True, timeout=60)
        quiet.append(time.perf_counter() - started)
    return {"latency": latency, "search_during": statistics.median(searches), "search_quiet": statistics.median(quiet)}


def bench_sealed(work: Path, log: Path) -> tuple[float, float]:
    """Ingest and admin verify with the default access policy (authentication details sealed)."""
    import getpass

    config = work / "access.yaml"
    config.write_text(json.dumps({"db": str(work / "sealed.duckdb"), "signing_key": str(work / "sealed-keys" / "signing.key"),
                                  "access": {"roles": {"admin": {"users": [getpass.getuser()]}}}}))
    env = {**os.environ, "AUDITCTL_CONFIG": str(config)}
    ingest_s, _, _ = run_child([str(AUDITCTL), "ingest", "--format", "json", str(log)], env=env)
    verify_s, _, out = run_child([str(AUDITCTL), "verify", "--format", "json"], env=env)
    if not json.loads(out)["intact"]:
        raise SystemExit("bench: the sealed store does not verify")
    return ingest_s, verify_s


def bench_cloudtrail(work: Path, env: dict, records: int) -> tuple[float, float, int, float]:
    """Ingest of CloudTrail records one a line, and DuckDB reading the same file with explicit
    columns and no raw (the issue's reference figure for a bulk JSON reader)."""
    from generate_cloudtrail import write as write_cloudtrail

    log = HERE / "out" / f"cloudtrail-{records}.jsonl"
    if not log.exists():
        print(f"generating {records:,} CloudTrail records -> {log}", flush=True)
        write_cloudtrail(str(log), records)
    ingest_s, _, _ = run_child([str(AUDITCTL), "--db", str(work / "ct.duckdb"), "ingest", "--format", "json",
                                str(log)], env=env)
    floor_s = baseline_duckdb_lines(log, work, zstd=True)
    columns = ("{'eventTime': 'VARCHAR', 'eventSource': 'VARCHAR', 'eventName': 'VARCHAR', "
               "'sourceIPAddress': 'VARCHAR', 'userIdentity': 'JSON', 'errorCode': 'VARCHAR'}")
    code = ("import duckdb, sys; c = duckdb.connect(sys.argv[2]);"
            f"c.execute(\"CREATE TABLE t AS SELECT * FROM read_ndjson(?, columns={columns})\", [sys.argv[1]]); c.close()")
    base_s, _, _ = run_child([sys.executable, "-c", code, str(log), str(work / "ct-baseline.duckdb")])
    return ingest_s, base_s, log.stat().st_size, floor_s


def print_table(rows: list[tuple]) -> None:
    header = ("metric", "value", "baseline (same run)", "ratio", "target", "result")
    widths = [max(len(str(r[i])) for r in [*rows, header]) for i in range(6)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--keep", action="store_true", help="keep the database in bench/out")
    ap.add_argument("--repeat", type=int, default=3, help="ingest runs; the median is reported")
    ap.add_argument("--cloudtrail", type=int, default=1_000_000, help="CloudTrail records (0: skip)")
    args = ap.parse_args()

    out = HERE / "out"
    out.mkdir(exist_ok=True)
    log = out / f"auth-v2-{args.lines}.log"  # v2: users log in from a few usual addresses
    if not log.exists():
        print(f"generating {args.lines:,} auth.log lines -> {log}", flush=True)
        write(str(log), args.lines)
    size = log.stat().st_size
    work = Path(tempfile.mkdtemp(prefix="auditctl-bench-"))
    try:
        env = {**os.environ, "AUDITCTL_CONFIG": str(work / "none.yaml")}
        db = work / "bench.duckdb"
        base_duck = baseline_duckdb_lines(log, work)
        base_py = baseline_python_regex(log)
        runs, python_runs, bulk_runs = [], [], []
        for _ in range(args.repeat):  # the engines interleaved, so all see the same machine
            for engine, into in (("python", python_runs), ("bulk", bulk_runs), ("auto", runs)):
                for leftover in (db, db.with_name(db.name + ".checkpoints"), db.with_name(db.name + ".wal")):
                    leftover.unlink(missing_ok=True)  # a checkpoint file of an earlier run is another log
                into.append(run_child([str(AUDITCTL), "--db", str(db), "ingest", "--engine", engine,
                                       "--format", "json", str(log)], env=env))
        seconds = statistics.median(r[0] for r in runs)
        python_s = statistics.median(r[0] for r in python_runs)
        bulk_s = statistics.median(r[0] for r in bulk_runs)
        rss = max(r[1] for r in [*runs, *python_runs, *bulk_runs])
        output = runs[-1][2]
        serial_db = work / "serial.duckdb"
        serial_s, _, _ = run_child([str(AUDITCTL), "--db", str(serial_db), "ingest", "--workers", "1",
                                    "--format", "json", str(log)], env=env)
        sealed_s, sealed_verify_s = bench_sealed(work, log)
        from large import lnav_seconds

        lnav_open = lnav_seconds(log, "SELECT count(*) FROM syslog_log")
        lnav_text = lnav_seconds(log, "SELECT count(*) FROM syslog_log WHERE log_body LIKE '%backup.sh%'")
        text_s, _, _ = run_child([str(AUDITCTL), "--db", str(db), "search", "backup.sh", "--limit", "1",
                                  "--format", "json"], env=env)
        summary = json.loads(output)
        events = summary["events"]
        sign_s = summary["checkpoint_seconds"]
        verify_s, _, verify_out = run_child([str(AUDITCTL), "--db", str(db), "verify", "--format", "json"], env=env)
        intact = json.loads(verify_out)["intact"]
        hash_floor = baseline_duckdb_hash(db)
        check_s, _, check_out = run_child([str(AUDITCTL), "--db", str(db), "check", "--since", "2000-01-01",
                                           "--until", "2100-01-01", "--format", "json"], env=env)
        check_findings = len(json.loads(check_out))
        window_floor = baseline_duckdb_window(db)
        report_s, _, _ = run_child([str(AUDITCTL), "--db", str(db), "report", "--since", "2000-01-01",
                                    "--until", "2100-01-01", "--format", "html", "--output", str(work / "r.html")],
                                   env=env)
        db_size = db.stat().st_size
        rate = events / seconds
        ct = bench_cloudtrail(work, env, args.cloudtrail) if args.cloudtrail else None
        live = bench_watch(work, env)
        run_child([str(AUDITCTL), "--db", str(db), "retention", "apply", "--as-of", "2100-01-01", "--format", "json"],
                  env=env)
        _, _, status_out = run_child([str(AUDITCTL), "--db", str(db), "retention", "status", "--format", "json"], env=env)
        archive = json.loads(status_out)
        parse_store_rate = events / (seconds - sign_s)
        rows = [
            ("ingest 1 file, end to end incl. signing (s)", f"{seconds:.2f}", f"{base_duck:.2f} duckdb read_csv lines",
             f"{seconds / base_duck:.2f}x", "", ""),
            ("ingest vs lnav opening the file (s)", f"{seconds:.2f}",
             f"{lnav_open:.2f} lnav -n -c 'SELECT count(*)'" if lnav_open else "lnav not installed: skipped",
             f"{seconds / lnav_open:.1f}x" if lnav_open else "", "<= 4x lnav (stretch 3x)",
             ("pass" if seconds <= 4 * lnav_open else "FAIL") if lnav_open else "skip"),
            ("  the same, --engine python (plugins only) (s)", f"{python_s:.2f}",
             f"{seconds:.2f} --engine auto (median above)", f"{python_s / seconds:.2f}x", "", ""),
            ("  the same, --engine bulk (SQL, one process) (s)", f"{bulk_s:.2f}",
             f"{seconds:.2f} --engine auto (median above)", f"{bulk_s / seconds:.2f}x", "", ""),
            ("free-text search, a CLI process (s)", f"{text_s:.2f}",
             f"{lnav_text:.2f} lnav LIKE on the file" if lnav_text else "lnav not installed: skipped",
             f"{text_s / lnav_text:.2f}x" if lnav_text else "", "", ""),
            ("  parse + normalize + store (events/s)", f"{parse_store_rate:,.0f}", "", "",
             f">= {TARGET_EVENTS_PER_S:,} ev/s", "pass" if parse_store_rate >= TARGET_EVENTS_PER_S else "FAIL"),
            ("  hash + sign checkpoint (s)", f"{sign_s:.2f}", f"{hash_floor:.2f} duckdb sha256(raw) only",
             f"{sign_s / hash_floor:.2f}x", "", ""),
            ("verify all events (s)", f"{verify_s:.2f}", f"{hash_floor:.2f} duckdb sha256(raw) only",
             f"{verify_s / hash_floor:.2f}x", "seconds, intact", "pass" if intact and verify_s < 30 else "FAIL"),
            ("ingest rate (events/s)", f"{rate:,.0f}", f"{args.lines / base_py:,.0f} lines/s: python header regex match only",
             f"{rate / (args.lines / base_py):.2f}x", "", ""),
            ("ingest with --workers 1 (s)", f"{serial_s:.2f}", f"{seconds:.2f} parallel (median above)",
             f"{serial_s / seconds:.2f}x", "", ""),
            ("ingest under access control: sealing (s)", f"{sealed_s:.2f}", f"{seconds:.2f} without (median above)",
             f"{sealed_s / seconds:.2f}x", "", ""),
            ("  verify as admin incl. every sealed value (s)", f"{sealed_verify_s:.2f}", f"{verify_s:.2f} verify, unsealed",
             f"{sealed_verify_s / verify_s:.2f}x", "", ""),
            (f"check: built-in pack, {check_findings} findings (s)", f"{check_s:.2f}",
             f"{window_floor:.2f} one sliding-window query in duckdb", f"{check_s / window_floor:.2f}x", "seconds",
             "pass" if check_s < 30 else "FAIL"),
            ("report over all events, HTML (s)", f"{report_s:.2f}", f"{verify_s:.2f} verify alone", f"{report_s / verify_s:.2f}x",
             "seconds", "pass" if report_s < 30 else "FAIL"),
            ("watch: line written -> alert delivered (s)", f"{live['latency']:.2f}", "5,000 lines/s of traffic",
             "", "< 1 s", "pass" if live["latency"] < 1 else "FAIL"),
            ("search while watch runs (s)", f"{live['search_during']:.2f}", f"{live['search_quiet']:.2f} without watch",
             f"{live['search_during'] / live['search_quiet']:.2f}x", "", ""),
            ("archive: all events as zstd Parquet", fmt_bytes(archive["archive_bytes"]), f"{fmt_bytes(size)} raw log",
             f"{archive['archive_bytes'] / size:.2f}x", "", ""),
            ("peak RSS", fmt_bytes(rss), "", "", "< 1 GiB", "pass" if rss < 1 << 30 else "FAIL"),
            *([(f"ingest {args.cloudtrail:,} CloudTrail records, one a line ({fmt_bytes(ct[2])}) (s)", f"{ct[0]:.2f}",
                f"{ct[3]:.2f} duckdb read_csv bare lines into a zstd column", f"{ct[0] / ct[3]:.1f}x",
                "<= 2.5x", "pass" if ct[0] <= 2.5 * ct[3] else "FAIL"),
               ("  CloudTrail: duckdb read_ndjson, 6 columns, no raw (s)", f"{ct[1]:.2f}", "", "", "", "")] if ct else []),
            ("store size", fmt_bytes(db_size), f"{fmt_bytes(size)} raw log", f"{db_size / size:.2f}x", "<= 0.35x",
             "pass" if db_size <= 0.35 * size else "FAIL"),
        ]
        print(f"\nauditctl bench: {args.lines:,} lines ({fmt_bytes(size)}), {events:,} events, "
              f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}; ingest median of {args.repeat} runs "
              f"({', '.join(f'{r[0]:.2f}' for r in runs)} s; --engine python "
              f"{', '.join(f'{r[0]:.2f}' for r in python_runs)} s; --engine bulk "
              f"{', '.join(f'{r[0]:.2f}' for r in bulk_runs)} s)")
        print_table(rows)
        if args.keep:
            shutil.copy(db, out / "bench.duckdb")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
