"""A killed ingest leaves no process behind: its parse workers and their helpers exit too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import ROOT

LINE = "Mar  1 10:00:{:02d} web1 sshd[{}]: Failed password for root from 203.0.113.{} port 22 ssh2\n"


def _children_of(pids: set[int]) -> set[int]:
    """Every live process whose parent is in `pids` (read from /proc: psutil is not a dependency)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _stat(int(entry))
        if stat and int(stat[1]) in pids:
            found.add(int(entry))
    return found


def _stat(pid: int) -> list[str] | None:
    """state, ppid, ... and start time of a process; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _alive(pid: int, started: str) -> bool:
    """Still running: neither gone, nor a zombie, nor a new process that reused the pid."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z" and stat[19] == started


def _descendants(root: int) -> dict[int, str]:
    seen: dict[int, str] = {}
    frontier = {root}
    while frontier:
        frontier = _children_of(frontier) - set(seen)
        for pid in frontier:
            stat = _stat(pid)
            if stat:
                seen[pid] = stat[19]
    return seen


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_workers_exit_when_the_ingest_is_killed(tmp_path):
    log = tmp_path / "big.log"
    with log.open("w") as f:
        for i in range(600_000):  # ~60 MB: parsed in parallel chunks, long enough to be caught at it
            f.write(LINE.format(i % 60, i, i % 250))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HOME": str(tmp_path / "home"),
           "AUDITCTL_CONFIG": str(tmp_path / "none.yaml")}
    proc = subprocess.Popen([sys.executable, "-m", "auditctl", "--db", str(tmp_path / "a.duckdb"),
                             "ingest", "--workers", "2", str(log)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    children: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 60
        while len(children) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            children = _descendants(proc.pid)
        assert len(children) >= 2, f"no parse workers seen (exit {proc.poll()})"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 30  # a bound on waiting, not a timing claim
        while any(_alive(p, s) for p, s in children.items()) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = {p: Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")[:120]
                for p, s in children.items() if _alive(p, s)}
        assert not left, f"still running after the ingest was killed: {left}"
        spools = list(Path("/dev/shm").glob(f"auditctl-{proc.pid}-*")) if Path("/dev/shm").is_dir() else []
        assert not spools, f"the parse spool was left behind: {spools}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _clean_up(children)


def _clean_up(children: dict[int, str]) -> None:
    """Leave nothing behind when the test fails: workers first, so the resource tracker sees
    its pipe close and unlinks the pool's semaphores itself before it is killed too."""
    def cmdline(pid: int) -> bytes:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return b""

    trackers = {p for p in children if b"resource_tracker" in cmdline(p)}
    for pid in sorted(children, key=lambda p: p in trackers):
        if pid in trackers:
            deadline = time.monotonic() + 10
            while _alive(pid, children[pid]) and time.monotonic() < deadline:
                time.sleep(0.05)
        if _alive(pid, children[pid]):
            os.kill(pid, signal.SIGKILL)
