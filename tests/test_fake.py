"""The fake Codegen + GitHub: contract, lifecycle, scenarios, faults, admin, signed webhooks."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from devstack.services import run_fake_process, serve_app, serve_fake
from fakes import FakeConfig, create_app
from fakes.config import MOCK_GITHUB_HTML_URL
from tests.fake_services import AUTH, WebhookReceiver, create_run, finished_run
from tests.waiting import wait_until
from webhooks.payloads import parse_event

SECRET = "fake-test-secret"
FAST = {"run_seconds": 0.02, "checks_seconds": 0.02, "review_seconds": 0.02, "merge_seconds": 0.02}


@pytest_asyncio.fixture(scope="module")
async def receiver() -> AsyncIterator[tuple[WebhookReceiver, str]]:
    hooks = WebhookReceiver(SECRET)
    async with serve_app(hooks.app) as url:
        yield hooks, f"{url}/webhooks/github"


@pytest_asyncio.fixture(scope="module")
async def fake(receiver: tuple[WebhookReceiver, str]) -> AsyncIterator[httpx.AsyncClient]:
    config = FakeConfig(**FAST, relay_url=receiver[1], webhook_secret=SECRET, org_ids=["1"])
    async with serve_fake(config) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


@pytest.fixture
def hooks(receiver: tuple[WebhookReceiver, str]) -> WebhookReceiver:
    return receiver[0]


def task_id() -> str:
    return f"T-{uuid.uuid4().hex[:8]}"


def pr_of(run: dict) -> tuple[str, int]:
    url = run["github_pull_requests"][0]["url"]
    owner, repo, _, number = url.removeprefix(f"{MOCK_GITHUB_HTML_URL}/").split("/")
    return f"{owner}/{repo}", int(number)


async def test_happy_path_opens_a_pr_whose_checks_pass_then_merges_with_signed_webhooks(fake, hooks):
    tid = task_id()
    created = await create_run(fake, tid, review="approve")
    assert created["status"] == "ACTIVE" and created["github_pull_requests"] == []
    run = await finished_run(fake, created["id"])
    assert run["status"] == "COMPLETE"
    entry = run["github_pull_requests"][0]
    assert entry["head_branch_name"] and entry["url"].startswith("https://mock-github.invalid/acme/widgets/pull/")
    repository, number = pr_of(run)

    pr = await wait_until(
        lambda: [h for h in hooks.for_pull(repository, number) if h.event == "pull_request" and h.action == "closed"],
        what="the merge webhook",
    )
    assert pr[0].payload["pull_request"]["merged"] is True
    events = [(h.event, h.action) for h in hooks.for_pull(repository, number)]
    assert events == [
        ("pull_request", "opened"),
        ("check_run", "completed"),
        ("check_run", "completed"),
        ("check_suite", "completed"),
        ("pull_request_review", "submitted"),
        ("pull_request", "closed"),
    ]
    received = hooks.for_pull(repository, number)
    assert all(h.signature_valid for h in received)
    # The relay's own payload models read every delivery.
    assert all(parse_event(h.event, h.payload) is not None for h in received)
    assert len({h.delivery_id for h in received}) == len(received)
    review = next(h for h in received if h.event == "pull_request_review")
    assert review.payload["review"]["state"] == "approved"
    opened = received[0].payload["pull_request"]
    assert f"Task-ID: {tid}" in opened["body"].splitlines()
    assert opened["head"]["ref"] == entry["head_branch_name"]

    rest = (await fake.get(f"/repos/{repository}/pulls/{number}")).json()
    assert rest["state"] == "closed" and rest["merged"] is True and rest["merged_at"]
    assert rest["merged_by"]["login"] == "octo-maintainer"  # the scenario's lifecycle merges as a person
    checks = (await fake.get(f"/repos/{repository}/commits/{rest['head']['sha']}/check-runs")).json()
    assert {c["conclusion"] for c in checks["check_runs"]} == {"success"}


async def test_pr_numbers_are_sequential_per_repository(fake):
    runs = [await create_run(fake, task_id(), outcome="leave_open") for _ in range(3)]
    numbers = [pr_of(await finished_run(fake, run["id"]))[1] for run in runs]
    assert numbers == sorted(numbers) and numbers[-1] - numbers[0] == 2


async def test_failed_and_pr_less_attempts_follow_the_scenario(fake):
    tid = task_id()
    scenario = {"fail_attempts": 1, "no_pr_attempts": 2, "outcome": "leave_open"}
    first = await finished_run(fake, (await create_run(fake, tid, 1, **scenario))["id"])
    second = await finished_run(fake, (await create_run(fake, tid, 2, **scenario))["id"])
    third = await finished_run(fake, (await create_run(fake, tid, 3, **scenario))["id"])
    assert (first["status"], first["github_pull_requests"]) == ("FAILED", [])
    assert (second["status"], second["github_pull_requests"]) == ("COMPLETE", [])
    assert third["status"] == "COMPLETE" and len(third["github_pull_requests"]) == 1


async def test_checks_fail_until_a_followup_pushes_a_commit(fake, hooks):
    run = await finished_run(fake, (await create_run(fake, task_id(), checks={"fail_until_followup": 1}))["id"])
    repository, number = pr_of(run)
    await wait_until(lambda: any(h.event == "check_suite" for h in hooks.for_pull(repository, number)), what="checks")
    suite = next(h for h in hooks.for_pull(repository, number) if h.event == "check_suite")
    assert suite.payload["check_suite"]["conclusion"] == "failure"
    failing = next(h for h in hooks.for_pull(repository, number) if h.event == "check_run")
    assert failing.payload["check_run"]["output"]["text"].startswith("FAILED")
    pr = (await fake.get(f"/repos/{repository}/pulls/{number}")).json()
    assert pr["state"] == "open"

    resumed = await fake.post("/v1/organizations/1/agent/run/resume", json={"agent_run_id": run["id"], "prompt": "Fix CI"}, headers=AUTH)
    assert resumed.status_code == 200 and resumed.json()["status"] == "ACTIVE"
    closed = await wait_until(
        lambda: [h for h in hooks.for_pull(repository, number) if h.action == "closed"], what="merge after the fix"
    )
    assert closed[0].payload["pull_request"]["merged"] is True
    sync = next(h for h in hooks.for_pull(repository, number) if h.action == "synchronize")
    assert sync.payload["before"] == pr["head"]["sha"] and sync.payload["after"] != pr["head"]["sha"]
    assert parse_event("pull_request", sync.payload).after == sync.payload["pull_request"]["head"]["sha"]
    suites = [h.payload["check_suite"]["conclusion"] for h in hooks.for_pull(repository, number) if h.event == "check_suite"]
    assert suites == ["failure", "success"]


async def test_changes_requested_then_approved_after_a_followup(fake, hooks):
    run = await finished_run(fake, (await create_run(fake, task_id(), review="changes_requested_then_approve"))["id"])
    repository, number = pr_of(run)
    await wait_until(lambda: any(h.event == "pull_request_review" for h in hooks.for_pull(repository, number)), what="review")
    await fake.post("/v1/organizations/1/agent/run/resume", json={"agent_run_id": run["id"], "prompt": "Address review"}, headers=AUTH)
    await wait_until(lambda: any(h.action == "closed" for h in hooks.for_pull(repository, number)), what="merge")
    reviews = [h.payload for h in hooks.for_pull(repository, number) if h.event == "pull_request_review"]
    assert [review["review"]["state"] for review in reviews] == ["changes_requested", "approved"]
    # Each review names the head it was given on: the first commit, then the follow-up's.
    heads = [review["pull_request"]["head"]["sha"] for review in reviews]
    assert [review["review"]["commit_id"] for review in reviews] == heads and heads[0] != heads[1]
    listed = (await fake.get(f"/repos/{repository}/pulls/{number}/reviews")).json()
    assert [review["commit_id"] for review in listed] == heads


async def test_outcome_close_closes_unmerged(fake, hooks):
    run = await finished_run(fake, (await create_run(fake, task_id(), outcome="close"))["id"])
    repository, number = pr_of(run)
    closed = await wait_until(lambda: [h for h in hooks.for_pull(repository, number) if h.action == "closed"], what="close")
    assert closed[0].payload["pull_request"]["merged"] is False


async def test_check_events_without_pull_requests_still_name_the_head_sha(fake, hooks):
    run = await finished_run(fake, (await create_run(fake, task_id(), check_events_without_pull_requests=True, outcome="leave_open"))["id"])
    repository, _ = pr_of(run)
    head = run["github_pull_requests"][0]["head_branch_name"]
    suites = await wait_until(
        lambda: [h for h in hooks.received if h.event == "check_suite" and h.payload["check_suite"]["head_branch"] == head],
        what="check_suite",
    )
    assert suites[0].payload["check_suite"]["pull_requests"] == []
    sha = suites[0].payload["check_suite"]["head_sha"]
    pulls = (await fake.get(f"/repos/{repository}/commits/{sha}/pulls")).json()
    assert [p["head"]["ref"] for p in pulls] == [head]


async def test_admin_actions_drive_a_pr_and_emit_webhooks(fake, hooks):
    run = await finished_run(fake, (await create_run(fake, task_id(), outcome="leave_open", delays={"checks_seconds": 60}))["id"])
    repository, number = pr_of(run)
    base = f"/_admin/pulls/{repository}/{number}"
    assert (await fake.post(f"{base}/checks", json={"conclusion": "failure", "names": ["build"]})).status_code == 200
    assert (await fake.post(f"{base}/push")).status_code == 200
    assert (await fake.post(f"{base}/review", json={"state": "approved"})).status_code == 200
    shapeless = await fake.post(f"{base}/review", json={"state": "commented", "comments": [{"line": 3}]})
    assert shapeless.status_code == 422 and '"path" and "body"' in shapeless.json()["message"]
    merged = await fake.post(f"{base}/merge")
    assert merged.json()["merged"] is True
    again = await fake.post(f"{base}/close")
    assert again.status_code == 409 and "merged" in again.json()["message"]
    await wait_until(lambda: any(h.action == "closed" for h in hooks.for_pull(repository, number)), what="merge hook")
    events = [(h.event, h.action) for h in hooks.for_pull(repository, number)]
    assert events == [
        ("pull_request", "opened"),
        ("check_run", "completed"),
        ("pull_request", "synchronize"),
        ("pull_request_review", "submitted"),
        ("pull_request", "closed"),
    ]


async def test_contract_errors(fake):
    no_auth = await fake.post("/v1/organizations/1/agent/run", json={"prompt": "x"})
    assert no_auth.status_code == 401 and no_auth.json()["status_code"] == 401
    other_org = await fake.get("/v1/organizations/2/agent/runs", headers=AUTH)
    assert other_org.status_code == 403 and other_org.json()["message"] == "You do not have access to this organization."
    no_prompt = await fake.post("/v1/organizations/1/agent/run", json={"metadata": {}}, headers=AUTH)
    assert no_prompt.status_code == 422 and no_prompt.json()["detail"][0]["loc"] == ["body", "prompt"]
    typo = await fake.post("/v1/organizations/1/agent/run", json={"prompt": "x", "metadata": {"scenario": {"fail_attemps": 1}}}, headers=AUTH)
    assert typo.status_code == 422 and typo.json()["detail"][0]["loc"][-1] == "fail_attemps"
    missing = await fake.get("/v1/organizations/1/agent/run/999999", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["message"] == "Agent run not found."
    no_pr = await fake.get("/repos/acme/widgets/pulls/999999")
    assert no_pr.status_code == 404 and no_pr.json()["message"] == "Not Found"


async def test_run_list_is_newest_first_and_paginated(fake):
    ids = [(await create_run(fake, task_id(), outcome="leave_open"))["id"] for _ in range(3)]
    page = (await fake.get("/v1/organizations/1/agent/runs", params={"skip": 0, "limit": 2}, headers=AUTH)).json()
    assert [run["id"] for run in page["items"]] == ids[::-1][:2]
    assert page["size"] == 2 and page["page"] == 1 and page["pages"] == -(-page["total"] // 2)
    second = (await fake.get("/v1/organizations/1/agent/runs", params={"skip": 2, "limit": 2}, headers=AUTH)).json()
    assert second["items"][0]["id"] == ids[0]
    bad = await fake.get("/v1/organizations/1/agent/runs", params={"limit": 500}, headers=AUTH)
    assert bad.status_code == 422


async def test_check_runs_paginate_with_link_headers_and_etags(fake):
    names = [f"check-{i:03d}" for i in range(45)]
    run = await finished_run(fake, (await create_run(fake, task_id(), check_names=names, outcome="leave_open"))["id"])
    repository, number = pr_of(run)
    sha = (await fake.get(f"/repos/{repository}/pulls/{number}")).json()["head"]["sha"]
    first = await fake.get(f"/repos/{repository}/commits/{sha}/check-runs", params={"per_page": 20})
    assert first.json()["total_count"] == 45 and len(first.json()["check_runs"]) == 20
    assert 'rel="next"' in first.headers["link"] and "page=2" in first.links["next"]["url"]
    last = await fake.get(first.links["last"]["url"])
    assert len(last.json()["check_runs"]) == 5 and "next" not in last.links
    cached = await fake.get(f"/repos/{repository}/pulls/{number}", headers={"If-None-Match": first.headers["etag"]})
    assert cached.status_code == 200  # a different document's ETag does not match
    pr = await fake.get(f"/repos/{repository}/pulls/{number}")
    not_modified = await fake.get(f"/repos/{repository}/pulls/{number}", headers={"If-None-Match": pr.headers["etag"]})
    assert not_modified.status_code == 304 and not_modified.content == b""


async def test_drop_create_response_creates_the_run_but_answers_500(fake):
    tid = task_id()
    metadata = {"task_id": tid, "workflow_id": "w", "attempt": 1, "scenario": {"drop_create_response": True}}
    lost = await fake.post("/v1/organizations/1/agent/run", json={"prompt": "x", "metadata": metadata}, headers=AUTH)
    assert lost.status_code == 500
    counters = (await fake.get("/_admin/counters")).json()
    assert counters["runs_created"][tid] == {"1": 1}


async def test_injected_responses_and_request_counters(fake):
    await fake.post("/_admin/inject", json={"path_contains": "/agent/runs", "status": 429, "headers": {"Retry-After": "7"}})
    limited = await fake.get("/v1/organizations/1/agent/runs", headers=AUTH)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert (await fake.get("/v1/organizations/1/agent/runs", headers=AUTH)).status_code == 200
    counters = (await fake.get("/_admin/counters")).json()
    assert counters["requests"]["GET /v1/organizations/{org_id}/agent/runs"]["429"] >= 1


async def test_random_faults_come_from_config_and_spare_admin_routes():
    app = create_app(FakeConfig(rate_503=1.0, retry_after_seconds=3))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fake") as http:
        unavailable = await http.get("/v1/organizations/1/agent/runs", headers=AUTH)
        assert unavailable.status_code == 503 and unavailable.headers["retry-after"] == "3"
        assert (await http.get("/_admin/counters")).status_code == 200
        patched = await http.patch("/_admin/config", json={"rate_503": 0})
        assert patched.json()["rate_503"] == 0 and "webhook_secret" not in patched.json()
        assert (await http.get("/v1/organizations/1/agent/runs", headers=AUTH)).status_code == 200
    await app.state.world.aclose()


async def _statuses(http: httpx.AsyncClient, times: int = 5) -> tuple[set[int], set[int]]:
    """The statuses Codegen and GitHub answered `times` requests each with."""
    codegen = {(await http.get("/v1/organizations/1/agent/runs", headers=AUTH)).status_code for _ in range(times)}
    github = {(await http.get("/rate_limit")).status_code for _ in range(times)}
    return codegen, github


async def test_per_api_fault_rates_apply_to_their_api_only_and_fall_back_to_the_shared_rate():
    app = create_app(FakeConfig.from_env({"FAKE_CODEGEN_RATE_500": "1", "FAKE_GITHUB_RATE_500": "0"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fake") as http:
        assert await _statuses(http) == ({500}, {200})

        patched = await http.patch("/_admin/config", json={"codegen_rate_500": 0, "github_rate_503": 1})
        assert (patched.json()["codegen_rate_500"], patched.json()["github_rate_503"]) == (0, 1)
        assert await _statuses(http) == ({200}, {503})

        # Unset (null) falls back to the shared rate; GitHub's own 0 still beats it.
        await http.patch("/_admin/config", json={"rate_500": 1, "codegen_rate_500": None, "github_rate_503": None})
        assert await _statuses(http) == ({500}, {200})
    await app.state.world.aclose()


async def _run_with_webhook_faults(receiver_url: str, **faults: float) -> tuple[list[str], dict]:
    """Drive one PR by hand (deterministic events) through a fake with the given webhook faults."""
    config = FakeConfig(**FAST, relay_url=receiver_url, webhook_secret=SECRET, seed=7, **faults)
    app = create_app(config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fake") as http:
        run = await finished_run(http, (await create_run(http, task_id(), outcome="leave_open", delays={"checks_seconds": 60}))["id"])
        repository, number = pr_of(run)
        for action in ("push", "push", "push", "merge"):
            await http.post(f"/_admin/pulls/{repository}/{number}/{action}")
        await wait_until(lambda: app.state.world.webhooks.pending() == 0, what="deliveries to finish")
        log = (await http.get("/_admin/webhooks")).json()
        counters = (await http.get("/_admin/counters")).json()
    await app.state.world.aclose()
    return [entry["delivery_id"] for entry in log], counters


async def test_webhook_faults_drop_duplicate_and_reorder(receiver):
    hooks, url = receiver

    emitted, counters = await _run_with_webhook_faults(url, webhook_drop_rate=1.0)
    assert counters["webhooks"]["dropped"] == len(emitted) == 5
    assert not {h.delivery_id for h in hooks.received} & set(emitted)

    emitted, counters = await _run_with_webhook_faults(url, webhook_duplicate_rate=1.0)
    copies = [h.delivery_id for h in hooks.received if h.delivery_id in set(emitted)]
    assert sorted(copies) == sorted(emitted * 2)  # GitHub redeliveries keep the delivery id

    emitted, counters = await _run_with_webhook_faults(url, webhook_reorder_rate=0.5)
    arrived = [h.delivery_id for h in hooks.received if h.delivery_id in set(emitted)]
    assert sorted(arrived) == sorted(emitted) and arrived != emitted
    assert counters["webhooks"]["reordered"] >= 1


async def test_reset_forgets_runs_and_counters():
    app = create_app(FakeConfig(**FAST))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fake") as http:
        await create_run(http, task_id())
        assert (await http.get("/_admin/counters")).json()["runs_total"] == 1
        await http.post("/_admin/reset")
        counters = (await http.get("/_admin/counters")).json()
        assert counters["runs_total"] == 0 and counters["runs_created"] == {}
        assert (await http.get("/v1/organizations/1/agent/runs", headers=AUTH)).json()["total"] == 0
    await app.state.world.aclose()


def test_config_from_env_reads_every_knob():
    config = FakeConfig.from_env(
        {
            "FAKE_PORT": "9911",
            "FAKE_LATENCY_MS": "250",
            "FAKE_RATE_429": "0.1",
            "FAKE_REPOSITORIES": "a/b, c/d",
            "FAKE_RUN_SECONDS": "0",
            "FAKE_WEBHOOK_REORDER_RATE": "0.2",
            "RELAY_URL": "http://relay/webhooks/github",
            "WEBHOOK_SECRET": "s",
        }
    )
    assert (config.port, config.latency_seconds, config.rate_429, config.run_seconds) == (9911, 0.25, 0.1, 0.0)
    assert config.repositories == ["a/b", "c/d"] and config.webhook_reorder_rate == 0.2
    assert config.webhooks_enabled and not FakeConfig.from_env({}).webhooks_enabled
    issue_17 = FakeConfig.from_env({"FAKE_REMOVE_FROM_PR_STATUS": "403", "FAKE_GITHUB_HTML_URL": "https://ghe.invalid"})
    assert (issue_17.remove_from_pr_status, issue_17.github_html_url) == (403, "https://ghe.invalid")
    default = FakeConfig.from_env({})
    assert default.repositories is None and default.github_html_url == "https://mock-github.invalid"


async def test_injected_after_effect_answers_replace_a_response_that_took_effect(fake):
    await fake.post("/_admin/inject", json={"method": "POST", "path_contains": "/agent/run", "status": 502, "after_effect": True})
    tid = task_id()
    metadata = {"task_id": tid, "attempt": 1}
    lost = await fake.post("/v1/organizations/1/agent/run", json={"prompt": "x", "metadata": metadata}, headers=AUTH)
    assert lost.status_code == 502
    assert (await fake.get("/_admin/counters")).json()["runs_created"][tid] == {"1": 1}


async def test_python_dash_m_fakes_serves_both_apis_from_the_environment():
    async with run_fake_process({"FAKE_RUN_SECONDS": "0", "FAKE_REPOSITORIES": "solo/repo", "WEBHOOK_SECRET": ""}) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            repos = (await http.get("/v1/organizations/1/repos")).json()
            assert [repo["full_name"] for repo in repos["items"]] == ["solo/repo"]
            run = await finished_run(http, (await create_run(http, task_id(), outcome="leave_open"))["id"])
            repository, number = pr_of(run)
            assert repository == "solo/repo"
            assert (await http.get(f"/repos/{repository}/pulls/{number}")).json()["state"] == "open"


async def test_githubs_rate_limit_counts_requests_but_not_304s_and_resets_with_its_window():
    async with run_fake_process({"FAKE_GITHUB_RATE_LIMIT": "3", "FAKE_GITHUB_RATE_WINDOW_SECONDS": "60"}) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            run = await finished_run(http, (await create_run(http, task_id(), outcome="leave_open"))["id"])
            repository, number = pr_of(run)
            pull = f"/repos/{repository}/pulls/{number}"

            first = await http.get(pull)
            assert first.status_code == 200 and first.headers["x-ratelimit-remaining"] == "2"
            unchanged = await http.get(pull, headers={"If-None-Match": first.headers["etag"]})
            assert unchanged.status_code == 304
            assert (await http.get("/rate_limit")).json()["rate"]["remaining"] == 2  # neither the 304 nor this counted
            await http.get(pull)
            await http.get(pull)
            refused = await http.get(pull)
            assert refused.status_code == 403 and "rate limit" in refused.json()["message"]
            assert refused.headers["x-ratelimit-remaining"] == "0"
            reset = int(refused.headers["x-ratelimit-reset"])
            assert time.time() < reset <= time.time() + 61

            # A new limit starts a new window.
            assert (await http.patch("/_admin/config", json={"github_rate_window_seconds": 30})).status_code == 200
            assert (await http.get(pull)).status_code == 200


# --- Codegen as it really answers (issue 17) ------------------------------------------------


async def _status_of(http: httpx.AsyncClient, run_id: int) -> dict:
    return (await http.get(f"/v1/organizations/1/agent/run/{run_id}", headers=AUTH)).json()


async def _until_status(http: httpx.AsyncClient, run_id: int, *statuses: str) -> dict:
    async def reached() -> dict | None:
        run = await _status_of(http, run_id)
        return run if run["status"] in statuses else None

    return await wait_until(reached, what=f"run {run_id} to say {statuses}")


async def _in_process(config: FakeConfig) -> tuple[httpx.AsyncClient, object]:
    app = create_app(config)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fake"), app


async def test_statuses_spelled_lower_case_and_intermediate_statuses_from_config():
    http, app = await _in_process(FakeConfig.from_env({"FAKE_STATUS_SPELLING": "lower", "FAKE_INTERMEDIATE_STATUSES": "true", "FAKE_RUN_SECONDS": "0.4"}))
    async with http:
        created = await create_run(http, task_id(), outcome="leave_open")
        assert created["status"] == "pending"
        await _until_status(http, created["id"], "evaluation")
        await _until_status(http, created["id"], "active")
        done = await _until_status(http, created["id"], "completed")
        assert done["github_pull_requests"]
        failed = await create_run(http, task_id(), fail_attempts=1, status_spelling="upper", intermediate_statuses=False)
        assert failed["status"] == "ACTIVE"
        assert (await _until_status(http, failed["id"], "FAILED"))["github_pull_requests"] == []
    await app.state.world.aclose()  # type: ignore[attr-defined]


async def test_a_paused_run_waits_for_a_resume_or_stays_paused(fake):
    once = await create_run(fake, task_id(), pause="once", outcome="leave_open")
    stays = await create_run(fake, task_id(), pause="stays")
    paused = await _until_status(fake, once["id"], "PAUSED")
    assert paused["github_pull_requests"] == [] and "plan" in paused["result"]
    await _until_status(fake, stays["id"], "PAUSED")
    for run in (once, stays):
        resumed = await fake.post("/v1/organizations/1/agent/run/resume", json={"agent_run_id": run["id"], "prompt": "Go on."}, headers=AUTH)
        assert resumed.status_code == 200
    done = await _until_status(fake, once["id"], "COMPLETE")
    assert done["github_pull_requests"]
    assert (await _status_of(fake, stays["id"]))["status"] == "PAUSED"
    assert (await fake.get(f"/_admin/runs/{stays['id']}")).json()["resumes"] == 1


async def test_remove_from_pr_cancels_the_agents_on_the_pr_records_it_and_can_be_refused(fake):
    run = await finished_run(fake, (await create_run(fake, task_id(), outcome="leave_open", delays={"checks_seconds": 60}))["id"])
    await fake.post("/v1/organizations/1/agent/run/resume", json={"agent_run_id": run["id"], "prompt": "More."}, headers=AUTH)
    removed = await fake.post("/v1/organizations/1/agent/run/remove-from-pr", json={"agent_run_id": run["id"]}, headers=AUTH)
    assert removed.status_code == 200 and removed.json() == {}
    assert (await _status_of(fake, run["id"]))["status"] == "CANCELLED"
    assert run["id"] in (await fake.get("/_admin/counters")).json()["removed_from_pr"]
    missing = await fake.post("/v1/organizations/1/agent/run/remove-from-pr", json={"agent_run_id": 987654}, headers=AUTH)
    assert missing.status_code == 404 and missing.json()["message"] == "Agent run not found."

    other = await create_run(fake, task_id(), outcome="leave_open")
    await fake.patch("/_admin/config", json={"remove_from_pr_status": 404})
    try:
        refused = await fake.post("/v1/organizations/1/agent/run/remove-from-pr", json={"agent_run_id": other["id"]}, headers=AUTH)
    finally:
        await fake.patch("/_admin/config", json={"remove_from_pr_status": None})
    assert refused.status_code == 404 and (await _status_of(fake, other["id"]))["status"] != "CANCELLED"


async def test_the_checks_auto_fixer_starts_its_own_run_on_the_pr_and_pushes_a_passing_fix(fake, hooks):
    run = await finished_run(fake, (await create_run(fake, task_id(), checks="fail", autofix=True, delays={"run_seconds": 0.3}))["id"])
    url = run["github_pull_requests"][0]["url"]
    repository, number = pr_of(run)

    async def fixer_listed() -> dict | None:
        page = (await fake.get("/v1/organizations/1/agent/runs", params={"limit": 20}, headers=AUTH)).json()
        return next((r for r in page["items"] if r["source_type"] == "GITHUB_CHECK_SUITE" and r["github_pull_requests"][0]["url"] == url), None)

    fixer = await wait_until(fixer_listed, what="the auto-fixer's run")
    assert fixer["status"] == "ACTIVE" and fixer["id"] != run["id"]
    assert (await fake.get("/_admin/counters")).json()["runs_by_source"]["GITHUB_CHECK_SUITE"] >= 1
    await _until_status(fake, fixer["id"], "COMPLETE")
    merged = await wait_until(lambda: [h for h in hooks.for_pull(repository, number) if h.action == "closed"], what="merge after the fix")
    assert merged[0].payload["pull_request"]["merged"] is True
    suites = [h.payload["check_suite"]["conclusion"] for h in hooks.for_pull(repository, number) if h.event == "check_suite"]
    assert suites == ["failure", "success"]
    assert any(h.action == "synchronize" for h in hooks.for_pull(repository, number))


async def test_no_auto_fixer_on_a_pr_removed_from_codegen(fake):
    run = await finished_run(fake, (await create_run(fake, task_id(), checks="fail", autofix=True, outcome="leave_open", delays={"checks_seconds": 0.3}))["id"])
    await fake.post("/v1/organizations/1/agent/run/remove-from-pr", json={"agent_run_id": run["id"]}, headers=AUTH)
    repository, number = pr_of(run)

    async def checks_failed() -> bool:
        pr = (await fake.get(f"/repos/{repository}/pulls/{number}")).json()
        runs = (await fake.get(f"/repos/{repository}/commits/{pr['head']['sha']}/check-runs")).json()["check_runs"]
        return bool(runs) and all(r["conclusion"] == "failure" for r in runs)

    await wait_until(checks_failed, what="the checks to fail")
    page = (await fake.get("/v1/organizations/1/agent/runs", params={"limit": 50}, headers=AUTH)).json()
    assert not [r for r in page["items"] if r["source_type"] == "GITHUB_CHECK_SUITE" and r["github_pull_requests"][0]["url"] == run["github_pull_requests"][0]["url"]]


async def test_any_repository_by_default_and_an_org_without_repositories_answers_404():
    http, app = await _in_process(FakeConfig(**FAST))
    async with http:
        metadata = {"task_id": task_id(), "attempt": 1, "repository": "acme/docs", "scenario": {"outcome": "leave_open"}}
        created = await http.post("/v1/organizations/1/agent/run", json={"prompt": "x", "metadata": metadata, "model": "m-1"}, headers=AUTH)
        assert created.status_code == 200
        run = await finished_run(http, created.json()["id"])
        assert run["github_pull_requests"][0]["url"].startswith("https://mock-github.invalid/acme/docs/pull/")
        listed = (await http.get("/v1/organizations/1/repos", headers=AUTH)).json()
        assert "acme/docs" in [repo["full_name"] for repo in listed["items"]]
        assert (await http.get(f"/_admin/runs/{run['id']}")).json()["model"] == "m-1"
        bad_model = await http.post("/v1/organizations/1/agent/run", json={"prompt": "x", "model": 3}, headers=AUTH)
        assert bad_model.status_code == 422 and bad_model.json()["detail"][0]["loc"] == ["body", "model"]
    await app.state.world.aclose()  # type: ignore[attr-defined]

    http, app = await _in_process(FakeConfig.from_env({"FAKE_REPOSITORIES": "none"}))
    async with http:
        refused = await http.post("/v1/organizations/1/agent/run", json={"prompt": "x"}, headers=AUTH)
        assert refused.status_code == 404 and refused.json()["message"].startswith("No repos found in the organization")
        assert (await http.get("/v1/organizations/1/repos", headers=AUTH)).json()["items"] == []
    await app.state.world.aclose()  # type: ignore[attr-defined]

    http, app = await _in_process(FakeConfig.from_env({"FAKE_REPOSITORIES": "acme/api"}))
    async with http:
        metadata = {"repository": "acme/docs"}
        refused = await http.post("/v1/organizations/1/agent/run", json={"prompt": "x", "metadata": metadata}, headers=AUTH)
        assert refused.status_code == 404 and "acme/docs is not connected" in refused.json()["message"]
    await app.state.world.aclose()  # type: ignore[attr-defined]


async def test_webhooks_and_rest_link_prs_and_repositories_on_a_host_that_is_never_github(fake, hooks):
    run = await finished_run(fake, (await create_run(fake, task_id(), outcome="leave_open"))["id"])
    repository, number = pr_of(run)
    opened = await wait_until(lambda: [h for h in hooks.for_pull(repository, number) if h.action == "opened"], what="opened")
    payload = opened[0].payload
    assert payload["pull_request"]["html_url"] == f"https://mock-github.invalid/{repository}/pull/{number}"
    assert payload["repository"]["html_url"] == f"https://mock-github.invalid/{repository}"
    rest = (await fake.get(f"/repos/{repository}/pulls/{number}")).json()
    assert rest["html_url"].startswith("https://mock-github.invalid/") and rest["base"]["repo"]["html_url"].startswith("https://mock-github.invalid/")
    assert parse_event("pull_request", payload) is not None
