"""Impairments between a TUN device and a stack: loss, duplication, reordering, delay.

The kernel here has no ``sch_netem``, and programs need testing under bad
networks anyway.  One :class:`Impairment` serves one direction; for a given
seed and the same packets in the same order its decisions are the same.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from dataclasses import dataclass
from typing import List, Optional, Tuple

__all__ = ["Impairment", "ImpairmentSpec"]

#: Milliseconds a reordered packet is held beyond its delay, so later ones overtake it.
REORDER_HOLD_MS = 10.0


@dataclass(frozen=True)
class ImpairmentSpec:
    """Fractions of packets ``loss``, ``duplicate`` and ``reorder``; ``delay`` and
    ``jitter`` in milliseconds; ``seed`` makes the decisions repeatable."""

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay: float = 0.0
    jitter: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a fraction in [0, 1], got {value}")
        if not 0.0 <= self.jitter <= self.delay or self.delay > 60_000:
            raise ValueError(f"need 0 <= jitter <= delay <= 60000 ms, got delay={self.delay} "
                             f"jitter={self.jitter}")

    @classmethod
    def parse(cls, text: str) -> ImpairmentSpec:
        """From ``loss=0.02,duplicate=0.01,reorder=0.05,delay=5:2,seed=1`` (delay=MS[:JITTER]).

        ValueError naming the part that is wrong."""
        fields: dict[str, float] = {}
        seed = 0
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            try:
                if not sep:
                    raise ValueError
                if name in ("loss", "duplicate", "reorder") and name not in fields:
                    fields[name] = float(value)
                elif name == "delay" and name not in fields:
                    delay, _, jitter = value.partition(":")
                    fields["delay"], fields["jitter"] = float(delay), float(jitter or 0)
                elif name == "seed":
                    seed = int(value)
                else:
                    raise KeyError(name)
            except KeyError:
                raise ValueError(f"unknown or repeated impairment {name!r} (known: loss, duplicate, "
                                 f"reorder, delay, seed)") from None
            except ValueError:
                raise ValueError(f"impairment {part!r} is not NAME=NUMBER") from None
        return cls(seed=seed, **fields)


class Impairment:
    """One direction's impairments: ``push`` packets in, take them out when ``due``."""

    def __init__(self, spec: ImpairmentSpec, stream: int = 0) -> None:
        self.spec = spec
        self._random = random.Random(spec.seed * 2 + stream)
        self._held: List[Tuple[float, int, bytes]] = []
        self._count = 0
        #: Packets "lost", "duplicated" and "reordered" so far.
        self.counts: Counter[str] = Counter()

    def push(self, packet: bytes, now: float) -> None:
        """Take a packet that left its sender at ``now`` (seconds)."""
        spec, rng = self.spec, self._random
        if rng.random() < spec.loss:
            self.counts["lost"] += 1
            return
        copies = 2 if rng.random() < spec.duplicate else 1
        self.counts["duplicated"] += copies - 1
        for _ in range(copies):
            delay = spec.delay + rng.uniform(-spec.jitter, spec.jitter)
            if rng.random() < spec.reorder:
                self.counts["reordered"] += 1
                delay += REORDER_HOLD_MS
            self._count += 1
            heapq.heappush(self._held, (now + delay / 1000.0, self._count, packet))

    def due(self, now: float) -> List[bytes]:
        """The packets whose time has come, in the order they arrive."""
        out = []
        while self._held and self._held[0][0] <= now:
            out.append(heapq.heappop(self._held)[2])
        return out

    def next_due(self) -> Optional[float]:
        return self._held[0][0] if self._held else None
