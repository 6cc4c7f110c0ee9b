"""What ``apply`` produces: where the series landed, how, and whether it compiles."""

from __future__ import annotations

from dataclasses import dataclass, field

from kpatchkit.records.base import Record


@dataclass
class BlobCheck(Record):
    """One preimage blob from a patch's ``index`` line, looked up in the tree."""

    path: str
    blob: str  # abbreviated id as written in the patch
    patch: str  # "1/2"
    in_tree: bool = False  # the object exists in kpatchkit's repository of the tree
    commit: str | None = None  # a commit whose tree has this blob at ``path``


@dataclass
class BaseResolution(Record):
    """How the base was chosen: ``method`` is what decided."""

    found: bool  # the series' own base (trailer commit or preimage blobs) is in the tree
    method: str  # "base-commit" | "blob" | "head"
    commit: str  # the commit the series was applied on
    blobs: list[BlobCheck] = field(default_factory=list)
    trailer: str | None = None  # the base-commit: trailer text, if any
    reason: str = ""


@dataclass
class PortedHunk(Record):
    """One entry of ``CommitInfo.hunks`` read as a record (``apply.port.HunkOutcome``'s JSON)."""

    file: str
    hunk: int  # 1-based within the file
    method: str  # context, function-replace, function-delete, function-insert, already-absent
    functions: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class CommitInfo(Record):
    """One commit on the apply branch."""

    sha: str
    subject: str
    kind: str  # "patch" (the author's, possibly re-anchored) | "port" (kpatchkit's drift edits)
    patch: str | None = None  # "1/2" for patch commits
    author: str = ""
    method: str = "am"  # "am" (applied as mailed), "already-applied", "reanchored", "drift"
    hunks: list[dict] = field(default_factory=list)  # re-anchoring per hunk (port.HunkOutcome)

    def ported_hunks(self) -> list[PortedHunk]:
        """``hunks`` as records."""
        return [PortedHunk.from_json(h) for h in self.hunks]


@dataclass
class DriftUse(Record):
    """A drift rule applied in the port commit."""

    id: str
    old: str  # the spelling in the patch
    new: str  # the spelling in the target
    why: str  # the probe results that made it apply
    source: str = ""  # where the fact comes from (kernel file:line)
    edits: list[dict] = field(default_factory=list)  # [{file, line, before, after, patch}]


@dataclass
class PatchLine(Record):
    """A line of a patch mail's diff (for mapping findings back to what the author wrote)."""

    patch: str | None  # "2/2"; None if the line is not from the series
    line: int | None = None  # 1-based line number within that patch's diff text
    text: str = ""  # the '+' line as written in the patch


@dataclass
class MissingSymbol(Record):
    """A symbol the series uses that the target tree does not define."""

    symbol: str
    patch_line: PatchLine | None = None


@dataclass
class CompileError(Record):
    """A compiler diagnostic in the patched tree, mapped to the patch line it comes from."""

    file: str
    line: int
    col: int | None
    severity: str
    message: str
    commit: str | None = None  # the commit that introduced the line (blame)
    patch_line: PatchLine | None = None


@dataclass
class CompileCheck(Record):
    """Compiling the touched objects of the patched commit with a KVM config."""

    status: str  # "ok", "failed", "skipped", "error" ("pending" only in old stored results)
    ok: bool | None = None
    objects: list[str] = field(default_factory=list)
    seconds: float | None = None
    cached: bool = False
    errors: list[CompileError] = field(default_factory=list)
    log: str | None = None
    note: str = ""


@dataclass
class ObsoleteInfo(Record):
    """The patch changes a function the target no longer has."""

    function: str
    file: str
    patch: str
    removed_by: str | None = None  # "sha subject" from git log -S, where the tree has history
    note: str = ""


@dataclass
class ApplyFailure(Record):
    """``Applied.failure`` read as a record: the first hunk that stopped the series."""

    patch: str  # "2/3"
    file: str
    reason: str
    subject: str = ""
    hunk: int | None = None  # 1-based within the file


# What ``apply`` can conclude, in the order it checks (see kpatchkit/apply/outcome.py), and the
# exit code each gives. ``applied``/``ported`` exit 1 instead when the compile proof fails.
RESULT_EXIT = {
    "applied": 0,  # git am --3way on the tree as it is
    "ported": 0,  # re-anchored by function and/or API-drift edits, compiled
    "already-applied": 0,  # the tree has the change: nothing to build
    "needs-prereq": 2,  # an earlier part of the series is missing and it shows
    "not-applicable": 1,  # changes or calls code the tree does not have (incl. the old obsolete)
    "conflict": 1,  # the code exists but differs beyond the port rules
}
RESULTS = tuple(RESULT_EXIT)
STOPS_AFTER_APPLY = ("already-applied", "needs-prereq", "not-applicable", "conflict")


@dataclass
class Evidence(Record):
    """One fact behind an apply outcome, as a reviewer would check it."""

    kind: str  # git-am, reverse-apply, hunk-applies, hunk-present, hunk-superseded,
    #            hunk-conflict, missing-file, missing-function, missing-symbol, missing-part,
    #            compile
    text: str  # one line that says what was found where
    patch: str | None = None  # "2/5"
    file: str | None = None
    hunk: int | None = None  # 1-based within the file's hunks
    function: str | None = None
    line: int | None = None  # 1-based line in the target file
    commit: str | None = None  # where the tree has history: the commit that brought it
    hunk_text: str = ""  # conflicts: the hunk as mailed
    target_text: str = ""  # conflicts: the target's current text at that place


@dataclass
class Applied(Record):
    """The result of ``kpatchkit apply`` (the JSON contract of the command)."""

    result: str  # one of RESULTS
    tree: str
    tree_version: str
    repo: str  # kpatchkit's repository of the tree (TreeInfo.path)
    base: BaseResolution
    base_commit: str
    patched_commit: str | None
    worktree: str | None  # None when no worktree was needed (an obsolete verdict found up front)
    branch: str | None
    commits: list[CommitInfo] = field(default_factory=list)
    drift_rules: list[DriftUse] = field(default_factory=list)
    port_diff: str = ""  # the port commit's diff (empty if no drift edits were needed)
    missing_symbols: list[MissingSymbol] = field(default_factory=list)
    compile: CompileCheck | None = None
    obsolete: ObsoleteInfo | None = None
    failure: dict | None = None  # {patch, file, hunk, reason} of the first hunk that stopped it
    evidence: list[Evidence] = field(default_factory=list)  # why ``result`` holds
    missing_parts: list[str] = field(default_factory=list)  # ["1/2"] for needs-prereq
    notes: list[str] = field(default_factory=list)
    series: list[str] = field(default_factory=list)  # "1/2 subject" for every patch applied
    cached: bool = False
    seconds: float | None = None

    def stopped_at(self) -> ApplyFailure | None:
        """``failure`` as a record (None when nothing stopped the series)."""
        return ApplyFailure.from_json(self.failure) if self.failure else None

    @property
    def ok(self) -> bool:
        """Applied or ported, and compiled (or compile not requested)."""
        compiled = self.compile is None or self.compile.ok is not False
        return self.result in ("applied", "ported") and compiled and not self.missing_symbols

    @property
    def exit_code(self) -> int:
        """The documented exit code of this outcome (0, 1 or 2)."""
        if self.result in ("applied", "ported"):
            return 0 if self.ok else 1
        return RESULT_EXIT.get(self.result, 1)
