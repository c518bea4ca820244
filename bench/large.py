"""`make bench-large`: the issue-10 targets on 10,000,000 lines, each next to a same-run baseline.

Ingests the generator's 10M-line auth.log into a fresh store, then times what users do with
it: a selective search (user + time range), a free-text search, the whole built-in rule pack,
`verify`, a week's report. Baselines: lnav on the same file (when installed), DuckDB alone on
the same rows, and DuckDB reading the raw lines.

    python bench/large.py [--lines N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import write  # noqa: E402
from run import AUDITCTL, baseline_duckdb_lines, fmt_bytes, print_table, run_child  # noqa: E402

START = datetime(2026, 3, 1, tzinfo=UTC)  # the generator's first stamp
NEEDLE = "backup.sh"  # in ~7% of the lines: a free-text search that returns many


def lnav_seconds(log: Path, query: str) -> float | None:
    """lnav opening the file and running one SQL query headless; None when lnav is absent."""
    if not shutil.which("lnav"):
        return None
    started = time.perf_counter()
    subprocess.run(["lnav", "-n", "-c", f";{query}", str(log)], capture_output=True, check=True)
    return time.perf_counter() - started


def in_process_ms(db: Path, code: str, repeat: int = 7) -> float:
    """Median milliseconds of `code` against an open read-only store, after one warm-up run."""
    script = f"""
import statistics, sys, time
from datetime import datetime, timedelta, UTC
from auditctl.store.filters import EventFilter
from auditctl.store import Store
store = Store.open(sys.argv[1], read_only=True)
def run():
    {code}
run()
times = []
for _ in range({repeat}):
    t = time.perf_counter(); run(); times.append(time.perf_counter() - t)
print(statistics.median(times) * 1000)
"""
    _, _, out = run_child([sys.executable, "-c", script, str(db)])
    return float(out.strip())


def duckdb_ms(db: Path, sql: str, repeat: int = 7) -> float:
    script = f"""
import duckdb, statistics, sys, time
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute({sql!r}).fetchall()
times = []
for _ in range({repeat}):
    t = time.perf_counter(); con.execute({sql!r}).fetchall(); times.append(time.perf_counter() - t)
