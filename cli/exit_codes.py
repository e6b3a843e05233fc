"""Exit codes shared by every command, and the way a command process ends."""

import logging
import os
import sys
from typing import NoReturn

OK = 0
FAILURE = 1  # the command ran but the answer is bad (unhealthy, task failed, not found)
INVALID_INPUT = 2  # the input was refused; nothing was started
UNAVAILABLE = 3  # Temporal (or another service) could not be reached


def leave(code: int) -> NoReturn:
    """End the process with `code` once its work is done, skipping interpreter finalization: the SDK's
    native runtime can hang or abort while it is torn down, e.g. after an interrupted long poll
    (sdk-python #300). Logs and output are flushed first."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
