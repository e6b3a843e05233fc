"""The demo's own failures, and whether its ports are free (waiting for its services is `readiness`)."""

from __future__ import annotations

import socket

from child_process import ChildFailure


class DemoError(ChildFailure):
    """The demo cannot go on; the message says what happened and ends with the logs that explain it."""


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on the port (connections lingering after a previous run do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers themselves do; on Linux a listening socket still makes bind fail.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False
