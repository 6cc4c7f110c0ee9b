"""findings.sarif: a review's analysis findings as SARIF 2.1.0 (kpatchkit.sarif writes it).

Validated against schemas/sarif-schema-2.1.0.json in the tests.
"""

from __future__ import annotations

from typing import Any

from kpatchkit.records.review import ReviewResult
from kpatchkit.sarif import to_sarif


def build_sarif(result: ReviewResult) -> dict[str, Any]:
    """Return the SARIF log object for a review's analysis."""
    applied, tree = result.applied, result.tree
    return to_sarif(
        result.findings(),
        base=applied.base_commit if applied is not None else "",
        head=(applied.patched_commit or "") if applied is not None else "",
        properties={"run_id": result.run_id},
        root=f"the kernel tree {tree.name if tree is not None else ''} at the patched commit",
        not_run="the analysis stage did not run" if result.analysis is None else "")
