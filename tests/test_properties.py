"""Property tests, run against each twin in turn through the ``impl`` fixture.

Round trips, lenient versus strict decoding, checksums checked against an
independent summation, and 32-bit sequence arithmetic across the wrap point.
"""

from __future__ import annotations

import array
import ipaddress
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from segment_gen import (
    WRITABLE_TARGETS,
    Encoded,
    Target,
    address_pairs,
    any_bytes,
    encoded_segments,
    examples,
    near_valid_bytes,
    options_wire,
    plausible_bytes,
    segments,
    shape,
    u16,
    u32,
    unchecked,
    valid_bytes,
)

from fastseg import DecodeError, EncodeError, Segment, TruncatedSegment

SETTINGS = settings(
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ---------------------------------------------------------------- an independent checksum


def ones_complement_sum(data: bytes) -> int:
    """The folded 16-bit one's-complement sum of ``data``, by modular arithmetic.

    2**16 is 1 modulo 0xFFFF, so the number the bytes spell is congruent to the
    sum of their 16-bit words; the folded sum is that residue in [1, 0xFFFF],
    and 0 only for all-zero data.  (The implementations add words instead.)
    """
    if len(data) % 2:
        data += b"\0"
    number = int.from_bytes(data, "big")
    if number == 0:
        return 0
    return number % 0xFFFF or 0xFFFF


def expected_internet_checksum(data: bytes, initial: int = 0) -> int:
    total = ones_complement_sum(data) + initial
    folded = 0 if total == 0 else (total - 1) % 0xFFFF + 1
    return ~folded & 0xFFFF


def packed_address(address: Any) -> bytes:
    if isinstance(address, str):
        return ipaddress.ip_address(address).packed
    if isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return address.packed
    return bytes(address)


def pseudo_header(src: Any, dst: Any, length: int) -> bytes:
    src_raw, dst_raw = packed_address(src), packed_address(dst)
    if len(src_raw) == 4:
        return src_raw + dst_raw + b"\x00\x06" + length.to_bytes(2, "big")
    return src_raw + dst_raw + length.to_bytes(4, "big") + b"\x00\x00\x00\x06"


def expected_tcp_checksum(src: Any, dst: Any, segment: bytes) -> int:
    zeroed = segment[:16] + b"\0\0" + segment[18:]
    return ~ones_complement_sum(pseudo_header(src, dst, len(segment)) + zeroed) & 0xFFFF


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).getrandbits(8 * size).to_bytes(size, "little") if size else b""


def test_independent_sum_is_right() -> None:
    """The oracle itself, on RFC 1071 §3's example and on the ±0 corner."""
    assert ones_complement_sum(bytes.fromhex("0001f203f4f5f6f7")) == 0xDDF2
    assert ones_complement_sum(b"") == 0
    assert ones_complement_sum(b"\xff\xff\xff\xff") == 0xFFFF
    assert ones_complement_sum(b"\x80") == 0x8000


# ---------------------------------------------------------------- decoding and encoding


@SETTINGS
@given(encoded=encoded_segments())
def test_unpack_decodes_independently_written_bytes(impl: Any, encoded: Encoded) -> None:
    segment = impl.unpack(encoded.data)
    assert segment == encoded.decoded
    assert shape(segment) == shape(encoded.decoded)
    assert segment.anomalies == ()


@SETTINGS
@given(encoded=encoded_segments())
def test_pack_writes_the_independent_encoding(impl: Any, encoded: Encoded) -> None:
    assert impl.pack(encoded.segment) == encoded.data
    assert impl.pack(encoded.decoded) == encoded.data


@SETTINGS
@given(data=valid_bytes())
# All flags and reserved bits, a wrong checksum, non-zero bytes after EOL:
@example(data=bytes.fromhex("005001bbffffffff000000056fffffffdead000000ab12347061796c6f6164"))
# An unknown kind (9) with two data bytes:
@example(data=bytes.fromhex("005001bbffffffff000000056b00ffffdead00000904beef"))
def test_bytes_round_trip(impl: Any, data: bytes) -> None:
    assert impl.pack(impl.unpack(data)) == data


# Most near-valid inputs are refused, and are filtered out: that is the test's shape, not a
# slow strategy (Hypothesis still fails with Unsatisfiable if none were accepted at all).
@settings(SETTINGS, suppress_health_check=[*SETTINGS.suppress_health_check,
                                           HealthCheck.filter_too_much])
