"""What the connection does on a network with delay and loss, checked against the RFCs.

These tests look at the wire and the sender's variables over time (through
:mod:`tests.netsim`), not only at the bytes delivered: slow start and
congestion avoidance (RFC 5681 §3.1), fast retransmit and recovery (§3.2),
NewReno's partial acknowledgments (RFC 6582 §3.2), the retransmission timer
and what a timeout does to the window (RFC 6298 §5, RFC 5681 §3.1), round-trip
samples (RFC 6298 §2, §3) and TS.Recent (RFC 7323 §4.3).
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional, Tuple

import pytest
from connlink import CLIENT, CLIENT_ISS, SERVER, SERVER_ISS, established
from connlink import CONFIG as LINK_CONFIG
from netsim import DELIVERED, Network, Path, Sent

from fastseg import Flags, OptionKind, Segment
from fastseg.conn import Config, Connection, DataReceived, SegmentRejected, State, Urgent
from fastseg.conn.rtt import RtoEstimator
from fastseg.conn.timers import Timer
from fastseg.seq import seq_diff

ONE_WAY = 0.05  # seconds of propagation each way: a 100 ms round trip
CONFIG = Config(receive_buffer=8 << 20, send_buffer=8 << 20, delayed_ack=0.001)
SMSS = CONFIG.mss - 12  # timestamps are on: 12 option bytes per segment
NO_SACK = replace(CONFIG, sack=False)  # loss recovery is NewReno's (RFC 6582)


class Pair:
    """A client connecting to a server over a 100 ms path; the server reads all it gets."""

    def __init__(self, impl: SimpleNamespace, config: Config,
                 drop: Optional[Callable[[int, Segment], bool]] = None,
                 server_config: Optional[Config] = None) -> None:
        self.client = Connection(CLIENT, SERVER, config=config, iss=CLIENT_ISS)
        self.server = Connection(SERVER, config=server_config or config, iss=SERVER_ISS)
        self.server.listen()
        self.net = Network(impl, self.client, self.server, forward=Path(delay=ONE_WAY, drop=drop),
                           backward=Path(delay=ONE_WAY))
        self.got = bytearray()
        self.client.connect(0.0)

    def read(self) -> None:
        """What the applications do with events: the server keeps the data."""
        while (event := self.server.next_event()) is not None:
            if isinstance(event, DataReceived):
                self.got += event.data
        while self.client.next_event() is not None:
            pass


class Transfer(Pair):
    """The client sends ``size`` bytes to the server."""

    def __init__(self, impl: SimpleNamespace, size: int, *, lose: Optional[List[int]] = None,
                 config: Config = CONFIG, server_config: Optional[Config] = None) -> None:
        self.size = size
        self.data = bytes(i % 251 for i in range(size))
        lost = set(lose or [])

        def drop(index: int, segment) -> bool:
            # lose the first transmission of the data segments at the given offsets
            if not segment.payload:
                return False
            offset = seq_diff(segment.seq, CLIENT_ISS + 1)
            if offset in lost:
                lost.discard(offset)
                return True
            return False

        super().__init__(impl, config, drop, server_config)
        self.written = 0

    def app(self, now: float) -> None:
        if self.client.state is State.ESTABLISHED and self.written < self.size:
            self.written += self.client.send(self.data[self.written:])
        self.read()

    def run(self) -> Transfer:
        self.net.run(lambda: len(self.got) == self.size and self.client.snd_una == self.client.snd_max,
                     app=self.app, horizon=120.0)
        assert bytes(self.got) == self.data
        return self

    def data_sent(self) -> List:
        return [s for s in self.net.sent_by(self.client) if s.segment.payload]

    def offsets(self) -> List[int]:
        return [seq_diff(s.segment.seq, CLIENT_ISS + 1) for s in self.data_sent()]

    def rounds(self) -> List[int]:
        """Data segments sent per round trip (sends closer than half a round trip are one round)."""
        sizes: List[int] = []
        last = None
        for sent in self.data_sent():
            if last is None or sent.time - last > ONE_WAY:
                sizes.append(0)
            sizes[-1] += 1
            last = sent.time
        return sizes

    def retransmitted(self) -> Dict[int, int]:
        """Offset -> how many times it was sent, for offsets sent more than once."""
        counts: Dict[int, int] = {}
        for offset in self.offsets():
            counts[offset] = counts.get(offset, 0) + 1
        return {offset: n for offset, n in counts.items() if n > 1}


def test_slow_start_grows_by_one_segment_per_ack(impl, arrival_path):
    """RFC 5681 §3.1: cwnd += min(N, SMSS) per ACK.  The receiver acknowledges every second
    segment (and the last odd one after its delayed-ACK timer), so a round of C segments
    brings ceil(C / 2) ACKs and the next round sends C + ceil(C / 2): from the RFC 6928
    initial window of 10 segments, 10, 15, 23, 35, 53, 80."""
    t = Transfer(impl, 216 * SMSS).run()
    rounds = t.rounds()
    assert rounds[0] == 10
    assert t.data_sent()[0].cwnd == 10 * SMSS  # the ACK of the SYN carried no data: no growth
    expected = [10]
    while len(expected) < 6:
        expected.append(expected[-1] + (expected[-1] + 1) // 2)
    assert rounds[:6] == expected
    assert not t.retransmitted() and not t.net.fired(t.client, Timer.RETRANSMIT)


def test_one_loss_is_repaired_by_fast_retransmit(impl, arrival_path):
    """RFC 5681 §3.2: the third duplicate ACK resends the lost segment at once, with
    ssthresh = max(FlightSize / 2, 2 * SMSS) and cwnd = ssthresh + 3 * SMSS; the full ACK
    deflates cwnd to ssthresh.  No timeout fires.  (Without SACK: with it, RFC 6675.)"""
    lost = 30 * SMSS
    t = Transfer(impl, 120 * SMSS, lose=[lost], config=NO_SACK).run()
    assert t.retransmitted() == {lost: 2}
    assert not t.net.fired(t.client, Timer.RETRANSMIT)
    sends, offsets = t.data_sent(), t.offsets()
    resend = [i for i, offset in enumerate(offsets) if offset == lost][1]
    again, first = sends[resend], sends[offsets.index(lost)]
    # FlightSize when the third duplicate ACK came: SND.MAX - SND.UNA, SND.UNA stuck at the loss
    flight = max(o + len(s.segment.payload) for o, s in zip(offsets[:resend], sends)) - lost
    ssthresh = max(flight // 2, 2 * SMSS)
    assert again.ssthresh == ssthresh
    assert again.cwnd == ssthresh + 3 * SMSS
    # inflated by one segment per further duplicate ACK, deflated to ssthresh by the full ACK
    later = [s.cwnd for s in sends[resend + 1:]]
    assert max(later) > again.cwnd and min(later) == ssthresh
    assert again.time - first.time < 2 * (2 * ONE_WAY)  # within the next round trip or so


def test_congestion_avoidance_adds_at_most_a_segment_per_round(impl, arrival_path):
    """RFC 5681 §3.1: past ssthresh, cwnd grows by at most SMSS per round trip."""
    t = Transfer(impl, 400 * SMSS, lose=[30 * SMSS]).run()
    rounds = t.rounds()
    recovery = next(i for i, n in enumerate(rounds) if i and n < rounds[i - 1])
    after = rounds[recovery + 1: -1]  # full rounds after recovery (the last may be short)
    assert len(after) >= 4
    assert all(0 <= b - a <= 1 for a, b in zip(after, after[1:])), rounds
    assert after[-1] > after[0]


def test_two_losses_in_one_window_repaired_by_newreno_partial_acks(impl, arrival_path):
    """RFC 6582 §3.2: the partial ACK after the first resend shows the next hole; it is
    resent at once, in the same recovery, without waiting for a timeout (without SACK)."""
    lost = [30 * SMSS, 34 * SMSS]
    t = Transfer(impl, 120 * SMSS, lose=lost, config=NO_SACK).run()
    assert t.retransmitted() == {lost[0]: 2, lost[1]: 2}
    assert not t.net.fired(t.client, Timer.RETRANSMIT)


def test_a_lost_tail_is_repaired_by_the_retransmission_timer(impl, arrival_path):
    """No duplicate ACKs follow the last segment: the RTO fires (RFC 6298 §5.4), ssthresh
    becomes max(FlightSize / 2, 2 * SMSS) and cwnd one segment (RFC 5681 §3.1)."""
    size = 40 * SMSS
    last = 39 * SMSS
    t = Transfer(impl, size, lose=[last]).run()
    fired = t.net.fired(t.client, Timer.RETRANSMIT)
    assert len(fired) == 1
    again = [s for s in t.data_sent() if seq_diff(s.segment.seq, CLIENT_ISS + 1) == last][1]
    assert again.time == fired[0]
    assert again.cwnd == SMSS and again.ssthresh == 2 * SMSS  # one segment was in flight
    # restarted by the last ACK of new data (RFC 6298 §5.3), it ran for RTO = SRTT + 4 RTTVAR
    last_ack = [s for s in t.net.sent_by(t.server) if s.time < again.time][-1]
    assert again.time == pytest.approx(last_ack.time + ONE_WAY + t.client._rto.base)


def test_round_trips_are_sampled(impl, arrival_path):
    """RFC 6298 §2-3: samples of the 100 ms round trip make SRTT about 100 ms and RTTVAR
    small; the RTO follows (bounded below by rto_min)."""
    t = Transfer(impl, 100 * SMSS).run()
    rto = t.client._rto
    assert rto.srtt is not None
    assert 2 * ONE_WAY <= rto.srtt <= 2 * ONE_WAY + 2 * CONFIG.delayed_ack
    assert rto.rttvar < 0.02
    assert rto.rto == pytest.approx(max(rto.srtt + 4 * rto.rttvar, CONFIG.rto_min))


@pytest.mark.parametrize("samples, srtt, rttvar, rto", [
    # RFC 6298 §2.2: SRTT = R, RTTVAR = R / 2, RTO = SRTT + max(G, 4 RTTVAR)
    ([1.0], 1.0, 0.5, 3.0),
    # §2.3: RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|, then SRTT = 7/8 SRTT + 1/8 R'
    ([1.0, 2.0], 1.125, 0.625, 3.625),
    ([1.0, 1.0, 1.0], 1.0, 0.28125, 2.125),
    # §2.4: never below the minimum (here 0.2 s, as Linux; RFC 6298 says 1 s may be used)
    ([0.01], 0.01, 0.005, 0.2),
])
def test_rto_follows_rfc_6298(samples, srtt, rttvar, rto):
    estimator = RtoEstimator(initial=1.0, minimum=0.2, maximum=60.0)
    assert estimator.rto == 1.0  # §2.1: 1 s before any sample
    for sample in samples:
        estimator.sample(sample)
    assert estimator.srtt == pytest.approx(srtt)
    assert estimator.rttvar == pytest.approx(rttvar)
    assert estimator.rto == pytest.approx(rto)
    estimator.back_off()
    estimator.back_off()
    assert estimator.rto == pytest.approx(min(4 * rto, 60.0))  # §5.5


def test_ts_recent_follows_the_peer(impl, arrival_path):
    """RFC 7323 §4.3: TS.Recent takes the TSval of each segment that covers the last ACK
    sent, so after a transfer it holds the client's latest TSval."""
    t = Transfer(impl, 50 * SMSS).run()
    last = t.net.sent_by(t.client)[-1].segment
    assert last.timestamps is not None
    assert t.server.ts_recent == last.timestamps[0]
    assert all(s.fate == DELIVERED for s in t.net.trace)


