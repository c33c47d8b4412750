"""The benchmark corpus: TCP segments in a mix of ACKs, handshakes, data and SACKs, and a pcap file of them.

The generator writes every segment from its own record of the fields (with an
independent checksum), so each implementation's results can be checked
against that record before it is timed.
"""

from __future__ import annotations

import os
import random
import struct
from typing import Any, Callable, NamedTuple, Optional

__all__ = ["COUNT", "SEED", "SHORT_COUNT", "Corpus", "Fields", "build_corpus", "laid_out", "ones_sum",
           "read_pcap", "tcp_checksum", "write_pcap"]

SEED = 4
COUNT = 100_000
SHORT_COUNT = 10_000
#: The corpus mix (RFC 9293 traffic as Linux sends it): kind and share of segments.
MIX = (("ack", 0.40), ("syn", 0.10), ("data", 0.40), ("sack", 0.10))
MAX_PAYLOAD = 1448  # an MSS of 1460 less the 12 bytes of the timestamps option

#: One segment's fields as the generator built them, the form every check compares:
#: (src_port, dst_port, seq, ack, header_len, flags, window, checksum, urgent,
#:  options as ((kind, value), ...) in fastseg's value forms, payload).
Fields = tuple[Any, ...]
_FIXED = struct.Struct("!HHIIHHHH")


class Corpus(NamedTuple):
    """TCP segments with their IPv4 endpoints and the fields each was built from."""

    wires: list[bytes]
    addresses: list[tuple[bytes, bytes]]
    fields: list[Fields]
    kinds: list[str]
    blob: bytes  # 64 KiB of random bytes: payloads and checksum inputs are cut from it
    seed: int


def ones_sum(data: bytes) -> int:
    """The one's-complement sum of big-endian 16-bit words, written independently of fastseg.

    2**16 is 1 modulo 2**16 - 1, so the number the bytes spell is congruent to
    the sum of their words, and end-around carry keeps any non-zero sum in
    [1, 0xFFFF]: the remainder, with 0 read as 0xFFFF unless all bytes are zero.
    """
    if len(data) % 2:
        data += b"\0"
    total = int.from_bytes(data, "big") % 0xFFFF
    return total if total or not any(data) else 0xFFFF


def tcp_checksum(src: bytes, dst: bytes, segment: bytes) -> int:
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(segment))
    return ~ones_sum(pseudo + segment) & 0xFFFF


def laid_out(value: Any) -> Any:
    """A copy of ``value`` whose ints, bytes, tuples and lists are new objects, made one after
    another in the order a loop visits them.

    The generator's own objects lie scattered among its temporaries, so a pass
    over them would time cache misses on that scatter rather than the work; a
    capture reader, or a program building segments, makes its objects in order.
    """
    if type(value) is int:
        return int.from_bytes(value.to_bytes(8, "big"), "big")
    if type(value) is bytes:
        return bytes(memoryview(value))
    if type(value) in (tuple, list):
        return type(value)(map(laid_out, value))
    return value


def _encode_option(kind: int, value: Any) -> bytes:
    if kind == 1:
        return b"\x01"
    if kind == 2:
        return struct.pack("!BBH", 2, 4, value)
    if kind == 3:
        return bytes((3, 3, value))
    if kind == 4:
        return b"\x04\x02"
    if kind == 8:
        return struct.pack("!BBII", 8, 10, *value)
    edges = [edge for block in value for edge in block]
    return bytes((5, 2 + 4 * len(edges))) + struct.pack(f"!{len(edges)}I", *edges)


class _Flow:
    """One connection: addresses, ports, and per direction the next seq and TSval."""

    def __init__(self, rng: random.Random, number: int) -> None:
        self.ips = (bytes((10, 0, number >> 8, number & 0xFF)), bytes((192, 0, 2, 1 + number % 200)))
        self.ports = (rng.randrange(32768, 61000), rng.choice((443, 443, 443, 80, 22, 5201)))
        # A few flows start just below 2**32 so that sequence numbers wrap.
        self.seq = [rng.randrange(2**32 - 2**20, 2**32) if number % 8 == 0 else rng.getrandbits(32)
                    for _ in range(2)]
        self.ts = [rng.getrandbits(32) for _ in range(2)]


