"""One reader of Codegen's run list per worker process, telling each waiting task when its run changed.

A task waiting for its agent run holds no activity slot: it registers the run here (the
`watch_agent_run` local activity) and waits for a signal, with its own timer as the fallback. The
watcher reads the organization's runs a page of 100 at a time, newest first, as far back as the oldest
run it watches, and signals a task when its run ends, starts waiting for input, or runs again. It
reads through its own half of the read budget (see `service_clients`), so no burst of other reads delays it.

Its registrations live in memory: a worker that restarts forgets them, and each task's fallback
timer registers its run again (and reads it once) on whichever worker runs it next.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.codegen import PAGE_LIMIT, CodegenClient
from models.codegen import AgentRun, AgentRunNews, RunSighting, RunState, WatchRunInput, classify_run_status
from models.names import SIGNAL_AGENT_RUN

_log = logging.getLogger(__name__)

# The run list's order is by creation: the sweep reads past the oldest watched run by this much, for
# the clock difference between this worker and Codegen.
CLOCK_SKEW = timedelta(minutes=5)
# Sweeps spend at most this share of the watcher's read budget: the rest is for the tasks' looks.
SWEEP_SHARE = 0.8


@dataclass
class _Watch:
    workflow_id: str
    # What the task was last told (or knew when it registered): a change from it is news.
    state: RunState
    created_at: datetime | None
    # Monotonic seconds of the first registration: until a sweep has had time to see the run, a look reads nothing.
    since: float


class RunWatcher:
    """Watches the agent runs tasks wait for; `run(client)` sweeps until cancelled."""

    def __init__(self, codegen: CodegenClient, *, min_interval: float, max_pages: int = 20) -> None:
        self.codegen = codegen
        self.min_interval = min_interval
        self.max_pages = max_pages
        self._watches: dict[int, _Watch] = {}
        # run id -> (monotonic time, the run as last read): a task's fallback look answers from it.
        self._sightings: dict[int, tuple[float, AgentRun]] = {}

    @property
    def watching(self) -> int:
        return len(self._watches)

    def watch(self, input: WatchRunInput) -> None:
        """Tell `input.workflow_id` when run `input.run_id` is no longer in the state of `input.status`."""
        known = self._watches.get(input.run_id)
        since = known.since if known else time.monotonic()
        self._watches[input.run_id] = _Watch(input.workflow_id, classify_run_status(input.status), input.created_at, since)

    def sighting(self, run_id: int) -> AgentRun | None:
        """The run as a sweep read it, if that was recent enough to stand in for a read of its own."""
        seen = self._sightings.get(run_id)
        if seen is None or time.monotonic() - seen[0] > self.fresh_for:
            return None
        return seen[1]

    def needs_read(self, run_id: int) -> bool:
        """Whether a look must read the run itself: sweeps have had their time and have not seen it lately
        (it is beyond the pages they read, or they fail)."""
        watch = self._watches.get(run_id)
        return watch is None or time.monotonic() - watch.since > self.fresh_for

    def saw(self, run: AgentRun) -> None:
        self._sightings[run.id] = (time.monotonic(), run)

    @property
    def fresh_for(self) -> float:
        """A sighting older than a couple of sweeps may have missed a change."""
        return 2 * self._interval(self.max_pages)

    async def run(self, client: Client) -> None:
        """Sweep, pace, repeat, until cancelled; a failed sweep is logged and tried again."""
        while True:
            pause = self.min_interval
            try:
                pause = self._interval(await self.sweep(client))
            except ApplicationError as error:
                # Codegen's 429 says when to come back; any other failure is tried again next sweep.
                _log.warning("Reading Codegen's run list failed (tasks fall back to their own looks): %s", error.message)
                if error.next_retry_delay:
                    pause = max(pause, error.next_retry_delay.total_seconds())
            except Exception:
                # Never the end of the watcher: the tasks would be left to their own looks.
                _log.exception("The run watcher's sweep failed; sweeping again")
            await asyncio.sleep(pause)

    def _interval(self, pages: int) -> float:
        budget = self.codegen.read_budget
        return max(self.min_interval, pages / (budget.per_second * SWEEP_SHARE))

    async def sweep(self, client: Client) -> int:
        """Read the run list back to the oldest watched run and signal every task whose run changed;
        the number of pages read."""
        if not self._watches:
            return 0
        # A run that came without its creation time does not stretch the sweep: its task's own look finds it.
        created = [w.created_at for w in self._watches.values() if w.created_at is not None]
        if not created:
            pages = self.codegen.runs_since(None, 1)
        else:
            pages = self.codegen.runs_since(min(created) - CLOCK_SKEW, self.max_pages)
        seen = 0
        news: list[tuple[int, AgentRun]] = []
        async for run in pages:
            seen += 1
            watch = self._watches.get(run.id)
            if watch is None:
                continue
            self.saw(run)
            if run.state is not watch.state:
                news.append((run.id, run))
        await asyncio.gather(*(self._tell(client, run_id, run) for run_id, run in news))
        self._forget_unwatched()
        return max(1, math.ceil(seen / PAGE_LIMIT))

    async def _tell(self, client: Client, run_id: int, run: AgentRun) -> None:
        watch = self._watches.get(run_id)
        if watch is None:
            return
        try:
            await client.get_workflow_handle(watch.workflow_id).signal(SIGNAL_AGENT_RUN, AgentRunNews(run=run.model_copy(update={"metadata": {}})))
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                _log.warning("Could not tell %s that run %s is %s (next sweep tries again): %s", watch.workflow_id, run_id, run.status, error.message)
                return
            self._watches.pop(run_id, None)  # the task is gone
            return
        if run.state in (RunState.COMPLETE, RunState.FAILED):
            self._watches.pop(run_id, None)
        else:
            watch.state = run.state

    def _forget_unwatched(self) -> None:
        for run_id in [r for r in self._sightings if r not in self._watches]:
            del self._sightings[run_id]


class RunWatchActivities:
    """The task's side of the watcher: register a run, and look at it when the task's own timer fires."""

    def __init__(self, watcher: RunWatcher) -> None:
        self.watcher = watcher

    def all(self) -> list[Any]:
        return [self.watch_agent_run]

    @activity.defn(name="watch_agent_run")
    async def watch_agent_run(self, input: WatchRunInput) -> RunSighting:
        """Register the run with this worker's watcher; with `read`, answer with the run as it is now: the
        watcher's recent sighting, nothing while its sweeps have yet to reach the run, else one read. A
        worker that restarted has forgotten the run, so its first look reads."""
        needs_read = self.watcher.needs_read(input.run_id)
        self.watcher.watch(input)
        if not input.read:
            return RunSighting()
        run = self.watcher.sighting(input.run_id)
        if run is None and not needs_read:
            return RunSighting()
        if run is None:
            run = await self.watcher.codegen.get_run(input.run_id)
            self.watcher.saw(run)
        return RunSighting(run=run.model_copy(update={"metadata": {}}))
