"""Records of ``kpatchkit analyze``: findings, added-call contexts, file and diff results."""

from __future__ import annotations

from dataclasses import dataclass, field

from kpatchkit.records.base import Record


@dataclass
class TraceStep(Record):
    """One step of a finding's path: a source line and the lock state after it."""

    line: int
    state: str
    note: str = ""


@dataclass
class Finding(Record):
    """One checker result.

    ``id`` is a fingerprint of check + function + line-free message (stable across line
    shifts); ``status`` is set by the differential mode: new | fixed | unchanged ('' alone).
    """

    id: str
    check: str
    function: str
    file: str
    line: int
    message: str
    trace: list[TraceStep] = field(default_factory=list)
    status: str = ""
    severity: str = "error"


@dataclass
class CallContext(Record):
    """A call and the lock context it runs in (added calls in differential mode)."""

    function: str
    call: str
    line: int
    context: dict = field(default_factory=dict)
    note: str = ""


@dataclass
class FileAnalysis(Record):
    """Analysis of one file at one version."""

    file: str
    rev: str
    mode: str  # fast | real
    functions: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    calls: list[CallContext] = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = False


@dataclass
class AnalysisDiff(Record):
    """Base vs head: findings labelled new/fixed/unchanged and the calls the patch adds."""

    tree: str
    base: str
    head: str
    mode: str
    files: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    added_calls: list[CallContext] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    seconds: float = 0.0
    # Files the front end could not parse ({file, rev, error}); they are skipped, not guessed.
    errors: list[dict] = field(default_factory=list)

    @property
    def new(self) -> list[Finding]:
        """Findings the head introduces."""
        return [f for f in self.findings if f.status == "new"]
