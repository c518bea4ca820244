"""`auditctl access whoami|check`: who you are to auditctl, and whether its files are locked down."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import orjson
import typer

from auditctl import roles
from auditctl.access.fileperms import check_files, fix_files
from auditctl.cli.common import handles_errors, state
from auditctl.cli.guard import effective_role
from auditctl.cli.output import DocFormat, Format, default_format, render_rows
from auditctl.errors import ExitCode
from auditctl.roles import COMMAND_ROLES

access_app = typer.Typer(help="Access levels: your role, and the permissions of auditctl's files.",
                         no_args_is_help=True)
FormatOpt = Annotated[DocFormat | None, typer.Option("--format", "-f", help="table (default on a terminal) or json.", show_default=False)]
RowsFormatOpt = Annotated[Format | None, typer.Option("--format", "-f", help="table (default on a terminal), json, jsonl (default when piped) or csv.", show_default=False)]


@access_app.command("whoami")
@handles_errors
def whoami(fmt: FormatOpt = None) -> None:
    """Your OS identity, the role it gives you, and what that role may do."""
    st = state()
    cfg = st.config
    identity = roles.current_identity()
    role = effective_role(roles.role_of(identity, cfg.access), st.role_override)
    allowed = sorted(c for c, needed in COMMAND_ROLES.items() if role is not None and role >= needed)
    doc = {
        "user": identity.user, "uid": identity.uid, "groups": sorted(identity.groups),
        "sudo_user": identity.sudo_user,
        "access_control": "on" if cfg.access.enabled else "off (single-user mode: no access section in the config)",
        "role": role.label if role else None,
        "sensitive_fields": ("plaintext" if role == roles.Role.ADMIN and os.access(cfg.sealed_store_path, os.R_OK)
                             else "sealed (tokens)") if cfg.access.sealing else "not sealed",
        "may_run": allowed,
        "config": str(cfg.source_path) if cfg.source_path else None,
    }
    if (fmt or default_format()) == Format.TABLE:
        render_rows([{"what": k, "value": ", ".join(v) if isinstance(v, list) else v} for k, v in doc.items()],
                    Format.TABLE, columns=["what", "value"])
    else:
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    if role is None:
        raise typer.Exit(int(ExitCode.DENIED))


@access_app.command("check")
@handles_errors
def check_permissions(
    fix: Annotated[bool, typer.Option("--fix", help="chmod (and chgrp to access.group) every file that is looser than it should be.")] = False,
    fmt: RowsFormatOpt = None,
) -> None:
    """List auditctl's files with their modes; flag any readable by more people than should be. Exit 1 if any is."""
    cfg = state().config
    if fix:
        for line in fix_files(cfg):
            typer.echo(line, err=True)
    states = check_files(cfg)
    rows = [s.__dict__ for s in states]
    render_rows(rows, fmt or default_format(),
                columns=["what", "mode", "owner", "group", "expected", "problem", "path"], title="auditctl files")
    if any(s.problem for s in states):
        raise typer.Exit(int(ExitCode.ERROR))


def register(app: typer.Typer) -> None:
    app.add_typer(access_app, name="access")
