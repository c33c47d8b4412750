"""fastseg.conn.Host: demultiplexing, listeners, resets for strangers, ephemeral ports,
SYN cookies, events and the connection table's lifetime."""

from __future__ import annotations

import ipaddress
from typing import Dict, List

import pytest
from hostlink import CONFIG, Net

from fastseg import Flags, OptionKind, Segment
from fastseg.conn import (
    AddressError,
    Closed,
    Connected,
    Connection,
    ConnectionReset,
    Datagram,
    DataReceived,
    Host,
    PeerFinished,
    State,
    StateError,
)
from fastseg.conn.cookies import MSS_TABLE, PERIOD, SynCookies, cookie_mss

SYN, ACK, RST, FIN, PSH = 0x02, 0x10, 0x04, 0x01, 0x08
CLIENT_IP, SERVER_IP = "10.0.0.1", "10.0.0.2"
SECRET = b"k" * 16


def pair(backlog: int = 128, **server_kw: object) -> tuple[Net, Host, Host]:
    client = Host([CLIENT_IP], config=CONFIG, secret=b"client")
    server = Host([SERVER_IP], config=CONFIG, secret=SECRET, **server_kw)  # type: ignore[arg-type]
    server.listen(("", 80), backlog=backlog)
    return Net({CLIENT_IP: client, SERVER_IP: server}), client, server


def syn(src_port: int = 40000, dst_port: int = 80, seq: int = 1000, *, flags: int = SYN,
        mss: int = 1460, payload: bytes = b"", ack: int = 0) -> Segment:
    options = ((OptionKind.MSS, mss), (OptionKind.NOP, None), (OptionKind.WSCALE, 7),
               (OptionKind.NOP, None), (OptionKind.NOP, None), (OptionKind.TIMESTAMPS, (5, 0)))
    return Segment(src_port=src_port, dst_port=dst_port, seq=seq, ack=ack, flags=flags,
                   window=65535, options=options if flags & SYN else (), payload=payload)


def echo(host: Host) -> None:
    """Serve every listener of ``host`` as RFC 862 echo: accept, send back, close after the peer."""
    for listener in host.listeners:
        while listener.accept() is not None:
            pass
    while (tagged := host.next_event()) is not None:
        conn, event = tagged
        if isinstance(event, DataReceived):
            assert conn.send(event.data) == len(event.data)
        elif isinstance(event, PeerFinished):
            conn.close(0.0 if conn._now < 0 else conn._now)


def collect(host: Host, into: Dict[Connection, List[object]]) -> None:
    while (tagged := host.next_event()) is not None:
        into.setdefault(tagged.connection, []).append(tagged.event)


def data_of(events: List[object]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, DataReceived))


# ------------------------------------------------------------ RFC 9293 §3.10.7.1: strangers


def test_syn_to_a_closed_port_gets_rst_ack_with_seq_zero() -> None:
    host = Host([SERVER_IP])
    host.receive(syn(seq=2**32 - 1, payload=b"abc", flags=SYN | FIN), 0.0, src=CLIENT_IP, dst=SERVER_IP)
    [answer] = host.segments_to_send(0.0)
    assert (answer.src, answer.dst) == (SERVER_IP, CLIENT_IP)
    segment = answer.segment
    assert segment.flags == Flags(RST | ACK)
    assert (segment.seq, segment.ack) == (0, (2**32 - 1 + 3 + 2) % 2**32)  # SYN, 3 bytes, FIN
    assert (segment.src_port, segment.dst_port, segment.window) == (80, 40000, 0)
    assert host.stats["resets_sent"] == 1
    assert host.connections == []


def test_ack_to_a_closed_port_gets_rst_at_its_ack() -> None:
    host = Host([SERVER_IP])
    host.receive(syn(flags=ACK | PSH, seq=7, ack=123456, payload=b"x"), 0.0, src=CLIENT_IP,
                 dst=SERVER_IP)
    [answer] = host.segments_to_send(0.0)
    assert answer.segment.flags == Flags(RST)
    assert (answer.segment.seq, answer.segment.ack) == (123456, 0)


