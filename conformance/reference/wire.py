"""Faults that act on the wire, for the reference server on a real socket: a TCP proxy in front of it.

`reset_after_500`: after a connection has carried a 500, the next request sent on it is answered by a TCP reset
(SO_LINGER 0), as servers that close the connection after a 500 without saying so do; the client sees
"connection reset by peer" on a connection it had every reason to reuse.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

CHUNK = 65536


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _pipe(host: str, upstream: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    up_reader, up_writer = await asyncio.open_connection(host, upstream)
    carried_500 = False

    async def down() -> None:  # the server's answers to the client
        nonlocal carried_500
        while data := await up_reader.read(CHUNK):
            if data.startswith(b"HTTP/1.1 500"):  # one write per response head: the app's answers are small
                carried_500 = True
            writer.write(data)
            await writer.drain()
        writer.close()

    async def up() -> None:  # the client's requests to the server
        while data := await reader.read(CHUNK):
            if carried_500:
                _reset(writer)
                break
            up_writer.write(data)
            await up_writer.drain()
        up_writer.close()

    with suppress(OSError, ConnectionError):
        await asyncio.gather(down(), up())


@contextmanager
def reset_after_500(upstream_url: str, host: str = "127.0.0.1") -> Iterator[str]:
    """Run the proxy on a free port in a background thread, in front of `upstream_url`; yield its base URL."""
    upstream = int(upstream_url.rsplit(":", 1)[1])
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, asyncio.Server] = {}

    async def start() -> None:
        box["server"] = await asyncio.start_server(lambda r, w: _pipe(host, upstream, r, w), host, 0)
        ready.set()

    thread = threading.Thread(target=loop.run_forever, name="reset-after-500", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    if not ready.wait(5):
        raise RuntimeError("the wire proxy did not start")
    port = box["server"].sockets[0].getsockname()[1]

    async def stop() -> None:
        box["server"].close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    try:
        yield f"http://{host}:{port}"
    finally:
        with suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()
