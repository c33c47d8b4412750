"""Rules of RFC 9293 (and RFC 5681, 5961, 6298, 7323) that fastseg.conn must keep, one by one.

Each test states one rule as the RFC words it; together with test_conn_states
they kill every mutant in tools/conn_mutants.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import pytest
from connlink import CLIENT, CONFIG, SERVER, drain, established, in_state, pair, received

from fastseg import Flags, OptionKind, Segment
from fastseg.conn import (
    TRANSITIONS,
    Closed,
    Connection,
    ConnectionTimedOut,
    DataReceived,
    SegmentRejected,
    State,
    StateError,
)
from fastseg.errors import FastsegError
from fastseg.seq import seq_add

pytestmark = pytest.mark.usefixtures("arrival_path")  # both arrival paths

S = State

USER_CALLS = {
    "listen": lambda conn, now: conn.listen(),
    "connect": lambda conn, now: conn.connect(now),
    "send": lambda conn, now: conn.send(b"x"),
    "close": lambda conn, now: conn.close(now),
    "abort": lambda conn, now: conn.abort(now),
}


def _observable(conn: Connection) -> tuple:
    return (conn.state, list(conn.history), conn.remote, conn.snd_una, conn.snd_nxt, conn.rcv_nxt,
            conn.send_capacity, conn.next_deadline())


# ---------------------------------------------------------------- user calls (§3.10.1-§3.10.5)


@pytest.mark.parametrize("call", list(USER_CALLS))
@pytest.mark.parametrize("state", list(State), ids=[s.value for s in State])
def test_a_user_call_is_legal_exactly_where_the_table_has_it(impl, state, call):
    """StateError where TRANSITIONS has no edge for the call, and then nothing has changed."""
    if state is S.CLOSED:
        link = pair(impl)
        conn = link.a
    else:
        link, conn = in_state(impl, state)
    before = _observable(conn)
    if (state, call) in TRANSITIONS:
        USER_CALLS[call](conn, link.now)
        assert conn.state is TRANSITIONS[state, call].next
    else:
        with pytest.raises(StateError):
            USER_CALLS[call](conn, link.now)
        assert _observable(conn) == before


def test_state_error_is_a_fastseg_error():
    from fastseg.conn.states import StateError as from_states

    assert issubclass(StateError, FastsegError) and from_states is StateError


def test_connect_without_remote_changes_nothing():
    conn = Connection(SERVER, config=CONFIG)
    with pytest.raises(StateError, match="remote"):
        conn.connect(0.0)
    assert conn.state is S.CLOSED and conn.history == [S.CLOSED] and conn.next_deadline() is None


def test_close_in_syn_sent_sends_nothing():
    """§3.10.4 CLOSE in SYN-SENT: delete the TCB; the SYN still queued never leaves."""
    conn = Connection(CLIENT, SERVER, config=CONFIG)
    conn.connect(0.0)
    conn.close(0.0)
    assert conn.segments_to_send(0.0) == [] and conn.next_deadline() is None


def test_abort_deletes_the_tcb(impl):
    """§3.10.5 ABORT in ESTABLISHED: send a reset, flush everything queued, enter CLOSED."""
    link = established(impl)
    link.a.send(b"never sent")
    link.a.abort(link.now)
    assert link.a.next_deadline() is None
    (rst,) = link.a.segments_to_send(link.now)
    assert rst.flags == Flags.RST and not rst.payload
    assert drain(link.a)[-1:] and link.a.state is S.CLOSED


# ---------------------------------------------------------------- segment arrival (§3.10.7.4)


def from_peer(conn: Connection, *, seq: int, ack: Optional[int] = None, flags: int = Flags.ACK,
              payload: bytes = b"", window: int = 1000) -> Segment:
    """A segment from ``conn``'s peer with a timestamp that passes PAWS (when they are in use)."""
    options: tuple = ()
    if conn.ts_recent is not None:
        options = ((OptionKind.NOP, None), (OptionKind.NOP, None),
                   (OptionKind.TIMESTAMPS, (seq_add(conn.ts_recent, 1), 0)))
    return Segment(src_port=conn.remote[1], dst_port=conn.local[1], seq=seq,
                   ack=conn.snd_nxt if ack is None else ack, flags=flags, window=window,
                   options=options, payload=payload)


def rejections(conn: Connection) -> list[str]:
    return [event.reason for event in drain(conn) if isinstance(event, SegmentRejected)]