@pytest.mark.parametrize("port", [80, 81])
def test_a_rst_is_never_answered(port: int) -> None:
    host = Host([SERVER_IP])
    host.listen((SERVER_IP, 80))
    for flags in (RST, RST | ACK):
        host.receive(syn(flags=flags, dst_port=port, ack=5), 0.0, src=CLIENT_IP, dst=SERVER_IP)
    assert host.segments_to_send(0.0) == []
    assert sum(host.dropped.values()) == 2


def test_an_ack_for_a_listener_gets_rst_and_the_listener_survives() -> None:
    net, client, server = pair()
    server.receive(syn(flags=ACK, ack=999), 0.0, src=CLIENT_IP, dst=SERVER_IP)
    [answer] = server.segments_to_send(0.0)
    assert answer.segment.flags == Flags(RST) and answer.segment.seq == 999
    conn = client.connect((SERVER_IP, 80), 0.0)
    net.settle()
    assert conn.state is State.ESTABLISHED


def test_a_segment_for_an_address_not_owned_is_dropped_with_a_reason() -> None:
    host = Host([SERVER_IP])
    host.listen(("", 80))
    host.receive(syn(), 0.0, src=CLIENT_IP, dst="10.0.0.3")
    host.receive(syn(), 0.0, src="224.0.0.1", dst=SERVER_IP)
    host.receive(syn(), 0.0, src="::1", dst=SERVER_IP)
    assert host.segments_to_send(0.0) == [] and host.connections == []
    assert host.dropped == {"not an address of this host": 1,
                            "source address is multicast or unspecified": 1,
                            "src and dst of different IP versions": 1}


# ------------------------------------------------------------ listeners


def test_a_listener_takes_many_clients_and_accept_gives_them_in_order() -> None:
    net, client, server = pair()
    [listener] = server.listeners
    conns = [client.connect((SERVER_IP, 80), 0.0) for _ in range(5)]
    assert listener.accept() is None
    net.settle()
    accepted = []
    while (conn := listener.accept()) is not None:
        accepted.append(conn)
    assert [c.remote for c in accepted] == [c.local for c in conns]
    assert all(c.state is State.ESTABLISHED for c in accepted + conns)
    assert len(server.connections) == 5 and server.listeners == [listener]


def test_a_specific_listener_wins_over_the_wildcard() -> None:
    host = Host([SERVER_IP, "10.0.0.3"])
    wild, specific = host.listen(("", 80)), host.listen(("10.0.0.3", 80))
    host.receive(syn(), 0.0, src=CLIENT_IP, dst="10.0.0.3")
    host.receive(syn(src_port=40001), 0.0, src=CLIENT_IP, dst=SERVER_IP)
    assert len(specific.half_open) == 1 and len(wild.half_open) == 1
    [a] = specific.half_open
    assert a.local == ("10.0.0.3", 80)


def test_a_reset_in_syn_received_removes_the_half_open_connection() -> None:
    host = Host([SERVER_IP], config=CONFIG)
    listener = host.listen(("", 80))
    host.receive(syn(seq=500), 0.0, src=CLIENT_IP, dst=SERVER_IP)
    [synack] = host.segments_to_send(0.0)
    rst = Segment(src_port=40000, dst_port=80, seq=501, flags=RST, window=0)
    host.receive(rst, 0.1, src=CLIENT_IP, dst=SERVER_IP)
    assert host.connections == [] and not listener.half_open
    assert host.segments_to_send(0.1) == []
    assert synack.segment.flags == Flags(SYN | ACK)


