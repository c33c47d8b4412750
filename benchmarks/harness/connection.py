"""A bulk transfer between two fastseg Connections in memory, every segment through the codec.

The client sends ``size`` bytes to the server; every segment either side puts
out is packed (with the IPv4 checksum, addresses as the connection names them)
and unpacked into the other side's ``receive``, and the server's application
reads at once.  This is the connection's per-segment cost as users pay it.

The bytes sent are made once per size, and the timed transfer only counts what
arrives: making 8 MiB and hashing them cost about 3 us a segment, as much as
the connection's own work.  The checking call (``digest=True``) hashes it.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
from typing import Any, Optional

CLIENT, SERVER = ("10.0.0.1", 40000), ("10.0.0.2", 80)
#: The addresses packed, for the codec-only baseline.
PACKED = {ip: ipaddress.ip_address(ip).packed for ip in (CLIENT[0], SERVER[0])}
_CHUNK = bytes(range(256)) * 4096


def transfer(fastseg: Any, size: int, carried: Optional[list[Any]] = None, *,
             digest: bool = False) -> tuple[int, str]:
    """Segments moved to carry ``size`` bytes with ``fastseg`` (a twin: its Segment, pack and
    unpack and fastseg.conn), and with ``digest`` the SHA-256 of what the server received
    (else ""). The segments are appended to ``carried`` with their packed addresses when it
    is given."""
    from fastseg.conn import Config, Connection, State

    config = Config(receive_buffer=1 << 20, send_buffer=1 << 20)
    client = Connection(CLIENT, SERVER, config=config, iss=2**32 - 5000)
    server = Connection(SERVER, config=config, iss=7)
    server.listen()
    pack, unpack = fastseg.pack, fastseg.unpack
    sides = ((client, server), (server, client))
    now, moved, sent = 0.0, 0, 0
    received = hashlib.sha256()
    got = 0
    stream = memoryview(_stream(size))
    client.connect(now)
    while got < size:
        if sent < size:
            sent += client.send(stream[sent:])
        quiet = True
        for sender, receiver in sides:
            src, dst = sender.local[0], receiver.local[0]
            out = sender.segments_to_send(now)
            for segment in out:
                receiver.receive(unpack(pack(segment, src=src, dst=dst)), now, remote_ip=src)
            if carried is not None:
                carried.extend((segment, PACKED[src], PACKED[dst]) for segment in out)
            moved += len(out)
            quiet = quiet and not out
        while (event := server.next_event()) is not None:
            data = getattr(event, "data", b"")
            if digest:
                received.update(data)
            got += len(data)
        while client.next_event() is not None:
            pass
        if quiet:
            now += config.delayed_ack
            client.handle_timeout(now)
            server.handle_timeout(now)
    if client.state is not State.ESTABLISHED or server.rcv_nxt != client.snd_nxt:
        raise AssertionError("the transfer did not complete cleanly")
    return moved, received.hexdigest() if digest else ""


@functools.lru_cache(maxsize=2)
def _stream(size: int) -> bytes:
    """The ``size`` bytes a transfer sends: a repeating pattern, made once per size."""
    return (_CHUNK * (size // len(_CHUNK) + 1))[:size]


def sent_digest(size: int) -> str:
    """The SHA-256 of the ``size`` bytes ``transfer`` sends."""
    return hashlib.sha256(_stream(size)).hexdigest()
