"""Differential tests: the Cython twin must do exactly what the pure-Python twin does.

For every public function and every kind of input (valid, near-valid and
random bytes, every buffer type, wrongly typed and out-of-range arguments)
both twins must return equal values of the same types, or raise the same
exception class with the same ``args``, attributes and message.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any, Tuple

import pytest
from conftest import stable_repr
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from segment_gen import (
    BAD_ADDRESS_PAIRS,
    NOT_BUFFERS,
    READ_BUFFERS,
    UNWRITABLE_TARGETS,
    WRITABLE_TARGETS,
    Target,
    address_pairs,
    any_bytes,
    examples,
    near_valid_bytes,
    numpy,
    plausible_bytes,
    segments,
    shape,
    u16,
    u32,
    unchecked,
    valid_bytes,
)

from fastseg import DecodeError, EncodeError, OptionKind, Segment

SETTINGS = settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

Outcome = Tuple[str, Any]


# ---------------------------------------------------------------- comparing outcomes


def call(function: Any, *args: Any, **kwargs: Any) -> Outcome:
    try:
        return ("returned", function(*args, **kwargs))
    except Exception as exc:  # every exception is part of the behaviour compared
        return ("raised", exc)


def describe(outcome: Outcome) -> str:
    kind, value = outcome
    if kind == "raised":
        return f"raised {type(value).__name__}{value.args!r}"
    return f"returned {value!r}"


def assert_same_outcome(cython: Outcome, python: Outcome, context: str = "") -> None:
    """Equal results of the same types, or the same exception in every respect."""
    mismatch = f"{context}\ncython {describe(cython)}\npython {describe(python)}"
    assert cython[0] == python[0], mismatch
    c, p = cython[1], python[1]
    if cython[0] == "raised":
        assert type(c) is type(p), mismatch
        assert c.args == p.args, mismatch
        assert str(c) == str(p), mismatch
        if isinstance(p, DecodeError):
            assert (c.offset, c.reason) == (p.offset, p.reason), mismatch
        if isinstance(p, EncodeError):
            assert (c.field, c.reason) == (p.field, p.reason), mismatch
    else:
        assert c == p, mismatch
        assert shape(c) == shape(p), mismatch
        if isinstance(p, Segment):
            assert type(c.flags) is type(p.flags), mismatch
            assert [type(kind) for kind, _ in c.options] == [type(kind) for kind, _ in p.options]
            assert repr(c) == repr(p), mismatch


def assert_twins_agree(function: str, twins: Any, *args: Any, **kwargs: Any) -> Outcome:
    """Call ``function`` of both twins on the same arguments; return the reference's outcome."""
    cython, python = twins
    expected = call(getattr(python, function), *args, **kwargs)
    assert_same_outcome(call(getattr(cython, function), *args, **kwargs), expected)
    return expected


def buffers_of(data: bytes) -> list[tuple[str, Any]]:
    """``data`` in every buffer type that can hold it."""
    made = [(name, make(data)) for name, make in READ_BUFFERS]
    return [(name, buffer) for name, buffer in made if buffer is not None]


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).getrandbits(8 * size).to_bytes(size, "little") if size else b""


#: Data long enough for 32-bit partial sums and IPv4 pseudo-header lengths to matter.
big_data = st.builds(random_bytes, st.integers(65530, 70001), st.integers(0, 2**32))


# ---------------------------------------------------------------- unpack


@SETTINGS
@given(data=any_bytes(), strict=st.booleans())
@example(data=b"", strict=True)
@example(data=bytes(19), strict=False)
@example(data=b"\0" * 12 + b"\xf0" + b"\0" * 7, strict=False)
def test_unpack_agrees_on_every_buffer_type(twins: Any, data: bytes, strict: bool) -> None:
    expected = assert_twins_agree("unpack", twins, data, strict=strict)
    for name, buffer in buffers_of(data):
        got = assert_twins_agree("unpack", twins, buffer, strict=strict)
        # The buffer type must not change the answer either.
        assert_same_outcome(got, expected, context=name)


@SETTINGS
@given(data=st.one_of(valid_bytes(), near_valid_bytes()))
def test_unpack_agrees_strict_and_lenient(twins: Any, data: bytes) -> None:
    assert_twins_agree("unpack", twins, data)
    assert_twins_agree("unpack", twins, data, strict=False)