def test_a_half_open_connection_that_times_out_leaves() -> None:
    host = Host([SERVER_IP], config=CONFIG)
    listener = host.listen(("", 80))
    host.receive(syn(), 0.0, src=CLIENT_IP, dst=SERVER_IP)
    sent = len(host.segments_to_send(0.0))
    for _ in range(50):
        deadline = host.next_deadline()
        if deadline is None:
            break
        host.handle_timeout(deadline)
        sent += len(host.segments_to_send(deadline))
    assert host.connections == [] and not listener.half_open and host.next_deadline() is None
    assert sent == 1 + CONFIG.syn_retries


def test_closing_a_listener_resets_what_it_held_and_refuses_new_syns() -> None:
    net, client, server = pair()
    [listener] = server.listeners
    conn = client.connect((SERVER_IP, 80), 0.0)
    net.settle()
    listener.close(net.now)
    net.settle()
    assert conn.state is State.CLOSED and server.connections == []
    with pytest.raises(StateError):
        listener.accept()
    with pytest.raises(StateError):
        listener.close(0.0)
    server.receive(syn(), 0.0, src=CLIENT_IP, dst=SERVER_IP)
    assert server.segments_to_send(0.0)[0].segment.flags == Flags(RST | ACK)


def test_listen_and_connect_check_their_addresses() -> None:
    host = Host([SERVER_IP, ipaddress.ip_address("fd00::2")])
    assert host.addresses == (SERVER_IP, "fd00::2")
    with pytest.raises(AddressError, match="not an address of this host"):
        host.listen(("10.9.9.9", 80))
    host.listen(("", 80))
    with pytest.raises(AddressError, match="already listening"):
        host.listen(("", 80))
    with pytest.raises(ValueError, match="backlog"):
        host.listen(("", 81), backlog=0)
    with pytest.raises(AddressError, match="port"):
        host.listen(("", 70000))
    with pytest.raises(AddressError, match="not an IPv4 or IPv6"):
        host.connect(("nonsense", 80), 0.0)
    with pytest.raises(AddressError, match="different IP versions"):
        host.connect(("fd00::1", 80), 0.0, local=(SERVER_IP, 0))
    with pytest.raises(AddressError, match="unicast"):
        host.connect(("224.0.0.1", 80), 0.0)
    with pytest.raises(AddressError, match="no IPv6"):
        Host([SERVER_IP]).connect(("fd00::1", 80), 0.0)
    with pytest.raises(AddressError, match="src"):
        host.receive(syn(), 0.0, src="bogus", dst=SERVER_IP)
    conn = host.connect(("fd00::1", 80), 0.0)
    assert conn.local[0] == "fd00::2"
    with pytest.raises(AddressError, match="in use"):
        host.connect(("fd00::1", 80), 0.0, local=conn.local)


def test_ipv6_end_to_end() -> None:
    client = Host(["fd00::1"], config=CONFIG)
    server = Host([ipaddress.IPv6Address("fd00::2")], config=CONFIG)
    server.listen(("fd00::2", 7))
    net = Net({"fd00::1": client, "fd00::2": server})
    conn = client.connect(("fd00:0::2", 7), 0.0, data=b"hello")
    events: Dict[Connection, List[object]] = {}
    net.run_until(lambda: data_of(events.get(conn, [])) == b"hello",
                  between=lambda: (echo(server), collect(client, events)))
    assert conn.remote == ("fd00::2", 7)


# ------------------------------------------------------------ RFC 6056 ephemeral ports


def test_ephemeral_ports_avoid_live_and_time_wait_tuples() -> None:
    client = Host([CLIENT_IP], config=CONFIG, ephemeral=(50000, 50002))
    server = Host([SERVER_IP], config=CONFIG)
    server.listen(("", 80))
    client.listen(("", 50001))  # a listening port is not handed out either
    net = Net({CLIENT_IP: client, SERVER_IP: server})
    first = client.connect((SERVER_IP, 80), 0.0)
    net.settle()
    first.close(net.now)
    net.run_until(lambda: first.state is State.TIME_WAIT,
                  between=lambda: echo(server))
    assert first in client.connections  # TIME-WAIT keeps its 4-tuple
    second = client.connect((SERVER_IP, 80), net.now)
    assert {first.local[1], second.local[1]} == {50000, 50002}
    with pytest.raises(AddressError, match="no ephemeral port left"):
        client.connect((SERVER_IP, 80), net.now)
    other = client.connect((SERVER_IP, 81), net.now)  # another 4-tuple may reuse the port
    assert other.local[1] in (50000, 50002)


