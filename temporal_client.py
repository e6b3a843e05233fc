"""One way to connect to Temporal, shared by the worker, the command line and the relay."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from codec.encryption import EncryptionCodec
from settings import Settings


async def connect(settings: Settings, *, lazy: bool = False, runtime: Runtime | None = None) -> Client:
    """Temporal's env-config (profiles, TLS, API key), at the settings' address and namespace.

    `Settings.from_env` took those from TEMPORAL_ADDRESS/TEMPORAL_NAMESPACE where set, else from the
    temporal.toml profile, and only then from the defaults, so a profile's address and namespace stand.
    `runtime` carries the worker's metrics exporter. `lazy` defers connecting to the first call (and retries it on every call until it succeeds),
    for processes that must come up while Temporal is still down, like the relay.
    """
    config = ClientConfig.load_client_connect_config()
    config["target_host"] = settings.temporal_address
    config["namespace"] = settings.temporal_namespace
    return await Client.connect(**config, data_converter=data_converter(settings), lazy=lazy, runtime=runtime)


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic JSON, encrypted when PAYLOAD_ENCRYPTION_KEYS is set (the same keys in every process)."""
    if settings.payload_encryption_keys is None:
        return pydantic_data_converter
    codec = EncryptionCodec.from_setting(settings.payload_encryption_keys.get_secret_value())
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)
