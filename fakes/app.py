"""The fake's HTTP surface: Codegen API, GitHub REST and `/_admin/`, in one Starlette app."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes import rate_limit
from fakes.config import FakeConfig
from fakes.faults import FaultsAndCounters, Injection, api_error
from fakes.world import FakeError, FakeWorld, PullRequest, Run

ORG = "/v1/organizations/{org_id}"


def create_app(config: FakeConfig, world: FakeWorld | None = None) -> Starlette:
    """Build the fake; `app.state.world` holds its state (close it with `await world.aclose()`)."""
    world = world or FakeWorld(config)
    handlers = _Handlers(world)
    routes = [
        Route(f"{ORG}/agent/run", _answering(handlers.create_run), methods=["POST"]),
        Route(f"{ORG}/agent/run/resume", _answering(handlers.resume_run), methods=["POST"]),
        Route(f"{ORG}/agent/run/remove-from-pr", _answering(handlers.remove_from_pr), methods=["POST"]),
        Route(f"{ORG}/agent/run/{{run_id:int}}", _answering(handlers.get_run), methods=["GET"]),
        Route(f"{ORG}/agent/runs", _answering(handlers.list_runs), methods=["GET"]),
        Route(f"{ORG}/repos", _answering(handlers.list_repos), methods=["GET"]),
        Route("/v1/users/me", _answering(handlers.current_user), methods=["GET"]),
        Route("/repos/{owner}/{repo}/pulls/{number:int}", _answering(handlers.get_pull, github=True), methods=["GET"]),
        Route("/repos/{owner}/{repo}/pulls/{number:int}/update-branch", _answering(handlers.update_branch, github=True), methods=["PUT"]),
        Route("/repos/{owner}/{repo}/pulls/{number:int}/merge", _answering(handlers.merge_pull, github=True), methods=["PUT"]),
        Route("/repos/{owner}/{repo}/compare/{basehead:path}", _answering(handlers.compare, github=True), methods=["GET"]),
        Route("/repos/{owner}/{repo}/pulls/{number:int}/reviews", _answering(handlers.reviews, github=True), methods=["GET"]),
        Route(
            "/repos/{owner}/{repo}/pulls/{number:int}/reviews/{review_id:int}/comments",
            _answering(handlers.review_comments, github=True),
            methods=["GET"],
        ),
        Route("/repos/{owner}/{repo}/commits/{sha}/check-runs", _answering(handlers.check_runs, github=True), methods=["GET"]),
        Route("/repos/{owner}/{repo}/commits/{sha}/pulls", _answering(handlers.commit_pulls, github=True), methods=["GET"]),
        Route("/rate_limit", _answering(handlers.rate_limit, github=True), methods=["GET"]),
        Route("/healthz", handlers.healthz, methods=["GET"]),
        Route("/_admin/counters", handlers.counters, methods=["GET"]),
        Route("/_admin/reset", handlers.reset, methods=["POST"]),
        Route("/_admin/config", handlers.update_config, methods=["PATCH"]),
        Route("/_admin/inject", handlers.inject, methods=["POST"]),
        Route("/_admin/inject", handlers.clear_injections, methods=["DELETE"]),
        Route("/_admin/runs/{run_id:int}", _answering(handlers.run_details), methods=["GET"]),
        Route("/_admin/repos", handlers.add_repo, methods=["POST"]),
        Route("/_admin/repos/{owner}/{repo}/push", _answering(handlers.push_to_base), methods=["POST"]),
        Route("/_admin/webhooks", handlers.webhook_log, methods=["GET"]),
        Route("/_admin/pulls/{owner}/{repo}/{number:int}", _answering(handlers.pull_details), methods=["GET"]),
        Route("/_admin/pulls/{owner}/{repo}/{number:int}/{action}", _answering(handlers.drive_pull), methods=["POST"]),
    ]

    @asynccontextmanager
    async def lifespan(_: Starlette):  # type: ignore[no-untyped-def]
        yield
        await world.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.world = world
    app.add_middleware(FaultsAndCounters, world=world, routes=routes, injections=handlers.injections)
    return app


Handler = Callable[[Request], Awaitable[Response]]
T = TypeVar("T")


class _Handlers:
    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.injections: list[Injection] = []

    # --- Codegen ----------------------------------------------------------------------------

    def _codegen_auth(self, request: Request) -> str:
        """The org id after checking the bearer token and org access, as the real API does."""
        config = self.world.config
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise FakeError(401, "Missing or malformed Authorization header; expected 'Bearer <token>'.")
        if config.codegen_api_key is not None and token.strip() != config.codegen_api_key:
            raise FakeError(401, "Invalid API token.")
        org_id = request.path_params.get("org_id")
        if org_id is not None and config.org_ids is not None and str(org_id) not in config.org_ids:
            raise FakeError(403, "You do not have access to this organization.")
        return str(org_id) if org_id is not None else ""

    def _run_json(self, run: Run) -> dict[str, Any]:
        pulls = []
        if run.pull_request is not None:
            pr = run.pull_request
            pulls.append(
                {
                    "id": pr.id,
                    "title": pr.title,
                    "url": pr.html_url(self.world.config.github_html_url),
                    "created_at": pr.created_at.isoformat(),
                    "head_branch_name": pr.head_ref,
                }
            )
        return {
            "id": run.id,
            "organization_id": int(run.org_id) if run.org_id.isdigit() else run.org_id,
            "status": self.world.spelled(run),
            "created_at": run.created_at.isoformat(),
            "web_url": f"https://codegen.com/agent/trace/{run.id}",
            "result": run.result,
            "summary": run.summary,
            "source_type": run.source_type,
            "github_pull_requests": pulls,
            "metadata": run.metadata,
        }

    async def _json_body(self, request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError as exc:
            raise _Validation([{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]) from exc
        if not isinstance(body, dict):
            raise _Validation([{"loc": ["body"], "msg": "Input should be an object", "type": "dict_type"}])
        return body

    @staticmethod
    def _page(items: list[dict[str, Any]], total: int, skip: int, limit: int) -> dict[str, Any]:
        return {"items": items, "total": total, "page": skip // limit + 1, "size": limit, "pages": math.ceil(total / limit)}

    @staticmethod
    def _skip_limit(request: Request) -> tuple[int, int]:
        try:
            skip = int(request.query_params.get("skip", 0))
            limit = int(request.query_params.get("limit", 100))
        except ValueError as exc:
            raise _Validation([{"loc": ["query"], "msg": "Input should be a valid integer", "type": "int_parsing"}]) from exc
        if skip < 0 or not 1 <= limit <= 100:
            raise _Validation([{"loc": ["query", "limit"], "msg": "skip >= 0 and 1 <= limit <= 100", "type": "range"}])
        return skip, limit

    @staticmethod
    def _require(body: dict[str, Any], name: str, kind: type) -> Any:
        value = body.get(name)
        if not isinstance(value, kind) or (kind is str and not value.strip()):
            problem = "Field required" if value is None else f"Input should be a valid {kind.__name__}"
            raise _Validation([{"loc": ["body", name], "msg": problem, "type": "missing"}])
        return value

    @staticmethod
    def _model(body: dict[str, Any]) -> str | None:
        model = body.get("model")
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise _Validation([{"loc": ["body", "model"], "msg": "Input should be a valid string", "type": "string_type"}])
        return model

    async def create_run(self, request: Request) -> Response:
        org_id = self._codegen_auth(request)
        body = await self._json_body(request)
        prompt = self._require(body, "prompt", str)
        metadata = body.get("metadata") or {}
        repo_id = body.get("repo_id")
        if not isinstance(metadata, dict) or (repo_id is not None and not isinstance(repo_id, int)):
            raise _Validation([{"loc": ["body"], "msg": "metadata must be an object, repo_id an integer", "type": "type"}])
        model = self._model(body)
        try:
            run = self.world.create_run(org_id, prompt, metadata, repo_id, model)
        except ValidationError as exc:
            raise _Validation(
                [{"loc": ["body", "metadata", "scenario", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            ) from exc
        if self.world.should_drop_create_response(run):
            return api_error(500, "Internal Server Error (simulated: the run was created, the response lost)")
        return JSONResponse(self._run_json(run))

    async def get_run(self, request: Request) -> Response:
        org_id = self._codegen_auth(request)
        return JSONResponse(self._run_json(self.world.run_for(org_id, request.path_params["run_id"])))

    async def list_runs(self, request: Request) -> Response:
        org_id = self._codegen_auth(request)
        skip, limit = self._skip_limit(request)
        runs, total = self.world.runs_page(org_id, skip, limit)
        return JSONResponse(self._page([self._run_json(run) for run in runs], total, skip, limit))

    async def resume_run(self, request: Request) -> Response:
        org_id = self._codegen_auth(request)
        body = await self._json_body(request)
        run_id = self._require(body, "agent_run_id", int)
        prompt = self._require(body, "prompt", str)
        return JSONResponse(self._run_json(self.world.resume_run(org_id, run_id, prompt, self._model(body))))

    async def remove_from_pr(self, request: Request) -> Response:
        """Stops every agent on the run's PR (they end CANCELLED) and bans the PR; answers `{}` as Codegen does."""
        org_id = self._codegen_auth(request)
        body = await self._json_body(request)
        self.world.remove_from_pr(org_id, self._require(body, "agent_run_id", int))
        return JSONResponse({})

    async def list_repos(self, request: Request) -> Response:
        org_id = self._codegen_auth(request)
        skip, limit = self._skip_limit(request)
        connected = self.world.connected()
        items = [
            {
                "id": repo.id,
                "name": repo.name,
                "full_name": repo.full_name,
                "description": None,
                "github_id": str(repo.github_id),
                "organization_id": int(org_id) if org_id.isdigit() else org_id,
                "visibility": "public",
                "archived": False,
                "setup_status": "COMPLETED",
                "language": "Python",
            }
            for repo in connected[skip : skip + limit]
        ]
        return JSONResponse(self._page(items, len(connected), skip, limit))

    async def current_user(self, request: Request) -> Response:
        self._codegen_auth(request)
        return JSONResponse(
            {
                "id": 1,
                "email": "mock@codegen.invalid",
                "github_user_id": "1",
                "github_username": "mock-user",
                "avatar_url": None,
                "full_name": "Mock Mode",
                "role": "ADMIN",
                "is_admin": True,
            }
        )

    # --- GitHub -----------------------------------------------------------------------------

    def _github_auth(self, request: Request) -> None:
        expected = self.world.config.github_token
        header = request.headers.get("authorization")
        if header is None:
            return
        token = header.partition(" ")[2].strip()
        if expected is not None and token != expected:
            raise FakeError(401, "Bad credentials")

    def _github_json(self, request: Request, data: Any, headers: dict[str, str] | None = None, status_code: int = 200) -> Response:
        body = json.dumps(data).encode()
        etag = f'"{hashlib.sha1(body, usedforsecurity=False).hexdigest()}"'
        rate = {
            **rate_limit.headers(self._rate_state()),
            "x-github-api-version-selected": request.headers.get("x-github-api-version", "2022-11-28"),
            "etag": etag,
            **(headers or {}),
        }
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=rate)
        return Response(body, media_type="application/json; charset=utf-8", headers=rate, status_code=status_code)

    async def get_pull(self, request: Request) -> Response:
        self._github_auth(request)
        p = request.path_params
        pr = self.world.pull(p["owner"], p["repo"], p["number"])
        return self._github_json(request, self.world.read_pull_request(pr))

    @staticmethod
    async def _github_body(request: Request) -> dict[str, Any]:
        """A write's JSON body (none is `{}`), refused as GitHub refuses what it cannot parse."""
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise FakeError(400, "Problems parsing JSON") from None
        if not isinstance(body, dict):
            raise FakeError(400, "Problems parsing JSON")
        return body

    @staticmethod
    def _optional_text(body: dict[str, Any], name: str) -> str | None:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise FakeError(422, f"Invalid request.\n\nFor '{name}', {json.dumps(value)} is not a string.")
        return value

    async def update_branch(self, request: Request) -> Response:
        """202 with GitHub's body; the fake updates the branch before answering, GitHub soon after."""
        self._github_auth(request)
        p = request.path_params
        pr = self.world.pull(p["owner"], p["repo"], p["number"])
        expected = self._optional_text(await self._github_body(request), "expected_head_sha")
        self.world.update_branch(pr, expected)
        body = {"message": "Updating pull request branch.", "url": pr.html_url(self.world.config.github_html_url)}
        return self._github_json(request, body, status_code=202)

    async def merge_pull(self, request: Request) -> Response:
        self._github_auth(request)
        p = request.path_params
        pr = self.world.pull(p["owner"], p["repo"], p["number"])
        body = await self._github_body(request)
        method = self._optional_text(body, "merge_method") or "merge"
        if method not in ("merge", "squash", "rebase"):
            raise FakeError(422, f"Invalid request.\n\n{method!r} is not a member of [\"merge\", \"squash\", \"rebase\"].")
        sha = self.world.merge_through_api(pr, self._optional_text(body, "sha"), method, self._optional_text(body, "commit_title"))
        return self._github_json(request, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})

    async def compare(self, request: Request) -> Response:
        self._github_auth(request)
        p = request.path_params
        repo = self.world.repos.get(f"{p['owner']}/{p['repo']}")
        if repo is None:
            raise FakeError(404, "Not Found")
        return self._github_json(request, self.world.compare(repo, p["basehead"]))

    async def reviews(self, request: Request) -> Response:
        self._github_auth(request)
        p = request.path_params
        pr = self.world.pull(p["owner"], p["repo"], p["number"])
        chunk, link = _page_of(request, pr.reviews)
        return self._github_json(request, [self.world.shapes.review(review, pr, webhook=False) for review in chunk], link)

    async def review_comments(self, request: Request) -> Response:
        self._github_auth(request)
        p = request.path_params
        pr = self.world.pull(p["owner"], p["repo"], p["number"])
        review = self.world.review(pr, p["review_id"])
        chunk, link = _page_of(request, review.comments)
        return self._github_json(request, [self.world.shapes.review_comment(comment, review, pr) for comment in chunk], link)

    async def check_runs(self, request: Request) -> Response:
        self._github_auth(request)
        p = request.path_params
        prs = self.world.pulls_for_commit(p["owner"], p["repo"], p["sha"])
        runs = list(self.world.check_runs.get(p["sha"], [])) if prs else []
        if request.query_params.get("filter", "latest") == "latest":
            latest = {run.name: run for run in runs}
            runs = [run for run in runs if latest[run.name] is run]
        chunk, link = _page_of(request, runs)
        body = {"total_count": len(runs), "check_runs": [self.world.shapes.check_run(run, prs[0]) for run in chunk]}
        return self._github_json(request, body, link)

    async def commit_pulls(self, request: Request) -> Response:
        self._github_auth(request)
        p = request.path_params
        prs = self.world.pulls_for_commit(p["owner"], p["repo"], p["sha"])
        return self._github_json(request, [self.world.pull_request_json(pr) for pr in prs])

    async def rate_limit(self, request: Request) -> Response:
        self._github_auth(request)
        core = self._rate_state()
        return self._github_json(request, {"resources": {"core": core}, "rate": core})

    def _rate_state(self) -> dict[str, int]:
        limit = self.world.github_rate_limit()
        return limit.state() if limit else rate_limit.UNLIMITED

    # --- admin ------------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def counters(self, request: Request) -> Response:
        return JSONResponse(self.world.counters())

    async def reset(self, request: Request) -> Response:
        self.injections.clear()
        await self.world.reset()
        return JSONResponse({"reset": True})

    async def update_config(self, request: Request) -> Response:
        changes = await request.json()
        try:
            self.world.config = FakeConfig.model_validate({**self.world.config.model_dump(), **changes})
        except ValidationError as exc:
            return JSONResponse({"detail": exc.errors(include_url=False, include_context=False)}, status_code=422)
        return JSONResponse(self.world.config.model_dump(exclude={"codegen_api_key", "github_token", "webhook_secret"}))

    async def inject(self, request: Request) -> Response:
        """Queue a canned response.

        {"status", "path_contains"?, "method"?, "body"?, "headers"?, "times"?: 1,
         "after_effect"?: false (true: the request takes effect, its answer is replaced),
         "delay_seconds"?: 0}
        """
        spec = await request.json()
        try:
            self.injections.append(Injection(spec))
        except (KeyError, TypeError, ValueError) as exc:
            return api_error(422, f"Invalid injection: {exc!r}")
        return JSONResponse({"queued": len(self.injections)})

    async def clear_injections(self, request: Request) -> Response:
        cleared = len(self.injections)
        self.injections.clear()
        return JSONResponse({"cleared": cleared})

    async def run_details(self, request: Request) -> Response:
        """What the API does not show of a run: the model sent, resumes, pauses, remove-from-pr."""
        run = self.world.runs.get(request.path_params["run_id"])
        if run is None:
            raise FakeError(404, "Agent run not found.")
        return JSONResponse(
            {
                "id": run.id,
                "status": run.status,
                "created_at": run.created_at.isoformat(),
                "source_type": run.source_type,
                "model": run.models[-1] if run.models else None,
                "models": run.models,
                "prompt": run.prompt,
                "resumes": run.resumes,
                "pauses": run.pauses,
                "removed_from_pr": run.removed_from_pr,
                "pull_request": run.pull_request.key if run.pull_request else None,
            }
        )

    async def add_repo(self, request: Request) -> Response:
        full_name = str((await request.json()).get("full_name", ""))
        if full_name.count("/") != 1:
            return api_error(422, "full_name must look like owner/name")
        self.world.repo(full_name)
        repositories = self.world.config.repositories
        if repositories is not None and full_name not in repositories:
            repositories.append(full_name)
        return JSONResponse({"id": self.world.repos[full_name].id, "full_name": full_name})

    async def webhook_log(self, request: Request) -> Response:
        return JSONResponse([delivery.summary() for delivery in self.world.webhooks.log])

    async def pull_details(self, request: Request) -> Response:
        """What the API does not show of a PR: the follow-ups pushed, a conflict, and each merge asked for
        (`{sha, head, head_checks_passed, outcome}`), to check that merges only ever name heads whose checks passed."""
        p = request.path_params
        pr = self.world.pull(p["owner"], p["repo"], p["number"])
        return JSONResponse(
            {
                "key": pr.key,
                "state": pr.state,
                "head_sha": pr.head_sha,
                "merged_by": pr.merged_by,
                "followups_pushed": pr.followups_pushed,
                "conflicting": pr.conflicting,
                "merge_requests": [dataclasses.asdict(asked) for asked in pr.merge_requests],
            }
        )

    async def drive_pull(self, request: Request) -> Response:
        """merge | close | push | review {"state", "body"?, "comments"?: [{"path", "line"?, "body"}]} | checks {"conclusion", "names"?}."""
        p = request.path_params
        pr: PullRequest = self.world.pull(p["owner"], p["repo"], p["number"])
        body = await request.json() if await request.body() else {}
        action = p["action"]
        if action == "merge":
            self.world.merge(pr)
        elif action == "close":
            self.world.close(pr)
        elif action == "push":
            self.world.push(pr)
        elif action == "review":
            self.world.submit_review(pr, str(body.get("state", "APPROVED")), str(body.get("body", "")), body.get("comments"))
        elif action == "checks":
            self.world.complete_checks(pr, str(body.get("conclusion", "success")), body.get("names"))
        else:
            raise FakeError(404, f"Unknown action {action!r}; use merge, close, push, review or checks.")
        return JSONResponse(self.world.pull_request_json(pr))

    async def push_to_base(self, request: Request) -> Response:
        """{"branch": "main", "conflicts_with"?: [PR numbers], "message"?}: a commit lands on the base branch, with its push webhook."""
        p = request.path_params
        repo = self.world.repos.get(f"{p['owner']}/{p['repo']}")
        if repo is None:
            raise FakeError(404, f"Unknown repository {p['owner']}/{p['repo']}.")
        body = await request.json() if await request.body() else {}
        conflicts_with = body.get("conflicts_with") or []
        if not isinstance(conflicts_with, list) or not all(isinstance(number, int) for number in conflicts_with):
            raise FakeError(422, "conflicts_with must be a list of pull request numbers.")
        before = repo.base_sha
        message = body.get("message")
        commit = self.world.push_to_base(repo, str(body.get("branch", "main")), conflicts_with, str(message) if message else None)
        return JSONResponse({"before": before, "after": commit.sha, "conflicts_with": conflicts_with})


