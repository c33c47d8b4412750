"""SYN cookies (RFC 4987 §3.6): a listener beyond its backlog keeps no state for a SYN.

The SYN,ACK's initial sequence number is the cookie; the ACK that completes
the handshake returns it (as ACK - 1) and the connection is rebuilt from it.
Its 32 bits are::

    t (5 bits) | MSS index (3 bits) | keyed hash (24 bits)

``t`` counts periods of :data:`PERIOD` seconds, so a cookie is accepted for
one to two periods; the hash (keyed BLAKE2s) covers ``t``, the MSS index,
both endpoints and the client's ISN, so cookies cannot be forged or replayed
for another connection.

What a cookie cannot carry, and so a connection rebuilt from one does without:
the peer's exact MSS (rounded down to :data:`MSS_TABLE`), window scaling
(RFC 7323 §2), timestamps (RFC 7323 §3), SACK permission (RFC 2018), ECN
(RFC 3168 §6.1.1: Linux keeps it in the low bits of the TSval, and there are
no timestamps here to hold it), and data
sent in the SYN (discarded; the peer sends it again once it sees it was not
acknowledged).  The SYN,ACK with a cookie therefore offers none of these
options and no ECE, so both sides agree on what is in use.
"""

from __future__ import annotations

import hashlib
from typing import Optional

from fastseg.conn.config import Endpoint

__all__ = ["MSS_TABLE", "PERIOD", "SynCookies", "cookie_mss"]

#: The MSS values a cookie can name, ascending (3 bits).
MSS_TABLE = (536, 1200, 1220, 1360, 1400, 1440, 1460, 8960)
#: Seconds per step of the cookie's 5-bit counter.
PERIOD = 64.0


class SynCookies:
    """Makes and checks cookies under one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _hash(self, counter: int, index: int, local: Endpoint, remote: Endpoint,
              client_isn: int) -> int:
        ident = f"{counter}|{index}|{local[0]}|{local[1]}|{remote[0]}|{remote[1]}|{client_isn}"
        digest = hashlib.blake2s(ident.encode(), key=self._secret, digest_size=3).digest()
        return int.from_bytes(digest, "big")

    def make(self, now: float, local: Endpoint, remote: Endpoint, client_isn: int,
             mss: int) -> int:
        """The cookie (our ISN) for a SYN from ``remote`` announcing ``mss``."""
        index = max((i for i, value in enumerate(MSS_TABLE) if value <= mss), default=0)
        counter = int(now // PERIOD)
        return ((counter & 31) << 27) | (index << 24) | self._hash(counter, index, local, remote,
                                                                   client_isn)

    def check(self, now: float, local: Endpoint, remote: Endpoint, client_isn: int,
              cookie: int) -> Optional[int]:
        """The MSS a valid cookie encodes, or None when it is forged, stale or for another connection."""
        index = (cookie >> 24) & 7
        current = int(now // PERIOD)
        for counter in (current, current - 1):
            if (counter & 31) == cookie >> 27 and \
                    self._hash(counter, index, local, remote, client_isn) == cookie & 0xFFFFFF:
                return MSS_TABLE[index]
        return None


def cookie_mss(cookie: int) -> int:
    """The MSS a cookie names (from its index bits; not a validity check)."""
    return MSS_TABLE[(cookie >> 24) & 7]
