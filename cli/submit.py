"""`starter.py submit TASK.json... [--context F] [--option k=v ...] [--graph NAME] [--max-parallel N] [--wait]`:
start task workflows, or one task graph when the tasks depend on each other.

Every task and option is validated before the first workflow starts, so a bad backlog starts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
from collections import Counter
from typing import Any, get_args, get_origin

from pydantic import ValidationError
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError

from cli import exit_codes
from cli.connection import run_with_client
from cli.graphs import submit_graph
from cli.output import fail, print_json
from cli.task_files import TaskFileError, load_context, load_taskmaster, load_tasks
from cli.task_workflows import describe_or_none, start_task, web_ui_url
from models import names
from models.errors import describe_validation_error
from models.graph import GraphInput, graph_id_for, graph_problems
from models.status import TaskPhase
from models.task import TASK_ID_PATTERN, Task, TaskContext, TaskOptions, WorkflowInput, workflow_id_for
from models.taskmaster import SubtaskMode, TaskmasterBacklog
from settings import Settings

# Options that hold lists: on the command line their value is text separated by commas (bob,alice).
LIST_OPTIONS = frozenset(name for name, field in TaskOptions.model_fields.items() if get_origin(field.annotation) is list)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `submit` subcommand."""
    parser = subparsers.add_parser("submit", help="start one workflow per task")
    parser.add_argument("task_files", nargs="*", metavar="TASK.json", help="a task object or a list of them")
    parser.add_argument("--taskmaster", metavar="TASKS.json", help="a Task Master backlog (.taskmaster/tasks/tasks.json), submitted as one graph")
    parser.add_argument("--tag", help="the Task Master tag to submit (default master)")
    parser.add_argument(
        "--subtasks", choices=get_args(SubtaskMode), default="requirements",
        help="Task Master subtasks as ordered requirements of their parent's PR (default), or each a task of its own",
    )
    parser.add_argument("--context", metavar="CONTEXT.json", help="repository and codebase context for every task")
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="a task option, e.g. max_attempts=5, pr_timeout=P3D, attempt_backoff=60 (durations: seconds or ISO 8601)",
    )
    parser.add_argument(
        "--again", action="store_true",
        help="start tasks whose last run merged once more: a new agent and a second PR for the same task",
    )
    parser.add_argument(
        "--graph", metavar="NAME", type=_graph_name,
        help="start the tasks as one graph with this id (tasks that depend on each other always form a graph; "
             "without a name it is derived from their content, so a resubmission is recognised)",
    )
    parser.add_argument("--max-parallel", type=_positive, metavar="N", help="a graph runs at most N of its tasks at once")
    parser.add_argument("--wait", action="store_true", help="wait for every outcome; exit 0 only if all merged")
    parser.add_argument("--json", action="store_true", help="print the started workflows (and outcomes) as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Validate everything, then start; exit 2 with every problem when anything is refused."""
    problems: list[str] = []
    tasks: list[Task] = []
    backlog: TaskmasterBacklog | None = None
    if bool(args.task_files) == bool(args.taskmaster):
        return fail("give task files or --taskmaster TASKS.json (one of the two)", exit_codes.INVALID_INPUT)
    if args.taskmaster:
        try:
            backlog = load_taskmaster(args.taskmaster, args.tag, args.subtasks)
            tasks = backlog.tasks
        except TaskFileError as error:
            problems.extend(error.lines)
        if backlog is not None and not tasks:
            return fail(f"nothing to submit: every task of tag {backlog.tag} is done, cancelled or not ready", exit_codes.INVALID_INPUT)
    for path in args.task_files:
        try:
            tasks.extend(load_tasks(path))
        except TaskFileError as error:
            problems.extend(error.lines)
    context = TaskContext()
    if args.context:
        try:
            context = load_context(args.context)
        except TaskFileError as error:
            problems.extend(error.lines)
    options, option_problems = parse_options(args.option)
    problems += option_problems
    inputs = [WorkflowInput(task=with_stable_id(task), context=context, options=options) for task in tasks]
    problems += _duplicate_ids(inputs)
    graph: GraphInput | None = None
    if not problems and (backlog or args.graph or args.max_parallel or any(task.depends_on for task in tasks)):
        graph, graph_problems = _graph_of(args, [item.task for item in inputs], context, options, backlog)
        problems += graph_problems
    if problems:
        return fail("\n".join(["nothing was started:", *problems]), exit_codes.INVALID_INPUT)

    async def submit(client: Client, settings: Settings) -> int:
        if graph is not None:
            return await submit_graph(client, settings, graph, wait=args.wait, as_json=args.json, again=args.again)
        return await _start_all(client, settings, inputs, wait=args.wait, as_json=args.json, again=args.again)

    return run_with_client(submit)


def _graph_name(text: str) -> str:
    if not re.fullmatch(TASK_ID_PATTERN, text):
        raise argparse.ArgumentTypeError(f"{text!r}: expected 1 to 128 letters, digits, '.', '_' or '-'")
    return text


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return int(text)


def _graph_of(
    args: argparse.Namespace, tasks: list[Task], context: TaskContext, options: TaskOptions, backlog: TaskmasterBacklog | None
) -> tuple[GraphInput | None, list[str]]:
    """The tasks as one graph, or why they are none (a cycle, an unknown dependency, ...), one line each.
    A Task Master backlog adds the tasks it already finished (satisfied) or put off (unavailable)."""
    graph_id = args.graph or graph_id_for(tasks)
    satisfied, unavailable = (backlog.satisfied, backlog.unavailable) if backlog else ([], {})
    problems = graph_problems(graph_id, tasks, satisfied, list(unavailable))
    if problems:
        return None, problems
    graph = GraphInput(
        graph_id=graph_id, tasks=tasks, context=context, options=options, max_parallel=args.max_parallel, satisfied=satisfied, unavailable=unavailable
    )
    return graph, []


def parse_options(pairs: list[str]) -> tuple[TaskOptions, list[str]]:
    """`KEY=VALUE` pairs as TaskOptions. A value is JSON when it parses as JSON (numbers, true), else text."""
    raw: dict[str, Any] = {}
    problems: list[str] = []
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            problems.append(f"--option {pair}: expected KEY=VALUE")
            continue
        raw[key.strip()] = _option_value(key.strip(), value)
    try:
        return TaskOptions.model_validate(raw), problems
    except ValidationError as error:
        known = ", ".join(TaskOptions.model_fields)
        for line in describe_validation_error(error):
            key, _, message = line.partition(": ")
            if message.startswith("Extra inputs"):
                message = f"unknown option; known: {known}"
            problems.append(f"--option {key}: {message}")
        return TaskOptions(), problems


def _option_value(key: str, text: str) -> Any:
    """JSON when `text` parses as JSON, else the text itself; a list option's one name (`bob`, `1234`) stays text."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return text if key in LIST_OPTIONS and not isinstance(value, list) else value


def with_stable_id(task: Task) -> Task:
    """A task without an id gets one derived from its content, so submitting the same file twice is refused."""
    if task.id:
        return task
    canonical = json.dumps(task.model_dump(mode="json", exclude={"id"}), sort_keys=True, separators=(",", ":"))
    return task.model_copy(update={"id": "task-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]})


def _duplicate_ids(inputs: list[WorkflowInput]) -> list[str]:
    counts = Counter(item.task.id for item in inputs)
    return [f"task id {task_id!r} appears {count} times" for task_id, count in counts.items() if count > 1]


async def _start_all(
    client: Client, settings: Settings, inputs: list[WorkflowInput], *, wait: bool, as_json: bool, again: bool
) -> int:
    started: list[WorkflowHandle] = []
    report: list[dict[str, Any]] = []
    for item in inputs:
        handle, entry = await _start_one(client, settings, item, again=again)
        report.append(entry)
        if handle is None:
            continue
        started.append(handle)
        if not as_json:
            print(f"started {entry['task_id']}: {handle.id}\n  {entry['url']}")
    code = exit_codes.FAILURE if len(started) < len(inputs) else exit_codes.OK
    if wait and started:
        outcomes = await asyncio.gather(*(_outcome(handle) for handle in started))
        by_id = dict(zip((handle.id for handle in started), outcomes, strict=True))
        for entry in report:
            if entry["workflow_id"] in by_id and entry["started"]:
                entry["outcome"] = by_id[entry["workflow_id"]]
                if not as_json:
                    print(f"{entry['task_id']}: {_one_line(entry['outcome'])}")
        if any(outcome.get("status") != "merged" for outcome in outcomes):
            code = exit_codes.FAILURE
    if as_json:
        print_json(report)
    return code


async def _start_one(
    client: Client, settings: Settings, item: WorkflowInput, *, again: bool
) -> tuple[WorkflowHandle | None, dict[str, Any]]:
    """Start the task's workflow and describe it; or say on stderr why not (running, or merged without `again`)."""
    task_id = item.task.id
    assert task_id is not None, "every input has its id by now"
    workflow_id = workflow_id_for(task_id)
    if not again and await _has_merged(client, workflow_id):
        fail(f"task {task_id} has already merged (workflow {workflow_id}); submit with --again to run it "
             "once more, with a new agent and a second PR", exit_codes.FAILURE)
        return None, {"task_id": task_id, "workflow_id": workflow_id, "started": False, "merged": True}
    try:
        handle = await start_task(client, settings, item)
    except WorkflowAlreadyStartedError as error:
        fail(f"task {task_id} is already running (workflow {error.workflow_id})", exit_codes.FAILURE)
        return None, {"task_id": task_id, "workflow_id": error.workflow_id, "started": False}
    url = web_ui_url(settings, handle.id)
    return handle, {"task_id": task_id, "workflow_id": handle.id, "run_id": handle.result_run_id, "started": True, "url": url}


async def _has_merged(client: Client, workflow_id: str) -> bool:
    """True when the task's latest run ended with its PR merged: its work is done, and running the same
    task again would start a second agent and open a second PR. A failed or closed task may run again."""
    description = await describe_or_none(client, workflow_id)
    return description is not None and description.typed_search_attributes.get(names.TASK_PHASE) == TaskPhase.MERGED


async def _outcome(handle: WorkflowHandle) -> dict[str, Any]:
    try:
        outcome = await handle.result()
    except WorkflowFailureError as error:
        return {"status": "error", "message": str(error.cause or error)}
    return outcome.model_dump(mode="json")


def _one_line(outcome: dict[str, Any]) -> str:
    pr = outcome.get("pr") or {}
    where = f" {pr['url']}" if pr.get("url") else ""
    return f"{outcome['status']} ({outcome.get('reason', outcome.get('message', ''))}){where}"
