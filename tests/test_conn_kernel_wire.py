"""fastseg.conn against the Linux kernel in its variants, judged on the wire (RFC 9293 §3.8).

Each test runs one Connection against the kernel through a TUN device in a private
namespace (see :mod:`kernel_peer`) and then reads the packet trace of the device: what
each side put on the wire, not only the bytes that arrived.  The kernel is varied with
its per-namespace sysctls (SACK, timestamps, window scaling off in turn; ECN asked for),
a 576-byte MTU, keep-alives and a zero window in either direction; losses are made by
dropping chosen segments between the device and the connection.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import pytest
from kernel_peer import KernelPeer, TraceEntry, describe, digest, pattern, requires_kernel_peer
from test_conn_kernel import CONFIG, USER_PORT, Driver, active

from fastseg import Flags, OptionKind, Segment
from fastseg.conn import Config, Connection, Datagram, DataReceived, State
from fastseg.conn.ecn import CE, ECT_0, NOT_ECT
from fastseg.net import Framing, Impairment, ImpairmentSpec
from fastseg.seq import seq_add, seq_diff, seq_lt

pytestmark = [requires_kernel_peer, pytest.mark.usefixtures("arrival_path")]
KB = 1024


def out(peer: KernelPeer) -> List[TraceEntry]:
    """What the connection sent, in order."""
    return [e for e in peer.trace if e.direction == "out" and e.segment is not None]


def kernel(peer: KernelPeer) -> List[TraceEntry]:
    """What the kernel sent, in order (dropped ones included: they were on the wire)."""
    return [e for e in peer.trace if e.direction == "in" and e.segment is not None]


def has_option(segment: Optional[Segment], kind: OptionKind) -> bool:
    assert segment is not None
    return any(option[0] == kind for option in segment.options)


def transfer(peer: KernelPeer, *, up: int, down: int, config: Config = CONFIG,
             drop: Optional[Callable[[str, Segment], bool]] = None) -> Connection:
    """``up`` bytes to a kernel server and ``down`` back, then both close; checks the bytes."""
    server = peer.server(read=up, send=down, shutdown="end")
    conn = active(peer, server.info["port"], config)
    drive = Driver(peer, conn, drop=drop, budget=30.0)
    conn.connect(time.monotonic())
    drive.until(lambda: conn.state is State.ESTABLISHED, "the handshake")
    drive.send_all(pattern(up))
    drive.until(lambda: len(drive.data) >= down and conn.state is State.CLOSE_WAIT,
                "the kernel's data and FIN")
    conn.close(time.monotonic())
    drive.until(lambda: conn.state is State.CLOSED, "the close")
    result = server.result()
    assert result["received"] == up and result["sha256"] == digest(pattern(up))
    assert bytes(drive.data) == pattern(down)
    return conn


def drop_data(lost_out: Set[int], lost_in: Set[int]) -> Tuple[Callable[[str, Segment], bool],
                                                                 Dict[str, List[Segment]]]:
    """A drop function losing the n-th data segment of each direction (first transmissions
    and retransmissions alike count), and the segments it dropped."""
    counts = {"out": 0, "in": 0}
    dropped: Dict[str, List[Segment]] = {"out": [], "in": []}

    def drop(direction: str, segment: Segment) -> bool:
        if not segment.payload:
            return False
        counts[direction] += 1
        if counts[direction] in (lost_out if direction == "out" else lost_in):
            dropped[direction].append(segment)
            return True
        return False

    return drop, dropped


def retransmitted(entries: List[TraceEntry]) -> List[Tuple[int, int]]:
    """(seq, end) of the data segments that start below the highest end sent before them."""
    high: Optional[int] = None
    again = []
    for entry in entries:
        seg = entry.segment
        assert seg is not None
        if not seg.payload:
            continue
        end = seq_add(seg.seq, len(seg.payload))
        if high is not None and seq_lt(seg.seq, high):
            again.append((seg.seq, end))
        if high is None or seq_lt(high, end):
            high = end
    return again


def covered(ranges: List[Tuple[int, int]], lost: List[Segment]) -> bool:
    """Whether every range lies within the sequence space of the lost segments."""
    spans = [(seg.seq, seq_add(seg.seq, len(seg.payload))) for seg in lost]
    return all(any(seq_diff(lo, a) >= 0 and seq_diff(b, hi) >= 0 for a, b in spans)
               for lo, hi in ranges)


# ---------------------------------------------------------------- SACK (RFC 2018)

def test_sack_blocks_sent_and_the_kernel_resends_only_what_was_lost():
    # Tail loss probes resend data that was not lost; switched off, every kernel
    # retransmission must be one our SACK blocks told it was missing.
    with KernelPeer(sysctls={"net.ipv4.tcp_early_retrans": 0}) as peer:
        drop, dropped = drop_data(set(), {8, 20})
        transfer(peer, up=20 * KB, down=120 * KB, drop=drop)
        sent, received = out(peer), kernel(peer)
    syn_ack = received[0].segment
    assert syn_ack is not None and has_option(syn_ack, OptionKind.SACK_PERMITTED)
    assert len(dropped["in"]) == 2
    sacks = [e.segment for e in sent if e.segment is not None
             and has_option(e.segment, OptionKind.SACK)]
    assert sacks, "no SACK block was sent after a loss"
    again = retransmitted(received)
    assert again and covered(again, dropped["in"]), again


def kernel_counters(peer: KernelPeer) -> Dict[str, int]:
    """The namespace's TcpExt counters (/proc/net/netstat, read from a thread inside it)."""
    def read() -> str:
        with open("/proc/thread-self/net/netstat") as file:
            return file.read()

    lines = [line.split() for line in peer.in_namespace(read).splitlines()
             if line.startswith("TcpExt:")]
    return {name: int(value) for name, value in zip(lines[0][1:], lines[1][1:])}