OUTSIDE = "sequence number outside the receive window"


@pytest.mark.parametrize(("offset", "length", "acceptable"), [
    (-1, 0, False), (0, 0, True), (999, 0, True), (1000, 0, False),  # RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
    (-1, 1, False), (-1, 2, True), (999, 1, True), (1000, 1, False),  # ... or its last byte is
])
def test_acceptability_at_the_window_edges(impl, offset, length, acceptable):
    """§3.10.7.4 first check, RCV.WND = 1000: the four-case test at both ends of the window;
    an unacceptable segment is dropped and answered with an ACK."""
    link = established(impl, replace(CONFIG, receive_buffer=1000))
    server = link.b
    assert server.rcv_wnd == 1000
    before = server.rcv_nxt
    server.receive(from_peer(server, seq=seq_add(before, offset), payload=b"y" * length), link.now)
    reasons = rejections(server)
    assert (OUTSIDE not in reasons) is acceptable
    if not acceptable:
        assert server.rcv_nxt == before and server.segments_to_send(link.now)[-1].ack == before


def test_segment_without_ack_bit_is_dropped(impl):
    """§3.10.7.4 fifth check: "if the ACK bit is off, drop the segment and return"."""
    link = established(impl)
    server = link.b
    before = server.rcv_nxt
    server.receive(from_peer(server, seq=before, flags=Flags.PSH, payload=b"no ack"), link.now)
    assert rejections(server) == ["no ACK bit"] and server.rcv_nxt == before


def test_fin_ahead_of_a_gap_counts_once_the_gap_fills(impl):
    """§3.10.7.4, eighth check: a FIN past RCV.NXT waits for the text before it; when an
    in-order segment fills the gap exactly, the FIN counts at once (CLOSE-WAIT)."""
    link = established(impl)
    server = link.b
    start = server.rcv_nxt
    server.receive(from_peer(server, seq=seq_add(start, 5), flags=Flags.FIN | Flags.ACK), link.now,
                   remote_ip=CLIENT[0])
    assert server.state is State.ESTABLISHED
    server.receive(from_peer(server, seq=start, payload=b"hello"), link.now, remote_ip=CLIENT[0])
    events = drain(server)
    assert [type(e).__name__ for e in events if not isinstance(e, SegmentRejected)] == [
        "DataReceived", "PeerFinished"]
    assert server.state is State.CLOSE_WAIT and server.rcv_nxt == seq_add(start, 6)


def test_data_arriving_in_a_row_is_one_event(impl):
    """Consecutive in-order arrivals not yet taken by the caller make one DataReceived."""
    link = established(impl)
    server = link.b
    start = server.rcv_nxt
    for offset, piece in ((0, b"one "), (4, b"two "), (8, b"three")):
        server.receive(from_peer(server, seq=seq_add(start, offset), payload=piece), link.now,
                       remote_ip=CLIENT[0])
    assert drain(server) == [DataReceived(b"one two three")]


def test_ack_older_than_max_window_is_challenged(impl):
    """RFC 5961 §5.2: an ACK below SND.UNA - MAX.SND.WND is answered with an ACK and the
    segment, data and all, is dropped."""
    link = established(impl)
    server = link.b
    before = server.rcv_nxt
    ancient = seq_add(server.snd_una, -(server.max_snd_wnd + 1))
    server.receive(from_peer(server, seq=before, ack=ancient, payload=b"old"), link.now)
    assert rejections(server) == ["ACK older than SND.UNA - MAX.SND.WND (challenge ACK)"]
    assert server.rcv_nxt == before
    (ack,) = server.segments_to_send(link.now)
    assert ack.flags == Flags.ACK and ack.ack == before


def test_max_snd_wnd_is_the_largest_window_offered(impl):
    """RFC 5961 §5.2: MAX.SND.WND grows with a wider window than any before (in order data,
    which prediction takes, and a pure ACK) and stays when the window narrows."""
    link = established(impl)
    server = link.b
    offered = server.max_snd_wnd
    server.receive(from_peer(server, seq=server.rcv_nxt, payload=b"narrow", window=1), link.now)
    assert server.max_snd_wnd == offered > server.snd_wnd
    server.receive(from_peer(server, seq=server.rcv_nxt, payload=b"wide", window=0xFFFF), link.now)
    widest = server.snd_wnd
    assert server.max_snd_wnd == widest > offered
    server.receive(from_peer(server, seq=server.rcv_nxt, window=2), link.now)
    assert server.max_snd_wnd == widest > server.snd_wnd
    assert received(drain(server)) == b"narrowwide"


