"""Configuration from the environment, read once by each process (never inside workflow code)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import overload

from pydantic import BaseModel, SecretStr

from models.names import DEFAULT_TASK_QUEUE


@overload
def _text(env: Mapping[str, str], name: str, default: str) -> str: ...
@overload
def _text(env: Mapping[str, str], name: str, default: None = None) -> str | None: ...
def _text(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name, "").strip()
    return value or default


def _secret(env: Mapping[str, str], name: str) -> SecretStr | None:
    value = _text(env, name)
    return SecretStr(value) if value else None


def _number(env: Mapping[str, str], name: str) -> float | None:
    value = _text(env, name)
    try:
        return None if value is None else float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None


def _csv(env: Mapping[str, str], name: str) -> list[str]:
    return [item.strip() for item in env.get(name, "").split(",") if item.strip()]


class Settings(BaseModel):
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = DEFAULT_TASK_QUEUE

    codegen_api_key: SecretStr | None = None
    codegen_org_id: str = "1"
    codegen_api_url: str = "https://api.codegen.com"
    # Set explicitly: mock mode talks to a fake served there instead of one inside the worker.
    codegen_api_url_explicit: bool = False
    # None: the API's own limit (10) against the real API; the fake has none, so 600 in mock mode.
    codegen_create_rate_per_minute: float | None = None

    github_token: SecretStr | None = None
    github_api_url: str = "https://api.github.com"

    webhook_secret: SecretStr | None = None
    webhook_secret_previous: SecretStr | None = None
    relay_host: str = "127.0.0.1"
    relay_port: int = 8787
    relay_url: str = "http://127.0.0.1:8787/webhooks/github"
    relay_url_explicit: bool = False
    allowed_repositories: list[str] = []
    ignored_reviewers: list[str] = []

    prompt_templates_dir: str | None = None
    temporal_ui_url: str = "http://localhost:8233"

    # "kid1:base64key,kid2:base64key": payloads encrypted with the first, decrypted with any (codec/).
    payload_encryption_keys: SecretStr | None = None
    # Bearer token for the relay's /codec endpoint (the Web UI's codec server); none: no endpoint.
    codec_auth_token: SecretStr | None = None

    @property
    def mock_mode(self) -> bool:
        """No Codegen key: the worker talks to the bundled fake Codegen and GitHub."""
        return self.codegen_api_key is None

    @property
    def create_rate_per_minute(self) -> float:
        if self.codegen_create_rate_per_minute is not None:
            return self.codegen_create_rate_per_minute
        return 600.0 if self.mock_mode else 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            temporal_address=_text(env, "TEMPORAL_ADDRESS", "localhost:7233"),
            temporal_namespace=_text(env, "TEMPORAL_NAMESPACE", "default"),
            task_queue=_text(env, "TEMPORAL_TASK_QUEUE", DEFAULT_TASK_QUEUE),
            codegen_api_key=_secret(env, "CODEGEN_API_KEY"),
            codegen_org_id=_text(env, "CODEGEN_ORG_ID", "1"),
            codegen_api_url=_text(env, "CODEGEN_API_URL", "https://api.codegen.com").rstrip("/"),
            codegen_api_url_explicit=_text(env, "CODEGEN_API_URL") is not None,
            codegen_create_rate_per_minute=_number(env, "CODEGEN_CREATE_RATE_PER_MINUTE"),
            github_token=_secret(env, "GITHUB_TOKEN"),
            github_api_url=_text(env, "GITHUB_API_URL", "https://api.github.com").rstrip("/"),
            webhook_secret=_secret(env, "WEBHOOK_SECRET"),
            webhook_secret_previous=_secret(env, "WEBHOOK_SECRET_PREVIOUS"),
            relay_host=_text(env, "RELAY_HOST", "127.0.0.1"),
            relay_port=int(_text(env, "RELAY_PORT", "8787")),
            relay_url=_text(env, "RELAY_URL", "http://127.0.0.1:8787/webhooks/github"),
            relay_url_explicit=_text(env, "RELAY_URL") is not None,
            allowed_repositories=_csv(env, "ALLOWED_REPOSITORIES"),
            ignored_reviewers=_csv(env, "IGNORED_REVIEWERS"),
            prompt_templates_dir=_text(env, "PROMPT_TEMPLATES_DIR"),
            temporal_ui_url=_text(env, "TEMPORAL_UI_URL", "http://localhost:8233").rstrip("/"),
            payload_encryption_keys=_secret(env, "PAYLOAD_ENCRYPTION_KEYS"),
            codec_auth_token=_secret(env, "CODEC_AUTH_TOKEN"),
        )
