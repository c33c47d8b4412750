"""Text addresses for the pseudo-header: exactly the forms ``ipaddress`` takes, parsed once.

``pack``, ``tcp_checksum`` and ``verify_checksum`` accept addresses as text
and as ``ipaddress`` objects.  The pure twin parses text through
``fastseg._addr``, which keeps recently parsed text; the compiled twin has
its own parser in C (``_addr_c``) and leaves to ``_addr`` what it does not
take.  What they accept and refuse, and what they return, must be what
``ipaddress.ip_address`` would give, on the first call and on a cached one.
"""

from __future__ import annotations

import ipaddress
from functools import partial

import pytest
from conftest import PYTHON, _cython_or_skip, compiled_twin
from hypothesis import example, given, settings
from hypothesis import strategies as st
from segment_gen import examples

from fastseg import EncodeError, Segment, _addr

FORMS = [
    "192.0.2.1", "0.0.0.0", "255.255.255.255", "10.0.0.1", "::", "::1", "2001:db8::1",
    "::ffff:192.0.2.1", "2001:DB8:0:0:0:0:0:1", "fe80::1%eth0", "1:2:3:4:5:6:7:8",
    # refused by ipaddress
    "", " 10.0.0.1", "10.0.0.1 ", "10.0.0.1\n", "010.0.0.1", "10.0.0", "10.0.0.1.1", "256.0.0.1",
    "10.0.0.-1", "1:2:3:4:5:6:7:8:9", "::1::", "2001:db8::g", "0x0a.0.0.1", "\uff11.2.3.4",
    "10.0.0.\xb9", "\xe9::1", "::\xaa",  # Latin-1: one-byte characters beyond ASCII
    # two-byte characters whose first 7 bytes in memory spell "1.2.3.4" on a little-endian machine
    "\u2e31\u2e32\u2e33\u0034abc",
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


# ---------------------------------------------------------------- the compiled parser

def _dotted_tail(address: ipaddress.IPv6Address) -> str:
    """``address`` with its last 32 bits written as an IPv4 tail (RFC 4291 §2.2, form 3)."""
    head = address.exploded.rsplit(":", 2)[0]
    return head + ":" + str(ipaddress.IPv4Address(address.packed[12:]))


_valid_text = st.one_of(
    st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n))),
    st.integers(0, 2**128 - 1).map(lambda n: ipaddress.IPv6Address(n)).flatmap(
        lambda a: st.sampled_from([a.compressed, a.exploded, a.exploded.upper(), _dotted_tail(a),
                                   str(ipaddress.IPv6Address(int(a) >> 64 << 64))])),
    st.sampled_from(FORMS),
)


@st.composite
def near_addresses(draw: st.DrawFn) -> str:
    """Address text and small edits of it: characters inserted, dropped, replaced or doubled,
    from the grammar's own alphabet and a few beyond it (Latin-1 ones among them, which a
    str keeps one byte each, like ASCII)."""
    text = list(draw(_valid_text))
    alphabet = st.sampled_from("0123456789abcdefABCDEF:.:.%gx /\u0661\uff10\xb2\xe9\xb9")
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["insert", "drop", "replace", "double"]))
        if edit == "insert" or not text:
            text.insert(where, draw(alphabet))
        elif where < len(text):
            if edit == "drop":
                del text[where]
            elif edit == "replace":
                text[where] = draw(alphabet)
            else:
                text.insert(where, text[where])
    return "".join(text)


address_text = near_addresses() | st.text(st.sampled_from("0123456789abcdef:.%"), max_size=46)


@settings(max_examples=examples(600), deadline=None)
@given(text=address_text)
@example(text="1:2:3:4:5:6:7::")
@example(text="::1:2:3:4:5:6:7")
@example(text="1:2:3:4:5:6:1.2.3.4")
@example(text="1:2:3:4:5:6:7:1.2.3.4")
@example(text="::ffff:01.2.3.4")
@example(text="1.2.3.4::")
@example(text="0000:0000:0000:0000:0000:0000:255.255.255.255")
def test_the_compiled_parser_is_ipaddress(text):
    """Every text the compiled parser takes, it packs as ipaddress does; it takes every form
    ipaddress takes but scope IDs (``%eth0``), which it leaves to ``_addr``."""
    parse = compiled_twin("addr").parse
    expected = reference(text)
    got = parse(text)
    if "%" in text:
        assert got is None
    else:
        assert got == expected, (text, got, expected)


