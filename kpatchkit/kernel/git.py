"""Git plumbing shared by the stages: a thin subprocess wrapper plus small read-only queries.

Bulk work (adding 75,000 files, ``am``, worktrees) goes through the ``git`` binary: it is
much faster than GitPython's pure-Python index and gives ``git am --3way`` exactly. GitPython
(``repo()``) is there for callers who want object access.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from kpatchkit.errors import InfraError

# Deterministic identity for commits kpatchkit makes itself (baselines, port commits), so the
# same tarball always gives the same baseline commit id on every machine.
KPATCHKIT_IDENT = {
    "GIT_AUTHOR_NAME": "kpatchkit",
    "GIT_AUTHOR_EMAIL": "kpatchkit@localhost",
    "GIT_COMMITTER_NAME": "kpatchkit",
    "GIT_COMMITTER_EMAIL": "kpatchkit@localhost",
}
FIXED_DATE = "2000-01-01T00:00:00+0000"

# Settings that make a 75k-file index fast and keep background gc from repacking mid-run.
FAST_CONFIG = (
    "core.preloadIndex=true",
    "core.fsync=none",
    "core.untrackedCache=true",
    "index.version=4",
    "gc.auto=0",
    "core.looseCompression=1",
    "advice.detachedHead=false",
)


class GitError(InfraError):
    """A git command failed; ``stderr`` holds git's own words."""

    def __init__(self, message: str, *, returncode: int = 1, stderr: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    # Never let a user's hooks/templates/global config change what kpatchkit's own repos do.
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"})
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"):
        env.pop(key, None)
    if extra:
        env.update(extra)
    return env


def git(cwd: Path | str | None, *args: str, env: Mapping[str, str] | None = None,
        input: str | bytes | None = None, check: bool = True, config: Sequence[str] = (),
        text: bool = True) -> subprocess.CompletedProcess:
    """Run ``git [-c config]... args`` in ``cwd``; raise GitError with git's stderr if it fails."""
    cmd = ["git"]
    for item in config:
        cmd += ["-c", item]
    cmd += list(args)
    if text and isinstance(input, bytes):
        input = input.decode()
    proc = subprocess.run(cmd, cwd=cwd, env=_env(env), input=input, capture_output=True,
                          text=text)
    if check and proc.returncode != 0:
        err = proc.stderr if text else proc.stderr.decode(errors="replace")
        raise GitError(f"git {' '.join(args[:3])} failed in {cwd}: {err.strip()[-500:]}",
                       returncode=proc.returncode, stderr=err)
    return proc


def out(cwd: Path | str | None, *args: str, **kwargs) -> str:
    """Run git and return its stdout without the trailing newline."""
    return git(cwd, *args, **kwargs).stdout.rstrip("\n")


def is_git_repo(path: Path) -> bool:
    """True if ``path`` is the top of a git working tree or a bare repository."""
    if not path.is_dir():
        return False
    proc = git(path, "rev-parse", "--show-toplevel", "--is-bare-repository", check=False)
    if proc.returncode != 0:
        return False
    lines = proc.stdout.split()
    if "true" in lines:
        return True
    return bool(lines) and Path(lines[0]).resolve() == path.resolve()


def rev_parse(repo: Path, rev: str) -> str | None:
    """Full commit id of ``rev`` in ``repo``, or None (read-only: never touches the index)."""
    proc = git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def has_object(repo: Path, oid: str) -> bool:
    """True if ``oid`` (full or abbreviated) names an object in ``repo``."""
    return git(repo, "cat-file", "-e", oid, check=False).returncode == 0


def resolve_object(repo: Path, oid: str) -> str | None:
    """Expand an abbreviated object id, or None if absent or ambiguous."""
    proc = git(repo, "rev-parse", "--verify", "--quiet", oid, check=False)
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def show_file(repo: Path, rev: str, path: str) -> str | None:
    """The text of ``path`` at ``rev``, or None if it does not exist there."""
    proc = git(repo, "show", f"{rev}:{path}", check=False)
    return proc.stdout if proc.returncode == 0 else None


def blob_id(repo: Path, rev: str, path: str) -> str | None:
    """The blob id of ``path`` at ``rev``, or None."""
    proc = git(repo, "rev-parse", "--verify", "--quiet", f"{rev}:{path}", check=False)
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def repo(path: Path):
    """A GitPython ``Repo`` for object-level access (imported lazily: it is slow to import)."""
    import git as gitpython

    return gitpython.Repo(path)
