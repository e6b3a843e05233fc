"""How a task's live status and its outcome read on a terminal."""

from __future__ import annotations

from cli.output import agent_run_labels, duration, timestamp
from models.status import TaskOutcome, TaskStatus, TimelineEntry


def timeline_line(entry: TimelineEntry) -> str:
    detail = f"  {entry.detail}" if entry.detail else ""
    return f"{timestamp(entry.at)}  {entry.event}{detail}"


def render_status(status: TaskStatus, url: str, timeline_tail: int = 10) -> str:
    """The `status` query as a block of `label  value` lines, newest timeline entries last."""
    rows = [
        ("Task", f"{status.task_id}  {status.title} ({status.task_type})"),
        ("Workflow", f"{status.workflow_id}  {url}"),
        ("Phase", f"{status.phase.value}  attempt {status.attempt}/{status.max_attempts}  codegen {status.codegen_status}"
         + ("  [mock mode]" if status.mock_mode else "")),
    ]
    if status.priority is not None:
        rows.append(("Priority", str(status.priority)))
    if status.queued:
        rows.append(("Queued", f"{status.queued.reason}  since {timestamp(status.queued.since)}"))
    if status.agent_runs:
        run = status.agent_runs[-1]
        rows.append(("Agent run", f"{agent_run_labels(status.agent_runs)[-1]} {run.web_url or ''}".rstrip()))
    if status.pr:
        against_base = status.pr.against_base_words()
        standing = f"  {against_base}" if against_base else ""
        rows.append(("PR", f"{status.pr.ref.key} {status.pr.status}  checks {status.verdict}{standing}  {status.pr.url}"))
    if status.checks:
        rows.append(("Checks", ", ".join(f"{check.name}: {check.conclusion or check.status}" for check in status.checks)))
    if status.reviews:
        rows.append(("Reviews", ", ".join(f"{review.reviewer}: {review.state}" for review in status.reviews)))
    if status.error:
        rows.append(("Error", f"{status.error.reason.value}: {status.error.message}"))
    lines = [f"{label:<10} {value}" for label, value in rows]
    if status.timeline:
        lines += ["Timeline", *(f"  {timeline_line(entry)}" for entry in status.timeline[-timeline_tail:])]
    return "\n".join(lines)


def render_outcome(outcome: TaskOutcome, url: str) -> str:
    """The workflow's result: outcome, PR, runs and timings."""
    timings = outcome.timings
    rows = [
        ("Task", outcome.task_id),
        ("Workflow", f"{outcome.workflow_id}  {url}"),
        ("Outcome", f"{outcome.status} ({outcome.reason.value}) {outcome.message}".rstrip()
         + ("  [mock mode]" if outcome.mock_mode else "")),
    ]
    if outcome.pr:
        merged_by = {"service": "  by the service", "person": "  by a person"}.get(outcome.merged_by or "", "")
        rows.append(("PR", f"{outcome.pr.ref.key} {outcome.pr.status}{merged_by}  {outcome.pr.url}"))
    if outcome.agent_runs:
        rows.append(("Agent runs", ", ".join(agent_run_labels(outcome.agent_runs))))
    rows.append(("Attempts", str(len(outcome.attempts))))
    rows.append(("Timings", f"to PR {duration(timings.time_to_pr_s)}, to merge {duration(timings.time_to_merge_s)}, "
                            f"total {duration(timings.total_s)}"))
    return "\n".join(f"{label:<10} {value}" for label, value in rows)
