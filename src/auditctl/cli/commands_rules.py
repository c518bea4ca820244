"""`auditctl check`, `auditctl findings`, `auditctl rules list|validate`."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer

from auditctl.cli.common import SigmaOpt, announce_skipped, handles_errors, state
from auditctl.cli.guard import guarded, note_results, reader, shown, writer
from auditctl.cli.output import Format, default_format, render_rows
from auditctl.config import Config
from auditctl.detect.rules import SEVERITIES, Rule, load_file
from auditctl.detect.ruleset import ActiveRules, active_rules, is_sigma_file
from auditctl.detect.runner import CheckResult, Finding, learning_text, list_findings, run_checks
from auditctl.errors import ExitCode, UsageError
from auditctl.store import Store
from auditctl.timeutil import get_tz, parse_when

rules_app = typer.Typer(help="List the detection rules, or validate rule files.", no_args_is_help=True)

RulesOpt = Annotated[list[Path] | None, typer.Option("--rules", "-r", help="Rule file or directory (repeatable), used with the built-in pack.", show_default=False)]
NoBuiltinOpt = Annotated[bool, typer.Option("--no-builtin", help="Use only the rules given with --rules and config.")]
FormatOpt = Annotated[Format | None, typer.Option("--format", "-f", help="table (default on a terminal), json, jsonl (default when piped) or csv.", show_default=False)]
LimitOpt = Annotated[int | None, typer.Option("--limit", "-n", min=0, help="At most this many findings (0 = all). Default: 100 in a table, all in json, jsonl and csv.", show_default=False)]
TABLE_LIMIT = 100  # a table longer than this is not read by anyone: the rest is counted, not printed


def _when(value: str | None, option: str, cfg: Config) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_when(value, tz=get_tz(cfg.timezone))
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _severity(value: str | None) -> str | None:
    if value is not None and value not in SEVERITIES:
        raise UsageError(f"--fail-on: choose one of {', '.join(SEVERITIES)}")
    return value


def finding_rows(findings: Sequence[Finding]) -> list[dict]:
    return [{"id": f.id, "severity": f.severity, "rule": _rule_cell(f), "status": f.status,
             "group": ", ".join(f"{k}={'(unknown)' if v is None else v}" for k, v in f.group_key.items()) or "-",
             "first": f.first_ts, "last": f.last_ts, "count": f.count, "title": f.title} for f in findings]


def _rule_cell(f: Finding) -> str:
    """A native rule's id reads well; a Sigma rule's is a UUID: show its title, then the id's head."""
    if f.detail and "sigma" in f.detail:  # the DRL asks every match to name the rule's author
        author = f.detail["sigma"].get("author")
        return f"{f.title} (sigma {f.rule_id[:8]}{', by ' + author if author else ''})"
    return f.rule_id


def revealed_findings(store: Store, found: list[Finding]) -> list[Finding]:
    return [dataclasses.replace(f, group_key=shown(store, f.group_key), title=shown(store, f.title)) for f in found]


def shown_limit(limit: int | None, fmt: Format) -> int | None:
    """How many findings to print: --limit if given (0 = all), else a page for a table and all
    for the machine formats, which scripts read to the end."""
    if limit is not None:
        return limit or None
    return TABLE_LIMIT if fmt == Format.TABLE else None


