"""One benchmark case per operation and implementation, each checked before it is timed."""

from __future__ import annotations

import collections
import os
import struct
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Callable, Iterator, Optional

import fastseg
from harness import analysis, connection
from harness.corpus import (
    COUNT,
    SEED,
    SHORT_COUNT,
    Corpus,
    build_corpus,
    laid_out,
    ones_sum,
    read_pcap,
    tcp_checksum,
    write_pcap,
)
from harness.peers import (
    dpkt_fields,
    fastseg_fields,
    minimal,
    peer,
    record_fields,
    scapy_fields,
    scapy_option_list,
    twin,
)

__all__ = ["CHECKSUM_SIZES", "PEERS", "PLAN", "SEQ_OPS", "TWINS", "Case", "Workload", "make_case"]

CHECKSUM_SIZES = (20, 64, 576, 1500, 9000, 65536)
_FIXED = struct.Struct("!HHIIHHHH")


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
        """The corpus as Segment objects (checksum 0: pack computes it), each made of new
        objects, as a program building segments makes them."""
        def build() -> list[Any]:
            return [fastseg.Segment(sp, dp, seq, ack, hl, flags, 0, win, 0, urg, options, payload)
                    for sp, dp, seq, ack, hl, flags, win, _, urg, options, payload
                    in map(laid_out, self.corpus.fields)]
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
    if impl in ("cython", "python", "minimal"):
        unpack = minimal().decode if impl == "minimal" else twin(impl).unpack
        fields = record_fields if impl == "minimal" else fastseg_fields

        def run() -> None:  # the compiled twin decodes options and payload when first read
            for raw in wires:
                seg = unpack(raw)
                _options = seg.options
                _payload = seg.payload
        return Case("unpack", impl, run, len(wires), lambda: [fields(unpack(r)) for r in wires], expected)
    if impl == "dpkt":
        dpkt = peer("dpkt")
        tcp_class, parse_opts = dpkt.tcp.TCP, dpkt.tcp.parse_opts

        def run_dpkt() -> None:
            for raw in wires:
                tcp = tcp_class(raw)
                parse_opts(tcp.opts)
        return Case("unpack", impl, run_dpkt, len(wires), lambda: [dpkt_fields(tcp_class(r)) for r in wires],
                    expected)
    tcp_layer = peer("scapy").TCP

    def run_scapy() -> None:
        for raw in wires:
            tcp_layer(raw)
    return Case("unpack", impl, run_scapy, len(wires), lambda: [scapy_fields(tcp_layer(r)) for r in wires],
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
    if impl in ("cython", "python", "minimal"):
        unpack = minimal().decode if impl == "minimal" else twin(impl).unpack

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
    if impl == "minimal":
        encode = minimal().encode
        records = w.derived("records", lambda: laid_out(w.corpus.fields))  # as segments() makes them

        def run_minimal() -> None:
            for record, (src, dst) in zip(records, addresses):
                encode(record, src, dst)
        return Case("pack checksum", impl, run_minimal, len(records),
                    lambda: [encode(r, a, b) for r, (a, b) in zip(records, addresses)], expected)
    if impl == "dpkt":
        # dpkt has no option encoder: its objects carry the option bytes.  The checksum
        # is computed as dpkt's own IP.__bytes__ does for the TCP segment it carries.
        dpkt = peer("dpkt")
        add, done, pseudo = dpkt.in_cksum_add, dpkt.in_cksum_done, struct.Struct(">4s4sxBH").pack
        objects = [dpkt.tcp.TCP(sport=sp, dport=dp, seq=seq, ack=ack, off=hl // 4, flags=flags, win=win,
                                sum=0, urp=urg, opts=wire[20:hl], data=payload)
                   for (sp, dp, seq, ack, hl, flags, win, _, urg, _, payload), wire
                   in zip(map(laid_out, w.corpus.fields), w.corpus.wires)]

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
                        options=scapy_option_list(options))
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
        elif impl == "plain loop":
            function = minimal().plain_checksum
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
            expected.append(tcp_checksum(src, dst, new + wire[2:16] + b"\0\0" + wire[18:]))
        return checksums, olds, news, expected
    checksums, olds, news, expected = w.derived("update", inputs)
    update = twin(impl).update_checksum
    return Case("update_checksum", impl, lambda: _drain(map(update, checksums, olds, news)), len(olds),
                lambda: list(map(update, checksums, olds, news)), expected)


_SEQ_TRUTH: dict[str, Callable[[int], bool]] = {
    "seq_lt": lambda d: d >= 2**31, "seq_le": lambda d: d == 0 or d >= 2**31,
    "seq_gt": lambda d: 0 < d <= 2**31, "seq_ge": lambda d: d <= 2**31,
}
SEQ_OPS = tuple(_SEQ_TRUTH)