class Writes(Pair):
    """The client writes ``count`` small pieces, one every ``gap`` seconds."""

    def __init__(self, impl: SimpleNamespace, config: Config, count: int = 40, gap: float = 0.005,
                 piece: bytes = b"keystroke") -> None:
        super().__init__(impl, config)
        self.count, self.gap, self.piece = count, gap, piece
        self.written: int = 0
        self.start: Optional[float] = None

    def app(self, now: float) -> None:
        if self.client.state is State.ESTABLISHED:
            if self.start is None:
                self.start = now
            due = min(self.count, int((now - self.start) / self.gap + 1e-6) + 1)
            while self.written < due:
                assert self.client.send(self.piece) == len(self.piece)
                self.written += 1
        self.read()

    def run(self) -> List:
        total = self.count * len(self.piece)
        self.net.run(lambda: self.start is not None, app=self.app)
        for i in range(1, self.count):  # the application's clock: a write every ``gap``
            tick = self.start + i * self.gap
            self.net.run(lambda tick=tick: self.net.now >= tick, app=self.app, wake=tick)
        self.net.run(lambda: len(self.got) == total, app=self.app, horizon=60.0)
        assert bytes(self.got) == self.piece * self.count
        return [s for s in self.net.sent_by(self.client) if s.segment.payload]


