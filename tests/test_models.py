import pytest
from pydantic import ValidationError

from models.codegen import PullRequestRef, RunState, classify_run_status
from models.errors import describe_validation_error
from models.task import FAIRNESS_KEY_MAX_BYTES, Task, TaskContext, WorkflowInput, fairness_key, temporal_priority


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


@pytest.mark.parametrize(("priority", "said"), [(0, "greater than or equal to 1"), (6, "less than or equal to 5"), ("high", "valid integer")])
def test_a_priority_outside_one_to_five_is_refused_by_name(priority, said):
    # The workflow fails with these lines ("Invalid task input: task.priority: ..."), the starter prints them.
    with pytest.raises(ValidationError) as caught:
        WorkflowInput.model_validate({"task": {"title": "x", "priority": priority}})
    (line,) = describe_validation_error(caught.value)
    assert line.startswith("task.priority: ") and said in line


def test_the_task_s_priority_and_repository_are_its_temporal_priority():
    input = WorkflowInput.model_validate({"task": {"title": "x", "priority": 1}, "context": {"repository": "Acme/API"}})
    assert (temporal_priority(input).priority_key, temporal_priority(input).fairness_key) == (1, "acme/api")
    unplaced = temporal_priority(WorkflowInput.model_validate({"task": {"title": "x"}}))
    assert (unplaced.priority_key, unplaced.fairness_key) == (3, None)


def test_a_fairness_key_is_at_most_64_bytes_and_long_names_stay_apart():
    assert fairness_key(None) is None and fairness_key("") is None
    exact = "o/" + "n" * (FAIRNESS_KEY_MAX_BYTES - 2)
    assert fairness_key(exact.upper()) == exact
    long_a, long_b = "acme/" + "x" * 100 + "-a", "acme/" + "x" * 100 + "-b"
    key_a, key_b = fairness_key(long_a), fairness_key(long_b)
    assert key_a is not None and key_b is not None and key_a != key_b
    assert len(key_a.encode()) <= FAIRNESS_KEY_MAX_BYTES and key_a.startswith("acme/xxx") and key_a == fairness_key(long_a.upper())
    # A name from a repository URL may hold multi-byte characters: the cut leaves valid UTF-8.
    wide = fairness_key("acme/" + "ü" * 60)
    assert wide is not None and len(wide.encode()) <= FAIRNESS_KEY_MAX_BYTES and wide.startswith("acme/üü")


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
