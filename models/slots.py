"""Per-repository slots: how many tasks may be active on one repository at once, and who holds or waits.

A task is active from its first agent run until it ends; `MAX_ACTIVE_TASKS_PER_REPOSITORY` bounds that
per repository. One RepositorySlotsWorkflow per repository and task queue keeps the holders and the line.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from models.names import SLOTS_WORKFLOW_ID_PREFIX

_OVERRIDE = re.compile(r"^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)=(\d+)$")
LIMIT_FORMS = "a whole number (3), per-repository overrides (acme/api=2), or both (3,acme/api=2)"


class RepositoryLimits(BaseModel):
    """`MAX_ACTIVE_TASKS_PER_REPOSITORY`: a default for every repository and overrides by name."""

    default: int | None = None
    overrides: dict[str, int] = Field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> RepositoryLimits:
        """`3`, `acme/api=2`, `3,acme/api=2,acme/web=1`; ValueError naming each bad part."""
        default: int | None = None
        overrides: dict[str, int] = {}
        problems: list[str] = []
        for part in (piece.strip() for piece in text.split(",")):
            override = _OVERRIDE.match(part)
            if part.isdigit():
                if default is not None:
                    problems.append(f"{part!r} is a second default")
                default = int(part)
            elif override:
                overrides[override.group(1).lower()] = int(override.group(2))
            else:
                problems.append(f"{part!r} is neither N nor owner/name=N")
                continue
            if int(part.rpartition("=")[2]) < 1:
                problems.append(f"{part!r} allows no task (a limit is at least 1; unset the variable for none)")
        if problems:
            raise ValueError("; ".join(problems) + f"; expected {LIMIT_FORMS}")
        return cls(default=default, overrides=overrides)

    def for_repository(self, repository: str) -> int | None:
        """The limit on `repository` (names compare case-insensitively); None: unlimited."""
        return self.overrides.get(repository.lower(), self.default)


def slots_workflow_id(task_queue: str, repository: str) -> str:
    """One slots workflow per repository for the workers of one task queue (a deployment)."""
    return f"{SLOTS_WORKFLOW_ID_PREFIX}{task_queue}/{repository.lower()}"


class SlotRequest(BaseModel):
    """A task asking its worker for a slot on its repository."""

    workflow_id: str
    task_id: str
    repository: str
    priority: int
    task_queue: str


class SlotAnswer(BaseModel):
    """What a request got: no limit on the repository (no slot needed), a slot, or a place in line."""

    limit: int | None = None
    granted: bool = False
    active: int = 0
    ahead: int = 0

    def waiting_reason(self, repository: str) -> str:
        return f"waiting for a slot on {repository}: {self.active} of {self.limit} active, {self.ahead} ahead in line"


class AcquireSlot(BaseModel):
    """The slots workflow's `acquire_slot` update: the limit comes from the asking worker's settings."""

    workflow_id: str
    task_id: str
    priority: int
    limit: int
    reclaim_every: timedelta


class SlotPriority(BaseModel):
    """The `slot_priority` signal: a waiting task's new priority."""

    workflow_id: str
    priority: int


class SlotHolder(BaseModel):
    workflow_id: str
    task_id: str
    since: datetime


class SlotWaiter(BaseModel):
    workflow_id: str
    task_id: str
    priority: int
    since: datetime


class RepositorySlots(BaseModel):
    """The slots workflow's whole state: its `slots` query answer and what continue-as-new carries."""

    repository: str
    limit: int
    reclaim_every: timedelta
    holders: list[SlotHolder] = Field(default_factory=list)
    # In the order they are served: priority (1 first), then time of asking.
    waiting: list[SlotWaiter] = Field(default_factory=list)


class SlotsInput(BaseModel):
    """RepositorySlotsWorkflow's argument: the repository, and the state a continued run carries."""

    repository: str
    limit: int
    reclaim_every: timedelta
    carried: RepositorySlots | None = None


class HeldSlot(BaseModel):
    """A task's side of its slot, carried across continue-as-new so the end still releases it."""

    slots_workflow_id: str
    granted: bool = False