class _Validation(Exception):
    def __init__(self, detail: list[dict[str, Any]]) -> None:
        super().__init__("validation error")
        self.detail = detail


def _answering(handler: Handler, github: bool = False) -> Handler:
    """The handler, with the fake's refusals turned into API-shaped error responses."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except FakeError as exc:
            return api_error(exc.status, exc.message, github, exc.headers)
        except _Validation as exc:
            return JSONResponse({"detail": exc.detail}, status_code=422)

    return endpoint


def _page_of(request: Request, items: list[T]) -> tuple[list[T], dict[str, str]]:
    """The page of `items` the request asks for (`page` from 1, `per_page` 30 by default and at most
    100, as GitHub does), and its `Link` header."""
    try:
        per_page = min(max(int(request.query_params.get("per_page", 30)), 1), 100)
        page = max(int(request.query_params.get("page", 1)), 1)
    except ValueError:
        raise FakeError(422, "Invalid pagination parameters.") from None
    return items[(page - 1) * per_page : page * per_page], _link_header(request, page, math.ceil(len(items) / per_page))


def _link_header(request: Request, page: int, last: int) -> dict[str, str]:
    """GitHub's `Link` pagination header (rel next/prev/first/last)."""
    if last <= 1:
        return {}
    links = []
    if page < last:
        links.append(f'<{request.url.include_query_params(page=page + 1)}>; rel="next"')
        links.append(f'<{request.url.include_query_params(page=last)}>; rel="last"')
    if page > 1:
        links.append(f'<{request.url.include_query_params(page=page - 1)}>; rel="prev"')
        links.append(f'<{request.url.include_query_params(page=1)}>; rel="first"')
    return {"link": ", ".join(links)}