print(statistics.median(times) * 1000)
"""
    _, _, out = run_child([sys.executable, "-c", script, str(db)])
    return float(out.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--keep", action="store_true", help="keep the database in bench/out")
    args = ap.parse_args()
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    log = out / f"auth-v2-{args.lines}.log"
    if not log.exists():
        print(f"generating {args.lines:,} auth.log lines -> {log}", flush=True)
        write(str(log), args.lines)
    size = log.stat().st_size
    work = Path(tempfile.mkdtemp(prefix="auditctl-bench-large-"))
    try:
        env = {**os.environ, "AUDITCTL_CONFIG": str(work / "none.yaml")}
        db = work / "large.duckdb"
        cli = [str(AUDITCTL), "--db", str(db)]
        print(f"ingesting {fmt_bytes(size)} ...", flush=True)
        ingest_s, rss, ingest_out = run_child([*cli, "ingest", "--format", "json", str(log)], env=env)
        events = json.loads(ingest_out)["events"]
        lines_s = baseline_duckdb_lines(log, work)
        lnav_open = lnav_seconds(log, "SELECT count(*) FROM syslog_log")
        week = (START + timedelta(days=2), START + timedelta(days=3))
        selective = (f"store.search(EventFilter(users=('alice',), since=datetime({week[0].year}, {week[0].month}, "
                     f"{week[0].day}, tzinfo=UTC), until=datetime({week[1].year}, {week[1].month}, {week[1].day}, "
                     "tzinfo=UTC)), limit=100)")
        search_ms = in_process_ms(db, selective)
        search_floor = duckdb_ms(db, "SELECT * FROM events WHERE (actor = 'alice' OR target = 'alice') AND ts >= "
                                     f"'{week[0].isoformat()}' AND ts < '{week[1].isoformat()}' ORDER BY ts, seq LIMIT 100")
        search_cli_s, _, _ = run_child([*cli, "search", "--user", "alice", "--since", week[0].isoformat(), "--until",
                                        week[1].isoformat(), "--format", "json"], env=env)
        text_ms = in_process_ms(db, f"store.count(EventFilter(text={NEEDLE!r}))", repeat=3)
        text_floor = duckdb_ms(db, f"SELECT count(*) FROM events WHERE raw ILIKE '%{NEEDLE}%'", repeat=3)
        lnav_text = lnav_seconds(log, f"SELECT count(*) FROM syslog_log WHERE log_body LIKE '%{NEEDLE}%'")
        check_s, _, check_out = run_child([*cli, "check", "--since", "2000-01-01", "--until", "2100-01-01",
                                           "--format", "json"], env=env)
        verify_s, _, verify_out = run_child([*cli, "verify", "--format", "json"], env=env)
        report_s, _, _ = run_child([*cli, "report", "--since", START.isoformat(), "--until",
                                    (START + timedelta(days=7)).isoformat(), "--format", "html", "--output",
                                    str(work / "week.html")], env=env)
        db_size = db.stat().st_size
        lnav_note = "lnav not installed (apt install lnav)"
        rows = [
            ("ingest end to end incl. hash + checkpoint (s)", f"{ingest_s:.1f}",
             f"{lnav_open:.1f} lnav open + count(*)" if lnav_open else lnav_note,
             f"{ingest_s / lnav_open:.1f}x" if lnav_open else "", "<= 4x lnav",
             ("pass" if ingest_s <= 4 * lnav_open else "FAIL") if lnav_open else "skip"),
            ("  ingest rate (events/s)", f"{events / ingest_s:,.0f}", f"{lines_s:.1f} s duckdb read_csv raw lines",
             f"{ingest_s / lines_s:.1f}x", "", ""),
            ("peak RSS of that ingest", fmt_bytes(rss), "", "", "< 1 GiB", "pass" if rss < 1 << 30 else "FAIL"),
            ("selective search: user + 1 day, in process (ms)", f"{search_ms:.1f}", f"{search_floor:.1f} ms duckdb alone",
             f"{search_ms / search_floor:.1f}x", "< 50 ms", "pass" if search_ms < 50 else "FAIL"),
            ("  the same as a CLI process (s)", f"{search_cli_s:.2f}", "", "", "", ""),
            (f"free-text search '{NEEDLE}', count (ms)", f"{text_ms:.0f}",
             f"{text_floor:.0f} ms duckdb ILIKE" + (f"; lnav {lnav_text:.1f} s" if lnav_text else ""),
             f"{text_ms / text_floor:.1f}x", "< 1000 ms", "pass" if text_ms < 1000 else "FAIL"),
            (f"check: built-in pack, {len(json.loads(check_out))} findings (s)", f"{check_s:.1f}", "", "", "< 10 s",
             "pass" if check_s < 10 else "FAIL"),
            ("verify all events (s)", f"{verify_s:.1f}", "intact" if json.loads(verify_out)["intact"] else "NOT INTACT",
             "", "< 15 s", "pass" if verify_s < 15 and json.loads(verify_out)["intact"] else "FAIL"),
            ("report over a week, HTML (s)", f"{report_s:.1f}", "", "", "< 10 s", "pass" if report_s < 10 else "FAIL"),
            ("store size", fmt_bytes(db_size), f"{fmt_bytes(size)} raw log", f"{db_size / size:.2f}x", "<= 0.35x",
             "pass" if db_size / size <= 0.35 else "FAIL"),
        ]
        print(f"\nauditctl bench-large: {args.lines:,} lines ({fmt_bytes(size)}), {events:,} events, "
              f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}")
        print_table(rows)
        if args.keep:
            shutil.copy(db, out / "large.duckdb")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
