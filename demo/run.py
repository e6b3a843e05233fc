"""The demo itself: start Temporal, the relay and a mock-mode worker; submit the demo tasks; check outcomes."""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

import temporal_client
from cli.graphs import start_graph
from cli.task_workflows import start_task, web_ui_url
from demo.board import Board, Row
from demo.catalog import DemoTask, load_catalog, load_demo_context
from demo.pidfile import recorded_running, write_pidfile
from devstack import ROOT, services
from devstack.env import clean_env
from devstack.process import ChildFailure, ChildProcess
from devstack.readiness import connected, http_ok, ready, worker_polling
from models.graph import GraphInput, GraphPlan
from models.names import QUERY_STATUS, WEBHOOK_PATH
from models.status import TERMINAL_PHASES, TaskOutcome, TaskStatus
from models.task import TaskOptions, TaskType, WorkflowInput, workflow_id_for
from settings import DEFAULT_TASK_QUEUE, Settings

REFRESH_SECONDS = 0.5
# The demo's graph: examples/demo/graph.json, one task waiting for another's merge.
DEMO_GRAPH = "demo-graph"
STARTUP_SECONDS = 90.0
# Short pauses and a bounded PR wait, so a demo task that goes wrong ends instead of hanging. The testing
# tasks merge themselves when green (merge_first.json, merge_conflict.json); a person merges the others.
DEMO_OPTIONS = TaskOptions(
    attempt_backoff=timedelta(seconds=2),
    retry_window=timedelta(seconds=10),
    pr_timeout=timedelta(minutes=2),
    followup_settle=timedelta(seconds=2),
    merge_when_green=True,
    merge_when_green_types=[TaskType.TESTING],
)


class DemoError(ChildFailure):
    """The demo cannot go on; the message says what happened and ends with the logs that explain it."""


@dataclass(frozen=True)
class DemoConfig:
    state_dir: Path
    temporal_port: int = 7233
    ui_port: int = 8233
    relay_port: int = 8787
    timeout: float = 180.0
    keep: bool = False

    @property
    def pidfile(self) -> Path:
        return self.state_dir / "demo.pids.json"

    @property
    def secret_file(self) -> Path:
        """The webhook secret of a kept demo's relay, so a person can sign a webhook by hand."""
        return self.state_dir / "demo-webhook-secret"

    @property
    def relay_webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.relay_port}{WEBHOOK_PATH}"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "demo-logs"

    @property
    def settings(self) -> Settings:
        return Settings(
            temporal_address=f"127.0.0.1:{self.temporal_port}",
            task_queue=DEFAULT_TASK_QUEUE,
            temporal_ui_url=f"http://localhost:{self.ui_port}",
        )


def demo_env(config: DemoConfig, repository: str) -> dict[str, str]:
    """What the demo's relay, worker and `starter.py stats` are told (CODEGEN_MOCK=1: mock mode on purpose)."""
    return {
        "CODEGEN_MOCK": "1",
        # Also connects the repository to the fake Codegen organization.
        "ALLOWED_REPOSITORIES": repository,
        "TEMPORAL_ADDRESS": config.settings.temporal_address,
        "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_TASK_QUEUE": DEFAULT_TASK_QUEUE,
        "RELAY_URL": config.relay_webhook_url,
    }


def _refuse_busy_ports(config: DemoConfig) -> None:
    ports = {"Temporal": config.temporal_port, "Web UI": config.ui_port, "relay": config.relay_port}
    busy = [f"{name} port {port}" for name, port in ports.items() if services.port_in_use(port)]
    if busy:
        raise DemoError(
            f"{', '.join(busy)} already in use (another Temporal dev server, `make dev-server`, or a kept demo?). "
            "Stop it, or choose other ports: python -m demo --temporal-port N --ui-port N --relay-port N"
        )


def _start(service: ChildProcess, started: list[ChildProcess]) -> ChildProcess:
    service.start()
    started.append(service)
    return service


