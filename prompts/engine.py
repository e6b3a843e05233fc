"""The prompt generator: one Jinja2 environment per process, templates compiled once."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
)

from models.followup import FollowupPromptInput
from models.prompt import PromptInput, PromptMetadata, PromptResult
from models.task import Task
from prompts.assessment import estimated_complexity, validation_requirements
from prompts.budget import Cut, OptionalSection, PromptTooLargeError, fit
from prompts.followups import FOLLOWUP_CUT_ORDER, build_followup_view
from prompts.markdown import detail, fenced, inline
from prompts.view import CUT_ORDER, build_view

GENERATOR_VERSION = "1.0.0"
BUNDLED_TEMPLATES_DIR = Path(__file__).parent / "templates"
_DATA_DIR = Path(__file__).parent

__all__ = ["GENERATOR_VERSION", "PromptGenerator", "PromptTemplateError", "PromptTooLargeError"]


class PromptTemplateError(TemplateError):
    """A template that does not compile or render, reported as `file:line: message`.

    A jinja2.TemplateError, so whoever catches those (`starter.py prompt`, the prompt activity) reports
    the location without knowing about it.
    """

    def __init__(self, filename: str | None, lineno: int | None, message: str) -> None:
        self.filename, self.lineno, self.detail = filename, lineno, message
        where = ":".join(str(part) for part in (filename, lineno) if part is not None)
        super().__init__(f"{where}: {message}" if where else message)

    @classmethod
    def locate(cls, error: Exception, template_dirs: Sequence[Path]) -> PromptTemplateError:
        """`error` with the file and line it came from: a syntax error names them; an error while
        rendering (an undefined variable, a missing include, a filter's TypeError) is placed at the
        innermost template line in its traceback, where jinja2 puts the template's own file and line."""
        if isinstance(error, PromptTemplateError):
            return error
        if isinstance(error, TemplateSyntaxError):
            return cls(error.filename or error.name, error.lineno, error.message or "syntax error")
        filename, lineno = None, None
        frame = error.__traceback__
        while frame is not None:
            path = Path(frame.tb_frame.f_code.co_filename)
            if any(path.is_relative_to(directory) for directory in template_dirs):
                filename, lineno = str(path), frame.tb_lineno
            frame = frame.tb_next
        if isinstance(error, TemplateNotFound):
            message = f"included template {error.name!r} not found"
        elif isinstance(error, TemplateError):
            message = error.message or type(error).__name__
        else:
            message = f"{type(error).__name__}: {error}"
        return cls(filename, lineno, message)


def _characters_to_tokens(size: int) -> int:
    # The usual rule of thumb for English text and code: about four characters per token.
    return math.ceil(size / 4)


def split_marked(text: str, mark: str) -> tuple[str, dict[str, int]]:
    """Remove the section marks from `text`; return it with the size of each marked section.

    Marked text reads `<mark>key<mark>section text<mark>/<mark>`, so splitting on the mark gives
    pieces: before, key, section, "/", after, key, section, "/", after, ...
    """
    pieces = text.split(mark)
    sizes = {pieces[index]: len(pieces[index + 1]) for index in range(1, len(pieces) - 1, 4)}
    return "".join(pieces[0::2]), sizes


class PromptGenerator:
    """Renders task prompts from `<task_type>.md.j2` templates.

    `templates_dir` (PROMPT_TEMPLATES_DIR) is searched before the bundled templates, so a
    file there with a bundled template's name (`bug_fix.md.j2`, `partials/delivery.md.j2`)
    replaces it. Build one per process and reuse it: templates are compiled on first use.
    """

    def __init__(self, templates_dir: str | Path | None = None) -> None:
        loaders = []
        self._override_dir = Path(templates_dir).resolve() if templates_dir else None
        if self._override_dir is not None:
            if not self._override_dir.is_dir():
                raise FileNotFoundError(f"prompt templates directory {str(templates_dir)!r} does not exist")
            loaders.append(FileSystemLoader(self._override_dir))
        loaders.append(FileSystemLoader(BUNDLED_TEMPLATES_DIR))
        self._env = Environment(
            loader=ChoiceLoader(loaders),
            undefined=StrictUndefined,
            autoescape=False,  # Markdown, not HTML: user text goes in byte for byte
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self._env.filters["fenced"] = fenced
        self._env.filters["inline"] = inline
        self._env.filters["detail"] = detail
        self._templates: dict[str, Template] = {}
        # Brackets the sections the budget may cut; random, so no user text can contain it.
        self._mark = f"\x00{uuid.uuid4().hex}\x00"
        self._best_practices = self._load_checklists("best_practices.json")
        self._validation = self._load_checklists("validation.json")

    @staticmethod
    def _load_checklists(name: str) -> dict[str, list[str]]:
        return json.loads((_DATA_DIR / name).read_text(encoding="utf-8"))

    def _template(self, name: str) -> Template:
        template = self._templates.get(name)
        if template is None:
            try:
                template = self._env.get_template(name)
            except TemplateError as error:
                raise PromptTemplateError.locate(error, self._template_dirs) from error
            self._templates[name] = template
        return template

    @property
    def _template_dirs(self) -> list[Path]:
        return [BUNDLED_TEMPLATES_DIR.resolve(), *([self._override_dir] if self._override_dir else [])]

    def _template_label(self, template: Template) -> str:
        """The template's name, or its full path when a team's override directory supplied it."""
        if self._override_dir is not None and template.filename:
            path = Path(template.filename).resolve()
            if path.is_relative_to(self._override_dir):
                return str(path)
        return template.name or ""

    def generate(self, prompt: PromptInput) -> PromptResult:
        """Render the prompt for `prompt.task`, within `prompt.options.max_context_size` characters.

        Raises PromptTooLargeError when the required parts alone exceed the budget, and
        PromptTemplateError (`file:line: message`) when a (team-supplied) template is broken.
        """
        task = prompt.task
        template = self._template(f"{task.type.value}.md.j2")
        type_checks = self._validation[task.type.value]
        view = build_view(prompt, self._best_practices[task.type.value], type_checks)
        content, cuts = self._fit(template, view, prompt.options.max_context_size)
        return self._result(template, content, cuts, task)

    def generate_followup_prompt(self, followup: FollowupPromptInput) -> PromptResult:
        """Render the follow-up prompt of `followup.kind` (`fix_checks.md.j2`, `address_review.md.j2`,
        `resolve_conflicts.md.j2`) for a PR the agent opened.

        Check output, review text, the base's commits and the conflicting files are bounded; the budget is
        `followup.max_context_size`.
        Raises like `generate`.
        """
        task = followup.task
        template = self._template(f"{followup.kind}.md.j2")
        content, cuts = self._fit(template, build_followup_view(followup), followup.max_context_size, FOLLOWUP_CUT_ORDER)
        return self._result(template, content, cuts, task)

    def _fit(
        self, template: Template, view: dict[str, Any], budget: int, order: Sequence[OptionalSection] = CUT_ORDER
    ) -> tuple[str, list[Cut]]:
        def render(current: Mapping[str, Any], cuts: Sequence[Cut]) -> tuple[str, dict[str, int]]:
            try:
                text = template.render(current, cuts=cuts, mark=self._mark)
            except Exception as error:  # whatever a team's template does wrong, said with its file and line
                raise PromptTemplateError.locate(error, self._template_dirs) from error
            return split_marked(text, self._mark)

        return fit(render, view, order, budget)

    def _result(self, template: Template, content: str, cuts: list[Cut], task: Task) -> PromptResult:
        """The rendered prompt with its metadata; complexity and checks come from the task, not the template."""
        return PromptResult(
            content=content,
            metadata=PromptMetadata(
                task_id=task.id,
                task_type=task.type.value,
                template=self._template_label(template),
                generator_version=GENERATOR_VERSION,
                generated_at=datetime.now(UTC),
                size_chars=len(content),
                estimated_tokens=_characters_to_tokens(len(content)),
                truncated_sections=[cut.key for cut in cuts],
                estimated_complexity=estimated_complexity(task),
                validation_requirements=validation_requirements(task, self._validation[task.type.value]),
            ),
        )