@settings(SETTINGS, max_examples=examples(300))
@given(data=plausible_bytes(), strict=st.booleans())
def test_unpack_agrees_on_random_headers(twins: Any, data: bytes, strict: bool) -> None:
    assert_twins_agree("unpack", twins, data, strict=strict)


@pytest.mark.parametrize("value", NOT_BUFFERS, ids=stable_repr)
@pytest.mark.parametrize("strict", [True, False])
def test_unpack_refuses_non_buffers_alike(twins: Any, value: Any, strict: bool) -> None:
    outcome = assert_twins_agree("unpack", twins, value, strict=strict)
    assert outcome[0] == "raised" and type(outcome[1]) is TypeError
    assert str(outcome[1]) == f"a bytes-like object is required, not {type(value).__name__!r}"


def test_released_memoryview_errors_agree(twins: Any) -> None:
    view = memoryview(bytes(40))
    view.release()
    src, dst = "10.0.0.1", "10.0.0.2"
    for function, args in [
        ("unpack", (view,)),
        ("internet_checksum", (view,)),
        ("tcp_checksum", (src, dst, view)),
        ("verify_checksum", (src, dst, view)),
        ("update_checksum", (0, view, b"")),
        ("pack_into", (view, 0, Segment())),
    ]:
        outcome = assert_twins_agree(function, twins, *args)
        assert outcome[0] == "raised" and type(outcome[1]) is ValueError, function


@pytest.mark.skipif(numpy is None, reason="numpy is not installed")
@pytest.mark.parametrize("order", ["strided", "fortran"])
def test_non_contiguous_numpy_arrays_read_alike(twins: Any, order: str) -> None:
    """Regression: the compiled twins let numpy's ValueError ("ndarray is not
    C-contiguous") escape where the reference reads the array's bytes."""
    data = bytes.fromhex("005001bb0000000100000002501200ffabcd0000") + b"payload!"
    spread = bytes(byte for pair in zip(data, b"?" * len(data)) for byte in pair)
    array = numpy.frombuffer(spread, dtype=numpy.uint8)[::2] if order == "strided" else (
        numpy.asfortranarray(numpy.frombuffer(data, dtype=numpy.uint8).reshape(4, 7)))
    assert memoryview(array).tobytes() == data
    src, dst = "10.0.0.1", "10.0.0.2"
    for function, args in [
        ("unpack", (array,)),
        ("internet_checksum", (array,)),
        ("tcp_checksum", (src, dst, array)),
        ("verify_checksum", (src, dst, array)),
        ("update_checksum", (0, array, data)),
    ]:
        outcome = assert_twins_agree(function, twins, *args)
        assert outcome[0] == "returned", function


# ---------------------------------------------------------------- pack

VALID_BUT_UNUSUAL = [
    ("payload", bytearray(b"abc")),
    ("payload", memoryview(b"abcd")),
    ("src_port", True),
    ("header_len", 0),
    ("header_len", 16),
    ("options", [[2, 1460], [1, None]]),
    ("options", ((None, b"\x01\x01"),)),
    ("options", ((None, bytearray(b"\x01")),)),
    ("options", ((None, b""),)),
    ("options", ((5, [(1, 2), [3, 4]]),)),
    ("options", ((8, [1, 2]),)),
    ("options", ((0, None),)),
    ("options", ((0, bytearray(b"\x09")),)),
    ("options", ((19, bytearray(16)),)),
    ("options", ((34, memoryview(b"cookie")),)),
    ("options", ((4, b""),)),
    ("options", ((True, None),)),
    ("options", ((OptionKind.MSS, True),)),
]

BAD_FIELDS = [
    ("src_port", 70000), ("src_port", -1), ("src_port", 1.0), ("src_port", "80"), ("src_port", None),
    ("dst_port", 65536), ("dst_port", 2**64), ("dst_port", -(2**64)),
    ("seq", 2**32), ("seq", -1), ("seq", 2**63), ("seq", 2**63 - 1), ("seq", -(2**63) - 1),
    ("ack", 2**32), ("ack", 1.5), ("ack", "1"),
    ("flags", 0x200), ("flags", -1), ("flags", "SYN"), ("flags", 2**64),
    ("reserved", 8), ("reserved", -1), ("reserved", None),
    ("window", 65536), ("checksum", 65536), ("checksum", -1), ("urgent", 65536), ("urgent", None),
    ("header_len", 62), ("header_len", 64), ("header_len", -4), ("header_len", 18),
    ("header_len", 20.0), ("header_len", None), ("header_len", "20"), ("header_len", 2**64),
    ("payload", "text"), ("payload", None), ("payload", [1, 2]), ("payload", 5),
    ("options", 5), ("options", None),
]


