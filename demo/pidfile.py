"""The pidfile that records the processes the demo started (with their start times, so a reused pid
is never signalled), which is how `python -m demo --stop` finds what `--keep` left running.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import psutil

from devstack.process import STOP_GRACE_SECONDS, ChildProcess, signal_group


def write_pidfile(path: Path, services: list[ChildProcess]) -> None:
    """Record the services still running."""
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