def test_nagle_coalesces_small_writes(impl, arrival_path):
    """RFC 9293 §3.7.4 (RFC 896): while data is unacknowledged, small writes wait and go
    out together when the ACK comes: about one segment per round trip, not one per write."""
    sent = Writes(impl, CONFIG).run()
    assert len(sent[0].segment.payload) == len(b"keystroke")  # nothing in flight: at once
    assert len(sent) <= 2 + (40 * 0.005) / (2 * ONE_WAY) * 2
    assert all(len(s.segment.payload) % len(b"keystroke") == 0 for s in sent)
    for earlier, later in zip(sent, sent[1:]):  # one small segment per round trip at most
        assert later.time - earlier.time >= 2 * ONE_WAY - 1e-9


def test_nodelay_sends_each_write_at_once(impl, arrival_path):
    sent = Writes(impl, replace(CONFIG, nagle=False)).run()
    assert [len(s.segment.payload) for s in sent] == [len(b"keystroke")] * 40


def test_zero_window_probes_back_off_and_never_give_up(impl, arrival_path):
    """RFC 9293 §3.8.6.1: a closed window is probed when the persist timer fires, the
    interval doubling each time (RFC 1122 §4.2.2.17) up to rto_max, and a peer that keeps
    answering is never dropped (MUST-36), however many probes that takes: here more than
    the 4 retransmissions ``retries`` allows.  Once the application reads, the transfer ends."""
    config = replace(CONFIG, receive_buffer=20_000, retries=4, rto_max=8.0)
    t = Transfer(impl, 60_000, config=config)
    reading = [False]
    app = t.app

    def stalled_app(now: float) -> None:
        if reading[0]:
            app(now)
        elif t.client.state is State.ESTABLISHED and t.written < t.size:
            t.written += t.client.send(t.data[t.written:])

    t.net.run(lambda: t.net.now >= 60.0, app=stalled_app, horizon=80.0)
    assert t.client.state is State.ESTABLISHED and t.client.snd_wnd == 0
    fired = t.net.fired(t.client, Timer.PERSIST)
    probes = [s for s in t.data_sent() if s.time in fired and len(s.segment.payload) == 1]
    assert len(probes) > config.retries + 1
    assert {s.segment.seq for s in probes} == {t.client.snd_una}  # the same byte each time
    assert t.client.stats.probes == len(probes)  # the stats view counts each probe
    gaps = [b.time - a.time for a, b in zip(probes, probes[1:])]
    assert gaps[0] == pytest.approx(2 * t.client._rto.rto)
    for a, b in zip(gaps, gaps[1:]):
        assert b == pytest.approx(min(2 * a, config.rto_max))
    assert gaps[-1] == pytest.approx(config.rto_max)
    # nothing but probes went out while the window was shut: no retransmission of any kind
    shut = min(s.time for s in probes)
    assert all(len(s.segment.payload) == 1 for s in t.data_sent() if s.time >= shut)
    assert not t.net.fired(t.client, Timer.RETRANSMIT)
    reading[0] = True
    t.net.run(lambda: len(t.got) == t.size, app=t.app, horizon=200.0)
    assert bytes(t.got) == t.data


