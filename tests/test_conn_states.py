"""Every state and transition of fastseg.conn, with ISNs next to the 2**32 wrap.

The link between the two connections packs and unpacks every segment with the
codec twin under test (``impl``), so each test runs over both codecs.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from connlink import (
    CLIENT,
    CLIENT_ISS,
    CONFIG,
    SERVER,
    SERVER_ISS,
    Link,
    drain,
    established,
    in_state,
    pair,
    received,
    reset_for,
)

from fastseg import Flags, OptionKind, Segment
from fastseg.conn import (
    TRANSITIONS,
    Closed,
    Config,
    Connected,
    Connection,
    ConnectionRefused,
    ConnectionReset,
    ConnectionTimedOut,
    DataReceived,
    Event,
    PeerFinished,
    SegmentRejected,
    State,
    StateError,
)
from fastseg.conn.states import Action
from fastseg.conn.timers import Timer
from fastseg.seq import seq_add

pytestmark = pytest.mark.usefixtures("arrival_path")  # both arrival paths

S = State


def flags_of(link: Link) -> list[str]:
    return [f"{src[-1]}:{segment.flags!s}" for src, segment in link.log]


# ---------------------------------------------------------------- builders of each state (connlink.in_state)


@pytest.mark.parametrize("state", [s for s in State if s is not S.CLOSED])
def test_builders_reach_each_state(impl, state):
    _, conn = in_state(impl, state)
    assert conn.state is state


# ---------------------------------------------------------------- every transition is reached


def _user(call):
    def run(impl, state):
        link, conn = in_state(impl, state)
        getattr(conn, call)(link.now)
        return conn
    return run


def _reset(impl, state):
    link, conn = in_state(impl, state)
    if state is S.SYN_SENT:  # only an RST acknowledging our SYN is acceptable here
        conn.receive(Segment(src_port=SERVER[1], dst_port=CLIENT[1], seq=0, ack=seq_add(CLIENT_ISS, 1),
                             flags=Flags.RST | Flags.ACK), link.now)
    else:
        conn.receive(reset_for(link, conn), link.now)
    return conn


def _send(impl, state):
    _, conn = in_state(impl, state)
    conn.send(b"x")
    return conn


def _fin_again_in_time_wait(impl, state):
    link, conn = in_state(impl, S.TIME_WAIT)
    conn.receive(stamped(conn, seq=seq_add(conn.rcv_nxt, -1), ack=conn.snd_nxt,
                         flags=Flags.FIN | Flags.ACK), link.now)
    return conn


def _timeout(impl, state):
    link, conn = in_state(impl, state)
    if state in (S.ESTABLISHED, S.CLOSE_WAIT):
        conn.send(b"lost")
    link.drop = lambda sender, segment: True
    link.run_until(lambda: conn.state is S.CLOSED)
    return conn


def _segment_flow(state):
    def run(impl, _state):
        link, conn = in_state(impl, state)
        link.run_until(lambda: conn.state is not state)
        return conn
    return run


def _syn_received_active(impl, state):
    link = simultaneous_open_half(impl)
    link.a.receive(reset_for(link, link.a), link.now)
    return link.a


def _syn_sent_rcv_syn(impl, state):
    return simultaneous_open_half(impl).a


def simultaneous_open_half(impl) -> Link:
    """Both sides connect; each SYN crosses the other; a is left in SYN-RECEIVED."""
    a = Connection(CLIENT, SERVER, config=CONFIG, iss=CLIENT_ISS)
    b = Connection(SERVER, CLIENT, config=CONFIG, iss=SERVER_ISS)
    link = Link(impl, a, b)
    a.connect(0.0)
    b.connect(0.0)
    a.segments_to_send(0.0)  # a's SYN is still in flight
    link.deliver(b, b.segments_to_send(0.0)[0])
    assert a.state is S.SYN_RECEIVED
    return link


def _fin_wait_1_rcv_fin(impl, state):
    return in_state(impl, S.CLOSING)[1]


def _passive_reset(impl, state):
    link, conn = in_state(impl, S.SYN_RECEIVED)
    conn.receive(reset_for(link, conn), link.now)
    return conn


CAUSE_RUNNERS = {
    "close": _user("close"), "abort": _user("abort"), "rcv_rst": _reset, "timeout": _timeout,
    "send": _send,
}
SPECIAL = {
    (S.CLOSED, "listen"): lambda impl, s: pair(impl).b,
    (S.CLOSED, "connect"): lambda impl, s: in_state(impl, S.SYN_SENT)[1],
    (S.LISTEN, "rcv_syn"): lambda impl, s: in_state(impl, S.SYN_RECEIVED)[1],
    (S.SYN_SENT, "rcv_syn_ack"): lambda impl, s: established(impl).a,
    (S.SYN_SENT, "rcv_syn"): _syn_sent_rcv_syn,
    (S.SYN_RECEIVED, "rcv_ack_of_syn"): lambda impl, s: established(impl).b,
    (S.SYN_RECEIVED, "rcv_rst"): _syn_received_active,
    (S.SYN_RECEIVED, "rcv_rst_passive"): _passive_reset,
    (S.ESTABLISHED, "rcv_fin"): lambda impl, s: in_state(impl, S.CLOSE_WAIT)[1],
    (S.FIN_WAIT_1, "rcv_ack_of_fin"): lambda impl, s: in_state(impl, S.FIN_WAIT_2)[1],
    (S.FIN_WAIT_1, "rcv_fin"): _fin_wait_1_rcv_fin,
    (S.FIN_WAIT_2, "rcv_fin"): lambda impl, s: in_state(impl, S.TIME_WAIT)[1],
    (S.CLOSE_WAIT, "close"): lambda impl, s: in_state(impl, S.LAST_ACK)[1],
    (S.CLOSING, "rcv_ack_of_fin"): _segment_flow(S.CLOSING),
    (S.LAST_ACK, "rcv_ack_of_fin"): _segment_flow(S.LAST_ACK),
    (S.TIME_WAIT, "time_wait_expired"): _segment_flow(S.TIME_WAIT),
    (S.TIME_WAIT, "rcv_fin"): _fin_again_in_time_wait,
}


@pytest.fixture
def recorded(monkeypatch):
    """Every (state, cause) any Connection passes through during the test, with the
    events each transition raised and the timers running after it."""
    seen: dict[tuple[State, str], tuple[list[type], set[Timer]]] = {}
    original = Connection._transition

    def record(self, cause):
        key, before = (self.state, cause), len(self._events)
        original(self, cause)
        seen[key] = ([type(event) for event in list(self._events)[before:]], set(self._timers))

    monkeypatch.setattr(Connection, "_transition", record)
    return seen


@pytest.mark.parametrize("key", list(TRANSITIONS), ids=[f"{s.value}-{c}" for s, c in TRANSITIONS])
def test_every_transition_is_reached(impl, recorded, key):
    """Each edge is taken by the cause it names, and its entry actions and events follow it."""
    state, cause = key
    edge = TRANSITIONS[key]
    runner = SPECIAL.get(key) or CAUSE_RUNNERS[cause]
    conn = runner(impl, state)
    assert key in recorded
    assert conn.state is edge.next or edge.next in conn.history
    raised, timers = recorded[key]
    assert raised == list(edge.events)
    if Action.STOP_TIMERS in edge.actions:
        assert timers == ({Timer.TIME_WAIT} if Action.START_2MSL in edge.actions else set())


def test_table_only_legal_states():
    for (state, cause), edge in TRANSITIONS.items():
        assert isinstance(state, State) and isinstance(edge.next, State) and cause
        assert all(isinstance(action, Action) for action in edge.actions)
        assert all(issubclass(event, Event) for event in edge.events)
    assert {s for s, _ in TRANSITIONS} | {edge.next for edge in TRANSITIONS.values()} == set(State)
    loops = {key for key, edge in TRANSITIONS.items() if edge.next is key[0]}
    assert {cause for _, cause in loops} == {"send", "rcv_fin"}  # only these keep the state
    for edge in TRANSITIONS.values():  # RFC 9293 §3.10.4-3.10.7: CLOSED deletes the TCB
        if edge.next is S.CLOSED:
            assert edge.events[-1] is Closed and Action.STOP_TIMERS in edge.actions


# ---------------------------------------------------------------- the handshake


def test_three_way_handshake_numbers(impl):
    link = pair(impl)
    client, server = link.a, link.b
    client.connect(0.0)
    link.settle()
    syn, syn_ack, ack = (segment for _, segment in link.log)
    x, y = CLIENT_ISS, SERVER_ISS
    assert syn.flags == Flags.SYN and syn.seq == x and syn.seg_len == 1
    assert syn_ack.flags == Flags.SYN | Flags.ACK and (syn_ack.seq, syn_ack.ack) == (y, seq_add(x, 1))
    assert ack.flags == Flags.ACK and (ack.seq, ack.ack) == (seq_add(x, 1), seq_add(y, 1))
    assert ack.seg_len == 0  # a bare ACK takes no sequence number
    assert client.snd_nxt == seq_add(x, 1) == 2**32 - 2  # still below the wrap; the data will cross it
    kinds = [kind for kind, _ in syn.options]
    assert OptionKind.MSS in kinds and OptionKind.WSCALE in kinds and OptionKind.TIMESTAMPS in kinds
    assert syn.mss == CONFIG.mss and syn_ack.timestamps[1] == syn.timestamps[0]
    assert drain(client) == [Connected()] and drain(server) == [Connected()]
    assert server.remote == CLIENT
    assert [s.value for s in client.history] == ["CLOSED", "SYN-SENT", "ESTABLISHED"]
    assert [s.value for s in server.history] == ["CLOSED", "LISTEN", "SYN-RECEIVED", "ESTABLISHED"]


def test_window_scale_and_mss_negotiated(impl):
    link = pair(impl, Config(mss=1000, receive_buffer=1 << 20))
    link.a.connect(0.0)
    link.settle()
    syn = link.log[0][1]
    assert syn.wscale == 5 and syn.window == 0xFFFF  # 2**20 needs a shift of 5; SYN windows unscaled
    link.a.send(b"z" * 5000)
    link.run_until(lambda: link.a.snd_una == link.a.snd_nxt)  # the last ACK may be delayed
    data = [seg for src, seg in link.log if src == CLIENT[0] and seg.payload]
    assert max(len(seg.payload) for seg in data) == 1000 - 12  # peer MSS less the timestamp option
    assert link.b.snd_wnd == 1 << 20
    assert link.a.snd_wnd == ((1 << 20) - 5000) >> 5 << 5  # unread data narrows it, in 32-byte units
    assert all(seg.window == (1 << 20) >> 5 for seg in data)


def test_no_options_from_peer_means_no_scaling_no_timestamps(impl):
    server = Connection(SERVER, config=CONFIG, iss=SERVER_ISS)
    server.listen()
    server.receive(Segment(src_port=CLIENT[1], dst_port=SERVER[1], seq=5, flags=Flags.SYN, window=1000),
                   0.0, remote_ip=CLIENT[0])
    syn_ack = server.segments_to_send(0.0)[0]
    assert [k for k, _ in syn_ack.options] == [OptionKind.MSS]
    server.receive(Segment(src_port=CLIENT[1], dst_port=SERVER[1], seq=6, ack=seq_add(SERVER_ISS, 1),
                           flags=Flags.ACK, window=1000), 0.0)
    server.send(b"a" * 2000)
    sizes = [len(seg.payload) for seg in server.segments_to_send(0.0)]
    # the RFC 9293 default MSS; the 464 bytes left of the 1000-byte window are less than a
    # segment and half the window: they wait (sender silly-window avoidance, §3.8.6.2.1)
    assert sizes == [536]


def test_old_duplicate_syn_is_defeated(impl):
    """The reason for three messages: an old SYN's SYN,ACK is refused by the client's RST."""
    link = pair(impl)
    client, server = link.a, link.b
    old_syn = Segment(src_port=CLIENT[1], dst_port=SERVER[1], seq=12345, flags=Flags.SYN, window=100)
    server.receive(old_syn, 0.0, remote_ip=CLIENT[0])
    assert server.state is S.SYN_RECEIVED
    client.connect(0.0)
    (syn,) = client.segments_to_send(0.0)  # delayed in the network for now
    link.deliver(server, server.segments_to_send(0.0)[0])  # SYN,ACK for the old SYN reaches client
    (rst,) = client.segments_to_send(0.0)
    assert rst.flags == Flags.RST and rst.seq == 12346 and client.state is S.SYN_SENT
    link.deliver(client, rst)
    assert server.state is S.LISTEN and server.remote is None
    link.deliver(client, syn)  # the client's real SYN now opens the connection
    link.settle()
    assert client.state is S.ESTABLISHED and server.state is S.ESTABLISHED
    assert server.rcv_nxt == seq_add(CLIENT_ISS, 1)


def test_simultaneous_open(impl):
    a = Connection(CLIENT, SERVER, config=CONFIG, iss=CLIENT_ISS)
    b = Connection(SERVER, CLIENT, config=CONFIG, iss=SERVER_ISS)
    link = Link(impl, a, b)
    a.connect(0.0)
    b.connect(0.0)
    link.settle()
    assert a.state is S.ESTABLISHED and b.state is S.ESTABLISHED
    assert [s.value for s in a.history] == ["CLOSED", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED"]
    a.send(b"from a")
    b.send(b"from b")
    link.settle()
    assert received(drain(b)) == b"from a" and received(drain(a)) == b"from b"


# ---------------------------------------------------------------- data


def test_bulk_data_crosses_the_wrap_both_ways(impl):
    link = established(impl)
    payload_a = bytes(range(256)) * 800
    payload_b = b"reply" * 5000
    link.a.send(payload_a)
    link.b.send(payload_b)
    got_a, got_b = bytearray(), bytearray()

    def done():
        got_b.extend(received(drain(link.b)))
        got_a.extend(received(drain(link.a)))
        return (len(got_b) == len(payload_a) and len(got_a) == len(payload_b)
                and link.a.snd_una == link.a.snd_nxt and link.b.snd_una == link.b.snd_nxt)

    link.run_until(done)
    assert bytes(got_b) == payload_a and bytes(got_a) == payload_b
    assert link.a.snd_una == link.a.snd_nxt == seq_add(CLIENT_ISS, 1 + len(payload_a))


def test_send_buffer_limit_and_capacity_event(impl):
    link = established(impl, Config(send_buffer=1000))
    assert link.a.send(b"x" * 1500) == 1000 and link.a.send_capacity == 0
    link.run_until(lambda: link.a.snd_una == link.a.snd_nxt)
    events = drain(link.a)
    assert events and events[-1].capacity == 1000


def test_out_of_order_and_duplicates_reassemble(impl):
    link = established(impl, replace(CONFIG, nagle=False))  # the 104-byte tail goes at once
    client, server = link.a, link.b
    client.send(b"A" * 1000 + b"B" * 1000 + b"C" * 1000)
    first, second, third = [seg for seg in client.segments_to_send(0.0) if seg.payload][:3]
    for segment in (third, second, second, first, third):
        link.deliver(client, segment)
    assert received(drain(server)) == b"A" * 1000 + b"B" * 1000 + b"C" * 1000
    assert server.rcv_nxt == seq_add(CLIENT_ISS, 3001)
    acks = server.segments_to_send(0.0)
    assert acks and acks[-1].ack == server.rcv_nxt


def test_delayed_ack(impl):
    link = established(impl)
    link.a.send(b"one segment")
    link.deliver(link.a, link.a.segments_to_send(0.0)[0])
    assert link.b.segments_to_send(0.0) == []  # the ACK waits
    assert link.b.next_deadline() == pytest.approx(CONFIG.delayed_ack)
    link.b.handle_timeout(CONFIG.delayed_ack)
    (ack,) = link.b.segments_to_send(CONFIG.delayed_ack)
    assert ack.ack == link.b.rcv_nxt and not ack.payload


def test_zero_window_and_probe(impl):
    config = Config(receive_buffer=4000)
    link = established(impl, config)
    client, server = link.a, link.b
    client.send(b"q" * 6000)
    link.settle()  # the server's app reads nothing: its window closes
    # but for the last 1104 bytes: less than a segment and half the largest window, they wait
    # for the persist timer's override (sender silly-window avoidance, RFC 9293 §3.8.6.2.1)
    assert server.rcv_wnd == 1104 and client.snd_nxt == client.snd_una
    assert client.next_deadline() == pytest.approx(link.now + client._rto.rto)
    link.run_until(lambda: server.rcv_wnd == 0)
    assert server.rcv_wnd == 0 and client.snd_wnd == 0
    assert client.snd_nxt == seq_add(CLIENT_ISS, 1 + 4000)
    deadline = client.next_deadline()
    assert deadline is not None
    link.now = deadline
    client.handle_timeout(link.now)
    probe = [seg for seg in client.segments_to_send(link.now) if seg.payload]
    assert len(probe) == 1 and len(probe[0].payload) == 1  # one byte past the window
    link.deliver(client, probe[0])
    reply = server.segments_to_send(link.now)
    assert reply[-1].window == 0 and reply[-1].ack == server.rcv_nxt  # probe refused, ACK sent
    assert len(received(drain(server))) == 4000  # reading opens the window again
    link.settle()
    link.run_until(lambda: len(received(drain(server))) > 0 or client.snd_una == client.snd_nxt)
    assert client.snd_wnd > 0


def test_acks_stay_inside_a_zero_window_after_a_probe(impl):
    """The probe's byte is past the peer's zero window, so an ACK that starts after it is
    unacceptable there (RFC 9293 §3.10.7.4: only SEG.SEQ = RCV.NXT is) and its
    acknowledgment would be lost: while the byte is outstanding, an ACK starts at the
    window's right edge (Linux's tcp_acceptable_seq), and the peer's data is acknowledged."""
    config = Config(receive_buffer=4000)
    link = established(impl, config)
    client, server = link.a, link.b
    client.send(b"q" * 6000)
    link.run_until(lambda: server.rcv_wnd == 0)
    link.now = client.next_deadline()
    client.handle_timeout(link.now)
    (probe,) = [seg for seg in client.segments_to_send(link.now) if seg.payload]
    link.deliver(client, probe)
    link.deliver(server, server.segments_to_send(link.now)[-1])  # the probe refused
    assert client.snd_nxt == seq_add(client.snd_una, 1) and client.snd_wnd == 0
    server.send(b"reply while the client's bytes wait")
    (data,) = server.segments_to_send(link.now)
    link.deliver(server, data)
    link.now += CONFIG.delayed_ack
    client.handle_timeout(link.now)
    (ack,) = client.segments_to_send(link.now)
    assert ack.seq == client.snd_una == server.rcv_nxt and not ack.payload
    link.deliver(client, ack)
    assert server.snd_una == server.snd_nxt  # the reply is acknowledged


