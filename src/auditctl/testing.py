"""Golden-file and detection checks for parser plugins: the checks the built-in parsers' tests
use, for a third-party parser's tests too (pytest or any runner: failures raise AssertionError).

A golden file holds the events a sample log must parse to, one JSON object a line (every
event field, `ts` as ISO 8601 UTC, keys sorted). Write it once, review it, commit it:

    from auditctl.testing import assert_detects, assert_matches_golden, regenerate_golden

    def test_door_sample():
        assert_matches_golden(parser, SAMPLES / "door.log", GOLDEN / "door.log.jsonl")
        assert_detects(parser, SAMPLES / "door.log")

    # once, and after a deliberate change (then review the diff):
    regenerate_golden(parser, SAMPLES / "door.log", GOLDEN / "door.log.jsonl")

Samples are parsed by the given parser (no detection, no per-record retry by other parsers),
with year-less stamps dated against `REFERENCE_TIME` unless you pass `reference_time`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import orjson

from auditctl.ingest.discovery import DETECT_THRESHOLD
from auditctl.ingest.parsing import parse_path
from auditctl.plugins import Parser
from auditctl.schema import EVENT_FIELDS, Event, validate_event
from auditctl.sources import read_head

__all__ = [
    "REFERENCE_TIME", "assert_detects", "assert_does_not_detect", "assert_matches_golden",
    "assert_valid_events", "event_dict", "parse_sample", "read_golden", "regenerate_golden",
    "write_golden",
]

# A fixed "now" so year-less stamps (syslog's `Nov 26 10:00:00`) get the same year on any day.
REFERENCE_TIME = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def parse_sample(parser: Parser, sample: Path, *, reference_time: datetime | None = REFERENCE_TIME,
                 tz: tzinfo | None = None, options: dict[str, Any] | None = None) -> list[Event]:
    """Every event `parser` reads from the file `sample`."""
    source, events = parse_path(Path(sample), parser, tz=tz, reference_time=reference_time, options=options)
    try:
        return list(events)
    finally:
        source.stream.close()


# Fields added after golden files existed: a golden line has them only when they hold a value
# (as the leaf hash has tail columns), so goldens written before stay valid.
_LATER_FIELDS = frozenset({"received"})


def event_dict(ev: Event) -> dict[str, Any]:
    """An event as a golden line holds it: every field (later ones only when set), `ts` as
    ISO 8601 in UTC."""
    d = {name: getattr(ev, name) for name in EVENT_FIELDS
         if name not in _LATER_FIELDS or getattr(ev, name) is not None}
    d["ts"] = ev.ts.astimezone(UTC).isoformat() if ev.ts else None
    if ev.raw_bytes is not None:  # a binary record's exact bytes, as the store keeps them
        d["raw_b64"] = base64.b64encode(ev.raw_bytes).decode("ascii")
    return d


def write_golden(golden: Path, events: Sequence[Event]) -> Path:
    golden = Path(golden)
    golden.parent.mkdir(parents=True, exist_ok=True)
    lines = [orjson.dumps(event_dict(e), option=orjson.OPT_SORT_KEYS).decode() for e in events]
    golden.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return golden


def read_golden(golden: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(golden).read_text(encoding="utf-8").splitlines() if line]


def regenerate_golden(parser: Parser, sample: Path, golden: Path, **kwargs: Any) -> int:
    """Write the golden file of `sample` from what `parser` reads now; the number of events."""
    events = parse_sample(parser, sample, **kwargs)
    write_golden(golden, events)
    return len(events)


def assert_matches_golden(parser: Parser, sample: Path, golden: Path, **kwargs: Any) -> None:
    """`parser` reads exactly the golden events from `sample` (same count, order and fields)."""
    if not Path(golden).exists():
        raise AssertionError(f"no golden file {golden} for {sample}; write it with regenerate_golden() "
                             "and review it")
    expected = read_golden(golden)
    got = [event_dict(e) for e in parse_sample(parser, sample, **kwargs)]
    if len(got) != len(expected):
        raise AssertionError(f"{sample}: {len(got)} events, the golden file {golden} has {len(expected)}")
    for i, (g, x) in enumerate(zip(got, expected, strict=True)):
        if g != x:
            fields = "; ".join(f"{k}: got {g.get(k)!r}, golden {x.get(k)!r}"
                               for k in sorted(set(g) | set(x)) if g.get(k) != x.get(k))
            raise AssertionError(f"{sample}: event {i} (line {x.get('line')}) differs from {golden}: {fields}")


def assert_valid_events(parser: Parser, sample: Path, **kwargs: Any) -> None:
    """Every event of `sample` uses the schema's vocabulary and keeps its raw record."""
    for ev in parse_sample(parser, sample, **kwargs):
        problems = validate_event(ev)
        if problems:
            raise AssertionError(f"{sample}: line {ev.line}: {'; '.join(problems)}")
        if not ev.raw:
            raise AssertionError(f"{sample}: line {ev.line}: the raw record is not kept")


def assert_detects(parser: Parser, sample: Path, minimum: float = DETECT_THRESHOLD) -> None:
    """`parser` claims `sample` with at least `minimum` (ingest chooses a parser from 0.3)."""
    score = float(parser.detect(read_head(Path(sample))))
    if score < minimum:
        raise AssertionError(f"{parser.name} scores {sample} {score:.2f}, below {minimum}")


def assert_does_not_detect(parser: Parser, sample: Path, maximum: float = DETECT_THRESHOLD) -> None:
    """`parser` does not claim another format's `sample` (scores below `maximum`)."""
    score = float(parser.detect(read_head(Path(sample))))
    if score >= maximum:
        raise AssertionError(f"{parser.name} claims {sample} with {score:.2f} (must stay below {maximum})")
