"""The Keyword search attributes every task workflow carries, so webhooks and stats can find it."""

from temporalio.common import SearchAttributeKey

TASK_ID = SearchAttributeKey.for_keyword("TaskId")
TASK_TYPE = SearchAttributeKey.for_keyword("TaskType")
TASK_PHASE = SearchAttributeKey.for_keyword("TaskPhase")
PR_STATUS = SearchAttributeKey.for_keyword("PRStatus")
PR_KEY = SearchAttributeKey.for_keyword("PRKey")
PR_HEAD_SHA = SearchAttributeKey.for_keyword("PRHeadSha")
REPOSITORY = SearchAttributeKey.for_keyword("Repository")

ALL = (TASK_ID, TASK_TYPE, TASK_PHASE, PR_STATUS, PR_KEY, PR_HEAD_SHA, REPOSITORY)
