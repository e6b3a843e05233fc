"""Merging through GitHub: update-branch, merge and compare, the client and activities against the fake over HTTP,
and the fake's side of it (mergeable states, a base that moves with its signed push webhook, branch protection)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.github import GitHubActivities, GitHubClient
from activities.service_clients import ServiceClients
from devstack.services import serve_app, serve_fake
from fakes import FakeConfig
from fakes.github_payloads import TOKEN_LOGIN
from models.bounds import COMMIT_MESSAGE_CHARS, COMPARE_COMMITS, TRUNCATION_MARKER
from models.codegen import PullRequestRef
from models.github import CompareWithBaseInput, MergeInput, UpdateBranchInput
from settings import Settings
from tests.fake_services import AUTH, WebhookReceiver, finished_run
from tests.waiting import wait_until
from worker import build_service_clients

SECRET = "merge-test-secret"
FAST = {"run_seconds": 0.01, "checks_seconds": 0.01, "review_seconds": 0.01, "merge_seconds": 0.01}


@pytest_asyncio.fixture(scope="module")
async def hooks() -> AsyncIterator[tuple[WebhookReceiver, str]]:
    receiver = WebhookReceiver(SECRET)
    async with serve_app(receiver.app) as url:
        yield receiver, url


@pytest_asyncio.fixture(scope="module")
async def fake_url(hooks: tuple[WebhookReceiver, str]) -> AsyncIterator[str]:
    async with serve_fake(FakeConfig(**FAST, relay_url=f"{hooks[1]}/webhooks/github", webhook_secret=SECRET)) as url:
        yield url


@pytest_asyncio.fixture
async def clients(fake_url: str) -> AsyncIterator[ServiceClients]:
    settings = Settings.from_env({"CODEGEN_API_KEY": "k", "CODEGEN_API_URL": fake_url, "GITHUB_API_URL": fake_url, "GITHUB_TOKEN": "ghp_test"})
    async with build_service_clients(settings) as built:
        yield built


@pytest.fixture
def github(clients: ServiceClients) -> GitHubClient:
    return clients.github


@pytest.fixture
def activities(clients: ServiceClients) -> GitHubActivities:
    return GitHubActivities(clients.github)


@pytest_asyncio.fixture
async def fake(fake_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake_url) as http:
        yield http


async def open_pr(fake: httpx.AsyncClient, repository: str | None = None, **scenario: Any) -> PullRequestRef:
    """A PR the fake leaves open, in a repository of its own unless named: a base that moves touches only it."""
    task_id = f"M-{uuid.uuid4().hex[:8]}"
    metadata = {
        "task_id": task_id,
        "attempt": 1,
        "repository": repository or f"merging/{task_id.lower()}",
        "scenario": {"outcome": "leave_open", **scenario},
    }
    created = await fake.post("/v1/organizations/1/agent/run", json={"prompt": f"Do {task_id}", "metadata": metadata}, headers=AUTH)
    assert created.status_code == 200, created.text
    run = await finished_run(fake, created.json()["id"])
    ref = PullRequestRef.from_url(run["github_pull_requests"][0]["url"])
    assert ref is not None
    return ref


async def push_to_base(fake: httpx.AsyncClient, ref: PullRequestRef, **body: Any) -> dict[str, Any]:
    response = await fake.post(f"/_admin/repos/{ref.repository}/push", json={"branch": "main", **body})
    assert response.status_code == 200, response.text
    return response.json()


async def base_head(fake: httpx.AsyncClient, ref: PullRequestRef) -> str:
    return (await fake.get(f"/repos/{ref.repository}/pulls/{ref.number}")).json()["base"]["sha"]


async def refused(call: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await call
    return caught.value


async def writes(fake: httpx.AsyncClient) -> dict[str, dict[str, int]]:
    return (await fake.get("/_admin/counters")).json()["pull_request_writes"]


async def merge_requests(fake: httpx.AsyncClient, ref: PullRequestRef) -> list[dict[str, Any]]:
    return (await fake.get(f"/_admin/pulls/{ref.repository}/{ref.number}")).json()["merge_requests"]


async def agent_run_of(fake: httpx.AsyncClient, ref: PullRequestRef) -> int:
    """The id of the agent run that opened the PR."""
    runs = (await fake.get("/v1/organizations/1/agent/runs", headers=AUTH)).json()["items"]
    url = f"/{ref.repository}/pull/{ref.number}"
    return next(run["id"] for run in runs if any(pr["url"].endswith(url) for pr in run["github_pull_requests"]))


async def resume(fake: httpx.AsyncClient, run_id: int, prompt: str) -> None:
    body = {"agent_run_id": run_id, "prompt": prompt}
    resumed = await fake.post("/v1/organizations/1/agent/run/resume", json=body, headers=AUTH)
    assert resumed.status_code == 200, resumed.text


async def green(github: GitHubClient, ref: PullRequestRef, sha: str) -> bool:
    checks = await github.list_check_runs(ref, sha)
    return bool(checks) and all(check.status == "completed" and check.conclusion == "success" for check in checks)


async def test_a_base_that_moves_sends_a_signed_push_and_the_pr_reads_null_then_behind(github, fake, hooks):
    receiver = hooks[0]
    ref = await open_pr(fake)
    opened = await github.get_pull_request(ref)
    assert (opened.mergeable, opened.mergeable_state) == (True, "clean")

    moved = await push_to_base(fake, ref, message="Bump the parser")
    first, second = await github.get_pull_request(ref), await github.get_pull_request(ref)
    # GitHub computes mergeability in the background: the first read after a change says null.
    assert (first.mergeable, first.mergeable_state) == (None, "unknown")
    assert (second.mergeable, second.mergeable_state) == (True, "behind")

    push = await wait_until(
        lambda: next((hook for hook in receiver.received if hook.event == "push" and hook.payload["after"] == moved["after"]), None),
        what="the push webhook",
    )
    assert push.signature_valid
    assert push.payload["ref"] == "refs/heads/main" and push.payload["before"] == moved["before"]
    assert push.payload["repository"]["full_name"] == ref.repository
    assert [commit["message"] for commit in push.payload["commits"]] == ["Bump the parser"]
    assert push.payload["head_commit"]["id"] == moved["after"]
    log = (await fake.get("/_admin/webhooks")).json()
    assert any(entry["event"] == "push" and entry["key"] == ref.repository for entry in log)


async def test_update_branch_merges_the_base_in_then_has_nothing_left_to_do(github, activities, fake, hooks):
    receiver = hooks[0]
    ref = await open_pr(fake)
    await push_to_base(fake, ref)
    head = (await github.get_pull_request(ref)).head_sha
    env = ActivityEnvironment()

    stale = await refused(env.run(activities.update_pull_request_branch, UpdateBranchInput(ref=ref, expected_head_sha="0" * 40)))
    assert stale.type == "HeadChanged" and stale.non_retryable and "422" in stale.message

    result = await env.run(activities.update_pull_request_branch, UpdateBranchInput(ref=ref, expected_head_sha=head))
    assert result.updated and result.message == "Updating pull request branch."
    updated = await github.get_pull_request(ref)
    assert updated.head_sha != head and updated.mergeable is None  # a new head: mergeability computed again
    again = await github.get_pull_request(ref)
    assert (again.mergeable, again.mergeable_state) == (True, "clean")
    # The new head gets a synchronize webhook and its own checks.
    await wait_until(
        lambda: any(h.event == "pull_request" and h.action == "synchronize" and h.payload["after"] == updated.head_sha for h in receiver.received),
        what="the synchronize webhook",
    )
    assert {check.head_sha for check in await github.list_check_runs(ref, updated.head_sha)} == {updated.head_sha}

    nothing = await env.run(activities.update_pull_request_branch, UpdateBranchInput(ref=ref, expected_head_sha=updated.head_sha))
    assert not nothing.updated and "no new commits" in nothing.message
    counted = (await writes(fake))["update_branch"]
    assert counted["updated"] >= 1 and counted["head_changed"] >= 1 and counted["up_to_date"] >= 1


async def test_update_branch_refuses_a_conflicting_branch(github, fake):
    ref = await open_pr(fake)
    await push_to_base(fake, ref, conflicts_with=[ref.number])
    await github.get_pull_request(ref)  # the read right after the move says null
    info = await github.get_pull_request(ref)
    assert (info.mergeable, info.mergeable_state) == (False, "dirty")
    error = await refused(github.update_branch(ref, info.head_sha))
    assert error.type == "MergeConflict" and error.non_retryable and "merge conflict between base and head" in error.message


async def test_merge_lands_on_the_base_which_moves_under_the_other_open_prs(github, activities, fake, hooks):
    receiver = hooks[0]
    merging = await open_pr(fake)
    other = await open_pr(fake, repository=merging.repository)
    unrelated = await open_pr(fake, repository=merging.repository, conflicts_with_merges=True)
    head = (await github.get_pull_request(merging)).head_sha
    env = ActivityEnvironment()

    moved = await refused(env.run(activities.merge_pull_request, MergeInput(ref=merging, sha="f" * 40)))
    assert moved.type == "HeadChanged" and moved.non_retryable and "Head branch was modified" in moved.message

    result = await env.run(activities.merge_pull_request, MergeInput(ref=merging, sha=head, method="squash", title="Add the widget"))
    assert result.merged and result.message == "Pull Request successfully merged"
    merged = await github.get_pull_request(merging)
    assert merged.merged and merged.merge_commit_sha == result.sha and merged.merged_by == TOKEN_LOGIN
    # The squash commit is the base's new head, with the PR's files.
    landed = await github.compare(merging.repository, head, "main")
    assert [commit.message for commit in landed.commits] == [f"Add the widget (#{merging.number})"]
    assert {changed.filename for changed in landed.files} == {f"src/{_slug(merged.head_ref)}.py", f"tests/test_{_slug(merged.head_ref)}.py"}

    for ref, expected in ((other, (True, "behind")), (unrelated, (False, "dirty"))):
        await github.get_pull_request(ref)  # the read right after the move says null
        info = await github.get_pull_request(ref)
        assert (info.mergeable, info.mergeable_state) == expected, ref

    await wait_until(lambda: any(h.event == "push" and h.payload["after"] == result.sha for h in receiver.received), what="push")
    closed = [h for h in receiver.for_pull(merging.repository, merging.number) if h.action == "closed"]
    assert closed and closed[0].payload["pull_request"]["merged"] and closed[0].payload["pull_request"]["merge_commit_sha"] == result.sha

    again = await refused(github.merge(merging, head))
    assert again.type == "NotMergeable" and again.non_retryable
    assert (await writes(fake))["merge"]["merged"] >= 1


async def test_merge_commits_and_rebases_land_as_github_lands_them(github, fake):
    merged_ref = await open_pr(fake)
    before = await base_head(fake, merged_ref)
    result = await github.merge(merged_ref, (await github.get_pull_request(merged_ref)).head_sha)
    landed = (await github.compare(merged_ref.repository, before, "main")).commits
    assert landed[-1].sha == result.sha and landed[-1].message.startswith(f"Merge pull request #{merged_ref.number} from ")

    rebased_ref = await open_pr(fake)
    await fake.post(f"/_admin/pulls/{rebased_ref.repository}/{rebased_ref.number}/push")
    pr = await github.get_pull_request(rebased_ref)
    before = await base_head(fake, rebased_ref)
    result = await github.merge(rebased_ref, pr.head_sha, "rebase")
    replayed = (await github.compare(rebased_ref.repository, before, "main")).commits
    # Each of the PR's commits replayed on the base, as new commits.
    assert [commit.message for commit in replayed] == [f"Do {_task(pr.head_ref)}", "Follow-up changes"]
    assert replayed[-1].sha == result.sha and pr.head_sha not in {commit.sha for commit in replayed}


async def test_a_merge_retried_after_its_answer_was_lost_returns_the_merge_it_made(github, activities, fake):
    ref, queued = await open_pr(fake), await open_pr(fake, merge_queue=True)
    head = (await github.get_pull_request(ref)).head_sha
    lost = {"method": "PUT", "path_contains": f"/pulls/{ref.number}/merge", "status": 502, "after_effect": True}
    assert (await fake.post("/_admin/inject", json=lost)).status_code == 200
    first, retry = ActivityEnvironment(), ActivityEnvironment()
    retry.info = dataclasses.replace(retry.info, attempt=2)

    answer = await refused(first.run(activities.merge_pull_request, MergeInput(ref=ref, sha=head)))
    assert not answer.non_retryable  # a 502: Temporal tries again
    result = await retry.run(activities.merge_pull_request, MergeInput(ref=ref, sha=head))
    merged = await github.get_pull_request(ref)
    assert result.merged and result.sha == merged.merge_commit_sha and merged.merged_by == TOKEN_LOGIN
    # A first try finding the PR merged merged nothing itself (a person may have); a retry refused for
    # another reason stays refused.
    assert (await refused(first.run(activities.merge_pull_request, MergeInput(ref=ref, sha=head)))).type == "NotMergeable"
    queued_head = (await github.get_pull_request(queued)).head_sha
    still = await refused(retry.run(activities.merge_pull_request, MergeInput(ref=queued, sha=queued_head)))
    assert still.type == "NotMergeable" and still.details[0]["blocker"] == "merge_queue"


@pytest.mark.parametrize(
    ("scenario", "blocker", "state"),
    [
        ({"merge_queue": True}, "merge_queue", "clean"),
        ({"branch_protection": {"required_approvals": 1}}, "reviews", "blocked"),
        ({"branch_protection": {"required_checks": ["test"]}, "delays": {"checks_seconds": 3600}}, "checks", "blocked"),
    ],
    ids=["merge queue", "approvals", "required checks"],
)
async def test_merge_refused_405_names_what_blocks_it(github, fake, scenario, blocker, state):
    ref = await open_pr(fake, **scenario)
    info = await github.get_pull_request(ref)
    assert info.mergeable_state == state
    error = await refused(github.merge(ref, info.head_sha))
    assert error.type == "NotMergeable" and error.non_retryable and "405" in error.message
    assert error.details[0]["blocker"] == blocker
    assert (await writes(fake))["merge"]["not_mergeable"] >= 1


async def test_protection_passes_once_approved_green_and_up_to_date(github, fake):
    protection = {"required_approvals": 1, "required_checks": ["test"], "require_up_to_date": True}
    ref = await open_pr(fake, branch_protection=protection, delays={"checks_seconds": 3600})
    pull = f"/_admin/pulls/{ref.repository}/{ref.number}"
    await fake.post(f"{pull}/review", json={"state": "APPROVED"})
    await fake.post(f"{pull}/checks", json={"conclusion": "success", "names": ["test"]})
    assert (await github.get_pull_request(ref)).mergeable_state == "unstable"  # "build" is not required, nor green
    await fake.post(f"{pull}/checks", json={"conclusion": "success", "names": ["build"]})
    assert (await github.get_pull_request(ref)).mergeable_state == "clean"

    await push_to_base(fake, ref)
    head = (await github.get_pull_request(ref)).head_sha
    behind = await refused(github.merge(ref, head))
    assert behind.type == "NotMergeable" and behind.details[0]["blocker"] == "behind"
    assert (await github.update_branch(ref, head)).updated
    updated = (await github.get_pull_request(ref)).head_sha
    await fake.post(f"{pull}/checks", json={"conclusion": "success"})
    assert (await github.merge(ref, updated)).merged


async def test_writes_without_permission_are_403_naming_the_permission(github, fake):
    ref = await open_pr(fake, write_forbidden=True)
    info = await github.get_pull_request(ref)  # reads still work
    for call, needs in ((github.merge(ref, info.head_sha), "contents=write"), (github.update_branch(ref, info.head_sha), "pull_requests=write")):
        error = await refused(call)
        assert error.type == "MissingPermission" and error.non_retryable
        assert error.details[0]["needs"] == needs and "Resource not accessible by integration" in error.message and needs in error.message
    assert (await writes(fake))["merge"]["forbidden"] >= 1


async def test_compare_with_base_names_the_bases_commits_and_the_files_both_sides_changed(github, activities, fake):
    ref = await open_pr(fake, base_moves="conflicting")
    await github.get_pull_request(ref)  # the read right after the move says null
    info = await github.get_pull_request(ref)
    assert (info.mergeable, info.mergeable_state) == (False, "dirty")
    long_message = "Refactor the loader\n\n" + "x" * (COMMIT_MESSAGE_CHARS + 50)
    for index in range(COMPARE_COMMITS + 4):
        await push_to_base(fake, ref, message=long_message if index == COMPARE_COMMITS + 3 else f"Base change {index}")

    comparison = await ActivityEnvironment().run(
        activities.compare_with_base, CompareWithBaseInput(ref=ref, base_ref=info.base_ref, head_sha=info.head_sha)
    )
    assert (comparison.status, comparison.ahead_by, comparison.behind_by) == ("diverged", 1, COMPARE_COMMITS + 5)
    assert comparison.base_commits_total == COMPARE_COMMITS + 5 and len(comparison.base_commits) == COMPARE_COMMITS
    assert comparison.base_commits[-1].message.endswith(TRUNCATION_MARKER.format(count=len(long_message) - COMMIT_MESSAGE_CHARS))
    assert comparison.base_commits[0].message == "Base change 4"  # the newest are kept
    assert comparison.files_changed_on_both_sides == [f"src/{_slug(info.head_ref)}.py"]

    missing = await refused(github.compare(ref.repository, "main", "no-such-branch"))
    assert missing.type == "NotFound"


async def test_a_conflicting_pr_waits_for_the_agent_to_resolve_it_then_the_fake_merges_it(github, fake):
    ref = await open_pr(fake, base_moves="conflicting", outcome="merge")
    head = (await github.get_pull_request(ref)).head_sha

    async def checks_done() -> bool:
        return all(check.status == "completed" for check in await github.list_check_runs(ref, head))

    await wait_until(checks_done, what="checks")
    await asyncio.sleep(FAST["merge_seconds"] * 10)
    assert not (await github.get_pull_request(ref)).merged  # green, but GitHub would not merge a conflict
    await resume(fake, await agent_run_of(fake, ref), "Resolve the conflict.")

    async def merged() -> bool:
        return (await github.get_pull_request(ref)).merged

    await wait_until(merged, what="the resolved PR to merge")
    # The fake's lifecycle merges as a person.
    assert (await github.get_pull_request(ref)).merged_by == "octo-maintainer"


async def test_a_merge_makes_another_pr_conflict_the_agents_resume_resolves_it_and_it_merges(github, fake, hooks):
    receiver = hooks[0]
    first = await open_pr(fake, conflicts_with_merges=True)
    second = await open_pr(fake, repository=first.repository, conflicts_with_merges=True)
    first_head = (await github.get_pull_request(first)).head_sha
    old_head = (await github.get_pull_request(second)).head_sha
    await wait_until(lambda: green(github, first, first_head), what="the first PR's checks")

    landed = await github.merge(first, first_head)
    await github.get_pull_request(second)  # the read right after the move says null
    conflicting = await github.get_pull_request(second)
    assert (conflicting.mergeable, conflicting.mergeable_state) == (False, "dirty")
    await wait_until(lambda: any(h.event == "push" and h.payload["after"] == landed.sha for h in receiver.received), what="push")

    run_id = await agent_run_of(fake, second)
    await resume(fake, run_id, "Resolve the conflicts with main.")
    assert (await finished_run(fake, run_id))["status"] == "COMPLETE"
    resolved = await github.get_pull_request(second)
    assert resolved.head_sha != old_head and resolved.mergeable is None  # a new head: mergeability computed again
    again = await github.get_pull_request(second)
    assert (again.mergeable, again.mergeable_state) == (True, "clean")
    # The new head merged the base in: it has the first PR's merge, and nothing of the base is missing.
    since = await github.compare(second.repository, old_head, resolved.head_sha)
    assert landed.sha in {commit.sha for commit in since.commits}
    assert since.commits[-1].message.startswith("Merge branch 'main' into ")
    against_base = await github.compare(second.repository, "main", resolved.head_sha)
    assert (against_base.status, against_base.behind_by) == ("ahead", 0)

    await wait_until(lambda: green(github, second, resolved.head_sha), what="the new head's checks")
    assert (await github.merge(second, resolved.head_sha)).merged
    assert (await github.get_pull_request(second)).merged_by == TOKEN_LOGIN
    assert await merge_requests(fake, second) == [
        {"sha": resolved.head_sha, "head": resolved.head_sha, "head_checks_passed": True, "outcome": "merged"}
    ]


async def test_a_push_racing_the_first_merge_makes_it_409_and_the_new_head_merges_once_green(github, fake, hooks):
    receiver = hooks[0]
    ref = await open_pr(fake, push_before_merge=True)
    judged = (await github.get_pull_request(ref)).head_sha
    await wait_until(lambda: green(github, ref, judged), what="checks")

    raced = await refused(github.merge(ref, judged))
    assert raced.type == "HeadChanged" and "409" in raced.message and "Head branch was modified" in raced.message
    pushed = (await github.get_pull_request(ref)).head_sha
    assert pushed != judged
    await wait_until(
        lambda: [h for h in receiver.for_pull(ref.repository, ref.number) if h.action == "synchronize" and h.payload["after"] == pushed],
        what="the synchronize webhook",
    )
    # The pushed head's checks run and pass by themselves, as the scenario's checks do.
    await wait_until(lambda: green(github, ref, pushed), what="the pushed head's checks")
    assert (await github.merge(ref, pushed)).merged
    assert await merge_requests(fake, ref) == [
        {"sha": judged, "head": pushed, "head_checks_passed": True, "outcome": "head_changed"},
        {"sha": pushed, "head": pushed, "head_checks_passed": True, "outcome": "merged"},
    ]


async def test_a_merge_asked_before_the_heads_checks_finish_is_recorded_as_such(github, fake):
    ref = await open_pr(fake, delays={"checks_seconds": 3600})
    head = (await github.get_pull_request(ref)).head_sha
    assert (await github.merge(ref, head)).merged  # nothing protects this base
    asked = {"sha": head, "head": head, "head_checks_passed": False, "outcome": "merged"}
    assert await merge_requests(fake, ref) == [asked]


def _slug(head_ref: str) -> str:
    """The file the fake's PR changes, from its branch `codegen-bot/<task>-<attempt>-<run>`."""
    return _task(head_ref).lower().replace("-", "_")


def _task(head_ref: str) -> str:
    return head_ref.removeprefix("codegen-bot/").rsplit("-", 2)[0]
