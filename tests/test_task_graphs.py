"""Task graphs end to end: `starter.py submit` of tasks that depend on each other, against the dev server, a
worker process and the fake. A task starts only once the PRs it depends on have merged, builds on them, and
a dependency that does not merge blocks its dependents until an operator retries or skips it."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from models.graph import GraphPlan, NodeState
from models.status import TaskOutcome
from models.task import WorkflowInput
from tests.fault_harness import fake_counters, fake_process, mock_mode_worker
from tests.scripted_services import ScriptedServices
from tests.starter_process import Starter, starter  # noqa: F401 (a fixture)
from tests.waiting import wait_until

MERGES = {"delays": {"run_seconds": 0.5}}
CLOSES = {"outcome": "close", "delays": {"run_seconds": 0.5}}
STAYS_OPEN = {"outcome": "leave_open", "delays": {"run_seconds": 0.5}}


def graph_file(tmp_path: Path, prefix: str, tasks: list[tuple[str, list[str], dict[str, Any]]]) -> Path:
    path = tmp_path / "graph.json"
    path.write_text(json.dumps([
        {"id": f"{prefix}-{name}", "title": f"Task {name}", "type": "feature",
         "depends_on": [f"{prefix}-{d}" for d in depends_on], "metadata": {"scenario": scenario}}
        for name, depends_on, scenario in tasks
    ]))  # fmt: skip
    return path


def context_file(tmp_path: Path) -> Path:
    path = tmp_path / "context.json"
    path.write_text(json.dumps({"repository": "acme/api"}))
    return path


async def graph_result(client: Client, graph_id: str) -> GraphPlan:
    return await client.get_workflow_handle(f"codegen-graph-{graph_id}", result_type=GraphPlan).result()


async def first_input(client: Client, workflow_id: str) -> WorkflowInput:
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        (raw,) = await client.data_converter.decode(event.workflow_execution_started_event_attributes.input.payloads)
        return WorkflowInput.model_validate(raw)
    raise AssertionError(f"{workflow_id} has no history")


async def run_created_at(fake_url: str, run_id: int) -> datetime:
    async with httpx.AsyncClient(base_url=fake_url) as http:
        return datetime.fromisoformat((await http.get(f"/_admin/runs/{run_id}")).json()["created_at"])


async def merged_at(fake_url: str, pr_url: str) -> datetime:
    number = pr_url.rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=fake_url) as http:
        return datetime.fromisoformat((await http.get(f"/repos/acme/api/pulls/{number}")).json()["merged_at"].replace("Z", "+00:00"))


async def test_a_graph_starts_each_task_after_its_dependencies_merged_and_blocks_behind_a_closed_one(
    dev_env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path, starter: Starter  # noqa: F811
):
    graph = f"g-{task_queue}"
    # a <- b, a <- c (closes) <- d; e alone.
    tasks = graph_file(tmp_path, graph, [("a", [], MERGES), ("b", ["a"], MERGES), ("c", ["a"], CLOSES), ("d", ["c"], MERGES), ("e", [], MERGES)])
    async with AsyncExitStack() as stack:
        fake_url = await stack.enter_async_context(fake_process(tmp_path / "fake.log"))
        worker = mock_mode_worker(tmp_path, dev_env, task_queue, fake_url)
        worker.start()
        stack.callback(worker.stop)
        submitted = await starter("submit", str(tasks), "--context", str(context_file(tmp_path)), "--graph", graph)
        # A worker lost mid-graph loses nothing.
        await wait_until(lambda: task_started(client, f"codegen-task-{graph}-a"), timeout=60, interval=0.2, what="the first task")
        worker.kill()
        worker.start()
        first = await graph_result(client, graph)
        again = await starter("submit", str(tasks), "--context", str(context_file(tmp_path)), "--graph", graph)
        skipped = await starter("graph", "skip", f"{graph}-c")
        second = await wait_until(lambda: ended_again(client, graph), timeout=120, interval=0.5, what="the graph's second run")
        outcomes = {name: await client.get_workflow_handle(f"codegen-task-{graph}-{name}", result_type=TaskOutcome).result() for name in "abde"}
        built_on = await first_input(client, f"codegen-task-{graph}-b")
        created = {name: await run_created_at(fake_url, outcomes[name].agent_runs[0].id) for name in "bd"}
        a_merged = await merged_at(fake_url, outcomes["a"].pr.url if outcomes["a"].pr else "")
        status = await starter("status", graph)
        await wait_until(lambda: graph_rows(starter, graph, 5), timeout=30, interval=0.5, what="the graph's tasks listed")
        stats = (await starter("stats", "--graph", graph, "--json")).json()
        counters = await fake_counters(fake_url)

    assert submitted.returncode == 0 and f"started graph {graph}: codegen-graph-{graph} (5 tasks)" in submitted.stdout
    states = {node.task_id.rsplit("-", 1)[1]: node.state for node in first.nodes}
    assert states == {"a": NodeState.MERGED, "b": NodeState.MERGED, "c": NodeState.CLOSED, "d": NodeState.BLOCKED, "e": NodeState.MERGED}
    assert first.node(f"{graph}-d").reason == f"blocked: {graph}-c ended closed"
    assert again.returncode == 1 and f"graph {graph} already ran" in again.stderr
    assert skipped.returncode == 0 and "it goes on in a new run" in skipped.stdout
    assert {node.task_id.rsplit("-", 1)[1]: node.state for node in second.nodes} == states | {"c": NodeState.SKIPPED, "d": NodeState.MERGED}
    # b's agent run was created only after a's PR merged, and b was told what a delivered.
    assert created["b"] > a_merged
    (delivered,) = built_on.built_on
    assert delivered.task_id == f"{graph}-a" and delivered.pr_url == outcomes["a"].pr.url  # type: ignore[union-attr]
    assert delivered.merge_commit_sha and delivered.merge_commit_sha == outcomes["a"].pr.merge_commit_sha  # type: ignore[union-attr]
    # One run per task and attempt: the SIGKILL duplicated nothing, the skip started nothing twice.
    assert {task: runs for task, runs in counters["runs_created"].items() if task.startswith(graph)} == {
        f"{graph}-{name}": {"1": 1} for name in "abcde"
    }
    assert f"{graph}-d" in status.stdout and "skipped by an operator" in status.stdout
    assert stats["total"] == 5 and stats["by_outcome"]["merged"] == 4


async def test_retry_runs_a_closed_task_again_and_cancel_stops_the_graph(
    dev_env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path, starter: Starter  # noqa: F811
):
    graph = f"r-{task_queue}"
    # x closes, y waits for it; z keeps its PR open, so the graph keeps running.
    tasks = graph_file(tmp_path, graph, [("x", [], CLOSES), ("y", ["x"], MERGES), ("z", [], STAYS_OPEN)])
    async with AsyncExitStack() as stack:
        fake_url = await stack.enter_async_context(fake_process(tmp_path / "fake.log"))
        worker = mock_mode_worker(tmp_path, dev_env, task_queue, fake_url)
        worker.start()
        stack.callback(worker.stop)
        await starter("submit", str(tasks), "--context", str(context_file(tmp_path)), "--graph", graph)
        await wait_until(lambda: node_state_is(client, graph, "y", NodeState.BLOCKED), timeout=60, interval=0.2, what="y blocked")
        retried = await starter("retry", f"{graph}-x")
        await wait_until(lambda: runs_of(client, graph, "x", 2, NodeState.CLOSED), timeout=60, interval=0.2, what="x closed again")
        refused = await starter("retry", f"{graph}-z")
        # Skipped on the running graph: y no longer waits for x.
        skipped = await starter("graph", "skip", f"{graph}-x")
        await wait_until(lambda: node_state_is(client, graph, "y", NodeState.MERGED), timeout=60, interval=0.2, what="y merged")
        details = await wait_until(lambda: details_saying(client, graph, f"| {graph}-y | merged |"), timeout=30, what="the table")
        cancelled = await starter("cancel", graph, "--json")
        counters = await fake_counters(fake_url)

    assert retried.returncode == 0 and "runs again in graph" in retried.stdout
    assert refused.returncode == 1
    assert skipped.returncode == 0 and "the tasks that depend on it may start" in skipped.stdout
    assert counters["runs_created"][f"{graph}-x"] == {"1": 2}
    # The Web UI's current details: the graph's table, one row per task.
    assert f"| {graph}-x | skipped |" in details and f"| {graph}-z | running |" in details
    states = {node["task_id"].rsplit("-", 1)[1]: node["state"] for node in cancelled.json()["graph"]["nodes"]}
    assert cancelled.returncode == 0 and states == {"x": "skipped", "y": "merged", "z": "cancelled"}


async def test_a_graph_that_is_no_graph_is_refused_before_anything_starts(
    client: Client, task_queue: str, tmp_path: Path, starter: Starter  # noqa: F811
):
    tasks = graph_file(tmp_path, "bad", [("a", ["c"], {}), ("b", ["a"], {}), ("c", ["b"], {}), ("d", ["d", "nowhere"], {})])
    refused = await starter("submit", str(tasks))
    # The same input started by hand: the workflow refuses it, naming the same problems.
    raw = json.loads(tasks.read_text())
    handle = await client.start_workflow("TaskGraphWorkflow", {"graph_id": "bad", "tasks": raw}, id=f"codegen-graph-bad-{task_queue}", task_queue=task_queue)
    async with AsyncExitStack() as stack:
        for worker in ScriptedServices().workers(client, task_queue):
            await stack.enter_async_context(worker)
        failure = await wait_until(lambda: failed(handle), timeout=30, interval=0.2, what="the graph refused")

    assert refused.returncode == 2 and not refused.stdout
    for problem in ("dependency cycle: bad-a -> bad-c -> bad-b -> bad-a", "task 'bad-d' depends on itself", "task 'bad-d' depends on unknown task 'bad-nowhere'"):
        assert problem in refused.stderr and problem in failure
    duplicated = tmp_path / "twice.json"
    duplicated.write_text(json.dumps([{"id": "t", "title": "one", "depends_on": []}, {"id": "t", "title": "two", "depends_on": ["x"]}]))
    assert "task id 't' appears 2 times" in (await starter("submit", str(duplicated))).stderr


async def failed(handle: Any) -> str | None:
    try:
        await handle.result(rpc_timeout=None)
    except WorkflowFailureError as error:
        return str(error.cause)
    return None


async def task_started(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except Exception:
        return False
    return True


async def ended_again(client: Client, graph: str) -> GraphPlan | None:
    description = await client.get_workflow_handle(f"codegen-graph-{graph}").describe()
    if description.status is None or description.status.name != "COMPLETED":
        return None
    return await client.get_workflow_handle(f"codegen-graph-{graph}", run_id=description.run_id, result_type=GraphPlan).result()


async def details_saying(client: Client, graph: str, text: str) -> str | None:
    metadata = await client.get_workflow_handle(f"codegen-graph-{graph}").query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details if text in metadata.current_details else None


async def node_state_is(client: Client, graph: str, name: str, state: NodeState) -> bool:
    plan = await client.get_workflow_handle(f"codegen-graph-{graph}").query("graph", result_type=GraphPlan)
    return plan.node(f"{graph}-{name}").state is state


async def runs_of(client: Client, graph: str, name: str, runs: int, state: NodeState) -> bool:
    plan = await client.get_workflow_handle(f"codegen-graph-{graph}").query("graph", result_type=GraphPlan)
    node = plan.node(f"{graph}-{name}")
    return (node.runs, node.state) == (runs, state)


async def graph_rows(starter: Starter, graph: str, count: int) -> list[dict[str, Any]] | None:  # noqa: F811
    rows = (await starter("list", "--graph", graph, "--json")).json()
    return rows if len(rows) == count else None


async def test_a_task_master_backlog_runs_as_one_graph_with_its_done_and_deferred_tasks(
    dev_env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path, starter: Starter  # noqa: F811
):
    async with AsyncExitStack() as stack:
        fake_url = await stack.enter_async_context(fake_process(tmp_path / "fake.log"))
        worker = mock_mode_worker(tmp_path, dev_env, task_queue, fake_url)
        worker.start()
        stack.callback(worker.stop)
        submitted = await starter(
            "submit", "--taskmaster", "examples/taskmaster/tasks.json", "--tag", "reminders", "--context", "examples/context.json",
            "--graph", f"tm-{task_queue}", "--wait", "--json", timeout=180,
        )  # fmt: skip

    nodes = {node["task_id"]: node for node in submitted.json()["graph"]["nodes"]}
    # Task 1 is done and 6 cancelled in Task Master: satisfied, not submitted; 4 is deferred, so 7 waits for good.
    assert {task_id: node["state"] for task_id, node in nodes.items()} == {
        "tm-reminders-2": "merged", "tm-reminders-3": "merged", "tm-reminders-5": "merged", "tm-reminders-7": "blocked",
    }  # fmt: skip
    assert nodes["tm-reminders-7"]["reason"] == "blocked: tm-reminders-4 is deferred in Task Master"
    assert submitted.returncode == 1, "not every task merged"
