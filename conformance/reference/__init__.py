"""The bundled reference server: `conformance serve`, and the target of a run without `--base-url`."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import anyio.from_thread
import httpx
import uvicorn

from conformance.reference.app import DEFAULT_MODEL, VARIANTS, ServerConfig, create_app
from conformance.reference.faults import FAULTS, PARAMETRIC, Fault, Probe, Proof, every_proof

__all__ = [
    "DEFAULT_MODEL",
    "FAULTS",
    "PARAMETRIC",
    "VARIANTS",
    "Fault",
    "Probe",
    "Proof",
    "ServerConfig",
    "create_app",
    "every_proof",
    "in_process",
    "running_server",
    "serve",
    "serving",
]


def serve(
    config: ServerConfig, host: str = "127.0.0.1", port: int = 8000, ready: Callable[[str], None] | None = None
) -> None:
    """Run the reference server in the foreground until interrupted. The socket is bound first, so `ready` gets
    the URL it really listens on (`port` 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    if ready is not None:
        ready(f"http://{'[' + host + ']' if family == socket.AF_INET6 else host}:{bound}")
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning"))
    server.run(sockets=[sock])


@contextmanager
def serving(app: Any, host: str = "127.0.0.1", name: str = "asgi-server", log_level: str = "warning") -> Iterator[str]:
    """Serve an ASGI `app` on a free port in a background thread; yield its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, log_level=log_level, lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name=name, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"{name} did not start")
        threading.Event().wait(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@contextmanager
def running_server(config: ServerConfig, host: str = "127.0.0.1") -> Iterator[str]:
    """Run the reference server on a free port in a background thread; yield its base URL (that of the proxies
    in front of it when faults act on the wire)."""
    with ExitStack() as stack:
        url = stack.enter_context(serving(create_app(config), host, "reference-server"))
        for name in sorted(config.faults):
            fault = FAULTS.get(name)
            if fault is not None and fault.hooks.wire.proxy is not None:
                url = stack.enter_context(fault.hooks.wire.proxy(url, host))
        yield url


@contextmanager
def in_process(config: ServerConfig) -> Iterator[httpx.BaseTransport]:
    """An httpx transport that serves requests with the reference app in this process, without a socket.

    The app runs on an event loop in a helper thread (an anyio blocking portal); an exception in it is a 500,
    as over a socket."""
    app = create_app(config)
    with anyio.from_thread.start_blocking_portal() as portal:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False))

        async def forward(request: httpx.Request) -> httpx.Response:
            url = httpx.URL("http://reference.test").join(request.url.raw_path.decode())
            answer = await client.request(request.method, url, content=request.content, headers=request.headers)
            return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

        try:
            yield httpx.MockTransport(lambda request: portal.call(forward, request))
        finally:
            portal.call(client.aclose)
