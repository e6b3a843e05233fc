"""The budget algorithm on its own: skipping hopeless cuts never changes the outcome."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prompts.budget import Cut, OptionalSection, PromptTooLargeError, fit, shorten_list, shorten_value

KEYS = ("a", "b", "c", "d", "e")
ORDER = [OptionalSection(key, f"section {key}", lambda text: text[: len(text) // 2]) for key in KEYS]


def render(view, cuts):
    """A stand-in template: required text, measured sections, a heading over c-e and a note."""
    sections = {key: view[key] or "" for key in KEYS}
    heading = "\n## Group\n" if any(sections[key] for key in "cde") else ""
    note = "\n> cut: " + ", ".join(f"{cut.label} {cut.action}" for cut in cuts) if cuts else ""
    body = "required text\n" + sections["a"] + sections["b"] + heading + sections["c"] + sections["d"] + sections["e"]
    return body + note, {key: len(text) for key, text in sections.items()}


def fit_without_shortcuts(view, budget):
    """The reference: render after every single cut."""
    cuts = []
    content, _ = render(view, cuts)
    if len(content) <= budget:
        return content, cuts
    for section in ORDER:
        value = view[section.key]
        if not value:
            continue
        shorter = section.shorten(value)
        if shorter != value:
            view[section.key] = shorter
            cuts.append(Cut(section.key, section.label, "shortened"))
            content, _ = render(view, cuts)
            if len(content) <= budget:
                return content, cuts
            cuts.pop()
        view[section.key] = None
        cuts.append(Cut(section.key, section.label, "dropped"))
        content, _ = render(view, cuts)
        if len(content) <= budget:
            return content, cuts
    raise PromptTooLargeError(len(content), budget)


@settings(max_examples=500, deadline=None)
@given(sizes=st.lists(st.integers(0, 800), min_size=5, max_size=5), budget=st.integers(10, 3000))
def test_shortcuts_give_the_same_result_as_rendering_every_step(sizes, budget):
    view = {key: "x" * size for key, size in zip(KEYS, sizes, strict=True)}
    try:
        expected = fit_without_shortcuts(dict(view), budget)
    except PromptTooLargeError as error:
        with pytest.raises(PromptTooLargeError) as caught:
            fit(render, dict(view), ORDER, budget)
        assert caught.value.size == error.size
        return
    assert fit(render, dict(view), ORDER, budget) == expected


def test_hopeless_sections_are_dropped_without_rendering():
    renders = []

    def counting(view, cuts):
        renders.append([cut.action for cut in cuts])
        return render(view, cuts)

    view = {"a": "x" * 1000, "b": "x" * 1000, "c": "", "d": "", "e": "x" * 600}
    content, cuts = fit(counting, view, ORDER, 450)
    assert [(cut.key, cut.action) for cut in cuts] == [("a", "dropped"), ("b", "dropped"), ("e", "shortened")]
    assert len(content) <= 450
    assert len(renders) == 2  # the full prompt, then the one that fits


def test_shortening_keeps_a_prefix_and_says_what_is_missing():
    assert shorten_list(["a", "b", "c"], keep=2, text_limit=10) == ["a", "b", "… 1 more not shown"]
    assert shorten_value({"k": "x" * 20, "l": 1, "m": [1, 2, 3]}, keep=2, text_limit=5) == {"k": "xxxxx… [truncated, 15 more characters]", "l": 1, "…": "… 1 more not shown"}
