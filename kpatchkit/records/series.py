"""What ``fetch`` produces: a series of patches, parsed from mail."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from kpatchkit.records.base import Record


@dataclass
class Hunk(Record):
    """One ``@@`` hunk; ``lines`` keep their leading ' ', '+', '-' or '\\'."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    section: str = ""  # text after the second @@ (usually the enclosing C function)
    lines: list[str] = field(default_factory=list)
    header: str = ""  # the '@@ ... @@' line as read (kept when the counts still match)


@dataclass
class FileDiff(Record):
    """One file's part of a patch."""

    old_path: str | None  # None for a new file
    new_path: str | None  # None for a deleted file
    old_blob: str | None = None  # abbreviated blob ids from the 'index' line
    new_blob: str | None = None
    mode: str | None = None
    insertions: int = 0
    deletions: int = 0
    binary: bool = False
    hunks: list[Hunk] = field(default_factory=list)
    header: list[str] = field(default_factory=list)  # 'diff --git', 'index', '---', '+++' lines

    @property
    def path(self) -> str:
        """The path the patch leaves (or the removed one for deletions)."""
        return self.new_path or self.old_path or ""


@dataclass
class Patch(Record):
    """One mail: a patch, a cover letter or a reply."""

    subject: str  # without the [PATCH ...] prefix
    raw_subject: str
    author: str
    email: str
    date: str
    message_id: str
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)  # e.g. ["PATCH", "RFC", "v3"]
    version: int = 1
    index: int = 1
    total: int = 1
    body: str = ""  # commit message without trailers
    trailers: list[list[str]] = field(default_factory=list)  # [[key, value], ...]
    diffstat: str = ""
    notes: str = ""  # text between '---' and the diff that is not the diffstat (changelog)
    base_commit: str | None = None
    diff: str = ""  # the unified diff text as it should be applied
    files: list[FileDiff] = field(default_factory=list)
    insertions: int = 0
    deletions: int = 0
    whitespace_damaged: bool = False
    repaired: bool = False  # the diff was re-derived/re-indented by kpatchkit
    source: str = ""  # where this mail came from (path, URL, git commit)
    kind: str = "patch"  # patch, cover or reply (set by fetch's thread assembly)
    # the upstream commit the mail states ("commit X upstream.", "[ Upstream commit X ]",
    # "(cherry picked from commit X)", a FAILED notice's "From X Mon Sep 17 ..."), full or short
    upstream_commit: str | None = None
    # a stable maintainer's "FAILED: patch ... failed to apply" notice this patch was taken
    # out of: {"sender", "subject", "date", "message_id", "stable_tree"}; None otherwise
    notice: dict | None = None
    # parse-time facts fetch uses for assembly; not part of the JSON
    is_reply: bool = field(default=False, compare=False, metadata={"transient": True})
    is_patch_subject: bool = field(default=False, compare=False, metadata={"transient": True})
    binary_attachments: list[str] = field(default_factory=list, compare=False,
                                          metadata={"transient": True})


@dataclass
class Series(Record):
    """An assembled series: the newest revision's cover and patches, in order."""

    patches: list[Patch] = field(default_factory=list)
    cover: Patch | None = None
    replies: list[Patch] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    total: int = 0
    version: int = 1
    source: str = ""
    source_kind: str = ""  # mail, mbox, maildir, folder, webarchive, git-mirror, http
    other_versions: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # what missing parts must produce: [{"index", "path", "blob", "needed_by"}] from the
    # 'index' lines of the first present patch after a gap
    prerequisites: list[dict] = field(default_factory=list)

    @property
    def repaired(self) -> bool:
        """True if any patch's diff was repaired from whitespace damage."""
        return any(p.repaired for p in self.patches)


def patchset_hash(diffs: list[str]) -> str:
    """KCIDB's patchset hash of a series: sha256 over the newline-joined sha256 of each patch
    (KCIDB v5 checkout ``patchset_hash``); "" for no patch."""
    inner = "".join(hashlib.sha256(d.encode()).hexdigest() + "\n" for d in diffs)
    return hashlib.sha256(inner.encode()).hexdigest() if diffs else ""
