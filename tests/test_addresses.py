"""Text addresses for the pseudo-header: exactly the forms ``ipaddress`` takes, parsed once.

``pack``, ``compute_checksum`` and ``verify_checksum`` accept addresses as
text; both twins parse them through ``fastseg._addr``, which keeps recently
parsed text.  What it accepts and refuses, and what it returns, must be what
``ipaddress.ip_address`` would give, on the first call and on a cached one.
"""

from __future__ import annotations

import ipaddress

import pytest

from fastseg import EncodeError, Segment, _addr

FORMS = [
    "192.0.2.1", "0.0.0.0", "255.255.255.255", "10.0.0.1", "::", "::1", "2001:db8::1",
    "::ffff:192.0.2.1", "2001:DB8:0:0:0:0:0:1", "fe80::1%eth0", "1:2:3:4:5:6:7:8",
    # refused by ipaddress
    "", " 10.0.0.1", "10.0.0.1 ", "10.0.0.1\n", "010.0.0.1", "10.0.0", "10.0.0.1.1", "256.0.0.1",
    "10.0.0.-1", "1:2:3:4:5:6:7:8:9", "::1::", "2001:db8::g", "0x0a.0.0.1", "\uff11.2.3.4",
    "10.0.0.1/32", "[::1]",
]


def reference(text: str) -> bytes | None:
    try:
        return ipaddress.ip_address(text).packed
    except ValueError:
        return None


@pytest.mark.parametrize("text", FORMS)
def test_text_forms_are_those_of_ipaddress(impl, text):
    expected = reference(text)
    segment = Segment(src_port=1, dst_port=2)
    other = "::2" if ":" in text else "10.9.9.9"
    for _ in range(2):  # the second call finds the text already parsed
        if expected is None:
            with pytest.raises(EncodeError, match="not an IPv4 or IPv6 address"):
                impl.pack(segment, src=text, dst=other)
        else:
            assert _addr.packed(text, "src") == expected
            by_text = impl.pack(segment, src=text, dst=other)
            assert by_text == impl.pack(segment, src=expected, dst=reference(other))


class LyingText(str):
    """Hashes and compares like another address: a table keyed by text must not be fooled."""

    def __hash__(self) -> int:
        return hash("10.0.0.1")

    def __eq__(self, other: object) -> bool:
        return True

    __ne__ = str.__ne__


def test_a_str_subclass_is_parsed_for_itself():
    assert _addr.packed(LyingText("10.0.0.1"), "src") == bytes((10, 0, 0, 1))
    assert _addr.packed(LyingText("10.0.0.2"), "src") == bytes((10, 0, 0, 2))


def test_the_parsed_table_is_bounded():
    for n in range(_addr.PARSED_KEPT + 50):
        _addr.packed(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", "src")
    info = _addr._parse.cache_info()
    assert info.maxsize == _addr.PARSED_KEPT and info.currsize <= _addr.PARSED_KEPT
