"""Alert sinks for `auditctl watch`: stdout, a JSONL file, a webhook, syslog, a command.

A sink is configured in YAML (`alerts:` in config) or with `--alert KIND[:TARGET]`:

    stdout | stdout:json | jsonl:/var/log/auditctl/alerts.jsonl | webhook:http://127.0.0.1:8080/hook
    slack:https://hooks.example/...  (webhook with a Slack-compatible body) | syslog:udp://127.0.0.1:514
    exec:/usr/local/bin/page-oncall   (the alert as JSON on stdin)

Each sink has routing (`min_severity`, `rules` as id globs) and a rate limit
(`rate_limit` alerts per minute for each severity, so a flood of medium findings never holds
back a high one; the excess is counted and reported in the next alert that gets through). Deduplication comes first, from the findings themselves: a new finding alerts
once; a finding that keeps growing alerts again only after its rule's cooldown, with its count.
"""

from __future__ import annotations

import fnmatch
import json
import logging.handlers
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from auditctl.detect.rules import SEVERITIES, severity_rank
from auditctl.errors import ConfigError

KINDS = ("stdout", "jsonl", "webhook", "slack", "syslog", "exec")


@dataclass
class SinkConfig:
    kind: str
    target: str = ""
    format: str = "table"  # stdout: table | json
    min_severity: str = "info"
    rules: tuple[str, ...] = ("*",)
    rate_limit: int = 60  # alerts per minute
    timeout: float = 5.0
    retries: int = 3
    name: str = ""

    def accepts(self, alert: dict[str, Any]) -> bool:
        return (severity_rank(alert["severity"]) >= severity_rank(self.min_severity)
                and any(fnmatch.fnmatchcase(alert["rule"], pattern) for pattern in self.rules))


def parse_sink(spec: str | dict[str, Any]) -> SinkConfig:
    """`--alert` text or a config mapping to a SinkConfig; errors name the sink and field."""
    if isinstance(spec, str):
        kind, _, target = spec.partition(":")
        data: dict[str, Any] = {"kind": kind, "target": target}
        if kind == "stdout" and target in ("json", "table"):
            data = {"kind": "stdout", "format": target}
    else:
        data = dict(spec)
    kind = str(data.get("kind", ""))
    label = data.get("name") or (spec if isinstance(spec, str) else kind)
    if kind not in KINDS:
        raise ConfigError(f"alert sink {label!r}: kind: choose one of {', '.join(KINDS)}")
    unknown = set(data) - {"kind", "target", "format", "min_severity", "rules", "rate_limit", "timeout", "retries", "name"}
    if unknown:
        raise ConfigError(f"alert sink {label!r}: unknown field {sorted(unknown)[0]!r}")
    target = str(data.get("target") or "")
    if kind in ("jsonl", "webhook", "slack", "exec", "syslog") and not target:
        raise ConfigError(f"alert sink {label!r}: target: {kind} needs one (e.g. {kind}:...)")
    if kind in ("webhook", "slack") and urlparse(target).scheme not in ("http", "https"):
        raise ConfigError(f"alert sink {label!r}: target: {target!r} is not an http(s) URL")
    if kind == "syslog" and urlparse(target).scheme not in ("udp", "tcp", "unix"):
        raise ConfigError(f"alert sink {label!r}: target: use udp://host:port, tcp://host:port or unix:///dev/log")
    severity = str(data.get("min_severity", "info"))
    if severity not in SEVERITIES:
        raise ConfigError(f"alert sink {label!r}: min_severity: choose one of {', '.join(SEVERITIES)}")
    rules = data.get("rules", ["*"])
    rules = [rules] if isinstance(rules, str) else rules
    return SinkConfig(kind=kind, target=target, format=str(data.get("format", "table")), min_severity=severity,
                      rules=tuple(str(r) for r in rules), rate_limit=int(data.get("rate_limit", 60)),
                      timeout=float(data.get("timeout", 5.0)), retries=int(data.get("retries", 3)), name=str(label))


