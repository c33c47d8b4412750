"""Planted defects: fastseg's Host, each wrapper breaking one rule that `fastseg fuzz live` checks.

Every class is a factory as ``--target MODULE:FACTORY`` takes it (called
with the target's addresses).  :data:`PLANTED` maps each to the oracle that
must catch it.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set

from fastseg import Flags, OptionKind, Segment, seq_add, seq_diff, seq_in_window
from fastseg.conn import Connection, Datagram, Host, State

_ACK, _RST, _SYN, _FIN, _URG = (int(f) for f in (Flags.ACK, Flags.RST, Flags.SYN, Flags.FIN, Flags.URG))


class _Planted(Host):
    """A Host with a hook on each arriving segment and on what it sends."""

    def _find(self, segment: Segment, src: object) -> Optional[Connection]:
        for conn in self.connections:
            if conn.remote == (str(src), segment.src_port) and conn.local[1] == segment.dst_port:
                return conn
        return None

    def receive(self, segment: Segment, now: float, *, src: object, dst: object) -> None:
        changed = self.arriving(segment, self._find(segment, src), now)
        if changed is not None:
            super().receive(changed, now, src=src, dst=dst)  # type: ignore[arg-type]

    def arriving(self, segment: Segment, conn: Optional[Connection], now: float) -> Optional[Segment]:
        return segment


def _in_window(segment: Segment, conn: Connection) -> bool:
    return seq_in_window(segment.seq, conn.rcv_nxt, max(conn.rcv_wnd, 1))


class AcceptsAnyInWindowRst(_Planted):
    """An in-window RST resets the connection (no RFC 5961 exact-match check)."""

    def arriving(self, segment: Segment, conn: Optional[Connection], now: float) -> Optional[Segment]:
        if conn is not None and int(segment.flags) & _RST and _in_window(segment, conn):
            return segment.replace(seq=conn.rcv_nxt)
        return segment


class NoChallengeAck(_Planted):
    """A RST or SYN in the window is dropped without the challenge ACK."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._mute: Set[int] = set()

    def arriving(self, segment: Segment, conn: Optional[Connection], now: float) -> Optional[Segment]:
        if conn is not None and conn.state.synchronized and int(segment.flags) & (_RST | _SYN):
            self._mute.add(segment.src_port)
        return segment

    def segments_to_send(self, now: float) -> List[Datagram]:
        out = super().segments_to_send(now)
        mute, self._mute = self._mute, set()
        return [d for d in out if not (d.segment.dst_port in mute and int(d.segment.flags) == _ACK
                                       and not d.segment.payload)]


class AcceptsOutOfWindowData(_Planted):
    """Data outside the receive window is taken in at RCV.NXT."""

    def arriving(self, segment: Segment, conn: Optional[Connection], now: float) -> Optional[Segment]:
        if conn is not None and conn.state is State.ESTABLISHED and segment.payload \
                and not _in_window(segment, conn):
            return segment.replace(seq=conn.rcv_nxt)
        return segment


class NoResetForClosedPort(_Planted):
    """A segment for a port with no connection and no listener is dropped silently."""

    def arriving(self, segment: Segment, conn: Optional[Connection], now: float) -> Optional[Segment]:
        listening = any(listener.address[1] == segment.dst_port for listener in self.listeners)
        return segment if conn is not None or listening else None


class RaisesOnOddOptionLength(_Planted):
    """An option whose raw bytes have an odd length raises."""

    def arriving(self, segment: Segment, conn: Optional[Connection], now: float) -> Optional[Segment]:
        for _, value in segment.options:
            if isinstance(value, (bytes, bytearray)) and len(value) % 2:
                raise ValueError(f"odd option length {len(value)}")
        return segment


