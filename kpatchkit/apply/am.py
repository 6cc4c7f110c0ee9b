"""Worktrees and ``git am`` in kpatchkit's own repository of a tree (never the user's)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from kpatchkit.kernel import git as g

# Commits made by git am get the mail's author and date; the committer is kpatchkit with the
# author's date, so the same series on the same base always gives the same commit ids.
_AM_ENV = {"GIT_COMMITTER_NAME": "kpatchkit", "GIT_COMMITTER_EMAIL": "kpatchkit@localhost"}


def slug(text: str, length: int = 40) -> str:
    """A branch-name-safe slug of a subject."""
    s = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return s[:length].rstrip("-") or "series"


def remove_worktree(repo: Path, worktree: Path, branch: str) -> None:
    """Forget a (possibly half-made) worktree and its branch in kpatchkit's repository."""
    g.git(repo, "worktree", "unlock", str(worktree), check=False)
    g.git(repo, "worktree", "remove", "--force", "--force", str(worktree), check=False)
    shutil.rmtree(worktree, ignore_errors=True)
    g.git(repo, "worktree", "prune", check=False)
    g.git(repo, "branch", "-D", branch, check=False)


def is_worktree(repo: Path, worktree: Path) -> bool:
    """True if ``worktree`` is a registered, present worktree of ``repo``."""
    if not worktree.is_dir():
        return False
    listing = g.out(repo, "worktree", "list", "--porcelain")
    want = worktree.resolve()
    return any(Path(line[9:]).resolve() == want for line in listing.splitlines()
               if line.startswith("worktree "))


def add_worktree(repo: Path, worktree: Path, branch: str, commit: str) -> None:
    """A worktree on a new branch at ``commit``.

    An existing worktree at that path (a leftover, or one recycled from an older apply) is
    reset and switched, which rewrites only the files that differ: seconds instead of the
    25-60 s a fresh 75k-file checkout takes.
    """
    if is_worktree(repo, worktree):
        g.git(worktree, "am", "--abort", check=False)
        g.git(worktree, "checkout", "--quiet", "--detach", check=False)
        g.git(repo, "branch", "-D", branch, check=False)
        g.git(worktree, "reset", "--quiet", "--hard", config=g.FAST_CONFIG)
        g.git(worktree, "clean", "-ffdxq", config=g.FAST_CONFIG)
        g.git(worktree, "checkout", "--quiet", "--force", "-B", branch, commit,
              config=g.FAST_CONFIG)
        return
    remove_worktree(repo, worktree, branch)
    worktree.parent.mkdir(parents=True, exist_ok=True)
    g.git(repo, "worktree", "add", "--quiet", "-b", branch, str(worktree), commit,
          config=g.FAST_CONFIG)


def branch_exists(repo: Path, branch: str) -> bool:
    """True if ``refs/heads/branch`` exists in ``repo``."""
    return g.rev_parse(repo, f"refs/heads/{branch}") is not None


def am(worktree: Path, mbox: str) -> tuple[bool, str]:
    """``git am --3way`` one mail; on failure the am is aborted. Returns (ok, git's output)."""
    # fetch writes mboxrd (a body line "From ..." is escaped as ">From ..."): git am must undo
    # exactly that escaping, or a commit message line would keep its '>'
    proc = g.git(worktree, "am", "--3way", "--committer-date-is-author-date", "--no-gpg-sign",
                 "--patch-format=mboxrd", input=mbox, env=_AM_ENV, check=False,
                 config=g.FAST_CONFIG)
    if proc.returncode == 0:
        return True, proc.stdout + proc.stderr
    g.git(worktree, "am", "--abort", check=False)
    g.git(worktree, "reset", "--hard", "--quiet", "HEAD", check=False)
    return False, (proc.stdout + proc.stderr).strip()


def head(worktree: Path) -> str:
    """The worktree's HEAD commit."""
    return g.out(worktree, "rev-parse", "HEAD")


def commit_all(worktree: Path, message: str, paths: list[str]) -> str:
    """Commit ``paths`` as kpatchkit (deterministic identity and date); returns the sha."""
    env = {**g.KPATCHKIT_IDENT, "GIT_AUTHOR_DATE": g.FIXED_DATE,
           "GIT_COMMITTER_DATE": g.FIXED_DATE}
    g.git(worktree, "add", "-f", "--", *paths)  # Debian's tree .gitignore ignores "/*"
    g.git(worktree, "commit", "--quiet", "--no-verify", "--no-gpg-sign", "-F", "-",
          input=message, env=env)
    return head(worktree)
