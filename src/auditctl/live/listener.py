"""A central syslog receiver: RFC 5424 and RFC 3164 over UDP and TCP (octet counting or newline
framing), on an explicit bind address.

Received messages are appended to a spool file per listener (one message a line) and flushed;
`watch` then ingests the spool like any followed file, through the same registry of offsets.
So a message is durable once it is in the spool, and a crash of `watch` neither loses nor
duplicates what was received.
"""

from __future__ import annotations

import os
import socketserver
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from auditctl.errors import UsageError

MAX_MESSAGE = 64 * 1024


@dataclass(frozen=True)
class ListenAddress:
    proto: str
    host: str
    port: int

    @property
    def label(self) -> str:
        return f"{self.proto}-{self.host}-{self.port}"


def parse_listen(spec: str) -> ListenAddress:
    url = urlparse(spec)
    if url.scheme not in ("udp", "tcp") or not url.hostname or url.port is None:
        raise UsageError(f"--listen {spec}: use udp://HOST:PORT or tcp://HOST:PORT with an explicit address")
    return ListenAddress(url.scheme, url.hostname, url.port)


class Spool:
    """Append-only spool file; one message a line, flushed after every message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file = path.open("ab")
        self.received = 0

    def append(self, message: bytes) -> None:
        line = message.rstrip(b"\r\n\x00").replace(b"\n", b" ").replace(b"\r", b" ")
        if not line.strip():
            return
        with self._lock:
            self._file.write(line[:MAX_MESSAGE] + b"\n")
            self._file.flush()
            self.received += 1

    def sync(self) -> None:
        with self._lock:
            if not self._file.closed:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            self._file.close()


class _UDPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, _sock = self.request
        spool: Spool = getattr(self.server, "spool")  # noqa: B009 (set by Listener on the server)
        spool.append(data)


class _TCPHandler(socketserver.StreamRequestHandler):
    """RFC 6587 framing: `LEN SP MSG` (octet counting) when a frame starts with a digit, else one
    message per line."""

    def handle(self) -> None:
        spool: Spool = getattr(self.server, "spool")  # noqa: B009 (set by Listener on the server)
        rfile = self.rfile
        while True:
            first = rfile.peek(1)[:1] if hasattr(rfile, "peek") else b""
            if not first:
                line = rfile.readline(MAX_MESSAGE)
                if not line:
                    return
                spool.append(line)
                continue
            if first.isdigit():
                digits = b""
                while (ch := rfile.read(1)) and ch.isdigit() and len(digits) < 8:
                    digits += ch
                if not digits:
                    return
                message = rfile.read(int(digits))
                if not message:
                    return
                spool.append(message)
            else:
                line = rfile.readline(MAX_MESSAGE)
                if not line:
                    return
                spool.append(line)


class _ThreadingUDP(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True
    allow_reuse_address = True
    spool: Spool


class _ThreadingTCP(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    spool: Spool


class Listener:
    def __init__(self, address: ListenAddress, spool_dir: Path) -> None:
        self.address = address
        self.spool = Spool(spool_dir / f"{address.label}.log")
        try:
            self.server: _ThreadingUDP | _ThreadingTCP = (
                _ThreadingUDP((address.host, address.port), _UDPHandler) if address.proto == "udp"
                else _ThreadingTCP((address.host, address.port), _TCPHandler))
        except OSError as exc:
            raise UsageError(f"--listen {address.proto}://{address.host}:{address.port}: {exc.strerror or exc}") from None
        self.server.spool = self.spool
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                       name=f"listen-{address.label}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.spool.sync()
        self.spool.close()