class HangsAfterUrgentPastPayload(_Planted):
    """After an urgent pointer past the payload, the connection never answers again."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._dead: Set[int] = set()

    def arriving(self, segment: Segment, conn: Optional[Connection], now: float) -> Optional[Segment]:
        if int(segment.flags) & _URG and segment.urgent > len(segment.payload):
            self._dead.add(segment.src_port)
        return None if segment.src_port in self._dead else segment

    def segments_to_send(self, now: float) -> List[Datagram]:
        return [d for d in super().segments_to_send(now) if d.segment.dst_port not in self._dead]


class AcceptsUnsentAck(_Planted):
    """An ACK of data never sent is taken as an ACK of everything sent."""

    def arriving(self, segment: Segment, conn: Optional[Connection], now: float) -> Optional[Segment]:
        if conn is not None and conn.state.synchronized and int(segment.flags) & _ACK \
                and seq_diff(segment.ack, conn.snd_max) > 0:
            return segment.replace(ack=conn.snd_max)
        return segment


class NoAckForUnacceptable(_Planted):
    """A data segment outside the window is dropped without the ACK RFC 9293 asks for."""

    def arriving(self, segment: Segment, conn: Optional[Connection], now: float) -> Optional[Segment]:
        if conn is not None and conn.state.synchronized and segment.payload and not _in_window(segment, conn):
            return None
        return segment


class AnswersOutOfWindowRst(_Planted):
    """A RST outside the window is answered with an ACK."""

    def arriving(self, segment: Segment, conn: Optional[Connection], now: float) -> Optional[Segment]:
        if conn is not None and int(segment.flags) & _RST and not _in_window(segment, conn):
            self._outbox.append(Datagram(conn.local[0], conn.remote[0], Segment(
                src_port=conn.local[1], dst_port=conn.remote[1], seq=conn.snd_nxt, ack=conn.rcv_nxt,
                flags=Flags.ACK)))
        return segment


class SynResetsConnection(_Planted):
    """A SYN in a synchronized state resets the connection (RFC 793's rule, before RFC 5961)."""

    def arriving(self, segment: Segment, conn: Optional[Connection], now: float) -> Optional[Segment]:
        if conn is not None and conn.state.synchronized and int(segment.flags) & _SYN \
                and conn.state is not State.TIME_WAIT:
            conn.abort(now)
            return None
        return segment


class TimeWaitIgnoresFin(_Planted):
    """A FIN retransmitted into TIME-WAIT is not ACKed."""

    def arriving(self, segment: Segment, conn: Optional[Connection], now: float) -> Optional[Segment]:
        if conn is not None and conn.state is State.TIME_WAIT and int(segment.flags) & _FIN:
            return None
        return segment


class LeaksConnections(_Planted):
    """Closed connections are never let go."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._ever: Dict[int, Connection] = {}

    @property
    def connections(self) -> List[Connection]:
        for conn in super().connections:
            self._ever[id(conn)] = conn
        return list(self._ever.values())


class KeepsEverySegment(_Planted):
    """Every segment that arrives is kept for ever."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._log: List[Segment] = []

    def arriving(self, segment: Segment, conn: Optional[Connection], now: float) -> Optional[Segment]:
        self._log.append(segment)
        return segment


class SynAckTakesTwo(_Planted):
    """The SYN,ACK acknowledges the SYN's sequence number + 2."""

    def segments_to_send(self, now: float) -> List[Datagram]:
        return [d._replace(segment=d.segment.replace(ack=seq_add(d.segment.ack, 1)))
                if int(d.segment.flags) & (_SYN | _ACK) == _SYN | _ACK else d
                for d in super().segments_to_send(now)]


class ListenerDiesOnRst(_Planted):
    """A RST for the listener closes it."""

    def arriving(self, segment: Segment, conn: Optional[Connection], now: float) -> Optional[Segment]:
        if conn is None and int(segment.flags) & _RST:
            for listener in self.listeners:
                if listener.address[1] == segment.dst_port:
                    listener.close(now)
        return segment


class NoPaws(_Planted):
    """Timestamps older than the newest seen pass as the newest (no PAWS, RFC 7323 §5)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._newest: Dict[int, int] = {}

    def arriving(self, segment: Segment, conn: Optional[Connection], now: float) -> Optional[Segment]:
        stamps = segment.timestamps
        if stamps is None:
            return segment
        newest = self._newest.get(segment.src_port)
        if newest is None or seq_diff(stamps[0], newest) >= 0:
            self._newest[segment.src_port] = stamps[0]
            return segment
        options = tuple((kind, (newest, stamps[1]) if kind == OptionKind.TIMESTAMPS else value)
                        for kind, value in segment.options)
        return segment.replace(options=options)


#: Each planted defect and the oracle that must find it.
PLANTED = {
    AcceptsAnyInWindowRst: "rfc5961",
    NoChallengeAck: "rfc5961",
    AcceptsOutOfWindowData: "integrity",
    NoResetForClosedPort: "rfc9293",
    RaisesOnOddOptionLength: "crash",
    HangsAfterUrgentPastPayload: "integrity",
    AcceptsUnsentAck: "rfc5961",
    NoAckForUnacceptable: "rfc9293",
    AnswersOutOfWindowRst: "rfc9293",
    SynResetsConnection: "rfc5961",
    TimeWaitIgnoresFin: "rfc9293",
    LeaksConnections: "resources",
    KeepsEverySegment: "resources",
    SynAckTakesTwo: "rfc9293",
    ListenerDiesOnRst: "liveness",
    NoPaws: "integrity",
}
