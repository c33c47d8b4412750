"""SACK-based loss recovery (RFC 6675) and SACK reporting (RFC 2018, RFC 2883), checked
against the RFC text on the simulator (:mod:`netsim`) and on a link (:mod:`connlink`).

With both sides permitting SACK, the sender keeps a scoreboard of what the peer
SACKed, starts a recovery on DupThresh duplicate ACKs (an ACK that SACKs new
data counts as one, RFC 6675 §2), resends only what the scoreboard shows lost,
never more than cwnd - pipe, and leaves recovery when the cumulative ACK
passes RecoveryPoint.  Segments are counted by sequence range, losses chosen
by offset.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import pytest
from connlink import established
from netsim import DELIVERED, Sent
from test_conn_behaviour import CLIENT_ISS, NO_SACK, ONE_WAY, SMSS, Transfer

from fastseg import Segment
from fastseg.conn.buffers import Reassembly
from fastseg.conn.scoreboard import Scoreboard
from fastseg.conn.timers import Timer
from fastseg.seq import seq_add, seq_diff


def offset(segment: Segment) -> int:
    return seq_diff(segment.seq, CLIENT_ISS + 1)


def recovery(t: Transfer) -> List[Sent]:
    """The client's data segments from its first retransmission to the last one sent before
    the cumulative ACK passed what it had sent when that retransmission went."""
    sends = t.data_sent()
    seen: set = set()
    first = None
    for index, sent in enumerate(sends):
        if offset(sent.segment) in seen:
            first = index
            break
        seen.add(offset(sent.segment))
    assert first is not None, "nothing was retransmitted"
    point = max(offset(s.segment) + len(s.segment.payload) for s in sends[:first])
    acks = [s for s in t.net.sent_by(t.server) if s.fate == DELIVERED
            and seq_diff(s.segment.ack, CLIENT_ISS + 1) >= point]
    end = acks[0].time + ONE_WAY  # when the ACK ending the recovery reached the client
    return [s for s in sends[first:] if s.time < end]


@pytest.mark.parametrize("lost", [[30, 34], [30, 34, 38], [30, 31, 40]])
def test_losses_in_one_window_are_repaired_in_one_sack_recovery(impl, arrival_path, lost):
    """RFC 6675 §5: segments lost in one window are each resent once, in one recovery,
    with no timeout and no SACKed segment sent again."""
    offsets = [n * SMSS for n in lost]
    t = Transfer(impl, 120 * SMSS, lose=offsets).run()
    assert t.retransmitted() == {o: 2 for o in offsets}
    assert not t.net.fired(t.client, Timer.RETRANSMIT)
    stats = t.client.stats
    assert (stats.sack_recoveries, stats.fast_retransmits, stats.rto_expiries) == (1, 0, 0)


def in_network(t: Transfer, at: float) -> int:
    """Octets of the client's data that, at ``at``, had been sent and delivered but not yet
    reported back (by an ACK or SACK of the server that reached the client): what is
    really in the network, as RFC 6675's pipe estimates it."""
    server_sends = t.net.sent_by(t.server)
    delivered = [s for s in t.net.sent_by(t.client) if s.fate == DELIVERED]
    octets = 0
    for index, sent in enumerate(delivered):  # no reordering: the server gets them in order
        if sent.time > at or not sent.segment.payload:
            continue
        reported = next((s.time + ONE_WAY for s in server_sends if s.received > index), None)
        if reported is None or reported > at:
            octets += len(sent.segment.payload)
    return octets


def test_pipe_never_lets_more_than_cwnd_into_the_network(impl, arrival_path):
    """RFC 6675 §5 step C: during recovery a segment goes only while cwnd - pipe >= 1 SMSS,
    so, once what was in flight when it began has drained, what is really in the network
    never exceeds cwnd; and new data does go out during the recovery."""
    t = Transfer(impl, 200 * SMSS, lose=[n * SMSS for n in (30, 34, 38, 42)]).run()
    during = recovery(t)
    assert len(during) > 8 and any(offset(s.segment) > 42 * SMSS for s in during)
    drained = [s for s in during[1:] if in_network(t, s.time - 1e-9) <= s.cwnd]
    assert drained, "the flight never drained below cwnd"
    for sent in during[during.index(drained[0]):]:
        assert in_network(t, sent.time) <= sent.cwnd, (sent.time, offset(sent.segment))


