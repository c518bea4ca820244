"""Realistic log lines at exact times, for planting incidents in tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)  # a Monday, 10:00 UTC
UNTIL = datetime(2026, 3, 10, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fail(s: float, user: str = "root", ip: str = "203.0.113.7", host: str = "web1") -> str:
    return f"{at(s)} {host} sshd[1]: Failed password for {user} from {ip} port 22 ssh2"


def ok(s: float, user: str = "root", ip: str = "203.0.113.7", host: str = "web1") -> str:
    return f"{at(s)} {host} sshd[1]: Accepted password for {user} from {ip} port 22 ssh2"


def created(s: float, user: str) -> str:
    return f"{at(s)} web1 useradd[2]: new user: name={user}, UID=1500, GID=1500, home=/home/{user}, shell=/bin/sh"


def deleted(s: float, user: str) -> str:
    return f"{at(s)} web1 userdel[3]: delete user '{user}'"


def sudo(s: float, user: str = "alice", host: str = "web1") -> str:
    return f"{at(s)} {host} sudo:   {user} : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/id"


def added(s: float, user: str, group: str) -> str:
    return f"{at(s)} web1 usermod[4]: add '{user}' to group '{group}'"


def ecs(s: float, action: str, **extra) -> str:
    doc = {"@timestamp": at(s), "event": {"action": action}, "host": {"name": "dc1"}, **extra}
    return json.dumps(doc)
