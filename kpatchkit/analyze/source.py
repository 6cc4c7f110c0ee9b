"""Reading kernel sources either from a directory or from one commit of a git tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kpatchkit.errors import KpatchkitError
from kpatchkit.kernel import git as g


@dataclass(frozen=True)
class SourceView:
    """A read-only view of a kernel tree: a working directory, or ``rev`` of a git repo."""

    root: Path
    rev: str | None = None
    # Files replaced in this view (tests inject bugs this way; nothing is written anywhere).
    overlay: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    # Texts already read at ``rev`` (a commit's files never change).
    memo: dict[str, str | None] = field(default_factory=dict, compare=False, hash=False)

    def read(self, relpath: str) -> str | None:
        """The text of ``relpath`` (None when it does not exist)."""
        if relpath in self.overlay:
            return self.overlay[relpath]
        if relpath in self.memo:
            return self.memo[relpath]
        text = self._read(relpath)
        if self.rev is not None:
            self.memo[relpath] = text
        return text

    def prefetch(self, blobs: dict[str, str]) -> None:
        """Read many files of ``rev`` (path -> blob id) with one ``git cat-file --batch``."""
        todo = {p: b for p, b in blobs.items() if p not in self.memo and p not in self.overlay
                and not p.startswith("overlay:")}
        if self.rev is None or not todo:
            return
        paths = list(todo)
        try:
            for i, (_, data) in enumerate(g.cat_file_batch(self.root, list(todo.values()))):
                if data is not None:
                    self.memo[paths[i]] = data.decode(errors="replace")
        except g.GitError:
            return  # a prefetch only: read() asks git for each file again

    def _read(self, relpath: str) -> str | None:
        if self.rev is None:
            path = self.root / relpath
            return path.read_text(errors="replace") if path.is_file() else None
        return g.show_file(self.root, self.rev, relpath)

    def require(self, relpath: str) -> str:
        """Like :meth:`read` but a missing file is the user's error."""
        text = self.read(relpath)
        if text is None:
            where = f"{self.root}@{self.rev}" if self.rev else str(self.root)
            raise KpatchkitError(f"{relpath} not found in {where}; check --tree/--file/--base")
        return text


def resolve_rev(repo: Path, rev: str) -> str:
    """Full commit id of ``rev`` in ``repo`` (bad input if it does not exist)."""
    if len(rev) == 40 and all(c in "0123456789abcdef" for c in rev):
        return rev  # already a full id: a missing object shows up when it is read
    sha = g.rev_parse(repo, rev)
    if sha is None:
        raise KpatchkitError(f"revision {rev!r} not found in {repo}; give a commit or branch")
    return sha


def blob_ids(view: SourceView, paths: list[str]) -> dict[str, str]:
    """Content ids of ``paths`` (git blob ids, or content hashes in a directory), one pass.

    Directories named in ``paths`` (ending in '/') contribute all the files directly in them.
    """
    from kpatchkit.cache import content_hash

    out: dict[str, str] = {}
    for name, text in view.overlay.items():
        out["overlay:" + name] = content_hash(text)
    if view.rev is None:
        for p in paths:
            path = view.root / p.rstrip("/")
            files = sorted(path.iterdir()) if p.endswith("/") and path.is_dir() else [path]
            for f in files:
                if f.is_file():
                    out[str(f.relative_to(view.root))] = content_hash(f.read_bytes())
        return out
    listing = g.git(view.root, "ls-tree", view.rev, "--", *paths, check=False).stdout
    for line in listing.splitlines():
        meta, _, name = line.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob":
            out[name] = parts[2]
    return out
