"""Fitting a rendered prompt into its character budget.

Optional sections are shortened, then dropped, in a declared order until the prompt fits;
the required parts (title, description, requirements, acceptance criteria, delivery
instructions) are never touched. Whether a prompt fits is always decided on a real render,
note about the cuts included; measured section sizes only let it skip renders that cannot fit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models.bounds import shorten_text

# "… 4 more not shown" (and models.bounds' marker in a text) mark where something was cut, so the agent knows it is incomplete.
MORE_MARKER = "… {count} more not shown"


class PromptTooLargeError(ValueError):
    """The smallest prompt that keeps every required part is still over the budget."""

    def __init__(self, size: int, budget: int) -> None:
        self.size = size
        self.budget = budget
        super().__init__(
            f"prompt needs {size} characters even with every optional section cut, but max_context_size is {budget}; "
            f"shorten the parts that are never cut (title, description, requirements, acceptance criteria) "
            f"or raise the limit"
        )


@dataclass(frozen=True)
class OptionalSection:
    """A view key the budget may shorten or drop, and the words the note uses for it."""

    key: str
    label: str
    shorten: Callable[[Any], Any]


@dataclass(frozen=True)
class Cut:
    key: str
    label: str
    action: str  # "shortened" or "dropped"


# A render returns the prompt and the size of each optional section in it (empty if unknown).
Render = Callable[[Mapping[str, Any], Sequence[Cut]], tuple[str, Mapping[str, int]]]

# Text outside the measured sections that a cut can also remove (the "## Codebase" heading once
# its last subsection goes). Subtracting it keeps the "cannot fit" test conservative.
ESTIMATE_SLACK = 100


def fit(render: Render, view: dict[str, Any], order: Sequence[OptionalSection], budget: int) -> tuple[str, list[Cut]]:
    """Render `view`, cutting sections in `order` until the output is at most `budget` characters.

    Each section is shortened and, if that is not enough, dropped. `render(view, cuts)` must show
    `cuts` in its output. When the measured section sizes show that even dropping a section cannot
    bring the prompt within budget, it is dropped without trying the shortened version or rendering,
    which gives the same result with fewer renders. Mutates `view`. Raises PromptTooLargeError when
    even the prompt with every optional section dropped is too large.
    """
    cuts: list[Cut] = []
    content, sizes = render(view, cuts)
    if len(content) <= budget:
        return content, cuts
    estimate = len(content)  # never above the real size of the current cuts
    stale = False  # `content` is older than the last cut
    for section in order:
        value = view[section.key]
        if not value:
            continue
        size = sizes.get(section.key)
        hopeless = size is not None and estimate - size - ESTIMATE_SLACK > budget
        if not hopeless:
            shorter = section.shorten(value)
            if shorter != value:
                view[section.key] = shorter
                cuts.append(Cut(section.key, section.label, "shortened"))
                content, sizes = render(view, cuts)
                if len(content) <= budget:
                    return content, cuts
                cuts.pop()
        view[section.key] = None
        cuts.append(Cut(section.key, section.label, "dropped"))
        if hopeless and size is not None:  # hopeless implies a measured size; mypy cannot tell
            estimate -= size
            stale = True
            continue
        content, sizes = render(view, cuts)
        estimate, stale = len(content), False
        if len(content) <= budget:
            return content, cuts
    if stale:
        content, _ = render(view, cuts)
        if len(content) <= budget:
            return content, cuts
    raise PromptTooLargeError(len(content), budget)


def shorten_list(items: list[Any], keep: int, text_limit: int) -> list[Any]:
    """The first `keep` items, each shortened, plus a line saying how many were left out."""
    kept = [shorten_value(item, keep, text_limit) for item in items[:keep]]
    if len(items) > keep:
        kept.append(MORE_MARKER.format(count=len(items) - keep))
    return kept


def shorten_value(value: Any, keep: int, text_limit: int) -> Any:
    """Shorten a metadata-like value of any JSON shape: strings, lists and mappings."""
    if isinstance(value, str):
        return shorten_text(value, text_limit)
    if isinstance(value, list):
        return shorten_list(value, keep, text_limit)
    if isinstance(value, dict):
        items = list(value.items())
        kept = {key: shorten_value(item, keep, text_limit) for key, item in items[:keep]}
        if len(items) > keep:
            kept["…"] = MORE_MARKER.format(count=len(items) - keep)
        return kept
    return value
