"""`starter.py submit`: validation before anything starts, ids, search attributes at start, duplicates, --wait."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from cli.submit import parse_options, with_stable_id
from models import names
from models.task import Task
from tests.scripted_services import REPO, ScriptedServices
from tests.starter_process import running, starter, task, unique, write_json  # noqa: F401 (starter is a fixture)


async def test_submit_sets_search_attributes_and_summary_at_start(client, starter, tmp_path):
    task_id = unique()
    task_file = write_json(tmp_path / "t.json", task(task_id, type="bug_fix", requirements=["Lower-case e-mails"]))
    context = write_json(tmp_path / "c.json", {"repository": REPO})
    # No worker: whatever the workflow shows now was set by the start itself.
    done = await starter("submit", task_file, "--context", context)
    assert done.returncode == 0, done.stderr
    workflow_id = f"codegen-task-{task_id}"
    assert workflow_id in done.stdout
    assert f"http://localhost:8233/namespaces/default/workflows/{workflow_id}" in done.stdout
    description = await client.get_workflow_handle(workflow_id).describe()
    attributes = description.typed_search_attributes
    assert (attributes.get(names.TASK_ID), attributes.get(names.TASK_TYPE), attributes.get(names.TASK_PHASE), attributes.get(names.REPOSITORY)) == (
        task_id, "bug_fix", "pending", REPO,
    )
    assert await description.static_summary() == "Add rate limiting (bug_fix)"
    assert "- Lower-case e-mails" in await description.static_details()
    await client.get_workflow_handle(workflow_id).terminate("test done")


async def test_a_running_task_is_refused_a_second_time(client, starter, tmp_path):
    task_id = unique()
    task_file = write_json(tmp_path / "t.json", task(task_id))
    assert (await starter("submit", task_file)).returncode == 0
    again = await starter("submit", task_file)
    assert again.returncode == 1
    assert f"task {task_id} is already running (workflow codegen-task-{task_id})" in again.stderr
    await client.get_workflow_handle(f"codegen-task-{task_id}").terminate("test done")


async def test_a_task_without_id_gets_one_from_its_content(client, starter, tmp_path):
    title = f"No id {uuid.uuid4().hex}"
    task_file = write_json(tmp_path / "t.json", task(None, title=title))
    first = await starter("submit", task_file, "--json")
    assert first.returncode == 0, first.stderr
    (started,) = first.json()
    assert re.fullmatch(r"task-[0-9a-f]{12}", started["task_id"]) and started["workflow_id"] == f"codegen-task-{started['task_id']}"
    # The same content, even re-serialized with other key order, is the same task.
    reordered = write_json(tmp_path / "again.json", {"type": "feature", "title": title})
    again = await starter("submit", reordered)
    assert again.returncode == 1 and started["workflow_id"] in again.stderr
    await client.get_workflow_handle(started["workflow_id"]).terminate("test done")


async def test_invalid_input_starts_nothing_and_names_every_problem(client, starter, tmp_path):
    good_id = unique("good")
    good = write_json(tmp_path / "good.json", task(good_id))
    backlog = write_json(tmp_path / "backlog.json", [task(unique(), type="chore"), task(unique(), title="", priority=9)])
    done = await starter("submit", good, backlog, "--option", "max_attempts=0", "--option", "colour=blue", "--option", "pr_timeout=soon")
    assert done.returncode == 2
    for problem in ("[0].type: unknown task type 'chore'", "[1].title:", "[1].priority:",
                    "--option max_attempts:", "--option colour: unknown option", "--option pr_timeout:"):
        assert problem in done.stderr, problem
    assert "nothing was started" in done.stderr
    # The valid task in the batch was not started either.
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(f"codegen-task-{good_id}").describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND
    assert (await client.count_workflows(f"TaskQueue='{starter.task_queue}'")).count == 0


async def test_a_backlog_with_the_same_id_twice_is_refused(starter, tmp_path):
    task_id = unique()
    done = await starter("submit", write_json(tmp_path / "b.json", [task(task_id), task(task_id, title="Other")]))
    assert done.returncode == 2 and f"task id '{task_id}' appears 2 times" in done.stderr


async def test_wait_exits_zero_when_merged_and_options_reach_the_workflow(client, starter, task_queue, tmp_path):
    services = ScriptedServices(pr_state="closed", merged=True)
    task_id = unique()
    task_file = write_json(tmp_path / "t.json", task(task_id))
    context = write_json(tmp_path / "c.json", {"repository": REPO})
    async with running(services.workers(client, task_queue)):
        done = await starter("submit", task_file, "--context", context, "--option", "max_attempts=2",
                             "--option", "pr_timeout=P3D", "--option", "attempt_backoff=7", "--wait")
    assert done.returncode == 0, done.stderr
    assert f"{task_id}: merged (merged) https://github.com/{REPO}/pull/7" in done.stdout
    description = await client.get_workflow_handle(f"codegen-task-{task_id}").describe()
    assert description.status is WorkflowExecutionStatus.COMPLETED
    history = await client.get_workflow_handle(f"codegen-task-{task_id}").fetch_history()
    options = (await client.data_converter.decode(history.events[0].workflow_execution_started_event_attributes.input.payloads))[0]["options"]
    assert (options["max_attempts"], options["pr_timeout"], options["attempt_backoff"]) == (2, "P3D", "PT7S")


def test_options_parse_json_values_and_iso_durations():
    options, problems = parse_options(["attempt_backoff=60", "retry_window=P2D", "include_code_examples=false", "max_followups=0"])
    assert problems == []
    assert options.attempt_backoff == timedelta(seconds=60) and options.retry_window == timedelta(days=2)
    assert options.include_code_examples is False and options.max_followups == 0
    _, problems = parse_options(["novalue"])
    assert problems == ["--option novalue: expected KEY=VALUE"]


def test_stable_ids_ignore_key_order_and_keep_given_ids():
    a = with_stable_id(Task.model_validate({"title": "X", "type": "refactor", "requirements": ["r"]}))
    b = with_stable_id(Task.model_validate({"requirements": ["r"], "type": "refactor", "title": "X"}))
    c = with_stable_id(Task.model_validate({"title": "Y", "type": "refactor"}))
    assert a.id == b.id != c.id
    assert with_stable_id(Task(id="given", title="X")).id == "given"
