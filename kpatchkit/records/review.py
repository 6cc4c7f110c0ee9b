"""What ``review`` produces and ``report`` renders: one record for a whole review run.

The stage outputs are the stages' own records (``Applied``, ``AnalysisDiff``, ``GeneratedTest``,
``RunReport``), typed here as in the stage: the report reads their attributes, so a renamed field
is an error where it is read, never an empty cell in a report. JSON exists only at the edges
(review.json, the stage store): ``to_json``/``from_json``, versioned by ``schema``. What the review
itself derives (per-scenario claim outcomes, the verdict, timings, provenance) is typed here too.

Schema history: 1 kept the stage outputs as plain JSON objects; 2 types them. The JSON is the
same (the stage objects always were those records' ``to_json()``), so a schema 1 file reads as 2.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from kpatchkit.records.applied import Applied
from kpatchkit.records.base import Record
from kpatchkit.records.claims import ClaimVerdict
from kpatchkit.records.findings import AnalysisDiff, Finding
from kpatchkit.records.gentests import GeneratedTest
from kpatchkit.records.results import RunReport, TestResult
from kpatchkit.records.tree import TreeInfo

SCHEMA_VERSION = 2
READS_SCHEMAS = (1, 2)  # review.json versions from_json reads (1: the same JSON, see above)


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
    patchset_hash: str = ""  # KCIDB's (records.series.patchset_hash)


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
class ReviewAnalysis(AnalysisDiff):
    """The analyze stage as a review runs it: ``AnalysisDiff`` merged over every C file the
    series touches, and what the review notes about it (a file it could not analyse, or no
    file to analyse)."""

    notes: list[str] = field(default_factory=list)


@dataclass
class ReviewRun(RunReport):
    """The run stage as the review keeps it: ``RunReport``, plus where it ran when that was not
    here (``kpatchkit report --from-lava``: ``engine`` "lava" and the jobs' files)."""

    engine: str | None = None  # None: the local run ("local" in results.json)
    lava: dict[str, Any] | None = None  # {jobs, missing, files} of the LAVA jobs read

    @classmethod
    def of(cls, report: RunReport, **extra: Any) -> ReviewRun:
        """The review's view of a run stage's ``RunReport`` (no copy of its lists)."""
        fields = {f.name: getattr(report, f.name) for f in dataclasses.fields(RunReport)}
        return cls(**fields, **extra)

    def to_json(self) -> dict[str, Any]:
        """RunReport's JSON; ``engine``/``lava`` only when the run was not local."""
        data = super().to_json()
        for key in ("engine", "lava"):
            if data[key] is None:
                del data[key]
        return data


@dataclass
class ClaimBasis(Record):
    """Whose claim the scenarios are judged against (``kpatchkit.report.basis`` decides; see
    report/data/expectations.toml): the reference series', the user's ``--expect`` or none."""

    kind: str = "none"  # reference | expect | none
    tolerance: float = 0.1  # a regression check's allowed rise over base (one sample)
    reason: str = ""  # why that tolerance
    reference: str = ""  # kind "reference": the series' name, its archive URL, what matched
    source: str = ""
    matched: str = ""
    claim: str = ""  # the reference's claim in words
    expect: dict[str, str] = field(default_factory=dict)  # --expect: scenario -> bound text

    def to_json(self) -> dict[str, Any]:
        """The stored shape: the reference's keys only for kind reference, expect when given."""
        data = super().to_json()
        if self.kind != "reference":
            for key in ("reference", "source", "matched", "claim"):
                del data[key]
        if not self.expect:
            del data["expect"]
        return data


@dataclass
class ReviewResult(Record):
    """Everything one review run found; the single input of every report renderer."""

    run_id: str
    created: str  # ISO 8601 UTC
    tool_version: str
    tree: TreeInfo | None = None  # None: --tree did not resolve ({} in review.json)
    series: SeriesInfo = field(default_factory=SeriesInfo)
    applied: Applied | None = None  # None: apply did not run
    analysis: ReviewAnalysis | None = None
    tests: list[GeneratedTest] = field(default_factory=list)
    tests_patch: str = ""  # the generated tests as a patch to the tree, relative to the run dir
    run: ReviewRun | None = None
    scenarios: list[ScenarioOutcome] = field(default_factory=list)
    claims: list[ClaimVerdict] = field(default_factory=list)  # the boot family's claims table
    # "file:line" -> [[line, text], ...] source lines around each finding (patched tree).
    excerpts: dict[str, list[list[Any]]] = field(default_factory=dict)
    stages: list[StageRun] = field(default_factory=list)
    verdict: Verdict = field(default_factory=Verdict)
    # The patch's own expectations (`review --expect SCENARIO=VALUE`), as given.
    expect: dict[str, str] = field(default_factory=dict)
    claim_basis: ClaimBasis = field(default_factory=ClaimBasis)
    # What ran where, as the report's provenance table shows it: label -> text (or a list).
    provenance: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """review.json's object (the nested records with their own ``to_json`` shapes)."""
        data = super().to_json()
        data["tree"] = self.tree.to_json() if self.tree is not None else {}
        data["run"] = self.run.to_json() if self.run is not None else None
        data["claim_basis"] = self.claim_basis.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReviewResult:
        """Read review.json of any schema in READS_SCHEMAS; the record is then the current one.

        A stage record missing a field it requires (renamed, hand-edited) raises TypeError, and
        a newer schema ValueError: ``kpatchkit report`` says the file is not a review it reads.
        """
        schema = data.get("schema", 1)
        if schema not in READS_SCHEMAS:
            raise ValueError(f"review.json schema {schema!r}: this kpatchkit reads "
                             f"{', '.join(map(str, READS_SCHEMAS))}")
        # Schema 1 and 2 are the same JSON; an unresolved tree is {} in both.
        data = {**data, "tree": data.get("tree") or None, "schema": SCHEMA_VERSION}
        return super().from_json(data)

    # Convenience views for renderers -------------------------------------------------------

    def findings(self, status: str | None = None) -> list[Finding]:
        """The analysis findings, optionally only those with ``status`` (new/fixed/unchanged)."""
        found = self.analysis.findings if self.analysis is not None else []
        return [f for f in found if status is None or f.status == status]

    def results(self, kernel: str | None = None) -> list[TestResult]:
        """The run stage's per-test results, optionally for one kernel (base/patched)."""
        res = self.run.results if self.run is not None else []
        return [r for r in res if kernel is None or r.kernel == kernel]

    def total_seconds(self) -> float:
        """Wall time of all stages that ran (cached ones count what the lookup took)."""
        return round(sum(s.seconds for s in self.stages), 1)
