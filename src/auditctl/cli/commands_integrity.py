"""`auditctl checkpoint`, `auditctl verify`, `auditctl keys show`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from auditctl.access.sealing import load_sealing_key
from auditctl.cli.common import handles_errors, state, warn
from auditctl.cli.guard import guarded, reader, writer
from auditctl.cli.output import DocFormat, Format, default_format, render_rows
from auditctl.config import Config
from auditctl.errors import ExitCode, UsageError
from auditctl.files import atomic_write_text
from auditctl.integrity import keys
from auditctl.integrity.signing import VerifierKey
from auditctl.integrity.verify import (
    VerifyReport,
    make_checkpoint,
    verify,
    verify_against,
    verify_sealed,
    verify_sources,
)
from auditctl.store import Store

keys_app = typer.Typer(help="The Ed25519 key that signs checkpoints.", no_args_is_help=True)


@handles_errors
@guarded("checkpoint")
def checkpoint(
    out: Annotated[Path | None, typer.Option("--output", "--out", "-o", help="Also write the latest checkpoint to this file (atomically), to keep off the machine.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="note (C2SP signed note, the default) or json.")] = "note",
) -> None:
    """Sign a checkpoint over every stored event (if new ones arrived) and print the latest."""
    if fmt not in ("note", "json"):
        raise UsageError("--format: choose note or json")
    cfg = state().config
    with writer() as store:
        # an explicit `checkpoint` writes nothing itself: whatever it signs, an earlier run stored
        cp, new = make_checkpoint(store, keys.signing_key(cfg, warn), cfg.checkpoints_path,
                                  adopted_upto=store.end_before_own_writes())
    note = keys.adopted_note(cp) if new else None
    if note:
        warn(note)
    text = cp.note if fmt == "note" else orjson.dumps(cp.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n"
    if out:
        atomic_write_text(out, text)
    sys.stdout.write(text)
    if not new:
        typer.echo(f"(no new events since checkpoint #{cp.id})", err=True)


@handles_errors
@guarded("verify")
def verify_cmd(
    checkpoint_file: Annotated[Path | None, typer.Option("--checkpoint", "-c", help="An exported checkpoint (note or JSON): prove the log is an append-only extension of it.", show_default=False)] = None,
    sources: Annotated[bool, typer.Option("--sources", help="Re-hash the original log files still on disk against the SHA-256 recorded at ingest.")] = False,
    key: Annotated[str | None, typer.Option("--key", help="Verifier key (name+id+base64, or a file holding it) instead of the local signing key.", show_default=False)] = None,
    fmt: Annotated[DocFormat | None, typer.Option("--format", "-f", help="table (default on a terminal) or json.", show_default=False)] = None,
) -> None:
    """Check that no stored event was changed, deleted, inserted or reordered since it was signed.

    Exit code 0 when intact, 4 when not.
    """
    cfg = state().config
    fmt = DocFormat.TABLE if (fmt or default_format()) == Format.TABLE else DocFormat.JSON
    with reader() as store:
        if sources:
            _verify_sources(store, fmt)
            return
        verifier = keys.verifier_key(cfg, key)
        if checkpoint_file is not None:
            _verify_checkpoint(store, verifier, checkpoint_file, fmt)
            return
        report = verify(store, verifier, cfg.checkpoints_path)
        sealed_note = _verify_sealed(store, cfg, report)
    if fmt in (Format.JSON, Format.JSONL):
        sys.stdout.write(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        latest = report.latest
        signed = (f"latest checkpoint #{latest.id}: {latest.tree_size} events, root {latest.root}, "
                  f"{latest.created_at:%Y-%m-%d %H:%M:%S} UTC" if latest else "no checkpoint yet")
        if report.intact:
            typer.echo(f"intact: {report.events:,} events, {report.checkpoints_checked} signed checkpoint(s) "
                       f"verified in {report.seconds:.2f} s; {signed}")
            if sealed_note:
                typer.echo(sealed_note)
        else:
            rows = [p.to_json() for p in report.problems]
            render_rows(rows, Format(fmt),
                        columns=["kind", "seq", "ts", "source", "line", "message"],
                        title=f"NOT INTACT: {len(rows)} problem(s) in {report.events:,} events")
            typer.echo(signed)
        for note in report.notes:
            typer.echo(f"note: {note}")
    if not report.intact:
        raise typer.Exit(int(ExitCode.INTEGRITY))


def _verify_sealed(store: Store, cfg: Config, report: VerifyReport) -> str | None:
    """Admins: the sealed plaintext must match the signed tokens. Others cannot read it."""
    if not store.sealed_fields or not os.access(cfg.sealing_key_path, os.R_OK):
        return None
    checked, problems = verify_sealed(store, load_sealing_key(cfg.sealing_key_path, create=False)[0])
    report.problems.extend(problems)
    return f"sealed fields: {checked:,} values match their signed tokens" if not problems else None


def _verify_checkpoint(store: Store, verifier: VerifierKey, path: Path, fmt: DocFormat) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--checkpoint {path}: {exc.strerror or exc}") from None
    result = verify_against(store, verifier, text)
    if fmt in (Format.JSON, Format.JSONL):
        sys.stdout.write(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        typer.echo(("consistent: " if result.consistent else "NOT CONSISTENT: ") + result.message)
    if not result.consistent:
        raise typer.Exit(int(ExitCode.INTEGRITY))


def _verify_sources(store: Store, fmt: DocFormat) -> None:
    statuses = verify_sources(store)
    rows = [{"status": s.status, "path": s.path, "detail": s.detail} for s in statuses]
    render_rows(rows, Format(fmt), columns=["status", "path", "detail"] if fmt == Format.TABLE else None,
                title="original log files")
    if any(s.bad for s in statuses):
        raise typer.Exit(int(ExitCode.INTEGRITY))


@keys_app.command("show")
@handles_errors
@guarded("keys show")
def keys_show(
    fmt: Annotated[DocFormat | None, typer.Option("--format", "-f", help="table (default on a terminal) or json.", show_default=False)] = None,
) -> None:
    """Print the public key auditors need to verify checkpoints (created on first use)."""
    cfg = state().config
    private = os.access(cfg.signing_key, os.R_OK) or not cfg.signing_key.exists()
    v = keys.signing_key(cfg, warn).verifier if private else keys.verifier_key(cfg)
    doc = {"name": v.name, "key_id": v.id.hex(), "verifier_key": v.encode(), "public_key_pem": v.pem(),
           "private_key_path": str(cfg.signing_key)}
    if (fmt or default_format()) in (Format.JSON, Format.JSONL):
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    typer.echo(f"verifier key (give this to auditors; `auditctl verify --key ...`):\n{v.encode()}\n")
    typer.echo(v.pem().rstrip())
    typer.echo(f"\nprivate key: {cfg.signing_key} (keep it off backups that others can read)")


def register(app: typer.Typer) -> None:
    app.command("checkpoint")(checkpoint)
    app.command("verify")(verify_cmd)
    app.add_typer(keys_app, name="keys")
