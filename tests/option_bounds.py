"""The bounds the task options promise, stated once for the tests that check them (independently of
the model, so a relaxed bound in `models/task.py` fails them)."""

from datetime import timedelta

# The least each duration option may be; the most is models.task.MAX_DURATION for all.
LEAST_DURATIONS = {
    "attempt_backoff": timedelta(0),
    "retry_window": timedelta(0),
    "pr_timeout": timedelta(seconds=1),
    "agent_timeout": timedelta(seconds=1),
    "agent_pause_timeout": timedelta(seconds=1),
    "reconcile_interval": timedelta(seconds=1),
    "reconcile_max_interval": timedelta(seconds=1),
    "followup_settle": timedelta(seconds=0.1),
}
MAX_ATTEMPTS = range(1, 21)
MAX_FOLLOWUPS = range(21)
