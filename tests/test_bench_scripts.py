"""`make bench` takes half an hour and is not part of the suite; this keeps its scripts importable and
its command line answering, so a change elsewhere cannot break it unnoticed."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import bench
from bench.quota import github_charged
from bench.throughput import rounds
from devstack import ROOT

MODULES = sorted(f"bench.{module.name}" for module in pkgutil.iter_modules(bench.__path__))


def test_there_are_bench_scripts() -> None:
    assert {"bench.throughput", "bench.relay", "bench.scale", "bench.prompts", "bench.quota"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_bench_module_imports(name: str) -> None:
    importlib.import_module(name)


def test_make_bench_command_line_answers_help() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--only" in done.stdout


def test_quota_command_line_answers_help() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.quota", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--part" in done.stdout and "--runs" in done.stdout


def test_quota_counts_only_github_answers_other_than_304_as_charged() -> None:
    requests = {
        "GET /repos/{owner}/{repo}/pulls/{number}": {"200": 3, "304": 40},
        "GET /repos/{owner}/{repo}/commits/{sha}/check-runs": {"304": 20, "403": 1},
        "GET /rate_limit": {"200": 5},
        "GET /v1/organizations/{org_id}/agent/runs": {"200": 9},
    }
    assert github_charged({"requests": requests}) == (4, 60)


def test_throughput_rounds_alternate_and_share_out_every_workflow() -> None:
    assert rounds(1000, 2) == [(kind, 250) for kind in ("tasks", "baseline", "baseline", "tasks") * 2]
    for workflows, cycles in ((7, 1), (10, 2), (4, 2)):
        planned = rounds(workflows, cycles)
        assert [kind for kind, _ in planned] == ["tasks", "baseline", "baseline", "tasks"] * cycles
        for kind in ("tasks", "baseline"):
            counts = [count for each, count in planned if each == kind]
            assert sum(counts) == workflows and max(counts) - min(counts) <= 1
    with pytest.raises(ValueError, match="3 workflows of each kind cannot fill 4 rounds each"):
        rounds(3, 2)
