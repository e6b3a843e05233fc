"""Configuration from the environment, read once by each process (never inside workflow code)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any, overload
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

from models.names import DEFAULT_RELAY_URL, DEFAULT_TASK_QUEUE
from models.slots import RepositoryLimits

DEFAULT_TEMPORAL_ADDRESS = "localhost:7233"
DEFAULT_TEMPORAL_NAMESPACE = "default"
# Set, these win over a temporal.toml profile; unset, the profile's values stand (else the defaults).
_TEMPORAL_TARGET = ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE")


class SettingsError(ValueError):
    """The environment sets something this process cannot use; the message names it and what is expected."""


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
        raise SettingsError(f"{name} must be a number, not {value!r}") from None


def _count(env: Mapping[str, str], name: str) -> int | None:
    number = _number(env, name)
    if number is not None and (not number.is_integer() or number < 1):
        raise SettingsError(f"{name} must be a whole number of at least 1, not {_text(env, name)!r}")
    return None if number is None else int(number)


def _repository_limits(env: Mapping[str, str], name: str) -> RepositoryLimits | None:
    value = _text(env, name)
    try:
        return None if value is None else RepositoryLimits.parse(value)
    except ValueError as error:
        raise SettingsError(f"{name}: {error}") from None


def _csv(env: Mapping[str, str], name: str) -> list[str]:
    return [item.strip() for item in env.get(name, "").split(",") if item.strip()]


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    number = _number(env, name)
    if number is None:
        return default
    if not number.is_integer() or not 0 <= number < 65536:
        raise SettingsError(f"{name} must be a port number (0 to 65535; 0: any free one), not {_text(env, name)!r}")
    return int(number)


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    """1/true/yes/on or 0/false/no/off; unset or empty: None."""
    value = _text(env, name)
    if value is None:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise SettingsError(f"{name} must be 1 or 0, not {value!r}")


def _temporal_profile(env: Mapping[str, str]) -> Mapping[str, Any]:
    """Temporal's env config (a temporal.toml profile: TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE, or the default
    file) as Client.connect arguments, without TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE, which settle later."""
    from temporalio.envconfig import ClientConfig

    rest = {name: value for name, value in env.items() if name not in _TEMPORAL_TARGET}
    try:
        return ClientConfig.load_client_connect_config(override_env_vars=rest)
    except Exception as error:  # the SDK's ConfigError (a missing profile, bad TOML) is no ValueError
        raise SettingsError(f"Temporal's env config (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE) cannot be read: {error}") from None


def is_loopback_url(url: str) -> bool:
    """Whether `url` names this machine (localhost, 127.0.0.0/8, ::1): a fake started here, never a real service."""
    host = urlsplit(url if "://" in url else f"http://{url}").hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseModel):
    # From the environment: TEMPORAL_ADDRESS/TEMPORAL_NAMESPACE, else the temporal.toml profile's, else these.
    temporal_address: str = DEFAULT_TEMPORAL_ADDRESS
    temporal_namespace: str = DEFAULT_TEMPORAL_NAMESPACE
    task_queue: str = DEFAULT_TASK_QUEUE

    codegen_api_key: SecretStr | None = None
    # CODEGEN_MOCK: True asks for mock mode on purpose (a key, if set, is never sent); False asks for the
    # real API (no key is then refused); None (unset) leaves it to the key, see `mock_mode`.
    codegen_mock: bool | None = None
    codegen_org_id: str = "1"
    codegen_org_id_explicit: bool = False
    codegen_api_url: str = "https://api.codegen.com"
    # Set explicitly: mock mode talks to a fake served there instead of one inside the worker.
    codegen_api_url_explicit: bool = False
    # None: the API's own limit (10) against the real API; the fake has none, so 600 in mock mode.
    codegen_create_rate_per_minute: float | None = None
    # None: the API's own limit (60 per 30 s, every GET) against the real API; 6,000 in mock mode.
    codegen_reads_per_30s: int | None = None
    # MAX_ACTIVE_TASKS_PER_REPOSITORY; None: no limit anywhere.
    max_active_tasks_per_repository: RepositoryLimits | None = None

    github_token: SecretStr | None = None
    github_api_url: str = "https://api.github.com"
    github_api_url_explicit: bool = False

    webhook_secret: SecretStr | None = None
    webhook_secret_previous: SecretStr | None = None
    relay_host: str = "127.0.0.1"
    relay_port: int = 8787
    relay_url: str = DEFAULT_RELAY_URL
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
        """The worker talks to the bundled fake Codegen and GitHub: CODEGEN_MOCK=1, or no key and no CODEGEN_MOCK.

        A worker checks `mock_mode_refusal()` before it starts: no key next to production settings is refused.
        """
        if self.codegen_mock is not None:
            return self.codegen_mock
        return self.codegen_api_key is None

    @property
    def mock_mode_reason(self) -> str:
        """Why this is mock mode, for the banner: asked for, or no key."""
        if not self.codegen_mock:
            return "no CODEGEN_API_KEY"
        unsent = [name for name, value in (("CODEGEN_API_KEY", self.codegen_api_key), ("GITHUB_TOKEN", self.github_token)) if value]
        if not unsent:
            return "CODEGEN_MOCK=1"
        return f"CODEGEN_MOCK=1; the {' and '.join(unsent)} set here {'is' if len(unsent) == 1 else 'are'} never sent anywhere"

    def production_settings(self) -> list[str]:
        """The settings present that only a real deployment has: a GitHub token, an org id, a non-loopback API URL."""
        found = []
        if self.github_token is not None:
            found.append("GITHUB_TOKEN")
        if self.codegen_org_id_explicit:
            found.append("CODEGEN_ORG_ID")
        if self.codegen_api_url_explicit and not is_loopback_url(self.codegen_api_url):
            found.append(f"CODEGEN_API_URL={self.codegen_api_url}")
        if self.github_api_url_explicit and not is_loopback_url(self.github_api_url):
            found.append(f"GITHUB_API_URL={self.github_api_url}")
        return found

    def mock_mode_refusal(self) -> str | None:
        """Why a worker must not start with these settings, or None.

        Mock mode can never touch real tasks: a worker without CODEGEN_API_KEY runs the fakes only when
        nothing else is configured (a developer's machine), or when CODEGEN_MOCK=1 asks for them. A
        deployment that lost its key keeps its other settings, and is refused instead of faking its PRs.
        """
        if self.codegen_api_key is not None or self.codegen_mock:
            return None
        how = "set CODEGEN_API_KEY to use the Codegen API, or CODEGEN_MOCK=1 to run the bundled fakes on purpose (mock mode)"
        if self.codegen_mock is False:
            return f"CODEGEN_API_KEY is not set, but CODEGEN_MOCK=0 asks for the real Codegen API: {how}"
        production = self.production_settings()
        if not production:
            return None
        named = ", ".join(production)
        return (
            f"CODEGEN_API_KEY is not set, but {named} {'is' if len(production) == 1 else 'are'}: "
            f"refusing to run the bundled fakes in place of a real deployment; {how}"
        )

    @property
    def create_rate_per_minute(self) -> float:
        if self.codegen_create_rate_per_minute is not None:
            return self.codegen_create_rate_per_minute
        return 600.0 if self.mock_mode else 10.0

    @property
    def reads_per_30s(self) -> int:
        if self.codegen_reads_per_30s is not None:
            return self.codegen_reads_per_30s
        return 6000 if self.mock_mode else 60

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        profile = _temporal_profile(env)
        return cls(
            temporal_address=_text(env, "TEMPORAL_ADDRESS") or profile.get("target_host") or DEFAULT_TEMPORAL_ADDRESS,
            temporal_namespace=_text(env, "TEMPORAL_NAMESPACE") or profile.get("namespace") or DEFAULT_TEMPORAL_NAMESPACE,
            task_queue=_text(env, "TEMPORAL_TASK_QUEUE", DEFAULT_TASK_QUEUE),
            codegen_api_key=_secret(env, "CODEGEN_API_KEY"),
            codegen_mock=_flag(env, "CODEGEN_MOCK"),
            codegen_org_id=_text(env, "CODEGEN_ORG_ID", "1"),
            codegen_org_id_explicit=_text(env, "CODEGEN_ORG_ID") is not None,
            codegen_api_url=_text(env, "CODEGEN_API_URL", "https://api.codegen.com").rstrip("/"),
            codegen_api_url_explicit=_text(env, "CODEGEN_API_URL") is not None,
            codegen_create_rate_per_minute=_number(env, "CODEGEN_CREATE_RATE_PER_MINUTE"),
            codegen_reads_per_30s=_count(env, "CODEGEN_READS_PER_30S"),
            max_active_tasks_per_repository=_repository_limits(env, "MAX_ACTIVE_TASKS_PER_REPOSITORY"),
            github_token=_secret(env, "GITHUB_TOKEN"),
            github_api_url=_text(env, "GITHUB_API_URL", "https://api.github.com").rstrip("/"),
            github_api_url_explicit=_text(env, "GITHUB_API_URL") is not None,
            webhook_secret=_secret(env, "WEBHOOK_SECRET"),
            webhook_secret_previous=_secret(env, "WEBHOOK_SECRET_PREVIOUS"),
            relay_host=_text(env, "RELAY_HOST", "127.0.0.1"),
            relay_port=_port(env, "RELAY_PORT", 8787),
            relay_url=_text(env, "RELAY_URL", DEFAULT_RELAY_URL),
            allowed_repositories=_csv(env, "ALLOWED_REPOSITORIES"),
            ignored_reviewers=_csv(env, "IGNORED_REVIEWERS"),
            prompt_templates_dir=_text(env, "PROMPT_TEMPLATES_DIR"),
            temporal_ui_url=_text(env, "TEMPORAL_UI_URL", "http://localhost:8233").rstrip("/"),
            payload_encryption_keys=_secret(env, "PAYLOAD_ENCRYPTION_KEYS"),
            codec_auth_token=_secret(env, "CODEC_AUTH_TOKEN"),
        )
