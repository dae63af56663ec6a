"""Connections accepted on a socket bound as uvicorn binds it for `--workers N` (proto 0) get TCP_NODELAY once
`service.tcp.disable_nagle` is installed (service.main installs it); plain asyncio leaves Nagle on there, which cost
every response a delayed ACK (about 40 ms) under docker-compose's `--workers 2`."""

from __future__ import annotations

import asyncio
import asyncio.base_events
import socket

import pytest

from service import tcp


def accepted_nodelay() -> int:
    """TCP_NODELAY of a connection that asyncio accepted on a socket made like uvicorn's shared one."""
    async def run() -> int:
        listener = socket.socket(family=socket.AF_INET)  # proto 0, as uvicorn.config.Config.bind_socket
        listener.bind(('127.0.0.1', 0))
        seen: asyncio.Future = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                seen.set_result(transport.get_extra_info('socket').getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        try:
            return await asyncio.wait_for(seen, 5)
        finally:
            writer.close()
            server.close()
    return asyncio.run(run())


@pytest.fixture
def plain_asyncio():
    installed = asyncio.base_events._set_nodelay
    yield
    asyncio.base_events._set_nodelay = installed


def test_uvicorn_style_socket_gets_nodelay_only_with_disable_nagle(plain_asyncio) -> None:
    import service.main  # noqa: F401  (installs it)
    assert accepted_nodelay() != 0
    asyncio.base_events._set_nodelay = tcp._original
    assert accepted_nodelay() == 0, 'asyncio now sets TCP_NODELAY itself: service.tcp can go'
    tcp.disable_nagle()
    assert accepted_nodelay() != 0
