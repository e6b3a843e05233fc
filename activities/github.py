"""The GitHub REST client and the activities that read pull requests and check runs.

REST reference: https://docs.github.com/rest (pulls, pulls/reviews, pulls/comments#list-comments-for-a-
pull-request-review, checks/runs, commits/commits#list-pull-requests-associated-with-a-commit).
Repeated reads send `If-None-Match`: a 304 costs no rate limit. Free text is cut here, where it enters
(models.bounds): what an activity returns is recorded in the workflow's history.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
from pydantic import ValidationError
from temporalio import activity

from activities.http_errors import error_from_transport, invalid_response, raise_for_response
from models.bounds import CHECK_SUMMARY_CHARS, CHECK_TEXT_CHARS, CHECK_TITLE_CHARS, REVIEW_BODY_CHARS, bounded
from models.codegen import PullRequestRef
from models.github import (
    REVIEW_STATES,
    CheckOutput,
    CheckOutputsInput,
    CheckOutputsResult,
    CheckRunInfo,
    CheckRunsInput,
    CheckRunsResult,
    PullRequestInfo,
    PullRequestRead,
    ReviewComment,
    ReviewCommentsInput,
    ReviewCommentsResult,
    ReviewState,
)

SERVICE = "GitHub"
API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
PER_PAGE = 100  # GitHub's maximum
MAX_PAGES = 20
# The follow-up prompt keeps a handful of a review's comments; 200 is more than any prompt shows.
REVIEW_COMMENT_PAGES = 2

T = TypeVar("T")


@dataclass(frozen=True)
class _Page(Generic[T]):
    """One response, already reduced to what the callers use, and the next page's URL if any."""

    value: T
    next_url: str | None