# ---------------------------------------------------------------- retransmission


def test_retransmissions_exhausted_in_established(impl):
    """§3.8.3 R2: after ``retries`` timeouts the connection is closed and the user told."""
    link = established(impl)
    link.a.send(b"lost")
    link.drop = lambda sender, segment: True
    link.run_until(lambda: link.a.state is S.CLOSED)
    assert drain(link.a)[-2:] == [ConnectionTimedOut(), Closed()]
    sent = [segment for src, segment in link.log if src == CLIENT[0] and segment.payload]
    assert len(sent) == 1 + CONFIG.retries


def test_no_rtt_sample_from_a_retransmitted_syn(impl):
    """RFC 6298 §3 (Karn): the ACK of a retransmitted SYN is ambiguous and times nothing,
    so a slow answer (2.9 s here) does not stretch the RTO."""
    link = pair(impl)
    client, server = link.a, link.b
    client.connect(0.0)
    client.segments_to_send(0.0)  # lost
    client.handle_timeout(1.0)
    link.now = 1.0
    link.deliver(client, client.segments_to_send(1.0)[0])
    syn_ack = server.segments_to_send(1.0)[0]
    link.now = 3.9
    link.deliver(server, syn_ack)
    assert client.state is S.ESTABLISHED
    client.send(b"x")
    client.segments_to_send(3.9)
    # not the 2.9 s answer stretched by RTTVAR: the 3 s of RFC 6298 §5.7 after a lost SYN
    assert client.next_deadline() - 3.9 == pytest.approx(3.0)


def test_three_duplicate_acks_retransmit_at_once(impl):
    """RFC 5681 §3.2: the third duplicate ACK resends the missing segment without waiting
    for the retransmission timer.  (The first ACK here also opens the window from the
    SYN's unscaled one, so it is not a duplicate: §2.)"""
    link = established(impl)
    client, server = link.a, link.b
    client.send(bytes(8000))
    lost, *rest = [segment for segment in client.segments_to_send(link.now) if segment.payload]
    for segment in rest[:4]:
        link.deliver(client, segment)
        for ack in server.segments_to_send(link.now):
            link.deliver(server, ack)
    again = client.segments_to_send(link.now)
    assert again[0].seq == lost.seq and again[0].payload == lost.payload


def test_initial_window_limits_the_first_flight(impl):
    """RFC 5681 §3.1 with RFC 6928: at most IW = min(10*MSS, max(2*MSS, 14600)) bytes go
    out before the first ACK, however much the peer's window allows."""
    link = established(impl)
    client = link.a
    client.send(bytes(100_000))
    sent = sum(len(segment.payload) for segment in client.segments_to_send(link.now))
    assert client.snd_wnd > 2 * 14600 and 0 < sent <= 14600


def test_timeout_shrinks_the_window_to_one_segment(impl):
    """RFC 5681 §3.1: after a retransmission timeout cwnd is one segment (the loss window):
    the first retransmission is a single segment from SND.UNA."""
    link = established(impl)
    client = link.a
    client.send(bytes(30_000))
    first = [segment for segment in client.segments_to_send(link.now) if segment.payload]  # all lost
    assert len(first) > 1
    due = client.next_deadline()
    client.handle_timeout(due)
    again = [segment for segment in client.segments_to_send(due) if segment.payload]
    assert [segment.seq for segment in again] == [first[0].seq]


# ---------------------------------------------------------------- what header prediction must check too


@pytest.mark.parametrize("src_port, dst_port", [(SERVER[1] + 1, CLIENT[1]), (SERVER[1], CLIENT[1] + 1)])
def test_data_for_another_port_pair_is_not_taken(impl, src_port, dst_port):
    """RFC 9293 §3.10.7: a segment is processed by the connection its ports name.  One at
    RCV.NXT with the right ACK but another source or destination port is not this
    connection's, however predictable it looks."""
    link = established(impl)
    client, server = link.a, link.b
    server.send(b"x" * 100)
    (segment,) = server.segments_to_send(link.now)
    before = client.rcv_nxt
    link.deliver(server, segment.replace(src_port=src_port, dst_port=dst_port))
    assert client.rcv_nxt == before
    assert rejections(client) == ["not addressed to this connection"]