def _options_case(*options: Any, header_len: Any = 60) -> dict[str, Any]:
    return {"options": tuple(options), "header_len": header_len}


BAD_OPTIONS = [
    _options_case((2, 70000)), _options_case((2, -1)), _options_case((2, "x")), _options_case((2, None)),
    _options_case((3, 256)), _options_case((3, 1.0)),
    _options_case((8, (1,))), _options_case((8, (1, 2, 3))), _options_case((8, (2**32, 0))),
    _options_case((8, None)), _options_case((8, 5)), _options_case((8, ((1, 2),))),
    _options_case((5, ())), _options_case((5, ((1, 2),) * 5)), _options_case((5, ((1, 2, 3),))),
    _options_case((5, (1, 2))), _options_case((5, ((1, -1),))), _options_case((5, None)),
    _options_case((5, [])), _options_case((5, ((1, 2.0),))),
    _options_case((1, b"")), _options_case((1, 0)), _options_case((0, 5)), _options_case((0, "x")),
    _options_case((256, b"")), _options_case((-1, b"")), _options_case(("x", b"")),
    _options_case((1.0, None)), _options_case((9, None)), _options_case((9, 5)),
    _options_case((9, bytes(254))), _options_case((9, bytes(253))), _options_case((None, "str")),
    _options_case((None, None)), _options_case((4, 5)), _options_case((4, True)),
    _options_case((1,)), _options_case(5), _options_case((1, None, 2)), _options_case("ab"),
    # Too long: 54 and 42 bytes of options.
    _options_case((19, bytes(16)), (19, bytes(16)), (19, bytes(16))),
    _options_case((5, ((1, 2),) * 5)),
    _options_case((9, bytes(39))),
    _options_case((None, bytes(41))),
    _options_case((0, bytes(40))),
    # Fine options in too small a header.
    _options_case((8, (1, 2)), (1, None), (1, None), header_len=24),
    _options_case((2, 1460), header_len=20),
    _options_case((2, 1460), header_len=18),
    _options_case((2, 1460), header_len=0),
    _options_case((None, b"\x01"), header_len=20),
    # A good option after a bad one, and a bad one after good ones.
    _options_case((2, 70000), (3, 300)),
    _options_case((1, None), (2, 1460), (3, 300)),
]


def _apply(segment: Segment, change: Any) -> Segment:
    """``segment`` with fields replaced as they are, bypassing the constructor's checks."""
    if isinstance(change, dict):
        return unchecked(segment, **change)
    if isinstance(change, tuple) and len(change) == 2 and isinstance(change[0], str):
        return unchecked(segment, **{change[0]: change[1]})
    return unchecked(segment, options=change)


ALL_CHANGES = VALID_BUT_UNUSUAL + BAD_FIELDS + BAD_OPTIONS


@SETTINGS
@given(segment=segments())
def test_pack_agrees_on_valid_segments(twins: Any, segment: Segment) -> None:
    outcome = assert_twins_agree("pack", twins, segment)
    assert outcome[0] == "returned"


@SETTINGS
@given(segment=segments(max_payload=200), addresses=address_pairs())
def test_pack_agrees_with_addresses(twins: Any, segment: Segment, addresses: Any) -> None:
    src, dst = addresses
    outcome = assert_twins_agree("pack", twins, segment, src=src, dst=dst)
    assert outcome[0] == "returned"


@pytest.mark.parametrize("change", ALL_CHANGES, ids=stable_repr)
def test_pack_agrees_on_unusual_and_bad_fields(twins: Any, change: Any) -> None:
    segment = _apply(Segment(seq=1, flags=0x12, payload=b"xyz"), change)
    assert_twins_agree("pack", twins, segment)
    assert_twins_agree("pack", twins, segment, src="10.0.0.1", dst="10.0.0.2")


