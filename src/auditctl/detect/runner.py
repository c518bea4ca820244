"""Running rules over the store and keeping their findings, deduplicated.

A finding is (rule, group key, first/last time, count, the seqs of the events involved). A new
candidate that overlaps a stored finding of the same rule and group, or comes within the rule's
cooldown of it, is merged into it: a brute-force storm is one finding with a count, and
running `check` twice over the same range changes nothing.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from auditctl.detect.rules import Rule, severity_rank
from auditctl.detect.rulesql import (
    KEYS,
    MATCHES,
    SharedScope,
    SharedScopes,
    compile_rule,
    learning_sql,
    shared_scopes,
)
from auditctl.store import Store
from auditctl.timeutil import duration_text

# Sigma match rules of one logsource read its events once (`SharedScope`); off, each rule scans
# every event (the equivalence test and the benchmark compare the two).
SHARED_SCOPES = True


@dataclass
class Finding:
    id: int
    rule_id: str
    severity: str
    title: str
    group_key: dict[str, Any]
    first_ts: datetime
    last_ts: datetime
    count: int
    seqs: list[int]
    tags: list[str] = field(default_factory=list)
    status: str = "stored"  # new | updated | stored
    detail: dict[str, Any] | None = None  # the rule's provenance: {"sigma": {...}} for a Sigma rule

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "rule": self.rule_id, "severity": self.severity, "title": self.title,
                "group": self.group_key, "first": self.first_ts.isoformat() if self.first_ts else None,
                "last": self.last_ts.isoformat() if self.last_ts else None, "count": self.count,
                "seqs": self.seqs, "tags": self.tags, "status": self.status,
                **({"detail": self.detail} if self.detail else {})}

    @classmethod
    def from_row(cls, row: dict[str, Any], status: str = "stored") -> Finding:
        return cls(int(row["id"]), row["rule_id"], row["severity"], row["title"], orjson.loads(row["group_key"]),
                   row["first_ts"], row["last_ts"], int(row["count"]), list(row["seqs"] or []),
                   list(row.get("tags") or []), status,
                   orjson.loads(row["detail"]) if row.get("detail") else None)


@dataclass
class CheckResult:
    since: datetime | None
    until: datetime
    rules: int
    findings: list[Finding]
    per_rule: dict[str, int]
    seconds: float
    run_id: int
    learning: list[dict[str, Any]] = field(default_factory=list)  # first_seen rules still learning

    @property
    def new(self) -> int:
        return sum(1 for f in self.findings if f.status == "new")

    @property
    def updated(self) -> int:
        return sum(1 for f in self.findings if f.status == "updated")

    def at_or_above(self, severity: str) -> list[Finding]:
        return [f for f in self.findings if severity_rank(f.severity) >= severity_rank(severity)]


def run_checks(store: Store, rules: list[Rule], since: datetime | None, until: datetime | None = None,
               *, now: datetime | None = None, persist: bool = True) -> CheckResult:
    """Run the rules over [since, until]; with persist=False (a read-only reader) findings are
    merged with the stored ones in memory but nothing is written."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    until = until or now
    touched: list[Finding] = []
    per_rule: dict[str, int] = {}
    with store.transaction() if persist else contextlib.nullcontext():
        run_id = store.add_check_run(now, since, until, len(rules)) if persist else 0
        next_id = store.next_finding_id()
        scopes = _Scopes(store, rules, since, until)
        try:
            for i, rule in enumerate(rules):
                candidates = scopes.run(i, rule)
                merger = _Merger(rule, store.findings_of_rule(rule.id), now, run_id, next_id)
                found = [f for f in (merger.add(c) for c in candidates) if f is not None]
                if persist:
                    store.insert_findings(merger.inserts)
                    store.update_findings(list(merger.updates.values()))
                next_id = merger.next_id
                per_rule[rule.id] = len(found)
                touched.extend(found)
        finally:
            scopes.close()
        new = sum(1 for f in touched if f.status == "new")
        if persist:
            store.finish_check_run(run_id, new, len(touched) - new, time.perf_counter() - started)
    unique = {f.id: f for f in touched}  # a finding merged twice in one run is reported once
    ordered = sorted(unique.values(), key=lambda f: (-severity_rank(f.severity), f.first_ts))
    return CheckResult(since, until, len(rules), ordered, per_rule, time.perf_counter() - started, run_id,
                       learning_status(store, rules, until))


