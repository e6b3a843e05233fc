"""The live table of task phases: redrawn in place on a terminal, one line per change otherwise."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from models.status import TaskStatus


@dataclass(frozen=True)
class Row:
    task_id: str
    task_type: str
    phase: str
    attempt: str
    followups: int
    checks: str
    pr: str

    @classmethod
    def waiting(cls, task_id: str, task_type: str, depends_on: list[str] | None = None) -> Row:
        """Submitted, or in a graph still waiting for the PRs it depends on to merge."""
        phase = f"waits: {', '.join(depends_on)}" if depends_on else "submitted"
        return cls(task_id, task_type, phase, "-", 0, "-", "-")

    @classmethod
    def from_status(cls, status: TaskStatus) -> Row:
        return cls(
            status.task_id,
            status.task_type,
            status.phase.value,
            f"{status.attempt}/{status.max_attempts}",
            status.followups,
            status.verdict if status.pr else "-",
            status.pr.ref.key if status.pr else "-",
        )


HEADERS = ("TASK", "TYPE", "PHASE", "ATTEMPT", "FOLLOW-UPS", "CHECKS", "PR")
WIDTHS = (22, 15, 24, 8, 11, 8, 0)


def _format(cells: tuple[str, ...]) -> str:
    return "  ".join(str(cell).ljust(width) for cell, width in zip(cells, WIDTHS, strict=True)).rstrip()


class Board:
    """Shows rows as they change; call `update` with the latest rows, `close` once at the end."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self._stream = stream
        self._live = stream.isatty()
        self._rows: dict[str, Row] = {}
        self._drawn_lines = 0
        self._started = time.monotonic()

    def update(self, rows: list[Row]) -> None:
        changed = [row for row in rows if self._rows.get(row.task_id) != row]
        self._rows.update((row.task_id, row) for row in rows)
        if self._live:
            self._redraw()
        else:
            elapsed = time.monotonic() - self._started
            for row in changed:
                detail = f"attempt {row.attempt}, follow-ups {row.followups}, checks {row.checks}, PR {row.pr}"
                self._stream.write(f"[{elapsed:6.1f}s] {row.task_id}: {row.phase} ({detail})\n")
        self._stream.flush()

    def close(self) -> None:
        if self._live:
            self._redraw()
            self._stream.write("\n")
        self._stream.flush()

    def _redraw(self) -> None:
        lines = [_format(HEADERS)] + [
            _format((r.task_id, r.task_type, r.phase, r.attempt, str(r.followups), r.checks, r.pr)) for r in self._rows.values()
        ]
        lines.append(f"elapsed {time.monotonic() - self._started:5.1f}s")
        # A wrapped line would break the cursor arithmetic, so lines are cut to the terminal's width.
        width = shutil.get_terminal_size().columns - 1
        lines = [line[:width] for line in lines]
        if self._drawn_lines:
            self._stream.write(f"\x1b[{self._drawn_lines}F")  # back to the table's first line
        self._stream.write("".join(f"\x1b[2K{line}\n" for line in lines))
        self._drawn_lines = len(lines)