def test_cwnd_and_ssthresh_on_entering_and_leaving_sack_recovery(impl, arrival_path):
    """RFC 6675 §5 steps 4.2 and A, RFC 5681 §3.2: on entering, cwnd = ssthresh =
    max(FlightSize / 2, 2 * SMSS), FlightSize being what was outstanding; no growth while
    the recovery lasts (through its partial ACKs: the later losses are found one round
    trip after the first); after it, congestion avoidance from ssthresh."""
    lost = [n * SMSS for n in (30, 44, 52)]
    t = Transfer(impl, 200 * SMSS, lose=lost).run()
    during = recovery(t)
    first = during[0]
    assert offset(first.segment) == lost[0]
    sends = t.data_sent()
    before = sends[:sends.index(first)]  # FlightSize: SND.MAX - SND.UNA when the recovery began
    flight = max(offset(s.segment) + len(s.segment.payload) for s in before) - lost[0]
    ssthresh = max(flight // 2, 2 * SMSS)
    assert (first.cwnd, first.ssthresh) == (ssthresh, ssthresh)
    assert {(s.cwnd, s.ssthresh) for s in during} == {(ssthresh, ssthresh)}
    after = [s for s in t.data_sent() if s.time > during[-1].time]
    assert after and after[0].cwnd >= ssthresh and after[0].ssthresh == ssthresh
    assert after[-1].cwnd > ssthresh  # growing again
    assert all(s.cwnd - p.cwnd <= SMSS for p, s in zip(after, after[1:]))


def test_without_sack_recovery_is_newreno(impl, arrival_path):
    """One side not permitting SACK: no blocks, and recovery is NewReno's (RFC 6582), the
    window inflated by three segments on entry (RFC 5681 §3.2)."""
    lost = [n * SMSS for n in (30, 34)]
    t = Transfer(impl, 120 * SMSS, lose=lost, server_config=NO_SACK).run()
    assert t.retransmitted() == {o: 2 for o in lost}
    stats = t.client.stats
    assert (stats.sack_recoveries, stats.fast_retransmits) == (0, 1)
    first = recovery(t)[0]
    assert first.cwnd == first.ssthresh + 3 * SMSS


def lose_twice(t: Transfer, offsets: List[int]) -> Dict[int, int]:
    """Make the client's path lose the first two transmissions of data at ``offsets``."""
    left = {o: 2 for o in offsets}

    def drop(index: int, segment: Segment) -> bool:
        at = offset(segment)
        if segment.payload and left.get(at, 0):
            left[at] -= 1
            return True
        return False

    t.net.paths[id(t.client)].drop = drop
    return left


def test_after_a_timeout_only_the_holes_go_again(impl, arrival_path):
    """RFC 6675 §5.1: a retransmission lost again is repaired by the timeout, which keeps
    the scoreboard: the first hole goes first, and no SACKed segment is sent again."""
    lost = [30 * SMSS, 34 * SMSS]
    t = Transfer(impl, 120 * SMSS)
    left = lose_twice(t, lost)
    t.run()
    assert not any(left.values())
    fired = t.net.fired(t.client, Timer.RETRANSMIT)
    assert len(fired) == 1 and t.client.stats.rto_expiries == 1
    assert t.retransmitted() == {o: 3 for o in lost}
    third = [s for s in t.data_sent() if offset(s.segment) == lost[0]][2]
    assert third.time == fired[0] and third.cwnd == SMSS


@pytest.mark.parametrize("size, timeout", [(120, False), (37, True)])
def test_a_receiver_that_reneges_is_still_repaired(impl, arrival_path, size, timeout):
    """RFC 2018 §8: the receiver may discard data it SACKed (here six segments above a
    hole).  The sender frees data only on the cumulative ACK, so it still has it; an ACK
    stopping where SACKed data starts shows the reneging, and the discarded segments go
    again, once each: found lost by the SACK blocks of later data, or, when no more
    data follows, by the retransmission timer."""
    t = Transfer(impl, size * SMSS, lose=[30 * SMSS])
    reneged: List[int] = []

    def app(now: float) -> None:
        held = t.server._reassembly
        if not reneged and len(held) >= 6 * SMSS:
            reneged.append(len(held))
            t.server._reassembly = Reassembly()  # what the peer SACKed is gone
        t.app(now)

    t.net.run(lambda: len(t.got) == t.size and t.client.snd_una == t.client.snd_max,
              app=app, horizon=120.0)
    assert bytes(t.got) == t.data and reneged and reneged[0] % SMSS == 0
    again = t.retransmitted()
    assert set(again) == {n * SMSS for n in range(30, 31 + reneged[0] // SMSS)}
    assert sum(again.values()) - 2 * len(again) <= 1  # besides, one rescue (rule 4) at most
    assert bool(t.net.fired(t.client, Timer.RETRANSMIT)) is timeout


# ---------------------------------------------------------------- the reporting side


def segments(link, data: bytes) -> List[Segment]:
    link.a.send(data)
    return [s for s in link.a.segments_to_send(link.now) if s.payload]


def test_dsack_for_a_duplicate_held_above_a_gap(impl):
    """RFC 2883 §4 (the duplicate above RCV.NXT): the first block names the duplicate, the
    second the block holding it; the sender counts a D-SACK and puts only the real
    block on its scoreboard."""
    link = established(impl)
    client, server = link.a, link.b
    sent = segments(link, bytes(6000))
    assert len(sent) >= 4
    for segment in sent[1:4]:
        link.deliver(client, segment)
    server.segments_to_send(link.now)  # ACKs of what is held, not delivered
    link.deliver(client, sent[2])  # again
    ack = server.segments_to_send(link.now)[-1]
    dup = (sent[2].seq, seq_add(sent[2].seq, len(sent[2].payload)))
    held = (sent[1].seq, seq_add(sent[3].seq, len(sent[3].payload)))
    assert ack.sack_blocks == (dup, held)
    link.deliver(server, ack)
    assert client.stats.dsacks == 1
    assert client._board.ranges == [[seq_diff(held[0], client.snd_una),
                                     seq_diff(held[1], client.snd_una)]]


def test_sack_blocks_ride_on_data_too(impl):
    """RFC 2018 §3: while data is held above a gap every ACK carries SACK blocks, those on
    data segments included, whose payload shrinks so that options and data still fit the
    MSS (RFC 6691); the peer records blocks from data segments as from pure ACKs."""
    link = established(impl)
    client, server = link.a, link.b
    sent = segments(link, bytes(3 * 1000))
    link.deliver(client, sent[-1])  # the first ones lost: a gap
    server.segments_to_send(link.now)
    server.send(bytes(20_000))
    out = [s for s in server.segments_to_send(link.now) if s.payload]
    assert out and all(s.sack_blocks == ((sent[-1].seq, seq_add(sent[-1].seq,
                                                                  len(sent[-1].payload))),)
                       for s in out)
    full = max(len(s.payload) for s in out)
    assert full == server._smss - 12  # the SACK option and its two NOPs
    link.deliver(server, out[0])  # and the sender takes them from a data segment too
    start = seq_diff(sent[-1].seq, client.snd_una)
    assert client._board.ranges == [[start, start + len(sent[-1].payload)]]


def lost_rescue(t: Transfer) -> Optional[int]:
    """The offset the client sent again that was never lost (a rescue), if any."""
    lost = {offset(s.segment) for s in t.data_sent() if s.fate != DELIVERED}
    again = set(t.retransmitted())
    extra = again - lost
    return min(extra) if extra else None


def test_rescue_retransmission_at_the_end_of_the_data(impl, arrival_path):
    """RFC 6675 §4 NextSeg rule 4: with no new data to send, once per recovery, the
    segment with the highest unSACKed octet outstanding when it began goes again (lost
    or not); SACKed data never does."""
    lost = [n * SMSS for n in (30, 34, 38)]
    t = Transfer(impl, 60 * SMSS, lose=lost).run()
    rescued = lost_rescue(t)
    assert rescued is not None and set(t.retransmitted()) == {*lost, rescued}
    assert t.client.stats.sack_recoveries == 1
    assert not t.net.fired(t.client, Timer.RETRANSMIT)


# ---------------------------------------------------------------- the scoreboard's routines

MSS = 100  # SMSS of the scoreboard tests below


def board(*ranges: tuple) -> Scoreboard:
    b = Scoreboard()
    b.update(list(ranges), 10_000)
    return b


def test_update_keeps_valid_blocks_merged():
    """RFC 6675 Update(), RFC 2018 §3: blocks outside (SND.UNA, SND.MAX] or empty are
    ignored; touching and overlapping ones merge; the octets newly SACKed are counted."""
    b = Scoreboard()
    assert b.update([(100, 200), (0, 50), (300, 300), (900, 1100), (-5, 10)], 1000) == 100
    assert b.update([(200, 300), (150, 250), (400, 500)], 1000) == 200
    assert b.ranges == [[100, 300], [400, 500]]
    assert b.update([(250, 450)], 1000) == 100 and b.ranges == [[100, 500]]


def test_is_lost_at_dupthresh():
    """RFC 6675 §4 IsLost(): DupThresh (3) discontiguous SACKed ranges above, or more than
    (DupThresh - 1) * SMSS SACKed octets above."""
    flight = 10_000
    assert not board((100, 110), (200, 210)).is_lost(0, flight, flight, MSS)
    assert board((100, 110), (200, 210), (300, 310)).is_lost(0, flight, flight, MSS)
    assert not board((100, 300)).is_lost(0, flight, flight, MSS)  # exactly 2 SMSS
    assert board((100, 301)).is_lost(0, flight, flight, MSS)
    b = board((100, 110), (200, 210), (300, 310))
    assert b.is_lost(150, flight, flight, MSS) is False  # only two ranges above it
    assert b.is_lost(100, flight, flight, MSS) is False  # SACKed itself


def test_pipe_counts_what_is_in_flight():
    """RFC 6675 §4 SetPipe(): unSACKed octets not lost, plus octets retransmitted (below
    HighRxt); SACKed octets never."""
    b = board((100, 200), (300, 400), (500, 600))
    flight = 800
    # hole [0, 100) lost (three ranges above); [200, 300) not (two ranges, 200 octets);
    # [400, 500), [600, 800) not lost
    assert b.pipe(flight, flight, MSS) == 100 + 100 + 200
    b.high_rxt = 50
    assert b.pipe(flight, flight, MSS) == 400 + 50
    b.high_rxt = 250  # the retransmission of [200, 250) is counted a second time
    assert b.pipe(flight, flight, MSS) == 400 + 100 + 50


def test_next_seg_rules():
    """RFC 6675 §4 NextSeg(): rule 1, lost octets past HighRxt below the highest SACKed
    octet, at most SMSS; rule 3, unSACKed ones (a whole SMSS) not yet lost; rule 4, once,
    the segment ending at the highest unSACKed octet below RecoveryPoint."""
    b = board((150, 200), (300, 400), (500, 600))
    flight = 900
    assert b.next_lost(flight, flight, MSS) == (0, 100)
    b.high_rxt = 100
    assert b.next_lost(flight, flight, MSS) == (100, 50)
    b.high_rxt = 150
    assert b.next_lost(flight, flight, MSS) is None  # [200, 300): two ranges above
    assert b.next_unsacked(flight, flight, MSS) == (200, 100)
    b.high_rxt = 450
    assert b.next_unsacked(flight, flight, MSS) is None  # [450, 500) is not a whole SMSS
    assert b.rescue(700, MSS) == (600, 100)
    assert b.rescue(700, MSS) is None  # once per recovery


def test_advance_shifts_and_detects_reneging():
    """The cumulative ACK shifts the scoreboard; one stopping at a SACKed range's start
    means the peer reneged (RFC 2018 §8): the ranges are forgotten."""
    b = board((100, 200), (300, 400))
    b.high_rxt = 150
    b.advance(50)
    assert b.ranges == [[50, 150], [250, 350]] and b.high_rxt == 100
    b.advance(150)
    assert b.ranges == [[100, 200]] and b.high_rxt == 0
    b.advance(100)
    assert b.ranges == []