# ---------------------------------------------------------------- keep-alives


def idle_pair(impl: SimpleNamespace, config: Config, server_config: Config = CONFIG) -> Network:
    """An established pair on a 100 ms path; the client has ``config``."""
    client = Connection(CLIENT, SERVER, config=config, iss=CLIENT_ISS)
    server = Connection(SERVER, config=server_config, iss=SERVER_ISS)
    server.listen()
    net = Network(impl, client, server, forward=Path(delay=ONE_WAY), backward=Path(delay=ONE_WAY))
    client.connect(0.0)
    net.run(lambda: client.state is State.ESTABLISHED and server.state is State.ESTABLISHED)
    return net


KEEPALIVE = replace(CONFIG, keepalive_idle=10.0, keepalive_interval=2.0, keepalive_count=3)


def test_keepalives_probe_an_idle_peer_that_answers(impl, arrival_path):
    """RFC 1122 §4.2.3.6: after the idle time a probe (SND.NXT - 1, no data) goes; the
    peer's ACK restarts the idle time; the connection stays up indefinitely."""
    net = idle_pair(impl, KEEPALIVE)
    client, server = net.a, net.b
    net.run(lambda: net.now >= 100.0, horizon=120.0)
    assert client.state is State.ESTABLISHED
    probes = net.sent_by(client)[2:]  # after the SYN and the handshake's ACK
    assert len(probes) >= 8
    assert all(not p.segment.payload and p.segment.seq == (client.snd_nxt - 1) % 2**32
               for p in probes)
    gaps = [b.time - a.time for a, b in zip(probes, probes[1:])]
    assert all(g == pytest.approx(10.0 + 2 * ONE_WAY) for g in gaps)  # idle time after each answer
    answers = [s.time for s in net.sent_by(server)[1:]]  # after the SYN,ACK
    assert answers == pytest.approx([p.time + ONE_WAY for p in probes][:len(answers)])
    assert len(answers) >= len(probes) - 1  # each probe answered by an ACK (the last perhaps later)


