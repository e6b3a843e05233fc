"""`python -m demo` end to end, as a user runs it: real dev server, relay and mock-mode worker as subprocesses.

Each test picks free ports and a temporary state directory, so it never meets the session's dev
server or a demo someone is running. Deadlines are generous: the machine may be busy.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import pytest

from demo.catalog import load_catalog
from devstack import ROOT
from devstack.services import free_ports, port_in_use
from models.status import AttemptRecord, Reason, TaskOutcome

DEMO_TIMEOUT_S = 240
PROCESS_DEADLINE_S = DEMO_TIMEOUT_S + 60


@pytest.fixture
def demo_args(tmp_path: Path) -> list[str]:
    temporal, ui, relay = free_ports(3)
    return [
        "--temporal-port", str(temporal), "--ui-port", str(ui), "--relay-port", str(relay),
        "--state-dir", str(tmp_path / "state"), "--timeout", str(DEMO_TIMEOUT_S),
    ]  # fmt: skip


def _ports(args: list[str]) -> list[int]:
    return [int(args[args.index(flag) + 1]) for flag in ("--temporal-port", "--ui-port", "--relay-port")]


def _demo(*args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "demo", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


def _finish(process: subprocess.Popen[str]) -> str:
    try:
        output, _ = process.communicate(timeout=PROCESS_DEADLINE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"python -m demo still running after {PROCESS_DEADLINE_S} s:\n{output}")
    return output


def _assert_every_expected_outcome(output: str) -> None:
    for demo in load_catalog():
        expected = demo.expected
        line = f"ok   {demo.task_id}: {expected.status} ({expected.reason.value}), {expected.attempts} attempt(s), {expected.followups} follow-up(s)"
        assert line in output, f"missing {line!r} in:\n{output}"
        assert f"/namespaces/default/workflows/codegen-task-{demo.task_id}" in output


def _alive(entries: list[dict]) -> list[str]:
    alive = []
    for entry in entries:
        try:
            if abs(psutil.Process(entry["pid"]).create_time() - entry["create_time"]) < 0.01:
                alive.append(entry["name"])
        except psutil.NoSuchProcess:
            pass
    return alive


def test_the_demo_reaches_every_expected_outcome_and_stops_what_it_started(demo_args: list[str]):
    output = _finish(_demo(*demo_args))

    assert "every task ended as expected" in output, output
    _assert_every_expected_outcome(output)
    assert "Outcomes" in output  # starter.py stats ran against the demo's server
    state_dir = Path(demo_args[demo_args.index("--state-dir") + 1])
    assert not (state_dir / "demo.pids.json").exists()
    assert not (state_dir / "demo-webhook-secret").exists()  # kept only while a relay that uses it runs
    assert [port for port in _ports(demo_args) if port_in_use(port)] == []
    assert {log.name for log in (state_dir / "demo-logs").iterdir()} == {"temporal.log", "relay.log", "worker.log"}


def test_keep_leaves_everything_running_until_stop(demo_args: list[str]):
    state_dir = Path(demo_args[demo_args.index("--state-dir") + 1])
    process = _demo(*demo_args, "--keep")
    output = _finish(process)
    pidfile = state_dir / "demo.pids.json"
    try:
        assert process.returncode == 0, output
        _assert_every_expected_outcome(output)
        assert "make demo-stop" in output
        entries = json.loads(pidfile.read_text())
        assert sorted(_alive(entries)) == ["relay", "temporal", "worker"]
        relay_port = _ports(demo_args)[2]
        assert httpx.get(f"http://127.0.0.1:{relay_port}/readyz", timeout=10).status_code == 200
        _assert_a_webhook_can_be_signed_by_hand(output, state_dir, relay_port)
    finally:
        stop = subprocess.run(
            [sys.executable, "-m", "demo", "--stop", "--state-dir", str(state_dir)],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    assert stop.returncode == 0 and "stopped" in stop.stdout, stop.stdout + stop.stderr
    assert _alive(entries) == []
    assert not pidfile.exists()
    assert not (state_dir / "demo-webhook-secret").exists()


def _assert_a_webhook_can_be_signed_by_hand(output: str, state_dir: Path, relay_port: int) -> None:
    """The kept demo says where the relay's webhook secret is, and its example command is answered by the relay."""
    secret_file = state_dir / "demo-webhook-secret"
    assert str(secret_file) in output and "WEBHOOK_SECRET" in output, output
    assert secret_file.stat().st_mode & 0o777 == 0o600
    lines = output.splitlines()
    command = lines[next(i for i, line in enumerate(lines) if "Sign and send one by hand:" in line) + 1].strip()
    assert command.endswith(f"http://127.0.0.1:{relay_port}/webhooks/github"), command
    sent = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
    # Signed with the right secret: past the 401 a wrong or missing signature gets, and answered as a ping.
    assert sent.returncode == 0 and json.loads(sent.stdout) == {"ignored": "ping", "zen": "signed by hand"}, sent.stdout + sent.stderr
    # The same command with another secret is refused: the secret in the file is what made it pass.
    assert "$(cat" in command, command
    unsigned = subprocess.run(["bash", "-c", command.replace("$(cat", "$(echo wrong; : ")], capture_output=True, text=True, timeout=30)
    assert json.loads(unsigned.stdout) == {"error": "missing or invalid X-Hub-Signature-256"}, unsigned.stdout + unsigned.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_demo_stops_everything_it_started(demo_args: list[str], signum: int):
    state_dir = Path(demo_args[demo_args.index("--state-dir") + 1])
    process = _demo(*demo_args)
    seen = []
    deadline = time.monotonic() + PROCESS_DEADLINE_S
    # "submitted" is printed once all three services run and the pidfile names them.
    while not any(line.startswith("submitted") for line in seen):
        assert time.monotonic() < deadline and process.poll() is None, "".join(seen)
        seen.append(process.stdout.readline())
    entries = json.loads((state_dir / "demo.pids.json").read_text())
    os.kill(process.pid, signum)
    output = "".join(seen) + _finish(process)

    assert process.returncode == 130, output
    assert "interrupted" in output
    assert _alive(entries) == []
    assert [port for port in _ports(demo_args) if port_in_use(port)] == []


