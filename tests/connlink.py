"""Test helpers for fastseg.conn: a wire between two Connections and builders of each state."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable, List, Optional, Tuple

from fastseg import Segment
from fastseg.conn import Config, Connection, DataReceived, Event, State

CLIENT, SERVER = ("10.0.0.1", 40000), ("10.0.0.2", 80)
# ISNs just below the wrap, so every exchange crosses 2**32 -> 0.
CLIENT_ISS, SERVER_ISS = 2**32 - 3, 2**32 - 1000
CONFIG = Config(msl=2.0, rto_initial=1.0, rto_min=0.2, syn_retries=3, retries=4, delayed_ack=0.04)


def drain(conn: Connection) -> List[Event]:
    """Every event the connection has ready."""
    events = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    return events


def received(events: List[Event]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, DataReceived))


@dataclass
class Link:
    """Moves segments between two connections through a real pack/unpack of the given codec.

    ``drop`` decides per segment (sender, segment) whether it is lost.
    """

    impl: SimpleNamespace
    a: Connection
    b: Connection
    now: float = 0.0
    drop: Callable[[Connection, Segment], bool] = lambda sender, segment: False
    log: List[Tuple[str, Segment]] = field(default_factory=list)

    def peer(self, conn: Connection) -> Connection:
        return self.b if conn is self.a else self.a

    def wire(self, sender: Connection, segment: Segment) -> Segment:
        """The segment as the peer sees it after encoding with a checksum and decoding."""
        receiver = self.peer(sender)
        raw = self.impl.pack(segment, src=sender.local[0], dst=receiver.local[0])
        assert self.impl.verify_checksum(sender.local[0], receiver.local[0], raw)
        return self.impl.unpack(raw)

    def deliver(self, sender: Connection, segment: Segment) -> None:
        self.peer(sender).receive(self.wire(sender, segment), self.now, remote_ip=sender.local[0])

    def step(self) -> int:
        """Send what both sides have due now; return how many segments moved."""
        moved = 0
        for sender in (self.a, self.b):
            for segment in sender.segments_to_send(self.now):
                self.log.append((sender.local[0], segment))
                moved += 1
                if not self.drop(sender, segment):
                    self.deliver(sender, segment)
        return moved

    def settle(self, limit: int = 10_000) -> None:
        """Exchange segments until both sides fall quiet (timers are not run)."""
        for _ in range(limit):
            if not self.step():
                return
        raise AssertionError("link never settled")

    def run_until(self, done: Callable[[], bool], horizon: float = 600.0) -> None:
        """Exchange segments and fire timers (advancing the clock) until ``done()``."""
        for _ in range(100_000):
            self.settle()
            if done():
                return
            deadlines = [d for d in (self.a.next_deadline(), self.b.next_deadline()) if d is not None]
            if not deadlines or min(deadlines) > horizon:
                raise AssertionError(f"stuck: {self.a.state} / {self.b.state} at {self.now}")
            self.now = max(self.now, min(deadlines))
            self.a.handle_timeout(self.now)
            self.b.handle_timeout(self.now)
        raise AssertionError("run_until did not finish")


def pair(impl: SimpleNamespace, config: Config = CONFIG) -> Link:
    client = Connection(CLIENT, SERVER, config=config, iss=CLIENT_ISS)
    server = Connection(SERVER, config=config, iss=SERVER_ISS)
    server.listen()
    return Link(impl, client, server)


def established(impl: SimpleNamespace, config: Config = CONFIG) -> Link:
    link = pair(impl, config)
    link.a.connect(link.now)
    link.settle()
    assert link.a.state is State.ESTABLISHED and link.b.state is State.ESTABLISHED
    drain(link.a)
    drain(link.b)
    return link


def in_state(impl: SimpleNamespace, state: State) -> Tuple[Link, Connection]:
    """A link with one of its connections in ``state`` (the other is its peer)."""
    if state is State.LISTEN:
        link = pair(impl)
        return link, link.b
    if state is State.SYN_SENT:
        link = pair(impl)
        link.a.connect(0.0)
        return link, link.a
    if state is State.SYN_RECEIVED:
        link = pair(impl)
        link.a.connect(0.0)
        link.deliver(link.a, link.a.segments_to_send(0.0)[0])
        return link, link.b
    link = established(impl)
    client, server = link.a, link.b
    if state is State.ESTABLISHED:
        return link, client
    if state in (State.FIN_WAIT_1, State.CLOSING):
        client.close(link.now)
        client.segments_to_send(link.now)  # the FIN is on its way (never delivered here)
        if state is State.CLOSING:
            server.close(link.now)
            link.deliver(server, server.segments_to_send(link.now)[0])  # FINs cross
        return link, client
    client.close(link.now)
    link.settle()
    if state is State.FIN_WAIT_2:
        return link, client
    if state is State.CLOSE_WAIT:
        return link, server
    server.close(link.now)
    if state is State.LAST_ACK:
        server.segments_to_send(link.now)  # the FIN is lost
        return link, server
    link.settle()
    assert state is State.TIME_WAIT
    return link, client


def reset_for(link: Link, victim: Connection, seq: Optional[int] = None) -> Segment:
    """A RST as the victim's peer would send it, at the victim's RCV.NXT unless ``seq`` says."""
    sender = link.peer(victim)
    return Segment(src_port=sender.local[1], dst_port=victim.local[1],
                   seq=victim.rcv_nxt if seq is None else seq, flags=0x04, window=0)


def lossy(rng: random.Random, rate: float) -> Callable[[Connection, Segment], bool]:
    return lambda sender, segment: rng.random() < rate
