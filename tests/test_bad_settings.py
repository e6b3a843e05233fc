"""A bad setting stops every entry point with its message and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devstack import ROOT
from devstack.env import clean_env

COMMANDS = [["starter.py", "list"], ["starter.py", "health"], ["relay.py"], ["worker.py"]]
SETTINGS = [("CODEGEN_MOCK", "maybe", "CODEGEN_MOCK must be 1 or 0, not 'maybe'"), ("RELAY_PORT", "abc", "RELAY_PORT must be a number, not 'abc'")]


@pytest.mark.parametrize(("name", "value", "said"), SETTINGS, ids=[name for name, _, _ in SETTINGS])
@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(command) for command in COMMANDS])
def test_a_bad_setting_is_named_and_exits_2(command, name, value, said):
    env = clean_env(**{name: value, "WEBHOOK_SECRET": "s"})
    done = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr and "Traceback" not in done.stderr