def _acks(conn, now):
    return [seg for seg in conn.segments_to_send(now) if not seg.payload]


def test_a_duplicate_is_reported_once_as_the_first_sack_block(impl):
    """RFC 2883 §4: data received twice is named by the first SACK block of the next ACK,
    once; the part of a segment below RCV.NXT the same; nothing without SACK agreed."""
    link = established(impl)
    client, server = link.a, link.b
    text = bytes(range(256)) * 16
    client.send(text)
    first, second, third = [seg for seg in client.segments_to_send(link.now) if seg.payload][:3]

    def span(seg):
        return (seg.seq, seq_add(seg.seq, len(seg.payload)))

    link.deliver(client, first)
    link.deliver(client, first)  # again: all of it old
    (ack,) = _acks(server, link.now)
    assert ack.ack == span(first)[1] and ack.sack_blocks == (span(first),)
    link.deliver(client, third)  # out of order: held
    (ack,) = _acks(server, link.now)
    assert ack.sack_blocks == (span(third),)  # no D-SACK again
    both = second.replace(seq=seq_add(second.seq, -400), payload=first.payload[-400:] + second.payload)
    link.deliver(client, both)  # 400 bytes old, the rest new: fills the gap
    (ack,) = _acks(server, link.now)
    assert ack.ack == span(third)[1] and ack.sack_blocks == ((both.seq, second.seq),)
    link.deliver(client, third)
    link.deliver(client, first)  # two duplicates before one ACK: the latest is named
    (ack,) = _acks(server, link.now)
    assert ack.sack_blocks == (span(first),)
    assert received(drain(server)) == text[:(span(third)[1] - first.seq) % 2**32]


