"""A deterministic network between two Connections, in virtual time.

Each direction is a :class:`Path`: a queue in front of a link of a given rate
(drop-tail beyond ``queue`` packets waiting), then ``delay`` of propagation,
with seeded random loss, duplication and reordering (a reordered packet
arrives ``reorder_delay`` late), and ``drop`` to lose chosen packets exactly.
A router's congestion mark is ``mark``: it sets CE on chosen ECN-capable packets
(RFC 3168 §5), whose codepoint the sender gives (``Connection.codepoint``).
Every segment is packed with its checksum and unpacked by the codec twin under
test, as on a real wire.  :class:`Network` runs the two connections and an
application callback until a condition holds, jumping the clock from one
arrival or timer to the next, and keeps a trace of what each side sent and
what happened to it, for tests that assert behaviour (which recovery fired,
cwnd and ssthresh over time) rather than only the bytes delivered.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional, Tuple

from fastseg import Segment
from fastseg.conn import Connection
from fastseg.conn.ecn import CE, NOT_ECT
from fastseg.conn.timers import Timer

#: The fates of a sent segment in the trace.
DELIVERED, LOST, QUEUE_DROP, DUPLICATED = "delivered", "lost", "queue-drop", "duplicated"
#: IPv4 header bytes counted on the link beside the TCP segment.
IP_HEADER = 20


@dataclass
class Path:
    """One direction of the network.  ``drop(n, segment)`` loses the n-th segment sent this
    way (counting from 0) when it returns True, before any random fate."""

    delay: float = 0.01
    rate: Optional[float] = None  # bytes per second; None: no serialization time
    queue: Optional[int] = None  # packets that may wait for the link; None: unbounded
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.005
    drop: Optional[Callable[[int, Segment], bool]] = None
    mark: Optional[Callable[[int, Segment], bool]] = None  # CE on the n-th segment, if ECT
    sent: int = 0
    free_at: float = 0.0  # when the link has finished sending what is queued
    departures: List[float] = field(default_factory=list)


@dataclass
class Sent:
    """One segment a side put on the network, and what became of it."""

    time: float
    sender: Connection
    segment: Segment
    fate: str
    cwnd: int
    ssthresh: int
    received: int  # segments the sender had received before sending this one
    ecn: int = NOT_ECT  # the codepoint of its IP header on arrival (CE once marked)


class Network:
    """Two connections ``a`` and ``b`` joined by ``forward`` (a to b) and ``backward`` paths."""

    def __init__(self, impl: SimpleNamespace, a: Connection, b: Connection, *,
                 forward: Optional[Path] = None, backward: Optional[Path] = None,
                 seed: int = 0) -> None:
        self.impl, self.a, self.b = impl, a, b
        self.paths = {id(a): forward or Path(), id(b): backward or Path()}
        self.rng = random.Random(seed)
        self.now = 0.0
        self.trace: List[Sent] = []
        #: Per connection (by id), the segments it received, in order.
        self.received: Dict[int, List[Segment]] = {id(a): [], id(b): []}
        self.timeouts: List[Tuple[float, Connection, Timer]] = []
        self._arrivals: List[Tuple[float, int, Connection, bytes, str, int]] = []
        self._order = 0

    def peer(self, conn: Connection) -> Connection:
        return self.b if conn is self.a else self.a

    def sent_by(self, conn: Connection) -> List[Sent]:
        return [s for s in self.trace if s.sender is conn]

    def fired(self, conn: Connection, timer: Timer) -> List[float]:
        """When ``timer`` of ``conn`` went off."""
        return [t for t, c, kind in self.timeouts if c is conn and kind is timer]

    def _launch(self, sender: Connection, segment: Segment) -> None:
        path, receiver = self.paths[id(sender)], self.peer(sender)
        raw = self.impl.pack(segment, src=sender.local[0], dst=receiver.local[0])
        index, path.sent = path.sent, path.sent + 1
        fate = DELIVERED
        ecn = sender.codepoint(segment)
        if ecn != NOT_ECT and path.mark is not None and path.mark(index, segment):
            ecn = CE
        path.departures = [t for t in path.departures if t > self.now]
        if path.drop is not None and path.drop(index, segment):
            fate = LOST
        elif path.queue is not None and len(path.departures) > path.queue:
            fate = QUEUE_DROP
        elif self.rng.random() < path.loss:
            fate = LOST
        self.trace.append(Sent(self.now, sender, segment, fate, sender._cwnd, sender._ssthresh,
                               len(self.received[id(sender)]), ecn))
        if fate != DELIVERED:
            return
        start = max(self.now, path.free_at)
        done = start + ((len(raw) + IP_HEADER) / path.rate if path.rate else 0.0)
        path.free_at = done
        path.departures.append(done)
        arrival = done + path.delay
        if self.rng.random() < path.reorder:
            arrival += path.reorder_delay
        copies = 2 if self.rng.random() < path.duplicate else 1
        if copies == 2:
            self.trace[-1].fate = DUPLICATED
        for _ in range(copies):
            self._order += 1
            heapq.heappush(self._arrivals, (arrival, self._order, receiver, raw, sender.local[0],
                                            ecn))

    def _send_all(self) -> None:
        for sender in (self.a, self.b):
            for segment in sender.segments_to_send(self.now):
                self._launch(sender, segment)

    def run(self, done: Callable[[], bool], *, horizon: float = 600.0,
            app: Optional[Callable[[float], None]] = None, wake: Optional[float] = None,
            steps: int = 1_000_000) -> None:
        """Run until ``done()`` (AssertionError past ``horizon`` seconds or when nothing is
        left to happen).  ``app(now)`` runs after each arrival or timer, as the
        applications above the connections would (reading, writing, closing), and at
        ``wake`` if given (an application's own clock)."""
        for _ in range(steps):
            if app is not None:
                app(self.now)
            self._send_all()
            if done():
                return
            moments = [d for d in (self.a.next_deadline(), self.b.next_deadline()) if d is not None]
            if self._arrivals:
                moments.append(self._arrivals[0][0])
            if wake is not None and wake > self.now:
                moments.append(wake)
            if not moments:
                raise AssertionError(f"nothing left to happen at {self.now}: "
                                     f"{self.a.state} / {self.b.state}")
            self.now = max(self.now, min(moments))
            if self.now > horizon:
                raise AssertionError(f"not done within {horizon} s: {self.a.state} / {self.b.state}")
            while self._arrivals and self._arrivals[0][0] <= self.now:
                _, _, receiver, raw, src, ecn = heapq.heappop(self._arrivals)
                segment = self.impl.unpack(raw)
                self.received[id(receiver)].append(segment)
                receiver.receive(segment, self.now, remote_ip=src, ecn=ecn)
                self._send_all()  # what a host does after each arrival
            for conn in (self.a, self.b):
                deadline = conn.next_deadline()
                if deadline is not None and deadline <= self.now:
                    self.timeouts += [(self.now, conn, timer) for timer, when
                                      in sorted(conn._timers.items()) if when <= self.now]
                    conn.handle_timeout(self.now)
        raise AssertionError("the network ran out of steps")
