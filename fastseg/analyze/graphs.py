"""The data behind the pictures of a connection: pure numbers, no drawing.

:func:`graphs_for_file` reads a capture once more, after :func:`fastseg.analyze.analyze_file`
(called with ``all_frames=True``), and gives, per connection and direction, what a
time-sequence (tcptrace/Stevens) graph, a throughput graph, an RTT graph and a bytes-in-flight
graph show.  The marks (retransmission, out_of_order, not_captured, zero_window, ...) are the
analysis' own anomaly frames, never worked out a second time; the raw values (time, sequence
and acknowledgment numbers, window, flags, SACK blocks, timestamps) are the segments' own.

Sequence numbers are relative to each direction's ISN (when its SYN was not captured, to one
below the first number seen, as in Wireshark) and unwrapped, so a connection that crosses 2**32
keeps climbing.  Lengths are the ones the IP header announces (a snap length cuts the capture,
not the segment).  Windows are scaled when both SYNs carried a window scale option.  Nothing
here is decimated: :func:`thin` picks what to draw when a direction holds more segments than a
picture can show.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from fastseg import capture
from fastseg.segment import Flags
from fastseg.seq import seq_diff

__all__ = ["ConnectionGraphs", "DirectionGraphs", "SegmentPoint", "graphs_for_file", "state_spans",
           "thin"]

#: Throughput is averaged over this many equal time bins per direction (fewer for few segments).
THROUGHPUT_BINS = 100
#: TSval values remembered per direction for RTT samples from the echo (oldest forgotten first).
_TS_REMEMBERED = 1 << 16

Key = Tuple[str, int, str, int]


@dataclass
class SegmentPoint:
    """One segment of a direction, as a time-sequence graph shows it."""

    frame: int
    time: float                     # seconds since the connection's first frame
    seq: int                        # relative, unwrapped
    length: int                     # sequence space: payload (announced) + SYN + FIN
    payload: int                    # payload bytes as the IP header announces them
    flags: str                      # "S", "F", "R" that apply, in that order ("" for none)
    marks: Tuple[str, ...]          # anomaly kinds the analysis gave this frame

    @property
    def end(self) -> int:
        """The relative sequence number just past this segment."""
        return self.seq + self.length


@dataclass
class AckPoint:
    """An acknowledgment from the receiver of a direction, in that direction's sequence space."""

    frame: int
    time: float
    ack: int                        # relative, unwrapped
    window_edge: int                # ack + the advertised window (scaled)
    window: int                     # the advertised window in bytes (scaled)
    sack: Tuple[Tuple[int, int], ...]  # SACK blocks, relative


@dataclass
class DirectionGraphs:
    """What one side sent (and what its peer acknowledged of it)."""

    sender: str                     # "client" or "server"
    source: str                     # "address port"
    destination: str
    base: Optional[int]             # the raw sequence number that is relative 0
    window_scaled: bool             # whether windows were scaled (both SYNs had the option)
    segments: List[SegmentPoint] = field(default_factory=list)
    acks: List[AckPoint] = field(default_factory=list)
    holes: List[Tuple[float, int, int]] = field(default_factory=list)  # (time, from, to) missing
    rtt: List[Tuple[float, float, str]] = field(default_factory=list)  # (time, seconds, "ack"|"ts")
    #: (time, bytes sent and neither cumulatively acknowledged nor SACKed), at each data segment
    in_flight: List[Tuple[float, int]] = field(default_factory=list)
    throughput: List[Tuple[float, float]] = field(default_factory=list)  # (bin start, bytes/s)

    def marked(self, kind: str) -> List[int]:
        """Frames of this direction's segments marked ``kind``."""
        return [p.frame for p in self.segments if kind in p.marks]


@dataclass
class ConnectionGraphs:
    """The graph data of one connection of the analysis."""

    id: int
    title: str
    duration: float
    #: Per side, the replica's state path as (seconds since the first frame, RFC state name)
    #: in the order entered (several may share a time: one frame can pass through some);
    #: None for a side whose opening was not seen.
    states: Dict[str, Optional[List[Tuple[float, str]]]]
    directions: Dict[str, DirectionGraphs]   # "client" (client to server) and "server"


class _Unwrap:
    """Relative, unwrapped sequence numbers from 32-bit ones, anchored at a base."""

    def __init__(self, base: int) -> None:
        self.base = base
        self._last_raw = base
        self._last = 0

    def __call__(self, raw: int) -> int:
        self._last += seq_diff(raw, self._last_raw)
        self._last_raw = raw
        return self._last


