"""Golden prompts: the examples/ tasks rendered with examples/context.json at the default options.

A template change shows up here as a readable diff. After an intended change, regenerate with
`UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_prompts_golden.py` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models.prompt import PromptInput
from models.task import TaskType
from prompts.engine import PromptGenerator
from tests.prompt_fixtures import example_context, example_task

GOLDEN = Path(__file__).parent / "golden" / "prompts"
generator = PromptGenerator()


@pytest.mark.parametrize("task_type", list(TaskType))
def test_prompt_matches_golden_file(task_type):
    content = generator.generate(PromptInput(task=example_task(task_type), context=example_context())).content
    golden = GOLDEN / f"{task_type.value}.md"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(content, encoding="utf-8", newline="")
    assert golden.read_text(encoding="utf-8") == content
