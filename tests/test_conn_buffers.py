"""fastseg.conn.buffers.Reassembly against a plain model: a map from position to byte.

The reassembly queue holds out-of-order bytes above RCV.NXT as merged ranges; the model
holds the same bytes one by one.  Whatever the arrivals (overlapping, touching, repeated,
conflicting), both must agree on what is held, what becomes ready, and the SACK blocks.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st

from fastseg.conn.buffers import Reassembly


class Model:
    """Position -> byte, the first copy of each kept; RCV.NXT at ``base``."""

    def __init__(self) -> None:
        self.held: Dict[int, int] = {}
        self.base = 0

    def add(self, offset: int, data: bytes) -> None:
        for i, byte in enumerate(data):
            self.held.setdefault(self.base + offset + i, byte)

    def pop_ready(self) -> bytes:
        out = bytearray()
        while self.base in self.held:
            out.append(self.held.pop(self.base))
            self.base += 1
        return bytes(out)

    def ranges(self) -> List[Tuple[int, int]]:
        """Held bytes as merged (start, end) offsets from RCV.NXT, ascending."""
        ranges: List[List[int]] = []
        for position in sorted(self.held):
            if ranges and ranges[-1][1] == position - self.base:
                ranges[-1][1] += 1
            else:
                ranges.append([position - self.base, position - self.base + 1])
        return [(a, b) for a, b in ranges]


operation = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 300), st.integers(1, 80), st.integers(0, 255)),
    st.tuples(st.just("pop"), st.just(0), st.just(0), st.just(0)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(operation, max_size=60))
def test_the_queue_agrees_with_a_byte_map(operations: List[Tuple[str, int, int, int]]) -> None:
    queue, model = Reassembly(), Model()
    latest = None
    for kind, offset, length, fill in operations:
        if kind == "add":
            data = bytes((fill + i) % 256 for i in range(length))  # conflicting copies too
            queue.add(offset, data)
            model.add(offset, data)
            latest = offset
        else:
            assert queue.pop_ready() == model.pop_ready()
            latest = None
        ranges = model.ranges()
        assert len(queue) == len(model.held)
        assert queue.ready == (bool(ranges) and ranges[0][0] == 0)
        assert queue.empty == (not ranges)
        blocks = queue.blocks(4)
        assert len(blocks) == min(4, len(ranges)) and set(blocks) <= set(ranges)
        if latest is not None:  # RFC 2018 §4: the block holding the latest arrival first
            assert blocks[0][0] <= latest < blocks[0][1]
    assert queue.pop_ready() == model.pop_ready()


def test_many_ranges_after_a_gap_that_never_fills() -> None:
    """A capture that lost one segment: everything after it is held, appended to one range."""
    queue = Reassembly()
    for i in range(1, 5001):
        queue.add(i * 100, bytes([i % 256]) * 100)
    assert queue.blocks(4) == [(100, 500_100)] and len(queue) == 500_000
    queue.add(0, b"\x00" * 100)
    ready = queue.pop_ready()
    assert len(ready) == 500_100 and ready[100:200] == b"\x01" * 100 and queue.empty


def test_the_first_copy_of_overlapping_bytes_is_kept() -> None:
    queue = Reassembly()
    queue.add(10, b"first")
    queue.add(8, b"XXsecondXX")
    queue.add(0, b"01234567")
    assert queue.pop_ready() == b"01234567XXfirstdXX"  # "secon" lost to "first"