class Repeating(Driver):
    """Receives the ``nth`` data segment from the kernel twice."""

    def __init__(self, peer: KernelPeer, conn: Connection, nth: int) -> None:
        super().__init__(peer, conn, budget=30.0)
        self.nth, self.seen, self.repeated = nth, 0, None

    def step(self, wait: float = 0.02) -> None:
        super().step(wait)
        if self.repeated is None and self.peer.trace:
            data = [e.segment for e in self.peer.trace if e.direction == "in"
                    and e.segment is not None and e.segment.payload]
            if len(data) >= self.nth:
                self.repeated = data[self.nth - 1]
                self.conn.receive(self.repeated, time.monotonic(), remote_ip=self.peer.kernel_addr)


def test_a_duplicate_is_reported_to_the_kernel_as_dsack():
    """RFC 2883: data received twice is named by the first SACK block of our next ACK, and
    the kernel counts it as a D-SACK (TcpExt TCPDSACKRecv)."""
    with KernelPeer() as peer:
        server = peer.server(read=0, send=100 * KB, shutdown="end")
        conn = active(peer, server.info["port"])
        drive = Repeating(peer, conn, nth=5)
        before = kernel_counters(peer)["TCPDSACKRecv"]
        conn.connect(time.monotonic())
        drive.until(lambda: conn.state is State.CLOSE_WAIT, "the kernel's data and FIN")
        conn.close(time.monotonic())
        drive.until(lambda: conn.state is State.CLOSED, "the close")
        server.result()
        after = kernel_counters(peer)["TCPDSACKRecv"]
        sent = out(peer)
    assert bytes(drive.data) == pattern(100 * KB)
    repeated = drive.repeated
    assert repeated is not None
    span = (repeated.seq, seq_add(repeated.seq, len(repeated.payload)))
    dsacks = [e.segment for e in sent if e.segment is not None
              and (e.segment.sack_blocks or ())[:1] == (span,)]
    assert len(dsacks) == 1
    assert after == before + 1


