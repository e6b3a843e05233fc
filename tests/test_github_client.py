"""The GitHub client and activities: headers, PRs, paginated check runs, ETags, rate limits."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.github import GitHubActivities, GitHubClient
from activities.service_clients import ServiceClients
from devstack.services import serve_app, serve_fake
from fakes import FakeConfig
from models.bounds import CHECK_SUMMARY_CHARS, CHECK_TEXT_CHARS, REVIEW_BODY_CHARS, TRUNCATION_MARKER
from models.codegen import PullRequestRef
from models.github import CheckOutputsInput, CheckRunsInput, ReviewCommentsInput, ReviewState
from settings import Settings
from tests.fake_services import create_run, finished_run
from worker import build_service_clients

FAST = {"run_seconds": 0.01, "checks_seconds": 0.01, "review_seconds": 0.01, "merge_seconds": 0.01}


@pytest_asyncio.fixture(scope="module")
async def fake_url() -> AsyncIterator[str]:
    async with serve_fake(FakeConfig(**FAST)) as url:
        yield url


@pytest_asyncio.fixture
async def clients(fake_url: str) -> AsyncIterator[ServiceClients]:
    settings = Settings.from_env({"CODEGEN_API_KEY": "k", "CODEGEN_API_URL": fake_url, "GITHUB_API_URL": fake_url, "GITHUB_TOKEN": "ghp_test"})
    async with build_service_clients(settings) as built:
        yield built


@pytest_asyncio.fixture
async def fake(fake_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake_url) as http:
        yield http


async def open_pr(fake: httpx.AsyncClient, task_id: str, **scenario) -> PullRequestRef:
    run = await finished_run(fake, (await create_run(fake, task_id, outcome="leave_open", **scenario))["id"])
    ref = PullRequestRef.from_url(run["github_pull_requests"][0]["url"])
    assert ref is not None
    return ref


def requests_to(counters: dict, endpoint: str) -> dict[str, int]:
    return counters["requests"].get(endpoint, {})


async def test_requests_carry_githubs_headers_and_the_token_only_when_set(caplog):
    seen: list[dict[str, str]] = []

    async def pull(request: Request) -> JSONResponse:
        seen.append(dict(request.headers))
        return JSONResponse(
            {
                "number": 3,
                "html_url": "https://github.com/o/r/pull/3",
                "state": "open",
                "draft": True,
                "merged": False,
                "merged_at": None,
                "mergeable": None,
                "title": "t",
                "body": None,
                "head": {"ref": "feature", "sha": "a" * 40},
                "base": {"ref": "main", "sha": "b" * 40},
            }
        )

    app = Starlette(routes=[Route("/repos/o/r/pulls/3", pull)])
    async with serve_app(app) as url:
        base = {"CODEGEN_API_KEY": "k", "GITHUB_API_URL": url}
        async with build_service_clients(Settings.from_env({**base, "GITHUB_TOKEN": "ghp_secret"})) as built:
            info = await built.github.get_pull_request(PullRequestRef(owner="o", repo="r", number=3))
        with caplog.at_level(logging.WARNING):
            async with build_service_clients(Settings.from_env(base)) as built:
                await built.github.get_pull_request(PullRequestRef(owner="o", repo="r", number=3))
    assert info.status == "draft" and info.head_sha == "a" * 40 and info.mergeable is None
    with_token, anonymous = seen
    assert with_token["accept"] == "application/vnd.github+json"
    assert with_token["x-github-api-version"] == "2022-11-28"
    assert with_token["user-agent"].startswith("codegen-temporal/")
    assert with_token["authorization"] == "Bearer ghp_secret"
    assert "authorization" not in anonymous
    assert any("GITHUB_TOKEN is not set" in record.message for record in caplog.records)


async def test_read_pull_request_activity_and_etag_revalidation(clients, fake):
    # Checks that stay queued: two reads a moment apart must see the same PR and checks.
    ref = await open_pr(fake, "GH-PR", delays={"checks_seconds": 3600})
    pull = f"/_admin/pulls/{ref.owner}/{ref.repo}/{ref.number}"
    await fake.post(f"{pull}/review", json={"state": "CHANGES_REQUESTED", "body": "r" * (REVIEW_BODY_CHARS + 10)})
    await fake.post(f"{pull}/review", json={"state": "APPROVED"})
    env = ActivityEnvironment()
    activities = GitHubActivities(clients.github)
    first = await env.run(activities.read_pull_request, ref)
    second = await env.run(activities.read_pull_request, ref)
    assert first == second
    assert first.pr.state == "open" and not first.pr.merged and first.pr.base_ref == "main"
    assert first.pr.html_url.endswith(f"/pull/{ref.number}")
    # The checks come from the PR's head commit, in the same read.
    assert first.checks and {check.head_sha for check in first.checks} == {first.pr.head_sha}
    # So do its reviews, oldest first, spelled as webhooks spell them, their bodies bounded.
    assert [(r.reviewer, r.state) for r in first.reviews] == [("fake-reviewer", "changes_requested"), ("fake-reviewer", "approved")]
    assert first.reviews[0].body == "r" * REVIEW_BODY_CHARS + TRUNCATION_MARKER.format(count=10)
    assert {r.commit_id for r in first.reviews} == {first.pr.head_sha}
    counters = (await fake.get("/_admin/counters")).json()
    for endpoint in ("pulls/{number}", "pulls/{number}/reviews", "commits/{sha}/check-runs"):
        assert requests_to(counters, f"GET /repos/{{owner}}/{{repo}}/{endpoint}").get("304", 0) >= 1, endpoint

    await fake.post(f"/_admin/pulls/{ref.owner}/{ref.repo}/{ref.number}/merge")
    merged_read = await env.run(activities.read_pull_request, ref)
    merged = merged_read.pr
    assert merged.merged and merged.merged_at is not None and merged.status == "merged"
    assert merged.merged_by == "octo-maintainer" and first.pr.merged_by is None
    # A closed PR's task ends on the read: its checks and reviews are not asked for.
    assert (merged_read.checks, merged_read.reviews) == ([], [])
    after = (await fake.get("/_admin/counters")).json()
    for endpoint in ("pulls/{number}/reviews", "commits/{sha}/check-runs"):
        path = f"GET /repos/{{owner}}/{{repo}}/{endpoint}"
        assert requests_to(after, path) == requests_to(counters, path), endpoint


async def test_check_runs_follow_pagination_and_keep_the_latest_per_name(clients, fake):
    names = [f"suite-{i:03d}" for i in range(150)]
    ref = await open_pr(fake, "GH-CHECKS", check_names=names, check_output_chars=CHECK_SUMMARY_CHARS + 500, delays={"checks_seconds": 0})
    sha = (await clients.github.get_pull_request(ref)).head_sha
    await fake.post(f"/_admin/pulls/{ref.owner}/{ref.repo}/{ref.number}/checks", json={"conclusion": "failure", "names": ["suite-007"]})
    before = requests_to((await fake.get("/_admin/counters")).json(), "GET /repos/{owner}/{repo}/commits/{sha}/check-runs")

    result = await ActivityEnvironment().run(GitHubActivities(clients.github).list_check_runs, CheckRunsInput(ref=ref, sha=sha))
    after = requests_to((await fake.get("/_admin/counters")).json(), "GET /repos/{owner}/{repo}/commits/{sha}/check-runs")
    assert after.get("200", 0) - before.get("200", 0) == 2  # 150 runs at 100 per page
    assert [check.name for check in result.checks] == names
    rerun = next(check for check in result.checks if check.name == "suite-007")
    # Reads carry no logs, and summaries cut to their bound.
    assert rerun.conclusion == "failure" and rerun.output_title and "output_text" not in rerun.model_dump()
    assert rerun.output_summary == (rerun.output_summary or "")[:CHECK_SUMMARY_CHARS] + TRUNCATION_MARKER.format(count=500)
    assert {check.conclusion for check in result.checks if check.name != "suite-007"} == {"success"}

    # Read again: both pages answer 304 (no rate limit spent), and the cached pages give the same result.
    again = await ActivityEnvironment().run(GitHubActivities(clients.github).list_check_runs, CheckRunsInput(ref=ref, sha=sha))
    revalidated = requests_to((await fake.get("/_admin/counters")).json(), "GET /repos/{owner}/{repo}/commits/{sha}/check-runs")
    assert revalidated.get("304", 0) - after.get("304", 0) == 2 and revalidated.get("200", 0) == after.get("200", 0)
    assert again == result


async def test_latest_per_name_across_pages_even_when_github_repeats_a_name():
    pages = {
        1: [{"id": 1, "name": "test", "conclusion": "success"}, {"id": 2, "name": "lint", "conclusion": "success"}],
        2: [{"id": 9, "name": "test", "conclusion": "failure"}],
    }

    def respond(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", 1))
        runs = [{**run, "head_sha": "c" * 40, "status": "completed", "output": {"title": f"#{run['id']}"}} for run in pages[page]]
        headers = {"link": f'<{request.url.copy_set_param("page", 2)}>; rel="next"'} if page == 1 else {}
        return httpx.Response(200, json={"total_count": 3, "check_runs": runs}, headers=headers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(respond), base_url="https://api.github.com") as http:
        checks = await GitHubClient(http).list_check_runs(PullRequestRef(owner="o", repo="r", number=1), "c" * 40)
    assert [(c.name, c.conclusion, c.output_title) for c in checks] == [("lint", "success", "#2"), ("test", "failure", "#9")]


async def test_failing_check_outputs_are_read_for_the_named_checks_only_and_bounded(clients, fake):
    names = ["build", "lint", "test", "types"]
    ref = await open_pr(fake, "GH-OUTPUTS", check_names=names, check_output_chars=65_535, delays={"checks_seconds": 3600})
    sha = (await clients.github.get_pull_request(ref)).head_sha
    await fake.post(f"/_admin/pulls/{ref.owner}/{ref.repo}/{ref.number}/checks", json={"conclusion": "failure", "names": names})
    budget = CHECK_SUMMARY_CHARS + CHECK_TEXT_CHARS + CHECK_SUMMARY_CHARS + 100
    request = CheckOutputsInput(ref=ref, sha=sha, names=["types", "lint", "test", "not-a-check"], max_chars=budget)

    result = await ActivityEnvironment().run(GitHubActivities(clients.github).read_check_outputs, request)
    cut = TRUNCATION_MARKER.format
    # By name; each cut to its own bound until the budget runs out, so the last has only the marker of its log.
    assert [o.name for o in result.outputs] == ["lint", "test", "types"]
    lint, test, types = result.outputs
    assert lint.summary and lint.summary.endswith(cut(count=65_535 - CHECK_SUMMARY_CHARS))
    assert lint.text and lint.text.startswith("FAILED tests/test_lint.py") and lint.text.endswith(cut(count=65_535 - CHECK_TEXT_CHARS))
    assert test.summary and test.summary.endswith(cut(count=65_535 - CHECK_SUMMARY_CHARS))
    assert test.text and test.text.endswith(cut(count=65_535 - 100)) and len(test.text) == 100 + len(cut(count=65_535 - 100))
    assert (types.summary, types.text) == (cut(count=65_535), cut(count=65_535))
    kept = sum(len(text.partition("… [truncated")[0]) for o in result.outputs for text in (o.summary or "", o.text or ""))
    assert kept == budget


async def test_reviews_are_read_across_pages_lower_cased_without_drafts_and_revalidated():
    pages = {
        1: [
            {
                "id": 1,
                "user": {"login": "alice"},
                "state": "CHANGES_REQUESTED",
                "submitted_at": "2026-01-01T00:00:00Z",
                "body": "b" * 5000,
                "commit_id": "a" * 40,
            },
            {"id": 2, "user": {"login": "bob"}, "state": "PENDING", "body": "a draft only bob sees"},
            {"id": 3, "user": None, "state": "APPROVED", "submitted_at": "2026-01-01T00:01:00Z", "body": ""},
        ],
        2: [{"id": 4, "user": {"login": "alice"}, "state": "DISMISSED", "submitted_at": "2026-01-01T00:00:00Z", "body": None}],
    }
    answered: list[int] = []

    def respond(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", 1))
        etag = f'"reviews-{page}"'
        if request.headers.get("if-none-match") == etag:
            answered.append(304)
            return httpx.Response(304, headers={"etag": etag})
        answered.append(200)
        headers = {"etag": etag} | ({"link": f'<{request.url.copy_set_param("page", 2)}>; rel="next"'} if page == 1 else {})
        return httpx.Response(200, json=pages[page], headers=headers)

    ref = PullRequestRef(owner="o", repo="r", number=1)
    async with httpx.AsyncClient(transport=httpx.MockTransport(respond), base_url="https://api.github.com") as http:
        client = GitHubClient(http)
        reviews = await client.list_reviews(ref)
        again = await client.list_reviews(ref)
    # The head each was given on, when GitHub says (a review of a commit since deleted has none).
    assert [(r.id, r.reviewer, r.state, r.commit_id) for r in reviews] == [
        (1, "alice", "changes_requested", "a" * 40),
        (4, "alice", "dismissed", None),
    ]
    assert reviews[0].body == "b" * REVIEW_BODY_CHARS + TRUNCATION_MARKER.format(count=1000)
    assert isinstance(reviews[0], ReviewState) and reviews[0].submitted_at and reviews[0].submitted_at.minute == 0
    assert again == reviews and answered == [200, 200, 304, 304]


async def test_a_reviews_line_comments_are_read_across_pages(clients, fake):
    ref = await open_pr(fake, "GH-REVIEW")
    comments = [{"path": f"src/module_{i:03d}.py", "line": i + 1, "body": f"Point {i}."} for i in range(120)]
    comments.append({"path": "README.md", "body": "On the whole file."})
    pull = f"/_admin/pulls/{ref.owner}/{ref.repo}/{ref.number}"
    await fake.post(f"{pull}/review", json={"state": "CHANGES_REQUESTED", "comments": comments})
    await fake.post(f"{pull}/review", json={"state": "COMMENTED", "comments": [{"path": "other.py", "line": 1, "body": "Another review."}]})
    reviews = (await fake.get(f"/repos/{ref.owner}/{ref.repo}/pulls/{ref.number}/reviews")).json()
    review_id = next(review["id"] for review in reviews if review["state"] == "CHANGES_REQUESTED")

    result = await ActivityEnvironment().run(GitHubActivities(clients.github).read_review_comments, ReviewCommentsInput(ref=ref, review_id=review_id))
    assert result.review_id == review_id and len(result.comments) == 121  # 100 per page: two pages
    assert result.comments[0].located() == "src/module_000.py:1: Point 0."
    assert result.comments[-1].located() == "README.md: On the whole file."

    with pytest.raises(ApplicationError) as caught:
        await clients.github.list_review_comments(ref, 999_999_999)
    assert caught.value.type == "NotFound" and caught.value.non_retryable


RATE_LIMIT_CASES = [
    ("primary", 403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "{reset}"}, "RateLimited", 120),
    ("secondary 403", 403, {"retry-after": "30"}, "RateLimited", 30),
    ("secondary 429", 429, {"retry-after": "3"}, "RateLimited", 3),
    ("forbidden", 403, {"x-ratelimit-remaining": "4000"}, "AuthError", None),
    ("bad credentials", 401, {}, "AuthError", None),
    ("missing", 404, {}, "NotFound", None),
    ("validation", 422, {}, "InvalidRequest", None),
    ("outage", 502, {}, "ServiceUnavailable", None),
]


@pytest.mark.parametrize(("case", "status", "headers", "error_type", "delay"), RATE_LIMIT_CASES, ids=[c[0] for c in RATE_LIMIT_CASES])
async def test_rate_limits_and_errors(clients, fake, case, status, headers, error_type, delay):
    reset = int(time.time()) + 120
    headers = {name: value.format(reset=reset) for name, value in headers.items()}
    message = f"API rate limit exceeded ({case})"
    await fake.post(
        "/_admin/inject",
        json={"path_contains": "/repos/rl/limited/pulls/1", "status": status, "headers": headers, "body": {"message": message}},
    )
    with pytest.raises(ApplicationError) as caught:
        await clients.github.get_pull_request(PullRequestRef(owner="rl", repo="limited", number=1))
    error = caught.value
    assert error.type == error_type and message in error.message
    assert error.non_retryable is (error_type in ("AuthError", "NotFound", "InvalidRequest"))
    if delay is None:
        assert error.next_retry_delay is None
    else:
        assert timedelta(seconds=delay - 3) <= error.next_retry_delay <= timedelta(seconds=delay)
    assert "ghp_test" not in f"{error.message} {json.dumps(error.details)}"
