"""Recorded histories must replay: a change that breaks determinism fails here, not in production."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.codegen_task import CodegenTaskWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay():
    assert len(HISTORIES) >= 3


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path):
    history = WorkflowHistory.from_json(f"codegen-task-{path.stem}", path.read_text())
    replayer = Replayer(workflows=[CodegenTaskWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
