"""The apply cache: ``cache_dir("apply", key)/{applied.json, worktree/}`` per (tree head, base,
series content, rules, engine version) and the branch ``kpatchkit/<subject-slug>-<key8>`` in
kpatchkit's repository of the tree. ``<key>.lock`` serialises processes applying the same thing.
"""

from __future__ import annotations

import contextlib
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


def pool_size() -> int:
    """How many apply worktrees a tree keeps ($KPATCHKIT_APPLY_WORKTREES, default 3)."""
    try:
        return max(1, int(os.environ.get("KPATCHKIT_APPLY_WORKTREES", "3")))
    except ValueError:
        return 3


def _entries(tree: TreeInfo) -> list[tuple[float, Path, dict]]:
    """(last use, entry, applied.json) of the applies made on ``tree`` that have a worktree."""
    out = []
    for meta in cache.cache_dir("apply").glob("*/applied.json"):
        try:
            data = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        if data.get("worktree") and Path(data.get("repo", "")).resolve() == tree.path.resolve():
            out.append((meta.stat().st_mtime, meta.parent, data))
    return sorted(out, key=lambda item: item[0])


def recycle_worktree(tree: TreeInfo, worktree: Path, keep: Path) -> bool:
    """Move the least recently used apply worktree of ``tree`` to ``worktree`` when the tree
    already has ``pool_size()`` of them (that older apply is forgotten: a later apply of it
    recomputes it). Returns True if one was moved. ``keep`` (the caller's entry) is skipped.
    """
    entries = [e for e in _entries(tree) if e[1] != keep]
    if len(entries) < pool_size() or worktree.exists():
        return False
    for _, old_entry, data in entries:
        with cache.try_locked(old_entry) as mine:
            old = Path(data["worktree"])
            if not mine or not amod.is_worktree(tree.path, old):
                continue
            (old_entry / "applied.json").unlink(missing_ok=True)
            g.git(tree.path, "worktree", "unlock", str(old), check=False)
            moved = g.git(tree.path, "worktree", "move", str(old), str(worktree), check=False)
            if moved.returncode != 0:
                continue
            g.git(worktree, "checkout", "--quiet", "--detach", check=False)
            g.git(tree.path, "branch", "-D", data["branch"], check=False)
            shutil.rmtree(old_entry, ignore_errors=True)
            return True
    return False


def touch(entry: Path) -> None:
    """Mark an apply as used now (the pool recycles the least recently used)."""
    with contextlib.suppress(OSError):
        os.utime(entry / "applied.json")


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
