"""Test helper: a dangling commit in kpatchkit's own tree repository with one edit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def commit_with_edit(repo: Path, base: str, path: str, old: str, new: str,
                     message: str = "kpatchkit test edit") -> str:
    """A dangling commit in kpatchkit's repo: ``base`` with one edit (no ref, no worktree)."""
    index = repo / ".git" / f"kpatchkit-test-index-{os.getpid()}"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    git = ["git", "-C", str(repo)]
    text = subprocess.run([*git, "show", f"{base}:{path}"], capture_output=True, text=True,
                          check=True).stdout
    assert old in text, f"{old!r} not in {path}"
    blob = subprocess.run([*git, "hash-object", "-w", "--stdin"], input=text.replace(old, new, 1),
                          capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([*git, "read-tree", base], env=env, check=True)
    subprocess.run([*git, "update-index", "--cacheinfo", f"100644,{blob},{path}"], env=env,
                   check=True)
    tree_id = subprocess.run([*git, "write-tree"], env=env, capture_output=True, text=True,
                             check=True).stdout.strip()
    Path(env["GIT_INDEX_FILE"]).unlink(missing_ok=True)
    return subprocess.run(
        [*git, "-c", "user.name=kpatchkit test", "-c", "user.email=test@kpatchkit.invalid",
         "commit-tree", tree_id, "-p", base, "-m", message],
        capture_output=True, text=True, check=True).stdout.strip()
