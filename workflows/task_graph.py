"""TaskGraphWorkflow: a backlog whose tasks depend on each other, each task started as a child
CodegenTaskWorkflow (id `codegen-task-<task id>`) once the PRs of every task it depends on have merged.

The rules (ready, blocked, stuck) are `models.graph.GraphPlan`'s; this workflow acts on them. A task tells
the graph when it ends (`task_ended`); a read of the server every few minutes catches a task that ended
without telling (terminated by hand). Operators retry or skip a task with updates. The graph ends when no
task can make progress, with every task's state as its result; a `retry` or `graph skip` after that starts
it again from that result. It continues as new long before its history grows large, carrying the plan;
its tasks are abandoned, not ended, when a run closes, so they live on into the next.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError, is_cancelled_exception
from temporalio.workflow import ParentClosePolicy

from workflows.calls import COUNTED_RETRY

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.graph_tasks import GraphTaskActivities
    from models.errors import describe_validation_error
    from models.graph import UNMERGED, GraphInput, GraphPlan, GraphTaskEnded, Node, NodeState, RunningTaskRef
    from models.names import (
        GRAPH_WORKFLOW_NAME,
        QUERY_GRAPH,
        SIGNAL_GRAPH_TASK_ENDED,
        UPDATE_GRAPH_RETRY,
        UPDATE_GRAPH_SKIP,
        WORKFLOW_NAME,
    )
    from models.task import DeliveredDependency, WorkflowInput, workflow_id_for
    from models.task_start import TaskStart

# How often the graph reads the server for tasks that ended without telling it.
RECONCILE_EVERY = timedelta(minutes=5)
ENDED_READ_TIMEOUT = timedelta(minutes=1)
# Continue as new past this many events (the server suggests it near 4,000 too): each task costs about
# ten (its start, its report, the workflow tasks between), so a 500-task graph continues a few times.
HISTORY_EVENTS_LIMIT = 2_000
# After a cancel, how long the graph waits for its running tasks to report that they stopped.
CANCEL_GRACE = timedelta(minutes=1)


@workflow.defn(name=GRAPH_WORKFLOW_NAME)
class TaskGraphWorkflow:
    @workflow.init
    def __init__(self, raw_input: Any) -> None:
        self._input: GraphInput | None = None
        self._input_errors: list[str] = []
        try:
            self._input = GraphInput.model_validate(raw_input)
        except ValidationError as error:
            self._input_errors = describe_validation_error(error)
        carried = self._input.carried_plan if self._input else None
        self._plan = GraphPlan.model_validate(carried) if carried else GraphPlan.start(self._input) if self._input else None
        self._changed = True
        # Reports that came before the graph heard its task had started (a task may end that fast).
        self._early_reports: dict[str, GraphTaskEnded] = {}

    @workflow.run
    async def run(self, raw_input: Any) -> GraphPlan:
        graph, plan = self._input, self._plan
        if graph is None or plan is None:
            raise ApplicationError("Invalid graph input: " + "; ".join(self._input_errors), self._input_errors, type="InvalidInput", non_retryable=True)
        try:
            while True:
                plan.settle()
                # Started together: each start waits for the server to confirm it.
                await asyncio.gather(*(self._start(graph, plan, node) for node in plan.ready()))
                self._show()
                if plan.stuck():
                    break
                if workflow.info().is_continue_as_new_suggested() or workflow.info().get_current_history_length() > HISTORY_EVENTS_LIMIT:
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    workflow.continue_as_new(graph.model_copy(update={"carried_plan": plan.model_dump(mode="json")}))
                self._changed = False
                try:
                    await workflow.wait_condition(lambda: self._changed, timeout=RECONCILE_EVERY)
                except TimeoutError:
                    await self._read_ended_tasks(plan)
        except (asyncio.CancelledError, FailureError) as error:
            if not is_cancelled_exception(error):
                raise
            await self._cancel(plan)
        self._show()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return plan

    async def _start(self, graph: GraphInput, plan: GraphPlan, node: Node) -> None:
        """Start `node`'s task workflow, told what the tasks it depends on delivered."""
        task = next(task for task in graph.tasks if task.id == node.task_id)
        built_on = [self._delivered(plan, dependency) for dependency in node.depends_on if dependency not in plan.satisfied]
        input = WorkflowInput(task=task, context=graph.context, options=graph.options, built_on=[d for d in built_on if d])
        start = TaskStart.of(input, graph.graph_id)
        node.state, node.reason, node.runs, node.first_execution_run_id = NodeState.RUNNING, "", node.runs + 1, None
        try:
            handle = await workflow.start_child_workflow(
                WORKFLOW_NAME,
                input,
                id=workflow_id_for(node.task_id),
                task_queue=workflow.info().task_queue,
                # A task outlives a run of its graph that continues as new, and a graph terminated by hand.
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=start.search_attributes,
                priority=start.priority,
                static_summary=start.static_summary,
                static_details=start.static_details,
            )
        except FailureError as error:
            if is_cancelled_exception(error):
                raise
            # Most likely a workflow of the same id runs already (the task submitted on its own).
            node.state, node.reason = NodeState.FAILED, f"its task could not start: {error.message}"
            return
        node.first_execution_run_id = handle.first_execution_run_id
        early = self._early_reports.pop(node.task_id, None)
        if early is not None:
            self._record(early)

    @staticmethod
    def _delivered(plan: GraphPlan, task_id: str) -> DeliveredDependency | None:
        dependency = plan.node(task_id)
        if dependency.pr_url is None:  # skipped by an operator: merged by hand, nothing to show
            return None
        return DeliveredDependency(
            task_id=dependency.task_id,
            title=dependency.title,
            pr_url=dependency.pr_url,
            pr_title=dependency.pr_title or "",
            merge_commit_sha=dependency.merge_commit_sha,
            summary=dependency.summary,
        )

    async def _read_ended_tasks(self, plan: GraphPlan) -> None:
        running = [
            RunningTaskRef(task_id=node.task_id, workflow_id=workflow_id_for(node.task_id), first_execution_run_id=node.first_execution_run_id)
            for node in plan.nodes
            if node.state is NodeState.RUNNING and node.first_execution_run_id
        ]
        if not running:
            return
        reports = await workflow.execute_local_activity_method(
            GraphTaskActivities.ended_graph_tasks, running, start_to_close_timeout=ENDED_READ_TIMEOUT, retry_policy=COUNTED_RETRY
        )
        for report in reports:
            self._record(report)

    async def _cancel(self, plan: GraphPlan) -> None:
        """Cancel every running task, give them a while to say they stopped, and call the rest cancelled."""
        running = [node for node in plan.nodes if node.state is NodeState.RUNNING]
        for node in running:
            try:
                await workflow.get_external_workflow_handle(workflow_id_for(node.task_id)).cancel()
            except FailureError:
                pass  # it ended meanwhile; its report says how
        try:
            await workflow.wait_condition(lambda: all(node.state is not NodeState.RUNNING for node in running), timeout=CANCEL_GRACE)
        except TimeoutError:
            pass
        for node in plan.nodes:
            if node.state in (NodeState.WAITING, NodeState.BLOCKED, NodeState.RUNNING):
                node.state, node.reason = NodeState.CANCELLED, "the graph was cancelled" + (" before it started" if node.runs == 0 else "")

    def _record(self, report: GraphTaskEnded) -> None:
        plan = self._plan
        assert plan is not None
        node = plan.find(report.task_id)
        if node is not None and node.state is NodeState.RUNNING and node.first_execution_run_id is None:
            self._early_reports[report.task_id] = report
            return
        # A stale report (from a run the graph has since replaced, or repeated) changes nothing.
        if node is None or node.state is not NodeState.RUNNING or node.first_execution_run_id != report.first_execution_run_id:
            return
        node.state, node.reason, node.ended_at = report.state, report.message, workflow.now()
        node.pr_url, node.pr_title, node.merge_commit_sha, node.summary = report.pr_url, report.pr_title, report.merge_commit_sha, report.summary
        self._changed = True

    def _show(self) -> None:
        assert self._plan is not None
        workflow.set_current_details(graph_markdown(self._plan))

    # ---- messages ----------------------------------------------------------------------------

    @workflow.query(name=QUERY_GRAPH)
    def graph(self) -> GraphPlan | None:
        return self._plan

    @workflow.signal(name=SIGNAL_GRAPH_TASK_ENDED)
    def task_ended(self, report: GraphTaskEnded) -> None:
        if self._plan is not None:
            self._record(report)

    @workflow.update(name=UPDATE_GRAPH_RETRY)
    def retry_task(self, task_id: str) -> str:
        node = self._node(task_id)
        node.state, node.reason = NodeState.WAITING, ""
        self._changed = True
        return f"{task_id} runs again in graph {self._graph_id()}; the tasks that depend on it wait for its new outcome"

    @retry_task.validator
    def _validate_retry(self, task_id: str) -> None:
        node = self._node(task_id)
        if node.state not in UNMERGED:
            raise ValueError(f"task {task_id} is {node.state.value}: only a failed, closed, expired or cancelled task is retried in its graph")

    @workflow.update(name=UPDATE_GRAPH_SKIP)
    def skip_task(self, task_id: str) -> str:
        node = self._node(task_id)
        node.state, node.reason = NodeState.SKIPPED, "skipped by an operator: treated as merged"
        self._changed = True
        return f"{task_id} is skipped in graph {self._graph_id()}: the tasks that depend on it may start"

    @skip_task.validator
    def _validate_skip(self, task_id: str) -> None:
        node = self._node(task_id)
        if node.state in (NodeState.RUNNING, NodeState.MERGED, NodeState.SKIPPED):
            why = "cancel it first (starter.py cancel)" if node.state is NodeState.RUNNING else "nothing to skip"
            raise ValueError(f"task {task_id} is {node.state.value}: {why}")

    def _node(self, task_id: str) -> Node:
        if self._plan is None:
            raise ValueError("the graph's input is invalid")
        try:
            return self._plan.node(task_id)
        except KeyError as error:
            raise ValueError(str(error.args[0])) from None

    def _graph_id(self) -> str:
        assert self._plan is not None
        return self._plan.graph_id


def graph_markdown(plan: GraphPlan) -> str:
    """The graph as the Web UI's current details show it: one row per task."""
    counts = " · ".join(f"{state} {count}" for state, count in plan.counts().items())
    lines = [f"## Graph {plan.graph_id}", "", counts, "", "| task | state | PR | waits on / why |", "|---|---|---|---|"]
    for node in plan.nodes:
        pr = f"[{node.pr_title or 'PR'}]({node.pr_url})" if node.pr_url else ""
        why = ", ".join(plan.waits_on(node)) if node.state is NodeState.WAITING else node.reason
        lines.append(f"| {node.task_id} | {node.state.value} | {pr} | {why.replace('|', '/')} |")
    return "\n".join(lines)
