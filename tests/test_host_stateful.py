"""Hypothesis stateful test: two Hosts over a lossy, duplicating, reordering link, with many
connections opening, sending, closing and aborting; every byte of a clean connection comes
back, and the hosts forget every connection once it is CLOSED."""

from __future__ import annotations

from typing import Dict, List

from hostlink import CONFIG, Net
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from test_host import echo

from fastseg.conn import (
    Closed,
    Connected,
    Connection,
    ConnectionReset,
    ConnectionTimedOut,
    DataReceived,
    Host,
    State,
)

CLIENT_IPS, SERVER_IP = ("10.0.0.1", "10.0.0.3"), "10.0.0.2"
MAX_OPEN = 12


class HostPair(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.client = Host(CLIENT_IPS, config=CONFIG, secret=b"c", ephemeral=(50000, 50007))
        self.server = Host([SERVER_IP], config=CONFIG, secret=b"s")
        self.server.listen(("", 7), backlog=3)  # small: cookies take part too
        self.net = Net({ip: self.client for ip in CLIENT_IPS} | {SERVER_IP: self.server})
        self.fates: List[int] = []
        self.net.fate = self.fate
        self.sent: Dict[Connection, bytes] = {}
        self.events: Dict[Connection, List[object]] = {}
        self.opened = 0

    def fate(self, datagram: object) -> int:
        return self.fates.pop() if self.fates else 1

    def pump(self) -> None:
        echo(self.server)
        while (tagged := self.client.next_event()) is not None:
            self.events.setdefault(tagged.connection, []).append(tagged.event)
            if isinstance(tagged.event, Connected) and tagged.connection.state is State.ESTABLISHED:
                tagged.connection.close(self.net.now)  # behind the data: close() in SYN-SENT discards

    @rule(size=st.integers(0, 6000), local=st.sampled_from(CLIENT_IPS), seed=st.integers(0, 255))
    def open(self, size: int, local: str, seed: int) -> None:
        if self.opened >= MAX_OPEN or len(self.client.connections) >= 8:
            return
        data = bytes((seed + i) & 0xFF for i in range(size))
        conn = self.client.connect((SERVER_IP, 7), self.net.now, local=(local, 0))
        assert conn.send(data) == size
        self.sent[conn] = data
        self.opened += 1

    @rule(fates=st.lists(st.sampled_from([0, 1, 1, 1, 2, -1]), max_size=20))
    def exchange(self, fates: List[int]) -> None:
        self.fates = fates
        self.net.step()
        self.pump()
        self.fates = []

    @rule()
    def tick(self) -> None:
        self.net.advance(self.net.now + 1000)
        self.pump()

    @rule(index=st.integers(0, MAX_OPEN))
    def abort(self, index: int) -> None:
        live = [c for c in self.sent if c.state is not State.CLOSED]
        if live:
            live[index % len(live)].abort(self.net.now)

    @invariant()
    def tables_hold_only_live_connections(self) -> None:
        for host in (self.client, self.server):
            assert len(host._table) == len(host._keys)
            assert all(c.state is not State.CLOSED for c in host.connections)
            deadlines = [d for d in (c.next_deadline() for c in host.connections) if d is not None]
            assert host.next_deadline() == min(deadlines, default=None)  # the heap keeps up
        assert len(self.client.connections) <= MAX_OPEN
        [listener] = self.server.listeners
        assert len(listener.half_open) <= listener.backlog
        assert len(self.server.connections) <= MAX_OPEN + listener.backlog

    def client_settled(self) -> bool:
        """No client connection left but ones in FIN-WAIT-2 whose server side is gone."""
        served = {(c.remote, c.local) for c in self.server.connections}
        return all(c.state is State.FIN_WAIT_2 and (c.local, c.remote) not in served
                   for c in self.client.connections)

    def teardown(self) -> None:
        self.net.fate = lambda datagram: 1
        self.net.held.clear()
        self.net.run_until(self.client_settled, horizon=self.net.now + 3600, between=self.pump)
        for conn in self.client.connections:
            # FIN-WAIT-2 has no timer (RFC 9293): when the server gave up on its FIN (its
            # retransmissions ran out while timers fired without the link moving), the
            # client would wait for it forever; the application ends it, as Linux's
            # tcp_fin_timeout would
            conn.abort(self.net.now)
        self.net.run_until(lambda: not self.client.connections, horizon=self.net.now + 3600,
                           between=self.pump)
        for conn in self.server.connections:  # idle, their peer gone: no keepalive tells them
            if conn.state in (State.ESTABLISHED, State.CLOSE_WAIT):
                conn.close(self.net.now)  # the client host answers the FIN with RST
        self.net.run_until(lambda: not self.server.connections, horizon=self.net.now + 3600,
                           between=self.pump)
        self.pump()
        for conn, data in self.sent.items():
            events = self.events.get(conn, [])
            assert events and isinstance(events[-1], Closed)
            if not any(isinstance(e, (ConnectionReset, ConnectionTimedOut)) for e in events) \
                    and conn.history[-2] is State.TIME_WAIT:
                assert b"".join(e.data for e in events if isinstance(e, DataReceived)) == data
        for host in (self.client, self.server):
            assert host.next_event() is None and not host._counted and not host._passive
            host.segments_to_send(self.net.now)
            assert not host._touched and not host._table and not host._deadline


HostPair.TestCase.settings = settings(
    max_examples=40, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_host_pair = HostPair.TestCase