def test_keepalives_end_a_dead_connection(impl, arrival_path):
    """``keepalive_count`` unanswered probes, ``keepalive_interval`` apart: ConnectionTimedOut."""
    net = idle_pair(impl, KEEPALIVE)
    client = net.a
    net.paths[id(client)].drop = lambda index, segment: True  # the server is gone
    heard = net.sent_by(net.b)[-1].time + ONE_WAY  # the last the client heard of it
    events: List = []

    def app(now: float) -> None:
        while (event := client.next_event()) is not None:
            events.append(event)

    net.run(lambda: client.state is State.CLOSED, app=app, horizon=60.0)
    assert [type(e).__name__ for e in events][-2:] == ["ConnectionTimedOut", "Closed"]
    probes = [s for s in net.sent_by(client) if s.time > heard]
    assert [p.time - heard for p in probes] == pytest.approx([10.0, 12.0, 14.0])
    assert net.now - heard == pytest.approx(16.0)


def test_keepalives_are_off_by_default(impl):
    net = idle_pair(impl, CONFIG)
    sent = len(net.trace)
    assert net.a.next_deadline() is None and net.b.next_deadline() is None
    assert len(net.trace) == sent


# ---------------------------------------------------------------- RFC 5961 §7


def test_challenge_acks_are_rate_limited(impl, arrival_path):
    """At most ``challenge_ack_limit`` challenge ACKs a second, however many SYNs come."""
    limited = replace(CONFIG, challenge_ack_limit=3)
    net = idle_pair(impl, limited, limited)
    server = net.b
    syn = Segment(src_port=CLIENT[1], dst_port=SERVER[1], seq=12345, flags=Flags.SYN, window=1000,
                  options=[(OptionKind.NOP, None), (OptionKind.NOP, None),
                           (OptionKind.TIMESTAMPS, (server.ts_recent, 0))])
    sent = []
    for i in range(20):
        now = net.now + 0.01 * (i + 1)
        server.receive(syn, now, remote_ip=CLIENT[0])
        sent += server.segments_to_send(now)
    assert len(sent) == 3 and all(s.flags == Flags.ACK for s in sent)
    later = net.now + 1.5
    server.receive(syn, later, remote_ip=CLIENT[0])
    assert len(server.segments_to_send(later)) == 1  # a new second, a new allowance
    assert server.stats.challenge_acks == 4  # those sent, not those held back


# ---------------------------------------------------------------- RFC 6298 §5.7


