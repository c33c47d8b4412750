"""The bytes the fuzzer's peer sends: defined at every offset of the sequence space.

The peer's byte stream is a keyed pseudo-random function of the stream offset
(the sequence number minus the peer's ISN minus one, modulo 2**32), so any
segment the fuzzer injects can carry the very bytes the peer would send at
that offset: a stack that takes it into the stream takes the right bytes, and
the integrity oracle only fires for bytes that must never get in.  Those,
:func:`poison`, differ from the stream at every offset.
"""

from __future__ import annotations

import hashlib

__all__ = ["POISON_MASK", "poison", "stream_bytes"]

#: Bytes per keyed BLAKE2b block of the stream.
_BLOCK = 64
#: The sequence space the stream repeats in (RFC 9293 §3.4).
_SPACE = 1 << 32
#: XORed into the stream to make bytes that differ from it at every offset.
POISON_MASK = 0xA5


def stream_bytes(key: bytes, offset: int, size: int) -> bytes:
    """``size`` bytes of the stream keyed by ``key`` from ``offset`` (taken modulo 2**32)."""
    out = bytearray()
    position = offset % _SPACE
    while len(out) < size:
        block, skip = divmod(position, _BLOCK)
        digest = hashlib.blake2b(block.to_bytes(4, "big"), key=key, digest_size=_BLOCK).digest()
        piece = digest[skip: skip + size - len(out)]
        out += piece
        position = (position + len(piece)) % _SPACE
    return bytes(out)


def poison(key: bytes, offset: int, size: int) -> bytes:
    """``size`` bytes that differ from the stream at each of their offsets."""
    return bytes(byte ^ POISON_MASK for byte in stream_bytes(key, offset, size))
