"""Findings, the check runs that made them, and the review reports' saved state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from auditctl.store.connection import Connection, first_row

_FINDINGS_SCHEMA = pa.schema([
    ("id", pa.int64()), ("rule_id", pa.string()), ("severity", pa.string()), ("title", pa.string()),
    ("group_key", pa.string()), ("first_ts", pa.timestamp("us", tz="UTC")), ("last_ts", pa.timestamp("us", tz="UTC")),
    ("count", pa.int64()), ("seqs", pa.list_(pa.int64())), ("created_at", pa.timestamp("us", tz="UTC")),
    ("updated_at", pa.timestamp("us", tz="UTC")), ("check_run", pa.int64()), ("tags", pa.list_(pa.string())),
    ("detail", pa.string()),
])


_FINDING_COLS = ("id, rule_id, severity, title, group_key, first_ts, last_ts, count, seqs, created_at, "
                 "updated_at, check_run, tags, detail")


def _findings_where(ids: Sequence[int], rules: Sequence[str], severities: Sequence[str],
                    since: datetime | None, check_run: int | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, values in (("id", ids), ("rule_id", rules), ("severity", severities)):
        if values:
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    if since is not None:
        clauses.append("last_ts >= ?")
        params.append(since)
    if check_run is not None:
        clauses.append("check_run = ?")
        params.append(check_run)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params



class Findings(Connection):
    def findings_of_rule(self, rule_id: str) -> list[dict[str, Any]]:
        return self.run_query(f"SELECT {_FINDING_COLS} FROM findings WHERE rule_id = ? ORDER BY first_ts",
                              [rule_id])

    def next_finding_id(self) -> int:
        row = first_row(self.con.execute("SELECT coalesce(max(id), 0) + 1 FROM findings"))
        return int(row[0]) if row else 1

    def insert_findings(self, rows: list[dict[str, Any]]) -> None:
        """Insert many findings at once (through Arrow: row-by-row inserts run ~500 rows/s)."""
        if rows:
            table = pa.Table.from_pylist(rows, schema=_FINDINGS_SCHEMA)
            self.con.from_arrow(table).insert_into("findings")

    def update_findings(self, rows: list[dict[str, Any]]) -> None:
        """Set first/last time, count, seqs, updated_at and check_run of many findings by id."""
        if not rows:
            return
        table = pa.Table.from_pylist(rows, schema=_FINDINGS_SCHEMA)
        self.con.register("_finding_updates", table)
        try:
            self.con.execute(
                "UPDATE findings SET first_ts = u.first_ts, last_ts = u.last_ts, count = u.count, seqs = u.seqs, "
                "updated_at = u.updated_at, check_run = u.check_run FROM _finding_updates u WHERE findings.id = u.id")
        finally:
            self.con.unregister("_finding_updates")

    def list_findings(self, *, ids: Sequence[int] = (), rules: Sequence[str] = (), severities: Sequence[str] = (),
                      since: datetime | None = None, check_run: int | None = None,
                      limit: int | None = None) -> list[dict[str, Any]]:
        where, params = _findings_where(ids, rules, severities, since, check_run)
        sql = f"SELECT {_FINDING_COLS} FROM findings{where} ORDER BY last_ts DESC, id DESC"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return self.run_query(sql, params)

    def count_findings(self, *, rules: Sequence[str] = (), severities: Sequence[str] = (),
                       since: datetime | None = None) -> int:
        where, params = _findings_where((), rules, severities, since, None)
        row = first_row(self.con.execute(f"SELECT count(*) FROM findings{where}", params))
        return int(row[0]) if row else 0

    def add_check_run(self, started: datetime, since: datetime | None, until: datetime, rules: int) -> int:
        row = first_row(self.con.execute("SELECT coalesce(max(id), 0) + 1 FROM check_runs"))
        rid = int(row[0]) if row else 1
        self.con.execute("INSERT INTO check_runs VALUES (?, ?, ?, ?, ?, 0, 0, 0)", [rid, started, since, until, rules])
        return rid

    def finish_check_run(self, rid: int, new: int, updated: int, seconds: float) -> None:
        self.con.execute("UPDATE check_runs SET new_findings = ?, updated_findings = ?, seconds = ? WHERE id = ?",
                         [new, updated, seconds, rid])

    def last_check_until(self) -> datetime | None:
        row = first_row(self.con.execute("SELECT max(until) FROM check_runs"))
        return row[0] if row else None

    def save_report(self, created_at: datetime, period: str, since: datetime, until: datetime, state: str,
                    summary: str) -> int:
        row = first_row(self.con.execute("SELECT coalesce(max(id), 0) + 1 FROM reports"))
        rid = int(row[0]) if row else 1
        self.con.execute("INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [rid, created_at, period, since, until, state, summary])
        return rid

    def report_before(self, period: str, until: datetime) -> dict[str, Any] | None:
        """The last report of this kind generated over a period that ended by `until`: what a
        report up to `until` compares its state with. A report over a later period (one run out of
        order) is no earlier state of this one."""
        rows = self.run_query("SELECT * FROM reports WHERE period = ? AND until <= ? ORDER BY id DESC LIMIT 1",
                              [period, until])
        return rows[0] if rows else None
