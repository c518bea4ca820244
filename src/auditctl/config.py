"""Settings: YAML at AUDITCTL_CONFIG or ~/.config/auditctl/config.yaml; every key has a default."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditctl.errors import ConfigError
from auditctl.roles import AccessPolicy, parse_access

CONFIG_ENV = "AUDITCTL_CONFIG"
DB_ENV = "AUDITCTL_DB"


def xdg_dir(kind: str, default: str) -> Path:
    base = os.environ.get(f"XDG_{kind}_HOME")
    return Path(base) if base else Path.home() / default


def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or xdg_dir("CONFIG", ".config") / "auditctl" / "config.yaml")


LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")


@dataclass
class TlsSettings:
    """`listen.tls`: the certificate `tls://` listeners present, and what they ask of senders."""

    cert: Path | None = None  # server certificate (PEM, chain after it)
    key: Path | None = None  # its private key (PEM)
    client_ca: Path | None = None  # CA bundle client certificates must chain to: mutual TLS
    require_client_cert: bool | None = None  # default: true when client_ca is set
    min_version: str = "1.2"  # "1.2" or "1.3"
    check_host: bool = True  # the syslog header's host must be a name of the client certificate
    host_names: dict[str, list[str]] = field(default_factory=dict)  # cert CN/SAN/sha256:FP -> more names
    senders: list[str] = field(default_factory=list)  # networks allowed to connect; empty = any
    handshake_timeout: float = 10.0

    @property
    def mutual(self) -> bool:
        return self.client_ca is not None and self.require_client_cert is not False


@dataclass
class ListenSettings:
    """`listen`: limits of the syslog receiver (`watch --listen`)."""

    max_message_bytes: int = 64 * 1024  # longer messages are stored cut to this, flagged with their length
    spool_max_bytes: int = 512 << 20  # the spool on disk, all listeners; at the cap sockets are not read
    rate_per_sender: int = 10_000  # messages/s per TCP/TLS connection or UDP source address; 0 = no limit
    rate_total: int = 50_000  # messages/s per listener; 0 = no limit
    max_connections: int = 1000  # open TCP/TLS connections per listener
    plain_senders: list[str] = field(default_factory=lambda: list(LOOPBACK_NETWORKS))  # udp:// and tcp://
    tls: TlsSettings = field(default_factory=TlsSettings)


@dataclass
class Config:
    db: Path = field(default_factory=lambda: xdg_dir("DATA", ".local/share") / "auditctl" / "audit.duckdb")
    timezone: str = "UTC"  # zone of syslog stamps that carry none
    parsers_dirs: list[str] = field(default_factory=list)
    parser_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch_size: int = 122_880  # one DuckDB row group
    workers: int = 0  # parse processes for large files; 0 = one per CPU
    lock_wait_seconds: float = 5.0
    memory_limit: str | None = "1GB"  # DuckDB's memory for one command (it spills beyond); null = 80% of RAM
    signing_key: Path = field(default_factory=lambda: xdg_dir("DATA", ".local/share") / "auditctl" / "signing.key")
    key_name: str = field(default_factory=lambda: f"auditctl@{socket.gethostname()}")
    checkpoint_file: Path | None = None  # default: beside the database, <db>.checkpoints
    rules_dirs: list[str] = field(default_factory=list)
    disabled_rules: list[str] = field(default_factory=list)
    rule_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    sigma: list[str] = field(default_factory=list)  # Sigma rule files/folders; "bundled" = the shipped set
    alert_sinks: list[dict[str, Any]] = field(default_factory=list)
    retention: dict[str, Any] = field(default_factory=dict)
    archive_dir: Path | None = None  # default: beside the database, <db>.archive
    access: AccessPolicy = field(default_factory=AccessPolicy)
    listen: ListenSettings = field(default_factory=ListenSettings)
    source_path: Path | None = None

    @property
    def sealing_key_path(self) -> Path:
        return self.access.sealing_key or self.signing_key.with_name("sealing.key")

    @property
    def sealed_store_path(self) -> Path:
        return self.db.with_name(self.db.name + ".sealed")

    @property
    def verifier_key_path(self) -> Path:
        """The public key, beside the database, for readers who may not read the signing key."""
        return self.db.with_name(self.db.name + ".pub")

    @property
    def self_audit_spool(self) -> Path:
        return self.db.with_name(self.db.name + ".access-spool")

    @property
    def checkpoints_path(self) -> Path:
        return self.checkpoint_file or self.db.with_name(self.db.name + ".checkpoints")

    def options_for(self, parser: str) -> dict[str, Any]:
        return dict(self.parser_options.get(parser, {}))


_KNOWN = {"sigma", "db", "timezone", "parsers_dirs", "parsers", "batch_size", "workers", "lock_wait_seconds",
          "signing_key", "key_name", "checkpoint_file", "rules", "alerts", "retention", "access",
          "memory_limit", "listen"}


def load_config(path: Path | None = None, *, db_override: str | Path | None = None) -> Config:
    cfg_path = path or default_config_path()
    data: dict[str, Any] = {}
    if cfg_path.exists():
        try:
            loaded = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{cfg_path}: cannot read config: {str(exc).splitlines()[0]}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{cfg_path}: config must be a mapping of settings")
        data = loaded or {}
    unknown = set(data) - _KNOWN
    if unknown:
        raise ConfigError(f"{cfg_path}: unknown setting(s): {', '.join(sorted(unknown))}")
    cfg = Config(source_path=cfg_path if cfg_path.exists() else None)
    if "db" in data:
        cfg.db = Path(str(data["db"])).expanduser()
    cfg.timezone = str(data.get("timezone", cfg.timezone))
    dirs = data.get("parsers_dirs", [])
    if not isinstance(dirs, list):
        raise ConfigError(f"{cfg_path}: parsers_dirs must be a list of directories")
    cfg.parsers_dirs = [str(d) for d in dirs]
    options = data.get("parsers", {}) or {}
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise ConfigError(f"{cfg_path}: parsers must map a parser name to its options")
    cfg.parser_options = options
    for key in ("batch_size", "workers"):
        if key in data:
            cfg.__setattr__(key, _int(cfg_path, key, data[key]))
    for key in ("signing_key", "checkpoint_file"):
        if data.get(key):
            setattr(cfg, key, Path(str(data[key])).expanduser())
    if data.get("key_name"):
        cfg.key_name = str(data["key_name"])
    rules = data.get("rules") or {}
    if not isinstance(rules, dict) or set(rules) - {"dirs", "disabled", "overrides"}:
        raise ConfigError(f"{cfg_path}: rules takes dirs, disabled and overrides")
    cfg.rules_dirs = [str(d) for d in rules.get("dirs") or []]
    cfg.disabled_rules = [str(d) for d in rules.get("disabled") or []]
    overrides = rules.get("overrides") or {}
    if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
        raise ConfigError(f"{cfg_path}: rules.overrides maps a rule id to the fields to change")
    cfg.rule_overrides = overrides
    sigma = data.get("sigma") or []
    if isinstance(sigma, str):
        sigma = [sigma]
    if not isinstance(sigma, list) or not all(isinstance(p, str) for p in sigma):
        raise ConfigError(f"{cfg_path}: sigma is a list of Sigma rule files or folders (or \"bundled\")")
    cfg.sigma = list(sigma)
    retention = data.get("retention") or {}
    if not isinstance(retention, dict):
        raise ConfigError(f"{cfg_path}: retention is a mapping (default, policies, legal_hold, archive_dir)")
    cfg.retention = retention
    if retention.get("archive_dir"):
        cfg.archive_dir = Path(str(retention["archive_dir"])).expanduser()
    alerts = data.get("alerts") or []
    if not isinstance(alerts, list) or not all(isinstance(a, dict) for a in alerts):
        raise ConfigError(f"{cfg_path}: alerts is a list of sinks (mappings with kind, target, ...)")
    cfg.alert_sinks = alerts
    cfg.access = parse_access(data.get("access"), cfg_path)
    cfg.listen = parse_listen_settings(data.get("listen"), cfg_path)
    if "memory_limit" in data:
        cfg.memory_limit = str(data["memory_limit"]) if data["memory_limit"] else None
    if "lock_wait_seconds" in data:
        cfg.lock_wait_seconds = float(data["lock_wait_seconds"])
    env_db = os.environ.get(DB_ENV)
    if db_override:
        cfg.db = Path(db_override).expanduser()
    elif env_db:
        cfg.db = Path(env_db).expanduser()
    return cfg


def _int(path: Path, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{path}: {key} must be a non-negative integer")
    return value


_LISTEN_KEYS = {"max_message_bytes", "spool_max_bytes", "rate_per_sender", "rate_total", "max_connections",
                "plain_senders", "tls"}
_TLS_KEYS = {"cert", "key", "client_ca", "require_client_cert", "min_version", "check_host", "host_names",
             "senders", "handshake_timeout"}
MIN_SPOOL_BYTES = 1 << 20


def _check_section(data: Any, origin: Path, name: str, keys: set[str]) -> None:
    """A config section is a mapping of known keys: anything else is one line naming it."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: {name} is a mapping ({', '.join(sorted(keys))})")
    unknown = set(data) - keys
    if unknown:
        raise ConfigError(f"{origin}: {name}: unknown setting(s): {', '.join(sorted(unknown))}")