@dataclass
class Sink:
    config: SinkConfig
    sent: dict[str, list[float]] = field(default_factory=dict)  # severity -> delivery times
    suppressed: int = 0
    errors: list[str] = field(default_factory=list)

    def offer(self, alert: dict[str, Any]) -> bool:
        """Deliver if routing and the rate limit allow; returns whether it was delivered."""
        if not self.config.accepts(alert):
            return False
        now = time.monotonic()
        sent = self.sent[alert["severity"]] = [t for t in self.sent.get(alert["severity"], []) if now - t < 60]
        if len(sent) >= self.config.rate_limit:
            self.suppressed += 1
            return False
        if self.suppressed:
            alert = {**alert, "suppressed_before": self.suppressed}
            self.suppressed = 0
        try:
            deliver(self.config, alert)
        except Exception as exc:  # a broken sink must not stop the watch
            self.errors.append(f"alert sink {self.config.name}: {exc}")
            return False
        sent.append(now)
        return True


def deliver(cfg: SinkConfig, alert: dict[str, Any]) -> None:
    match cfg.kind:
        case "stdout":
            if cfg.format == "json":
                line = json.dumps(alert, sort_keys=True)
            else:
                rule = _rule_text(alert)
                line = (f"ALERT {alert['severity'].upper():8} {rule}  {alert['group_text']}  "
                        f"count={alert['count']}  {alert['first']} .. {alert['last']}  ({alert['status']})")
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        case "jsonl":
            path = Path(cfg.target).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(alert, sort_keys=True) + "\n")
                f.flush()
        case "webhook" | "slack":
            body = slack_body(alert) if cfg.kind == "slack" else alert
            post_json(cfg.target, body, cfg.timeout, cfg.retries)
        case "syslog":
            send_syslog(cfg.target, alert)
        case "exec":
            subprocess.run(cfg.target, shell=True, input=json.dumps(alert), text=True, timeout=cfg.timeout * 6,
                           check=True, capture_output=True)


def slack_body(alert: dict[str, Any]) -> dict[str, Any]:
    return {"text": f":rotating_light: *{alert['severity'].upper()}* {alert['title']} ({alert['rule']}): "
                    f"{alert['group_text']}, {alert['count']} event(s) {alert['first']} .. {alert['last']}"}


def post_json(url: str, body: dict[str, Any], timeout: float, retries: int) -> None:
    data = json.dumps(body).encode()
    last: Exception | None = None
    for attempt in range(retries + 1):
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "auditctl"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if 200 <= response.status < 300:
                    return
                last = RuntimeError(f"HTTP {response.status}")
        except urllib.error.HTTPError as exc:
            last = exc
            if 400 <= exc.code < 500 and exc.code != 429:
                break  # the receiver rejects it: retrying will not help
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        if attempt < retries:
            time.sleep(min(0.25 * 2 ** attempt, 4.0))
    raise RuntimeError(f"POST {url} failed after {retries + 1} attempt(s): {last}")


def send_syslog(target: str, alert: dict[str, Any]) -> None:
    url = urlparse(target)
    if url.scheme == "unix":
        handler = logging.handlers.SysLogHandler(address=url.path)
    else:
        kind = socket.SOCK_DGRAM if url.scheme == "udp" else socket.SOCK_STREAM
        handler = logging.handlers.SysLogHandler(address=(url.hostname or "127.0.0.1", url.port or 514), socktype=kind)
    try:
        level = logging.CRITICAL if alert["severity"] in ("critical", "high") else logging.WARNING
        record = logging.LogRecord("auditctl", level, __file__, 0, "auditctl: %s", (json.dumps(alert, sort_keys=True),), None)
        handler.emit(record)
    finally:
        handler.close()


def _rule_text(alert: dict[str, Any]) -> str:
    """The rule as an alert line names it; a Sigma rule with its title and author (the DRL asks
    every match to name the author)."""
    sigma = alert.get("sigma")
    if not sigma:
        return str(alert["rule"])
    by = f", by {sigma['author']}" if sigma.get("author") else ""
    return f"{alert['title']} (sigma {str(alert['rule'])[:8]}{by})"


def alert_from_finding(f: Any) -> dict[str, Any]:
    group_text = ", ".join(f"{k}={'(unknown)' if v is None else v}" for k, v in f.group_key.items()) or "-"
    return {"finding": f.id, "rule": f.rule_id, "title": f.title, "severity": f.severity, "status": f.status,
            "group": f.group_key, "group_text": group_text, "count": f.count,
            "first": f.first_ts.isoformat(), "last": f.last_ts.isoformat(), "tags": f.tags, "seqs": f.seqs[:50],
            **({"sigma": f.detail["sigma"]} if getattr(f, "detail", None) and "sigma" in f.detail else {})}
