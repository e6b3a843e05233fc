"""The project's services as local processes on loopback ports (the fake, the relay, a worker, the dev
server), free ports to put them on, and any ASGI app served inside this process.

The builders return a ChildProcess not yet started, with `clean_env` plus what the caller sets: the
caller starts it (or enters it) and waits for what it needs with `devstack.readiness.ready`.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn

from devstack.env import clean_env
from devstack.process import ChildProcess
from devstack.readiness import http_ok, ready
from devstack.temporal_server import LOOPBACK, dev_server_argv
from fakes.app import create_app
from fakes.config import FakeConfig

SERVE_TIMEOUT_SECONDS = 10.0
FAKE_TIMEOUT_SECONDS = 20.0


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports nothing listens on (all bound at once, so none repeats)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((LOOPBACK, 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def free_port() -> int:
    """A loopback port nothing listens on."""
    return free_ports(1)[0]


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """Whether something listens on the port (connections lingering after a previous run do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers themselves do; on Linux a listening socket still makes bind fail.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


@asynccontextmanager
async def serve_app(app: Any, host: str = LOOPBACK, port: int | None = None) -> AsyncIterator[str]:
    """Serve any ASGI app with uvicorn on this event loop; yields its base URL once it listens."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())

    async def listening() -> bool:
        if task.done():
            task.result()  # surfaces the startup error
            raise RuntimeError("uvicorn exited before it started listening")
        return server.started

    try:
        # A short interval: tests serve an app many times over, and uvicorn starts in milliseconds.
        await ready(f"uvicorn on {host}:{port}", listening, timeout=SERVE_TIMEOUT_SECONDS, interval=0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def serve_fake(config: FakeConfig | None = None) -> AsyncIterator[str]:
    """The fake Codegen+GitHub app served inside this process on a free loopback port; yields its base URL."""
    async with serve_app(create_app(config or FakeConfig())) as base_url:
        yield base_url


def fake(log: Path, port: int, **env: str) -> ChildProcess:
    """`python -m fakes` on 127.0.0.1:`port` (FAKE_* / WEBHOOK_SECRET / RELAY_URL from `env`)."""
    return ChildProcess(
        [sys.executable, "-m", "fakes"], clean_env(**env) | {"FAKE_HOST": LOOPBACK, "FAKE_PORT": str(port)}, log
    )


def relay(log: Path, port: int, **env: str) -> ChildProcess:
    """`python relay.py` on 127.0.0.1:`port` (TEMPORAL_ADDRESS, WEBHOOK_SECRET, ... from `env`)."""
    return ChildProcess(
        [sys.executable, "relay.py"], clean_env(**env) | {"RELAY_HOST": LOOPBACK, "RELAY_PORT": str(port)}, log
    )


def worker(log: Path, *, grace_seconds: float | None = None, argv: list[str] | None = None, **env: str) -> ChildProcess:
    """`python worker.py` with TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE, ... from `env`; `grace_seconds` is what
    running activities get on SIGTERM (worker.py's own default otherwise). `argv` runs another worker program
    (the benchmarks' baseline) in its place, with the same environment."""
    if argv is None:
        argv = [sys.executable, "worker.py"]
        if grace_seconds is not None:
            argv += ["--grace-seconds", f"{grace_seconds:g}"]
    return ChildProcess(argv, clean_env(**env), log)


def dev_server(log: Path, port: int, *, ui_port: int | None = None, db_file: Path | None = None) -> ChildProcess:
    """`temporal server start-dev` on 127.0.0.1:`port`, quiet (see `dev_server_argv`)."""
    return ChildProcess(dev_server_argv(port, ui_port=ui_port, db_file=db_file), clean_env(), log)


@asynccontextmanager
async def run_fake_process(env: Mapping[str, str] | None = None, log: Path | None = None) -> AsyncIterator[str]:
    """`python -m fakes` on a free port (`env` on top of `clean_env`); yields its URL once it answers /healthz.

    Its output goes to `log`, or to a temporary file removed afterwards.
    """
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    with (
        tempfile.TemporaryDirectory() as scratch,
        fake(log or Path(scratch) / "fake.log", port, **(env or {})) as process,
    ):
        await ready(
            f"python -m fakes on port {port}",
            http_ok(f"{url}/healthz"),
            timeout=FAKE_TIMEOUT_SECONDS,
            watched=[process],
        )
        yield url
