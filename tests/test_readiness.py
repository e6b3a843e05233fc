"""Waiting for started processes: the check's answer, a deadline, and a watched process that dies."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from devstack.process import ChildFailure, ChildProcess
from devstack.readiness import http_ok, ready


async def test_ready_returns_what_the_check_found(tmp_path: Path) -> None:
    answers = iter([None, None, "client"])

    async def check() -> str | None:
        return next(answers)

    with ChildProcess([sys.executable, "-c", "import time; time.sleep(30)"], {}, tmp_path / "sleeper.log") as sleeper:
        assert await ready("the third answer", check, timeout=10, watched=[sleeper]) == "client"


async def test_a_watched_process_that_exits_fails_at_once_with_its_log(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "print('cannot bind port 7243'); raise SystemExit(3)"]
    with ChildProcess(argv, {}, tmp_path / "service.log") as service, pytest.raises(ChildFailure) as failure:
        await ready("the service's /healthz", http_ok("http://127.0.0.1:9/healthz"), timeout=60, watched=[service])
    message = str(failure.value)  # the exit, not the 60 s deadline, ended the wait
    assert message.startswith("service exited with code 3 while waiting for the service's /healthz")
    assert "cannot bind port 7243" in message


async def test_a_check_that_never_holds_fails_at_the_deadline(tmp_path: Path) -> None:
    async def never() -> bool:
        return False

    with ChildProcess([sys.executable, "-c", "import time; time.sleep(30)"], {}, tmp_path / "sleeper.log") as sleeper:
        with pytest.raises(ChildFailure, match=r"^nothing: not ready after 1 s"):
            await ready("nothing", never, timeout=1, watched=[sleeper])
