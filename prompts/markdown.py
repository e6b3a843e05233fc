"""Jinja2 filters that put user text into Markdown without changing a byte of it."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

_BACKTICK_RUNS = re.compile(r"`+")
# An info string may not hold backticks or line breaks; anything unusual is left out.
_SAFE_INFO = re.compile(r"^[\w+#.\-]{1,40}$")


def fenced(text: str, language: str = "") -> str:
    """A fenced code block around `text`, its fence longer than any backtick run inside."""
    longest = max((len(run) for run in _BACKTICK_RUNS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    info = language if _SAFE_INFO.match(language or "") else ""
    closing = fence if text.endswith("\n") else "\n" + fence
    return f"{fence}{info}\n{text}{closing}"


def inline(value: Any) -> str:
    """Strings as they are; numbers, booleans and nested data as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@lru_cache(maxsize=64)
def file_tree(paths: tuple[str, ...]) -> str:
    """Render file paths ("src/app/main.py", "src/app/") as an indented tree with box-drawing lines.

    Paths keep the order they were given in; a folder is listed where its first path appears.
    Cached: a worker renders many tasks against the same few repositories' file structures.
    """
    root: dict[str, dict] = {}
    for path in paths:
        node = root
        parts = [part for part in path.split("/") if part]
        for index, part in enumerate(parts):
            is_folder = index < len(parts) - 1 or path.endswith("/")
            node = node.setdefault(part + "/" if is_folder else part, {})
    lines: list[str] = []
    _walk(root, "", lines)
    return "\n".join(lines)


def _walk(node: dict[str, dict], prefix: str, lines: list[str]) -> None:
    names = list(node)
    for index, name in enumerate(names):
        last = index == len(names) - 1
        lines.append(f"{prefix}{'└── ' if last else '├── '}{name}")
        _walk(node[name], prefix + ("    " if last else "│   "), lines)


def detail(value: Any, style: str = "block") -> str:
    """One metadata value as Markdown: text as it is (fenced for style "code"), lists as bullets
    (numbered for style "numbered"), mappings as `key: value` bullets, anything else as JSON."""
    if isinstance(value, str):
        return fenced(value, "text") if style == "code" else value
    if isinstance(value, dict):
        return "\n".join(f"- {key}: {inline(item)}" for key, item in value.items())
    if isinstance(value, list):
        if style == "numbered":
            return "\n".join(f"{number}. {inline(item)}" for number, item in enumerate(value, 1))
        return "\n".join(f"- {inline(item)}" for item in value)
    return inline(value)