class _Scoreboard:
    """The SACKed ranges above the cumulative ACK (RFC 2018 §4, RFC 6675 §2's scoreboard):
    disjoint, sorted ``[left, right)`` pairs of relative sequence numbers."""

    def __init__(self) -> None:
        self.lefts: List[int] = []
        self.rights: List[int] = []

    def add(self, left: int, right: int) -> None:
        """Merge the block ``[left, right)`` in."""
        if right <= left:
            return
        first = bisect.bisect_left(self.rights, left)   # first range that may touch the block
        last = bisect.bisect_right(self.lefts, right)    # ranges from here on lie above it
        if first < last:
            left = min(left, self.lefts[first])
            right = max(right, self.rights[last - 1])
        self.lefts[first:last] = [left]
        self.rights[first:last] = [right]

    def trim(self, ack: int) -> None:
        """Forget what the cumulative ACK ``ack`` covers."""
        cut = bisect.bisect_right(self.rights, ack)
        del self.lefts[:cut], self.rights[:cut]
        if self.lefts and self.lefts[0] < ack:
            self.lefts[0] = ack

    def covers(self, left: int, right: int) -> bool:
        """Whether ``[left, right)`` was SACKed as a whole."""
        i = bisect.bisect_right(self.lefts, left) - 1
        return i >= 0 and self.rights[i] >= right

    def total(self) -> int:
        """The SACKed bytes."""
        return sum(self.rights) - sum(self.lefts)


class _Builder:
    """Turns the records of one direction (and its peer's ACKs) into a DirectionGraphs."""

    def __init__(self, graphs: DirectionGraphs, start: float, scale: int) -> None:
        self.g = graphs
        self.start = start
        self.scale = scale
        self.seq: Optional[_Unwrap] = None
        self.ack: Optional[_Unwrap] = None
        self.hi: Optional[int] = None                 # highest end sent
        self.acked: Optional[int] = None              # highest ack received
        self.timed: Deque[List[Any]] = deque()  # [start, end, send time, sent once]: new data
        self.tsvals: Dict[int, float] = {}
        self.sacked = _Scoreboard()

    def _anchor(self, raw: int, syn: bool) -> None:
        """Relative 0 is the ISN; without the SYN, one below the first number seen (as
        Wireshark does: the first byte seen is 1)."""
        if self.g.base is None:
            self.g.base = raw if syn else (raw - 1) & 0xFFFFFFFF
        if self.seq is None:
            self.seq = _Unwrap(self.g.base)
        if self.ack is None:
            self.ack = _Unwrap(self.g.base)

    def sent(self, rec: Any, marks: Tuple[str, ...]) -> None:
        """A segment of this direction."""
        segment = rec.segment
        self._anchor(segment.seq, bool(segment.flags & Flags.SYN))
        assert self.seq is not None
        now = rec.timestamp - self.start
        flags = segment.flags
        payload = rec.announced_payload if rec.checksum_ok is None else len(segment.payload)
        payload = max(payload, len(segment.payload))
        length = payload + (1 if flags & Flags.SYN else 0) + (1 if flags & Flags.FIN else 0)
        start = self.seq(segment.seq)
        letters = "".join(ch for ch, bit in (("S", Flags.SYN), ("F", Flags.FIN), ("R", Flags.RST))
                          if flags & bit)
        point = SegmentPoint(rec.frame, now, start, length, payload, letters, marks)
        self.g.segments.append(point)
        if "not_captured" in marks and self.hi is not None and start > self.hi:
            self.g.holes.append((now, self.hi, start))
        if length and not flags & Flags.RST:
            end = start + length
            if self.hi is not None and start < self.hi:
                # Sent again: Karn's rule, no RTT sample from an ACK of what it overlaps.
                for entry in self.timed:
                    if entry[0] < end and entry[1] > start:
                        entry[3] = False
            if self.hi is None or end > self.hi:
                self.timed.append([max(start, self.hi or start), end, now, True])
                self.hi = end
            if segment.timestamps is not None and segment.timestamps[0] not in self.tsvals:
                self.tsvals[segment.timestamps[0]] = now
                if len(self.tsvals) > _TS_REMEMBERED:
                    del self.tsvals[next(iter(self.tsvals))]
        if payload and self.hi is not None and self.acked is not None:
            self.g.in_flight.append((now, max(0, self.hi - self.acked - self.sacked.total())))

    def acknowledged(self, rec: Any) -> None:
        """A segment of the peer: its ACK, window and SACK blocks concern this direction."""
        segment = rec.segment
        flags = segment.flags
        if not flags & Flags.ACK or flags & Flags.RST:
            return
        self._anchor(segment.ack, False)
        assert self.ack is not None
        now = rec.timestamp - self.start
        ack = self.ack(segment.ack)
        window = segment.window << (0 if flags & Flags.SYN else self.scale)
        sack = tuple((ack + seq_diff(left, segment.ack), ack + seq_diff(right, segment.ack))
                     for left, right in segment.sack_blocks or ())
        self.g.acks.append(AckPoint(rec.frame, now, ack, ack + window, window, sack))
        advanced = self.acked is None or ack > self.acked
        if advanced:
            self.acked = ack
            # Karn (RFC 6298 §3): a sample only when none of what the ACK newly covers was
            # sent twice, and only from the segment it newly acknowledges (ending at the ACK):
            # one the receiver had SACKed earlier arrived long before this ACK was sent.
            covered: List[List[Any]] = []
            while self.timed and self.timed[0][1] <= ack:
                covered.append(self.timed.popleft())
            if covered and covered[-1][1] == ack and all(entry[3] for entry in covered) \
                    and not self.sacked.covers(covered[-1][0], ack):
                self.g.rtt.append((now, now - covered[-1][2], "ack"))
            self.sacked.trim(ack)
        for left, right in sack:
            if right > ack:
                self.sacked.add(max(left, ack), right)
        if advanced and segment.timestamps is not None:
            sent = self.tsvals.pop(segment.timestamps[1], None)
            if sent is not None:
                self.g.rtt.append((now, now - sent, "ts"))

    def finish(self, duration: float) -> None:
        """Throughput in equal time bins over the connection's duration."""
        data = [p for p in self.g.segments if p.payload]
        if not data:
            return
        bins = max(1, min(THROUGHPUT_BINS, len(data)))
        width = max(duration, 1e-6) / bins
        totals = [0] * bins
        for p in data:
            totals[min(bins - 1, int(p.time / width))] += p.payload
        self.g.throughput = [(i * width, total / width) for i, total in enumerate(totals)]


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _scale(conn: Dict[str, Any], role: str) -> int:
    """The window scale shift of the windows ``role`` advertises (0 unless both SYNs agreed)."""
    options = conn.get("options") or {}
    mine, peer = options.get(role), options.get("server" if role == "client" else "client")
    if not mine or not peer or mine.get("wscale") is None or peer.get("wscale") is None:
        return 0
    return int(min(mine["wscale"], 14))


