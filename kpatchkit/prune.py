"""Drop cache entries whose source repository is gone.

A tree added from a local git repository is a ``git clone --shared`` of it (about 1.5 GB of
checkout for a kernel), and kernel build directories are shared clones of kpatchkit's repositories.
Their objects live in the source's object store: once that repository is deleted (a temporary
repository of a test, a scratch clone) the entry can never be used again but keeps its checkout.
Nothing here touches an entry whose source still exists, nor one another process holds locked.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kpatchkit import cache


@dataclass
class Pruned:
    """What ``prune_orphans`` removed."""

    paths: list[str] = field(default_factory=list)
    bytes_freed: int = 0


def _size(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        with contextlib.suppress(OSError):
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
    return total


def _alternates_gone(clone: Path, doomed: tuple[Path, ...] = ()) -> bool:
    """True if ``clone`` borrows objects (``--shared``) from a store that no longer exists
    (or lies under one of the ``doomed`` entries being pruned)."""
    alt = clone / ".git" / "objects" / "info" / "alternates"
    try:
        lines = [ln.strip() for ln in alt.read_text().splitlines() if ln.strip()]
    except OSError:
        return False
    return any(not Path(ln).is_dir() or any(Path(ln).is_relative_to(d) for d in doomed)
               for ln in lines)


def _json_entries(base: Path, pattern: str, key: str) -> Iterator[tuple[Path, str]]:
    """(entry directory, value of ``key``) of every readable JSON file ``base/pattern``."""
    for meta in sorted(base.glob(pattern)):
        try:
            yield meta.parent, str(json.loads(meta.read_text()).get(key) or "")
        except (OSError, ValueError):
            continue


def _orphan_trees(root: Path) -> list[Path]:
    return [entry for entry, origin in _json_entries(root / "trees", "git-*/tree.json", "origin")
            if (origin and not Path(origin).exists()) or _alternates_gone(entry / "repo")]


def _orphan_applies(root: Path) -> list[Path]:
    return [entry for entry, repo in _json_entries(root / "apply", "*/applied.json", "repo")
            if repo and not Path(repo).exists()]


def _orphan_builds(root: Path, doomed: list[Path]) -> list[Path]:
    return [d for d in sorted((root / "builds").glob("*-*")) if d.is_dir()
            and _alternates_gone(d / "src", tuple(doomed))]


def prune_orphans(*, dry_run: bool = False, measure: bool = True) -> Pruned:
    """Remove tree, apply and build entries whose source repository no longer exists.

    ``measure`` sums the bytes freed (a stat per file: seconds for a kernel checkout).
    """
    root = cache.cache_root()
    found = Pruned()
    doomed = _orphan_trees(root) + _orphan_applies(root)
    # Builds are shared clones of cached trees: those of a tree pruned now go with it.
    for entry in doomed + _orphan_builds(root, doomed):
        with cache.try_locked(entry) as free:
            if not free:
                continue
            if measure:
                found.bytes_freed += _size(entry)
            found.paths.append(str(entry))
            if not dry_run:
                shutil.rmtree(entry, ignore_errors=True)
                entry.with_name(entry.name + ".lock").unlink(missing_ok=True)
    return found


def max_builds() -> int:
    """How many kernel build directories the cache keeps ($KPATCHKIT_MAX_BUILDS, default 8)."""
    try:
        return max(1, int(os.environ.get("KPATCHKIT_MAX_BUILDS", "8")))
    except ValueError:
        return 8


def evict_builds(keep: Path, limit: int | None = None) -> list[str]:
    """Remove the least recently used build directories beyond ``limit``, never ``keep``.

    A build directory (checkout + objects, about 1.7 GB) is per repository and kconfig hash, so
    every fragment change leaves the old ones behind. Last use is the mtime of its lock file
    (opened for writing on every use); one another process holds is left alone.
    """
    limit = limit or max_builds()
    builds = cache.cache_dir("builds")
    dirs = [d for d in builds.glob("*-*") if d.is_dir() and d != keep]

    def last_use(d: Path) -> float:
        lock = d.with_name(d.name + ".lock")
        return (lock if lock.exists() else d).stat().st_mtime

    dirs.sort(key=last_use)
    removed = []
    for old in dirs[:max(0, len(dirs) + 1 - limit)]:
        with cache.try_locked(old) as free:
            if free:
                shutil.rmtree(old, ignore_errors=True)
                removed.append(str(old))
    return removed
