"""asyncio over fastseg's own TCP: a :class:`~fastseg.conn.Host` on a packet device in an
event loop, with asyncio's streams.

:class:`AsyncStack` reads the device when the loop says it is readable
(``loop.add_reader``), runs the host's timers at its deadlines
(``loop.call_at``) and hands each connection to an asyncio protocol through
a :class:`~fastseg.net.transport.ConnectionTransport`.  Its
:meth:`~AsyncStack.open_connection` and :meth:`~AsyncStack.start_server`
are :func:`asyncio.open_connection` and :func:`asyncio.start_server` with
the same arguments and the same :class:`asyncio.StreamReader` and
:class:`asyncio.StreamWriter`, so a program written for those runs over
fastseg by changing where it gets its streams::

    async with AsyncStack(Host(["10.0.0.2"]), TunDevice("fs0")) as stack:
        reader, writer = await stack.open_connection("10.0.0.1", 7)

Connect failures raise what asyncio raises (``ConnectionRefusedError`` for a
reset, ``TimeoutError`` once the SYN retries run out); a reset or a timeout
later reaches the protocol's ``connection_lost`` (a stream reader raises it).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Dict, Optional, Set, Tuple

from fastseg.conn.connection import Connection
from fastseg.conn.events import (
    Closed,
    Connected,
    ConnectionRefused,
    ConnectionReset,
    ConnectionTimedOut,
    Event,
)
from fastseg.conn.host import Host
from fastseg.conn.listener import Listener
from fastseg.conn.states import State
from fastseg.net.impair import ImpairmentSpec
from fastseg.net.stack import PacketDevice, Stack
from fastseg.net.transport import ConnectionTransport

__all__ = ["AsyncStack", "Server"]

#: asyncio's default StreamReader limit (``asyncio.streams._DEFAULT_LIMIT``).
STREAM_LIMIT = 64 * 1024
ProtocolFactory = Callable[[], asyncio.BaseProtocol]
ClientConnected = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Optional[Awaitable[None]]]


class Server:
    """Connections accepted on one listener, as :class:`asyncio.Server` has them."""

    def __init__(self, stack: AsyncStack, listener: Listener, factory: ProtocolFactory) -> None:
        self._stack, self._listener, self._factory = stack, listener, factory
        self._active: Set[ConnectionTransport] = set()
        self._done: Optional[asyncio.Future[None]] = None

    @property
    def address(self) -> Tuple[str, int]:
        """What it listens on: ``(ip, port)``, ip "" for every address of the host."""
        return self._listener.address

    def is_serving(self) -> bool:
        return not self._listener.closed

    def close(self) -> None:
        """Stop listening (connections not yet accepted are reset); accepted ones stay."""
        if not self._listener.closed:
            self._listener.close(self._stack.loop.time())
            self._stack._servers.pop(self._listener, None)
            self._stack._wake()
        self._settle()

    async def wait_closed(self) -> None:
        """Until the server is closed and every connection it accepted is lost."""
        if self._done is None:
            self._done = self._stack.loop.create_future()
            self._settle()
        await asyncio.shield(self._done)

    async def serve_forever(self) -> None:
        """Until the server is closed."""
        await self.wait_closed()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    def _accepted(self, conn: Connection) -> None:
        protocol = self._factory()
        transport = ConnectionTransport(self._stack, conn, protocol)
        self._active.add(transport)
        self._stack._transports[conn] = transport
        self._stack._owners[transport] = self
        protocol.connection_made(transport)

    def _lost(self, transport: ConnectionTransport) -> None:
        self._active.discard(transport)
        self._settle()

    def _settle(self) -> None:
        if self._done is not None and not self._done.done() and self._listener.closed \
                and not self._active:
            self._done.set_result(None)


class AsyncStack:
    """A :class:`~fastseg.conn.Host` on ``device`` (a :class:`~fastseg.net.TunDevice` or any
    :class:`~fastseg.net.stack.PacketDevice`) in the running event loop.

    Make it inside a coroutine.  ``impair`` impairs the packets between
    device and host as ``fastseg stack echo --impair`` does.  :meth:`close`
    resets what is still open and leaves the loop; the device stays the
    caller's to close.  ``stack`` is the underlying :class:`~fastseg.net.Stack`
    (its counters: packets, retransmissions, what framing dropped).
    """

    def __init__(self, host: Host, device: PacketDevice, *,
                 impair: Optional[ImpairmentSpec] = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.host = host
        self.stack = Stack(host, device, impair=impair, clock=self.loop.time)
        self._fd = device.fileno()
        self._transports: Dict[Connection, ConnectionTransport] = {}
        self._connecting: Dict[Connection, Tuple[asyncio.Future[Any], ProtocolFactory]] = {}
        self._servers: Dict[Listener, Server] = {}
        self._owners: Dict[ConnectionTransport, Server] = {}  # accepted transports' servers
        self._timer: Optional[asyncio.TimerHandle] = None
        self._soon = False
        self.closed = False
        self.loop.add_reader(self._fd, self._run)

    # ------------------------------------------------------------ asyncio's calls

    async def create_connection(self, protocol_factory: ProtocolFactory, host: str, port: int, *,
                                local_addr: Optional[Tuple[str, int]] = None,
                                ) -> Tuple[asyncio.Transport, asyncio.BaseProtocol]:
        """Connect to ``(host, port)`` (an IP address) as ``loop.create_connection`` does."""
        self._check_open()
        conn = self.host.connect((host, port), self.loop.time(), local=local_addr)
        future: asyncio.Future[Tuple[asyncio.Transport, asyncio.BaseProtocol]] = \
            self.loop.create_future()
        self._connecting[conn] = (future, protocol_factory)
        self._wake()
        try:
            return await future
        except asyncio.CancelledError:
            if self._connecting.pop(conn, None) is not None and conn.state is not State.CLOSED:
                conn.abort(self.loop.time())
                self._wake()
            raise

    async def open_connection(self, host: str, port: int, *, limit: int = STREAM_LIMIT,
                              local_addr: Optional[Tuple[str, int]] = None,
                              ) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """:func:`asyncio.open_connection` over this stack."""
        reader = asyncio.StreamReader(limit=limit, loop=self.loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=self.loop)
        transport, _ = await self.create_connection(lambda: protocol, host, port,
                                                    local_addr=local_addr)
        return reader, asyncio.StreamWriter(transport, protocol, reader, self.loop)

    async def create_server(self, protocol_factory: ProtocolFactory, host: Optional[str],
                            port: int, *, backlog: int = 128) -> Server:
        """Listen on ``(host, port)`` (None or "" for every address) as ``loop.create_server``."""
        self._check_open()
        listener = self.host.listen(("" if host is None else host, port), backlog=backlog)
        server = self._servers[listener] = Server(self, listener, protocol_factory)
        return server

    async def start_server(self, client_connected_cb: ClientConnected, host: Optional[str],
                           port: int, *, limit: int = STREAM_LIMIT, backlog: int = 128) -> Server:
        """:func:`asyncio.start_server` over this stack."""

        def factory() -> asyncio.BaseProtocol:
            reader = asyncio.StreamReader(limit=limit, loop=self.loop)
            return asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=self.loop)

        return await self.create_server(factory, host, port, backlog=backlog)

    def close(self) -> None:
        """Reset every connection still open, stop every server, flush, leave the loop."""
        if self.closed:
            return
        for future, _ in self._connecting.values():
            if not future.done():
                future.set_exception(ConnectionAbortedError("the stack was closed"))
        for conn in self._connecting:
            conn.abort(self.loop.time())
        self._connecting.clear()
        for server in list(self._servers.values()):
            server.close()
        for transport in list(self._transports.values()):
            transport.abort()
        self.stack.flush(self.loop.time())
        self.closed = True
        self.loop.remove_reader(self._fd)
        if self._timer is not None:
            self._timer.cancel()

    async def __aenter__(self) -> AsyncStack:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------ the loop's side

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("the stack is closed")

    def _wake(self) -> None:
        """Something is to be sent: run once more, soon."""
        if not self._soon and not self.closed:
            self._soon = True
            self.loop.call_soon(self._run)

    def _run(self) -> None:
        """Read the device, run due timers, hand out events, write, wait for the next deadline."""
        self._soon = False
        if self.closed:
            return
        now = self.loop.time()
        self.stack.pump(now)
        self._dispatch()
        self.stack.flush(now)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        wakeup = self.stack.next_wakeup()
        if wakeup is not None:
            self._timer = self.loop.call_at(wakeup, self._run)

    def _dispatch(self) -> None:
        for listener, server in list(self._servers.items()):
            while (conn := listener.accept()) is not None:
                server._accepted(conn)
        while (tagged := self.host.next_event()) is not None:
            conn, event = tagged
            transport = self._transports.get(conn)
            if transport is not None:
                transport._event(event)
            elif conn in self._connecting:
                self._connect_event(conn, event)
            # else: nobody holds the connection any longer (closed, or never accepted)

    def _connect_event(self, conn: Connection, event: Event) -> None:
        future, factory = self._connecting[conn]
        error: Optional[Exception] = None
        if future.done():  # cancelled, its coroutine not yet told
            del self._connecting[conn]
            if conn.state is not State.CLOSED:
                conn.abort(self.loop.time())
            return
        if isinstance(event, Connected):
            del self._connecting[conn]
            protocol = factory()
            transport = self._transports[conn] = ConnectionTransport(self, conn, protocol)
            protocol.connection_made(transport)
            future.set_result((transport, protocol))
            return
        remote = f"{conn.remote[0]} port {conn.remote[1]}" if conn.remote else "the peer"
        if isinstance(event, ConnectionRefused):
            error = ConnectionRefusedError(f"connection to {remote} refused")
        elif isinstance(event, ConnectionTimedOut):
            error = TimeoutError(f"connection to {remote} timed out")
        elif isinstance(event, (ConnectionReset, Closed)):
            error = ConnectionResetError(f"connection to {remote} reset")
        if error is not None:
            del self._connecting[conn]
            if not future.done():
                future.set_exception(error)

    def _detach(self, transport: ConnectionTransport) -> None:
        """The transport is lost: its connection's later events are dropped here."""
        conn = transport.get_extra_info("connection")
        self._transports.pop(conn, None)
        server = self._owners.pop(transport, None)
        if server is not None:
            server._lost(transport)