def test_a_segment_taken_sets_the_clock(impl):
    """The time a segment arrives is the connection's clock: an earlier one afterwards is
    refused (ValueError), as after any other call."""
    link = established(impl)
    client, server = link.a, link.b
    server.send(b"x" * 100)
    link.now = 5.0
    link.deliver(server, server.segments_to_send(link.now)[0])
    assert received(drain(client)) == b"x" * 100
    with pytest.raises(ValueError, match="time went backwards"):
        client.handle_timeout(4.0)


def test_a_flight_times_its_first_segment(impl):
    """RFC 6298 §3: of segments sent together, the first is timed, so that the ACK of the
    first two gives a round-trip sample."""
    link = established(impl)
    client, server = link.a, link.b
    client.send(bytes(3 * client._smss))
    flight = client.segments_to_send(link.now)
    assert len(flight) == 3
    srtt = client._rto.srtt
    link.now += 0.1
    for segment in flight[:2]:
        link.deliver(client, segment)
    (ack,) = server.segments_to_send(link.now)  # every second segment is ACKed at once
    link.deliver(server, ack)
    assert client._rto.srtt != srtt


def test_resent_data_in_a_flight_is_not_timed(impl):
    """RFC 6298 §3 (Karn): after a timeout a flight may resend data and send new data; only
    the new is timed, so the ACK of the resent part gives no round-trip sample."""
    link = established(impl)
    client, server = link.a, link.b
    mss = client._smss
    client.send(bytes(2 * mss))
    assert len(client.segments_to_send(link.now)) == 2  # both lost
    link.now = client.next_deadline()
    client.handle_timeout(link.now)
    client.send(bytes(mss))
    (first,) = client.segments_to_send(link.now)  # cwnd is one segment after the timeout
    link.deliver(client, first)
    link.now += CONFIG.delayed_ack
    server.handle_timeout(link.now)
    for ack in server.segments_to_send(link.now):
        link.deliver(server, ack)  # cwnd grows to two segments
    srtt = client._rto.srtt
    resent, new = client.segments_to_send(link.now)
    assert resent.seq == seq_add(first.seq, mss) and new.seq == seq_add(resent.seq, mss)
    link.now += 0.1
    link.deliver(client, resent)
    link.now += CONFIG.delayed_ack
    server.handle_timeout(link.now)
    for ack in server.segments_to_send(link.now):
        link.deliver(server, ack)
    assert client.snd_una == new.seq and client._rto.srtt == srtt


def test_data_flows_once_more_than_2_31_octets_were_acknowledged(impl, arrival_path):
    """Sequence numbers compare modulo 2**32 within 2**31 (RFC 9293 §3.4): the send
    buffer starts at SND.UNA once the SYN is acknowledged, however far SND.UNA has gone
    from the ISS, not at ISS+1 again when SND.UNA is "before" it by that rule.  The
    2**31 octets are stood in for by moving both ends' sequence variables."""
    link = established(impl)
    far = seq_add(link.a.snd_una, 2**31 + 10)
    link.a._snd_una = link.a._snd_nxt = link.a._snd_max = link.a._snd_wl2 = far
    link.b._rcv_nxt = link.b._snd_wl2 = far
    link.a.send(b"past the half-way mark")
    link.run_until(lambda: link.a.snd_una != far)  # the delayed ACK's timer included
    assert received(drain(link.b)) == b"past the half-way mark"
    assert link.a.snd_una == seq_add(far, 22) and link.a.send_capacity == CONFIG.send_buffer


def test_a_segment_that_fills_a_gap_is_acknowledged_at_once(impl, arrival_path):
    """RFC 5681 §4.2 / RFC 9293 §3.8.6.3: "an immediate ACK SHOULD be generated when a
    segment arrives that fills in all or part of a gap in the sequence space"; without the
    gap, one segment alone waits for the delayed-ACK timer."""
    link = established(impl)
    client, server = link.a, link.b
    client.send(bytes(3 * client._smss))
    first, second, third = client.segments_to_send(link.now)
    link.deliver(client, first)
    assert server.segments_to_send(link.now) == []  # in order, alone: the ACK is delayed
    link.deliver(client, third)
    (dup,) = server.segments_to_send(link.now)  # out of order: at once, a duplicate ACK
    assert dup.ack == seq_add(first.seq, len(first.payload))
    link.deliver(client, second)
    (ack,) = server.segments_to_send(link.now)  # the gap filled: at once, covering all three
    assert ack.ack == seq_add(third.seq, len(third.payload))
