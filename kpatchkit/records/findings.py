"""Records of ``kpatchkit analyze``: findings, added-call contexts, file and diff results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
class LockContext(Record):
    """``CallContext.context`` read as a record: the lock state at a call, merged over paths
    (what ``kpatchkit.analyze.engine.context_of`` writes, plus ``paths`` and ``needs``)."""

    mmu_lock: str  # "write", "read", "none", "caller's", or several joined by "|"
    rcu: Any  # read-side depth, "entry+1"-style text without a base, or a list when paths differ
    spinlocks: list[str] = field(default_factory=list)
    preempt_off: bool = False
    irqs_off: bool = False
    walks: list[str] = field(default_factory=list)  # the iterators the call sits in
    paths: int = 1
    needs: list[str] = field(default_factory=list)  # what the callee requires, in words


@dataclass
class CallContext(Record):
    """A call and the lock context it runs in (added calls in differential mode)."""

    function: str
    call: str
    line: int
    context: dict = field(default_factory=dict)
    note: str = ""

    def lock(self) -> LockContext:
        """The lock context as a record (a context without mmu_lock/rcu raises TypeError)."""
        return LockContext.from_json(self.context)


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
