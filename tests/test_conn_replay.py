"""``Connection(replay=True)``: a replica of an endpoint seen on the wire sends whatever it is
given at once, past the congestion and peer windows, with states and checks unchanged."""

from __future__ import annotations

from dataclasses import replace

import pytest
from connlink import CLIENT, CLIENT_ISS, CONFIG, SERVER, SERVER_ISS, Link, drain

from fastseg import Flags
from fastseg.conn import Connection, SegmentRejected, State
from fastseg.seq import seq_add, seq_diff

pytestmark = pytest.mark.usefixtures("arrival_path")  # both arrival paths

BULK = 200_000


#: Nagle's algorithm is the sender's policy, which a replica takes from the capture instead.
NODELAY = replace(CONFIG, nagle=False)


def linked(impl, *, replay: bool, server_buffer: int = CONFIG.receive_buffer) -> Link:
    client = Connection(CLIENT, SERVER, config=NODELAY, iss=CLIENT_ISS, replay=replay)
    server = Connection(SERVER, config=replace(NODELAY, receive_buffer=server_buffer),
                        iss=SERVER_ISS, replay=replay)
    server.listen()
    link = Link(impl, client, server)
    client.connect(0.0)
    link.settle()
    drain(client)
    drain(server)
    return link


def test_replay_flag():
    assert Connection(CLIENT, SERVER, replay=True).replay
    assert not Connection(CLIENT, SERVER).replay


def test_live_connection_is_held_back_by_the_windows(impl):
    link = linked(impl, replay=False, server_buffer=8192)
    link.a.send(bytes(BULK))
    sent = sum(len(s.payload) for s in link.a.segments_to_send(link.now))
    assert 0 < sent <= 8192


def test_replica_sends_everything_at_once(impl):
    """Past the peer's 8 KiB window and the initial congestion window, in one call."""
    link = linked(impl, replay=True, server_buffer=8192)
    start = link.a.snd_nxt
    link.a.send(bytes(BULK))
    out = link.a.segments_to_send(link.now)
    assert sum(len(s.payload) for s in out) == BULK
    assert seq_diff(link.a.snd_nxt, start) == BULK and link.a.snd_max == link.a.snd_nxt
    assert link.a.snd_wnd == 8192  # the peer's window is still known (for the caller's checks)
    assert all(seq_diff(b.seq, a.seq) == len(a.payload) for a, b in zip(out, out[1:]))


def test_replica_sends_into_a_zero_window(impl):
    link = linked(impl, replay=True, server_buffer=4096)
    link.a.send(bytes(4096))
    link.settle()
    assert link.a.snd_wnd == 0
    link.a.send(b"more")
    (probe,) = link.a.segments_to_send(link.now)
    assert probe.payload == b"more" and link.a.next_deadline() is not None  # retransmit timer


def test_replicas_follow_the_same_states_and_segments(impl):
    """Within the windows a replica behaves exactly as a live connection: the same
    segments on the wire and the same state paths from the one transition table."""
    runs = []
    for replay in (False, True):
        link = linked(impl, replay=replay)
        link.a.send(b"request" * 100)
        link.run_until(lambda link=link: link.a.snd_una == link.a.snd_nxt, horizon=5.0)
        link.b.send(b"answer" * 300)
        link.b.close(link.now)
        link.run_until(lambda link=link: link.a.state is State.CLOSE_WAIT, horizon=10.0)
        link.a.close(link.now)
        link.run_until(lambda link=link: link.b.state is State.CLOSED, horizon=30.0)
        runs.append(([(src, s.seq, s.ack, int(s.flags), s.payload) for src, s in link.log],
                     link.a.history, link.b.history, link.a.rcv_nxt, link.b.rcv_nxt))
    assert runs[0] == runs[1]
    S = State
    assert runs[1][1] == [S.CLOSED, S.SYN_SENT, S.ESTABLISHED, S.CLOSE_WAIT, S.LAST_ACK, S.CLOSED]
    assert runs[1][2] == [S.CLOSED, S.LISTEN, S.SYN_RECEIVED, S.ESTABLISHED, S.FIN_WAIT_1,
                          S.FIN_WAIT_2, S.TIME_WAIT, S.CLOSED]


def test_replica_checks_what_arrives_as_a_live_one(impl):
    """Replay changes only sending: an ACK of data never sent is still rejected."""
    link = linked(impl, replay=True)
    syn_ack = [segment for src, segment in link.log if src == SERVER[0]][-1]
    bogus = syn_ack.replace(seq=link.a.rcv_nxt, ack=seq_add(link.a.snd_nxt, 1000), flags=Flags.ACK)
    link.a.receive(bogus, link.now)
    assert SegmentRejected("ACK of data never sent") in drain(link.a)
