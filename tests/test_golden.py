"""Every sample log parses to exactly its golden events, and is auto-detected as its parser."""

from __future__ import annotations

import pytest

from auditctl.ingest.parsing import choose_parser
from auditctl.sources import read_head
from auditctl.testing import assert_does_not_detect, assert_matches_golden, assert_valid_events
from support import SAMPLES, golden_path, registry, sample_files

SAMPLES_LIST = sample_files()


def _id(p):
    return str(p.relative_to(SAMPLES))


@pytest.mark.parametrize("sample", SAMPLES_LIST, ids=_id)
def test_sample_matches_golden(sample):
    """Through auditctl.testing, the checks a third-party parser's tests get too."""
    parser_name = sample.relative_to(SAMPLES).parts[0]
    assert golden_path(sample).exists(), f"no golden for {sample}; run tests/regen_golden.py"
    assert_matches_golden(registry().get(parser_name), sample, golden_path(sample))


@pytest.mark.parametrize("sample", SAMPLES_LIST, ids=_id)
def test_sample_is_detected_as_its_parser(sample):
    parser_name = sample.relative_to(SAMPLES).parts[0]
    choice = choose_parser(read_head(sample), registry())
    assert choice.parser.name == parser_name, choice.ranking


@pytest.mark.parametrize("sample", SAMPLES_LIST, ids=_id)
def test_sample_events_use_the_vocabulary(sample):
    assert_valid_events(registry().get(sample.relative_to(SAMPLES).parts[0]), sample)


def test_every_builtin_parser_has_a_sample():
    names = {info.name for info in registry()}
    with_samples = {p.relative_to(SAMPLES).parts[0] for p in SAMPLES_LIST}
    assert names <= with_samples, names - with_samples


# Parsers that may score on another format's samples, by design: the generic JSON parser
# claims any JSON object at 0.5. (syslog no longer claims syslog-wrapped CEF or PostgreSQL's
# stderr log: its detection wants a `tag:` after the header, and they have none.)
GENERIC = {"jsonl"}
# /run/utmp holds utmp records: the utmp parser reads it when forced; utmp_sessions wins by its name
EXPECTED_OVERLAP: set[tuple[str, str]] = {("utmp", "utmp_sessions")}


@pytest.mark.parametrize("sample", SAMPLES_LIST, ids=_id)
def test_no_other_parser_claims_the_sample(sample):
    """The negative detection test of every parser, over every other parser's samples."""
    own = sample.relative_to(SAMPLES).parts[0]
    for info in registry():
        if info.name == own or info.name in GENERIC or (info.name, own) in EXPECTED_OVERLAP:
            continue
        assert_does_not_detect(info.parser, sample)