@settings(SETTINGS, max_examples=examples(300))
@given(
    segment=segments(max_payload=50),
    changes=st.lists(st.sampled_from(ALL_CHANGES), max_size=3),
    addresses=st.one_of(st.none(), address_pairs(), st.sampled_from(BAD_ADDRESS_PAIRS)),
)
def test_pack_agrees_on_random_bad_segments(
    twins: Any, segment: Segment, changes: list[Any], addresses: Any
) -> None:
    for change in changes:
        segment = _apply(segment, change)
    kwargs = {} if addresses is None else {"src": addresses[0], "dst": addresses[1]}
    assert_twins_agree("pack", twins, segment, **kwargs)


@pytest.mark.parametrize("src, dst", BAD_ADDRESS_PAIRS, ids=stable_repr)
def test_pack_agrees_on_bad_addresses(twins: Any, src: Any, dst: Any) -> None:
    outcome = assert_twins_agree("pack", twins, Segment(payload=b"a"), src=src, dst=dst)
    assert outcome[0] == "raised" and isinstance(outcome[1], EncodeError)


@pytest.mark.parametrize("src, dst", [
    ("192.0.2.1", "192.0.2.2"),
    (b"\xc0\0\2\1", b"\xc0\0\2\2"),
    (ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("192.0.2.2")),
    (bytearray(b"\xc0\0\2\1"), memoryview(b"\xc0\0\2\2")),
    ("2001:db8::1", "2001:db8::2"),
    (b"\x20\x01\x0d\xb8" + bytes(11) + b"\1", ipaddress.ip_address("2001:db8::2")),
], ids=stable_repr)
def test_pack_agrees_on_address_forms(twins: Any, src: Any, dst: Any) -> None:
    segment = Segment(src_port=1, dst_port=2, flags=0x18, payload=b"hello")
    outcome = assert_twins_agree("pack", twins, segment, src=src, dst=dst)
    assert outcome[0] == "returned"


@pytest.mark.parametrize("version, payload", [(4, 65516), (4, 65515), (6, 70000)])
def test_pack_agrees_at_ip_length_limits(twins: Any, version: int, payload: int) -> None:
    src, dst = ("10.0.0.1", "10.0.0.2") if version == 4 else ("::1", "::2")
    assert_twins_agree("pack", twins, Segment(payload=bytes(payload)), src=src, dst=dst)


# ---------------------------------------------------------------- pack_into

offsets = st.one_of(
    st.integers(0, 8),
    st.integers(-3, 300),
    st.sampled_from([None, 1.0, "0", 2**64, -(2**64), True]),
)


@settings(SETTINGS, max_examples=examples(300))
@given(
    segment=segments(max_payload=100),
    change=st.one_of(st.none(), st.sampled_from(ALL_CHANGES)),
    kind=st.sampled_from(WRITABLE_TARGETS + UNWRITABLE_TARGETS),
    offset=offsets,
    slack=st.one_of(st.integers(-3, 3), st.integers(-200, 200)),
    fill=st.integers(0, 255),
    addresses=st.one_of(st.none(), address_pairs(), st.sampled_from(BAD_ADDRESS_PAIRS)),
)
def test_pack_into_agrees(
    twins: Any, segment: Segment, change: Any, kind: str, offset: Any, slack: int, fill: int,
    addresses: Any,
) -> None:
    if change is not None:
        segment = _apply(segment, change)
    kwargs = {} if addresses is None else {"src": addresses[0], "dst": addresses[1]}
    packed = call(twins[1].pack, segment, **kwargs)
    needed = len(packed[1]) if packed[0] == "returned" else 60
    start = int(offset) if isinstance(offset, int) and 0 <= offset <= 300 else 0
    size = max(start + needed + slack, 0)

    targets = [Target(kind, size, fill), Target(kind, size, fill)]
    before = targets[0].snapshot()
    outcomes = [call(twin.pack_into, target.buffer, offset, segment, **kwargs)
                for twin, target in zip(twins, targets)]
    assert_same_outcome(*outcomes)
    after = [target.snapshot() for target in targets]
    assert after[0] == after[1], "the twins left different bytes in the buffer"
    if outcomes[1][0] == "raised":
        assert after[0] == before, "pack_into changed the buffer and raised"
        if kind in UNWRITABLE_TARGETS and packed[0] == "returned" and targets[0].size > 1:
            assert type(outcomes[1][1]) is TypeError
    else:
        assert packed[0] == "returned"
        written = outcomes[1][1]
        assert written == len(packed[1])
        view = targets[0].view_bytes()
        assert view[start:start + written] == packed[1]
        original = Target(kind, size, fill).view_bytes()
        assert view[:start] == original[:start]
        assert view[start + written:] == original[start + written:]