def test_ephemeral_ports_are_keyed_and_successive() -> None:
    def ports(secret: bytes, remote_port: int) -> List[int]:
        host = Host([CLIENT_IP], secret=secret)
        return [host.connect((SERVER_IP, remote_port), 0.0).local[1] for _ in range(3)]

    one = ports(b"a", 80)
    assert one == ports(b"a", 80)  # the same key, the same sequence
    assert all(49152 <= p <= 65535 for p in one)
    assert [p - one[0] for p in one] == [0, 1, 2]  # one counter: successive ports
    assert ports(b"b", 80)[0] != one[0] and ports(b"a", 81)[0] != one[0]


# ------------------------------------------------------------ data, events, lifetime


def test_events_come_out_in_order_tagged_with_their_connection() -> None:
    net, client, server = pair()
    a = client.connect((SERVER_IP, 80), 0.0, data=b"one")
    b = client.connect((SERVER_IP, 80), 0.0, data=b"two")
    tagged: List[tuple[Connection, object]] = []

    def pump() -> None:
        echo(server)
        while (t := client.next_event()) is not None:
            tagged.append((t.connection, t.event))

    net.run_until(lambda: len([e for _, e in tagged if isinstance(e, DataReceived)]) == 2,
                  between=pump)
    assert [type(e) for c, e in tagged if c is a] == [Connected, DataReceived]
    assert [e.data for c, e in tagged if isinstance(e, DataReceived)] == [b"one", b"two"]
    assert {c for c, _ in tagged} == {a, b}
    assert tagged.index((a, Connected())) < tagged.index((b, Connected()))


def test_events_taken_from_the_connection_do_not_come_out_twice() -> None:
    net, client, _ = pair()
    conn = client.connect((SERVER_IP, 80), 0.0)
    net.settle()
    assert conn.next_event() == Connected()
    assert client.next_event() is None


def test_connections_leave_the_host_at_closed_after_time_wait() -> None:
    net, client, server = pair()
    conn = client.connect((SERVER_IP, 80), 0.0, data=b"x" * 3000)
    events: Dict[Connection, List[object]] = {}
    net.run_until(lambda: data_of(events.get(conn, [])) == b"x" * 3000,
                  between=lambda: (echo(server), collect(client, events)))
    conn.close(net.now)
    net.run_until(lambda: not client.connections and not server.connections,
                  between=lambda: (echo(server), collect(client, events)))
    assert conn.state is State.CLOSED and isinstance(events[conn][-1], Closed)
    assert client.next_deadline() is None and server.next_deadline() is None
    assert not client._keys and not server._keys and not server._passive


def test_an_abort_sends_its_reset_after_the_connection_left() -> None:
    net, client, server = pair()
    conn = client.connect((SERVER_IP, 80), 0.0)
    net.settle()
    [accepted] = server.connections
    conn.abort(net.now)
    net.settle()
    assert client.connections == [] and server.connections == []
    events: Dict[Connection, List[object]] = {}
    collect(server, events)
    assert ConnectionReset() in events[accepted]


def test_memory_stays_bounded_under_churn() -> None:
    net, client, server = pair()
    events: Dict[Connection, List[object]] = {}
    peak = 0
    for round_ in range(30):
        payload = bytes([round_]) * 100
        conns = [client.connect((SERVER_IP, 80), net.now, data=payload) for _ in range(5)]
        net.run_until(lambda: all(data_of(events.get(c, [])) == payload  # noqa: B023
                                  for c in conns),  # noqa: B023
                      between=lambda: (echo(server), collect(client, events)))
        for c in conns:
            c.close(net.now)
        net.run_until(lambda: not client.connections and not server.connections,
                      between=lambda: (echo(server), collect(client, events)))
        peak = max(peak, len(client.connections) + len(server.connections))
        events.clear()
        for host in (client, server):
            assert not host._order and not host._counted and not host._keys
            assert not host._table and not host._passive
    assert peak == 0


