"""The syslog receiver's spool records: one JSON object a line, written by `auditctl.live` and
read back by the syslog parser.

A record keeps a received message's exact bytes (`msg` when they are UTF-8, else `msg_b64`)
with what the receiver knew about it: when it arrived, on which listener, from which peer
address and port, the client certificate's identity under mutual TLS, the host names that
certificate may write as (for the host check), and the message's length as sent; a message
longer than the limit is `truncated`: the record holds its first `listen.max_message_bytes`
bytes. The parser stores the
message as `raw` (exact bytes, through `raw_b64` when not UTF-8) and everything else in the
`received` column, which the leaf hash covers and sealing never hides.

A record starts with `{"receiver":1,` so that detection is a prefix test.
"""

from __future__ import annotations

import base64
import fnmatch
from dataclasses import dataclass
from typing import Any

import orjson

from auditctl.ingest.rawbytes import decode_record

MARK = '{"receiver":1,'
MARK_BYTES = MARK.encode()


def connection_part(listener: str, peer: str, port: int | None, tls: dict[str, Any] | None,
                    names: list[str] | None) -> bytes:
    """The JSON members every record of one connection (or datagram sender) shares, encoded once."""
    doc: dict[str, Any] = {"listener": listener, "peer": peer, "port": port}
    if tls is not None:
        doc["tls"] = tls
    if names is not None:
        doc["names"] = names
    return orjson.dumps(doc)[1:-1] + b","


def encode_record(message: bytes, at: bytes, connection: bytes, length: int | None = None) -> bytes:
    """One spool line. `at` is the receive time as ISO-8601 text; `length` the message's full
    length when `message` holds only its first bytes (the record says `truncated`)."""
    try:
        body = b'"msg":' + orjson.dumps(message.decode("utf-8"))
    except UnicodeDecodeError:
        body = b'"msg_b64":"' + base64.b64encode(message) + b'"'
    size = b'"length":%d,"truncated":true,' % length if length is not None else b'"length":%d,' % len(message)
    return MARK_BYTES + b'"at":"' + at + b'",' + connection + size + body + b"}\n"


@dataclass(slots=True)
class Received:
    at: str
    listener: str
    peer: str
    message: str  # surrogate-escaped text: maps back to the exact bytes (auditctl.ingest.rawbytes)
    port: int | None = None
    tls: dict[str, Any] | None = None
    names: list[str] | None = None
    length: int | None = None  # the message's length in bytes as it was sent
    truncated: bool = False  # the message holds only its first bytes

    def fields(self) -> dict[str, Any]:
        """What the `received` column holds (the host check is added by the parser)."""
        out: dict[str, Any] = {"at": self.at, "listener": self.listener, "peer": self.peer, "port": self.port,
                               "length": self.length}
        if self.tls is not None:
            out["tls"] = self.tls
        if self.truncated:
            out["truncated"] = True
        return out


def is_record(line: str) -> bool:
    return line.startswith(MARK)


def read_record(line: str) -> Received:
    """A spool line back as a Received; ValueError (with the reason) when it is not one."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"receiver record is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("receiver") != 1:
        raise ValueError("not a receiver record")
    if isinstance(doc.get("msg"), str):
        message = doc["msg"]
    elif isinstance(doc.get("msg_b64"), str):
        try:
            message = decode_record(base64.b64decode(doc["msg_b64"], validate=True))
        except ValueError:
            raise ValueError("receiver record: msg_b64 is not base64") from None
    else:
        raise ValueError("receiver record without msg")
    names, length, port = doc.get("names"), doc.get("length"), doc.get("port")
    return Received(at=str(doc.get("at")), listener=str(doc.get("listener")), peer=str(doc.get("peer")),
                    message=message, port=port if isinstance(port, int) else None, tls=doc.get("tls") if isinstance(doc.get("tls"), dict) else None,
                    names=[str(n) for n in names] if isinstance(names, list) else None,
                    length=length if isinstance(length, int) else None, truncated=doc.get("truncated") is True)


def host_check(host: str | None, names: list[str]) -> str:
    """`match` when the header's host is one of `names` (case-insensitive; `*` patterns allowed;
    a trailing dot ignored), `mismatch` when it is another, `absent` when the header has none."""
    if not host:
        return "absent"
    wanted = host.lower().rstrip(".")
    for name in names:
        pattern = name.lower().rstrip(".")
        if wanted == pattern or (("*" in pattern or "?" in pattern) and fnmatch.fnmatchcase(wanted, pattern)):
            return "match"
    return "mismatch"
