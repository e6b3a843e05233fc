"""The parts of GitHub webhook payloads the relay reads, and how a delivery's body is decoded.

Models ignore every field they do not name, so GitHub adding fields never breaks the relay; a
field they do name that is missing or mistyped is a malformed delivery (HTTP 400).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

# Names GitHub gives (logins, repositories, refs, SHAs, check names, states, actions) are far shorter.
# A longer one is no GitHub payload; it would go into a signal, a visibility query and a metric label.
MAX_NAME_CHARS = 1_000
MAX_URL_CHARS = 2_048
Name = Annotated[str, StringConstraints(max_length=MAX_NAME_CHARS)]
Url = Annotated[str, StringConstraints(max_length=MAX_URL_CHARS)]
# A `\ud800`-style escape: JSON may spell half of a UTF-16 pair, which no UTF-8 text can carry.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class MalformedDelivery(ValueError):
    """The body is not a GitHub payload the relay can read; the message says why."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Account(_Part):
    login: Name


class Repository(_Part):
    id: int
    full_name: Name
    # https://github.com/owner/name (or an Enterprise host, or the fake's): its host goes on every signal.
    html_url: Url | None = None


class CommitRef(_Part):
    ref: Name
    sha: Name


class PullRequest(_Part):
    number: int
    state: Name
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
    sha: Name
    repo: RepoId


class LinkedPullRequest(_Part):
    """An entry of a check's `pull_requests[]`: only number, head and base are given."""

    number: int
    head: LinkedRef
    base: LinkedRef


class App(_Part):
    name: Name
    slug: Name | None = None


class CheckOutput(_Part):
    title: str | None = None
    summary: str | None = None


class CheckRun(_Part):
    name: Name
    head_sha: Name
    status: Name
    conclusion: Name | None = None
    completed_at: datetime | None = None
    details_url: Url | None = None
    html_url: Url | None = None
    output: CheckOutput = CheckOutput()
    pull_requests: list[LinkedPullRequest] = []


class CheckSuite(_Part):
    head_sha: Name
    status: Name | None = None
    conclusion: Name | None = None
    updated_at: datetime | None = None
    url: Url | None = None
    app: App
    latest_check_runs_count: int | None = None
    pull_requests: list[LinkedPullRequest] = []


class ReviewPart(_Part):
    id: int
    user: Account
    body: str | None = None
    state: Name
    commit_id: Name | None = None
    submitted_at: datetime | None = None


class PullRequestEvent(_Part):
    action: Name
    number: int
    pull_request: PullRequest
    repository: Repository
    # synchronize only: the new head commit.
    after: Name | None = None


class CheckRunEvent(_Part):
    action: Name
    check_run: CheckRun
    repository: Repository


class CheckSuiteEvent(_Part):
    action: Name
    check_suite: CheckSuite
    repository: Repository


class StatusEvent(_Part):
    """A commit status; it has no `action`, and its `state` may still be `pending`."""

    sha: Name
    context: Name
    state: Name
    description: str | None = None
    target_url: Url | None = None
    updated_at: datetime | None = None
    repository: Repository


class PullRequestReviewEvent(_Part):
    action: Name
    review: ReviewPart
    pull_request: PullRequest
    repository: Repository


class PushEvent(_Part):
    """Commits pushed to a branch or a tag; it has no `action`. A created or deleted ref has an all-zero side."""

    ref: Name  # refs/heads/<branch> or refs/tags/<tag>
    before: Name
    after: Name
    created: bool = False
    deleted: bool = False
    repository: Repository


class PingEvent(_Part):
    zen: Name = ""
    hook_id: int | None = None


EVENT_MODELS: dict[str, type[_Part]] = {
    "pull_request": PullRequestEvent,
    "check_run": CheckRunEvent,
    "check_suite": CheckSuiteEvent,
    "status": StatusEvent,
    "pull_request_review": PullRequestReviewEvent,
    "push": PushEvent,
    "ping": PingEvent,
}


def decode_body(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """The delivery's JSON object, from `application/json` or the form-encoded `payload=` variant."""
    text = _json_text(raw, content_type)
    try:
        document = json.loads(text)
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedDelivery(f"body is not JSON: {error}") from None
    except RecursionError:
        raise MalformedDelivery("body nests deeper than any GitHub payload") from None
    if not isinstance(document, dict):
        raise MalformedDelivery("body must be a JSON object")
    _refuse_unpaired_surrogates(text, document)
    return document


def _json_text(raw: bytes, content_type: str | None) -> bytes:
    """The JSON itself: the body, or its `payload` field when the body is form-encoded."""
    media_type = (content_type or "application/json").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        return raw
    try:
        fields = parse_qs(raw.decode("utf-8"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedDelivery(f"form body is not valid: {error}") from None
    if len(fields.get("payload", ())) != 1:
        raise MalformedDelivery("form body must carry exactly one `payload` field")
    return fields["payload"][0].encode()


def _refuse_unpaired_surrogates(raw: bytes, document: dict[str, Any]) -> None:
    """Refuse text holding half a UTF-16 pair: a signal, an answer or a metric label with it fails to encode.

    Only an escape can spell one, so a body without such an escape (nearly every delivery) is not walked.
    """
    if _SURROGATE_ESCAPE.search(raw) is None:
        return
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedDelivery("body holds an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff)") from None


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
