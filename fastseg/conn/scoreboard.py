"""The SACK scoreboard of RFC 6675 §3-4: what the peer holds above SND.UNA, and what is lost.

Sequence space is counted in offsets past SND.UNA (HighACK), so that the
cumulative ACK moving shifts the few ranges held and nothing wraps.  SACKed
data is kept as merged, disjoint ranges, as the receiver's reassembly queue
keeps held data (:mod:`fastseg.conn.buffers`): every routine below is linear
in the number of holes, never in the bytes or segments outstanding.
"""

from __future__ import annotations

from typing import Iterator, Optional

__all__ = ["DUP_THRESH", "MAX_SACK_BLOCKS", "Scoreboard"]

#: DupThresh (RFC 6675 §2, RFC 5681 §3.2): duplicate ACKs, or discontiguous SACKed ranges
#: above a hole, that declare it lost.
DUP_THRESH = 3
#: The most SACK blocks one option carries (RFC 2018 §3: 4 in 40 option bytes).
MAX_SACK_BLOCKS = 4
#: A hole: (start, end, lost) in offsets past SND.UNA.
Hole = tuple[int, int, bool]


class Scoreboard:
    """SACKed ranges past SND.UNA and the RFC 6675 recovery variables.

    ``ranges`` holds [start, end) offset pairs, ascending, never touching.
    ``high_rxt`` is HighRxt, the end of the highest octet retransmitted in this
    recovery (an offset; 0 when nothing was).  ``recovery_point`` is RecoveryPoint,
    a sequence number (SND.MAX when recovery began), None outside recovery.
    ``timed_out`` marks the recovery as begun by a retransmission timeout
    (RFC 6675 §5.1): every unSACKed octet below RecoveryPoint then counts lost.
    ``rescued`` says rule 4 of NextSeg (the rescue retransmission) was used.
    """

    __slots__ = ("high_rxt", "ranges", "recovery_point", "rescued", "timed_out")

    def __init__(self) -> None:
        self.ranges: list[list[int]] = []
        self.high_rxt = 0
        self.recovery_point: Optional[int] = None
        self.timed_out = False
        self.rescued = False

    def update(self, blocks: list[tuple[int, int]], flight: int) -> int:
        """RFC 6675 Update(): merge SACK blocks (offsets past SND.UNA), each kept only when
        inside (0, ``flight``] and not empty (RFC 2018 §3 blocks always are; a forged or
        stale one is ignored).  Returns the octets newly SACKed (RFC 6675 §2: an ACK that
        SACKs new octets counts as a duplicate ACK)."""
        new = 0
        for start, end in blocks:
            if 0 < start < end <= flight:
                new += self._add(start, end)
        return new

    def _add(self, start: int, end: int) -> int:
        """Merge [start, end) into the ranges; return how many of its octets were new."""
        ranges = self.ranges
        index = 0
        while index < len(ranges) and ranges[index][1] < start:
            index += 1
        last = index
        covered = 0
        while last < len(ranges) and ranges[last][0] <= end:
            low, high = ranges[last]
            covered += max(0, min(high, end) - max(low, start))
            last += 1
        if index == last:
            ranges.insert(index, [start, end])
        else:
            ranges[index:last] = [[min(start, ranges[index][0]), max(end, ranges[last - 1][1])]]
        return end - start - covered

    def advance(self, acked: int) -> None:
        """SND.UNA moved ``acked`` octets on: shift everything back by as much.  When the
        cumulative ACK stops where a SACKed range starts, which a receiver still holding it
        would have acknowledged, the peer reneged (RFC 2018 §8): the ranges are forgotten.
        The data never left the send buffer (only the cumulative ACK frees it): SACK
        blocks still to come show it lost, or the retransmission timer resends it."""
        shifted = [[start - acked, end - acked] for start, end in self.ranges if end > acked]
        self.high_rxt = max(0, self.high_rxt - acked)
        self.ranges = [] if shifted and shifted[0][0] <= 0 else shifted

    def clear(self) -> None:
        """Forget every SACKed range and end any recovery."""
        self.ranges = []
        self.high_rxt = 0
        self.recovery_point = None
        self.timed_out = self.rescued = False

    def holes(self, flight: int, point: int, smss: int) -> Iterator[Hole]:
        """The unSACKed ranges below ``flight`` (HighData), lowest first, each with IsLost()
        (RFC 6675 §4): DupThresh discontiguous SACKed ranges above it, or more than
        (DupThresh - 1) * SMSS SACKed octets above it; after a timeout, anything below
        ``point`` (RecoveryPoint).  Every octet of one hole has the same SACKed data above
        it, so the test is made once per hole."""
        ranges = self.ranges
        above = sum(end - start for start, end in ranges)
        count = len(ranges)
        position = 0
        for start, end in ranges:
            if start > position:
                lost = count >= DUP_THRESH or above > (DUP_THRESH - 1) * smss \
                    or (self.timed_out and position < point)
                yield position, start, lost
            position = end
            above -= end - start
            count -= 1
        if position < flight:
            yield position, flight, self.timed_out and position < point

    def is_lost(self, offset: int, flight: int, point: int, smss: int) -> bool:
        """IsLost(SND.UNA + offset) (RFC 6675 §4)."""
        for start, end, lost in self.holes(flight, point, smss):
            if start <= offset < end:
                return lost
        return False

    def pipe(self, flight: int, point: int, smss: int) -> int:
        """SetPipe() (RFC 6675 §4): octets thought in the network: each unSACKed octet not
        lost, and again each one retransmitted (below HighRxt)."""
        pipe = 0
        high_rxt = self.high_rxt
        for start, end, lost in self.holes(flight, point, smss):
            if not lost:
                pipe += end - start
            if start < high_rxt:
                pipe += min(end, high_rxt) - start
        return pipe

    def next_lost(self, flight: int, point: int, smss: int) -> Optional[tuple[int, int]]:
        """NextSeg() rule 1 (RFC 6675 §4): the first lost, unSACKed octets past HighRxt and
        below the highest SACKed octet (after a timeout, below RecoveryPoint), as
        (offset, length), at most SMSS; None when there are none."""
        top = point if self.timed_out else (self.ranges[-1][1] if self.ranges else 0)
        return self._first_hole(flight, point, smss, top, lost_only=True)

    def next_unsacked(self, flight: int, point: int, smss: int) -> Optional[tuple[int, int]]:
        """NextSeg() rule 3: the first unSACKed octets past HighRxt below the highest SACKed
        octet, lost or not, provided a whole SMSS of them is there."""
        top = self.ranges[-1][1] if self.ranges else 0
        found = self._first_hole(flight, point, smss, top, lost_only=False)
        return found if found is not None and found[1] == smss else None

    def _first_hole(self, flight: int, point: int, smss: int, top: int,
                    lost_only: bool) -> Optional[tuple[int, int]]:
        for start, end, lost in self.holes(flight, point, smss):
            begin = max(start, self.high_rxt)
            end = min(end, top)
            if begin < end and (lost or not lost_only):
                return begin, min(smss, end - begin)
        return None

    def rescue(self, point: int, smss: int) -> Optional[tuple[int, int]]:
        """NextSeg() rule 4: once per recovery, up to SMSS octets ending at the highest
        unSACKed octet outstanding when it began (below ``point``, RecoveryPoint: not data
        sent since, which is no more likely lost than any in flight) (RFC 6675 §4, the
        rescue retransmission).  HighRxt is not moved."""
        if self.rescued or self.timed_out:
            return None
        end = point
        for start, stop in reversed(self.ranges):
            if start >= end:
                continue  # SACKed above RecoveryPoint
            if stop < end:
                break
            end = start
        if end <= self.high_rxt:
            return None  # resent already
        self.rescued = True
        begin = max(0, end - smss)
        return begin, end - begin