@pytest.mark.parametrize("value", NOT_BUFFERS, ids=stable_repr)
def test_pack_into_refuses_non_buffers_alike(twins: Any, value: Any) -> None:
    outcome = assert_twins_agree("pack_into", twins, value, 0, Segment())
    assert outcome[0] == "raised" and type(outcome[1]) is TypeError


@pytest.mark.parametrize("kind", UNWRITABLE_TARGETS)
def test_pack_into_refuses_unwritable_buffers_alike(twins: Any, kind: str) -> None:
    """Regression (numpy_*): the compiled twin let numpy's ValueError ("buffer source
    array is read-only", "ndarray is not C-contiguous") escape instead of the TypeError."""
    targets = [Target(kind, 100, 1), Target(kind, 100, 1)]
    before = targets[0].snapshot()
    outcomes = [call(twin.pack_into, target.buffer, 0, Segment(payload=b"p"))
                for twin, target in zip(twins, targets)]
    assert_same_outcome(*outcomes)
    assert outcomes[1][0] == "raised" and type(outcomes[1][1]) is TypeError
    assert targets[0].snapshot() == targets[1].snapshot() == before


# ---------------------------------------------------------------- checksums

initials = st.one_of(u16, st.sampled_from([0, 1, 0xFFFE, 0xFFFF]))
bad_16bit = st.sampled_from([-1, 65536, 2**64, 1.0, "0", None, b"\0"])


@SETTINGS
@given(
    data=st.one_of(st.binary(max_size=300), big_data),
    initial=st.one_of(initials, bad_16bit),
)
@example(data=b"", initial=0)
@example(data=b"", initial=0xFFFF)
@example(data=b"\xff", initial=0)
def test_internet_checksum_agrees(twins: Any, data: bytes, initial: Any) -> None:
    expected = assert_twins_agree("internet_checksum", twins, data, initial)
    if len(data) > 1000:
        return  # the big inputs are checked once, as bytes
    for name, buffer in buffers_of(data):
        got = assert_twins_agree("internet_checksum", twins, buffer, initial)
        assert_same_outcome(got, expected, context=name)


@pytest.mark.parametrize("value", NOT_BUFFERS, ids=stable_repr)
def test_checksum_functions_refuse_non_buffers_alike(twins: Any, value: Any) -> None:
    src, dst = "10.0.0.1", "10.0.0.2"
    for function, args in [
        ("internet_checksum", (value,)),
        ("internet_checksum", (value, 5)),
        ("tcp_checksum", (src, dst, value)),
        ("verify_checksum", (src, dst, value)),
        ("update_checksum", (0, value, b"")),
        ("update_checksum", (0, b"", value)),
    ]:
        outcome = assert_twins_agree(function, twins, *args)
        assert outcome[0] == "raised" and type(outcome[1]) is TypeError, function


segment_data = st.one_of(
    st.binary(max_size=24),
    valid_bytes(max_payload=300),
    near_valid_bytes(),
    st.binary(max_size=100),
)


@SETTINGS
@given(
    addresses=st.one_of(address_pairs(), st.sampled_from(BAD_ADDRESS_PAIRS)),
    data=segment_data,
)
@example(addresses=("10.0.0.1", "10.0.0.2"), data=b"")
@example(addresses=("10.0.0.1", "10.0.0.2"), data=bytes(17))
def test_tcp_and_verify_checksum_agree(twins: Any, addresses: Any, data: bytes) -> None:
    src, dst = addresses
    for function in ("tcp_checksum", "verify_checksum"):
        expected = assert_twins_agree(function, twins, src, dst, data)
        for name, buffer in buffers_of(data):
            got = assert_twins_agree(function, twins, src, dst, buffer)
            assert_same_outcome(got, expected, context=f"{function} on {name}")


