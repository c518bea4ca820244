"""A mixed event stream for the Sigma benchmark: Windows events (NXLog JSON lines), CloudTrail
records and auth.log lines, deterministic, over the same stretch of time.

70% Windows (`generate_windows`: Sysmon, Security, PowerShell, System), 15% CloudTrail
(`generate_cloudtrail`), 15% auth.log (`generate`). The Windows events are cut into files of
at most 1M lines, as an NXLog fleet writes several (the Windows parser reads a file whole).

    python bench/generate_sigma.py OUT_DIR [--events N]
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from generate import write as write_auth
from generate import write_lines
from generate_cloudtrail import record
from generate_windows import lines as windows_lines

WINDOWS_SHARE, CLOUDTRAIL_SHARE = 0.70, 0.15
PART = 1_000_000
MEAN_STEP_MS = 90  # the mean gap of the whole stream, as in the auth.log generator


def counts(total: int) -> tuple[int, int, int]:
    """Windows, CloudTrail and auth.log events of a stream of `total`."""
    windows = int(total * WINDOWS_SHARE)
    cloudtrail = int(total * CLOUDTRAIL_SHARE)
    return windows, cloudtrail, total - windows - cloudtrail


def _cloudtrail_lines(count: int, step_ms: int, seed: int = 7) -> Iterator[str]:
    rng = random.Random(seed)
    when = datetime(2026, 3, 1, tzinfo=UTC)
    for _ in range(count):
        when += timedelta(milliseconds=rng.randint(1, step_ms))
        yield orjson.dumps(record(rng, when)).decode()


def write_mixed(out: Path, total: int) -> list[Path]:
    """Write the stream's files into `out` (made if needed); their paths."""
    out.mkdir(parents=True, exist_ok=True)
    windows, cloudtrail, auth = counts(total)
    paths = []
    win_step = int(2 * MEAN_STEP_MS / WINDOWS_SHARE)
    stream = windows_lines(windows, step_ms=win_step)
    for part in range(0, windows, PART):
        path = out / f"windows-{part // PART:02d}.jsonl"
        write_lines(path, (next(stream) for _ in range(min(PART, windows - part))))
        paths.append(path)
    path = out / "cloudtrail.jsonl"
    write_lines(path, _cloudtrail_lines(cloudtrail, int(2 * MEAN_STEP_MS / CLOUDTRAIL_SHARE)))
    paths.append(path)
    path = out / "auth.log"
    write_auth(str(path), auth)
    paths.append(path)
    return paths


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--events", type=int, default=1_000_000)
    a = ap.parse_args()
    for p in write_mixed(Path(a.out), a.events):
        print(p)
