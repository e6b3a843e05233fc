"""The Codegen API client and the activities that start, watch and resume agent runs.

API reference: https://docs.codegen.com/api-reference (agents: create, get, list, resume;
repositories; users/me). The client never retries: every attempt is Temporal's and shows in history.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.http_errors import error_from_transport, invalid_response, raise_for_response
from models.codegen import (
    AgentPullRequest,
    AgentRun,
    CodegenHealth,
    PullRequestRef,
    ResumeRunInput,
    RunState,
    StartRunInput,
    WaitRunInput,
)
from models.names import AGENT_RUNS_METRIC

SERVICE = "Codegen"
PAGE_LIMIT = 100  # the API's maximum `limit`
REPOSITORY_NOT_CONNECTED = "RepositoryNotConnected"


@dataclass(frozen=True)
class RunPage:
    runs: list[AgentRun]
    total: int


class CodegenClient:
    """Calls the Codegen API through one shared `httpx.AsyncClient` (base URL, bearer auth, timeouts)."""

    # The repository list changes rarely; reload it at most this often when a name is missing.
    REPOSITORY_CACHE_SECONDS = 60.0

    def __init__(self, http: httpx.AsyncClient, org_id: str, *, mock_mode: bool = False) -> None:
        self._http = http
        self.org_id = org_id
        self.mock_mode = mock_mode
        self._repo_ids: dict[str, int] = {}
        self._repos_loaded_at: float | None = None
        self._repos_lock = asyncio.Lock()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise error_from_transport(exc, SERVICE) from exc
        raise_for_response(response, SERVICE)
        try:
            return response.json()
        except ValueError:
            raise invalid_response(SERVICE, f"{method} {path}", "not JSON") from None

    def _org(self, tail: str) -> str:
        return f"/v1/organizations/{self.org_id}{tail}"

    def _run(self, data: Any, where: str) -> AgentRun:
        try:
            return parse_agent_run(data, mock_mode=self.mock_mode)
        except (ValidationError, TypeError, KeyError) as exc:
            raise invalid_response(SERVICE, where, f"not an agent run ({exc.__class__.__name__})") from None

    async def create_run(self, prompt: str, metadata: dict[str, Any], repo_id: int | None = None) -> AgentRun:
        """POST /agent/run: starts an agent. Not idempotent; see `CodegenActivities.start_agent_run`."""
        body: dict[str, Any] = {"prompt": prompt, "metadata": metadata}
        if repo_id is not None:
            body["repo_id"] = repo_id
        path = self._org("/agent/run")
        return self._run(await self._call("POST", path, json=body), f"POST {path}")

    async def get_run(self, run_id: int) -> AgentRun:
        path = self._org(f"/agent/run/{run_id}")
        return self._run(await self._call("GET", path), f"GET {path}")

    async def list_runs(self, skip: int = 0, limit: int = PAGE_LIMIT) -> RunPage:
        """One page of the organization's runs, newest first."""
        path = self._org("/agent/runs")
        data = await self._call("GET", path, params={"skip": skip, "limit": limit})
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise invalid_response(SERVICE, f"GET {path}", "no `items` list")
        return RunPage([self._run(item, f"GET {path}") for item in data["items"]], int(data.get("total") or 0))

    async def resume_run(self, run_id: int, prompt: str) -> AgentRun:
        path = self._org("/agent/run/resume")
        data = await self._call("POST", path, json={"agent_run_id": run_id, "prompt": prompt})
        return self._run(data, f"POST {path}")

    async def repo_id(self, full_name: str) -> int:
        """The Codegen id of `owner/name`, from the organization's repository list (cached)."""
        key = full_name.lower()
        async with self._repos_lock:
            stale = self._repos_loaded_at is None or time.monotonic() - self._repos_loaded_at > self.REPOSITORY_CACHE_SECONDS
            if key not in self._repo_ids and stale:
                self._repo_ids = await self._load_repositories()
                self._repos_loaded_at = time.monotonic()
        if key not in self._repo_ids:
            raise ApplicationError(
                f"Repository {full_name} is not connected to Codegen organization {self.org_id}; "
                "connect it in Codegen's settings, or leave `context.repository` empty to use the org default",
                {"repository": full_name, "organization": self.org_id},
                type=REPOSITORY_NOT_CONNECTED,
                non_retryable=True,
            )
        return self._repo_ids[key]

    async def _load_repositories(self) -> dict[str, int]:
        path = self._org("/repos")
        found: dict[str, int] = {}
        skip = 0
        while True:
            data = await self._call("GET", path, params={"skip": skip, "limit": PAGE_LIMIT})
            items = data.get("items") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise invalid_response(SERVICE, f"GET {path}", "no `items` list")
            for item in items:
                found[str(item["full_name"]).lower()] = int(item["id"])
            skip += len(items)
            if not items or skip >= int(data.get("total") or 0):
                return found

    async def current_user(self) -> str:
        """GET /v1/users/me: who the API key belongs to (the cheapest authenticated call)."""
        data = await self._call("GET", "/v1/users/me")
        return str(data.get("github_username") or data.get("email") or data.get("id"))


