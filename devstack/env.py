"""The environment a local child process gets: this one, minus the project's own settings."""

from __future__ import annotations

import os

# Settings a developer's shell may carry that would point a child somewhere else (settings.py and the
# fake read them); whoever starts the child sets the ones it needs.
OWN_PREFIXES = ("TEMPORAL_", "CODEGEN_", "GITHUB_", "WEBHOOK_", "RELAY_", "FAKE_", "PAYLOAD_", "CODEC_")
OWN_NAMES = ("ALLOWED_REPOSITORIES", "IGNORED_REVIEWERS", "PROMPT_TEMPLATES_DIR")


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without the project's settings, output unbuffered, plus `values`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(OWN_PREFIXES) and key not in OWN_NAMES}
    return {**env, "PYTHONUNBUFFERED": "1", **values}
