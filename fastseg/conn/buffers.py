"""Send and receive byte buffers; sequence space is the connection's business."""

from __future__ import annotations

__all__ = ["Reassembly"]


class Reassembly:
    """Out-of-order bytes held above RCV.NXT until the gap before them fills.

    Offsets count from the current RCV.NXT; ``pop_ready`` hands out what has
    become contiguous with it.  Overlaps keep the first copy received.
    """

    def __init__(self) -> None:
        self._pieces: dict[int, bytes] = {}
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
            if self.fin_offset is not None:
                self.fin_offset -= consumed
        return bytes(ready)