def build_corpus(count: int = COUNT, seed: int = SEED) -> Corpus:
    """``count`` segments in the mix, shuffled, the same for the same seed.

    40 % pure ACKs (NOP, NOP, timestamps); 10 % SYN or SYN-ACK with Linux's
    MSS, SACK-permitted, timestamps, NOP, window scale; 40 % data segments with
    timestamps, half of them full-sized (1448 bytes), the rest 1 to 1448 bytes;
    10 % ACKs with timestamps and 1 to 3 SACK blocks.  256 flows between IPv4
    hosts; checksums are right.  Wires, addresses and fields are each
    :func:`laid_out` in segment order.
    """
    rng = random.Random(seed)
    blob = rng.randbytes(1 << 16)
    kinds = [kind for kind, share in MIX for _ in range(round(count * share))]
    kinds = (kinds + ["data"] * count)[:count]
    rng.shuffle(kinds)
    flows = [_Flow(rng, number) for number in range(256)]
    corpus = Corpus([], [], [], kinds, blob, seed)
    for kind in kinds:
        flow = rng.choice(flows)
        side = rng.getrandbits(1)
        seq, ack = flow.seq[side], flow.seq[1 - side]
        timestamps = (flow.ts[side], flow.ts[1 - side])
        flags, window, payload = 0x10, rng.randrange(500, 65536), b""
        options: list[tuple[int, Any]] = [(1, None), (1, None), (8, timestamps)]
        if kind == "syn":
            flags, ack, window = (0x02, 0, 64240) if side == 0 else (0x12, ack, 65160)
            options = [(2, 1460), (4, None), (8, timestamps if side else (timestamps[0], 0)),
                       (1, None), (3, 7)]
        elif kind == "data":
            size = MAX_PAYLOAD if rng.getrandbits(1) else rng.randint(1, MAX_PAYLOAD)
            start = rng.randrange(len(blob) - size)
            payload = blob[start : start + size]
            flags |= 0x08 * rng.getrandbits(1)  # PSH on half of them
        elif kind == "sack":
            left, blocks = ack, []
            for _ in range(rng.randint(1, 3)):
                left = (left + rng.randrange(1, 64) * MAX_PAYLOAD) & 0xFFFFFFFF
                right = (left + rng.randrange(1, 16) * MAX_PAYLOAD) & 0xFFFFFFFF
                blocks.append((left, right))
                left = right
            options += [(1, None), (1, None), (5, tuple(blocks))]
        raw_options = b"".join(_encode_option(k, v) for k, v in options)
        header_len = 20 + len(raw_options)
        src_port, dst_port = flow.ports if side == 0 else flow.ports[::-1]
        src, dst = flow.ips if side == 0 else flow.ips[::-1]
        header = _FIXED.pack(src_port, dst_port, seq, ack, (header_len // 4) << 12 | flags, window, 0, 0)
        checksum = tcp_checksum(src, dst, header + raw_options + payload)
        corpus.wires.append(header[:16] + checksum.to_bytes(2, "big") + header[18:] + raw_options + payload)
        corpus.addresses.append((src, dst))
        corpus.fields.append((src_port, dst_port, seq, ack, header_len, flags, window, checksum, 0,
                              tuple(options), payload))
        flow.seq[side] = (seq + len(payload) + ((flags & 0x02) != 0)) & 0xFFFFFFFF
        flow.ts[side] = (flow.ts[side] + rng.randrange(4)) & 0xFFFFFFFF
    # The fields too, though the cases copy what they build from them again: with the
    # generator's objects gone, those copies and the cases' own objects land in order
    # (measured: pack 304 ns a segment against 377 ns when the fields are left as built).
    return corpus._replace(wires=laid_out(corpus.wires), addresses=laid_out(corpus.addresses),
                           fields=laid_out(corpus.fields))


# ------------------------------------------------------------------ pcap

_PCAP_HEADER = struct.Struct("<IHHiIII")
_PCAP_RECORD = struct.Struct("<IIII")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")


def write_pcap(corpus: Corpus, path: str) -> int:
    """Write the corpus as an Ethernet/IPv4 pcap file, checksums right; return its size."""
    chunks = [_PCAP_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for number, (wire, (src, dst)) in enumerate(zip(corpus.wires, corpus.addresses)):
        ip = _IPV4.pack(0x45, 0, 20 + len(wire), number & 0xFFFF, 0x4000, 64, 6, 0, src, dst)
        ip = ip[:10] + (~ones_sum(ip) & 0xFFFF).to_bytes(2, "big") + ip[12:]
        frame = b"\x02\x00" + dst + b"\x02\x00" + src + b"\x08\x00" + ip + wire
        usec = number * 37
        chunks.append(_PCAP_RECORD.pack(1_700_000_000 + usec // 10**6, usec % 10**6, len(frame), len(frame)))
        chunks.append(frame)
    data = b"".join(chunks)
    partial = f"{path}.{os.getpid()}.part"
    with open(partial, "wb") as out:
        out.write(data)
    os.replace(partial, path)
    return len(data)


_FRAME = struct.Struct("!12xHB1xH5xB")  # ethertype, IP version/IHL, IP total length, IP protocol


def read_pcap(path: str, unpack: Callable[[Any], Any], limit: Optional[int] = None) -> list[Any]:
    """Decode the TCP segments of an Ethernet/IPv4 pcap file with ``unpack``: a plain loop.

    ``unpack`` gets a memoryview of each segment; frames that are not IPv4
    carrying TCP are passed over.
    """
    with open(path, "rb") as capture:
        data = capture.read()
    order = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">"}.get(data[:4])
    if order is None or struct.unpack_from(order + "I", data, 20)[0] != 1:
        raise ValueError(f"{path}: not a microsecond pcap file of Ethernet frames")
    record, frame_header = struct.Struct(order + "IIII").unpack_from, _FRAME.unpack_from
    view = memoryview(data)
    segments: list[Any] = []
    offset, end = 24, len(data)
    while offset + 16 <= end and len(segments) != limit:
        caplen = record(data, offset)[2]
        frame = offset + 16
        offset = frame + caplen
        if caplen >= 34:
            ethertype, version_ihl, ip_len, protocol = frame_header(data, frame)
            if ethertype == 0x0800 and protocol == 6:
                start = frame + 14 + (version_ihl & 0x0F) * 4
                segments.append(unpack(view[start : min(frame + 14 + ip_len, offset)]))
    return segments
