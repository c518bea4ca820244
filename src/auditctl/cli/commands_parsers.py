"""`auditctl parsers` and `auditctl parsers test`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from auditctl.cli.common import handles_errors, state, warn
from auditctl.cli.output import Format, default_format, render_rows
from auditctl.errors import AuditctlError, UsageError
from auditctl.ingest.discovery import load_registry
from auditctl.ingest.parsing import try_file
from auditctl.schema import validate_event
from auditctl.sources import SourceError
from auditctl.timeutil import get_tz

parsers_app = typer.Typer(help="List parser plugins, or see how a file parses.", no_args_is_help=False)

FormatOpt = Annotated[Format | None, typer.Option("--format", "-f", help="table, json, jsonl or csv.", show_default=False)]


def _registry():
    registry = load_registry(state().config.parsers_dirs)
    for w in registry.warnings:
        warn(w)
    return registry


@parsers_app.callback(invoke_without_command=True)
@handles_errors
def list_parsers(ctx: typer.Context, fmt: FormatOpt = None) -> None:
    """List parser plugins: name, origin (builtin, package, user) and description."""
    if ctx.invoked_subcommand is not None:
        return
    rows = [{"name": i.name, "origin": i.origin, "description": i.description, "location": i.location}
            for i in _registry()]
    fmt = fmt or default_format()
    render_rows(rows, fmt, columns=["name", "origin", "description"] if fmt == Format.TABLE else None)


@parsers_app.command("test")
@handles_errors
def test_parser(
    file: Annotated[Path, typer.Argument(help="A log file to try.", show_default=False)],
    parser: Annotated[str | None, typer.Option("--parser", "-p", help="Force this parser.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many records to show.")] = 10,
    fmt: FormatOpt = None,
) -> None:
    """Show which parser reads FILE and why, and how its first records parse."""
    registry = _registry()
    if parser and parser not in registry.plugins:
        raise UsageError(f"--parser: no parser named {parser!r} (see `auditctl parsers`)")
    if not file.is_file():
        raise UsageError(f"{file}: no such file")
    try:
        trial = try_file(file, registry, parser, limit, tz=get_tz(state().config.timezone))
    except SourceError as exc:
        raise AuditctlError(str(exc)) from None
    fmt = fmt or default_format()
    ranking = ", ".join(f"{name} {score:.2f}" for score, name in trial.choice.ranking) or "no parser matched"
    rows = []
    for ev in trial.events:
        row = {"line": ev.line, "origin": ev.origin, "ts": ev.ts, "category": ev.category,
               "action": ev.action, "outcome": ev.outcome, "actor": ev.actor, "target": ev.target,
               "role": ev.role, "src_ip": ev.src_ip, "message": ev.message,
               "problems": "; ".join(validate_event(ev)) or None}
        if ev.action == "unparsed" and ev.attrs:
            row["problems"] = ev.attrs.get("reason")
        rows.append(row)
    if fmt == Format.TABLE:
        typer.echo(f"{file}: parser {trial.choice.parser.name} ({trial.choice.reason}; "
                   f"confidence {trial.choice.confidence:.2f})")
        typer.echo(f"detection scores: {ranking}")
        if trial.choice.parser.not_a_log:
            typer.echo(f"ingest skips this file: not a log ({trial.choice.parser.not_a_log})")
        render_rows(rows, fmt, columns=["line", "ts", "category", "action", "outcome", "actor", "target",
                                        "src_ip", "message", "problems"],
                    optional=("category", "line", "target", "src_ip"))
    else:
        render_rows([{"parser": trial.choice.parser.name, "reason": trial.choice.reason,
                      "confidence": trial.choice.confidence, "ranking": ranking, **r} for r in rows], fmt)


def register(app: typer.Typer) -> None:
    app.add_typer(parsers_app, name="parsers")
