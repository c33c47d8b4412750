"""An RFC 862 echo server on the kernel's TCP, for the host's tests and benchmarks.

    python tools/kernel_echo.py ADDRESS PORT

Prints ``ready`` once it listens, then echoes every connection (closing after
the peer's FIN) until killed.  Run it inside a network namespace with
``ip netns exec``.
"""

from __future__ import annotations

import asyncio
import sys

#: Pending connections the kernel may queue (200 clients arrive at once in the tests).
BACKLOG = 1024


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def main(address: str, port: int) -> None:
    server = await asyncio.start_server(echo, address, port, backlog=BACKLOG)
    print("ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
