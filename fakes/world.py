"""The fake's state: Codegen agent runs, and the GitHub repositories and PRs they produce.

Everything lives in memory on one event loop. Lifecycles (a run finishing, checks completing, a
review, the merge) are asyncio tasks started from request handlers, so the fake works the same
under uvicorn and inside a worker through `httpx.ASGITransport` (which runs no lifespan).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from fakes.codegen_limits import CodegenLimits
from fakes.commits import Commit, CommitGraph, FileChange
from fakes.config import DEFAULT_REPOSITORIES, FakeConfig
from fakes.github_payloads import MAINTAINER_LOGIN, REVIEWER_LOGIN, TOKEN_LOGIN, GitHubShapes
from fakes.mergeability import PASSING, MergeStatus, is_behind, merge_refusal, merge_status
from fakes.rate_limit import PrimaryRateLimit
from fakes.scenario import Scenario
from fakes.webhooks import WebhookSender

# The branch every PR targets; the only one that moves under them.
BASE_BRANCH = "main"
# What GitHub says when the token lacks a permission (a GitHub App's token; a fine-grained PAT's says
# "personal access token"), and the permission each write needs, sent as GitHub sends it in the
# `X-Accepted-GitHub-Permissions` header (docs: "Permissions required for fine-grained personal access tokens").
NOT_ACCESSIBLE = "Resource not accessible by integration"
WRITE_PERMISSIONS = {"merge": "contents=write", "update_branch": "pull_requests=write"}


def _now() -> datetime:
    return datetime.now(UTC)


def _repeated(line: str, size: int) -> str:
    """`line` repeated, one per line, to exactly `size` characters: a long CI log."""
    return ((line + "\n") * (size // (len(line) + 1) + 1))[:size]


def _source_path(task_id: str, number: int) -> str:
    """The file a task's PR changes, named after the task so that a comparison shows whose it is."""
    return f"src/{re.sub(r'[^a-z0-9]+', '_', task_id.lower()).strip('_') or f'pr_{number}'}.py"


class FakeError(Exception):
    """A request the fake refuses; the app turns it into an error response."""

    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None, outcome: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        # A refused merge or update-branch: the outcome counted in `pull_request_writes`.
        self.outcome = outcome


@dataclass
class Repo:
    id: int
    github_id: int
    owner: str
    name: str
    # The head of the base branch (`BASE_BRANCH`), the only branch PRs target.
    base_sha: str
    created_at: datetime = field(default_factory=_now)
    next_pr_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class CheckRun:
    id: int
    name: str
    head_sha: str
    suite_id: int
    status: str = "in_progress"
    conclusion: str | None = None
    started_at: datetime = field(default_factory=_now)
    completed_at: datetime | None = None
    output_title: str | None = None
    output_summary: str | None = None
    output_text: str | None = None


@dataclass
class CheckSuite:
    id: int
    head_sha: str
    head_branch: str
    before: str
    status: str = "in_progress"
    conclusion: str | None = None
    check_runs_count: int = 0
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)


@dataclass
class ReviewComment:
    id: int
    path: str
    line: int | None  # None: on the whole file
    body: str


@dataclass
class Review:
    id: int
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED
    body: str
    commit_id: str
    login: str = REVIEWER_LOGIN
    submitted_at: datetime = field(default_factory=_now)
    comments: list[ReviewComment] = field(default_factory=list)


@dataclass
class MergeRequest:
    """One `PUT .../merge`: the sha asked for (None: none sent), the PR's head then, whether every check on the
    head it would merge had passed, and what came of it (an outcome of `pull_request_writes`)."""

    sha: str | None
    head: str
    head_checks_passed: bool
    outcome: str = "asked"


# What the scenario reviewer writes on the diff when it requests changes.
REQUESTED_CHANGES = [
    {"path": "src/service.py", "line": 42, "body": "This swallows the error; let it propagate to the caller."},
    {"path": "tests/test_service.py", "line": None, "body": "Add a test for the failure path."},
]


