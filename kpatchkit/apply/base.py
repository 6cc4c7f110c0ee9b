"""Base resolution: the ``base-commit:`` trailer, then the preimage blob ids, then HEAD."""

from __future__ import annotations

import re
from pathlib import Path

from kpatchkit.errors import KpatchkitError
from kpatchkit.kernel import git as g
from kpatchkit.records.applied import BaseResolution, BlobCheck
from kpatchkit.records.series import Patch, Series
from kpatchkit.records.tree import TreeInfo

_TRAILER_RE = re.compile(r"^base-commit:\s*(.+)$", re.M | re.I)


def label(p: Patch) -> str:
    """"1/2" style label of a patch."""
    return f"{p.index}/{p.total}"


def base_trailer(series: Series) -> str | None:
    """The ``base-commit:`` value of the cover or first patch, as written."""
    for p in ([series.cover] if series.cover else []) + series.patches:
        if p.base_commit:
            return p.base_commit
        m = _TRAILER_RE.search(p.body or "")
        if m:
            return m.group(1).strip()
    return None


def preimage_blobs(patches: list[Patch]) -> list[BlobCheck]:
    """For each file, the blob the first patch touching it expects (its ``index`` old id)."""
    seen: dict[str, BlobCheck] = {}
    for p in patches:
        for f in p.files:
            if f.old_path and f.old_path not in seen and f.old_blob and set(f.old_blob) != {"0"}:
                seen[f.old_path] = BlobCheck(path=f.old_path, blob=f.old_blob, patch=label(p))
            elif f.new_path and f.new_path not in seen:
                seen[f.new_path] = BlobCheck(path=f.new_path, blob="", patch=label(p))
    return [b for b in seen.values() if b.blob]


def _commit_with_blob(repo: Path, head: str, path: str, blob: str) -> str | None:
    """A commit whose tree has ``blob`` at ``path``: HEAD, else the newest one that added it."""
    at_head = g.blob_id(repo, head, path)
    if at_head and at_head.startswith(blob):
        return head
    full = g.resolve_object(repo, blob)
    if not full:
        return None
    proc = g.git(repo, "log", "--all", "--format=%H", f"--find-object={full}", "--", path,
                 check=False)
    for commit in proc.stdout.split():
        have = g.blob_id(repo, commit, path)
        if have == full:
            return commit
    return None


def resolve_base(tree: TreeInfo, series: Series, patches: list[Patch]) -> BaseResolution:
    """Decide which commit of ``tree`` to apply on, and say which method decided."""
    repo = tree.path
    trailer = base_trailer(series)
    blobs = preimage_blobs(patches)
    for b in blobs:
        b.in_tree = g.git(repo, "cat-file", "-e", f"{b.blob}^{{blob}}",
                          check=False).returncode == 0
        b.commit = _commit_with_blob(repo, tree.head, b.path, b.blob) if b.in_tree else None
    if trailer:
        sha = re.match(r"[0-9a-f]{7,40}\b", trailer)
        commit = g.rev_parse(repo, sha.group(0)) if sha else None
        if commit and "+" not in trailer:
            return BaseResolution(found=True, method="base-commit", commit=commit, blobs=blobs,
                                  trailer=trailer, reason=f"base-commit {sha.group(0)} is in "
                                  f"the tree")
    commits = {b.commit for b in blobs}
    if blobs and None not in commits:
        commit = tree.head if tree.head in commits else sorted(commits)[0]
        if all(g.blob_id(repo, commit, b.path or "") and
               (g.blob_id(repo, commit, b.path) or "").startswith(b.blob) for b in blobs):
            return BaseResolution(found=True, method="blob", commit=commit, blobs=blobs,
                                  trailer=trailer,
                                  reason="every preimage blob is in the tree at this commit")
    absent = [b for b in blobs if b.commit is None]
    why = []
    if trailer:
        why.append(f"base-commit '{trailer}' is not (only) a commit of this tree")
    if absent:
        why.append("preimage blob " + ", ".join(f"{b.blob} ({b.path}, {b.patch})" for b in absent)
                   + " is not in the tree")
    if not trailer and not blobs:
        why.append("the series names no base-commit and no blob ids")
    return BaseResolution(found=False, method="head", commit=tree.head, blobs=blobs,
                          trailer=trailer,
                          reason="; ".join(why) + f"; applying on the tree's HEAD ({tree.version})")


def check_prerequisites(series: Series, prereqs: list[Series], base: BaseResolution) -> None:
    """Refuse (exit 2) a series whose missing parts produce the context a present part needs."""
    supplied = {(f.new_path, (f.new_blob or "")[:12]) for s in prereqs for p in s.patches
                for f in p.files}
    in_tree = {(b.path, b.blob[:12]) for b in base.blobs if b.commit}
    problems = []
    for need in series.prerequisites:
        key = (need["path"], need["blob"][:12])
        if key in supplied or key in in_tree:
            continue
        total = series.total or "?"
        problems.append(
            f"{need['needed_by']}/{total} needs {need['index']}/{total}, which is missing: "
            f"{need['needed_by']}/{total}'s preimage of {need['path']} is blob {need['blob']}, "
            f"which is not in the tree; it is what {need['index']}/{total} produces "
            f"(the context {need['needed_by']}/{total} patches is {need['index']}/{total}'s "
            "result)")
    if problems:
        raise KpatchkitError(
            "; ".join(problems) + "; pass the missing part with --prereq FILE (e.g. its mail)",
            payload={"result": "incomplete", "missing": series.missing,
                     "prerequisites": series.prerequisites})