def test_no_sack_when_the_kernel_does_not_offer_it():
    with KernelPeer(sysctls={"net.ipv4.tcp_sack": 0}) as peer:
        drop, dropped = drop_data({6}, {8, 20})
        transfer(peer, up=60 * KB, down=120 * KB, drop=drop)
        sent, received = out(peer), kernel(peer)
    assert len(dropped["in"]) == 2 and len(dropped["out"]) == 1
    syn = sent[0].segment
    assert syn is not None and has_option(syn, OptionKind.SACK_PERMITTED)  # offered ...
    assert not any(has_option(e.segment, OptionKind.SACK_PERMITTED) for e in received
                   if e.segment is not None)
    # ... but not agreed: no block follows, whatever was lost (RFC 2018 §2)
    assert not any(has_option(e.segment, OptionKind.SACK) for e in sent if e.segment is not None)
    assert covered(retransmitted(sent), dropped["out"])


def test_our_sack_recovery_resends_only_what_was_lost():
    """RFC 6675 on the kernel's SACK blocks: three of our data segments lost in one window
    are resent, once each, in one SACK recovery, and nothing else is (no SACKed segment,
    no go-back after a timeout)."""
    with KernelPeer() as peer:
        drop, dropped = drop_data({12, 15, 18}, set())
        conn = transfer(peer, up=300 * KB, down=4 * KB, drop=drop)
        sent, received = out(peer), kernel(peer)
    assert len(dropped["out"]) == 3
    assert any(has_option(e.segment, OptionKind.SACK) for e in received if e.segment is not None)
    lost = sorted((seg.seq, seq_add(seg.seq, len(seg.payload))) for seg in dropped["out"])
    assert sorted(retransmitted(sent)) == lost
    assert conn.stats.sack_recoveries == 1 and conn.stats.fast_retransmits == 0


class ImpairedDriver(Driver):
    """A Driver whose segments pass :class:`fastseg.net.Impairment` both ways: lost,
    duplicated, reordered and delayed between the TUN device and the connection."""

    def __init__(self, peer: KernelPeer, conn: Connection, spec: ImpairmentSpec) -> None:
        super().__init__(peer, conn, budget=60.0)
        self.outbound, self.inbound = Impairment(spec, 1), Impairment(spec, 0)

    def flush(self) -> None:
        now = time.monotonic()
        for segment in self.conn.segments_to_send(now):
            self.outbound.push(segment, now)  # type: ignore[arg-type]
        for segment in self.outbound.due(now):
            self.peer.send_segment(segment)

    def step(self, wait: float = 0.005) -> None:
        self.flush()
        now = time.monotonic()
        due = [t for t in (self.conn.next_deadline(), self.outbound.next_due(),
                           self.inbound.next_due()) if t is not None]
        segment = self.peer.recv_segment(timeout=max(0.0, min([wait, *(t - now for t in due)])))
        now = time.monotonic()
        if segment is not None:
            self.inbound.push(segment, now)  # type: ignore[arg-type]
        for arrived in self.inbound.due(now):
            self.conn.receive(arrived, now, remote_ip=self.peer.kernel_addr)  # type: ignore[arg-type]
        self.conn.handle_timeout(now)
        while (event := self.conn.next_event()) is not None:
            self.events.append(event)
            data = getattr(event, "data", None)
            if data is not None:
                self.data += data
        self.flush()


