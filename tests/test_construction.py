"""Differential tests of building segments: the compiled ``Segment(...)`` and ``replace`` against
the pure twin's specification, ``_segment_py.fields_of``.

The compiled twin builds the common cases in C and hands the rest to
``fields_of``; these tests hold every field's accepted, normalised and refused
values (the bad values the pack tests use, options in every form, kinds and
flags as ints and as members) to the same outcome: equal segments with the
same types inside, or the same exception.  What pack then makes of a segment
is compared too, as both twins' ``pack``.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

import pytest
from conftest import _cython_or_skip, compiled_twin, stable_repr
from hypothesis import given
from hypothesis import strategies as st
from segment_gen import option_lists, u16, u32
from test_differential import ALL_CHANGES, SETTINGS, Outcome, assert_same_outcome, call

from fastseg import Flags, OptionKind, Segment, _segment_py, reference
from fastseg.segment import FIELDS


class Iterable:
    """Options that are neither a tuple nor a list, read afresh each time."""

    def __init__(self, items: tuple[Any, ...]) -> None:
        self.items = items

    def __iter__(self) -> Any:
        return iter(self.items)

    def __repr__(self) -> str:
        return f"Iterable({self.items!r})"


KWARGS_OF_CHANGES = [
    change if isinstance(change, dict)
    else {change[0]: change[1]} if isinstance(change, tuple) and isinstance(change[0], str)
    else {"options": change}
    for change in ALL_CHANGES
]

MORE_KWARGS = [
    {"options": [(2, 1460), (1, None), (3, 7)]},              # a list, plain-int kinds
    {"options": ((OptionKind.MSS, 1460), (1, None))},          # members and ints mixed
    {"options": ((8, (1, 2)), (5, ((1, 2), (3, 4))))},          # header_len from 20 bytes
    {"options": ((5, ((1, 2),) * 31),)},                        # the most blocks a length counts
    {"options": ((5, ((1, 2),) * 32),)},                        # one more
    {"options": ((9, bytes(253)),)},                            # the most data an option holds
    {"options": ((0, bytes(300)),)},                            # an EOL's tail has no limit
    {"options": Iterable(((2, 1460), (1, None)))},              # any iterable
    {"options": ((2, 1460),), "header_len": 20},                # header_len given: kept
    {"options": ((2, "x"),), "header_len": 24},                 # not encoded, so not refused
    {"options": [(1, None), (4, None), (3, 14)]},               # unpack's own constant options
    {"options": [(3, True), (4, None)]},                        # a bool shift: kept, not 1
    {"flags": Flags.SYN | Flags.ACK}, {"flags": 0x1FF}, {"flags": 0}, {"flags": True},
    {"flags": 0x3FF}, {"flags": -1}, {"flags": 1.0},
    {"payload": bytearray(b"ab")}, {"payload": memoryview(b"abc")[1:]}, {"payload": 5},
    {"anomalies": ["x"]}, {"anomalies": 5}, {"anomalies": ()},
    {"window": "any", "seq": None, "checksum": -5},             # numbers are kept, pack checks
]

ALL_KWARGS = KWARGS_OF_CHANGES + MORE_KWARGS


def _storage() -> Any:
    """The compiled storage, when Segment is built on it (else skip: one twin serves)."""
    _cython_or_skip()
    return compiled_twin("storage")


def reference_build(**kwargs: Any) -> Segment:
    """What the specification builds: ``fields_of``, stored as given."""
    return _storage().new(Segment, *_segment_py.fields_of(**kwargs))  # type: ignore[no-any-return]


def _pack_outcomes(cython: Outcome, python: Outcome) -> None:
    """Both twins' pack of the two built segments agree too."""
    codec = compiled_twin("codec")
    if cython[0] == "returned":
        assert_same_outcome(call(codec.pack, cython[1], src="10.0.0.1", dst="10.0.0.2"),
                            call(reference.pack, python[1], src="10.0.0.1", dst="10.0.0.2"))


def _agree(kwargs: dict[str, Any]) -> Outcome:
    _storage()
    cython = call(Segment, **kwargs)
    python = call(reference_build, **kwargs)
    assert_same_outcome(cython, python, repr(kwargs))
    _pack_outcomes(cython, python)
    return python


