"""Field- and option-aware mutation of real TCP segments, deterministic by seed.

A :class:`Mutator` takes the bytes of a segment (typically one from a
capture), decodes them leniently and applies one named *operator* (or a short
stack of them) that changes a header field, the options, the lengths or the
payload.  Each :class:`Mutation` carries the resulting bytes and a readable
account of what was done, e.g. ``"flip bit 3 of window (501 -> 509)"``,
``"options: duplicate TIMESTAMPS=(1, 0) (#2)"`` or
``"seq -= 65535 (one window back; 1000 -> 4294902761)"``, so that a finding can be explained.

>>> import fastseg
>>> from fastseg import Flags, OptionKind, Segment
>>> syn = fastseg.pack(Segment(src_port=40000, dst_port=443, seq=1, flags=Flags.SYN,
...                            options=[(OptionKind.MSS, 1460), (OptionKind.SACK_PERMITTED, None)]),
...                    src="10.0.0.1", dst="10.0.0.2")
>>> mutator = Mutator(2, checksum="fix", src="10.0.0.1", dst="10.0.0.2")
>>> for mutation in mutator.mutations(syn, 4):
...     print(mutation.description)
ack += 1 (one ahead; 0 -> 1); checksum fixed (0xd220)
truncate 28 -> 22 bytes (inside the options); checksum fixed (0xdbdd)
options: duplicate SACK_PERMITTED (#1); checksum fixed (0xbe1b)
options: 52 option bytes, data offset 15 (says 15); 12 bytes spill into the payload; checksum fixed (0xd9a2)
>>> fastseg.unpack(mutation.data, strict=False).anomalies[0].reason
'option kind 5 length 10 runs past the header (2 bytes left)'
>>> fastseg.verify_checksum("10.0.0.1", "10.0.0.2", mutation.data)
True
>>> Mutator(2, checksum="fix", src="10.0.0.1", dst="10.0.0.2").mutate(syn, index=3) == mutation
True

**Determinism.** The n-th mutation of a Mutator (``index`` n, counted from 0)
depends only on the seed, n, the input bytes and the Mutator's settings: its
random numbers come from a ``random.Random`` seeded with a string made of the
seed and n (hashed with SHA-512 by ``random``, so neither ``PYTHONHASHSEED``
nor the global ``random`` state matter).  The same seed and inputs give the
same sequence on every run; ``mutate(data, index=n)`` replays mutation n on its
own, without advancing the sequence.

**Operators** (names for the ``operators`` argument; all weigh 1 by default):

====================== ==========================================================
``bitflip``            flip one bit of a named header field: src_port, dst_port,
                       seq, ack, data_offset, reserved, flags, window, urgent
``boundary``           set a named field to a boundary value: 0, 1, max, max-1,
                       2**15 and 2**15-1 (16-bit fields), 2**31 and 2**31±1
                       (seq, ack), the payload length ±1 (urgent), any data
                       offset 0..15, any reserved bits
``flags``              set a flag combination, contradictory ones included (none,
                       SYN+FIN, SYN+RST, SYN+FIN+RST, Xmas, all nine with AE, the
                       reserved bits), toggle one flag, or set random bits
``seq_shift``          move seq or ack relative to the window: ± window,
                       ± (window + 1), + 2**31 (the antipode), ± (2**31 - 1),
                       ± 1, or set it to 0
``option_insert``      insert an option: any named kind with a valid value, with
                       an odd one (wrong length, WSCALE above 14), or an
                       unknown kind
``option_remove``      remove one option
``option_duplicate``   repeat one option right after itself
``option_reorder``     swap two options or reverse their order
``option_length``      corrupt one option's length byte: 0, 1, one short, one
                       long, past the end of the header, or 255
``option_eol``         insert an EOL before an option (the rest becomes bytes
                       after EOL), or put garbage bytes after an EOL
``option_overflow``    more than 40 option bytes, the data offset saying 15 or
                       wrapping modulo 16; the excess spills into the payload
``truncate``           cut the segment inside the fixed header, the options or
                       the payload, or drop the whole payload
``extend``             append random or zero bytes, the payload again, or grow
                       the segment to the length bound
``payload``            flip, set, insert, delete or repeat payload bytes
``raw``                flip, set, insert or delete one byte anywhere but the
                       checksum field, blind to the structure
====================== ==========================================================

Field, flag and option mutations are Segment edits (``Segment.replace`` and
``fastseg.pack``): fixed-header edits re-encode the 20 fixed bytes and keep
every byte after them, option edits re-encode the options (padded to a
multiple of 4) and keep the payload.  Length corruption, overflow,
truncation, extension and the payload and raw operators work on bytes,
because they must break the structure or lie outside it.  Inputs that do
not decode (fewer than 20 bytes) get the byte-level operators only; when no
selected operator applies to an input, ``raw`` is used.  Every step changes
the bytes it is given.

**Checksum modes**, applied after the operators:

- ``"keep"``: the checksum field (bytes 16-17) is the input's, so after a
  mutation it is usually wrong.  It is written back last, even where an
  edit shifted the bytes before it; nothing is done where the input or the
  output is shorter than 18 bytes.
- ``"fix"``: the checksum is recomputed for ``src`` and ``dst``, so
  ``fastseg.verify_checksum(src, dst, mutation.data)`` holds.
- ``"break"``: a checksum that is guaranteed not to verify for ``src`` and
  ``dst``.

In "fix" and "break" mode outputs are at least 20 bytes (the operators do
not cut below 20; shorter inputs are zero-padded, and the description says
so) and, for IPv4 addresses, at most 65535.  Outputs never exceed ``max_len`` (65535 + 60 by default);
longer results are cut, again with a note.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from fastseg import _wire, capture
from fastseg._addr import Address, packed
from fastseg._options_py import pack_options
from fastseg.capture._common import IPV4_HEADER_LEN
from fastseg.checksum import tcp_checksum, verify_checksum
from fastseg.codec import pack, unpack
from fastseg.errors import EncodeError
from fastseg.segment import Flags, Option, OptionKind, Segment

__all__ = ["CHECKSUM_MODES", "FRAME_EPOCH_NS", "MAX_LENGTH", "OPERATORS", "Mutation", "Mutator", "frames"]

#: The default bound on a mutation's length: the largest IPv4 TCP segment plus a full header.
MAX_LENGTH = 0xFFFF + _wire.MAX_HEADER_LEN
#: What happens to the checksum field after the operators.
CHECKSUM_MODES = ("keep", "fix", "break")
#: The timestamp of the first frame :func:`frames` makes; frame i is i microseconds later.
FRAME_EPOCH_NS = 1_700_000_000 * 10**9

Seed = Union[int, str]
Step = Tuple[str, str]
_Result = Optional[Tuple[bytes, str]]


@dataclass(frozen=True)
class Mutation:
    """One mutated segment and how it was made.

    ``data`` is the mutated bytes; ``steps`` the ``(operator, description)`` of
    each operator applied, in order (then ``("cut", ...)`` if the result had to
    be cut to the length bound); ``checksum_note`` what the checksum mode did.
    ``seed`` and ``index`` identify it: ``Mutator(seed, ...)`` with the same
    settings gives it back from ``mutate(input, index=index)``.
    """

    data: bytes
    steps: Tuple[Step, ...]
    checksum_note: str
    seed: Seed
    index: int

    @property
    def operators(self) -> Tuple[str, ...]:
        """The names of the operators applied, in order."""
        return tuple(name for name, _ in self.steps)

    @property
    def description(self) -> str:
        """What was done, readable: the steps, then the checksum."""
        return "; ".join([text for _, text in self.steps] + [self.checksum_note])

    def __bytes__(self) -> bytes:
        return self.data

    def __str__(self) -> str:
        return f"mutation {self.index} of seed {self.seed!r}: {self.description}"


@dataclass(frozen=True)
class _Context:
    """One input to an operator: its bytes, its lenient decoding and the limits."""

    data: bytes
    segment: Optional[Segment]
    min_len: int
    max_len: int
    window: int

    @property
    def header_end(self) -> int:
        """Where the payload starts (the header end, clipped to the bytes given)."""
        assert self.segment is not None
        return len(self.data) - len(self.segment.payload)


_Function = Callable[[random.Random, _Context], _Result]


@dataclass(frozen=True)
class _Operator:
    name: str
    summary: str
    structured: bool  # needs a decoded segment
    function: _Function


_REGISTRY: Dict[str, _Operator] = {}


def _operator(name: str, *, structured: bool = True) -> Callable[[_Function], _Function]:
    def register(function: _Function) -> _Function:
        summary = (function.__doc__ or name).strip().splitlines()[0]
        _REGISTRY[name] = _Operator(name, summary, structured, function)
        return function

    return register


class Mutator:
    """A deterministic source of mutations of TCP segments.

    ``seed`` (int or str) fixes the sequence.  ``checksum`` is "keep", "fix"
    or "break"; the last two need ``src`` and ``dst`` (IPv4 or IPv6 addresses
    as for ``fastseg.pack``).  ``window`` is the window size the ``seq_shift``
    operator moves seq and ack by (default 65535).  ``operators`` selects
    operators by name, as an iterable (equal weights) or a mapping of name to
    weight (zero leaves one out); None means all, equally.  Each mutation
    applies between 1 and ``stack`` operators in sequence.  ``max_len`` bounds
    the output length.
    """

    def __init__(
        self,
        seed: Seed = 0,
        *,
        checksum: str = "keep",
        src: Optional[Address] = None,
        dst: Optional[Address] = None,
        window: int = 0xFFFF,
        operators: Union[Iterable[str], Mapping[str, float], None] = None,
        stack: int = 1,
        max_len: int = MAX_LENGTH,
    ) -> None:
        if not isinstance(seed, (int, str)) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int or a str, not {type(seed).__name__}")
        if checksum not in CHECKSUM_MODES:
            raise ValueError(f"checksum must be one of {CHECKSUM_MODES}, got {checksum!r}")
        if checksum != "keep":
            if src is None or dst is None:
                raise ValueError(f"checksum={checksum!r} needs src and dst")
            tcp_checksum(src, dst, bytes(_wire.HEADER_LEN))  # refuses bad or mixed addresses
        if not isinstance(window, int) or not 1 <= window <= 1 << 30:
            raise ValueError(f"window must be an int in [1, 2**30], got {window!r}")
        if not isinstance(stack, int) or stack < 1:
            raise ValueError(f"stack must be an int >= 1, got {stack!r}")
        if not isinstance(max_len, int) or max_len < _wire.HEADER_LEN:
            raise ValueError(f"max_len must be an int >= 20, got {max_len!r}")
        self.seed = seed
        self.checksum = checksum
        self.src = src
        self.dst = dst
        self.window = window
        self.stack = stack
        self.weights = _weights(operators)
        if checksum != "keep" and src is not None and len(packed(src, "src")) == 4:
            max_len = min(max_len, 0xFFFF)  # the IPv4 pseudo-header counts 16 bits of length
        self.max_len = max_len
        self._min_len = 0 if checksum == "keep" else _wire.HEADER_LEN
        self._next = 0

    def __repr__(self) -> str:
        return (f"Mutator({self.seed!r}, checksum={self.checksum!r}, window={self.window}, "
                f"stack={self.stack}, next index {self._next})")

    def mutate(self, data: Any, *, index: Optional[int] = None) -> Mutation:
        """The next mutation of ``data`` (any buffer), or with ``index`` that one again.

        Without ``index`` the Mutator's counter advances; with it nothing
        changes, so a logged (seed, index, input) is replayed exactly.
        """
        if index is None:
            index, self._next = self._next, self._next + 1
        elif not isinstance(index, int) or index < 0:
            raise ValueError(f"index must be an int >= 0, got {index!r}")
        original = memoryview(data).tobytes()
        rng = random.Random(f"fastseg.mutate:{self.seed!r}:{index}")
        current = original
        steps: List[Step] = []
        for _ in range(rng.randint(1, self.stack)):
            current, step = self._step(rng, current)
            steps.append(step)
        if len(current) > self.max_len:
            steps.append(("cut", f"cut {len(current)} -> {self.max_len} bytes (the length bound)"))
            current = current[: self.max_len]
        current, note = self._finish(rng, current, original)
        return Mutation(current, tuple(steps), note, self.seed, index)

    def mutations(self, data: Any, n: int) -> Iterator[Mutation]:
        """The next ``n`` mutations of ``data``."""
        for _ in range(n):
            yield self.mutate(data)

    def _step(self, rng: random.Random, data: bytes) -> Tuple[bytes, Step]:
        segment: Optional[Segment] = None
        if len(data) >= _wire.HEADER_LEN:
            segment = unpack(data, strict=False)
        context = _Context(data, segment, self._min_len, self.max_len, self.window)
        candidates = [
            (name, weight) for name, weight in self.weights.items()
            if segment is not None or not _REGISTRY[name].structured
        ]
        while candidates:
            total = sum(weight for _, weight in candidates)
            pick = rng.random() * total
            position = len(candidates) - 1  # where rounding leaves pick >= 0
            for index, (_, weight) in enumerate(candidates):
                pick -= weight
                if pick < 0:
                    position = index
                    break
            name = candidates[position][0]
            result = _REGISTRY[name].function(rng, context)
            if result is not None and result[0] != data:
                return result[0], (name, result[1])
            del candidates[position]
        result = _raw(rng, context)
        assert result is not None
        return result[0], ("raw", result[1] + " (no selected operator applied)")

    def _finish(self, rng: random.Random, data: bytes, original: bytes) -> Tuple[bytes, str]:
        if self.checksum == "keep":
            if len(data) < _wire.URGENT or len(original) < _wire.URGENT:
                return data, "checksum kept (no checksum field)"
            held = original[_wire.CHECKSUM : _wire.URGENT]
            return _splice(data, _wire.CHECKSUM, held), f"checksum kept (0x{held.hex()})"
        assert self.src is not None and self.dst is not None
        note = ""
        if len(data) < _wire.HEADER_LEN:
            note = f"zero-padded {len(data)} -> 20 bytes for the checksum; "
            data += bytes(_wire.HEADER_LEN - len(data))
        right = tcp_checksum(self.src, self.dst, data)
        if self.checksum == "fix":
            fixed = _splice(data, _wire.CHECKSUM, right.to_bytes(2, "big"))
            return fixed, note + f"checksum fixed (0x{right:04x})"
        while True:  # 0x0000 and 0xffff can both verify: check, do not assume
            wrong = right ^ rng.randrange(1, 0x10000)
            broken = _splice(data, _wire.CHECKSUM, wrong.to_bytes(2, "big"))
            if not verify_checksum(self.src, self.dst, broken):
                return broken, note + f"checksum broken (0x{wrong:04x}, right is 0x{right:04x})"


def _weights(operators: Union[Iterable[str], Mapping[str, float], None]) -> Dict[str, float]:
    if operators is None:
        return dict.fromkeys(_REGISTRY, 1.0)
    if isinstance(operators, str):
        raise TypeError("operators is an iterable of names or a mapping, not a str")
    pairs = list(operators.items()) if isinstance(operators, Mapping) else [(n, 1.0) for n in operators]
    weights: Dict[str, float] = {}
    for name, weight in pairs:
        if name not in _REGISTRY:
            raise ValueError(f"unknown operator {name!r}; the operators are {', '.join(_REGISTRY)}")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not weight >= 0:
            raise ValueError(f"the weight of {name!r} must be a number >= 0, got {weight!r}")
        if weight:
            weights[name] = float(weight)
    if not weights:
        raise ValueError("no operator selected (all weights zero or none named)")
    return {name: weights[name] for name in _REGISTRY if name in weights}  # registry order


# ---------------------------------------------------------------- helpers


def _splice(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


def _seg(context: _Context) -> Segment:
    assert context.segment is not None
    return context.segment


#: Mutable fixed-header fields and their widths in bits (the checksum belongs to the mode).
_FIELD_BITS = {"src_port": 16, "dst_port": 16, "seq": 32, "ack": 32, "data_offset": 4,
               "reserved": 3, "flags": 9, "window": 16, "urgent": 16}


def _get(segment: Segment, field: str) -> int:
    if field == "data_offset":
        return segment.header_len // 4
    return int(getattr(segment, field))


def _show(field: str, value: int) -> str:
    if field == "flags":
        return str(Flags(value))
    if field == "reserved":
        return f"{value:#05b}"
    return str(value)


def _with_fixed(context: _Context, **changes: int) -> bytes:
    """The input with its 20 fixed bytes re-encoded from an edited Segment, the rest kept."""
    segment = _seg(context)
    header_len = changes.pop("data_offset", segment.header_len // 4) * 4
    if "flags" in changes:
        changes["flags"] = Flags(changes["flags"])
    edited = segment.replace(options=(), payload=b"", anomalies=(), header_len=header_len, **changes)
    fixed: bytes = pack(edited)
    return fixed[: _wire.HEADER_LEN] + context.data[_wire.HEADER_LEN :]


def _set_field(context: _Context, field: str, value: int, what: str) -> _Result:
    old = _get(_seg(context), field)
    if value == old:
        return None
    text = f"{field} = {_show(field, value)} (was {_show(field, old)}; {what})"
    return _with_fixed(context, **{field: value}), text


def _option_str(option: Option) -> str:
    kind, value = option
    if kind is None:
        return f"undecoded bytes 0x{bytes(value).hex()}"
    name = kind.name if isinstance(kind, OptionKind) else f"kind {kind}"
    if value is None or (kind == OptionKind.EOL and not value):
        return name
    if isinstance(value, (bytes, bytearray)):
        return f"{name}=0x{bytes(value).hex()}" if value else f"{name}=(empty)"
    return f"{name}={value!r}"


def _terminal(options: Tuple[Option, ...]) -> int:
    """The index of the first EOL or undecoded-bytes entry (nothing decodes after it), or len."""
    for index, (kind, _) in enumerate(options):
        if kind is None or kind == OptionKind.EOL:
            return index
    return len(options)


def _with_options(context: _Context, options: List[Option]) -> Optional[bytes]:
    """The input with its options replaced (header re-encoded, padded), or None if they don't fit."""
    segment = _seg(context)
    try:
        header: bytes = pack(segment.replace(options=tuple(options), payload=b""))
    except EncodeError:
        return None
    return header + segment.payload


