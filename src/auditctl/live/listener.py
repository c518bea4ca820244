"""The syslog receiver: RFC 5424 and RFC 3164 over UDP, TCP and TLS (RFC 5425), on an explicit
bind address.

- TCP and TLS take octet-counted frames (`LEN SP MSG`, RFC 6587/5425) and newline-framed ones;
  a frame starting with digits and a space is octet-counted.
- Every message keeps its exact bytes (less a trailing line end or NUL, which is framing) and
  how it arrived: receive time, listener, peer address and port, and under mutual TLS the client
  certificate (`auditctl.ingest.received`). Empty messages are counted, not stored.
- A message longer than `listen.max_message_bytes` is stored cut to that size, flagged with its
  full length (`received.truncated`, `.length`), and counted; never cut silently.
- Senders: a plain (udp://, tcp://) listener binds a non-loopback address only when
  `listen.plain_senders` names networks beyond loopback (and then warns); connections and
  datagrams from other networks are refused and counted. A tls:// listener takes
  `listen.tls.senders` (default: any address; the certificate is the check).
- Rates (`rate_per_sender`, `rate_total`): TCP/TLS readers wait for tokens, which slows the
  sender through TCP; UDP datagrams over the rate are dropped and counted. The spool's cap
  works the same way (`auditctl.live.spool`). Datagrams the kernel dropped (socket buffer full)
  are counted too, where Linux reports them.
- Messages go to the listener's spool (`auditctl.live.spool`), which `watch` ingests.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from auditctl.config import ListenSettings
from auditctl.errors import UsageError
from auditctl.ingest.received import connection_part, encode_record
from auditctl.live.limits import Networks, SenderBuckets, TokenBucket, is_loopback_host
from auditctl.live.spool import Spool, SpoolBudget
from auditctl.live.tlsconf import allowed_names, peer_identity, server_context

DEFAULT_PORTS = {"tls": 6514}
READ_BYTES = 64 * 1024
POLL_SECONDS = 0.2  # how often blocked threads look at the stop flag
SO_RXQ_OVFL = 40  # Linux: the socket's count of datagrams dropped for a full buffer, with each datagram


@dataclass(frozen=True)
class ListenAddress:
    proto: str  # udp | tcp | tls
    host: str
    port: int

    @property
    def label(self) -> str:
        return f"{self.proto}-{self.host}-{self.port}"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.proto}://{host}:{self.port}"


def parse_listen(spec: str) -> ListenAddress:
    url = urlparse(spec)
    try:
        port = url.port if url.port is not None else DEFAULT_PORTS.get(url.scheme)
    except ValueError:
        port = None
    if url.scheme not in ("udp", "tcp", "tls") or not url.hostname or port is None:
        raise UsageError(f"--listen {spec}: use udp://HOST:PORT, tcp://HOST:PORT or tls://HOST[:PORT] "
                         "with an explicit address")
    return ListenAddress(url.scheme, url.hostname, port)


# -- framing -------------------------------------------------------------------------------

_OCTET_COUNT = re.compile(rb"([1-9]\d{0,9}) ")
Message = tuple[bytes, int | None]  # the bytes kept, and the full length when they are cut


def _unframe(message: bytes) -> bytes:
    return message.rstrip(b"\r\n\x00")


class FrameReader:
    """Bytes of a stream in, messages out: octet-counted frames (`LEN SP MSG`) and newline-framed
    ones, each at most `limit` bytes kept (with the full length when cut)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buf = bytearray()
        self._cut: bytes | None = None  # a message over the limit, kept part
        self._cut_length = 0  # its length so far (newline framing) or in all (octet counting)
        self._skip = 0  # bytes of an oversized octet-counted frame still to pass over
        self._skip_line = False  # passing over the rest of an oversized line

    def feed(self, data: bytes) -> list[Message]:
        self.buf += data
        out: list[Message] = []
        while self.buf:
            if self._skip:
                n = min(self._skip, len(self.buf))
                del self.buf[:n]
                self._skip -= n
                if not self._skip:
                    out.append(self._take_cut())
                continue
            if self._skip_line:
                end = self.buf.find(b"\n")
                if end < 0:
                    self._cut_length += len(self.buf)
                    self.buf.clear()
                    break
                self._cut_length += end
                del self.buf[:end + 1]
                self._skip_line = False
                out.append(self._take_cut())
                continue
            if not self._frame(out):
                break
        return out

    def _frame(self, out: list[Message]) -> bool:
        """Take one frame off the buffer; False when more bytes are needed."""
        m = _OCTET_COUNT.match(self.buf)
        if m is None and len(self.buf) <= 10 and self.buf.isdigit() and self.buf[:1] != b"0":
            return False  # the digits of a length, its space still to come
        if m is not None:
            length, start = int(m[1]), m.end()
            if length <= self.limit:
                if len(self.buf) < start + length:
                    return False
                out.append((_unframe(bytes(self.buf[start:start + length])), None))
                del self.buf[:start + length]
                return True
            if len(self.buf) < start + self.limit:
                return False
            self._cut, self._cut_length = bytes(self.buf[start:start + self.limit]), length
            self._skip = length - self.limit
            del self.buf[:start + self.limit]
            return True
        end = self.buf.find(b"\n")
        if end < 0:
            if len(self.buf) > self.limit:
                self._cut, self._cut_length = bytes(self.buf[:self.limit]), len(self.buf)
                self._skip_line = True
                self.buf.clear()
            return False
        line = bytes(self.buf[:end])
        del self.buf[:end + 1]
        out.append((_unframe(line[:self.limit]), len(line)) if len(line) > self.limit else (_unframe(line), None))
        return True

    def _take_cut(self) -> Message:
        message, self._cut = self._cut or b"", None
        return _unframe(message), self._cut_length

    def close(self) -> list[Message]:
        """What is left when the stream ends: a last line without its line end is a message;
        an octet-counted frame the stream cut short is kept, flagged with its announced length."""
        out: list[Message] = []
        if self._cut is not None:
            if self._skip_line:
                self._cut_length += len(self.buf)
            out.append(self._take_cut())
        elif self.buf:
            m = _OCTET_COUNT.match(self.buf)
            if m is not None:
                out.append((_unframe(bytes(self.buf[m.end():])), int(m[1])))
            else:
                out.append((_unframe(bytes(self.buf)), None))
        self.buf.clear()
        self._skip, self._skip_line = 0, False
        return out