@pytest.mark.parametrize("kwargs", ALL_KWARGS, ids=stable_repr)
def test_construction_agrees(kwargs: dict[str, Any]) -> None:
    _agree(kwargs)


@pytest.mark.parametrize("kwargs", ALL_KWARGS, ids=stable_repr)
def test_replace_agrees(kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _storage()
    base = Segment(seq=1, flags=0x12, options=((2, 1460),), payload=b"xyz")
    # The specification's replace, building through the specification's constructor.
    monkeypatch.setattr(_segment_py, "_adopted", reference_build)
    python = call(_segment_py.replace, base, **kwargs)
    cython = call(base.replace, **kwargs)
    assert_same_outcome(cython, python, repr(kwargs))
    _pack_outcomes(cython, python)


def test_replace_refuses_unknown_fields_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    _storage()
    base = Segment()
    monkeypatch.setattr(_segment_py, "_adopted", reference_build)
    for changes in ({"sequence": 1}, {"zeta": 1, "alpha": 2, "seq": 3}, {"payload": b"", "Seq": 1}):
        python = call(_segment_py.replace, base, **changes)
        assert python[0] == "raised" and isinstance(python[1], TypeError)
        assert_same_outcome(call(base.replace, **changes), python, repr(changes))


@st.composite
def constructor_kwargs(draw: Any) -> dict[str, Any]:
    """Typed fields as programs pass them: kinds and flags as ints or members, options as a
    tuple or a list, header_len given or derived, now and then a bad value from the lists."""
    options = [(int(kind) if draw(st.booleans()) else kind, value)
               for kind, value in draw(option_lists())]
    kwargs: dict[str, Any] = {
        "src_port": draw(u16), "dst_port": draw(u16), "seq": draw(u32), "ack": draw(u32),
        "flags": draw(st.integers(0, 0x1FF).map(lambda bits: bits if bits % 2 else Flags(bits))),
        "window": draw(u16), "options": options if draw(st.booleans()) else tuple(options),
        "payload": draw(st.binary(max_size=40)),
    }
    if draw(st.booleans()):
        kwargs["header_len"] = draw(st.sampled_from([20, 24, 40, 60, None]))
    for change in draw(st.lists(st.sampled_from(KWARGS_OF_CHANGES), max_size=2)):
        kwargs.update(change)
    return kwargs


@SETTINGS
@given(kwargs=constructor_kwargs())
def test_random_construction_agrees(kwargs: dict[str, Any]) -> None:
    _agree(kwargs)


def test_plain_int_kinds_become_the_decoded_members() -> None:
    """Kinds as ints come out as unpack gives them, in both twins: members where named."""
    for built in (Segment(options=((2, 1460), (1, None), (200, b"ab"))),
                  Segment(options=[(2, 1460), (1, None), (200, b"ab")])):
        kinds = [kind for kind, _ in built.options]
        assert kinds == [2, 1, 200] and type(built.options) is tuple
        assert [type(kind) for kind in kinds] == [OptionKind, OptionKind, int]
        assert built.header_len == 20 + 12  # 4 + 1 + 4 option bytes, padded to 12


def test_replace_of_a_subclass_gives_a_segment() -> None:
    """As the specification says: replace() builds a Segment, whatever the segment's class."""

    class Tagged(Segment):
        __slots__ = ()

    tagged = Tagged(seq=5, options=((2, 1460),))
    for copy, expected in ((tagged.replace(), Segment(seq=5, options=((2, 1460),))),
                           (tagged.replace(seq=6), Segment(seq=6, options=((2, 1460),))),
                           (tagged.replace(options=()), Segment(seq=5))):
        assert type(copy) is Segment and copy.fields() == expected.fields()


def test_a_segment_without_its_fields_is_refused() -> None:
    """No Segment is made past its __new__ (SegmentCore's); the slots' class can be, and with
    its slots empty it is never read as if it had fields: pack and replace raise
    AttributeError, as the pure twin's reads do."""
    storage = _storage()
    for maker in (storage.SegmentBase, storage.SegmentSlots, object):
        with pytest.raises(TypeError, match="is not safe"):
            maker.__new__(Segment)
    empty = storage.SegmentBase.__new__(storage.SegmentSlots)
    for twin_pack in (compiled_twin("codec").pack, reference.pack):
        with pytest.raises(AttributeError):
            twin_pack(empty, src="10.0.0.1", dst="10.0.0.2")
    with pytest.raises(AttributeError):
        storage.replace(empty, seq=1)


# Calls of Segment(...) in every shape its compiled tp_new reads itself or hands to build():
# positions and keywords mixed, fields named out of order, a name given twice, an unknown or
# an equal but distinct name string, more positions than fields.
_FIELD_VALUES = (7, 80, 1000, 2000, None, 0x18, 0, 512, 0, 3, ((2, 1460), (1, None)), b"ab", ())
CALL_SHAPES: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),
    (_FIELD_VALUES, {}),
    (_FIELD_VALUES[:4], {"payload": b"x", "flags": 2}),
    ((), dict(zip(reversed(FIELDS), reversed(_FIELD_VALUES)))),
    ((), dict(zip(FIELDS, _FIELD_VALUES))),
    ((), {"urgent": 1, "src_port": 2, "anomalies": ("a",), "seq": 3}),
    ((1,), {"src_port": 2}),
    (_FIELD_VALUES[:12], {"payload": b"x"}),
    (_FIELD_VALUES[:12], {"anomalies": ("x",)}),
    ((), {"sequence": 1}),
    ((), {"seq": 1, "zeta": 2}),
    ((), {"".join(["s", "eq"]): 5, "".join(["win", "dow"]): 6}),  # equal text, other objects
    ((*_FIELD_VALUES, 1), {}),
    ((1, 2), {"options": [(3, 7)], "header_len": 60}),
]