def _random_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


# ---------------------------------------------------------------- header fields


@_operator("bitflip")
def _bitflip(rng: random.Random, context: _Context) -> _Result:
    """Flip one bit of a named header field."""
    field = rng.choice(tuple(_FIELD_BITS))
    bit = rng.randrange(_FIELD_BITS[field])
    old = _get(_seg(context), field)
    new = old ^ (1 << bit)
    text = f"flip bit {bit} of {field} ({_show(field, old)} -> {_show(field, new)})"
    return _with_fixed(context, **{field: new}), text


_U16_EDGES = (0, 1, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF)
_U32_EDGES = (0, 1, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 2, 2**32 - 1)
_BOUNDARIES: Dict[str, Tuple[int, ...]] = {
    "src_port": _U16_EDGES, "dst_port": _U16_EDGES, "seq": _U32_EDGES, "ack": _U32_EDGES,
    "data_offset": tuple(range(16)), "reserved": tuple(range(8)), "window": _U16_EDGES,
    "urgent": _U16_EDGES,
}


@_operator("boundary")
def _boundary(rng: random.Random, context: _Context) -> _Result:
    """Set a named header field to a boundary value."""
    segment = _seg(context)
    field = rng.choice(tuple(_BOUNDARIES))
    values = _BOUNDARIES[field]
    if field == "urgent":
        size = len(segment.payload)
        values += tuple(v for v in (size - 1, size, size + 1) if 0 <= v <= 0xFFFF)
    old = _get(segment, field)
    choices = [v for v in values if v != old]
    return _set_field(context, field, rng.choice(choices), "boundary")


