"""Running one command against Temporal: one event loop, one client, failures as exit codes.

Everything Temporal-related lives and dies inside a single `asyncio.run`, and the coroutine
returns a plain int, so no client (or traceback frame holding one) outlives its event loop:
the SDK's runtime can abort the process at interpreter exit otherwise (sdk-python #300).
"""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from temporalio.client import Client
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode

import temporal_client
from cli import exit_codes
from cli.output import fail
from settings import Settings

T = TypeVar("T")
Command = Callable[[Client, Settings], Awaitable[int]]
INTERRUPTED = 130  # the shell's code for Ctrl-C
_UNREACHABLE = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED})


def run_with_client(command: Command) -> int:
    """Connect with the environment's settings, run `command`, return its exit code."""
    settings = Settings.from_env()
    # The core SDK writes its warnings (a payload over 512 KiB, say) to stderr as coloured Rust log
    # lines, between the command's own; every command reports its failures itself.
    Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=None)), error_if_already_set=False)
    return run_to_completion(_connected(command, settings))


def run_to_completion(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, then collect the garbage: a client caught in a reference cycle would otherwise
    drop its native half during interpreter finalization, which aborts the process."""
    result = asyncio.run(coroutine)
    gc.collect()
    return result


async def _connected(command: Command, settings: Settings) -> int:
    try:
        client = await temporal_client.connect(settings)
    except RuntimeError as error:
        return unreachable(settings, error)
    work = asyncio.ensure_future(command(client, settings))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, work.cancel)
    try:
        return await work
    except asyncio.CancelledError:
        return fail("interrupted", INTERRUPTED)
    except RPCError as error:
        if error.status in _UNREACHABLE:
            return unreachable(settings, error)
        return fail(f"Temporal refused the request: {error.message}", exit_codes.FAILURE)
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def unreachable(settings: Settings, error: Exception) -> int:
    """The one-line message for a Temporal that cannot be reached; returns UNAVAILABLE."""
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    return fail(
        f"Temporal is not reachable at {settings.temporal_address} (namespace {settings.temporal_namespace}): {detail}",
        exit_codes.UNAVAILABLE,
    )
