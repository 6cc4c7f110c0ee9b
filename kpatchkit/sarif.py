"""SARIF 2.1.0 logs of analysis findings: the one writer behind ``kpatchkit analyze --sarif``
and a review's findings.sarif (baselineState new/absent/unchanged, a code flow per trace, the
evidence of a finding as result properties)."""

from __future__ import annotations

from typing import Any

from kpatchkit import __version__
from kpatchkit.records.checks import CHECKS
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


def _rules(findings: list[Finding]) -> list[dict[str, Any]]:
    rules = [{"id": str(c.id), "name": c.name.title().replace(" ", ""),
              "shortDescription": {"text": c.name},
              "fullDescription": {"text": c.description},
              "defaultConfiguration": {"level": "error"}} for c in CHECKS.values()]
    for check in dict.fromkeys(f.check for f in findings if f.check not in CHECKS):
        # a record from an older kpatchkit may name a check this one no longer has
        rules.append({"id": check, "shortDescription": {"text": check}})
    return rules


def _result(f: Finding, index: dict[str, int]) -> dict[str, Any]:
    res: dict[str, Any] = {
        "ruleId": f.check,
        "ruleIndex": index[f.check],
        "level": "note" if f.status == "fixed" else "error",
        "message": {"text": f.message or f.check},
        "locations": [_loc(f.file or "unknown", f.line, f.function)],
        "partialFingerprints": {"kpatchkit/v1": f.id or f"{f.check}:{f.function}"},
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
            {"location": _loc(f.file or "unknown", t.line, f.function,
                              f"{t.state}{' — ' + t.note if t.note else ''}")}
            for t in trace]}]}]
    return res


def to_sarif(findings: list[Finding], *, base: str = "", head: str = "",
             properties: dict[str, Any] | None = None, root: str = "kernel tree root",
             not_run: str = "") -> dict[str, Any]:
    """A SARIF log with one rule per check id and a code flow per finding's trace.

    ``not_run`` says why no analysis ran (recorded as an unsuccessful invocation).
    """
    rules = _rules(findings)
    index = {r["id"]: i for i, r in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "kpatchkit-analyze", "version": __version__,
                            "informationUri": "https://www.kernel.org/doc/html/latest/virt/kvm/",
                            "rules": rules}},
        "results": [_result(f, index) for f in findings],
        "originalUriBaseIds": {"SRCROOT": {"description": {"text": root}}},
    }
    props = {**({"base": base, "head": head} if base or head else {}), **(properties or {})}
    if props:
        run["properties"] = props
    if not_run:
        run["invocations"] = [{"executionSuccessful": False, "toolExecutionNotifications": [
            {"message": {"text": not_run}}]}]
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
