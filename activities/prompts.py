"""The prompt activities: the workflow's way to render a prompt (jinja2 stays out of the sandbox)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from jinja2 import TemplateError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.followup import FollowupPromptInput
from models.prompt import PromptInput, PromptResult
from prompts.engine import PromptGenerator, PromptTooLargeError


class PromptActivities:
    """Holds one PromptGenerator, so templates are compiled once per worker process."""

    def __init__(self, templates_dir: str | None = None) -> None:
        self._generator = PromptGenerator(templates_dir)

    @activity.defn(name="generate_prompt")
    async def generate_prompt(self, input: PromptInput) -> PromptResult:
        """Render the task's prompt. Too large or a broken template: non-retryable, a retry renders the same."""
        with _as_application_errors():
            return self._generator.generate(input)

    @activity.defn(name="generate_followup_prompt")
    async def generate_followup_prompt(self, input: FollowupPromptInput) -> PromptResult:
        """Render the prompt asking the agent to fix failing checks or address a review on its PR."""
        with _as_application_errors():
            return self._generator.generate_followup_prompt(input)


@contextmanager
def _as_application_errors() -> Iterator[None]:
    try:
        yield
    except PromptTooLargeError as error:
        raise ApplicationError(str(error), {"size": error.size, "budget": error.budget}, type="PromptTooLarge", non_retryable=True) from error
    except TemplateError as error:
        raise ApplicationError(f"prompt template error: {error}", type="PromptTemplateError", non_retryable=True) from error
