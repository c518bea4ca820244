"""Building glibc `struct utmp` records (Linux x86_64/aarch64, 384 bytes) and lastlog entries
for tests, and the samples under sample_logs/utmp and sample_logs/lastlog:
`python tests/utmp_records.py` writes them again (then regenerate and review their goldens)."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

UTMP = struct.Struct("<h2xi32s4s32s256shhiII16s20x")
LASTLOG = struct.Struct("<I32s256s")
T0 = 1710230400  # 2024-03-12T08:00:00Z


def v4(address: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, address) + bytes(12)


def v6(address: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, address)


def record(kind: int, pid: int = 0, line: str = "", ut_id: str = "", user: str = "", host: str = "",
           sec: int = T0, usec: int = 0, addr: bytes = bytes(16), exit: tuple[int, int] = (0, 0),
           session: int = 0) -> bytes:
    return UTMP.pack(kind, pid, line.encode(), ut_id.encode(), user.encode(), host.encode(), exit[0], exit[1],
                     session, sec, usec, addr)


def runlevel(new: str, previous: str) -> int:
    """ut_pid of a RUN_LVL record: the new runlevel in the low byte, the previous one above it."""
    return ord(new) | (ord(previous) << 8)


def wtmp_sample() -> bytes:
    """A systemd host's day: boot, console login through getty, sshd logins over IPv4, IPv6 and
    a host name, logouts, a clock change, shutdown; one record of each ut_type."""
    kernel = "6.1.0-18-amd64"
    return b"".join([
        record(2, 0, "~", "~~", "reboot", kernel, T0, 120000),
        record(1, runlevel("5", "N"), "~", "~~", "runlevel", kernel, T0 + 9, 481203),
        record(5, 612, "tty1", "tty1", "", "", T0 + 10, 5112),
        record(6, 612, "tty1", "tty1", "LOGIN", "", T0 + 10, 9004),
        record(7, 612, "tty1", "tty1", "root", "", T0 + 95, 301557, session=612),
        record(7, 2210, "pts/0", "ts/0", "alice", "192.0.2.10", T0 + 3600, 654321, v4("192.0.2.10"), session=2210),
        record(7, 2388, "pts/1", "ts/1", "bob", "2001:db8:4006:812::200e", T0 + 3720, 17,
               v6("2001:db8:4006:812::200e"), session=2388),
        record(7, 2410, "pts/2", "ts/2", "carol", "bastion.example.com", T0 + 3800, 2, v4("198.51.100.4"),
               session=2410),
        record(7, 2577, "pts/3", "ts/3", "dave", "::ffff:203.0.113.9", T0 + 3900, 0, v6("::ffff:203.0.113.9"),
               session=2577),
        record(8, 2210, "pts/0", "ts/0", "", "", T0 + 5400, 11),
        record(8, 612, "tty1", "tty1", "", "", T0 + 5500, 0, exit=(0, 256)),
        record(3, 0, "|", "", "date", "", T0 + 6000),
        record(4, 0, "{", "", "date", "", T0 + 5999, 999999),
        record(9, 0, "", "", "", "", T0 + 6100),
        record(0, 0, "", "", "", "", 0, 0),
        record(1, runlevel("0", "5"), "~~", "~~", "shutdown", kernel, T0 + 7200, 88),
    ])


def sessions_sample() -> bytes:
    """/run/utmp as it stands: the boot and runlevel, and the sessions still open."""
    kernel = "6.1.0-18-amd64"
    return b"".join([
        record(2, 0, "~", "~~", "reboot", kernel, T0 + 86400, 5),
        record(1, runlevel("5", "N"), "~", "~~", "runlevel", kernel, T0 + 86409, 7),
        record(6, 700, "tty1", "tty1", "LOGIN", "", T0 + 86410, 9),
        record(7, 3100, "pts/0", "ts/0", "erin", "192.0.2.44", T0 + 90000, 12, v4("192.0.2.44"), session=3100),
    ])


def btmp_sample() -> bytes:
    """Failed logins as sshd and login write them to btmp (LOGIN_PROCESS records)."""
    return b"".join([
        record(6, 3301, "ssh:notty", "", "admin", "203.0.113.50", T0 + 100, 1, v4("203.0.113.50")),
        record(6, 3301, "ssh:notty", "", "admin", "203.0.113.50", T0 + 103, 2, v4("203.0.113.50")),
        record(6, 3305, "ssh:notty", "", "oracle", "2001:db8::66", T0 + 110, 3, v6("2001:db8::66")),
        record(6, 3310, "ssh:notty", "", "root", "scanner.example.net", T0 + 120, 4, v4("198.51.100.77")),
        record(6, 4100, "tty2", "", "alice", "", T0 + 200, 5),
    ])


def lastlog_entry(when: int = 0, line: str = "", host: str = "") -> bytes:
    return LASTLOG.pack(when, line.encode(), host.encode())


def lastlog_sample() -> bytes:
    """uid 0 logged in on tty1, uids 1 and 2 never, uid 3 over ssh."""
    return b"".join([lastlog_entry(T0 + 95, "tty1"), lastlog_entry(), lastlog_entry(),
                     lastlog_entry(T0 + 3600, "pts/0", "192.0.2.10")])


def faillog_entry(count: int = 0, line: str = "", when: int = 0) -> bytes:
    return struct.pack("<hh12sqq", count, 0, line.encode(), when, 0)


def faillog_sample() -> bytes:
    """uid 0 failed 3 times over ssh, uids 1 and 2 never."""
    return faillog_entry(3, "ssh:notty", T0 + 130) + faillog_entry() + faillog_entry()


if __name__ == "__main__":
    samples = Path(__file__).resolve().parents[1] / "sample_logs"
    (samples / "utmp").mkdir(exist_ok=True)
    (samples / "lastlog").mkdir(exist_ok=True)
    (samples / "faillog").mkdir(exist_ok=True)
    (samples / "utmp_sessions").mkdir(exist_ok=True)
    (samples / "utmp" / "wtmp").write_bytes(wtmp_sample())
    (samples / "utmp" / "btmp").write_bytes(btmp_sample())
    (samples / "lastlog" / "lastlog").write_bytes(lastlog_sample())
    (samples / "faillog" / "faillog").write_bytes(faillog_sample())
    (samples / "utmp_sessions" / "utmp").write_bytes(sessions_sample())
