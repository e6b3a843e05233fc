"""`make bench` takes half an hour and is not part of the suite; this keeps its scripts importable and
its command line answering, so a change elsewhere cannot break it unnoticed."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import bench
from devstack import ROOT

MODULES = sorted(f"bench.{module.name}" for module in pkgutil.iter_modules(bench.__path__))


def test_there_are_bench_scripts() -> None:
    assert {"bench.throughput", "bench.relay", "bench.scale", "bench.prompts"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_bench_module_imports(name: str) -> None:
    importlib.import_module(name)


def test_make_bench_command_line_answers_help() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--only" in done.stdout
