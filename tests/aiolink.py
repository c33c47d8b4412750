"""Test helpers for fastseg.net.AsyncStack: two stacks joined by an in-memory pair of packet
devices (a datagram socket pair: real descriptors for the event loop, no root needed)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from typing import AsyncIterator, Awaitable, Callable, Optional, Tuple

from fastseg.conn import Config, Host
from fastseg.net import AsyncStack, ImpairmentSpec

CLIENT_IP, SERVER_IP = "10.9.0.1", "10.9.0.2"
#: Quick timers, so that losses, TIME-WAIT and timeouts take a fraction of a second.
FAST = Config(msl=0.2, rto_min=0.05, rto_initial=0.2, delayed_ack=0.01, syn_retries=3, retries=6)
Opener = Callable[[str, int], Awaitable[Tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
#: The most a test waits for an exchange before it fails.
BOUND = 60.0


class PipeEnd:
    """One end of an in-memory link: a packet written at one end is read at the other."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock

    def fileno(self) -> int:
        return self._sock.fileno()

    def read(self) -> Optional[bytes]:
        try:
            return self._sock.recv(65575)
        except BlockingIOError:
            return None

    def write(self, packet: bytes) -> bool:
        try:
            self._sock.send(packet)
        except BlockingIOError:
            return False
        return True

    def close(self) -> None:
        self._sock.close()


def pipe() -> Tuple[PipeEnd, PipeEnd]:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    return PipeEnd(left), PipeEnd(right)


@contextlib.asynccontextmanager
async def stacks(config: Config = FAST, impair: Optional[ImpairmentSpec] = None,
                 ) -> AsyncIterator[Tuple[AsyncStack, AsyncStack]]:
    """A client stack at CLIENT_IP and a server stack at SERVER_IP, joined; closed afterwards."""
    left, right = pipe()
    client = AsyncStack(Host([CLIENT_IP], config=config), left, impair=impair)
    server = AsyncStack(Host([SERVER_IP], config=config), right)
    try:
        yield client, server
    finally:
        client.close()
        server.close()
        await asyncio.sleep(0)  # connection_lost callbacks
        left.close()
        right.close()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """RFC 862 echo as any asyncio server writes it."""
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def exchange(open_connection: Opener, host: str, port: int, seed: int, size: int) -> bool:
    """A client as any asyncio program writes it: random-sized writes, everything read back."""
    rng = random.Random(seed)
    data = rng.randbytes(size)
    reader, writer = await open_connection(host, port)

    async def send() -> None:
        at = 0
        while at < size:
            step = rng.randint(1, 8192)
            writer.write(data[at:at + step])
            at += step
            await writer.drain()
        writer.write_eof()

    sender = asyncio.ensure_future(send())
    back = await reader.read(-1)  # to EOF
    await sender
    writer.close()
    await writer.wait_closed()
    return back == data