def render_findings(findings: Sequence[Finding], fmt: Format, caption: str, total: int | None = None) -> None:
    """`findings` are the ones to print; `total` how many there were (the rest are counted in
    a last line, never rendered: 125k rich rows take minutes and a gigabyte)."""
    total = len(findings) if total is None else total
    if fmt == Format.TABLE:
        if total > len(findings):
            caption += (f"\n{total - len(findings):,} more not shown: use --format jsonl, "
                        f"or --limit N (0 = all)")
        render_rows(finding_rows(findings), fmt, caption=caption, optional=("status", "first", "id"),
                    columns=["id", "severity", "rule", "status", "group", "first", "last", "count"])
    elif fmt == Format.CSV:
        rows = [{**f.to_json(), "group": orjson.dumps(f.group_key).decode(), "tags": ",".join(f.tags),
                 "seqs": " ".join(map(str, f.seqs))} for f in findings]
        render_rows(rows, fmt, columns=["id", "rule", "severity", "status", "title", "group", "first", "last",
                                        "count", "tags", "seqs"])
    elif fmt == Format.JSON:
        sys.stdout.write(orjson.dumps([f.to_json() for f in findings], option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        for f in findings:
            sys.stdout.write(orjson.dumps(f.to_json()).decode() + "\n")


@handles_errors
@guarded("check")
def check(
    rules: RulesOpt = None,
    sigma: SigmaOpt = None,
    no_builtin: NoBuiltinOpt = False,
    since: Annotated[str | None, typer.Option("--since", help="From this time (default: where the last check ended; all history the first time).", show_default=False)] = None,
    until: Annotated[str | None, typer.Option("--until", help="Up to this time (default: now).", show_default=False)] = None,
    fail_on: Annotated[str | None, typer.Option("--fail-on", help=f"Exit 3 when a finding is at or above this severity ({', '.join(SEVERITIES)}).", show_default=False)] = None,
    limit: LimitOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Run the detection rules over the stored events and record their findings."""
    cfg = state().config
    fail_on = _severity(fail_on)
    active = active_rules(cfg, rules, builtin=not no_builtin, sigma=sigma or ())
    announce_skipped(active)
    with writer() as store:
        start = _when(since, "--since", cfg) if since else store.last_check_until()
        end = _when(until, "--until", cfg) or datetime.now(UTC)
        result = run_checks(store, active.rules, start, end)
    fmt = fmt or default_format()
    total, new, updated = len(result.findings), result.new, result.updated  # before --limit cuts the list
    failing = bool(fail_on and result.at_or_above(fail_on))
    cap = shown_limit(limit, fmt)
    if cap is not None:
        result.findings = result.findings[:cap]
    with reader() as store:  # group keys of sealed fields are tokens; an admin sees their values
        result.findings = revealed_findings(store, result.findings)
    _report(result, fmt, total, new, updated)
    if failing:
        raise typer.Exit(int(ExitCode.FINDINGS))
    if any(s.invalid for s in active.skipped):  # the rest ran; a broken rule file still fails the command
        raise UsageError("some Sigma files or rules are invalid (listed above); the other rules ran")


def _report(result: CheckResult, fmt: Format, total: int, new: int, updated: int) -> None:
    span = f"{result.since:%Y-%m-%d %H:%M} .. " if result.since else "all history .. "
    caption = (f"{total:,} finding(s) changed by this check: {new:,} new, {updated:,} updated "
               f"(stored findings this check did not touch are not listed: `auditctl findings`); {result.rules} rules "
               f"over {span}{result.until:%Y-%m-%d %H:%M} UTC in {result.seconds:.2f} s")
    if result.learning:
        caption += ". " + learning_text(result.learning)
    render_findings(result.findings, fmt, caption, total)


@handles_errors
@guarded("findings")
def findings(
    rule: Annotated[list[str] | None, typer.Option("--rule", help="Rule id (repeatable).", show_default=False)] = None,
    severity: Annotated[list[str] | None, typer.Option("--severity", help="Severity (repeatable).", show_default=False)] = None,
    since: Annotated[str | None, typer.Option("--since", help="Findings active since this time.", show_default=False)] = None,
    limit: LimitOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """List stored findings, newest first. `auditctl search --finding ID` shows the events behind one."""
    cfg = state().config
    for s in severity or []:
        if s not in SEVERITIES:
            raise UsageError(f"--severity: choose from {', '.join(SEVERITIES)}")
    fmt = fmt or default_format()
    rules, severities, start = rule or (), severity or (), _when(since, "--since", cfg)
    with reader() as store:
        found = list_findings(store, rules=rules, severities=severities, since=start, limit=shown_limit(limit, fmt))
        total = (store.count_findings(rules=rules, severities=severities, since=start)
                 if fmt == Format.TABLE else len(found))
        found = revealed_findings(store, found)
    note_results(len(found), findings=[f.id for f in found][:100])
    shown_since = f" active since {since}" if since else ""
    render_findings(found, fmt, f"{total:,} stored finding(s){shown_since}, newest first", total)


@rules_app.command("list")
@handles_errors
@guarded("rules list")
def rules_list(rules: RulesOpt = None, sigma: SigmaOpt = None, no_builtin: NoBuiltinOpt = False,
               fmt: FormatOpt = None) -> None:
    """The active rules: id, severity, type, what fires them, tags and where they come from; Sigma
    rules with their level, logsource and false positives."""
    cfg = state().config
    active = active_rules(cfg, rules, builtin=not no_builtin, sigma=sigma or ())
    announce_skipped(active)
    rows = [rule_row(r) for r in active.rules] + [rule_row(r, note="(only in correlations)")
                                                    for r in active.sigma.bases]
    fmt = fmt or default_format()
    render_rows(rows, fmt, columns=["id", "severity", "type", "fires on", "title"] if fmt == Format.TABLE else None,
                optional=("type", "title"))


def rule_row(rule: Rule, note: str = "") -> dict:
    sig = rule.sigma
    kind = f"sigma {sig.kind}" if sig else rule.type
    fires = f"{sig.logsource}: {'match' if sig.kind == 'rule' else rule.summary}" if sig else rule.summary
    return {"id": rule.id, "severity": rule.severity, "type": kind, "fires on": f"{fires} {note}".strip(),
            "title": rule.title, "tags": ", ".join(rule.tags), "origin": rule.origin,
            **({"level": sig.level, "logsource": sig.logsource, "falsepositives": list(sig.falsepositives),
                "author": sig.author} if sig else {})}


@rules_app.command("coverage")
@handles_errors
@guarded("rules coverage")
def rules_coverage(rules: RulesOpt = None, sigma: SigmaOpt = None, no_builtin: NoBuiltinOpt = False,
                   all_rules: Annotated[bool, typer.Option("--all", help="List every rule, not only those that can match.")] = False,
                   fmt: FormatOpt = None) -> None:
    """Which loaded rules can match the stored events: per rule, the stored events of its logsource
    and those its condition matches; a summary per logsource."""
    from auditctl.detect.coverage import coverage

    cfg = state().config
    active = active_rules(cfg, rules, builtin=not no_builtin, sigma=sigma or ())
    announce_skipped(active)
    with reader() as store:
        found = coverage(store, active.rules + active.sigma.bases)
    rows = [c.to_json() for c in found if all_rules or c.in_scope]
    can = sum(1 for c in found if c.in_scope)
    caption = (f"{can:,} of {len(found):,} rules have stored events of their logsource; "
               f"{sum(1 for c in found if c.matching):,} match stored events now")
    fmt = fmt or default_format()
    render_rows(rows, fmt, caption=caption,
                columns=["id", "logsource", "events_in_scope", "events_matching", "title"] if fmt == Format.TABLE else None,
                optional=("title",))


@rules_app.command("validate")
@handles_errors
@guarded("rules validate")
def rules_validate(files: Annotated[list[Path], typer.Argument(help="Rule files or directories (native or Sigma).", show_default=False)]) -> None:
    """Check rule files; each error names the file, the rule id and the field (exit 2). Sigma files:
    every rule compiles or is listed with the reason it cannot run here, then the counts per logsource."""
    from auditctl.detect.rules import iter_rule_files
    from auditctl.detect.sigma.load import load_sigma

    count, sigma_files = 0, []
    for path in iter_rule_files(files):
        if is_sigma_file(path):
            sigma_files.append(path)
        else:
            count += len(load_file(path))
    if not sigma_files:
        typer.echo(f"{count} rule(s) valid")
        return
    loaded = load_sigma(sigma_files)
    announce_skipped(ActiveRules([], loaded), every=True)
    for logsource, n in loaded.by_logsource().items():
        typer.echo(f"  {logsource}: {n['compiled']} compiled, {n['skipped']} skipped")
    compiled = len(loaded.rules) + len(loaded.bases)
    typer.echo(f"{count} native rule(s) valid; Sigma: {len(sigma_files)} file(s), {compiled} rule(s) compiled, "
               f"{len(loaded.skipped)} skipped")
    broken = [s for s in loaded.skipped if s.invalid]
    if broken:
        raise UsageError(f"{len(broken)} Sigma rule(s) or file(s) are invalid (listed above)")


def register(app: typer.Typer) -> None:
    app.command("check")(check)
    app.command("findings")(findings)
    app.add_typer(rules_app, name="rules")