@dataclass
class PullRequest:
    id: int
    number: int
    repo: Repo
    title: str
    body: str
    head_ref: str
    head_sha: str
    scenario: Scenario
    run_id: int | None = None
    base_ref: str = "main"
    state: Literal["open", "closed"] = "open"
    draft: bool = False
    merged: bool = False
    merged_at: datetime | None = None
    # The login that merged it: the token's account through the API, a maintainer otherwise.
    merged_by: str | None = None
    closed_at: datetime | None = None
    merge_commit_sha: str | None = None
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    commits: list[str] = field(default_factory=list)
    # Commits pushed after the PR was opened (by resumes or by hand).
    followups_pushed: int = 0
    reviews: list[Review] = field(default_factory=list)
    check_suites: dict[str, CheckSuite] = field(default_factory=dict)
    lifecycle: asyncio.Task[None] | None = None
    # remove-from-pr was called: no more agents, the checks auto-fixer ignores the PR.
    banned: bool = False
    # The checks auto-fixer started on it (once per PR), and whether its fix, which makes the checks pass, landed.
    autofix_started: bool = False
    autofixed: bool = False
    # The base commit the branch was last based on; behind once the base branch has moved past it.
    base_sha: str = ""
    # The file its changes touch: what a base commit that conflicts with it changes too.
    path: str = ""
    conflicting: bool = False
    # False right after a change (the base moved, the branch was updated): the next read answers
    # `mergeable: null`, as GitHub does while it computes mergeability, and the one after it the value.
    mergeable_known: bool = True
    merge_requests: list[MergeRequest] = field(default_factory=list)
    # `push_before_merge`: a person's push has already raced a merge (it does so once).
    merge_raced: bool = False

    @property
    def key(self) -> str:
        return f"{self.repo.full_name}#{self.number}"

    def html_url(self, html_base: str) -> str:
        return f"{html_base.rstrip('/')}/{self.repo.full_name}/pull/{self.number}"


@dataclass
class Run:
    id: int
    org_id: str
    prompt: str
    metadata: dict[str, Any]
    scenario: Scenario
    repo: Repo
    # Always Codegen's upper-case spelling here; the API answer spells it as configured.
    status: str = "ACTIVE"
    created_at: datetime = field(default_factory=_now)
    result: str | None = None
    summary: str | None = None
    pull_request: PullRequest | None = None
    resumes: int = 0
    lifecycle: asyncio.Task[None] | None = None
    source_type: str = "API"
    # `model` as sent on create, then on each resume that sent one (None: not sent).
    models: list[str | None] = field(default_factory=list)
    pauses: int = 0
    removed_from_pr: bool = False

    @property
    def attempt(self) -> int:
        try:
            return int(self.metadata.get("attempt") or 1)
        except (TypeError, ValueError):
            return 1


@dataclass
class ActiveTasks:
    """Tasks active on each repository: from the task's first agent run until one of its PRs merges or
    closes (a task that ends without a PR stays counted: the fake cannot tell), and the most at once."""

    now: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    most: Counter[str] = field(default_factory=Counter)

    def started(self, repository: str, task_id: str) -> None:
        self.now[repository].add(task_id)
        self.most[repository] = max(self.most[repository], len(self.now[repository]))

    def ended(self, repository: str, task_id: str) -> None:
        self.now[repository].discard(task_id)


@dataclass
class AgentsWorking:
    """Runs whose agent is working now (any source; not paused, not finished), and the most at once."""

    now: int = 0
    most: int = 0

    def started(self) -> None:
        self.now += 1
        self.most = max(self.most, self.now)

    def stopped(self) -> None:
        self.now -= 1