def _seq(name: str) -> Callable[[Workload, str], Case]:
    """A comparison of every segment's seq with its ack; beside it an empty compiled function."""
    def build(w: Workload, impl: str) -> Case:
        # Each list's ints one after another, not among the other fields' objects.
        a, b = w.derived("seq", lambda: (laid_out([f[2] for f in w.corpus.fields]),
                                         laid_out([f[3] for f in w.corpus.fields])))
        if impl == "empty call":
            function: Any = minimal().empty
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
            segments = []
            for record in capture.segments(path, implementation=impl):
                seg = record.segment
                _options = seg.options  # decoded, as dpkt's are below
                _payload = seg.payload
                segments.append(seg)
            return segments

        return Case("pcap", impl, run_fastseg, len(expected),
                    lambda: [fastseg_fields(s) for s in run_fastseg()], expected)
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
        return Case("pcap", impl, run_dpkt, len(expected), lambda: [dpkt_fields(t) for t, _ in run_dpkt()],
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
    return Case("pcap", impl, run_scapy, len(expected), lambda: [scapy_fields(t) for t in run_scapy()],
                expected)


def _build_pack(w: Workload, impl: str) -> Case:
    """Build a segment from typed fields and options, then encode it with the IPv4 checksum."""
    fields = w.derived("records", lambda: laid_out(w.corpus.fields))
    addresses = w.corpus.addresses
    expected = w.corpus.wires
    if impl == "minimal":  # the same fields as a tuple, encoded in C
        encode = minimal().encode

        def build_minimal(f: Any, src: bytes, dst: bytes) -> bytes:
            return encode((f[0], f[1], f[2], f[3], f[4], f[5], f[6], 0, f[8], f[9], f[10]), src, dst)

        def run_minimal() -> None:
            for f, (src, dst) in zip(fields, addresses):
                encode((f[0], f[1], f[2], f[3], f[4], f[5], f[6], 0, f[8], f[9], f[10]), src, dst)
        return Case("build pack", impl, run_minimal, len(fields),
                    lambda: [build_minimal(f, a, b) for f, (a, b) in zip(fields, addresses)], expected)
    segment, pack = fastseg.Segment, twin(impl).pack  # one Segment type serves both twins

    def build(f: Any, src: bytes, dst: bytes) -> bytes:
        return pack(segment(src_port=f[0], dst_port=f[1], seq=f[2], ack=f[3], flags=f[5], window=f[6],
                            urgent=f[8], options=f[9], payload=f[10]), src=src, dst=dst)

    def run() -> None:
        for f, (src, dst) in zip(fields, addresses):
            pack(segment(src_port=f[0], dst_port=f[1], seq=f[2], ack=f[3], flags=f[5], window=f[6],
                         urgent=f[8], options=f[9], payload=f[10]), src=src, dst=dst)
    return Case("build pack", impl, run, len(fields),
                lambda: [build(f, a, b) for f, (a, b) in zip(fields, addresses)], expected)


def _pack_text(w: Workload, impl: str) -> Case:
    """``pack`` with the addresses as text, as programs and fastseg.conn pass them; the
    baseline packs the same segments with the addresses as 4-byte bytes."""
    segments, expected = w.segments(), w.corpus.wires
    if impl == "bytes addresses":
        pack, addresses = twin("cython").pack, w.corpus.addresses
    else:
        pack = twin(impl).pack
        addresses = w.derived("text addresses", lambda: [
            (".".join(map(str, src)), ".".join(map(str, dst))) for src, dst in w.corpus.addresses])

    def run() -> None:
        for seg, (src, dst) in zip(segments, addresses):
            pack(seg, src=src, dst=dst)
    return Case("pack text", impl, run, len(segments),
                lambda: [pack(s, src=a, dst=b) for s, (a, b) in zip(segments, addresses)], expected)


def _connection(w: Workload, impl: str) -> Case:
    """Per segment carried between two Connections (see ``harness.connection``); the baseline
    is the Cython codec's pack and unpack of the very segments a transfer carries."""
    size = (1 if w.short else 8) << 20
    if impl == "codec":
        carried: list[Any] = w.derived("carried", lambda: _carried(size))
        pack, unpack = twin("cython").pack, twin("cython").unpack

        def run_codec() -> None:
            for seg, src, dst in carried:
                unpack(pack(seg, src=src, dst=dst))
        return Case("connection", impl, run_codec, len(carried),
                    lambda: [len(carried)], [len(carried)])
    module = twin(impl)
    moved, _ = w.derived(f"moved {impl}", lambda: connection.transfer(module, size))
    return Case("connection", impl, lambda: connection.transfer(module, size), moved,
                lambda: [connection.transfer(module, size, digest=True)],
                [(moved, connection.sent_digest(size))])


def _analyze(w: Workload, impl: str) -> Case:
    """A capture analysed end to end: fastseg analyze (each twin) and tshark's conversations."""
    path, frames, connections = w.derived("analyze capture",
                                          lambda: analysis.write_capture(w.directory, w.short))
    run = analysis.analyze_case_parts(path, impl)
    return Case("analyze", impl, run, frames, run, [connections, frames])


def _carried(size: int) -> list[Any]:
    carried: list[Any] = []
    connection.transfer(twin("cython"), size, carried)
    return carried


TWINS = ("cython", "python")
PEERS = ("cython", "python", "dpkt", "scapy")
#: Every operation in table order: its builder and the implementations timed side by side.
PLAN: dict[str, tuple[Callable[[Workload, str], Case], tuple[str, ...]]] = {
    "unpack": (_unpack, (*PEERS, "minimal")),
    "unpack header": (_unpack_header, (*PEERS, "minimal", "struct")),
    "pack checksum": (_pack, (*PEERS, "minimal")),
    **{f"checksum {size}": (_checksum(size), (*PEERS, "plain loop")) for size in CHECKSUM_SIZES},
    "verify_checksum": (_verify, TWINS),
    "update_checksum": (_update, TWINS),
    **{name: (_seq(name), (*TWINS, "empty call")) for name in _SEQ_TRUTH},
    "pcap": (_pcap, (*PEERS, "loop only")),
    "build pack": (_build_pack, (*TWINS, "minimal")),
    "pack text": (_pack_text, (*TWINS, "bytes addresses")),
    "connection": (_connection, (*TWINS, "codec")),
    "analyze": (_analyze, analysis.ANALYZE_IMPLS),
}


def make_case(workload: Workload, op: str, impl: str) -> Case:
    """The case for ``op`` by ``impl``; Unavailable if that implementation is missing here."""
    build, impls = PLAN[op]
    if impl not in impls:
        raise KeyError(f"{op} has no implementation {impl!r}")
    return build(workload, impl)