@pytest.mark.parametrize("seed", [1, 2])
def test_an_impaired_path_both_ways(seed):
    """2% loss, 1% duplication, 5% reordering, 5 ms ± 2 ms delay each way (the stack's
    ``--impair``): every byte arrives both ways and each loss of the kernel's data is
    reported in our SACK blocks."""
    spec = ImpairmentSpec(loss=0.02, duplicate=0.01, reorder=0.05, delay=5, jitter=2, seed=seed)
    with KernelPeer() as peer:
        server = peer.server(read=300 * KB, send=300 * KB, shutdown="end", timeout=50)
        conn = active(peer, server.info["port"])
        drive = ImpairedDriver(peer, conn, spec)
        conn.connect(time.monotonic())
        drive.until(lambda: conn.state is State.ESTABLISHED, "the handshake")
        drive.send_all(pattern(300 * KB))
        drive.until(lambda: len(drive.data) >= 300 * KB and conn.state is State.CLOSE_WAIT,
                    "the kernel's data and FIN")
        conn.close(time.monotonic())
        drive.until(lambda: conn.state is State.CLOSED, "the close")
        result = server.result(timeout=20)
        sent = out(peer)
    assert result["sha256"] == digest(pattern(300 * KB))
    assert bytes(drive.data) == pattern(300 * KB)
    assert drive.inbound.counts["lost"] and drive.outbound.counts["lost"]
    assert drive.inbound.counts["reordered"] and drive.outbound.counts["reordered"]
    assert any(has_option(e.segment, OptionKind.SACK) for e in sent)
    assert retransmitted(sent)


# ---------------------------------------------------------------- options switched off

def test_no_timestamps_after_a_syn_ack_without_them():
    with KernelPeer(sysctls={"net.ipv4.tcp_timestamps": 0}) as peer:
        transfer(peer, up=50 * KB, down=50 * KB)
        sent, received = out(peer), kernel(peer)
    assert sent[0].segment is not None and has_option(sent[0].segment, OptionKind.TIMESTAMPS)
    assert not any(has_option(e.segment, OptionKind.TIMESTAMPS) for e in received
                   if e.segment is not None)
    # RFC 7323 §3.2: without the option in the SYN-ACK, no segment carries it
    assert not any(has_option(e.segment, OptionKind.TIMESTAMPS) for e in sent[1:]
                   if e.segment is not None)


def test_unscaled_windows_without_window_scaling():
    config = Config(msl=0.5, rto_initial=0.5, rto_min=0.2, delayed_ack=0.02,
                    receive_buffer=256 * KB)
    with KernelPeer(sysctls={"net.ipv4.tcp_window_scaling": 0}) as peer:
        transfer(peer, up=50 * KB, down=300 * KB, config=config)
        sent, received = out(peer), kernel(peer)
    assert has_option(sent[0].segment, OptionKind.WSCALE)
    assert not any(has_option(e.segment, OptionKind.WSCALE) for e in received
                   if e.segment is not None)
    # RFC 7323 §2.2: no shift either way, so an empty 256 KiB buffer advertises the
    # largest unscaled window, not 256 KiB shifted right by a scale never agreed
    windows = [e.segment.window for e in sent[1:] if e.segment is not None]
    assert max(windows) == 0xFFFF


def test_ecn_asked_by_the_kernel_is_declined_when_off():
    """The kernel asks for ECN in its SYN (RFC 3168 §6.1.1: ECE and CWR); fastseg with
    ``Config.ecn`` "off" (the default) does not answer with ECE, so neither side marks a
    segment ECE or CWR afterwards."""
    assert CONFIG.ecn == "off"
    with KernelPeer(sysctls={"net.ipv4.tcp_ecn": 1}) as peer:
        conn = Connection((peer.user_addr, USER_PORT), config=CONFIG, iss=2**31)
        conn.listen()
        drive = Driver(peer, conn)
        client = peer.client(USER_PORT, send=40 * KB, read=0, shutdown="after_send")
        drive.until(lambda: conn.state is State.CLOSE_WAIT, "the kernel's data and FIN")
        conn.close(time.monotonic())
        drive.until(lambda: conn.state is State.CLOSED, "the close")
        client.result()
        sent, received = out(peer), kernel(peer)
    ecn = Flags.ECE | Flags.CWR
    syn = received[0].segment
    assert syn is not None and syn.flags & ecn == ecn
    assert bytes(drive.data) == pattern(40 * KB)
    assert not any(e.segment.flags & ecn for e in sent if e.segment is not None)
    assert not any(e.segment.flags & ecn for e in received[1:] if e.segment is not None)


