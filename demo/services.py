"""The processes the demo starts: each in its own process group, logging to its own file.

A pidfile records them (with their start times, so a reused pid is never signalled), which is
how `python -m demo --stop` finds what `--keep` left running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

STOP_GRACE_SECONDS = 10.0


@dataclass
class Service:
    """One started process: `name` for messages, `log` for its output."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> int | None:
        """The exit code if the process has ended, else None."""
        return self.process.poll()

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def start_service(name: str, command: list[str], env: dict[str, str], log_dir: Path, cwd: Path) -> Service:
    """Start `command` in a new session (its own process group), stdout and stderr to `<log_dir>/<name>.log`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Service(name, process, log)


def stop_services(services: list[Service]) -> None:
    """SIGTERM each group (in reverse start order), then SIGKILL whatever outlives the grace period."""
    for service in reversed(services):
        if service.exited() is None:
            _signal_group(service.pid, signal.SIGTERM)
        try:
            service.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(service.pid, signal.SIGKILL)
            service.process.wait()


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def write_pidfile(path: Path, services: list[Service]) -> None:
    entries = [
        {"name": s.name, "pid": s.pid, "create_time": psutil.Process(s.pid).create_time(), "log": str(s.log)}
        for s in services
        if s.exited() is None
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=2), encoding="utf-8")


def recorded_running(path: Path) -> list[dict]:
    """Pidfile entries whose process still runs (same pid, same start time)."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    running = []
    for entry in entries:
        try:
            if abs(psutil.Process(entry["pid"]).create_time() - entry["create_time"]) < 0.01:
                running.append(entry)
        except (psutil.NoSuchProcess, KeyError, TypeError):
            continue
    return running


def stop_recorded(path: Path) -> list[str]:
    """Stop the process groups a pidfile records; the names of those that were running."""
    running = recorded_running(path)
    for entry in reversed(running):
        _signal_group(entry["pid"], signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for entry in reversed(running):
        try:
            psutil.Process(entry["pid"]).wait(timeout=max(0.1, deadline - time.monotonic()))
        except psutil.TimeoutExpired:
            _signal_group(entry["pid"], signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    path.unlink(missing_ok=True)
    return [entry["name"] for entry in running]
