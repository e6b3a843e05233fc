"""CodegenHealthWorkflow: the Codegen check run on a worker, so `starter.py health` sees the key (or mock mode)
the workers have, not the one in the operator's shell.

Temporal runs activities only for a workflow, hence this one: a single `check_codegen_health` on the
task queue it was started on, with a short timeout and a small retry. It has no state and no signals.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.codegen import CodegenActivities
    from models.codegen import CodegenHealth
    from models.names import HEALTH_WORKFLOW_NAME

# Two cheap reads: a healthy API answers in well under this.
CHECK_TIMEOUT = timedelta(seconds=10)
# A bad key is an answer (ok=False), not an error; only a crash or a timeout is tried once more.
CHECK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=2)


@workflow.defn(name=HEALTH_WORKFLOW_NAME)
class CodegenHealthWorkflow:
    @workflow.run
    async def run(self) -> CodegenHealth:
        return await workflow.execute_activity_method(
            CodegenActivities.check_codegen_health,
            start_to_close_timeout=CHECK_TIMEOUT,
            retry_policy=CHECK_RETRY,
        )
