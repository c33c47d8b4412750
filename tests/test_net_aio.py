"""fastseg.net.AsyncStack: asyncio's streams over fastseg's TCP, two stacks joined in memory
(no root), plus one program run unchanged over the kernel's sockets and over fastseg."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Tuple

import pytest
from aiolink import BOUND, CLIENT_IP, FAST, SERVER_IP, echo, exchange, stacks

from fastseg.conn import Config, State
from fastseg.net import AsyncStack, ImpairmentSpec


def run(coroutine: Awaitable[object]) -> object:
    async def bounded() -> object:
        return await asyncio.wait_for(coroutine, BOUND)
    return asyncio.run(bounded())


@pytest.mark.parametrize("impair", [None, ImpairmentSpec(loss=0.02, duplicate=0.01, reorder=0.05,
                                                         delay=2, jitter=1, seed=4)])
def test_clients_echo_byte_exact_through_two_stacks(impair: ImpairmentSpec) -> None:
    async def main() -> None:
        async with stacks(impair=impair) as (client, server):
            srv = await server.start_server(echo, SERVER_IP, 7)
            results = await asyncio.gather(*(exchange(client.open_connection, SERVER_IP, 7, i,
                                                      64 * 1024) for i in range(12)))
            assert all(results)
            srv.close()
            await srv.wait_closed()
            assert not srv.is_serving() and not server.host.listeners
            while client.host.connections or server.host.connections:  # TIME-WAIT
                await asyncio.sleep(0.05)
            if impair is not None:
                assert client.stack.retransmissions and client.stack.inbound is not None
                assert client.stack.inbound.counts["lost"]

    run(main())


def test_one_program_runs_over_the_kernel_and_over_fastseg() -> None:
    async def main() -> None:
        kernel = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = kernel.sockets[0].getsockname()[1]
        assert await exchange(asyncio.open_connection, "127.0.0.1", port, 1, 100_000)
        kernel.close()
        await kernel.wait_closed()
        async with stacks() as (client, server):
            await server.start_server(echo, None, port)
            assert await exchange(client.open_connection, SERVER_IP, port, 1, 100_000)

    run(main())


def test_a_reader_that_does_not_read_holds_the_writer_back_through_the_window() -> None:
    small = Config(msl=0.2, rto_min=0.05, rto_initial=0.2, delayed_ack=0.01,
                   receive_buffer=32 * 1024, send_buffer=32 * 1024)
    limit = 16 * 1024

    async def main() -> None:
        async with stacks(config=small) as (client, server):
            # the writer is kept too: from 3.13 a StreamWriter collected closes its transport
            accepted: asyncio.Queue[Tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

            async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await accepted.put((reader, writer))

            await server.start_server(hold, SERVER_IP, 9, limit=limit)
            _, writer = await client.open_connection(SERVER_IP, 9)
            data = bytes(range(256)) * 4096  # 1 MiB
            writer.write(data)
            drained = asyncio.ensure_future(writer.drain())
            held, _held_writer = await accepted.get()  # both kept: see above
            for _ in range(200):  # until the window is shut
                await asyncio.sleep(0.01)
                [conn] = server.host.connections
                if conn.rcv_wnd == 0:
                    break
            assert conn.rcv_wnd == 0 and not drained.done()
            # past its limit by at most one event of the connection (at most its receive buffer)
            assert len(held._buffer) <= 2 * limit + small.receive_buffer  # type: ignore[attr-defined]
            assert writer.transport.get_write_buffer_size() > 0
            back = await held.readexactly(len(data))  # reading opens the window again
            assert back == data
            await drained
            writer.close()
            await writer.wait_closed()

    run(main())


def test_a_closed_port_refuses_and_a_silent_peer_times_out() -> None:
    async def main() -> None:
        async with stacks() as (client, _):
            with pytest.raises(ConnectionRefusedError):
                await client.open_connection(SERVER_IP, 1)
        quick = Config(rto_initial=0.05, rto_min=0.05, syn_retries=2, msl=0.2)
        async with stacks(config=quick) as (client, server):
            server.close()  # nobody reads the server's end
            with pytest.raises(TimeoutError):
                await client.open_connection(SERVER_IP, 7)
            assert client.host.connections == []

    run(main())


def test_closing_the_stack_resets_the_peer_and_cancelling_a_connect_aborts_it() -> None:
    async def main() -> None:
        async with stacks() as (client, server):
            got: asyncio.Queue[Tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

            async def keep(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await got.put((reader, writer))  # the writer kept alive (see above)

            await server.start_server(keep, SERVER_IP, 7)
            _, writer = await client.open_connection(SERVER_IP, 7)
            writer.write(b"hello")
            peer, _peer_writer = await got.get()  # both kept: see above
            assert await peer.readexactly(5) == b"hello"
            client.close()
            with pytest.raises(ConnectionResetError):
                await peer.read(10)
            with pytest.raises(RuntimeError, match="closed"):
                await client.open_connection(SERVER_IP, 7)
        async with stacks() as (client, server):
            server.close()
            attempt = asyncio.ensure_future(client.open_connection(SERVER_IP, 7))
            await asyncio.sleep(0.01)
            attempt.cancel()
            with pytest.raises(asyncio.CancelledError):
                await attempt
            assert [c.state for c in client.host._table.values()] in ([], [State.CLOSED])
            assert client.host.connections == []

    run(main())


def test_transport_details() -> None:
    async def main() -> None:
        async with stacks() as (client, server):
            srv = await server.start_server(echo, "", 7)
            assert srv.address == ("", 7)
            reader, writer = await client.open_connection(SERVER_IP, 7)
            assert writer.get_extra_info("peername") == (SERVER_IP, 7)
            assert writer.get_extra_info("sockname")[0] == CLIENT_IP
            transport = writer.transport
            transport.set_write_buffer_limits(high=100)
            assert transport.get_write_buffer_limits() == (25, 100)
            with pytest.raises(ValueError):
                transport.set_write_buffer_limits(high=1, low=2)
            with pytest.raises(TypeError):
                transport.write("text")  # type: ignore[arg-type]
            assert transport.can_write_eof()
            writer.write_eof()
            with pytest.raises(RuntimeError):
                writer.write(b"late")
            assert await reader.read() == b""
            writer.close()
            await writer.wait_closed()
            writer.write(b"after close")  # goes nowhere, as with asyncio's transports
            async with srv:
                pass
            assert not srv.is_serving()

    run(main())


def test_the_stack_needs_a_running_loop() -> None:
    from aiolink import pipe

    from fastseg.conn import Host
    left, right = pipe()
    with pytest.raises(RuntimeError):
        AsyncStack(Host([CLIENT_IP], config=FAST), left)
    left.close()
    right.close()