class EcnDriver(Driver):
    """A Driver whose packets go through :class:`~fastseg.net.Framing`, so the ECN codepoint
    of each IP header is written and read, and that sets CE on the data packets ``mark``
    picks (``mark(direction, n)``, n counting each direction's data packets from 0) as a
    congested router would (RFC 3168 §5: only ECN-capable ones)."""

    def __init__(self, peer: KernelPeer, conn: Connection,
                 mark: Callable[[str, int], bool]) -> None:
        super().__init__(peer, conn, budget=30.0)
        self.framing, self.mark = Framing(), mark
        self.counts = {"out": 0, "in": 0}
        #: (direction, segment, codepoint as it arrived), in order.
        self.wire: List[Tuple[str, Segment, int]] = []

    def _codepoint(self, direction: str, segment: Segment, ecn: int) -> int:
        if segment.payload:
            self.counts[direction] += 1
            if ecn != NOT_ECT and self.mark(direction, self.counts[direction] - 1):
                ecn = CE
        self.wire.append((direction, segment, ecn))
        return ecn

    def flush(self) -> None:
        for segment in self.conn.segments_to_send(time.monotonic()):
            ecn = self._codepoint("out", segment, self.conn.codepoint(segment))
            self.peer.send(self.framing.frame(
                Datagram(self.peer.user_addr, self.peer.kernel_addr, segment, ecn)))

    def step(self, wait: float = 0.02) -> None:
        self.flush()
        due = self.conn.next_deadline()
        now = time.monotonic()
        packet = self.peer.recv(wait if due is None else max(0.0, min(wait, due - now)))
        arrival = self.framing.parse(packet) if packet is not None else None
        now = time.monotonic()
        if arrival is not None:
            ecn = self._codepoint("in", arrival.segment, arrival.ecn)
            self.conn.receive(arrival.segment, now, remote_ip=arrival.src, ecn=ecn)
        self.conn.handle_timeout(now)
        while (event := self.conn.next_event()) is not None:
            self.events.append(event)
            if isinstance(event, DataReceived):
                self.data += event.data
        self.flush()

    def first_data(self, direction: str) -> List[Tuple[Segment, int]]:
        """The first transmission of each data segment one way, with its codepoint."""
        seen: Set[int] = set()
        out = []
        for way, segment, ecn in self.wire:
            if way == direction and segment.payload and segment.seq not in seen:
                seen.add(segment.seq)
                out.append((segment, ecn))
        return out


