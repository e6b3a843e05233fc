"""The one place where HTTP responses and transport failures become Temporal errors.

Clients never retry; they raise `ApplicationError` with a `type` from `HttpErrorType`, marked
non-retryable when retrying cannot help, and with `next_retry_delay` when the service said when
to come back (`Retry-After`, or GitHub's `x-ratelimit-reset`). Messages name the service, the
method, the path and the API's own explanation; never headers, query strings or tokens.
"""

from __future__ import annotations

import time
from datetime import timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

# Longest wait we accept from a server hint; beyond it the activity's own backoff is saner.
MAX_RETRY_DELAY = timedelta(hours=1)
_MAX_MESSAGE = 500


class HttpErrorType(StrEnum):
    AUTH = "AuthError"
    PLAN_LIMIT = "PlanLimit"
    NOT_FOUND = "NotFound"
    INVALID_REQUEST = "InvalidRequest"
    RATE_LIMITED = "RateLimited"
    SERVICE_UNAVAILABLE = "ServiceUnavailable"
    INVALID_RESPONSE = "InvalidResponse"
    # GitHub's refusals of a merge or a branch update (`error_from_pull_request_write`): none is helped by
    # retrying, and each asks the caller for its own next step.
    HEAD_CHANGED = "HeadChanged"  # read the PR again: its head is not the sha the write named
    NOT_MERGEABLE = "NotMergeable"  # 405: see `details["blocker"]` and the PR's mergeable_state
    MERGE_CONFLICT = "MergeConflict"  # the base cannot be merged into the branch: someone must resolve it
    MISSING_PERMISSION = "MissingPermission"  # 403 on a write: `details["needs"]` names the permission


_RETRYABLE_STATUSES = frozenset({408, 409})


def raise_for_response(response: httpx.Response, service: str) -> None:
    """Raise the Temporal error for a non-2xx response; return quietly otherwise."""
    if response.is_success or response.status_code == 304:
        return
    raise error_from_response(response, service)


def error_from_response(response: httpx.Response, service: str, now: float | None = None) -> ApplicationError:
    """Translate one failed response into an `ApplicationError` (see the module docstring)."""
    status = response.status_code
    message = _describe(response, service)
    details: dict[str, Any] = {"service": service, "status_code": status}

    now = time.time() if now is None else now
    delay = server_retry_delay(response, now)
    if status == 429 or (status == 403 and delay is not None):
        # 403 with a retry hint is GitHub's rate limit, not a permissions problem.
        return _error(message, details, HttpErrorType.RATE_LIMITED, retryable=True, delay=delay)
    if status in (401, 403):
        return _error(message, details, HttpErrorType.AUTH, retryable=False)
    if status == 402:
        return _error(message, details, HttpErrorType.PLAN_LIMIT, retryable=False)
    if status == 404:
        return _error(message, details, HttpErrorType.NOT_FOUND, retryable=False)
    if status in _RETRYABLE_STATUSES or status >= 500:
        return _error(message, details, HttpErrorType.SERVICE_UNAVAILABLE, retryable=True, delay=delay)
    return _error(message, details, HttpErrorType.INVALID_REQUEST, retryable=False)


# GitHub's words for these refusals, lower-cased: a 405 names what blocks the merge (its messages are
# not documented beyond "Pull Request is not mergeable"; these are the ones GitHub is seen to send).
_MERGE_BLOCKERS = (
    ("merge queue", "merge_queue"),
    ("approving review", "reviews"),
    ("status check", "checks"),
    ("up to date", "behind"),
    ("out of date", "behind"),
    ("draft", "draft"),
)
_HEAD_MODIFIED = "head branch was modified"
_UPDATE_CONFLICT = "merge conflict"
# The permission each pull request write needs (GitHub's "Permissions required for fine-grained personal access
# tokens": merge is under Contents, update-branch under Pull requests), named when GitHub's own header is absent.
_WRITE_PERMISSIONS = {"merge": "contents=write", "update-branch": "pull_requests=write"}


