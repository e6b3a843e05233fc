"""`starter.py health`: unhealthy without workers, healthy with them, exit 3 when Temporal is unreachable."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cli.health import relay_ready_url
from devstack.services import free_ports
from tests.scripted_services import ScriptedServices
from tests.starter_process import running, starter  # noqa: F401 (starter is a fixture)


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
    # In-process mock mode: each worker runs its own fake, which this command cannot reach.
    assert checks["codegen"]["ok"] is True and checks["codegen"]["detail"].startswith("MOCK MODE")
    assert "inside each worker" in checks["codegen"]["detail"]


async def test_workers_polling_both_queues_make_it_healthy(client, starter, task_queue):
    async with running(ScriptedServices().workers(client, task_queue)):
        with relay_answering(200) as relay_url:
            done = await starter("health", env={"RELAY_URL": relay_url})
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["CHECK", "OK", "DETAIL"]
    assert all(" ok " in line for line in lines[1:]), done.stdout
    assert any(line.startswith(f"activity pollers on {task_queue}-codegen-api") for line in lines)


async def test_mock_mode_checks_the_fake_served_at_codegen_api_url(starter):
    done = await starter("health", "--json", env={"CODEGEN_API_URL": "http://127.0.0.1:1"})
    codegen = {check["name"]: check for check in done.json()["checks"]}["codegen"]
    # Not the fake a worker runs inside itself: the one at CODEGEN_API_URL, which is not there.
    assert done.returncode == 1 and codegen["ok"] is False and "could not be reached" in codegen["detail"]


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
    async with running(ScriptedServices().workers(client, task_queue)):
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
        done = await starter("health", "--json", env={"RELAY_URL": "http://127.0.0.1:1/webhooks/github"})
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
        done = await starter("health", env={"RELAY_URL": f"http://127.0.0.1:{port}/webhooks/github"})
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
