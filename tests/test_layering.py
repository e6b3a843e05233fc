"""Import rules: production code never imports the fake (only the composition root, worker.py, wires it in
for mock mode), and workflow code takes models and activities from outside the sandbox."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from devstack import ROOT
from devstack.env import clean_env

PRODUCTION_PACKAGES = ("models", "workflows", "activities", "webhooks", "codec", "cli", "prompts")


def imported_modules(source: Path) -> Iterator[str]:
    """Every module `source` imports, at the top or inside a function (a lazy import counts too)."""
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_production_packages_never_import_fakes():
    sources = [path for package in PRODUCTION_PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    assert len(sources) > len(PRODUCTION_PACKAGES)  # the walk found the packages
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sources
        for module in imported_modules(path)
        if module == "fakes" or module.startswith("fakes.")
    ]
    assert offenders == []


def test_a_real_mode_worker_never_loads_the_fake():
    # A fresh interpreter: this suite's own process has long since imported the fake.
    script = (
        "import sys\n"
        "from settings import Settings\n"
        "from worker import build_service_clients\n"
        "clients = build_service_clients(Settings.from_env({'CODEGEN_API_KEY': 'key'}))\n"
        "assert not clients.mock_mode\n"
        "print(sorted(name for name in sys.modules if name == 'fakes' or name.startswith('fakes.')))\n"
    )
    env = clean_env()
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _passed_through(node: ast.With) -> bool:
    return any(ast.unparse(item.context_expr) == "workflow.unsafe.imports_passed_through()" for item in node.items)


def test_workflow_modules_import_models_and_activities_only_through_the_sandbox_passthrough():
    """The sandbox re-imports whatever is not passed through: a second copy of `models.codegen` gives a
    second `RunState`, and `run.state is RunState.FAILED` turns false in tests though true in production."""
    offenders = []
    for path in sorted((ROOT / "workflows").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        inside = {id(node) for block in ast.walk(tree) if isinstance(block, ast.With) and _passed_through(block) for node in ast.walk(block)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("models", "activities", "pydantic"):
                if id(node) not in inside:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {node.module}")
    assert offenders == []
