"""What ``review`` produces and ``report`` renders: one record for a whole review run.

The stage outputs (apply, analyze, gen-tests, run) are kept as the plain JSON objects those
stages emit with ``--json``: the report reads data, never a stage's Python classes, so a stage can
grow a field without breaking the report. What the review itself derives (per-scenario claim
outcomes, the verdict, timings, provenance) is typed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kpatchkit.records.base import Record

SCHEMA_VERSION = 1


@dataclass
class PatchInfo(Record):
    """One patch of the series as the report lists it."""

    index: int
    total: int
    subject: str
    author: str = ""
    email: str = ""
    date: str = ""
    message_id: str = ""
    link: str = ""  # an archive URL for the Message-ID, when one is known
    insertions: int = 0
    deletions: int = 0
    files: list[str] = field(default_factory=list)


@dataclass
class SeriesInfo(Record):
    """The series under review (a summary of fetch's Series record)."""

    title: str = ""  # cover letter subject, else the first patch's
    source: str = ""
    version: int = 1
    total: int = 0
    patches: list[PatchInfo] = field(default_factory=list)
    cover_message_id: str = ""
    missing: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    patchset_hash: str = ""  # KCIDB's: sha256 over the patches' sha256 (see report.kcidb)


@dataclass
class Bound(Record):
    """An expected range for one metric on one kernel (either end may be open)."""

    min: float | None = None
    max: float | None = None

    def contains(self, value: float) -> bool:
        """True if ``value`` lies inside the (closed) range."""
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def describe(self) -> str:
        """Human text such as '1.8-2.2', '<= 1.05' or '>= 0.9'."""
        if self.min is not None and self.max is not None:
            return f"{self.min:g}-{self.max:g}"
        if self.max is not None:
            return f"<= {self.max:g}"
        if self.min is not None:
            return f">= {self.min:g}"
        return "any"


@dataclass
class ScenarioOutcome(Record):
    """One generated scenario on both kernels, judged against its expectations (data)."""

    scenario: str
    test: str
    metric: str = "faults_per_cow_write"
    base: float | None = None
    patched: float | None = None
    expect_base: Bound | None = None
    expect_patched: Bound | None = None
    base_result: str = ""  # the test's pass/fail/skip/error/timeout on each kernel
    patched_result: str = ""
    # reproduced | not-reproduced | control-ok | control-changed | passed | regressed |
    # skipped | no-data | failed
    outcome: str = "no-data"
    reason: str = ""
    is_claim: bool = True  # False for controls (expected equal on both kernels)
    # What the scenario is for this patch: "claim" (the reference series' or --expect's figure
    # on the patched kernel), "regression" (no claim: patched must not exceed base beyond the
    # tolerance), "control" or "correctness".
    check: str = "claim"
    claim: str = ""  # the report's claim column: "no claim", "reference series: <= 1.05", ...
    claim_status: str = ""  # reproduced | not-reproduced | no-claim ("" for controls)
    tolerance: float | None = None  # regression checks: the rise over base allowed
    tolerance_basis: str = ""  # where the tolerance comes from (measured spread or data)


@dataclass
class StageRun(Record):
    """One pipeline stage: how it went and how long it took."""

    name: str
    status: str = "pending"  # ok | cached | failed | skipped | pending
    seconds: float = 0.0
    key: str = ""  # the content hash the stage result is cached under
    error: str = ""
    exit_code: int = 0


@dataclass
class Verdict(Record):
    """The one-line answer and the exit code CI gates on (0 clean, 1 patch, 2 input, 3 infra)."""

    # clean | findings | failures | bad-input | infra, or the apply outcome the review stopped
    # at: already-applied | needs-prereq | not-applicable | conflict (old records: obsolete)
    status: str = "incomplete"
    exit_code: int = 3
    headline: str = ""
    reasons: list[str] = field(default_factory=list)
    claim: str = "unknown"  # reproduced | not-reproduced | partly | no-claim | unknown
    new_findings: int = 0
    introduced_failures: int = 0


@dataclass
class ReviewResult(Record):
    """Everything one review run found; the single input of every report renderer."""

    run_id: str
    created: str  # ISO 8601 UTC
    tool_version: str
    tree: dict[str, Any] = field(default_factory=dict)  # TreeInfo JSON
    series: SeriesInfo = field(default_factory=SeriesInfo)
    applied: dict[str, Any] | None = None  # apply --json
    analysis: dict[str, Any] | None = None  # analyze --json (differential)
    tests: list[dict[str, Any]] = field(default_factory=list)  # gen-tests --json entries
    tests_patch: str = ""  # the generated tests as a patch to the tree, relative to the run dir
    run: dict[str, Any] | None = None  # run --json: kernels, results, accel
    scenarios: list[ScenarioOutcome] = field(default_factory=list)
    # Issue 8's claims table: [{claim, configuration, measured, verdict, reason}, ...].
    claims: list[dict[str, Any]] = field(default_factory=list)
    # "file:line" -> [[line, text], ...] source lines around each finding (patched tree).
    excerpts: dict[str, list[list[Any]]] = field(default_factory=dict)
    stages: list[StageRun] = field(default_factory=list)
    verdict: Verdict = field(default_factory=Verdict)
    # The patch's own expectations (`review --expect SCENARIO=VALUE`), as given.
    expect: dict[str, str] = field(default_factory=dict)
    # Whose claim the scenarios are judged against (see report/data/expectations.toml):
    # {kind: reference | expect | none, reference, source, matched, claim, tolerance, reason}.
    claim_basis: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    # Convenience views for renderers -------------------------------------------------------

    def findings(self, status: str | None = None) -> list[dict[str, Any]]:
        """The analysis findings, optionally only those with ``status`` (new/fixed/unchanged)."""
        found = (self.analysis or {}).get("findings") or []
        return [f for f in found if status is None or f.get("status") == status]

    def results(self, kernel: str | None = None) -> list[dict[str, Any]]:
        """The run stage's per-test results, optionally for one kernel (base/patched)."""
        res = (self.run or {}).get("results") or []
        return [r for r in res if kernel is None or r.get("kernel") == kernel]

    def total_seconds(self) -> float:
        """Wall time of all stages that ran (cached ones count what the lookup took)."""
        return round(sum(s.seconds for s in self.stages), 1)
