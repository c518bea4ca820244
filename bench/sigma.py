"""`make bench` / `make bench-large`: Sigma rules, each figure next to a baseline of the same run.

Figures: loading and compiling SigmaHQ's whole `rules/` tree (when a checkout is at hand) and
the shipped set; `check` with the shipped set over a store of a mixed stream (Windows NXLog
JSON, CloudTrail, auth.log; `generate_sigma`), next to `check` with the built-in pack over
the same store and a floor: one DuckDB scan reading one attrs field of every event. The runs
are interleaved (Sigma, built-in, floor, Sigma, ...) and each figure is the median.

The shipped set is `--rules PATH` or else the bundled pack; without a pack (a checkout before
it landed) a stand-in is drawn from the SigmaHQ tree: the first files (by name) of the folders
in `STANDIN`, the sources the pack covers.

    python bench/sigma.py [--events N] [--rules PATH] [--sigmahq PATH] [--repeat 3] [--per-rule] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate_sigma import counts, write_mixed  # noqa: E402
from run import AUDITCTL, fmt_bytes, print_table, run_child  # noqa: E402

ROOT = HERE.parent
PACK = ROOT / "src" / "auditctl" / "detect" / "sigma" / "pack"
# SigmaHQ's rules/ folder: --sigmahq, else $SIGMAHQ_RULES, else these places when present
SIGMAHQ_GUESSES = (Path("/tmp/sigma/rules"), ROOT.parent / "sigma" / "rules")
STANDIN = {"windows/builtin/security": 60, "windows/builtin/system": 25, "windows/builtin/taskscheduler": 3,
           "windows/process_creation": 100, "windows/powershell/powershell_script": 40,
           "windows/network_connection": 10, "windows/file/file_event": 10, "windows/registry/registry_set": 10,
           "cloud/aws": 60, "linux/auditd": 30, "linux/builtin": 10}

LOAD = """
import json, sys, time
from pathlib import Path
from auditctl.detect.sigma.load import load_sigma
t = time.perf_counter()
s = load_sigma([Path(p) for p in sys.argv[1:]])
print(json.dumps({"seconds": time.perf_counter() - t, "files": s.files, "compiled": len(s.rules) + len(s.bases),
                  "skipped": len(s.skipped)}))
"""
# the floor of loading: reading every file as YAML with libyaml, nothing else
YAML_ONLY = """
import json, sys, time, yaml
from pathlib import Path
t = time.perf_counter()
n = 0
for root in sys.argv[1:]:
    for p in sorted(Path(root).rglob("*.y*ml")):
        n += len(list(yaml.load_all(p.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)))
print(json.dumps({"seconds": time.perf_counter() - t, "docs": n}))
"""
# the floor of a check: one scan of every event reading one field of attrs
FLOOR = """
import duckdb, json, sys, time
c = duckdb.connect(sys.argv[1], read_only=True)
c.execute("SET enable_progress_bar = false")
t = time.perf_counter()
n = c.execute("SELECT count(*) FILTER (WHERE json_extract_string(attrs, '$.EventID') = '4688') FROM events").fetchone()[0]
print(json.dumps({"seconds": time.perf_counter() - t, "matched": n}))
"""
COUNT = ("import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True);"
         "print(c.execute('SELECT count(*) FROM events').fetchall()[0][0])")
# `check` with one query per rule over every event (the runner before shared scopes)
PER_RULE = """
import sys
import auditctl.detect.runner as runner
runner.SHARED_SCOPES = False
from auditctl.cli.app import main
sys.argv[0] = "auditctl"
main()
"""


def sigmahq_tree(option: str | None) -> Path | None:
    for candidate in (option, os.environ.get("SIGMAHQ_RULES"), *SIGMAHQ_GUESSES):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def standin(tree: Path, dest: Path) -> Path:
    """The stand-in shipped set: a deterministic selection of the tree's rules, copied."""
    if dest.exists():
        shutil.rmtree(dest)
    for folder, first in STANDIN.items():
        files = sorted((tree / folder).rglob("*.yml"))[:first]
        for f in files:
            target = dest / f.relative_to(tree)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, target)
    return dest


def shipped_set(option: str | None, tree: Path | None) -> tuple[Path, str]:
    if option:
        return Path(option), option
    if PACK.is_dir() and any(PACK.rglob("*.yml")):
        return PACK, "bundled"
    if tree is None:
        raise SystemExit("bench: no shipped Sigma set (no bundled pack, no --rules) and no SigmaHQ tree for a stand-in")
    return standin(tree, HERE / "out" / "sigma-standin"), "stand-in drawn from SigmaHQ (bundled pack absent)"


