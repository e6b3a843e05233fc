"""Running `starter.py` as a user does (a real subprocess) against the session dev server.

The subprocess is asynchronous so scripted workers in the test's event loop keep working
while a command waits on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from devstack import ROOT
from devstack.env import clean_env

PYTHON = ROOT / ".venv" / "bin" / "python"
if not PYTHON.exists():  # running outside the project's virtualenv
    PYTHON = Path(sys.executable)


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Starter:
    """`await starter("status", "t1")` runs `starter.py status t1` with this Temporal and task queue."""

    address: str
    task_queue: str

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """What the command gets: no settings from the developer's shell, this Temporal and task queue, `extra`."""
        return clean_env(**{"TEMPORAL_ADDRESS": self.address, "TEMPORAL_TASK_QUEUE": self.task_queue, **(extra or {})})

    async def spawn(
        self, *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, own_group: bool = False
    ) -> asyncio.subprocess.Process:
        """`own_group`: in a process group of its own, which a test can signal whole, as a terminal's Ctrl-C does."""
        return await asyncio.create_subprocess_exec(
            str(PYTHON), str(ROOT / "starter.py"), *args, cwd=cwd, env=self.env(env),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=own_group,
        )

    async def __call__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 90) -> Finished:
        process = await self.spawn(*args, env=env)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
        return Finished(process.returncode, stdout.decode(), stderr.decode())


@contextlib.asynccontextmanager
async def running(workers: Sequence[Worker]) -> AsyncIterator[None]:
    """Run every worker for the duration of the block."""
    async with contextlib.AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
        yield


def write_json(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def task(task_id: str | None, **fields: Any) -> dict[str, Any]:
    """A small valid task object; `task_id=None` leaves the id for submit to derive."""
    data = {"title": "Add rate limiting", "type": "feature", **fields}
    return data if task_id is None else {"id": task_id, **data}


@pytest.fixture
def starter(client: Client, task_queue: str) -> Starter:
    """starter.py against the session dev server and this test's fresh task queue (import it to use it)."""
    return Starter(client.service_client.config.target_host, task_queue)


def unique(prefix: str = "t") -> str:
    """A task id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
