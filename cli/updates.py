"""Sending a workflow update from the command line: its answer printed, or its refusal said as the user needs it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import FailureError

from cli import exit_codes
from cli.output import fail

UPDATE_TIMEOUT = timedelta(seconds=15)


async def send_update(handle: WorkflowHandle, update: str, *args: Any, what: str = "") -> int:
    """Print the update's answer and return OK; FAILURE with the workflow's own reason when it refuses,
    UNAVAILABLE when no worker answers."""
    try:
        answer = await handle.execute_update(update, args=args, result_type=str, rpc_timeout=UPDATE_TIMEOUT)
    except WorkflowUpdateFailedError as error:
        # The workflow's rejection arrives as an ApplicationError; its message is what the user needs.
        return fail(error.cause.message if isinstance(error.cause, FailureError) else str(error.cause), exit_codes.FAILURE)
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        return fail(f"no worker answered {what or 'the update'} within {UPDATE_TIMEOUT}; is worker.py running?", exit_codes.UNAVAILABLE)
    print(answer)
    return exit_codes.OK
