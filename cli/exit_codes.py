"""Exit codes shared by every command."""

OK = 0
FAILURE = 1  # the command ran but the answer is bad (unhealthy, task failed, not found)
INVALID_INPUT = 2  # the input was refused; nothing was started
UNAVAILABLE = 3  # Temporal (or another service) could not be reached
