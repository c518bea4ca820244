"""`auditctl report`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer

from auditctl.cli.common import SigmaOpt, announce_skipped, handles_errors, state, warn
from auditctl.cli.guard import guarded, note_results, reader, shown, writer
from auditctl.cli.ingesting import ingest_paths
from auditctl.detect.rules import SEVERITIES, severity_rank
from auditctl.detect.ruleset import active_rules
from auditctl.errors import ExitCode, UsageError
from auditctl.files import atomic_write_text
from auditctl.integrity import keys
from auditctl.report.build import PERIODS, ReportInputs, build_report, period_range, worst_severity
from auditctl.report.render import to_html, to_markdown
from auditctl.roles import AccessDenied, Role
from auditctl.timeutil import get_tz, parse_when

FORMATS = ("md", "html", "json")


@handles_errors
@guarded("report")
def report(
    period: Annotated[str, typer.Option("--period", help=f"{', '.join(PERIODS)}: yesterday, the 7 days before today, or the previous calendar month (in the config's time zone).")] = "day",
    since: Annotated[str | None, typer.Option("--since", help="Start of the period instead of --period.", show_default=False)] = None,
    until: Annotated[str | None, typer.Option("--until", help="End of the period (exclusive; default with --since: now).", show_default=False)] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="md, html or json.")] = "md",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here (atomically) instead of stdout.", show_default=False)] = None,
    fail_on: Annotated[str | None, typer.Option("--fail-on", help=f"Exit 3 after writing when a new finding is at or above this severity ({', '.join(SEVERITIES)}).", show_default=False)] = None,
    ingest: Annotated[list[str] | None, typer.Option("--ingest", help="Ingest these paths first (repeatable), so one cron line does everything.", show_default=False)] = None,
    rules: Annotated[list[Path] | None, typer.Option("--rules", "-r", help="Extra rule files or directories for the checks.", show_default=False)] = None,
    sigma: SigmaOpt = None,
) -> None:
    """Write the periodic review: changes, logins, findings, what changed since last time, integrity."""
    if fmt not in FORMATS:
        raise UsageError(f"--format: choose one of {', '.join(FORMATS)}")
    if fail_on is not None and fail_on not in SEVERITIES:
        raise UsageError(f"--fail-on: choose one of {', '.join(SEVERITIES)}")
    cfg = state().config
    tz = get_tz(cfg.timezone)
    now = datetime.now(UTC)
    try:
        if since:
            start, end = parse_when(since, now, tz), (parse_when(until, now, tz) if until else now)
            kind = "custom"
        else:
            start, end = period_range(period, now, tz)
            if until:
                raise UsageError("--until needs --since")
            kind = period
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if start >= end:
        raise UsageError("the period is empty: --since must be before --until")
    active = active_rules(cfg, rules, sigma=sigma or ())
    announce_skipped(active)
    st = state()
    admin = st.role == Role.ADMIN
    failed_ingest = False
    if ingest:
        if not admin:
            raise AccessDenied("report --ingest needs the admin role (ingest writes and seals events)")
        failed_ingest = not ingest_paths(ingest, quiet=output is None)
    if admin:  # signs a new checkpoint, stores findings and the state the next report compares with
        key = keys.signing_key(cfg, warn)
        inputs = ReportInputs(kind, start, end, active.rules, key, key.verifier, cfg.checkpoints_path)
        with writer() as store:
            doc = build_report(store, inputs, now)
    else:  # a reader's report: the latest checkpoint, findings computed but not stored
        inputs = ReportInputs(kind, start, end, active.rules, None, keys.verifier_key(cfg), cfg.checkpoints_path)
        with reader() as store:
            doc = build_report(store, inputs, now)
    with reader() as store:  # an admin sees sealed values in plaintext
        doc = shown(store, doc)
    note_results(doc["summary"]["events"], period=f"{start.isoformat()}..{end.isoformat()}", format=fmt)
    text = {"md": to_markdown, "html": to_html}.get(fmt, _json)(doc)
    if output:
        atomic_write_text(output, text)
        s = doc["summary"]
        typer.echo(f"wrote {output} ({s['events']:,} events, {s['findings']} findings active in the period of which "
                   f"{s['findings_new']} new and {s['findings_updated']} updated by this report's check, "
                   f"{'intact' if doc['integrity']['intact'] else 'NOT INTACT'})", err=True)
    else:
        sys.stdout.write(text)
    if not doc["integrity"]["intact"]:
        warn("the store does not verify: see the report's integrity section")
    worst = worst_severity(doc)
    if fail_on and worst and severity_rank(worst) >= severity_rank(fail_on):
        raise typer.Exit(int(ExitCode.FINDINGS))
    if failed_ingest:
        raise typer.Exit(int(ExitCode.ERROR))


def _json(doc: dict) -> str:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n"


def register(app: typer.Typer) -> None:
    app.command("report")(report)
