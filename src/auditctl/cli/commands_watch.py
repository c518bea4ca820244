"""`auditctl watch`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from auditctl.cli.common import SigmaOpt, announce_skipped, err, handles_errors, state, warn
from auditctl.cli.guard import guarded
from auditctl.cli.output import DocFormat, Format, default_format, render_rows
from auditctl.detect.ruleset import active_rules
from auditctl.errors import UsageError
from auditctl.ingest.discovery import load_registry
from auditctl.integrity import keys
from auditctl.live.alerts import Sink, parse_sink
from auditctl.live.collection import read_status, status_path
from auditctl.live.listener import parse_listen
from auditctl.live.watch import Watcher


@handles_errors
@guarded("watch")
def watch(
    paths: Annotated[list[str] | None, typer.Argument(help="Files, directories or globs to follow.", show_default=False)] = None,
    listen: Annotated[list[str] | None, typer.Option("--listen", help="Receive syslog: tls://HOST[:PORT] (RFC 5425, default port 6514; certificates in the config's listen.tls), or plain udp://HOST:PORT, tcp://HOST:PORT (repeatable; the address is explicit).", show_default=False)] = None,
    alert: Annotated[list[str] | None, typer.Option("--alert", help="Alert sink (repeatable): stdout, stdout:json, jsonl:FILE, webhook:URL, slack:URL, syslog:udp://HOST:PORT, exec:COMMAND.", show_default=False)] = None,
    rules: Annotated[list[Path] | None, typer.Option("--rules", "-r", help="Extra rule files or directories.", show_default=False)] = None,
    sigma: SigmaOpt = None,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Seconds between cycles (each cycle stores, signs and checks what is new).")] = 0.5,
    cycles: Annotated[int | None, typer.Option("--cycles", min=1, help="Stop after this many cycles (for tests and one-shot runs).", show_default=False)] = None,
    status: Annotated[bool, typer.Option("--status", help="Print what the running watch's listeners received, refused and dropped (its status file), and exit.")] = False,
    fmt: Annotated[DocFormat | None, typer.Option("--format", "-f", help="With --status: table (default on a terminal) or json.", show_default=False)] = None,
) -> None:
    """Follow logs like tail -F (and/or receive syslog), store and sign new events, and alert on findings."""
    cfg = state().config
    if status:
        _print_status(status_path(cfg), fmt)
        return
    if not paths and not listen:
        raise UsageError("give files or directories to follow, or --listen")
    sink_specs: list = list(cfg.alert_sinks) + list(alert or [])
    sinks = [Sink(parse_sink(s)) for s in sink_specs] or [Sink(parse_sink("stdout"))]
    addresses = [parse_listen(spec) for spec in listen or []]
    active = active_rules(cfg, rules, sigma=sigma or ())
    announce_skipped(active)
    watcher = Watcher(cfg, load_registry(cfg.parsers_dirs), list(paths or []), active.rules, sinks,
                      keys.signing_key(cfg, warn), addresses, interval=interval,
                      log=lambda message: err.print(message, highlight=False, soft_wrap=True))
    watcher.install_signal_handlers()
    err.print(f"watching {len(paths or [])} path(s), {len(addresses)} listener(s); alerts to "
              f"{', '.join(s.config.name for s in sinks)}; Ctrl-C stops", highlight=False)
    watcher.run(max_cycles=cycles)
    s = watcher.stats
    err.print(f"stopped after {s['cycles']} cycles: {s['events']:,} events stored, {s['alerts']} alerts", highlight=False)


STATUS_COLUMNS = ["listener", "senders", "messages", "bytes", "stored", "host_mismatches", "truncated", "refused",
                  "tls_failures", "dropped", "throttled", "paused", "open_connections", "backlog"]


def _print_status(path: Path, fmt: DocFormat | None) -> None:
    doc = read_status(path)
    if (fmt or default_format()) != Format.TABLE:
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    running = {True: "running", False: "NOT RUNNING", None: "on another host"}[doc["running"]]
    spool = doc["spool"]
    typer.echo(f"watch pid {doc['pid']} ({running}), started {doc['started'][:19]}, updated {doc['updated'][:19]} UTC; "
               f"spool {spool['bytes']:,} of {spool['max_bytes']:,} bytes, backlog {spool['backlog']:,}")
    render_rows(doc["listeners"], Format.TABLE, columns=STATUS_COLUMNS)
    for listener in doc["listeners"]:
        for line in _details(listener):
            typer.echo(f"{listener['listener']}: {line}")


def _details(listener: dict[str, Any]) -> list[str]:
    out = []
    if listener["top_senders"]:
        out.append("senders " + ", ".join(f"{a} ({n:,})" for a, n in listener["top_senders"].items()))
    if listener["identities"]:
        out.append("certificates " + ", ".join(f"{a} ({n:,})" for a, n in listener["identities"].items()))
    if listener["tls_failure_reasons"]:
        out.append("TLS failures: " + ", ".join(f"{r} ({n:,})" for r, n in listener["tls_failure_reasons"].items()))
    drops = {k: listener[k] for k in ("dropped_rate", "dropped_full", "dropped_kernel") if listener[k]}
    if drops:
        out.append("dropped: " + ", ".join(f"{k.removeprefix('dropped_')} {n:,}" for k, n in drops.items()))
    return out


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)