# ------------------------------------------------------------ SYN cookies (RFC 4987 §3.6)


def test_beyond_the_backlog_syns_get_cookies_and_no_state() -> None:
    host = Host([SERVER_IP], config=CONFIG, secret=SECRET)
    listener = host.listen(("", 80), backlog=3)
    for port in range(1000, 1100):
        host.receive(syn(src_port=port, mss=1400), 0.0, src=CLIENT_IP, dst=SERVER_IP)
    answers = host.segments_to_send(0.0)
    assert len(answers) == 100 and len(host.connections) == 3 and len(listener.half_open) == 3
    assert host.stats["cookies_sent"] == 97
    cookie = answers[0].segment  # the host's own answers come first
    assert cookie.flags == Flags(SYN | ACK) and (cookie.ack, cookie.dst_port) == (1001, 1003)
    assert [o[0] for o in cookie.options] == [OptionKind.MSS] and cookie.mss == CONFIG.mss  # no more
    assert SynCookies(b"x").check(0.0, (SERVER_IP, 80), (CLIENT_IP, 1099), 1000, cookie.seq) is None


def test_a_client_gets_in_through_a_cookie_with_its_mss_encoded() -> None:
    client = Host([CLIENT_IP], config=CONFIG.__class__(**{**CONFIG.__dict__, "mss": 1400}))
    server = Host([SERVER_IP], config=CONFIG, secret=SECRET)
    listener = server.listen(("", 80), backlog=1)
    server.receive(syn(src_port=1), 0.0, src="10.0.0.9", dst=SERVER_IP)  # fills the backlog
    server.segments_to_send(0.0)
    net = Net({CLIENT_IP: client, SERVER_IP: server})
    conn = client.connect((SERVER_IP, 80), 0.0)
    events: Dict[Connection, List[object]] = {}
    net.run_until(lambda: conn.state is State.ESTABLISHED)
    assert server.stats["cookies_accepted"] == 1
    [half] = listener.half_open
    accepted = listener.accept()
    assert accepted is not None and accepted is not half and accepted.state is State.ESTABLISHED
    assert accepted._peer_mss == 1400 and not accepted._ts_ok and not accepted._wscale_ok
    assert not conn._ts_ok and not conn._wscale_ok  # both sides agree on what is in use
    conn.send(b"y" * 20000)
    net.run_until(lambda: data_of(events.get(conn, [])) == b"y" * 20000,
                  between=lambda: (echo(server), collect(client, events)))


@pytest.mark.parametrize("mss", [100, 536, 1300, 1460, 9000])
def test_the_cookie_names_the_largest_table_mss_not_above_the_peers(mss: int) -> None:
    cookies = SynCookies(SECRET)
    cookie = cookies.make(10.0, (SERVER_IP, 80), (CLIENT_IP, 1), 77, mss)
    expected = max([v for v in MSS_TABLE if v <= mss], default=MSS_TABLE[0])
    assert cookies.check(10.0, (SERVER_IP, 80), (CLIENT_IP, 1), 77, cookie) == expected


def test_cookies_expire_and_bind_to_their_connection() -> None:
    cookies = SynCookies(SECRET)
    local, remote = (SERVER_IP, 80), (CLIENT_IP, 1)
    cookie = cookies.make(PERIOD * 5 + 1, local, remote, 77, 1460)
    assert cookies.check(PERIOD * 6 + 1, local, remote, 77, cookie) == 1460  # the next period
    assert cookies.check(PERIOD * 7 + 1, local, remote, 77, cookie) is None  # too old
    assert cookies.check(PERIOD * 5 + 1, local, (CLIENT_IP, 2), 77, cookie) is None
    assert cookies.check(PERIOD * 5 + 1, local, remote, 78, cookie) is None
    assert cookies.check(PERIOD * 5 + 1, local, remote, 77, cookie ^ (1 << 24)) is None