def parse_listen_settings(data: Any, origin: Path) -> ListenSettings:
    """The `listen` section (every key optional)."""
    out = ListenSettings()
    if data is None:
        return out
    _check_section(data, origin, "listen", _LISTEN_KEYS)
    for key in ("max_message_bytes", "spool_max_bytes", "rate_per_sender", "rate_total", "max_connections"):
        if key in data:
            setattr(out, key, _int(origin, f"listen.{key}", data[key]))
    if out.max_message_bytes < 480:  # RFC 5426: every receiver takes 480-octet messages
        raise ConfigError(f"{origin}: listen.max_message_bytes must be at least 480")
    if out.spool_max_bytes < max(MIN_SPOOL_BYTES, 16 * out.max_message_bytes):
        raise ConfigError(f"{origin}: listen.spool_max_bytes must be at least 1 MiB and 16 times "
                          "listen.max_message_bytes")
    if out.max_connections < 1:
        raise ConfigError(f"{origin}: listen.max_connections must be at least 1")
    if "plain_senders" in data:
        out.plain_senders = _networks(origin, "listen.plain_senders", data["plain_senders"])
    out.tls = _tls_settings(data.get("tls"), origin)
    return out


def _tls_settings(data: Any, origin: Path) -> TlsSettings:
    out = TlsSettings()
    if data is None:
        return out
    _check_section(data, origin, "listen.tls", _TLS_KEYS)
    for key in ("cert", "key", "client_ca"):
        if data.get(key):
            setattr(out, key, Path(str(data[key])).expanduser())
    for key in ("require_client_cert", "check_host"):
        if key in data and data[key] is not None:
            if not isinstance(data[key], bool):
                raise ConfigError(f"{origin}: listen.tls.{key} is true or false")
            setattr(out, key, data[key])
    if out.require_client_cert and out.client_ca is None:
        raise ConfigError(f"{origin}: listen.tls.require_client_cert needs listen.tls.client_ca (the CA bundle "
                          "client certificates are checked against)")
    version = str(data.get("min_version", out.min_version)).removeprefix("TLSv")
    if version not in ("1.2", "1.3"):
        raise ConfigError(f"{origin}: listen.tls.min_version is 1.2 or 1.3 (older TLS is never accepted)")
    out.min_version = version
    names = data.get("host_names") or {}
    if not isinstance(names, dict) or not all(isinstance(v, list) and all(isinstance(n, str) for n in v)
                                              for v in names.values()):
        raise ConfigError(f"{origin}: listen.tls.host_names maps a certificate's CN, SAN or sha256:FINGERPRINT "
                          "to a list of host names (patterns with * allowed) it may write as")
    out.host_names = {str(k): list(v) for k, v in names.items()}
    if "senders" in data:
        out.senders = _networks(origin, "listen.tls.senders", data["senders"])
    if "handshake_timeout" in data:
        try:
            out.handshake_timeout = float(data["handshake_timeout"])
        except (TypeError, ValueError):
            raise ConfigError(f"{origin}: listen.tls.handshake_timeout is a number of seconds") from None
        if out.handshake_timeout <= 0:
            raise ConfigError(f"{origin}: listen.tls.handshake_timeout must be positive")
    return out


def _networks(origin: Path, key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"{origin}: {key} is a list of networks (10.0.0.0/8, 192.0.2.7, ::1/128)")
    out = []
    for item in value:
        try:
            out.append(str(ipaddress.ip_network(str(item), strict=False)))
        except ValueError:
            raise ConfigError(f"{origin}: {key}: {item!r} is not an address or network") from None
    return out
