"""`starter.py health`: Temporal reachable, workers polling both queues, agent rate not paused, Codegen key
valid, relay ready.

The Codegen key is checked where it is used: on a worker, through a short CodegenHealthWorkflow that runs
the worker's `check_codegen_health` activity. The operator's shell may hold another key, or none.
"""

from __future__ import annotations

import argparse
import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError  # not the builtin

import temporal_client
from agent_rate import read_agent_rate
from cli import agents, exit_codes
from cli.connection import run_to_completion
from cli.output import fail, print_json, print_table
from models.codegen import CodegenHealth, codegen_api_task_queue
from models.names import HEALTH_WORKFLOW_ID_PREFIX, HEALTH_WORKFLOW_NAME, WEBHOOK_PATH
from settings import Settings

CHECK_TIMEOUT = 15.0
RPC_TIMEOUT = timedelta(seconds=CHECK_TIMEOUT)
RELAY_TIMEOUT = httpx.Timeout(5.0)
MOCK_MODE = "MOCK MODE on the worker"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `health` subcommand."""
    parser = subparsers.add_parser("health", help="is everything a task needs up? exit 0 only if so")
    parser.add_argument("--json", action="store_true", help="print {healthy, checks} as JSON")
    parser.add_argument(
        "--timeout", type=_seconds, default=CHECK_TIMEOUT, metavar="SECONDS",
        help=f"how long a worker has to answer the Codegen check (default {CHECK_TIMEOUT:g})",
    )  # fmt: skip
    parser.set_defaults(run=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 1 <= value <= 600:
        raise argparse.ArgumentTypeError(f"must be between 1 and 600 seconds, not {text}")
    return value


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every check passes, 3 when Temporal is unreachable, 1 otherwise."""
    settings = Settings.from_env()
    checks = run_to_completion(run_checks(settings, timedelta(seconds=args.timeout)))
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


async def run_checks(settings: Settings, timeout: timedelta = RPC_TIMEOUT) -> list[Check]:
    """Temporal first (the pollers and the Codegen check need it), then Codegen on a worker and the relay;
    each bounded in time (`timeout` for a worker to answer the Codegen check)."""
    client, checks = await _temporal_checks(settings)
    if client is None:
        checks.append(Check("codegen", False, "not checked: Temporal is not reachable, and the check runs on a worker"))
    elif not checks[1].ok:
        # No worker polls for workflows: nobody would answer; say so now instead of after the timeout.
        checks.append(Check("codegen", False, f"not checked: no worker polls {settings.task_queue}; start worker.py"))
    else:
        checks.append(await _codegen_check(client, settings.task_queue, timeout))
    # RELAY_URL, or its default: a relay that is not running is a task that hears no webhooks.
    checks.append(await _relay_check(settings.relay_url))
    return checks


async def _temporal_checks(settings: Settings) -> tuple[Client | None, list[Check]]:
    where = f"{settings.temporal_address} namespace {settings.temporal_namespace}"
    try:
        client = await temporal_client.connect(settings)
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=RPC_TIMEOUT)
    except Exception as error:  # any failure here means the same thing to the user: not reachable
        return None, [Check("temporal", False, f"{where}: {_first_line(error)}")]
    checks = [Check("temporal", True, f"{where} (server {info.server_version or 'unknown version'})")]
    queues = [
        (settings.task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, "workflow"),
        (settings.task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, "activity"),
        (codegen_api_task_queue(settings.task_queue), TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, "activity"),
    ]
    for name, kind, label in queues:
        checks.append(await _poller_check(client, name, kind, label))
    checks.append(await _agent_rate_check(client, settings.task_queue))
    return client, checks


async def _agent_rate_check(client: Client, task_queue: str) -> Check:
    """Fails while paused: no task gets an agent run, on purpose or not; the detail says who paused it and when."""
    try:
        rate = await read_agent_rate(client, task_queue)
    except Exception as error:
        return Check("agent rate", False, _first_line(error))
    return Check("agent rate", not rate.paused, agents.describe(rate))


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
        return Check(name, False, _first_line(error))
    identities = sorted({poller.identity for poller in response.pollers})
    if not identities:
        return Check(name, False, "no worker is polling: start worker.py")
    return Check(name, True, f"{len(identities)} worker(s): {', '.join(identities[:3])}")


async def _codegen_check(client: Client, task_queue: str, timeout: timedelta) -> Check:
    """The worker's own Codegen check (its key, or its mock mode), through CodegenHealthWorkflow on `task_queue`."""
    seconds = f"{timeout.total_seconds():g} s"
    try:
        health = await client.execute_workflow(
            HEALTH_WORKFLOW_NAME,
            id=f"{HEALTH_WORKFLOW_ID_PREFIX}{uuid.uuid4().hex}",
            task_queue=task_queue,
            execution_timeout=timeout,
            result_type=CodegenHealth,
            rpc_timeout=RPC_TIMEOUT,
        )
    except WorkflowFailureError as error:
        cause = error.cause
        if isinstance(cause, TemporalTimeoutError):
            return Check(
                "codegen", False,
                f"no worker answered within {seconds} on {task_queue}: is worker.py running there "
                f"(a version that registers {HEALTH_WORKFLOW_NAME})?",
            )  # fmt: skip
        if isinstance(cause, ActivityError) and cause.cause is not None:
            cause = cause.cause
        return Check("codegen", False, f"the worker's check failed: {_first_line(cause)}")
    except Exception as error:  # starting the workflow failed: Temporal refused or went away
        return Check("codegen", False, f"could not run the check on a worker: {_first_line(error)}")
    return Check("codegen", health.ok, (f"{MOCK_MODE}: " if health.mock_mode else "") + health.detail)


def _first_line(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


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
        return Check("relay", False, f"{ready_url}: not reachable ({_first_line(error)}); start relay.py there, or set RELAY_URL")
    except httpx.HTTPError as error:
        return Check("relay", False, f"{ready_url}: {_first_line(error)}")
    return Check("relay", response.is_success, f"{ready_url}: HTTP {response.status_code}")
