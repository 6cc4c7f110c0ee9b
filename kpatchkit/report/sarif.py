"""findings.sarif: a review's analysis findings as SARIF 2.1.0 (kpatchkit.sarif writes it).

Validated against schemas/sarif-schema-2.1.0.json in the tests.
"""

from __future__ import annotations

from typing import Any

from kpatchkit.records.findings import Finding
from kpatchkit.records.review import ReviewResult
from kpatchkit.sarif import to_sarif


def _finding(f: dict[str, Any]) -> Finding:
    """A review's stored finding (a dict, maybe hand-edited) as the record."""
    try:
        line = max(int(f.get("line") or 1), 1)
    except (TypeError, ValueError):
        line = 1
    trace = []
    for t in f.get("trace") or []:
        if isinstance(t, dict):
            try:
                trace.append({"line": max(int(t.get("line") or line), 1),
                              "state": str(t.get("state", "")), "note": str(t.get("note", ""))})
            except (TypeError, ValueError):
                continue
    return Finding.from_json({
        "id": str(f.get("id") or ""), "check": str(f.get("check") or "kpatchkit"),
        "function": str(f.get("function") or ""), "file": str(f.get("file") or "unknown"),
        "line": line, "message": str(f.get("message") or ""), "trace": trace,
        "status": str(f.get("status") or "unchanged")})


def build_sarif(result: ReviewResult) -> dict[str, Any]:
    """Return the SARIF log object for a review's analysis."""
    applied = result.applied or {}
    return to_sarif(
        [_finding(f) for f in result.findings() if isinstance(f, dict)],
        base=str(applied.get("base_commit") or ""), head=str(applied.get("patched_commit") or ""),
        properties={"run_id": result.run_id},
        root=f"the kernel tree {result.tree.get('name', '')} at the patched commit",
        not_run="the analysis stage did not run" if result.analysis is None else "")