def test_ecn_with_the_kernel_as_client_marks_echoed_until_cwr():
    """The kernel (``tcp_ecn=1``) asks for ECN and our listener (``ecn="accept"``) agrees:
    an ECN-setup SYN,ACK (ECE, not CWR); both sides send new data as ECT(0).  CE set on
    two of the kernel's data packets makes our ACKs carry ECE, the kernel answers with CWR
    on its data (RFC 3168 §6.1.2), and our ECE stops after that CWR (§6.1.3)."""
    config = replace(CONFIG, ecn="accept")
    with KernelPeer(sysctls={"net.ipv4.tcp_ecn": 1}) as peer:
        conn = Connection((peer.user_addr, USER_PORT), config=config, iss=2**31)
        conn.listen()
        drive = EcnDriver(peer, conn, mark=lambda way, n: way == "in" and n in (20, 120))
        client = peer.client(USER_PORT, send=400 * KB, read=60 * KB, shutdown="end")
        drive.until(lambda: conn.state is State.ESTABLISHED, "the handshake")
        drive.send_all(pattern(60 * KB))
        drive.until(lambda: conn.state is State.CLOSE_WAIT, "the kernel's data and FIN")
        conn.close(time.monotonic())
        drive.until(lambda: conn.state is State.CLOSED, "the close")
        result = client.result()
    assert bytes(drive.data) == pattern(400 * KB) and result["sha256"] == digest(pattern(60 * KB))
    ecn_flags = Flags.ECE | Flags.CWR
    syn, syn_ack = drive.wire[0][1], drive.wire[1][1]
    assert syn.flags & ecn_flags == ecn_flags and syn_ack.flags & ecn_flags == Flags.ECE
    assert conn.ecn
    assert all(ecn == ECT_0 for _, ecn in drive.first_data("out"))
    kernel_data = drive.first_data("in")
    assert sum(ecn == CE for _, ecn in kernel_data) == 2
    assert all(ecn in (ECT_0, CE) for _, ecn in kernel_data)
    assert all(ecn == NOT_ECT for way, s, ecn in drive.wire if way == "out" and not s.payload)
    # each mark: our next ACKs echo ECE until the kernel's CWR arrives, then stop
    ours = [s for way, s, _ in drive.wire if way == "out" and not s.flags & Flags.SYN]
    kernel_cwr = [s for way, s, _ in drive.wire if way == "in" and s.flags & Flags.CWR
                  and not s.flags & Flags.SYN]
    assert len(kernel_cwr) == 2 and all(s.payload for s in kernel_cwr)
    echoing = False
    for way, segment, ecn in drive.wire[2:]:
        if way == "in":
            echoing = (echoing and not segment.flags & Flags.CWR) or (ecn == CE)
        elif segment.flags & Flags.ACK:
            assert bool(segment.flags & Flags.ECE) == echoing, describe(segment)
    assert any(s.flags & Flags.ECE for s in ours)
    assert conn.stats.ece_reductions == 0  # nothing marked our way


def test_ecn_requested_of_the_kernel_reduces_once_and_sends_cwr():
    """We ask (``ecn="request"``), the kernel at its default (``tcp_ecn=2``) accepts.  CE on
    one of our data packets: the kernel echoes ECE, our cwnd is halved once and our next
    new data carries CWR, after which the kernel's ECE stops."""
    config = replace(CONFIG, ecn="request")
    with KernelPeer(sysctls={"net.ipv4.tcp_ecn": 2}) as peer:
        server = peer.server(read=300 * KB, send=0, shutdown="end")
        conn = active(peer, server.info["port"], config)
        drive = EcnDriver(peer, conn, mark=lambda way, n: way == "out" and n == 30)
        conn.connect(time.monotonic())
        drive.until(lambda: conn.state is State.ESTABLISHED, "the handshake")
        drive.send_all(pattern(300 * KB))
        drive.until(lambda: conn.snd_una == conn.snd_max, "the kernel's ACK of everything")
        conn.close(time.monotonic())
        drive.until(lambda: conn.state in (State.CLOSED, State.TIME_WAIT), "the close")
        result = server.result()
    assert result["received"] == 300 * KB and result["sha256"] == digest(pattern(300 * KB))
    syn, syn_ack = drive.wire[0][1], drive.wire[1][1]
    ecn_flags = Flags.ECE | Flags.CWR
    assert syn.flags & ecn_flags == ecn_flags and syn_ack.flags & ecn_flags == Flags.ECE
    assert conn.ecn and conn.stats.ece_reductions == 1
    cwr = [s for way, s, _ in drive.wire if way == "out" and s.flags & Flags.CWR
           and not s.flags & Flags.SYN]
    assert len(cwr) == 1 and cwr[0].payload
    after_cwr = drive.wire.index(next(e for e in drive.wire if e[1] is cwr[0]))
    kernel_acks = [(i, s) for i, (way, s, _) in enumerate(drive.wire) if way == "in"]
    assert any(s.flags & Flags.ECE for i, s in kernel_acks if i < after_cwr)
    # the kernel stops echoing once the CWR is through (its ACK of the CWR segment on)
    cwr_end = seq_add(cwr[0].seq, len(cwr[0].payload))
    assert not any(s.flags & Flags.ECE for i, s in kernel_acks
                   if i > after_cwr and not seq_lt(s.ack, cwr_end))


