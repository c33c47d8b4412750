"""Explicit Congestion Notification (RFC 3168 §6.1), tested from the RFC's text.

§6.1.1: ECN is agreed by an ECN-setup SYN (ECE and CWR) answered by an
ECN-setup SYN,ACK (ECE, not CWR), and only then.  §6.1.2: the sender halves
its congestion window on ECE at most once per window of data and sets CWR on
the next new data.  §6.1.3: a receiver that gets a CE packet sets ECE on every
ACK until a segment with CWR arrives.  §6.1.4-6: ECT is set on new data only,
not on SYNs, pure ACKs, retransmissions or window probes.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import List, Optional, Set

import pytest
from aiolink import PipeEnd, pipe
from connlink import CLIENT, CLIENT_ISS, SERVER, SERVER_ISS, drain, established, pair
from hostlink import CONFIG as HOST_CONFIG
from hostlink import Net
from test_conn_behaviour import CONFIG, SMSS, Transfer

from fastseg import Flags, Segment, internet_checksum, pack
from fastseg.capture import ipv4_packet, ipv6_packet
from fastseg.conn import Config, Connection, Datagram, Host, State
from fastseg.conn.ecn import CE, ECN_MODES, ECT_0, ECT_1, NOT_ECT
from fastseg.net import Framing, Stack
from fastseg.seq import seq_diff

ECE, CWR = int(Flags.ECE), int(Flags.CWR)
ECN = CONFIG.__class__(**{**CONFIG.__dict__, "ecn": "request"})


def flags(segment: Segment) -> int:
    return int(segment.flags)


# ---------------------------------------------------------------- negotiation (§6.1.1)

@pytest.mark.parametrize("ours, theirs", list(itertools.product(ECN_MODES, ECN_MODES)))
def test_ecn_is_agreed_only_when_one_asks_and_the_other_accepts(impl, ours, theirs):
    link = pair(impl, replace(CONFIG, ecn=ours))
    link.b = Connection(SERVER, config=replace(CONFIG, ecn=theirs), iss=SERVER_ISS)
    link.b.listen()
    link.a.connect(0.0)
    link.settle()
    assert link.a.state is State.ESTABLISHED and link.b.state is State.ESTABLISHED
    syn, syn_ack = link.log[0][1], link.log[1][1]
    asked = ours == "request"
    assert flags(syn) & (ECE | CWR) == ((ECE | CWR) if asked else 0)
    agreed = asked and theirs != "off"
    assert flags(syn_ack) & (ECE | CWR) == (ECE if agreed else 0)  # never CWR
    assert link.a.ecn is agreed and link.b.ecn is agreed


def test_a_syn_ack_with_ece_and_cwr_is_not_ecn_setup(impl):
    """§6.1.1: a SYN,ACK with both bits set (a reflected SYN) does not agree to ECN."""
    client = Connection(CLIENT, SERVER, config=ECN, iss=CLIENT_ISS)
    client.connect(0.0)
    [syn] = client.segments_to_send(0.0)
    answer = Segment(src_port=SERVER[1], dst_port=CLIENT[1], seq=SERVER_ISS, ack=syn.seq + 1,
                     flags=Flags.SYN | Flags.ACK | Flags.ECE | Flags.CWR, window=65535)
    client.receive(answer, 0.01)
    assert client.state is State.ESTABLISHED and not client.ecn


def test_a_syn_with_only_ece_is_not_ecn_setup(impl):
    server = Connection(SERVER, config=replace(CONFIG, ecn="accept"), iss=SERVER_ISS)
    server.listen()
    server.receive(Segment(src_port=CLIENT[1], dst_port=SERVER[1], seq=CLIENT_ISS,
                           flags=Flags.SYN | Flags.ECE, window=65535), 0.0, remote_ip=CLIENT[0])
    [syn_ack] = server.segments_to_send(0.0)
    assert not flags(syn_ack) & (ECE | CWR) and not server.ecn


@pytest.mark.parametrize("agreed", [True, False], ids=["listener", "cookie"])
def test_a_host_listener_agrees_but_a_cookie_cannot(agreed):
    """A host's listener agrees as its Config says; a handshake completed by SYN cookie has
    no ECN, on both sides (the cookie SYN,ACK carries no ECE)."""
    client = Host(["10.0.0.1"], config=replace(HOST_CONFIG, ecn="request"), secret=b"c")
    server = Host(["10.0.0.2"], config=replace(HOST_CONFIG, ecn="accept"), secret=b"s")
    listener = server.listen(("", 80), backlog=1)
    if not agreed:  # a stranger's SYN fills the backlog: the next SYN gets a cookie
        server.receive(Segment(src_port=1, dst_port=80, seq=5, flags=Flags.SYN, window=1000), 0.0,
                       src="10.0.0.9", dst="10.0.0.2")
        server.segments_to_send(0.0)
    net = Net({"10.0.0.1": client, "10.0.0.2": server})
    conn = client.connect(("10.0.0.2", 80), 0.0)
    net.run_until(lambda: conn.state is State.ESTABLISHED and listener.queued > 0)
    accepted = listener.accept()
    assert accepted is not None and accepted.state is State.ESTABLISHED
    assert conn.ecn is agreed and accepted.ecn is agreed
    assert server.stats["cookies_accepted"] == (0 if agreed else 1)


def test_config_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="ecn"):
        Config(ecn="on")  # type: ignore[arg-type]


def test_receive_refuses_a_codepoint_that_is_none(impl):
    link = established(impl, ECN)
    with pytest.raises(ValueError, match="ECN codepoint"):
        link.b.receive(link.a._segment(0, link.a.snd_nxt), 1.0, ecn=4)


# ---------------------------------------------------------------- the codepoints (§6.1.4-6)

@pytest.mark.parametrize("sack", [False, True], ids=["newreno", "sack"])
def test_ect_0_marks_new_data_only(impl, arrival_path, sack):
    """§6.1.5: retransmissions (the fast retransmit of offset 30 and the timeout's resend of
    the lost tail; with SACK, RFC 6675's recovery, which may add a rescue retransmission)
    go out Not-ECT, as do SYN, pure ACKs and the FIN-less ACKs of the receiver; every
    first transmission of data, including new data sent during a recovery, is ECT(0)."""
    size = 60 * SMSS
    t = Transfer(impl, size, lose=[30 * SMSS, size - SMSS], config=replace(ECN, sack=sack))
    t.run()
    assert t.client.ecn and t.server.ecn
    seen: Set[int] = set()
    for sent in t.net.trace:
        offset = seq_diff(sent.segment.seq, CLIENT_ISS + 1)
        first = sent.sender is t.client and bool(sent.segment.payload) and offset not in seen
        seen.add(offset) if first else None
        assert sent.ecn == (ECT_0 if first else NOT_ECT), (offset, sent)
    resent = t.retransmitted()
    assert {30 * SMSS: 2, size - SMSS: 2}.items() <= resent.items()
    assert len(resent) <= (3 if sack else 2)  # at most the one rescue (RFC 6675 §4 rule 4)


def test_a_batch_of_resent_and_new_data_marks_only_the_new(impl, arrival_path):
    """After a timeout rolls SND.NXT back, one batch can hold data sent again and data sent
    for the first time: only the latter is ECT(0) (§6.1.5)."""
    link = established(impl, ECN)
    link.a.send(b"a" * 2 * SMSS)
    first, second = link.a.segments_to_send(link.now)  # both lost
    link.now = link.a.next_deadline()
    link.a.handle_timeout(link.now)
    [resent] = link.a.segments_to_send(link.now)  # cwnd is one segment after the timeout
    assert resent.seq == first.seq and link.a.codepoint(resent) == NOT_ECT
    link.b.receive(link.wire(link.a, resent), link.now)
    link.now = link.b.next_deadline()  # the delayed ACK
    link.b.handle_timeout(link.now)
    [ack] = link.b.segments_to_send(link.now)
    link.a.send(b"n" * SMSS)
    link.a.receive(link.wire(link.b, ack), link.now)  # slow start: cwnd two segments
    again, new = link.a.segments_to_send(link.now)
    assert again.seq == second.seq and new.payload == b"n" * SMSS
    assert link.a.codepoint(again) == NOT_ECT and link.a.codepoint(new) == ECT_0


def test_no_ect_without_agreement(impl):
    t = Transfer(impl, 20 * SMSS, config=replace(CONFIG, ecn="request"),
                 server_config=replace(CONFIG, ecn="off")).run()
    assert not t.client.ecn and all(s.ecn == NOT_ECT for s in t.net.trace)


def test_a_window_probe_is_not_ect(impl):
    """§6.1.6: the one byte past a zero window goes Not-ECT."""
    config = replace(ECN, receive_buffer=4 * SMSS, nagle=False)
    link = established(impl, config)
    link.a.send(b"x" * 5 * SMSS)
    link.settle()  # the server does not read: its window closes
    assert link.b.rcv_wnd == 0
    link.now = link.a.next_deadline()
    link.a.handle_timeout(link.now)
    [probe] = link.a.segments_to_send(link.now)
    assert len(probe.payload) == 1 and link.a.codepoint(probe) == NOT_ECT


# ---------------------------------------------------------------- congestion marks (§6.1.2-3)

def marked_transfer(impl, marks: List[int], size: int = 120 * SMSS) -> Transfer:
    """A transfer whose path sets CE on the first transmission of the data segments at
    ``marks`` (byte offsets)."""
    t = Transfer(impl, size, config=ECN)
    left = set(marks)

    def mark(index: int, segment: Segment) -> bool:
        offset = seq_diff(segment.seq, CLIENT_ISS + 1)
        if offset in left:
            left.discard(offset)
            return True
        return False

    t.net.paths[id(t.client)].mark = mark
    return t.run()


def test_ce_is_echoed_with_ece_until_cwr_arrives(impl, arrival_path):
    t = marked_transfer(impl, [20 * SMSS])
    ce_at = next(i for i, s in enumerate(t.net.trace) if s.ecn == CE)
    cwr_at = next(i for i, s in enumerate(t.net.trace) if flags(s.segment) & CWR and s.segment.payload)
    assert ce_at < cwr_at
    # which of the receiver's arrivals were the marked one and the one with CWR
    arrived = [s.seq for s in t.net.received[id(t.server)]]
    ce_n = arrived.index(t.net.trace[ce_at].segment.seq) + 1
    cwr_n = arrived.index(t.net.trace[cwr_at].segment.seq) + 1
    acks = [s for s in t.net.trace if s.sender is t.server and not s.segment.flags & Flags.SYN]
    echoing = [s for s in acks if ce_n <= s.received < cwr_n]
    assert echoing and all(flags(s.segment) & ECE for s in echoing)
    assert not any(flags(s.segment) & ECE for s in acks if s.received < ce_n or s.received >= cwr_n)
    assert flags(t.net.trace[cwr_at].segment) & CWR and t.net.trace[cwr_at].segment.payload


def test_ece_halves_cwnd_once_per_window_and_sets_cwr_once(impl, arrival_path):
    """Two marks in one window of data: one reduction (§6.1.2: "no more than once per
    window"), cwnd and ssthresh both half of cwnd before it, and CWR on exactly one
    segment, the first new data sent after the reduction."""
    t = marked_transfer(impl, [20 * SMSS, 22 * SMSS])
    assert t.client.stats.ece_reductions == 1 and t.server.stats.ece_reductions == 0
    sent = t.data_sent()
    cwr = [i for i, s in enumerate(sent) if flags(s.segment) & CWR]
    assert len(cwr) == 1
    before, after = sent[cwr[0] - 1], sent[cwr[0]]
    # halved from what cwnd was when the ECE arrived: grown by the ACKs since ``before``
    # went out, at most a segment each in slow start
    halved = after.ssthresh
    assert before.cwnd <= 2 * halved <= before.cwnd + 4 * SMSS
    assert halved <= after.cwnd < before.cwnd
    assert seq_diff(after.segment.seq, CLIENT_ISS + 1) >= seq_diff(before.segment.seq,
                                                                    CLIENT_ISS + 1)
    assert not t.retransmitted()  # a mark is not a loss: nothing is sent again
    assert all(s.ssthresh == halved for s in sent[cwr[0]:])  # no other reduction


def test_an_ece_halves_cwnd_into_ssthresh(impl, arrival_path):
    """§6.1.2: the ECE ACK of a CE-marked segment halves cwnd (after the growth of the ACK
    itself, slow start's min(N, SMSS)) and ssthresh takes the same value (floors: one
    segment for cwnd, two for ssthresh, RFC 5681 eqn. 4)."""
    link = established(impl, ECN)
    link.a.send(b"d" * 2 * SMSS)
    first, second = link.a.segments_to_send(link.now)
    assert link.a.codepoint(first) == link.a.codepoint(second) == ECT_0
    link.b.receive(link.wire(link.a, first), link.now, ecn=CE)
    link.b.receive(link.wire(link.a, second), link.now)
    [ack] = link.b.segments_to_send(link.now)
    assert flags(ack) & ECE
    cwnd = link.a._cwnd
    link.a.receive(link.wire(link.b, ack), link.now)
    assert link.a._cwnd == link.a._ssthresh == max((cwnd + SMSS) // 2, 2 * SMSS)
    assert link.a.stats.ece_reductions == 1


def test_an_ece_after_a_timeout_does_not_cut_the_window_again(impl, arrival_path):
    """The mark's echo reaches the sender only after its retransmission timer fired: the
    timeout already cut cwnd to one segment for that window of data, so the ECE does not
    reduce again (§6.1.2: at most once per window), and slow start goes on."""
    link = established(impl, ECN)
    link.a.send(b"t" * 4 * SMSS)
    first, *_ = link.a.segments_to_send(link.now)  # all but the first lost
    link.b.receive(link.wire(link.a, first), link.now, ecn=CE)
    [lost_ack] = link.b.segments_to_send(link.now)
    assert flags(lost_ack) & ECE
    link.now = link.a.next_deadline()
    link.a.handle_timeout(link.now)
    [resent] = link.a.segments_to_send(link.now)
    link.b.receive(link.wire(link.a, resent), link.now)  # a duplicate: ACKed at once
    [ack] = link.b.segments_to_send(link.now)
    assert flags(ack) & ECE and link.a._cwnd == SMSS
    link.a.receive(link.wire(link.b, ack), link.now)
    assert link.a.stats.ece_reductions == 0 and link.a._cwnd == 2 * SMSS


def test_marks_in_later_windows_reduce_again(impl, arrival_path):
    t = marked_transfer(impl, [20 * SMSS, 200 * SMSS], size=300 * SMSS)
    assert t.client.stats.ece_reductions == 2
    assert sum(1 for s in t.data_sent() if flags(s.segment) & CWR) == 2


def test_ce_without_ecn_agreed_is_ignored(impl):
    link = established(impl, CONFIG)
    link.a.send(b"x" * 100)
    [data] = link.a.segments_to_send(link.now)
    link.b.receive(link.wire(link.a, data), link.now, ecn=CE)
    drain(link.b)
    assert all(not flags(s) & ECE for s in link.b.segments_to_send(link.now + 1))


def test_a_host_passes_codepoints_both_ways():
    """The Host names ECT(0) on its connections' new data and hands a CE mark to the
    connection, whose ACKs then carry ECE."""
    client = Host(["10.0.0.1"], config=replace(HOST_CONFIG, ecn="request"), secret=b"c")
    server = Host(["10.0.0.2"], config=replace(HOST_CONFIG, ecn="accept"), secret=b"s")
    listener = server.listen(("", 80))
    net = Net({"10.0.0.1": client, "10.0.0.2": server}, mark=lambda d: True)
    conn = client.connect(("10.0.0.2", 80), 0.0)
    net.run_until(lambda: listener.queued > 0)
    conn.send(b"z" * 3000)
    net.run_until(lambda: conn.snd_una == conn.snd_max)
    data = [d for d in net.log if d.segment.payload]
    acks = [d for d in net.log if d.src == "10.0.0.2" and not d.segment.flags & Flags.SYN]
    assert data and all(d.ecn == ECT_0 for d in data)
    assert all(d.ecn == NOT_ECT for d in net.log if not d.segment.payload)
    assert any(flags(d.segment) & ECE for d in acks)


# ---------------------------------------------------------------- the I/O layer

@pytest.mark.parametrize("codepoint", [NOT_ECT, ECT_1, ECT_0, CE])
def test_framing_writes_the_codepoint_into_the_ip_header(codepoint):
    segment = Segment(src_port=1, dst_port=2, seq=3, flags=Flags.ACK, window=9, payload=b"p")
    v4 = Framing().frame(Datagram("10.0.0.1", "10.0.0.2", segment, codepoint))
    assert v4[1] == codepoint  # TOS: DSCP 0, ECN in the low two bits (RFC 3168 §5)
    v6 = Framing().frame(Datagram("fd00::1", "fd00::2", segment, codepoint))
    assert ((v6[0] & 0x0F) << 4 | v6[1] >> 4) == codepoint  # the traffic class
    assert v6[1] & 0x0F == 0 and v6[0] >> 4 == 6


@pytest.mark.parametrize("codepoint", [NOT_ECT, ECT_1, ECT_0, CE])
def test_framing_reports_the_codepoint_that_arrived(codepoint):
    segment = Segment(src_port=1, dst_port=2, seq=3, flags=Flags.ACK, window=9, payload=b"p")
    dscp = 0b101110 << 2  # expedited forwarding beside it: not ECN
    v4 = ipv4_packet("10.0.0.1", "10.0.0.2", pack(segment, src="10.0.0.1", dst="10.0.0.2"),
                     tos=dscp | codepoint)
    v6 = ipv6_packet("fd00::1", "fd00::2", pack(segment, src="fd00::1", dst="fd00::2"),
                     traffic_class=dscp | codepoint, flow_label=0xFFFFF)
    for packet in (v4, v6):
        arrival = Framing().parse(packet)
        assert arrival is not None and arrival.ecn == codepoint


class Congested:
    """A packet device that sets CE on every ECN-capable IPv4 packet written to it (fixing
    the header checksum), as a congested router would (RFC 3168 §5)."""

    def __init__(self, end: PipeEnd) -> None:
        self.end = end

    def fileno(self) -> int:
        return self.end.fileno()

    def read(self) -> Optional[bytes]:
        return self.end.read()

    def write(self, packet: bytes) -> bool:
        if packet[1] & 0b11 in (ECT_0, ECT_1):
            header = bytearray(packet[:20])
            header[1] |= CE
            header[10:12] = b"\0\0"
            header[10:12] = internet_checksum(bytes(header)).to_bytes(2, "big")
            packet = bytes(header) + packet[20:]
        return self.end.write(packet)


def test_a_stack_frames_and_reports_the_codepoints():
    """Two Stacks over an in-memory link that marks the client's ECT(0) packets CE: the
    server's host learns CE from the IP header, echoes ECE, and the client reduces."""
    left, right = pipe()
    clock = [0.0]
    config = replace(HOST_CONFIG, ecn="request")
    client_host = Host(["10.9.0.1"], config=config, secret=b"c")
    server_host = Host(["10.9.0.2"], config=config, secret=b"s")
    listener = server_host.listen(("", 80))
    stacks = [Stack(client_host, Congested(left), clock=lambda: clock[0]),
              Stack(server_host, right, clock=lambda: clock[0])]
    conn = client_host.connect(("10.9.0.2", 80), 0.0)
    conn.send(b"q" * 20000)
    try:
        for _ in range(2000):
            for stack in stacks:
                stack.pump(clock[0])
            while (accepted := listener.accept()) is not None:
                accepted.next_event()
            while server_host.next_event() is not None:
                pass
            if conn.snd_una == conn.snd_max and conn.state is State.ESTABLISHED:
                break
            clock[0] += 0.001
    finally:
        left.close()
        right.close()
    assert conn.ecn and conn.snd_una == conn.snd_max
    assert conn.stats.ece_reductions >= 1
