"""Ed25519 signing keys and C2SP signed notes (the format of transparency-log checkpoints).

A note is UTF-8 text: the body, a blank line, and signature lines `— <key name> <base64>`,
where the base64 holds a 4-byte key id then the 64-byte Ed25519 signature of the body. The
key id is the first 4 bytes of SHA-256(name || "\\n" || 0x01 || public key). A verifier key is
written `<name>+<key id hex>+<base64(0x01 || public key)>`. See c2sp.org/signed-note.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auditctl.errors import AuditctlError

ED25519 = b"\x01"
SIG_PREFIX = "\u2014 "  # em dash and a space


class SignatureError(AuditctlError):
    pass


def key_id(name: str, public_raw: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_raw).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    name: str
    public: Ed25519PublicKey

    @property
    def raw(self) -> bytes:
        return self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.raw)

    def encode(self) -> str:
        return f"{self.name}+{self.id.hex()}+{base64.b64encode(ED25519 + self.raw).decode()}"

    def pem(self) -> str:
        return self.public.public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    @classmethod
    def decode(cls, text: str) -> VerifierKey:
        """From `name+id+base64` (as `auditctl keys show` prints it)."""
        try:
            name, hex_id, b64 = text.strip().split("+", 2)  # base64 may contain "+", names may not
            blob = base64.b64decode(b64, validate=True)
            if blob[:1] != ED25519 or len(blob) != 33:
                raise ValueError("not an Ed25519 key")
            key = cls(name, Ed25519PublicKey.from_public_bytes(blob[1:]))
        except (ValueError, TypeError) as exc:
            raise SignatureError(f"cannot read verifier key: {exc}") from None
        if key.id.hex() != hex_id:
            raise SignatureError("verifier key id does not match its name and key")
        return key


@dataclass(frozen=True)
class SigningKey:
    name: str
    private: Ed25519PrivateKey
    path: Path

    @property
    def verifier(self) -> VerifierKey:
        return VerifierKey(self.name, self.private.public_key())

    def sign_note(self, body: str) -> str:
        if not body.endswith("\n"):
            raise ValueError("a note body ends with a newline")
        signature = self.private.sign(body.encode())
        blob = base64.b64encode(self.verifier.id + signature).decode()
        return f"{body}\n{SIG_PREFIX}{self.name} {blob}\n"


def load_or_create_key(path: Path, name: str) -> tuple[SigningKey, bool]:
    """The signing key at `path`, created (mode 0600) on first use. Returns (key, created)."""
    if not name or "+" in name or any(c.isspace() for c in name):
        raise AuditctlError(f"key name {name!r}: must be non-empty, without spaces or '+'")
    created = False
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_or_create_key(path, name)  # another process created it first
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        created = True
    return SigningKey(name, _read_private(path), path), created


def _read_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise AuditctlError(f"{path}: cannot read the signing key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditctlError(f"{path}: not an Ed25519 private key")
    return key


def key_permission_problem(path: Path) -> str | None:
    """A warning when the key file can be read by anyone but its owner."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return f"{path} is readable by others (mode {mode:04o}); run: chmod 600 {path}"
    return None


@dataclass(frozen=True)
class Note:
    body: str
    signatures: list[tuple[str, bytes, bytes]]  # (name, key id, signature)

    def verify(self, key: VerifierKey) -> bool:
        """True when a signature by `key` (same name and id) is valid for the body."""
        for name, kid, sig in self.signatures:
            if name == key.name and kid == key.id:
                try:
                    key.public.verify(sig, self.body.encode())
                    return True
                except InvalidSignature:
                    return False
        return False

    def signer_ids(self) -> list[str]:
        return [f"{name}+{kid.hex()}" for name, kid, _ in self.signatures]


def parse_note(text: str) -> Note:
    body, sep, sigs = text.rpartition("\n\n")
    if not sep:
        raise SignatureError("not a signed note: no blank line before the signatures")
    signatures = []
    for line in sigs.splitlines():
        if not line.startswith(SIG_PREFIX):
            raise SignatureError(f"malformed signature line: {line[:40]!r}")
        name, _, b64 = line[len(SIG_PREFIX):].rpartition(" ")
        try:
            blob = base64.b64decode(b64, validate=True)
        except ValueError:
            raise SignatureError("malformed signature: not base64") from None
        if len(blob) != 4 + 64:
            raise SignatureError("malformed signature: wrong length")
        signatures.append((name, blob[:4], blob[4:]))
    if not signatures:
        raise SignatureError("not a signed note: no signatures")
    return Note(body + "\n", signatures)
