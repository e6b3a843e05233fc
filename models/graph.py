"""A backlog as a task graph: tasks that start when the PRs they depend on have merged.

`GraphInput` is TaskGraphWorkflow's argument, checked whole before anything starts (duplicate ids, unknown
ids, self-dependencies, cycles, each named). `GraphPlan` is the graph's state and its rules: which tasks are
ready, which are blocked and why, and when the graph can make no more progress. Pure, so the rules are
tested directly and the workflow only acts on them.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, model_validator

from models.names import GRAPH_ID_PREFIX
from models.status import Reason, TaskOutcome
from models.task import TASK_ID_PATTERN, StrictModel, Task, TaskContext, TaskOptions, refused

# Temporal advises at most 500 concurrent operations per workflow; a graph's children are that.
MAX_GRAPH_TASKS = 500


class NodeState(StrEnum):
    WAITING = "waiting"  # for the PRs it depends on to merge, or for its turn
    RUNNING = "running"  # its task workflow runs
    MERGED = "merged"
    SKIPPED = "skipped"  # treated as satisfied by an operator (work merged by hand)
    CLOSED = "closed"  # closed unmerged
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    BLOCKED = "blocked"  # a task it depends on will not merge


# A dependency in one of these lets its dependents start.
SATISFIED = frozenset({NodeState.MERGED, NodeState.SKIPPED})
# Ended without a merge: its dependents are blocked until an operator retries or skips it.
UNMERGED = frozenset({NodeState.CLOSED, NodeState.FAILED, NodeState.EXPIRED, NodeState.CANCELLED})


class GraphInput(StrictModel):
    """TaskGraphWorkflow's one argument: the tasks (each with an id) and what they share."""

    graph_id: str
    tasks: list[Task] = Field(min_length=1, max_length=MAX_GRAPH_TASKS)
    context: TaskContext = Field(default_factory=TaskContext)
    options: TaskOptions = Field(default_factory=TaskOptions)
    # At most this many of the graph's tasks run at once; None: no limit of the graph's own.
    max_parallel: int | None = Field(default=None, ge=1)
    # Ids outside `tasks` that are done already (Task Master's done or cancelled): dependencies met.
    satisfied: list[str] = Field(default_factory=list)
    # Ids outside `tasks` that will not be done (Task Master's deferred), and why: their dependents are blocked.
    unavailable: dict[str, str] = Field(default_factory=dict)
    # Filled in by continue-as-new (and by a restart after the graph ended): the plan as it stood.
    carried_plan: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _a_graph(self) -> GraphInput:
        problems = graph_problems(self.graph_id, self.tasks, self.satisfied, list(self.unavailable))
        if problems:
            raise refused("; ".join(problems))
        return self

    @property
    def workflow_id(self) -> str:
        return graph_workflow_id(self.graph_id)


def graph_workflow_id(graph_id: str) -> str:
    return f"{GRAPH_ID_PREFIX}{graph_id}"


def graph_id_for(tasks: list[dict[str, Any]] | list[Task]) -> str:
    """A graph named by its content: submitting the same file again finds the same graph."""
    raw = [task.model_dump(mode="json") if isinstance(task, Task) else task for task in tasks]
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"graph-{digest[:12]}"


def graph_problems(graph_id: str, tasks: list[Task], satisfied: list[str], unavailable: list[str]) -> list[str]:
    """Everything that keeps these tasks from being a graph, one line each: no ids, duplicates, unknown or
    self dependencies, cycles (with their path)."""
    problems: list[str] = []
    if not re.fullmatch(TASK_ID_PATTERN, graph_id):
        problems.append(f"graph id {graph_id!r}: expected 1 to 128 letters, digits, '.', '_' or '-'")
    ids = [task.id for task in tasks]
    problems += [f"task {index} ({task.title!r}) has no id; a graph's tasks need ids" for index, task in enumerate(tasks) if not task.id]
    seen: set[str] = set()
    for task_id in ids:
        if task_id and task_id in seen:
            problems.append(f"duplicate task id {task_id!r}")
        seen.add(task_id or "")
    outside = set(satisfied) | set(unavailable)
    problems += [f"task {task_id!r} is both in the graph and listed as done or unavailable" for task_id in sorted(outside & seen)]
    for task in tasks:
        for dependency in task.depends_on:
            if dependency == task.id:
                problems.append(f"task {task.id!r} depends on itself")
            elif dependency not in seen and dependency not in outside:
                problems.append(f"task {task.id!r} depends on unknown task {dependency!r}")
    cycle = find_cycle({task.id: [d for d in task.depends_on if d in seen and d != task.id] for task in tasks if task.id})
    if cycle:
        problems.append("dependency cycle: " + " -> ".join(cycle))
    return problems


def find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """One cycle's path (`a -> b -> a`), or None; `edges` maps a task to those it depends on."""
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done
    for start in edges:
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, index = stack.pop()
            if index == 0:
                state[node] = 1
                path.append(node)
            children = edges.get(node, [])
            if index < len(children):
                stack.append((node, index + 1))
                child = children[index]
                if state.get(child) == 1:
                    return [*path[path.index(child) :], child]
                if not state.get(child):
                    stack.append((child, 0))
            else:
                state[node] = 2
                path.pop()
    return None


class Node(BaseModel):
    """One task of the graph as the graph sees it."""

    task_id: str
    title: str
    priority: int
    depends_on: list[str]
    state: NodeState = NodeState.WAITING
    # Why it is blocked, failed or skipped; the task's outcome message otherwise.
    reason: str = ""
    pr_url: str | None = None
    pr_title: str | None = None
    merge_commit_sha: str | None = None
    summary: str | None = None
    # Runs of its task workflow the graph started (a retry starts another), and the latest one's first run id.
    runs: int = 0
    first_execution_run_id: str | None = None
    ended_at: datetime | None = None


class GraphPlan(BaseModel):
    """The graph's whole state: its `graph` query answer, its result, and what continue-as-new carries."""

    graph_id: str
    nodes: list[Node]
    max_parallel: int | None = None
    satisfied: list[str] = Field(default_factory=list)
    unavailable: dict[str, str] = Field(default_factory=dict)
    _by_id: dict[str, Node] = PrivateAttr(default_factory=dict)

    @classmethod
    def start(cls, graph: GraphInput) -> GraphPlan:
        nodes = [
            Node(task_id=task.id or "", title=task.title, priority=task.priority, depends_on=list(task.depends_on)) for task in graph.tasks
        ]
        return cls(
            graph_id=graph.graph_id,
            nodes=nodes,
            max_parallel=graph.max_parallel,
            satisfied=list(graph.satisfied),
            unavailable=dict(graph.unavailable),
        )

    def find(self, task_id: str) -> Node | None:
        # Indexed once: the rules look tasks up by id for every dependency, and a graph has up to 500.
        if len(self._by_id) != len(self.nodes):
            self._by_id = {node.task_id: node for node in self.nodes}
        return self._by_id.get(task_id)

    def node(self, task_id: str) -> Node:
        found = self.find(task_id)
        if found is None:
            raise KeyError(f"no task {task_id!r} in graph {self.graph_id}")
        return found

    def waits_on(self, node: Node) -> list[str]:
        """The dependencies of `node` not yet satisfied."""
        return [d for d in node.depends_on if not self._satisfied(d)]

    def _satisfied(self, task_id: str) -> bool:
        if task_id in self.satisfied:  # a short list: Task Master's done tasks
            return True
        if task_id in self.unavailable:
            return False
        return self.node(task_id).state in SATISFIED

    def _why_not(self, task_id: str) -> str | None:
        """Why `task_id` will not merge as things stand, or None while it still may."""
        if task_id in self.unavailable:
            return f"{task_id} {self.unavailable[task_id]}"
        node = self.node(task_id) if task_id not in self.satisfied else None
        if node is not None and node.state in UNMERGED:
            return f"{task_id} ended {node.state.value}"
        if node is not None and node.state is NodeState.BLOCKED:
            return f"{task_id} is blocked"
        return None

    def settle(self) -> list[str]:
        """Block what cannot start and unblock what may again; the task ids whose state changed."""
        changed: list[str] = []
        moved = True
        while moved:
            moved = False
            for node in self.nodes:
                if node.state not in (NodeState.WAITING, NodeState.BLOCKED):
                    continue
                reasons = [why for why in map(self._why_not, node.depends_on) if why]
                if reasons and node.state is NodeState.WAITING:
                    node.state, node.reason = NodeState.BLOCKED, "blocked: " + "; ".join(reasons)
                elif not reasons and node.state is NodeState.BLOCKED:
                    node.state, node.reason = NodeState.WAITING, ""
                else:
                    continue
                changed.append(node.task_id)
                moved = True
        return changed

    def ready(self) -> list[Node]:
        """Waiting tasks whose dependencies have all merged, by priority then file order, as many as may start."""
        running = sum(node.state is NodeState.RUNNING for node in self.nodes)
        room = len(self.nodes) if self.max_parallel is None else max(0, self.max_parallel - running)
        ready = [node for node in self.nodes if node.state is NodeState.WAITING and not self.waits_on(node)]
        return sorted(ready, key=lambda node: node.priority)[:room]

    def stuck(self) -> bool:
        """Nothing runs and nothing can start: the graph has gone as far as it can."""
        return not any(node.state is NodeState.RUNNING for node in self.nodes) and not self.ready()

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for node in self.nodes:
            counted[node.state.value] = counted.get(node.state.value, 0) + 1
        return counted


class GraphTaskEnded(BaseModel):
    """The `task_ended` signal: a graph's task workflow ended, and what it delivered."""

    task_id: str
    # The task workflow's first run: a report from a run the graph has since replaced is stale.
    first_execution_run_id: str
    state: NodeState
    message: str = ""
    pr_url: str | None = None
    pr_title: str | None = None
    merge_commit_sha: str | None = None
    summary: str | None = None

    @classmethod
    def of(cls, outcome: TaskOutcome, first_execution_run_id: str) -> GraphTaskEnded:
        pr = outcome.pr
        return cls(
            task_id=outcome.task_id,
            first_execution_run_id=first_execution_run_id,
            state=node_state_of(outcome),
            message=outcome.message,
            pr_url=pr.url if pr else None,
            pr_title=pr.title if pr else None,
            merge_commit_sha=pr.merge_commit_sha if pr else None,
            summary=outcome.agent_summary,
        )


def node_state_of(outcome: TaskOutcome) -> NodeState:
    if outcome.status == "failed" and outcome.reason is Reason.CANCELLED:
        return NodeState.CANCELLED
    return NodeState(outcome.status)


class RunningTaskRef(BaseModel):
    """A task the graph started and believes still runs."""

    task_id: str
    workflow_id: str
    first_execution_run_id: str
