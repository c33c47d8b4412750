"""IP addresses for the pseudo-header: the pure twin's parser, and every error for both twins.

The compiled codec reads bytes, the common text forms and exact
``IPv4Address``/``IPv6Address`` objects itself (``_addr_c``) and hands every
other address here.  A program that keeps an address parsed
passes its packed bytes: ``ipaddress.ip_address(text).packed`` or
``socket.inet_pton``, 4 or 16 bytes, which no twin parses again.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Union

from fastseg.errors import EncodeError

#: How many text addresses ``packed`` keeps parsed.
PARSED_KEPT = 1024

Address = Union[bytes, bytearray, memoryview, str, ipaddress.IPv4Address, ipaddress.IPv6Address]


@functools.lru_cache(maxsize=PARSED_KEPT)
def _parse(text: str) -> bytes:
    """The packed form of a text address (ValueError as ``ipaddress`` raises it).

    Programs pass the same few addresses on every ``pack`` (a connection its two
    ends), and ``ipaddress`` takes microseconds to parse one: the most recently
    used are kept.  ``lru_cache`` locks its own table, so threads may share it.
    """
    return ipaddress.ip_address(text).packed


def packed(address: Address, field: str) -> bytes:
    """The 4 or 16 bytes of an IPv4 or IPv6 address given as bytes, str or ipaddress object."""
    if isinstance(address, (bytes, bytearray, memoryview)):
        with memoryview(address) as view:  # exact bytes: a subclass's __bytes__ or __len__ could lie
            raw = view.tobytes()
        if len(raw) in (4, 16):
            return raw
        raise EncodeError(field, f"an address is 4 or 16 bytes, got {len(raw)}")
    if isinstance(address, str):
        try:
            # A str subclass may redefine hashing or equality: only exact str is looked up.
            return _parse(address) if type(address) is str else _parse.__wrapped__(address)
        except ValueError:
            raise EncodeError(field, f"not an IPv4 or IPv6 address: {address!r}") from None
    if isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        raw = address.packed  # a subclass can make it anything: the compiled twins copy these bytes
        size = 4 if isinstance(address, ipaddress.IPv4Address) else 16
        if type(raw) is bytes and len(raw) == size:
            return raw
        raise EncodeError(field, f"{type(address).__name__}.packed is not the address's {size} bytes")
    raise EncodeError(field, f"an address is bytes, str or ipaddress, not {type(address).__name__}")


def pair(src: Address, dst: Address) -> tuple[bytes, bytes]:
    """Both addresses packed, checked to be of one IP version."""
    src_raw, dst_raw = packed(src, "src"), packed(dst, "dst")
    if len(src_raw) != len(dst_raw):
        raise EncodeError("dst", "src and dst are of different IP versions")
    return src_raw, dst_raw


def pseudo_header(src: bytes, dst: bytes, length: int) -> bytes:
    """The IPv4 (RFC 9293 §3.1) or IPv6 (RFC 8200 §8.1) pseudo-header for TCP (protocol 6)."""
    if len(src) == 4:
        if length > 0xFFFF:
            raise EncodeError("segment", f"{length} bytes exceed the 65535 an IPv4 pseudo-header counts")
        return src + dst + bytes((0, 6)) + length.to_bytes(2, "big")
    if length > 0xFFFFFFFF:
        raise EncodeError("segment", f"{length} bytes exceed the 2**32 - 1 an IPv6 pseudo-header counts")
    return src + dst + length.to_bytes(4, "big") + bytes((0, 0, 0, 6))
