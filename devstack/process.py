"""A command run as a child in its own process group, its output in a log file.

Stopping or killing signals the whole group, so nothing the command starts outlives it. Everything
the dev stack starts runs this way.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devstack import ROOT

STOP_GRACE_SECONDS = 10.0


@dataclass
class ChildProcess:
    """`argv` with exactly `env`, run from `cwd`; restartable after a kill, the log appended to then.

    As a context manager: started on entry and, whatever happens in the block, its group gone on exit.
    """

    argv: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path = ROOT
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """What messages call it: its log file's name without the suffix."""
        return self.log.stem

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def start(self) -> None:
        """Start in a new session (its own process group); the first start empties the log."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab" if self.process else "wb") as out:
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def __enter__(self) -> ChildProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def exited(self) -> int | None:
        """The exit code once it has ended; None while it runs (or before it started)."""
        return self.process.poll() if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: nothing gets to clean up, as in a crash."""
        if self.process is not None:
            signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after `grace` seconds."""
        if not self.running:
            return
        assert self.process is not None
        signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 25) -> str:
        return "\n".join(self.output().splitlines()[-lines:]) or "(empty log)"


class ChildFailure(RuntimeError):
    """Started processes failed us; the message ends with the last lines of their logs.

    The lines are read when the error is raised, before stopping the processes adds shutdown noise.
    """

    def __init__(self, message: str, children: Sequence[ChildProcess] = ()) -> None:
        super().__init__(
            message + "".join(f"\n\n--- last lines of {child.log} ---\n{child.log_tail()}" for child in children)
        )


def signal_group(pgid: int, signum: int) -> None:
    """Signal a process group that may already be gone."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass
