"""The names users, scripts and dashboards rely on: change one only with a reason in the README.

The CLI, the relay, the benchmarks and the demo import them from here, never from workflow code.
"""

from temporalio.common import SearchAttributeKey

WORKFLOW_NAME = "CodegenTaskWorkflow"
WORKFLOW_ID_PREFIX = "codegen-task-"
DEFAULT_TASK_QUEUE = "codegen-tasks"
# `starter.py health` runs the Codegen check on a worker through this workflow (ids codegen-health-<random>).
HEALTH_WORKFLOW_NAME = "CodegenHealthWorkflow"
HEALTH_WORKFLOW_ID_PREFIX = "codegen-health-"

# A backlog whose tasks depend on each other: one TaskGraphWorkflow (id codegen-graph-<graph id>) starts
# each task as a child CodegenTaskWorkflow once the PRs it depends on have merged.
GRAPH_WORKFLOW_NAME = "TaskGraphWorkflow"
GRAPH_ID_PREFIX = "codegen-graph-"
QUERY_GRAPH = "graph"
UPDATE_GRAPH_RETRY = "retry_task"
UPDATE_GRAPH_SKIP = "skip_task"
# From a graph's task to its graph when the task ends.
SIGNAL_GRAPH_TASK_ENDED = "task_ended"

# One per repository and task queue when MAX_ACTIVE_TASKS_PER_REPOSITORY is set: who holds the repository's
# slots and who waits (ids codegen-slots-<task queue>/<repository>).
SLOTS_WORKFLOW_NAME = "RepositorySlotsWorkflow"
SLOTS_WORKFLOW_ID_PREFIX = "codegen-slots-"

# The relay's route for GitHub webhooks; RELAY_URL defaults to it on loopback.
WEBHOOK_PATH = "/webhooks/github"
DEFAULT_RELAY_URL = f"http://127.0.0.1:8787{WEBHOOK_PATH}"

QUERY_STATUS = "status"
UPDATE_RETRY = "retry"
SIGNAL_PR_EVENT = "pr_event"
SIGNAL_CHECK_RESULT = "check_result"
SIGNAL_REVIEW = "review"
# From the worker's run watcher: a task's agent run ended, paused, or runs again.
SIGNAL_AGENT_RUN = "agent_run"
# From the relay: a push landed on the base branch of the task's open PR (it may now be behind, or conflict).
SIGNAL_BASE_PUSHED = "base_pushed"
# `starter.py priority TASK N`: a task's new priority.
UPDATE_PRIORITY = "set_priority"
# Between a task and its repository's slots workflow.
UPDATE_ACQUIRE_SLOT = "acquire_slot"
SIGNAL_SLOT_GRANTED = "slot_granted"
SIGNAL_RELEASE_SLOT = "release_slot"
SIGNAL_SLOT_PRIORITY = "slot_priority"
QUERY_SLOTS = "slots"

# Keyword search attributes every task workflow carries, so webhooks and stats can find it.
TASK_ID = SearchAttributeKey.for_keyword("TaskId")
TASK_TYPE = SearchAttributeKey.for_keyword("TaskType")
TASK_PHASE = SearchAttributeKey.for_keyword("TaskPhase")
PR_STATUS = SearchAttributeKey.for_keyword("PRStatus")
PR_KEY = SearchAttributeKey.for_keyword("PRKey")
PR_HEAD_SHA = SearchAttributeKey.for_keyword("PRHeadSha")
REPOSITORY = SearchAttributeKey.for_keyword("Repository")
# The branch the task's PR targets: a push there reaches every open task whose PR it may put behind.
PR_BASE_REF = SearchAttributeKey.for_keyword("PRBaseRef")
# The graph a task belongs to (its graph id), set when the graph starts it.
GRAPH_ID = SearchAttributeKey.for_keyword("GraphId")
SEARCH_ATTRIBUTES = (TASK_ID, TASK_TYPE, TASK_PHASE, PR_STATUS, PR_KEY, PR_HEAD_SHA, REPOSITORY, GRAPH_ID, PR_BASE_REF)

# Metrics on the worker's --metrics-port.
# Ended task workflows by status and reason, for dashboards and alerts.
OUTCOMES_METRIC = "codegen_task_outcomes"
# Agent runs Codegen accepted (created, or follow-ups sent), by kind: what Codegen bills.
AGENT_RUNS_METRIC = "codegen_agent_runs"
