"""The parts of GitHub webhook payloads the relay reads, and how a delivery's body is decoded.

Models ignore every field they do not name, so GitHub adding fields never breaks the relay; a
field they do name that is missing or mistyped is a malformed delivery (HTTP 400).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, ValidationError


class MalformedDelivery(ValueError):
    """The body is not a GitHub payload the relay can read; the message says why."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Account(_Part):
    login: str


class Repository(_Part):
    id: int
    full_name: str


class CommitRef(_Part):
    ref: str
    sha: str


class PullRequest(_Part):
    number: int
    state: str
    title: str = ""
    body: str | None = None
    draft: bool = False
    merged: bool | None = None
    head: CommitRef
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    merged_at: datetime | None = None


class RepoId(_Part):
    id: int


class LinkedRef(_Part):
    sha: str
    repo: RepoId


class LinkedPullRequest(_Part):
    """An entry of a check's `pull_requests[]`: only number, head and base are given."""

    number: int
    head: LinkedRef
    base: LinkedRef


class App(_Part):
    name: str
    slug: str | None = None


class CheckOutput(_Part):
    title: str | None = None
    summary: str | None = None


class CheckRun(_Part):
    name: str
    head_sha: str
    status: str
    conclusion: str | None = None
    completed_at: datetime | None = None
    details_url: str | None = None
    html_url: str | None = None
    output: CheckOutput = CheckOutput()
    pull_requests: list[LinkedPullRequest] = []


class CheckSuite(_Part):
    head_sha: str
    status: str | None = None
    conclusion: str | None = None
    updated_at: datetime | None = None
    url: str | None = None
    app: App
    pull_requests: list[LinkedPullRequest] = []


class ReviewPart(_Part):
    id: int
    user: Account
    body: str | None = None
    state: str
    commit_id: str | None = None
    submitted_at: datetime | None = None


class PullRequestEvent(_Part):
    action: str
    number: int
    pull_request: PullRequest
    repository: Repository
    # synchronize only: the new head commit.
    after: str | None = None


class CheckRunEvent(_Part):
    action: str
    check_run: CheckRun
    repository: Repository


class CheckSuiteEvent(_Part):
    action: str
    check_suite: CheckSuite
    repository: Repository


class StatusEvent(_Part):
    """A commit status; it has no `action`, and its `state` may still be `pending`."""

    sha: str
    context: str
    state: str
    description: str | None = None
    target_url: str | None = None
    updated_at: datetime | None = None
    repository: Repository


class PullRequestReviewEvent(_Part):
    action: str
    review: ReviewPart
    pull_request: PullRequest
    repository: Repository


class PingEvent(_Part):
    zen: str = ""
    hook_id: int | None = None


EVENT_MODELS: dict[str, type[_Part]] = {
    "pull_request": PullRequestEvent,
    "check_run": CheckRunEvent,
    "check_suite": CheckSuiteEvent,
    "status": StatusEvent,
    "pull_request_review": PullRequestReviewEvent,
    "ping": PingEvent,
}


def decode_body(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """The delivery's JSON object, from `application/json` or the form-encoded `payload=` variant."""
    media_type = (content_type or "application/json").split(";")[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(raw.decode("utf-8"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as error:
            raise MalformedDelivery(f"form body is not valid: {error}") from None
        if len(fields.get("payload", ())) != 1:
            raise MalformedDelivery("form body must carry exactly one `payload` field")
        text = fields["payload"][0]
    else:
        text = raw
    try:
        document = json.loads(text)
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedDelivery(f"body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedDelivery("body must be a JSON object")
    return document


def parse_event(event: str, document: dict[str, Any]) -> BaseModel | None:
    """The typed payload of a handled event, or None for events the relay does not handle."""
    model = EVENT_MODELS.get(event)
    if model is None:
        return None
    try:
        return model.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
        )
        raise MalformedDelivery(f"{event} payload: {problems}") from None
