"""Whose claim a review judges: the reference series' (data/expectations.toml), the patch's own
``--expect``, or none (the COW scenarios are then regression checks against base).

The data file is read through the validating loader (``expectation_data``, the knowledge
contract) and then as records (``expectations``): the judge reads attributes, not keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from kpatchkit.knowledge import ListOf, Opt, TableOf, load_toml
from kpatchkit.records.base import Record
from kpatchkit.records.review import Bound, ClaimBasis, ReviewResult
from kpatchkit.report.bounds import parse_expect

DATA = Path(__file__).with_name("data") / "expectations.toml"
SCHEMA = {
    # the reference series: matched by message_id or subject, its claim shown with its source
    "reference": Opt({"name": str, "source": str, "message_ids": Opt(ListOf(str)),
                      "subjects": Opt(ListOf(str)), "claim": str}),
    "regression": Opt({"tolerance": float, "reason": str, "min_tolerance": Opt(float),
                       "scenario": Opt(TableOf({"tolerance": float, "reason": str}))}),
}


@dataclass
class ReferenceSeries(Record):
    """The series whose claim the scenarios' "patched" bounds are (``[reference]``)."""

    name: str
    source: str  # its archive URL
    claim: str
    message_ids: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)


@dataclass
class ScenarioTolerance(Record):
    """A scenario's own regression tolerance (``[regression.scenario.NAME]``)."""

    tolerance: float
    reason: str


@dataclass
class RegressionRule(Record):
    """How a scenario without a claim is judged (``[regression]``): patched <= base + spread."""

    tolerance: float = 0.1  # the spread with one sample per kernel
    reason: str = ""
    min_tolerance: float = 0.0  # the floor under a measured spread
    scenario: dict[str, ScenarioTolerance] = field(default_factory=dict)


@dataclass
class Expectations(Record):
    """data/expectations.toml as records."""

    reference: ReferenceSeries | None = None
    regression: RegressionRule = field(default_factory=RegressionRule)


@cache
def expectation_data(path: Path = DATA) -> dict[str, Any]:
    """The reference series and the regression tolerance (``data/expectations.toml``)."""
    return load_toml(path, SCHEMA)


def expectations(path: Path = DATA) -> Expectations:
    """``expectation_data`` as records."""
    return Expectations.from_json(expectation_data(path))


def _words(text: str) -> str:
    return " ".join(str(text).split())


def _norm_subject(text: str) -> str:
    text = re.sub(r"^\s*(\[[^\]]*\]\s*)+", "", str(text or ""))
    return _words(text).lower()


@dataclass
class JudgingBasis:
    """Whose claim the scenarios are judged against in one review, with what the judge needs
    (the user's bounds, the regression rule); ``record()`` is what review.json keeps."""

    kind: str = "none"  # reference | expect | none
    reference: ReferenceSeries | None = None  # when it applies
    matched: str = ""  # what identified the reference series
    expect: dict[str, Bound] = field(default_factory=dict)  # the user's, per scenario
    regression: RegressionRule = field(default_factory=RegressionRule)

    def tolerance_for(self, scenario: str) -> tuple[float, str]:
        """The allowed rise over base for a scenario with one sample, and why."""
        own = self.regression.scenario.get(scenario)
        rule = own if own is not None else self.regression
        return float(rule.tolerance), _words(rule.reason)

    def record(self) -> ClaimBasis:
        """What the review record keeps (``ReviewResult.claim_basis``)."""
        out = ClaimBasis(kind=self.kind, tolerance=float(self.regression.tolerance),
                         reason=_words(self.regression.reason),
                         expect={k: b.describe() for k, b in self.expect.items()})
        if self.reference is not None:
            out.reference, out.source = self.reference.name, self.reference.source
            out.matched, out.claim = self.matched, _words(self.reference.claim)
        return out


def reference_match(result: ReviewResult, data: Expectations | None = None) -> str:
    """What identifies the reviewed series as the reference series ('' if it is not)."""
    ref = (data or expectations()).reference
    if ref is None:
        return ""
    ids = {m.strip("<>") for m in ref.message_ids}
    subjects = {_norm_subject(s) for s in ref.subjects}
    for p in result.series.patches:
        if p.message_id and p.message_id.strip("<>") in ids:
            return f"Message-ID <{p.message_id.strip('<>')}>"
        if subjects and _norm_subject(p.subject) in subjects:
            return f"subject \"{p.subject}\""
    return ""


def claim_basis(result: ReviewResult, data: Expectations | None = None) -> JudgingBasis:
    """Decide, from data and the user's --expect, whose claim this review judges."""
    data = data or expectations()
    basis = JudgingBasis(regression=data.regression, expect=parse_expect(result.expect))
    basis.matched = reference_match(result, data)
    if basis.matched:
        basis.kind, basis.reference = "reference", data.reference
    elif basis.expect:
        basis.kind = "expect"
    return basis