async def _start_everything(config: DemoConfig, started: list[ChildProcess], repository: str, out) -> Client:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    env = demo_env(config, repository) | {"WEBHOOK_SECRET": secret}
    if config.keep:  # the relay outlives this run: whoever explores it needs the secret to sign a webhook
        _write_secret(config.secret_file, secret)
    ui_url = config.settings.temporal_ui_url
    logs = config.log_dir

    print(f"starting Temporal dev server on {config.settings.temporal_address} (Web UI {ui_url}) ...", file=out, flush=True)
    for stale in config.state_dir.glob("demo.db*"):  # every run starts with an empty history
        stale.unlink()
    database = config.state_dir / "demo.db"
    temporal = _start(services.dev_server(logs / "temporal.log", config.temporal_port, ui_port=config.ui_port, db_file=database), started)
    write_pidfile(config.pidfile, started)  # from the first start on, so `--stop` can clean up after a crash
    client = await ready(
        f"Temporal on {config.settings.temporal_address}",
        connected(lambda: temporal_client.connect(config.settings)),
        timeout=STARTUP_SECONDS,
        watched=[temporal],
    )
    await ready(f"the Web UI on {ui_url}", http_ok(f"http://127.0.0.1:{config.ui_port}/"), timeout=STARTUP_SECONDS, watched=[temporal])

    print(f"starting the relay on 127.0.0.1:{config.relay_port} and a worker in mock mode ...", file=out, flush=True)
    _start(services.relay(logs / "relay.log", config.relay_port, **env), started)
    _start(services.worker(logs / "worker.log", grace_seconds=5, **env), started)
    write_pidfile(config.pidfile, started)
    await ready("the relay's /readyz", http_ok(f"http://127.0.0.1:{config.relay_port}/readyz"), timeout=STARTUP_SECONDS, watched=started)
    await ready("a worker polling codegen-tasks", worker_polling(client, DEFAULT_TASK_QUEUE), timeout=STARTUP_SECONDS, watched=started)
    print(f"ready; logs in {config.log_dir}/\n", file=out, flush=True)
    return client


def _write_secret(path: Path, secret: str) -> None:
    """Readable by this user only, like the environment the relay holds it in."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(secret)


def signed_webhook_command(config: DemoConfig) -> str:
    """One shell line that signs a ping with the kept relay's secret and sends it (answered 200, ignored)."""
    secret = shlex.quote(str(config.secret_file))
    signature = f"$(printf %s \"$body\" | openssl dgst -sha256 -hmac \"$(cat {secret})\" -r | cut -d' ' -f1)"
    return (
        "body='{\"zen\": \"signed by hand\"}'; curl -s -H 'Content-Type: application/json' -H 'X-GitHub-Event: ping' "
        f"-H 'X-GitHub-Delivery: by-hand-1' -H \"X-Hub-Signature-256: sha256={signature}\" --data-binary \"$body\" "
        f"{config.relay_webhook_url}"
    )


async def _outcome(handle: WorkflowHandle) -> TaskOutcome | str:
    try:
        return await handle.result()
    except WorkflowFailureError as error:
        return f"workflow failed: {error.cause or error}"


async def _graph_task_outcome(graph: WorkflowHandle, task: WorkflowHandle, task_id: str) -> TaskOutcome | str:
    """A graph's task ends once its graph knows: the task's own outcome, or why it never started."""
    try:
        plan: GraphPlan = await graph.result()
    except WorkflowFailureError as error:
        return f"graph failed: {error.cause or error}"
    node = plan.node(task_id)
    return await _outcome(task) if node.runs else f"never started: {node.state.value} ({node.reason})"


async def _row(handle: WorkflowHandle, previous: Row) -> Row:
    try:
        return Row.from_status(await handle.query(QUERY_STATUS, result_type=TaskStatus))
    except (RPCError, WorkflowQueryFailedError):
        return previous  # not answerable yet (no workflow task has run): keep the last row


