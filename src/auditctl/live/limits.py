"""What the syslog receiver lets in: sender networks, and rates as token buckets.

A TCP or TLS connection over its rate is slowed, never cut: its thread waits for tokens before
it reads on, so the sender's socket buffer fills and TCP makes it wait. A UDP sender cannot be
slowed: a datagram over the rate is dropped and counted.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Sequence

Clock = Callable[[], float]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TokenBucket:
    """`rate` tokens a second, at most `rate` saved up (one second's burst); rate 0 = no limit.

    `take(n)` always takes and returns how long to wait before going on (it may run into debt,
    so a large batch waits in proportion); `try_take(n)` takes only when it can, now."""

    def __init__(self, rate: float, clock: Clock = time.monotonic) -> None:
        self.rate = float(rate)
        self.clock = clock
        self.tokens = self.rate
        self.stamp = clock()
        self.lock = threading.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, n: int = 1) -> float:
        if self.rate <= 0:
            return 0.0
        with self.lock:
            self._refill()
            self.tokens -= n
            return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def try_take(self, n: int = 1) -> bool:
        if self.rate <= 0:
            return True
        with self.lock:
            self._refill()
            if self.tokens < n:
                return False
            self.tokens -= n
            return True


class SenderBuckets:
    """One bucket per UDP source address; the table is bounded (a spoofed flood cannot grow it
    without end: past `limit` addresses it starts over)."""

    def __init__(self, rate: float, limit: int = 10_000, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.limit = limit
        self.clock = clock
        self.buckets: dict[str, TokenBucket] = {}

    def try_take(self, address: str) -> bool:
        if self.rate <= 0:
            return True
        bucket = self.buckets.get(address)
        if bucket is None:
            if len(self.buckets) >= self.limit:
                self.buckets.clear()
            bucket = self.buckets[address] = TokenBucket(self.rate, self.clock)
        return bucket.try_take()


class Networks:
    """An allowlist of networks; an empty list allows every address."""

    def __init__(self, networks: Sequence[str]) -> None:
        self.networks: list[IPNetwork] = [ipaddress.ip_network(n, strict=False) for n in networks]

    def allows(self, address: str) -> bool:
        if not self.networks:
            return True
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == n.version and ip in n for n in self.networks)

    @property
    def beyond_loopback(self) -> bool:
        """Whether any listed network holds an address other than loopback."""
        return not self.networks or any(not (n.is_loopback or n.subnet_of(_LOOPBACK[n.version]))  # type: ignore[arg-type]
                                        for n in self.networks)


_LOOPBACK: dict[int, IPNetwork] = {4: ipaddress.ip_network("127.0.0.0/8"), 6: ipaddress.ip_network("::1/128")}


def is_loopback_host(host: str) -> bool:
    """Whether every address `host` (an address or a name) stands for is a loopback address."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(i[4][0]).split("%", 1)[0]).is_loopback for i in infos)
