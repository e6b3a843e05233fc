"""`starter.py list`, `stats` and `cleanup` against visibility on the dev server (eventually consistent: poll)."""

from __future__ import annotations

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from cli.task_workflows import start_task
from models.status import TaskOutcome
from models.task import WorkflowInput
from settings import Settings
from tests.scripted_services import ScriptedServices, task_input
from tests.starter_process import Finished, running, starter, unique  # noqa: F401 (starter is a fixture)
from tests.waiting import wait_until


async def start(client: Client, task_queue: str, task_id: str, type: str = "feature", repository: str = "acme/api", **options) -> str:
    raw = task_input(task_id, **options)
    raw["task"]["type"], raw["context"]["repository"] = type, repository
    handle = await start_task(client, Settings(task_queue=task_queue), WorkflowInput.model_validate(raw))
    return handle.id


async def until(starter, *args: str, holds) -> Finished:
    """Run the command until its JSON answer satisfies `holds` (visibility lags writes a little)."""
    last: list[Finished] = []

    async def check() -> bool:
        last[:] = [await starter(*args, "--json")]
        return last[0].returncode == 0 and holds(last[0].json())

    await wait_until(check, timeout=30, what=f"{args} to hold")
    return last[0]


async def test_list_filters_by_type_repository_phase_and_state(client, starter, task_queue):
    bug, feature, docs = unique("bug"), unique("feat"), unique("docs")
    ids = [
        await start(client, task_queue, bug, type="bug_fix"),
        await start(client, task_queue, feature, type="feature", repository="acme/web"),
        await start(client, task_queue, docs, type="documentation"),
    ]
    await client.get_workflow_handle(ids[2]).terminate("closed for the test")

    def task_ids(rows) -> set[str]:
        return {row["task_id"] for row in rows}

    await until(starter, "list", holds=lambda rows: task_ids(rows) == {bug, feature, docs})
    await until(starter, "list", "--type", "bug_fix", holds=lambda rows: task_ids(rows) == {bug})
    await until(starter, "list", "--repo", "acme/web", holds=lambda rows: task_ids(rows) == {feature})
    await until(starter, "list", "--status", "closed", holds=lambda rows: task_ids(rows) == {docs})
    await until(starter, "list", "--status", "running", "--phase", "pending", holds=lambda rows: task_ids(rows) == {bug, feature})
    table = await starter("list", "--type", "bug_fix")
    assert table.stdout.splitlines()[0].split() == ["TASK", "TYPE", "PHASE", "PR", "PR", "STATUS", "STATE", "STARTED", "WAITING", "FOR"]
    assert table.stdout.splitlines()[1].split()[:3] == [bug, "bug_fix", "pending"]
    refused = await starter("list", "--phase", "nonsense")
    assert refused.returncode == 2 and "invalid choice" in refused.stderr
    for workflow_id in ids[:2]:
        await client.get_workflow_handle(workflow_id).terminate("test done")


async def test_stats_count_outcomes_pr_statuses_types_and_failure_reasons(client, starter, task_queue):
    services = ScriptedServices(pr_state="closed", merged=True)
    async with running(services.workers(client, task_queue)):
        merged = await start(client, task_queue, unique(), type="bug_fix")
        await client.get_workflow_handle(merged).result()
        # From here the PR stays open: one task runs out of time, one keeps tracking.
        services.pr_state, services.merged = "open", False
        expired = await start(client, task_queue, unique(), type="feature", pr_timeout=1)
        await client.get_workflow_handle(expired).result()
        services.prompt_error = "PromptTemplateError"
        failed = await start(client, task_queue, unique(), type="testing")
        await client.get_workflow_handle(failed).result()
        services.prompt_error = None
        tracking = await start(client, task_queue, unique(), type="feature")
        terminated = await start(client, task_queue, unique(), type="security")
        await client.get_workflow_handle(terminated).terminate("for the test")

        def settled(numbers) -> bool:
            return numbers["total"] == 5 and numbers["active"] == 1 and numbers["by_pr_status"]["open"] == 2

        numbers = (await until(starter, "stats", holds=settled)).json()
    assert numbers["completed"] == 4
    assert numbers["by_execution_status"] == {"running": 1, "completed": 3, "terminated": 1}
    assert numbers["by_outcome"] == {"merged": 1, "closed": 0, "failed": 1, "expired": 1}
    assert numbers["by_pr_status"] == {"open": 2, "closed": 0, "merged": 1, "draft": 0}
    assert {kind: count for kind, count in numbers["by_type"].items() if count} == {"bug_fix": 1, "feature": 2, "testing": 1, "security": 1}
    assert numbers["success_rate"] == 25.0
    assert (numbers["failure_reasons"], numbers["failure_sample"]) == ({"expired": 1, "template_error": 1}, 2)
    outcome = await client.get_workflow_handle(merged, result_type=TaskOutcome).result()
    assert numbers["time_to_merge_sample"] == numbers["outcome_sample"] == 1
    assert (numbers["needs_attention"], numbers["average_followups_per_task"]) == (0, 0)
    # No checks ever reported on the merged PR: it never went green.
    assert numbers["average_iterations_to_green"] is None
    assert numbers["average_time_to_merge_s"] == round(outcome.timings.time_to_merge_s, 1)
    human = await starter("stats")
    assert "Success rate 25.0% (merged / completed)" in human.stdout
    assert "5 total, 1 active (0 queued, 0 need attention), 4 completed" in human.stdout
    assert "Failures     expired 1, template_error 1 (latest 2 failed or expired; at most 200)" in human.stdout
    await client.get_workflow_handle(tracking).terminate("test done")


async def test_cleanup_deletes_only_closed_workflows_older_than_the_cutoff(client, starter, task_queue):
    services = ScriptedServices(pr_state="closed", merged=True)
    async with running(services.workers(client, task_queue)):
        finished = await start(client, task_queue, unique())
        await client.get_workflow_handle(finished).result()
    still_running = await start(client, task_queue, unique())  # no worker now: it stays running

    await until(starter, "cleanup", "--older-than", "0", "--dry-run", holds=lambda answer: answer["workflow_ids"] == [finished])
    assert (await starter("cleanup", "--older-than", "1", "--json")).json()["deleted"] == 0
    done = await starter("cleanup", "--older-than", "0")
    assert done.returncode == 0 and done.stdout.startswith("deleted 1 closed task workflow(s)")

    async def gone() -> bool:
        try:
            await client.get_workflow_handle(finished).describe()
        except RPCError as error:
            return error.status is RPCStatusCode.NOT_FOUND
        return False

    # The server deletes in the background; under load that has taken over 30 s here.
    await wait_until(gone, timeout=90, what="the closed workflow to be deleted")
    description = await client.get_workflow_handle(still_running).describe()
    assert description.status is WorkflowExecutionStatus.RUNNING
    await client.get_workflow_handle(still_running).terminate("test done")
