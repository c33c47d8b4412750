"""Receiver-side silly-window avoidance, RFC 9293 §3.8.6.2.2 (MUST-39), from the RFC's text.

"The suggested SWS avoidance algorithm for the receiver is to keep RCV.NXT+RCV.WND
fixed until the reduction satisfies RCV.BUFF - RCV.USER - RCV.WND >= min(Fr *
RCV.BUFF, Eff.snd.MSS)" with Fr = 1/2; then RCV.WND = RCV.BUFF - RCV.USER.  And, as
Linux and FreeBSD do, a read that opens the window past that size is announced at
once rather than with the next delayed ACK.
"""

from __future__ import annotations

from dataclasses import replace
from typing import List

import pytest
from connlink import CONFIG, SERVER, drain, established

from fastseg.conn import DataReceived
from fastseg.seq import seq_add, seq_diff

SMSS = CONFIG.mss - 12  # timestamps are on


def right_edges(link) -> List[int]:
    """RCV.NXT + RCV.WND as the server advertised it, segment by segment (no window scale)."""
    return [seq_add(s.ack, s.window) for ip, s in link.log if ip == SERVER[0] and s.flags & 0x10]


@pytest.mark.parametrize("buffer", [16 * SMSS, SMSS + 300], ids=["mss-step", "half-buffer-step"])
def test_the_right_edge_moves_only_in_big_steps(impl, arrival_path, buffer):
    """Small writes read at once: the edge stays put until it can move by
    min(RCV.BUFF / 2, Eff.snd.MSS), and never moves back."""
    config = replace(CONFIG, receive_buffer=buffer, nagle=False)
    link = established(impl, config)
    assert config.receive_shift == 0
    threshold = min(buffer // 2, SMSS)
    got = 0
    for _ in range(150):
        link.a.send(b"w" * 100)
        link.settle()
        got += sum(len(e.data) for e in drain(link.b) if isinstance(e, DataReceived))
        link.settle()
        link.now += 0.05  # the delayed ACK goes out
        link.b.handle_timeout(link.now)
        link.a.handle_timeout(link.now)
        link.settle()
    assert got == 150 * 100
    edges = right_edges(link)
    steps = [seq_diff(later, earlier) for earlier, later in zip(edges, edges[1:]) if later != earlier]
    assert len(steps) >= 150 * 100 // threshold - 2  # it did move, as the reads allowed
    assert all(step >= threshold for step in steps), steps


def test_a_read_that_opens_the_window_is_announced_at_once(impl, arrival_path):
    """The server's window is closed; its application reads everything: the window update
    goes out at once, not after the delayed-ACK time."""
    config = replace(CONFIG, receive_buffer=4 * SMSS, nagle=False)
    link = established(impl, config)
    link.a.send(b"f" * 6 * SMSS)
    link.settle()
    assert link.b.rcv_wnd == 0 and link.b.next_deadline() is None
    assert sum(len(e.data) for e in drain(link.b) if isinstance(e, DataReceived)) == 4 * SMSS
    [update] = link.b.segments_to_send(link.now)
    assert update.window == 4 * SMSS and not update.payload
