"""`auditctl watch`: follow files (and a syslog receiver's spool), store new events in batches,
sign them, run the rules over the windows they need, and deliver alerts.

Each cycle opens the database, ingests what is new, signs a checkpoint, runs the rules,
and closes the database, so other `auditctl` commands can use it between cycles. Ingest goes
through the same registry as `auditctl ingest`. That gives following like `tail -F`:

- Each file resumes at its committed offset. After `kill -9` nothing acknowledged is lost
  and nothing is stored twice.
- Rotation by rename is handled: the old inode is found under its new name and read to its
  end first.
- So is rotation by copytruncate: the file's bytes change and it is read from the start.
- A followed file is proven each cycle from the hash state this process kept (identity.py).
- A file that appears in a watched directory is picked up.
- A rotation compressed to `.gz` adds nothing twice.
- Only complete lines are read; a line still being written waits for the next cycle.

With `--listen`, received messages go to a spool (`listener`, `spool`) that each cycle
ingests like a followed file; the cycle then removes the spool segments stored to their end,
records the listeners' refusals and drops (`collection`) and rewrites the status file.

Rules run over [last end - longest rule window, now], and a finding continues its stored
finding, so a burst that spans two cycles is one finding. A new finding alerts once; a
growing one alerts again after its rule's cooldown, with its count.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditctl.access.selfaudit import append_records
from auditctl.access.session import open_writer
from auditctl.config import Config
from auditctl.detect.rules import Rule
from auditctl.detect.runner import Finding, run_checks
from auditctl.errors import DatabaseBusy
from auditctl.ingest.discovery import PluginRegistry
from auditctl.ingest.identity import LiveProofs
from auditctl.ingest.ingester import Ingester, expand_paths
from auditctl.integrity.signing import SigningKey
from auditctl.integrity.verify import make_checkpoint
from auditctl.live.alerts import Sink, alert_from_finding
from auditctl.live.collection import STATUS_EVERY, Tracker, status_doc, status_path, write_status
from auditctl.live.listener import ListenAddress, Listener
from auditctl.live.spool import SpoolBudget
from auditctl.report import sql as rq
from auditctl.store import Store

CHECK_EVERY_IDLE = timedelta(seconds=60)  # absence rules need checks even when nothing arrives


@dataclass
class CycleResult:
    events: int = 0
    files: int = 0
    findings: list[Finding] = field(default_factory=list)
    alerts: int = 0
    busy: bool = False
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    collected: int = 0  # log_collected records stored


def max_window(rules: list[Rule]) -> timedelta:
    return max((r.window or timedelta(0) for r in rules), default=timedelta(0))


class Watcher:
    def __init__(self, config: Config, registry: PluginRegistry, paths: list[str], rules: list[Rule],
                 sinks: list[Sink], key: SigningKey, listen: Sequence[ListenAddress] = (),
                 interval: float = 0.5, log: Callable[[str], None] = lambda m: None) -> None:
        self.config = config
        self.registry = registry
        self.paths = list(paths)
        self.rules = rules
        self.sinks = sinks
        self.key = key
        self.interval = interval
        self.log = log
        self.spool_dir = config.db.with_name(config.db.name + ".spool")
        self.budget = SpoolBudget(config.listen.spool_max_bytes)
        self.listeners: list[Listener] = []
        try:
            for address in listen:
                self.listeners.append(Listener(address, config.listen, self.spool_dir, self.budget))
        except BaseException:
            for listener in self.listeners:
                listener.stop()
            raise
        if self.listeners:
            self.paths.append(str(self.spool_dir))
        self.collection = Tracker()
        self.status_file = status_path(config)
        self.inodes: dict[str, tuple[int, int]] = {}
        self.live = LiveProofs()  # hash states at the committed offsets, kept across cycles
        self.checked_until: datetime | None = None
        self.last_check = datetime.min.replace(tzinfo=UTC)
        self.alerted: dict[int, datetime] = {}
        self.stop = threading.Event()
        self.stats = {"cycles": 0, "events": 0, "alerts": 0}

    # -- files ----------------------------------------------------------------------------

    def _files(self) -> list[str]:
        files, _ = expand_paths(self.paths)
        rotated = []
        for name in files:
            try:
                st = os.stat(name)
            except OSError:
                continue
            old = self.inodes.get(name)
            now = (st.st_dev, st.st_ino)
            if old is not None and old != now:
                moved = _find_inode(Path(name).parent, old)
                if moved and moved not in files:
                    rotated.append(moved)  # the renamed file's tail comes before the new file
            self.inodes[name] = now
        return rotated + [f for f in files if not f.endswith((".wal", ".duckdb"))]

    # -- one cycle ------------------------------------------------------------------------

    def cycle(self, now: datetime | None = None, final: bool = False) -> CycleResult:
        started = time.perf_counter()
        result = CycleResult()
        for listener in self.listeners:
            listener.spool.sync()
        files = self._files()
        try:
            with open_writer(self.config) as store:
                before = store.end_before_own_writes()
                last_seq = store.event_count_and_max_seq()[1]
                summary = Ingester(store, self.registry, self.config, follow=True, live=self.live).ingest(files)
                result.events, result.files = summary.events, len([f for f in summary.files if f.events])
                result.errors += [f.note for f in summary.failed]
                if summary.not_read:
                    result.errors.append(f"stopped by the store error: not read this cycle: {', '.join(summary.not_read)}")
                now = now or datetime.now(UTC)
                if self.listeners:
                    result.collected = self._collect(store, summary.files, last_seq, now, final)
                if result.events or result.collected:
                    make_checkpoint(store, self.key, self.config.checkpoints_path, adopted_upto=before)
                if result.events or now - self.last_check >= CHECK_EVERY_IDLE:
                    result.findings = self._check(store, now)
        except DatabaseBusy as exc:
            result.busy = True
            result.errors.append(str(exc))
        self._write_status(now or datetime.now(UTC), final)
        alerts = [self._alert(f, now or datetime.now(UTC)) for f in result.findings]
        result.alerts = sum(1 for a in alerts if a)
        for sink in self.sinks:
            result.errors += sink.errors
            sink.errors.clear()
        result.seconds = time.perf_counter() - started
        self.stats["cycles"] += 1
        self.stats["events"] += result.events
        self.stats["alerts"] += result.alerts
        return result

    # -- the listeners ---------------------------------------------------------------------

    def _collect(self, store: Store, files: list[Any], last_seq: int, now: datetime, final: bool) -> int:
        """After an ingest: free the spool segments stored to their end, count what the cycle
        stored per listener, and record the listeners' counts that are due."""
        offsets = {str(Path(f.path).resolve()): f.offset for f in files if f.offset is not None}
        for listener in self.listeners:
            listener.spool.stored_upto(offsets)
        self.collection.add_stored(store.run_query(*rq.received_after(last_seq)))
        due = self.collection.due(self.listeners, now, final)
        if not due:
            return 0
        with store.transaction():
            count = append_records(store, self.collection.events(due, now))
        self.collection.mark(due, now)
        return count

    def _write_status(self, now: datetime, final: bool) -> None:
        if not self.listeners:
            return
        last = self.collection.status_at
        if not final and last is not None and now - last < STATUS_EVERY:
            return
        try:
            write_status(self.status_file, status_doc(self.listeners, self.collection, self.config, now))
            self.collection.status_at = now
        except OSError as exc:
            self.log(f"warning: cannot write the status file {self.status_file}: {exc}")

    def _check(self, store: Store, now: datetime) -> list[Finding]:
        since = (self.checked_until or now - timedelta(hours=1)) - max_window(self.rules)
        check = run_checks(store, self.rules, since, now, now=now)
        self.checked_until, self.last_check = now, now
        return check.findings

    def _alert(self, finding: Finding, now: datetime) -> bool:
        rule = next((r for r in self.rules if r.id == finding.rule_id), None)
        cooldown = rule.cooldown if rule else timedelta(hours=1)
        last = self.alerted.get(finding.id)
        if finding.status != "new" and last is not None and now - last < cooldown:
            return False
        alert = alert_from_finding(finding)
        delivered = [sink.offer(alert) for sink in self.sinks]
        if any(delivered):
            self.alerted[finding.id] = now
        return any(delivered)

    # -- the loop -------------------------------------------------------------------------

    def run(self, max_cycles: int | None = None) -> None:
        for listener in self.listeners:
            for warning in listener.warnings:
                self.log(warning)
            listener.start()
            self.log(f"listening on {listener.url}")
        try:
            while not self.stop.is_set():
                result = self.cycle()
                for error in result.errors:
                    self.log(f"warning: {error}")
                if max_cycles is not None and self.stats["cycles"] >= max_cycles:
                    break
                self.stop.wait(self.interval)
        finally:
            for listener in self.listeners:
                listener.stop()
            self.cycle(final=True)  # what arrived while stopping is stored and signed before exit

    def install_signal_handlers(self) -> None:
        def handler(signum: int, frame: Any) -> None:
            self.log(f"stopping on signal {signum}: committing the current batch")
            self.stop.set()
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def _find_inode(directory: Path, ident: tuple[int, int]) -> str | None:
    try:
        for entry in os.scandir(directory):
            st = entry.stat(follow_symlinks=False)
            if (st.st_dev, st.st_ino) == ident and entry.is_file():
                return entry.path
    except OSError:
        return None
    return None
