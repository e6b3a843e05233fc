"""The task a user hands in, its codebase context and the workflow input that carries both."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.names import WORKFLOW_ID_PREFIX

TASK_ID_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
REPOSITORY_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"


class TaskType(StrEnum):
    IMPLEMENTATION = "implementation"
    BUG_FIX = "bug_fix"
    FEATURE = "feature"
    REFACTOR = "refactor"
    DOCUMENTATION = "documentation"
    TESTING = "testing"
    OPTIMIZATION = "optimization"
    SECURITY = "security"


class _Strict(BaseModel):
    # Unknown keys are refused so a typo ("acceptanceCriteria") is named instead of ignored.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Task(_Strict):
    """One coding task. Only `title` and `type` are required; `id` is assigned on submit if absent."""

    id: str | None = Field(default=None, pattern=TASK_ID_PATTERN)
    title: str = Field(min_length=1, max_length=500)
    description: str = ""
    type: TaskType = TaskType.IMPLEMENTATION
    requirements: list[str] = Field(default_factory=list)
    acceptance_criteria: list[str] = Field(default_factory=list)
    affected_files: list[str] = Field(default_factory=list)
    priority: int = Field(default=3, ge=1, le=5)
    # Type-specific details (severity, reproduction_steps, user_stories, ...): see prompts/.
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in TaskType._value2member_map_:
            valid = ", ".join(t.value for t in TaskType)
            raise ValueError(f"unknown task type {value!r}; valid types: {valid}")
        return value

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title must not be blank")
        return value


class CodeExample(_Strict):
    title: str = ""
    language: str = ""
    code: str


class CodebaseContext(_Strict):
    language: str | None = None
    framework: str | None = None
    architecture: str | None = None
    key_files: list[str] = Field(default_factory=list)
    # Paths, one per entry ("src/app/main.py"); rendered as a tree.
    file_structure: list[str] = Field(default_factory=list)
    coding_standards: list[str] = Field(default_factory=list)
    test_patterns: list[str] = Field(default_factory=list)
    code_examples: list[CodeExample] = Field(default_factory=list)


class TaskContext(_Strict):
    """Where the work happens: the repository and what the agent should know about it."""

    project_name: str | None = None
    repository: str | None = Field(default=None, pattern=REPOSITORY_PATTERN)
    repository_url: str | None = None
    base_branch: str = "main"
    codebase_context: CodebaseContext = Field(default_factory=CodebaseContext)
    dependencies: list[str] | dict[str, str] = Field(default_factory=list)
    environment: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _repository_from_url(self) -> TaskContext:
        if self.repository is None and self.repository_url:
            match = re.match(r"^(?:https?://[^/]+/|git@[^:]+:)([^/]+)/([^/]+?)(?:\.git)?/?$", self.repository_url)
            if not match:
                raise ValueError(
                    f"repository_url {self.repository_url!r} is not a repository URL like https://github.com/owner/name"
                )
            self.repository = f"{match.group(1)}/{match.group(2)}"
        return self


class TaskOptions(_Strict):
    """How the workflow treats the task. Durations accept seconds or ISO 8601 ("P7D")."""

    max_attempts: int = Field(default=3, ge=1, le=20)
    # First pause between attempts; doubles each attempt.
    attempt_backoff: timedelta = timedelta(seconds=30)
    retry_window: timedelta = timedelta(days=7)
    pr_timeout: timedelta = timedelta(days=14)
    # How long one agent run may take before the attempt counts as failed.
    agent_timeout: timedelta = timedelta(hours=2)
    # None: 10 minutes against the real APIs, a few seconds in mock mode.
    reconcile_interval: timedelta | None = None
    reconcile_max_interval: timedelta = timedelta(hours=1)
    max_followups: int = Field(default=3, ge=0, le=20)
    # Checks may still be arriving when the last known one fails. None: 60 s, or 2 s in mock mode.
    followup_settle: timedelta | None = None
    # Reviews from these accounts never trigger a follow-up (the PR's author, the agent, always counts as one).
    ignored_reviewers: list[str] = Field(default_factory=list)
    max_context_size: int = Field(default=8000, ge=500, le=200_000)
    include_code_examples: bool = True
    enhance_with_best_practices: bool = True


class WorkflowInput(_Strict):
    """The one argument of CodegenTaskWorkflow: `{"task": {...}, "context": {...}, "options": {...}}`."""

    task: Task
    context: TaskContext = Field(default_factory=TaskContext)
    options: TaskOptions = Field(default_factory=TaskOptions)
    # Filled in by continue-as-new only; users never set it.
    carried_state: dict[str, Any] | None = None


def workflow_id_for(task_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{task_id}"
