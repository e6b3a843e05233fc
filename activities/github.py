"""The GitHub REST client and the activities that read pull requests and check runs, compare a PR with its
base, bring its branch up to date and merge it.

REST reference: https://docs.github.com/rest (pulls, pulls/reviews, pulls/comments#list-comments-for-a-
pull-request-review, checks/runs, commits/commits#list-pull-requests-associated-with-a-commit,
commits/commits#compare-two-commits, pulls/pulls#update-a-pull-request-branch, pulls/pulls#merge-a-pull-request).
Repeated reads send `If-None-Match`: a 304 costs no rate limit. Free text is cut here, where it enters
(models.bounds): what an activity returns is recorded in the workflow's history. Writes are never retried
here either; their refusals become the types of `http_errors.error_from_pull_request_write`.
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
from temporalio.exceptions import ApplicationError

from activities.http_errors import (
    HttpErrorType,
    api_message,
    error_from_pull_request_write,
    error_from_transport,
    invalid_response,
    raise_for_response,
)
from models.bounds import (
    CHECK_SUMMARY_CHARS,
    CHECK_TEXT_CHARS,
    CHECK_TITLE_CHARS,
    COMMIT_MESSAGE_CHARS,
    COMPARE_COMMITS,
    COMPARE_FILES,
    REVIEW_BODY_CHARS,
    bounded,
    shorten_text,
)
from models.codegen import PullRequestRef
from models.github import (
    REVIEW_STATES,
    BaseComparison,
    ChangedFile,
    CheckOutput,
    CheckOutputsInput,
    CheckOutputsResult,
    CheckRunInfo,
    CheckRunsInput,
    CheckRunsResult,
    CommitSummary,
    CompareWithBaseInput,
    Comparison,
    MergeInput,
    MergeMethod,
    MergeResult,
    PullRequestInfo,
    PullRequestRead,
    ReviewComment,
    ReviewCommentsInput,
    ReviewCommentsResult,
    ReviewState,
    UpdateBranchInput,
    UpdateBranchResult,
)

SERVICE = "GitHub"
API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
PER_PAGE = 100  # GitHub's maximum
MAX_PAGES = 20
# The follow-up prompt keeps a handful of a review's comments; 200 is more than any prompt shows.
REVIEW_COMMENT_PAGES = 2
# update-branch's 422 when the branch already has its base's commits: nothing to do, not a failure.
UP_TO_DATE = "no new commits on the base branch"

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

    async def compare(self, repository: str, base: str, head: str) -> Comparison:
        """What `head` has that `base` lacks (`owner/name`; each side a branch or a sha), bounded. GitHub lists
        at most 250 commits, oldest first, and 300 files; the newest of those commits are kept. Not ETag-cached:
        a comparison is read when a base moves, seldom twice alike."""
        return (await self._get(f"/repos/{repository}/compare/{base}...{head}", None, _comparison, cache=False)).value

    async def update_branch(self, ref: PullRequestRef, expected_head_sha: str) -> UpdateBranchResult:
        """Merge the base branch into the PR's branch (GitHub answers 202 and pushes the merge commit soon after).
        Refusals: `HeadChanged` (the head is not `expected_head_sha`), `MergeConflict`, `MissingPermission`."""
        response = await self._put(f"/repos/{ref.owner}/{ref.repo}/pulls/{ref.number}/update-branch", {"expected_head_sha": expected_head_sha})
        if response.status_code == 422 and UP_TO_DATE in api_message(response).lower():
            return UpdateBranchResult(updated=False, message=api_message(response))
        body = _written(response)
        return UpdateBranchResult(updated=True, message=str(body.get("message") or ""))

    async def merge(self, ref: PullRequestRef, sha: str, method: MergeMethod = "merge", title: str | None = None) -> MergeResult:
        """Merge the PR if its head is still `sha`. Refusals: `HeadChanged` (409), `NotMergeable` (405: conflicts,
        branch protection, a merge queue; `details["blocker"]` says which), `MissingPermission` (403)."""
        body: dict[str, Any] = {"sha": sha, "merge_method": method}
        if title:
            body["commit_title"] = title
        url = f"/repos/{ref.owner}/{ref.repo}/pulls/{ref.number}/merge"
        data = _written(await self._put(url, body))
        try:
            return MergeResult(sha=data["sha"], merged=bool(data["merged"]), message=str(data.get("message") or ""))
        except (KeyError, ValidationError) as exc:
            raise invalid_response(SERVICE, f"PUT {url}", f"not a merge result ({exc.__class__.__name__})") from None

    async def _put(self, url: str, body: dict[str, Any]) -> httpx.Response:
        try:
            return await self._http.put(url, json=body)
        except httpx.TransportError as exc:
            raise error_from_transport(exc, SERVICE) from exc

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


def _written(response: httpx.Response) -> dict[str, Any]:
    """A write's JSON answer, or its refusal raised as the type the caller acts on."""
    if not response.is_success:
        raise error_from_pull_request_write(response, SERVICE)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise invalid_response(SERVICE, f"PUT {response.request.url.path}", "not a JSON object")
    return body


