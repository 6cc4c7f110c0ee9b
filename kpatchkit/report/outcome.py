"""The apply stage's outcome as the report reads it: its result (old stored names mapped to the
current ones), whether the review stopped after apply, its evidence as lines, and the verdict of
a review that stopped there."""

from __future__ import annotations

from pathlib import Path

from kpatchkit.records.applied import (
    RESULT_EXIT,
    STOPS_AFTER_APPLY,
    Applied,
    Evidence,
    ObsoleteInfo,
)
from kpatchkit.records.review import Verdict

LEGACY_RESULTS = {"obsolete": "not-applicable", "failed": "conflict"}


def apply_outcome(applied: Applied | None) -> str:
    """The apply result under its current name ('' when apply did not run)."""
    res = applied.result if applied is not None else ""
    return LEGACY_RESULTS.get(res, res)


def stops_after_apply(applied: Applied | None) -> bool:
    """True when the apply outcome leaves nothing to analyse, build or run."""
    return apply_outcome(applied) in STOPS_AFTER_APPLY


def _where(ev: Evidence) -> str:
    """'mmu.c:set_nx_huge_pages:6700' from an evidence record's location fields."""
    parts = [Path(ev.file).name] if ev.file else []
    parts += [ev.function] if ev.function else []
    parts += [str(ev.line)] if ev.line else []
    return ":".join(parts)


def evidence_lines(applied: Applied | None) -> list[str]:
    """One line per apply evidence record, as the verdict and summary list them."""
    out = []
    for ev in applied.evidence if applied is not None else []:
        text = ev.text or ev.kind
        at = _where(ev)
        line = f"[{ev.kind}] " if ev.kind else ""
        line += f"patch {ev.patch}: " if ev.patch and ev.patch not in text else ""
        line += text
        line += f" ({at})" if at and at not in text else ""
        line += f", commit {ev.commit[:12]}" if ev.commit else ""
        out.append(line)
    return out


def obsolete_text(obs: ObsoleteInfo) -> str:
    """'f() is gone from file (removed by ...)'."""
    what = f"{obs.function}() is gone"
    what += f" from {obs.file}" if obs.file else ""
    what += f" (removed by {obs.removed_by})" if obs.removed_by else ""
    return what


def stop_verdict(applied: Applied) -> Verdict:
    """The verdict of a review that stopped after apply: the outcome and its evidence."""
    outcome = apply_outcome(applied)
    # The most precise place first: a function and line, then any location.
    located = sorted((e for e in applied.evidence if _where(e)),
                     key=lambda e: (not (e.function and e.line), not e.line))
    at = f" ({_where(located[0])})" if located else ""
    v = Verdict(status=outcome, exit_code=RESULT_EXIT.get(outcome, 1))
    missing = ", ".join(applied.missing_parts)
    if outcome == "already-applied":
        v.headline = f"Already applied: the tree has this change{at}"
    elif outcome == "needs-prereq":
        v.headline = (f"Needs a prerequisite: part {missing} of the series is missing"
                      if missing else "Needs a prerequisite the tree does not have") + at
    elif outcome == "not-applicable" and applied.obsolete is not None:
        v.headline = ("Not applicable to this tree: the code it changes is gone "
                      f"({applied.obsolete.function}() no longer exists)")
    elif outcome == "not-applicable":
        v.headline = f"Not applicable to this tree: it needs code the tree does not have{at}"
    else:
        v.headline = f"Conflict: the code the patch changes differs in this tree{at}"
    reasons = []
    if applied.obsolete is not None:
        reasons.append(f"obsolete on this tree: {obsolete_text(applied.obsolete)}")
    if missing:
        reasons.append(f"missing part(s) of the series: {missing}")
    failure = applied.stopped_at()
    if failure is not None and failure.reason and not applied.evidence:
        reasons.append(f"{failure.file}: {failure.reason}".lstrip(": "))
    reasons += evidence_lines(applied)
    reasons.append("review stopped after apply: nothing to analyse, build or run")
    v.reasons = reasons
    return v
