"""The periodic review report: what happened, what changed, what looks wrong, and proof of
what data it covered. Built as one JSON-shaped document; `report_render` turns it into Markdown
or self-contained HTML.

The report remembers the last one it made (table `reports`): the "changes since the previous
report" section compares today's admins, accounts and admin source addresses with the state
that report recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import pyarrow as pa

from auditctl.detect.changes import CHANGE_GAP
from auditctl.detect.rules import Rule, load_rules, severity_rank
from auditctl.detect.rulesql import compile_rule
from auditctl.detect.runner import CheckResult, Finding, learning_text, list_findings, run_checks
from auditctl.errors import AuditctlError, UsageError
from auditctl.integrity.signing import SigningKey, VerifierKey
from auditctl.integrity.verify import Checkpoint, latest_checkpoint, make_checkpoint, verify
from auditctl.report import sql as rq
from auditctl.store import Store
from auditctl.timeutil import duration_text
from auditctl.where import Sql, condition_sql

REPORT_VERSION = 1
ACCESS_LOG_ROWS = 200  # self-audit records listed in full; the per-person counts cover all
PERIODS = ("day", "week", "month")
ADMIN_RULE = "iam.admin-granted"


def period_range(period: str, now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """day: yesterday; week: the 7 days before today; month: the previous calendar month (local time)."""
    today = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        start, end = today - timedelta(days=1), today
    elif period == "week":
        start, end = today - timedelta(days=7), today
    elif period == "month":
        first = today.replace(day=1)
        prev_last = first - timedelta(days=1)
        start, end = prev_last.replace(day=1), first
    else:
        raise UsageError(f"--period: choose one of {', '.join(PERIODS)}")
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True)
class ReportInputs:
    period: str  # day | week | month | custom
    since: datetime
    until: datetime
    rules: list[Rule]
    key: SigningKey | None  # None: a reader's report (no new checkpoint, findings not stored)
    verifier: VerifierKey
    checkpoint_file: Path | None


def admin_role_condition(rules: list[Rule]) -> Any:
    """The role condition that makes a grant an admin grant: the active admin rule's, else the built-in's."""
    for rule in rules:
        if rule.id == ADMIN_RULE:
            return rule.where.get("role")
    builtin = {r.id: r for r in load_rules()}
    return builtin[ADMIN_RULE].where.get("role")


def build_report(store: Store, inp: ReportInputs, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    since, until = inp.since, inp.until
    persist = inp.key is not None
    if inp.key is not None:
        # a report stores no events: any it signs were left unsigned by an earlier run
        checkpoint, _ = make_checkpoint(store, inp.key, inp.checkpoint_file,
                                        adopted_upto=store.end_before_own_writes())
    else:
        latest = latest_checkpoint(store)
        if latest is None:
            raise AuditctlError("no signed checkpoint yet: an admin must ingest (or run `auditctl checkpoint`) first")
        checkpoint = latest
    check = run_checks(store, inp.rules, since, until, now=now, persist=persist)
    role_cond = admin_role_condition(inp.rules)
    state = current_state(store, since, until, role_cond)
    previous = previous_report(store, inp.period, until)
    doc: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "generated_at": now.isoformat(),
        "period": {"kind": inp.period, "since": since.isoformat(), "until": until.isoformat()},
        "coverage": coverage(store, since, until),
        "user_management": change_rows(store, "user_management", since, until, role_cond),
        "permission_changes": change_rows(store, "permission_change", since, until, role_cond),
        "authentication": authentication(store, since, until),
        "privileged_actions": privileged(store, since, until),
        "findings": findings_section(store, check, since, until),
        "changes_since_previous": diff_states(previous, state),
        "silent_sources": silent_sources(store, inp.rules, since, until),
        "silence_rule": silence_rule(inp.rules),
        "integrity": integrity_section(store, inp, checkpoint),
        "unparsed": [dict(r) for r in store.run_query(*rq.unparsed_by_source(since, until))],
        "access_log": access_log(store, since, until),
        "storage": storage_line(store),
        "collection": collection(store, since, until),
    }
    doc["summary"] = summary(doc)
    if persist:
        store.save_report(now, inp.period, since, until, json.dumps(state), json.dumps(doc["summary"]))
    return doc


def access_log(store: Store, since: datetime, until: datetime) -> dict[str, Any]:
    """Who used auditctl in the period: every self-audit record, and a count per person."""
    rows = [_row(r) for r in store.run_query(*rq.access_log(since, until))]
    by_actor: dict[str, dict[str, int]] = {}
    for r in rows:
        counts = by_actor.setdefault(r["actor"] or "(unknown)", {})
        counts[r["command"]] = counts.get(r["command"], 0) + 1
    return {"events": rows[:ACCESS_LOG_ROWS], "total": len(rows),
            "denied": sum(1 for r in rows if r["outcome"] == "failure" and r["denied"]),
            "by_actor": [{"actor": a, "commands": c, "total": sum(c.values())} for a, c in sorted(by_actor.items())]}


def collection(store: Store, since: datetime, until: datetime) -> dict[str, Any]:
    """What `watch --listen` took in over the period, by the time it was stored: received
    messages counted from their events, refusals, TLS handshake failures and drops from the
    `log_collected` records (both in the signed log, so the figures are reproducible)."""
    received = {r["listener"]: r for r in store.run_query(*rq.received_in_period(since, until))}
    counted = {r["listener"]: r for r in store.run_query(*rq.listener_counts(since, until))}
    keys = ("messages", "bytes", "senders", "host_mismatches", "truncated")
    rows = []
    for listener in sorted(k for k in set(received) | set(counted) if k is not None):
        got, more = received.get(listener, {}), counted.get(listener, {})
        rows.append({"listener": listener, **{k: int(got.get(k) or 0) for k in keys},
                     **{k: int(more.get(k) or 0) for k in rq.LISTENER_COUNTS}})
    total = {k: sum(r[k] for r in rows) for k in (*keys, *rq.LISTENER_COUNTS)}
    total["senders"] = int((received.get(None) or {}).get("senders") or 0)  # distinct over all listeners
    return {"listeners": rows, "total": total}


def storage_line(store: Store) -> dict[str, Any]:
    from auditctl.archive.retention import status

    s = status(store)
    return {k: s[k] for k in ("hot_rows", "archived_rows", "deleted_rows", "db_bytes", "archive_bytes",
                              "raw_bytes", "compression_ratio")}


def coverage(store: Store, since: datetime, until: datetime) -> dict[str, Any]:
    over = store.run_query(*rq.overview(since, until))[0]
    per_day: dict[str, dict[str, int]] = {}
    if over["first"] is not None:  # every day from the first event to the last, also the quiet ones
        day = over["first"].astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        while day <= over["last"] and len(per_day) < 400:
            per_day[day.strftime("%Y-%m-%d")] = {}
            day += timedelta(days=1)
    for row in store.run_query(*rq.per_day_by_category(since, until)):
        per_day.setdefault(row["day"], {})[row["category"]] = int(row["events"])
    events = int(over["events"])
    return {
        "events": events, "sources": int(over["sources"]), "hosts": int(over["hosts"]),
        "no_host": int(over["no_host"]), "unparsed": int(over["unparsed"]),
        "first_event": _iso(over["first"]), "last_event": _iso(over["last"]),
        "by_category": _counts(store, "category", since, until, events),
        "by_host": _counts(store, "host", since, until, events),
        "by_parser": _counts(store, "parser", since, until, events),
        "by_source": _counts(store, "source", since, until, events),
        "per_day": per_day,
    }


def _counts(store: Store, column: str, since: datetime, until: datetime, total: int) -> dict[str, int]:
    """Events per value, the largest first; the rest in one "(N others)" entry so the table
    always adds up to the total it stands for."""
    out = {r[column]: int(r["events"]) for r in store.run_query(*rq.by_column(column, since, until))}
    rest = total - sum(out.values())
    if rest:
        distinct = int(store.run_query(*rq.distinct_values(column, since, until))[0]["n"])
        others = distinct - len(out)
        out[f"({others} others)"] = rest
    return out


def change_rows(store: Store, category: str, since: datetime, until: datetime, role_cond: Any) -> dict[str, Any]:
    """One row per change (the lines one tool wrote for it are one row: `auditctl.detect.changes`)."""
    q = Sql([since, until, category, int(CHANGE_GAP.total_seconds())])
    admin_sql = condition_sql("role", "role", role_cond, q) if role_cond is not None else "FALSE"
    rows = [_row(r) for r in store.run_query(*rq.changes(admin_sql, q.params))]
    per_action = store.run_query(*rq.changes_by_action(admin_sql, q.params))
    return {"count": sum(int(r["changes"]) for r in per_action),
            "lines": sum(int(r["lines"]) for r in per_action),
            "by_action": {r["action"]: int(r["changes"]) for r in per_action},
            "admin_grants": sum(int(r["admin_grants"]) for r in per_action), "events": rows}


def authentication(store: Store, since: datetime, until: datetime) -> dict[str, Any]:
    """Login attempts (action login) and, apart, other authentication failures (action
    authenticate: PAM's duplicate reports, credential checks); summary lines are context only."""
    s = store.run_query(*rq.auth_summary(since, until))[0]
    bucket = "hour" if until - since <= timedelta(days=2) else "day"
    return {
        "logins": int(s["logins"] or 0), "failed_logins": int(s["failed_logins"] or 0),
        "other_failures": int(s["other_failures"] or 0), "users": int(s["users"] or 0),
        "failing_sources": int(s["failing_sources"] or 0), "failing_users": int(s["failing_users"] or 0),
        "summary_lines": int(s["summary_lines"] or 0), "summary_repeats": int(s["summary_repeats"] or 0),
        "collapsed_lines": int(s["collapsed_lines"] or 0),
        "collapsed_failed_logins": int(s["collapsed_failed_logins"] or 0),
        "collapsed_logins": int(s["collapsed_logins"] or 0),
        "top_failing_sources": failing_table(store, "src_ip", since, until, "login", "source IPs", "(no source IP)"),
        "top_failing_users": failing_table(store, "actor", since, until, "login", "users", "(no user)"),
        "other_failures_by_kind": failing_table(store, "original_action", since, until, "other", "kinds", "(unnamed)"),
        "over_time": {"bucket": bucket, "points": [_row(r) for r in store.run_query(*rq.failures_over_time(since, until, bucket))]},
    }


def failing_table(store: Store, column: str, since: datetime, until: datetime, kind: str, plural: str,
                  missing: str, limit: int = 10) -> list[dict[str, Any]]:
    """The top `limit` values by failures, then one row for the rest and one for events without
    a value: the failures column always adds up to the section's total."""
    rows = [_row(r) for r in store.run_query(*rq.top_failing(column, since, until, kind, limit))]
    for r in rows:
        if r["value"] is None:
            r["value"] = missing
    tot = store.run_query(*rq.failing_totals(column, since, until, kind))[0]
    rest = int(tot["failures"]) - sum(int(r["failures"]) for r in rows)
    if rest:
        shown = sum(1 for r in rows if r["value"] != missing)
        rows.append({"value": f"({int(tot['distinct_values']) - shown} other {plural})", "failures": rest,
                     "first": None, "last": None})
    return rows


def privileged(store: Store, since: datetime, until: datetime) -> dict[str, Any]:
    rows = [_row(r) for r in store.run_query(*rq.privileged(since, until))]
    by_actor = [_row(r) for r in store.run_query(*rq.privileged_by_actor(since, until))]
    return {"count": sum(r["actions"] for r in by_actor), "by_actor": by_actor, "events": rows}


def findings_section(store: Store, check: CheckResult, since: datetime, until: datetime) -> dict[str, Any]:
    touched = {f.id: f.status for f in check.findings}
    stored = [f for f in list_findings(store, since=since) if f.first_ts < until]
    by_id = {f.id: f for f in stored}
    for f in check.findings:
        by_id[f.id] = f
    ordered = sorted(by_id.values(), key=lambda f: (-severity_rank(f.severity), f.first_ts))
    evidence = evidence_of(store, ordered)
    items = []
    for f in ordered:
        item = f.to_json()
        item["new_in_this_report"] = touched.get(f.id) == "new"
        item["status_in_this_report"] = touched.get(f.id, "earlier")
        item["evidence"] = evidence.get(f.id, [])
        items.append(item)
    counts: dict[str, int] = {}
    for f in ordered:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    new = sum(1 for i in items if i["status_in_this_report"] == "new")
    updated = sum(1 for i in items if i["status_in_this_report"] == "updated")
    return {"count": len(items), "by_severity": counts, "items": items,
            "counts": {"total": len(items), "new": new, "updated": updated, "earlier": len(items) - new - updated},
            "learning": learning_text(check.learning)}


def evidence_of(store: Store, findings: list[Finding]) -> dict[int, list[dict[str, Any]]]:
    """The first events of each finding, for all findings in one query (one per finding took
    29 s for 3,859 findings over 10M events)."""
    wanted = pa.table({"finding": pa.array([f.id for f in findings for _ in f.seqs], pa.int64()),
                       "seq": pa.array([s for f in findings for s in f.seqs], pa.int64())})
    out: dict[int, list[dict[str, Any]]] = {}
    for r in store.run_query_over(rq.EVIDENCE_TABLE, wanted, *rq.evidence()):
        out.setdefault(int(r.pop("finding")), []).append(_row(r))
    return out


def silent_sources(store: Store, rules: list[Rule], since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Silences in the period, computed from the events themselves (not from findings, which
    merge within a cooldown): the last event before each, the next one after (None: still
    silent at the end of the period), and the rhythm that made it a silence."""
    out = []
    for rule in rules:
        if rule.type != "absence":
            continue
        for r in store.run_query(*compile_rule(rule, since, until)):
            out.append({"group": json.loads(r["group_key"]), "last_event": _iso(r["first_ts"]),
                        "next_event": _iso(r["next_ts"]), "silent_for": _hours(r["silent_seconds"]),
                        "usual_gap": _hours(r["usual_gap"]), "events_before": int(r["events_before"]),
                        "days_before": int(r["days_before"]), "rule": rule.id})
    return out


def silence_rule(rules: list[Rule]) -> str:
    return " ".join(f"`{r.id}`: {r.summary} (over the {duration_text(r.baseline or timedelta(days=7))} before it)."
                    for r in rules if r.type == "absence")


def _hours(seconds: Any) -> str:
    if seconds is None:
        return ""
    h = float(seconds) / 3600
    return f"{h / 24:.1f} d" if h >= 48 else f"{h:.1f} h"


def integrity_section(store: Store, inp: ReportInputs, cp: Checkpoint) -> dict[str, Any]:
    result = verify(store, inp.verifier, inp.checkpoint_file)
    return {
        "intact": result.intact, "events": result.events, "problems": len(result.problems),
        "problem_kinds": sorted({p.kind for p in result.problems}),
        "checkpoint": {"id": cp.id, "tree_size": cp.tree_size, "root": cp.root, "signed_at": _iso(cp.created_at),
                       "origin": cp.origin, "key": f"{cp.key_name}+{cp.key_id}", "note": cp.note},
    }


# -- state and the diff against the previous report -------------------------------------------

def current_state(store: Store, since: datetime, until: datetime, role_cond: Any) -> dict[str, Any]:
    q = Sql([until])
    admin_sql = condition_sql("role", "role", role_cond, q) if role_cond is not None else "FALSE"
    admins = sorted({(r["target"], r["role"]) for r in store.run_query(*rq.admins_as_of(admin_sql, q.params))})
    accounts = [r["target"] for r in store.run_query(*rq.accounts_as_of(until))]
    admin_names = sorted({a for a, _ in admins})
    sources = store.run_query(*rq.admin_sources(since, until, admin_names)) if admin_names else []
    return {"admins": [list(a) for a in admins], "accounts": accounts,
            "admin_sources": sorted([r["actor"], r["src_ip"]] for r in sources), "until": until.isoformat()}


def previous_report(store: Store, period: str, until: datetime) -> dict[str, Any] | None:
    row = store.report_before(period, until)
    if row is None:
        return None
    state = json.loads(row["state"])
    state["generated_at"] = _iso(row["created_at"])
    state["period"] = {"since": _iso(row["since"]), "until": _iso(row["until"])}
    return state


def diff_states(previous: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, Any]:
    if previous is None:
        return {"previous_report": None, "baseline": True, "new_admins": [], "admins_removed": [],
                "new_accounts": [], "accounts_gone": [], "new_admin_sources": [],
                "note": "no earlier report of this kind covers a period that ended by this one's end: "
                        "this state is recorded as the baseline"}
    prev_admins = {tuple(a) for a in previous.get("admins", [])}
    cur_admins = {tuple(a) for a in current["admins"]}
    prev_accounts, cur_accounts = set(previous.get("accounts", [])), set(current["accounts"])
    prev_sources = {tuple(s) for s in previous.get("admin_sources_seen", previous.get("admin_sources", []))}
    cur_sources = {tuple(s) for s in current["admin_sources"]}
    current["admin_sources_seen"] = sorted(prev_sources | cur_sources)
    return {
        "previous_report": previous.get("generated_at"), "previous_period": previous.get("period"),
        "baseline": False,
        "new_admins": [{"account": a, "role": r} for a, r in sorted(cur_admins - prev_admins)],
        "admins_removed": [{"account": a, "role": r} for a, r in sorted(prev_admins - cur_admins)],
        "new_accounts": sorted(cur_accounts - prev_accounts),
        "accounts_gone": sorted(prev_accounts - cur_accounts),
        "new_admin_sources": [{"account": a, "src_ip": ip} for a, ip in sorted(cur_sources - prev_sources)],
    }


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    changes = doc["changes_since_previous"]
    return {
        "events": doc["coverage"]["events"], "sources": doc["coverage"]["sources"], "hosts": doc["coverage"]["hosts"],
        "user_management_changes": doc["user_management"]["count"],
        "permission_changes": doc["permission_changes"]["count"],
        "admin_grants": doc["permission_changes"]["admin_grants"],
        "logins": doc["authentication"]["logins"], "failed_logins": doc["authentication"]["failed_logins"],
        "collapsed_failed_logins": doc["authentication"]["collapsed_failed_logins"],
        "other_auth_failures": doc["authentication"]["other_failures"],
        "privileged_actions": doc["privileged_actions"]["count"],
        "findings": doc["findings"]["count"], "findings_by_severity": doc["findings"]["by_severity"],
        "findings_new": doc["findings"]["counts"]["new"], "findings_updated": doc["findings"]["counts"]["updated"],
        "new_admins": len(changes["new_admins"]), "new_accounts": len(changes["new_accounts"]),
        "silent_sources": len(doc["silent_sources"]), "unparsed": sum(r["unparsed"] for r in doc["unparsed"]),
        "intact": doc["integrity"]["intact"], "tree_size": doc["integrity"]["checkpoint"]["tree_size"],
        "root": doc["integrity"]["checkpoint"]["root"],
    }


def worst_severity(doc: dict[str, Any]) -> str | None:
    sev = [i["severity"] for i in doc["findings"]["items"] if i["new_in_this_report"]]
    return max(sev, key=severity_rank) if sev else None


def _row(r: dict[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) if isinstance(v, datetime) else v for k, v in r.items()}


def _iso(v: Any) -> str | None:
    return v.isoformat() if isinstance(v, datetime) else v

