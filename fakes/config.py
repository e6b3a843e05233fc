"""Global knobs of the fake services, read from the environment (`FAKE_*`, `RELAY_URL`, `WEBHOOK_SECRET`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, Field

from models.names import DEFAULT_RELAY_URL

# The statuses random faults answer with, each with its own rate.
FaultStatus = Literal[429, 500, 503]
# How run statuses are spelled: Codegen's upper case (COMPLETE), or its docs' lower case (completed, failed).
StatusSpelling = Literal["upper", "lower"]

# Listed by GET /repos from the start; with `repositories` unset every other name is connected too.
DEFAULT_REPOSITORIES = ("acme/widgets", "acme/webapp", "acme/api", "example/demo", "octo-org/octo-repo")
# A host that can never be a real GitHub (RFC 2606 reserves .invalid): the fake's PR and repository links.
MOCK_GITHUB_HTML_URL = "https://mock-github.invalid"


class FakeConfig(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8900

    # Accepted Codegen key; None accepts any bearer token (a header is still required).
    codegen_api_key: str | None = None
    # Organizations the key may use; None allows every org id.
    org_ids: list[str] | None = None
    # Repositories connected to the fake Codegen org (any repo exists on the fake GitHub). None: every
    # repository (GET /repos lists DEFAULT_REPOSITORIES and those runs named); a list: only those, a create
    # naming another is refused 404; empty: an org without repositories (every create is 404, as Codegen's).
    repositories: list[str] | None = None
    # Accepted GitHub token; None accepts any token and anonymous requests.
    github_token: str | None = None
    github_html_url: str = MOCK_GITHUB_HTML_URL
    github_api_url: str = "https://api.github.com"

    # Every API response waits this long first.
    latency_seconds: float = 0.0
    # Fractions of API requests answered with that status instead (admin routes are exempt).
    rate_429: float = Field(default=0.0, ge=0, le=1)
    rate_500: float = Field(default=0.0, ge=0, le=1)
    rate_503: float = Field(default=0.0, ge=0, le=1)
    # Per-API overrides of those fractions, to fail one API more than the other; None keeps the shared rate.
    codegen_rate_429: float | None = Field(default=None, ge=0, le=1)
    codegen_rate_500: float | None = Field(default=None, ge=0, le=1)
    codegen_rate_503: float | None = Field(default=None, ge=0, le=1)
    github_rate_429: float | None = Field(default=None, ge=0, le=1)
    github_rate_500: float | None = Field(default=None, ge=0, le=1)
    github_rate_503: float | None = Field(default=None, ge=0, le=1)
    retry_after_seconds: int = 1
    # GitHub's primary rate limit: requests per window, 304s free; None reports 5,000 and enforces nothing.
    github_rate_limit: int | None = Field(default=None, ge=1)
    github_rate_window_seconds: float = Field(default=3600.0, gt=0)
    # Codegen's published limits, as sliding windows answered 429: creates (10 a minute), and the standard
    # reads every GET shares (60 per 30 s). None enforces nothing; shorter windows scale time for drills.
    codegen_create_limit: int | None = Field(default=None, ge=1)
    codegen_create_window_seconds: float = Field(default=60.0, gt=0)
    codegen_read_limit: int | None = Field(default=None, ge=1)
    codegen_read_window_seconds: float = Field(default=30.0, gt=0)

    # Run statuses as Codegen may spell them, overridable per task by the scenario's keys of the same name:
    # lower case (completed, failed), and PENDING then EVALUATION before ACTIVE.
    status_spelling: StatusSpelling = "upper"
    intermediate_statuses: bool = False
    # remove-from-pr refuses with this status (a 4xx, say 404 or 403) and stops nothing; None: it works.
    remove_from_pr_status: int | None = Field(default=None, ge=400, le=599)

    # Lifecycle delays, overridable per task by the scenario's `delays`.
    run_seconds: float = 1.0
    checks_seconds: float = 0.5
    review_seconds: float = 0.5
    merge_seconds: float = 0.5

    # Webhooks go to relay_url when webhook_secret is set.
    relay_url: str = DEFAULT_RELAY_URL
    webhook_secret: str | None = None
    webhook_drop_rate: float = Field(default=0.0, ge=0, le=1)
    webhook_duplicate_rate: float = Field(default=0.0, ge=0, le=1)
    webhook_reorder_rate: float = Field(default=0.0, ge=0, le=1)
    # A held-back (reordered) webhook goes out after the next one, or after this long.
    webhook_reorder_hold_seconds: float = 0.5

    seed: int | None = None

    @property
    def webhooks_enabled(self) -> bool:
        return bool(self.webhook_secret and self.relay_url)

    def fault_rate(self, status: FaultStatus, *, github: bool) -> float:
        """The fraction of GitHub's or Codegen's API requests answered with `status`: the API's own, else the shared."""
        own = getattr(self, f"{'github' if github else 'codegen'}_rate_{status}")
        return getattr(self, f"rate_{status}") if own is None else own

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FakeConfig:
        """Read `FAKE_HOST`, `FAKE_PORT`, `FAKE_LATENCY_MS`, `FAKE_RATE_429`, ... (see README)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for field, name in _ENV_NAMES.items():
            raw = env.get(name, "").strip()
            if raw:
                values[field] = raw
        if "latency_ms" in values:
            values["latency_seconds"] = float(values.pop("latency_ms")) / 1000  # type: ignore[arg-type]
        for field in ("repositories", "org_ids"):
            if field in values:
                values[field] = [item.strip() for item in str(values[field]).split(",") if item.strip()]
        # FAKE_REPOSITORIES=none: an organization without repositories.
        if values.get("repositories") == ["none"]:
            values["repositories"] = []
        return cls.model_validate(values)


_ENV_NAMES = {
    "host": "FAKE_HOST",
    "port": "FAKE_PORT",
    "codegen_api_key": "FAKE_CODEGEN_API_KEY",
    "org_ids": "FAKE_ORG_IDS",
    "repositories": "FAKE_REPOSITORIES",
    "github_token": "FAKE_GITHUB_TOKEN",
    "github_html_url": "FAKE_GITHUB_HTML_URL",
    "status_spelling": "FAKE_STATUS_SPELLING",
    "intermediate_statuses": "FAKE_INTERMEDIATE_STATUSES",
    "remove_from_pr_status": "FAKE_REMOVE_FROM_PR_STATUS",
    "latency_ms": "FAKE_LATENCY_MS",
    "rate_429": "FAKE_RATE_429",
    "rate_500": "FAKE_RATE_500",
    "rate_503": "FAKE_RATE_503",
    "codegen_rate_429": "FAKE_CODEGEN_RATE_429",
    "codegen_rate_500": "FAKE_CODEGEN_RATE_500",
    "codegen_rate_503": "FAKE_CODEGEN_RATE_503",
    "github_rate_429": "FAKE_GITHUB_RATE_429",
    "github_rate_500": "FAKE_GITHUB_RATE_500",
    "github_rate_503": "FAKE_GITHUB_RATE_503",
    "retry_after_seconds": "FAKE_RETRY_AFTER_SECONDS",
    "github_rate_limit": "FAKE_GITHUB_RATE_LIMIT",
    "github_rate_window_seconds": "FAKE_GITHUB_RATE_WINDOW_SECONDS",
    "codegen_create_limit": "FAKE_CODEGEN_CREATE_LIMIT",
    "codegen_create_window_seconds": "FAKE_CODEGEN_CREATE_WINDOW_SECONDS",
    "codegen_read_limit": "FAKE_CODEGEN_READ_LIMIT",
    "codegen_read_window_seconds": "FAKE_CODEGEN_READ_WINDOW_SECONDS",
    "run_seconds": "FAKE_RUN_SECONDS",
    "checks_seconds": "FAKE_CHECKS_SECONDS",
    "review_seconds": "FAKE_REVIEW_SECONDS",
    "merge_seconds": "FAKE_MERGE_SECONDS",
    "relay_url": "RELAY_URL",
    "webhook_secret": "WEBHOOK_SECRET",
    "webhook_drop_rate": "FAKE_WEBHOOK_DROP_RATE",
    "webhook_duplicate_rate": "FAKE_WEBHOOK_DUPLICATE_RATE",
    "webhook_reorder_rate": "FAKE_WEBHOOK_REORDER_RATE",
    "seed": "FAKE_SEED",
}