class _Scopes:
    """Each rule's candidates. The rules of a shared scope run together when the first of them
    is asked for: its table is made (chunk by chunk when large), all of its rules run over
    it, and it is dropped: one scope's table in memory at a time, however the rules are ordered."""

    def __init__(self, store: Store, rules: list[Rule], since: datetime | None, until: datetime) -> None:
        self.store, self.since, self.until = store, since, until
        self.shared = shared_scopes(rules, since, until) if SHARED_SCOPES else SharedScopes([], "", [])
        self.of = {i: scope for scope in self.shared.scopes for i in scope.rules}
        self.ready: dict[int, list[dict[str, Any]]] = {}
        self.pending = {scope.table for scope in self.shared.scopes}
        self.stats: dict[str, Any] | None = None

    def run(self, i: int, rule: Rule) -> list[dict[str, Any]]:
        scope = self.of.get(i)
        if scope is None:
            return self.store.run_query(*compile_rule(rule, self.since, self.until))
        if i not in self.ready:
            self._run_scope(scope)
        return self.ready.pop(i)

    def _run_scope(self, scope: SharedScope) -> None:
        if self.stats is None:
            self.store.run_query(self.shared.keys_sql, self.shared.keys_params)
            self.stats = self.store.run_query(self.shared.stats_sql(), [])[0]
        chunks = self.shared.chunks(scope, self.stats)
        try:
            if not chunks:  # no event of the scope in range: no rule of it matches
                self.ready.update((i, []) for i in scope.rules)
            elif len(chunks) == 1:
                self.store.run_query(*scope.chunk(*chunks[0]))
                for i, rule in scope.rules.items():
                    self.ready[i] = self.store.run_query(*compile_rule(rule, self.since, self.until,
                                                                       source=scope.table))
            else:
                self._run_chunked(scope, chunks)
        finally:
            self.store.run_query(f"DROP TABLE IF EXISTS {scope.table}", [])
            self.store.run_query(f"DROP TABLE IF EXISTS {MATCHES}", [])
        self.pending.discard(scope.table)
        if not self.pending:
            self.close()

    def _run_chunked(self, scope: SharedScope, chunks: list[tuple[int, int]]) -> None:
        """Each chunk's matching events, gathered; then each rule's findings from them."""
        self.store.run_query(f"CREATE OR REPLACE TEMP TABLE {MATCHES} "
                             "(_rule INTEGER, seq BIGINT, ts TIMESTAMPTZ, g VARCHAR)", [])
        for lo, hi in chunks:
            self.store.run_query(*scope.chunk(lo, hi))
            for i in scope.rules:
                self.store.run_query(*scope.matches_sql(i, self.since, self.until))
        for i in scope.rules:
            self.ready[i] = self.store.run_query(*compile_rule(scope.gathered(i), self.since, self.until,
                                                               source=MATCHES))

    def close(self) -> None:
        if self.stats is not None:
            self.store.run_query(f"DROP TABLE IF EXISTS {KEYS}", [])
            self.stats = None


def learning_status(store: Store, rules: list[Rule], until: datetime) -> list[dict[str, Any]]:
    """First-seen rules whose groups are still learning their baseline at `until` (nothing of a
    learning group is "new" yet), with when the last of them is done."""
    out = []
    for rule in rules:
        if rule.type != "first_seen" or not rule.learning:
            continue
        row = store.run_query(*learning_sql(rule, until))[0]
        if row["learning"]:
            out.append({"rule": rule.id, "learning": duration_text(rule.learning), "groups": int(row["groups"]),
                        "groups_learning": int(row["learning"]), "learning_until": row["learning_until"]})
    return out


def learning_text(learning: list[dict[str, Any]]) -> str:
    return " ".join(f"{x['rule']}: {x['groups_learning']} of {x['groups']} group(s) still learning their "
                    f"baseline (first {x['learning']} of each group's history), learning until "
                    f"{x['learning_until']:%Y-%m-%d %H:%M} UTC at the latest." for x in learning)


class _Merger:
    """Merges one rule's candidates into its stored findings, in memory; writes happen in bulk."""

    def __init__(self, rule: Rule, stored: list[dict[str, Any]], now: datetime, run_id: int, next_id: int) -> None:
        self.rule = rule
        self.now = now
        self.run_id = run_id
        self.next_id = next_id
        self.by_group: dict[str, list[dict[str, Any]]] = {}
        for row in stored:
            self.by_group.setdefault(row["group_key"], []).append(row)
        self.inserts: list[dict[str, Any]] = []
        self.updates: dict[int, dict[str, Any]] = {}

    def add(self, c: dict[str, Any]) -> Finding | None:
        rule, key = self.rule, c["group_key"]
        seqs = list(c["seqs"])  # BIGINTs from DuckDB: already ints
        first, last = c["first_ts"], c["last_ts"]
        for row in self.by_group.get(key, []):
            if first <= row["last_ts"] + rule.cooldown and last >= row["first_ts"] - rule.cooldown:
                if (first, last) == (row["first_ts"], row["last_ts"]) and seqs == row["seqs"]:
                    return None  # the same finding again (no sets of millions of seqs needed)
                old = set(row["seqs"] or [])
                merged = sorted(old | set(seqs))
                lo, hi = min(first, row["first_ts"]), max(last, row["last_ts"])
                if len(merged) == len(old) and lo == row["first_ts"] and hi == row["last_ts"]:
                    return None  # nothing new: checked before
                row.update(first_ts=lo, last_ts=hi, count=len(merged), seqs=merged, updated_at=self.now,
                           check_run=self.run_id)
                if row in self.inserts:
                    status = "new"
                else:
                    self.updates[int(row["id"])] = row
                    status = "updated"
                return Finding(int(row["id"]), rule.id, rule.severity, rule.title, orjson.loads(key), lo, hi,
                               len(merged), merged, list(rule.tags), status, _detail(rule))
        row = {"id": self.next_id, "rule_id": rule.id, "severity": rule.severity, "title": rule.title,
               "group_key": key, "first_ts": first, "last_ts": last, "count": len(seqs), "seqs": seqs,
               "created_at": self.now, "updated_at": self.now, "check_run": self.run_id, "tags": list(rule.tags),
               "detail": orjson.dumps(_detail(rule)).decode() if rule.sigma else None}
        self.next_id += 1
        self.inserts.append(row)
        self.by_group.setdefault(key, []).append(row)
        return Finding(row["id"], rule.id, rule.severity, rule.title, orjson.loads(key), first, last, len(seqs),
                       seqs, list(rule.tags), "new", _detail(rule))


def _detail(rule: Rule) -> dict[str, Any] | None:
    return {"sigma": rule.sigma.to_json()} if rule.sigma else None


def list_findings(store: Store, **filters: Any) -> list[Finding]:
    return [Finding.from_row(r) for r in store.list_findings(**filters)]
