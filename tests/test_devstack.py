"""The dev stack's one dev-server command line and one environment scrubber."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.env import clean_env
from devstack.temporal_server import dev_server_argv, dynamic_config_args, search_attribute_args


def _flags(argv: list[str]) -> list[str]:
    """The options after `server start-dev`, without the dynamic config and search attributes every variant has."""
    assert argv[1:3] == ["server", "start-dev"]
    shared = dynamic_config_args() + search_attribute_args()
    assert argv[-len(shared) :] == shared
    return argv[3 : -len(shared)]


def test_every_dev_server_enables_fairness_with_one_partition_per_queue() -> None:
    assert dynamic_config_args() == [
        "--dynamic-config-value", "matching.enableFairness=true",
        "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
        "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
    ]  # fmt: skip


def test_the_stack_s_own_servers_listen_on_loopback_and_log_only_errors(tmp_path: Path) -> None:
    assert _flags(dev_server_argv(7243)) == ["--port", "7243", "--ip", "127.0.0.1", "--headless", "--log-level", "error"]
    db = tmp_path / "demo.db"
    assert _flags(dev_server_argv(7243, ui_port=8243, db_file=db)) == [
        "--port", "7243", "--ip", "127.0.0.1", "--ui-port", "8243", "--db-filename", str(db),
        "--log-level", "error", "--ui-disable-news-fetch",
    ]  # fmt: skip


def test_the_user_s_dev_server_keeps_the_cli_defaults() -> None:
    argv = dev_server_argv(7233, ui_port=8233, db_file=Path(".temporal/dev.db"), loopback=False, quiet=False)
    assert _flags(argv) == ["--port", "7233", "--ui-port", "8233", "--db-filename", ".temporal/dev.db"]


@pytest.mark.parametrize(
    "name",
    ["TEMPORAL_ADDRESS", "CODEGEN_API_KEY", "GITHUB_TOKEN", "WEBHOOK_SECRET", "RELAY_URL", "FAKE_RUN_SECONDS",
     "PAYLOAD_ENCRYPTION_KEYS", "CODEC_AUTH_TOKEN", "ALLOWED_REPOSITORIES", "IGNORED_REVIEWERS", "PROMPT_TEMPLATES_DIR"],
)  # fmt: skip
def test_a_child_inherits_none_of_the_project_s_settings(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "from the developer's shell")
    monkeypatch.setenv("HOME_GROWN", "kept")
    env = clean_env(WEBHOOK_SECRET="set by the caller")
    assert name not in env or env[name] == "set by the caller"
    assert env["HOME_GROWN"] == "kept"
    assert env["PYTHONUNBUFFERED"] == "1"
