"""The Codegen API client and the activities that start, watch, resume and stop agent runs.

API reference: https://docs.codegen.com/api-reference (agents: create, get, list, resume,
remove-from-pr; repositories; users/me). The client never retries: every attempt is Temporal's and
shows in history.
"""

from __future__ import annotations

import asyncio
import logging
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

from activities.http_errors import HttpErrorType, error_from_transport, invalid_response, raise_for_response
from activities.read_budget import ReadBudget
from models.bounds import RUN_TEXT_CHARS, bounded
from models.codegen import (
    KNOWN_STATUSES,
    ActiveRunQuery,
    ActiveRunResult,
    AgentPullRequest,
    AgentRun,
    CodegenHealth,
    PullRequestRef,
    ResumeRunInput,
    RunState,
    StartRunInput,
    StopAgentInput,
    StopAgentResult,
    WaitRunInput,
)
from models.names import AGENT_RUNS_METRIC

SERVICE = "Codegen"
PAGE_LIMIT = 100  # the API's maximum `limit`
# Codegen's documented limit for standard endpoints (every GET here), per API key.
DEFAULT_READS_PER_30S = 60
REPOSITORY_NOT_CONNECTED = "RepositoryNotConnected"
# Failures after which a create may have taken effect: its answer, not the request, may be what was lost.
UNKNOWN_ANSWER_ERRORS = frozenset({HttpErrorType.SERVICE_UNAVAILABLE, HttpErrorType.INVALID_RESPONSE})
# A try that left its create to the next one (too little time left to hear the answer): retryable.
CREATE_DEFERRED = "CreateDeferred"
# The heartbeat detail that tells the next try when this one sent its create.
CREATE_SENT_AT = "create_sent_at"