class GitHubClient:
    """Reads GitHub through one shared `httpx.AsyncClient` (base URL, headers, optional token)."""

    # Each open PR is read at three URLs (the PR, its head's checks, its reviews); a 304 answer costs no
    # rate limit, so the cache must hold every open PR's pages: at 10,000 open PRs read hourly, a miss for
    # each would be 30,000 requests an hour against GitHub's 5,000. It keeps reduced values, not bodies.
    ETAG_CACHE_SIZE = 35_000

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        # url -> (etag, page): replayed when GitHub answers 304 Not Modified.
        self._etags: OrderedDict[str, tuple[str, _Page[Any]]] = OrderedDict()

    async def _get(self, url: str, params: dict[str, Any] | None, reduce: Callable[[Any, str], T], cache: bool = True) -> _Page[T]:
        """GET `url`, its JSON reduced by `reduce(body, where)`; revalidated with the cached ETag unless `cache` is off."""
        request = self._http.build_request("GET", url, params=params)
        key = str(request.url)
        cached = self._etags.get(key) if cache else None
        if cached:
            request.headers["If-None-Match"] = cached[0]
        try:
            response = await self._http.send(request)
        except httpx.TransportError as exc:
            raise error_from_transport(exc, SERVICE) from exc
        raise_for_response(response, SERVICE)
        if response.status_code == 304 and cached is not None:
            self._etags.move_to_end(key)
            return cached[1]
        where = f"GET {request.url.path}"
        try:
            body = response.json()
        except ValueError:
            raise invalid_response(SERVICE, where, "not JSON") from None
        page = _Page(reduce(body, where), response.links.get("next", {}).get("url"))
        etag = response.headers.get("etag")
        if etag and cache:
            self._etags[key] = (etag, page)
            self._etags.move_to_end(key)
            if len(self._etags) > self.ETAG_CACHE_SIZE:
                self._etags.popitem(last=False)
        return page

    async def get_pull_request(self, ref: PullRequestRef) -> PullRequestInfo:
        return (await self._get(f"/repos/{ref.owner}/{ref.repo}/pulls/{ref.number}", None, _pull_request_info)).value

    async def list_check_runs(self, ref: PullRequestRef, sha: str) -> list[CheckRunInfo]:
        """Every page of the commit's check runs, reduced to the latest run per check name, without their logs."""
        return [info for _, info in await self._latest_per_name(ref, sha, _check_runs)]

    async def check_outputs(self, ref: PullRequestRef, sha: str, names: list[str], max_chars: int) -> list[CheckOutput]:
        """The summary and log of the latest run of each named check on the commit, by name: each cut to what the
        follow-up prompt shows of one check, all of them together to `max_chars` (first names first).
        Not ETag-cached: a follow-up reads a head's outputs once, and the cache would hold their logs."""
        wanted = set(names)

        def reduce(data: Any, where: str) -> list[tuple[int, str, dict[str, Any]]]:
            return [run for run in _check_run_outputs(data, where) if run[1] in wanted]

        left, outputs = max_chars, []
        for name, output in await self._latest_per_name(ref, sha, reduce, cache=False):
            summary, text = output.get("summary"), output.get("text")
            summary_limit = min(CHECK_SUMMARY_CHARS, left)
            left -= min(len(summary or ""), summary_limit)
            text_limit = min(CHECK_TEXT_CHARS, left)
            left -= min(len(text or ""), text_limit)
            outputs.append(CheckOutput(name=name, summary=bounded(summary, summary_limit), text=bounded(text, text_limit)))
        return outputs

    async def _latest_per_name(
        self, ref: PullRequestRef, sha: str, reduce: Callable[[Any, str], list[tuple[int, str, T]]], cache: bool = True
    ) -> list[tuple[str, T]]:
        """Every page of the commit's check runs, each reduced to (run id, name, value); the newest run's value
        per name, by name."""
        url = f"/repos/{ref.owner}/{ref.repo}/commits/{sha}/check-runs"
        latest: dict[str, tuple[int, T]] = {}
        async for runs in self._pages(url, {"filter": "latest"}, reduce, MAX_PAGES, cache):
            for run_id, name, value in runs:
                # Re-runs share a name; the highest id is the newest.
                if name not in latest or run_id > latest[name][0]:
                    latest[name] = (run_id, value)
        return [(name, value) for name, (_, value) in sorted(latest.items())]

    async def list_reviews(self, ref: PullRequestRef) -> list[ReviewState]:
        """The PR's submitted reviews, oldest first (a pending review, seen only by its author, is left out)."""
        url = f"/repos/{ref.owner}/{ref.repo}/pulls/{ref.number}/reviews"
        return [review async for page in self._pages(url, {}, _reviews, MAX_PAGES) for review in page]

    async def list_review_comments(self, ref: PullRequestRef, review_id: int) -> list[ReviewComment]:
        """The line comments of one review, oldest first: its first REVIEW_COMMENT_PAGES pages."""
        url = f"/repos/{ref.owner}/{ref.repo}/pulls/{ref.number}/reviews/{review_id}/comments"
        return [comment async for page in self._pages(url, {}, _review_comments, REVIEW_COMMENT_PAGES) for comment in page]

    async def _pages(
        self, url: str, params: dict[str, Any], reduce: Callable[[Any, str], list[T]], max_pages: int, cache: bool = True
    ) -> AsyncIterator[list[T]]:
        """Each page of a list, `PER_PAGE` items a page, reduced; following GitHub's `next` links, `max_pages` at most."""
        next_url: str | None = url
        query: dict[str, Any] | None = {"per_page": PER_PAGE, **params}
        for _ in range(max_pages):
            if next_url is None:
                return
            page = await self._get(next_url, query, reduce, cache)
            yield page.value
            # The next link carries the query itself.
            next_url, query = page.next_url, None


def _check_run_list(data: Any, where: str) -> list[Any]:
    if not isinstance(data, dict) or not isinstance(data.get("check_runs"), list):
        raise invalid_response(SERVICE, where, "no `check_runs` list")
    return data["check_runs"]


def _check_runs(data: Any, where: str) -> list[tuple[int, str, CheckRunInfo]]:
    return [_check_run_info(raw, where) for raw in _check_run_list(data, where)]


def _check_run_outputs(data: Any, where: str) -> list[tuple[int, str, dict[str, Any]]]:
    """Each run's id, name and `output` object (its summary and text still whole: the caller cuts them)."""
    try:
        return [(int(raw["id"]), str(raw["name"]), _output(raw)) for raw in _check_run_list(data, where)]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise invalid_response(SERVICE, where, f"not a check run ({exc.__class__.__name__})") from None


def _pull_request_info(data: Any, where: str) -> PullRequestInfo:
    try:
        ref = PullRequestRef.from_url(data["html_url"]) or PullRequestRef(
            owner=data["base"]["repo"]["owner"]["login"], repo=data["base"]["repo"]["name"], number=data["number"]
        )
        return PullRequestInfo(
            ref=ref,
            html_url=data["html_url"],
            title=data.get("title") or "",
            state=data["state"],
            # The commit-pulls list omits `merged`; `merged_at` says the same.
            merged=bool(data.get("merged", data.get("merged_at") is not None)),
            merged_at=data.get("merged_at"),
            merge_commit_sha=data.get("merge_commit_sha") if data.get("merged_at") else None,
            draft=bool(data.get("draft")),
            head_sha=data["head"]["sha"],
            head_ref=data["head"]["ref"],
            base_ref=data["base"]["ref"],
            mergeable=data.get("mergeable"),
            author=(data.get("user") or {}).get("login"),
        )
    except (KeyError, TypeError, ValidationError) as exc:
        raise invalid_response(SERVICE, where, f"not a pull request ({exc.__class__.__name__}: {exc})") from None


