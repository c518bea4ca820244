"""`auditctl ingest`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from auditctl.cli.common import handles_errors, state
from auditctl.cli.guard import guarded
from auditctl.cli.ingesting import ingest_paths
from auditctl.cli.output import DocFormat
from auditctl.errors import ExitCode, UsageError
from auditctl.timeutil import get_tz


class Engine(StrEnum):
    """`ingest --engine`: the values of auditctl.ingest.bulk.ENGINES."""

    AUTO = "auto"
    BULK = "bulk"
    PYTHON = "python"


@handles_errors
@guarded("ingest")
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files, directories (recursive), globs, or - for stdin. .gz is read transparently.", show_default=False)],
    parser: Annotated[str | None, typer.Option("--parser", "-p", help="Force this parser instead of auto-detection.")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="Time zone of stamps without one (year-less syslog, naive ISO), e.g. Europe/Berlin or local. Default: config `timezone`, else UTC.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Parse processes for large files (default: one per CPU).")] = None,
    year: Annotated[int | None, typer.Option("--year", min=1970, max=2999, help="Year of the last year-less stamp (`Mar 12 10:52:25`) of each file; default: from the file name or content, else its modification time (a guess, noted in the summary).")] = None,
    fmt: Annotated[DocFormat, typer.Option("--format", "-f", help="The summary for people (table) or as one JSON document (json).")] = DocFormat.TABLE,
    force: Annotated[bool, typer.Option("--force", help="With --parser: store a file even when the parser cannot read most of its first records (they are kept as unparsed).")] = False,
    reparse: Annotated[bool, typer.Option("--reparse", help="Read already ingested files again from the start (with --parser or auto-detection); the new events are appended and the file's earlier events are marked superseded, never deleted.")] = False,
    engine: Annotated[Engine, typer.Option("--engine", help="auto: parser plugins in parallel where a file splits across workers, else bulk SQL for high-volume formats (auth.log) where it applies; bulk: bulk SQL wherever it applies (less CPU, one process); python: the parser plugins only (the reference). Every engine stores the same events.")] = Engine.AUTO,
) -> None:
    """Read log files, normalize every record, and store the events (only what is new since last time)."""
    st = state()
    cfg = st.config
    if tz:
        try:
            get_tz(tz)
        except ValueError as exc:
            raise UsageError(f"--tz: {exc}") from None
        cfg.timezone = tz
    if workers:
        cfg.workers = workers
    if force and not parser:
        raise UsageError("--force goes with --parser (auto-detected parsers are never refused)")
    if reparse and "-" in paths:
        raise UsageError("--reparse: standard input cannot be read again; reparse files by name")
    if not ingest_paths(paths, parser=parser, fmt=fmt, year=year, force=force, reparse=reparse, engine=engine.value):
        raise typer.Exit(int(ExitCode.ERROR))


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
