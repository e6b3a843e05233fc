"""The README's commands run as written: `python` and `temporal` are the project's, in .venv/bin/.

With the system Python, `python starter.py ...` fails with ModuleNotFoundError, and `temporal` is on
no PATH unless the user installed it themselves.
"""

from __future__ import annotations

import re

from devstack import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
# A command at the start of a line in a shell block, or after `$(`.
BARE = re.compile(r"(?:^|\$\()(python3?|temporal)\s")


def _shell_block_lines() -> list[str]:
    lines, inside = [], False
    for line in README.splitlines():
        fence = line.strip()
        if fence.startswith("```"):
            inside = not inside and fence in ("```bash", "```sh", "```shell")
            continue
        if inside:
            lines.append(line.strip())
    return lines


def _prose_lines() -> list[str]:
    lines, inside = [], False
    for line in README.splitlines():
        if line.strip().startswith("```"):
            inside = not inside
            continue
        if not inside:
            lines.append(line)
    return lines


def test_shell_blocks_run_the_project_python_and_temporal():
    lines = _shell_block_lines()
    assert any(line.startswith(".venv/bin/python starter.py") for line in lines)
    assert any(line.startswith(".venv/bin/temporal workflow") for line in lines)
    bare = [line for line in lines if BARE.search(line)]
    assert bare == [], "use .venv/bin/python and .venv/bin/temporal:\n" + "\n".join(bare)


def test_inline_commands_users_copy_run_the_project_python_and_temporal():
    # Inline code that runs something: `python -m x`, `python x.py`, `temporal <command> --flag`. The
    # benchmark's list of the processes it starts, and the compose services' commands, describe
    # processes (in the bench's own venv, in the image), and say so in their line.
    runs = re.compile(r"^(python3?\s+(-m|-c|\S+\.py)|temporal\s+\w+.*\s--)")
    described = ("in mock mode", "answering at once", "from the `Dockerfile`", "on http://localhost", "bench.fake_load", "`python relay.py`;")
    bare = [
        line for line in _prose_lines()
        if any(runs.match(code) for code in re.findall(r"`([^`]+)`", line)) and not any(d in line for d in described)
    ]  # fmt: skip
    assert bare == [], "use .venv/bin/python and .venv/bin/temporal:\n" + "\n".join(bare)
