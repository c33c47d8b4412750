"""Checksum twins: internet_checksum, tcp_checksum, verify_checksum and update_checksum.

    python fuzz/fuzz_checksum.py [libFuzzer flags] [corpus dirs]   (or: python fuzz/run.py)

Input layout (so that captures make seeds; see make_corpus.py):

    byte 0      bits 0-2 address form: 0 IPv4 bytes, 1 IPv6 bytes, 2 IPv4 str,
                3 IPv6 ipaddress objects, 4 IPv4 src with IPv6 dst, 5 a 3-byte
                address, 6 an unparsable string, 7 IPv4 bytearray
                bit 3 initial/checksum out of range, bit 4 old/new lengths differ,
                bit 5 stretch the data past 65535 bytes (IPv4 pseudo-header limit),
                bits 6-7 buffer kind for the compiled twin
    then        src and dst (4 bytes each for IPv4 forms, else 16), a 16-bit
                initial / checksum value, a byte that places the update_checksum span,
    the rest    the data (a TCP segment in the seeds)

Both twins must return the same value or raise the same exception (class and
args; only ValueError, TypeError and fastseg's errors are expected).  On top, the
arithmetic must hold: ``tcp_checksum`` is what ``verify_checksum`` accepts;
``update_checksum`` over a rewritten even-aligned span matches recomputing the
checksum (up to the two zeros of one's complement); ``internet_checksum`` of
data with its own checksum appended (even length) is zero.
"""

from __future__ import annotations

import ipaddress

import atheris

with atheris.instrument_imports(include=["fastseg"]):
    from fastseg import FastsegError, _impl, reference

from _common import Broken, Reader, agree, as_buffer, main, outcome

CHECKSUM = _impl.twin("checksum", "cython")
ALLOWED = (FastsegError, ValueError, TypeError)


def _addresses(form: int, r: Reader) -> tuple:
    size = 4 if form in (0, 2, 5, 6, 7) else 16
    src, dst = r.take(size).ljust(size, b"\0"), r.take(size).ljust(size, b"\0")
    if form == 2:
        return str(ipaddress.IPv4Address(src)), str(ipaddress.IPv4Address(dst))
    if form == 3:
        return ipaddress.IPv6Address(src), ipaddress.IPv6Address(dst)
    if form == 4:
        return src[:4], dst
    if form == 5:
        return src[:3], dst
    if form == 6:
        return "10.0.0.300", dst
    if form == 7:
        return bytearray(src), dst
    return src, dst


def _same_sum(a: int, b: int) -> bool:
    """Equal, counting 0x0000 and 0xFFFF as the one's-complement zeros they both are."""
    return a == b or {a, b} == {0, 0xFFFF}


def _both(what: str, data: bytes, buffer: object, fn: str, *args: object) -> tuple:
    """Call ``fn`` in both twins; the compiled one gets ``buffer`` in place of ``data``."""
    expected = outcome(ALLOWED, getattr(reference, fn), *args)
    compiled_args = tuple(buffer if a is data else a for a in args)
    got = outcome(ALLOWED, getattr(CHECKSUM, fn), *compiled_args)
    agree(what, got, expected, data)
    return expected  # type: ignore[no-any-return]


def test_one_input(raw: bytes) -> None:
    r = Reader(raw)
    control = r.byte()
    src, dst = _addresses(control & 7, r)
    value = r.u16()
    if control & 0x08:
        value = value | 0x10000 if value & 1 else -1 - value
    place = r.byte()
    data = r.take(r.left())
    if control & 0x20 and data:
        data = data * (65536 // len(data) + 1)
    buffer = as_buffer(data, 1 + (control >> 6))

    _both("internet_checksum", data, buffer, "internet_checksum", data, value)
    tcp = _both("tcp_checksum", data, buffer, "tcp_checksum", src, dst, data)
    verify = _both("verify_checksum", data, buffer, "verify_checksum", src, dst, data)

    # update_checksum over an even-aligned span of the first 40 bytes, rewritten.
    start = (place % 20) * 2
    length = (place >> 5) + 1
    old = data[start:start + length]
    new = bytes(b ^ 0xA5 for b in old)
    if control & 0x10:
        new += b"\0"
    update = _both("update_checksum", data, buffer, "update_checksum", value, old, new)

    if tcp[0] == "ok":
        fixed = data[:16] + tcp[1].to_bytes(2, "big") + data[18:]
        if not reference.verify_checksum(src, dst, fixed) or not CHECKSUM.verify_checksum(
                src, dst, fixed):
            raise Broken(f"a segment carrying tcp_checksum() fails verify_checksum: {raw.hex()}")
        if verify[1] != _same_sum(tcp[1], int.from_bytes(data[16:18], "big")):
            raise Broken(f"verify_checksum {verify[1]} disagrees with tcp_checksum: {raw.hex()}")
        if update[0] == "ok" and old and len(old) == len(new):
            _check_update(src, dst, fixed, start, old, new, raw)
    if len(data) % 2 == 0 and len(data) <= 4096:
        summed = CHECKSUM.internet_checksum(data)
        if CHECKSUM.internet_checksum(data + summed.to_bytes(2, "big")) != 0:
            raise Broken(f"data followed by its checksum does not sum to zero: {raw.hex()}")


def _check_update(src: object, dst: object, fixed: bytes, start: int, old: bytes, new: bytes,
                  raw: bytes) -> None:
    """RFC 1624: patching the checksum of a valid segment equals recomputing it."""
    if (start < 18 and start + len(old) > 16) or start + len(old) > len(fixed):
        return  # the span covers the checksum field itself, or runs past the data
    carried = int.from_bytes(fixed[16:18], "big")
    rewritten = fixed[:start] + new + fixed[start + len(new):]
    patched = CHECKSUM.update_checksum(carried, old, new)
    full = CHECKSUM.tcp_checksum(src, dst, rewritten)
    if not _same_sum(patched, full):
        raise Broken(f"update_checksum gave {patched:#06x}, recomputing gives {full:#06x}: "
                     f"{raw.hex()}")


if __name__ == "__main__":
    main(test_one_input)
