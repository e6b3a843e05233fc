"""The task a user hands in, its codebase context and the workflow input that carries both."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from temporalio.common import Priority

from models.names import WORKFLOW_ID_PREFIX

TASK_ID_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
REPOSITORY_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
REPOSITORY_URL_PATTERN = r"^(?:https?://[^/]+/|git@[^:]+:)([^/]+)/([^/]+?)(?:\.git)?/?$"
DEFAULT_BASE_BRANCH = "main"
# What git refuses in a branch name (git check-ref-format): whitespace, control characters, ~^:?*[\, "..", "@{".
_NOT_IN_BRANCH_NAMES = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{")
# Every duration option is at most this. Longer ones are no real wish: P99999999D overflows the date
# arithmetic once the PR opens, and a task open for years is one nobody watches.
MAX_DURATION = timedelta(days=366)
DURATION_FORMS = "seconds (90) or ISO 8601 (PT30M, P7D)"
_ISO_DURATION = TypeAdapter(timedelta)


def refused(message: str) -> PydanticCustomError:
    """A validation error shown exactly as written: a ValueError would read "Value error, ..."."""
    return PydanticCustomError("invalid_input", message)


def _shown(value: Any) -> str:
    """A user's value in an error message, cut so a huge one cannot flood the terminal."""
    text = _spoken(value) if isinstance(value, timedelta) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class TaskType(StrEnum):
    IMPLEMENTATION = "implementation"
    BUG_FIX = "bug_fix"
    FEATURE = "feature"
    REFACTOR = "refactor"
    DOCUMENTATION = "documentation"
    TESTING = "testing"
    OPTIMIZATION = "optimization"
    SECURITY = "security"


# How a refusal names the valid types.
VALID_TASK_TYPES = ", ".join(t.value for t in TaskType)