def test_a_forged_or_stale_cookie_ack_gets_rst() -> None:
    host = Host([SERVER_IP], config=CONFIG, secret=SECRET)
    host.listen(("", 80), backlog=1)
    host.receive(syn(src_port=1), 0.0, src=CLIENT_IP, dst=SERVER_IP)
    host.receive(syn(src_port=2, seq=50), 0.0, src=CLIENT_IP, dst=SERVER_IP)
    cookie = host.segments_to_send(0.0)[0].segment.seq
    for ack, now in ((cookie + 2, 0.0), (cookie + 1, 3 * PERIOD)):
        host.receive(syn(src_port=2, flags=ACK, seq=51, ack=ack), now, src=CLIENT_IP, dst=SERVER_IP)
        [answer] = host.segments_to_send(now)
        assert answer.segment.flags == Flags(RST) and answer.segment.seq == ack
    assert len(host.connections) == 1 and host.stats["cookies_accepted"] == 0


def test_cookie_handshakes_stop_at_a_full_accept_queue() -> None:
    host = Host([SERVER_IP], config=CONFIG, secret=SECRET)
    listener = host.listen(("", 80), backlog=1)
    host.receive(syn(src_port=1), 0.0, src=CLIENT_IP, dst=SERVER_IP)
    for port in (2, 3):
        host.receive(syn(src_port=port, seq=50), 0.0, src=CLIENT_IP, dst=SERVER_IP)
    cookies = [d.segment.seq for d in host.segments_to_send(0.0)[:2]]
    for port, cookie in zip((2, 3), cookies):
        host.receive(syn(src_port=port, flags=ACK, seq=51, ack=cookie + 1), 0.0, src=CLIENT_IP,
                     dst=SERVER_IP)
    assert listener.queued == 1 and host.stats["cookies_accepted"] == 1
    assert host.dropped["accept queue full: handshake by cookie dropped"] == 1
    assert host.segments_to_send(0.0) == []


def test_datagram_and_default_mss() -> None:
    host = Host(["fd00::2"], config=CONFIG, secret=SECRET)
    host.listen(("", 80), backlog=1)
    bare = Segment(src_port=5, dst_port=80, seq=1, flags=SYN, window=1000)
    host.receive(bare, 0.0, src="fd00::9", dst="fd00::2")
    host.receive(bare.replace(src_port=6), 0.0, src="fd00::9", dst="fd00::2")
    answer = host.segments_to_send(0.0)[0]
    assert isinstance(answer, Datagram) and answer.dst == "fd00::9"
    assert cookie_mss(answer.segment.seq) == 1220  # no MSS option: the IPv6 minimum (RFC 8200 §5)


def test_a_port_closed_by_the_caller_is_free_again_at_once() -> None:
    host = Host([CLIENT_IP], config=CONFIG, ephemeral=(50000, 50000))
    first = host.connect((SERVER_IP, 80), 0.0)
    first.abort(0.0)  # CLOSED, its RST not yet taken
    second = host.connect((SERVER_IP, 80), 0.0)
    assert second.local == first.local and host.connections == [second]
    out = host.segments_to_send(0.0)
    assert [d.segment.flags for d in out] == [Flags(SYN)]  # SYN-SENT aborts without RST
    assert host.connections == [second]


# ------------------------------------------------------------ work in proportion to what ran