def error_from_pull_request_write(response: httpx.Response, service: str, now: float | None = None) -> ApplicationError:
    """A refused `PUT .../pulls/{n}/merge` or `.../update-branch`, as the type the caller acts on; anything
    else (rate limits, outages, 404) as `error_from_response` translates it.

    - 403 without a retry hint: `MissingPermission` (GitHub: "Resource not accessible by integration").
    - merge 409 "Head branch was modified", update-branch 422 for its `expected_head_sha`: `HeadChanged`.
    - update-branch 422 "merge conflict between base and head": `MergeConflict`.
    - merge 405: `NotMergeable`, with what blocks it in `details["blocker"]`.
    """
    status = response.status_code
    explanation = api_message(response).lower()
    endpoint = response.request.url.path.rsplit("/", 1)[-1]
    now = time.time() if now is None else now
    details: dict[str, Any] = {"service": service, "status_code": status}
    if status == 403 and server_retry_delay(response, now) is None:
        needs = response.headers.get("x-accepted-github-permissions") or _WRITE_PERMISSIONS.get(endpoint, "")
        message = f"{_describe(response, service)} (the token needs {needs})"
        return _error(message, {**details, "needs": needs}, HttpErrorType.MISSING_PERMISSION, retryable=False)
    if status == 409 and _HEAD_MODIFIED in explanation:
        return _error(_describe(response, service), details, HttpErrorType.HEAD_CHANGED, retryable=False)
    if status == 405:
        blocker = next((name for words, name in _MERGE_BLOCKERS if words in explanation), "unspecified")
        return _error(_describe(response, service), {**details, "blocker": blocker}, HttpErrorType.NOT_MERGEABLE, retryable=False)
    if status == 422 and endpoint == "update-branch":
        # GitHub documents this 422 for an `expected_head_sha` that is not the head; a conflict has its own words.
        error_type = HttpErrorType.MERGE_CONFLICT if _UPDATE_CONFLICT in explanation else HttpErrorType.HEAD_CHANGED
        return _error(_describe(response, service), details, error_type, retryable=False)
    return error_from_response(response, service, now)


def _describe(response: httpx.Response, service: str) -> str:
    """`GitHub PUT /repos/o/r/pulls/1/merge returned 405: <the API's own words>`."""
    message = f"{service} {response.request.method} {response.request.url.path} returned {response.status_code}"
    explanation = api_message(response)
    return f"{message}: {explanation}" if explanation else message


def error_from_transport(exc: httpx.TransportError, service: str) -> ApplicationError:
    """Timeouts and connection failures are retryable: the next attempt may well get through."""
    request = exc.request if _has_request(exc) else None
    where = f" {request.method} {request.url.path}" if request is not None else ""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not be reached"
    return _error(
        f"{service}{where} {kind} ({type(exc).__name__})",
        {"service": service, "status_code": None},
        HttpErrorType.SERVICE_UNAVAILABLE,
        retryable=True,
    )


def invalid_response(service: str, where: str, problem: str) -> ApplicationError:
    """A 2xx whose body is not what the API documents: retryable, it may be a proxy's page."""
    return _error(
        f"{service} {where} returned an unexpected body: {problem}",
        {"service": service, "status_code": None},
        HttpErrorType.INVALID_RESPONSE,
        retryable=True,
    )


def api_message(response: httpx.Response) -> str:
    """The API's own words: Codegen's `message`/`detail`, GitHub's `message`, or the body's start."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.text.strip()[:_MAX_MESSAGE]
    if isinstance(body, dict):
        for key in ("message", "detail"):
            if body.get(key):
                return _flatten(body[key])[:_MAX_MESSAGE]
    return ""


def _flatten(value: Any) -> str:
    # FastAPI's 422 `detail` is a list of {"loc": [...], "msg": ...}: name each field.
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict) and "msg" in item:
                location = ".".join(str(part) for part in item.get("loc", []))
                parts.append(f"{location}: {item['msg']}" if location else str(item["msg"]))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(value)


def server_retry_delay(response: httpx.Response, now: float) -> timedelta | None:
    """When the server said to come back: `Retry-After`, else GitHub's exhausted primary limit."""
    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    if retry_after is not None:
        return retry_after
    if response.status_code in (403, 429) and response.headers.get("x-ratelimit-remaining") == "0":
        reset = response.headers.get("x-ratelimit-reset", "")
        if reset.isdigit():
            return _bounded(timedelta(seconds=int(reset) - now))
        return timedelta(seconds=60)
    return None


def parse_retry_after(value: str | None, now: float) -> timedelta | None:
    """`Retry-After` is either delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return _bounded(timedelta(seconds=int(value)))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return _bounded(timedelta(seconds=when.timestamp() - now))


def _bounded(delay: timedelta) -> timedelta:
    # A reset time already past (clock skew) still deserves a moment's pause.
    return min(max(delay, timedelta(seconds=1)), MAX_RETRY_DELAY)


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the exception carries no request
    except RuntimeError:
        return False
    return True


def _error(
    message: str,
    details: dict[str, Any],
    error_type: HttpErrorType,
    *,
    retryable: bool,
    delay: timedelta | None = None,
) -> ApplicationError:
    return ApplicationError(
        message,
        details,
        type=error_type.value,
        non_retryable=not retryable,
        next_retry_delay=delay,
    )