def test_a_duplicate_gets_no_sack_block_without_sack(impl):
    link = established(impl, replace(CONFIG, sack=False))
    client, server = link.a, link.b
    client.send(b"x" * 1000)
    (data,) = client.segments_to_send(link.now)
    link.deliver(client, data)
    link.deliver(client, data)
    (ack,) = _acks(server, link.now)
    assert ack.sack_blocks is None and not any(k == OptionKind.SACK for k, _ in ack.options)


def test_a_dsack_block_comes_before_the_held_ones(impl):
    link = established(impl)
    client, server = link.a, link.b
    client.send(bytes(range(250)) * 24)
    segs = [seg for seg in client.segments_to_send(link.now) if seg.payload]
    link.deliver(client, segs[0])
    for seg in segs[2:5:2]:  # two holes
        link.deliver(client, seg)
    _acks(server, link.now)
    link.deliver(client, segs[0])
    (ack,) = _acks(server, link.now)
    blocks = ack.sack_blocks
    assert blocks[0] == (segs[0].seq, seq_add(segs[0].seq, len(segs[0].payload)))
    # beside timestamps three blocks fit: the D-SACK block and the two held ones
    assert len(blocks) == 3 and set(blocks[1:]) == {
        (seg.seq, seq_add(seg.seq, len(seg.payload))) for seg in segs[2:5:2]}


