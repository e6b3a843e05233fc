"""The agent rate: how many agent runs the creation queue (`<queue>-codegen-api`) starts per minute.

The Temporal server holds it, in the queue's task-queue config, so every worker polling the queue obeys one
value: a rate set there wins over each worker's own `max_task_queue_activities_per_second`. Rate 0 is the
outage switch: the server dispatches no creation, so each waits in the queue, and no attempt runs or fails.
Shared by the worker (which sets the rate at start) and `starter.py agents` / `starter.py health`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from temporalio.api.enums.v1 import RateLimitSource, TaskQueueType
from temporalio.api.taskqueue.v1 import RateLimit, TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, UpdateTaskQueueConfigRequest
from temporalio.client import Client

from models.codegen import codegen_api_task_queue

PAUSE_REASON = "paused by starter.py agents pause"
# The server keeps no history of rates: the pause writes the rate it replaced into its reason, for resume.
_RESTORES = re.compile(r"; resume restores ([0-9.e+]+) per minute$")
_ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
Source = Literal["api", "worker", "system"]
_SOURCES: dict[int, Source] = {
    RateLimitSource.RATE_LIMIT_SOURCE_API: "api",
    RateLimitSource.RATE_LIMIT_SOURCE_WORKER: "worker",
    RateLimitSource.RATE_LIMIT_SOURCE_SYSTEM: "system",
}


@dataclass(frozen=True)
class AgentRate:
    """The creation queue's rate as the server enforces it, and the last change made through its config."""

    task_queue: str  # the creation queue
    per_minute: float
    # api: set in the server's config (by a worker at start, or `starter.py agents`); worker: no rate set
    # there, a worker's own option rules; system: neither, the server's default (thousands per second).
    source: Source
    reason: str
    changed_by: str
    changed_at: datetime | None

    @property
    def paused(self) -> bool:
        return self.source == "api" and self.per_minute == 0

    @property
    def restores_per_minute(self) -> float | None:
        """The rate `agents pause` replaced, which `agents resume` puts back; None if it recorded none."""
        found = _RESTORES.search(self.reason) if self.paused else None
        return float(found.group(1)) if found else None


async def read_agent_rate(client: Client, task_queue: str) -> AgentRate:
    """The rate of `task_queue`'s creation queue (the workflow queue's name, as in TEMPORAL_TASK_QUEUE)."""
    queue = codegen_api_task_queue(task_queue)
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=_ACTIVITY, report_config=True)
    )
    effective = described.effective_rate_limit
    change = described.config.queue_rate_limit.metadata
    return AgentRate(
        task_queue=queue,
        # Per second as a 32-bit float on the wire: 10 per minute comes back as 10.0000003.
        per_minute=round(effective.requests_per_second * 60, 3),
        source=_SOURCES.get(effective.rate_limit_source, "system"),
        reason=change.reason,
        changed_by=change.update_identity,
        changed_at=change.update_time.ToDatetime(tzinfo=UTC) if change.HasField("update_time") else None,
    )


async def set_agent_rate(client: Client, task_queue: str, per_minute: float, reason: str) -> AgentRate:
    """Set the rate in the server's config (0 pauses), with `reason` shown to whoever reads it; the rate now."""
    await client.workflow_service.update_task_queue_config(
        UpdateTaskQueueConfigRequest(
            namespace=client.namespace,
            identity=client.identity,
            task_queue=codegen_api_task_queue(task_queue),
            task_queue_type=_ACTIVITY,
            update_queue_rate_limit=UpdateTaskQueueConfigRequest.RateLimitUpdate(
                rate_limit=RateLimit(requests_per_second=per_minute / 60), reason=reason
            ),
        )
    )
    return await read_agent_rate(client, task_queue)


async def pause_agents(client: Client, task_queue: str) -> tuple[AgentRate, bool]:
    """Set the rate to 0, recording the rate it replaces; (the rate now, whether this call paused it).

    A queue already paused stays as it is, so a second pause keeps the first one's record of what to restore.
    """
    current = await read_agent_rate(client, task_queue)
    if current.paused:
        return current, False
    # The server's default is no limit to go back to: resume then takes the setting instead.
    restores = f"; resume restores {current.per_minute:.15g} per minute" if current.source != "system" else ""
    return await set_agent_rate(client, task_queue, 0, PAUSE_REASON + restores), True