def test_rto_is_three_seconds_after_a_lost_syn(impl, arrival_path):
    """The SYN timed out: once data flows, RTO is 3 s until a round trip is measured (the
    handshake gave none: Karn's rule); without that loss the handshake's round trip sets it."""
    for lose_syn in (True, False):
        client = Connection(CLIENT, SERVER, config=CONFIG, iss=CLIENT_ISS)
        server = Connection(SERVER, config=CONFIG, iss=SERVER_ISS)
        server.listen()
        net = Network(impl, client, server, forward=Path(
            delay=ONE_WAY, drop=lambda index, segment, lose=lose_syn: lose and index == 0))
        client.connect(0.0)
        net.run(lambda client=client: client.state is State.ESTABLISHED)
        if lose_syn:
            assert client._rto.srtt is None and client._rto.rto == pytest.approx(3.0)
        else:
            assert client._rto.srtt == pytest.approx(ONE_WAY + Path().delay)
            assert client._rto.rto < 1.0


# ---------------------------------------------------------------- RFC 6582 after a timeout


def test_no_fast_retransmit_below_recover_after_a_timeout(impl, arrival_path):
    """RFC 6582 §3.2 step 1: after a timeout, duplicate ACKs that do not cover SND.MAX at the
    timeout ("recover") do not start fast retransmit.  Here the receiver gets the resent
    first segment five times (a duplicating path): the first copy's ACK is delayed, the
    second is ACKed, the other three bring duplicate ACKs while the rest of the flight is
    still missing.  (Without SACK: with it, ACKs naming a duplicate carry a D-SACK block
    and are no duplicate ACKs, RFC 6675 §2.)"""
    link = established(impl, replace(LINK_CONFIG, sack=False))
    client, server = link.a, link.b
    client.send(b"x" * 10 * 1448)
    assert len(client.segments_to_send(link.now)) == 10  # all lost
    link.now = client.next_deadline()
    client.handle_timeout(link.now)
    first = [s for s in client.segments_to_send(link.now) if s.payload]
    assert len(first) == 1
    out: List = []
    for _ in range(5):
        link.deliver(client, first[0])
        for ack in server.segments_to_send(link.now):
            link.deliver(server, ack)
        out += [s.seq for s in client.segments_to_send(link.now) if s.payload]
    assert client._dupacks == 3 and client._recover is None
    assert sorted(out) == sorted(set(out))  # nothing sent twice: no fast retransmit


# ---------------------------------------------------------------- RFC 7323 §5.5


DAY = 24 * 60 * 60


def stamped_data(server: Connection, tsval_after_ts_recent: int, payload: bytes) -> Segment:
    """The client's next data for ``server``, its TSval that far from the server's TS.Recent."""
    tsval = (server.ts_recent + tsval_after_ts_recent) % 2**32
    return Segment(src_port=CLIENT[1], dst_port=SERVER[1], seq=server.rcv_nxt,
                   ack=server.snd_nxt, flags=Flags.ACK | Flags.PSH, window=1000,
                   options=[(OptionKind.NOP, None), (OptionKind.NOP, None),
                            (OptionKind.TIMESTAMPS, (tsval, 0))],
                   payload=payload)


def test_ts_recent_expires_after_24_days_idle(impl, arrival_path):
    """A TSval older than TS.Recent is refused by PAWS, unless TS.Recent is 24 days old."""
    net = idle_pair(impl, CONFIG)
    server = net.b
    base = net.now
    server.receive(stamped_data(server, -5, b"late"), base + 23 * DAY, remote_ip=CLIENT[0])
    assert [e.reason for e in drain_events(server) if isinstance(e, SegmentRejected)] == [
        "PAWS: timestamp older than TS.Recent"]
    segment = stamped_data(server, -5, b"late")
    server.receive(segment, base + 25 * DAY, remote_ip=CLIENT[0])
    assert [e.data for e in drain_events(server) if isinstance(e, DataReceived)] == [b"late"]
    assert server.ts_recent == segment.timestamps[0]