@given(data=near_valid_bytes())
def test_bytes_round_trip_whenever_strict_accepts(impl: Any, data: bytes) -> None:
    try:
        segment = impl.unpack(data)
    except DecodeError:
        assume(False)
    assert impl.pack(segment) == data


@SETTINGS
@given(segment=segments(aligned=True))
def test_segment_round_trip(impl: Any, segment: Segment) -> None:
    assert segment.header_len == 20 + len(options_wire(list(segment.options)))
    decoded = impl.unpack(impl.pack(segment))
    assert decoded == segment
    assert shape(decoded) == shape(segment)


@SETTINGS
@given(
    segment=segments(max_payload=300),
    kind=st.sampled_from(WRITABLE_TARGETS),
    offset=st.integers(0, 40),
    slack=st.integers(0, 20),
    fill=st.integers(0, 255),
)
def test_pack_into_writes_what_pack_returns(
    impl: Any, segment: Segment, kind: str, offset: int, slack: int, fill: int
) -> None:
    expected = impl.pack(segment)
    target = Target(kind, offset + len(expected) + slack, fill)
    before = target.view_bytes()
    assert impl.pack_into(target.buffer, offset, segment) == len(expected)
    after = target.view_bytes()
    assert after == before[:offset] + expected + before[offset + len(expected):]


@SETTINGS
@given(segment=segments(max_payload=100), slack=st.integers(1, 30), fill=st.integers(0, 255))
def test_pack_into_leaves_a_small_buffer_alone(impl: Any, segment: Segment, slack: int, fill: int) -> None:
    expected = impl.pack(segment)
    target = Target("bytearray", max(len(expected) - slack, 0), fill)
    before = target.snapshot()
    with pytest.raises(EncodeError) as error:
        impl.pack_into(target.buffer, 0, segment)
    assert error.value.field == "buffer"
    assert target.snapshot() == before