def test_output_and_timers_visit_only_the_connections_that_ran(
        monkeypatch: pytest.MonkeyPatch) -> None:
    net, client, server = pair()
    conns = [client.connect((SERVER_IP, 80), 0.0) for _ in range(40)]
    net.settle()
    while net.advance(net.now + 1.0):  # delayed ACKs and the like, until all is quiet
        net.settle()
    visits: List[Connection] = []
    for name in ("segments_to_send", "handle_timeout"):
        original = getattr(Connection, name)

        def counted(self: Connection, now: float, *args: object, __original=original,
                    **kwargs: object) -> object:
            visits.append(self)
            return __original(self, now, *args, **kwargs)

        monkeypatch.setattr(Connection, name, counted)
    [peer] = [c for c in server.connections if c.remote == conns[7].local]
    assert conns[7].send(b"x" * 100) == 100  # the caller sends: nothing else ran
    net.settle()
    assert net.advance(net.now + 1.0)  # the peer's delayed ACK
    net.settle()
    assert visits and set(visits) == {conns[7], peer}
    assert data_of([e for c, e in iter(server.next_event, None) if c is peer]) == b"x" * 100
    visits.clear()
    assert peer.next_event() is None and server.segments_to_send(net.now) == []
    assert visits == []


def test_reading_a_full_window_sends_the_window_update_at_once() -> None:
    net, client, server = pair()
    conn = client.connect((SERVER_IP, 80), 0.0)
    net.settle()
    [accepted] = server.connections
    sent = conn.send(b"y" * CONFIG.receive_buffer * 2)
    for _ in range(50):
        net.settle()
        if not net.advance(net.now + 0.1):
            break
    assert accepted.rcv_wnd == 0 and server.segments_to_send(net.now) == []
    while (tagged := server.next_event()) is not None and not isinstance(tagged.event, DataReceived):
        pass
    [update] = server.segments_to_send(net.now)  # no timer needed for it
    assert update.segment.window > 0 and sent == CONFIG.send_buffer


def test_a_held_connection_keeps_its_data_and_its_window_closes() -> None:
    net, client, server = pair()
    conns = [client.connect((SERVER_IP, 80), 0.0) for _ in range(2)]
    net.settle()
    collect(server, {})
    slow, fast = (next(c for c in server.connections if c.remote == conn.local) for conn in conns)
    server.hold(slow)
    for conn in conns:
        conn.send(b"z" * CONFIG.send_buffer)
    for _ in range(40):
        net.settle()
        net.advance(net.now + 0.5)
    events: Dict[Connection, List[object]] = {}
    collect(server, events)
    assert slow not in events and data_of(events[fast]) == b"z" * CONFIG.send_buffer
    assert slow.rcv_wnd == 0  # the unread data closed its window
    server.release(slow)
    collect(server, events)
    assert data_of(events[slow]) == b"z" * CONFIG.receive_buffer


def test_a_cookie_acked_after_its_syn_came_again_completes_the_handshake() -> None:
    host = Host([SERVER_IP], config=CONFIG, secret=SECRET)
    listener = host.listen(("", 80), backlog=1)
    host.receive(syn(src_port=1, seq=7), 0.0, src=CLIENT_IP, dst=SERVER_IP)  # fills the backlog
    host.receive(syn(src_port=2, seq=50), 0.0, src=CLIENT_IP, dst=SERVER_IP)
    [cookie] = [d.segment.seq for d in host.segments_to_send(0.0) if d.segment.dst_port == 2]
    host.receive(syn(src_port=1, flags=RST, seq=8), 0.1, src=CLIENT_IP, dst=SERVER_IP)
    assert not listener.half_open  # room again: the SYN sent again gets a connection
    host.receive(syn(src_port=2, seq=50), 1.0, src=CLIENT_IP, dst=SERVER_IP)
    [synack] = host.segments_to_send(1.0)
    assert synack.segment.seq != cookie and listener.half_open
    # the peer had taken the cookie's SYN,ACK: its ACK completes the handshake by the cookie
    host.receive(syn(src_port=2, flags=ACK, seq=51, ack=cookie + 1), 1.0, src=CLIENT_IP,
                 dst=SERVER_IP)
    assert host.segments_to_send(1.0) == [] and host.stats["cookies_accepted"] == 1
    [conn] = host.connections
    assert listener.accept() is conn and conn.state is State.ESTABLISHED and not listener.half_open
