"""pack ∘ unpack identity: whatever strict unpack accepts, pack gives back byte for byte.

    python fuzz/fuzz_roundtrip.py [libFuzzer flags] [corpus dirs]   (or: python fuzz/run.py)

For every input that strict decoding accepts, in both twins and from the
Segment either twin decoded: ``pack`` returns the input; ``pack_into`` writes
exactly it at an offset and touches nothing else; ``pack`` with addresses
changes only the checksum field, to one that ``verify_checksum`` accepts and
that equals ``tcp_checksum``.  Lenient decoding round-trips too, except where the
data offset points past the buffer (the header is then padded out to it).
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["fastseg"]):
    from fastseg import DecodeError, _impl, reference

from _common import Broken, agree, main, outcome

CODEC, CHECKSUM = _impl.twin("codec", "cython"), _impl.twin("checksum", "cython")
TWINS = (("compiled", CODEC, CHECKSUM), ("reference", reference, reference))
ADDRESSES = ((b"\x0a\xd5\x00\x01", b"\x0a\xd5\x00\x02"), ("fd00:fa57:5e9::1", "fd00:fa57:5e9::2"))


def _identity(data: bytes, segment: object, strict: bool) -> None:
    for name, codec, checksum in TWINS:
        packed = codec.pack(segment)
        if packed != data:
            raise Broken(f"{name} pack(unpack(b, strict={strict})) != b for {data.hex()}: "
                         f"got {packed.hex()}")
        if not strict:
            continue
        target = bytearray(b"\xa5" * (len(data) + 7))
        written = codec.pack_into(target, 3, segment)
        if written != len(data) or target != b"\xa5" * 3 + data + b"\xa5" * 4:
            raise Broken(f"{name} pack_into wrote {written} bytes, {target.hex()}, for {data.hex()}")
        for src, dst in ADDRESSES:
            summed = codec.pack(segment, src=src, dst=dst)
            if summed[:16] != data[:16] or summed[18:] != data[18:]:
                raise Broken(f"{name} pack with addresses changed more than the checksum: "
                             f"{summed.hex()} for {data.hex()}")
            if not checksum.verify_checksum(src, dst, summed):
                raise Broken(f"{name} pack({src!r}, {dst!r}) wrote a checksum verify rejects: "
                             f"{summed.hex()}")
            if int.from_bytes(summed[16:18], "big") != checksum.tcp_checksum(src, dst, data):
                raise Broken(f"{name} pack and tcp_checksum differ for {data.hex()}")


def test_one_input(data: bytes) -> None:
    for strict in (True, False):
        decoded = [outcome((DecodeError,), codec.unpack, data, strict=strict)
                   for _, codec, _ in TWINS]
        agree(f"unpack(strict={strict})", decoded[0], decoded[1], data)
        if decoded[1][0] != "ok":
            continue
        segment = decoded[1][1]
        if not strict and segment.header_len > len(data):
            continue
        _identity(data, segment, strict)
        _identity(data, decoded[0][1], strict)


if __name__ == "__main__":
    main(test_one_input)
