"""Hand-written review records for the report tests (the renderers' input is data)."""

from __future__ import annotations

import copy

from kpatchkit.records.review import PatchInfo, ReviewResult, SeriesInfo, StageRun

COW_EXPECT = {"base": {"faults_per_cow_write": {"min": 1.8, "max": 2.2}},
              "patched": {"faults_per_cow_write": {"max": 1.05}}}
REFERENCE_MSGID = "20230808085431.14814-1-yan.y.zhao@intel.com"  # the claim's 2/2
CONTROL_EXPECT = {"control": True, "base": {"faults_per_cow_write": {"min": 0.95, "max": 1.1}},
                  "patched": {"faults_per_cow_write": {"min": 0.95, "max": 1.1}}}


def _result(kernel: str, test: str, result: str, fpcw: float | None, **extra) -> dict:
    return {"kernel": kernel, "test": test, "result": result, "seconds": 3.25,
            "stats": {"pf_taken": 2048 if fpcw == 2.0 else 1024}, "splats": [], "metrics": {},
            "faults_per_cow_write": fpcw, **extra}


def make_review(subject: str = "KVM: x86/mmu: Prefetch SPTE directly in kvm_set_spte_gfn()",
                base_fpcw: float = 2.0, patched_fpcw: float = 1.0,
                new_findings: int = 0, reference: bool = True) -> ReviewResult:
    """A review shaped like the seed's, with numbers a test can vary.

    ``reference``: patch 2/2 carries the reference series' Message-ID (data/expectations.toml),
    so the scenarios are its claim; False makes it another series (regression checks).
    """
    findings = [{"id": "rcu-1", "check": "rcu-unlock-without-lock", "function": "f",
                 "file": "arch/x86/kvm/mmu/tdp_mmu.c", "line": 100 + i, "status": "new",
                 "message": "rcu_read_unlock() without rcu_read_lock()",
                 "trace": [{"line": 98, "state": "rcu=0"}, {"line": 100 + i, "state": "rcu=-1"}]}
                for i in range(new_findings)]
    findings.append({"id": "u1", "check": "lock-leak", "function": "g", "status": "unchanged",
                     "file": "arch/x86/kvm/mmu/tdp_mmu.c", "line": 7, "message": "old one",
                     "trace": []})
    tests = [
        {"name": "cow_anon_thp_off", "scenario": "anon read-then-write, THP off",
         "c_path": "x/cow_anon_thp_off.c", "expectations": COW_EXPECT},
        {"name": "cow_anon_thp_on", "scenario": "anon read-then-write, THP on",
         "c_path": "x/cow_anon_thp_on.c", "expectations": COW_EXPECT},
        {"name": "write_only", "scenario": "write-only fresh pages (control)",
         "c_path": "x/write_only.c", "expectations": CONTROL_EXPECT},
    ]
    results = []
    for kernel, v in (("base", base_fpcw), ("patched", patched_fpcw)):
        results += [_result(kernel, "cow_anon_thp_off", "pass", v),
                    _result(kernel, "cow_anon_thp_on", "pass", v + 0.002),
                    _result(kernel, "write_only", "pass", 1.0),
                    _result(kernel, "demand_paging_test", "pass", None),
                    _result(kernel, "svm_nested_soft_inject_test", "fail", None,
                            known="TCG has no nRIP save")]
    return ReviewResult(
        run_id="test-run", created="2026-11-26T05:00:00Z", tool_version="0.1.0",
        tree={"name": "deb61", "version": "6.1.x", "kind": "tarball", "head": "a" * 40,
              "origin": "/usr/src/linux-source-6.1.tar.xz", "path": "/cache/trees/deb61"},
        series=SeriesInfo(title=subject, source="series.mbox", version=1, total=2,
                          cover_message_id="cover@example.org",
                          patches=[PatchInfo(1, 2, "KVM: x86/mmu: Remove dead code", "Yan Zhao",
                                             "yan@example.org", "2023-08-08", "p1@example.org",
                                             "https://lore.kernel.org/r/p1@example.org", 1, 20),
                                   PatchInfo(2, 2, subject, "Yan Zhao", "yan@example.org",
                                             "2023-08-08", REFERENCE_MSGID if reference
                                             else "p2@example.org", "", 30, 5)]),
        applied={"result": "ported",
                 "base": {"found": False, "method": "blob", "blobs": ["6250bd3d20c1"],
                          "commit": None},
                 "drift_rules": [{"name": "range-arg-pte"}, {"name": "tdp_mmu_iter_set_spte"}],
                 "worktree": "/cache/wt", "branch": "kpatchkit/review",
                 "commits": [{"sha": "b" * 40, "subject": "remove", "kind": "patch"},
                             {"sha": "c" * 40, "subject": subject, "kind": "patch"},
                             {"sha": "d" * 40, "subject": "port", "kind": "port"}],
                 "port_diff": "--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,2 @@\n-\trange->arg.pte\n"
                              "+\trange->pte\n context\n",
                 "patched_commit": "d" * 40, "base_commit": "a" * 40,
                 "compile": {"ok": True, "seconds": 12.5, "errors": []}, "obsolete": None},
        analysis={"findings": findings,
                  "added_calls": [{"function": "kvm_tdp_mmu_set_spte_gfn",
                                   "call": "tdp_mmu_set_spte", "line": 1250,
                                   "context": "mmu_lock: write, rcu: 1", "note": ""}]},
        tests=copy.deepcopy(tests),
        run={"kernels": [{"name": "base", "commit": "a" * 40, "config_hash": "cfg1",
                          "build_seconds": 230.0},
                         {"name": "patched", "commit": "d" * 40, "config_hash": "cfg1",
                          "build_seconds": 14.0}],
             "results": results, "accel": "tcg"},
        stages=[StageRun("fetch", "ok", 0.2, "k1"), StageRun("apply", "cached", 0.01, "k2"),
                StageRun("run", "ok", 400.0, "k3")],
        provenance={"tree": "deb61 6.1.x", "qemu": ["qemu-system-x86_64", "-accel", "tcg"],
                    "tool": "kpatchkit 0.1.0"},
    )


