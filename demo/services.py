"""The processes the demo starts (child_process.ChildProcess: its own process group and log file).

A pidfile records them (with their start times, so a reused pid is never signalled), which is
how `python -m demo --stop` finds what `--keep` left running.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import psutil

from child_process import STOP_GRACE_SECONDS, ChildProcess, signal_group


def start_service(name: str, command: list[str], env: dict[str, str], log_dir: Path, cwd: Path) -> ChildProcess:
    """Start `command`, its output in `<log_dir>/<name>.log`."""
    service = ChildProcess(command, env, log_dir / f"{name}.log", cwd)
    service.start()
    return service


def stop_services(services: list[ChildProcess]) -> None:
    """Stop each (in reverse start order): SIGTERM, then SIGKILL whatever outlives the grace period."""
    for service in reversed(services):
        service.stop()


def write_pidfile(path: Path, services: list[ChildProcess]) -> None:
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
        signal_group(entry["pid"], signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for entry in reversed(running):
        try:
            psutil.Process(entry["pid"]).wait(timeout=max(0.1, deadline - time.monotonic()))
        except psutil.TimeoutExpired:
            signal_group(entry["pid"], signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    path.unlink(missing_ok=True)
    return [entry["name"] for entry in running]
