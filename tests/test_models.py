import pytest
from pydantic import ValidationError

from models.codegen import PullRequestRef, RunState, classify_run_status
from models.errors import describe_validation_error
from models.task import Task, TaskContext, WorkflowInput


def test_unknown_task_type_lists_valid_types():
    with pytest.raises(ValidationError) as caught:
        Task(title="x", type="chore")
    (line,) = describe_validation_error(caught.value)
    assert line.startswith("type: ")
    assert "'chore'" in line and "bug_fix" in line and "security" in line


def test_every_bad_field_is_named():
    with pytest.raises(ValidationError) as caught:
        WorkflowInput.model_validate({"task": {"id": "bad id!", "title": "", "priority": 9, "acceptanceCriteria": []}})
    fields = {line.split(":")[0] for line in describe_validation_error(caught.value)}
    assert fields == {"task.id", "task.title", "task.priority", "task.acceptanceCriteria"}


def test_repository_parsed_from_url():
    assert TaskContext(repository_url="https://github.com/acme/api.git").repository == "acme/api"
    assert TaskContext(repository_url="git@github.example.com:acme/api.git").repository == "acme/api"
    with pytest.raises(ValidationError, match="repository_url"):
        TaskContext(repository_url="not a url")


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("complete", RunState.COMPLETE),
        ("COMPLETE", RunState.COMPLETE),
        ("max_iterations_reached", RunState.FAILED),
        ("Out_Of_Tokens", RunState.FAILED),
        ("ACTIVE", RunState.RUNNING),
        ("EVALUATION", RunState.RUNNING),
        (None, RunState.RUNNING),
    ],
)
def test_run_status_table(status, state):
    assert classify_run_status(status) is state


def test_pr_url_parsing_handles_enterprise_hosts():
    ref = PullRequestRef.from_url("https://ghe.corp.example/platform/api/pull/42/files")
    assert (ref.host, ref.owner, ref.repo, ref.number, ref.key) == ("ghe.corp.example", "platform", "api", 42, "platform/api#42")
    assert PullRequestRef.from_url("https://github.com/acme/api/issues/3") is None
