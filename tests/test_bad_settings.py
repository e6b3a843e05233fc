"""A bad setting stops every entry point with its message and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devstack import ROOT
from devstack.env import clean_env
from settings import Settings, SettingsError

COMMANDS = [["starter.py", "list"], ["starter.py", "health"], ["relay.py"], ["worker.py"]]
SETTINGS = [
    ("CODEGEN_MOCK", "maybe", "CODEGEN_MOCK must be 1 or 0, not 'maybe'"),
    ("RELAY_PORT", "abc", "RELAY_PORT must be a number, not 'abc'"),
    ("MAX_ACTIVE_TASKS_PER_REPOSITORY", "2,acme/api=two", "MAX_ACTIVE_TASKS_PER_REPOSITORY: 'acme/api=two' is neither N nor owner/name=N"),
]


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


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("0", "'0' allows no task"),
        ("acme/api=0", "'acme/api=0' allows no task"),
        ("2,3", "'3' is a second default"),
        ("acme=2", "'acme=2' is neither N nor owner/name=N"),
        ("-1", "'-1' is neither N nor owner/name=N"),
        ("2,,acme/api=1", "'' is neither N nor owner/name=N"),
    ],
)
def test_a_malformed_repository_limit_names_each_bad_part(value, said):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"MAX_ACTIVE_TASKS_PER_REPOSITORY": value})
    assert said in str(refused.value) and "expected a whole number (3), per-repository overrides" in str(refused.value)


def test_repository_limits_are_a_default_with_overrides_by_name_in_any_case():
    limits = Settings.from_env({"MAX_ACTIVE_TASKS_PER_REPOSITORY": " 3 , Acme/API=2 "}).max_active_tasks_per_repository
    assert limits is not None
    assert (limits.for_repository("acme/api"), limits.for_repository("ACME/Api"), limits.for_repository("acme/web")) == (2, 2, 3)
    only_overrides = Settings.from_env({"MAX_ACTIVE_TASKS_PER_REPOSITORY": "acme/api=1"}).max_active_tasks_per_repository
    assert only_overrides is not None and (only_overrides.for_repository("acme/api"), only_overrides.for_repository("acme/web")) == (1, None)
    assert Settings.from_env({}).max_active_tasks_per_repository is None


def test_the_read_budget_is_codegens_limit_unless_set():
    assert Settings.from_env({"CODEGEN_API_KEY": "k"}).reads_per_30s == 60
    assert Settings.from_env({"CODEGEN_API_KEY": "k", "CODEGEN_READS_PER_30S": "30"}).reads_per_30s == 30
    # The bundled fake enforces no read limit unless told to.
    assert Settings.from_env({"CODEGEN_MOCK": "1"}).reads_per_30s == 6000
