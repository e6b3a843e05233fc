"""How the task workflow calls activities, and what a failed call means for the task.

Errors no retry can fix end the task with their reason (`TaskFinished`); a call whose retries ran
out raises `CallFailed`, which the task may outlive; cancellation passes through as it came.
Activities are passed as method references (`PromptActivities.generate_prompt`): a renamed or removed
activity fails at import, and the result type comes from the method's signature.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from models.status import Reason


# How the SDK records each local activity in history: a marker of this name.
LOCAL_ACTIVITY_MARKER = "core_local_activity"

# Activity errors that no retry can fix, by the ApplicationError type the activities raise.
NON_RETRYABLE_REASONS = {
    "AuthError": Reason.AUTH_ERROR,
    "PlanLimit": Reason.PLAN_LIMIT,
    "InvalidRequest": Reason.INVALID_INPUT,
    "NotFound": Reason.NOT_FOUND,
    "PromptTooLarge": Reason.PROMPT_TOO_LARGE,
    "PromptTemplateError": Reason.TEMPLATE_ERROR,
    "RepositoryNotConnected": Reason.REPOSITORY_NOT_CONNECTED,
}
EXTERNAL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    non_retryable_error_types=list(NON_RETRYABLE_REASONS),
)
CALL_BUDGET = timedelta(minutes=15)
# EXTERNAL_RETRY's schedule counted in tries, not time: 13 attempts (2, 4, ... 64 s, then 2 min apart)
# span CALL_BUDGET's 15 minutes. For local activities, whose retries the SDK does not end at their
# schedule_to_close_timeout, and for calls on the rate-limited creation queue, where waiting for a slot
# is no failure and no time budget may count it.
COUNTED_RETRY = dataclasses.replace(EXTERNAL_RETRY, maximum_attempts=13)
# A waiting task's look at its run: a few quick tries, then the wait goes on and looks again later.
LOOK_RETRY = dataclasses.replace(EXTERNAL_RETRY, maximum_attempts=3)
# A local activity's retries wait on workflow timers rather than inside the worker: each attempt is
# in history, and a restarted worker resumes the wait instead of starting over.
LOCAL_RETRY_THRESHOLD = timedelta(seconds=1)

ResultT = TypeVar("ResultT")


class TaskFinished(Exception):
    """Raised inside the workflow to stop with an outcome that is not a merge or close."""

    def __init__(self, reason: Reason, message: str, details: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        # What the activity's error said besides its message (ApplicationError details).
        self.details = tuple(details)


class CallFailed(Exception):
    """An activity failed for good (retries spent) with an error the task can outlive.

    One shape for both kinds of call: the SDK raises an ordinary activity's failure as an
    ActivityError around the cause, and a local activity's as the cause itself.
    """

    def __init__(self, activity: str, cause: BaseException | None) -> None:
        detail = cause.message if isinstance(cause, FailureError) else str(cause)
        self.message = f"{activity}: {detail}"
        self.cause = cause
        # The activity's ApplicationError type (HeadChanged, ServiceUnavailable, ...) and what its details said.
        self.type = cause.type if isinstance(cause, ApplicationError) else None
        self.details = tuple(cause.details) if isinstance(cause, ApplicationError) else ()
        super().__init__(self.message)

    def detail(self, key: str) -> Any:
        """`key` of the first details mapping that has it (the activities put one dict there), else None."""
        return next((d[key] for d in self.details if isinstance(d, dict) and key in d), None)


async def call(activity: Callable[[Any, Any], Awaitable[ResultT]], argument: Any, *, local: bool = False, **options: Any) -> ResultT:
    """Run an activity method, with the retries and budget above unless `options` say otherwise.

    `local` for short calls (a prompt render, a GitHub read): run by the worker inside the workflow
    task, recorded as one marker, with no activity task for the server to queue and match.
    """
    options.setdefault("schedule_to_close_timeout", CALL_BUDGET)
    execute: Callable[..., Awaitable[Any]]
    if local:
        options.setdefault("retry_policy", COUNTED_RETRY)
        options.setdefault("local_retry_threshold", LOCAL_RETRY_THRESHOLD)
        execute = workflow.execute_local_activity_method
    else:
        options.setdefault("retry_policy", EXTERNAL_RETRY)
        execute = workflow.execute_activity_method
    name = activity.__name__
    try:
        result: ResultT = await execute(activity, argument, **options)
        return result
    except FailureError as error:
        if is_cancelled_exception(error):
            raise
        cause = error.cause if isinstance(error, ActivityError) else error
        if isinstance(cause, ApplicationError) and cause.type in NON_RETRYABLE_REASONS:
            raise TaskFinished(NON_RETRYABLE_REASONS[cause.type], f"{name}: {cause.message}", cause.details) from error
        raise CallFailed(name, cause) from error
