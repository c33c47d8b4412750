"""Ephemeral port selection (RFC 6056 §3.3.3) and the errors of local addresses."""

from __future__ import annotations

import hashlib
from typing import Callable

from fastseg.conn.config import Endpoint
from fastseg.errors import FastsegError

__all__ = ["AddressError", "EphemeralPorts"]

#: The IANA dynamic range (RFC 6056 §2.1 recommends it as the default).
FIRST_EPHEMERAL, LAST_EPHEMERAL = 49152, 65535


class AddressError(FastsegError, ValueError):
    """A local address the host cannot use: not owned, already in use, or no port left."""


class EphemeralPorts:
    """RFC 6056 §3.3.3 (Algorithm 3, simple hash-based port selection).

    Each (local address, remote endpoint) gets its own keyed-hash offset into
    the range, and one counter advances on every attempt, so successive
    connections to one peer use successive ports while the ports seen by
    different peers are unrelated and unpredictable without ``secret``.
    """

    def __init__(self, secret: bytes, first: int = FIRST_EPHEMERAL,
                 last: int = LAST_EPHEMERAL) -> None:
        if not 1 <= first <= last <= 0xFFFF:
            raise ValueError(f"need 1 <= first <= last <= 65535, got {first}..{last}")
        self._secret = secret
        self.first, self.last = first, last
        self._next = 0

    def _offset(self, local_ip: str, remote: Endpoint) -> int:
        ident = f"{local_ip}|{remote[0]}|{remote[1]}".encode()
        return int.from_bytes(hashlib.blake2s(ident, key=self._secret, digest_size=4).digest(), "big")

    def choose(self, local_ip: str, remote: Endpoint, suitable: Callable[[int], bool]) -> int:
        """The first port ``suitable`` accepts; AddressError when none of the range is."""
        count = self.last - self.first + 1
        offset = self._offset(local_ip, remote)
        for _ in range(count):
            port = self.first + (offset + self._next) % count
            self._next += 1
            if suitable(port):
                return port
        raise AddressError(f"no ephemeral port left in {self.first}..{self.last} "
                           f"from {local_ip} to {remote[0]} port {remote[1]}")
