"""Hand-written review records for the report tests: the stage records as the stages make them
(records/applied.py, findings.py, gentests.py, results.py), with numbers a test can vary."""

from __future__ import annotations

import copy
from pathlib import Path

from kpatchkit.records.applied import (
    Applied,
    BaseResolution,
    BlobCheck,
    CommitInfo,
    CompileCheck,
    DriftUse,
    Evidence,
    ObsoleteInfo,
)
from kpatchkit.records.findings import CallContext, Finding, TraceStep
from kpatchkit.records.gentests import GeneratedTest
from kpatchkit.records.results import KernelRun, Splat, TestResult
from kpatchkit.records.review import (
    PatchInfo,
    ReviewAnalysis,
    ReviewResult,
    ReviewRun,
    SeriesInfo,
    StageRun,
)
from kpatchkit.records.tree import TreeInfo

COW_EXPECT = {"base": {"faults_per_cow_write": {"min": 1.8, "max": 2.2}},
              "patched": {"faults_per_cow_write": {"max": 1.05}}}
REFERENCE_MSGID = "20230808085431.14814-1-yan.y.zhao@intel.com"  # the claim's 2/2
CONTROL_EXPECT = {"control": True, "base": {"faults_per_cow_write": {"min": 0.95, "max": 1.1}},
                  "patched": {"faults_per_cow_write": {"min": 0.95, "max": 1.1}}}
TDP_MMU = "arch/x86/kvm/mmu/tdp_mmu.c"


def result(kernel: str, test: str, res: str, fpcw: float | None, **extra) -> TestResult:
    """One test's result as the run stage records it."""
    return TestResult(kernel=kernel, test=test, result=res, seconds=3.25,
                      stats={"pf_taken": 2048 if fpcw == 2.0 else 1024},
                      faults_per_cow_write=fpcw, **extra)


def generated(name: str, scenario: str, expectations: dict) -> GeneratedTest:
    """A rendered scenario as gen-tests records it."""
    return GeneratedTest(name=name, c_path=Path(f"x/{name}.c"), scenario=scenario,
                         expectations=copy.deepcopy(expectations))


def splat(title: str, function: str, kind: str = "suspicious_rcu") -> Splat:
    """A kernel splat as the run stage classifies it."""
    return Splat(kind=kind, title=title, function=function, text="...")


def add_splat(r: ReviewResult, kernel: str, test: str, s: Splat) -> None:
    """A splat seen while ``test`` ran: on the test's result and the kernel's whole list, as
    the run stage records it."""
    s.test = test
    next(x for x in r.run.results if x.kernel == kernel and x.test == test).splats.append(s)
    next(k for k in r.run.kernels if k.name == kernel).splats.append(s)


def set_result(r: ReviewResult, test: str, kernel: str, **fields) -> None:
    """Change the fields of one test's result on one kernel."""
    for res in r.run.results:
        if res.test == test and res.kernel == kernel:
            for key, value in fields.items():
                setattr(res, key, value)


def make_review(subject: str = "KVM: x86/mmu: Prefetch SPTE directly in kvm_set_spte_gfn()",
                base_fpcw: float = 2.0, patched_fpcw: float = 1.0,
                new_findings: int = 0, reference: bool = True) -> ReviewResult:
    """A review shaped like the seed's, with numbers a test can vary.

    ``reference``: patch 2/2 carries the reference series' Message-ID (data/expectations.toml),
    so the scenarios are its claim; False makes it another series (regression checks).
    """
    findings = [Finding(id="rcu-1", check="rcu-unlock-without-lock", function="f",
                        file=TDP_MMU, line=100 + i, status="new",
                        message="rcu_read_unlock() without rcu_read_lock()",
                        trace=[TraceStep(98, "rcu=0"), TraceStep(100 + i, "rcu=-1")])
                for i in range(new_findings)]
    findings.append(Finding(id="u1", check="lock-leak", function="g", status="unchanged",
                            file=TDP_MMU, line=7, message="old one"))
    results = []
    for kernel, v in (("base", base_fpcw), ("patched", patched_fpcw)):
        results += [result(kernel, "cow_anon_thp_off", "pass", v),
                    result(kernel, "cow_anon_thp_on", "pass", v + 0.002),
                    result(kernel, "write_only", "pass", 1.0),
                    result(kernel, "demand_paging_test", "pass", None),
                    result(kernel, "svm_nested_soft_inject_test", "fail", None,
                           known="TCG has no nRIP save")]
    return ReviewResult(
        run_id="test-run", created="2026-11-26T05:00:00Z", tool_version="0.1.0",
        tree=TreeInfo(name="deb61", path=Path("/cache/trees/deb61"), version="6.1.x",
                      kind="tarball", origin="/usr/src/linux-source-6.1.tar.xz", head="a" * 40),
        series=SeriesInfo(title=subject, source="series.mbox", version=1, total=2,
                          cover_message_id="cover@example.org",
                          patches=[PatchInfo(1, 2, "KVM: x86/mmu: Remove dead code", "Yan Zhao",
                                             "yan@example.org", "2023-08-08", "p1@example.org",
                                             "https://lore.kernel.org/r/p1@example.org", 1, 20),
                                   PatchInfo(2, 2, subject, "Yan Zhao", "yan@example.org",
                                             "2023-08-08", REFERENCE_MSGID if reference
                                             else "p2@example.org", "", 30, 5)]),
        applied=Applied(
            result="ported", tree="deb61", tree_version="6.1.x", repo="/cache/trees/deb61",
            # the blob's path left out: the summary line names the blob alone
            base=BaseResolution(found=False, method="blob", commit="a" * 40,
                                blobs=[BlobCheck(path="", blob="6250bd3d20c1", patch="2/2")]),
            base_commit="a" * 40, patched_commit="d" * 40, worktree="/cache/wt",
            branch="kpatchkit/review",
            commits=[CommitInfo("b" * 40, "remove", "patch"),
                     CommitInfo("c" * 40, subject, "patch"),
                     CommitInfo("d" * 40, "port", "port", method="drift")],
            drift_rules=[DriftUse("range-arg-pte", "range->arg.pte", "range->pte",
                                  "struct kvm_gfn_range has no arg"),
                         DriftUse("tdp_mmu_iter_set_spte", "tdp_mmu_set_spte",
                                  "tdp_mmu_iter_set_spte", "6.1 names it so")],
            port_diff="--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,2 @@\n-\trange->arg.pte\n"
                      "+\trange->pte\n context\n",
            compile=CompileCheck(status="ok", ok=True, seconds=12.5)),
        analysis=ReviewAnalysis(
            tree="deb61", base="a" * 40, head="d" * 40, mode="real", files=[TDP_MMU],
            findings=findings,
            added_calls=[CallContext("kvm_tdp_mmu_set_spte_gfn", "tdp_mmu_set_spte", 1250,
                                     {"mmu_lock": "write", "rcu": 1, "spinlocks": [],
                                      "preempt_off": False, "irqs_off": False, "walks": [],
                                      "paths": 1, "needs": []})]),
        tests=[generated("cow_anon_thp_off", "anon read-then-write, THP off", COW_EXPECT),
               generated("cow_anon_thp_on", "anon read-then-write, THP on", COW_EXPECT),
               generated("write_only", "write-only fresh pages (control)", CONTROL_EXPECT)],
        run=ReviewRun(tree="deb61", accel="tcg",
                      kernels=[KernelRun("base", "a" * 40, "cfg1", 230.0),
                               KernelRun("patched", "d" * 40, "cfg1", 14.0)],
                      results=results),
        stages=[StageRun("fetch", "ok", 0.2, "k1"), StageRun("apply", "cached", 0.01, "k2"),
                StageRun("run", "ok", 400.0, "k3")],
        provenance={"tree": "deb61 6.1.x", "qemu": ["qemu-system-x86_64", "-accel", "tcg"],
                    "tool": "kpatchkit 0.1.0"},
    )


