"""`starter.py dev-server`: a persisted dev server with the search attributes, stopped by Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from devstack.readiness import connected
from devstack.services import free_ports
from models import names
from tests.starter_process import Starter
from tests.waiting import wait_until


async def test_dev_server_persists_in_dot_temporal_and_registers_search_attributes(tmp_path):
    # The second start reopens the first one's database, with its attributes already registered.
    for _ in range(2):
        await serve_once(tmp_path)


async def serve_once(tmp_path) -> None:
    port, ui_port = free_ports(2)
    starter = Starter(f"127.0.0.1:{port}", "unused")
    server = await starter.spawn("dev-server", "--port", str(port), "--ui-port", str(ui_port), cwd=tmp_path, own_group=True)
    # Read all along: the server logs at its default level, and a full pipe would block it mid-write.
    output = asyncio.ensure_future(server.communicate())
    try:
        connect = connected(lambda: Client.connect(f"127.0.0.1:{port}"))
        client = await wait_until(connect, timeout=60, what="the dev server to accept connections")
        registered = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
        assert {key.name for key in names.SEARCH_ATTRIBUTES} <= set(registered.custom_attributes)
        assert (tmp_path / ".temporal" / "dev.db").exists()
    finally:
        # Ctrl-C on a terminal: the whole group, the command and the server it runs.
        os.killpg(server.pid, signal.SIGINT)
        try:
            # Generous: a loaded machine stops a server with a UI and a database slowly.
            await asyncio.wait_for(output, 120)
        finally:
            if server.returncode is None:
                os.killpg(server.pid, signal.SIGKILL)
    assert server.returncode == 0
