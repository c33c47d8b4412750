"""An ACK of our FIN that arrives after a retransmission timeout went back to SND.UNA still
acknowledges the FIN (RFC 9293 §3.10.7.4, fifth check): found with the kernel as a peer
through fastseg.net, where such connections sat in LAST-ACK resending their FIN one past it."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
from connlink import CONFIG, drain, established

from fastseg import Segment
from fastseg.conn import Closed, State


@pytest.mark.parametrize("passive", [True, False])
def test_a_late_ack_of_the_fin_after_a_timeout_closes(impl: SimpleNamespace, passive: bool) -> None:
    link = established(impl, replace(CONFIG, nagle=False))  # the FIN goes with the data's tail
    closer, peer = (link.b, link.a) if passive else (link.a, link.b)
    if passive:
        peer.close(0.0)
        link.settle()
    closer.send(b"x" * 9000)
    closer.close(0.0)
    fin = closer.segments_to_send(0.0)[-1]
    deadline = closer.next_deadline()
    assert deadline is not None
    closer.handle_timeout(deadline)  # the ACK is late: go back to SND.UNA
    now = deadline + 0.01
    ack = Segment(src_port=peer.local[1], dst_port=closer.local[1], seq=peer.snd_nxt,
                  ack=(fin.seq + 1) % 2**32, flags=0x10, window=60000,
                  options=((1, None), (1, None), (8, (peer._ts_value(now), closer.ts_recent or 0))))
    closer.receive(ack, now, remote_ip=peer.local[0])
    assert closer.state is (State.CLOSED if passive else State.FIN_WAIT_2)
    assert closer.snd_una == (fin.seq + 1) % 2**32
    assert all(not s.flags & 0x01 for s in closer.segments_to_send(now))  # no FIN past the FIN
    if passive:
        assert drain(closer)[-1] == Closed()
