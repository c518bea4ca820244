"""TLS for the syslog receiver (RFC 5425), with the standard library's `ssl` only.

The server presents `listen.tls.cert`/`key` and accepts TLS 1.2 or newer (`min_version` may
raise it to 1.3). With `client_ca` set, a client must present a certificate that chains to it
(mutual TLS; `require_client_cert: false` makes it optional). What the certificate says (subject
CN, SANs, issuer, SHA-256 fingerprint) is recorded with every message of the connection, and the
host names it may write as (CN, SANs, and `host_names` entries for it) go along for the host
check.
"""

from __future__ import annotations

import hashlib
import ssl
from typing import Any

from auditctl.config import TlsSettings
from auditctl.errors import UsageError

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def server_context(settings: TlsSettings) -> ssl.SSLContext:
    if settings.cert is None or settings.key is None:
        raise UsageError("--listen tls://: set listen.tls.cert and listen.tls.key in the config "
                         "(the server's certificate and private key, PEM)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _VERSIONS[settings.min_version]
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    try:
        ctx.load_cert_chain(str(settings.cert), str(settings.key))
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"listen.tls: cannot load the certificate {settings.cert} and key {settings.key}: "
                         f"{exc.strerror or exc}") from None
    if settings.client_ca is not None:
        try:
            ctx.load_verify_locations(cafile=str(settings.client_ca))
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"listen.tls.client_ca: cannot load {settings.client_ca}: {exc.strerror or exc}") from None
        ctx.verify_mode = ssl.CERT_REQUIRED if settings.require_client_cert is not False else ssl.CERT_OPTIONAL
    return ctx


def _name(rdns: Any, key: str) -> str | None:
    for rdn in rdns or ():
        for k, v in rdn:
            if k == key:
                return str(v)
    return None


_SAN_KIND = {"DNS": "DNS", "IP Address": "IP", "URI": "URI", "email": "email"}


def peer_identity(sock: ssl.SSLSocket) -> dict[str, Any]:
    """The TLS version and, when the client presented a (verified) certificate, what it says."""
    out: dict[str, Any] = {"version": sock.version()}
    der = sock.getpeercert(binary_form=True)
    cert = sock.getpeercert()
    if not der or not cert:
        return out
    out["cn"] = _name(cert.get("subject"), "commonName")
    sans: Any = cert.get("subjectAltName", ())
    out["san"] = [f"{_SAN_KIND.get(kind, kind)}:{value}" for kind, value in sans]
    out["issuer"] = _name(cert.get("issuer"), "commonName")
    out["serial"] = cert.get("serialNumber")
    out["fingerprint"] = "sha256:" + hashlib.sha256(der).hexdigest()
    return out


def _key(key: str) -> str:
    """A `host_names` key as compared: names in lower case; `sha256:` fingerprints as lower-case
    hex without the colons `openssl x509 -fingerprint` prints."""
    key = key.strip().lower()
    if key.startswith("sha256:"):
        return "sha256:" + key[7:].replace(":", "")
    return key


def allowed_names(identity: dict[str, Any], settings: TlsSettings) -> list[str] | None:
    """The host names a certificate's holder may put in a syslog header: its CN, DNS and IP
    SANs, and the `host_names` entries keyed by any of those or its fingerprint. None when no
    check applies (no certificate, or check_host off)."""
    if not settings.check_host or "fingerprint" not in identity:
        return None
    own = [identity["cn"]] if identity.get("cn") else []
    own += [san.split(":", 1)[1] for san in identity.get("san", ()) if san.startswith(("DNS:", "IP:"))]
    keys = {k.lower() for k in own} | {identity["fingerprint"]}
    extra = [n for key, names in settings.host_names.items() if _key(key) in keys for n in names]
    return list(dict.fromkeys(own + extra))
