"""results.json: a KCIDB submission (checkouts, builds, tests) carrying kpatchkit's own summary.

The document validates against KCIDB's I/O schema ``v{major}.{minor}`` of :data:`KCIDB_VERSION`
(checked with the ``kcidb-io`` package in tests/report, never with a copy of the schema), so
``kcidb-submit`` takes it as it is. What KCIDB has no field for lives under ``misc``, which the
schema leaves open:

- the subject checkout's (``patched``, else ``base``) ``misc.kpatchkit`` is the summary a CI job
  reads first: the verdict, whether the patch's claim was reproduced (from the scenarios'
  expectations, never hard-coded), faults per COW write per scenario, the count of new findings
  (:func:`kpatchkit_summary` finds it);
- each build's ``misc`` holds the run stage's kernel record, each test's its stats and metrics.

Patch files link to the archive copy of each mail (``<archive>/<Message-ID>/raw``, what
``git am`` takes), or to the mbox the review wrote (``file://``) when a mail has no Message-ID.
Test paths follow KCIDB's dotted tree: ``boot`` per kernel, ``kselftest.kvm.<program>[.<variant>]``
for the tree's KVM selftests, ``kpatchkit.<scenario>`` for the generated COW tests.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kpatchkit.records.review import ReviewResult
from kpatchkit.records.series import patchset_hash
from kpatchkit.report.judge import apply_outcome, evidence_lines, stops_after_apply

ORIGIN = "kpatchkit"
# The KCIDB I/O schema version results.json is written in (kcidb-io 141: its LATEST).
KCIDB_VERSION = {"major": 5, "minor": 3}
_STATUS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "timeout": "ERROR", "skip": "SKIP"}
_BOOT = {"ok": "PASS", "panic": "FAIL", "hang": "FAIL", "died": "FAIL", "no-boot": "ERROR"}
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_SEGMENT_BAD = re.compile(r"[^a-zA-Z0-9_-]+")
ARCHIVE = "https://lore.kernel.org/r/"  # a mail's archive copy by Message-ID, when no link
PATCH_DIR = "patches"  # <run dir>/patches/NNNN.mbox: the mails as the review read them


def _id(*parts: str) -> str:
    return f"{ORIGIN}:" + ":".join(p for p in parts if p)


def kcidb_path(name: str, *, generated: bool = False) -> str:
    """The KCIDB path of a test: dot-separated segments of ``[a-zA-Z0-9_-]``.

    ``dirty_log_test:clear`` -> ``kselftest.kvm.dirty_log_test.clear``; a program under a
    subdirectory (``x86_64/smm_test``) keeps it as a segment; a generated scenario is
    ``kpatchkit.<name>``.
    """
    parts = [_SEGMENT_BAD.sub("_", p).strip("_") or "_"
             for p in re.split(r"[/:.]", name) if p.strip()]
    prefix = ["kpatchkit"] if generated else ["kselftest", "kvm"]
    return ".".join(prefix + (parts or ["unnamed"]))


def patch_file_name(index: int) -> str:
    """The file a patch of the series is written to under ``<run dir>/patches/``."""
    return f"{index:04d}.mbox"


def kpatchkit_summary(results: dict[str, Any]) -> dict[str, Any]:
    """The ``misc.kpatchkit`` summary of a results.json document ({} when absent)."""
    for co in reversed(results.get("checkouts") or []):
        summary_ = (co.get("misc") or {}).get("kpatchkit")
        if isinstance(summary_, dict):
            return summary_
    return {}


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
        "apply_result": result.applied.result if result.applied is not None else None,
        "apply_evidence": evidence_lines(result.applied),
        "stopped_after_apply": stops_after_apply(result.applied),
        "claim_basis": result.claim_basis.to_json(),
        "faults_per_cow_write": {
            s.scenario: {"base": s.base, "patched": s.patched, "outcome": s.outcome,
                         "control": not s.is_claim,
                         "expected_base": s.expect_base.to_json() if s.expect_base else None,
                         "expected_patched": s.expect_patched.to_json() if s.expect_patched
                         else None,
                         "check": s.check, "claim": s.claim, "claim_status": s.claim_status,
                         "tolerance": s.tolerance}
            for s in result.scenarios},
        "claims": [c.to_json() for c in result.claims],
        "engine": (result.run.engine if result.run is not None else None) or "local",
    }


def _patch_url(link: str, local: Path | None) -> str:
    if link.startswith(("https://", "http://")):
        return link.rstrip("/") + "/raw"
    return local.resolve().as_uri() if local is not None else ""


def _patchset_files(result: ReviewResult, patch_dir: Path | None) -> list[dict[str, str]]:
    files = []
    for p in result.series.patches:
        name = patch_file_name(p.index)
        local = patch_dir / name if patch_dir is not None else None
        link = p.link or (ARCHIVE + quote(p.message_id, safe="@.-_+") if "@" in p.message_id
                          else "")
        url = _patch_url(link, local if local is not None and local.is_file() else None)
        if url:
            files.append({"name": name, "url": url})
    return files


def build_results(result: ReviewResult, *, patch_diffs: list[str] | None = None,
                  patch_dir: Path | None = None) -> dict[str, Any]:
    """Return the results.json object (``patch_dir``: where the review wrote the mails)."""
    applied, tree = result.applied, result.tree
    checkouts, builds, tests = [], [], []
    kernels = {k.name: k for k in (result.run.kernels if result.run is not None else [])}
    origin_url = tree.origin if tree is not None else ""
    head = tree.head if tree is not None else ""
    base_commit = applied.base_commit if applied is not None else ""
    base_run = kernels.get("base")
    base_hash = (base_run.commit if base_run is not None else "") or base_commit or head
    for name, commit in (("base", base_commit or head),
                         ("patched", applied.patched_commit if applied is not None else "")):
        if name == "patched" and applied is None:
            continue
        k = kernels.get(name)
        commit = (k.commit if k is not None else "") or commit or ""
        co_id = _id(result.run_id, name)
        co: dict[str, Any] = {
            "id": co_id, "origin": ORIGIN, "tree_name": tree.name if tree is not None else "",
            "git_repository_url": origin_url if origin_url.startswith("https://") else "",
            # KCIDB's hash is the base the patchset applies to; the patched commit (made in
            # kpatchkit's clone) is kept in misc.
            "git_commit_hash": base_hash if _SHA1.match(base_hash) else "",
            "git_commit_name": f"v{tree.version}" if tree is not None and tree.version else "",
            "start_time": result.created, "valid": bool(commit) or name == "base",
            "misc": {"kernel": name, "tree_kind": tree.kind if tree is not None else "",
                     "commit": commit},
        }
        if name == "patched":
            co["patchset_hash"] = (patchset_hash(patch_diffs) if patch_diffs
                                   else result.series.patchset_hash)
            co["patchset_files"] = _patchset_files(result, patch_dir)
            mid = (result.series.cover_message_id
                   or (result.series.patches[0].message_id if result.series.patches else ""))
            co["message_id"] = mid if "@" in mid else ""
            co["comment"] = result.series.title
            co["valid"] = apply_outcome(applied) in ("applied", "ported")
        for key in [k for k, val in co.items() if val in ("", None, [])]:
            del co[key]  # KCIDB omits unknown fields rather than sending empty strings
        checkouts.append(co)
        if k is not None:
            run = k.to_json()
            del run["name"]
            builds.append({
                "id": _id(result.run_id, name, "build"), "checkout_id": co_id, "origin": ORIGIN,
                "architecture": "x86_64", "config_name": k.config_hash or "kpatchkit",
                "duration": float(k.build_seconds or 0), "status": "PASS",
                "start_time": result.created, "misc": {"kernel": name, **run},
            })
            tests.append({
                "id": _id(result.run_id, name, "boot"),
                "build_id": _id(result.run_id, name, "build"), "origin": ORIGIN,
                "path": "boot", "status": _BOOT.get(k.outcome or "ok", "ERROR"),
                "duration": float(k.boot_seconds or 0), "start_time": result.created,
                "misc": {"kernel": name, "outcome": k.outcome, "detail": k.detail},
            })
    if checkouts:
        checkouts[-1]["misc"]["kpatchkit"] = summary(result)
    build_ids = {b["misc"]["kernel"]: b["id"] for b in builds}
    for r in result.results():
        tests.append({
            "id": _id(result.run_id, r.kernel, r.test),
            "build_id": build_ids.get(r.kernel, _id(result.run_id, r.kernel, "build")),
            "origin": ORIGIN,
            "path": kcidb_path(r.test, generated=r.generated),
            "status": _STATUS.get(r.result, "ERROR"),
            "duration": float(r.seconds or 0),
            "start_time": result.created,
            "misc": {"kernel": r.kernel, "test": r.test, "result": r.result,
                     "known": r.known, "preexisting": r.preexisting,
                     "faults_per_cow_write": r.faults_per_cow_write,
                     "stats": r.stats, "metrics": r.metrics,
                     "splats": [x.to_json() for x in r.splats]},
        })
    return {"version": dict(KCIDB_VERSION), "checkouts": checkouts, "builds": builds,
            "tests": tests}
