"""A :class:`~fastseg.conn.Host` running over a :class:`~fastseg.net.TunDevice` (or any
:class:`PacketDevice`)."""

from __future__ import annotations

import select
import time
from typing import Callable, Dict, Optional, Protocol, Tuple

from fastseg.conn.bits import RST
from fastseg.conn.host import Datagram, Host
from fastseg.net.framing import Framing
from fastseg.net.impair import Impairment, ImpairmentSpec
from fastseg.seq import seq_add, seq_gt, seq_lt

__all__ = ["PacketDevice", "Stack"]

#: Packets read from the device per poll at most, so output is never starved.
READ_BATCH = 512


class PacketDevice(Protocol):
    """What a stack needs of a device: IP packets in and out, non-blocking, and a descriptor
    to wait on.  :class:`~fastseg.net.TunDevice` is one."""

    def fileno(self) -> int: ...

    def read(self) -> Optional[bytes]:
        """One IP packet, or None when none is waiting."""

    def write(self, packet: bytes) -> bool:
        """Send one IP packet; False when it was dropped (queue full)."""


class Stack:
    """Feeds ``host`` from ``tun`` and writes its output back, impaired per ``impair``.

    ``poll(timeout)`` does one round and returns; the caller runs its own
    logic (accepting, reading events, sending) between rounds.  ``clock`` is
    where ``now`` comes from (seconds, never going back).
    """

    def __init__(self, host: Host, tun: PacketDevice, *, impair: Optional[ImpairmentSpec] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.host, self.tun, self.clock = host, tun, clock
        self.framing = Framing()
        self.inbound = Impairment(impair, 0) if impair is not None else None
        self.outbound = Impairment(impair, 1) if impair is not None else None
        self.packets_in = self.packets_out = 0
        #: Segments with data or FIN sent again (seen here: they start below the highest
        #: sequence number already sent on their 4-tuple).
        self.retransmissions = 0
        self._sent_up_to: Dict[Tuple[str, str, int, int], int] = {}

    def next_wakeup(self) -> Optional[float]:
        """The earliest host deadline or impaired packet due, or None."""
        times = [t for t in (self.host.next_deadline(),
                             self.inbound.next_due() if self.inbound else None,
                             self.outbound.next_due() if self.outbound else None) if t is not None]
        return min(times, default=None)

    def poll(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds (less when something is due) and do what is due."""
        wakeup = self.next_wakeup()
        now = self.clock()
        wait = timeout if wakeup is None else min(timeout, max(0.0, wakeup - now))
        select.select([self.tun], [], [], wait)
        self.pump(self.clock())

    def pump(self, now: float) -> None:
        """Without waiting: take what the device holds (a batch), deliver what is due, flush."""
        for _ in range(READ_BATCH):
            packet = self.tun.read()
            if packet is None:
                break
            self.packets_in += 1
            if self.inbound is not None:
                self.inbound.push(packet, now)
            else:
                self._deliver(packet, now)
        if self.inbound is not None:
            for packet in self.inbound.due(now):
                self._deliver(packet, now)
        self.flush(now)

    def flush(self, now: Optional[float] = None) -> None:
        """Run due timers and write everything the host has to send."""
        now = self.clock() if now is None else now
        deadline = self.host.next_deadline()
        if deadline is not None and deadline <= now:
            self.host.handle_timeout(now)
        for datagram in self.host.segments_to_send(now):
            self._count(datagram)
            packet = self.framing.frame(datagram)
            if self.outbound is not None:
                self.outbound.push(packet, now)
            else:
                self._write(packet)
        if self.outbound is not None:
            for packet in self.outbound.due(now):
                self._write(packet)

    def _count(self, datagram: Datagram) -> None:
        segment = datagram.segment
        length = segment.seg_len
        if not length or int(segment.flags) & RST:
            return
        key = (datagram.src, datagram.dst, segment.src_port, segment.dst_port)
        sent = self._sent_up_to.get(key)
        end = seq_add(segment.seq, length)
        if sent is not None and seq_lt(segment.seq, sent):
            self.retransmissions += 1
        if sent is None or seq_gt(end, sent):
            self._sent_up_to[key] = end
        if len(self._sent_up_to) > 2 * len(self.host.connections) + 64:  # forget the gone
            live = {(c.local[0], c.remote[0], c.local[1], c.remote[1])
                    for c in self.host.connections if c.remote is not None}
            self._sent_up_to = {k: v for k, v in self._sent_up_to.items() if k in live}

    def _deliver(self, packet: bytes, now: float) -> None:
        arrival = self.framing.parse(packet)
        if arrival is not None:
            self.host.receive(arrival.segment, now, src=arrival.src, dst=arrival.dst,
                              ecn=arrival.ecn)

    def _write(self, packet: bytes) -> None:
        if self.tun.write(packet):
            self.packets_out += 1
        else:
            self.framing.dropped["device queue full"] += 1
