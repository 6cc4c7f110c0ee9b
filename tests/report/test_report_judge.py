"""Verdict and claim logic: computed from results and expectations, never hard-coded."""

from __future__ import annotations

import pytest
from report_samples import add_splat, make_review, set_result, splat

from kpatchkit.records.review import Bound
from kpatchkit.report.judge import finalize, parse_bound, parse_expectations


def test_seed_shape_is_clean_and_reproduced() -> None:
    r = finalize(make_review())
    assert r.verdict.status == "clean" and r.verdict.exit_code == 0
    assert r.verdict.claim == "reproduced"
    outcomes = {s.test: s.outcome for s in r.scenarios}
    assert outcomes == {"cow_anon_thp_off": "reproduced", "cow_anon_thp_on": "reproduced",
                        "write_only": "control-ok"}


def test_claim_not_reproduced_when_patched_still_pays_two_faults() -> None:
    r = finalize(make_review(patched_fpcw=2.0))
    assert r.verdict.claim == "not-reproduced"
    assert r.verdict.exit_code == 1  # the patch does not do what its expectation says


def test_claim_partly_when_base_does_not_show_the_cost() -> None:
    r = finalize(make_review(base_fpcw=1.0))
    assert r.verdict.claim == "not-reproduced"
    assert r.verdict.exit_code == 0  # not the patch's fault: base outside, patched fine


def test_new_findings_give_exit_1() -> None:
    r = finalize(make_review(new_findings=2))
    assert r.verdict.status == "findings" and r.verdict.exit_code == 1
    assert r.verdict.new_findings == 2


def test_failure_on_both_kernels_is_pre_existing_not_introduced() -> None:
    r = finalize(make_review())
    assert r.verdict.introduced_failures == 0


def test_failure_only_on_patched_is_introduced() -> None:
    r = make_review()
    set_result(r, "demand_paging_test", "patched", result="fail")
    finalize(r)
    assert r.verdict.exit_code == 1 and r.verdict.introduced_failures == 1


def test_new_splat_on_patched_is_introduced() -> None:
    r = make_review()
    add_splat(r, "patched", "write_only", splat("suspicious RCU usage",
                                                "kvm_tdp_mmu_set_spte_gfn"))
    finalize(r)
    assert r.verdict.exit_code == 1
    assert any("splat" in x for x in r.verdict.reasons)


@pytest.mark.parametrize("spec, value, inside", [
    (2.0, 2.1, True), (2.0, 1.7, False), ("<= 1.05", 1.05, True), ("<= 1.05", 1.06, False),
    ({"approx": 2, "tol": 0.2}, 1.81, True), ({"min": 1.8}, 1.79, False), ("~1", 1.09, True),
])
def test_bounds(spec, value, inside) -> None:
    assert parse_bound(spec).contains(value) is inside


def test_expectation_shapes_agree() -> None:
    want = {"base": Bound(1.8, 2.2), "patched": Bound(None, 1.05)}
    assert parse_expectations({"faults_per_cow_write": {"base": {"min": 1.8, "max": 2.2},
                                                        "patched": "<=1.05"}}) == want
    assert parse_expectations([{"kernel": "unpatched", "metric": "faults_per_cow_write",
                                "min": 1.8, "max": 2.2},
                               {"kernel": "patched", "max": 1.05}]) == want
    assert parse_expectations({"base_faults_per_cow_write": {"min": 1.8, "max": 2.2},
                               "patched_faults_per_cow_write": {"max": 1.05}}) == want


def test_gentests_contract_shape_and_correctness_only_scenarios() -> None:
    """The shape records/gentests.py documents: {metric: {kernel: bound}, kind, control}."""
    r = make_review()
    r.tests[0].expectations = {"faults_per_cow_write": {"base": {"min": 1.8, "max": 2.2},
                                                           "patched": {"max": 1.05}},
                                  "kind": "claim", "control": False}
    r.tests[2].expectations = {"kind": "correctness"}
    finalize(r)
    by = {s.test: s for s in r.scenarios}
    assert by["cow_anon_thp_off"].outcome == "reproduced" and by["cow_anon_thp_off"].is_claim
    assert by["write_only"].outcome == "passed" and not by["write_only"].is_claim
    assert r.verdict.claim == "reproduced"


def _kernels(r, base="ok", patched="ok", splats=None):
    r.run.kernels[0].outcome = base
    r.run.kernels[1].outcome = patched
    r.run.kernels[1].splats = splats or []
    r.run.kernels[0].splats = []
    return finalize(r)


def test_patched_kernel_panic_is_introduced() -> None:
    r = _kernels(make_review(), patched="panic")
    assert r.verdict.exit_code == 1 and "patched kernel: panic" in r.verdict.reasons[0]


def test_vm_that_does_not_boot_is_infrastructure() -> None:
    assert _kernels(make_review(), patched="no-boot").verdict.exit_code == 3
    assert _kernels(make_review(), base="panic").verdict.exit_code == 3


def test_unattributed_kernel_splat_on_patched_is_introduced() -> None:
    r = _kernels(make_review(), splats=[splat("suspicious RCU usage",
                                              "kvm_tdp_mmu_set_spte_gfn")])
    assert r.verdict.exit_code == 1
    assert any("kvm_tdp_mmu_set_spte_gfn" in x for x in r.verdict.reasons)


def test_known_limit_failing_only_on_patched_is_not_the_patch() -> None:
    r = make_review()
    set_result(r, "svm_nested_soft_inject_test", "base", result="pass")
    assert finalize(r).verdict.exit_code == 0


def test_skipped_scenario_says_why() -> None:
    r = make_review()
    for kernel in ("base", "patched"):
        set_result(r, "cow_anon_thp_on", kernel, result="skip", faults_per_cow_write=None,
                   output="TAP version 13\n1..0 # SKIP KSM is not available")
    finalize(r)
    s = next(x for x in r.scenarios if x.test == "cow_anon_thp_on")
    assert s.outcome == "skipped" and "KSM is not available" in s.reason
    assert r.verdict.claim == "reproduced"  # the other claim scenario still decides
