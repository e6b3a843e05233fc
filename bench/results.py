"""bench/results.json: every benchmark's latest figures, with the machine they were measured on."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import psutil

RESULTS_PATH = Path(__file__).parent / "results.json"


def machine_info() -> dict[str, object]:
    """What the figures depend on: cores, memory, Python and platform."""
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def record(section: str, figures: dict, path: Path = RESULTS_PATH) -> None:
    """Replace `section` in the results file with `figures` plus the date, keeping the other sections."""
    results = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    results[section] = {**figures, "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    results["machine"] = machine_info()
    # Write then rename, so an interrupted run never leaves half a file behind.
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(path)
