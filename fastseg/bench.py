"""``fastseg bench``: time both twins and the peer libraries on one generated corpus.

Everything here is shared by the command and by the pytest-benchmark suite in
``benchmarks/``: the corpus generator (fixed seed, so every run sees the same
segments), a tiny pcap writer and reader, one *case* per operation and
implementation, and the timeit-style timer the command uses.

A case runs its operation over a whole work set per call (``ops`` operations)
and is checked against the corpus generator's own record of what it built
before anyone times it.  Times are reported per operation, best of several
runs, with the garbage collector paused as ``timeit`` does.  The peers (dpkt,
scapy) come from the optional ``bench`` extra and are skipped with a reason
where they are missing; scapy, tens to hundreds of times slower than the
rest, works on the corpus' first 2000 segments (300 in the short mode).

Baselines the issue's targets refer to are timed beside them: ``struct`` (a
bare ``struct.Struct('!HHIIHHHH').unpack_from`` into a tuple) for the
header-only decode, ``empty call`` for the seq comparisons (an empty function
compiled beside them in ``fastseg._seq_c``, called with the same two ints) and
``loop only`` for the pcap reader (the same loop without decoding).
"""

from __future__ import annotations

import argparse
import collections
import functools
import gc
import importlib
import json
import logging
import math
import os
import platform
import random
import struct
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from types import SimpleNamespace
from typing import Any, Callable, Iterator, NamedTuple, Optional, Sequence

import fastseg
from fastseg import _impl, reference

__all__ = [
    "CHECKSUM_SIZES", "PLAN", "TARGETS", "Case", "Corpus", "Result", "Unavailable", "Workload",
    "build_corpus", "calibrate", "evaluate_targets", "format_table", "gc_paused", "main", "make_case",
    "ones_sum", "read_pcap", "report", "short_requested", "time_case", "write_pcap",
]

SEED = 4
COUNT = 100_000
SHORT_COUNT = 10_000
#: The corpus mix (RFC 9293 traffic as Linux sends it): kind and share of segments.
MIX = (("ack", 0.40), ("syn", 0.10), ("data", 0.40), ("sack", 0.10))
MAX_PAYLOAD = 1448  # an MSS of 1460 less the 12 bytes of the timestamps option
CHECKSUM_SIZES = (20, 64, 576, 1500, 9000, 65536)
SHORT_ENV = "FASTSEG_BENCH_SHORT"
DESCRIPTION = "Time both twins of fastseg and the peer libraries on one generated corpus."

#: One segment's fields as the generator built them, the form every check compares:
#: (src_port, dst_port, seq, ack, header_len, flags, window, checksum, urgent,
#:  options as ((kind, value), ...) in fastseg's value forms, payload).
Fields = tuple[Any, ...]
_FIXED = struct.Struct("!HHIIHHHH")


# ------------------------------------------------------------------ the corpus

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


