"""Send and receive byte buffers; sequence space is the connection's business."""

from __future__ import annotations

from bisect import bisect_right

__all__ = ["RECENT_KEPT", "Reassembly"]

#: Arrivals remembered for the order of SACK blocks (more than the 4 an option can carry).
RECENT_KEPT = 8


class Reassembly:
    """Out-of-order bytes held above RCV.NXT until the gap before them fills.

    Offsets count from the current RCV.NXT; ``pop_ready`` hands out what has
    become contiguous with it.  Overlaps keep the first copy received.

    Held bytes are kept as disjoint ranges that never touch, by position from the
    connection's first byte, so that RCV.NXT moving shifts nothing: an arrival costs
    a binary search (and, extending the last range after a gap that never fills, an
    append), however many ranges are held.
    """

    def __init__(self) -> None:
        self._starts: list[int] = []          # each range's first position, ascending
        self._ranges: list[bytearray] = []    # each range's bytes
        self._base = 0                        # the position of RCV.NXT
        self._held = 0                        # bytes in all ranges
        self._recent: list[int] = []          # positions added, the latest last (SACK's order)
        self.fin_offset: int | None = None

    def __len__(self) -> int:
        return self._held

    @property
    def empty(self) -> bool:
        """Whether nothing is held: no bytes and no FIN waiting for a gap to fill."""
        return not self._starts and self.fin_offset is None

    @property
    def ready(self) -> bool:
        """Whether bytes wait at RCV.NXT itself (text queued from a SYN)."""
        return bool(self._starts) and self._starts[0] == self._base

    def add(self, offset: int, data: bytes) -> None:
        """Hold ``data`` that starts ``offset`` (>= 0) bytes past RCV.NXT."""
        if not data:
            return
        start = self._base + offset
        end = start + len(data)
        starts, ranges = self._starts, self._ranges
        first = bisect_right(starts, start) - 1   # the last range starting at or before start
        if first < 0 or starts[first] + len(ranges[first]) < start:
            first += 1                            # it ends before start: not touched
        last = bisect_right(starts, end)          # ranges from here on start after end
        if first == last:
            starts.insert(first, start)
            ranges.insert(first, bytearray(data))
            self._held += len(data)
        elif last == first + 1 and starts[first] <= start:
            # one range, starting at or before the data: keep its bytes, append what is new
            grown = ranges[first]
            beyond = end - (starts[first] + len(grown))
            if beyond > 0:
                grown += data[len(data) - beyond:]
                self._held += beyond
        else:
            self._merge(first, last, start, data)
        self._recent = [*[p for p in self._recent if p != start][-(RECENT_KEPT - 1):], start]

    def _merge(self, first: int, last: int, start: int, data: bytes) -> None:
        """Replace ranges ``first`` to ``last - 1``, which ``data`` at ``start`` overlaps or
        touches, by one: their bytes where they have them, ``data``'s in the gaps."""
        starts, ranges = self._starts, self._ranges
        position = merged_start = min(start, starts[first])
        end = start + len(data)
        merged = bytearray()
        for index in range(first, last):
            at = starts[index]
            if position < at:  # a gap between held ranges, inside the data
                merged += data[position - start:at - start]
            merged += ranges[index]
            position = at + len(ranges[index])
        if position < end:
            merged += data[position - start:]
        self._held += len(merged) - sum(len(ranges[index]) for index in range(first, last))
        starts[first:last] = [merged_start]
        ranges[first:last] = [merged]

    def holds(self, offset: int, length: int) -> bool:
        """Whether the ``length`` bytes from ``offset`` past RCV.NXT are all held already."""
        start = self._base + offset
        index = bisect_right(self._starts, start) - 1
        return index >= 0 and start + length <= self._starts[index] + len(self._ranges[index])

    def blocks(self, most: int) -> list[tuple[int, int]]:
        """The held bytes as at most ``most`` (start, end) offset ranges, merged where they touch,
        the one holding the latest arrival first, then the others by how recently they grew
        (RFC 2018 §4's order for SACK blocks), then the rest from the lowest."""
        base, starts, ranges = self._base, self._starts, self._ranges
        ordered: list[tuple[int, int]] = []
        for position in reversed(self._recent):
            index = bisect_right(starts, position) - 1
            if index >= 0 and position < starts[index] + len(ranges[index]):
                block = (starts[index] - base, starts[index] + len(ranges[index]) - base)
                if block not in ordered:
                    ordered.append(block)
        for at, held in zip(starts, ranges):
            if len(ordered) >= most:
                break
            block = (at - base, at + len(held) - base)
            if block not in ordered:
                ordered.append(block)
        return ordered[:most]

    def pop_ready(self) -> bytes:
        """Bytes now contiguous with RCV.NXT (offset 0), which then moves past them."""
        if not self.ready:
            return b""
        del self._starts[0]
        ready = bytes(self._ranges.pop(0))
        self._base += len(ready)
        self._held -= len(ready)
        self._recent = [p for p in self._recent if p >= self._base]
        if self.fin_offset is not None:
            self.fin_offset -= len(ready)
        return ready
