"""Runs the Temporal workers: CodegenTaskWorkflow with its activities, and rate-limited run creation.

    python worker.py [--metrics-port 9464] [--grace-seconds 30]

Mock mode (the bundled fake Codegen and GitHub, announced loudly) is CODEGEN_MOCK=1, or no CODEGEN_API_KEY with
nothing else configured. No key next to GITHUB_TOKEN, CODEGEN_ORG_ID or a non-loopback CODEGEN_API_URL or
GITHUB_API_URL is refused (exit code 2): a deployment that lost its key never fakes its tasks.
This is the composition root: the one place that wires the fake (fakes/wiring.py) into a worker.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.graph_tasks import GraphTaskActivities
from activities.prompts import PromptActivities
from activities.repository_slots import MOCK_RECLAIM_EVERY, RECLAIM_EVERY, RepositorySlotActivities
from activities.service_clients import ServiceClients, clients_at_urls, refuse_unsafe_mock_mode, uses_in_process_fake
from agent_rate import read_agent_rate, set_agent_rate
from cli import exit_codes
from models import names
from models.codegen import codegen_api_task_queue
from settings import Settings
from temporal_client import connect
from workflows.codegen_task import CodegenTaskWorkflow
from workflows.health import CodegenHealthWorkflow
from workflows.repository_slots import RepositorySlotsWorkflow
from workflows.task_graph import TaskGraphWorkflow

logger = logging.getLogger("worker")

# The sandbox re-imports the workflow module for every new run and proxies each call it makes: a quarter
# of this worker's CPU per task, and ~0.35 MB per cached workflow. The suite runs the same workflow
# inside the sandbox (tests, replays of recorded histories), which refuses I/O, clocks and randomness,
# so the production worker runs it directly.
WORKFLOW_RUNNER = UnsandboxedWorkflowRunner()
# A cached task workflow holds ~0.12 MB (390 MB of RSS with 2,000 cached). Open tasks wake in turn for
# their GitHub reads, minutes apart, so any cache smaller than the open set misses anyway; 500 covers
# the tasks in flight and keeps 10,000 open well under 500 MB.
MAX_CACHED_WORKFLOWS = 500


def build_service_clients(settings: Settings) -> ServiceClients:
    """This process's Codegen and GitHub clients; mock mode without CODEGEN_API_URL runs the fake in-process.

    Raises `UnsafeMockMode` (a ValueError) for settings a worker must not run with (`Settings.mock_mode_refusal`).
    """
    refuse_unsafe_mock_mode(settings)
    if not uses_in_process_fake(settings):
        return clients_at_urls(settings)
    # Imported only here: a real-mode worker never loads the fake (Starlette and its 1,800 lines).
    from fakes.wiring import in_process_fake_clients

    return in_process_fake_clients(settings)


@asynccontextmanager
async def running_workers(client: Client, settings: Settings, *, grace: timedelta = timedelta(seconds=30)) -> AsyncIterator[ServiceClients]:
    """Both workers polling until the block exits, then a graceful shutdown and the HTTP clients closed."""
    async with build_service_clients(settings) as clients:
        await claim_agent_rate(client, settings)
        prompts = PromptActivities(settings.prompt_templates_dir)
        slots = RepositorySlotActivities(
            client, settings.max_active_tasks_per_repository, MOCK_RECLAIM_EVERY if settings.mock_mode else RECLAIM_EVERY
        )
        workers = [
            Worker(
                client,
                task_queue=settings.task_queue,
                # The health workflow runs `check_codegen_health` here, with this worker's key (starter.py health).
                workflows=[CodegenTaskWorkflow, CodegenHealthWorkflow, RepositorySlotsWorkflow, TaskGraphWorkflow],
                workflow_runner=WORKFLOW_RUNNER,
                max_cached_workflows=MAX_CACHED_WORKFLOWS,
                activities=[prompts.generate_prompt, prompts.generate_followup_prompt, *slots.all(), *GraphTaskActivities(client).all(), *clients.activities()],
                graceful_shutdown_timeout=grace,
            ),
            Worker(
                client,
                task_queue=codegen_api_task_queue(settings.task_queue),
                activities=clients.agent_starting_activities(),
                # Only a fallback: the rate in the server's config (claim_agent_rate) wins over it. It holds run
                # creation to the setting on a server that refused that config, or after someone reset it.
                max_task_queue_activities_per_second=settings.create_rate_per_minute / 60,
                graceful_shutdown_timeout=grace,
            ),
        ]
        tasks = [asyncio.create_task(worker.run()) for worker in workers]
        watching = asyncio.create_task(clients.run_watcher.run(client))
        try:
            yield clients
        finally:
            await asyncio.gather(*(worker.shutdown() for worker in workers))
            watching.cancel()
            await asyncio.gather(*tasks, watching, return_exceptions=True)


async def claim_agent_rate(client: Client, settings: Settings) -> None:
    """Set the creation queue's rate in the server's config to this worker's CODEGEN_CREATE_RATE_PER_MINUTE,
    unless it is paused there: a worker (re)starting during an outage never ends it; `agents resume` does."""
    wanted = settings.create_rate_per_minute
    try:
        current = await read_agent_rate(client, settings.task_queue)
        if current.paused:
            since = f" since {current.changed_at:%Y-%m-%d %H:%M:%S} UTC" if current.changed_at else ""
            logger.warning(
                "run creation on %s is PAUSED%s (%s); left paused: `starter.py agents resume` ends it",
                current.task_queue, since, current.reason or "no reason given",
            )  # fmt: skip
            return
        if current.source == "api" and math.isclose(current.per_minute, wanted, rel_tol=1e-6):
            return
        await set_agent_rate(client, settings.task_queue, wanted, "CODEGEN_CREATE_RATE_PER_MINUTE of worker.py at start")
    except RPCError as error:
        logger.warning(
            "could not set the agent rate in the server's config (%s); this worker holds run creation to %g per minute itself",
            error.message, wanted,
        )  # fmt: skip
        return
    if current.source == "api":
        # Workers with different settings: the last one started wins, and says so.
        logger.warning("agent rate on %s changed from %g to %g per minute (this worker's setting)", current.task_queue, current.per_minute, wanted)
    else:
        logger.info("agent rate on %s set to %g per minute in the server's config", current.task_queue, wanted)


async def ensure_search_attributes(client: Client) -> None:
    """Register any missing Keyword attribute (what a dev server needs); a cluster may refuse: say how to fix."""
    namespace = client.namespace
    try:
        known = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
        missing = [key.name for key in names.SEARCH_ATTRIBUTES if key.name not in known.custom_attributes]
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=namespace,
                    search_attributes={name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in missing},
                )
            )
            logger.info("registered search attributes %s", ", ".join(missing))
    except RPCError as error:
        wanted = ", ".join(key.name for key in names.SEARCH_ATTRIBUTES)
        logger.warning("could not check or register search attributes (%s); create them as Keyword: %s", error.message, wanted)


def _announce(settings: Settings, clients: ServiceClients) -> None:
    banner = "=" * 78
    if clients.mock_mode:
        logger.warning("%s\n%s\n%s", banner, clients.description, banner)
    else:
        logger.info(clients.description)
    logger.info(
        "polling %s (workflows, activities) and %s (run creation, at the agent rate; Codegen reads, %d per 30 s) on %s/%s",
        settings.task_queue,
        codegen_api_task_queue(settings.task_queue),
        settings.reads_per_30s,
        settings.temporal_address,
        settings.temporal_namespace,
    )


async def serve(settings: Settings, metrics_port: int | None, grace: timedelta) -> None:
    runtime = None
    if metrics_port:
        runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"0.0.0.0:{metrics_port}")))
    client = await connect(settings, runtime=runtime)
    await ensure_search_attributes(client)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_workers(client, settings, grace=grace) as clients:
        _announce(settings, clients)
        await stop.wait()
        logger.info("stopping: letting running activities finish (up to %s)", grace)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="worker.py", description=__doc__.splitlines()[0])
    parser.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics from the SDK here")
    parser.add_argument("--grace-seconds", type=float, default=30.0, help="time running activities get on shutdown")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO, four or more per task; a failed one surfaces as an activity error.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
        # Before connecting: the refusal must not wait for (or depend on) Temporal.
        refuse_unsafe_mock_mode(settings)
        asyncio.run(serve(settings, args.metrics_port, timedelta(seconds=args.grace_seconds)))
    except (RuntimeError, ValueError) as error:
        logger.error("%s", error)
        return exit_codes.UNAVAILABLE if isinstance(error, RuntimeError) else exit_codes.INVALID_INPUT
    return exit_codes.OK


if __name__ == "__main__":
    # After a graceful stop the workers are shut down and the HTTP clients closed.
    exit_codes.leave(main())