_log = logging.getLogger(__name__)


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The activity's logger inside an activity (it names the workflow and activity), this module's elsewhere."""
    return activity.logger if activity.in_activity() else _log


class MalformedRun(ValueError):
    """A run object that is not what the API documents."""


@dataclass(frozen=True)
class RunPage:
    runs: list[AgentRun]
    total: int


class CodegenClient:
    """Calls the Codegen API through one shared `httpx.AsyncClient` (base URL, bearer auth, timeouts)."""

    # The repository list changes rarely; reload it at most this often when a name is missing.
    REPOSITORY_CACHE_SECONDS = 60.0

    def __init__(self, http: httpx.AsyncClient, org_id: str, *, mock_mode: bool = False, read_budget: ReadBudget | None = None) -> None:
        self._http = http
        self.org_id = org_id
        self.mock_mode = mock_mode
        # Every GET waits for a slot here: Codegen allows 60 reads per 30 s per key, whoever reads.
        self.read_budget = read_budget or ReadBudget(DEFAULT_READS_PER_30S)
        self._newest: tuple[datetime, RunPage] | None = None
        self._newest_lock = asyncio.Lock()
        self._repo_ids: dict[str, int] = {}
        self._repos_loaded_at: float | None = None
        self._repos_lock = asyncio.Lock()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            if method == "GET":
                async with self.read_budget.read():
                    response = await self._http.request(method, path, **kwargs)
            else:
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
        except MalformedRun as exc:
            raise invalid_response(SERVICE, where, f"not an agent run: {exc}") from None
        except (ValidationError, TypeError, KeyError, ValueError) as exc:
            raise invalid_response(SERVICE, where, f"not an agent run ({exc.__class__.__name__})") from None

    async def create_run(
        self, prompt: str, metadata: dict[str, Any], repo_id: int | None = None, model: str | None = None
    ) -> AgentRun:
        """POST /agent/run: starts an agent. Not idempotent; see `CodegenActivities.start_agent_run`.

        Codegen answers 404 here when the organization has no repositories: `RepositoryNotConnected`.
        """
        body: dict[str, Any] = {"prompt": prompt, "metadata": metadata}
        if repo_id is not None:
            body["repo_id"] = repo_id
        if model is not None:
            body["model"] = model
        path = self._org("/agent/run")
        try:
            data = await self._call("POST", path, json=body)
        except ApplicationError as exc:
            if _status_code(exc) != 404:
                raise
            raise ApplicationError(
                f"no repositories are connected to Codegen organization {self.org_id}; connect one in Codegen's settings "
                f"({exc.message})",
                {"organization": self.org_id, "status_code": 404},
                type=REPOSITORY_NOT_CONNECTED,
                non_retryable=True,
            ) from None
        return self._run(data, f"POST {path}")

    async def get_run(self, run_id: int) -> AgentRun:
        path = self._org(f"/agent/run/{run_id}")
        return self._run(await self._call("GET", path), f"GET {path}")

    async def list_runs(self, skip: int = 0, limit: int = PAGE_LIMIT) -> RunPage:
        """One page of the organization's runs, newest first.

        Other people's runs are on it too: one that cannot be read is left out (and logged) rather than
        failing the page, and PR entries that are not pull-request URLs are kept with no `ref`.
        """
        path = self._org("/agent/runs")
        data = await self._call("GET", path, params={"skip": skip, "limit": limit})
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise invalid_response(SERVICE, f"GET {path}", "no `items` list")
        runs = []
        for item in data["items"]:
            try:
                runs.append(parse_agent_run(item, mock_mode=self.mock_mode, strict=False))
            except (MalformedRun, ValidationError, TypeError, KeyError, ValueError) as exc:
                shown = item.get("id") if isinstance(item, dict) else type(item).__name__
                _logger().warning("Skipping an unreadable run (%s) listed by GET %s: %s", shown, path, exc)
        try:
            total = int(data.get("total") or 0)
        except (TypeError, ValueError):
            raise invalid_response(SERVICE, f"GET {path}", "`total` is not a number") from None
        return RunPage(runs, total)

    async def newest_runs(self, read_since: datetime) -> list[AgentRun]:
        """The newest page of runs as read at `read_since` or later: a page already read then is shared, so
        callers at the same moment cost one read."""
        async with self._newest_lock:
            if self._newest is None or self._newest[0] < read_since:
                asked_at = datetime.now(UTC)
                self._newest = (asked_at, await self.list_runs(limit=PAGE_LIMIT))
            return self._newest[1].runs

    async def runs_since(self, since: datetime | None, max_pages: int) -> AsyncIterator[AgentRun]:
        """The organization's runs, newest first, page by page until a page reaches runs created before
        `since` (or the list ends), `max_pages` pages at most; the caller stops early by breaking off."""
        for page in range(max_pages):
            result = await self.list_runs(skip=page * PAGE_LIMIT, limit=PAGE_LIMIT)
            for run in result.runs:
                yield run
            if not result.runs or (page + 1) * PAGE_LIMIT >= result.total:
                return
            oldest = result.runs[-1].created_at
            if since is not None and oldest is not None and oldest < since:
                return
        _logger().warning("Read %s runs, newest first, without reaching runs created before %s", max_pages * PAGE_LIMIT, since)

    async def resume_run(self, run_id: int, prompt: str, model: str | None = None) -> AgentRun:
        path = self._org("/agent/run/resume")
        body: dict[str, Any] = {"agent_run_id": run_id, "prompt": prompt}
        if model is not None:
            body["model"] = model
        return self._run(await self._call("POST", path, json=body), f"POST {path}")

    async def remove_from_pr(self, run_id: int) -> None:
        """POST /agent/run/remove-from-pr: stop every agent on the run's PR and ignore its check suites from now on."""
        await self._call("POST", self._org("/agent/run/remove-from-pr"), json={"agent_run_id": run_id})

    async def repo_id(self, full_name: str) -> int | None:
        """The Codegen id of `owner/name`, from the organization's repository list (cached).

        In mock mode a name the fake does not list is sent by name only (None): the bundled fake stands
        for an organization with every repository connected, unless FAKE_REPOSITORIES restricts it, and
        then refuses the create itself.
        """
        key = full_name.lower()
        async with self._repos_lock:
            stale = self._repos_loaded_at is None or time.monotonic() - self._repos_loaded_at > self.REPOSITORY_CACHE_SECONDS
            if key not in self._repo_ids and stale:
                self._repo_ids = await self._load_repositories()
                self._repos_loaded_at = time.monotonic()
        if key not in self._repo_ids and self.mock_mode:
            _logger().info("Mock mode: %s is not among the fake's listed repositories; naming it in the run's metadata", full_name)
            return None
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
                try:
                    found[str(item["full_name"]).lower()] = int(item["id"])
                except (KeyError, TypeError, ValueError):
                    raise invalid_response(SERVICE, f"GET {path}", "a repository without `full_name` and `id`") from None
            skip += len(items)
            if not items or skip >= int(data.get("total") or 0):
                return found

    async def current_user(self) -> str:
        """GET /v1/users/me: who the API key belongs to (the cheapest authenticated call)."""
        data = await self._call("GET", "/v1/users/me")
        if not isinstance(data, dict):
            raise invalid_response(SERVICE, "GET /v1/users/me", "not an object")
        return str(data.get("github_username") or data.get("email") or data.get("id"))


