"""The fake Codegen enforces Codegen's published rate limits when asked: creates, and reads shared by every GET."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from devstack.services import serve_fake
from fakes import FakeConfig
from fakes.codegen_limits import SlidingWindowLimit, kind_of
from tests.fake_services import AUTH, create_run, finished_run
from tests.waiting import wait_until

FAST = {"run_seconds": 0.02, "checks_seconds": 0.02, "review_seconds": 0.02, "merge_seconds": 0.02}
ORG = "/v1/organizations/1"
RATE_LIMITED = {"message": "Rate limit exceeded. Please try again later.", "status_code": 429}
CREATE = "POST /v1/organizations/{org_id}/agent/run"


# --- the window, on a clock the test holds ------------------------------------------------


def test_the_window_refuses_past_its_limit_until_the_oldest_request_leaves_it():
    window = SlidingWindowLimit(3, 10)
    assert [window.take(t) for t in (0, 1, 2)] == [True, True, True]
    assert not window.take(3)
    assert window.retry_after(3) == 7  # request 0 leaves at 10
    assert not window.take(9.9)
    assert window.take(10)
    assert not window.take(10.5)  # 1, 2 and 10 are in the window
    assert window.retry_after(10.5) == 1  # request 1 leaves at 11


def test_a_refused_request_costs_nothing():
    window = SlidingWindowLimit(1, 10)
    assert window.take(0)
    assert not any(window.take(t) for t in (1, 5, 9))
    assert window.take(10)  # had the refusals counted, the window would be full until 19


def test_a_client_that_paces_itself_evenly_is_never_refused():
    window = SlidingWindowLimit(8, 4)  # one request every 0.5 s, exact in binary
    assert all(window.take(n * 0.5) for n in range(100))


def test_retry_after_is_whole_seconds_and_at_least_one():
    window = SlidingWindowLimit(1, 0.5)
    assert window.take(0)
    assert not window.take(0.2)
    assert window.retry_after(0.2) == 1
    seconds = SlidingWindowLimit(1, 60)
    assert seconds.take(0)
    assert seconds.retry_after(0.5) == 60  # 59.5 rounds up: a client that waits that long is accepted


def test_creates_and_codegens_gets_are_limited_and_nothing_else():
    assert kind_of(CREATE) == "create"
    for read in ("GET /v1/organizations/{org_id}/agent/run/{run_id}", "GET /v1/organizations/{org_id}/agent/runs"):
        assert kind_of(read) == "read"
    assert kind_of("GET /v1/organizations/{org_id}/repos") == kind_of("GET /v1/users/me") == "read"
    for free in (
        "POST /v1/organizations/{org_id}/agent/run/resume",
        "POST /v1/organizations/{org_id}/agent/run/remove-from-pr",
        "GET /repos/{owner}/{repo}/pulls/{number}",
        "GET /_admin/counters",
    ):
        assert kind_of(free) is None


def test_the_knobs_come_from_the_environment_and_default_to_codegens_windows_unenforced():
    assert (FakeConfig().codegen_create_limit, FakeConfig().codegen_read_limit) == (None, None)
    config = FakeConfig.from_env(
        {
            "FAKE_CODEGEN_CREATE_LIMIT": "10",
            "FAKE_CODEGEN_CREATE_WINDOW_SECONDS": "6",
            "FAKE_CODEGEN_READ_LIMIT": "60",
            "FAKE_CODEGEN_READ_WINDOW_SECONDS": "3",
        }
    )
    assert (config.codegen_create_limit, config.codegen_create_window_seconds) == (10, 6)
    assert (config.codegen_read_limit, config.codegen_read_window_seconds) == (60, 3)
    assert (FakeConfig().codegen_create_window_seconds, FakeConfig().codegen_read_window_seconds) == (60, 30)


# --- over HTTP ------------------------------------------------------------------------------


@asynccontextmanager
async def fake(**config: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_fake(FakeConfig(**FAST, **config)) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


async def quota(http: httpx.AsyncClient) -> dict[str, Any]:
    return (await http.get("/_admin/counters")).json()["codegen_quota"]


def _create(task_id: str) -> dict[str, Any]:
    return {"prompt": f"Do {task_id}", "metadata": {"task_id": task_id, "attempt": 1}}


async def test_the_create_past_the_limit_is_429_with_retry_after_and_codegens_body_and_resume_is_not_limited():
    async with fake(codegen_create_limit=1) as http:
        paused = await finished_run(http, (await create_run(http, "T-first", pause="stays"))["id"])
        assert paused["status"] == "PAUSED"

        refused = await http.post(f"{ORG}/agent/run", json=_create("T-second"), headers=AUTH)
        assert refused.status_code == 429 and refused.json() == RATE_LIMITED
        assert 1 <= int(refused.headers["retry-after"]) <= 60  # the window is Codegen's minute

        # No limit is published for resume or remove-from-pr.
        for _ in range(3):
            resumed = await http.post(f"{ORG}/agent/run/resume", json={"agent_run_id": paused["id"], "prompt": "Go on"}, headers=AUTH)
            assert resumed.status_code == 200
        removed = await http.post(f"{ORG}/agent/run/remove-from-pr", json={"agent_run_id": paused["id"]}, headers=AUTH)
        assert removed.status_code == 200

        counted = await quota(http)
        assert (counted["creates_accepted"], counted["create_429s"], counted["read_429s"]) == (1, 1, 0)
        assert counted["429s_by_endpoint"] == {CREATE: 1}


async def test_the_read_limit_is_shared_by_codegens_gets_and_spares_github_and_admin_routes():
    async with fake(codegen_read_limit=4) as http:
        run = await create_run(http, "T-reads", outcome="leave_open")
        for path in (f"{ORG}/agent/run/{run['id']}", f"{ORG}/agent/runs", f"{ORG}/repos", "/v1/users/me"):
            assert (await http.get(path, headers=AUTH)).status_code == 200, path

        for path in ("/v1/users/me", f"{ORG}/agent/runs", f"{ORG}/agent/runs"):
            refused = await http.get(path, headers=AUTH)
            assert refused.status_code == 429 and refused.json() == RATE_LIMITED
            assert 1 <= int(refused.headers["retry-after"]) <= 30
        assert (await http.get("/rate_limit")).status_code == 200  # GitHub's API
        await create_run(http, "T-create")  # creates have their own limit, unset here

        assert await quota(http) == {
            "creates_accepted": 2,
            "create_429s": 0,
            "reads_accepted": 4,
            "read_429s": 3,
            "429s_by_endpoint": {"GET /v1/users/me": 1, "GET /v1/organizations/{org_id}/agent/runs": 2},
        }


async def test_a_limit_set_while_the_fake_runs_accepts_requests_again_once_its_window_passes():
    async with fake() as http:
        for _ in range(3):
            assert (await http.get("/v1/users/me", headers=AUTH)).status_code == 200  # unset: nothing enforced
        patched = await http.patch("/_admin/config", json={"codegen_read_limit": 1, "codegen_read_window_seconds": 1})
        assert patched.status_code == 200

        assert (await http.get("/v1/users/me", headers=AUTH)).status_code == 200
        assert (await http.get("/v1/users/me", headers=AUTH)).status_code == 429

        async def accepted() -> bool:
            return (await http.get("/v1/users/me", headers=AUTH)).status_code == 200

        await wait_until(accepted, timeout=10, what="the read window to pass")
        assert (await http.get("/v1/users/me", headers=AUTH)).status_code == 429  # and to fill again


async def test_counters_report_the_most_runs_in_progress_at_once():
    async with fake() as http:
        first = await create_run(http, "T-long-1", outcome="leave_open", delays={"run_seconds": 60})
        await create_run(http, "T-long-2", outcome="leave_open", delays={"run_seconds": 60})
        counters = (await http.get("/_admin/counters")).json()
        assert (counters["runs_in_progress"], counters["runs_in_progress_max"]) == (2, 2)

        await http.post(f"{ORG}/agent/run/remove-from-pr", json={"agent_run_id": first["id"]}, headers=AUTH)

        async def one_left() -> dict[str, Any]:
            counters = (await http.get("/_admin/counters")).json()
            return counters if counters["runs_in_progress"] == 1 else {}

        assert (await wait_until(one_left, what="the removed run to stop"))["runs_in_progress_max"] == 2
