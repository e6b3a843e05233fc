"""Running the fake on a loopback port inside a test or benchmark process."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from child_process import started
from fakes.app import create_app
from fakes.config import FakeConfig
from readiness import http_ok, ready


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def serve_app(app: Starlette, host: str = "127.0.0.1", port: int | None = None) -> AsyncIterator[str]:
    """Serve any ASGI app with uvicorn on this event loop; yields its base URL once it listens."""
    port = port or free_port(host)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 10
    try:
        while not server.started:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the fake did not start listening on {host}:{port} within 10 s")
            if task.done():
                task.result()  # surfaces the startup error
                raise RuntimeError("uvicorn exited before it started listening")
            await asyncio.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def serve_fake(config: FakeConfig | None = None) -> AsyncIterator[str]:
    """Run the fake Codegen+GitHub on a free loopback port; yields its base URL."""
    async with serve_app(create_app(config or FakeConfig())) as base_url:
        yield base_url


@asynccontextmanager
async def run_fake_process(env: dict[str, str] | None = None, log: Path | None = None) -> AsyncIterator[str]:
    """`python -m fakes` in its own process on a free port (extra `env` on top of ours); yields its URL once healthy.

    Its output goes to `log`, or to a temporary file removed afterwards.
    """
    port = free_port()
    argv = [sys.executable, "-m", "fakes"]
    env = {**os.environ, **(env or {}), "FAKE_HOST": "127.0.0.1", "FAKE_PORT": str(port)}
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as scratch, started(argv, env, log or Path(scratch) / "fake.log") as process:
        await ready(f"python -m fakes on port {port}", http_ok(f"{url}/healthz"), timeout=15, watched=[process])
        yield url