# -- counts --------------------------------------------------------------------------------

COUNTERS = ("messages", "bytes", "truncated", "empty", "connections", "refused", "refused_busy",
            "tls_failures", "dropped_rate", "dropped_full", "dropped_kernel", "throttled", "paused")
SENDERS_KEPT = 10_000


class ListenerStats:
    """What one listener received, refused and dropped since it started (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.senders: Counter[str] = Counter()  # peer address -> messages
        self.identities: Counter[str] = Counter()  # certificate CN -> messages
        self.failure_reasons: Counter[str] = Counter()
        self.last_failures: deque[dict[str, str]] = deque(maxlen=5)
        self.open = 0

    def add(self, **counts: int) -> None:
        with self.lock:
            self.counts.update(counts)

    def accepted(self, peer: str, cn: str | None, messages: int, nbytes: int, truncated: int) -> None:
        with self.lock:
            self.counts.update(messages=messages, bytes=nbytes, truncated=truncated)
            if peer in self.senders or len(self.senders) < SENDERS_KEPT:
                self.senders[peer] += messages
            if cn:
                self.identities[cn] += messages

    def tls_failure(self, peer: str, reason: str) -> None:
        with self.lock:
            self.counts["tls_failures"] += 1
            self.failure_reasons[reason] += 1
            self.last_failures.append({"at": _now_text(), "peer": peer, "reason": reason})

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {**{k: self.counts.get(k, 0) for k in COUNTERS},
                    "dropped": sum(self.counts.get(k, 0) for k in ("dropped_rate", "dropped_full", "dropped_kernel")),
                    "senders": len(self.senders), "open_connections": self.open,
                    "top_senders": dict(self.senders.most_common(10)),
                    "identities": dict(self.identities.most_common(10)),
                    "tls_failure_reasons": dict(self.failure_reasons),
                    "last_failures": list(self.last_failures)}


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return exc.verify_message or "certificate verify failed"
    if isinstance(exc, ssl.SSLError):
        return (exc.reason or exc.__class__.__name__).lower().replace("_", " ")
    if isinstance(exc, TimeoutError):
        return "handshake timed out"
    return exc.__class__.__name__


# -- the listener --------------------------------------------------------------------------

class Listener:
    """One bound socket and its threads, writing to its own spool."""

    def __init__(self, address: ListenAddress, settings: ListenSettings, spool_dir: Path, budget: SpoolBudget,
                 log: Callable[[str], None] = lambda m: None) -> None:
        self.address = address
        self.settings = settings
        self.url = address.url
        self.stats = ListenerStats()
        self.stop_event = threading.Event()
        self.context: ssl.SSLContext | None = None
        self.warnings: list[str] = []
        if address.proto == "tls":
            self.context = server_context(settings.tls)
            self.senders = Networks(settings.tls.senders)
        else:
            self.senders = Networks(settings.plain_senders)
            self._check_plain()
        self.total = TokenBucket(settings.rate_total)
        self.budget = budget
        self.sock = self._bind()
        self.port = int(self.sock.getsockname()[1])  # the bound one (port 0 asks for any free port)
        if self.port != address.port:
            self.url = ListenAddress(address.proto, address.host, self.port).url
        self.spool = Spool(spool_dir, address.label, budget)
        self.threads: list[threading.Thread] = []
        self._conn_lock = threading.Lock()

    def _check_plain(self) -> None:
        if is_loopback_host(self.address.host):
            return
        if not self.senders.beyond_loopback:
            raise UsageError(f"--listen {self.url}: plain syslog on a non-loopback address lets any host write "
                             "unauthenticated events; use tls://, or name the sender networks it may accept in "
                             "listen.plain_senders (config)")
        nets = ", ".join(str(n) for n in self.senders.networks) or "any address"
        self.warnings.append(f"warning: {self.url} takes unauthenticated, unencrypted syslog from {nets}; "
                             "prefer tls:// with client certificates")

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.address.host else socket.AF_INET
        kind = socket.SOCK_DGRAM if self.address.proto == "udp" else socket.SOCK_STREAM
        sock = socket.socket(family, kind)
        try:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            else:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                if sys.platform.startswith("linux"):
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
            sock.bind((self.address.host, self.address.port))
            if kind == socket.SOCK_STREAM:
                sock.listen(128)
        except OSError as exc:
            sock.close()
            raise UsageError(f"--listen {self.url}: {exc.strerror or exc}") from None
        sock.settimeout(POLL_SECONDS)
        return sock

    def start(self) -> None:
        target = self._serve_datagrams if self.address.proto == "udp" else self._accept_loop
        thread = threading.Thread(target=target, name=f"listen-{self.address.label}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def stop(self) -> None:
        """Stop taking messages; what was read is written to the spool before this returns."""
        self.stop_event.set()
        if self.threads:
            self.threads[0].join(timeout=30)  # the accept (or datagram) loop: no new connection after it
        for thread in list(self.threads[1:]):
            thread.join(timeout=30)
        self.sock.close()
        self.spool.sync()
        self.spool.close()

    # -- UDP -------------------------------------------------------------------------------

    def _serve_datagrams(self) -> None:
        buf = bytearray(65536)
        per_sender = SenderBuckets(self.settings.rate_per_sender)
        connections: dict[tuple[str, int], bytes] = {}
        kernel_drops = 0
        while not self.stop_event.is_set():
            try:
                n, ancillary, _flags, addr = self.sock.recvmsg_into([buf], socket.CMSG_SPACE(4))
            except TimeoutError:
                continue
            except OSError:
                if self.stop_event.is_set():
                    return
                continue
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(data) >= 4:
                    total = int.from_bytes(data[:4], sys.byteorder)
                    if total > kernel_drops:
                        self.stats.add(dropped_kernel=total - kernel_drops)
                        kernel_drops = total
            peer, port = str(addr[0]), int(addr[1])
            if not self.senders.allows(peer):
                self.stats.add(refused=1)
                continue
            if not per_sender.try_take(peer) or not self.total.try_take():
                self.stats.add(dropped_rate=1)
                continue
            message = _unframe(bytes(buf[:n]))
            if not message:
                self.stats.add(empty=1)
                continue
            cut = len(message) if len(message) > self.settings.max_message_bytes else None
            key = (peer, port)
            conn = connections.get(key)
            if conn is None:
                if len(connections) > 10_000:
                    connections.clear()
                conn = connections[key] = connection_part(self.url, peer, port, None, None)
            record = encode_record(message[:self.settings.max_message_bytes], _now_text().encode(), conn, cut)
            if not self.budget.try_reserve(len(record)):
                self.stats.add(dropped_full=1)
                continue
            self.spool.write(record)
            self.stats.accepted(peer, None, 1, len(message), int(cut is not None))

    # -- TCP and TLS -----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                conn, addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self.stop_event.is_set():
                    return
                time.sleep(0.05)  # out of file descriptors: let connections close
                continue
            peer = str(addr[0])
            if not self.senders.allows(peer):
                self.stats.add(refused=1)
                conn.close()
                continue
            with self._conn_lock:
                busy = self.stats.open >= self.settings.max_connections
                if not busy:
                    self.stats.open += 1
            if busy:
                self.stats.add(refused_busy=1)
                conn.close()
                continue
            thread = threading.Thread(target=self._serve_connection, args=(conn, peer, int(addr[1])),
                                      name=f"conn-{peer}", daemon=True)
            self.threads = [t for t in self.threads if t.is_alive()] + [thread]
            thread.start()

    def _serve_connection(self, sock: socket.socket, peer: str, port: int) -> None:
        try:
            stream = self._handshake(sock, peer) if self.context is not None else sock
            if stream is None:
                return
            self.stats.add(connections=1)
            identity = peer_identity(stream) if isinstance(stream, ssl.SSLSocket) else None
            names = allowed_names(identity, self.settings.tls) if identity is not None else None
            conn = connection_part(self.url, peer, port, identity, names)
            cn = identity.get("cn") if identity else None
            self._read_stream(stream, conn, peer, cn)
            if isinstance(stream, ssl.SSLSocket):
                with contextlib.suppress(OSError, ValueError):
                    stream.unwrap()  # answer the client's close_notify
        finally:
            with self._conn_lock:
                self.stats.open -= 1
            with contextlib.suppress(OSError):
                sock.close()

    def _handshake(self, sock: socket.socket, peer: str) -> ssl.SSLSocket | None:
        assert self.context is not None
        sock.settimeout(self.settings.tls.handshake_timeout)
        try:
            return self.context.wrap_socket(sock, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            self.stats.tls_failure(peer, _failure_reason(exc))
            return None

    def _read_stream(self, stream: socket.socket, conn: bytes, peer: str, cn: str | None) -> None:
        reader = FrameReader(self.settings.max_message_bytes)
        bucket = TokenBucket(self.settings.rate_per_sender)
        stream.settimeout(POLL_SECONDS)
        while not self.stop_event.is_set():
            try:
                data = stream.recv(READ_BYTES)
            except TimeoutError:
                continue
            except (OSError, ssl.SSLError):
                break
            if not data:
                break
            self._keep(reader.feed(data), conn, peer, cn, bucket)
        self._keep(reader.close(), conn, peer, cn, bucket)

    def _keep(self, messages: list[Message], conn: bytes, peer: str, cn: str | None, bucket: TokenBucket) -> None:
        """Write what a read gave to the spool: after waiting for rate tokens and spool room,
        during which the connection is not read (so its sender slows down)."""
        if not messages:
            return
        at = _now_text().encode()
        records = []
        nbytes = truncated = empty = 0
        for message, length in messages:
            if not message:
                empty += 1
                continue
            records.append(encode_record(message, at, conn, length))
            nbytes += len(message) if length is None else length
            truncated += length is not None
        if empty:
            self.stats.add(empty=empty)
        if not records:
            return
        wait = max(bucket.take(len(records)), self.total.take(len(records)))
        if wait > 0:
            self.stats.add(throttled=1)
            self.stop_event.wait(wait)
        data = b"".join(records)
        if not self.budget.try_reserve(len(data)):
            self.stats.add(paused=1)
            self.budget.reserve(len(data), self.stop_event)
        self.spool.write(data)
        self.stats.accepted(peer, cn, len(records), nbytes, truncated)