async def _follow(
    submitted: list[tuple[DemoTask, WorkflowHandle]], rows: dict[str, Row], started: list[ChildProcess], out, graph: WorkflowHandle
) -> dict[str, TaskOutcome | str]:
    """Refresh `rows` and the board until every workflow has ended; each task's outcome (or why it has none)."""
    results = {
        demo.task_id: asyncio.create_task(_graph_task_outcome(graph, handle, demo.task_id) if demo.in_graph else _outcome(handle))
        for demo, handle in submitted
    }
    board = Board(out)
    try:
        while True:
            for demo, handle in submitted:
                if not results[demo.task_id].done():
                    rows[demo.task_id] = await _row(handle, rows[demo.task_id])
            board.update(list(rows.values()))
            if all(result.done() for result in results.values()):
                break
            for service in started:
                if service.exited() is not None:
                    raise DemoError(f"{service.name} exited with code {service.exited()} while tasks were running", [service])
            await asyncio.wait(list(results.values()), timeout=REFRESH_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        for demo, handle in submitted:
            outcome = results[demo.task_id].result()
            if isinstance(outcome, TaskOutcome):
                rows[demo.task_id] = await _row(handle, rows[demo.task_id])
        board.update(list(rows.values()))
    finally:
        board.close()
        for result in results.values():
            result.cancel()
    return {task_id: result.result() for task_id, result in results.items()}


def _report(config: DemoConfig, catalog: list[DemoTask], outcomes: dict[str, TaskOutcome | str], out) -> bool:
    """Print each outcome with its links; True when every one is the expected one."""
    print("\noutcomes (mock mode: the agent runs and pull requests are the bundled fake's, not real ones):", file=out)
    all_expected = True
    for demo in catalog:
        outcome = outcomes[demo.task_id]
        problems = demo.expected.mismatches(outcome) if isinstance(outcome, TaskOutcome) else [outcome]
        all_expected &= not problems
        if isinstance(outcome, TaskOutcome):
            merged_by = f", merged by {outcome.merged_by}" if outcome.merged_by else ""
            summary = f"{outcome.status} ({outcome.reason.value}), {len(outcome.attempts)} attempt(s), {outcome.followups} follow-up(s){merged_by}"
        else:
            summary = outcome
        print(f"{'ok  ' if not problems else 'FAIL'} {demo.task_id}: {summary} - {demo.expected.story}", file=out)
        if problems:
            print(f"     expected {demo.expected.describe()}; got {'; '.join(problems)}", file=out)
        if isinstance(outcome, TaskOutcome) and outcome.pr:
            print(f"     PR:     {outcome.pr.url}", file=out)
        print(f"     Web UI: {web_ui_url(config.settings, workflow_id_for(demo.task_id))}", file=out)
    return all_expected


def _print_stats(config: DemoConfig, repository: str, out) -> None:
    print("\n$ python starter.py stats", file=out, flush=True)
    command = [sys.executable, "starter.py", "stats"]
    subprocess.run(command, cwd=ROOT, env=clean_env(**demo_env(config, repository)), stdout=out, stderr=subprocess.STDOUT, check=False)


async def run_demo(config: DemoConfig, out=sys.stdout) -> int:
    """The whole demo; 0 only when every task ended as expected. Stops what it started unless `keep`."""
    running = recorded_running(config.pidfile)
    if running:
        pids = ", ".join(f"{e['name']} {e['pid']}" for e in running)
        raise DemoError(f"a demo left running by KEEP=1 is still up ({pids}); stop it first: make demo-stop")
    _refuse_busy_ports(config)
    config.secret_file.unlink(missing_ok=True)  # a stopped (or crashed) kept demo's
    catalog = load_catalog()
    context = load_demo_context()
    repository = context.repository or ""
    started: list[ChildProcess] = []
    rows: dict[str, Row] = {}  # the latest of each submitted task, for the board and a timeout's message
    finished = False
    try:
        async with asyncio.timeout(config.timeout):
            client = await _start_everything(config, started, repository, out)
            submitted = []
            for demo in catalog:
                if not demo.in_graph:
                    handle = await start_task(client, config.settings, WorkflowInput(task=demo.task, context=context, options=DEMO_OPTIONS))
                    submitted.append((demo, handle))
                rows[demo.task_id] = Row.waiting(demo.task_id, demo.task.type.value, demo.task.depends_on)
            graph = [demo for demo in catalog if demo.in_graph]
            graph_handle = await start_graph(client, config.settings, GraphInput(
                graph_id=DEMO_GRAPH, tasks=[demo.task for demo in graph], context=context, options=DEMO_OPTIONS
            ))  # fmt: skip
            submitted += [(demo, client.get_workflow_handle(workflow_id_for(demo.task_id), result_type=TaskOutcome)) for demo in graph]
            print(
                f"submitted {len(catalog) - len(graph)} tasks and a graph of {len(graph)} ({graph_handle.id}); "
                "following their phases (the `status` query):", file=out, flush=True,
            )  # fmt: skip
            outcomes = await _follow(submitted, rows, started, out, graph_handle)
        all_expected = _report(config, catalog, outcomes, out)
        _print_stats(config, repository, out)
        finished = True
    except TimeoutError:
        stuck = "; ".join(f"{row.task_id} still {row.phase}" for row in rows.values() if row.phase not in TERMINAL_PHASES)
        raise DemoError(f"the demo did not finish within {config.timeout:.0f} s ({stuck or 'while starting the services'})", started) from None
    finally:
        if not (finished and config.keep):
            for service in reversed(started):  # the worker and the relay before the server they talk to
                service.stop()
            config.pidfile.unlink(missing_ok=True)
            config.secret_file.unlink(missing_ok=True)
    print("\nevery task ended as expected" if all_expected else "\nsome tasks did not end as expected", file=out)
    if config.keep:
        _print_kept(config, started, out)
    return 0 if all_expected else 1


def _print_kept(config: DemoConfig, started: list[ChildProcess], out) -> None:
    print(f"\nleft running (KEEP=1): {', '.join(f'{s.name} (pid {s.pid})' for s in started)}", file=out)
    print(f"  Web UI:  {config.settings.temporal_ui_url}/namespaces/default/workflows", file=out)
    address = "" if config.temporal_port == DemoConfig.temporal_port else f"TEMPORAL_ADDRESS={config.settings.temporal_address} "
    print(f"  CLI:     {address}.venv/bin/python starter.py status demo-feature", file=out)
    print(f"  logs:    {config.log_dir}/", file=out)
    print(f"  webhook: the relay at {config.relay_webhook_url} checks signatures with the secret in", file=out)
    print(f"           {config.secret_file} (its WEBHOOK_SECRET). Sign and send one by hand:", file=out)
    print(f"           {signed_webhook_command(config)}", file=out)
    print("  stop it: make demo-stop   (or: .venv/bin/python -m demo --stop)", file=out)
