"""Bringing a target's connection into each state a campaign attacks it in (RFC 9293 §3.3.2).

The peer (a :class:`fastseg.conn.Connection` behind the exchange) and the
fuzzer's application on the target side are driven as two honest endpoints
would be, and the wire holds back what must not arrive yet: the SYN,ACK for
SYN-RECEIVED, data both ways for ESTABLISHED with data in flight, the
target's FIN for FIN-WAIT-1 and CLOSING, the peer's last ACK for LAST-ACK.
``ESTABLISHED/zero-window`` is ESTABLISHED with an application that stopped
reading until the target announced a zero window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from fastseg.live.exchange import Exchange, Peer
from fastseg.live.target import CLOSED_PORT, SERVICE_PORT
from fastseg.segment import Flags, Segment
from fastseg.seq import seq_diff

__all__ = ["KINDS", "SETTLE", "STATES", "Position", "enter"]

#: Bytes the peer sends to open an exchange, and its fill-up step towards a zero window.
CHUNK = 300
_FILL = 64 * 1024
#: Fill-up rounds before a zero window is given up as unreachable (4 MiB).
_FILL_ROUNDS = 64
#: Virtual seconds for each step of getting there (handshake, echo, close).
_STEP_TIME = 5.0
#: Long enough for delayed ACKs to go out (RFC 9293 §3.8.6.3: at most 0.5 s).
SETTLE = 0.5

_SYN, _FIN = int(Flags.SYN), int(Flags.FIN)

_WINDOW = ("rst_exact", "rst_in_window", "rst_out_of_window", "syn_in_window", "ack_too_old",
           "ack_unsent", "data_in_window", "data_out_of_window", "stale_timestamp", "antipodal")
_MUTATIONS = ("mutate", "options", "flags", "urgent")
_SYNCHRONIZED = _WINDOW + _MUTATIONS
_CLOSED_WINDOW = tuple(k for k in _SYNCHRONIZED if k not in ("rst_in_window", "data_in_window"))

#: Each state a campaign attacks, with the attack kinds that apply there.
KINDS: Dict[str, Tuple[str, ...]] = {
    "CLOSED": ("closed_port",),
    "LISTEN": ("listen_probe", "listen_mutate"),
    "SYN-RECEIVED": ("mutate", "options", "flags"),
    "ESTABLISHED": _SYNCHRONIZED,
    "ESTABLISHED/zero-window": _CLOSED_WINDOW,
    "FIN-WAIT-1": _SYNCHRONIZED,
    "FIN-WAIT-2": _SYNCHRONIZED,
    "CLOSE-WAIT": _SYNCHRONIZED,
    "CLOSING": _SYNCHRONIZED,
    "LAST-ACK": _SYNCHRONIZED,
    "TIME-WAIT": ("fin_again", "mutate", "options", "flags"),
}
STATES: Tuple[str, ...] = tuple(KINDS)


@dataclass
class Position:
    """Where a campaign attacks: the state, the connection (None for CLOSED and LISTEN), the port."""

    state: str
    peer: Optional[Peer]
    dst_port: int

    @property
    def expected(self) -> Optional[str]:
        """The target's connection state the attack needs (None: no connection)."""
        return None if self.peer is None else self.state.split("/")[0]


def _has_fin(segment: Segment) -> bool:
    return bool(int(segment.flags) & _FIN)


def _has_data(segment: Segment) -> bool:
    return len(segment.payload) > 0


def _everything(segment: Segment) -> bool:
    return True


def _echoed(ex: Exchange, peer: Peer) -> bool:
    return ex.run_until(lambda: len(peer.received) >= peer.sent, _STEP_TIME)


def _established(ex: Exchange) -> Peer:
    peer = ex.connect()
    ex.pump()
    peer.send(CHUNK)
    _echoed(ex, peer)
    ex.advance(SETTLE)
    return peer


def _syn_received(ex: Exchange) -> Peer:
    ex.hold_to_peer = lambda segment: bool(int(segment.flags) & _SYN)
    peer = ex.connect()
    ex.pump()
    return peer


def _in_flight(ex: Exchange) -> Peer:
    peer = _established(ex)
    ex.hold_to_peer = _has_data
    peer.send(CHUNK)
    ex.pump()
    ex.hold_to_target = _has_data
    peer.send(CHUNK)
    ex.pump()
    return peer


def _zero_window(ex: Exchange) -> Peer:
    peer = _established(ex)
    ex.target.reading = False
    seen = ex.seen_for(peer.port)
    for _ in range(_FILL_ROUNDS):
        if seen.right is not None and seen.rcv_nxt is not None and seq_diff(seen.right, seen.rcv_nxt) <= 0:
            break
        peer.send(_FILL)
        ex.run_until(lambda: peer.conn.snd_wnd == 0 or peer.conn.snd_una == peer.conn.snd_nxt, _STEP_TIME)
    return peer


def _fin_wait_1(ex: Exchange) -> Peer:
    peer = _established(ex)
    ex.hold_to_peer = _has_fin
    ex.target.close_connection(peer.port, ex.now)
    ex.pump()
    return peer


def _fin_wait_2(ex: Exchange) -> Peer:
    peer = _established(ex)
    ex.target.close_connection(peer.port, ex.now)
    ex.run_until(lambda: peer.conn.state.value == "CLOSE-WAIT", _STEP_TIME)
    ex.advance(SETTLE)
    return peer


def _close_wait(ex: Exchange) -> Peer:
    peer = _established(ex)
    ex.target.close_on_fin = False
    peer.conn.close(ex.now)
    ex.run_until(lambda: peer.conn.state.value == "FIN-WAIT-2", _STEP_TIME)
    ex.advance(SETTLE)
    return peer


def _closing(ex: Exchange) -> Peer:
    peer = _established(ex)
    ex.hold_to_peer = _has_fin
    ex.target.close_connection(peer.port, ex.now)
    ex.pump()
    peer.conn.close(ex.now)
    ex.pump()
    return peer


def _last_ack(ex: Exchange) -> Peer:
    peer = _close_wait(ex)
    ex.hold_to_target = _everything
    ex.target.close_connection(peer.port, ex.now)
    ex.pump()
    return peer


def _time_wait(ex: Exchange) -> Peer:
    peer = _fin_wait_2(ex)
    peer.conn.close(ex.now)
    ex.run_until(lambda: peer.conn.state.value == "CLOSED", _STEP_TIME)
    return peer


_DRIVERS: Dict[str, Callable[[Exchange], Peer]] = {
    "SYN-RECEIVED": _syn_received,
    "ESTABLISHED": _in_flight,
    "ESTABLISHED/zero-window": _zero_window,
    "FIN-WAIT-1": _fin_wait_1,
    "FIN-WAIT-2": _fin_wait_2,
    "CLOSE-WAIT": _close_wait,
    "CLOSING": _closing,
    "LAST-ACK": _last_ack,
    "TIME-WAIT": _time_wait,
}


def enter(ex: Exchange, state: str) -> Position:
    """Bring a connection of the target into ``state`` (one of :data:`STATES`)."""
    if state == "CLOSED":
        return Position(state, None, CLOSED_PORT)
    if state == "LISTEN":
        return Position(state, None, SERVICE_PORT)
    return Position(state, _DRIVERS[state](ex), SERVICE_PORT)
