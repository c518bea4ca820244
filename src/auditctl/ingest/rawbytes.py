"""Records that are not valid UTF-8: their exact bytes travel with the text, and are kept.

Sources decode each record with Python's `surrogateescape` handler: every byte that is not
valid UTF-8 becomes one lone surrogate (U+DC80..U+DCFF) in the text a parser sees, so the text
still maps back to the exact input bytes, through any slicing or joining the parser does.
When a batch is stored, a `raw` holding such surrogates is split in two: `raw` gets the
readable text (U+FFFD for each undecodable byte, as a plain UTF-8 decoder shows it) and
`raw_b64` the exact bytes in base64; every other text field just gets the readable text.
Valid UTF-8 costs nothing: Arrow rejects a surrogate, and only a batch it rejects is looked at.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson

_SURROGATE = re.compile("[\udc80-\udcff]")


def decode_record(data: bytes) -> str:
    """Bytes of one record as text that maps back to exactly these bytes."""
    return data.decode("utf-8", "surrogateescape")


def has_escaped_bytes(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def exact_bytes(text: str) -> bytes:
    """The input bytes a `decode_record` text came from."""
    return text.encode("utf-8", "surrogateescape")


def readable(text: str) -> str:
    """The text with each undecodable byte shown as U+FFFD (valid UTF-8 for storage)."""
    if not has_escaped_bytes(text):
        return text
    return exact_bytes(text).decode("utf-8", "replace")


def raw_b64(text: str) -> str | None:
    """base64 of the exact bytes when the text holds undecodable bytes, else None."""
    if not has_escaped_bytes(text):
        return None
    return base64.b64encode(exact_bytes(text)).decode("ascii")


def readable_value(value: Any) -> Any:
    """A parser's value (text, or JSON-like nesting of it) made valid UTF-8 throughout."""
    if isinstance(value, str):
        return readable(value)
    if isinstance(value, dict):
        return {readable_value(k): readable_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [readable_value(v) for v in value]
    return value


def loads_json(text: str) -> Any:
    """orjson.loads of a record's text; a record with undecodable bytes inside its strings is
    read from its readable text (its exact bytes stay in `raw`). Raises JSONDecodeError."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        if not has_escaped_bytes(text):
            raise
        return orjson.loads(readable(text))
