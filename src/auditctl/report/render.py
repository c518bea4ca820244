"""Rendering the review report as Markdown (terminal, ticket, git) or one self-contained HTML
file (inline CSS and SVG, no scripts, no network, printable). Both show the same facts as the
JSON document they are made from."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from auditctl.report.charts import paired_bars, stacked_bars

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
TITLES = {
    "coverage": "Period and data covered", "user_management": "User management changes",
    "permission_changes": "Permission changes", "authentication": "Authentication",
    "privileged_actions": "Privileged actions", "findings": "Findings",
    "changes_since_previous": "Changes since the previous report", "silent_sources": "Sources that went silent",
    "integrity": "Integrity", "unparsed": "Coverage gaps: unparsed records",
    "access_log": "Who used auditctl (self-audit)",
}

ACCESS_HEADERS = ("time", "actor", "role", "command", "outcome", "arguments")


def access_rows(log: dict[str, Any]) -> list[list[Any]]:
    return [[_when(r["ts"]), r["actor"], r["role"], r["command"], "denied" if r["denied"] else r["outcome"],
             " ".join(json.loads(r["args"])[1:]) if r["args"] else ""] for r in log["events"]]


def access_summary(log: dict[str, Any]) -> str:
    people = "; ".join(f"{a['actor']}: " + ", ".join(f"{c} {n}" for c, n in sorted(a["commands"].items()))
                       for a in log["by_actor"])
    shown = f" (the first {len(log['events'])} listed)" if log["total"] > len(log["events"]) else ""
    return (f"{log['total']} recorded use(s) of auditctl{shown}, {log['denied']} denied. "
            + (f"By person: {people}." if people else ""))


def storage_text(st: dict[str, Any]) -> str:
    ratio = f"{st['compression_ratio']:.2f}x the raw logs" if st.get("compression_ratio") else "no raw log size known"
    return (f"Storage: {st['hot_rows']:,} events hot ({st['db_bytes'] / 1e6:.1f} MB database), "
            f"{st['archived_rows']:,} archived ({st['archive_bytes'] / 1e6:.1f} MB Parquet), "
            f"{st['deleted_rows']:,} deleted by policy; {ratio}.")


def collection_text(col: dict[str, Any]) -> str:
    """The collection line: what `watch --listen` received, refused and dropped in the period."""
    if not col["listeners"]:
        return "Collection: no syslog received by `watch --listen` in this period."
    t = col["total"]
    n = len(col["listeners"])
    text = (f"Collection (by time stored): {t['messages']:,} syslog messages ({t['bytes'] / 1e6:.1f} MB) from "
            f"{t['senders']:,} sender address(es) on {n} listener(s); {t['host_mismatches']:,} host-name "
            f"mismatch(es), {t['truncated']:,} truncated; {t['refused'] + t['refused_busy']:,} connection(s) or "
            f"datagram(s) refused, {t['tls_failures']:,} TLS handshake failure(s), {t['dropped']:,} dropped")
    if t["throttled"] or t["paused"]:
        text += f"; senders slowed {t['throttled']:,} time(s) by the rate limit, {t['paused']:,} by the spool cap"
    return text + "."


COLLECTION_HEADERS = ("listener", "messages", "senders", "host mismatches", "truncated", "refused",
                      "TLS failures", "dropped")


def collection_rows(col: dict[str, Any]) -> list[list[Any]]:
    return [[r["listener"], r["messages"], r["senders"], r["host_mismatches"], r["truncated"],
             r["refused"] + r["refused_busy"], r["tls_failures"], r["dropped"]] for r in col["listeners"]]


def _when(v: Any) -> str:
    return str(v)[:19].replace("T", " ") if v else ""


def _group(g: dict[str, Any]) -> str:
    return ", ".join(f"{k}={'(unknown)' if v is None else v}" for k, v in g.items()) or "-"


# -- Markdown ---------------------------------------------------------------------------------

def _md_cell(v: Any) -> str:
    return str("" if v is None else v).replace("|", "\\|").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> list[str]:
    if not rows:
        return [empty, ""] if empty else []
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def _between(doc: dict[str, Any]) -> str:
    p = doc["period"]
    return f"between {_when(p['since'])} and {_when(p['until'])} UTC"


def none_between(what: str, doc: dict[str, Any]) -> str:
    """The sentence an empty section reads: "No failed logins between ... and ... UTC." """
    return f"No {what} {_between(doc)}."


def coverage_text(doc: dict[str, Any]) -> str:
    cov = doc["coverage"]
    if not cov["events"]:
        return none_between("events", doc)
    no_host = f"; {cov['no_host']:,} events name no host" if cov.get("no_host") else ""
    return (f"{cov['events']:,} events from {cov['sources']} sources on {cov['hosts']} hosts{no_host} "
            f"(first {_when(cov['first_event'])}, last {_when(cov['last_event'])} UTC).")


def change_text(sec: dict[str, Any], key: str) -> str:
    grants = f"; {sec['admin_grants']} admin grant(s)" if key == "permission_changes" and sec["admin_grants"] else ""
    shown = f" (the first {len(sec['events'])} listed)" if sec["count"] > len(sec["events"]) else ""
    return (f"{sec['count']} change(s) in {sec['lines']} log line(s){grants}{shown}. Lines one tool wrote "
            "for one change (same host, program, process, action, account and group, seconds apart) are one row.")


def auth_text(a: dict[str, Any]) -> str:
    return (f"{a['logins']:,} successful logins by {a['users']} users; {a['failed_logins']:,} failed logins "
            f"(login attempts that failed) from {a['failing_sources']} source IPs against {a['failing_users']} users; "
            f"{a['other_failures']:,} other authentication failures (not login attempts).")


def auth_context(a: dict[str, Any]) -> str:
    if not a.get("summary_lines"):
        return ""
    text = (f"{a['summary_lines']:,} summary line(s) (\"PAM N more authentication failures\", \"message repeated N "
            f"times\", \"Too many authentication failures\") restate failures and are counted in neither figure"
            + (f"; they mention {a['summary_repeats']:,} repeats." if a.get("summary_repeats") else "."))
    if a.get("collapsed_lines"):
        # PAM's summaries restate attempts sshd logged; syslog's repeats stand for attempts it did not write
        text += (f" Except {a['collapsed_lines']:,} \"message repeated N times: [...]\" line(s) of login attempts: "
                 f"they stand for {a.get('collapsed_failed_logins', 0):,} further failed login attempts and "
                 f"{a.get('collapsed_logins', 0):,} further successful logins that syslog did not write out, "
                 "which are in neither login figure (both count logged lines).")
    return text


def _h_sigma(item: dict[str, Any]) -> str:
    sigma = (item.get("detail") or {}).get("sigma")
    if not sigma:
        return ""
    fps = "; ".join(sigma["falsepositives"]) or "none listed"
    by = f' by {escape(sigma["author"])}' if sigma.get("author") else ""
    return (f'<p class="muted">Sigma {escape(sigma["kind"])}{by}, level {escape(sigma["level"])}, '
            f'{escape(sigma["logsource"])}; false positives: {escape(fps)}</p>')


def findings_text(f: dict[str, Any]) -> str:
    c = f.get("counts", {})
    if not c:
        return f"{f['count']} finding(s)."
    return (f"{c['total']} finding(s) active in the period: {c['new']} new and {c['updated']} updated by this "
            f"report's check, {c['earlier']} from earlier checks." + (f" {f['learning']}" if f.get("learning") else ""))


def silent_rows(doc: dict[str, Any]) -> list[list[Any]]:
    return [[_group(x["group"]), _when(x["last_event"]), _when(x["next_event"]) or "still silent at the end",
             x.get("silent_for", ""), x.get("usual_gap", "")] for x in doc["silent_sources"]]


SILENT_HEADERS = ("source", "last event before the silence", "next event", "silent for", "usual gap")


def failing_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [[r["value"], r["failures"], _when(r["first"]), _when(r["last"])] for r in rows]


def to_markdown(doc: dict[str, Any]) -> str:
    p, s, cov = doc["period"], doc["summary"], doc["coverage"]
    integ = doc["integrity"]
    out = [f"# Audit log review: {_when(p['since'])} to {_when(p['until'])} UTC", "",
           f"Generated {_when(doc['generated_at'])} UTC ({p['kind']} report). "
           f"Integrity: **{'intact' if integ['intact'] else 'NOT INTACT'}**; bound to signed checkpoint "
           f"#{integ['checkpoint']['id']} (tree size {integ['checkpoint']['tree_size']:,}, root `{integ['checkpoint']['root']}`).",
           "", "## Summary", ""]
    if not s["events"]:
        out += [f"- {none_between('events', doc)}"]
    out += [f"- {s['events']:,} events from {s['sources']} sources on {s['hosts']} hosts; "
            f"{s['user_management_changes']} user management changes; "
            f"{s['permission_changes']} permission changes ({s['admin_grants']} admin grants)",
            f"- {s['logins']:,} successful logins, {s['failed_logins']:,} failed logins"
            + (f" (and {s['collapsed_failed_logins']:,} failed attempts syslog wrote only as \"message repeated\")"
               if s.get("collapsed_failed_logins") else "") + ", "
            f"{s['other_auth_failures']:,} other authentication failures; {s['privileged_actions']:,} privileged actions",
            f"- {s['findings']} findings: " + (", ".join(f"{s['findings_by_severity'][k]} {k}" for k in SEVERITY_ORDER
                                                       if k in s["findings_by_severity"]) or "none"),
            f"- {s['new_admins']} new admins, {s['new_accounts']} new accounts since the previous report; "
            f"{s['silent_sources']} silent sources; {s['unparsed']:,} unparsed records", ""]
    out += [f"## {TITLES['coverage']}", "", coverage_text(doc), "", storage_text(doc["storage"]), "",
            collection_text(doc["collection"]), ""]
    if len(doc["collection"]["listeners"]) > 1:
        out += _md_table(COLLECTION_HEADERS, collection_rows(doc["collection"]), "")
    if cov["events"]:
        out += _md_table(["category", "events"], list(cov["by_category"].items()), "")
        out += _md_table(["host", "events"], list(cov["by_host"].items()), "")
        out += _md_table(["source", "events"], list(cov["by_source"].items()), "")
        days = sorted(cov["per_day"])
        cats = sorted({c for d in days for c in cov["per_day"][d]})
        out += _md_table(["day", *cats], [[d, *[cov["per_day"][d].get(c, 0) for c in cats]] for d in days], "")
    for key, what in (("user_management", "user management changes"), ("permission_changes", "permission changes")):
        sec = doc[key]
        out += [f"## {TITLES[key]}", ""]
        if not sec["count"]:
            out += [none_between(what, doc), ""]
            continue
        out += [change_text(sec, key), ""]
        out += _md_table(["time", "action", "who", "to whom", "role/group", "host", "outcome", "lines"],
                         [[_when(e["ts"]), ("**ADMIN** " if e["admin"] else "") + e["action"], e["actor"] or "(unknown)",
                           e["target"], e["role"], e["host"], e["outcome"], e["lines"]] for e in sec["events"]], "")
    a = doc["authentication"]
    out += [f"## {TITLES['authentication']}", ""]
    if not any_authentication(a):
        out += [none_between("logins or authentication failures", doc), ""]
    else:
        out += [auth_text(a), ""] + ([auth_context(a), ""] if auth_context(a) else [])
        out += ["Failed logins by source IP:", ""]
        out += _md_table(["source IP", "failed logins", "first", "last"], failing_rows(a["top_failing_sources"]),
                         none_between("failed logins", doc))
        out += ["Failed logins by user:", ""]
        out += _md_table(["user", "failed logins", "first", "last"], failing_rows(a["top_failing_users"]),
                         none_between("failed logins", doc))
        out += ["Other authentication failures (not login attempts), by kind:", ""]
        out += _md_table(["kind", "failures", "first", "last"], failing_rows(a["other_failures_by_kind"]),
                         none_between("other authentication failures", doc))
    pr = doc["privileged_actions"]
    out += [f"## {TITLES['privileged_actions']}", ""]
    if pr["count"]:
        out += [f"{pr['count']:,} privileged action(s).", ""]
    out += _md_table(["actor", "actions", "failures"], [[r["actor"], r["actions"], r["failures"]] for r in pr["by_actor"]],
                     none_between("privileged actions", doc))
    f = doc["findings"]
    out += [f"## {TITLES['findings']}", ""]
    out += [findings_text(f) if f["items"] else none_between("findings", doc), ""]
    for sev in SEVERITY_ORDER:
        items = [i for i in f["items"] if i["severity"] == sev]
        if not items:
            continue
        out += [f"### {sev.upper()} ({len(items)})", ""]
        for i in items:
            out += [f"- **{i['title']}** (`{i['rule']}`, finding {i['id']}, {_status(i)}): "
                    f"{_group(i['group'])}; {i['count']} event(s), {_when(i['first'])} to {_when(i['last'])}"]
            sigma = (i.get("detail") or {}).get("sigma")
            if sigma:  # a Sigma rule says what else can fire it: the reviewer weighs the finding with it
                by = f" by {_md_cell(sigma['author'])}" if sigma.get("author") else ""
                out.append(f"  - Sigma {sigma['kind']}{by}, level {sigma['level']}, {sigma['logsource']}; false positives: "
                           f"{_md_cell('; '.join(sigma['falsepositives']) or 'none listed')}")
            for e in i["evidence"]:
                out.append(f"  - {_when(e['ts'])} {e['host'] or ''} {e['action']} {e['outcome']}: "
                           f"{_md_cell((e['message'] or '')[:140])}")
        out.append("")
    c = doc["changes_since_previous"]
    out += [f"## {TITLES['changes_since_previous']}", ""]
    if c["baseline"]:
        out += [f"_{c['note']}_", ""]
    else:
        out += [f"{_compared_with(c)}.", ""]
        out += ["New admins:", "", *_md_table(["account", "role"], [[x["account"], x["role"]] for x in c["new_admins"]],
                                              "No new admins since the previous report.")]
        out += ["Admins removed:", "", *_md_table(["account", "role"], [[x["account"], x["role"]] for x in c["admins_removed"]],
                                                  "No admin removed since the previous report.")]
        out += ["New accounts: " + (", ".join(c["new_accounts"]) or "no new account since the previous report."), "",
                "Accounts gone: " + (", ".join(c["accounts_gone"]) or "no account gone since the previous report."), ""]
        out += ["New source IPs for admins:", "", *_md_table(["account", "source IP"], [[x["account"], x["src_ip"]] for x in c["new_admin_sources"]],
                                                             "No new source IP for an admin since the previous report.")]
    out += [f"## {TITLES['silent_sources']}", ""]
    if doc.get("silence_rule"):
        out += [doc["silence_rule"], ""]
    out += _md_table(SILENT_HEADERS, silent_rows(doc), f"No source with a regular rhythm went silent {_between(doc)}.")
    cp = integ["checkpoint"]
    out += [f"## {TITLES['integrity']}", "",
            f"- verify: **{'intact' if integ['intact'] else 'NOT INTACT'}** over {integ['events']:,} events"
            + (f" ({integ['problems']} problems: {', '.join(integ['problem_kinds'])})" if not integ["intact"] else ""),
            f"- signed checkpoint #{cp['id']}: tree size {cp['tree_size']:,}, root `{cp['root']}`, signed {_when(cp['signed_at'])} UTC by `{cp['key']}`",
            "", "```", cp["note"].rstrip(), "```", ""]
    out += [f"## {TITLES['unparsed']}", ""]
    out += _md_table(["source", "parser", "unparsed"], [[r["source"], r["parser"], r["unparsed"]] for r in doc["unparsed"]],
                     none_between("unparsed records", doc))
    if "access_log" in doc:
        out += ["", f"## {TITLES['access_log']}", "", access_summary(doc["access_log"]), ""]
        out += _md_table(ACCESS_HEADERS, access_rows(doc["access_log"]), none_between("uses of auditctl", doc))
    return "\n".join(out).rstrip() + "\n"


def _status(item: dict[str, Any]) -> str:
    return {"new": "new", "updated": "updated"}.get(item.get("status_in_this_report", ""), "from an earlier check")


# -- HTML -------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#0f172a;margin:2rem auto;max-width:1100px;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:2px solid #e2e8f0;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}th,td{border:1px solid #e2e8f0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f5f9}td.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#64748b}
.cards{display:flex;flex-wrap:wrap;gap:.6rem}.card{border:1px solid #e2e8f0;border-radius:6px;padding:.5rem .8rem;min-width:9rem}
.card b{display:block;font-size:1.4rem}.sev{padding:1px 6px;border-radius:4px;color:#fff;font-size:.8rem;text-transform:uppercase}
.critical{background:#7f1d1d}.high{background:#dc2626}.medium{background:#d97706}.low{background:#2563eb}.info{background:#64748b}
.admin{background:#fee2e2}.ok{color:#15803d;font-weight:600}.bad{color:#b91c1c;font-weight:600}
pre{background:#f8fafc;border:1px solid #e2e8f0;padding:.6rem;overflow-x:auto;font-size:12px}
svg.chart{width:100%;height:auto;max-width:720px}svg .ax{stroke:#94a3b8}svg text{font-size:10px;fill:#475569}
svg .ct{font-weight:600;font-size:11px}svg .yl{text-anchor:end}svg .xl{text-anchor:middle}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}table,svg,.finding{break-inside:avoid}a{color:inherit}}
"""


