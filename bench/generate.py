"""Deterministic generator of a realistic multi-host auth.log, for benchmarks and tests.

Mix (like the measured reference file): sshd ~70% (brute force from a few scanners, accepted
logins, disconnects, PAM), CRON ~21%, sudo ~5%, systemd-logind, su, user/group management,
rsyslog "message repeated N times", and a little unparsable noise.

    python bench/generate.py OUT [--lines N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

HOSTS = [f"web{i:02d}" for i in range(1, 9)] + ["db01", "db02", "bastion", "ci-runner"]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "deploy", "backup", "ansible"]
SCAN_USERS = ["root", "admin", "test", "oracle", "postgres", "ubuntu", "user", "guest", "git", "pi"]
CRON_CMDS = ["command -v debian-sa1 > /dev/null && debian-sa1 1 1", "/usr/local/bin/backup.sh",
             "test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )"]


def _ip(rng: random.Random, internal: bool) -> str:
    if internal:
        return f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return f"{rng.choice([45, 61, 103, 185, 193, 203])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _user_ip(rng: random.Random, homes: dict[str, list[str]], user: str) -> str:
    """Users log in from a few usual addresses, and rarely from a new one."""
    if rng.random() < 0.002:
        return _ip(rng, True)
    return rng.choice(homes[user])


def _sshd(rng: random.Random, scanners: list[str], homes: dict[str, list[str]]) -> list[str]:
    r = rng.random()
    port = rng.randint(1024, 65535)
    if r < 0.45:
        ip = rng.choice(scanners)
        user = rng.choice(SCAN_USERS)
        if rng.random() < 0.3:
            return [f"Invalid user {user} from {ip} port {port}",
                    f"Failed password for invalid user {user} from {ip} port {port} ssh2"]
        return [f"Failed password for {user} from {ip} port {port} ssh2"]
    if r < 0.55:
        ip = rng.choice(scanners)
        return [f"Connection closed by authenticating user root {ip} port {port} [preauth]"]
    if r < 0.62:
        ip = rng.choice(scanners)
        return [f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user=root"]
    user = rng.choice(USERS)
    ip = _user_ip(rng, homes, user)
    if r < 0.75:
        method = rng.choice(["publickey", "publickey", "password"])
        suffix = ": ED25519 SHA256:Qm9vT2pLZ3JhbmRvbWtleWZpbmdlcnByaW50aGVyZQ" if method == "publickey" else ""
        return [f"Accepted {method} for {user} from {ip} port {port} ssh2{suffix}",
                f"pam_unix(sshd:session): session opened for user {user}(uid=1000) by (uid=0)"]
    if r < 0.88:
        return [f"Received disconnect from {ip} port {port}:11: disconnected by user",
                f"Disconnected from user {user} {ip} port {port}",
                f"pam_unix(sshd:session): session closed for user {user}"]
    return [f"Connection from {ip} port {port} on 10.0.0.1 port 22 rdomain \"\""]


def _sudo(rng: random.Random) -> list[str]:
    user = rng.choice(USERS)
    cmd = rng.choice(["/usr/bin/systemctl restart nginx", "/usr/bin/apt-get update", "/bin/cat /etc/shadow",
                      "/usr/bin/journalctl -u ssh", "/usr/sbin/usermod -aG docker deploy"])
    if rng.random() < 0.08:
        return [f"{user} : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/{user} ; USER=root ; COMMAND={cmd}"]
    return [f"{user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND={cmd}",
            f"pam_unix(sudo:session): session opened for user root(uid=0) by {user}(uid=1000)",
            "pam_unix(sudo:session): session closed for user root"]


def _usermgmt(rng: random.Random, n: int) -> list[tuple[str, str]]:
    name = f"svc{n % 997}"
    kind = rng.random()
    if kind < 0.4:
        return [("useradd", f"new group: name={name}, GID={2000 + n % 997}"),
                ("useradd", f"new user: name={name}, UID={2000 + n % 997}, GID={2000 + n % 997}, home=/home/{name}, shell=/bin/bash, from=/dev/pts/0")]
    if kind < 0.6:
        return [("usermod", f"add '{name}' to group '{rng.choice(['sudo', 'docker', 'adm'])}'")]
    if kind < 0.8:
        return [("userdel", f"delete user '{name}'"), ("userdel", f"removed group '{name}' owned by '{name}'")]
    return [("passwd", f"pam_unix(passwd:chauthtok): password changed for {name}")]


def lines(count: int, seed: int = 42, start: datetime | None = None) -> Iterator[str]:
    """`count` auth.log lines, deterministic for a seed, time increasing."""
    rng = random.Random(seed)
    ts = start or datetime(2026, 3, 1, 0, 0, 0)
    scanners = [_ip(rng, False) for _ in range(40)]
    homes = {user: [_ip(rng, True) for _ in range(3)] for user in USERS}
    pid = 1000
    produced = 0
    n = 0
    while produced < count:
        n += 1
        ts += timedelta(milliseconds=rng.randint(0, 180))
        host = rng.choice(HOSTS)
        stamp = ts.strftime("%b %d %H:%M:%S").replace(" 0", "  ", 1) if ts.day < 10 else ts.strftime("%b %d %H:%M:%S")
        r = rng.random()
        pid = (pid + rng.randint(1, 7)) % 60000 + 1000
        if r < 0.70:
            out = [f"{stamp} {host} sshd[{pid}]: {m}" for m in _sshd(rng, scanners, homes)]
            if rng.random() < 0.02:
                out.append(f"{stamp} {host} sshd[{pid}]: message repeated {rng.randint(2, 5)} times: [ Failed password for root from {rng.choice(scanners)} port {rng.randint(1024, 65535)} ssh2]")
        elif r < 0.91:
            out = [f"{stamp} {host} CRON[{pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
                   f"{stamp} {host} CRON[{pid + 1}]: (root) CMD ({rng.choice(CRON_CMDS)})"]
        elif r < 0.96:
            out = [f"{stamp} {host} sudo: {m}" for m in _sudo(rng)]
        elif r < 0.98:
            sid = rng.randint(1, 9999)
            out = [f"{stamp} {host} systemd-logind[411]: New session {sid} of user {rng.choice(USERS)}.",
                   f"{stamp} {host} systemd-logind[411]: Session {sid} logged out. Waiting for processes to exit."]
        elif r < 0.99:
            user = rng.choice(USERS)
            out = [f"{stamp} {host} su[{pid}]: (to root) {user} on pts/2",
                   f"{stamp} {host} su[{pid}]: pam_unix(su-l:session): session opened for user root(uid=0) by {user}(uid=1000)"]
        elif r < 0.995:
            out = [f"{stamp} {host} {tool}[{pid}]: {msg}" for tool, msg in _usermgmt(rng, n)]
        else:
            out = [rng.choice([f"{stamp} {host} kernel: [{rng.randint(1, 99999)}.123456] audit: backlog limit exceeded",
                               "-- MARK --", f"{stamp} {host} systemd[1]: Started Session c{n} of user root.",
                               "\x07binary\x00noise", f"{stamp} {host} dhclient[812]: DHCPACK of 10.0.0.5 from 10.0.0.1"])]
        for line in out:
            if produced >= count:
                return
            produced += 1
            yield line


def write_lines(path: str | Path, records: Iterable[str]) -> None:
    """One record a line, written 10,000 at a time (the generators' shared writer)."""
    with open(path, "w", encoding="utf-8", errors="replace") as f:
        buf = []
        for line in records:
            buf.append(line)
            if len(buf) >= 10000:
                f.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            f.write("\n".join(buf) + "\n")


def write(path: str, count: int, seed: int = 42) -> None:
    write_lines(path, lines(count, seed))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    write(a.out, a.lines, a.seed)