def parse_agent_run(data: Any, *, mock_mode: bool, strict: bool = True) -> AgentRun:
    """An API run object as the workflow sees it: status upper-cased, PR entries parsed into owner/repo/number.

    `MalformedRun` (or pydantic's ValidationError) for what the API does not document: no `id`, a status
    that is not a string, a PR entry that is not an object. `strict` (a run read by id) also refuses a
    PR URL that is not a pull-request URL; a listed run keeps such an entry with no `ref`. A null or
    missing status is "" (still running).
    """
    if not isinstance(data, dict):
        raise MalformedRun(f"a {type(data).__name__}, not an object")
    if "id" not in data:
        raise MalformedRun("no `id`")
    status = data.get("status")
    if status is not None and not isinstance(status, str):
        raise MalformedRun(f"`status` {status!r} is not a string")
    entries = data.get("github_pull_requests") or []
    if not isinstance(entries, list):
        raise MalformedRun("`github_pull_requests` is not a list")
    pulls = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise MalformedRun(f"a `github_pull_requests` entry is a {type(entry).__name__}, not an object")
        url = entry.get("url")
        if not url:
            continue
        if not isinstance(url, str):
            raise MalformedRun(f"a pull request `url` {url!r} is not a string")
        ref = PullRequestRef.from_url(url)
        if ref is None and strict:
            raise MalformedRun(f"{url[:200]!r} is not a pull-request URL")
        pulls.append(
            AgentPullRequest(
                id=entry.get("id"),
                title=entry.get("title"),
                url=url,
                head_branch_name=entry.get("head_branch_name"),
                created_at=_timestamp(entry.get("created_at")),
                ref=ref,
            )
        )
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise MalformedRun("`metadata` is not an object")
    return AgentRun(
        id=data["id"],
        status=(status or "").strip().upper(),
        web_url=data.get("web_url"),
        result=_run_text(data.get("result")),
        summary=_run_text(data.get("summary")),
        pull_requests=pulls,
        metadata=metadata,
        created_at=_timestamp(data.get("created_at")),
        mock_mode=mock_mode,
    )


def _run_text(value: Any) -> str | None:
    return bounded(None if value is None else str(value), RUN_TEXT_CHARS)


def _status_code(error: ApplicationError) -> int | None:
    """The HTTP status an `http_errors` error carries in its details (None for transport errors)."""
    details = error.details[0] if error.details else None
    code = details.get("status_code") if isinstance(details, dict) else None
    return code if isinstance(code, int) else None


def pull_request_key(url: str) -> tuple[str, str, str, int] | None:
    """A PR URL compared as GitHub does: host, owner and repository case-insensitively, and the number."""
    ref = PullRequestRef.from_url(url)
    if ref is None:
        return None
    host = ref.host.lower().removeprefix("www.")
    return host, ref.owner.lower(), ref.repo.lower().removesuffix(".git"), ref.number


def _timestamp(value: Any) -> datetime | None:
    """API timestamps, naive ones taken as UTC; an unreadable one is dropped, not fatal."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _same_task(run: AgentRun, input: StartRunInput, workflow_run_id: str | None) -> bool:
    """Created for this task by this workflow, for this attempt or an earlier one: by an earlier try of
    this activity, one before an activity reset, or one before a workflow reset or continue-as-new (same
    first execution). The caller leaves out the runs the workflow already knows.

    Runs created before `first_execution_run_id` was tagged match by the workflow run id only.
    """
    metadata = run.metadata
    try:
        attempt = int(metadata.get("attempt"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    if attempt > input.attempt or metadata.get("task_id") != input.task_id or metadata.get("workflow_id") != input.workflow_id:
        return False
    first = input.first_execution_run_id
    if first and metadata.get("first_execution_run_id") == first:
        return True
    return workflow_run_id is not None and metadata.get("workflow_run_id") == workflow_run_id


def _unanswered_since(input: StartRunInput) -> datetime | None:
    """When a create may have reached Codegen without its answer reaching us: an earlier attempt's (from the
    workflow), an earlier try's (from its heartbeat), or, for a retry whose predecessor's heartbeat never
    reached the server (throttled, or the worker died first), the activity's first scheduling."""
    info = activity.info()
    moments = [input.unanswered_since] if input.unanswered_since else []
    for detail in info.heartbeat_details or ():
        if isinstance(detail, dict) and isinstance(detail.get(CREATE_SENT_AT), str):
            moments.append(datetime.fromisoformat(detail[CREATE_SENT_AT]))
    if info.attempt > 1 and not moments:
        moments.append(info.scheduled_time)
    return min(moments, default=None)