def test_ts_recent_ages_from_the_last_timestamp_taken(impl, arrival_path):
    """RFC 7323 §5.5: TS.Recent's 24 days count from when it was last set, by whichever path
    took the segment, not from the handshake."""
    net = idle_pair(impl, CONFIG)
    server = net.b
    base = net.now
    fresh = stamped_data(server, 1000, b"fresh")
    server.receive(fresh, base + 20 * DAY, remote_ip=CLIENT[0])
    assert [e.data for e in drain_events(server) if isinstance(e, DataReceived)] == [b"fresh"]
    assert server.ts_recent == fresh.timestamps[0]
    # 40 days after the handshake, 20 after TS.Recent was set: an older TSval is still refused
    server.receive(stamped_data(server, -5, b"late"), base + 40 * DAY, remote_ip=CLIENT[0])
    assert [e.reason for e in drain_events(server) if isinstance(e, SegmentRejected)] == [
        "PAWS: timestamp older than TS.Recent"]
    assert server.ts_recent == fresh.timestamps[0]


def drain_events(conn: Connection) -> List:
    events = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    return events


# ---------------------------------------------------------------- urgent data


class UrgentPair(Pair):
    """The client sends ``before``, then ``urgent`` as urgent data, then ``after``."""

    def __init__(self, impl: SimpleNamespace, before: bytes, urgent: bytes, after: bytes) -> None:
        super().__init__(impl, replace(CONFIG, nagle=False))
        self.parts = [(before, False), (urgent, True), (after, False)]
        self.events: List = []

    def read(self) -> None:
        while (event := self.server.next_event()) is not None:
            self.events.append(event)
            if isinstance(event, DataReceived):
                self.got += event.data
        while self.client.next_event() is not None:
            pass

    def app(self, now: float) -> None:
        if self.client.state is State.ESTABLISHED:
            for data, urgent in self.parts:  # written together
                assert self.client.send(data, urgent=urgent) == len(data)
            self.parts = []
        self.read()

    def run(self) -> List:
        total = sum(len(data) for data, _ in self.parts)
        self.net.run(lambda: len(self.got) == total and self.client.snd_una == self.client.snd_max,
                     app=self.app)
        return [e for e in self.events if isinstance(e, Urgent)]


def test_urgent_data_is_marked_inline(impl, arrival_path):
    """RFC 9293 §3.8.5 with RFC 6093's pointer: segments carry URG and a pointer to the octet
    after the urgent data until it is acknowledged; the receiver delivers the bytes inline
    and says once where the urgent data ends (MUST-30 to 32)."""
    pair = UrgentPair(impl, b"normal ", b"!URGENT!", b" and more")
    urgent = pair.run()
    assert bytes(pair.got) == b"normal !URGENT! and more"
    assert urgent == [Urgent(len(b"normal !URGENT!"))]
    end = (CLIENT_ISS + 1 + len(b"normal !URGENT!")) % 2**32
    marked = [s.segment for s in pair.net.sent_by(pair.client) if s.segment.flags & Flags.URG]
    assert marked and all((s.seq + s.urgent) % 2**32 == end for s in marked)
    assert [s.payload for s in marked if s.payload] == [b"normal !URGENT! and more"]
    assert pair.client._snd_up is None  # acknowledged: urgent mode over
    pair.parts = [(b"later", False)]
    pair.net.run(lambda: bytes(pair.got).endswith(b"later"), app=pair.app)
    later = [s.segment for s in pair.net.sent_by(pair.client) if s.segment.payload][-1]
    assert later.payload == b"later" and not later.flags & Flags.URG and later.urgent == 0


def test_a_far_urgent_pointer_is_capped_at_16_bits(impl, arrival_path):
    """Urgent data ending more than 65,535 octets past a segment: that segment's pointer is
    65,535 (the field's reach) and later ones reach the real end."""
    pair = UrgentPair(impl, b"", b"u" * 100_000, b"")
    pair.parts = pair.parts[1:2]
    urgent = pair.run()
    pointers = [s.segment.urgent for s in pair.net.sent_by(pair.client)
                if s.segment.flags & Flags.URG and s.segment.payload]
    assert pointers[0] == 0xFFFF and min(pointers) < 0xFFFF
    assert [u.end for u in urgent][-1] == 100_000
    assert [u.end for u in urgent] == sorted({u.end for u in urgent})  # moving ahead only


