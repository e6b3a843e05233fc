"""`starter.py agents [show|pause|resume]`: the agent rate, owned by the Temporal server, and its outage switch.

`pause` sets the creation queue's rate to 0: tasks wait for their agent run, and nothing fails for the wait.
`resume` sets it back: to `--per-minute`, else to the rate the pause replaced, else to this environment's
CODEGEN_CREATE_RATE_PER_MINUTE (as a worker started here would). A worker starting meanwhile leaves a pause alone.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict
from typing import Any

from temporalio.client import Client

from agent_rate import AgentRate, pause_agents, read_agent_rate, set_agent_rate
from cli import exit_codes
from cli.connection import run_with_client
from cli.output import print_json, timestamp
from settings import Settings

RESUME_REASON = "resumed by starter.py agents resume"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `agents` subcommand and its actions (`show` when none is given)."""
    parser = subparsers.add_parser("agents", help="the agent rate: show it, pause run creation (an outage switch), resume it")
    _json_flag(parser, default=False)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    _json_flag(actions.add_parser("show", help="the rate agent runs are created at, and whether it is paused"))
    _json_flag(actions.add_parser("pause", help="create no agent runs until resumed; tasks wait, none fails"))
    resume = actions.add_parser("resume", help="create agent runs again, at the rate the pause replaced")
    resume.add_argument("--per-minute", type=_rate, metavar="N", help="the rate to resume at instead (agent runs per minute)")
    _json_flag(resume)
    parser.set_defaults(run=run, action="show", per_minute=None)


def _json_flag(parser: argparse.ArgumentParser, default: Any = argparse.SUPPRESS) -> None:
    # SUPPRESS on the actions: `agents --json pause` and `agents pause --json` both work, neither resets the other.
    parser.add_argument("--json", action="store_true", default=default, help="print the rate as JSON")


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 (to stop run creation, use `agents pause`), not {text}")
    return value


def run(args: argparse.Namespace) -> int:
    async def agents(client: Client, settings: Settings) -> int:
        if args.action == "pause":
            rate, changed = await pause_agents(client, settings.task_queue)
            news = "paused" if changed else "already paused"
        elif args.action == "resume":
            rate, news = await _resume(client, settings, args.per_minute)
        else:
            rate, news = await read_agent_rate(client, settings.task_queue), ""
        if args.json:
            print_json(agent_rate_json(rate))
        else:
            print(f"{news}: {describe(rate)}" if news else describe(rate))
        return exit_codes.OK

    return run_with_client(agents)


async def _resume(client: Client, settings: Settings, per_minute: float | None) -> tuple[AgentRate, str]:
    """Resume at `per_minute` if given (a new rate even when not paused); else end a pause, if there is one."""
    if per_minute is None:
        current = await read_agent_rate(client, settings.task_queue)
        if not current.paused:
            return current, "not paused"
        per_minute = current.restores_per_minute or settings.create_rate_per_minute
    return await set_agent_rate(client, settings.task_queue, per_minute, RESUME_REASON), "resumed"


def agent_rate_json(rate: AgentRate) -> dict[str, Any]:
    return {**asdict(rate), "paused": rate.paused, "restores_per_minute": rate.restores_per_minute}


def describe(rate: AgentRate) -> str:
    """One line for people: the rate, who set it and why; a pause with how to end it."""
    change = f"{rate.reason or 'no reason given'}; {rate.changed_by or 'unknown'} at {timestamp(rate.changed_at)} UTC"
    if rate.paused:
        return f"run creation on {rate.task_queue} is PAUSED ({change}); `starter.py agents resume` ends it"
    if rate.source == "api":
        return f"{rate.per_minute:g} agent runs per minute on {rate.task_queue}, in the server's config ({change})"
    if rate.source == "worker":
        return f"{rate.per_minute:g} agent runs per minute on {rate.task_queue}, a worker's own limit (none in the server's config)"
    return (
        f"no agent rate on {rate.task_queue}, only the server's default of {rate.per_minute:g} per minute: no worker "
        "has set one (a worker sets its CODEGEN_CREATE_RATE_PER_MINUTE at start)"
    )
