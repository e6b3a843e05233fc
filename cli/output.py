"""Printing answers: JSON for scripts, aligned tables and durations for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from models.status import AgentRunRecord


def print_json(data: Any) -> None:
    """One JSON document on stdout; datetimes as ISO 8601."""
    print(json.dumps(data, ensure_ascii=False, indent=2, default=_json_value))


def _json_value(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Left-aligned columns separated by two spaces; empty cells print as `-`; no rows, the headers alone."""
    cells = [[str(value) if value not in (None, "") else "-" for value in row] for row in rows]
    widths = [max([len(str(header)), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    for row in [list(headers), *cells]:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())


def fail(message: str, code: int) -> int:
    """Print `message` on stderr and return `code`, for `return fail(...)` in commands."""
    print(message, file=sys.stderr)
    return code


def duration(seconds: float | None) -> str:
    """`2h 05m`, `3m 20s`, `42s`; `-` when unknown."""
    if seconds is None:
        return "-"
    whole = int(round(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def timestamp(moment: datetime | None) -> str:
    """UTC, to the second: `2026-11-24 23:31:02`."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def agent_run_labels(runs: Sequence[AgentRunRecord]) -> list[str]:
    """Each run as `<id> <status> (attempt N)` or `(follow-up K of attempt N)`: a follow-up resumes the
    attempt's run, so the id alone does not tell them apart."""
    labels, followups = [], 0
    for run in runs:
        if run.kind == "followup":
            followups += 1
            role = f"follow-up {followups} of attempt {run.attempt}"
        elif run.kind == "codegen":
            followups += 1
            role = f"follow-up {followups}: Codegen's own run on the PR"
        else:
            role = f"attempt {run.attempt}"
        labels.append(f"{run.id} {run.status} ({role})")
    return labels
