"""A bad setting stops every entry point with its message and exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from devstack import ROOT


@pytest.mark.parametrize("command", [["starter.py", "list"], ["relay.py"], ["worker.py"]], ids=["starter", "relay", "worker"])
def test_a_bad_setting_is_named_and_exits_2(command):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CODEGEN_", "TEMPORAL_", "GITHUB_"))}
    env |= {"CODEGEN_MOCK": "maybe", "WEBHOOK_SECRET": "s"}
    done = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "CODEGEN_MOCK must be 1 or 0, not 'maybe'" in done.stderr and "Traceback" not in done.stderr
