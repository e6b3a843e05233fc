"""`starter.py health`: Temporal reachable, workers polling both queues, Codegen key valid, relay ready."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import asdict, dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest
from temporalio.client import Client

import temporal_client
from activities.codegen import CodegenActivities
from activities.service_clients import clients_at_urls, uses_in_process_fake
from cli import exit_codes
from cli.connection import run_to_completion
from cli.output import fail, print_json, print_table
from models.codegen import codegen_api_task_queue
from settings import Settings

CHECK_TIMEOUT = 15.0
RPC_TIMEOUT = timedelta(seconds=CHECK_TIMEOUT)
RELAY_TIMEOUT = httpx.Timeout(5.0)
MOCK_MODE = "MOCK MODE (no CODEGEN_API_KEY)"
WEBHOOK_PATH = "/webhooks/github"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `health` subcommand."""
    parser = subparsers.add_parser("health", help="is everything a task needs up? exit 0 only if so")
    parser.add_argument("--json", action="store_true", help="print {healthy, checks} as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every check passes, 3 when Temporal is unreachable, 1 otherwise."""
    settings = Settings.from_env()
    checks = run_to_completion(run_checks(settings))
    healthy = all(check.ok for check in checks)
    if args.json:
        print_json({"healthy": healthy, "checks": [asdict(check) for check in checks]})
    else:
        print_table(["CHECK", "OK", "DETAIL"], [[c.name, "ok" if c.ok else "FAIL", c.detail] for c in checks])
    if healthy:
        return exit_codes.OK
    if not checks[0].ok:
        return fail(f"Temporal is not reachable: {checks[0].detail}", exit_codes.UNAVAILABLE)
    return exit_codes.FAILURE


async def run_checks(settings: Settings) -> list[Check]:
    """Temporal first (the pollers need it), then Codegen and the relay; each bounded in time."""
    checks = await _temporal_checks(settings)
    checks.append(await _codegen_check(settings))
    # RELAY_URL, or its default: a relay that is not running is a task that hears no webhooks.
    checks.append(await _relay_check(settings.relay_url))
    return checks


async def _temporal_checks(settings: Settings) -> list[Check]:
    where = f"{settings.temporal_address} namespace {settings.temporal_namespace}"
    try:
        client = await temporal_client.connect(settings)
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=RPC_TIMEOUT)
    except Exception as error:  # any failure here means the same thing to the user: not reachable
        return [Check("temporal", False, f"{where}: {str(error).splitlines()[0]}")]
    checks = [Check("temporal", True, f"{where} (server {info.server_version or 'unknown version'})")]
    queues = [
        (settings.task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, "workflow"),
        (settings.task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, "activity"),
        (codegen_api_task_queue(settings.task_queue), TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, "activity"),
    ]
    for name, kind, label in queues:
        checks.append(await _poller_check(client, name, kind, label))
    return checks


async def _poller_check(client: Client, queue: str, kind: TaskQueueType.ValueType, label: str) -> Check:
    name = f"{label} pollers on {queue}"
    try:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=kind,
            ),
            timeout=RPC_TIMEOUT,
        )
    except Exception as error:
        return Check(name, False, str(error).splitlines()[0])
    identities = sorted({poller.identity for poller in response.pollers})
    if not identities:
        return Check(name, False, "no worker is polling: start worker.py")
    return Check(name, True, f"{len(identities)} worker(s): {', '.join(identities[:3])}")


async def _codegen_check(settings: Settings) -> Check:
    if uses_in_process_fake(settings):
        # Each worker runs its own fake; one built here would answer for itself, not for them.
        return Check("codegen", True, f"{MOCK_MODE}: the bundled fake runs inside each worker; nothing to reach from here")
    try:
        async with clients_at_urls(settings) as clients:
            health = await asyncio.wait_for(CodegenActivities(clients.codegen).check_codegen_health(), CHECK_TIMEOUT)
    except Exception as error:
        return Check("codegen", False, f"{type(error).__name__}: {error}")
    return Check("codegen", health.ok, (f"{MOCK_MODE}: " if health.mock_mode else "") + health.detail)


def relay_ready_url(relay_url: str) -> str:
    """The relay's /readyz next to its webhook path (a proxy's prefix kept): .../webhooks/github -> .../readyz."""
    parts = urlsplit(relay_url)
    path = parts.path.rstrip("/")
    prefix = path[: -len(WEBHOOK_PATH)] if path.endswith(WEBHOOK_PATH) else ""
    return f"{parts.scheme}://{parts.netloc}{prefix}/readyz"


async def _relay_check(relay_url: str) -> Check:
    ready_url = relay_ready_url(relay_url)
    try:
        async with httpx.AsyncClient(timeout=RELAY_TIMEOUT) as http:
            response = await http.get(ready_url)
    except httpx.TransportError as error:
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return Check("relay", False, f"{ready_url}: not reachable ({reason}); start relay.py there, or set RELAY_URL")
    except httpx.HTTPError as error:
        return Check("relay", False, f"{ready_url}: {type(error).__name__}: {error}")
    return Check("relay", response.is_success, f"{ready_url}: HTTP {response.status_code}")
