"""Builds the process-wide HTTP clients for Codegen and GitHub from `Settings`.

- Real mode (CODEGEN_API_KEY set, no CODEGEN_MOCK=1): Codegen at CODEGEN_API_URL, GitHub at GITHUB_API_URL.
- No key next to a production setting (GITHUB_TOKEN, CODEGEN_ORG_ID, a non-loopback API URL) and no
  CODEGEN_MOCK=1: refused (`UnsafeMockMode`), so mock mode can never stand in for a real deployment.
- Mock mode with CODEGEN_API_URL: both talk over HTTP to a fake served there (`python -m fakes`).
- Mock mode, no CODEGEN_API_URL: both talk to a fake inside this process. This package never
  imports the fake: the composition root (`worker.build_service_clients`) builds it and hands its
  transport to `clients_over_transport`.

The caller announces `ServiceClients.description` loudly and records `mock_mode` in outcomes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from activities.codegen import CodegenActivities, CodegenClient
from activities.github import API_VERSION, MEDIA_TYPE, GitHubActivities, GitHubClient
from activities.read_budget import ReadBudget
from activities.run_watcher import RunWatchActivities, RunWatcher
from settings import Settings

logger = logging.getLogger(__name__)

USER_AGENT = "codegen-temporal/0.1.0"
CODEGEN_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
GITHUB_TIMEOUT = httpx.Timeout(20.0, connect=10.0)
# Sent to the fake only: a real key never leaves for a fake, and vice versa.
MOCK_TOKEN = "mock-mode"
IN_PROCESS_FAKE_URL = "http://fake.in-process"
# The run watcher reads the run list at most this often, and less often when its read budget says so: a
# one-page sweep every 2 s is 15 of its 30 reads per 30 s; the fake's runs take about a second.
SWEEP_INTERVAL = 2.0
MOCK_SWEEP_INTERVAL = 0.5


@dataclass
class ServiceClients:
    """The two API clients of one worker process; close them with `await clients.aclose()`."""

    codegen: CodegenClient
    github: GitHubClient
    mock_mode: bool
    description: str
    # Run it (`run_watcher.run(temporal_client)`) beside the workers: waiting tasks count on its signals.
    run_watcher: RunWatcher
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list, repr=False)

    def agent_starting_activities(self) -> list[Any]:
        """Register on `codegen_api_task_queue(task_queue)` with `max_task_queue_activities_per_second`."""
        return CodegenActivities(self.codegen).agent_starting()

    def activities(self) -> list[Any]:
        """Everything else: waiting on runs, Codegen health, GitHub reads."""
        return [*CodegenActivities(self.codegen).others(), *RunWatchActivities(self.run_watcher).all(), *GitHubActivities(self.github).all()]

    async def aclose(self) -> None:
        for close in reversed(self._closers):
            await close()
        self._closers.clear()

    async def __aenter__(self) -> ServiceClients:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


class UnsafeMockMode(ValueError):
    """No CODEGEN_API_KEY where the settings say a real deployment; the message says what to set."""


def refuse_unsafe_mock_mode(settings: Settings) -> None:
    """Raise `UnsafeMockMode` when these settings must not build clients (`Settings.mock_mode_refusal`)."""
    refusal = settings.mock_mode_refusal()
    if refusal is not None:
        raise UnsafeMockMode(refusal)


def uses_in_process_fake(settings: Settings) -> bool:
    """Mock mode with no CODEGEN_API_URL: the clients need a fake served inside this process."""
    return settings.mock_mode and not settings.codegen_api_url_explicit


def clients_at_urls(settings: Settings) -> ServiceClients:
    """Real mode, or mock mode against the fake served at CODEGEN_API_URL; creating them does no I/O."""
    refuse_unsafe_mock_mode(settings)
    if uses_in_process_fake(settings):
        raise ValueError("mock mode without CODEGEN_API_URL needs the in-process fake: use worker.build_service_clients")
    if settings.mock_mode:
        return _http_fake_clients(settings)
    return _real_clients(settings)


def clients_over_transport(
    settings: Settings, transport: httpx.AsyncBaseTransport, description: str, close: Callable[[], Awaitable[None]]
) -> ServiceClients:
    """Mock-mode clients whose requests go to `transport` (a fake in this process); `close` stops that fake.

    The fake is closed after both clients, so no request is in flight when it goes.
    """
    clients = _assemble(
        _codegen_http(IN_PROCESS_FAKE_URL, MOCK_TOKEN, transport=transport),
        _github_http(IN_PROCESS_FAKE_URL, None, transport=transport),
        settings,
        description,
    )
    clients._closers.insert(0, close)
    return clients


def _codegen_http(base_url: str, token: str, **kwargs: Any) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT, "Accept": "application/json"}
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=CODEGEN_TIMEOUT, **kwargs)


def _github_http(base_url: str, token: str | None, **kwargs: Any) -> httpx.AsyncClient:
    headers = {"Accept": MEDIA_TYPE, "X-GitHub-Api-Version": API_VERSION, "User-Agent": USER_AGENT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=GITHUB_TIMEOUT, **kwargs)


def _assemble(codegen_http: httpx.AsyncClient, github_http: httpx.AsyncClient, settings: Settings, description: str) -> ServiceClients:
    # Half the read budget is the run watcher's own (its sweeps and the tasks' looks at their runs), so no
    # burst of creates or follow-ups can leave waiting tasks unseen; the rest is everyone else's.
    watcher_reads = max(1, settings.reads_per_30s // 2)
    codegen = CodegenClient(
        codegen_http, settings.codegen_org_id, mock_mode=settings.mock_mode, read_budget=ReadBudget(max(1, settings.reads_per_30s - watcher_reads))
    )
    watching = CodegenClient(codegen_http, settings.codegen_org_id, mock_mode=settings.mock_mode, read_budget=ReadBudget(watcher_reads))
    return ServiceClients(
        codegen=codegen,
        github=GitHubClient(github_http),
        mock_mode=settings.mock_mode,
        description=description,
        run_watcher=RunWatcher(watching, min_interval=MOCK_SWEEP_INTERVAL if settings.mock_mode else SWEEP_INTERVAL),
        _closers=[codegen_http.aclose, github_http.aclose],
    )


def _real_clients(settings: Settings) -> ServiceClients:
    assert settings.codegen_api_key is not None
    github_token = settings.github_token.get_secret_value() if settings.github_token else None
    if github_token is None:
        logger.warning(
            "GITHUB_TOKEN is not set: reading GitHub anonymously (60 requests/hour, public repositories only)"
        )
    return _assemble(
        _codegen_http(settings.codegen_api_url, settings.codegen_api_key.get_secret_value()),
        _github_http(settings.github_api_url, github_token),
        settings,
        f"Codegen API at {settings.codegen_api_url} (org {settings.codegen_org_id}); GitHub at {settings.github_api_url}",
    )


def _http_fake_clients(settings: Settings) -> ServiceClients:
    url = settings.codegen_api_url
    return _assemble(
        _codegen_http(url, MOCK_TOKEN),
        _github_http(url, None),
        settings,
        f"MOCK MODE ({settings.mock_mode_reason}): Codegen and GitHub are the fake served at {url} (python -m fakes); "
        "no real agent runs, no real pull requests",
    )
