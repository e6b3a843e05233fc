"""Inputs and results of prompt generation."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from models.task import DeliveredDependency, Task, TaskContext


class PromptOptions(BaseModel):
    """The original generator's options, with its defaults."""

    max_context_size: int = Field(default=8000, ge=500, le=200_000)
    include_code_examples: bool = True
    enhance_with_best_practices: bool = True


class PromptInput(BaseModel):
    task: Task
    context: TaskContext = Field(default_factory=TaskContext)
    options: PromptOptions = Field(default_factory=PromptOptions)
    # What went wrong in earlier attempts, newest last; rendered so the agent does not repeat it.
    previous_failures: list[str] = Field(default_factory=list)
    # The merged work of the tasks this one depends on (in a graph): the agent builds on it.
    built_on: list[DeliveredDependency] = Field(default_factory=list)


class PromptMetadata(BaseModel):
    task_id: str | None
    task_type: str
    template: str
    generator_version: str
    generated_at: datetime
    size_chars: int
    estimated_tokens: int
    truncated_sections: list[str] = Field(default_factory=list)
    estimated_complexity: int = Field(ge=1, le=10)
    validation_requirements: list[str] = Field(default_factory=list)


class PromptResult(BaseModel):
    content: str
    metadata: PromptMetadata