@pytest.mark.parametrize("make", [
    lambda raw: memoryview(array.array("H", raw)),
    lambda raw: memoryview(bytes(raw)).cast("B", (2, len(raw) // 2)),
], ids=["array_H", "2d"])
def test_option_value_of_wide_items_keeps_its_length(impl: Any, make: Any) -> None:
    """A bytes-like option value is its bytes, whatever its item size or shape.

    Regression: the length byte counted items, not bytes, so the option
    claimed 10 bytes and 18 were written.
    """
    raw = bytes(range(1, 17))
    value = make(raw)
    segment = unchecked(Segment(options=[(19, bytes(raw))], payload=b"x"), options=((19, value),))
    try:
        data = impl.pack(segment)
    except EncodeError:
        return  # refusing such a value is acceptable too
    assert impl.unpack(data).options[0] == (19, raw)


# ---------------------------------------------------------------- lenient decoding


def _same_error(error: BaseException, anomaly_error: BaseException) -> bool:
    return type(error) is type(anomaly_error) and error.args == anomaly_error.args


@settings(SETTINGS, max_examples=examples(300))
@given(data=any_bytes())
@example(data=bytes(19))
@example(data=b"\0" * 12 + b"\x40" + b"\0" * 7)
def test_lenient_agrees_with_strict(impl: Any, data: bytes) -> None:
    try:
        strict = impl.unpack(data)
    except DecodeError as error:
        if len(data) < 20:
            with pytest.raises(TruncatedSegment) as lenient_error:
                impl.unpack(data, strict=False)
            assert _same_error(lenient_error.value, error)
            return
        lenient = impl.unpack(data, strict=False)
        assert lenient.anomalies, "strict raised but lenient saw nothing wrong"
        first = lenient.anomalies[0].exception()
        assert _same_error(first, error), (first, error)
        assert str(lenient.anomalies[0]) == str(error)
    else:
        lenient = impl.unpack(data, strict=False)
        assert lenient == strict
        assert lenient.anomalies == ()


@settings(SETTINGS, max_examples=examples(300))
@given(data=st.one_of(st.binary(min_size=20, max_size=120), plausible_bytes()))
def test_lenient_never_raises_on_20_bytes_or_more(impl: Any, data: bytes) -> None:
    segment = impl.unpack(data, strict=False)
    assert segment.header_len == (data[12] >> 4) * 4
    for anomaly in segment.anomalies:
        assert isinstance(anomaly.exception(), DecodeError)
        assert 0 <= anomaly.offset <= max(len(data), 60)


@settings(SETTINGS, max_examples=examples(200))
@given(data=st.one_of(near_valid_bytes(), plausible_bytes(), st.binary(min_size=20, max_size=80)))
def test_lenient_decoding_is_lossless_when_the_header_fits(impl: Any, data: bytes) -> None:
    """Kept raw option bytes make every decodable buffer pack back to itself."""
    assume(len(data) >= 20 and (data[12] >> 4) * 4 <= len(data))
    assert impl.pack(impl.unpack(data, strict=False)) == data


# ---------------------------------------------------------------- checksums


@SETTINGS
@given(segment=segments(max_payload=600), addresses=address_pairs())
def test_packed_segment_verifies(impl: Any, segment: Segment, addresses: Any) -> None:
    src, dst = addresses
    data = impl.pack(segment, src=src, dst=dst)
    held = int.from_bytes(data[16:18], "big")
    assert held == expected_tcp_checksum(src, dst, data)
    assert impl.tcp_checksum(src, dst, data) == held
    assert impl.verify_checksum(src, dst, data) is True
    # Only the checksum field differs from packing without addresses.
    plain = impl.pack(segment)
    assert data[:16] == plain[:16] and data[18:] == plain[18:]


@SETTINGS
@given(segment=segments(max_payload=200), addresses=address_pairs(), data=st.data())
def test_any_single_bit_flip_fails_verification(impl: Any, segment: Segment, addresses: Any,
                                                data: Any) -> None:
    src, dst = addresses
    packed = bytearray(impl.pack(segment, src=src, dst=dst))
    bit = data.draw(st.integers(0, 8 * len(packed) - 1), label="bit")
    packed[bit // 8] ^= 0x80 >> bit % 8
    assert impl.verify_checksum(src, dst, packed) is False


@SETTINGS
@given(data=st.one_of(valid_bytes(max_payload=300), st.binary(min_size=20, max_size=200)),
       addresses=address_pairs())
def test_tcp_checksum_matches_independent_sum(impl: Any, data: bytes, addresses: Any) -> None:
    src, dst = addresses
    expected = expected_tcp_checksum(src, dst, data)
    assert impl.tcp_checksum(src, dst, data) == expected
    whole = ones_complement_sum(pseudo_header(src, dst, len(data)) + data)
    assert impl.verify_checksum(src, dst, data) is (whole == 0xFFFF)
    if int.from_bytes(data[16:18], "big") == expected:
        assert whole == 0xFFFF


@SETTINGS
@given(
    data=st.one_of(st.binary(max_size=300), st.builds(random_bytes, st.integers(0, 70001),
                                                      st.integers(0, 2**32))),
    initial=st.one_of(st.sampled_from([0, 1, 0xFFFE, 0xFFFF]), u16),
)
@example(data=b"", initial=0)
@example(data=b"", initial=0xFFFF)
@example(data=b"\xff\xff", initial=0)
@example(data=b"\x01", initial=0)
def test_internet_checksum_matches_independent_sum(impl: Any, data: bytes, initial: int) -> None:
    assert impl.internet_checksum(data, initial) == expected_internet_checksum(data, initial)
    if initial == 0:
        assert impl.internet_checksum(data) == expected_internet_checksum(data)


@SETTINGS
@given(data=st.binary(max_size=200).map(lambda d: d + bytes(len(d) % 2)))
def test_data_followed_by_its_checksum_sums_to_zero(impl: Any, data: bytes) -> None:
    checksum = impl.internet_checksum(data)
    assert impl.internet_checksum(data + checksum.to_bytes(2, "big")) == 0


@SETTINGS
@given(head=st.binary(max_size=40), tail=st.binary(max_size=40))
def test_internet_checksum_continues_from_a_partial_sum(impl: Any, head: bytes, tail: bytes) -> None:
    head += bytes(len(head) % 2)  # a partial sum covers whole words
    partial = ~impl.internet_checksum(head) & 0xFFFF
    assume(head.strip(b"\0"))  # the sum of nothing but zeros is 0, and its complement is not
    assert impl.internet_checksum(tail, partial) == impl.internet_checksum(head + tail)


@SETTINGS
@given(segment=segments(max_payload=300), addresses=address_pairs(), data=st.data())
def test_update_checksum_equals_recomputation(impl: Any, segment: Segment, addresses: Any,
                                              data: Any) -> None:
    src, dst = addresses
    packed = impl.pack(segment, src=src, dst=dst)
    checksum = int.from_bytes(packed[16:18], "big")
    # An even-aligned slice that leaves the checksum field itself alone.
    start = 2 * data.draw(st.integers(0, (len(packed) - 1) // 2), label="word")
    assume(start != 16)
    end_limit = 16 if start < 16 else len(packed)
    end = data.draw(st.integers(start, end_limit), label="end")
    old = packed[start:end]
    new = data.draw(st.binary(min_size=len(old), max_size=len(old)), label="new")
    changed = packed[:start] + new + packed[end:]
    assert impl.update_checksum(checksum, old, new) == impl.tcp_checksum(src, dst, changed)
    assert impl.update_checksum(checksum, old, new) == expected_tcp_checksum(src, dst, changed)


@SETTINGS
@given(data=st.binary(max_size=100), new=st.binary(max_size=100), where=st.integers(0, 50))
def test_update_checksum_on_plain_data(impl: Any, data: bytes, new: bytes, where: int) -> None:
    # The first word stays 0x1234, so the data never sums to zero: the one case where
    # RFC 1624's equation gives 0x0000 and a full computation 0xFFFF, both "zero".
    data = b"\x12\x34" + data
    start = 2 + min(2 * where, len(data) - 2 - len(data) % 2)
    old = data[start:start + len(new)]
    new = new[:len(old)]
    changed = data[:start] + new + data[start + len(new):]
    checksum = impl.internet_checksum(data)
    assert impl.update_checksum(checksum, old, new) == impl.internet_checksum(changed)


@SETTINGS
@given(checksum=st.integers(0, 0xFFFE), data=st.binary(max_size=50))
def test_update_checksum_without_change_keeps_the_checksum(impl: Any, checksum: int, data: bytes) -> None:
    assert impl.update_checksum(checksum, data, data) == checksum


@pytest.mark.parametrize("version", [4, 6])
def test_jumbo_segments(impl: Any, version: int) -> None:
    """Past 65535 bytes IPv6 counts the length in 32 bits (RFC 2675); IPv4 cannot."""
    src, dst = ("10.0.0.1", "10.0.0.2") if version == 4 else ("2001:db8::1", "2001:db8::2")
    payload = random_bytes(70000 - 20, 7)
    segment = Segment(src_port=443, dst_port=50000, seq=2**32 - 3, flags=0x18, payload=payload)
    data = impl.pack(segment)
    assert len(data) == 70000
    if version == 4:
        with pytest.raises(ValueError):
            impl.tcp_checksum(src, dst, data)
        with pytest.raises(ValueError):
            impl.verify_checksum(src, dst, data)
        with pytest.raises(EncodeError) as error:
            impl.pack(segment, src=src, dst=dst)
        assert error.value.field == "segment"
        # 65535 bytes is the most an IPv4 pseudo-header counts, and still fine.
        short = data[:65535]
        assert impl.tcp_checksum(src, dst, short) == expected_tcp_checksum(src, dst, short)
    else:
        expected = expected_tcp_checksum(src, dst, data)
        assert impl.tcp_checksum(src, dst, data) == expected
        packed = impl.pack(segment, src=src, dst=dst)
        assert int.from_bytes(packed[16:18], "big") == expected
        assert impl.verify_checksum(src, dst, packed) is True
        assert impl.verify_checksum(src, dst, packed[:-1]) is False


# ---------------------------------------------------------------- sequence numbers

#: Numbers near 0, 2**31 and 2**32 - 1 as often as anywhere else.
seqs = st.one_of(
    u32,
    st.integers(0, 64),
    st.integers(2**31 - 64, 2**31 + 64),
    st.integers(2**32 - 64, 2**32 - 1),
)
forward = st.one_of(st.integers(1, 2**31 - 1), st.sampled_from([1, 2**31 - 1]))
signed_steps = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([-(2**31), 2**31 - 1, -1, 0]))

SEQ_SETTINGS = settings(SETTINGS, max_examples=examples(300))


@SEQ_SETTINGS
@given(a=seqs, n=forward)
@example(a=2**32 - 1, n=1)
@example(a=2**32 - 1, n=2**31 - 1)
@example(a=2**31, n=2**31 - 1)
def test_seq_order_after_a_forward_step(impl: Any, a: int, n: int) -> None:
    b = impl.seq_add(a, n)
    assert b == (a + n) % 2**32
    assert impl.seq_lt(a, b) and impl.seq_le(a, b)
    assert impl.seq_gt(b, a) and impl.seq_ge(b, a)
    assert not impl.seq_lt(b, a) and not impl.seq_le(b, a)
    assert not impl.seq_gt(a, b) and not impl.seq_ge(a, b)


@SEQ_SETTINGS
@given(a=seqs, n=signed_steps)
@example(a=0, n=-(2**31))
@example(a=2**32 - 1, n=2**31 - 1)
def test_seq_diff_undoes_seq_add(impl: Any, a: int, n: int) -> None:
    b = impl.seq_add(a, n)
    assert impl.seq_diff(b, a) == n
    if n != -(2**31):
        assert impl.seq_diff(a, b) == -n
    assert impl.seq_add(b, -n) == a


@SEQ_SETTINGS
@given(a=seqs, n=st.one_of(st.integers(-(2**80), 2**80), st.sampled_from(
    [2**70, -(2**70), 2**64, -(2**64), 2**63, -(2**63), 2**63 - 1, -(2**63) - 1, 2**32, -(2**32)])))
def test_seq_add_any_step(impl: Any, a: int, n: int) -> None:
    assert impl.seq_add(a, n) == (a + n) % 2**32
    assert impl.seq_add(impl.seq_add(a, n), -n) == a


@SEQ_SETTINGS
@given(a=seqs)
@example(a=0)
@example(a=2**31)
@example(a=2**32 - 1)
def test_seq_antipodes_are_each_before_the_other(impl: Any, a: int) -> None:
    b = impl.seq_add(a, 2**31)
    assert b == a ^ 2**31
    assert impl.seq_lt(a, b) and impl.seq_lt(b, a)
    assert impl.seq_gt(a, b) and impl.seq_gt(b, a)
    assert impl.seq_le(a, b) and impl.seq_ge(b, a)
    assert impl.seq_diff(a, b) == impl.seq_diff(b, a) == -(2**31)


@SEQ_SETTINGS
@given(a=seqs)
def test_seq_equal_numbers(impl: Any, a: int) -> None:
    assert impl.seq_le(a, a) and impl.seq_ge(a, a)
    assert not impl.seq_lt(a, a) and not impl.seq_gt(a, a)
    assert impl.seq_diff(a, a) == 0


@SEQ_SETTINGS
@given(a=seqs, b=seqs)
def test_seq_comparisons_are_consistent(impl: Any, a: int, b: int) -> None:
    lt, le, gt, ge = impl.seq_lt(a, b), impl.seq_le(a, b), impl.seq_gt(a, b), impl.seq_ge(a, b)
    assert gt == impl.seq_lt(b, a) and ge == impl.seq_le(b, a)
    assert le == (lt or a == b) and ge == (gt or a == b)
    distance = impl.seq_diff(a, b)
    assert -(2**31) <= distance < 2**31 and (distance - (a - b)) % 2**32 == 0
    assert lt == (distance < 0)
    if distance != -(2**31):
        assert lt != gt or a == b


@SEQ_SETTINGS
@given(x=seqs, left=seqs, size=st.one_of(st.integers(1, 2**31), st.sampled_from([1, 2**31])))
@example(x=0, left=2**32 - 1, size=2)
@example(x=2**32 - 1, left=2**32 - 1, size=1)
@example(x=2**31 - 1, left=2**32 - 1, size=2**31)
def test_seq_in_window_matches_the_comparisons(impl: Any, x: int, left: int, size: int) -> None:
    right = impl.seq_add(left, size)
    inside = impl.seq_in_window(x, left, size)
    assert inside == (impl.seq_le(left, x) and impl.seq_lt(x, right))
    assert inside == ((x - left) % 2**32 < size)


@SEQ_SETTINGS
@given(left=seqs, size=st.one_of(u32, st.sampled_from([0, 1, 2**32 - 1])), data=st.data())
def test_seq_in_window_edges(impl: Any, left: int, size: int, data: Any) -> None:
    assert not impl.seq_in_window(impl.seq_add(left, size), left, size)
    if size:
        k = data.draw(st.integers(0, size - 1), label="k")
        assert impl.seq_in_window(impl.seq_add(left, k), left, size)
        assert impl.seq_in_window(left, left, size)
        assert impl.seq_in_window(impl.seq_add(left, size - 1), left, size)
    else:
        assert not impl.seq_in_window(left, left, 0)
