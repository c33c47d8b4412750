"""Text in a SYN (RFC 9293 §3.10.7.2): queued by the receiver until ESTABLISHED, then
delivered once; sent by ``connect(now, data)`` and sent again when the SYN-ACK leaves it out."""

from __future__ import annotations

import pytest
from connlink import CLIENT, CLIENT_ISS, CONFIG, SERVER, SERVER_ISS, drain, pair, received

from fastseg import Flags, Segment
from fastseg.conn import Connected, Connection, DataReceived, State
from fastseg.seq import seq_add

pytestmark = pytest.mark.usefixtures("arrival_path")  # both arrival paths

S = State


def syn(seq: int = CLIENT_ISS, payload: bytes = b"", window: int = 65535) -> Segment:
    return Segment(src_port=CLIENT[1], dst_port=SERVER[1], seq=seq, flags=Flags.SYN,
                   window=window, payload=payload)


def ack(seq: int, ack_no: int, payload: bytes = b"", flags: int = Flags.ACK) -> Segment:
    return Segment(src_port=CLIENT[1], dst_port=SERVER[1], seq=seq, ack=ack_no, flags=flags,
                   window=65535, payload=payload)


def listening() -> Connection:
    server = Connection(SERVER, config=CONFIG, iss=SERVER_ISS)
    server.listen()
    return server


def test_connect_with_data_end_to_end(impl):
    """Our own peer queues the SYN's text: the SYN-ACK leaves it out, the client sends it
    again after the handshake, and the server delivers it exactly once, after Connected."""
    link = pair(impl)
    link.a.connect(0.0, b"hello")
    (first,) = link.a.segments_to_send(0.0)
    assert first.flags == Flags.SYN and first.payload == b"hello" and first.seq == CLIENT_ISS
    assert link.a.snd_nxt == seq_add(CLIENT_ISS, 6)
    link.deliver(link.a, first)
    (syn_ack,) = link.b.segments_to_send(0.0)
    assert syn_ack.ack == seq_add(CLIENT_ISS, 1)  # queued, not acknowledged in the SYN-ACK
    assert drain(link.b) == []                    # and not delivered before ESTABLISHED
    link.deliver(link.b, syn_ack)
    assert link.a.state is S.ESTABLISHED and link.a.snd_nxt == seq_add(CLIENT_ISS, 1)
    link.run_until(lambda: link.a.snd_una == seq_add(CLIENT_ISS, 6), horizon=1.0)
    assert drain(link.b) == [Connected(), DataReceived(b"hello")]
    assert link.b.rcv_nxt == link.a.snd_una
    assert [s.payload for _, s in link.log if s.payload] == [b"hello"]  # the resend


def test_syn_text_is_delivered_once_the_ack_arrives():
    """The text waits in SYN-RECEIVED and goes out (ACKed at once) with the ACK of our SYN."""
    server = listening()
    server.receive(syn(payload=b"early"), 0.0, remote_ip=CLIENT[0])
    (syn_ack,) = server.segments_to_send(0.0)
    assert syn_ack.ack == seq_add(CLIENT_ISS, 1) and not syn_ack.payload
    assert server.state is S.SYN_RECEIVED and server.rcv_nxt == seq_add(CLIENT_ISS, 1)
    assert drain(server) == []
    server.receive(ack(seq_add(CLIENT_ISS, 1), seq_add(SERVER_ISS, 1)), 0.1)
    assert drain(server) == [Connected(), DataReceived(b"early")]
    assert server.rcv_nxt == seq_add(CLIENT_ISS, 6)
    (reply,) = server.segments_to_send(0.1)
    assert reply.ack == seq_add(CLIENT_ISS, 6) and not reply.payload


def test_syn_text_joins_the_data_after_it():
    """A peer that takes its SYN's data for acknowledged (TCP Fast Open) sends on from there:
    the ACK's own data follows the queued text, in order."""
    server = listening()
    server.receive(syn(payload=b"hello "), 0.0, remote_ip=CLIENT[0])
    server.segments_to_send(0.0)
    server.receive(ack(seq_add(CLIENT_ISS, 7), seq_add(SERVER_ISS, 1), b"world"), 0.1)
    assert received(drain(server)) == b"hello world"
    assert server.rcv_nxt == seq_add(CLIENT_ISS, 12)