class _Connection:
    """One connection of the analysis being rebuilt from the capture."""

    def __init__(self, conn: Dict[str, Any]) -> None:
        self.conn = conn
        self.client = (conn["client"]["address"], conn["client"]["port"])
        self.first, self.last = conn["first_frame"], conn["last_frame"]
        self.marks: Dict[int, List[str]] = {}
        for kind, entry in conn["anomalies"].items():
            for frame in entry["frames"]:
                self.marks.setdefault(frame, []).append(kind)
        scaled = _scale(conn, "client") or _scale(conn, "server") or bool(
            (conn.get("negotiated") or {}).get("window_scaling"))
        client = _endpoint(*self.client)
        server = _endpoint(conn["server"]["address"], conn["server"]["port"])
        self.builders = {
            # the client's data is acknowledged by the server, with the server's window scale
            "client": _Builder(DirectionGraphs("client", client, server, None, bool(scaled)),
                               conn["start"], _scale(conn, "server")),
            "server": _Builder(DirectionGraphs("server", server, client, None, bool(scaled)),
                               conn["start"], _scale(conn, "client")),
        }

    def add(self, rec: Any, src: Tuple[str, int]) -> None:
        role = "client" if src == self.client else "server"
        peer = "server" if role == "client" else "client"
        self.builders[role].sent(rec, tuple(self.marks.get(rec.frame, ())))
        self.builders[peer].acknowledged(rec)

    def result(self) -> ConnectionGraphs:
        conn = self.conn
        for builder in self.builders.values():
            builder.finish(conn["duration"])
        title = (f"#{conn['id']} {self.builders['client'].g.source} \u2192 "
                 f"{self.builders['client'].g.destination}")
        states = {role: None if path is None else list(zip(conn["state_times"][role], path))
                  for role, path in conn["states"].items()}
        return ConnectionGraphs(conn["id"], title, conn["duration"], states,
                                {role: b.g for role, b in self.builders.items()})


