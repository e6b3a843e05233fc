"""`starter.py status` and `watch`: live state, outcomes, unknown ids, Ctrl-C, and clean exits every time."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime

from temporalio.client import Client

from cli.task_view import render_outcome, render_status
from cli.task_workflows import start_task
from models.status import AgentRunRecord, Reason, TaskOutcome, TaskPhase, TaskStatus
from models.task import WorkflowInput
from settings import Settings
from tests.pr_events import make_state
from tests.scripted_services import ScriptedServices, task_input
from tests.starter_process import Finished, running, starter, unique  # noqa: F401 (starter is a fixture)
from tests.waiting import wait_until


async def start(client: Client, task_queue: str, task_id: str, **options) -> None:
    settings = Settings(task_queue=task_queue)
    await start_task(client, settings, WorkflowInput.model_validate(task_input(task_id, **options)))


async def read_until(stream: asyncio.StreamReader, text: str, timeout: float = 30) -> str:
    """Lines from `stream` up to and including the first that contains `text`."""
    seen = ""
    async with asyncio.timeout(timeout):
        while text not in seen:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"stream ended before {text!r}; got {seen!r}")
            seen += line.decode()
    return seen


async def test_status_of_a_running_task_and_then_of_its_outcome(client, starter, task_queue):
    services = ScriptedServices(attempts=["hang"])
    task_id = unique()
    async with running(services.workers(client, task_queue)):
        await start(client, task_queue, task_id, max_attempts=2)

        async def processing() -> bool:
            done = await starter("status", task_id, "--json")
            return done.returncode == 0 and (done.json()["status"] or {}).get("phase") == "processing"

        await wait_until(processing, timeout=30, what="phase processing")
        human = await starter("status", f"codegen-task-{task_id}")
        assert human.returncode == 0
        assert "processing  attempt 1/2" in human.stdout and "submitted" in human.stdout
        await client.get_workflow_handle(f"codegen-task-{task_id}").cancel()
        await client.get_workflow_handle(f"codegen-task-{task_id}").result()
    # Workers gone: the outcome still comes from history.
    finished = await starter("status", task_id, "--json")
    assert finished.returncode == 0, finished.stderr
    answer = finished.json()
    assert answer["execution_status"] == "COMPLETED"
    assert (answer["outcome"]["status"], answer["outcome"]["reason"]) == ("failed", "cancelled")
    human = await starter("status", task_id)
    assert "Outcome    failed (cancelled)" in human.stdout


async def test_status_without_a_worker_falls_back_to_search_attributes(client, starter, task_queue):
    task_id = unique()
    await start(client, task_queue, task_id)
    done = await starter("status", task_id, "--json")
    assert done.returncode == 0, done.stderr
    answer = done.json()
    assert answer["status"] is None and answer["search_attributes"]["TaskPhase"] == "pending"
    assert "is worker.py running?" in answer["note"]
    await client.get_workflow_handle(f"codegen-task-{task_id}").terminate("test done")


async def test_unknown_task_exits_1_cleanly_thirty_times_in_a_row(starter):
    # Three at a time: the exits are what is tested, and both cores take turns starting Python.
    turns = asyncio.Semaphore(3)

    async def once() -> Finished:
        async with turns:
            return await starter("status", "no-such-task")

    for done in await asyncio.gather(*(once() for _ in range(30))):
        assert done.returncode == 1, (done.returncode, done.stderr)
        assert done.stderr == "no task no-such-task (workflow codegen-task-no-such-task not found, and no task workflow has TaskId 'no-such-task')\n"


async def test_unreachable_temporal_is_one_line_and_exit_3(starter):
    done = await starter("status", "t1", env={"TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert done.returncode == 3
    assert done.stderr.startswith("Temporal is not reachable at 127.0.0.1:1") and done.stderr.count("\n") == 1


async def test_watch_follows_progress_until_merged(client, starter, task_queue):
    services = ScriptedServices()
    task_id = unique()
    async with running(services.workers(client, task_queue)):
        await start(client, task_queue, task_id, reconcile_interval=1)
        watcher = await starter.spawn("watch", task_id, "--interval", "0.2")
        progress = await read_until(watcher.stdout, "pull request opened")
        assert "phase: tracking_pr" in progress and "submitted" in progress
        services.pr_state, services.merged = "closed", True
        rest, stderr = await asyncio.wait_for(watcher.communicate(), 30)
    assert watcher.returncode == 0, stderr
    assert "Outcome    merged (merged)" in rest.decode()


async def test_watch_exits_1_when_the_task_fails(client, starter, task_queue):
    services = ScriptedServices(attempts=["error:AuthError"])
    task_id = unique()
    async with running(services.workers(client, task_queue)):
        await start(client, task_queue, task_id)
        done = await starter("watch", task_id, "--interval", "0.2")
    assert done.returncode == 1
    assert "Outcome    failed (auth_error)" in done.stdout


async def test_ctrl_c_stops_watching_cleanly(client, starter, task_queue):
    task_id = unique()
    await start(client, task_queue, task_id)
    watcher = await starter.spawn("watch", task_id, "--interval", "0.2")
    await read_until(watcher.stdout, "watching codegen-task-")
    watcher.send_signal(signal.SIGINT)
    _, stderr = await asyncio.wait_for(watcher.communicate(), 30)
    assert watcher.returncode == 130
    assert "Traceback" not in stderr.decode() and "interrupted" in stderr.decode()
    await client.get_workflow_handle(f"codegen-task-{task_id}").terminate("test done")


def test_agent_runs_say_which_is_the_attempt_and_which_the_follow_up():
    # A follow-up resumes the attempt's run: same id, same final status. The kind tells them apart.
    runs = [
        AgentRunRecord(id=2, status="COMPLETE", attempt=1),
        AgentRunRecord(id=2, status="COMPLETE", attempt=1, kind="followup"),
        AgentRunRecord(id=2, status="ACTIVE", attempt=1, kind="followup"),
    ]
    outcome = TaskOutcome(task_id="T1", workflow_id="codegen-task-T1", status="merged", reason=Reason.MERGED, agent_runs=runs)
    lines = render_outcome(outcome, "http://ui").splitlines()
    assert "Agent runs 2 COMPLETE (attempt 1), 2 COMPLETE (follow-up 1 of attempt 1), 2 ACTIVE (follow-up 2 of attempt 1)" in lines

    status = TaskStatus(
        task_id="T1", workflow_id="codegen-task-T1", title="t", task_type="feature", phase=TaskPhase.FOLLOWING_UP,
        codegen_status="processing", attempt=1, max_attempts=3, agent_runs=runs[:2],
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    assert "Agent run  2 COMPLETE (follow-up 1 of attempt 1)" in render_status(status, "http://ui").splitlines()


def test_status_says_a_pr_conflicts_or_is_behind_and_the_outcome_who_merged():
    pr = make_state().status.pr
    assert pr is not None
    status = TaskStatus(
        task_id="T1", workflow_id="codegen-task-T1", title="t", task_type="feature", phase=TaskPhase.TRACKING_PR,
        codegen_status="completed", attempt=1, max_attempts=3, started_at=datetime(2026, 1, 1, tzinfo=UTC),
        pr=pr.model_copy(update={"mergeable": False, "mergeable_state": "dirty"}),
    )  # fmt: skip
    assert f"PR         {pr.ref.key} open  checks pending  conflicts with main  {pr.url}" in render_status(status, "http://ui").splitlines()
    status.pr = pr.model_copy(update={"mergeable": True, "mergeable_state": "behind"})
    assert f"PR         {pr.ref.key} open  checks pending  behind main  {pr.url}" in render_status(status, "http://ui").splitlines()
    status.pr = pr.model_copy(update={"mergeable": None, "mergeable_state": None})  # GitHub still computing: nothing said
    assert f"PR         {pr.ref.key} open  checks pending  {pr.url}" in render_status(status, "http://ui").splitlines()

    merged = pr.model_copy(update={"status": "merged"})
    outcome = TaskOutcome(task_id="T1", workflow_id="codegen-task-T1", status="merged", reason=Reason.MERGED, pr=merged, merged_by="service")
    assert f"PR         {pr.ref.key} merged  by the service  {pr.url}" in render_outcome(outcome, "http://ui").splitlines()
