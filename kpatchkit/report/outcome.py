"""The apply stage's outcome as the report reads it: its result (old stored names mapped to the
current ones), whether the review stopped after apply, its evidence as lines, and the verdict of
a review that stopped there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kpatchkit.records.applied import RESULT_EXIT, STOPS_AFTER_APPLY
from kpatchkit.records.review import Verdict

LEGACY_RESULTS = {"obsolete": "not-applicable", "failed": "conflict"}


def apply_outcome(applied: dict[str, Any] | None) -> str:
    """The apply result under its current name ('' when apply did not run)."""
    res = str((applied or {}).get("result") or "")
    return LEGACY_RESULTS.get(res, res)


def stops_after_apply(applied: dict[str, Any] | None) -> bool:
    """True when the apply outcome leaves nothing to analyse, build or run."""
    return apply_outcome(applied) in STOPS_AFTER_APPLY


def _where(ev: dict[str, Any]) -> str:
    """'mmu.c:set_nx_huge_pages:6700' from an evidence record's location fields."""
    parts = [Path(str(ev["file"])).name] if ev.get("file") else []
    parts += [str(ev["function"])] if ev.get("function") else []
    parts += [str(ev["line"])] if ev.get("line") else []
    return ":".join(parts)


def evidence_lines(applied: dict[str, Any] | None) -> list[str]:
    """One line per apply evidence record, as the verdict and summary list them."""
    out = []
    for ev in (applied or {}).get("evidence") or []:
        if not isinstance(ev, dict):
            out.append(str(ev))
            continue
        text = str(ev.get("text") or ev.get("kind") or "")
        where = _where(ev)
        line = f"[{ev.get('kind')}] " if ev.get("kind") else ""
        line += f"patch {ev['patch']}: " if ev.get("patch") and str(ev["patch"]) not in text \
            else ""
        line += text
        line += f" ({where})" if where and where not in text else ""
        line += f", commit {str(ev['commit'])[:12]}" if ev.get("commit") else ""
        out.append(line)
    return out


def obsolete_text(applied: dict[str, Any]) -> str:
    obs = applied.get("obsolete")
    if isinstance(obs, dict):
        what = f"{obs.get('function')}() is gone"
        what += f" from {obs['file']}" if obs.get("file") else ""
        what += f" (removed by {obs['removed_by']})" if obs.get("removed_by") else ""
        return what
    return str(obs or "the patched code is gone")


def stop_verdict(applied: dict[str, Any]) -> Verdict:
    """The verdict of a review that stopped after apply: the outcome and its evidence."""
    outcome = apply_outcome(applied)
    evidence = [e for e in applied.get("evidence") or [] if isinstance(e, dict)]
    # The most precise place first: a function and line, then any location.
    located = sorted((e for e in evidence if _where(e)),
                     key=lambda e: (not (e.get("function") and e.get("line")), not e.get("line")))
    where = _where(located[0]) if located else ""
    at = f" ({where})" if where else ""
    v = Verdict(status=outcome, exit_code=RESULT_EXIT.get(outcome, 1))
    missing = ", ".join(map(str, applied.get("missing_parts") or []))
    if outcome == "already-applied":
        v.headline = f"Already applied: the tree has this change{at}"
    elif outcome == "needs-prereq":
        v.headline = (f"Needs a prerequisite: part {missing} of the series is missing"
                      if missing else "Needs a prerequisite the tree does not have") + at
    elif outcome == "not-applicable" and applied.get("obsolete"):
        obs = applied["obsolete"]
        fn = f" ({obs.get('function')}() no longer exists)" if isinstance(obs, dict) else ""
        v.headline = f"Not applicable to this tree: the code it changes is gone{fn}"
    elif outcome == "not-applicable":
        v.headline = f"Not applicable to this tree: it needs code the tree does not have{at}"
    else:
        v.headline = f"Conflict: the code the patch changes differs in this tree{at}"
    reasons = []
    if applied.get("obsolete"):
        reasons.append(f"obsolete on this tree: {obsolete_text(applied)}")
    if missing:
        reasons.append(f"missing part(s) of the series: {missing}")
    failure = applied.get("failure")
    if isinstance(failure, dict) and failure.get("reason") and not evidence:
        reasons.append(f"{failure.get('file', '')}: {failure['reason']}".lstrip(": "))
    reasons += evidence_lines(applied)
    reasons.append("review stopped after apply: nothing to analyse, build or run")
    v.reasons = reasons
    return v
