"""results.json: KCIDB-style objects (checkouts, builds, tests) plus kpatchkit's own summary.

The ``kpatchkit`` object at the top is what a CI job reads first: the verdict, whether the
patch's claim was reproduced (from the scenarios' expectations, never hard-coded), the faults per
COW write per scenario, and the count of new findings.
"""

from __future__ import annotations

import hashlib
from typing import Any

from kpatchkit.records.review import ReviewResult
from kpatchkit.report.judge import apply_outcome, evidence_lines, stops_after_apply

ORIGIN = "kpatchkit"
KCIDB_VERSION = {"major": 4, "minor": 3}
_STATUS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "timeout": "ERROR", "skip": "SKIP"}


def _id(*parts: str) -> str:
    return f"{ORIGIN}:" + ":".join(p for p in parts if p)


def patchset_hash(diffs: list[str]) -> str:
    """KCIDB's patchset hash: sha256 over the newline-joined sha256 of each patch."""
    inner = "".join(hashlib.sha256(d.encode()).hexdigest() + "\n" for d in diffs)
    return hashlib.sha256(inner.encode()).hexdigest() if diffs else ""


def summary(result: ReviewResult) -> dict[str, Any]:
    """The machine-readable answer: verdict, claim, findings, per-scenario numbers."""
    v = result.verdict
    return {
        "run_id": result.run_id,
        "verdict": v.status,
        "exit_code": v.exit_code,
        "headline": v.headline,
        "reasons": v.reasons,
        "claim": v.claim,
        "claim_reproduced": v.claim == "reproduced",
        "new_findings": v.new_findings,
        "has_new_findings": v.new_findings > 0,
        "introduced_failures": v.introduced_failures,
        "apply_result": (result.applied or {}).get("result"),
        "apply_evidence": evidence_lines(result.applied),
        "stopped_after_apply": stops_after_apply(result.applied),
        "claim_basis": result.claim_basis,
        "faults_per_cow_write": {
            s.scenario: {"base": s.base, "patched": s.patched, "outcome": s.outcome,
                         "control": not s.is_claim,
                         "expected_base": s.expect_base.to_json() if s.expect_base else None,
                         "expected_patched": s.expect_patched.to_json() if s.expect_patched
                         else None,
                         "check": s.check, "claim": s.claim, "claim_status": s.claim_status,
                         "tolerance": s.tolerance}
            for s in result.scenarios},
        "claims": result.claims,
    }


def build_results(result: ReviewResult, *, patch_diffs: list[str] | None = None) -> dict[str, Any]:
    """Return the results.json object."""
    applied = result.applied or {}
    run = result.run or {}
    checkouts, builds, tests = [], [], []
    tree = result.tree or {}
    kernels = {k.get("name"): k for k in run.get("kernels") or []}
    for name, commit in (("base", applied.get("base_commit") or tree.get("head", "")),
                         ("patched", applied.get("patched_commit", ""))):
        if name == "patched" and not applied:
            continue
        k = kernels.get(name, {})
        commit = k.get("commit") or commit or ""
        co_id = _id(result.run_id, name)
        co: dict[str, Any] = {
            "id": co_id, "origin": ORIGIN, "tree_name": tree.get("name", ""),
            "git_repository_url": "", "git_commit_hash": commit,
            "git_commit_name": f"v{tree.get('version', '')}" if tree.get("version") else "",
            "start_time": result.created, "valid": bool(commit) or name == "base",
            "misc": {"kernel": name, "tree_kind": tree.get("kind", "")},
        }
        if name == "patched":
            co["patchset_hash"] = (patchset_hash(patch_diffs) if patch_diffs
                                   else result.series.patchset_hash)
            co["patchset_files"] = [{"name": f"{p.index:04d}.patch", "url": ""}
                                    for p in result.series.patches]
            co["message_id"] = (result.series.cover_message_id
                                or (result.series.patches[0].message_id
                                    if result.series.patches else ""))
            co["comment"] = result.series.title
            co["valid"] = apply_outcome(applied) in ("applied", "ported")
        for key in [k for k, val in co.items() if val in ("", None)]:
            del co[key]  # KCIDB omits unknown fields rather than sending empty strings
        checkouts.append(co)
        if k:
            builds.append({
                "id": _id(result.run_id, name, "build"), "checkout_id": co_id, "origin": ORIGIN,
                "architecture": "x86_64", "config_name": k.get("config_hash", ""),
                "duration": float(k.get("build_seconds") or 0), "valid": True,
                "start_time": result.created, "misc": {"kernel": name, **{
                    kk: vv for kk, vv in k.items() if kk not in ("name",)}},
            })
    build_ids = {b["misc"]["kernel"]: b["id"] for b in builds}
    for r in result.results():
        kernel = str(r.get("kernel", ""))
        test = {
            "id": _id(result.run_id, kernel, str(r.get("test", ""))),
            "build_id": build_ids.get(kernel, _id(result.run_id, kernel, "build")),
            "origin": ORIGIN,
            "path": "kvm." + str(r.get("test", "")).replace("/", "."),
            "status": _STATUS.get(str(r.get("result")), "ERROR"),
            "duration": float(r.get("seconds") or 0),
            "start_time": result.created,
            "misc": {"kernel": kernel, "result": r.get("result"),
                     "faults_per_cow_write": r.get("faults_per_cow_write"),
                     "stats": r.get("stats") or {}, "metrics": r.get("metrics") or {},
                     "splats": r.get("splats") or []},
        }
        tests.append(test)
    return {"version": KCIDB_VERSION, "kpatchkit": summary(result),
            "checkouts": checkouts, "builds": builds, "tests": tests}
