"""`starter.py dev-server`: the embedded Temporal dev server with the Web UI, persisted in .temporal/."""

from __future__ import annotations

import argparse
import signal
import subprocess
from pathlib import Path

import devserver
from cli import exit_codes
from cli.output import fail

STATE_DIR = Path(".temporal")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `dev-server` subcommand."""
    parser = subparsers.add_parser("dev-server", help="run the Temporal dev server (Web UI on :8233) until Ctrl-C")
    parser.add_argument("--port", type=int, default=7233, help="gRPC port (default %(default)s)")
    parser.add_argument("--ui-port", type=int, default=8233, help="Web UI port (default %(default)s)")
    parser.set_defaults(run=run)


def dev_server_command(port: int, ui_port: int) -> list[str]:
    """`temporal server start-dev` with persistence and the project's search attributes."""
    return [
        devserver.temporal_cli_path(), "server", "start-dev",
        "--db-filename", str(STATE_DIR / "dev.db"),
        "--port", str(port), "--ui-port", str(ui_port),
        *devserver.search_attribute_args(),
    ]


def run(args: argparse.Namespace) -> int:
    """Run in the foreground until the server stops; Ctrl-C stops it cleanly."""
    try:
        command = dev_server_command(args.port, args.ui_port)
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
