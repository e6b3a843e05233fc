"""The bundled fake wired into a worker's own process: mock mode when no CODEGEN_API_URL is set.

Only the composition root (`worker.build_service_clients`) imports this module, and only in that
mode, so a real-mode worker never loads the fake.
"""

from __future__ import annotations

import httpx

from activities.service_clients import ServiceClients, clients_over_transport
from fakes.app import create_app
from fakes.config import FakeConfig
from fakes.world import FakeWorld
from settings import Settings


def in_process_fake_clients(settings: Settings) -> ServiceClients:
    """Clients for a fake Codegen and GitHub served through `httpx.ASGITransport` on the caller's loop.

    The fake's knobs come from FAKE_* variables; its relay, webhook secret and connected repositories
    follow the worker's settings, so its webhooks reach this deployment's relay.
    """
    config = _fake_config(settings)
    world = FakeWorld(config)
    webhooks = f"signed webhooks go to {config.relay_url}" if config.webhooks_enabled else "no webhooks (WEBHOOK_SECRET unset)"
    return clients_over_transport(
        settings,
        httpx.ASGITransport(app=create_app(config, world)),
        f"MOCK MODE ({settings.mock_mode_reason}): Codegen and GitHub are the bundled fakes running inside this worker; "
        f"{webhooks}; no real agent runs, no real pull requests",
        world.aclose,
    )


def _fake_config(settings: Settings) -> FakeConfig:
    """`FakeConfig.from_env()` with the worker's relay URL, webhook secret and allowed repositories.

    Without FAKE_REPOSITORIES every repository is connected; with it, those and the ones the deployment allows.
    """
    from_env = FakeConfig.from_env()
    repositories = from_env.repositories
    if repositories:
        repositories = list(dict.fromkeys([*repositories, *settings.allowed_repositories]))
    return from_env.model_copy(
        update={
            "relay_url": settings.relay_url,
            "webhook_secret": settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
            "repositories": repositories,
        }
    )
