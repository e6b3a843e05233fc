"""`starter.py health`: unhealthy without workers, healthy with them, exit 3 when Temporal is unreachable;
the Codegen key is checked on the worker (through CodegenHealthWorkflow), not in the operator's shell."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pydantic import SecretStr
from temporalio.client import Client

from cli.health import relay_ready_url
from devstack.services import free_ports, serve_fake
from fakes.config import FakeConfig
from models.names import HEALTH_WORKFLOW_ID_PREFIX
from settings import Settings
from tests.scripted_services import ScriptedServices
from tests.starter_process import running, starter  # noqa: F401 (starter is a fixture)
from tests.waiting import wait_until
from worker import running_workers

WORKER_KEY = "cg-the-workers-key"


@asynccontextmanager
async def worker(client: Client, settings: Settings) -> AsyncIterator[None]:
    """The real workers (worker.running_workers) with `settings`, polling until the block ends."""
    async with running_workers(client, settings):
        yield


def mock_worker(client: Client, task_queue: str):
    """A worker in mock mode on purpose (CODEGEN_MOCK=1): the bundled fakes inside it."""
    return worker(client, Settings(task_queue=task_queue, codegen_mock=True))


async def test_no_worker_is_unhealthy(starter, task_queue):
    done = await starter("health", "--json")
    assert done.returncode == 1
    report = done.json()
    checks = {check["name"]: check for check in report["checks"]}
    assert report["healthy"] is False and checks["temporal"]["ok"] is True
    assert checks[f"workflow pollers on {task_queue}"] == {
        "name": f"workflow pollers on {task_queue}", "ok": False, "detail": "no worker is polling: start worker.py",
    }
    assert checks[f"activity pollers on {task_queue}-codegen-api"]["ok"] is False
    # The key is checked on a worker, and there is none: not a pass, whatever the shell holds.
    assert checks["codegen"] == {
        "name": "codegen", "ok": False, "detail": f"not checked: no worker polls {task_queue}; start worker.py",
    }


async def test_workers_polling_both_queues_make_it_healthy_and_a_mock_worker_says_so(client, starter, task_queue):
    async with mock_worker(client, task_queue):
        with relay_answering(200) as relay_url:
            # A key in the operator's shell changes nothing: the worker runs the fakes.
            done = await starter("health", env={"RELAY_URL": relay_url, "CODEGEN_API_KEY": "cg-shell-key"})
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["CHECK", "OK", "DETAIL"]
    assert all(" ok " in line for line in lines[1:]), done.stdout
    assert any(line.startswith(f"activity pollers on {task_queue}-codegen-api") for line in lines)
    [codegen] = [line for line in lines if line.startswith("codegen ")]
    assert "MOCK MODE on the worker: the bundled fake (mock mode): authenticated as" in codegen, done.stdout


async def test_the_key_checked_is_the_workers_not_the_shells(client, starter, task_queue):
    async with serve_fake(FakeConfig(codegen_api_key=WORKER_KEY)) as fake_url:
        at_fake = {"codegen_api_url": fake_url, "codegen_api_url_explicit": True, "github_api_url": fake_url}
        # The worker's key is wrong; the shell's is right: unhealthy.
        async with worker(client, Settings(task_queue=task_queue, codegen_api_key=SecretStr("cg-revoked"), **at_fake)):
            wrong = await starter("health", "--json", env={"CODEGEN_API_KEY": WORKER_KEY, "CODEGEN_API_URL": fake_url})
        # The worker's key is right; the shell has none (once "mock mode, ok"): healthy, and real.
        async with worker(client, Settings(task_queue=task_queue, codegen_api_key=SecretStr(WORKER_KEY), **at_fake)):
            right = await starter("health", "--json", env={"CODEGEN_API_URL": "http://127.0.0.1:1"})
    codegen = {check["name"]: check for check in wrong.json()["checks"]}["codegen"]
    assert wrong.returncode == 1 and codegen["ok"] is False and codegen["detail"].startswith("AuthError"), codegen
    codegen = {check["name"]: check for check in right.json()["checks"]}["codegen"]
    assert codegen["ok"] is True and codegen["detail"].startswith("the Codegen API: authenticated as"), codegen
    assert "MOCK MODE" not in codegen["detail"]


async def test_a_worker_that_does_not_answer_the_check_in_time_is_reported(client, starter, task_queue):
    # Workers that poll the queue but do not know CodegenHealthWorkflow (an older worker.py, say).
    async with running(ScriptedServices().workers(client, task_queue)):
        done = await starter("health", "--json", "--timeout", "2")
    codegen = {check["name"]: check for check in done.json()["checks"]}["codegen"]
    assert done.returncode == 1 and codegen["ok"] is False
    assert codegen["detail"].startswith(f"no worker answered within 2 s on {task_queue}"), codegen
    # Each check is its own workflow execution with an execution timeout: it ended, nothing is left running.
    query = f"WorkflowId STARTS_WITH '{HEALTH_WORKFLOW_ID_PREFIX}' AND TaskQueue = '{task_queue}'"

    async def timed_out() -> bool:
        return [w.status.name async for w in client.list_workflows(query) if w.status is not None] == ["TIMED_OUT"]

    await wait_until(timed_out, what="the check's one execution to show as timed out")


@contextmanager
def relay_answering(status: int) -> Iterator[str]:
    """A loopback server standing in for the relay: /readyz answers `status`; yields its RELAY_URL."""

    class Ready(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/readyz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/webhooks/github"
    finally:
        server.shutdown()
        server.server_close()


async def test_relay_readiness_counts_when_relay_url_is_set(client, starter, task_queue):
    async with mock_worker(client, task_queue):
        with relay_answering(200) as relay_url:
            ready = await starter("health", "--json", env={"RELAY_URL": relay_url})
        with relay_answering(503) as relay_url:
            not_ready = await starter("health", "--json", env={"RELAY_URL": relay_url})
    assert ready.returncode == 0, ready.stdout
    assert not_ready.returncode == 1
    relay = {check["name"]: check for check in not_ready.json()["checks"]}["relay"]
    assert relay["ok"] is False and relay["detail"].endswith("/readyz: HTTP 503")


async def test_relay_not_ready_is_unhealthy(client, starter, task_queue):
    async with running(ScriptedServices().workers(client, task_queue)):
        done = await starter("health", "--json", "--timeout", "1", env={"RELAY_URL": "http://127.0.0.1:1/webhooks/github"})
    assert done.returncode == 1
    relay = {check["name"]: check for check in done.json()["checks"]}["relay"]
    assert relay["ok"] is False and relay["detail"].startswith("http://127.0.0.1:1/readyz")


async def test_the_relay_is_checked_at_the_default_relay_url_too(starter):
    # No RELAY_URL: the configuration's default, http://127.0.0.1:8787/webhooks/github, is where the
    # fake sends webhooks and where a relay must answer. Up or not here, it is checked.
    done = await starter("health", "--json")
    checks = {check["name"]: check for check in done.json()["checks"]}
    assert "relay" in checks, done.stdout
    assert checks["relay"]["detail"].startswith("http://127.0.0.1:8787/readyz: ")


async def test_a_relay_that_is_not_running_is_reported_not_reachable_with_its_url(client, starter, task_queue):
    [port] = free_ports(1)
    async with running(ScriptedServices().workers(client, task_queue)):
        done = await starter("health", "--timeout", "1", env={"RELAY_URL": f"http://127.0.0.1:{port}/webhooks/github"})
    assert done.returncode == 1
    [line] = [line for line in done.stdout.splitlines() if line.startswith("relay ")]
    assert f"FAIL  http://127.0.0.1:{port}/readyz: not reachable (" in line and "start relay.py" in line, done.stdout


def test_the_readiness_url_sits_next_to_the_webhook_path():
    assert relay_ready_url("http://127.0.0.1:8787/webhooks/github") == "http://127.0.0.1:8787/readyz"
    assert relay_ready_url("https://hooks.example.com/codegen/webhooks/github/") == "https://hooks.example.com/codegen/readyz"
    assert relay_ready_url("https://hooks.example.com/elsewhere") == "https://hooks.example.com/readyz"


async def test_unreachable_temporal_exits_3(starter):
    done = await starter("health", env={"TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert done.returncode == 3
    assert done.stderr.startswith("Temporal is not reachable") and done.stderr.count("\n") == 1
