"""A bad setting stops every entry point with its message and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devstack import ROOT
from devstack.env import clean_env
from settings import Settings, SettingsError

COMMANDS = [["starter.py", "list"], ["starter.py", "health"], ["relay.py"], ["worker.py"]]
SETTINGS = [("CODEGEN_MOCK", "maybe", "CODEGEN_MOCK must be 1 or 0, not 'maybe'"), ("RELAY_PORT", "abc", "RELAY_PORT must be a number, not 'abc'")]


@pytest.mark.parametrize(("name", "value", "said"), SETTINGS, ids=[name for name, _, _ in SETTINGS])
@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(command) for command in COMMANDS])
def test_a_bad_setting_is_named_and_exits_2(command, name, value, said):
    env = clean_env(**{name: value, "WEBHOOK_SECRET": "s"})
    done = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("value", ["0", "1.5", "-3", "many"])
def test_the_read_budget_is_a_whole_number_of_reads(value):
    with pytest.raises(SettingsError, match="CODEGEN_READS_PER_30S"):
        Settings.from_env({"CODEGEN_READS_PER_30S": value})


def test_the_read_budget_is_codegens_limit_unless_set():
    assert Settings.from_env({"CODEGEN_API_KEY": "k"}).reads_per_30s == 60
    assert Settings.from_env({"CODEGEN_API_KEY": "k", "CODEGEN_READS_PER_30S": "30"}).reads_per_30s == 30
    # The bundled fake enforces no read limit unless told to.
    assert Settings.from_env({"CODEGEN_MOCK": "1"}).reads_per_30s == 6000