_F = Flags
_FLAG_SETS: Tuple[Tuple[str, int, Optional[int]], ...] = (
    # (name, flags, reserved bits or None to leave them)
    ("no flags", 0, None),
    ("SYN+FIN", _F.SYN | _F.FIN, None),
    ("SYN+RST", _F.SYN | _F.RST, None),
    ("SYN+FIN+RST", _F.SYN | _F.FIN | _F.RST, None),
    ("RST+FIN", _F.RST | _F.FIN, None),
    ("SYN+ACK+RST", _F.SYN | _F.ACK | _F.RST, None),
    ("Xmas: FIN+PSH+URG", _F.FIN | _F.PSH | _F.URG, None),
    ("FIN without ACK", _F.FIN, None),
    ("URG without ACK", _F.URG, None),
    ("SYN with ECE+CWR+AE", _F.SYN | _F.ECE | _F.CWR | _F.AE, None),
    ("AE alone", _F.AE, None),
    ("all nine flags", _wire.FLAG_BITS, None),
    ("all flags and reserved bits", _wire.FLAG_BITS, _wire.RESERVED_BITS),
    ("no flags, reserved bits set", 0, _wire.RESERVED_BITS),
)


@_operator("flags")
def _flags(rng: random.Random, context: _Context) -> _Result:
    """Set a flag combination (contradictory ones included), toggle one flag, or random bits."""
    segment = _seg(context)
    old = (int(segment.flags), segment.reserved)
    new: Tuple[int, int]
    roll = rng.randrange(4)
    if roll == 0:
        flag = rng.choice(tuple(Flags))
        new, what = (old[0] ^ flag, old[1]), f"toggle {flag.name}"
    elif roll == 1:
        new, what = (rng.getrandbits(9), rng.getrandbits(3)), "random bits"
    else:
        sets = [(name, (f, old[1] if r is None else r)) for name, f, r in _FLAG_SETS]
        what, new = rng.choice([(name, bits) for name, bits in sets if bits != old])
    if new == old:
        return None
    text = f"flags = {Flags(new[0])!s}"
    if new[1] != old[1]:
        text += f", reserved = {new[1]:#05b}"
    text += f" (was {segment.flags!s}"
    if new[1] != old[1]:
        text += f", reserved {old[1]:#05b}"
    text += f"; {what})"
    return _with_fixed(context, flags=new[0], reserved=new[1]), text