@pytest.mark.parametrize(("args", "kwargs"), CALL_SHAPES, ids=stable_repr)
def test_every_call_shape_builds_what_build_does(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The compiled Segment(...) reads its arguments in C: the same segment or the same error
    as the storage's build(), which parses them as a Python function, and for a segment the
    fields the specification gives."""
    storage = _storage()
    built = call(Segment, *args, **kwargs)
    assert_same_outcome(built, call(storage.build, Segment, *args, **kwargs), repr((args, kwargs)))
    if built[0] == "returned":
        expected = storage.new(Segment, *_segment_py.fields_of(*args, **kwargs))
        assert_same_outcome(built, ("returned", expected), repr((args, kwargs)))


def test_segment_calls_the_compiled_tp_new_directly() -> None:
    """Segment has no __new__ of its own: type.__call__ runs SegmentCore's tp_new, a C function
    (a builtin), not a Python-level __new__ looked up and called a second time."""
    storage = _storage()
    assert "__new__" not in vars(Segment)
    assert type(Segment.__new__).__name__ == "builtin_function_or_method"
    assert Segment.__new__.__self__ is storage.SegmentCore
    assert Segment.__mro__[1:4] == (storage.SegmentCore, storage.SegmentSlots, storage.SegmentBase)


def test_construction_keeps_no_reference_it_should_not() -> None:
    """What Segment(...) reads from its keywords is held while it builds and released after,
    on success and on error; the segments release their class as they go."""
    _storage()
    marker = object()
    gc.collect()  # segments of earlier tests in cycles would give Segment back its references
    gc.disable()  # ... in the middle of the counting
    try:
        before, cls_before = sys.getrefcount(marker), sys.getrefcount(Segment)
        segments = [Segment(seq=marker, window=marker) for _ in range(100)]
        assert sys.getrefcount(marker) == before + 200
        assert sys.getrefcount(Segment) == cls_before + 100
        del segments
        for _ in range(100):
            with pytest.raises(TypeError):
                Segment(marker, src_port=marker)
            Segment(urgent=marker, **{"".join(["s", "eq"]): marker})
        assert (sys.getrefcount(marker), sys.getrefcount(Segment)) == (before, cls_before)
    finally:
        gc.enable()


def test_a_segment_in_a_cycle_is_collected() -> None:
    """The slots SegmentCore inherits are traversed by the collector: a cycle through a field
    is freed."""
    _storage()
    freed: list[bool] = []

    class Holder:
        def __del__(self) -> None:
            freed.append(True)

    holder = Holder()
    holder.segment = Segment(window=holder)  # type: ignore[attr-defined]
    del holder
    gc.collect()
    assert freed == [True]
