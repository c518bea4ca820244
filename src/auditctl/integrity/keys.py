"""The signing key as configured: loading (or creating) it, publishing its public half, finding
a verifier key, and signing what a command stored. Notes for the user go to `warn`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from auditctl.config import Config
from auditctl.errors import AuditctlError
from auditctl.files import atomic_write_text
from auditctl.integrity.signing import SigningKey, VerifierKey, key_permission_problem, load_or_create_key
from auditctl.integrity.verify import Checkpoint, make_checkpoint
from auditctl.store import Store

Warn = Callable[[str], None]


def signing_key(cfg: Config, warn: Warn) -> SigningKey:
    key, created = load_or_create_key(cfg.signing_key, cfg.key_name)
    if created:
        warn(f"created a new signing key at {cfg.signing_key} (mode 0600); give auditors its public key "
             "(`auditctl keys show`)")
    problem = None if cfg.access.enabled else key_permission_problem(cfg.signing_key)  # else fileperms warns
    if problem:
        warn(problem)
    publish_verifier(key, cfg.verifier_key_path, warn)
    return key


def publish_verifier(key: SigningKey, path: Path, warn: Warn) -> None:
    """Keep `<db>.pub` current, so auditors can verify without the private key."""
    text = key.verifier.encode() + "\n"
    try:
        if path.exists() and path.read_text() == text:
            return
        atomic_write_text(path, text, mode=0o640)
    except OSError as exc:
        warn(f"cannot write the public key to {path}: {exc.strerror or exc}")


def verifier_key(cfg: Config, key_text: str | None = None) -> VerifierKey:
    """The key given (a file or the key itself), else the signing key's public half, else `<db>.pub`."""
    if key_text:
        text = Path(key_text).read_text().strip() if Path(key_text).is_file() else key_text
        return VerifierKey.decode(text)
    if os.access(cfg.signing_key, os.R_OK):
        return load_or_create_key(cfg.signing_key, cfg.key_name)[0].verifier
    if cfg.verifier_key_path.exists():
        return VerifierKey.decode(cfg.verifier_key_path.read_text().strip())
    raise AuditctlError(f"no signing key at {cfg.signing_key} and no public key at {cfg.verifier_key_path}: "
                        "pass the public key with --key (from `auditctl keys show` on the machine that signs)")


def sign_stored(store: Store, key: SigningKey, cfg: Config, warn: Warn, adopted_upto: int = 0) -> Checkpoint:
    """Sign what this command stored; `adopted_upto` is the log's last seq before it wrote."""
    cp, _ = make_checkpoint(store, key, cfg.checkpoints_path, adopted_upto=adopted_upto)
    note = adopted_note(cp)
    if note:
        warn(note)
    return cp


def adopted_note(cp: Checkpoint) -> str | None:
    if not cp.adopted:
        return None
    first, last = cp.adopted
    return (f"signing {last - first + 1} events (seq {first}..{last}) stored by an earlier run that did not "
            f"sign them (it stopped before signing); checkpoint #{cp.id} records this")