def parse_agent_run(data: dict[str, Any], *, mock_mode: bool) -> AgentRun:
    """An API run object as the workflow sees it: PR entries parsed into owner/repo/number."""
    pulls = [
        AgentPullRequest(
            id=entry.get("id"),
            title=entry.get("title"),
            url=entry["url"],
            head_branch_name=entry.get("head_branch_name"),
            created_at=_timestamp(entry.get("created_at")),
            ref=PullRequestRef.from_url(entry["url"]),
        )
        for entry in data.get("github_pull_requests") or []
        if entry.get("url")
    ]
    return AgentRun(
        id=data["id"],
        status=str(data.get("status") or "").upper(),
        web_url=data.get("web_url"),
        result=data.get("result"),
        summary=data.get("summary"),
        pull_requests=pulls,
        metadata=data.get("metadata") or {},
        created_at=_timestamp(data.get("created_at")),
        mock_mode=mock_mode,
    )


def _timestamp(value: Any) -> datetime | None:
    """API timestamps, naive ones taken as UTC; an unreadable one is dropped, not fatal."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _same_attempt(run: AgentRun, input: StartRunInput, workflow_run_id: str) -> bool:
    """Created for this task attempt by this workflow run (an earlier try of this activity)."""
    metadata = run.metadata
    try:
        attempt = int(metadata.get("attempt"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return (
        attempt == input.attempt
        and metadata.get("task_id") == input.task_id
        and metadata.get("workflow_id") == input.workflow_id
        and metadata.get("workflow_run_id") == workflow_run_id
    )


class CodegenActivities:
    """Activities around one `CodegenClient`; register `agent_starting()` on the rate-limited queue."""

    # The search for an earlier try's run stops at runs created this long before the activity
    # was first scheduled (generous: it only bounds the scan, matching is by metadata), or after
    # this many pages of 100.
    ADOPTION_SCAN_MARGIN = timedelta(hours=1)
    ADOPTION_MAX_PAGES = 5
    MAX_POLL_INTERVAL_SECONDS = 60.0
    MIN_POLL_INTERVAL_SECONDS = 0.05

    def __init__(self, client: CodegenClient) -> None:
        self.client = client

    def agent_starting(self) -> list[Any]:
        """Activities that start agent work: run them on `codegen_api_task_queue(task_queue)` (rate-limited)."""
        return [self.start_agent_run, self.resume_agent_run]

    def others(self) -> list[Any]:
        """Activities for the main task queue: waiting on runs and the health check."""
        return [self.wait_for_agent_run, self.check_codegen_health]

    @activity.defn(name="start_agent_run")
    async def start_agent_run(self, input: StartRunInput) -> AgentRun:
        """Start the agent for one task attempt, exactly once even when a response was lost.

        An earlier try of this activity may have created the run before its response was lost
        (timeout, 5xx, worker crash); adopt that run instead of starting a second agent.
        """
        async with heartbeating_while_slow():
            return await self._start_agent_run(input)

    async def _start_agent_run(self, input: StartRunInput) -> AgentRun:
        # Only a retry can follow a try whose create took effect unseen; a first try skips the scan.
        existing = await self._find_run_of_attempt(input) if activity.info().attempt > 1 else None
        if existing is not None:
            activity.logger.info("Adopting agent run %s already created for %s attempt %s", existing.id, input.task_id, input.attempt)
            return existing
        repo_id = await self.client.repo_id(input.repository) if input.repository else None
        metadata = {
            **input.metadata,
            "task_id": input.task_id,
            "workflow_id": input.workflow_id,
            # Retries of this activity share the run id; a resubmitted task (same workflow id) does not.
            "workflow_run_id": activity.info().workflow_run_id,
            "attempt": input.attempt,
            "source": "codegen-temporal",
        }
        if input.repository:
            metadata["repository"] = input.repository
        run = await self.client.create_run(input.prompt, metadata, repo_id)
        activity.logger.info("Started agent run %s for %s attempt %s", run.id, input.task_id, input.attempt)
        _count_agent_run("attempt")
        return run

    async def _find_run_of_attempt(self, input: StartRunInput) -> AgentRun | None:
        """Search recent runs, newest first, for one an earlier try of this activity created."""
        info = activity.info()
        if info.workflow_run_id is None:
            return None  # not called by a workflow: no earlier try can have tagged a run
        scan_until = info.scheduled_time - self.ADOPTION_SCAN_MARGIN
        for page in range(self.ADOPTION_MAX_PAGES):
            result = await self.client.list_runs(skip=page * PAGE_LIMIT, limit=PAGE_LIMIT)
            for run in result.runs:
                if _same_attempt(run, input, info.workflow_run_id):
                    return run
            if not result.runs or (page + 1) * PAGE_LIMIT >= result.total:
                return None
            oldest = result.runs[-1].created_at
            if oldest is not None and oldest < scan_until:
                return None
        return None

    @activity.defn(name="wait_for_agent_run")
    async def wait_for_agent_run(self, input: WaitRunInput) -> AgentRun:
        """Poll until the run is terminal, heartbeating before each wait; the schedule-to-close timeout is the deadline.

        Unknown statuses count as running. A COMPLETE run without a PR is returned as is: the
        workflow decides what that means. A run found finished costs no heartbeat (a call to the server).
        """
        interval = self._poll_interval(input.poll_interval_seconds)
        while True:
            run = await self.client.get_run(input.run_id)
            if run.state is not RunState.RUNNING:
                return run
            activity.heartbeat(run.status)
            await asyncio.sleep(interval)

    def _poll_interval(self, requested: float) -> float:
        interval = min(max(requested, self.MIN_POLL_INTERVAL_SECONDS), self.MAX_POLL_INTERVAL_SECONDS)
        heartbeat_timeout = activity.info().heartbeat_timeout
        if heartbeat_timeout:
            # Two heartbeats per timeout window, so one slow poll does not time the activity out.
            interval = min(interval, heartbeat_timeout.total_seconds() / 2)
        return interval

    @activity.defn(name="resume_agent_run")
    async def resume_agent_run(self, input: ResumeRunInput) -> AgentRun:
        """Send a follow-up prompt to a finished run.

        On a retry, a run that is already running again means the earlier try's resume took
        effect and only its response was lost: return it rather than resume twice.
        """
        async with heartbeating_while_slow():
            if activity.info().attempt > 1:
                current = await self.client.get_run(input.run_id)
                if current.state is RunState.RUNNING:
                    activity.logger.info("Run %s is already running: adopting the earlier resume", input.run_id)
                    return current
            run = await self.client.resume_run(input.run_id, input.prompt)
            _count_agent_run("followup")
            return run

    @activity.defn(name="check_codegen_health")
    async def check_codegen_health(self) -> CodegenHealth:
        """Whether the key works and reaches the organization (two cheap reads)."""
        try:
            user = await self.client.current_user()
            await self.client.list_runs(limit=1)
        except ApplicationError as exc:
            return CodegenHealth(ok=False, mock_mode=self.client.mock_mode, detail=f"{exc.type}: {exc.message}")
        where = "the bundled fake (mock mode)" if self.client.mock_mode else "the Codegen API"
        return CodegenHealth(
            ok=True,
            mock_mode=self.client.mock_mode,
            detail=f"{where}: authenticated as {user}, organization {self.client.org_id} reachable",
        )


def _count_agent_run(kind: str) -> None:
    activity.metric_meter().create_counter(AGENT_RUNS_METRIC, "agent runs started at Codegen, by kind").add(1, {"kind": kind})


@asynccontextmanager
async def heartbeating_while_slow(first_after: float = 2.0, every: float = 5.0) -> AsyncIterator[None]:
    """Heartbeat every `every` seconds once the block has run `first_after`: with a heartbeat timeout set,
    a worker that dies mid-call is noticed at that timeout rather than the start-to-close one, and a
    quick call costs no heartbeat (a call to the server)."""

    async def beat() -> None:
        await asyncio.sleep(first_after)
        while True:
            activity.heartbeat()
            await asyncio.sleep(every)

    beating = asyncio.create_task(beat())
    try:
        yield
    finally:
        beating.cancel()