@dataclass
class _PauseWatch:
    """What a wait has seen of a PAUSED run; kept in heartbeat details, so a retried wait goes on from it."""

    seen_other: bool = False  # seen in another status since the wait began
    paused_since: float | None = None  # wall-clock seconds: the current PAUSED stretch's first sighting

    def details(self) -> dict[str, Any]:
        return {"seen_other": self.seen_other, "paused_since": self.paused_since}

    @classmethod
    def restore(cls, heartbeat_details: Any) -> _PauseWatch:
        for detail in heartbeat_details or ():
            if isinstance(detail, dict) and "seen_other" in detail:
                since = detail.get("paused_since")
                return cls(bool(detail["seen_other"]), float(since) if isinstance(since, (int, float)) else None)
        return cls()


class CodegenActivities:
    """Activities around one `CodegenClient`; register `agent_starting()` on the rate-limited queue."""

    # The search for a run whose create went unanswered reaches this far before the create was sent
    # (Codegen's clock may differ from ours), and reads this many pages of 100 at most.
    ADOPTION_CLOCK_SKEW = timedelta(minutes=5)
    ADOPTION_MAX_PAGES = 20
    # A try sends its create only with this much of its start-to-close timeout left: enough for Codegen's
    # answer (the client waits 30 s) to come back before the server gives the try up and retries it.
    CREATE_TIME_MARGIN = timedelta(minutes=1)
    # Looking for a run already working on a PR reads at most this many pages of 100.
    ACTIVE_RUN_MAX_PAGES = 3
    MAX_POLL_INTERVAL_SECONDS = 60.0
    MIN_POLL_INTERVAL_SECONDS = 0.05
    # Unknown statuses already logged, as (run id, status); forgotten past this many.
    UNKNOWN_STATUS_MEMORY = 10_000

    def __init__(self, client: CodegenClient) -> None:
        self.client = client
        self._unknown_statuses: set[tuple[int, str]] = set()
        # Wall-clock seconds, for how long a run has been PAUSED (tests may replace it).
        self.clock = time.time

    def agent_starting(self) -> list[Any]:
        """Activities that start agent work: run them on `codegen_api_task_queue(task_queue)` (rate-limited)."""
        return [self.start_agent_run, self.resume_agent_run]

    def others(self) -> list[Any]:
        """Activities for the main task queue: waiting on runs, stopping agents on a PR, finding a run on a PR, health."""
        return [self.wait_for_agent_run, self.stop_agent_on_pr, self.find_active_run_on_pr, self.check_codegen_health]

    @activity.defn(name="start_agent_run")
    async def start_agent_run(self, input: StartRunInput) -> AgentRun:
        """Start the agent for one task attempt, exactly once even when a response was lost.

        An earlier try may have created the run: a try whose response was lost (timeout, 5xx, worker
        crash), a try before an operator's `temporal activity reset` (which starts the attempt count
        at 1 again), or the same attempt before a `temporal workflow reset` (a new workflow run id, the
        same first execution). Every try looks first, and adopts that run instead of starting a second agent.
        """
        async with heartbeating_while_slow() as beat:
            try:
                return await self._start_agent_run(input, beat)
            except ApplicationError as error:
                if not error.non_retryable:
                    raise
                # The task ends on it, before any run could say which Codegen this worker talks to.
                details = (*error.details, {"mock_mode": self.client.mock_mode})
                raise ApplicationError(error.message, *details, type=error.type, non_retryable=True) from error

    async def _start_agent_run(self, input: StartRunInput, beat: Heartbeat) -> AgentRun:
        existing = await self._find_run_of_task(input, _unanswered_since(input))
        if existing is not None:
            activity.logger.info("Adopting agent run %s already created for %s attempt %s", existing.id, input.task_id, input.attempt)
            return existing
        repo_id = await self.client.repo_id(input.repository) if input.repository else None
        metadata = {
            **input.metadata,
            "task_id": input.task_id,
            "workflow_id": input.workflow_id,
            # A workflow reset or continue-as-new keeps the first execution's run id; a resubmitted task
            # (same workflow id, a new execution) does not.
            "first_execution_run_id": input.first_execution_run_id,
            # What runs were matched by before first_execution_run_id: retries of this activity share it.
            "workflow_run_id": activity.info().workflow_run_id,
            "attempt": input.attempt,
            "source": "codegen-temporal",
        }
        if input.repository:
            metadata["repository"] = input.repository
        sent_at = datetime.now(UTC)
        info = activity.info()
        if info.start_to_close_timeout and sent_at - info.started_time > info.start_to_close_timeout - self.CREATE_TIME_MARGIN:
            # Reads held it too long: a create sent now could outlive the try, and its retry would make a second run.
            raise ApplicationError(
                f"agent run not created: this try waited {sent_at - info.started_time} for Codegen reads; the next try creates it",
                type=CREATE_DEFERRED,
            )
        # Kept by the server for the next try, should this one die before Codegen answers.
        beat.now({CREATE_SENT_AT: sent_at.isoformat()})
        try:
            run = await self.client.create_run(input.prompt, metadata, repo_id, model=input.model)
        except ApplicationError as error:
            if error.type not in UNKNOWN_ANSWER_ERRORS:
                raise
            # The run may exist all the same: look now, while it is among the newest runs, rather than
            # after the retry's wait in the rate-limited queue has buried it under others.
            found = await self._look_again(input, sent_at)
            if found is None:
                raise
            activity.logger.info("Adopting agent run %s: Codegen created it, but its answer was lost (%s)", found.id, error.message)
            return found
        activity.logger.info("Started agent run %s for %s attempt %s", run.id, input.task_id, input.attempt)
        _count_agent_run("attempt")
        return run

    async def _look_again(self, input: StartRunInput, sent_at: datetime) -> AgentRun | None:
        """The run an unanswered create may have made; None when it is not there or cannot be read now
        (the next try looks again, back to `sent_at`, which the heartbeat kept)."""
        try:
            return await self._find_run_of_task(input, sent_at)
        except ApplicationError as error:
            activity.logger.warning("Could not look for the run an unanswered create may have made: %s", error.message)
            return None

    async def _find_run_of_task(self, input: StartRunInput, unanswered_since: datetime | None) -> AgentRun | None:
        """A run created for this attempt by an earlier try, or for an earlier attempt without the workflow
        ever hearing of it (a create whose answer was lost), searched newest first.

        A first try with no create left unanswered reads only the newest page (shared with the tries queued
        with it): an activity or workflow reset finds its run there unless a hundred others were created
        since. Otherwise the search reaches back to the unanswered create (a few minutes' margin for clock
        skew), ADOPTION_MAX_PAGES pages at most.
        """
        info = activity.info()
        if info.workflow_run_id is None and not input.first_execution_run_id:
            return None  # not called by a workflow: nothing can have tagged a run
        known = set(input.known_run_ids)

        def ours(run: AgentRun) -> bool:
            return run.id not in known and _same_task(run, input, info.workflow_run_id)

        if unanswered_since is None:
            # A first try looks only for a run made before a reset, so before this try was scheduled: any
            # page read since shows it, and a burst of creates shares its reads.
            return next(filter(ours, await self.client.newest_runs(info.current_attempt_scheduled_time)), None)
        async for run in self.client.runs_since(unanswered_since - self.ADOPTION_CLOCK_SKEW, self.ADOPTION_MAX_PAGES):
            if ours(run):
                return run
        return None

    @activity.defn(name="wait_for_agent_run")
    async def wait_for_agent_run(self, input: WaitRunInput) -> AgentRun:
        """Poll until the run ends or waits for input, heartbeating before each wait; the schedule-to-close
        timeout is the deadline.

        Ends on success (COMPLETE, COMPLETED, any case) and failures. Ends on PAUSED at once when
        `paused_grace_seconds` is 0, or once the run has been seen in another status since the wait
        began and is PAUSED again; otherwise only after it has been PAUSED that long (right after a
        resume, Codegen may still say PAUSED). Unknown statuses count as running, logged once per run.
        A COMPLETE run without a PR is returned as is: the workflow decides what that means. A run
        found finished costs no heartbeat (a call to the server).
        """
        interval = self._poll_interval(input.poll_interval_seconds)
        grace = max(input.paused_grace_seconds, 0.0)
        watch = _PauseWatch.restore(activity.info().heartbeat_details) if grace else _PauseWatch()
        while True:
            run = await self.client.get_run(input.run_id)
            state = run.state
            self._note_unknown_status(run)
            pause = interval
            if state in (RunState.COMPLETE, RunState.FAILED):
                return run
            if state is RunState.PAUSED:
                if not grace or watch.seen_other:
                    return run
                now = self.clock()
                if watch.paused_since is None:
                    watch.paused_since = now
                left = grace - (now - watch.paused_since)
                if left <= 0:
                    return run
                pause = min(interval, left)
            else:
                watch.seen_other, watch.paused_since = True, None
            if grace:
                activity.heartbeat(run.status, watch.details())
            else:
                activity.heartbeat(run.status)
            await asyncio.sleep(pause)

    def _note_unknown_status(self, run: AgentRun) -> None:
        if not run.status or run.status in KNOWN_STATUSES or (run.id, run.status) in self._unknown_statuses:
            return
        if len(self._unknown_statuses) >= self.UNKNOWN_STATUS_MEMORY:
            self._unknown_statuses.clear()
        self._unknown_statuses.add((run.id, run.status))
        activity.logger.warning("Agent run %s has status %r, which Codegen did not document: treating it as running", run.id, run.status)

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
            run = await self.client.resume_run(input.run_id, input.prompt, model=input.model)
            _count_agent_run("followup")
            return run

    @activity.defn(name="stop_agent_on_pr")
    async def stop_agent_on_pr(self, input: StopAgentInput) -> StopAgentResult:
        """Ask Codegen to stop every agent on the run's PR (`remove-from-pr`), best effort.

        A refusal (a 4xx no retry can change: the run or PR unknown to Codegen, no access) is
        `confirmed=False` with Codegen's words; timeouts, 5xx and 429 raise retryable errors as usual.
        """
        try:
            await self.client.remove_from_pr(input.run_id)
        except ApplicationError as exc:
            code = _status_code(exc)
            if exc.non_retryable and code is not None and 400 <= code < 500:
                activity.logger.warning("Codegen refused to stop the agents on run %s's PR: %s", input.run_id, exc.message)
                return StopAgentResult(confirmed=False, detail=exc.message)
            raise
        return StopAgentResult(confirmed=True, detail=f"Codegen stopped the agents on the pull request of run {input.run_id}")

    @activity.defn(name="find_active_run_on_pr")
    async def find_active_run_on_pr(self, input: ActiveRunQuery) -> ActiveRunResult:
        """The newest run created since `created_after` that is RUNNING or PAUSED with this PR among its
        `github_pull_requests` (Codegen's checks auto-fixer, a reply to a comment); None when there is none.

        Reads the run list newest first, until runs older than `created_after`, ACTIVE_RUN_MAX_PAGES at most.
        """
        wanted = pull_request_key(input.pr_url)
        if wanted is None:
            activity.logger.warning("%r is not a pull-request URL: no run can be working on it", input.pr_url[:200])
            return ActiveRunResult()
        since = input.created_after
        async for run in self.client.runs_since(since, self.ACTIVE_RUN_MAX_PAGES):
            if since is not None and run.created_at is not None and run.created_at < since:
                continue
            if run.state in (RunState.RUNNING, RunState.PAUSED) and any(pull_request_key(pr.url) == wanted for pr in run.pull_requests):
                return ActiveRunResult(run=run)
        return ActiveRunResult()

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


class Heartbeat:
    """Heartbeats with the details the next try should see: the latest ones, sent now and then by
    `heartbeating_while_slow` as well."""

    def __init__(self) -> None:
        self.details: tuple[Any, ...] = ()

    def now(self, *details: Any) -> None:
        self.details = details
        activity.heartbeat(*details)


@asynccontextmanager
async def heartbeating_while_slow(first_after: float = 2.0, every: float = 5.0) -> AsyncIterator[Heartbeat]:
    """Heartbeat every `every` seconds once the block has run `first_after`: with a heartbeat timeout set,
    a worker that dies mid-call is noticed at that timeout rather than the start-to-close one, and a
    quick call costs no heartbeat (a call to the server)."""
    heartbeat = Heartbeat()

    async def beat() -> None:
        await asyncio.sleep(first_after)
        while True:
            activity.heartbeat(*heartbeat.details)
            await asyncio.sleep(every)

    beating = asyncio.create_task(beat())
    try:
        yield heartbeat
    finally:
        beating.cancel()
