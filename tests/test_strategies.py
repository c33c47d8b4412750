"""The public Hypothesis strategies (fastseg.strategies) make what they claim.

Valid segments round-trip through both twins; every malformed defect meets
exactly the documented strict and lenient outcome; random headers decode
alike in both twins; and every window category does to a live Connection
what RFC 5961 / RFC 7323 say it should.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import replace
from typing import Any, List

import pytest
from connlink import CONFIG, Link, drain, established
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument, NoSuchExample
from segment_gen import examples

from fastseg import DecodeError, Flags, OptionKind, Segment, TruncatedSegment
from fastseg import strategies as fs
from fastseg.conn import Closed, Connection, ConnectionReset, DataReceived, Event, SegmentRejected, State

SETTINGS = settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
V4 = ("192.0.2.1", "198.51.100.7")
V6 = ("2001:db8::1", "2001:db8::2")
addresses = st.sampled_from([V4, V6])
#: For find(): no example database, and no explain phase (slow, and nothing fails).
FIND = settings(database=None, phases=[Phase.generate, Phase.shrink], max_examples=2000, derandomize=True)


def test_import_without_hypothesis_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # makes `import hypothesis` fail
    monkeypatch.delitem(sys.modules, "fastseg.strategies")
    with pytest.raises(ImportError) as error:
        importlib.import_module("fastseg.strategies")
    message = str(error.value)
    assert "pip install 'fastseg-tcp[fuzz]'" in message and "\n" not in message


# ---------------------------------------------------------------- options and valid segments


@SETTINGS
@given(options=fs.options(aligned=True))
def test_aligned_options_decode_to_themselves(impl: Any, options: List[Any]) -> None:
    segment = Segment(options=options)
    assert segment.header_len <= 60 and segment.header_len % 4 == 0
    assert impl.unpack(impl.pack(segment)).options == tuple(options)


@SETTINGS
@given(options=fs.options())
def test_options_fit_and_decode(impl: Any, options: List[Any]) -> None:
    decoded = impl.unpack(impl.pack(Segment(options=options)))  # strict: raises if anything is wrong
    body = [option for option in options if option[0] != OptionKind.EOL]
    tail = options[len(body):]  # an EOL, last, with zero padding only
    assert tail == [] or (len(tail) == 1 and not any(tail[0][1]))
    # Padding to the 4-byte boundary shows up as (the tail of) an EOL.
    assert decoded.options[: len(body)] == tuple(body)


@given(options=fs.options(max_bytes=12, eol=False))
def test_options_respect_max_bytes_and_eol(options: List[Any]) -> None:
    assert Segment(options=options).header_len <= 20 + 12
    assert all(kind != OptionKind.EOL for kind, _ in options)


@pytest.mark.parametrize("kind", [
    OptionKind.EOL, OptionKind.NOP, OptionKind.MSS, OptionKind.WSCALE, OptionKind.SACK_PERMITTED,
    OptionKind.SACK, OptionKind.TIMESTAMPS, OptionKind.MD5, OptionKind.TCP_AO, OptionKind.MPTCP,
    OptionKind.FASTOPEN, OptionKind.EXP1, OptionKind.EXP2, "unassigned", "sack4",
], ids=str)
def test_options_reach_every_kind(kind: Any) -> None:
    def has(options: List[Any]) -> bool:
        if kind == "unassigned":
            return any(type(k) is int and k > 34 for k, _ in options)
        if kind == "sack4":
            return any(k == OptionKind.SACK and len(v) == 4 for k, v in options)
        return any(k == kind for k, _ in options)

    find(fs.options(), has, settings=settings(FIND, max_examples=5000, phases=[Phase.generate]))


@SETTINGS
@given(segment=fs.segments())
def test_segments_round_trip(impl: Any, segment: Segment) -> None:
    decoded = impl.unpack(impl.pack(segment))
    assert decoded == segment
    assert repr(decoded) == repr(segment)
    assert segment.reserved == 0


@SETTINGS
@given(data=st.data())
def test_segments_obey_constraints(impl: Any, data: st.DataObject) -> None:
    segment = data.draw(fs.segments(
        flags=Flags.SYN | Flags.ACK, src_port=st.integers(1000, 1010), dst_port=443,
        payload_size=(3, 5), reserved=st.integers(0, 7),
    ))
    assert segment.flags == Flags.SYN | Flags.ACK and type(segment.flags) is Flags
    assert 1000 <= segment.src_port <= 1010 and segment.dst_port == 443
    assert 3 <= len(segment.payload) <= 5
    assert impl.unpack(impl.pack(segment)) == segment
    mss_only = data.draw(fs.segments(options=[(OptionKind.MSS, 1460)], payload_size=0))
    assert mss_only.options == ((OptionKind.MSS, 1460),) and mss_only.payload == b""


def test_segments_refuse_unknown_constraints() -> None:
    with pytest.raises(InvalidArgument, match="colour"):
        fs.segments(colour=1)
    with pytest.raises(InvalidArgument):
        fs.segments(payload_size=(5, 2))


def test_segments_shrink_to_a_minimal_payload() -> None:
    segment = find(fs.segments(), lambda s: len(s.payload) > 10, settings=FIND)
    assert segment.payload == bytes(11)
    assert segment == Segment(window=0, payload=bytes(11))


def test_segments_shrink_to_a_readable_option() -> None:
    segment = find(fs.segments(), lambda s: s.sack_blocks is not None, settings=FIND)
    assert segment.options == ((OptionKind.SACK, ((0, 0),)), (OptionKind.EOL, b"\0"))


# ---------------------------------------------------------------- packed segments and checksums


@SETTINGS
@given(pair=addresses, data=st.data())
def test_segment_bytes_checksum_modes(impl: Any, pair: Any, data: st.DataObject) -> None:
    src, dst = pair
    right = data.draw(fs.segment_bytes(src=src, dst=dst))  # "correct" is the default with addresses
    assert impl.verify_checksum(src, dst, right)
    wrong = data.draw(fs.segment_bytes(checksum="wrong", src=st.just(src), dst=dst))
    assert not impl.verify_checksum(src, dst, wrong)
    assert impl.pack(impl.unpack(wrong)) == wrong
    held = data.draw(fs.segment_bytes(checksum="as_generated", payload_size=0, flags=Flags.RST))
    assert impl.unpack(held).flags == Flags.RST


def test_wrong_checksum_is_never_the_other_zero(impl: Any) -> None:
    # 0x0000 and 0xFFFF are the same in one's-complement: whichever is right, the other verifies too.
    plain = impl.pack(Segment(seq=7, payload=b"zero"), src=V4[0], dst=V4[1])
    right_with_urgent_0 = int.from_bytes(plain[16:18], "big")
    data = impl.pack(Segment(seq=7, payload=b"zero", urgent=right_with_urgent_0), src=V4[0], dst=V4[1])
    right = int.from_bytes(data[16:18], "big")
    assert right in (0, 0xFFFF)
    twin = bytearray(data)
    twin[16:18] = (0xFFFF - right).to_bytes(2, "big")
    assert impl.verify_checksum(V4[0], V4[1], bytes(twin))
    for step in (1, 0xFFFF - right if right else 0xFFFF, 0xFFFF):
        wrong = fs._wrong_checksum(data, V4[0], V4[1], step)
        assert not impl.verify_checksum(V4[0], V4[1], wrong), step


def test_segment_bytes_refuses_a_mode_without_addresses() -> None:
    with pytest.raises(InvalidArgument):
        fs.segment_bytes(checksum="correct")
    with pytest.raises(InvalidArgument):
        fs.segment_bytes(checksum="bogus", src=V4[0], dst=V4[1])


# ---------------------------------------------------------------- malformed segments

#: Where strict decoding reports each defect: a byte offset, or a rule on the data.
FIXED_OFFSETS = {"data_offset_below_5": 12, "data_offset_past_buffer": 12, "truncated_options": 12}
ROUND_TRIP_SAFE = {"data_offset_below_5", "option_length_0", "option_length_1", "option_length_missing",
                   "option_past_header", "options_over_40", "wrong_option_length"}


def contradictions(flags: int) -> int:
    return bin(flags & (Flags.SYN | Flags.FIN | Flags.RST)).count("1")


@pytest.mark.parametrize("defect", fs.DEFECTS)
@SETTINGS
@given(pair=addresses, data=st.data())
def test_each_defect_meets_its_documented_outcome(
    impl: Any, defect: str, pair: Any, data: st.DataObject
) -> None:
    src, dst = pair
    raw = data.draw(fs.malformed_segments(defect, src=src, dst=dst), label="raw")
    expected = fs.DEFECT_ERRORS[defect]
    try:
        strict = impl.unpack(raw)
    except DecodeError as error:
        assert expected is not None and type(error) is expected, (defect, error)
        if defect in FIXED_OFFSETS:
            assert error.offset == FIXED_OFFSETS[defect]
        if defect == "truncated_fixed_header":
            assert len(raw) < 20
            with pytest.raises(TruncatedSegment):
                impl.unpack(raw, strict=False)
            return
        lenient = impl.unpack(raw, strict=False)
        assert lenient.anomalies[0].exception().args == error.args
        if defect != "truncated_options":
            assert len(lenient.anomalies) == 1, lenient.anomalies
        if defect in ROUND_TRIP_SAFE:
            assert impl.pack(lenient) == raw
        # Exactly one defect: everything else is in order.
        assert lenient.reserved == 0 and contradictions(lenient.flags) <= 1
        assert impl.verify_checksum(src, dst, raw)
        if defect == "options_over_40":
            assert lenient.header_len == 60 and len(raw) > 60
        return
    assert expected is None, f"{defect}: strict unpack accepted {raw!r}"
    assert impl.unpack(raw, strict=False) == strict and strict.anomalies == ()
    assert impl.pack(strict) == raw
    assert impl.verify_checksum(src, dst, raw) == (defect != "bad_checksum")
    assert (strict.reserved != 0) == (defect == "reserved_bits")
    assert (contradictions(strict.flags) >= 2) == (defect == "contradictory_flags")
    eol_tails = [value for kind, value in strict.options if kind == OptionKind.EOL]
    assert (any(any(tail) for tail in eol_tails)) == (defect == "bytes_after_eol")


@settings(SETTINGS, max_examples=examples(100))
@given(raw=fs.malformed_segments())
def test_any_defect_without_addresses(impl: Any, raw: bytes) -> None:
    try:
        impl.unpack(raw)
    except DecodeError as error:
        assert type(error) in set(fs.DEFECT_ERRORS.values())


def test_malformed_segments_arguments() -> None:
    with pytest.raises(InvalidArgument, match="needs src and dst"):
        fs.malformed_segments("bad_checksum")
    with pytest.raises(InvalidArgument, match="unknown defect"):
        fs.malformed_segments("gremlins")
    with pytest.raises(InvalidArgument):
        fs.malformed_segments(src=V4[0])
    assert set(fs.DEFECTS) == set(fs.DEFECT_ERRORS)
    several = find(fs.malformed_segments(["reserved_bits", "option_length_0"]), lambda raw: True,
                   settings=FIND)
    assert several[12] & 0x0E  # the first name is the simplest: reserved bits


def test_malformed_segments_shrink() -> None:
    raw = find(fs.malformed_segments("option_length_1"), lambda raw: True, settings=FIND)
    assert raw == bytes(12) + b"\x60\0" + bytes(6) + b"\x02\x01\0\0"


# ---------------------------------------------------------------- random headers


@settings(SETTINGS, max_examples=examples(150))
@given(raw=fs.raw_segments())
def test_raw_segments_decode_alike_in_both_twins(twins: Any, raw: bytes) -> None:
    cython, python = twins
    assert len(raw) >= 20
    assert cython.unpack(raw, strict=False) == python.unpack(raw, strict=False)
    outcomes = []
    for twin in twins:
        try:
            outcomes.append(("returned", twin.unpack(raw)))
        except DecodeError as error:
            outcomes.append(("raised", (type(error), error.args)))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("wanted", ["strict decodes", "offset below 5", "offset past buffer", "bad option"])
def test_raw_segments_cover_good_and_bad_headers(impl: Any, wanted: str) -> None:
    def kind(raw: bytes) -> str:
        try:
            impl.unpack(raw)
        except DecodeError as error:
            return {"BadDataOffset": "offset below 5", "TruncatedSegment": "offset past buffer",
                    "BadOption": "bad option"}[type(error).__name__]
        return "strict decodes"

    find(fs.raw_segments(), lambda raw: kind(raw) == wanted, settings=FIND)


# ---------------------------------------------------------------- window-aware segments


def victim_of(impl: Any, data: st.DataObject) -> tuple[Link, Connection, int]:
    """An ESTABLISHED server after some traffic, maybe with data in flight, and its TS.Recent.
    (Nagle is off: the bytes in flight are sent at once, not held behind unacknowledged ones.)"""
    link = established(impl, replace(CONFIG, nagle=False))
    link.a.send(b"a" * data.draw(st.integers(0, 3000), label="client bytes"))
    link.b.send(b"b" * data.draw(st.integers(0, 3000), label="server bytes"))
    link.now = 0.5
    link.settle()
    in_flight = data.draw(st.integers(0, 2000), label="server bytes in flight")
    if in_flight:
        link.b.send(b"c" * in_flight)
        link.b.segments_to_send(link.now)  # sent, but lost on the way
    drain(link.a)
    drain(link.b)
    # TS.Recent: the TSval of the last in-order segment from the peer (all of them were).
    last = [segment for ip, segment in link.log if ip == link.a.local[0]][-1]
    assert last.timestamps is not None
    return link, link.b, last.timestamps[0]


def deliver(link: Link, victim: Connection, segment: Segment) -> tuple[List[Event], List[Segment]]:
    link.now += 0.001
    victim.receive(link.wire(link.peer(victim), segment), link.now, remote_ip=link.peer(victim).local[0])
    return drain(victim), victim.segments_to_send(link.now)


def rejected(events: List[Event]) -> List[str]:
    return [event.reason for event in events if isinstance(event, SegmentRejected)]


def is_ack_only(sent: List[Segment], victim: Connection) -> bool:
    return len(sent) == 1 and sent[0].flags == Flags.ACK and not sent[0].payload \
        and sent[0].ack == victim.rcv_nxt


@pytest.mark.parametrize("category", fs.WINDOW_CATEGORIES)
@settings(SETTINGS, max_examples=examples(15))
@given(data=st.data())
def test_window_categories_behave_as_the_rfcs_say(impl: Any, category: str, data: st.DataObject) -> None:
    link, victim, ts_recent = victim_of(impl, data)
    max_snd_wnd = data.draw(st.sampled_from([None, victim.max_snd_wnd]), label="max_snd_wnd")
    segment = data.draw(fs.window_segments(victim, category, ts_recent=ts_recent,
                                           max_snd_wnd=max_snd_wnd), label="segment")
    before = (victim.rcv_nxt, victim.snd_una, victim.snd_nxt)
    events, sent = deliver(link, victim, segment)

    if category == "rst_exact":
        assert victim.state is State.CLOSED
        assert any(isinstance(e, ConnectionReset) for e in events) and isinstance(events[-1], Closed)
        assert sent == []
        return
    assert victim.state is State.ESTABLISHED
    reasons = rejected(events)
    if category == "data_in_window":
        assert reasons == []
        if segment.seq == before[0]:
            assert [e.data for e in events if isinstance(e, DataReceived)] == [segment.payload]
            assert victim.rcv_nxt == (before[0] + len(segment.payload)) % 2**32
        else:  # out of order: kept for later, duplicate ACK at once (RFC 5681 §4.2)
            assert victim.rcv_nxt == before[0] and is_ack_only(sent, victim)
        return
    assert (victim.rcv_nxt, victim.snd_una) == before[:2]
    assert not any(isinstance(e, DataReceived) for e in events)
    assert len(reasons) == 1
    if category == "rst_out_of_window":
        assert sent == [] and "outside the receive window" in reasons[0]
        return
    assert is_ack_only(sent, victim), sent  # a (challenge) ACK, and nothing else
    expected_reason = {
        "rst_in_window": "in-window RST not at RCV.NXT",
        "syn_in_window": "SYN in a synchronized state",
        "ack_too_old": "ACK older than SND.UNA - MAX.SND.WND",
        "ack_unsent": "ACK of data never sent",
        "stale_timestamp": "PAWS",
        # Both directions count as "before" at 2**31: the SEQ is out of the window, the ACK unsent.
        "antipodal": "outside the receive window" if (segment.seq - before[0]) % 2**32 == 2**31
                     else "ACK of data never sent",
    }[category]
    assert expected_reason in reasons[0]


def test_window_segments_shrink_to_readable_examples(impl: Any) -> None:
    link = established(impl)
    victim = link.b
    rst = find(fs.window_segments(victim, "rst_in_window"), lambda s: True, settings=FIND)
    assert rst == Segment(src_port=40000, dst_port=80, seq=(victim.rcv_nxt + 1) % 2**32, flags=Flags.RST,
                          window=0)
    old = find(fs.window_segments(victim, "ack_too_old"), lambda s: True, settings=FIND)
    assert old.ack == (victim.snd_una - (0xFFFF << 14) - 1) % 2**32 and old.payload == b""


def test_window_segments_arguments(impl: Any) -> None:
    with pytest.raises(InvalidArgument, match="unknown category"):
        fs.window_segments(Connection(("10.0.0.1", 1)), "rst_sideways")
    listening = Connection(("10.0.0.1", 1))
    listening.listen()
    with pytest.raises(InvalidArgument, match="synchronized"):
        find(fs.window_segments(listening), lambda s: True)
    link = established(impl)
    with pytest.raises(InvalidArgument, match="ts_recent"):
        find(fs.window_segments(link.b, "stale_timestamp"), lambda s: True)
    # Without ts_recent, any category but the stale timestamp one.
    find(fs.window_segments(link.b), lambda s: s.seq == (link.b.rcv_nxt + 2**31) % 2**32,
         settings=FIND)


@pytest.mark.parametrize("category", ["ack_unsent", "ack_too_old", "stale_timestamp", "antipodal"])
def test_an_empty_segment_meant_for_the_window_is_inside_it(impl: Any, category: str) -> None:
    """An empty segment is in the window only when RCV.NXT <= SEG.SEQ < RCV.NXT + RCV.WND: the
    categories that rely on the sequence check passing never put SEG.SEQ at the right edge."""
    link = established(impl)
    victim = link.b
    last = [segment for ip, segment in link.log if ip == link.a.local[0]][-1]
    ts_recent = last.timestamps[0] if last.timestamps is not None else None
    edge = victim.rcv_nxt + victim.rcv_wnd

    def at_the_edge(segment: Segment) -> bool:
        return segment.seq == edge % 2**32 and not segment.payload

    with pytest.raises(NoSuchExample):
        find(fs.window_segments(victim, category, payload_size=(0, 0), ts_recent=ts_recent),
             at_the_edge, settings=settings(FIND, max_examples=200))