@_operator("seq_shift")
def _seq_shift(rng: random.Random, context: _Context) -> _Result:
    """Move seq or ack by a window, 2**31 or 1 either way, or set it to 0."""
    segment = _seg(context)
    field = rng.choice(("seq", "ack"))
    old = _get(segment, field)
    window = context.window
    shifts = (
        (window, "one window ahead"), (-window, "one window back"),
        (window + 1, "just past one window ahead"), (-window - 1, "just past one window back"),
        (2**31, "2**31 away: the antipode"), (2**31 - 1, "2**31 - 1 ahead: the farthest 'after'"),
        (-(2**31 - 1), "2**31 - 1 back: the farthest 'before'"),
        (1, "one ahead"), (-1, "one back"), (None, "to 0"),
    )
    shift, what = rng.choice([s for s in shifts if s[0] is not None or old != 0])
    if shift is None:
        return _set_field(context, field, 0, what)
    new = (old + shift) % 2**32
    text = f"{field} {'+' if shift > 0 else '-'}= {abs(shift)} ({what}; {old} -> {new})"
    return _with_fixed(context, **{field: new}), text


# ---------------------------------------------------------------- options


#: Named kinds the codec keeps as raw data, with typical data lengths.
_RAW_KINDS: Tuple[Tuple[OptionKind, Tuple[int, ...]], ...] = (
    (OptionKind.ECHO, (4,)), (OptionKind.ECHO_REPLY, (4,)), (OptionKind.MD5, (16,)),
    (OptionKind.QUICK_START, (6,)), (OptionKind.USER_TIMEOUT, (2,)), (OptionKind.TCP_AO, (2, 14)),
    (OptionKind.MPTCP, (2, 10, 18)), (OptionKind.FASTOPEN, (0, 4, 8, 16)),
    (OptionKind.ACCECN0, (3, 6, 9)), (OptionKind.ACCECN1, (3, 6, 9)),
    (OptionKind.EXP1, (2, 4)), (OptionKind.EXP2, (2, 4)),
)
_NAMED = frozenset(int(kind) for kind in OptionKind)
_UNKNOWN_KINDS = tuple(kind for kind in range(256) if kind not in _NAMED)


