"""findings.sarif: the analysis findings as SARIF 2.1.0, with baselineState new/absent/unchanged.

If the analyze stage already produced a SARIF log (key ``sarif`` in its JSON), that is used as is;
otherwise one is built from the differential findings. Validated against
schemas/sarif-schema-2.1.0.json in the tests.
"""

from __future__ import annotations

from typing import Any

from kpatchkit import __version__
from kpatchkit.records.review import ReviewResult

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_BASELINE = {"new": "new", "fixed": "absent", "unchanged": "unchanged"}


def _location(f: dict[str, Any], line: Any = None, message: str | None = None) -> dict[str, Any]:
    try:
        start = max(int(line if line is not None else f.get("line") or 1), 1)
    except (TypeError, ValueError):
        start = 1
    loc: dict[str, Any] = {"physicalLocation": {
        "artifactLocation": {"uri": str(f.get("file") or "unknown"), "uriBaseId": "SRCROOT"},
        "region": {"startLine": start}}}
    if f.get("function"):
        loc["logicalLocations"] = [{"name": str(f["function"]), "kind": "function"}]
    if message:
        loc["message"] = {"text": message}
    return loc


def _result(f: dict[str, Any], rule_index: dict[str, int]) -> dict[str, Any]:
    check = str(f.get("check") or "kpatchkit")
    status = str(f.get("status") or "unchanged")
    res: dict[str, Any] = {
        "ruleId": check, "ruleIndex": rule_index[check],
        "level": "error" if status == "new" else "note",
        "message": {"text": str(f.get("message") or check)},
        "locations": [_location(f)],
        "baselineState": _BASELINE.get(status, "unchanged"),
        "partialFingerprints": {"kpatchkit/v1": str(f.get("id") or f"{check}:{f.get('function')}")},
    }
    trace = [t for t in f.get("trace") or [] if isinstance(t, dict)]
    if trace:
        res["codeFlows"] = [{"threadFlows": [{"locations": [
            {"location": _location(f, t.get("line"), str(t.get("state", "")))} for t in trace]}]}]
    return res


def build_sarif(result: ReviewResult) -> dict[str, Any]:
    """Return the SARIF log object for a review's analysis."""
    given = (result.analysis or {}).get("sarif")
    if isinstance(given, dict) and given.get("version") == "2.1.0":
        return given
    findings = result.findings()
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for f in findings:
        check = str(f.get("check") or "kpatchkit")
        if check not in index:
            index[check] = len(rules)
            rules.append({"id": check, "shortDescription": {"text": check}})
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "kpatchkit-analyze", "version": __version__,
                            "informationUri": "https://www.kernel.org/doc/html/latest/virt/kvm/",
                            "rules": rules}},
        "originalUriBaseIds": {"SRCROOT": {"description": {
            "text": f"the kernel tree {result.tree.get('name', '')} at the patched commit"}}},
        "results": [_result(f, index) for f in findings],
        "properties": {"run_id": result.run_id,
                       "base": (result.applied or {}).get("base_commit", ""),
                       "head": (result.applied or {}).get("patched_commit", "")},
    }
    if result.analysis is None:
        run["invocations"] = [{"executionSuccessful": False,
                               "toolExecutionNotifications": [
                                   {"message": {"text": "the analysis stage did not run"}}]}]
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