# Reviews that stop after apply: one per outcome, with evidence as kpatchkit apply records it
# (records/applied.py Evidence) for real mails of ../shared/fixtures/kvm-mmu-mails.
_EVIDENCE = {
    "already-applied": [
        Evidence(kind="hunk-present", patch="1/1", file="arch/x86/kvm/mmu/mmu.c", hunk=1,
                 line=45, text="the tree already has '#include <linux/kstrtox.h>'"),
        Evidence(kind="hunk-present", patch="1/1", file="arch/x86/kvm/mmu/mmu.c", hunk=2,
                 function="set_nx_huge_pages", line=6700,
                 text="the post-image 'else if (kstrtobool(val, &new_val) < 0) {' is in the "
                      "tree"),
    ],
    "needs-prereq": [
        Evidence(kind="missing-symbol", patch="2/2", file="arch/x86/kvm/mmu/mmu.c", hunk=1,
                 function="kvm_recover_nx_lpages", line=7013,
                 text="kvm->nr_memslots_dirty_logging is used but defined nowhere in the tree"),
        Evidence(kind="missing-part", patch="1/2", text="patch 1/2 of the series is not here"),
    ],
    "not-applicable": [
        Evidence(kind="missing-file", patch="1/1", file="virt/kvm/guest_memfd.c", hunk=1,
                 function="kvm_gmem_fault_user_mapping",
                 text="virt/kvm/guest_memfd.c does not exist in the tree"),
    ],
    "conflict": [
        Evidence(kind="hunk-conflict", patch="1/1", file=TDP_MMU, hunk=1,
                 function="tdp_mmu_zap_leafs", line=722,
                 text="the context of hunk 1 differs from the tree's tdp_mmu_zap_leafs()",
                 hunk_text="@@ -722,3 +722,3 @@\n-\tgfn_t end = min(end, tdp_mmu_max_gfn());\n"
                           "+\tgfn_t end = min(end, tdp_mmu_max_gfn_exclusive());\n",
                 target_text="\tend = min(end, tdp_mmu_max_gfn_exclusive());\n"),
    ],
}
OBSOLETE = ObsoleteInfo(function="kvm_tdp_mmu_set_spte_gfn", file=TDP_MMU, patch="1/2")


def make_stopped(outcome: str, *, obsolete: bool = False) -> ReviewResult:
    """A review that stopped after apply with ``outcome`` (one of STOPS_AFTER_APPLY)."""
    r = make_review(reference=False)
    evidence = copy.deepcopy(_EVIDENCE[outcome])
    if obsolete:
        evidence = [Evidence(kind="missing-function", patch="1/2", file=TDP_MMU,
                             function="kvm_tdp_mmu_set_spte_gfn",
                             text="kvm_tdp_mmu_set_spte_gfn() does not exist in the tree")]
    r.applied = Applied(
        result=outcome, tree="deb61", tree_version="6.1.x", repo="/cache/trees/deb61",
        base=BaseResolution(found=False, method="head", commit="a" * 40),
        base_commit="a" * 40, patched_commit=None, worktree=None, branch=None,
        obsolete=copy.deepcopy(OBSOLETE) if obsolete else None, evidence=evidence,
        missing_parts=["1/2"] if outcome == "needs-prereq" else [])
    r.analysis, r.tests, r.run, r.excerpts = None, [], None, {}
    r.stages = [StageRun("fetch", "ok", 0.2, "k1"), StageRun("apply", "ok", 4.0, "k2"),
                StageRun("report", "ok", 0.1, "")]
    return r