def test_a_576_byte_mtu_limits_both_sides():
    with KernelPeer(mtu=576) as peer:
        transfer(peer, up=60 * KB, down=60 * KB)
        sent, received = out(peer), kernel(peer)
    syn_ack = received[0].segment
    assert syn_ack is not None and syn_ack.mss == 576 - 40
    # RFC 9293 §3.7.1: options come out of the MSS, so full segments fill it exactly
    sizes = [len(e.segment.payload) + e.segment.header_len - 20 for e in sent
             if e.segment is not None and e.segment.payload]
    assert max(sizes) == 576 - 40
    assert all(e.size <= 576 for e in peer.trace)


# ---------------------------------------------------------------- zero windows

def window_probes(sent: List[TraceEntry], received: List[TraceEntry]) -> List[float]:
    """Times of the data segments sent while the kernel's last window was zero."""
    merged = sorted(sent + received, key=lambda e: e.time)
    zero, probes = False, []
    for entry in merged:
        seg = entry.segment
        assert seg is not None
        if entry.direction == "in" and seg.flags & Flags.ACK:
            zero = seg.window == 0
        elif entry.direction == "out" and zero and seg.payload:
            probes.append(entry.time)
    return probes


def test_our_probes_into_the_kernels_zero_window_back_off():
    with KernelPeer() as peer:
        server = peer.server(read=100 * KB, rcvbuf=2048, read_delay=2.5, shutdown="end")
        conn = active(peer, server.info["port"])
        drive = Driver(peer, conn, budget=30.0)
        conn.connect(time.monotonic())
        drive.until(lambda: conn.state is State.ESTABLISHED, "the handshake")
        conn.send(pattern(100 * KB))
        drive.until(lambda: conn.snd_una == conn.snd_nxt and conn.send_capacity == CONFIG.send_buffer,
                    "all data acknowledged")
        conn.close(time.monotonic())
        drive.until(lambda: conn.state in (State.TIME_WAIT, State.CLOSED), "the close")
        assert server.result()["sha256"] == digest(pattern(100 * KB))
        probes = window_probes(out(peer), kernel(peer))
    assert len(probes) >= 3, f"probes at {probes}"
    gaps = [b - a for a, b in zip(probes, probes[1:])]
    # RFC 9293 §3.8.6.1 / RFC 1122 4.2.2.17: the persist timer backs off exponentially
    assert all(later >= 1.5 * earlier for earlier, later in zip(gaps, gaps[1:])), gaps


def test_our_acks_reach_the_kernel_while_we_probe_its_zero_window():
    """The kernel reads nothing until it has sent its own data, which it starts only once our
    upload has shut its window and a probe's byte is out: each ACK of its data must start
    inside its zero window, or it is dropped and the kernel waits for it forever."""
    with KernelPeer() as peer:
        server = peer.server(send=200 * KB, send_first=True, send_delay=1.0, rcvbuf=4096,
                             read=None, shutdown="end")
        conn = active(peer, server.info["port"])
        drive = Driver(peer, conn, budget=30.0)
        conn.connect(time.monotonic())
        drive.until(lambda: conn.state is State.ESTABLISHED, "the handshake")
        drive.send_all(pattern(300 * KB))
        drive.until(lambda: len(drive.data) >= 200 * KB, "the kernel's data")
        drive.until(lambda: conn.snd_una == conn.snd_nxt and conn.send_capacity == CONFIG.send_buffer,
                    "all our data acknowledged")
        conn.close(time.monotonic())
        drive.until(lambda: conn.state is State.CLOSED, "the close")
        result = server.result()
        probes = window_probes(out(peer), kernel(peer))
    assert result["sha256"] == digest(pattern(300 * KB)) and result["error"] is None
    assert bytes(drive.data) == pattern(200 * KB)
    assert probes, "the kernel's window never shut: the test did not test"