def child_json(argv: list[str], env: dict | None = None) -> dict:
    _, _, out = run_child(argv, env=env)
    return json.loads(out[out.rindex("{"):])  # the last line (DuckDB may draw a progress bar before it)


def timed_check(db: Path, work: Path, env: dict, extra: list[str],
                prefix: list[str] | None = None) -> tuple[float, int, int]:
    """A whole `check` process over a fresh copy of the store: every run finds the same."""
    copy = work / "check.duckdb"
    for leftover in (copy, copy.with_name(copy.name + ".wal")):
        leftover.unlink(missing_ok=True)
    shutil.copy(db, copy)
    argv = [*(prefix or [str(AUDITCTL)]), "--db", str(copy), "check", "--since", "2000-01-01", "--until", "2100-01-01",
            "--format", "json", *extra]
    seconds, rss, out = run_child(argv, env=env)
    return seconds, len(json.loads(out[out.index("["):])), rss  # after a progress bar DuckDB may draw


def per_rule_check(db: Path, work: Path, env: dict, rules: Path, checks: dict, found: dict) -> str:
    """The old runner (one query per rule over every event); its queries of hundreds of JSON
    fields run out of DuckDB's memory at the default limit: then without a limit, said so."""
    argv = ["--no-builtin", "--sigma", str(rules)]
    prefix = [sys.executable, "-c", PER_RULE]
    try:
        s, found["per_rule"], _ = timed_check(db, work, env, argv, prefix=prefix)
        note = ""
    except SystemExit as exc:
        if "Out of Memory" not in str(exc):
            raise
        (work / "nolimit.yaml").write_text("memory_limit: null\n")
        s, found["per_rule"], _ = timed_check(db, work, {**env, "AUDITCTL_CONFIG": str(work / "nolimit.yaml")}, argv,
                                              prefix=prefix)
        note = "; out of memory at the default 1 GB limit, so run without one"
    checks["per_rule"].append(s)
    return note