def _h_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = (),
             row_class: Sequence[str] | None = None, *, empty: str) -> str:
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>' if empty else ""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_class[i]}"' if row_class and row_class[i] else ""
        cells = "".join(f'<td{" class=n" if j in numeric else ""}>{escape("" if c is None else str(c))}</td>'
                        for j, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def any_authentication(a: dict[str, Any]) -> bool:
    return bool(a["logins"] or a["failed_logins"] or a["other_failures"] or a.get("summary_lines"))


def html_authentication(doc: dict[str, Any]) -> list[str]:
    a = doc["authentication"]
    if not any_authentication(a):
        return [f"<h2>{TITLES['authentication']}</h2><p>{escape(none_between('logins or authentication failures', doc))}</p>"]
    parts = [f"<h2>{TITLES['authentication']}</h2><p>{escape(auth_text(a))}</p>"]
    if auth_context(a):
        parts.append(f'<p class="muted">{escape(auth_context(a))}</p>')
    parts.append(paired_bars([(pt["bucket"], pt["failures"], pt["successes"]) for pt in a["over_time"]["points"]],
                             ("failures", "successes"), f"Logins per {a['over_time']['bucket']}"))
    parts.append("<h3>Failed logins by source IP</h3>" + _h_table(["source IP", "failed logins", "first", "last"],
                 failing_rows(a["top_failing_sources"]), numeric=[1], empty=none_between("failed logins", doc)))
    parts.append("<h3>Failed logins by user</h3>" + _h_table(["user", "failed logins", "first", "last"],
                 failing_rows(a["top_failing_users"]), numeric=[1], empty=none_between("failed logins", doc)))
    parts.append("<h3>Other authentication failures (not login attempts), by kind</h3>" + _h_table(
                 ["kind", "failures", "first", "last"], failing_rows(a["other_failures_by_kind"]), numeric=[1],
                 empty=none_between("other authentication failures", doc)))
    return parts


def to_html(doc: dict[str, Any]) -> str:
    p, s, cov, integ = doc["period"], doc["summary"], doc["coverage"], doc["integrity"]
    cp = integ["checkpoint"]
    title = f"Audit log review: {_when(p['since'])} to {_when(p['until'])} UTC"
    parts = [f"<h1>{escape(title)}</h1>",
             f'<p class="muted">Generated {escape(_when(doc["generated_at"]))} UTC ({escape(p["kind"])} report). '
             f'Integrity: <span class="{"ok" if integ["intact"] else "bad"}">{"intact" if integ["intact"] else "NOT INTACT"}</span>; '
             f'bound to signed checkpoint #{cp["id"]}, tree size {cp["tree_size"]:,}, root <code>{escape(cp["root"])}</code>.</p>']
    cards = [("events", s["events"]), ("user mgmt changes", s["user_management_changes"]),
             ("permission changes", s["permission_changes"]), ("admin grants", s["admin_grants"]),
             ("logins", s["logins"]), ("failed logins", s["failed_logins"]),
             ("privileged actions", s["privileged_actions"]), ("findings", s["findings"]),
             ("new admins", s["new_admins"]), ("silent sources", s["silent_sources"])]
    parts.append('<div class="cards">' + "".join(f'<div class="card"><b>{v:,}</b>{escape(k)}</div>' for k, v in cards) + "</div>")
    parts.append(f"<h2>{TITLES['coverage']}</h2><p>{escape(coverage_text(doc))}</p>")
    parts.append(f'<p class="muted">{escape(storage_text(doc["storage"]))}</p>')
    parts.append(f'<p class="muted">{escape(collection_text(doc["collection"]))}</p>')
    if len(doc["collection"]["listeners"]) > 1:
        parts.append(_h_table(COLLECTION_HEADERS, collection_rows(doc["collection"]), numeric=range(1, 8), empty=""))
    if cov["events"]:
        parts.append(stacked_bars(cov["per_day"], "Events per day by category"))
        parts.append(_h_table(["category", "events"], list(cov["by_category"].items()), numeric=[1], empty=""))
        parts.append(_h_table(["host", "events"], list(cov["by_host"].items()), numeric=[1], empty=""))
        parts.append(_h_table(["source", "events"], list(cov["by_source"].items()), numeric=[1], empty=""))
    for key, what in (("user_management", "user management changes"), ("permission_changes", "permission changes")):
        sec = doc[key]
        rows = [[_when(e["ts"]), ("ADMIN " if e["admin"] else "") + e["action"], e["actor"] or "(unknown)", e["target"],
                 e["role"], e["host"], e["outcome"], e["lines"]] for e in sec["events"]]
        parts.append(f"<h2>{TITLES[key]}</h2><p>{escape(change_text(sec, key) if sec['count'] else none_between(what, doc))}</p>")
        if rows:
            parts.append(_h_table(["time", "action", "who", "to whom", "role/group", "host", "outcome", "lines"], rows, empty="",
                                  numeric=[7], row_class=["admin" if e["admin"] else "" for e in sec["events"]]))
    parts += html_authentication(doc)
    pr = doc["privileged_actions"]
    parts.append(f"<h2>{TITLES['privileged_actions']}</h2>" + (f"<p>{pr['count']:,} privileged action(s).</p>" if pr["count"] else ""))
    parts.append(_h_table(["actor", "actions", "failures"], [[r["actor"], r["actions"], r["failures"]] for r in pr["by_actor"]],
                          numeric=[1, 2], empty=none_between("privileged actions", doc)))
    f = doc["findings"]
    parts.append(f"<h2>{TITLES['findings']}</h2><p>{escape(findings_text(f) if f['items'] else none_between('findings', doc))}</p>")
    for i in doc["findings"]["items"]:
        evidence = _h_table(["time", "host", "action", "outcome", "message"],
                            [[_when(e["ts"]), e["host"], e["action"], e["outcome"], (e["message"] or "")[:160]] for e in i["evidence"]], empty="")
        parts.append(f'<div class="finding"><p><span class="sev {escape(i["severity"])}">{escape(i["severity"])}</span> '
                     f'<b>{escape(i["title"])}</b> <code>{escape(i["rule"])}</code> finding {i["id"]}'
                     f' ({escape(_status(i))}): {escape(_group(i["group"]))}; {i["count"]} event(s), '
                     f'{escape(_when(i["first"]))} to {escape(_when(i["last"]))}</p>{_h_sigma(i)}{evidence}</div>')
    c = doc["changes_since_previous"]
    parts.append(f"<h2>{TITLES['changes_since_previous']}</h2>")
    if c["baseline"]:
        parts.append(f'<p class="muted">{escape(c["note"])}</p>')
    else:
        parts.append(f"<p>{escape(_compared_with(c))}.</p>")
        since_prev = "since the previous report."
        parts.append("<h3>New admins</h3>" + _h_table(["account", "role"], [[x["account"], x["role"]] for x in c["new_admins"]],
                                                      empty=f"No new admins {since_prev}"))
        parts.append("<h3>Admins removed</h3>" + _h_table(["account", "role"], [[x["account"], x["role"]] for x in c["admins_removed"]],
                                                          empty=f"No admin removed {since_prev}"))
        parts.append("<h3>New accounts</h3>" + _h_table(["account"], [[x] for x in c["new_accounts"]],
                                                        empty=f"No new account {since_prev}"))
        parts.append("<h3>Accounts gone</h3>" + _h_table(["account"], [[x] for x in c["accounts_gone"]],
                                                         empty=f"No account gone {since_prev}"))
        parts.append("<h3>New source IPs for admins</h3>" + _h_table(["account", "source IP"],
                     [[x["account"], x["src_ip"]] for x in c["new_admin_sources"]],
                     empty=f"No new source IP for an admin {since_prev}"))
    parts.append(f"<h2>{TITLES['silent_sources']}</h2>" + (f"<p>{escape(doc['silence_rule'])}</p>" if doc.get("silence_rule") else "")
                 + _h_table(SILENT_HEADERS, silent_rows(doc), empty=f"No source with a regular rhythm went silent {_between(doc)}."))
    verdict = "intact" if integ["intact"] else f"NOT INTACT ({integ['problems']} problems: {', '.join(integ['problem_kinds'])})"
    parts.append(f"<h2>{TITLES['integrity']}</h2><p>verify: <span class=\"{'ok' if integ['intact'] else 'bad'}\">"
                 f"{escape(verdict)}</span> over {integ['events']:,} events. Signed checkpoint #{cp['id']}: tree size "
                 f"{cp['tree_size']:,}, root <code>{escape(cp['root'])}</code>, signed {escape(_when(cp['signed_at']))} UTC "
                 f"by <code>{escape(cp['key'])}</code>.</p><pre>{escape(cp['note'])}</pre>")
    parts.append(f"<h2>{TITLES['unparsed']}</h2>" + _h_table(["source", "parser", "unparsed"],
                 [[r["source"], r["parser"], r["unparsed"]] for r in doc["unparsed"]], numeric=[2],
                 empty=none_between("unparsed records", doc)))
    if "access_log" in doc:
        parts.append(f"<h2>{TITLES['access_log']}</h2><p>{escape(access_summary(doc['access_log']))}</p>"
                     + _h_table(ACCESS_HEADERS, access_rows(doc["access_log"]), empty=none_between("uses of auditctl", doc)))
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>" + "\n".join(parts) + "</body></html>\n")


def _compared_with(changes: dict[str, Any]) -> str:
    """Which earlier report the changes are measured against: its period, and when it was made."""
    period = changes.get("previous_period")
    made = f"generated {_when(changes['previous_report'])} UTC"
    if not period:
        return f"Compared with the report {made}"
    return f"Compared with the report for {_when(period['since'])} to {_when(period['until'])} UTC ({made})"
