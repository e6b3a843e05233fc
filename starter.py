"""The command line for people: submit tasks, follow them, see and steer the queue, check the deployment.

Commands: submit, status, watch, list, queue, retry, priority, cancel, graph, stats, cleanup, health, agents,
prompt, dev-server.

Run `python starter.py --help`. Every read command takes --json.
"""

from __future__ import annotations

import argparse

from cli import (
    agents,
    cancel,
    cleanup,
    dev_server,
    exit_codes,
    graphs,
    health,
    listing,
    priority,
    queue,
    retry,
    stats,
    status,
    submit,
    watch,
)
from cli import prompt as prompt_command
from cli.output import fail
from settings import SettingsError

COMMANDS = (submit, status, watch, listing, queue, retry, priority, cancel, graphs, stats, cleanup, health, agents, prompt_command, dev_server)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="starter.py", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SettingsError as error:
        # Every command reads the environment; a setting it cannot use is named, not a traceback.
        return fail(str(error), exit_codes.INVALID_INPUT)


if __name__ == "__main__":
    exit_codes.leave(main())