# Reviews that stop after apply: one per outcome, with evidence shaped like kpatchkit apply's
# (records/applied.py Evidence) for real mails of ../shared/fixtures/kvm-mmu-mails.
_EVIDENCE = {
    "already-applied": [
        {"kind": "hunk-present", "patch": "1/1", "file": "arch/x86/kvm/mmu/mmu.c", "hunk": 1,
         "function": None, "line": 45,
         "text": "the tree already has '#include <linux/kstrtox.h>'"},
        {"kind": "hunk-present", "patch": "1/1", "file": "arch/x86/kvm/mmu/mmu.c", "hunk": 2,
         "function": "set_nx_huge_pages", "line": 6700,
         "text": "the post-image 'else if (kstrtobool(val, &new_val) < 0) {' is in the tree"},
    ],
    "needs-prereq": [
        {"kind": "missing-symbol", "patch": "2/2", "file": "arch/x86/kvm/mmu/mmu.c", "hunk": 1,
         "function": "kvm_recover_nx_lpages", "line": 7013,
         "text": "kvm->nr_memslots_dirty_logging is used but defined nowhere in the tree"},
        {"kind": "missing-part", "patch": "1/2", "text": "patch 1/2 of the series is not here"},
    ],
    "not-applicable": [
        {"kind": "missing-file", "patch": "1/1", "file": "virt/kvm/guest_memfd.c", "hunk": 1,
         "function": "kvm_gmem_fault_user_mapping",
         "text": "virt/kvm/guest_memfd.c does not exist in the tree"},
    ],
    "conflict": [
        {"kind": "hunk-conflict", "patch": "1/1", "file": "arch/x86/kvm/mmu/tdp_mmu.c",
         "hunk": 1, "function": "tdp_mmu_zap_leafs", "line": 722,
         "text": "the context of hunk 1 differs from the tree's tdp_mmu_zap_leafs()",
         "hunk_text": "@@ -722,3 +722,3 @@\n-\tgfn_t end = min(end, tdp_mmu_max_gfn());\n"
                      "+\tgfn_t end = min(end, tdp_mmu_max_gfn_exclusive());\n",
         "target_text": "\tend = min(end, tdp_mmu_max_gfn_exclusive());\n"},
    ],
}
OBSOLETE = {"function": "kvm_tdp_mmu_set_spte_gfn", "file": "arch/x86/kvm/mmu/tdp_mmu.c",
            "patch": "1/2", "removed_by": None, "note": ""}


def make_stopped(outcome: str, *, obsolete: bool = False) -> ReviewResult:
    """A review that stopped after apply with ``outcome`` (one of STOPS_AFTER_APPLY)."""
    r = make_review(reference=False)
    evidence = copy.deepcopy(_EVIDENCE[outcome])
    if obsolete:
        evidence = [{"kind": "missing-function", "patch": "1/2",
                     "file": "arch/x86/kvm/mmu/tdp_mmu.c",
                     "function": "kvm_tdp_mmu_set_spte_gfn",
                     "text": "kvm_tdp_mmu_set_spte_gfn() does not exist in the tree"}]
    r.applied = {"result": outcome, "base": {"found": False, "method": "head",
                                             "commit": "a" * 40},
                 "base_commit": "a" * 40, "patched_commit": None, "worktree": None,
                 "branch": None, "commits": [], "drift_rules": [], "port_diff": "",
                 "compile": None, "obsolete": dict(OBSOLETE) if obsolete else None,
                 "evidence": evidence,
                 "missing_parts": ["1/2"] if outcome == "needs-prereq" else []}
    r.analysis, r.tests, r.run, r.excerpts = None, [], None, {}
    r.stages = [StageRun("fetch", "ok", 0.2, "k1"), StageRun("apply", "ok", 4.0, "k2"),
                StageRun("report", "ok", 0.1, "")]
    return r