def _comparison(data: Any, where: str) -> Comparison:
    try:
        commits, files = data["commits"], data.get("files") or []
        return Comparison(
            status=data["status"],
            ahead_by=int(data["ahead_by"]),
            behind_by=int(data["behind_by"]),
            commits=[
                CommitSummary(sha=commit["sha"], message=shorten_text(commit["commit"]["message"], COMMIT_MESSAGE_CHARS))
                for commit in commits[-COMPARE_COMMITS:]
            ],
            total_commits=int(data.get("total_commits", len(commits))),
            files=[ChangedFile(filename=item["filename"], status=item["status"]) for item in files[:COMPARE_FILES]],
            total_files=len(files),
        )
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise invalid_response(SERVICE, where, f"not a comparison ({exc.__class__.__name__})") from None


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
            merged_by=(data.get("merged_by") or {}).get("login"),
            draft=bool(data.get("draft")),
            head_sha=data["head"]["sha"],
            head_ref=data["head"]["ref"],
            base_ref=data["base"]["ref"],
            mergeable=data.get("mergeable"),
            mergeable_state=data.get("mergeable_state"),
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
                commit_id=item.get("commit_id"),
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
    """GitHub activities around one `GitHubClient`: reads, and the two writes merging a PR takes."""

    def __init__(self, client: GitHubClient) -> None:
        self.client = client

    def all(self) -> list[Any]:
        return [
            self.read_pull_request,
            self.list_check_runs,
            self.read_check_outputs,
            self.read_review_comments,
            self.compare_with_base,
            self.update_pull_request_branch,
            self.merge_pull_request,
        ]

    @activity.defn(name="read_pull_request")
    async def read_pull_request(self, ref: PullRequestRef) -> PullRequestRead:
        """One PR's state, merge status, head and base, with the checks on its head and its reviews: one
        activity per read, as a reconcile needs all three (each activity is a workflow task and history events).
        A closed PR comes alone: its task ends on it, and its checks and reviews decide nothing more."""
        pr = await self.client.get_pull_request(ref)
        if pr.state == "closed":
            return PullRequestRead(pr=pr)
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


    @activity.defn(name="compare_with_base")
    async def compare_with_base(self, input: CompareWithBaseInput) -> BaseComparison:
        """Where the PR's head stands against its base branch, the base's commits since the PR branched and the
        files both sides changed: what a prompt asking the agent to resolve a conflict names. Two comparisons,
        read together: base...head (the PR's side) and head...base (the base's side)."""
        repository = input.ref.repository
        pr_side, base_side = await asyncio.gather(
            self.client.compare(repository, input.base_ref, input.head_sha),
            self.client.compare(repository, input.head_sha, input.base_ref),
        )
        changed_by_pr = {changed.filename for changed in pr_side.files}
        return BaseComparison(
            base_ref=input.base_ref,
            head_sha=input.head_sha,
            status=pr_side.status,
            ahead_by=pr_side.ahead_by,
            behind_by=pr_side.behind_by,
            base_commits=base_side.commits,
            base_commits_total=base_side.total_commits,
            files_changed_on_both_sides=[changed.filename for changed in base_side.files if changed.filename in changed_by_pr],
        )

    @activity.defn(name="update_pull_request_branch")
    async def update_pull_request_branch(self, input: UpdateBranchInput) -> UpdateBranchResult:
        """Bring the PR's branch up to date with its base (a merge commit; its checks run again). `updated` is
        False when it already was. Raises `HeadChanged`, `MergeConflict` or `MissingPermission`, none retried."""
        return await self.client.update_branch(input.ref, input.expected_head_sha)

    @activity.defn(name="merge_pull_request")
    async def merge_pull_request(self, input: MergeInput) -> MergeResult:
        """Merge the PR at `input.sha` with `input.method`. Raises `HeadChanged`, `NotMergeable` or `MissingPermission`,
        none retried.

        A retry after a lost answer (a timeout, a 5xx) is refused `NotMergeable` when the lost try merged: if the PR
        is now merged at exactly `input.sha`, that merge is this call's, and its result is read from the PR.
        """
        try:
            return await self.client.merge(input.ref, input.sha, input.method, input.title)
        except ApplicationError as refusal:
            if refusal.type != HttpErrorType.NOT_MERGEABLE or activity.info().attempt == 1:
                raise
            pr = await self.client.get_pull_request(input.ref)
            if not (pr.merged and pr.head_sha == input.sha and pr.merge_commit_sha):
                raise
            activity.logger.info("%s was merged at %s by an earlier try whose answer was lost", input.ref, input.sha[:7])
            return MergeResult(sha=pr.merge_commit_sha, merged=True, message="merged by an earlier try whose answer was lost")