@settings(max_examples=examples(300), deadline=None)
@given(text=address_text)
def test_pack_with_text_agrees_in_both_twins(text):
    """Accepted and refused alike, by pack and the checksum functions, with the same bytes
    or the same error, as ipaddress says."""
    cython, python = _cython_or_skip(), PYTHON
    segment = Segment(src_port=1, dst_port=2, payload=b"x")
    other = "::2" if ":" in text else "10.9.9.9"
    expected = reference(text)
    wire = python.pack(segment)
    for twin in (cython, python):
        if expected is None:
            for call in (partial(twin.pack, segment, src=text, dst=other),
                         partial(twin.pack, segment, src=other, dst=text),
                         partial(twin.tcp_checksum, text, other, wire),
                         partial(twin.verify_checksum, other, text, wire)):
                with pytest.raises(EncodeError, match="not an IPv4 or IPv6 address"):
                    call()
        else:
            assert twin.pack(segment, src=text, dst=other) == python.pack(
                segment, src=expected, dst=reference(other))
            assert twin.tcp_checksum(text, other, wire) == python.tcp_checksum(
                expected, reference(other), wire)


# ---------------------------------------------------------------- ipaddress objects

_NUMBER_EDGES = [0, 1, 2**31, 2**32 - 1, 2**32, 2**63, 2**64 - 1, 2**64, 2**96 + 5, 2**127, 2**128 - 1]


@settings(max_examples=examples(300), deadline=None)
@given(number=st.integers(0, 2**128 - 1) | st.sampled_from(_NUMBER_EDGES) | st.integers(0, 2**32 - 1))
def test_ipaddress_objects_pack_as_their_packed_bytes(number):
    """An exact IPv4Address or IPv6Address packs as its ``packed`` bytes in both twins (the
    compiled one reads its number instead), its scope ID left out as ``packed`` leaves it."""
    cython = _cython_or_skip()
    segment = Segment(src_port=1, dst_port=2, payload=b"x")
    six = ipaddress.IPv6Address(number)
    addresses = [(six, ipaddress.IPv6Address(2**128 - 1 - number)),
                 (ipaddress.IPv6Address(f"{six}%eth0"), six)]
    if number < 2**32:
        addresses.append((ipaddress.IPv4Address(number), ipaddress.IPv4Address(2**32 - 1 - number)))
    for src, dst in addresses:
        expected = PYTHON.pack(segment, src=src.packed, dst=dst.packed)
        for twin in (cython, PYTHON):
            assert twin.pack(segment, src=src, dst=dst) == expected
            assert twin.verify_checksum(src, dst, expected)
            assert twin.tcp_checksum(src, dst, expected) == int.from_bytes(expected[16:18], "big")


@pytest.mark.parametrize(("kind", "number"), [(ipaddress.IPv4Address, 2**32), (ipaddress.IPv4Address, -1),
                                              (ipaddress.IPv6Address, 2**128), (ipaddress.IPv6Address, -1),
                                              (ipaddress.IPv6Address, 2**200)])
def test_an_ipaddress_number_out_of_range_is_refused_as_packed_refuses_it(impl, kind, number):
    """Bytes are never made of the low bits of a number out of range: ``packed`` raises,
    and so does ``pack``, the same error in both twins."""
    address = kind(0)
    object.__setattr__(address, "_ip", number)  # private: set only to hold the compiled route to it
    with pytest.raises(ValueError) as expected:
        address.packed  # noqa: B018
    other = kind(1)
    for src, dst in ((address, other), (other, address)):
        with pytest.raises(type(expected.value), match=str(expected.value)):
            impl.pack(Segment(), src=src, dst=dst)
        with pytest.raises(type(expected.value), match=str(expected.value)):
            impl.verify_checksum(src, dst, bytes(20))