# ---------------------------------------------------------------- close


def test_four_way_close_active_client(impl):
    link = established(impl)
    client, server = link.a, link.b
    client.close(link.now)
    link.settle()
    assert client.state is S.FIN_WAIT_2 and server.state is S.CLOSE_WAIT
    assert drain(server) == [PeerFinished()]
    server.close(link.now)
    link.settle()
    assert server.state is S.CLOSED and drain(server) == [Closed()]  # the passive closer: at once
    assert client.state is S.TIME_WAIT and drain(client) == [PeerFinished()]
    assert client.next_deadline() == pytest.approx(link.now + 2 * CONFIG.msl)
    client.handle_timeout(link.now + 2 * CONFIG.msl - 0.01)
    assert client.state is S.TIME_WAIT
    client.handle_timeout(link.now + 2 * CONFIG.msl)
    assert client.state is S.CLOSED and drain(client) == [Closed()]
    fins = [seg for _, seg in link.log if seg.flags & Flags.FIN]
    assert all(seg.seg_len == 1 for seg in fins)


def test_server_closes_first(impl):
    link = established(impl)
    link.b.close(link.now)
    link.settle()
    link.a.close(link.now)
    link.settle()
    assert link.b.state is S.TIME_WAIT and link.a.state is S.CLOSED