def _random_option(rng: random.Random) -> Tuple[Option, str]:
    """An option to insert and what it is: valid, an odd value, or an unknown kind."""
    roll = rng.randrange(10)
    if roll == 0:
        return (OptionKind.MSS, rng.choice((536, 1220, 1460, 8960, 0, 1, 0xFFFF))), "valid"
    if roll == 1:
        return (OptionKind.WSCALE, rng.choice((0, 1, 7, 14))), "valid"
    if roll == 2:
        return (OptionKind.TIMESTAMPS, (rng.getrandbits(32), rng.choice((0, rng.getrandbits(32))))), "valid"
    if roll == 3:
        edges = sorted(rng.getrandbits(32) for _ in range(2 * rng.randint(1, 3)))
        return (OptionKind.SACK, tuple(zip(edges[::2], edges[1::2]))), "valid"
    if roll == 4:
        return (rng.choice((OptionKind.SACK_PERMITTED, OptionKind.NOP)), None), "valid"
    if roll == 5:
        kind, sizes = rng.choice(_RAW_KINDS)
        return (kind, _random_bytes(rng, rng.choice(sizes))), "valid"
    if roll == 6:
        return (OptionKind.WSCALE, rng.choice((15, 16, 0xFF))), "shift count above 14"
    if roll in (7, 8):
        kind, good = rng.choice(((OptionKind.MSS, 2), (OptionKind.WSCALE, 1),
                                 (OptionKind.SACK_PERMITTED, 0), (OptionKind.TIMESTAMPS, 8),
                                 (OptionKind.SACK, 8)))
        size = rng.choice([n for n in (0, 1, good - 1, good + 1, good + 7) if n >= 0 and n != good])
        return (kind, _random_bytes(rng, size)), f"wrong length {size + 2}"
    return (rng.choice(_UNKNOWN_KINDS), _random_bytes(rng, rng.randrange(9))), "unknown kind"


