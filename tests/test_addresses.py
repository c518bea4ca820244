"""`addresses.is_ip` must decide exactly as `ipaddress.ip_address` does, only faster."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditctl.ingest.addresses import is_ip


def reference(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("text", [
    "203.0.113.7", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1.2.3.4\n",
    " 1.2.3.4", "1.2.3.04", "١.٢.٣.٤", "1.2.3.4%eth0", "::1", "2001:db8::1", "fe80::1%eth0", "::ffff:192.0.2.1",
    "2001:db8:::1", "iam.amazonaws.com", "AWS Internal", "", "1..2.3", "192.168.1.255", "10.0.0.256",
])
def test_known_cases_agree_with_ipaddress(text):
    assert is_ip(text) == reference(text)


octet = st.one_of(st.integers(0, 300).map(str), st.from_regex(r"0[0-9]{1,2}", fullmatch=True))


@given(st.one_of(
    st.lists(octet, min_size=3, max_size=5).map(".".join),
    st.text(alphabet="0123456789abcdef:.%", max_size=24),
    st.text(max_size=16),
))
def test_any_text_agrees_with_ipaddress(text):
    assert is_ip(text) == reference(text)