def test_half_close_data_still_flows_to_the_closer(impl):
    link = established(impl)
    client, server = link.a, link.b
    client.close(link.now)
    link.settle()
    server.send(b"still talking")
    link.settle()
    assert client.state is S.FIN_WAIT_2 and received(drain(client)) == b"still talking"
    with pytest.raises(StateError):
        client.send(b"no more")


def test_time_wait_reacks_retransmitted_fin_and_restarts(impl):
    link = established(impl)
    client, server = link.a, link.b
    client.close(0.0)
    link.settle()
    server.close(0.0)
    fin = server.segments_to_send(0.0)[0]
    link.deliver(server, fin)
    client.segments_to_send(0.0)  # the last ACK is lost
    assert client.state is S.TIME_WAIT and server.state is S.LAST_ACK
    link.now = 1.5
    link.deliver(server, fin)  # server retransmits its FIN
    (ack,) = client.segments_to_send(1.5)
    assert ack.flags == Flags.ACK and ack.ack == client.rcv_nxt
    assert client.next_deadline() == pytest.approx(1.5 + 2 * CONFIG.msl)
    link.deliver(client, ack)
    assert server.state is S.CLOSED


@pytest.mark.parametrize("offset, flags, payload", [
    (0, Flags.FIN | Flags.ACK, b""),  # a FIN at RCV.NXT
    (100, Flags.FIN | Flags.ACK, b""),  # a FIN above it, in the window
    (100, Flags.ACK, b""),  # an ACK above it
    (0, Flags.ACK | Flags.PSH, b"late"),  # text, which TIME-WAIT ignores
    (2**30, Flags.ACK, b""),  # far outside the window
], ids=["fin-at-rcv-nxt", "fin-above", "ack-above", "text", "outside-the-window"])
def test_time_wait_acks_any_segment_and_restarts(impl, offset, flags, payload):
    """RFC 9293 §3.10.7.4, TIME-WAIT: the fifth check ("the only thing that can arrive in
    this state is a retransmission of the remote FIN.  Acknowledge it, and restart the
    2 MSL timeout") and the first (an unacceptable segment is acknowledged; Linux also
    restarts the timer): one ACK of RCV.NXT, nothing else learned, 2 MSL from now."""
    link, conn = in_state(impl, S.TIME_WAIT)
    drain(conn)
    rcv_nxt, now = conn.rcv_nxt, link.now + 0.5
    conn.receive(stamped(conn, seq=seq_add(rcv_nxt, offset), ack=conn.snd_nxt, flags=flags,
                         payload=payload), now)
    (ack,) = conn.segments_to_send(now)
    assert ack.flags == Flags.ACK and ack.ack == rcv_nxt == conn.rcv_nxt
    assert conn.state is S.TIME_WAIT
    assert not [e for e in drain(conn) if isinstance(e, (DataReceived, PeerFinished))]
    assert conn.next_deadline() == pytest.approx(now + 2 * CONFIG.msl)


