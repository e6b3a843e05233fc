"""A temporal.toml profile's address and namespace are honoured; TEMPORAL_ADDRESS/TEMPORAL_NAMESPACE win over
them when set, and the defaults apply only when neither says (outside review M4)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

import temporal_client
from devstack import ROOT
from devstack.env import clean_env
from settings import Settings
from tests.starter_process import PYTHON
from tests.waiting import wait_until


@pytest.fixture
async def namespace(client: Client) -> str:
    """A namespace of its own on the session dev server, ready for calls."""
    name = f"profile-{uuid.uuid4().hex[:10]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=Duration(seconds=86_400))
    )

    async def known() -> bool:
        try:
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=name))
        except RPCError:
            return False
        return True

    await wait_until(known, what=f"namespace {name}")
    return name


def write_config(path: Path, profiles: dict[str, dict[str, str]]) -> str:
    lines = []
    for profile, values in profiles.items():
        lines.append(f"[profile.{profile}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


async def test_the_profiles_address_and_namespace_are_used(client: Client, namespace: str, tmp_path: Path):
    address = client.service_client.config.target_host
    config = write_config(tmp_path / "temporal.toml", {"default": {"address": address, "namespace": namespace}})
    settings = Settings.from_env({"TEMPORAL_CONFIG_FILE": config})
    assert (settings.temporal_address, settings.temporal_namespace) == (address, namespace)
    connected = await temporal_client.connect(settings)
    assert (connected.service_client.config.target_host, connected.namespace) == (address, namespace)
    # A call in that namespace answers: the connection is the profile's.
    assert [w async for w in connected.list_workflows()] == []


async def test_temporal_profile_picks_the_profile(client: Client, namespace: str, tmp_path: Path):
    address = client.service_client.config.target_host
    config = write_config(
        tmp_path / "temporal.toml",
        {"default": {"address": "127.0.0.1:1"}, "staging": {"address": address, "namespace": namespace}},
    )
    settings = Settings.from_env({"TEMPORAL_CONFIG_FILE": config, "TEMPORAL_PROFILE": "staging"})
    assert (settings.temporal_address, settings.temporal_namespace) == (address, namespace)


def test_explicit_variables_win_over_the_profile_and_defaults_fill_what_neither_sets(tmp_path: Path):
    config = write_config(tmp_path / "temporal.toml", {"default": {"address": "temporal.example:7233", "namespace": "team"}})
    explicit = Settings.from_env({"TEMPORAL_CONFIG_FILE": config, "TEMPORAL_ADDRESS": "127.0.0.1:7234", "TEMPORAL_NAMESPACE": "other"})
    assert (explicit.temporal_address, explicit.temporal_namespace) == ("127.0.0.1:7234", "other")
    # Empty counts as unset, as for every other setting: the profile's value stands.
    empty = Settings.from_env({"TEMPORAL_CONFIG_FILE": config, "TEMPORAL_ADDRESS": "", "TEMPORAL_NAMESPACE": " "})
    assert (empty.temporal_address, empty.temporal_namespace) == ("temporal.example:7233", "team")
    address_only = write_config(tmp_path / "address-only.toml", {"default": {"address": "temporal.example:7233"}})
    partial = Settings.from_env({"TEMPORAL_CONFIG_FILE": address_only})
    assert (partial.temporal_address, partial.temporal_namespace) == ("temporal.example:7233", "default")
    nothing = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(tmp_path / "absent.toml")})
    assert (nothing.temporal_address, nothing.temporal_namespace) == ("localhost:7233", "default")


def test_a_missing_profile_is_a_settings_error(tmp_path: Path):
    config = write_config(tmp_path / "temporal.toml", {"default": {"address": "temporal.example:7233"}})
    with pytest.raises(ValueError, match="TEMPORAL_PROFILE.*staging"):
        Settings.from_env({"TEMPORAL_CONFIG_FILE": config, "TEMPORAL_PROFILE": "staging"})


async def test_starter_connects_where_the_profile_says(client: Client, namespace: str, task_queue: str, tmp_path: Path):
    address = client.service_client.config.target_host
    config = write_config(tmp_path / "temporal.toml", {"default": {"address": address, "namespace": namespace}})
    # No TEMPORAL_ADDRESS or TEMPORAL_NAMESPACE: only the profile says where Temporal is.
    env = clean_env(TEMPORAL_CONFIG_FILE=config, TEMPORAL_TASK_QUEUE=task_queue)
    process = await asyncio.create_subprocess_exec(
        str(PYTHON), str(ROOT / "starter.py"), "health", "--json", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await process.communicate()
    temporal = {check["name"]: check for check in json.loads(stdout)["checks"]}["temporal"]
    assert temporal["ok"] is True, stderr.decode()
    assert temporal["detail"].startswith(f"{address} namespace {namespace} "), temporal
