"""Differential pack of Segments built from fuzz data (atheris.FuzzedDataProvider).

    python fuzz/fuzz_pack.py [libFuzzer flags] [corpus dirs]   (or: python fuzz/run.py)

Field values range over valid numbers, their boundaries, just-out-of-range
numbers, int subclasses (bool, IntEnum) and wrong types; options over every
named kind with well- and ill-typed values, raw bytes and bytes-like objects;
addresses over IPv4/IPv6 as bytes, str and ipaddress objects, mixed and
malformed.  Segments are built through the constructor and, bypassing its
normalisation, with the storage's ``new`` (as unpack builds them).  Both twins must return the same bytes
or raise the same EncodeError (class and args), for ``pack`` and for
``pack_into`` (which must leave the buffer untouched on error).  Whatever
packs must decode (leniently: raw option bytes may be ill-formed) to a
Segment that packs back to the same bytes.
"""

from __future__ import annotations

import enum
import ipaddress

import atheris

with atheris.instrument_imports(include=["fastseg"]):
    from fastseg import EncodeError, Flags, OptionKind, Segment, _impl, reference
    from fastseg.segment import _core

from _common import Broken, agree, main, outcome

CODEC = _impl.twin("codec", "cython")


class Small(enum.IntEnum):
    ONE = 1


ODD_VALUES = (None, "1", 1.0, True, False, Small.ONE, -1, 2**64, -(2**63), b"\x01", (1,), [1, 2])
KINDS = (0, 1, 2, 3, 4, 5, 8, 19, 30, 34, 253, 254)
V4 = (b"\x0a\x00\x00\x01", "192.0.2.1", ipaddress.ip_address("198.51.100.7"))
V6 = (bytes(range(16)), "2001:db8::1", ipaddress.ip_address("fe80::1"))
BAD_ADDRESSES = (b"\x01\x02\x03", "not an address", 7, bytearray(b"\x0a\x00\x00\x02"),
                 memoryview(bytes(16)), "::ffff:10.0.0.1")


def number(fdp: atheris.FuzzedDataProvider, limit: int) -> object:
    """Mostly a valid int in [0, limit], else a boundary, out-of-range or odd value."""
    choice = fdp.ConsumeIntInRange(0, 15)
    if choice < 9:
        return fdp.ConsumeIntInRange(0, limit)
    if choice == 9:
        return limit
    if choice == 10:
        return limit + 1
    if choice == 11:
        return fdp.ConsumeIntInRange(0, 1)
    if choice == 12:
        return Flags(fdp.ConsumeIntInRange(0, 0x1FF))
    return fdp.PickValueInList(list(ODD_VALUES))


def raw(fdp: atheris.FuzzedDataProvider, most: int) -> object:
    data = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, most))
    kind = fdp.ConsumeIntInRange(0, 7)
    if kind == 5:
        return bytearray(data)
    if kind == 6:
        return memoryview(data)
    if kind == 7 and len(data) >= 2:
        return memoryview(data).cast("H") if len(data) % 2 == 0 else data.decode("latin-1")
    return data


def pairs(fdp: atheris.FuzzedDataProvider, count: int) -> object:
    made = tuple((number(fdp, 0xFFFFFFFF), number(fdp, 0xFFFFFFFF)) for _ in range(count))
    shape = fdp.ConsumeIntInRange(0, 7)
    if shape == 5:
        return list(made)
    if shape == 6:
        return tuple(list(p) for p in made)
    if shape == 7 and made:
        return made[0] + (1,)
    return made


def option(fdp: atheris.FuzzedDataProvider) -> tuple:
    choice = fdp.ConsumeIntInRange(0, 15)
    if choice == 0:
        return (None, raw(fdp, 12))
    if choice == 1:
        return (fdp.ConsumeIntInRange(0, 255), raw(fdp, 45))
    if choice == 2:
        return (fdp.PickValueInList([*ODD_VALUES, 256, OptionKind.SACK]), None)
    kind = fdp.PickValueInList(list(KINDS))
    if fdp.ConsumeBool():
        kind = OptionKind(kind) if kind in OptionKind._value2member_map_ else kind
    value_kind = fdp.ConsumeIntInRange(0, 9)
    if value_kind == 0:
        value = None
    elif value_kind == 1:
        value = raw(fdp, 10)
    elif value_kind in (2, 3):
        value = number(fdp, 0xFFFF if kind == 2 else 0xFF)
    elif value_kind in (4, 5):
        value = pairs(fdp, 1)
    elif value_kind in (6, 7):
        value = pairs(fdp, fdp.ConsumeIntInRange(0, 5))
    elif value_kind == 8:
        value = fdp.PickValueInList(list(ODD_VALUES))
    else:
        value = _natural(kind, fdp)
    return (kind, value)