def median_of(runs: list[float]) -> str:
    return f"{statistics.median(runs):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rules", help="the shipped set to time (default: the bundled pack)")
    ap.add_argument("--sigmahq", help="SigmaHQ's rules/ folder (default: $SIGMAHQ_RULES)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of each figure; the median is reported")
    ap.add_argument("--per-rule", action="store_true",
                    help="also time check with one query per rule, the runner before shared scopes (once: it is slow)")
    ap.add_argument("--keep", action="store_true", help="keep the store in bench/out")
    ap.add_argument("--store", help="time checks over this store of the same stream (read-only: checks run on copies) "
                                    "instead of ingesting the stream anew")
    args = ap.parse_args()
    out = HERE / "out"
    data = out / f"sigma-mix-{args.events}"
    if not args.store and not (data / "auth.log").exists():
        print(f"generating {args.events:,} mixed events -> {data}", flush=True)
        write_mixed(data, args.events)
    files = sorted(p for p in data.iterdir() if p.is_file()) if data.is_dir() else []
    size = sum(p.stat().st_size for p in files)
    tree = sigmahq_tree(args.sigmahq)
    rules, rules_label = shipped_set(args.rules, tree)
    work = Path(tempfile.mkdtemp(prefix="auditctl-bench-sigma-"))
    try:
        env = {**os.environ, "AUDITCTL_CONFIG": str(work / "none.yaml")}
        if args.store:
            db, ingest_s = Path(args.store), 0.0
            events = int(run_child([sys.executable, "-c", COUNT, str(db)])[2])
        else:
            db = work / "sigma.duckdb"
            print(f"ingesting {len(files)} files ({fmt_bytes(size)}) ...", flush=True)
            ingest_s, _, ingest_out = run_child([str(AUDITCTL), "--db", str(db), "ingest", "--format", "json",
                                                 *map(str, files)], env=env)
            events = json.loads(ingest_out)["events"]
        py = sys.executable
        loads: dict[str, list[float]] = {"tree": [], "tree_yaml": [], "set": [], "set_yaml": []}
        counts_of: dict[str, dict] = {}
        checks: dict[str, list[float]] = {"sigma": [], "builtin": [], "floor": [], "per_rule": []}
        found: dict[str, int] = {}
        peak: dict[str, int] = {}
        per_rule_note = ""
        for i in range(args.repeat):
            print(f"run {i + 1} of {args.repeat} ...", flush=True)
            if tree is not None:
                r = child_json([py, "-c", LOAD, str(tree)], env)
                loads["tree"].append(r["seconds"])
                counts_of["tree"] = r
                loads["tree_yaml"].append(child_json([py, "-c", YAML_ONLY, str(tree)], env)["seconds"])
            r = child_json([py, "-c", LOAD, str(rules)], env)
            loads["set"].append(r["seconds"])
            counts_of["set"] = r
            loads["set_yaml"].append(child_json([py, "-c", YAML_ONLY, str(rules)], env)["seconds"])
            s, found["sigma"], rss = timed_check(db, work, env, ["--no-builtin", "--sigma", str(rules)])
            checks["sigma"].append(s)
            peak["sigma"] = max(peak.get("sigma", 0), rss)
            s, found["builtin"], rss = timed_check(db, work, env, [])
            checks["builtin"].append(s)
            peak["builtin"] = max(peak.get("builtin", 0), rss)
            r = child_json([py, "-c", FLOOR, str(db)], env)
            checks["floor"].append(r["seconds"])
            found["floor"] = r["matched"]
            if args.per_rule and i == 0:
                per_rule_note = per_rule_check(db, work, env, rules, checks, found)
        windows, cloudtrail, auth = counts(args.events)
        sigma_s = statistics.median(checks["sigma"])
        builtin_s = statistics.median(checks["builtin"])
        floor_s = statistics.median(checks["floor"])
        rows = []
        if tree is not None:
            t = counts_of["tree"]
            rows.append((f"load + compile SigmaHQ rules/: {t['files']:,} files, {t['compiled']:,} compiled, "
                         f"{t['skipped']:,} skipped (s)", median_of(loads["tree"]),
                         f"{median_of(loads['tree_yaml'])} YAML parse only (libyaml)",
                         f"{statistics.median(loads['tree']) / statistics.median(loads['tree_yaml']):.1f}x"))
        else:
            rows.append(("load + compile SigmaHQ rules/", "skipped", "no checkout: --sigmahq or $SIGMAHQ_RULES", ""))
        c = counts_of["set"]
        rows += [
            (f"load + compile the shipped set: {c['files']} files, {c['compiled']} compiled, {c['skipped']} skipped (s)",
             median_of(loads["set"]), f"{median_of(loads['set_yaml'])} YAML parse only (libyaml)",
             f"{statistics.median(loads['set']) / statistics.median(loads['set_yaml']):.1f}x"),
            (f"check --sigma (shipped set), {found['sigma']} findings (s)", f"{sigma_s:.2f}",
             f"{builtin_s:.2f} check, built-in pack ({found['builtin']} findings)", f"{sigma_s / builtin_s:.2f}x"),
            ("  peak RSS of that check", fmt_bytes(peak["sigma"]), f"{fmt_bytes(peak['builtin'])} built-in pack",
             f"{peak['sigma'] / peak['builtin']:.2f}x"),
            ("  the same, next to one scan (s)", f"{sigma_s:.2f}",
             f"{floor_s:.2f} duckdb: one attrs field of every event", f"{sigma_s / floor_s:.1f}x"),
        ]
        if checks["per_rule"]:
            per_rule_s = statistics.median(checks["per_rule"])
            same = "same findings" if found["per_rule"] == found["sigma"] else \
                f"DIFFERENT: {found['per_rule']} findings"
            rows.append(("  one query per rule over every event, one run (s)", f"{per_rule_s:.2f}",
                         f"{sigma_s:.2f} shared scopes (above); {same}{per_rule_note}", f"{per_rule_s / sigma_s:.1f}x"))
        if ingest_s:
            rows.append((f"ingest of the mixed stream ({fmt_bytes(size)}) (s)", f"{ingest_s:.1f}",
                         f"{events / ingest_s:,.0f} events/s", ""))
        print(f"\nauditctl bench sigma: {events:,} events ({windows:,} Windows NXLog, {cloudtrail:,} CloudTrail, "
              f"{auth:,} auth.log lines), shipped set: {rules_label}; {os.cpu_count()} CPUs, python "
              f"{sys.version.split()[0]}; medians of {args.repeat} interleaved runs")
        print_table([(*r, "", "") for r in rows])
        if args.keep and not args.store:
            shutil.copy(db, out / f"sigma-{args.events}.duckdb")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