@pytest.mark.parametrize("length", [0, 1, 16, 17, 18, 19, 20])
@pytest.mark.parametrize("function", ["tcp_checksum", "verify_checksum"])
def test_short_segment_errors_agree(twins: Any, function: str, length: int) -> None:
    """Both twins name the length they were given (regression: tcp_checksum)."""
    outcome = assert_twins_agree(function, twins, "10.0.0.1", "10.0.0.2", bytes(length))
    if length < 20:
        assert outcome[0] == "raised"
        assert outcome[1].args == (length, f"fewer than 20 bytes ({length})")


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("size", [65535, 65536, 70000])
def test_jumbo_checksums_agree(twins: Any, version: int, size: int) -> None:
    src, dst = ("10.0.0.1", "10.0.0.2") if version == 4 else ("2001:db8::1", "2001:db8::2")
    data = random_bytes(size, size + version)
    for function in ("tcp_checksum", "verify_checksum"):
        assert_twins_agree(function, twins, src, dst, data)


same_length_pairs = st.integers(0, 64).flatmap(
    lambda n: st.tuples(st.binary(min_size=n, max_size=n), st.binary(min_size=n, max_size=n)))


@SETTINGS
@given(
    checksum=st.one_of(u16, bad_16bit),
    pair=st.one_of(same_length_pairs, st.tuples(st.binary(max_size=8), st.binary(max_size=8))),
)
@example(checksum=0, pair=(b"", b""))
@example(checksum=0xFFFF, pair=(b"\0\0", b"\xff\xff"))
@example(checksum=-1, pair=(b"", b"x"))
def test_update_checksum_agrees(twins: Any, checksum: Any, pair: Tuple[bytes, bytes]) -> None:
    old, new = pair
    expected = assert_twins_agree("update_checksum", twins, checksum, old, new)
    for (name, old_buffer), (_, new_buffer) in zip(buffers_of(old), buffers_of(new)):
        got = assert_twins_agree("update_checksum", twins, checksum, old_buffer, new_buffer)
        assert_same_outcome(got, expected, context=name)


# ---------------------------------------------------------------- sequence numbers

SEQ_EDGES = [0, 1, 2, 2**31 - 2, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 2, 2**32 - 1]
BAD_SEQ = [-1, 2**32, 2**32 + 1, 2**63, 2**64, -(2**63), -(2**64), 1.0, "1", None, b"\1", 1 + 0j]

seq_values = st.one_of(u32, st.sampled_from(SEQ_EDGES), st.sampled_from([True, False]))
any_seq = st.one_of(seq_values, st.sampled_from(BAD_SEQ))
steps = st.one_of(
    st.integers(-(2**33), 2**33),
    st.integers(-(2**80), 2**80),
    st.sampled_from([2**70, -(2**70), 2**63, 2**63 - 1, -(2**63), -(2**63) - 1, 2**64, -(2**64),
                     2**32, -(2**32), 2**31, -(2**31), 0, -1]),
)


@settings(SETTINGS, max_examples=examples(400))
@given(a=any_seq, b=any_seq)
def test_seq_comparisons_agree(twins: Any, a: Any, b: Any) -> None:
    for function in ("seq_lt", "seq_le", "seq_gt", "seq_ge", "seq_diff"):
        assert_twins_agree(function, twins, a, b)


@settings(SETTINGS, max_examples=examples(400))
@given(a=any_seq, n=st.one_of(steps, st.sampled_from(BAD_SEQ)))
def test_seq_add_agrees(twins: Any, a: Any, n: Any) -> None:
    assert_twins_agree("seq_add", twins, a, n)


@settings(SETTINGS, max_examples=examples(400))
@given(x=any_seq, left=any_seq, size=any_seq)
def test_seq_in_window_agrees(twins: Any, x: Any, left: Any, size: Any) -> None:
    assert_twins_agree("seq_in_window", twins, x, left, size)


@pytest.mark.parametrize("a", SEQ_EDGES + BAD_SEQ, ids=stable_repr)
@pytest.mark.parametrize("b", SEQ_EDGES + BAD_SEQ, ids=stable_repr)
def test_seq_edges_agree(twins: Any, a: Any, b: Any) -> None:
    for function in ("seq_lt", "seq_le", "seq_gt", "seq_ge", "seq_diff", "seq_add"):
        assert_twins_agree(function, twins, a, b)
    assert_twins_agree("seq_in_window", twins, a, b, 2**31)
    assert_twins_agree("seq_in_window", twins, 0, a, b)
