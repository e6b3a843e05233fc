"""`python -m fakes`: the fake Codegen API and GitHub on FAKE_HOST:FAKE_PORT (default 127.0.0.1:8900)."""

from __future__ import annotations

import logging

import uvicorn

from fakes.app import create_app
from fakes.config import FakeConfig


def main() -> None:
    config = FakeConfig.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # Not a line per webhook sent: `/_admin/webhooks` lists each delivery with its outcome.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    webhooks = f"signed webhooks to {config.relay_url}" if config.webhooks_enabled else "no webhooks (WEBHOOK_SECRET unset)"
    logging.info(
        "Fake Codegen API + GitHub on http://%s:%d; point CODEGEN_API_URL and GITHUB_API_URL there; %s",
        config.host,
        config.port,
        webhooks,
    )
    uvicorn.run(create_app(config), host=config.host, port=config.port, log_level="warning")


if __name__ == "__main__":
    main()
