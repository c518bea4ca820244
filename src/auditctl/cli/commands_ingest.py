"""`auditctl ingest`."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import duckdb
import orjson
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from auditctl.cli.commands_integrity import checkpoint_after_ingest
from auditctl.cli.common import err, fail, handles_errors, state, warn
from auditctl.cli.guard import guarded, writer
from auditctl.cli.output import DocFormat
from auditctl.errors import ExitCode, UsageError
from auditctl.ingest.discovery import load_registry
from auditctl.ingest.ingester import Ingester, IngestSummary, expand_paths
from auditctl.timeutil import get_tz


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
    if not ingest_paths(paths, parser=parser, fmt=fmt, year=year, force=force, reparse=reparse):
        raise typer.Exit(int(ExitCode.ERROR))


def ingest_paths(paths: list[str], *, parser: str | None = None, fmt: DocFormat = DocFormat.TABLE,
                 quiet: bool = False, year: int | None = None, force: bool = False, reparse: bool = False) -> bool:
    """Ingest and sign; print the summary (on stderr when `quiet`). False when some input failed."""
    cfg = state().config
    files, missing = expand_paths(paths)
    for m in missing:
        err.print(f"[red]error:[/] {m}: no such file, directory or matching glob", highlight=False)
    registry = load_registry(cfg.parsers_dirs)
    for w in registry.warnings:
        warn(w)
    if not files:
        fail("nothing to ingest", ExitCode.ERROR if missing else ExitCode.USAGE)
    if parser and parser not in registry.plugins:
        raise UsageError(f"--parser: no parser named {parser!r} (see `auditctl parsers`)")
    with writer() as store:
        before = store.end_before_own_writes()  # beyond the last checkpoint: a killed run's
        summary = _run(store, registry, cfg, files, parser, year=year, force=force, reparse=reparse)
        started = time.perf_counter()
        try:
            summary.checkpoint = checkpoint_after_ingest(store, cfg, adopted_upto=before)
        except duckdb.Error as exc:  # e.g. the disk that stopped the ingest: the files' errors still show
            summary.checkpoint_error = (f"could not write to the store {cfg.db}: {str(exc).splitlines()[0]}: "
                                        "the new events are not signed yet (the next ingest signs them)")
        summary.checkpoint_seconds = time.perf_counter() - started
        summary.seconds += summary.checkpoint_seconds
    _report(summary, fmt, cfg.db, to_stderr=quiet)
    return not (summary.failed or summary.not_read or summary.checkpoint_error or missing)


def _run(store, registry, cfg, files, parser, *, year: int | None = None, force: bool = False,
         reparse: bool = False) -> IngestSummary:
    show = sys.stderr.isatty() and "-" not in files
    if not show:
        return Ingester(store, registry, cfg, forced_parser=parser, year=year, force=force,
                        reparse=reparse).ingest(files)
    total = sum(_size(f) for f in files)
    with Progress(TextColumn("ingest"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("ingest", total=total)
        ingester = Ingester(store, registry, cfg, forced_parser=parser, year=year, force=force, reparse=reparse,
                            progress=lambda n: progress.advance(task, n))
        return ingester.ingest(files)


def _size(path: str) -> int:
    import os

    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _report(summary: IngestSummary, fmt: DocFormat, db, to_stderr: bool = False) -> None:
    for f in summary.failed:
        err.print(f"[red]error:[/] {f.note}", highlight=False, soft_wrap=True)
    if summary.not_read:
        err.print(f"[red]error:[/] ingest stopped by the store error: {len(summary.not_read)} file(s) not read: "
                  f"{', '.join(summary.not_read)}", highlight=False, soft_wrap=True)
    if summary.checkpoint_error:
        err.print(f"[red]error:[/] {summary.checkpoint_error}", highlight=False, soft_wrap=True)
    if fmt == DocFormat.JSON:
        doc = {
            "database": str(db), "files": [f.__dict__ for f in summary.files], "events": summary.events,
            "unparsed": summary.unparsed, "per_parser": summary.per_parser,
            "seconds": round(summary.seconds, 3), "events_per_second": round(summary.rate),
            "checkpoint_seconds": round(summary.checkpoint_seconds, 3),
            "failed": len(summary.failed), "not_read": summary.not_read,
            "checkpoint": summary.checkpoint.to_json() if summary.checkpoint else None,
        }
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    ingested = [f for f in summary.files if f.status == "ingested"]
    unchanged = [f for f in summary.files if f.status == "unchanged"]
    empty = [f for f in summary.files if f.status == "empty"]
    parsers = ", ".join(f"{name} {count:,}" for name, count in summary.per_parser.items()) or "none"
    def out(text: str) -> None:
        typer.echo(text, err=to_stderr)
    out(f"{summary.events:,} events from {len(ingested)} file(s) in {summary.seconds:.2f} s "
        f"({summary.rate:,.0f} events/s) into {db}")
    out(f"  by parser: {parsers}")
    out(f"  unparsed (kept as category=other): {summary.unparsed:,}")
    if unchanged:
        out(f"  unchanged since last ingest: {len(unchanged)} file(s)")
    if empty:
        out(f"  empty (read from the start once they have content): {', '.join(f.path for f in empty)}")
    for f in ingested:
        if f.note:
            out(f"  {f.path}: {f.note}")
    if summary.failed:
        out(f"  failed: {len(summary.failed)} file(s) (see errors above)")
    if summary.checkpoint:
        cp = summary.checkpoint
        out(f"  signed checkpoint #{cp.id}: {cp.tree_size:,} events, root {cp.root[:16]}…")


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