@_operator("option_insert")
def _option_insert(rng: random.Random, context: _Context) -> _Result:
    """Insert an option: a named kind with a valid or odd value, or an unknown kind."""
    options = list(_seg(context).options)
    position = rng.randint(0, _terminal(tuple(options)))
    option, what = _random_option(rng)
    options.insert(position, option)
    data = _with_options(context, options)
    return None if data is None else (data, f"options: insert {_option_str(option)} at #{position} ({what})")


@_operator("option_remove")
def _option_remove(rng: random.Random, context: _Context) -> _Result:
    """Remove one option."""
    options = list(_seg(context).options)
    if not options:
        return None
    position = rng.randrange(len(options))
    removed = options.pop(position)
    data = _with_options(context, options)
    return None if data is None else (data, f"options: remove {_option_str(removed)} (#{position})")


@_operator("option_duplicate")
def _option_duplicate(rng: random.Random, context: _Context) -> _Result:
    """Repeat one option right after itself."""
    options = list(_seg(context).options)
    end = _terminal(tuple(options))
    if not end:
        return None
    position = rng.randrange(end)
    options.insert(position + 1, options[position])
    data = _with_options(context, options)
    text = f"options: duplicate {_option_str(options[position])} (#{position})"
    return None if data is None else (data, text)


@_operator("option_reorder")
def _option_reorder(rng: random.Random, context: _Context) -> _Result:
    """Swap two options or reverse their order (an EOL and what follows it stay last)."""
    options = list(_seg(context).options)
    end = _terminal(tuple(options))
    distinct = sorted({pack_options([option]) for option in options[:end]})
    if len(distinct) < 2:
        return None
    if rng.randrange(3):
        first = rng.choice(distinct)
        second = rng.choice([o for o in distinct if o != first])
        i = next(n for n in range(end) if pack_options([options[n]]) == first)
        j = next(n for n in range(end) if pack_options([options[n]]) == second)
        i, j = min(i, j), max(i, j)
        options[i], options[j] = options[j], options[i]
        text = f"options: swap #{i} {_option_str(options[j])} and #{j} {_option_str(options[i])}"
    else:
        options[:end] = options[:end][::-1]
        text = f"options: reverse the order of #0..#{end - 1}"
    data = _with_options(context, options)
    return None if data is None else (data, text)


def _option_offsets(segment: Segment) -> List[int]:
    offsets, offset = [], _wire.HEADER_LEN
    for option in segment.options:
        offsets.append(offset)
        offset += len(pack_options([option]))
    return offsets