class FakeWorld:
    """All fake state, its lifecycles, counters and webhook deliveries."""

    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self._tasks: set[asyncio.Task[None]] = set()
        self._forget_everything()

    def _forget_everything(self) -> None:
        self._rng = random.Random(self.config.seed)
        self._ids = itertools.count(1)
        self.runs: dict[int, Run] = {}
        self.repos: dict[str, Repo] = {}
        self.pulls: dict[str, PullRequest] = {}
        # Head commits to the PRs that contain them: check-run reads ask by commit, and a scan of
        # every PR per read grows with the PRs open (10,000 in the scale benchmark).
        self._pulls_by_commit: dict[str, list[PullRequest]] = defaultdict(list)
        self.check_runs: dict[str, list[CheckRun]] = defaultdict(list)
        self.commits = CommitGraph()
        # (endpoint, outcome): merge and update-branch calls, for tests to read in /_admin/counters.
        self.pull_request_writes: Counter[tuple[str, str]] = Counter()
        self.base_pushes: Counter[str] = Counter()
        self.runs_created: Counter[tuple[str, int]] = Counter()
        self.requests: Counter[tuple[str, int]] = Counter()
        self._rate_limit: PrimaryRateLimit | None = None
        self.codegen_limits = CodegenLimits(lambda: self.config)
        self.agents_working = AgentsWorking()
        self.active_tasks = ActiveTasks()
        self._dropped_creates: set[tuple[str, int]] = set()
        self.webhooks = WebhookSender(lambda: self.config, self._rng)
        self.shapes = GitHubShapes(self.config.github_api_url, self.config.github_html_url)
        for full_name in DEFAULT_REPOSITORIES if self.config.repositories is None else self.config.repositories:
            self.repo(full_name)

    # --- shared helpers -------------------------------------------------------------------

    def next_id(self) -> int:
        return next(self._ids)

    def sha(self) -> str:
        return f"{self._rng.getrandbits(160):040x}"

    def chance(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def repo(self, full_name: str) -> Repo:
        """The repository, created on first mention: the fake GitHub has every repository."""
        if full_name not in self.repos:
            owner, name = full_name.split("/", 1)
            repo_id = len(self.repos) + 1
            root = self.commits.add(self.sha(), "Initial commit", files=(FileChange("README.md", "added"),))
            self.repos[full_name] = Repo(repo_id, 100_000 + repo_id, owner, name, root.sha)
        return self.repos[full_name]

    def _spawn(self, coroutine: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _spawn_agent(self, coroutine: Any) -> asyncio.Task[None]:
        """A run's lifecycle, counted in `agents_working` until it ends (finished, paused or stopped)."""
        task = self._spawn(coroutine)
        # The counter it started in: after a reset, the cancelled old lifecycles leave the new one alone.
        agents = self.agents_working
        agents.started()
        task.add_done_callback(lambda _: agents.stopped())
        return task

    def _delay(self, scenario: Scenario, name: str) -> float:
        override = getattr(scenario.delays, name)
        return getattr(self.config, name) if override is None else override

    # --- Codegen ----------------------------------------------------------------------------

    def connected(self) -> list[Repo]:
        """The repositories GET /repos lists: the configured ones, or (unset) every one the fake knows."""
        names = self.config.repositories
        if names is None:
            return list(self.repos.values())
        return [self.repos[name] for name in names if name in self.repos]

    def _is_connected(self, full_name: str) -> bool:
        names = self.config.repositories
        return names is None or full_name.lower() in {name.lower() for name in names}

    def create_run(
        self, org_id: str, prompt: str, metadata: dict[str, Any], repo_id: int | None, model: str | None = None
    ) -> Run:
        scenario = Scenario.from_metadata(metadata)
        if self.config.repositories == []:
            raise FakeError(404, "No repos found in the organization. Please add some repos and try again.")
        if repo_id is not None:
            repo = next((r for r in self.repos.values() if r.id == repo_id and self._is_connected(r.full_name)), None)
            if repo is None:
                raise FakeError(404, f"Repository {repo_id} not found in organization {org_id}.")
        else:
            name = str(metadata.get("repository") or (self.config.repositories or DEFAULT_REPOSITORIES)[0])
            if name.count("/") != 1 or not self._is_connected(name):
                raise FakeError(404, f"Repository {name} is not connected to organization {org_id} (FAKE_REPOSITORIES).")
            repo = self.repo(name)
        run = Run(self.next_id(), org_id, prompt, dict(metadata), scenario, repo, models=[model])
        if self._intermediate(run):
            run.status = "PENDING"
        self.runs[run.id] = run
        self.runs_created[(str(metadata.get("task_id")), run.attempt)] += 1
        self.active_tasks.started(repo.full_name, str(metadata.get("task_id")))
        run.lifecycle = self._spawn_agent(self._agent_works(run, resumed=False))
        return run

    def _intermediate(self, run: Run) -> bool:
        own = run.scenario.intermediate_statuses
        return self.config.intermediate_statuses if own is None else own

    def spelled(self, run: Run) -> str:
        """The run's status as the API answers it (`status_spelling`)."""
        spelling = run.scenario.status_spelling or self.config.status_spelling
        if spelling == "lower":
            return "completed" if run.status == "COMPLETE" else run.status.lower()
        return run.status

    def should_drop_create_response(self, run: Run) -> bool:
        """`drop_create_response`: lose the first create response of each attempt."""
        key = (str(run.metadata.get("task_id")), run.attempt)
        if not run.scenario.drop_create_response or key in self._dropped_creates:
            return False
        self._dropped_creates.add(key)
        return True

    def run_for(self, org_id: str, run_id: int) -> Run:
        run = self.runs.get(run_id)
        if run is None or run.org_id != org_id:
            raise FakeError(404, "Agent run not found.")
        return run

    def runs_page(self, org_id: str, skip: int, limit: int) -> tuple[list[Run], int]:
        """Newest first, like the real list endpoint."""
        runs = [run for run in reversed(self.runs.values()) if run.org_id == org_id]
        return runs[skip : skip + limit], len(runs)

    def resume_run(self, org_id: str, run_id: int, prompt: str, model: str | None = None) -> Run:
        run = self.run_for(org_id, run_id)
        if run.status in ("PENDING", "EVALUATION", "ACTIVE"):
            raise FakeError(409, "Agent run is still active.")
        run.resumes += 1
        run.prompt = prompt
        if model is not None:
            run.models.append(model)
        if run.status == "PAUSED" and run.scenario.pause == "stays":
            return run  # accepted; the agent goes on waiting
        # A paused run may still say PAUSED for a while after its resume, as Codegen's may.
        lag = run.status == "PAUSED" and bool(run.scenario.delays.resume_lag_seconds)
        if not lag:
            run.status = "ACTIVE"
        run.lifecycle = self._spawn_agent(self._agent_works(run, resumed=True, lag=lag))
        return run

    def remove_from_pr(self, org_id: str, run_id: int) -> None:
        """`remove-from-pr`: every agent on the run's PR (and the run itself) ends CANCELLED; the PR is banned."""
        run = self.run_for(org_id, run_id)
        if self.config.remove_from_pr_status is not None:
            raise FakeError(self.config.remove_from_pr_status, "Agent run cannot be removed from its pull request (simulated).")
        run.removed_from_pr = True
        pr = run.pull_request
        if pr is not None:
            pr.banned = True
        stopped = [r for r in self.runs.values() if r is run or (pr is not None and r.pull_request is pr)]
        for other in stopped:
            if other.status in ("PENDING", "EVALUATION", "ACTIVE", "PAUSED"):
                if other.lifecycle is not None and other.lifecycle is not asyncio.current_task():
                    other.lifecycle.cancel()
                other.status = "CANCELLED"
                other.result = "Removed from the pull request."

    async def _agent_works(self, run: Run, resumed: bool, lag: bool = False) -> None:
        scenario = run.scenario
        run_seconds = self._delay(scenario, "run_seconds")
        if lag:
            await asyncio.sleep(scenario.delays.resume_lag_seconds)  # still PAUSED
            run.status = "ACTIVE"
        if run.status == "PENDING":
            await asyncio.sleep(run_seconds / 4)
            run.status = "EVALUATION"
            await asyncio.sleep(run_seconds / 4)
            run.status = "ACTIVE"
            run_seconds /= 2
        await asyncio.sleep(run_seconds)
        if run.pull_request is None and run.pauses < scenario.pauses:
            run.pauses += 1
            run.status = "PAUSED"
            run.result = "Proposed a plan; waiting for approval."
            return
        if not resumed and run.attempt <= scenario.fail_attempts:
            run.status = scenario.failure_status
            run.result = f"Simulated failure for attempt {run.attempt}."
            return
        if not resumed and run.attempt <= scenario.no_pr_attempts:
            run.status = "COMPLETE"
            run.result = run.summary = "Looked into it; no code changes were needed."
            return
        pr = run.pull_request
        if pr is None:
            self.open_pull_request(run)
        elif pr.state == "open" and scenario.resume_pushes:
            # The agent was asked to fix what the PR lacks; a conflict with its base is one of those things.
            self.push(pr, resolve_conflicts=True)
        run.status = "COMPLETE"
        run.summary = f"Opened {run.pull_request.key}." if run.pull_request else "Done."
        run.result = run.summary

    # --- GitHub -----------------------------------------------------------------------------

    def open_pull_request(self, run: Run) -> PullRequest:
        repo = run.repo
        number = repo.next_pr_number
        repo.next_pr_number += 1
        task_id = run.metadata.get("task_id", "unknown")
        title = run.prompt.strip().splitlines()[0][:72] if run.prompt.strip() else f"Task {task_id}"
        body = f"{run.summary or 'Changes made by the Codegen agent.'}\n\nTask-ID: {task_id}\nCodegen-Run: {run.id}\n"
        pr = PullRequest(
            id=self.next_id() + 1_000_000,
            number=number,
            repo=repo,
            title=title,
            body=body,
            head_ref=f"codegen-bot/{task_id}-{run.attempt}-{run.id}",
            head_sha=self.sha(),
            scenario=run.scenario,
            run_id=run.id,
            base_sha=repo.base_sha,
            path=_source_path(str(task_id), number),
        )
        files = (FileChange(pr.path, "modified"), FileChange(f"tests/test_{pr.path.removeprefix('src/')}", "added"))
        self._add_commit(pr, title, (repo.base_sha,), files)
        self.pulls[pr.key] = pr
        run.pull_request = pr
        self._emit_pull_request(pr, "opened")
        self._start_checks(pr, before=repo.base_sha)
        if run.scenario.base_moves is not None:
            conflicts_with = [pr.number] if run.scenario.base_moves == "conflicting" else []
            self.push_to_base(repo, BASE_BRANCH, conflicts_with, f"Change on {BASE_BRANCH} while {pr.key} was open")
        return pr

    def start_autofix(self, pr: PullRequest) -> Run:
        """Codegen's checks auto-fixer: a run of its own on the PR (not counted in `runs_created`)."""
        parent = self.runs.get(pr.run_id) if pr.run_id is not None else None
        run = Run(
            self.next_id(),
            parent.org_id if parent else "1",
            f"Fix the failing checks on {pr.key}",
            {"source": "codegen-checks-autofixer", "parent_agent_run_id": pr.run_id},
            pr.scenario,
            pr.repo,
            source_type="GITHUB_CHECK_SUITE",
            pull_request=pr,
        )
        self.runs[run.id] = run
        pr.autofix_started = True
        run.lifecycle = self._spawn_agent(self._autofixer_works(run, pr))
        return run

    async def _autofixer_works(self, run: Run, pr: PullRequest) -> None:
        await asyncio.sleep(self._delay(run.scenario, "run_seconds"))
        if pr.state != "open" or pr.banned:
            run.status, run.result = "CANCELLED", "The pull request is no longer open to agents."
            return
        pr.autofixed = True
        self.push(pr)
        run.status = "COMPLETE"
        run.summary = run.result = f"Pushed a fix for the failing checks on {pr.key}."

    def pull(self, owner: str, name: str, number: int) -> PullRequest:
        pr = self.pulls.get(f"{owner}/{name}#{number}")
        if pr is None:
            raise FakeError(404, "Not Found")
        return pr

    def review(self, pr: PullRequest, review_id: int) -> Review:
        for review in pr.reviews:
            if review.id == review_id:
                return review
        raise FakeError(404, "Not Found")

    def pulls_for_commit(self, owner: str, name: str, sha: str) -> list[PullRequest]:
        full_name = f"{owner}/{name}"
        return [pr for pr in self._pulls_by_commit.get(sha, []) if pr.repo.full_name == full_name]

    def _add_commit(self, pr: PullRequest, message: str, parents: tuple[str, ...], files: tuple[FileChange, ...] = ()) -> None:
        self.commits.add(pr.head_sha, message, parents, files)
        pr.commits.append(pr.head_sha)
        self._pulls_by_commit[pr.head_sha].append(pr)

    def push(self, pr: PullRequest, resolve_conflicts: bool = False) -> str:
        """A new commit on the PR branch: synchronize webhook and a fresh round of checks. With
        `resolve_conflicts`, a PR in conflict gets the base merged in, its conflicts resolved."""
        self._require_open(pr)
        if resolve_conflicts and pr.conflicting:
            message = f"Merge branch '{pr.base_ref}' into {pr.head_ref}; resolve conflicts in {pr.path}"
            parents: tuple[str, ...] = (pr.head_sha, pr.repo.base_sha)
            pr.base_sha, pr.conflicting, pr.mergeable_known = pr.repo.base_sha, False, False
        else:
            message, parents = "Follow-up changes", (pr.head_sha,)
        pr.followups_pushed += 1
        return self._new_head(pr, message, parents, (FileChange(pr.path, "modified"),))

    def _new_head(self, pr: PullRequest, message: str, parents: tuple[str, ...], files: tuple[FileChange, ...] = ()) -> str:
        before, pr.head_sha = pr.head_sha, self.sha()
        self._add_commit(pr, message, parents, files)
        pr.updated_at = _now()
        self._emit_pull_request(pr, "synchronize", before=before, after=pr.head_sha)
        self._start_checks(pr, before=before)
        return pr.head_sha

    def _start_checks(self, pr: PullRequest, before: str) -> None:
        suite = CheckSuite(self.next_id(), pr.head_sha, pr.head_ref, before)
        pr.check_suites[pr.head_sha] = suite
        for name in pr.scenario.check_names:
            self.check_runs[pr.head_sha].append(CheckRun(self.next_id(), name, pr.head_sha, suite.id))
            suite.check_runs_count += 1
        if pr.lifecycle is not None:
            pr.lifecycle.cancel()
        pr.lifecycle = self._spawn(self._pull_request_lifecycle(pr))

    async def _pull_request_lifecycle(self, pr: PullRequest) -> None:
        scenario = pr.scenario
        await asyncio.sleep(self._delay(scenario, "checks_seconds"))
        passed = pr.autofixed or scenario.checks_pass(pr.followups_pushed)
        self.complete_checks(pr, "success" if passed else "failure")
        if not passed and scenario.autofix and not pr.banned and not pr.autofix_started:
            self.start_autofix(pr)
        approved = True
        if scenario.review is not None:
            await asyncio.sleep(self._delay(scenario, "review_seconds"))
            approved = scenario.review == "approve" or pr.followups_pushed > 0
            if approved:
                self.submit_review(pr, "APPROVED")
            else:
                self.submit_review(pr, "CHANGES_REQUESTED", comments=REQUESTED_CHANGES)
        if scenario.outcome == "leave_open" or (scenario.outcome == "merge" and not (passed and approved)):
            return
        await asyncio.sleep(self._delay(scenario, "merge_seconds"))
        if pr.state != "open":
            return
        if scenario.outcome == "close":
            self.close(pr)
        elif merge_refusal(pr, self.latest_checks(pr)) is None:
            # A PR GitHub would not merge (a conflict, protection) waits for someone to fix it, then merges.
            self.merge(pr)

    def complete_checks(self, pr: PullRequest, conclusion: str, names: list[str] | None = None) -> list[CheckRun]:
        """Finish the head's checks with `conclusion`; a check already finished is re-run."""
        sha = pr.head_sha
        completed = []
        for name in names or pr.scenario.check_names:
            runs = [run for run in self.check_runs[sha] if run.name == name]
            run = runs[-1] if runs and runs[-1].status != "completed" else None
            if run is None:
                run = CheckRun(self.next_id(), name, sha, pr.check_suites[sha].id)
                self.check_runs[sha].append(run)
            run.status, run.conclusion, run.completed_at = "completed", conclusion, _now()
            passed = conclusion in ("success", "neutral", "skipped")
            run.output_title = f"{name}: {'all good' if passed else 'failed'}"
            run.output_summary = f"{name} finished with {conclusion}."
            run.output_text = None if passed else f"FAILED tests/test_{name}.py::test_feature - AssertionError"
            if (size := pr.scenario.check_output_chars) is not None:
                run.output_summary = _repeated(run.output_summary, size)
                run.output_text = _repeated(run.output_text or f"{name}: all tests passed", size)
            completed.append(run)
            self._emit_check("check_run", pr, self.shapes.check_run(run, pr, not pr.scenario.check_events_without_pull_requests))
        suite = pr.check_suites[sha]
        latest = {run.name: run for run in self.check_runs[sha]}
        if all(run.status == "completed" for run in latest.values()):
            suite.status = "completed"
            failed = any(run.conclusion not in ("success", "neutral", "skipped") for run in latest.values())
            suite.conclusion = "failure" if failed else "success"
            suite.updated_at = _now()
            self._emit_check(
                "check_suite", pr, self.shapes.check_suite(suite, pr, not pr.scenario.check_events_without_pull_requests)
            )
        return completed

    def submit_review(self, pr: PullRequest, state: str, body: str = "", comments: list[dict[str, Any]] | None = None) -> Review:
        """A review, with line comments given as {"path", "line"?, "body"}."""
        state = state.upper()
        if state not in ("APPROVED", "CHANGES_REQUESTED", "COMMENTED"):
            raise FakeError(422, f"Unknown review state {state!r}.")
        review = Review(self.next_id(), state, body or f"Fake review: {state.lower()}.", pr.head_sha)
        try:
            review.comments = [ReviewComment(self.next_id(), str(c["path"]), c.get("line"), str(c["body"])) for c in comments or []]
        except (KeyError, TypeError, AttributeError):
            raise FakeError(422, 'Each review comment needs "path" and "body" ("line" is optional).') from None
        pr.reviews.append(review)
        self._emit("pull_request_review", pr, {"action": "submitted", "review": self.shapes.review(review, pr, True)})
        return review

    def merge(self, pr: PullRequest, merge_commit_sha: str | None = None, by: str = MAINTAINER_LOGIN) -> None:
        """The PR merged; only a merge through the API (`merge_through_api`) also moves its base."""
        self._require_open(pr)
        pr.state, pr.merged, pr.merged_by = "closed", True, by
        pr.merged_at = pr.closed_at = pr.updated_at = _now()
        pr.merge_commit_sha = merge_commit_sha or self.sha()
        self._pr_ended(pr)
        self._emit_pull_request(pr, "closed")

    def close(self, pr: PullRequest) -> None:
        self._require_open(pr)
        pr.state = "closed"
        pr.closed_at = pr.updated_at = _now()
        self._pr_ended(pr)
        self._emit_pull_request(pr, "closed")

    def _pr_ended(self, pr: PullRequest) -> None:
        """The PR merged or closed: its task is no longer active, and its lifecycle stops."""
        run = self.runs.get(pr.run_id) if pr.run_id is not None else None
        if run is not None:
            self.active_tasks.ended(pr.repo.full_name, str(run.metadata.get("task_id")))
        # A lifecycle that closes its own PR must not cancel itself mid-step.
        if pr.lifecycle is not None and pr.lifecycle is not asyncio.current_task():
            pr.lifecycle.cancel()
        pr.lifecycle = None

    # --- merging through the API, and a base that moves ---------------------------------------

    def latest_checks(self, pr: PullRequest) -> dict[str, CheckRun]:
        return self._latest_runs(pr.head_sha)

    def _latest_runs(self, sha: str) -> dict[str, CheckRun]:
        return {run.name: run for run in self.check_runs.get(sha, [])}

    def checks_passed(self, sha: str) -> bool:
        """Whether the commit has checks and the latest run of each has completed green."""
        latest = self._latest_runs(sha).values()
        return bool(latest) and all(run.status == "completed" and run.conclusion in PASSING for run in latest)

    def merge_status(self, pr: PullRequest) -> MergeStatus:
        return merge_status(pr, self.latest_checks(pr))

    def pull_request_json(self, pr: PullRequest) -> dict[str, Any]:
        return self.shapes.pull_request(pr, self.merge_status(pr))

    def read_pull_request(self, pr: PullRequest) -> dict[str, Any]:
        """The REST read of a PR: right after a change it answers `mergeable: null`, and the value from then on."""
        document = self.pull_request_json(pr)
        pr.mergeable_known = True
        return document

    def _refused(self, endpoint: str, outcome: str, status: int, message: str, headers: dict[str, str] | None = None) -> FakeError:
        self.pull_request_writes[(endpoint, outcome)] += 1
        return FakeError(status, message, headers, outcome)

    def _require_write_access(self, pr: PullRequest, endpoint: str) -> None:
        if pr.scenario.write_forbidden:
            raise self._refused(endpoint, "forbidden", 403, NOT_ACCESSIBLE, {"x-accepted-github-permissions": WRITE_PERMISSIONS[endpoint]})

    def update_branch(self, pr: PullRequest, expected_head_sha: str | None) -> None:
        """`PUT .../update-branch`: the base merged into the head (a new head, its checks restarted)."""
        self._require_write_access(pr, "update_branch")
        if pr.state != "open":
            raise self._refused("update_branch", "closed", 422, "Pull request is closed.")
        if expected_head_sha is not None and expected_head_sha != pr.head_sha:
            # GitHub documents the 422; these words are the ones its clients report, not verified against its docs.
            raise self._refused("update_branch", "head_changed", 422, "expected head sha didn't match current head ref.")
        if pr.conflicting:
            raise self._refused("update_branch", "conflict", 422, "merge conflict between base and head")
        if not is_behind(pr):
            raise self._refused("update_branch", "up_to_date", 422, "There are no new commits on the base branch.")
        self.pull_request_writes[("update_branch", "updated")] += 1
        pr.base_sha, pr.mergeable_known = pr.repo.base_sha, False
        self._new_head(pr, f"Merge branch '{pr.base_ref}' into {pr.head_ref}", (pr.head_sha, pr.repo.base_sha))

    def merge_through_api(self, pr: PullRequest, sha: str | None, method: str, title: str | None) -> str:
        """`PUT .../merge`: the PR merged into its base, which moves (push webhook); the new base head returned.
        Each request is kept in `pr.merge_requests`, for tests to check which heads merges were asked for."""
        if pr.scenario.push_before_merge and not pr.merge_raced and pr.state == "open":
            # A person pushes just as the merge arrives: the head the caller judged green is no longer the head.
            pr.merge_raced = True
            self.push(pr)
        request = MergeRequest(sha, pr.head_sha, self.checks_passed(sha or pr.head_sha))
        pr.merge_requests.append(request)
        try:
            merged = self._merge_unless_refused(pr, sha, method, title)
        except FakeError as refusal:
            request.outcome = refusal.outcome or "refused"
            raise
        request.outcome = "merged"
        return merged

    def _merge_unless_refused(self, pr: PullRequest, sha: str | None, method: str, title: str | None) -> str:
        self._require_write_access(pr, "merge")
        if pr.state == "open" and sha is not None and sha != pr.head_sha:
            raise self._refused("merge", "head_changed", 409, "Head branch was modified. Review and try the merge again.")
        refusal = merge_refusal(pr, self.latest_checks(pr))
        if refusal is not None:
            raise self._refused("merge", "not_mergeable", 405, refusal)
        self.pull_request_writes[("merge", "merged")] += 1
        repo, before = pr.repo, pr.repo.base_sha
        commit = self._land(pr, method, title or pr.title)
        self.merge(pr, commit.sha, by=TOKEN_LOGIN)
        conflicting = [other.number for other in self._open_on_base(repo) if other.scenario.conflicts_with_merges]
        self._base_moved(repo, before, commit, conflicting)
        return commit.sha

    def _land(self, pr: PullRequest, method: str, title: str) -> Commit:
        """The commits a merge puts on the base, by `merge_method`; the last one (the new base head) returned."""
        base = pr.repo.base_sha
        if method == "merge":
            message = f"Merge pull request #{pr.number} from {pr.repo.owner}/{pr.head_ref}\n\n{title}"
            return self.commits.add(self.sha(), message, (base, pr.head_sha))
        changes = self.commits.compare(base, pr.head_sha)
        if method == "squash":
            return self.commits.add(self.sha(), f"{title} (#{pr.number})", (base,), tuple(changes.files()))
        commit = self.commits.get(base)
        for original in (c for c in changes.ahead if not c.is_merge):  # rebase: each commit replayed
            commit = self.commits.add(self.sha(), original.message, (base,), original.files)
            base = commit.sha
        assert commit is not None
        return commit

    def push_to_base(self, repo: Repo, branch: str, conflicts_with: list[int], message: str | None = None) -> Commit:
        """A commit lands on the base branch: every open PR on it is behind, those in `conflicts_with` also in conflict."""
        if branch != BASE_BRANCH:
            raise FakeError(422, f"The fake's PRs all target {BASE_BRANCH!r}; push there.")
        targets = {pr.number: pr for pr in self._open_on_base(repo)}
        unknown = sorted(set(conflicts_with) - set(targets))
        if unknown:
            raise FakeError(422, f"No open pull request #{unknown[0]} on {repo.full_name}:{branch}.")
        changes = [FileChange(f"docs/changes/{self.next_id()}.md", "added")]
        changes += [FileChange(targets[number].path, "modified") for number in conflicts_with]
        before = repo.base_sha
        commit = self.commits.add(self.sha(), message or f"Change on {branch}", (before,), tuple(changes))
        self._base_moved(repo, before, commit, conflicts_with)
        return commit

    def _open_on_base(self, repo: Repo) -> list[PullRequest]:
        return [pr for pr in self.pulls.values() if pr.repo is repo and pr.state == "open" and pr.base_ref == BASE_BRANCH]

    def _base_moved(self, repo: Repo, before: str, commit: Commit, conflicting: list[int]) -> None:
        repo.base_sha = commit.sha
        self.base_pushes[repo.full_name] += 1
        for pr in self._open_on_base(repo):
            pr.mergeable_known = False
            pr.conflicting = pr.conflicting or pr.number in conflicting
        payload = self.shapes.push(repo, BASE_BRANCH, before, commit)
        payload["repository"] = self.shapes.repository(repo)
        payload["sender"] = self.shapes.user("codegen-sh[bot]")
        self.webhooks.emit("push", payload, repo.full_name)

    def compare(self, repo: Repo, basehead: str) -> dict[str, Any]:
        """`GET .../compare/{base}...{head}`; each side a branch, a PR's head branch, or a commit."""
        base_ref, separator, head_ref = basehead.partition("...")
        base, head = self._commit_at(repo, base_ref), self._commit_at(repo, head_ref)
        if not separator or base is None or head is None:
            raise FakeError(404, "Not Found")
        return self.shapes.comparison(repo, basehead, base, head, self.commits.compare(base.sha, head.sha))

    def _commit_at(self, repo: Repo, ref: str) -> Commit | None:
        if ref == BASE_BRANCH:
            return self.commits.get(repo.base_sha)
        branch = next((pr for pr in self.pulls.values() if pr.repo is repo and pr.head_ref == ref), None)
        return self.commits.get(branch.head_sha if branch else ref)

    @staticmethod
    def _require_open(pr: PullRequest) -> None:
        if pr.state != "open":
            raise FakeError(409, f"Pull request {pr.key} is {'merged' if pr.merged else 'closed'}.")

    # --- webhooks ---------------------------------------------------------------------------

    def _emit_pull_request(self, pr: PullRequest, action: str, **extra: str) -> None:
        self._emit("pull_request", pr, {"action": action, "number": pr.number, **extra})

    def _emit_check(self, event: str, pr: PullRequest, body: dict[str, Any]) -> None:
        self._emit(event, pr, {"action": "completed", event: body})

    def _emit(self, event: str, pr: PullRequest, payload: dict[str, Any]) -> None:
        if event in ("pull_request", "pull_request_review"):
            payload["pull_request"] = self.pull_request_json(pr)
        payload["repository"] = self.shapes.repository(pr.repo)
        payload["sender"] = self.shapes.user(REVIEWER_LOGIN if event == "pull_request_review" else "codegen-sh[bot]")
        self.webhooks.emit(event, payload, pr.key)

    # --- admin ------------------------------------------------------------------------------

    def github_rate_limit(self) -> PrimaryRateLimit | None:
        """The enforced GitHub rate limit, if configured; a new configuration starts a new window."""
        limit, window = self.config.github_rate_limit, self.config.github_rate_window_seconds
        if limit is None:
            return None
        current = self._rate_limit
        if current is None or (current.limit, current.window_seconds) != (limit, window):
            self._rate_limit = current = PrimaryRateLimit(limit, window)
        return current

    def count_request(self, endpoint: str, status: int) -> None:
        self.requests[(endpoint, status)] += 1

    def counters(self) -> dict[str, Any]:
        runs: dict[str, dict[str, int]] = defaultdict(dict)
        for (task_id, attempt), count in self.runs_created.items():
            runs[task_id][str(attempt)] = count
        requests: dict[str, dict[str, int]] = defaultdict(dict)
        for (endpoint, status), count in self.requests.items():
            requests[endpoint][str(status)] = count
        writes: dict[str, dict[str, int]] = {"merge": {}, "update_branch": {}}
        for (endpoint, outcome), count in self.pull_request_writes.items():
            writes[endpoint][outcome] = count
        return {
            "runs_created": runs,
            "runs_total": len(self.runs),
            "runs_by_source": dict(Counter(run.source_type for run in self.runs.values())),
            "removed_from_pr": [run.id for run in self.runs.values() if run.removed_from_pr],
            "runs_in_progress": self.agents_working.now,
            "runs_in_progress_max": self.agents_working.most,
            "active_tasks_by_repository": {repo: len(tasks) for repo, tasks in self.active_tasks.now.items()},
            "active_tasks_max_by_repository": dict(self.active_tasks.most),
            "pull_requests_total": len(self.pulls),
            "requests": requests,
            "webhooks": dict(self.webhooks.counts),
            "webhooks_pending": self.webhooks.pending(),
            "codegen_quota": self.codegen_limits.counters(),
            "pull_request_writes": writes,
            "base_pushes": dict(self.base_pushes),
        }

    async def reset(self) -> None:
        """Forget everything (runs, PRs, counters); keep the config."""
        await self.aclose()
        self._forget_everything()

    async def aclose(self) -> None:
        """Cancel lifecycles and stop webhook delivery."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.webhooks.aclose()