def _tcp_checksum(src: bytes, dst: bytes, segment: bytes) -> int:
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(segment))
    return ~ones_sum(pseudo + segment) & 0xFFFF


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
    """``count`` segments in the issue's mix, shuffled, the same for the same seed.

    40 % pure ACKs (NOP, NOP, timestamps); 10 % SYN or SYN-ACK with Linux's
    MSS, SACK-permitted, timestamps, NOP, window scale; 40 % data segments with
    timestamps, half of them full-sized (1448 bytes), the rest 1 to 1448 bytes;
    10 % ACKs with timestamps and 1 to 3 SACK blocks.  256 flows between IPv4
    hosts; checksums are right.
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
        checksum = _tcp_checksum(src, dst, header + raw_options + payload)
        corpus.wires.append(header[:16] + checksum.to_bytes(2, "big") + header[18:] + raw_options + payload)
        corpus.addresses.append((src, dst))
        corpus.fields.append((src_port, dst_port, seq, ack, header_len, flags, window, checksum, 0,
                              tuple(options), payload))
        flow.seq[side] = (seq + len(payload) + ((flags & 0x02) != 0)) & 0xFFFFFFFF
        flow.ts[side] = (flow.ts[side] + rng.randrange(4)) & 0xFFFFFFFF
    return corpus


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


# ------------------------------------------------------------------ implementations

class Unavailable(Exception):
    """An implementation that cannot run here; the message says why."""


@functools.cache
def twin(name: str) -> Any:
    """The Cython (``"cython"``) or pure-Python (``"python"``) twin as one namespace."""
    if name == "python":
        return reference
    try:
        modules = _impl.compiled()
    except ImportError as exc:
        raise Unavailable(f"the Cython twin is not built ({exc})") from None
    return SimpleNamespace(**{n: getattr(m, n) for m in modules for n in m.__all__})


@functools.cache
def peer(name: str) -> Any:
    """The peer library ``dpkt``, or the parts of ``scapy`` the cases use."""
    try:
        if name == "dpkt":
            return importlib.import_module("dpkt")
        logging.getLogger("scapy").setLevel(logging.ERROR)  # no warnings about routes at import
        inet, packet, utils = (importlib.import_module(f"scapy.{m}")
                               for m in ("layers.inet", "packet", "utils"))
    except ImportError:
        raise Unavailable(f"{name} is not installed (pip install 'fastseg[bench]')") from None
    return SimpleNamespace(IP=inet.IP, TCP=inet.TCP, Raw=packet.Raw, PcapReader=utils.PcapReader,
                           checksum=utils.checksum)


def _option_value(kind: int, data: bytes) -> Any:
    """A raw option body (dpkt's form) in fastseg's value form."""
    if kind == 1 or kind == 4:
        return None
    if kind in (2, 3):
        return int.from_bytes(data, "big")
    if kind == 8:
        return struct.unpack("!II", data)
    if kind == 5:
        edges = struct.unpack(f"!{len(data) // 4}I", data)
        return tuple(zip(edges[::2], edges[1::2]))
    return data


def _fastseg_fields(seg: Any) -> Fields:
    return (seg.src_port, seg.dst_port, seg.seq, seg.ack, seg.header_len, int(seg.flags), seg.window,
            seg.checksum, seg.urgent, tuple((int(k), v) for k, v in seg.options), seg.payload)


def _dpkt_fields(tcp: Any) -> Fields:
    options = tuple((k, _option_value(k, v)) for k, v in peer("dpkt").tcp.parse_opts(tcp.opts))
    return (tcp.sport, tcp.dport, tcp.seq, tcp.ack, tcp.off * 4, tcp.flags, tcp.win, tcp.sum, tcp.urp,
            options, bytes(tcp.data))


_SCAPY_KINDS = {"NOP": 1, "MSS": 2, "WScale": 3, "SAckOK": 4, "SAck": 5, "Timestamp": 8}


def _scapy_option(name: Any, value: Any) -> tuple[int, Any]:
    kind = _SCAPY_KINDS.get(name, name)
    if kind in (1, 4):
        return (kind, None)
    if kind == 5:
        return (kind, tuple(zip(value[::2], value[1::2])))
    return (kind, value)


def _scapy_fields(tcp: Any) -> Fields:
    options = tuple(_scapy_option(name, value) for name, value in tcp.options)
    return (tcp.sport, tcp.dport, tcp.seq, tcp.ack, tcp.dataofs * 4, int(tcp.flags), tcp.window,
            tcp.chksum, tcp.urgptr, options, bytes(tcp.payload))


def _scapy_option_list(options: Fields) -> list[tuple[str, Any]]:
    names = {kind: name for name, kind in _SCAPY_KINDS.items()}
    out: list[tuple[str, Any]] = []
    for kind, value in options:
        if kind == 5:
            value = tuple(edge for block in value for edge in block)
        elif kind == 4:
            value = b""
        out.append((names[kind], value))
    return out


# ------------------------------------------------------------------ cases

@dataclass
class Workload:
    """The corpus and the sizes one run works with, and what the cases derive from it."""

    corpus: Corpus
    short: bool
    directory: str
    #: Segments the slow peer (scapy) works on, a prefix of the corpus.
    peer_limit: int = 2000
    #: Bytes each internet_checksum case sums per call of its ``run``.
    checksum_volume: int = 1 << 20
    #: Seconds the timer aims to spend on a case, and the fewest runs it takes.
    budget: float = 1.0
    min_rounds: int = 5
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, short: bool, directory: str, count: Optional[int] = None, seed: int = SEED) -> Workload:
        corpus = build_corpus(count or (SHORT_COUNT if short else COUNT), seed)
        if short:
            return cls(corpus, short, directory, peer_limit=300, checksum_volume=1 << 18,
                       budget=0.15, min_rounds=3)
        return cls(corpus, short, directory)

    def derived(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def pcap_path(self) -> str:
        def build() -> str:
            name = f"fastseg-bench-{len(self.corpus.wires)}-{self.corpus.seed}.pcap"
            path = os.path.join(self.directory, name)
            write_pcap(self.corpus, path)
            return path
        return self.derived("pcap", build)  # type: ignore[no-any-return]

    def segments(self) -> list[Any]:
        """The corpus as Segment objects (checksum 0: pack computes it)."""
        def build() -> list[Any]:
            return [fastseg.Segment(sp, dp, seq, ack, hl, flags, 0, win, 0, urg, options, payload)
                    for sp, dp, seq, ack, hl, flags, win, _, urg, options, payload in self.corpus.fields]
        return self.derived("segments", build)  # type: ignore[no-any-return]


@dataclass
class Case:
    """One operation by one implementation: ``run()`` does ``ops`` operations over ``nbytes`` bytes."""

    op: str
    impl: str
    run: Callable[[], Any]
    ops: int
    check: Callable[[], list[Any]]
    expected: list[Any]
    nbytes: int = 0

    def mismatch(self) -> Optional[str]:
        """None when the implementation's results equal the expected ones, else the first difference."""
        got = self.check()
        if got == self.expected:
            return None
        if len(got) != len(self.expected):
            return f"{self.op}/{self.impl}: {len(got)} results, expected {len(self.expected)}"
        index = next(i for i, (a, b) in enumerate(zip(got, self.expected)) if a != b)
        return f"{self.op}/{self.impl}: result {index} is {got[index]!r}, expected {self.expected[index]!r}"


def _drain(iterator: Iterator[Any]) -> None:
    collections.deque(iterator, maxlen=0)


def _unpack(w: Workload, impl: str) -> Case:
    limit = w.peer_limit if impl == "scapy" else None
    wires = w.corpus.wires[:limit]
    expected = w.corpus.fields[:limit]
    if impl in ("cython", "python"):
        unpack = twin(impl).unpack

        def run() -> None:
            for raw in wires:
                unpack(raw)
        return Case("unpack", impl, run, len(wires), lambda: [_fastseg_fields(unpack(r)) for r in wires],
                    expected)
    if impl == "dpkt":
        dpkt = peer("dpkt")
        tcp_class, parse_opts = dpkt.tcp.TCP, dpkt.tcp.parse_opts

        def run_dpkt() -> None:
            for raw in wires:
                tcp = tcp_class(raw)
                parse_opts(tcp.opts)
        return Case("unpack", impl, run_dpkt, len(wires), lambda: [_dpkt_fields(tcp_class(r)) for r in wires],
                    expected)
    tcp_layer = peer("scapy").TCP

    def run_scapy() -> None:
        for raw in wires:
            tcp_layer(raw)
    return Case("unpack", impl, run_scapy, len(wires), lambda: [_scapy_fields(tcp_layer(r)) for r in wires],
                expected)


def _unpack_header(w: Workload, impl: str) -> Case:
    """Decode, then read the eight fixed-header fields into locals."""
    limit = w.peer_limit if impl == "scapy" else None
    wires = w.corpus.wires[:limit]
    expected = [f[:4] + f[5:9] for f in w.corpus.fields[:limit]]
    if impl == "struct":
        unpack_from = _FIXED.unpack_from

        def run_struct() -> None:
            for raw in wires:
                _sp, _dp, _seq, _ack, _offset_flags, _win, _sum, _urg = unpack_from(raw)

        def check_struct() -> list[Any]:
            return [(*t[:4], t[4] & 0x1FF, *t[5:]) for t in map(unpack_from, wires)]
        return Case("unpack header", impl, run_struct, len(wires), check_struct, expected)
    if impl in ("cython", "python"):
        unpack = twin(impl).unpack

        def run() -> None:
            for raw in wires:
                seg = unpack(raw)
                _sp = seg.src_port
                _dp = seg.dst_port
                _seq = seg.seq
                _ack = seg.ack
                _flags = seg.flags
                _win = seg.window
                _sum = seg.checksum
                _urg = seg.urgent
        return Case("unpack header", impl, run, len(wires),
                    lambda: [(s.src_port, s.dst_port, s.seq, s.ack, int(s.flags), s.window, s.checksum,
                              s.urgent) for s in map(unpack, wires)], expected)
    if impl == "dpkt":
        tcp_class = peer("dpkt").tcp.TCP

        def run_dpkt() -> None:
            for raw in wires:
                tcp = tcp_class(raw)
                _sp = tcp.sport
                _dp = tcp.dport
                _seq = tcp.seq
                _ack = tcp.ack
                _flags = tcp.flags
                _win = tcp.win
                _sum = tcp.sum
                _urg = tcp.urp
        return Case("unpack header", impl, run_dpkt, len(wires),
                    lambda: [(t.sport, t.dport, t.seq, t.ack, t.flags, t.win, t.sum, t.urp)
                             for t in map(tcp_class, wires)], expected)
    tcp_layer = peer("scapy").TCP

    def run_scapy() -> None:
        for raw in wires:
            tcp = tcp_layer(raw)
            _sp = tcp.sport
            _dp = tcp.dport
            _seq = tcp.seq
            _ack = tcp.ack
            _flags = tcp.flags
            _win = tcp.window
            _sum = tcp.chksum
            _urg = tcp.urgptr
    return Case("unpack header", impl, run_scapy, len(wires),
                lambda: [(t.sport, t.dport, t.seq, t.ack, int(t.flags), t.window, t.chksum, t.urgptr)
                         for t in map(tcp_layer, wires)], expected)


def _pack(w: Workload, impl: str) -> Case:
    """Encode a segment held in the library's own object, with the IPv4 checksum."""
    limit = w.peer_limit if impl == "scapy" else None
    expected = w.corpus.wires[:limit]
    addresses = w.corpus.addresses[:limit]
    if impl in ("cython", "python"):
        pack, segments = twin(impl).pack, w.segments()

        def run() -> None:
            for seg, (src, dst) in zip(segments, addresses):
                pack(seg, src=src, dst=dst)
        return Case("pack checksum", impl, run, len(segments),
                    lambda: [pack(s, src=a, dst=b) for s, (a, b) in zip(segments, addresses)], expected)
    if impl == "dpkt":
        # dpkt has no option encoder: its objects carry the option bytes.  The checksum
        # is computed as dpkt's own IP.__bytes__ does for the TCP segment it carries.
        dpkt = peer("dpkt")
        add, done, pseudo = dpkt.in_cksum_add, dpkt.in_cksum_done, struct.Struct(">4s4sxBH").pack
        objects = [dpkt.tcp.TCP(sport=sp, dport=dp, seq=seq, ack=ack, off=hl // 4, flags=flags, win=win,
                                sum=0, urp=urg, opts=wire[20:hl], data=payload)
                   for (sp, dp, seq, ack, hl, flags, win, _, urg, _, payload), wire
                   in zip(w.corpus.fields, w.corpus.wires)]

        def encode(tcp: Any, src: bytes, dst: bytes) -> bytes:
            tcp.sum = 0
            body = bytes(tcp)
            tcp.sum = done(add(add(0, pseudo(src, dst, 6, len(body))), body))
            return bytes(tcp)

        def run_dpkt() -> None:
            for tcp, (src, dst) in zip(objects, addresses):
                tcp.sum = 0
                body = bytes(tcp)
                tcp.sum = done(add(add(0, pseudo(src, dst, 6, len(body))), body))
                bytes(tcp)
        return Case("pack checksum", impl, run_dpkt, len(objects),
                    lambda: [encode(t, a, b) for t, (a, b) in zip(objects, addresses)], expected)
    scapy = peer("scapy")
    layers = []
    for (sp, dp, seq, ack, _, flags, win, _, urg, options, payload), (src, dst) in zip(
            w.corpus.fields[:limit], addresses):
        tcp = scapy.TCP(sport=sp, dport=dp, seq=seq, ack=ack, flags=flags, window=win, urgptr=urg,
                        options=_scapy_option_list(options))
        packet = scapy.IP(src=".".join(map(str, src)), dst=".".join(map(str, dst))) / tcp
        if payload:
            packet = packet / scapy.Raw(payload)
        layers.append(packet[scapy.TCP])

    def run_scapy() -> None:
        for layer in layers:
            bytes(layer)
    return Case("pack checksum", impl, run_scapy, len(layers), lambda: [bytes(t) for t in layers], expected)


def _checksum(size: int) -> Callable[[Workload, str], Case]:
    def build(w: Workload, impl: str) -> Case:
        data = (w.corpus.blob * (size // len(w.corpus.blob) + 1))[:size]
        calls = max(1, w.checksum_volume // size)
        if impl in ("cython", "python"):
            function = twin(impl).internet_checksum
        elif impl == "dpkt":
            function = peer("dpkt").in_cksum
        else:
            function = peer("scapy").checksum
        return Case(f"checksum {size}", impl, lambda: _drain(map(function, repeat(data, calls))), calls,
                    lambda: [function(data)], [~ones_sum(data) & 0xFFFF], calls * size)
    return build


def _verify(w: Workload, impl: str) -> Case:
    verify, wires = twin(impl).verify_checksum, w.corpus.wires
    sources = [a for a, _ in w.corpus.addresses]
    destinations = [b for _, b in w.corpus.addresses]
    return Case("verify_checksum", impl, lambda: _drain(map(verify, sources, destinations, wires)),
                len(wires), lambda: list(map(verify, sources, destinations, wires)), [True] * len(wires),
                sum(map(len, wires)))


def _update(w: Workload, impl: str) -> Case:
    """A NAT rewriting the source port: RFC 1624 on the first two bytes."""
    def inputs() -> tuple[list[int], list[bytes], list[bytes], list[int]]:
        checksums, olds, news, expected = [], [], [], []
        for wire, (src, dst), fields in zip(w.corpus.wires, w.corpus.addresses, w.corpus.fields):
            new = ((fields[0] + 1000) & 0xFFFF).to_bytes(2, "big")
            checksums.append(int.from_bytes(wire[16:18], "big"))
            olds.append(wire[:2])
            news.append(new)
            expected.append(_tcp_checksum(src, dst, new + wire[2:16] + b"\0\0" + wire[18:]))
        return checksums, olds, news, expected
    checksums, olds, news, expected = w.derived("update", inputs)
    update = twin(impl).update_checksum
    return Case("update_checksum", impl, lambda: _drain(map(update, checksums, olds, news)), len(olds),
                lambda: list(map(update, checksums, olds, news)), expected)


_SEQ_TRUTH: dict[str, Callable[[int], bool]] = {
    "seq_lt": lambda d: d >= 2**31, "seq_le": lambda d: d == 0 or d >= 2**31,
    "seq_gt": lambda d: 0 < d <= 2**31, "seq_ge": lambda d: d <= 2**31,
}


def _fresh(values: Iterator[int]) -> list[int]:
    """New int objects, allocated one after the other: what is timed is then the work on them,
    not cache misses on ints scattered among the corpus' payloads."""
    return [int.from_bytes(value.to_bytes(4, "big"), "big") for value in values]


def _seq(name: str) -> Callable[[Workload, str], Case]:
    """A comparison of every segment's seq with its ack; beside it an empty compiled function."""
    def build(w: Workload, impl: str) -> Case:
        a, b = w.derived("seq", lambda: (_fresh(f[2] for f in w.corpus.fields),
                                         _fresh(f[3] for f in w.corpus.fields)))
        if impl == "empty call":
            twin("cython")  # raises Unavailable where the Cython twin is not built
            function: Any = importlib.import_module("fastseg._seq_c")._empty
            expected: list[Any] = [None] * len(a)
        else:
            function = getattr(twin(impl), name)
            truth = _SEQ_TRUTH[name]
            expected = [truth((x - y) & 0xFFFFFFFF) for x, y in zip(a, b)]
        return Case(name, impl, lambda: _drain(map(function, a, b)), len(a),
                    lambda: list(map(function, a, b)), expected)
    return build


def _pcap(w: Workload, impl: str) -> Case:
    """Read the corpus' pcap file into a list of decoded segments."""
    path = w.pcap_path()
    limit = w.peer_limit if impl == "scapy" else None
    expected = w.corpus.fields[:limit]
    if impl == "loop only":
        return Case("pcap", impl, lambda: read_pcap(path, bytes), len(expected),
                    lambda: read_pcap(path, bytes), w.corpus.wires)
    if impl in ("cython", "python"):
        from fastseg import capture

        def run_fastseg() -> list[Any]:  # the capture reader twin: it also verifies checksums
            return [record.segment for record in capture.segments(path, implementation=impl)]

        return Case("pcap", impl, run_fastseg, len(expected),
                    lambda: [_fastseg_fields(s) for s in run_fastseg()], expected)
    if impl == "dpkt":
        dpkt = peer("dpkt")
        reader, ethernet, ip_class = dpkt.pcap.Reader, dpkt.ethernet.Ethernet, dpkt.ip.IP
        tcp_class, parse_opts = dpkt.tcp.TCP, dpkt.tcp.parse_opts

        def run_dpkt() -> list[Any]:
            segments = []
            with open(path, "rb") as capture:
                for _, frame in reader(capture):
                    ip = ethernet(frame).data
                    if isinstance(ip, ip_class) and isinstance(ip.data, tcp_class):
                        segments.append((ip.data, parse_opts(ip.data.opts)))
            return segments
        return Case("pcap", impl, run_dpkt, len(expected), lambda: [_dpkt_fields(t) for t, _ in run_dpkt()],
                    expected)
    scapy = peer("scapy")

    def run_scapy() -> list[Any]:
        segments = []
        with scapy.PcapReader(path) as packets:
            for packet in packets:
                if scapy.TCP in packet:
                    segments.append(packet[scapy.TCP])
                    if len(segments) == limit:
                        break
        return segments
    return Case("pcap", impl, run_scapy, len(expected), lambda: [_scapy_fields(t) for t in run_scapy()],
                expected)


TWINS = ("cython", "python")
PEERS = ("cython", "python", "dpkt", "scapy")
#: Every operation in table order: its builder and the implementations timed side by side.
PLAN: dict[str, tuple[Callable[[Workload, str], Case], tuple[str, ...]]] = {
    "unpack": (_unpack, PEERS),
    "unpack header": (_unpack_header, (*PEERS, "struct")),
    "pack checksum": (_pack, PEERS),
    **{f"checksum {size}": (_checksum(size), PEERS) for size in CHECKSUM_SIZES},
    "verify_checksum": (_verify, TWINS),
    "update_checksum": (_update, TWINS),
    **{name: (_seq(name), (*TWINS, "empty call")) for name in _SEQ_TRUTH},
    "pcap": (_pcap, (*PEERS, "loop only")),
}


def make_case(workload: Workload, op: str, impl: str) -> Case:
    """The case for ``op`` by ``impl``; Unavailable if that implementation is missing here."""
    build, impls = PLAN[op]
    if impl not in impls:
        raise KeyError(f"{op} has no implementation {impl!r}")
    return build(workload, impl)


# ------------------------------------------------------------------ timing

@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (as timeit does); a collection before."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def calibrate(run: Callable[[], Any], budget: float, min_rounds: int) -> tuple[int, int]:
    """(rounds, iterations) for about ``budget`` seconds, a round lasting at least 2 ms.

    Calls ``run`` once, which also warms it up.
    """
    start = time.perf_counter()
    run()
    once = max(time.perf_counter() - start, 1e-9)
    iterations = max(1, math.ceil(0.002 / once))
    rounds = max(min_rounds, min(1000, int(budget / (once * iterations))))
    return rounds, iterations


def time_case(case: Case, budget: float, min_rounds: int) -> list[float]:
    """Seconds per operation of each round."""
    with gc_paused():
        rounds, iterations = calibrate(case.run, budget, min_rounds)
        timings = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(iterations):
                case.run()
            timings.append((time.perf_counter() - start) / (iterations * case.ops))
    return timings


# ------------------------------------------------------------------ targets

Best = dict[tuple[str, str], float]  # (op, impl) -> best seconds per operation


@dataclass(frozen=True)
class Target:
    """A goal of the speed issue: ``measure`` gives the figure, compared with ``goal``."""

    text: str
    measure: Callable[[Best], Optional[float]]
    goal: float
    unit: str  # "x" (a ratio), "GB/s" or "ns"
    at_least: bool = True

    def verdict(self, value: float) -> str:
        if (self.at_least and value >= self.goal) or (not self.at_least and value <= self.goal):
            return "met"
        return f"MISSED by {self.goal / value if self.at_least else value / self.goal:.2f}x"


def _ratio(slow: tuple[str, str], fast: tuple[str, str]) -> Callable[[Best], Optional[float]]:
    return lambda best: best[slow] / best[fast] if slow in best and fast in best else None


def _gbps(op: str, size: int) -> Callable[[Best], Optional[float]]:
    return lambda best: size / best[(op, "cython")] / 1e9 if (op, "cython") in best else None


def _seq_worst(best: Best) -> Optional[float]:
    ratios = [_ratio((op, "cython"), (op, "empty call"))(best) for op in _SEQ_TRUTH]
    return None if None in ratios else max(r for r in ratios if r is not None)


TARGETS = (
    Target("unpack, all fields: >= 8x faster than dpkt",
           _ratio(("unpack", "dpkt"), ("unpack", "cython")), 8, "x"),
    Target("unpack, header fields only: <= 1.5x a bare struct unpack",
           _ratio(("unpack header", "cython"), ("unpack header", "struct")), 1.5, "x", at_least=False),
    Target("pack with checksum: >= 25x faster than dpkt",
           _ratio(("pack checksum", "dpkt"), ("pack checksum", "cython")), 25, "x"),
    Target("internet_checksum 1500 B: >= 20 GB/s", _gbps("checksum 1500", 1500), 20, "GB/s"),
    Target("internet_checksum 64 KiB: >= 30 GB/s", _gbps("checksum 65536", 65536), 30, "GB/s"),
    Target("internet_checksum 20 B: <= 40 ns",
           lambda best: best[("checksum 20", "cython")] * 1e9 if ("checksum 20", "cython") in best else None,
           40, "ns", at_least=False),
    Target("internet_checksum 1500 B: >= 100x the pure-Python twin",
           _ratio(("checksum 1500", "python"), ("checksum 1500", "cython")), 100, "x"),
    Target("seq comparisons (worst of four): <= 1.3x an empty call", _seq_worst, 1.3, "x", at_least=False),
    Target("pcap -> segments: >= 10x faster than dpkt",
           _ratio(("pcap", "dpkt"), ("pcap", "cython")), 10, "x"),
)


# ------------------------------------------------------------------ the command

@dataclass
class Result:
    """The timings of one case: seconds per operation, one figure per round."""

    op: str
    impl: str
    ops: int
    nbytes: int
    seconds_per_op: list[float]

    @property
    def best(self) -> float:
        return min(self.seconds_per_op)


def format_table(results: list[Result]) -> list[str]:
    """One row per case, in the order given: best ns/op, rates, and the ratio to the Cython twin."""
    cython = {r.op: r.best for r in results if r.impl == "cython"}
    lines = [f"{'operation':<16} {'implementation':<14} {'ns/op':>10} {'ops/s':>10} {'GB/s':>7} "
             f"{'vs cython':>10}"]
    previous = None
    for r in results:
        rate = 1 / r.best
        gbps = f"{r.nbytes / r.ops / r.best / 1e9:7.2f}" if r.nbytes else ""
        ratio = f"{r.best / cython[r.op]:9.2f}x" if r.op in cython else ""
        op = r.op if r.op != previous else ""
        previous = r.op
        lines.append(f"{op:<16} {r.impl:<14} {r.best * 1e9:10.1f} {_si(rate):>10} {gbps:>7} {ratio:>10}")
    return lines


def _si(value: float) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.2f} {suffix}"
    return f"{value:.0f}"


def evaluate_targets(best: Best) -> list[dict[str, Any]]:
    """Each target of the issue with its measured value (None when not measured) and verdict."""
    rows = []
    for target in TARGETS:
        value = target.measure(best)
        rows.append({"target": target.text, "value": value, "unit": target.unit, "goal": target.goal,
                     "verdict": "not measured" if value is None else target.verdict(value)})
    return rows


def report(results: list[Result], workload: Workload, skipped: dict[str, str]) -> list[str]:
    """The table, the skipped implementations and the targets, as printed lines."""
    lines = [f"best of {workload.min_rounds}+ runs per case, garbage collector paused; scapy works on the "
             f"first {min(workload.peer_limit, len(workload.corpus.wires))} segments; "
             "'vs cython' = time / the Cython twin's time", ""]
    lines += format_table(results)
    lines += [f"skipped {impl}: {reason}" for impl, reason in skipped.items()]
    lines += ["", "targets (issue 4)"]
    for row in evaluate_targets({(r.op, r.impl): r.best for r in results}):
        value = "-" if row["value"] is None else f"{row['value']:.2f} {row['unit']}"
        lines.append(f"  {row['target']:<58} {value:>12}  {row['verdict']}")
    sample = reference.unpack(workload.corpus.wires[0])
    lines += ["", f"a Segment is {sys.getsizeof(sample)} bytes (the tuple alone; its fields, options and "
              "payload are objects of their own)"]
    return lines


def short_requested() -> bool:
    """Whether the environment asks for the short (CI) mode."""
    return os.environ.get(SHORT_ENV, "").strip().lower() not in ("", "0", "false", "no")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmarks, print the table and the targets; 1 if an implementation disagreed."""
    parser = argparse.ArgumentParser(prog="fastseg bench", description=DESCRIPTION)
    parser.add_argument("--short", action="store_true", default=short_requested(),
                        help=f"CI mode: {SHORT_COUNT} segments and short timings (also {SHORT_ENV}=1)")
    parser.add_argument("--json", metavar="PATH", help="write the raw figures to PATH")
    parser.add_argument("--count", type=int, help=f"corpus size (default {COUNT}, short {SHORT_COUNT})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"corpus seed (default {SEED})")
    parser.add_argument("--op", action="append", metavar="TEXT",
                        help="only operations whose name contains TEXT (repeatable)")
    parser.add_argument("--impl", action="append", choices=PEERS,
                        help="only these implementations, besides the baselines (repeatable)")
    args = parser.parse_args(argv)
    status = 0
    results: list[Result] = []
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="fastseg-bench-") as directory:
        started = time.perf_counter()
        workload = Workload.create(args.short, directory, args.count, args.seed)
        print(f"fastseg {fastseg.__version__} bench: {len(workload.corpus.wires)} segments, seed {args.seed} "
              f"(built in {time.perf_counter() - started:.1f} s); {platform.python_implementation()} "
              f"{platform.python_version()}, {os.cpu_count()} CPUs{'; short mode' if args.short else ''}",
              flush=True)
        for op, (_, impls) in PLAN.items():
            if args.op and not any(text in op for text in args.op):
                continue
            for impl in impls:
                if args.impl and impl in PEERS and impl not in args.impl:
                    continue
                try:
                    case = make_case(workload, op, impl)
                except Unavailable as exc:
                    skipped[impl] = str(exc)
                    continue
                problem = case.mismatch()
                if problem:
                    print(f"DISAGREES, not timed: {problem}", file=sys.stderr)
                    status = 1
                    continue
                results.append(Result(op, impl, case.ops, case.nbytes,
                                      time_case(case, workload.budget, workload.min_rounds)))
                print(f"  {op:<16} {impl:<12} {results[-1].best * 1e9:10.1f} ns/op", file=sys.stderr,
                      flush=True)
    print("\n".join(report(results, workload, skipped)))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({
                "fastseg": fastseg.__version__, "python": platform.python_version(),
                "machine": platform.machine(), "cpus": os.cpu_count(),
                "corpus": {"segments": len(workload.corpus.wires), "seed": args.seed, "short": args.short,
                           "peer_limit": workload.peer_limit},
                "results": [{"op": r.op, "impl": r.impl, "ops": r.ops, "bytes": r.nbytes,
                             "best_ns": r.best * 1e9, "runs_ns": [t * 1e9 for t in r.seconds_per_op]}
                            for r in results],
                "skipped": skipped,
                "targets": evaluate_targets({(r.op, r.impl): r.best for r in results}),
            }, out, indent=1)
    return status


if __name__ == "__main__":
    sys.exit(main())