def _review_comments(data: Any, where: str) -> list[ReviewComment]:
    if not isinstance(data, list):
        raise invalid_response(SERVICE, where, "not a list")
    try:
        return [ReviewComment(path=item["path"], line=item.get("line"), body=item.get("body") or "") for item in data]
    except (KeyError, TypeError, ValidationError) as exc:
        raise invalid_response(SERVICE, where, f"not a review comment ({exc.__class__.__name__})") from None


def _reviews(data: Any, where: str) -> list[ReviewState]:
    if not isinstance(data, list):
        raise invalid_response(SERVICE, where, "not a list")
    try:
        return [
            ReviewState(
                id=int(item["id"]),
                reviewer=item["user"]["login"],
                state=item["state"].lower(),
                submitted_at=item.get("submitted_at"),
                body=bounded(item.get("body"), REVIEW_BODY_CHARS),
            )
            for item in data
            # PENDING: a draft only its author sees; no user: a deleted account, which no follow-up can answer.
            if str(item.get("state")).lower() in REVIEW_STATES and item.get("user")
        ]
    except (KeyError, TypeError, ValueError, AttributeError, ValidationError) as exc:
        raise invalid_response(SERVICE, where, f"not a review ({exc.__class__.__name__})") from None


def _output(run: dict[str, Any]) -> dict[str, Any]:
    output = run.get("output")
    return output if isinstance(output, dict) else {}


def _check_run_info(data: Any, where: str) -> tuple[int, str, CheckRunInfo]:
    try:
        output = _output(data)
        name = data["name"]
        return int(data["id"]), name, CheckRunInfo(
            name=name,
            head_sha=data["head_sha"],
            status=data["status"],
            conclusion=data.get("conclusion"),
            started_at=data.get("started_at"),
            completed_at=data.get("completed_at"),
            details_url=data.get("details_url") or data.get("html_url"),
            output_title=bounded(output.get("title"), CHECK_TITLE_CHARS),
            output_summary=bounded(output.get("summary"), CHECK_SUMMARY_CHARS),
        )
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise invalid_response(SERVICE, where, f"not a check run ({exc.__class__.__name__})") from None


class GitHubActivities:
    """Read-only GitHub activities around one `GitHubClient`."""

    def __init__(self, client: GitHubClient) -> None:
        self.client = client

    def all(self) -> list[Any]:
        return [self.read_pull_request, self.list_check_runs, self.read_check_outputs, self.read_review_comments]

    @activity.defn(name="read_pull_request")
    async def read_pull_request(self, ref: PullRequestRef) -> PullRequestRead:
        """One PR's state, merge status, head and base, with the checks on its head and its reviews: one
        activity per read, as a reconcile needs all three (each activity is a workflow task and history events)."""
        pr = await self.client.get_pull_request(ref)
        # The checks need the head the PR read gives; the reviews do not wait for them.
        checks, reviews = await asyncio.gather(self.client.list_check_runs(ref, pr.head_sha), self.client.list_reviews(ref))
        return PullRequestRead(pr=pr, checks=checks, reviews=reviews)

    @activity.defn(name="list_check_runs")
    async def list_check_runs(self, input: CheckRunsInput) -> CheckRunsResult:
        """The latest check run per name on `input.sha`, with their output title and summary. Follow-ups begun
        before `read_check_outputs` existed still call it (replayed, or retrying across the upgrade)."""
        return CheckRunsResult(sha=input.sha, checks=await self.client.list_check_runs(input.ref, input.sha))

    @activity.defn(name="read_check_outputs")
    async def read_check_outputs(self, input: CheckOutputsInput) -> CheckOutputsResult:
        """The summaries and logs of the named (failing) checks on `input.sha`, bounded for the follow-up prompt."""
        return CheckOutputsResult(sha=input.sha, outputs=await self.client.check_outputs(input.ref, input.sha, input.names, input.max_chars))

    @activity.defn(name="read_review_comments")
    async def read_review_comments(self, input: ReviewCommentsInput) -> ReviewCommentsResult:
        """What a reviewer wrote on the diff's lines, for the follow-up that addresses the review."""
        return ReviewCommentsResult(review_id=input.review_id, comments=await self.client.list_review_comments(input.ref, input.review_id))