def test_time_wait_restarts_on_a_bare_ack_at_rcv_nxt_without_answering(impl):
    """The exception to the above (Linux's tcp_timewait_state_process): a bare ACK at
    RCV.NXT, which the other end's own TIME-WAIT answer is, restarts 2 MSL unanswered;
    answering it would make two ends in TIME-WAIT trade ACKs for ever."""
    link, conn = in_state(impl, S.TIME_WAIT)
    now = link.now + 0.5
    conn.receive(stamped(conn, seq=conn.rcv_nxt, ack=conn.snd_nxt, flags=Flags.ACK), now)
    assert conn.segments_to_send(now) == [] and conn.state is S.TIME_WAIT
    assert conn.next_deadline() == pytest.approx(now + 2 * CONFIG.msl)


def test_simultaneous_close_settles_in_time_wait(impl):
    link, client = in_state(impl, S.CLOSING)
    link.run_until(lambda: client.state is S.TIME_WAIT and link.b.state is S.TIME_WAIT)
    link.deliver(link.b, stamped(client, seq=client.rcv_nxt, ack=client.snd_nxt, flags=Flags.FIN
                                 | Flags.ACK))  # a FIN again: one ACK, answered by nothing
    link.settle()
    assert client.state is S.TIME_WAIT and link.b.state is S.TIME_WAIT


def test_simultaneous_close(impl):
    link, client = in_state(impl, S.CLOSING)
    server = link.b
    link.settle()
    link.run_until(lambda: client.state is S.TIME_WAIT and server.state is S.TIME_WAIT)
    assert [s.value for s in client.history][-3:] == ["FIN-WAIT-1", "CLOSING", "TIME-WAIT"]


# ---------------------------------------------------------------- resets (RFC 9293 §3.10.7, RFC 5961)


def test_reset_to_closed_connection():
    conn = Connection(SERVER, config=CONFIG)
    conn.receive(Segment(src_port=1234, dst_port=80, seq=100, flags=Flags.SYN, payload=b"ab"), 0.0,
                 remote_ip="192.0.2.7")
    (rst, where), = conn.segments_to_send(0.0, addressed=True)
    assert rst.flags == Flags.RST | Flags.ACK and (rst.seq, rst.ack) == (0, 103)
    assert where == ("192.0.2.7", 1234)
    conn.receive(Segment(src_port=1234, dst_port=80, seq=7, ack=999, flags=Flags.ACK), 0.0,
                 remote_ip="192.0.2.7")
    (rst,) = conn.segments_to_send(0.0)
    assert rst.flags == Flags.RST and rst.seq == 999
    conn.receive(Segment(src_port=1234, dst_port=80, flags=Flags.RST), 0.0)
    assert conn.segments_to_send(0.0) == []


def test_listen_ignores_rst_and_resets_ack(impl):
    link = pair(impl)
    server = link.b
    server.receive(Segment(src_port=5, dst_port=80, flags=Flags.RST), 0.0, remote_ip="192.0.2.9")
    server.receive(Segment(src_port=5, dst_port=80, ack=77, flags=Flags.ACK), 0.0, remote_ip="192.0.2.9")
    (rst, where), = server.segments_to_send(0.0, addressed=True)
    assert rst.flags == Flags.RST and rst.seq == 77 and where == ("192.0.2.9", 5)
    assert server.state is S.LISTEN


def test_connection_refused(impl):
    link = pair(impl)
    link.a.connect(0.0)
    link.b.abort(0.0)  # nobody listens any more: the server side answers from CLOSED
    link.settle()
    assert link.a.state is S.CLOSED and drain(link.a) == [ConnectionRefused(), Closed()]


