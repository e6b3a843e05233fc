"""GitHub REST and webhook JSON for the fake's pull requests, shaped as GitHub documents them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakes.commits import Commit, Comparison, FileChange
    from fakes.mergeability import MergeStatus
    from fakes.world import CheckRun, CheckSuite, PullRequest, Repo, Review, ReviewComment

AGENT_LOGIN = "codegen-sh[bot]"
REVIEWER_LOGIN = "fake-reviewer"
REVIEWER_ID = 4242
# Who merges: the account the service's token acts as (every merge through the API), and the person who
# merges when the scenario's lifecycle or /_admin/ does. GitHub's `merged_by` tells them apart.
TOKEN_LOGIN = "codegen-service[bot]"
MAINTAINER_LOGIN = "octo-maintainer"
MERGER_IDS = {TOKEN_LOGIN: 5151, MAINTAINER_LOGIN: 4343}
CI_APP = {"id": 15368, "slug": "fake-ci", "name": "Fake CI", "node_id": "MDM6QXBwMTUzNjg="}


def iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


class GitHubShapes:
    """Builds the JSON documents; `api` and `html` are the base URLs the links point at."""

    def __init__(self, api: str, html: str) -> None:
        self.api = api.rstrip("/")
        self.html = html.rstrip("/")

    def user(self, login: str, user_id: int = 1) -> dict[str, Any]:
        return {
            "login": login,
            "id": user_id,
            "node_id": f"U_{user_id}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
            "gravatar_id": "",
            "url": f"{self.api}/users/{login}",
            "html_url": f"{self.html}/{login}",
            "type": "Bot" if login.endswith("[bot]") else "User",
            "site_admin": False,
        }

    def repository(self, repo: Repo) -> dict[str, Any]:
        url = f"{self.api}/repos/{repo.full_name}"
        return {
            "id": repo.github_id,
            "node_id": f"R_{repo.github_id}",
            "name": repo.name,
            "full_name": repo.full_name,
            "private": False,
            "owner": self.user(repo.owner, repo.github_id + 1),
            "html_url": f"{self.html}/{repo.full_name}",
            "description": None,
            "fork": False,
            "url": url,
            "pulls_url": f"{url}/pulls{{/number}}",
            "default_branch": "main",
            "visibility": "public",
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.created_at),
            "pushed_at": iso(repo.created_at),
        }

    def _ref(self, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{repo.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(repo.owner, repo.github_id + 1),
            "repo": self.repository(repo),
        }

    def _pull_url(self, pr: PullRequest) -> str:
        return f"{self.api}/repos/{pr.repo.full_name}/pulls/{pr.number}"

    def pull_request(self, pr: PullRequest, merge: MergeStatus) -> dict[str, Any]:
        repo = pr.repo
        url = self._pull_url(pr)
        html_url = pr.html_url(self.html)
        return {
            "url": url,
            "id": pr.id,
            "node_id": f"PR_{pr.id}",
            "html_url": html_url,
            "diff_url": f"{html_url}.diff",
            "patch_url": f"{html_url}.patch",
            "issue_url": f"{self.api}/repos/{repo.full_name}/issues/{pr.number}",
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "comments_url": f"{self.api}/repos/{repo.full_name}/issues/{pr.number}/comments",
            "statuses_url": f"{self.api}/repos/{repo.full_name}/statuses/{pr.head_sha}",
            "number": pr.number,
            "state": pr.state,
            "locked": False,
            "title": pr.title,
            "user": self.user(AGENT_LOGIN, 9999),
            "body": pr.body,
            "labels": [],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": iso(pr.created_at),
            "updated_at": iso(pr.updated_at),
            "closed_at": iso(pr.closed_at),
            "merged_at": iso(pr.merged_at),
            "merge_commit_sha": pr.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": self._ref(repo, pr.head_ref, pr.head_sha),
            "base": self._ref(repo, pr.base_ref, repo.base_sha),
            "_links": {
                "self": {"href": url},
                "html": {"href": html_url},
                "issue": {"href": f"{self.api}/repos/{repo.full_name}/issues/{pr.number}"},
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": f"{self.api}/repos/{repo.full_name}/statuses/{pr.head_sha}"},
            },
            "author_association": "CONTRIBUTOR",
            "auto_merge": None,
            "draft": pr.draft,
            "merged": pr.merged,
            "mergeable": merge.mergeable,
            "rebaseable": merge.mergeable,
            "mergeable_state": merge.state,
            "merged_by": self.user(pr.merged_by, MERGER_IDS[pr.merged_by]) if pr.merged_by else None,
            "comments": 0,
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": len(pr.commits),
            "additions": 10 * len(pr.commits),
            "deletions": 2 * len(pr.commits),
            "changed_files": len(pr.commits),
        }

    def pull_request_minimal(self, pr: PullRequest) -> dict[str, Any]:
        """The short PR form inside check runs and check suites."""
        repo_min = {"id": pr.repo.github_id, "url": f"{self.api}/repos/{pr.repo.full_name}", "name": pr.repo.name}
        return {
            "url": self._pull_url(pr),
            "id": pr.id,
            "number": pr.number,
            "head": {"ref": pr.head_ref, "sha": pr.head_sha, "repo": repo_min},
            "base": {"ref": pr.base_ref, "sha": pr.repo.base_sha, "repo": repo_min},
        }

    def check_run(self, run: CheckRun, pr: PullRequest, include_pulls: bool = True) -> dict[str, Any]:
        url = f"{self.api}/repos/{pr.repo.full_name}/check-runs/{run.id}"
        return {
            "id": run.id,
            "node_id": f"CR_{run.id}",
            "name": run.name,
            "head_sha": run.head_sha,
            "external_id": str(run.id),
            "url": url,
            "html_url": f"{self.html}/{pr.repo.full_name}/runs/{run.id}",
            "details_url": f"{self.html}/{pr.repo.full_name}/actions/runs/{run.id}",
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": iso(run.started_at),
            "completed_at": iso(run.completed_at),
            "output": {
                "title": run.output_title,
                "summary": run.output_summary,
                "text": run.output_text,
                "annotations_count": 0,
                "annotations_url": f"{url}/annotations",
            },
            "check_suite": {"id": run.suite_id},
            "app": {**CI_APP, "owner": self.user("fake-ci-org", 77)},
            "pull_requests": [self.pull_request_minimal(pr)] if include_pulls else [],
        }

    def check_suite(self, suite: CheckSuite, pr: PullRequest, include_pulls: bool = True) -> dict[str, Any]:
        url = f"{self.api}/repos/{pr.repo.full_name}/check-suites/{suite.id}"
        return {
            "id": suite.id,
            "node_id": f"CS_{suite.id}",
            "head_branch": suite.head_branch,
            "head_sha": suite.head_sha,
            "status": suite.status,
            "conclusion": suite.conclusion,
            "url": url,
            "before": suite.before,
            "after": suite.head_sha,
            "pull_requests": [self.pull_request_minimal(pr)] if include_pulls else [],
            "app": {**CI_APP, "owner": self.user("fake-ci-org", 77)},
            "created_at": iso(suite.created_at),
            "updated_at": iso(suite.updated_at),
            "rerequestable": True,
            "runs_rerequestable": True,
            "latest_check_runs_count": suite.check_runs_count,
            "check_runs_url": f"{url}/check-runs",
            "head_commit": {
                "id": suite.head_sha,
                "tree_id": suite.head_sha[::-1],
                "message": f"Commit on {suite.head_branch}",
                "timestamp": iso(suite.created_at),
                "author": {"name": "Codegen", "email": "team@codegen.com"},
                "committer": {"name": "Codegen", "email": "team@codegen.com"},
            },
        }

    def review(self, review: Review, pr: PullRequest, webhook: bool) -> dict[str, Any]:
        """REST states are upper case (APPROVED); webhook states are lower case (approved)."""
        pr_url = self._pull_url(pr)
        html_url = f"{pr.html_url(self.html)}#pullrequestreview-{review.id}"
        return {
            "id": review.id,
            "node_id": f"PRR_{review.id}",
            "user": self.user(review.login, REVIEWER_ID),
            "body": review.body,
            "commit_id": review.commit_id,
            "submitted_at": iso(review.submitted_at),
            "state": review.state.lower() if webhook else review.state.upper(),
            "html_url": html_url,
            "pull_request_url": pr_url,
            "author_association": "MEMBER",
            "_links": {"html": {"href": html_url}, "pull_request": {"href": pr_url}},
        }

    def review_comment(self, comment: ReviewComment, review: Review, pr: PullRequest) -> dict[str, Any]:
        """A line comment of a review (pulls/comments): `line` is null on a file-level comment."""
        pr_url = self._pull_url(pr)
        html_url = f"{pr.html_url(self.html)}#discussion_r{comment.id}"
        return {
            "id": comment.id,
            "node_id": f"PRRC_{comment.id}",
            "pull_request_review_id": review.id,
            "path": comment.path,
            "line": comment.line,
            "original_line": comment.line,
            "side": "RIGHT",
            "subject_type": "line" if comment.line is not None else "file",
            "commit_id": review.commit_id,
            "original_commit_id": review.commit_id,
            "diff_hunk": "@@ -1,3 +1,4 @@",
            "user": self.user(review.login, REVIEWER_ID),
            "body": comment.body,
            "created_at": iso(review.submitted_at),
            "updated_at": iso(review.submitted_at),
            "html_url": html_url,
            "pull_request_url": pr_url,
            "author_association": "MEMBER",
            "_links": {"html": {"href": html_url}, "pull_request": {"href": pr_url}},
        }

    def commit(self, repo: Repo, commit: Commit) -> dict[str, Any]:
        """A commit as the compare endpoint lists it."""
        url = f"{self.api}/repos/{repo.full_name}/commits/{commit.sha}"
        person = {"name": "Codegen", "email": "team@codegen.com", "date": iso(commit.created_at)}
        return {
            "sha": commit.sha,
            "node_id": f"C_{commit.sha[:12]}",
            "url": url,
            "html_url": f"{self.html}/{repo.full_name}/commit/{commit.sha}",
            "commit": {"message": commit.message, "author": person, "committer": person, "tree": {"sha": commit.sha[::-1]}},
            "author": self.user(AGENT_LOGIN, 9999),
            "committer": self.user(AGENT_LOGIN, 9999),
            "parents": [{"sha": parent, "url": f"{self.api}/repos/{repo.full_name}/commits/{parent}"} for parent in commit.parents],
        }

    def file_change(self, repo: Repo, change: FileChange, head: str) -> dict[str, Any]:
        """A diff entry of a comparison (without its patch)."""
        return {
            "sha": head,
            "filename": change.filename,
            "status": change.status,
            "additions": 10,
            "deletions": 0 if change.status == "added" else 2,
            "changes": 10 if change.status == "added" else 12,
            "blob_url": f"{self.html}/{repo.full_name}/blob/{head}/{change.filename}",
            "raw_url": f"{self.html}/{repo.full_name}/raw/{head}/{change.filename}",
            "contents_url": f"{self.api}/repos/{repo.full_name}/contents/{change.filename}?ref={head}",
        }

    def comparison(self, repo: Repo, basehead: str, base: Commit, head: Commit, comparison: Comparison) -> dict[str, Any]:
        """`GET /repos/{owner}/{repo}/compare/{base}...{head}`: commits oldest first, at most 250, as GitHub lists them."""
        html = f"{self.html}/{repo.full_name}/compare/{basehead}"
        return {
            "url": f"{self.api}/repos/{repo.full_name}/compare/{basehead}",
            "html_url": html,
            "permalink_url": f"{self.html}/{repo.full_name}/compare/{base.sha}...{head.sha}",
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "base_commit": self.commit(repo, base),
            "merge_base_commit": self.commit(repo, comparison.merge_base or base),
            "status": comparison.status,
            "ahead_by": len(comparison.ahead),
            "behind_by": len(comparison.behind),
            "total_commits": len(comparison.ahead),
            "commits": [self.commit(repo, commit) for commit in comparison.ahead[:250]],
            "files": [self.file_change(repo, change, head.sha) for change in comparison.files()[:300]],
        }

    def push(self, repo: Repo, branch: str, before: str, commit: Commit) -> dict[str, Any]:
        """The `push` webhook for one commit pushed to `branch`."""
        url = f"{self.html}/{repo.full_name}/commit/{commit.sha}"
        person = {"name": "Codegen", "email": "team@codegen.com", "username": AGENT_LOGIN}
        head_commit = {
            "id": commit.sha,
            "tree_id": commit.sha[::-1],
            "distinct": True,
            "message": commit.message,
            "timestamp": iso(commit.created_at),
            "url": url,
            "author": person,
            "committer": person,
            "added": [change.filename for change in commit.files if change.status == "added"],
            "removed": [change.filename for change in commit.files if change.status == "removed"],
            "modified": [change.filename for change in commit.files if change.status == "modified"],
        }
        return {
            "ref": f"refs/heads/{branch}",
            "before": before,
            "after": commit.sha,
            "created": False,
            "deleted": False,
            "forced": False,
            "base_ref": None,
            "compare": f"{self.html}/{repo.full_name}/compare/{before[:12]}...{commit.sha[:12]}",
            "commits": [head_commit],
            "head_commit": head_commit,
            "pusher": {"name": AGENT_LOGIN, "email": "team@codegen.com"},
        }
