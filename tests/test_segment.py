"""A Segment's storage: immutability, equality, pickling, and the compiled lazy decoding.

The compiled ``unpack`` keeps a well-formed segment's bytes and decodes the
options and payload when they are first read.  These tests read the fields in
every order, from every buffer type, and check that the result is what the
reference twin decodes at once, that mutable inputs are copied, and that the
kept bytes are let go once nothing is left to decode.
"""

from __future__ import annotations

import abc
import gc
import itertools
import pickle
import sys

import pytest
from conftest import _cython_or_skip
from hypothesis import given, settings
from hypothesis import strategies as st
from segment_gen import examples, near_valid_bytes, unchecked, valid_bytes

import fastseg
from fastseg import Flags, OptionKind, Segment, reference
from fastseg import segment as segment_module

ACK_TS = bytes.fromhex("01bbc3a1 47a3f5b8 ce95bc2b 8018 5bf7 f662 0000 0101080a e34c6a0d 4483e6c3")
DATA = ACK_TS[:12] + b"\x80\x18" + ACK_TS[14:] + b"payload!"
READERS = {
    "options": lambda s: s.options,
    "payload": lambda s: s.payload,
    "pack": fastseg.pack,
    "hash": hash,
    "repr": repr,
    "fields": Segment.fields,
}


#: DATA's fields, read off its bytes by hand.
EXPECTED = Segment(src_port=443, dst_port=50081, seq=0x47A3F5B8, ack=0xCE95BC2B, header_len=32,
                   flags=Flags.PSH | Flags.ACK, window=0x5BF7, checksum=0xF662,
                   options=[(OptionKind.NOP, None), (OptionKind.NOP, None),
                            (OptionKind.TIMESTAMPS, (0xE34C6A0D, 0x4483E6C3))],
                   payload=b"payload!")


@pytest.mark.parametrize("order", list(itertools.permutations(READERS, 3)))
def test_fields_read_in_any_order_match_the_bytes(impl, order):
    expected = EXPECTED
    seg = impl.unpack(DATA)
    for name in order:
        assert READERS[name](seg) == READERS[name](expected), name
    assert seg == expected and seg.fields() == expected.fields()


@settings(max_examples=examples(300))
@given(data=valid_bytes() | near_valid_bytes(), first=st.sampled_from(sorted(READERS)))
def test_lazy_decoding_agrees_with_the_reference(data, first):
    twin = _cython_or_skip()
    try:
        expected = reference.unpack(data, strict=False)
    except fastseg.DecodeError:
        return
    seg = twin.unpack(data, strict=False)
    try:
        got_first = READERS[first](seg)
    except fastseg.EncodeError as error:  # pack refuses what lenient decoding kept raw
        with pytest.raises(type(error)):
            READERS[first](expected)
    else:
        assert got_first == READERS[first](expected)
    assert seg.fields() == expected.fields()


def test_mutable_input_is_copied(impl):
    buffer = bytearray(DATA)
    seg = impl.unpack(memoryview(buffer))
    buffer[20:] = bytes(len(buffer) - 20)
    buffer.extend(b"grown")  # no buffer export may be left behind
    assert seg == EXPECTED


def test_kept_bytes_are_released_once_decoded():
    twin = _cython_or_skip()
    data = bytes(DATA)
    before = sys.getrefcount(data)
    seg = twin.unpack(data)
    assert sys.getrefcount(data) == before + 1  # kept, not copied
    assert seg.options == reference.unpack(data).options
    assert sys.getrefcount(data) == before + 1  # the payload is still to come
    assert seg.payload == b"payload!"
    assert sys.getrefcount(data) == before
    bare = twin.unpack(ACK_TS[:12] + b"\x50\x10" + ACK_TS[14:20])
    assert bare.options == () and bare.payload == b""


def test_segments_are_immutable():
    seg = fastseg.unpack(DATA)
    for name in ("seq", "options", "payload", "anomalies", "not_a_field"):
        with pytest.raises(AttributeError, match="immutable"):
            setattr(seg, name, 1)
        with pytest.raises(AttributeError, match="immutable"):
            delattr(seg, name)
    assert seg == EXPECTED


def test_equality_is_by_fields_and_type():
    seg = fastseg.unpack(DATA)
    assert seg != seg.fields() and seg.fields() != seg
    assert seg == Segment(*seg.fields()) and hash(seg) == hash(Segment(*seg.fields()))
    assert seg != seg.replace(urgent=1)
    assert len({seg, fastseg.unpack(DATA), reference.unpack(DATA)}) == 1


@pytest.mark.parametrize("read_first", [False, True])
def test_pickle_round_trip(impl, read_first):
    seg = impl.unpack(DATA)
    if read_first:
        assert seg.options
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(seg, protocol))
        assert type(back) is Segment and back == seg and back.fields() == seg.fields()


def test_unchecked_values_are_kept_as_given():
    odd = unchecked(flags=3, options=None, payload=7, anomalies=["x"])
    assert (odd.flags, odd.options, odd.payload, odd.anomalies) == (3, None, 7, ["x"])
    assert not isinstance(odd.flags, Flags)


