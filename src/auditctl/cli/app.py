"""The command line: thin wrappers that parse options, call one library function, render."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from auditctl import __version__
from auditctl.cli.common import State, err, set_state
from auditctl.errors import AuditctlError, ExitCode, UsageError
from auditctl.roles import Role

app = typer.Typer(
    name="auditctl",
    help="Collect audit logs from everywhere, normalize them into one schema, and search them.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode="rich",
)
def _version(value: bool) -> None:
    if value:
        typer.echo(f"auditctl {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option("--db", help="Database file (default: $AUDITCTL_DB or ~/.local/share/auditctl/audit.duckdb).", show_default=False)] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Config file (default: $AUDITCTL_CONFIG or ~/.config/auditctl/config.yaml).", show_default=False)] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    role: Annotated[str | None, typer.Option("--role", help="Act with a lower role than yours (admin, auditor, viewer), e.g. to see what a viewer sees. Never raises your role.", show_default=False)] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """auditctl: who did what, when, from where — across every audit log you have."""
    try:
        override = Role.parse(role) if role else None
    except AuditctlError as exc:
        raise typer.BadParameter(str(exc), param_hint="--role") from None
    os.umask(os.umask(0) | 0o027)  # everything auditctl writes: no access for others, no group writes
    set_state(State(db=db, config_path=config, debug=debug, role_override=override))


def register_commands() -> None:
    from auditctl.cli import (
        commands_access,
        commands_export,
        commands_ingest,
        commands_integrity,
        commands_parsers,
        commands_report,
        commands_retention,
        commands_rules,
        commands_search,
        commands_watch,
    )

    commands_ingest.register(app)
    commands_search.register(app)
    commands_rules.register(app)
    commands_report.register(app)
    commands_watch.register(app)
    commands_retention.register(app)
    commands_export.register(app)
    commands_integrity.register(app)
    commands_parsers.register(app)
    commands_access.register(app)


register_commands()


def main() -> None:
    try:
        app()
    except UsageError as exc:  # pragma: no cover - raised outside a command
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(int(ExitCode.USAGE))
