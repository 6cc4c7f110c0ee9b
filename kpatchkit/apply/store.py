"""The apply cache: ``cache_dir("apply", key)/{applied.json, worktree/}`` per (tree head, base,
series content, rules, engine version) and the branch ``kpatchkit/<subject-slug>-<key8>`` in
kpatchkit's repository of the tree. ``<key>.lock`` serialises processes applying the same thing.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from kpatchkit import cache
from kpatchkit.apply import am as amod
from kpatchkit.kernel import git as g
from kpatchkit.records.applied import Applied
from kpatchkit.records.tree import TreeInfo


def entry(key: str) -> Path:
    """The cache directory of one apply (made if absent)."""
    return cache.cache_dir("apply", key)


def load(entry: Path, repo: Path) -> Applied | None:
    """The stored Applied if its worktree and branch are still as it says, else None."""
    try:
        applied = Applied.from_json(json.loads((entry / "applied.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if applied.worktree is None:
        return applied  # a verdict reached without a worktree (obsolete)
    if not Path(applied.worktree).is_dir() or not amod.branch_exists(repo, applied.branch):
        return None
    tip = g.rev_parse(repo, f"refs/heads/{applied.branch}")
    want = applied.patched_commit or (applied.commits[-1].sha if applied.commits else None)
    if want and tip != want:
        return None
    return applied


def clean(tree: TreeInfo, *, older_than: float | None = None) -> list[str]:
    """Remove kpatchkit's apply worktrees, branches and cache entries made on ``tree``.

    Each worktree is a full checkout (about 1.3 GB for a kernel); the next apply of a series
    recreates its own. ``older_than`` (seconds) keeps entries used more recently. Returns the
    worktree paths removed.
    """
    removed = []
    now = time.time()
    for meta in sorted(cache.cache_dir("apply").glob("*/applied.json")):
        entry = meta.parent
        try:
            data = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        if Path(data.get("repo", "")).resolve() != Path(tree.path).resolve():
            continue
        if older_than is not None and now - meta.stat().st_mtime < older_than:
            continue
        with cache.locked(entry):
            if data.get("worktree"):
                amod.remove_worktree(tree.path, Path(data["worktree"]), data["branch"])
                removed.append(data["worktree"])
            shutil.rmtree(entry, ignore_errors=True)
    g.git(tree.path, "worktree", "prune", check=False)
    return removed


def save(entry: Path, applied: Applied) -> None:
    """Store ``applied`` atomically as the entry's applied.json."""
    tmp = entry / f"applied.json.{os.getpid()}"
    tmp.write_text(json.dumps(applied.to_json(), indent=2) + "\n")
    tmp.replace(entry / "applied.json")