def _natural(kind: int, fdp: atheris.FuzzedDataProvider) -> object:
    """The value type ``unpack`` gives this kind."""
    if kind == 2:
        return fdp.ConsumeIntInRange(0, 0xFFFF)
    if kind == 3:
        return fdp.ConsumeIntInRange(0, 0xFF)
    if kind in (1, 4):
        return None
    if kind == 8:
        return (fdp.ConsumeIntInRange(0, 0xFFFFFFFF), fdp.ConsumeIntInRange(0, 0xFFFFFFFF))
    if kind == 5:
        return tuple((fdp.ConsumeIntInRange(0, 0xFFFFFFFF), fdp.ConsumeIntInRange(0, 0xFFFFFFFF))
                     for _ in range(fdp.ConsumeIntInRange(1, 4)))
    return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8))


def address_pair(fdp: atheris.FuzzedDataProvider) -> tuple:
    choice = fdp.ConsumeIntInRange(0, 7)
    if choice <= 2:
        return None, None
    if choice <= 4:
        family = V4 if choice == 3 else V6
        return fdp.PickValueInList(list(family)), fdp.PickValueInList(list(family))
    pool = [*V4, *V6, *BAD_ADDRESSES, None]
    return fdp.PickValueInList(pool), fdp.PickValueInList(pool)


def segment(fdp: atheris.FuzzedDataProvider) -> object:
    options = [option(fdp) for _ in range(fdp.ConsumeIntInRange(0, 12))]
    header_len: object = None
    if fdp.ConsumeIntInRange(0, 3) == 0:
        header_len = fdp.PickValueInList([0, 4, 16, 20, 21, 24, 40, 44, 60, 61, 64, -4, 20.0])
    fields = dict(
        src_port=number(fdp, 0xFFFF), dst_port=number(fdp, 0xFFFF),
        seq=number(fdp, 0xFFFFFFFF), ack=number(fdp, 0xFFFFFFFF),
        flags=number(fdp, 0x1FF), reserved=number(fdp, 7), window=number(fdp, 0xFFFF),
        checksum=number(fdp, 0xFFFF), urgent=number(fdp, 0xFFFF),
    )
    if fdp.ConsumeBool():
        # Through the constructor: it normalises kinds, flags and the payload, or refuses.
        try:
            return Segment(header_len=header_len, options=options, payload=raw(fdp, 64), **fields)
        except (TypeError, ValueError, EncodeError):
            return None
    # Around it, as unpack builds them (and as a careless caller might).
    if header_len is None:
        header_len = fdp.ConsumeIntInRange(0, 15) * 4
    return _core.new(  # type: ignore[no-any-return]
        Segment, fields["src_port"], fields["dst_port"], fields["seq"], fields["ack"], header_len,
        fields["flags"], fields["reserved"], fields["window"], fields["checksum"],
        fields["urgent"], tuple(options) if fdp.ConsumeIntInRange(0, 7) else options,
        raw(fdp, 64), (),
    )


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    built = segment(fdp)
    if built is None:
        return
    src, dst = address_pair(fdp)
    offset = fdp.ConsumeIntInRange(0, 130)
    room = fdp.ConsumeIntInRange(0, 200)
    allowed = (EncodeError,)
    expected = outcome(allowed, reference.pack, built, src=src, dst=dst)
    agree("pack", outcome(allowed, CODEC.pack, built, src=src, dst=dst), expected, data)

    targets = []
    for codec in (CODEC, reference):
        target = bytearray(b"\x5a" * room)
        targets.append((outcome(allowed, codec.pack_into, target, offset, built, src=src, dst=dst),
                        bytes(target)))
    agree("pack_into", targets[0], targets[1], data)
    result, written = targets[1]
    if result[0] == "ok":
        if expected[0] != "ok" or written != b"\x5a" * offset + expected[1] + b"\x5a" * (
                room - offset - len(expected[1])):
            raise Broken(f"pack_into and pack differ: {targets[1]!r} vs {expected!r}")
    elif written != b"\x5a" * room:
        raise Broken(f"pack_into failed ({result!r}) but wrote to the buffer")

    if expected[0] == "ok":
        wire = expected[1]
        decoded = CODEC.unpack(wire, strict=False)  # raw option bytes may be ill-formed
        if CODEC.pack(decoded) != wire or reference.pack(decoded) != wire:
            raise Broken(f"packed bytes do not round-trip: {wire.hex()}")


if __name__ == "__main__":
    main(test_one_input)