@pytest.mark.parametrize("pointer, signalled", [
    (0, False),          # URG with a zero pointer names no octet
    (5, True),           # the octet after the segment's 5 bytes
    (3, True),           # inside the segment
    (20_000, False),     # past the receive window
])
def test_urgent_pointer_validated(impl, arrival_path, pointer, signalled):
    small = replace(CONFIG, receive_buffer=10_000)
    server = idle_pair(impl, small, small).b
    segment = Segment(src_port=CLIENT[1], dst_port=SERVER[1], seq=server.rcv_nxt, ack=server.snd_nxt,
                      flags=Flags.ACK | Flags.URG, window=1000, urgent=pointer,
                      options=[(OptionKind.NOP, None), (OptionKind.NOP, None),
                               (OptionKind.TIMESTAMPS, (server.ts_recent, 0))], payload=b"12345")
    now = server._now
    server.receive(segment, now, remote_ip=CLIENT[0])
    events = drain_events(server)
    assert [e.data for e in events if isinstance(e, DataReceived)] == [b"12345"]
    assert [e for e in events if isinstance(e, Urgent)] == ([Urgent(pointer)] if signalled else [])
    server.receive(segment, now, remote_ip=CLIENT[0])  # again: nothing new to say
    assert not [e for e in drain_events(server) if isinstance(e, Urgent)]


# ---------------------------------------------------------------- SACK, the receiving side


def held_above(t: Transfer, sent: Sent) -> List[Tuple[int, int]]:
    """What the server held above the ACK number of ``sent``, one of its segments: the client's
    data that had arrived before it was sent, as merged (start, end) sequence ranges."""
    ack = sent.segment.ack
    arrived = t.net.received[id(t.server)][:sent.received]
    pieces = sorted(((s.seq - ack) % 2**32, len(s.payload)) for s in arrived if s.payload)
    ranges: List[List[int]] = []
    for offset, length in pieces:
        if offset >= 2**31 or offset == 0:  # below or at RCV.NXT: not held
            continue
        if ranges and offset <= ranges[-1][1]:
            ranges[-1][1] = max(ranges[-1][1], offset + length)
        else:
            ranges.append([offset, offset + length])
    return [((ack + a) % 2**32, (ack + b) % 2**32) for a, b in ranges]


def test_sack_blocks_report_what_is_held(impl, arrival_path):
    """RFC 2018: both SYNs offer SACK-permitted; each ACK sent while data is held above a gap
    carries that data as SACK blocks (3 at most beside timestamps), the block holding the
    latest arrival first."""
    lost = [30 * SMSS, 34 * SMSS, 38 * SMSS]
    # new data to send all through the recovery: no rescue retransmission, no duplicate
    t = Transfer(impl, 120 * SMSS, lose=lost).run()
    syns = [s.segment for s in t.net.trace if s.segment.flags & Flags.SYN]
    assert all(s.sack_permitted for s in syns) and t.client._sack_ok and t.server._sack_ok
    with_blocks = ordered = 0
    for sent in t.net.sent_by(t.server):
        blocks = sent.segment.sack_blocks
        held = held_above(t, sent)
        if not held:
            assert blocks is None
            continue
        with_blocks += 1
        assert blocks is not None and len(blocks) == min(3, len(held))
        assert set(blocks) <= set(held)
        latest = [s for s in t.net.received[id(t.server)][:sent.received] if s.payload][-1]
        if 0 < (latest.seq - sent.segment.ack) % 2**32 < 2**31:  # held, not filling the gap
            start, end = blocks[0]
            assert (latest.seq - start) % 2**32 < (end - start) % 2**32  # latest first
            ordered += 1
    assert with_blocks >= 3 * 3 and ordered >= 3 * 3  # three holes, three duplicate ACKs each


def test_no_sack_without_both_sides_permitting(impl, arrival_path):
    for client_sack, server_sack in ((False, True), (True, False)):
        t = Transfer(impl, 60 * SMSS, lose=[30 * SMSS], config=replace(CONFIG, sack=client_sack),
                     server_config=replace(CONFIG, sack=server_sack)).run()
        assert not t.client._sack_ok and not t.server._sack_ok
        assert all(s.segment.sack_blocks is None for s in t.net.trace)
        syn, syn_ack = [s.segment for s in t.net.trace if s.segment.flags & Flags.SYN]
        assert syn.sack_permitted is client_sack and not syn_ack.sack_permitted
