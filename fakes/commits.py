"""The fake's git history: commits with their parents and the files they change, enough to compare two refs.

Shas are unique across the fake, so one graph holds every repository's commits. Comparing walks the
ancestry of both sides, as `git log BASE..HEAD` does; only comparisons walk it, never PR reads, so a
long base history costs nothing until someone asks for a comparison.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class FileChange:
    filename: str
    status: str  # added | modified | removed


@dataclass
class Commit:
    sha: str
    message: str
    parents: tuple[str, ...]
    files: tuple[FileChange, ...]
    # Insertion order: GitHub lists a comparison's commits oldest first.
    order: int
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


@dataclass(frozen=True)
class Comparison:
    """`git log base..head` and back: what head has that base lacks (ahead), and the reverse (behind)."""

    ahead: list[Commit]
    behind: list[Commit]
    merge_base: Commit | None

    @property
    def status(self) -> str:
        if self.ahead and self.behind:
            return "diverged"
        if self.ahead:
            return "ahead"
        return "behind" if self.behind else "identical"

    def files(self) -> list[FileChange]:
        """The files the ahead side changed since the merge base (merge commits bring the other side's changes, not their own)."""
        latest: dict[str, FileChange] = {}
        for commit in self.ahead:
            if not commit.is_merge:
                for change in commit.files:
                    latest[change.filename] = change
        return sorted(latest.values(), key=lambda change: change.filename)


class CommitGraph:
    def __init__(self) -> None:
        self._commits: dict[str, Commit] = {}
        self._order = itertools.count()

    def add(self, sha: str, message: str, parents: tuple[str, ...] = (), files: tuple[FileChange, ...] = ()) -> Commit:
        commit = Commit(sha, message, parents, files, next(self._order))
        self._commits[sha] = commit
        return commit

    def get(self, sha: str) -> Commit | None:
        return self._commits.get(sha)

    def _ancestry(self, sha: str) -> set[str]:
        """`sha` and every commit reachable from it."""
        seen: set[str] = set()
        stack = [sha]
        while stack:
            current = stack.pop()
            if current in seen or current not in self._commits:
                continue
            seen.add(current)
            stack.extend(self._commits[current].parents)
        return seen

    def compare(self, base: str, head: str) -> Comparison:
        base_side, head_side = self._ancestry(base), self._ancestry(head)
        common = base_side & head_side
        merge_base = max((self._commits[sha] for sha in common), key=lambda commit: commit.order, default=None)
        return Comparison(self._chronological(head_side - base_side), self._chronological(base_side - head_side), merge_base)

    def _chronological(self, shas: set[str]) -> list[Commit]:
        return sorted((self._commits[sha] for sha in shas), key=lambda commit: commit.order)
