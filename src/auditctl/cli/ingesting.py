"""Ingesting files for a command (`ingest`, `report --ingest`): the library's ingest-and-sign
with a progress bar on a terminal, and its summary rendered."""

from __future__ import annotations

import sys

import orjson
import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from auditctl.cli.common import err, fail, state, warn
from auditctl.cli.guard import writer
from auditctl.cli.output import DocFormat
from auditctl.errors import ExitCode, UsageError
from auditctl.ingest.discovery import load_registry
from auditctl.ingest.ingester import IngestSummary, expand_paths
from auditctl.integrity.signed_ingest import ingest_and_sign


def ingest_paths(paths: list[str], *, parser: str | None = None, fmt: DocFormat = DocFormat.TABLE,
                 quiet: bool = False, year: int | None = None, force: bool = False, reparse: bool = False,
                 engine: str = "auto") -> bool:
    """Ingest and sign; print the summary (on stderr when `quiet`). False when some input failed."""
    cfg = state().config
    files, missing = expand_paths(paths)
    for m in missing:
        err.print(f"[red]error:[/] {escape(m)}: no such file, directory or matching glob", highlight=False)
    registry = load_registry(cfg.parsers_dirs)
    for w in registry.warnings:
        warn(w)
    if not files:
        fail("nothing to ingest", ExitCode.ERROR if missing else ExitCode.USAGE)
    if parser and parser not in registry.plugins:
        raise UsageError(f"--parser: no parser named {parser!r} (see `auditctl parsers`)")
    with writer() as store:
        summary = _run(store, registry, cfg, files, parser, year=year, force=force, reparse=reparse, engine=engine)
    _report(summary, fmt, cfg.db, to_stderr=quiet)
    return not (summary.failed or summary.not_read or summary.checkpoint_error or missing)


def _run(store, registry, cfg, files, parser, *, year: int | None = None, force: bool = False,
         reparse: bool = False, engine: str = "auto") -> IngestSummary:
    opts = {"parser": parser, "year": year, "force": force, "reparse": reparse, "warn": warn, "engine": engine}
    if not sys.stderr.isatty() or "-" in files:
        return ingest_and_sign(store, registry, cfg, files, **opts)
    total = sum(_size(f) for f in files)
    with Progress(TextColumn("ingest"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("ingest", total=total)
        return ingest_and_sign(store, registry, cfg, files, progress=lambda n: progress.advance(task, n), **opts)


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
    for f in summary.files:
        if f.status == "skipped":
            out(f"  {f.path}: {f.note}")
    for f in ingested:
        if f.note:
            out(f"  {f.path}: {f.note}")
    if summary.failed:
        out(f"  failed: {len(summary.failed)} file(s) (see errors above)")
    if summary.checkpoint:
        cp = summary.checkpoint
        out(f"  signed checkpoint #{cp.id}: {cp.tree_size:,} events, root {cp.root[:16]}…")
