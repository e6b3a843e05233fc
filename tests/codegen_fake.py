"""Fixtures for testing the Codegen client and activities against the fake over loopback HTTP:
one fake per test module, real-mode clients pointed at it, raw access to its admin routes, and an
activity environment whose try has just started."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest_asyncio
from temporalio.testing import ActivityEnvironment

from activities.service_clients import ServiceClients
from devstack.services import serve_fake
from fakes import FakeConfig
from settings import Settings
from tests.fake_services import AUTH
from worker import build_service_clients

KEY = AUTH["Authorization"].removeprefix("Bearer ")
FAST = {"run_seconds": 0.05, "checks_seconds": 0.05, "review_seconds": 0.05, "merge_seconds": 0.05}


@pytest_asyncio.fixture(scope="module")
async def fake_url() -> AsyncIterator[str]:
    async with serve_fake(FakeConfig(**FAST, codegen_api_key=KEY, org_ids=["1"])) as url:
        yield url


@pytest_asyncio.fixture
async def clients(fake_url: str) -> AsyncIterator[ServiceClients]:
    """Real-mode clients (a key is set) pointed at the fake over loopback HTTP; they poll faster than
    Codegen's read limit allows, which this fake does not enforce."""
    env = {"CODEGEN_API_KEY": KEY, "CODEGEN_API_URL": fake_url, "GITHUB_API_URL": fake_url, "CODEGEN_READS_PER_30S": "100000"}
    settings = Settings.from_env(env)
    async with build_service_clients(settings) as built:
        yield built


@pytest_asyncio.fixture
async def admin(fake_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Raw access to the fake: admin routes, and API calls with the test key."""
    async with httpx.AsyncClient(base_url=fake_url, headers=AUTH) as http:
        yield http


def activity_environment(**info_changes: Any) -> ActivityEnvironment:
    """An activity environment whose try started now, with a create's start-to-close timeout; `info_changes` on top.

    (The SDK's default says the try started in 1970 with a second to run: a create would never be sent.)
    """
    now = datetime.now(UTC)
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info,
        **{"started_time": now, "scheduled_time": now, "current_attempt_scheduled_time": now, "start_to_close_timeout": timedelta(minutes=10), **info_changes},
    )
    return environment
