"""`python -m demo [--keep] [--stop]`: see the system work end to end on this machine, in mock mode.

Starts the Temporal dev server (Web UI on 8233), the relay and a mock-mode worker; submits the
tasks in examples/demo/; shows their phases live; prints each outcome; stops what it started.
Exits 0 only when every task ended as examples/demo/expected.json says.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from demo.pidfile import stop_recorded
from demo.run import DemoConfig, run_demo
from devstack import ROOT
from devstack.process import ChildFailure

INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    defaults = DemoConfig(state_dir=ROOT / ".temporal")
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave everything running afterwards (make demo KEEP=1)")
    parser.add_argument("--stop", action="store_true", help="stop what a --keep run left running, and exit")
    parser.add_argument("--temporal-port", type=int, default=defaults.temporal_port, help="Temporal gRPC port (default %(default)s)")
    parser.add_argument("--ui-port", type=int, default=defaults.ui_port, help="Temporal Web UI port (default %(default)s)")
    parser.add_argument("--relay-port", type=int, default=defaults.relay_port, help="webhook relay port (default %(default)s)")
    parser.add_argument("--state-dir", type=Path, default=defaults.state_dir, help="database, logs and pidfile (default .temporal/)")
    parser.add_argument("--timeout", type=float, default=defaults.timeout, help="give up after this many seconds (default %(default)s)")
    return parser


async def _run_cancellable(config: DemoConfig) -> int:
    """run_demo, cancelled (so its cleanup runs) by SIGTERM as well as Ctrl-C."""
    work = asyncio.ensure_future(run_demo(config))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, work.cancel)
    return await work


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = DemoConfig(
        state_dir=args.state_dir.resolve(),
        temporal_port=args.temporal_port,
        ui_port=args.ui_port,
        relay_port=args.relay_port,
        timeout=args.timeout,
        keep=args.keep,
    )
    if args.stop:
        stopped = stop_recorded(config.pidfile)
        config.secret_file.unlink(missing_ok=True)
        print(f"stopped {', '.join(stopped)}" if stopped else "no demo was running")
        return 0
    try:
        return asyncio.run(_run_cancellable(config))
    except ChildFailure as error:  # a DemoError, or a service that never became ready
        print(f"\ndemo failed: {error}", file=sys.stderr)
        return 1
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("\ninterrupted; everything the demo started has been stopped", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