@_operator("option_length")
def _option_length(rng: random.Random, context: _Context) -> _Result:
    """Corrupt one option's length byte: 0, 1, one short, one long, past the header, 255."""
    segment = _seg(context)
    offsets = _option_offsets(segment)
    lengthy = [
        n for n, (kind, _) in enumerate(segment.options)
        if kind is not None and kind not in (OptionKind.EOL, OptionKind.NOP)
        and offsets[n] + 1 < context.header_end
    ]
    if not lengthy:
        return None
    n = rng.choice(lengthy)
    at = offsets[n] + 1
    old = context.data[at]
    room = context.header_end - offsets[n]
    choices = {0: "below 2", 1: "below 2", old - 1: "one short", old + 1: "one long",
               room + 1: "past the header", 255: "the largest"}
    new, what = rng.choice([(v, w) for v, w in choices.items() if 0 <= v <= 255 and v != old])
    text = (f"options: length byte of {_option_str(segment.options[n])} (#{n}, byte {at}) "
            f"{old} -> {new} ({what})")
    return _splice(context.data, at, bytes((new,))), text


@_operator("option_eol")
def _option_eol(rng: random.Random, context: _Context) -> _Result:
    """Insert an EOL before an option, or put garbage bytes after an EOL."""
    options = list(_seg(context).options)
    end = _terminal(tuple(options))
    if rng.randrange(2) and end:
        position = rng.randrange(end)
        rest = pack_options(options[position:])
        options[position:] = [(OptionKind.EOL, rest)]
        text = f"options: EOL at #{position}, {len(rest)} option bytes after it"
    else:
        before = len(pack_options(options[:end]))
        room = _wire.MAX_OPTIONS_LEN - before - 1
        if room < 1:
            return None
        garbage = bytes(rng.randint(1, 255) for _ in range(rng.randint(1, min(room, 12))))
        options[end:] = [(OptionKind.EOL, garbage)]
        text = f"options: EOL at #{end} with {len(garbage)} garbage bytes after it (0x{garbage.hex()})"
    data = _with_options(context, options)
    return None if data is None else (data, text)


@_operator("option_overflow")
def _option_overflow(rng: random.Random, context: _Context) -> _Result:
    """More than 40 option bytes; the data offset says 15 or wraps; the excess spills into the payload."""
    segment = _seg(context)
    options = list(segment.options)
    end = _terminal(tuple(options))
    head, tail = pack_options(options[:end]), pack_options(options[end:])
    filler = b""
    while len(head) + len(filler) + len(tail) <= _wire.MAX_OPTIONS_LEN or rng.randrange(3) == 0:
        option, _ = _random_option(rng)
        filler += pack_options([option])
    option_bytes = head + filler + tail
    words = (_wire.HEADER_LEN + len(option_bytes) + 3) // 4
    option_bytes += bytes(words * 4 - _wire.HEADER_LEN - len(option_bytes))
    if rng.randrange(2):
        data_offset, what = 15, "says 15"
    else:
        data_offset, what = words % 16, f"wraps: {words} mod 16"
    fixed = _with_fixed(context, data_offset=data_offset)[: _wire.HEADER_LEN]
    spill = _wire.HEADER_LEN + len(option_bytes) - 4 * max(data_offset, 5)
    text = (f"options: {len(option_bytes)} option bytes, data offset {data_offset} ({what}); "
            f"{spill} bytes spill into the payload")
    return fixed + option_bytes + segment.payload, text


# ---------------------------------------------------------------- lengths and bytes


@_operator("truncate", structured=False)
def _truncate(rng: random.Random, context: _Context) -> _Result:
    """Cut the segment inside the fixed header, the options or the payload."""
    size = len(context.data)
    if context.segment is None:
        regions = [("inside the fixed header", range(context.min_len, size))]
    else:
        end = context.header_end
        regions = [
            ("inside the fixed header", range(context.min_len, _wire.HEADER_LEN)),
            ("inside the options", range(_wire.HEADER_LEN, end)),
            ("inside the payload", range(end, size)),
        ]
    regions = [(what, cuts) for what, cuts in regions if len(cuts)]
    if not regions:
        return None
    what, cuts = rng.choice(regions)
    cut = rng.choice(cuts)
    if context.segment is not None and cut == context.header_end:
        what = "drop the whole payload"
    return context.data[:cut], f"truncate {size} -> {cut} bytes ({what})"


@_operator("extend", structured=False)
def _extend(rng: random.Random, context: _Context) -> _Result:
    """Append trailing bytes, double the payload or grow the segment to the length bound."""
    data = context.data
    room = context.max_len - len(data)
    if room <= 0:
        return None
    payload = context.segment.payload if context.segment is not None else b""
    roll = rng.randrange(8)
    if roll == 7:  # rarely: outputs this long are slow to handle by the dozen
        byte = rng.getrandbits(8)
        tail, what = bytes((byte,)) * room, f"copies of 0x{byte:02x}, to the length bound"
    elif roll >= 5 and payload:
        tail, what = payload[:room], "payload bytes again"
    elif roll >= 3:
        tail, what = bytes(rng.randint(1, min(room, 64))), "zero bytes"
    else:
        tail, what = _random_bytes(rng, rng.randint(1, min(room, 16))), "random bytes"
    return data + tail, f"extend {len(data)} -> {len(data) + len(tail)} bytes ({len(tail)} {what})"


_BYTE_EDGES = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)


def _byte_edit(rng: random.Random, data: bytes, positions: List[int], base: int,
               max_len: int) -> Tuple[bytes, str]:
    """Flip, set, delete or insert a byte at one of ``positions`` (offsets reported minus ``base``)."""
    roll = rng.randrange(4) if positions else 3
    if roll == 3 and len(data) >= max_len:
        roll = 2
    at = rng.choice(positions) if positions else base
    if roll == 0:
        bit = rng.randrange(8)
        new = data[at] ^ (1 << bit)
        text = f"flip bit {bit} of byte {at - base} (0x{data[at]:02x} -> 0x{new:02x})"
        return _splice(data, at, bytes((new,))), text
    if roll == 1:
        new = rng.choice([v for v in (*_BYTE_EDGES, rng.getrandbits(8)) if v != data[at]])
        return _splice(data, at, bytes((new,))), f"set byte {at - base} 0x{data[at]:02x} -> 0x{new:02x}"
    if roll == 2:
        return data[:at] + data[at + 1 :], f"delete byte {at - base} (0x{data[at]:02x})"
    new = rng.getrandbits(8)
    return data[:at] + bytes((new,)) + data[at:], f"insert byte 0x{new:02x} at {at - base}"


@_operator("payload")
def _payload(rng: random.Random, context: _Context) -> _Result:
    """Flip, set, insert, delete or duplicate payload bytes."""
    payload = _seg(context).payload
    start = context.header_end
    if not payload:
        return None
    if rng.randrange(5) == 0 and len(context.data) < context.max_len:
        at = rng.randrange(len(payload))
        chunk = payload[at : at + rng.randint(1, min(64, context.max_len - len(context.data)))]
        data = context.data[: start + at] + chunk + context.data[start + at :]
        return data, f"payload: repeat {len(chunk)} bytes at byte {at}"
    positions = list(range(start, len(context.data)))
    data, text = _byte_edit(rng, context.data, positions, start, context.max_len)
    return data, "payload: " + text


@_operator("raw", structured=False)
def _raw(rng: random.Random, context: _Context) -> _Result:
    """Flip, set, insert or delete one byte anywhere but the checksum field."""
    positions = [n for n in range(len(context.data)) if n not in (_wire.CHECKSUM, _wire.CHECKSUM + 1)]
    data, text = _byte_edit(rng, context.data, positions, 0, context.max_len)
    if len(data) < min(context.min_len, len(context.data)):  # keep room for the checksum field
        data = context.data + bytes((rng.getrandbits(8),))
        text = f"append byte 0x{data[-1]:02x}"
    return data, "raw: " + text


#: Every operator's name and one-line summary, in the order the module docstring lists them.
OPERATORS: Mapping[str, str] = MappingProxyType(
    {name: operator.summary for name, operator in _REGISTRY.items()}
)


def frames(inputs: Sequence[Tuple[bytes, bytes, bytes]], count: int, *, seed: Seed = 0,
           checksum: str = "keep", operators: Optional[Sequence[str]] = None, stack: int = 1,
           linktype: int = capture.LINKTYPE_ETHERNET) -> Iterator[Tuple[capture.Frame, Mutation]]:
    """``count`` capture frames of mutated segments, each with the mutation it carries.

    ``inputs`` are ``(src, dst, segment bytes)`` with packed addresses.  Frame
    *i* (from 0) carries mutation *i* of input *i* modulo ``len(inputs)``, made
    by one :class:`Mutator` per address pair, in a freshly built IPv4 or IPv6
    header (right length and header checksum) of ``linktype``, stamped
    ``FRAME_EPOCH_NS`` + *i* µs: deterministic in every argument.
    """
    mutators: Dict[Tuple[bytes, bytes], Mutator] = {}
    for index in range(count):
        src, dst, data = inputs[index % len(inputs)]
        mutator = mutators.get((src, dst))
        if mutator is None:
            # Room for the IP header: an IPv4 packet holds 65535 bytes in all, an IPv6 payload 65535.
            limit = 0xFFFF - IPV4_HEADER_LEN if len(src) == 4 else 0xFFFF
            mutator = Mutator(seed, checksum=checksum, src=src, dst=dst, operators=operators,
                              stack=stack, max_len=limit)
            mutators[(src, dst)] = mutator
        mutation = mutator.mutate(data, index=index)
        frame = capture.tcp_frame(mutation.data, src, dst, linktype=linktype)
        yield capture.Frame(frame, FRAME_EPOCH_NS + index * 1000), mutation
