"""SARIF 2.1.0 output of ``kpatchkit analyze --sarif FILE``."""

from __future__ import annotations

from typing import Any

from kpatchkit import __version__
from kpatchkit.analyze.checks import CHECKS
from kpatchkit.records.findings import Finding

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_BASELINE = {"new": "new", "fixed": "absent", "unchanged": "unchanged"}


def _loc(file: str, line: int, function: str = "", text: str = "") -> dict[str, Any]:
    loc: dict[str, Any] = {"physicalLocation": {
        "artifactLocation": {"uri": file, "uriBaseId": "SRCROOT"},
        "region": {"startLine": max(int(line or 1), 1)}}}
    if function:
        loc["logicalLocations"] = [{"name": function, "kind": "function"}]
    if text:
        loc["message"] = {"text": text}
    return loc


def to_sarif(findings: list[Finding], *, base: str = "", head: str = "") -> dict[str, Any]:
    """A SARIF log with one rule per check id and a code flow per finding's trace."""
    rule_ids = list(CHECKS)
    rules = [{"id": c.id, "name": c.name.title().replace(" ", ""),
              "shortDescription": {"text": c.name},
              "fullDescription": {"text": c.description},
              "defaultConfiguration": {"level": "error"}} for c in CHECKS.values()]
    results = []
    for f in findings:
        res: dict[str, Any] = {
            "ruleId": f.check,
            "ruleIndex": rule_ids.index(f.check) if f.check in rule_ids else 0,
            "level": "error" if f.status in ("", "new", "unchanged") else "note",
            "message": {"text": f.message},
            "locations": [_loc(f.file, f.line, f.function)],
            "partialFingerprints": {"kpatchkit/v1": f.id},
        }
        if f.status in _BASELINE:
            res["baselineState"] = _BASELINE[f.status]
        evidence = [t.note for t in f.trace if t.state == "evidence"]
        if evidence:
            # The annotation, contract or rule behind the finding, with its kernel source.
            res["properties"] = {"evidence": evidence}
        trace = [t for t in f.trace if t.state != "evidence"]
        if trace:
            res["codeFlows"] = [{"threadFlows": [{"locations": [
                {"location": _loc(f.file, t.line, f.function,
                                  f"{t.state}{' — ' + t.note if t.note else ''}")}
                for t in trace]}]}]
        results.append(res)
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "kpatchkit-analyze", "version": __version__,
                            "informationUri": "https://example.invalid/kpatchkit",
                            "rules": rules}},
        "results": results,
        "originalUriBaseIds": {"SRCROOT": {"description": {"text": "kernel tree root"}}},
    }
    if base or head:
        run["properties"] = {"base": base, "head": head}
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