@pytest.mark.parametrize("offset", [1, 1000])
def test_in_window_reset_gets_challenge_ack(impl, offset):
    link = established(impl)
    client = link.a
    client.receive(reset_for(link, client, seq=seq_add(client.rcv_nxt, offset)), 0.0)
    assert client.state is S.ESTABLISHED
    (ack,) = client.segments_to_send(0.0)
    assert ack.flags == Flags.ACK and ack.ack == client.rcv_nxt
    assert isinstance(drain(client)[-1], SegmentRejected)


def test_out_of_window_reset_dropped_silently(impl):
    link = established(impl)
    client = link.a
    client.receive(reset_for(link, client, seq=seq_add(client.rcv_nxt, -5)), 0.0)
    assert client.state is S.ESTABLISHED and client.segments_to_send(0.0) == []


def test_exact_reset_resets(impl):
    link = established(impl)
    link.a.receive(reset_for(link, link.a), 0.0)
    assert drain(link.a) == [ConnectionReset(), Closed()]


def stamped(conn: Connection, **fields) -> Segment:
    """A segment to ``conn`` carrying a timestamp that passes PAWS."""
    stamps = ((OptionKind.NOP, None), (OptionKind.NOP, None),
              (OptionKind.TIMESTAMPS, (seq_add(conn.ts_recent, 1), 0)))
    return Segment(src_port=conn.remote[1], dst_port=conn.local[1], options=stamps, **fields)


def test_syn_in_established_gets_challenge_ack(impl):
    link = established(impl)
    server = link.b
    server.receive(stamped(server, seq=server.rcv_nxt, flags=Flags.SYN), 0.0)
    (ack,) = server.segments_to_send(0.0)
    assert ack.flags == Flags.ACK and server.state is S.ESTABLISHED


def test_segment_without_timestamp_dropped_once_negotiated(impl):
    """RFC 7323 §3.2: silently, though its data and ACK would otherwise be fine."""
    link = established(impl)
    server = link.b
    assert server.ts_recent is not None
    bare = Segment(src_port=CLIENT[1], dst_port=SERVER[1], seq=server.rcv_nxt, ack=server.snd_nxt,
                   flags=Flags.ACK, payload=b"no stamp")
    server.receive(bare, 0.0)
    assert server.segments_to_send(0.0) == [] and received(drain(server)) == b""
    server.receive(stamped(server, seq=server.rcv_nxt, ack=server.snd_nxt, flags=Flags.ACK,
                           payload=b"stamped"), 0.0)
    assert received(drain(server)) == b"stamped"


def test_abort_sends_reset(impl):
    link = established(impl)
    link.a.abort(0.0)
    (rst,) = link.a.segments_to_send(0.0)
    assert rst.flags == Flags.RST and rst.seq == link.a.snd_nxt
    link.deliver(link.a, rst)
    assert drain(link.b) == [ConnectionReset(), Closed()]


# ---------------------------------------------------------------- retransmission


def test_lost_syn_is_retransmitted_with_backoff(impl):
    link = pair(impl)
    link.a.connect(0.0)
    assert link.a.segments_to_send(0.0)[0].flags == Flags.SYN  # lost
    assert link.a.next_deadline() == pytest.approx(1.0)
    link.a.handle_timeout(1.0)
    assert link.a.segments_to_send(1.0)[0].seq == CLIENT_ISS
    assert link.a.next_deadline() == pytest.approx(3.0)  # backed off to 2 s
    link.now = 1.0
    link.run_until(lambda: link.a.state is S.ESTABLISHED)
    assert link.now == pytest.approx(3.0)


def test_connect_to_black_hole_times_out(impl):
    link = pair(impl)
    link.drop = lambda sender, segment: True
    link.a.connect(0.0)
    link.run_until(lambda: link.a.state is S.CLOSED)
    assert drain(link.a)[-2:] == [ConnectionTimedOut(), Closed()]
    syns = [seg for src, seg in link.log if src == CLIENT[0]]
    assert len(syns) == 1 + CONFIG.syn_retries


def test_lost_data_and_fin_recovered(impl):
    link = established(impl)
    dropped = set()

    def drop_first_copy(sender, segment):
        key = (segment.seq, bool(segment.flags & Flags.FIN))
        if sender is link.a and (segment.payload or segment.flags & Flags.FIN) and key not in dropped:
            dropped.add(key)
            return True
        return False

    link.drop = drop_first_copy
    link.a.send(b"0123456789" * 700)
    link.a.close(0.0)
    got = bytearray()

    def done():
        got.extend(received(drain(link.b)))
        return link.b.state is S.CLOSE_WAIT

    link.run_until(done)
    assert bytes(got) == b"0123456789" * 700


# ---------------------------------------------------------------- timestamps, PAWS


def test_paws_drops_old_timestamp(impl):
    link = established(impl)
    server = link.b
    link.a.send(b"fresh")
    link.now = 5.0
    link.step()
    stale = Segment(src_port=CLIENT[1], dst_port=SERVER[1], seq=server.rcv_nxt, ack=server.snd_nxt,
                    flags=Flags.ACK, payload=b"old",
                    options=[(OptionKind.NOP, None), (OptionKind.NOP, None),
                             (OptionKind.TIMESTAMPS, (1, 0))])
    before = server.rcv_nxt
    server.receive(stale, 5.0)
    assert server.rcv_nxt == before and "PAWS" in drain(server)[-1].reason
    assert server.segments_to_send(5.0)[-1].flags == Flags.ACK


