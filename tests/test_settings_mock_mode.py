"""When mock mode is allowed: CODEGEN_MOCK=1 on purpose, or no key with nothing else configured; never
in place of a real deployment that lost its key (outside review H1)."""

from __future__ import annotations

import pytest

from activities.service_clients import UnsafeMockMode, clients_at_urls
from settings import Settings, is_loopback_url
from worker import build_service_clients


def test_nothing_configured_is_mock_mode():
    settings = Settings.from_env({})
    assert settings.mock_mode and settings.mock_mode_refusal() is None
    assert settings.mock_mode_reason == "no CODEGEN_API_KEY"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8900", "http://localhost:8900/", "http://[::1]:8900", "http://127.1.2.3", "127.0.0.1:8900"]
)
def test_a_fake_on_this_machine_is_still_mock_mode(url):
    assert is_loopback_url(url)
    settings = Settings.from_env({"CODEGEN_API_URL": url, "GITHUB_API_URL": url})
    assert settings.mock_mode and settings.mock_mode_refusal() is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GITHUB_TOKEN": "ghp_x"}, "GITHUB_TOKEN"),
        ({"CODEGEN_ORG_ID": "7"}, "CODEGEN_ORG_ID"),
        ({"CODEGEN_API_URL": "https://api.codegen.com"}, "CODEGEN_API_URL=https://api.codegen.com"),
        ({"GITHUB_API_URL": "https://ghe.example.com/api/v3"}, "GITHUB_API_URL=https://ghe.example.com/api/v3"),
        ({"CODEGEN_API_URL": "http://fakes:8900"}, "CODEGEN_API_URL=http://fakes:8900"),
        ({"CODEGEN_API_URL": "http://127.0.0.1.example.com"}, "CODEGEN_API_URL"),
    ],
)
def test_no_key_next_to_a_production_setting_is_refused(env, named):
    refusal = Settings.from_env(env).mock_mode_refusal()
    assert refusal is not None
    assert refusal.startswith("CODEGEN_API_KEY is not set") and named in refusal and "CODEGEN_MOCK=1" in refusal
    with pytest.raises(UnsafeMockMode, match="CODEGEN_API_KEY is not set"):
        build_service_clients(Settings.from_env(env))


def test_codegen_mock_1_allows_production_settings_and_wins_over_a_key():
    settings = Settings.from_env({"CODEGEN_MOCK": "1", "GITHUB_TOKEN": "ghp_x", "CODEGEN_ORG_ID": "7", "CODEGEN_API_KEY": "cg"})
    assert settings.mock_mode and settings.mock_mode_refusal() is None
    assert "never sent anywhere" in settings.mock_mode_reason and "CODEGEN_API_KEY" in settings.mock_mode_reason


async def test_codegen_mock_1_never_sends_the_key_or_token():
    settings = Settings.from_env(
        {"CODEGEN_MOCK": "1", "CODEGEN_API_KEY": "cg-secret", "GITHUB_TOKEN": "ghp_secret", "CODEGEN_API_URL": "http://127.0.0.1:1"}
    )
    async with clients_at_urls(settings) as clients:
        assert clients.mock_mode and "CODEGEN_MOCK=1" in clients.description
        headers = [str(client._http.headers) for client in (clients.codegen, clients.github)]
    assert not any("secret" in text for text in headers), headers


def test_codegen_mock_0_asks_for_the_real_api():
    with_key = Settings.from_env({"CODEGEN_MOCK": "0", "CODEGEN_API_KEY": "cg"})
    assert not with_key.mock_mode and with_key.mock_mode_refusal() is None
    refusal = Settings.from_env({"CODEGEN_MOCK": "false"}).mock_mode_refusal()
    assert refusal is not None and "CODEGEN_MOCK=0" in refusal


def test_codegen_mock_must_be_a_flag():
    with pytest.raises(ValueError, match="CODEGEN_MOCK must be 1 or 0"):
        Settings.from_env({"CODEGEN_MOCK": "maybe"})
