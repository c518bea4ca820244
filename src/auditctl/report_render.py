"""Rendering the review report as Markdown (terminal, ticket, git) or one self-contained HTML
file (inline CSS and SVG, no scripts, no network, printable). Both show the same facts as the
JSON document they are made from."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from auditctl.charts import paired_bars, stacked_bars

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


def _when(v: Any) -> str:
    return str(v)[:19].replace("T", " ") if v else ""


def _group(g: dict[str, Any]) -> str:
    return ", ".join(f"{k}={'(unknown)' if v is None else v}" for k, v in g.items()) or "-"


# -- Markdown ---------------------------------------------------------------------------------

def _md_cell(v: Any) -> str:
    return str("" if v is None else v).replace("|", "\\|").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    if not rows:
        return ["_none_", ""]
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def to_markdown(doc: dict[str, Any]) -> str:
    p, s, cov = doc["period"], doc["summary"], doc["coverage"]
    integ = doc["integrity"]
    out = [f"# Audit log review: {_when(p['since'])} to {_when(p['until'])} UTC", "",
           f"Generated {_when(doc['generated_at'])} UTC ({p['kind']} report). "
           f"Integrity: **{'intact' if integ['intact'] else 'NOT INTACT'}**; bound to signed checkpoint "
           f"#{integ['checkpoint']['id']} (tree size {integ['checkpoint']['tree_size']:,}, root `{integ['checkpoint']['root']}`).",
           "", "## Summary", "",
           f"- {s['events']:,} events; {s['user_management_changes']} user management changes; "
           f"{s['permission_changes']} permission changes ({s['admin_grants']} admin grants)",
           f"- {s['logins']:,} logins, {s['failed_logins']:,} failed logins; {s['privileged_actions']:,} privileged actions",
           f"- {s['findings']} findings: " + (", ".join(f"{s['findings_by_severity'][k]} {k}" for k in SEVERITY_ORDER
                                                       if k in s["findings_by_severity"]) or "none"),
           f"- {s['new_admins']} new admins, {s['new_accounts']} new accounts since the previous report; "
           f"{s['silent_sources']} silent sources; {s['unparsed']:,} unparsed records", ""]
    out += [f"## {TITLES['coverage']}", "",
            f"{cov['events']:,} events from {cov['sources']} sources on {cov['hosts']} hosts "
            f"({_when(cov['first_event'])} to {_when(cov['last_event'])}).", "", storage_text(doc["storage"]), ""]
    out += _md_table(["category", "events"], list(cov["by_category"].items()))
    out += _md_table(["host", "events"], list(cov["by_host"].items())[:20])
    days = sorted(cov["per_day"])
    cats = sorted({c for d in days for c in cov["per_day"][d]})
    out += _md_table(["day", *cats], [[d, *[cov["per_day"][d].get(c, 0) for c in cats]] for d in days])
    for key in ("user_management", "permission_changes"):
        sec = doc[key]
        out += [f"## {TITLES[key]}", "", f"{sec['count']} change(s)" + (
            f"; **{sec['admin_grants']} admin grant(s)**" if key == "permission_changes" and sec["admin_grants"] else ""), ""]
        out += _md_table(["time", "action", "who", "to whom", "role/group", "host", "outcome"],
                         [[_when(e["ts"]), ("**ADMIN** " if e["admin"] else "") + e["action"], e["actor"] or "(unknown)",
                           e["target"], e["role"], e["host"], e["outcome"]] for e in sec["events"]])
    a = doc["authentication"]
    out += [f"## {TITLES['authentication']}", "",
            f"{a['logins']:,} successful logins by {a['users']} users; {a['failed_logins']:,} failed logins from "
            f"{a['failing_sources']} sources; {a['other_failures']:,} other authentication failures.", "",
            "Top failing sources:", ""]
    out += _md_table(["source IP", "failures", "first", "last"],
                     [[r["value"], r["failures"], _when(r["first"]), _when(r["last"])] for r in a["top_failing_sources"]])
    out += ["Top failing users:", ""]
    out += _md_table(["user", "failures", "first", "last"],
                     [[r["value"], r["failures"], _when(r["first"]), _when(r["last"])] for r in a["top_failing_users"]])
    pr = doc["privileged_actions"]
    out += [f"## {TITLES['privileged_actions']}", "", f"{pr['count']:,} privileged action(s).", ""]
    out += _md_table(["actor", "actions", "failures"], [[r["actor"], r["actions"], r["failures"]] for r in pr["by_actor"]])
    f = doc["findings"]
    out += [f"## {TITLES['findings']}", ""]
    if not f["items"]:
        out += ["_none_", ""]
    for sev in SEVERITY_ORDER:
        items = [i for i in f["items"] if i["severity"] == sev]
        if not items:
            continue
        out += [f"### {sev.upper()} ({len(items)})", ""]
        for i in items:
            out += [f"- **{i['title']}** (`{i['rule']}`, finding {i['id']}{', new' if i['new_in_this_report'] else ''}): "
                    f"{_group(i['group'])}; {i['count']} event(s), {_when(i['first'])} to {_when(i['last'])}"]
            for e in i["evidence"]:
                out.append(f"  - {_when(e['ts'])} {e['host'] or ''} {e['action']} {e['outcome']}: "
                           f"{_md_cell((e['message'] or '')[:140])}")
        out.append("")
    c = doc["changes_since_previous"]
    out += [f"## {TITLES['changes_since_previous']}", ""]
    if c["baseline"]:
        out += [f"_{c['note']}_", ""]
    else:
        out += [f"Compared with the report of {_when(c['previous_report'])} UTC.", ""]
        out += ["New admins:", "", *_md_table(["account", "role"], [[x["account"], x["role"]] for x in c["new_admins"]])]
        out += ["Admins removed:", "", *_md_table(["account", "role"], [[x["account"], x["role"]] for x in c["admins_removed"]])]
        out += ["New accounts: " + (", ".join(c["new_accounts"]) or "none"), "",
                "Accounts gone: " + (", ".join(c["accounts_gone"]) or "none"), ""]
        out += ["New source IPs for admins:", "", *_md_table(["account", "source IP"], [[x["account"], x["src_ip"]] for x in c["new_admin_sources"]])]
    out += [f"## {TITLES['silent_sources']}", ""]
    out += _md_table(["source", "silent from", "until"],
                     [[_group(x["group"]), _when(x["silent_from"]), _when(x["silent_until"])] for x in doc["silent_sources"]])
    cp = integ["checkpoint"]
    out += [f"## {TITLES['integrity']}", "",
            f"- verify: **{'intact' if integ['intact'] else 'NOT INTACT'}** over {integ['events']:,} events"
            + (f" ({integ['problems']} problems: {', '.join(integ['problem_kinds'])})" if not integ["intact"] else ""),
            f"- signed checkpoint #{cp['id']}: tree size {cp['tree_size']:,}, root `{cp['root']}`, signed {_when(cp['signed_at'])} UTC by `{cp['key']}`",
            "", "```", cp["note"].rstrip(), "```", ""]
    out += [f"## {TITLES['unparsed']}", ""]
    out += _md_table(["source", "parser", "unparsed"], [[r["source"], r["parser"], r["unparsed"]] for r in doc["unparsed"]])
    if "access_log" in doc:
        out += ["", f"## {TITLES['access_log']}", "", access_summary(doc["access_log"]), ""]
        out += _md_table(ACCESS_HEADERS, access_rows(doc["access_log"]))
    return "\n".join(out).rstrip() + "\n"


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
             row_class: Sequence[str] | None = None) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_class[i]}"' if row_class and row_class[i] else ""
        cells = "".join(f'<td{" class=n" if j in numeric else ""}>{escape("" if c is None else str(c))}</td>'
                        for j, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


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
    parts.append(f"<h2>{TITLES['coverage']}</h2><p>{cov['events']:,} events from {cov['sources']} sources on "
                 f"{cov['hosts']} hosts ({escape(_when(cov['first_event']))} to {escape(_when(cov['last_event']))}).</p>")
    parts.append(f'<p class="muted">{escape(storage_text(doc["storage"]))}</p>')
    parts.append(stacked_bars(cov["per_day"], "Events per day by category"))
    parts.append(_h_table(["category", "events"], list(cov["by_category"].items()), numeric=[1]))
    parts.append(_h_table(["host", "events"], list(cov["by_host"].items())[:20], numeric=[1]))
    for key in ("user_management", "permission_changes"):
        sec = doc[key]
        rows = [[_when(e["ts"]), ("ADMIN " if e["admin"] else "") + e["action"], e["actor"] or "(unknown)", e["target"],
                 e["role"], e["host"], e["outcome"]] for e in sec["events"]]
        parts.append(f"<h2>{TITLES[key]}</h2><p>{sec['count']} change(s)"
                     + (f"; <b>{sec['admin_grants']} admin grant(s)</b> highlighted" if sec["admin_grants"] else "") + ".</p>")
        parts.append(_h_table(["time", "action", "who", "to whom", "role/group", "host", "outcome"], rows,
                              row_class=["admin" if e["admin"] else "" for e in sec["events"]]))
    a = doc["authentication"]
    parts.append(f"<h2>{TITLES['authentication']}</h2><p>{a['logins']:,} successful logins by {a['users']} users; "
                 f"{a['failed_logins']:,} failed logins from {a['failing_sources']} sources; "
                 f"{a['other_failures']:,} other authentication failures.</p>")
    parts.append(paired_bars([(pt["bucket"], pt["failures"], pt["successes"]) for pt in a["over_time"]["points"]],
                             ("failures", "successes"), f"Authentication per {a['over_time']['bucket']}"))
    parts.append("<h3>Top failing sources</h3>" + _h_table(["source IP", "failures", "first", "last"],
                 [[r["value"], r["failures"], _when(r["first"]), _when(r["last"])] for r in a["top_failing_sources"]], numeric=[1]))
    parts.append("<h3>Top failing users</h3>" + _h_table(["user", "failures", "first", "last"],
                 [[r["value"], r["failures"], _when(r["first"]), _when(r["last"])] for r in a["top_failing_users"]], numeric=[1]))
    pr = doc["privileged_actions"]
    parts.append(f"<h2>{TITLES['privileged_actions']}</h2><p>{pr['count']:,} privileged action(s).</p>")
    parts.append(_h_table(["actor", "actions", "failures"], [[r["actor"], r["actions"], r["failures"]] for r in pr["by_actor"]], numeric=[1, 2]))
    parts.append(f"<h2>{TITLES['findings']}</h2>")
    if not doc["findings"]["items"]:
        parts.append('<p class="muted">none</p>')
    for i in doc["findings"]["items"]:
        evidence = _h_table(["time", "host", "action", "outcome", "message"],
                            [[_when(e["ts"]), e["host"], e["action"], e["outcome"], (e["message"] or "")[:160]] for e in i["evidence"]])
        parts.append(f'<div class="finding"><p><span class="sev {escape(i["severity"])}">{escape(i["severity"])}</span> '
                     f'<b>{escape(i["title"])}</b> <code>{escape(i["rule"])}</code> finding {i["id"]}'
                     f'{" (new)" if i["new_in_this_report"] else ""}: {escape(_group(i["group"]))}; {i["count"]} event(s), '
                     f'{escape(_when(i["first"]))} to {escape(_when(i["last"]))}</p>{evidence}</div>')
    c = doc["changes_since_previous"]
    parts.append(f"<h2>{TITLES['changes_since_previous']}</h2>")
    if c["baseline"]:
        parts.append(f'<p class="muted">{escape(c["note"])}</p>')
    else:
        parts.append(f"<p>Compared with the report of {escape(_when(c['previous_report']))} UTC.</p>")
        parts.append("<h3>New admins</h3>" + _h_table(["account", "role"], [[x["account"], x["role"]] for x in c["new_admins"]]))
        parts.append("<h3>Admins removed</h3>" + _h_table(["account", "role"], [[x["account"], x["role"]] for x in c["admins_removed"]]))
        parts.append("<h3>New accounts</h3>" + _h_table(["account"], [[x] for x in c["new_accounts"]]))
        parts.append("<h3>Accounts gone</h3>" + _h_table(["account"], [[x] for x in c["accounts_gone"]]))
        parts.append("<h3>New source IPs for admins</h3>" + _h_table(["account", "source IP"],
                     [[x["account"], x["src_ip"]] for x in c["new_admin_sources"]]))
    parts.append(f"<h2>{TITLES['silent_sources']}</h2>" + _h_table(["source", "silent from", "until"],
                 [[_group(x["group"]), _when(x["silent_from"]), _when(x["silent_until"])] for x in doc["silent_sources"]]))
    verdict = "intact" if integ["intact"] else f"NOT INTACT ({integ['problems']} problems: {', '.join(integ['problem_kinds'])})"
    parts.append(f"<h2>{TITLES['integrity']}</h2><p>verify: <span class=\"{'ok' if integ['intact'] else 'bad'}\">"
                 f"{escape(verdict)}</span> over {integ['events']:,} events. Signed checkpoint #{cp['id']}: tree size "
                 f"{cp['tree_size']:,}, root <code>{escape(cp['root'])}</code>, signed {escape(_when(cp['signed_at']))} UTC "
                 f"by <code>{escape(cp['key'])}</code>.</p><pre>{escape(cp['note'])}</pre>")
    parts.append(f"<h2>{TITLES['unparsed']}</h2>" + _h_table(["source", "parser", "unparsed"],
                 [[r["source"], r["parser"], r["unparsed"]] for r in doc["unparsed"]], numeric=[2]))
    if "access_log" in doc:
        parts.append(f"<h2>{TITLES['access_log']}</h2><p>{escape(access_summary(doc['access_log']))}</p>"
                     + _h_table(ACCESS_HEADERS, access_rows(doc["access_log"])))
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>" + "\n".join(parts) + "</body></html>\n")
