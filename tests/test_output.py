"""How the command line labels a task's agent runs."""

from cli.output import agent_run_labels
from models.status import AgentRunRecord


def test_agent_run_labels_say_which_run_is_the_attempt_a_follow_up_or_codegens_own():
    runs = [
        AgentRunRecord(id=101, status="COMPLETE", attempt=1),
        AgentRunRecord(id=101, status="COMPLETE", attempt=1, kind="followup"),
        AgentRunRecord(id=900, status="ACTIVE", attempt=1, kind="codegen"),
    ]
    assert agent_run_labels(runs) == [
        "101 COMPLETE (attempt 1)",
        "101 COMPLETE (follow-up 1 of attempt 1)",
        "900 ACTIVE (follow-up 2: Codegen's own run on the PR)",
    ]
