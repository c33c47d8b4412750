"""I/O for a :class:`fastseg.conn.Host`: a Linux TUN device, IP framing, impairments, a loop.

The only part of fastseg that holds file descriptors: :class:`TunDevice`
reads and writes IP packets, :class:`Framing` turns them into segments for
``Host.receive`` and datagrams back into packets, :class:`Impairment`
loses, duplicates, reorders and delays packets deterministically, and
:class:`Stack` runs a host over a device until told to stop, and
:class:`AsyncStack` runs one in an asyncio event loop with asyncio's streams.
"""

from fastseg.net.aio import AsyncStack, Server
from fastseg.net.echo import EchoService
from fastseg.net.framing import Framing
from fastseg.net.impair import Impairment, ImpairmentSpec
from fastseg.net.stack import PacketDevice, Stack
from fastseg.net.tun import TunDevice, TunError

__all__ = ["AsyncStack", "EchoService", "Framing", "Impairment", "ImpairmentSpec", "PacketDevice",
           "Server", "Stack", "TunDevice", "TunError"]
