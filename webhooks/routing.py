"""Finding the task workflows a delivery is for, and signalling the running ones."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from models import names
from models.task import workflow_id_for
from webhooks.translate import SignalOrder, Target

logger = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")

# Values that go into a visibility query: repository names, PR keys and SHAs never need more, and branch
# names seldom do (a branch with a quote or a space in its name is refused, never put in a query).
_QUERY_SAFE = re.compile(r"^[A-Za-z0-9_.\-/#]+$")
# Visibility lists open runs before closed ones (an unset close time sorts as the latest), so the
# closed runs of a PR never crowd its running ones out of this many matches.
_MAX_MATCHES = 10
# PR keys whose one running workflow is remembered; a PR gets several deliveries (checks, reviews, merge).
_REMEMBERED_PRS = 10_000
# How long a PR whose workflows have all closed is answered "finished" from memory: its checks, check
# suite and closed event come in a burst, often after the workflow saw the merge by reading GitHub.
FINISHED_MEMORY = timedelta(seconds=60)
# Signals in flight at once for one push: a base branch may be the target of hundreds of open PRs.
_BASE_SIGNALS_IN_FLIGHT = 20


class TemporalUnavailable(Exception):
    """Temporal could not answer; the delivery should fail so GitHub can redeliver it."""


@dataclass(frozen=True)
class Lookup:
    """What visibility shows for a target: its running workflows, or else those that have closed."""

    running: list[str] = field(default_factory=list)
    # Workflows that had the target but whose runs have all ended; only filled when none is running.
    closed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Routed:
    """Where a delivery went: the workflows signalled, or the closed workflows it was for."""

    signalled: list[str] = field(default_factory=list)
    # Set when nothing was signalled because the target's workflows have closed: the task is finished.
    closed: list[str] = field(default_factory=list)
    # Why the target was not looked up at all.
    refused: str | None = None


class WorkflowRouter:
    """Looks workflows up by PR key, then head SHA, then the PR body's Task-ID, and signals the running ones.

    Visibility is eventually consistent: a workflow that has just published its PR may not be
    found for a moment, so a lookup that finds no workflow at all is repeated with backoff for up
    to `lookup_patience`. A lookup that finds only closed workflows for the PR or head SHA is final
    at once: the task has finished, and waiting would only repeat the same answer.

    A PR key that visibility matched to exactly one running workflow is remembered with that run's id,
    so the PR's later deliveries signal that run without a visibility query. Once the run has
    closed (or continued as new) the signal is refused as not found, and the key is looked up again.
    A PR key found with closed workflows only is remembered as finished for `finished_memory`, so
    the rest of its burst of deliveries is answered without asking visibility again.

    A push to a base branch is for every running task whose PR targets that branch: all of them are
    signalled, found by one query, with no patience and no memory (see `_deliver_to_base`).
    """

    def __init__(
        self,
        client: Client,
        *,
        lookup_patience: timedelta = timedelta(seconds=5),
        finished_memory: timedelta = FINISHED_MEMORY,
        rpc_timeout: timedelta = timedelta(seconds=2),
    ) -> None:
        self._client = client
        self._patience = lookup_patience.total_seconds()
        self._finished_memory = finished_memory.total_seconds()
        self._rpc_timeout = rpc_timeout
        self._runs_by_pr_keys: OrderedDict[tuple[str, ...], tuple[str, str]] = OrderedDict()
        # PR keys -> (until when, on the loop's clock; the closed workflow ids).
        self._finished_pr_keys: OrderedDict[tuple[str, ...], tuple[float, list[str]]] = OrderedDict()

    async def deliver(self, order: SignalOrder) -> Routed:
        """Signal every running workflow the order's target names; say which were signalled, or which had closed."""
        if order.target.base_ref is not None:
            return await self._deliver_to_base(order, order.target.base_ref)
        finished = self._recently_finished(order.target.pr_keys)
        if finished:
            return Routed(closed=finished)
        remembered = self._runs_by_pr_keys.get(order.target.pr_keys)
        if remembered is not None:
            workflow_id, run_id = remembered
            if await self._signal(workflow_id, order, run_id=run_id):
                self._runs_by_pr_keys.move_to_end(order.target.pr_keys)
                return Routed(signalled=[workflow_id])
            self._runs_by_pr_keys.pop(order.target.pr_keys, None)
        lookup = await self.find(order.target)
        results = await asyncio.gather(*(self._signal(workflow_id, order) for workflow_id in lookup.running))
        signalled = [workflow_id for workflow_id, sent in zip(lookup.running, results, strict=True) if sent]
        if signalled:
            return Routed(signalled=signalled)
        # Nothing took the signal: the workflows found had closed, or closed since (refused as not found).
        closed = lookup.closed or lookup.running
        if closed and order.target.pr_keys:
            self._remember_finished(order.target.pr_keys, closed)
        return Routed(closed=closed)

    async def _deliver_to_base(self, order: SignalOrder, base_ref: str) -> Routed:
        """Signal every running task whose PR targets `base_ref` in the order's repository, however many.

        No waiting for visibility: most pushes are to branches no open task targets, and a task a push
        concerns published its PR long before. No memory either: the tasks on a branch change as PRs open and close.
        """
        repository = order.target.repository
        if not (_QUERY_SAFE.match(repository) and _QUERY_SAFE.match(base_ref)):
            reason = f"branch {base_ref!r} of {repository} has characters the relay keeps out of visibility queries"
            return Routed(refused=reason)
        query = (
            f"{names.REPOSITORY.name} = '{repository}' AND {names.PR_BASE_REF.name} = '{base_ref}'"
            " AND ExecutionStatus = 'Running'"
        )
        running = [run.id for run in await self._list_runs(query, limit=None)]
        in_flight = asyncio.Semaphore(_BASE_SIGNALS_IN_FLIGHT)

        async def signal(workflow_id: str) -> bool:
            async with in_flight:
                return await self._signal(workflow_id, order)

        results = await asyncio.gather(*(signal(workflow_id) for workflow_id in running))
        return Routed(signalled=[workflow_id for workflow_id, sent in zip(running, results, strict=True) if sent])

    async def find(self, target: Target) -> Lookup:
        """The workflows for `target`, waiting up to `lookup_patience` while visibility shows none at all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._patience
        delay = 0.1
        while True:
            found = await self._find_once(target)
            if found.running or found.closed or loop.time() + delay > deadline:
                return found
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _find_once(self, target: Target) -> Lookup:
        closed: list[str] = []
        keys = [key for key in target.pr_keys if _QUERY_SAFE.match(key)]
        if keys:
            by_key = " OR ".join(f"{names.PR_KEY.name} = '{key}'" for key in keys)
            runs = await self._list_runs(by_key)
            running = [run for run in runs if run.status == WorkflowExecutionStatus.RUNNING]
            if len(running) == 1:
                self._remember(target.pr_keys, (running[0].id, running[0].run_id))
            if running:
                return Lookup(running=[run.id for run in running])
            closed += [run.id for run in runs if _has_ended(run)]
        if target.head_sha and _QUERY_SAFE.match(target.head_sha) and _QUERY_SAFE.match(target.repository):
            runs = await self._list_runs(
                f"{names.PR_HEAD_SHA.name} = '{target.head_sha}'"
                f" AND {names.REPOSITORY.name} = '{target.repository}'"
            )
            running_ids = [run.id for run in runs if run.status == WorkflowExecutionStatus.RUNNING]
            if running_ids:
                return Lookup(running=running_ids)
            closed += [run.id for run in runs if _has_ended(run)]
        if target.task_id:
            owner = await self._by_task_id(target)
            if owner:
                return Lookup(running=owner)
        return Lookup(closed=list(dict.fromkeys(closed)))

    def _recently_finished(self, pr_keys: tuple[str, ...]) -> list[str]:
        """The closed workflows remembered for these PR keys, if that memory has not run out."""
        remembered = self._finished_pr_keys.get(pr_keys)
        if remembered is None:
            return []
        until, closed = remembered
        if asyncio.get_running_loop().time() < until:
            return closed
        del self._finished_pr_keys[pr_keys]
        return []

    def _remember_finished(self, pr_keys: tuple[str, ...], closed: list[str]) -> None:
        if self._finished_memory <= 0:
            return
        _keep_recent(self._finished_pr_keys, pr_keys, (asyncio.get_running_loop().time() + self._finished_memory, closed))

    def _remember(self, pr_keys: tuple[str, ...], run: tuple[str, str]) -> None:
        _keep_recent(self._runs_by_pr_keys, pr_keys, run)

    async def _list_runs(self, query: str, *, limit: int | None = _MAX_MATCHES) -> list[WorkflowExecution]:
        """The runs `query` matches, running ones first; every page of them when `limit` is None."""
        try:
            return [
                execution
                async for execution in self._client.list_workflows(query, limit=limit, rpc_timeout=self._rpc_timeout)
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


def _keep_recent(memory: OrderedDict[K, V], key: K, value: V) -> None:
    """Store `key` as the most recent entry, forgetting the oldest beyond `_REMEMBERED_PRS`."""
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > _REMEMBERED_PRS:
        memory.popitem(last=False)


def _may_own(execution: WorkflowExecution, target: Target) -> bool:
    """A PR body names a task, but anyone can write that line: only trust it for a running workflow
    that has no other PR and no other repository yet."""
    if execution.status != WorkflowExecutionStatus.RUNNING:
        return False
    attributes = execution.typed_search_attributes
    known_key = attributes.get(names.PR_KEY)
    known_repository = attributes.get(names.REPOSITORY)
    if known_key is not None and known_key not in target.pr_keys:
        return False
    return known_repository is None or known_repository.lower() == target.repository.lower()


def _has_ended(execution: WorkflowExecution) -> bool:
    """Closed for good: a run that continued as new has a successor, which may not be visible yet."""
    return execution.status not in (None, WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW)


def _unavailable(error: Exception) -> TemporalUnavailable:
    # Lazy clients report an unreachable server as RuntimeError("Failed client connect: ...").
    return TemporalUnavailable(f"Temporal did not answer: {error}")
