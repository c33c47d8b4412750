"""Hypothesis stateful test: two Connections over a link that loses, duplicates, reorders and delays.

Whatever the link does, no call raises, states stay legal, each side only ever
delivers a prefix of what the other sent, and once the link turns reliable
both sides end with exactly the bytes sent, in order.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import fastseg
from fastseg import Segment
from fastseg.conn import Config, Connection, DataReceived, State

CONFIG = Config(msl=1.0, rto_initial=0.5, rto_min=0.2, rto_max=4.0, retries=60, syn_retries=60,
                receive_buffer=8192, send_buffer=16384, mss=600)
A, B = ("10.1.0.1", 1111), ("10.1.0.2", 2222)


class TwoConnections(RuleBasedStateMachine):
    @initialize(iss_a=st.integers(2**32 - 3000, 2**32 - 1), iss_b=st.integers(0, 2**32 - 1),
                simultaneous=st.booleans(), prediction=st.booleans())
    def start(self, iss_a: int, iss_b: int, simultaneous: bool, prediction: bool) -> None:
        self.a = Connection(A, B, config=CONFIG, iss=iss_a)
        self.b = Connection(B, A if simultaneous else None, config=CONFIG, iss=iss_b)
        self.a.header_prediction = self.b.header_prediction = prediction  # both arrival paths
        self.now = 0.0
        self.flight: list[tuple[Connection, bytes]] = []  # (receiver, wire bytes)
        self.sent = {id(self.a): bytearray(), id(self.b): bytearray()}
        self.got = {id(self.a): bytearray(), id(self.b): bytearray()}
        self.closed: set[int] = set()
        if simultaneous:
            self.b.connect(self.now)
        else:
            self.b.listen()
        self.a.connect(self.now)

    def _peer(self, conn: Connection) -> Connection:
        return self.b if conn is self.a else self.a

    def _collect(self) -> None:
        for conn in (self.a, self.b):
            for segment in conn.segments_to_send(self.now):
                receiver = self._peer(conn)
                raw = fastseg.pack(segment, src=conn.local[0], dst=receiver.local[0])
                self.flight.append((receiver, raw))

    def _read(self) -> None:
        for conn in (self.a, self.b):
            while (event := conn.next_event()) is not None:
                if isinstance(event, DataReceived):
                    self.got[id(conn)] += event.data

    def _deliver(self, index: int) -> None:
        receiver, raw = self.flight.pop(index)
        sender = self._peer(receiver)
        assert fastseg.verify_checksum(sender.local[0], receiver.local[0], raw)
        receiver.receive(fastseg.unpack(raw), self.now, remote_ip=sender.local[0])

    @rule(side=st.booleans(), data=st.binary(min_size=1, max_size=3000))
    def send(self, side: bool, data: bytes) -> None:
        conn = self.a if side else self.b
        if conn.state in (State.CLOSED, State.LISTEN) or id(conn) in self.closed:
            return
        taken = conn.send(data)
        self.sent[id(conn)] += data[:taken]

    @rule()
    def transmit(self) -> None:
        self._collect()

    @precondition(lambda self: self.flight)
    @rule(pick=st.integers(0, 10**6))
    def deliver(self, pick: int) -> None:
        self._deliver(pick % len(self.flight))  # any in-flight segment: reordering

    @precondition(lambda self: self.flight)
    @rule(pick=st.integers(0, 10**6))
    def duplicate(self, pick: int) -> None:
        self.flight.append(self.flight[pick % len(self.flight)])

    @precondition(lambda self: self.flight)
    @rule(pick=st.integers(0, 10**6))
    def lose(self, pick: int) -> None:
        self.flight.pop(pick % len(self.flight))

    @rule(step=st.floats(0.0, 3.0))
    def wait(self, step: float) -> None:
        self.now += step
        self.a.handle_timeout(self.now)
        self.b.handle_timeout(self.now)

    @rule()
    def read(self) -> None:
        self._read()

    @rule(side=st.booleans())
    def close(self, side: bool) -> None:
        conn = self.a if side else self.b
        if conn.state in (State.ESTABLISHED, State.CLOSE_WAIT) and id(conn) not in self.closed:
            conn.close(self.now)
            self.closed.add(id(conn))

    @invariant()
    def legal_and_prefix(self) -> None:
        if not hasattr(self, "a"):
            return
        for conn in (self.a, self.b):
            assert isinstance(conn.state, State)
            assert all(isinstance(state, State) for state in conn.history)
            got, sent = self.got[id(conn)], self.sent[id(self._peer(conn))]
            assert sent[: len(got)] == got

    def teardown(self) -> None:
        """Turn the link reliable and in order; every byte sent must then arrive."""
        if not hasattr(self, "a"):
            return
        for _ in range(20_000):
            self._collect()
            while self.flight:
                self._deliver(0)
                self._collect()
            self._read()
            complete = all(self.got[id(c)] == self.sent[id(self._peer(c))] for c in (self.a, self.b))
            synced = all(c.state.synchronized or c.state is State.CLOSED for c in (self.a, self.b))
            acked = all(c.snd_una == c.snd_nxt for c in (self.a, self.b) if c.state.synchronized)
            if complete and synced and acked and not self.flight:
                break
            deadlines = [d for d in (self.a.next_deadline(), self.b.next_deadline()) if d is not None]
            assert deadlines, f"stalled in {self.a.state} / {self.b.state}"
            self.now = max(self.now, min(deadlines))
            self.a.handle_timeout(self.now)
            self.b.handle_timeout(self.now)
        for conn in (self.a, self.b):
            assert self.got[id(conn)] == self.sent[id(self._peer(conn))]
            assert not conn.state.synchronized or conn.snd_una == conn.snd_nxt


TwoConnections.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
test_two_connections = TwoConnections.TestCase


def test_segment_type_is_the_codecs() -> None:
    """The state machine only ever emits the codec's own Segment type."""
    conn = Connection(A, B, config=CONFIG, iss=1)
    conn.connect(0.0)
    assert all(type(segment) is Segment for segment in conn.segments_to_send(0.0))
