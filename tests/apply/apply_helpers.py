"""Helpers for the apply tests: real git repositories shaped like a kernel tree."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

# A real kernel subset: enough for the reference series (the file it patches and the header
# the drift probes read), copied at test time from a tree kpatchkit made from Debian's tarball.
SUBSET = ("Makefile", "arch/x86/kvm/mmu/tdp_mmu.c", "include/linux/kvm_host.h",
          "arch/x86/kvm/kvm_cache_regs.h", "include/uapi/linux/kvm.h")
ENV = {"GIT_AUTHOR_NAME": "User", "GIT_AUTHOR_EMAIL": "user@example.org",
       "GIT_COMMITTER_NAME": "User", "GIT_COMMITTER_EMAIL": "user@example.org",
       "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent", "PATH": "/usr/bin:/bin"}


def git(repo: Path, *args: str, input: str | None = None) -> str:
    """Run git as 'the user' (not kpatchkit) in ``repo``."""
    return subprocess.run(["git", *args], cwd=repo, env=ENV, check=True, capture_output=True,
                          text=True, input=input).stdout.strip()


def kernel_subset_repo(dest: Path, source_tree: Path) -> Path:
    """A user's git repo holding SUBSET from ``source_tree``, one commit on 'master'."""
    for rel in SUBSET:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source_tree / rel, dest / rel)
    git(dest, "init", "-q", "-b", "master")
    git(dest, "add", ".")
    git(dest, "commit", "-qm", "linux 6.1 subset")
    return dest


def make_user_state(repo: Path) -> None:
    """Give the repo everything apply must not touch: branches, a stash, staged and dirty files."""
    git(repo, "branch", "feature")
    mmu = repo / "arch/x86/kvm/mmu/tdp_mmu.c"
    mmu.write_text(mmu.read_text() + "/* stashed work */\n")
    git(repo, "stash", "-q")
    (repo / "Makefile").write_text((repo / "Makefile").read_text() + "# staged\n")
    git(repo, "add", "Makefile")
    mmu.write_text(mmu.read_text() + "/* dirty, not staged */\n")
    (repo / "untracked.txt").write_text("mine\n")


def snapshot(repo: Path) -> dict:
    """HEAD, branches, stash, index, working files and every file under .git (with digests)."""
    def digest(p: Path) -> str:
        return hashlib.sha1(p.read_bytes()).hexdigest()

    git_dir = repo / ".git"
    return {
        "HEAD": (git_dir / "HEAD").read_text(),
        "head": git(repo, "rev-parse", "HEAD"),
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "stash": git(repo, "stash", "list", "--format=%H %gs"),
        "index": digest(git_dir / "index"),
        "work": {str(p.relative_to(repo)): digest(p) for p in sorted(repo.rglob("*"))
                 if p.is_file() and ".git" not in p.relative_to(repo).parts},
        "gitdir": {str(p.relative_to(git_dir)): digest(p) for p in sorted(git_dir.rglob("*"))
                   if p.is_file()},
    }
