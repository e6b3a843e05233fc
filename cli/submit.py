"""`starter.py submit TASK.json... [--context F] [--option k=v ...] [--wait]`: start task workflows.

Every task and option is validated before the first workflow starts, so a bad backlog starts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
from collections import Counter
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError

from cli import exit_codes
from cli.connection import run_with_client
from cli.output import fail, print_json
from cli.task_files import TaskFileError, load_context, load_tasks
from cli.task_workflows import start_task, web_ui_url
from models.errors import describe_validation_error
from models.task import Task, TaskContext, TaskOptions, WorkflowInput
from settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `submit` subcommand."""
    parser = subparsers.add_parser("submit", help="start one workflow per task")
    parser.add_argument("task_files", nargs="+", metavar="TASK.json", help="a task object or a list of them")
    parser.add_argument("--context", metavar="CONTEXT.json", help="repository and codebase context for every task")
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="a task option, e.g. max_attempts=5, pr_timeout=P3D, attempt_backoff=60 (durations: seconds or ISO 8601)",
    )
    parser.add_argument("--wait", action="store_true", help="wait for every outcome; exit 0 only if all merged")
    parser.add_argument("--json", action="store_true", help="print the started workflows (and outcomes) as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Validate everything, then start; exit 2 with every problem when anything is refused."""
    problems: list[str] = []
    tasks: list[Task] = []
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
    if problems:
        return fail("\n".join(["nothing was started:", *problems]), exit_codes.INVALID_INPUT)

    async def submit(client: Client, settings: Settings) -> int:
        return await _start_all(client, settings, inputs, wait=args.wait, as_json=args.json)

    return run_with_client(submit)


def parse_options(pairs: list[str]) -> tuple[TaskOptions, list[str]]:
    """`KEY=VALUE` pairs as TaskOptions. A value is JSON when it parses as JSON (numbers, true), else text."""
    raw: dict[str, Any] = {}
    problems: list[str] = []
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            problems.append(f"--option {pair}: expected KEY=VALUE")
            continue
        try:
            raw[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            raw[key.strip()] = value
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


def with_stable_id(task: Task) -> Task:
    """A task without an id gets one derived from its content, so submitting the same file twice is refused."""
    if task.id:
        return task
    canonical = json.dumps(task.model_dump(mode="json", exclude={"id"}), sort_keys=True, separators=(",", ":"))
    return task.model_copy(update={"id": "task-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]})


def _duplicate_ids(inputs: list[WorkflowInput]) -> list[str]:
    counts = Counter(item.task.id for item in inputs)
    return [f"task id {task_id!r} appears {count} times" for task_id, count in counts.items() if count > 1]


async def _start_all(client: Client, settings: Settings, inputs: list[WorkflowInput], *, wait: bool, as_json: bool) -> int:
    started, report, refused = [], [], 0
    for item in inputs:
        task_id = item.task.id
        try:
            handle = await start_task(client, settings, item)
        except WorkflowAlreadyStartedError as error:
            refused += 1
            fail(f"task {task_id} is already running (workflow {error.workflow_id})", exit_codes.FAILURE)
            report.append({"task_id": task_id, "workflow_id": error.workflow_id, "started": False})
            continue
        started.append(handle)
        url = web_ui_url(settings, handle.id)
        report.append({"task_id": task_id, "workflow_id": handle.id, "run_id": handle.result_run_id, "started": True, "url": url})
        if not as_json:
            print(f"started {task_id}: {handle.id}\n  {url}")
    code = exit_codes.FAILURE if refused else exit_codes.OK
    if wait and started:
        outcomes = await asyncio.gather(*(_outcome(handle) for handle in started))
        by_id = dict(zip((handle.id for handle in started), outcomes))
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
