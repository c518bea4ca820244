"""Settings: YAML at AUDITCTL_CONFIG or ~/.config/auditctl/config.yaml; every key has a default."""

from __future__ import annotations

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
          "memory_limit"}


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
