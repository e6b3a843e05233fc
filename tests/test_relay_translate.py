"""From GitHub payloads (tests/payloads, written from GitHub's webhook docs) to signals: no Temporal needed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from models.signals import BasePush, CheckResult, PrEvent, Review
from tests.relay_probe import IGNORED_BOT, PullRequestIdentity
from webhooks.payloads import MalformedDelivery, decode_body, parse_event
from webhooks.translate import Filters, Ignored, SignalOrder, Target, translate

NO_FILTERS = Filters()


def order_for(identity: PullRequestIdentity, name: str, event: str, filters: Filters = NO_FILTERS):
    payload = parse_event(event, identity.document(name))
    assert payload is not None
    return translate(event, "delivery-1", payload, filters)


@pytest.fixture
def identity() -> PullRequestIdentity:
    return PullRequestIdentity.fresh()


@pytest.mark.parametrize(
    ("name", "action", "merged", "new_head"),
    [
        ("pull_request.closed.merged", "closed", True, False),
        ("pull_request.closed.unmerged", "closed", False, False),
        ("pull_request.reopened", "reopened", False, False),
        ("pull_request.synchronize", "synchronize", False, True),
        ("pull_request.ready_for_review", "ready_for_review", False, False),
        ("pull_request.converted_to_draft", "converted_to_draft", False, False),
    ],
)
def test_pull_request_actions_become_pr_events(identity, name, action, merged, new_head) -> None:
    order = order_for(identity, name, "pull_request")
    assert isinstance(order, SignalOrder) and order.signal == "pr_event"
    event = order.payload
    assert isinstance(event, PrEvent)
    assert (event.delivery_id, event.action, event.merged, event.pr_key) == (
        "delivery-1",
        action,
        merged,
        identity.pr_key,
    )
    # synchronize moves the head to `after`; every other action keeps the PR's head.
    assert event.head_sha == (identity.new_head_sha if new_head else identity.head_sha)
    assert order.target.pr_keys == (identity.pr_key,)
    assert order.target.task_id == identity.task_id


def test_merged_close_carries_the_merge_time(identity) -> None:
    order = order_for(identity, "pull_request.closed.merged", "pull_request")
    assert order.payload.occurred_at == datetime(2026, 11, 24, 10, 20, tzinfo=UTC)


def test_check_run_completed_is_a_named_check_for_its_commit(identity) -> None:
    order = order_for(identity, "check_run.completed", "check_run")
    result = order.payload
    assert isinstance(result, CheckResult) and order.signal == "check_result"
    assert (result.name, result.head_sha, result.status, result.conclusion) == (
        "tests (3.11)",
        identity.head_sha,
        "completed",
        "success",
    )
    assert result.completed_at == datetime(2026, 11, 24, 10, 4, 30, tzinfo=UTC)
    assert result.details_url and "/job/" in result.details_url
    assert order.target.pr_keys == (identity.pr_key,)


def test_failed_check_run_without_pull_requests_falls_back_to_the_head_sha(identity) -> None:
    order = order_for(identity, "check_run.completed.no_pull_requests", "check_run")
    assert order.payload.conclusion == "failure"
    assert order.payload.output_summary == "tests/test_limits.py::test_burst failed"
    assert order.target.pr_keys == ()
    assert (order.target.repository, order.target.head_sha) == (identity.repository, identity.head_sha)


def test_check_suite_without_runs_is_one_check_per_app_read_from_check_suite(identity) -> None:
    order = order_for(identity, "check_suite.completed", "check_suite")
    result = order.payload
    # The original system read these fields from the wrong place; they live under check_suite.
    assert (result.name, result.head_sha, result.conclusion) == ("suite:github-actions", identity.head_sha, "success")
    assert order.target.pr_keys == (identity.pr_key,)


def test_check_suite_with_runs_is_left_to_its_runs(identity) -> None:
    # Each of its runs is delivered as a check_run: the suite would only repeat them as one more check.
    ignored = order_for(identity, "check_suite.completed.with_runs", "check_suite")
    assert ignored == Ignored("check_suite with 2 check runs: each run reports itself")


def test_pull_requests_of_other_repositories_are_not_targets(identity) -> None:
    document = identity.document("check_suite.completed")
    document["check_suite"]["pull_requests"][0]["base"]["repo"]["id"] = 1
    payload = parse_event("check_suite", document)
    order = translate("check_suite", "d", payload, NO_FILTERS)
    assert order.target.pr_keys == () and order.target.head_sha == identity.head_sha


def test_final_commit_statuses_are_checks_and_pending_is_ignored(identity) -> None:
    order = order_for(identity, "status.success", "status")
    assert (order.payload.name, order.payload.conclusion, order.payload.head_sha) == (
        "ci/legacy-jenkins",
        "success",
        identity.head_sha,
    )
    assert order.target.pr_keys == () and order.target.head_sha == identity.head_sha
    pending = order_for(identity, "status.pending", "status")
    assert isinstance(pending, Ignored) and "pending" in pending.reason

    document = identity.document("status.success")
    document["state"] = "error"
    errored = translate("status", "d", parse_event("status", document), NO_FILTERS)
    # `error` is a failure to the workflow; the original word stays in the summary.
    assert errored.payload.conclusion == "failure"
    assert errored.payload.output_summary.startswith("error:")


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("pull_request_review.submitted.approved", "approved"),
        ("pull_request_review.submitted.changes_requested", "changes_requested"),
        ("pull_request_review.dismissed", "dismissed"),
    ],
)
def test_reviews_carry_lower_case_state_reviewer_and_body(identity, name, state) -> None:
    order = order_for(identity, name, "pull_request_review")
    review = order.payload
    assert isinstance(review, Review) and order.signal == "review"
    assert (review.state, review.reviewer, review.pr_key, review.head_sha) == (
        state,
        "maria-reviewer",
        identity.pr_key,
        identity.head_sha,
    )
    assert review.body


def test_review_state_is_lower_cased_whatever_github_sends(identity) -> None:
    document = identity.document("pull_request_review.submitted.approved")
    document["review"]["state"] = "APPROVED"
    order = translate("pull_request_review", "d", parse_event("pull_request_review", document), NO_FILTERS)
    assert order.payload.state == "approved"


def test_ignored_reviewers_and_repositories_and_actions(identity) -> None:
    bot = order_for(identity, "pull_request_review.submitted.by_bot", "pull_request_review", Filters([], [IGNORED_BOT]))
    assert isinstance(bot, Ignored) and IGNORED_BOT in bot.reason
    elsewhere = order_for(identity, "pull_request.closed.merged", "pull_request", Filters(["other-org/*"], []))
    assert isinstance(elsewhere, Ignored) and "ALLOWED_REPOSITORIES" in elsewhere.reason
    allowed = order_for(identity, "pull_request.closed.merged", "pull_request", Filters(["ACME/widgets-*"], []))
    assert isinstance(allowed, SignalOrder)
    for name, event in (("pull_request.labeled", "pull_request"), ("check_run.created", "check_run")):
        ignored = order_for(identity, name, event)
        assert isinstance(ignored, Ignored) and "is not handled" in ignored.reason


@pytest.mark.parametrize(
    ("body", "task_id"),
    [
        ("Fixes things.\n\nTask-ID: T-7", "T-7"),
        ("**Task-ID:** T-7.1_x\nmore", "T-7.1_x"),
        ("task-id: abc", "abc"),
        ("Mentions Task-ID: T-7 mid-sentence", None),
        (None, None),
    ],
)
def test_task_id_line_in_the_pr_body(identity, body, task_id) -> None:
    document = identity.document("pull_request.closed.merged")
    document["pull_request"]["body"] = body
    order = translate("pull_request", "d", parse_event("pull_request", document), NO_FILTERS)
    assert order.target.task_id == task_id


def test_unknown_events_have_no_model_and_ping_parses(identity) -> None:
    assert parse_event("issues", identity.document("issues.opened")) is None
    assert parse_event("ping", identity.document("ping")).zen == "Design for failure."


def test_form_encoded_payload_decodes_like_json(identity) -> None:
    raw = identity.payload("pull_request.closed.merged")
    form = urlencode({"payload": raw.decode()}).encode()
    assert decode_body(form, "application/x-www-form-urlencoded") == json.loads(raw)


@pytest.mark.parametrize(
    ("raw", "content_type", "message"),
    [
        (b"{not json", "application/json", "not JSON"),
        (b"[1, 2]", "application/json", "JSON object"),
        (b"payload=1&payload=2", "application/x-www-form-urlencoded", "exactly one"),
        (b"other=1", "application/x-www-form-urlencoded", "exactly one"),
        (b"\xff\xfe", "application/json", "not JSON"),
    ],
)
def test_malformed_bodies_are_named(raw, content_type, message) -> None:
    with pytest.raises(MalformedDelivery, match=message):
        decode_body(raw, content_type)


def test_missing_required_field_names_the_field(identity) -> None:
    document = identity.document("check_run.completed")
    del document["check_run"]["head_sha"]
    with pytest.raises(MalformedDelivery, match=r"check_run\.head_sha"):
        parse_event("check_run", document)


HANDLED = [
    ("pull_request.closed.merged", "pull_request"),
    ("pull_request.synchronize", "pull_request"),
    ("check_run.completed", "check_run"),
    ("check_run.completed.no_pull_requests", "check_run"),
    ("check_suite.completed", "check_suite"),
    ("status.success", "status"),
    ("pull_request_review.submitted.approved", "pull_request_review"),
    ("pull_request_review.dismissed", "pull_request_review"),
    ("push", "push"),
]


@pytest.mark.parametrize(("name", "event"), HANDLED)
@pytest.mark.parametrize(
    ("html_url", "host"),
    [
        (None, "github.com"),  # as the payload file has it
        ("https://Mock-GitHub.invalid/acme/widgets", "mock-github.invalid"),
        ("https://GHE.example.com:8443/acme/widgets", "ghe.example.com:8443"),
    ],
)
def test_every_signal_carries_the_repository_web_host_in_lower_case(identity, name, event, html_url, host) -> None:
    # A mock PR's event must never reach a real task, nor a real event a mock task: the workflow
    # compares this host with its PR's.
    document = identity.document(name)
    if html_url is not None:
        document["repository"]["html_url"] = html_url
    payload = parse_event(event, document)
    assert payload is not None
    order = translate(event, "delivery-1", payload, NO_FILTERS)
    assert isinstance(order, SignalOrder)
    assert order.payload.host == host


def test_a_delivery_without_a_repository_web_address_carries_no_host(identity) -> None:
    document = identity.document("pull_request.closed.merged")
    del document["repository"]["html_url"]
    payload = parse_event("pull_request", document)
    assert payload is not None
    order = translate("pull_request", "delivery-1", payload, NO_FILTERS)
    assert isinstance(order, SignalOrder) and order.payload.host is None


ZERO_SHA = "0" * 40


def push_order(identity: PullRequestIdentity, filters: Filters = NO_FILTERS, **changes):
    document = identity.document("push") | changes
    payload = parse_event("push", document)
    assert payload is not None
    return translate("push", "delivery-1", payload, filters)


@pytest.mark.parametrize("branch", ["main", "release/2.0", "feature/x_y-z.1"])
def test_a_push_to_a_branch_is_for_every_task_whose_pr_targets_it(identity, branch) -> None:
    document = identity.document("push")
    order = push_order(identity, ref=f"refs/heads/{branch}")
    assert isinstance(order, SignalOrder) and order.signal == "base_pushed"
    assert order.payload == BasePush(
        delivery_id="delivery-1",
        repository=identity.repository,
        branch=branch,
        before=document["before"],
        after=document["after"],
        host="github.com",
    )
    # No PR, no commit to look a task up by: the branch in the repository names them all.
    assert order.target == Target(identity.repository, base_ref=branch)


def test_a_push_that_created_its_branch_has_nothing_before_it(identity) -> None:
    order = push_order(identity, ref="refs/heads/release/3.0", created=True, before=ZERO_SHA)
    assert isinstance(order, SignalOrder) and order.payload.before is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"ref": "refs/tags/v1.2.0"}, "push to refs/tags/v1.2.0 is not to a branch"),
        ({"deleted": True, "after": ZERO_SHA}, "push deleted branch main"),
        ({"after": ZERO_SHA}, "push to branch main leaves no commit (after is all zeros)"),
        ({"after": "0" * 64}, "push to branch main leaves no commit (after is all zeros)"),
    ],
)
def test_tag_pushes_and_branch_deletions_are_ignored(identity, changes, reason) -> None:
    assert push_order(identity, **changes) == Ignored(reason)


def test_pushes_to_repositories_outside_the_allow_list_are_ignored(identity) -> None:
    elsewhere = push_order(identity, Filters(["other-org/*"], []))
    assert isinstance(elsewhere, Ignored) and "ALLOWED_REPOSITORIES" in elsewhere.reason
    assert isinstance(push_order(identity, Filters(["ACME/widgets-*"], [])), SignalOrder)


def test_a_push_without_its_ref_names_the_field(identity) -> None:
    document = identity.document("push")
    del document["ref"]
    with pytest.raises(MalformedDelivery, match=r"push payload: ref: Field required"):
        parse_event("push", document)
