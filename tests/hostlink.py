"""Test helpers for fastseg.conn.Host: a network of hosts that moves datagrams through the codec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from fastseg import pack, unpack, verify_checksum
from fastseg.conn import Config, Datagram, Host
from fastseg.conn.ecn import CE, NOT_ECT

CONFIG = Config(msl=2.0, rto_initial=1.0, rto_min=0.2, syn_retries=3, retries=4,
                delayed_ack=0.04, receive_buffer=64 * 1024, send_buffer=64 * 1024)
#: What becomes of one datagram: how many copies arrive now (0 lost, 2 duplicated),
#: and whether it is held back to arrive after the next one (reordered).
Fate = Callable[[Datagram], int]


@dataclass
class Net:
    """Hosts by address; ``fate`` decides per datagram how many copies arrive (1 unless told);
    ``mark`` sets CE on the ECN-capable datagrams it returns True for (RFC 3168 §5)."""

    hosts: Dict[str, Host]
    now: float = 0.0
    fate: Fate = lambda datagram: 1
    mark: Callable[[Datagram], bool] = lambda datagram: False
    log: List[Datagram] = field(default_factory=list)
    held: List[Datagram] = field(default_factory=list)
    strays: List[Datagram] = field(default_factory=list)

    def deliver(self, datagram: Datagram) -> None:
        raw = pack(datagram.segment, src=datagram.src, dst=datagram.dst)
        assert verify_checksum(datagram.src, datagram.dst, raw)
        target = self.hosts.get(datagram.dst)
        if target is None:
            self.strays.append(datagram)
        else:
            ecn = CE if datagram.ecn != NOT_ECT and self.mark(datagram) else datagram.ecn
            target.receive(unpack(raw), self.now, src=datagram.src, dst=datagram.dst, ecn=ecn)

    def step(self) -> int:
        """Move what every host has due now; return how many datagrams moved."""
        moved = 0
        for host in list({id(h): h for h in self.hosts.values()}.values()):
            for datagram in host.segments_to_send(self.now):
                self.log.append(datagram)
                moved += 1
                copies = self.fate(datagram)
                if copies < 0:
                    self.held.append(datagram)
                    continue
                for _ in range(copies):
                    self.deliver(datagram)
                if copies:
                    held, self.held = self.held, []
                    for late in held:
                        self.deliver(late)
        return moved

    def settle(self, limit: int = 100_000) -> None:
        for _ in range(limit):
            if not self.step():
                held, self.held = self.held, []
                for late in held:
                    self.deliver(late)
                if not held:
                    return
        raise AssertionError("the network never settled")

    def advance(self, horizon: float) -> bool:
        """Fire the earliest timer (moving the clock); False when none is due by ``horizon``."""
        deadlines = [d for d in (h.next_deadline() for h in self.hosts.values()) if d is not None]
        if not deadlines or min(deadlines) > horizon:
            return False
        self.now = max(self.now, min(deadlines))
        for host in self.hosts.values():
            host.handle_timeout(self.now)
        return True

    def run_until(self, done: Callable[[], bool], horizon: float = 600.0,
                  between: Optional[Callable[[], None]] = None) -> None:
        for _ in range(100_000):
            self.settle()
            if between is not None:
                between()
                while self.step():  # what the callback sent, and the answers to it
                    self.settle()
                    between()
            if done():
                return
            if not self.advance(horizon):
                raise AssertionError(f"stuck at {self.now}")
        raise AssertionError("run_until did not finish")
