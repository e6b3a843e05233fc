"""`starter.py dev-server`: the embedded Temporal dev server with the Web UI, persisted in .temporal/."""

from __future__ import annotations

import argparse
import signal
import subprocess
from pathlib import Path

from cli import exit_codes
from cli.output import fail
from devstack.temporal_server import dev_server_argv

STATE_DIR = Path(".temporal")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `dev-server` subcommand."""
    parser = subparsers.add_parser("dev-server", help="run the Temporal dev server (Web UI on :8233) until Ctrl-C")
    parser.add_argument("--port", type=int, default=7233, help="gRPC port (default %(default)s)")
    parser.add_argument("--ui-port", type=int, default=8233, help="Web UI port (default %(default)s)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run in the foreground until the server stops; Ctrl-C stops it cleanly."""
    try:
        # The user's own server: on the CLI's default address, with its default logging, persisted.
        command = dev_server_argv(args.port, ui_port=args.ui_port, db_file=STATE_DIR / "dev.db", loopback=False, quiet=False)
    except RuntimeError as error:
        return fail(str(error), exit_codes.UNAVAILABLE)
    STATE_DIR.mkdir(exist_ok=True)
    print(f"Temporal dev server on localhost:{args.port}, Web UI http://localhost:{args.ui_port}, state in {STATE_DIR}/",
          flush=True)
    server = subprocess.Popen(command)
    try:
        return server.wait()
    except KeyboardInterrupt:
        # A terminal's Ctrl-C reaches the server too; a SIGINT sent to this process alone must be passed on.
        server.send_signal(signal.SIGINT)
        server.wait()
        return exit_codes.OK
