"""What the fuzzer sends a target in a state: one *attack* per step of a sequence.

Each attack is built from what the wire saw (:class:`View`) and a random
number generator seeded by the step, so a sequence replays exactly.  The
window-edge kinds are the categories of :data:`fastseg.strategies.WINDOW_CATEGORIES`
(RFC 5961 blind RST, SYN and data; RFC 7323 PAWS; old, future and antipodal
sequence numbers) plus data wholly outside the window; ``mutate``, ``options``
and ``flags`` are :class:`fastseg.mutate.Mutator` mutations of the segment the
peer would send next; ``urgent`` points past the payload; ``fin_again``
retransmits the peer's FIN; ``closed_port`` and ``listen_*`` go to a port
without a connection.

Payloads a correct stack may take carry the peer's own stream at their offset
(:func:`~fastseg.live.stream.stream_bytes`); payloads it must never take
(:attr:`Attack.poison`) carry bytes that differ at every offset.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from fastseg import _wire
from fastseg.capture._common import IPV4_HEADER_LEN
from fastseg.checksum import tcp_checksum
from fastseg.codec import pack, unpack
from fastseg.live.stream import poison, stream_bytes
from fastseg.live.target import PEER_ADDRESS, TARGET_ADDRESS
from fastseg.mutate import Mutator
from fastseg.segment import Flags, OptionKind, Segment
from fastseg.seq import seq_add, seq_diff

__all__ = ["ATTACKS", "Attack", "View", "build"]

_F = Flags
#: Largest window a peer can announce (RFC 7323 §2.3): 65535 << 14.
_LARGEST_WINDOW = 0xFFFF << 14
#: The largest payload an attack carries.
_PAYLOAD = 32
#: Sequence distance that is past any window and short of the antipode.
_FAR = _LARGEST_WINDOW + 1
_HALF = 1 << 31
#: The longest segment an IPv4 packet holds.
_MAX_SEGMENT = 0xFFFF - IPV4_HEADER_LEN
#: Mutator operators of the ``options`` and ``flags`` kinds.
_OPTION_OPERATORS = ("option_insert", "option_remove", "option_duplicate", "option_reorder",
                     "option_length", "option_eol", "option_overflow")


@dataclass(frozen=True)
class View:
    """The numbers an attack is built from: the target's side as the wire saw it, and the peer's.

    ``rcv_nxt`` and ``rcv_wnd`` are the target's receive window; ``snd_una``
    what the peer acknowledged and ``snd_max`` the highest sequence number the
    target sent; ``next_seq`` the peer's SND.NXT; ``base`` the peer's stream
    offset 0; ``ts_recent`` the peer's last TSval (None: no timestamps);
    ``peer_fin`` the sequence number of the peer's FIN, if sent.
    """

    src_port: int
    dst_port: int
    rcv_nxt: int
    rcv_wnd: int
    snd_una: int
    snd_max: int
    next_seq: int
    base: int
    ts_recent: Optional[int] = None
    tsecr: int = 0
    peer_fin: Optional[int] = None


@dataclass(frozen=True)
class Attack:
    """One segment to inject, and what a correct stack must make of it.

    ``expect`` names the checks of :mod:`fastseg.live.oracles` that apply;
    ``poison`` says its payload must never reach the stream.
    """

    kind: str
    data: bytes
    description: str
    expect: Tuple[str, ...] = ()
    poison: bool = False


Builder = Callable[[random.Random, View, bytes], Attack]


def _options(view: View, tsval: Optional[int] = None) -> tuple:  # type: ignore[type-arg]
    if view.ts_recent is None:
        return ()
    value = view.ts_recent if tsval is None else tsval
    return ((OptionKind.NOP, None), (OptionKind.NOP, None), (OptionKind.TIMESTAMPS, (value, view.tsecr)))


def _segment(view: View, **fields: object) -> Segment:
    base: Dict[str, object] = {"src_port": view.src_port, "dst_port": view.dst_port,
                               "seq": view.rcv_nxt, "ack": view.snd_una, "flags": _F.ACK,
                               "window": 0xFFFF, "options": _options(view)}
    base.update(fields)
    return Segment(**base)  # type: ignore[arg-type]


def _raw(segment: Segment) -> bytes:
    return bytes(pack(segment, src=PEER_ADDRESS, dst=TARGET_ADDRESS))


def _checksummed(data: bytes) -> bytes:
    """``data`` with its checksum field set right for the peer and the target."""
    right = int(tcp_checksum(PEER_ADDRESS, TARGET_ADDRESS, data))
    return data[:_wire.CHECKSUM] + right.to_bytes(2, "big") + data[_wire.URGENT:]


def _payload(key: bytes, view: View, seq: int, size: int, *, bad: bool = False) -> bytes:
    offset = seq_diff(seq, view.base) % (1 << 32)
    return (poison if bad else stream_bytes)(key, offset, size)


def _attack(kind: str, segment: Segment, what: str, *expect: str, bad: bool = False) -> Attack:
    return Attack(kind, _raw(segment), f"{kind}: {what}", expect, bad)


def _rst_exact(rng: random.Random, view: View, key: bytes) -> Attack:
    flags = rng.choice((_F.RST, _F.RST | _F.ACK))
    segment = _segment(view, flags=flags, ack=view.snd_una if flags & _F.ACK else 0, window=0, options=())
    return _attack("rst_exact", segment, f"RST at RCV.NXT {view.rcv_nxt}", "closes")


def _rst_in_window(rng: random.Random, view: View, key: bytes) -> Attack:
    offset = rng.randint(1, max(1, min(view.rcv_wnd - 1, _LARGEST_WINDOW)))
    segment = _segment(view, flags=_F.RST | _F.ACK, seq=seq_add(view.rcv_nxt, offset), window=0,
                       options=())
    return _attack("rst_in_window", segment, f"RST at RCV.NXT + {offset}", "challenge_ack", "keeps_state")


def _rst_out_of_window(rng: random.Random, view: View, key: bytes) -> Attack:
    away = rng.choice((view.rcv_wnd + rng.randint(0, 1 << 20), -rng.randint(1, 1 << 20), _FAR))
    segment = _segment(view, flags=rng.choice((_F.RST, _F.RST | _F.ACK)),
                       seq=seq_add(view.rcv_nxt, away), window=0, options=())
    return _attack("rst_out_of_window", segment, f"RST at RCV.NXT {away:+d}", "no_answer", "keeps_state")


def _syn_in_window(rng: random.Random, view: View, key: bytes) -> Attack:
    offset = rng.randint(0, max(0, view.rcv_wnd - 1))
    flags = rng.choice((_F.SYN, _F.SYN | _F.ACK))
    segment = _segment(view, flags=flags, seq=seq_add(view.rcv_nxt, offset),
                       ack=view.snd_una if flags & _F.ACK else 0)
    return _attack("syn_in_window", segment, f"SYN at RCV.NXT + {offset}", "challenge_ack", "keeps_state")


def _ack_edge(kind: str, ack: int, rng: random.Random, view: View, key: bytes, what: str) -> Attack:
    size = rng.randint(1, _PAYLOAD) if view.rcv_wnd else 0
    payload = _payload(key, view, view.rcv_nxt, size, bad=True)
    segment = _segment(view, ack=ack, flags=_F.ACK | _F.PSH, payload=payload)
    return _attack(kind, segment, what, "ack", "keeps_state", bad=True)


def _ack_unsent(rng: random.Random, view: View, key: bytes) -> Attack:
    ahead = rng.choice((1, rng.randint(2, 1 << 16), rng.randint(1, _HALF - 1)))
    return _ack_edge("ack_unsent", seq_add(view.snd_max, ahead), rng, view, key,
                     f"ACK of SND.NXT + {ahead}, never sent")


def _ack_too_old(rng: random.Random, view: View, key: bytes) -> Attack:
    flight = seq_diff(view.snd_max, view.snd_una)
    back = rng.randint(_FAR, max(_FAR, _HALF - 1 - max(flight, 0)))
    return _ack_edge("ack_too_old", seq_add(view.snd_una, -back), rng, view, key,
                     f"ACK of SND.UNA - {back}, below SND.UNA - MAX.SND.WND")


def _data_in_window(rng: random.Random, view: View, key: bytes) -> Attack:
    size = rng.randint(1, max(1, min(_PAYLOAD, view.rcv_wnd)))
    offset = rng.randint(0, max(0, view.rcv_wnd - size))
    seq = seq_add(view.rcv_nxt, offset)
    segment = _segment(view, seq=seq, payload=_payload(key, view, seq, size))
    return _attack("data_in_window", segment, f"{size} bytes at RCV.NXT + {offset}", "keeps_state")


def _data_out_of_window(rng: random.Random, view: View, key: bytes) -> Attack:
    size = rng.randint(1, _PAYLOAD)
    away = rng.choice((_FAR + rng.randint(0, 1 << 20), -size - rng.randint(0, 1 << 20)))
    seq = seq_add(view.rcv_nxt, away)
    segment = _segment(view, seq=seq, payload=_payload(key, view, seq, size, bad=True))
    return _attack("data_out_of_window", segment, f"{size} bytes at RCV.NXT {away:+d}", "ack",
                   "keeps_state", bad=True)


def _stale_timestamp(rng: random.Random, view: View, key: bytes) -> Attack:
    assert view.ts_recent is not None
    back = rng.randint(1, _HALF - 1)
    size = rng.randint(1, _PAYLOAD) if view.rcv_wnd else 0
    segment = _segment(view, options=_options(view, seq_add(view.ts_recent, -back)),
                       payload=_payload(key, view, view.rcv_nxt, size, bad=True))
    return _attack("stale_timestamp", segment, f"TSval TS.Recent - {back} (PAWS, RFC 7323 §5)", "ack",
                   "keeps_state", bad=True)


def _antipodal(rng: random.Random, view: View, key: bytes) -> Attack:
    which = rng.choice(("seq", "ack", "both"))
    seq = seq_add(view.rcv_nxt, _HALF) if which != "ack" else view.rcv_nxt
    ack = seq_add(view.snd_max, _HALF) if which != "seq" else view.snd_una
    size = rng.randint(1, _PAYLOAD) if view.rcv_wnd else 0
    segment = _segment(view, seq=seq, ack=ack, payload=_payload(key, view, seq, size, bad=True))
    return _attack("antipodal", segment, f"{which} 2**31 away", "ack", "keeps_state", bad=True)


def _next_segment(rng: random.Random, view: View, key: bytes) -> Segment:
    """The segment the peer would send next: an ACK with the next bytes of its stream."""
    size = rng.choice((0, rng.randint(1, _PAYLOAD)))
    return _segment(view, seq=view.next_seq, flags=_F.ACK | _F.PSH if size else _F.ACK,
                    payload=_payload(key, view, view.next_seq, size))


def _mutated(kind: str, operators: Optional[Tuple[str, ...]], rng: random.Random, view: View,
             key: bytes, base: Optional[Segment] = None) -> Attack:
    original = _raw(base if base is not None else _next_segment(rng, view, key))
    mutator = Mutator(rng.getrandbits(32), checksum="fix", src=PEER_ADDRESS, dst=TARGET_ADDRESS,
                      operators=operators, stack=rng.randint(1, 3), max_len=_MAX_SEGMENT)
    mutation = mutator.mutate(original)
    data = mutation.data
    if len(data) >= 20:
        # The payload is the peer's stream at the (maybe mutated) offset: only the header is attacked.
        decoded = unpack(data, strict=False)
        size = len(decoded.payload)
        if size:
            data = _checksummed(data[: len(data) - size] + _payload(key, view, decoded.seq, size))
    return Attack(kind, data, f"{kind}: {mutation.description}")


def _mutate(rng: random.Random, view: View, key: bytes) -> Attack:
    return _mutated("mutate", None, rng, view, key)


def _option_attack(rng: random.Random, view: View, key: bytes) -> Attack:
    return _mutated("options", _OPTION_OPERATORS, rng, view, key)


def _flag_attack(rng: random.Random, view: View, key: bytes) -> Attack:
    return _mutated("flags", ("flags",), rng, view, key)


def _urgent(rng: random.Random, view: View, key: bytes) -> Attack:
    size = rng.choice((0, rng.randint(1, _PAYLOAD)))
    pointer = rng.choice((size + 1, size + rng.randint(2, 1000), 0xFFFF))
    segment = _segment(view, seq=view.next_seq, flags=_F.ACK | _F.URG | _F.PSH, urgent=pointer,
                       payload=_payload(key, view, view.next_seq, size))
    return _attack("urgent", segment, f"URG, pointer {pointer} past {size} payload bytes")


def _fin_again(rng: random.Random, view: View, key: bytes) -> Attack:
    assert view.peer_fin is not None
    segment = _segment(view, seq=view.peer_fin, flags=_F.FIN | _F.ACK)
    return _attack("fin_again", segment, f"the peer's FIN at {view.peer_fin} again", "ack", "keeps_state")


def _stranger(rng: random.Random, view: View) -> Segment:
    flags = rng.choice((_F.ACK, _F.SYN, _F.RST, _F.RST | _F.ACK, _F.FIN | _F.ACK, _F.ACK | _F.PSH,
                        _F.SYN | _F.ACK, _F(0)))
    size = 0 if flags & _F.SYN else rng.choice((0, rng.randint(1, _PAYLOAD)))
    return Segment(src_port=view.src_port, dst_port=view.dst_port, seq=rng.getrandbits(32),
                   ack=rng.getrandbits(32) if flags & _F.ACK else 0, flags=flags, window=0xFFFF,
                   payload=bytes(size))


def _closed_port(rng: random.Random, view: View, key: bytes) -> Attack:
    segment = _stranger(rng, view)
    return _attack("closed_port", segment, f"{segment.flags!r} for no connection", "reset")


def _listen_probe(rng: random.Random, view: View, key: bytes) -> Attack:
    segment = _stranger(rng, view)
    flags = int(segment.flags)
    expect = "syn_ack" if flags & _F.SYN and not flags & (_F.ACK | _F.RST) else \
        "reset" if flags & (_F.ACK | _F.RST) else ""
    return _attack("listen_probe", segment, f"{segment.flags!r} to the listener", *filter(None, [expect]))


def _listen_mutate(rng: random.Random, view: View, key: bytes) -> Attack:
    syn = Segment(src_port=view.src_port, dst_port=view.dst_port, seq=rng.getrandbits(32), flags=_F.SYN,
                  window=0xFFFF, options=((OptionKind.MSS, 1460), (OptionKind.SACK_PERMITTED, None),
                                          (OptionKind.TIMESTAMPS, (1, 0)), (OptionKind.NOP, None),
                                          (OptionKind.WSCALE, 7)))
    return _mutated("listen_mutate", None, rng, view, key, base=syn)


#: Every attack kind and its builder.
ATTACKS: Dict[str, Builder] = {
    "rst_exact": _rst_exact,
    "rst_in_window": _rst_in_window,
    "rst_out_of_window": _rst_out_of_window,
    "syn_in_window": _syn_in_window,
    "ack_too_old": _ack_too_old,
    "ack_unsent": _ack_unsent,
    "data_in_window": _data_in_window,
    "data_out_of_window": _data_out_of_window,
    "stale_timestamp": _stale_timestamp,
    "antipodal": _antipodal,
    "mutate": _mutate,
    "options": _option_attack,
    "flags": _flag_attack,
    "urgent": _urgent,
    "fin_again": _fin_again,
    "closed_port": _closed_port,
    "listen_probe": _listen_probe,
    "listen_mutate": _listen_mutate,
}


def build(kind: str, rng: random.Random, view: View, key: bytes) -> Attack:
    """The attack of ``kind`` on ``view``, its random choices from ``rng``."""
    return ATTACKS[kind](rng, view, key)
