"""`auditctl retention apply|status`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import orjson
import typer

from auditctl.archive.retention import apply, archive_dir_of, parse_retention, plan, status
from auditctl.cli.common import handles_errors, state, warn
from auditctl.cli.guard import guarded, reader, writer
from auditctl.cli.output import DocFormat, Format, default_format, render_rows
from auditctl.errors import UsageError
from auditctl.integrity import keys
from auditctl.timeutil import get_tz, parse_when

retention_app = typer.Typer(help="Archive old events to compressed Parquet and delete what policy says.",
                            no_args_is_help=True)


def _as_of(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        return parse_when(value, tz=get_tz(state().config.timezone))
    except ValueError as exc:
        raise UsageError(f"--as-of: {exc}") from None


@retention_app.command("apply")
@handles_errors
@guarded("retention apply")
def retention_apply(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be archived and deleted; change nothing.")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Apply the policies as if it were this time (default: now).", show_default=False)] = None,
    fmt: Annotated[DocFormat | None, typer.Option("--format", "-f", help="table (default on a terminal) or json.", show_default=False)] = None,
) -> None:
    """Archive events past their policy's archive_after, delete those past delete_after (not on legal hold)."""
    cfg = state().config
    rules = parse_retention(cfg.retention, str(cfg.source_path or "config"))
    now = _as_of(as_of)
    with writer() as store:
        if dry_run:
            todo = plan(store, rules, now)
            doc = {"dry_run": True, "archive": {k: len(v) for k, v in todo.archive.items()},
                   "archive_events": todo.archive_count, "delete_hot_events": len(todo.delete_hot),
                   "delete_segments": todo.delete_segments, "held_by_legal_hold": todo.held}
        else:
            done = apply(store, rules, keys.signing_key(cfg, warn), archive_dir_of(store, cfg.archive_dir), now)
            doc = {"dry_run": False, "archived_events": done.archived, "segments": done.segments,
                   "deleted_events": done.deleted, "receipts": done.receipts, "held_by_legal_hold": done.held,
                   "orphans_removed": done.orphans_removed, "renamed": done.renamed}
    if (fmt or default_format()) == Format.TABLE:
        render_rows([{"what": k, "value": v if not isinstance(v, list | dict) else orjson.dumps(v).decode()}
                     for k, v in doc.items()], Format.TABLE, columns=["what", "value"])
    else:
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


@retention_app.command("status")
@handles_errors
@guarded("retention status")
def retention_status(fmt: Annotated[DocFormat | None, typer.Option("--format", "-f", help="table (default on a terminal) or json.", show_default=False)] = None) -> None:
    """Rows and bytes hot vs archived, deleted events, and the compression ratio vs the raw logs."""
    with reader() as store:
        doc = status(store)
    if (fmt or default_format()) == Format.TABLE:
        render_rows([{"what": k, "value": v} for k, v in doc.items()], Format.TABLE, columns=["what", "value"])
    else:
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")
