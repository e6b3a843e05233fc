"""The demo's tasks (examples/demo/*.json) and the outcome each must reach (examples/demo/expected.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from cli.task_files import load_context, load_tasks
from devstack import ROOT
from models.status import MergedBy, OutcomeStatus, Reason, TaskOutcome
from models.task import Task, TaskContext

EXAMPLES_DIR = ROOT / "examples"
DEMO_DIR = EXAMPLES_DIR / "demo"
CONTEXT_FILE = EXAMPLES_DIR / "context.json"


class Expectation(BaseModel):
    """What one demo task must end with; `story` says why, in a line."""

    model_config = ConfigDict(extra="forbid")

    story: str
    status: OutcomeStatus
    reason: Reason
    attempts: int
    followups: int
    # Checked only when given: whether the service (merge_when_green) or a person merged the PR.
    merged_by: MergedBy | None = None

    def mismatches(self, outcome: TaskOutcome) -> list[str]:
        """Each way the outcome differs from this expectation; empty when it matches."""
        actual = {
            "status": outcome.status,
            "reason": outcome.reason,
            "attempts": len(outcome.attempts),
            "followups": outcome.followups,
            "merged_by": outcome.merged_by,
        }
        expected = {"status": self.status, "reason": self.reason, "attempts": self.attempts, "followups": self.followups}
        if self.merged_by is not None:
            expected["merged_by"] = self.merged_by
        return [f"{name} {actual[name]} (expected {value})" for name, value in expected.items() if actual[name] != value]

    def describe(self) -> str:
        merged_by = f", merged by {self.merged_by}" if self.merged_by else ""
        return f"{self.status} ({self.reason.value}), {self.attempts} attempt(s), {self.followups} follow-up(s){merged_by}"


@dataclass(frozen=True)
class DemoTask:
    task: Task
    expected: Expectation
    # Submitted with the other tasks of its file as one graph (a file holding a list).
    in_graph: bool = False

    @property
    def task_id(self) -> str:
        assert self.task.id is not None
        return self.task.id


def load_catalog(directory: Path = DEMO_DIR) -> list[DemoTask]:
    """Every task named in `expected.json`, in its order, read and validated like `starter.py submit` would.
    A file holding one task maps to its expectation; a file holding a list (a graph) to one per task id."""
    expectations = json.loads((directory / "expected.json").read_text(encoding="utf-8"))
    catalog = []
    for file_name, expected in expectations.items():
        tasks = load_tasks(directory / file_name)
        if any(task.id is None for task in tasks):
            raise ValueError(f"{directory / file_name}: demo tasks need an id, so the expected outcome can name it")
        in_graph = len(tasks) > 1
        for task in tasks:
            catalog.append(DemoTask(task, Expectation.model_validate(expected[task.id] if in_graph else expected), in_graph))
    return catalog


def load_demo_context() -> TaskContext:
    return load_context(CONTEXT_FILE)