def test_the_kernel_probes_our_zero_window_and_we_reopen_it():
    config = Config(msl=0.5, rto_initial=0.5, rto_min=0.2, delayed_ack=0.02,
                    receive_buffer=8 * KB)
    with KernelPeer() as peer:
        conn = Connection((peer.user_addr, USER_PORT), config=config, iss=7)
        conn.listen()
        drive = Driver(peer, conn, budget=30.0)
        drive.reading = False  # the application does not read: the window closes
        client = peer.client(USER_PORT, send=64 * KB, read=0, shutdown="after_send")
        drive.until(lambda: conn.rcv_wnd == 0, "our window to close")
        closed_at = time.monotonic()
        drive.until(lambda: time.monotonic() > closed_at + 1.5, "the kernel to probe")
        drive.reading = True
        drive.until(lambda: conn.state is State.CLOSE_WAIT, "the kernel's data and FIN")
        conn.close(time.monotonic())
        drive.until(lambda: conn.state is State.CLOSED, "the close")
        client.result()
        sent, received = out(peer), kernel(peer)
    assert bytes(drive.data) == pattern(64 * KB)
    first_zero = next(e.time for e in sent if e.segment is not None and e.segment.window == 0
                      and e.segment.flags & Flags.ACK)
    reopened = next(e.time for e in sent if e.time > first_zero and e.segment is not None
                    and e.segment.window > 0)
    # the kernel's probes while we were shut: segments at our RCV.NXT - 1 or with data
    # beyond the window, each answered with an ACK still showing the zero window
    probes = [e for e in received if first_zero < e.time < reopened]
    assert len(probes) >= 2, peer.format_trace()
    answered = [e for e in sent if first_zero < e.time < reopened and e.segment is not None
                and e.segment.window == 0]
    assert len(answered) >= len(probes) - 1


# ---------------------------------------------------------------- the kernel's keep-alives

def keepalive_client(task: Any, *, host: str, port: int, idle: int, silence: float) -> Dict[str, Any]:
    """Kernel side: connect with keep-alives every ``idle`` s, say nothing for ``silence`` s,
    then send a line and close."""
    import socket
    import time

    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, idle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    task.ready()
    time.sleep(silence)
    sock.sendall(b"still here\n")
    sock.shutdown(socket.SHUT_WR)
    sock.close()
    return {"sent": True}


def test_the_kernels_keepalives_are_answered():
    with KernelPeer() as peer:
        conn = Connection((peer.user_addr, USER_PORT), config=CONFIG, iss=99)
        conn.listen()
        drive = Driver(peer, conn, budget=20.0)
        task = peer.run(keepalive_client, host=peer.user_addr, port=USER_PORT, idle=1,
                        silence=3.6)
        drive.until(lambda: conn.state is State.CLOSE_WAIT, "the kernel's line and FIN")
        conn.close(time.monotonic())
        drive.until(lambda: conn.state is State.CLOSED, "the close")
        assert task.result()["sent"]
        sent, received = out(peer), kernel(peer)
    assert bytes(drive.data) == b"still here\n"
    established = next(e.time for e in sent if e.segment is not None
                       and e.segment.flags & Flags.SYN)
    # RFC 9293 §3.8.4: a keep-alive is an ACK one below what we expect, without data
    syn = received[0].segment
    assert syn is not None and syn.flags & Flags.SYN
    rcv_first = seq_add(syn.seq, 1)
    keepalives = [e for e in received if e.segment is not None and e.time > established
                  and e.segment.seq == syn.seq and not e.segment.flags & Flags.SYN]
    assert len(keepalives) >= 2, peer.format_trace()
    for probe in keepalives:
        answer = next((e for e in sent if e.time >= probe.time and e.segment is not None), None)
        assert answer is not None and answer.segment is not None
        assert answer.segment.ack == rcv_first and answer.time - probe.time < 0.5
