"""Send and receive byte buffers; sequence space is the connection's business."""

from __future__ import annotations

__all__ = ["RECENT_KEPT", "Reassembly"]

#: Arrivals remembered for the order of SACK blocks (more than the 4 an option can carry).
RECENT_KEPT = 8


class Reassembly:
    """Out-of-order bytes held above RCV.NXT until the gap before them fills.

    Offsets count from the current RCV.NXT; ``pop_ready`` hands out what has
    become contiguous with it.  Overlaps keep the first copy received.
    """

    def __init__(self) -> None:
        self._pieces: dict[int, bytes] = {}
        self._recent: list[int] = []  # offsets added, the latest last (for SACK's order)
        self.fin_offset: int | None = None

    def __len__(self) -> int:
        return sum(len(piece) for piece in self._pieces.values())

    @property
    def empty(self) -> bool:
        """Whether nothing is held: no bytes and no FIN waiting for a gap to fill."""
        return not self._pieces and self.fin_offset is None

    @property
    def ready(self) -> bool:
        """Whether bytes wait at RCV.NXT itself (text queued from a SYN)."""
        return 0 in self._pieces

    def add(self, offset: int, data: bytes) -> None:
        """Hold ``data`` that starts ``offset`` (>= 0) bytes past RCV.NXT."""
        if data and (offset not in self._pieces or len(self._pieces[offset]) < len(data)):
            self._pieces[offset] = data
        if data:
            self._recent = [*[o for o in self._recent if o != offset][-(RECENT_KEPT - 1):], offset]

    def blocks(self, most: int) -> list[tuple[int, int]]:
        """The held bytes as at most ``most`` (start, end) offset ranges, merged where they touch,
        the one holding the latest arrival first, then the others by how recently they grew
        (RFC 2018 §4's order for SACK blocks)."""
        ranges: list[list[int]] = []
        for offset in sorted(self._pieces):
            end = offset + len(self._pieces[offset])
            if ranges and offset <= ranges[-1][1]:
                ranges[-1][1] = max(ranges[-1][1], end)
            else:
                ranges.append([offset, end])
        ordered: list[tuple[int, int]] = []
        for offset in reversed(self._recent):
            for start, end in ranges:
                if start <= offset < end and (start, end) not in ordered:
                    ordered.append((start, end))
        ordered += [(start, end) for start, end in ranges if (start, end) not in ordered]
        return ordered[:most]

    def pop_ready(self) -> bytes:
        """Bytes now contiguous with RCV.NXT (offset 0); shift what remains."""
        ready = bytearray()
        while True:
            usable = [(offset, piece) for offset, piece in self._pieces.items()
                      if offset <= len(ready) < offset + len(piece)]
            if not usable:
                break
            offset, piece = max(usable, key=lambda item: item[0] + len(item[1]))
            ready += piece[len(ready) - offset:]
        consumed = len(ready)
        if consumed:
            self._pieces = {offset - consumed: piece[max(0, consumed - offset):]
                            for offset, piece in self._pieces.items()
                            if offset + len(piece) > consumed}
            self._pieces = {max(offset, 0): piece for offset, piece in self._pieces.items()}
            self._recent = [o - consumed for o in self._recent if o >= consumed]
            if self.fin_offset is not None:
                self.fin_offset -= consumed
        return bytes(ready)