def test_compiled_storage_reads_fields_through_member_descriptors():
    _cython_or_skip()
    if segment_module._core.__name__ != "fastseg._segment_c":
        pytest.skip("Segment is built on the pure-Python storage in this process")
    for name in ("src_port", "seq", "flags", "window", "urgent", "anomalies"):
        assert type(vars(Segment)[name]).__name__ == "member_descriptor", name
    from fastseg import _segment_c

    assert _segment_c.adopted() is Segment


@pytest.mark.parametrize("core_name", ["python", "cython"])
def test_core_refuses_foreign_classes(core_name):
    if core_name == "cython":
        _cython_or_skip()
        from fastseg import _segment_c as core
    else:
        from fastseg import _segment_py as core

    class Extra(core.SegmentCore):
        __slots__ = ("extra",)

    for cls in (int, object, Extra):
        with pytest.raises(TypeError):
            core.adopt(cls)
    values = Segment().fields()
    with pytest.raises(TypeError):
        core.new(int, *values)  # never an instance of an unrelated type
    with pytest.raises(TypeError):
        core.new(Extra, *values[:-1])

    class Plain(core.SegmentCore):
        __slots__ = ()

    plain = core.new(Plain, *values)
    assert type(plain) is Plain and plain.options == () and plain.payload == b""
    extra = core.new(Extra, *values)  # a subclass's own slots start empty
    assert extra.options == () and extra.payload == b""
    with pytest.raises(AttributeError):
        extra.extra  # noqa: B018


def test_abstract_subclasses_are_not_instantiated():
    class Abstract(Segment, metaclass=abc.ABCMeta):
        __slots__ = ()

        @abc.abstractmethod
        def describe(self) -> str: ...

    # CPython's own message, which names the abstract methods (its wording varies by version).
    with pytest.raises(TypeError, match=r"abstract class Abstract.* method '?describe"):
        Abstract(src_port=1)


@pytest.fixture
def gc_hook():
    """Run a function inside the next garbage collection, which every allocation may start."""
    hooks: list = []

    def callback(phase: str, _info: dict) -> None:
        if phase == "start" and hooks:
            hooks.pop()()

    threshold = gc.get_threshold()
    gc.callbacks.append(callback)
    gc.set_threshold(1)
    yield hooks.append
    gc.set_threshold(*threshold)
    gc.callbacks.remove(callback)


def test_decoding_survives_a_reentrant_read(gc_hook):
    """A read of ``options`` from inside a collection that the outer read's allocations start
    (possible up to 3.11) finishes the decoding first and lets the kept bytes go; the outer
    read must still own them."""
    twin = _cython_or_skip()
    # Timestamps first (its tuple is the first allocation), then options still to walk,
    # and a payload above glibc's largest mmap threshold (32 MiB), so its freed copy is unmapped.
    header = ACK_TS[:12] + b"\x90\x18" + ACK_TS[14:20] + bytes.fromhex("080ae34c6a0d4483e6c30101020405b4")
    seg = twin.unpack(bytearray(header + bytes(33 << 20)))
    assert len(seg.payload) == 33 << 20
    gc_hook(lambda: seg.options)
    assert seg.options == reference.unpack(header).options


def test_a_buffer_changed_during_unpack_is_decoded_as_one(impl, gc_hook):
    """What unpack checks is what it keeps: a change to the buffer made while unpack runs
    (here by a collection) shows in every field or in none."""
    before = ACK_TS[:12] + b"\x60\x10" + ACK_TS[14:20] + b"\x01" * 8  # 4 NOPs, 4 payload bytes
    after = before[:12] + b"\xf0" + before[13:]  # a data offset of 15: more than there is
    buffer = bytearray(before)

    def change() -> None:
        buffer[12] = after[12]

    gc_hook(change)
    seg = impl.unpack(buffer, strict=False)
    assert seg.fields() in (reference.unpack(before, strict=False).fields(),
                            reference.unpack(after, strict=False).fields())
    assert len(seg.payload) == len(before) - min(seg.header_len, len(before))


def test_adopt_checks_the_real_type_and_takes_one_class():
    twin = _cython_or_skip()
    del twin
    from fastseg import _segment_c

    class Disguise(type):
        __bases__ = property(lambda cls: (_segment_c.SegmentCore,))
        __basicsize__ = property(lambda cls: _segment_c.SegmentCore.__basicsize__)

    class Small(metaclass=Disguise):
        __slots__ = ()

    class Second(_segment_c.SegmentCore):
        __slots__ = ()

    for cls in (Small, Second):
        with pytest.raises(TypeError):
            _segment_c.adopt(cls)
        assert "anomalies" not in vars(cls)
    assert _segment_c.adopted() is Segment


def test_int_flags_become_the_members_flags_would_give():
    """Segment takes a plain int's flags from a table of members: the very objects Flags() returns."""
    for bits in range(0x200):
        assert Segment(flags=bits).flags is Flags(bits)
    assert Segment(flags=True).flags is Flags.FIN
    assert int(Segment(flags=0x3FF).flags) == 0x3FF