class StrictModel(BaseModel):
    # Unknown keys are refused so a typo ("acceptanceCriteria") is named instead of ignored.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Task(StrictModel):
    """One coding task. Only `title` and `type` are required; `id` is assigned on submit if absent."""

    id: str | None = None
    title: str = Field(min_length=1, max_length=500)
    description: str = ""
    type: TaskType = TaskType.IMPLEMENTATION
    requirements: list[str] = Field(default_factory=list)
    acceptance_criteria: list[str] = Field(default_factory=list)
    affected_files: list[str] = Field(default_factory=list)
    priority: int = Field(default=3, ge=1, le=5)
    # How to do it, beyond the description (Task Master's `details`): a prompt section of its own.
    details: str = ""
    # Ids of tasks whose PRs must merge before this one starts (in the same graph).
    depends_on: list[str] = Field(default_factory=list)
    # Type-specific details (severity, reproduction_steps, user_stories, ...): see prompts/.
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id_form(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(TASK_ID_PATTERN, value):
            raise refused(f"expected 1 to 128 letters, digits, '.', '_' or '-'; got {_shown(value)}")
        return value

    @field_validator("depends_on")
    @classmethod
    def _dependency_ids(cls, value: list[str]) -> list[str]:
        bad = [item for item in value if not re.fullmatch(TASK_ID_PATTERN, item)]
        if bad:
            raise refused(f"task ids expected (1 to 128 letters, digits, '.', '_' or '-'); got {_shown(bad[0])}")
        if len(set(value)) != len(value):
            raise refused(f"lists a task twice: {_shown(sorted(item for item in set(value) if value.count(item) > 1)[0])}")
        return value

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in TaskType._value2member_map_:
            raise refused(f"unknown task type {_shown(value)}; valid types: {VALID_TASK_TYPES}")
        return value

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise refused("must not be blank")
        return value


class CodeExample(StrictModel):
    title: str = ""
    language: str = ""
    code: str


# --- file_structure: paths, a nested mapping, or `tree`'s output; all become paths -------------------

# Folders inside folders: a mapping nested deeper is no repository's layout (and would recurse without end).
MAX_FILE_STRUCTURE_DEPTH = 64
# One entry of `tree`'s output: an indent of 4-character units ("│   ", "    ", "|   ", with the no-break
# spaces GNU tree prints), a connector ("├── ", "└── ", or ASCII "|-- ", "`-- ", "+-- ", "\-- "), a name.
_TREE_ENTRY = re.compile(r"^(?P<indent>(?:[│|\s\u00a0][\s\u00a0]{3})*)[├└|`+\\][─-]{2}[\s\u00a0](?P<name>.*)$")
_TREE_SUMMARY = re.compile(r"^\s*\d+ director(?:y|ies)(?:, \d+ files?)?\s*$")


def _paths_from_mapping(tree: Mapping[Any, Any], prefix: str = "", depth: int = 0) -> list[str]:
    """{"src": {"app": {"main.py": None}}, "README.md": None} -> ["src/app/main.py", "README.md"]; an empty
    mapping is an empty folder ("docs/")."""
    if depth > MAX_FILE_STRUCTURE_DEPTH:
        raise refused(f"nested deeper than {MAX_FILE_STRUCTURE_DEPTH} folders at {_shown(prefix)}")
    paths: list[str] = []
    for key, children in tree.items():
        name = str(key).strip("/")
        if not name:
            raise refused(f"an empty name in {_shown(prefix or '/')}")
        path = prefix + name
        if children is None:
            paths.append(path)
        elif isinstance(children, Mapping):
            paths += _paths_from_mapping(children, path + "/", depth + 1) if children else [path + "/"]
        else:
            raise refused(f"{_shown(path)}: a folder maps to its children (a mapping), a file to null; got {_shown(children)}")
    return paths


def _paths_from_tree(text: str) -> list[str]:
    """`tree`'s output (its root line and "N directories, M files" left out) -> paths; text without tree
    lines is read as one path per line. An entry with deeper entries under it is a folder."""
    lines = [line for line in text.splitlines() if line.strip()]
    entries: list[tuple[int, str]] = []
    for line in lines:
        match = _TREE_ENTRY.match(line)
        if match:
            # `tree -l`/`-F` decorations: "link -> target" keeps the link's name.
            entries.append((len(match["indent"]) // 4, match["name"].split(" -> ", 1)[0].strip()))
    if not entries:
        return [line.strip() for line in lines if not _TREE_SUMMARY.match(line)]
    paths: list[str] = []
    folders: list[str] = []
    for index, (depth, name) in enumerate(entries):
        depth = min(depth, len(folders))  # an entry indented past its parent hangs under the deepest folder
        del folders[depth:]
        if index + 1 < len(entries) and entries[index + 1][0] > depth:
            folders.append(name.rstrip("/"))
        else:
            paths.append("/".join([*folders, name]))
    return paths


def file_structure_paths(value: Any) -> Any:
    """A list of paths as it is; a nested mapping or a pre-rendered tree as the paths it shows (else unchanged,
    for the list validation to refuse)."""
    if isinstance(value, Mapping):
        return _paths_from_mapping(value)
    if isinstance(value, str):
        return _paths_from_tree(value)
    return value


class CodebaseContext(StrictModel):
    language: str | None = None
    framework: str | None = None
    architecture: str | None = None
    key_files: list[str] = Field(default_factory=list)
    # Rendered as a tree. Given as paths ("src/app/main.py", "docs/" for a folder), as a nested mapping
    # (a folder maps to its children, a file to null) or as `tree`'s text output; kept as the paths.
    file_structure: Annotated[list[str], BeforeValidator(file_structure_paths)] = Field(default_factory=list)
    coding_standards: list[str] = Field(default_factory=list)
    test_patterns: list[str] = Field(default_factory=list)
    code_examples: list[CodeExample] = Field(default_factory=list)


class TaskContext(StrictModel):
    """Where the work happens: the repository and what the agent should know about it."""

    project_name: str | None = None
    repository: str | None = None
    repository_url: str | None = None
    # Left out, empty or blank: the default branch, `main`.
    base_branch: str = DEFAULT_BASE_BRANCH
    codebase_context: CodebaseContext = Field(default_factory=CodebaseContext)
    dependencies: list[str] | dict[str, str] = Field(default_factory=list)
    environment: dict[str, str] = Field(default_factory=dict)

    @field_validator("repository")
    @classmethod
    def _repository_form(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(REPOSITORY_PATTERN, value):
            raise refused(f"expected owner/name (letters, digits, '.', '_', '-'); got {_shown(value)}")
        return value

    @field_validator("repository_url")
    @classmethod
    def _repository_url_form(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Read only when `repository` is left out, as it always was: a stricter check would refuse the
        # input of a workflow already running when it replays.
        needed = "repository" in info.data and info.data["repository"] is None
        if value and needed and not re.match(REPOSITORY_URL_PATTERN, value):
            raise refused(f"expected a repository URL like https://github.com/owner/name; got {_shown(value)}")
        return value

    @field_validator("base_branch", mode="before")
    @classmethod
    def _branch_or_default(cls, value: Any) -> Any:
        # An empty branch would name no branch in the prompt ("base branch ``"): it means the default.
        if value is None or (isinstance(value, str) and not value.strip()):
            return DEFAULT_BASE_BRANCH
        if isinstance(value, str) and _NOT_IN_BRANCH_NAMES.search(value.strip()):
            raise refused(f"expected a git branch name (no spaces, control characters, ~^:?*[\\, '..' or '@{{'); got {_shown(value)}")
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _repository_from_url(self) -> TaskContext:
        if self.repository is None and self.repository_url:
            match = re.match(REPOSITORY_URL_PATTERN, self.repository_url)
            assert match is not None, "the field validator checked the URL"
            self.repository = f"{match.group(1)}/{match.group(2)}"
        return self


def _spoken(duration: timedelta) -> str:
    """`366 days`, `182.5 days`, `0.1 s`: a duration as people say it."""
    seconds = duration.total_seconds()
    if seconds >= 86400:
        return f"{round(seconds / 86400, 1):g} days"
    return f"{seconds:g} s"


def _seconds(value: Any) -> float | None:
    """How many seconds `value` names (a number, a numeric text or ISO 8601), or None if it names no duration."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):
        pass
    try:
        return _ISO_DURATION.validate_python(value).total_seconds()
    except ValidationError:
        return None


def _duration_from(minimum: timedelta, *, optional: bool = False) -> BeforeValidator:
    """A duration option from `minimum` to MAX_DURATION, refused outside them with both bounds named."""

    def within_bounds(value: Any) -> timedelta | None:
        if value is None and optional:
            return None
        seconds = _seconds(value)
        if optional and seconds == 0:
            # 0 has always meant "the default" here, and tasks already running were started with it.
            return None
        # NaN compares false both ways, so it is refused too.
        if seconds is None or not minimum.total_seconds() <= seconds <= MAX_DURATION.total_seconds():
            raise refused(
                f"expected a duration from {_spoken(minimum)} to {_spoken(MAX_DURATION)}, "
                f"in {DURATION_FORMS}; got {_shown(value)}"
            )
        return timedelta(seconds=seconds)

    return BeforeValidator(within_bounds)


def _account_names(value: Any) -> list[str]:
    """A list of account names; one text is split at commas, the natural form on a command line."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise refused(f"expected account names, as a list or separated by commas (bob,alice); got {_shown(value)}")
    return [name.strip() for name in value if name.strip()]


def _task_types(value: Any) -> list[str]:
    """A list of task types; one text is split at commas, as on a command line."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) and item in TaskType._value2member_map_ for item in value):
        raise refused(
            f"expected task types, as a list or separated by commas (documentation,testing); valid types: {VALID_TASK_TYPES}; got {_shown(value)}"
        )
    return value


class TaskOptions(StrictModel):
    """How the workflow treats the task. Durations accept seconds or ISO 8601 ("P7D").

    Every duration has a floor that keeps the workflow from spinning (a zero agent_timeout, a
    GitHub read with no pause) and a ceiling, MAX_DURATION, that keeps its dates in range.
    """

    max_attempts: int = Field(default=3, ge=1, le=20)
    # First pause between attempts; doubles each attempt.
    attempt_backoff: Annotated[timedelta, _duration_from(timedelta(0))] = timedelta(seconds=30)
    retry_window: Annotated[timedelta, _duration_from(timedelta(0))] = timedelta(days=7)
    pr_timeout: Annotated[timedelta, _duration_from(timedelta(seconds=1))] = timedelta(days=14)
    # How long one agent run may take before the attempt counts as failed.
    agent_timeout: Annotated[timedelta, _duration_from(timedelta(seconds=1))] = timedelta(hours=2)
    # A run told to proceed may still wait for input this long before the attempt fails (agent_paused).
    agent_pause_timeout: Annotated[timedelta, _duration_from(timedelta(seconds=1))] = timedelta(minutes=30)
    # Codegen's model for the agent (sent as `model`); None: the organization's default.
    agent_model: str | None = Field(default=None, min_length=1, max_length=200)
    # None: 10 minutes against the real APIs, a few seconds in mock mode.
    reconcile_interval: Annotated[timedelta | None, _duration_from(timedelta(seconds=1), optional=True)] = None
    reconcile_max_interval: Annotated[timedelta, _duration_from(timedelta(seconds=1))] = timedelta(hours=1)
    max_followups: int = Field(default=3, ge=0, le=20)
    # Checks may still be arriving when the last known one fails. None: 60 s, or 2 s in mock mode.
    followup_settle: Annotated[timedelta | None, _duration_from(timedelta(seconds=0.1), optional=True)] = None
    # Reviews from these accounts never trigger a follow-up (the PR's author, the agent, always counts as one).
    ignored_reviewers: Annotated[list[str], BeforeValidator(_account_names)] = Field(default_factory=list)
    max_context_size: int = Field(default=8000, ge=500, le=200_000)
    include_code_examples: bool = True
    enhance_with_best_practices: bool = True
    # Merge the PR once every check on its head has passed and `required_approvals` approvals are on that
    # head with no changes requested: `PUT .../merge` with exactly that head's sha. Off: a person merges.
    merge_when_green: bool = False
    merge_method: Literal["merge", "squash", "rebase"] = "squash"
    required_approvals: int = Field(default=1, ge=0, le=10)
    # Only tasks of these types merge themselves (empty: every type), e.g. ["documentation", "testing"].
    merge_when_green_types: Annotated[list[TaskType], BeforeValidator(_task_types)] = Field(default_factory=list)

    @field_validator("attempt_backoff")
    @classmethod
    def _pauses_within_bounds(cls, backoff: timedelta, info: ValidationInfo) -> timedelta:
        # The pause doubles after each failed attempt, so the last one can dwarf the first.
        attempts = info.data.get("max_attempts")
        if attempts is None:
            return backoff
        total = backoff * (2 ** (attempts - 1) - 1)
        if total > MAX_DURATION:
            raise refused(
                f"the pauses between {attempts} attempts ({_spoken(backoff)}, doubling) add up to {_spoken(total)}, "
                f"more than {_spoken(MAX_DURATION)}: lower attempt_backoff or max_attempts"
            )
        return backoff


class DeliveredDependency(StrictModel):
    """What a task this one depends on delivered: its merged PR and what the agent said it did."""

    task_id: str
    title: str
    pr_url: str
    pr_title: str = ""
    merge_commit_sha: str | None = None
    summary: str | None = None


class WorkflowInput(StrictModel):
    """The one argument of CodegenTaskWorkflow: `{"task": {...}, "context": {...}, "options": {...}}`."""

    task: Task
    context: TaskContext = Field(default_factory=TaskContext)
    options: TaskOptions = Field(default_factory=TaskOptions)
    # Filled in by a graph: the merged work of the tasks this one depends on, for its prompt.
    built_on: list[DeliveredDependency] = Field(default_factory=list)
    # Filled in by continue-as-new only; users never set it.
    carried_state: dict[str, Any] | None = None


def workflow_id_for(task_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{task_id}"


# The server refuses a longer fairness key (and with it the start or the activity).
FAIRNESS_KEY_MAX_BYTES = 64
_FAIRNESS_HASH_CHARS = 8


def fairness_key(repository: str | None) -> str | None:
    """The repository as a Temporal fairness key: lower-cased (`Acme/API` and `acme/api` share one
    queue), and when over 64 UTF-8 bytes cut short and ended with a hash of the whole, so two long names
    that share a beginning stay apart. None (the shared unkeyed queue) without a repository."""
    if not repository:
        return None
    key = repository.lower()
    encoded = key.encode()
    if len(encoded) <= FAIRNESS_KEY_MAX_BYTES:
        return key
    digest = hashlib.sha256(encoded).hexdigest()[:_FAIRNESS_HASH_CHARS]
    # A name from a repository URL may hold multi-byte characters: never cut one in half.
    head = encoded[: FAIRNESS_KEY_MAX_BYTES - _FAIRNESS_HASH_CHARS - 1].decode(errors="ignore")
    return f"{head}~{digest}"


def temporal_priority(input: WorkflowInput, priority: int | None = None) -> Priority:
    """The task's Temporal priority: its `priority` (or a newer one) as the key (1 first), its repository
    as the fairness key."""
    return Priority(priority_key=priority or input.task.priority, fairness_key=fairness_key(input.context.repository))


def task_markdown(input: WorkflowInput) -> str:
    """The task as the Web UI shows it: the starter's static details, and the top of the workflow's current
    details. Only the input goes in, so a replay renders the same text."""
    task = input.task
    facts = [f"**Type:** {task.type.value}", f"**Priority:** {task.priority}"]
    if input.context.repository:
        facts.append(f"**Repository:** {input.context.repository}")
    lines = [f"## {task.title}", "", " · ".join(facts)]
    for heading, items in (("Requirements", task.requirements), ("Acceptance criteria", task.acceptance_criteria)):
        if items:
            lines += ["", f"### {heading}", *(f"- {item}" for item in items)]
    return "\n".join(lines)
