"""`starter.py prompt TASK.json`: preview the prompt a task would send to the agent, without starting anything."""

from __future__ import annotations

import argparse
import json
import sys

from jinja2 import TemplateError
from pydantic import ValidationError

from cli import exit_codes
from cli.task_files import TaskFileError, load_context, load_tasks
from models.prompt import PromptInput, PromptOptions
from models.task import TaskContext
from prompts.engine import PromptGenerator, PromptTooLargeError
from settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `prompt` subcommand."""
    parser = subparsers.add_parser("prompt", help="print the prompt a task would send to the agent")
    parser.add_argument("task_file", metavar="TASK.json", help="a task object (or a list holding exactly one)")
    parser.add_argument("--context", metavar="CONTEXT.json", help="repository and codebase context")
    parser.add_argument(
        "--max-context-size", type=int, default=PromptOptions().max_context_size, metavar="N",
        help="prompt size limit in characters (default %(default)s)",
    )
    parser.add_argument("--no-code-examples", action="store_true", help="leave out the context's code examples")
    parser.add_argument("--no-best-practices", action="store_true", help="leave out the task type's best-practice checklist")
    parser.add_argument(
        "--templates-dir", metavar="DIR",
        help="templates that replace bundled ones of the same name (default: $PROMPT_TEMPLATES_DIR)",
    )
    parser.add_argument("--json", action="store_true", help="print {content, metadata} as JSON")
    parser.set_defaults(run=run)


def _refuse(lines: list[str]) -> int:
    for line in lines:
        print(line, file=sys.stderr)
    return exit_codes.INVALID_INPUT


def run(args: argparse.Namespace) -> int:
    """Render and print the prompt; exit 2 with one line per problem when the input is refused."""
    try:
        tasks = load_tasks(args.task_file)
        context = load_context(args.context) if args.context else TaskContext()
    except TaskFileError as error:
        return _refuse(error.lines)
    if len(tasks) != 1:
        return _refuse([f"{args.task_file}: holds {len(tasks)} tasks; prompt renders one at a time"])
    try:
        options = PromptOptions(
            max_context_size=args.max_context_size,
            include_code_examples=not args.no_code_examples,
            enhance_with_best_practices=not args.no_best_practices,
        )
    except ValidationError as error:
        # Only the size can be out of range; name the flag the user typed, not the model field.
        return _refuse([f"--max-context-size: {problem['msg']}" for problem in error.errors(include_url=False)])

    templates_dir = args.templates_dir or Settings.from_env().prompt_templates_dir
    try:
        generator = PromptGenerator(templates_dir)
        result = generator.generate(PromptInput(task=tasks[0], context=context, options=options))
    except FileNotFoundError as error:
        return _refuse([str(error)])
    except PromptTooLargeError as error:
        return _refuse([f"{args.task_file}: {error}"])
    except TemplateError as error:
        print(f"prompt template error: {error}", file=sys.stderr)
        return exit_codes.FAILURE

    if args.json:
        print(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(result.content)
        if tasks[0].id is None:
            print("(no task id: submit assigns one and adds the Task-ID line)", file=sys.stderr)
    return exit_codes.OK