def test_resent_syn_text_is_not_delivered_twice():
    server = listening()
    server.receive(syn(payload=b"abc"), 0.0, remote_ip=CLIENT[0])
    server.segments_to_send(0.0)
    server.receive(ack(seq_add(CLIENT_ISS, 1), seq_add(SERVER_ISS, 1), b"abcdef"), 0.1)
    assert received(drain(server)) == b"abcdef"


def test_syn_text_is_forgotten_when_syn_received_goes_back_to_listen():
    server = listening()
    server.receive(syn(payload=b"stale"), 0.0, remote_ip=CLIENT[0])
    server.segments_to_send(0.0)
    server.receive(Segment(src_port=CLIENT[1], dst_port=SERVER[1], seq=seq_add(CLIENT_ISS, 1),
                           flags=Flags.RST, window=0), 0.1)
    assert server.state is S.LISTEN
    other = seq_add(CLIENT_ISS, 5000)
    server.receive(syn(seq=other), 0.2, remote_ip=CLIENT[0])
    server.segments_to_send(0.2)
    server.receive(ack(seq_add(other, 1), seq_add(SERVER_ISS, 1)), 0.3)
    assert drain(server) == [Connected()]


def test_syn_text_is_cut_to_the_receive_window():
    from dataclasses import replace

    server = Connection(SERVER, config=replace(CONFIG, receive_buffer=4), iss=SERVER_ISS)
    server.listen()
    server.receive(syn(payload=b"0123456789"), 0.0, remote_ip=CLIENT[0])
    server.segments_to_send(0.0)
    server.receive(ack(seq_add(CLIENT_ISS, 1), seq_add(SERVER_ISS, 1)), 0.1)
    assert received(drain(server)) == b"0123"


@pytest.mark.parametrize("acked, resent", [(5, b""), (2, b"llo"), (0, b"hello")])
def test_syn_ack_acknowledging_all_part_or_none_of_the_data(acked, resent):
    """A Fast Open server acknowledges the SYN's data in its SYN-ACK; what is not
    acknowledged is sent again at once after the handshake."""
    client = Connection(CLIENT, SERVER, config=CONFIG, iss=CLIENT_ISS)
    client.connect(0.0, b"hello")
    client.segments_to_send(0.0)
    client.receive(Segment(src_port=SERVER[1], dst_port=CLIENT[1], seq=SERVER_ISS,
                           ack=seq_add(CLIENT_ISS, 1 + acked), flags=Flags.SYN | Flags.ACK,
                           window=65535), 0.1)
    assert client.state is S.ESTABLISHED and client.snd_una == seq_add(CLIENT_ISS, 1 + acked)
    out = client.segments_to_send(0.1)
    assert b"".join(s.payload for s in out) == resent
    assert all(s.seq == seq_add(CLIENT_ISS, 1 + acked) for s in out)
    assert client.snd_nxt == seq_add(CLIENT_ISS, 6)


def test_lost_syn_goes_again_with_its_data():
    client = Connection(CLIENT, SERVER, config=CONFIG, iss=CLIENT_ISS)
    client.connect(0.0, b"data")
    client.send(b" later")  # waits for the handshake, not in the SYN
    (first,) = client.segments_to_send(0.0)
    deadline = client.next_deadline()
    assert deadline is not None
    client.handle_timeout(deadline)
    (again,) = client.segments_to_send(deadline)
    assert first.payload == again.payload == b"data" and again.flags == Flags.SYN


def test_connect_data_must_fit_the_send_buffer():
    from dataclasses import replace

    client = Connection(CLIENT, SERVER, config=replace(CONFIG, send_buffer=3), iss=CLIENT_ISS)
    with pytest.raises(ValueError):
        client.connect(0.0, b"four")
    assert client.state is S.CLOSED and client.history == [S.CLOSED]


def test_simultaneous_open_with_data(impl):
    """Both SYNs carry text; each side delivers the other's once the handshake completes."""
    link = pair(impl)
    link.b = Connection(SERVER, CLIENT, config=CONFIG, iss=SERVER_ISS)
    link.a.connect(0.0, b"from a")
    link.b.connect(0.0, b"from b")
    link.settle()
    assert link.a.state is link.b.state is S.ESTABLISHED
    assert received(drain(link.a)) == b"from b"
    assert received(drain(link.b)) == b"from a"