# ---------------------------------------------------------------- the caller's mistakes


def test_state_errors_change_nothing():
    conn = Connection(CLIENT, SERVER, config=CONFIG)
    with pytest.raises(StateError):
        conn.send(b"x")
    with pytest.raises(StateError):
        conn.close(0.0)
    with pytest.raises(StateError):
        conn.abort(0.0)
    listener = Connection(SERVER, config=CONFIG)
    with pytest.raises(StateError):
        listener.connect(0.0)  # no remote
    listener.listen()
    with pytest.raises(StateError):
        listener.listen()
    conn.connect(1.0)
    conn.close(1.0)
    assert conn.state is S.CLOSED
    assert conn.history == [S.CLOSED, S.SYN_SENT, S.CLOSED]


def test_close_twice_and_send_after_close(impl):
    link = established(impl)
    link.a.close(0.0)
    with pytest.raises(StateError):
        link.a.close(0.0)
    with pytest.raises(StateError):
        link.a.send(b"late")
    assert link.a.state is S.FIN_WAIT_1


def test_time_going_backwards_is_an_error():
    conn = Connection(CLIENT, SERVER, config=CONFIG)
    conn.connect(10.0)
    with pytest.raises(ValueError, match="backwards"):
        conn.handle_timeout(9.0)
    conn.handle_timeout(10.0)  # nothing due: fine
    assert conn.state is S.SYN_SENT


def test_segments_for_other_ports_are_rejected(impl):
    link = established(impl)
    link.a.receive(Segment(src_port=1, dst_port=CLIENT[1], flags=Flags.RST), 0.0)
    assert link.a.state is S.ESTABLISHED
    assert drain(link.a)[-1] == SegmentRejected("not addressed to this connection")


@pytest.mark.parametrize("simultaneous", [False, True])
def test_close_in_syn_received_then_timeout_resends_syn_ack_and_fin(impl, simultaneous):
    """Regression (found by fuzz/fuzz_conn.py): after close() in SYN-RECEIVED, a retransmission
    timeout rolled SND.NXT back onto the unacknowledged SYN and segments_to_send() never returned."""
    if simultaneous:
        link = simultaneous_open_half(impl)
        conn = link.a
    else:
        conn = Connection(SERVER, config=CONFIG, iss=1000)
        conn.listen()
        conn.receive(Segment(src_port=CLIENT[1], dst_port=SERVER[1], seq=5000, flags=Flags.SYN),
                     0.0, remote_ip=CLIENT[0])
    conn.close(0.0)
    assert conn.state is S.FIN_WAIT_1
    first = conn.segments_to_send(0.0)
    assert [s.flags for s in first] == [Flags.SYN | Flags.ACK, Flags.FIN | Flags.ACK]
    due = conn.next_deadline()
    conn.handle_timeout(due)
    again = conn.segments_to_send(due)
    assert [s.flags for s in again] == [Flags.SYN | Flags.ACK, Flags.FIN | Flags.ACK]
    syn_ack, fin = again
    assert fin.seq == seq_add(syn_ack.seq, 1) and conn.snd_nxt == seq_add(syn_ack.seq, 2)


# ---------------------------------------------------------------- FIN-WAIT-2's timer


def test_fin_wait_2_gives_up_on_a_silent_peer(impl):
    link, conn = in_state(impl, S.FIN_WAIT_2)
    entered = link.now
    assert conn.next_deadline() == entered + CONFIG.fin_wait_2_timeout
    link.drop = lambda sender, segment: True  # the peer vanished
    link.run_until(lambda: conn.state is S.CLOSED, horizon=entered + 3600)
    assert link.now == entered + CONFIG.fin_wait_2_timeout
    assert drain(conn)[-2:] == [ConnectionTimedOut(), Closed()]


def test_fin_wait_2_waits_while_the_peer_still_sends(impl):
    link, conn = in_state(impl, S.FIN_WAIT_2)
    peer, got = link.peer(conn), b""
    timeout = CONFIG.fin_wait_2_timeout
    for _ in range(5):  # each piece comes after most of the timeout has passed
        link.now += timeout * 0.75
        conn.handle_timeout(link.now)
        assert peer.send(b"more") == 4
        link.settle()
        got += received(drain(conn))
        assert conn.state is S.FIN_WAIT_2
    assert got == b"more" * 5
    peer.close(link.now)
    link.run_until(lambda: conn.state is S.TIME_WAIT)


def test_fin_wait_2_without_a_timer_stays(impl):
    link = established(impl, replace(CONFIG, fin_wait_2_timeout=None))
    link.a.close(link.now)
    link.settle()
    assert link.a.state is S.FIN_WAIT_2 and link.a.next_deadline() is None
    with pytest.raises(ValueError, match="fin_wait_2_timeout"):
        replace(CONFIG, fin_wait_2_timeout=0)