def test_a_demo_past_its_deadline_says_so_and_stops_what_it_started(demo_args: list[str]):
    state_dir = Path(demo_args[demo_args.index("--state-dir") + 1])
    process = _demo(*demo_args, "--timeout", "1")  # the last --timeout wins
    output = _finish(process)

    assert process.returncode == 1
    assert "the demo did not finish within 1 s (while starting the services)" in output, output
    assert "--- last lines of" in output  # the logs that explain it
    assert not (state_dir / "demo.pids.json").exists()
    assert [port for port in _ports(demo_args) if port_in_use(port)] == []


def test_a_busy_port_is_named_and_nothing_starts(demo_args: list[str]):
    state_dir = Path(demo_args[demo_args.index("--state-dir") + 1])
    ui_port = _ports(demo_args)[1]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ui_port))
        squatter.listen()
        process = _demo(*demo_args)
        output = _finish(process)

    assert process.returncode == 1
    assert f"Web UI port {ui_port} already in use" in output and "--ui-port" in output
    assert not (state_dir / "demo-logs").exists()


def test_every_demo_task_names_its_expected_outcome_and_a_mismatch_is_spelled_out():
    catalog = load_catalog()
    assert {demo.task.type.value for demo in catalog} >= {"implementation", "bug_fix", "feature"}
    assert {demo.expected.status for demo in catalog} == {"merged", "closed"}
    assert any(demo.expected.attempts == 2 for demo in catalog) and any(demo.expected.followups == 1 for demo in catalog)

    feature = next(demo for demo in catalog if demo.expected.followups == 1)
    outcome = TaskOutcome(
        task_id=feature.task_id, workflow_id=f"codegen-task-{feature.task_id}", status="expired", reason=Reason.EXPIRED
    )
    assert feature.expected.mismatches(outcome) == [
        "status expired (expected merged)",
        "reason expired (expected merged)",
        "attempts 0 (expected 1)",
        "followups 0 (expected 1)",
    ]
    # The service merges the demo's testing tasks itself, one after the agent resolved a conflict.
    conflicted = next(demo for demo in catalog if demo.task_id == "demo-merge-conflict")
    assert (conflicted.expected.followups, conflicted.expected.merged_by) == (1, "service")
    merged_by_a_person = TaskOutcome(
        task_id=conflicted.task_id, workflow_id=f"codegen-task-{conflicted.task_id}", status="merged", reason=Reason.MERGED,
        attempts=[AttemptRecord(number=1, started_at=datetime(2026, 1, 1, tzinfo=UTC), outcome="pr_opened")], followups=1,
        merged_by="person",
    )  # fmt: skip
    assert conflicted.expected.mismatches(merged_by_a_person) == ["merged_by person (expected service)"]