def graphs_for_file(path: Union[str, Sequence[str]], result: Optional[Dict[str, Any]] = None,
                    ids: Optional[Iterable[int]] = None) -> List[ConnectionGraphs]:
    """The graph data of every connection (or of those whose ``id`` is in ``ids``) of a capture.

    ``path`` is what :func:`fastseg.analyze.analyze_file` takes: a capture, or the pieces of
    one rotated capture in order.  ``result`` is ``analyze_file(path, all_frames=True)``'s
    (computed when not given): with the default 20 frames per anomaly kind, only the first 20
    segments of each kind are marked.  Raises :class:`fastseg.capture.CaptureError` when the
    capture cannot be read.
    """
    if result is None:
        from fastseg.analyze import analyze_file

        result = analyze_file(path, all_frames=True)
    wanted = None if ids is None else set(ids)
    by_pair: Dict[Tuple[Tuple[str, int], Tuple[str, int]], List[_Connection]] = {}
    ordered: List[_Connection] = []
    for conn in result.get("connections", []):
        if wanted is not None and conn["id"] not in wanted:
            continue
        built = _Connection(conn)
        a = (conn["client"]["address"], conn["client"]["port"])
        b = (conn["server"]["address"], conn["server"]["port"])
        by_pair.setdefault((a, b) if a <= b else (b, a), []).append(built)
        ordered.append(built)
    if not ordered:
        return []
    names: Dict[bytes, str] = {}
    offset = 0  # frames of the pieces before this one: analyze_file numbers across them
    for piece in [path] if isinstance(path, str) else path:
        with capture.open_capture(piece) as reader:
            for rec in reader:
                src_ip = names.get(rec.src) or names.setdefault(rec.src, str(ipaddress.ip_address(rec.src)))
                dst_ip = names.get(rec.dst) or names.setdefault(rec.dst, str(ipaddress.ip_address(rec.dst)))
                src, dst = (src_ip, rec.segment.src_port), (dst_ip, rec.segment.dst_port)
                frame = rec.frame + offset
                for built in by_pair.get((src, dst) if src <= dst else (dst, src), ()):
                    if built.first <= frame <= built.last:
                        built.add(rec._replace(frame=frame) if offset else rec, src)
                        break
            offset += reader.frames
    return [built.result() for built in ordered]


def state_spans(path: Sequence[Tuple[float, str]], duration: float
                ) -> List[Tuple[float, float, Tuple[str, ...]]]:
    """A side's state path as spans of time: ``(start, end, names)`` per distinct time.

    ``names`` are the states entered at ``start``, in order; the side is in the last of them
    until ``end`` (the next span's start, or ``duration`` for the last span), the others it
    passed through within one frame (CLOSED, LISTEN and SYN-RECEIVED on a SYN, say).
    """
    spans: List[Tuple[float, float, Tuple[str, ...]]] = []
    for time, name in path:
        if spans and spans[-1][0] == time:
            start, _, names = spans.pop()
            spans.append((start, time, (*names, name)))
        else:
            if spans:
                start, _, names = spans.pop()
                spans.append((start, time, names))
            spans.append((time, time, (name,)))
    if spans:
        start, _, names = spans.pop()
        spans.append((start, max(start, duration), names))
    return spans


def thin(items: Sequence[Any], limit: int, value: Any, keep: Any = None,
         when: Any = lambda item: item.time) -> List[Any]:
    """What to DRAW of ``items`` (in time order, ``when(item)`` their time) when there are
    more than ``limit``.

    The time span is cut into ``limit // 2`` columns and each keeps its items with the lowest and
    the highest ``value(item)``, so the envelope a picture shows stays; items for which
    ``keep(item)`` is true (marked segments) are always kept.  The order is kept.  Only for
    drawing: the numbers of a graph never come from thinned data.
    """
    if len(items) <= limit:
        return list(items)
    columns = max(1, limit // 2)
    first, last = when(items[0]), when(items[-1])
    width = (last - first) / columns or 1.0
    low: Dict[int, int] = {}
    high: Dict[int, int] = {}
    chosen = set()
    for i, item in enumerate(items):
        if keep is not None and keep(item):
            chosen.add(i)
            continue
        column = min(columns - 1, int((when(item) - first) / width))
        v = value(item)
        if column not in low or v < value(items[low[column]]):
            low[column] = i
        if column not in high or v > value(items[high[column]]):
            high[column] = i
    chosen.update(low.values())
    chosen.update(high.values())
    return [items[i] for i in sorted(chosen)]
