"""Finding the running task workflows a delivery is for, and signalling them."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from datetime import timedelta

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from models import search_attributes
from models.task import workflow_id_for
from webhooks.translate import SignalOrder, Target

logger = logging.getLogger(__name__)

# Values that go into a visibility query: repository names, PR keys and SHAs never need more.
_QUERY_SAFE = re.compile(r"^[A-Za-z0-9_.\-/#]+$")
_RUNNING = "ExecutionStatus = 'Running'"
_MAX_MATCHES = 10
# PR keys whose one running workflow is remembered; a PR gets several deliveries (checks, reviews, merge).
_REMEMBERED_PRS = 10_000


class TemporalUnavailable(Exception):
    """Temporal could not answer; the delivery should fail so GitHub can redeliver it."""


class WorkflowRouter:
    """Looks workflows up by PR key, then head SHA, then the PR body's Task-ID, and signals them.

    Visibility is eventually consistent: a workflow that has just published its PR may not be
    found for a moment, so an empty lookup is repeated with backoff for up to `lookup_patience`.

    A PR key that visibility matched to exactly one running workflow is remembered with that run's id,
    so the PR's later deliveries signal that run without a visibility query. Once the run has
    closed (or continued as new) the signal is refused as not found, and the key is looked up again.
    """

    def __init__(
        self,
        client: Client,
        *,
        lookup_patience: timedelta = timedelta(seconds=5),
        rpc_timeout: timedelta = timedelta(seconds=2),
    ) -> None:
        self._client = client
        self._patience = lookup_patience.total_seconds()
        self._rpc_timeout = rpc_timeout
        self._runs_by_pr_keys: OrderedDict[tuple[str, ...], tuple[str, str]] = OrderedDict()

    async def deliver(self, order: SignalOrder) -> list[str]:
        """Signal every running workflow the order's target names; returns the workflow ids signalled."""
        remembered = self._runs_by_pr_keys.get(order.target.pr_keys)
        if remembered is not None:
            workflow_id, run_id = remembered
            if await self._signal(workflow_id, order, run_id=run_id):
                self._runs_by_pr_keys.move_to_end(order.target.pr_keys)
                return [workflow_id]
            self._runs_by_pr_keys.pop(order.target.pr_keys, None)
        workflow_ids = await self.find(order.target)
        results = await asyncio.gather(*(self._signal(workflow_id, order) for workflow_id in workflow_ids))
        return [workflow_id for workflow_id, sent in zip(workflow_ids, results) if sent]

    async def find(self, target: Target) -> list[str]:
        """Ids of the running workflows for `target`, waiting up to `lookup_patience` for visibility."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._patience
        delay = 0.1
        while True:
            found = await self._find_once(target)
            if found or loop.time() + delay > deadline:
                return found
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _find_once(self, target: Target) -> list[str]:
        keys = [key for key in target.pr_keys if _QUERY_SAFE.match(key)]
        if keys:
            by_key = " OR ".join(f"{search_attributes.PR_KEY.name} = '{key}'" for key in keys)
            runs = await self._list_runs(f"({by_key}) AND {_RUNNING}")
            if len(runs) == 1:
                self._remember(target.pr_keys, runs[0])
            if runs:
                return [workflow_id for workflow_id, _ in runs]
        if target.head_sha and _QUERY_SAFE.match(target.head_sha) and _QUERY_SAFE.match(target.repository):
            found = await self._list(
                f"{search_attributes.PR_HEAD_SHA.name} = '{target.head_sha}'"
                f" AND {search_attributes.REPOSITORY.name} = '{target.repository}' AND {_RUNNING}"
            )
            if found:
                return found
        if target.task_id:
            return await self._by_task_id(target)
        return []

    def _remember(self, pr_keys: tuple[str, ...], run: tuple[str, str]) -> None:
        self._runs_by_pr_keys[pr_keys] = run
        self._runs_by_pr_keys.move_to_end(pr_keys)
        while len(self._runs_by_pr_keys) > _REMEMBERED_PRS:
            self._runs_by_pr_keys.popitem(last=False)

    async def _list(self, query: str) -> list[str]:
        return [workflow_id for workflow_id, _ in await self._list_runs(query)]

    async def _list_runs(self, query: str) -> list[tuple[str, str]]:
        """(workflow id, run id) of each match."""
        try:
            return [
                (execution.id, execution.run_id)
                async for execution in self._client.list_workflows(
                    query, limit=_MAX_MATCHES, rpc_timeout=self._rpc_timeout
                )
            ]
        except (RPCError, RuntimeError) as error:
            raise _unavailable(error) from error

    async def _by_task_id(self, target: Target) -> list[str]:
        workflow_id = workflow_id_for(target.task_id or "")
        try:
            execution = await self._client.get_workflow_handle(workflow_id).describe(rpc_timeout=self._rpc_timeout)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return []
            raise _unavailable(error) from error
        except RuntimeError as error:
            raise _unavailable(error) from error
        return [workflow_id] if _may_own(execution, target) else []

    async def _signal(self, workflow_id: str, order: SignalOrder, *, run_id: str | None = None) -> bool:
        try:
            await self._client.get_workflow_handle(workflow_id, run_id=run_id).signal(
                order.signal, order.payload, rpc_timeout=self._rpc_timeout
            )
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                # It finished between the lookup and the signal; nothing is waiting for this delivery.
                logger.info("workflow %s finished before %s could be signalled", workflow_id, order.signal)
                return False
            raise _unavailable(error) from error
        except RuntimeError as error:
            raise _unavailable(error) from error
        return True


def _may_own(execution: WorkflowExecution, target: Target) -> bool:
    """A PR body names a task, but anyone can write that line: only trust it for a running workflow
    that has no other PR and no other repository yet."""
    if execution.status != WorkflowExecutionStatus.RUNNING:
        return False
    attributes = execution.typed_search_attributes
    known_key = attributes.get(search_attributes.PR_KEY)
    known_repository = attributes.get(search_attributes.REPOSITORY)
    if known_key is not None and known_key not in target.pr_keys:
        return False
    return known_repository is None or known_repository.lower() == target.repository.lower()


def _unavailable(error: Exception) -> TemporalUnavailable:
    # Lazy clients report an unreachable server as RuntimeError("Failed client connect: ...").
    return TemporalUnavailable(f"Temporal did not answer: {error}")
