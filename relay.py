"""Run the GitHub webhook relay: `python relay.py` (WEBHOOK_SECRET, RELAY_HOST, RELAY_PORT, TEMPORAL_*).

The relay starts even while Temporal is down: it connects lazily, answers deliveries 503 (so
GitHub records them as failed and they can be redelivered) and /readyz 503 until Temporal answers.
"""

from __future__ import annotations

import logging
import sys

import uvicorn
import uvloop

import temporal_client
from cli import exit_codes
from models.names import WEBHOOK_PATH
from settings import Settings
from webhooks.app import create_app


async def serve(settings: Settings) -> None:
    """Serve the relay on RELAY_HOST:RELAY_PORT until interrupted."""
    client = await temporal_client.connect(settings, lazy=True)
    app = create_app(settings, client)
    # No access log: the relay logs each delivery itself, with its event, action and outcome.
    config = uvicorn.Config(app, host=settings.relay_host, port=settings.relay_port, log_level="info", access_log=False)
    logging.getLogger(__name__).info(
        "relay listening on http://%s:%d%s, Temporal %s namespace %s%s%s",
        settings.relay_host,
        settings.relay_port,
        WEBHOOK_PATH,
        settings.temporal_address,
        settings.temporal_namespace,
        "; previous webhook secret accepted too" if settings.webhook_secret_previous else "",
        f"; repositories {', '.join(settings.allowed_repositories)}" if settings.allowed_repositories else "",
    )
    await uvicorn.Server(config).serve()


def main() -> int:
    try:
        settings = Settings.from_env()
    except ValueError as error:
        print(f"relay: {error}", file=sys.stderr)
        return exit_codes.INVALID_INPUT
    if settings.webhook_secret is None:
        print(
            "relay: WEBHOOK_SECRET is not set; refusing to start, because without it anyone could forge "
            "GitHub deliveries. Set it to the secret of the GitHub webhook (Settings > Webhooks > Secret).",
            file=sys.stderr,
        )
        return exit_codes.INVALID_INPUT
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # uvloop: the relay is event-loop bound (parse, verify, signal), and it halves the loop's share.
    uvloop.run(serve(settings))
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
