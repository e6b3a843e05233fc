"""codebase_context.file_structure as paths, as a nested mapping, or as `tree`'s text output: the same tree
in the prompt, and the same shortening under the budget."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from models.prompt import PromptInput, PromptOptions
from models.task import MAX_FILE_STRUCTURE_DEPTH, CodebaseContext, TaskContext
from prompts.engine import PromptGenerator

generator = PromptGenerator()

PATHS = ["src/app/main.py", "src/app/db.py", "src/util.py", "docs/", "tests/test_main.py", "README.md"]
MAPPING = {
    "src": {"app": {"main.py": None, "db.py": None}, "util.py": None},
    "docs": {},
    "tests": {"test_main.py": None},
    "README.md": None,
}
# `tree -F` in a UTF-8 locale, as GNU tree prints it: no-break spaces in the indent, the root line, the count.
TREE = """\
.
├── src/
│\u00a0\u00a0 ├── app/
│\u00a0\u00a0 │\u00a0\u00a0 ├── main.py
│\u00a0\u00a0 │\u00a0\u00a0 └── db.py
│\u00a0\u00a0 └── util.py
├── docs/
├── tests/
│\u00a0\u00a0 └── test_main.py
└── README.md

5 directories, 4 files
"""
# `tree -F --charset=ascii my-project`: another root line, ASCII connectors, plain spaces.
TREE_ASCII = """\
my-project/
|-- src/
|   |-- app/
|   |   |-- main.py
|   |   `-- db.py
|   `-- util.py
|-- docs/
|-- tests/
|   `-- test_main.py
`-- README.md
"""
EXPECTED_TREE = """\
├── src/
│   ├── app/
│   │   ├── main.py
│   │   └── db.py
│   └── util.py
├── docs/
├── tests/
│   └── test_main.py
└── README.md"""


def generate(file_structure: Any, **options: Any):
    context = TaskContext(codebase_context=CodebaseContext(file_structure=file_structure))
    return generator.generate(PromptInput(task={"title": "t"}, context=context, options=PromptOptions(**options)))


FORMS = {"paths": PATHS, "mapping": MAPPING, "tree": TREE, "tree ascii": TREE_ASCII}


@pytest.mark.parametrize("form", list(FORMS.values()), ids=list(FORMS))
def test_every_form_renders_the_same_tree(form):
    content = generate(form).content
    assert f"### File structure\n\n```text\n{EXPECTED_TREE}\n```" in content
    assert content == generate(PATHS).content


def test_our_own_rendering_and_a_plain_listing_read_back_as_the_same_paths():
    assert CodebaseContext(file_structure=EXPECTED_TREE).file_structure == PATHS
    assert CodebaseContext(file_structure="\n".join(PATHS) + "\n").file_structure == PATHS


def test_tree_decorations_are_left_out():
    text = ".\n├── bin/\n│   └── run -> ../scripts/run.sh\n└── setup.py\n\n1 directory, 2 files\n"
    assert CodebaseContext(file_structure=text).file_structure == ["bin/run", "setup.py"]


def _big_paths() -> list[str]:
    return [f"src/module_{m}/part_{p}/file_{f}.py" for m in range(12) for p in range(6) for f in range(8)]


def _as_mapping(paths: list[str]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in paths:
        *folders, name = path.split("/")
        node = root
        for folder in folders:
            node = node.setdefault(folder, {})
        node[name] = None
    return root


def _as_tree(mapping: dict[str, Any], prefix: str = "") -> list[str]:
    """What `tree` prints for `mapping`, without the root line and the count."""
    lines = []
    names = list(mapping)
    for index, name in enumerate(names):
        last = index == len(names) - 1
        lines.append(f"{prefix}{'└── ' if last else '├── '}{name}")
        if mapping[name] is not None:
            lines += _as_tree(mapping[name], prefix + ("    " if last else "│\u00a0\u00a0 "))
    return lines


def test_every_form_is_shortened_the_same_under_the_budget():
    paths = _big_paths()
    forms = {
        "paths": paths,
        "mapping": _as_mapping(paths),
        "tree": ".\n" + "\n".join(_as_tree(_as_mapping(paths))) + f"\n\n{12 * 7} directories, {len(paths)} files\n",
    }
    results = {name: generate(form, max_context_size=8000) for name, form in forms.items()}
    for name, result in results.items():
        assert len(result.content) <= 8000, name
        assert "file_tree" in result.metadata.truncated_sections, name
        assert "more entries not shown" in result.content, name
    assert len({result.content for result in results.values()}) == 1
    # With room, the whole tree is there, in every form.
    roomy = {name: generate(form, max_context_size=100_000).content for name, form in forms.items()}
    assert len(set(roomy.values())) == 1 and "more entries not shown" not in roomy["paths"]
    assert roomy["paths"].count(".py") == len(paths)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"src": "main.py"}, "a folder maps to its children (a mapping), a file to null"),
        ({"src": {"": None}}, "an empty name"),
        ({"src": ["main.py"]}, "a folder maps to its children"),
        (42, "list"),
    ],
)
def test_other_shapes_are_refused_with_the_reason(value, message):
    with pytest.raises(ValidationError, match=re.escape(message)) as raised:
        CodebaseContext(file_structure=value)
    assert raised.value.errors()[0]["loc"][0] == "file_structure"


def test_a_mapping_nested_without_end_is_refused():
    deep: dict[str, Any] = {"f.py": None}
    for level in range(MAX_FILE_STRUCTURE_DEPTH + 1):
        deep = {f"d{level}": deep}
    with pytest.raises(ValidationError, match=f"nested deeper than {MAX_FILE_STRUCTURE_DEPTH} folders"):
        CodebaseContext(file_structure=deep)
    CodebaseContext(file_structure=deep[f"d{MAX_FILE_STRUCTURE_DEPTH}"])  # one level less is fine


def test_the_workflow_input_takes_every_form_as_json():
    for form in FORMS.values():
        context = TaskContext.model_validate_json(json.dumps({"repository": "acme/api", "codebase_context": {"file_structure": form}}))
        assert context.codebase_context.file_structure == PATHS
