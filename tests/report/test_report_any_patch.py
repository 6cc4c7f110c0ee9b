"""Review of any patch: the COW scenarios are the reference series' claim only for that series
(or for what --expect states); for another patch they are regression checks against base, and a
review that stops after apply says which outcome it was, with apply's evidence."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from report_samples import generated, make_review, make_stopped, result, set_result

from kpatchkit.cli import main
from kpatchkit.errors import KpatchkitError
from kpatchkit.records.applied import RESULT_EXIT, STOPS_AFTER_APPLY
from kpatchkit.report.judge import expectation_data, finalize, parse_expect
from kpatchkit.report.junit import render_junit
from kpatchkit.report.kcidb import kpatchkit_summary
from kpatchkit.report.write import write_reports

SCHEMAS = Path(__file__).resolve().parents[2] / "kpatchkit" / "report" / "schemas"


def _by(r):
    return {s.test: s for s in r.scenarios}


def _set(r, test: str, kernel: str, value: float) -> None:
    set_result(r, test, kernel, faults_per_cow_write=value)


# -- reference or not ------------------------------------------------------------------------


def test_the_reference_series_is_found_by_its_message_id_and_keeps_its_claim() -> None:
    r = finalize(make_review())
    assert r.claim_basis.kind == "reference" and "Message-ID" in r.claim_basis.matched
    s = _by(r)["cow_anon_thp_off"]
    assert s.check == "claim" and s.outcome == "reproduced" and s.claim_status == "reproduced"
    assert s.claim.startswith("reference series")
    assert r.verdict.claim == "reproduced"


def test_the_reference_series_is_found_by_subject_under_another_version() -> None:
    r = make_review(reference=False)
    r.series.patches[1].subject = ("[PATCH v2 2/2] KVM: x86/mmu: prefetch SPTE directly in "
                                   "x86 TDP MMU's  change_pte() handler")
    r.series.patches[1].message_id = "v2-resend@example.org"
    assert finalize(r).claim_basis.kind == "reference"


def test_the_reference_is_named_in_data_with_its_source() -> None:
    ref = expectation_data()["reference"]
    assert ref["source"].startswith("https://lore.kernel.org/")
    assert ref["message_ids"] and ref["subjects"]
    reg = expectation_data()["regression"]
    assert reg["tolerance"] > 0 and reg["reason"].strip()


def test_another_patch_that_does_not_touch_cow_is_clean_with_no_claim() -> None:
    """The case issue 13 is about: same faults on both kernels is not a failure."""
    r = finalize(make_review(reference=False, base_fpcw=2.0, patched_fpcw=2.0))
    assert r.verdict.status == "clean" and r.verdict.exit_code == 0, r.verdict.reasons
    assert r.verdict.claim == "no-claim" and "no COW claim" in r.verdict.headline
    for name in ("cow_anon_thp_off", "cow_anon_thp_on"):
        s = _by(r)[name]
        assert (s.check, s.outcome, s.claim, s.claim_status) == (
            "regression", "passed", "no claim", "no-claim")
        assert s.tolerance == 0.1 and "one sample" in s.tolerance_basis
        assert s.expect_patched.max == pytest.approx(s.base + 0.1)
    ctl = _by(r)["write_only"]
    assert ctl.check == "control" and ctl.outcome == "control-ok"  # controls stay checks


def test_a_patch_better_than_base_passes_the_regression_check() -> None:
    r = finalize(make_review(reference=False, patched_fpcw=1.0))
    assert _by(r)["cow_anon_thp_off"].outcome == "passed" and r.verdict.exit_code == 0
    assert r.verdict.claim == "no-claim"


@pytest.mark.parametrize("patched, outcome", [(2.09, "passed"), (2.11, "regressed"),
                                              (3.0, "regressed")])
def test_worse_than_base_beyond_the_tolerance_is_a_failure(patched, outcome) -> None:
    r = make_review(reference=False)
    _set(r, "cow_anon_thp_off", "base", 2.0)
    _set(r, "cow_anon_thp_off", "patched", patched)
    _set(r, "cow_anon_thp_on", "patched", 2.0)
    finalize(r)
    s = _by(r)["cow_anon_thp_off"]
    assert s.outcome == outcome and s.claim == "no claim"
    if outcome == "regressed":
        assert r.verdict.status == "failures" and r.verdict.exit_code == 1
        assert any("cow_anon_thp_off" in x or "THP off" in x for x in r.verdict.reasons)
        assert "worse than base" in s.reason
    else:
        assert r.verdict.exit_code == 0


def test_the_base_spread_measured_by_the_run_is_the_tolerance() -> None:
    r = make_review(reference=False)
    r.run.results.append(result("base", "cow_anon_thp_off", "pass", 2.4))  # a second sample
    _set(r, "cow_anon_thp_off", "patched", 2.5)  # mean base 2.2 + spread 0.4 >= 2.5
    finalize(r)
    s = _by(r)["cow_anon_thp_off"]
    assert s.tolerance == pytest.approx(0.4) and "spread over 2 samples" in s.tolerance_basis
    assert s.outcome == "passed"


def test_a_scenario_can_have_its_own_tolerance_in_data() -> None:
    r = make_review(reference=False)
    r.tests.append(generated("cow_two_vcpus_test", "cow_two_vcpus", r.tests[0].expectations))
    for kernel, v in (("base", 2.0), ("patched", 2.8)):
        r.run.results.append(result(kernel, "cow_two_vcpus_test", "pass", v))
    _set(r, "cow_anon_thp_off", "patched", 2.0)
    _set(r, "cow_anon_thp_on", "patched", 2.0)
    finalize(r)
    s = _by(r)["cow_two_vcpus_test"]
    assert s.tolerance == 1.0 and "two vCPUs" in s.tolerance_basis and s.outcome == "passed"


def test_an_old_record_judges_the_same_without_a_stored_basis(tmp_path) -> None:
    r = finalize(make_review(reference=False))
    data = json.loads(json.dumps(r.to_json()))
    del data["claim_basis"], data["expect"]
    from kpatchkit.records.review import ReviewResult

    again = finalize(ReviewResult.from_json(data))
    assert again.verdict.claim == "no-claim" and again.verdict.exit_code == 0


# -- --expect ----------------------------------------------------------------------------------


def test_expect_makes_a_scenario_the_patch_s_own_claim() -> None:
    r = make_review(reference=False, patched_fpcw=1.0)
    r.expect = {"cow_anon_thp_off": "1.0"}
    finalize(r)
    s, other = _by(r)["cow_anon_thp_off"], _by(r)["cow_anon_thp_on"]
    assert s.check == "claim" and s.outcome == "reproduced" and s.claim.startswith("--expect")
    assert s.expect_base is None and s.expect_patched.contains(1.0)
    assert other.check == "regression" and other.claim == "no claim"
    assert r.claim_basis.kind == "expect" and r.claim_basis.expect["cow_anon_thp_off"]
    assert r.verdict.claim == "reproduced" and r.verdict.exit_code == 0


def test_expect_not_met_is_a_failure_of_the_patch() -> None:
    r = make_review(reference=False, patched_fpcw=2.0)
    r.expect = {"cow_anon_thp_off": "<=1.05"}
    finalize(r)
    assert _by(r)["cow_anon_thp_off"].outcome == "not-reproduced"
    assert r.verdict.claim == "not-reproduced" and r.verdict.exit_code == 1


def test_expect_overrides_the_reference_bound_for_that_scenario() -> None:
    r = make_review(patched_fpcw=1.5)
    r.expect = {"cow_anon_thp_off": "1.5"}
    finalize(r)
    assert _by(r)["cow_anon_thp_off"].outcome == "reproduced"
    assert _by(r)["cow_anon_thp_on"].outcome == "not-reproduced"  # the reference's <= 1.05


@pytest.mark.parametrize("item", ["cow_anon_thp_off", "cow_anon_thp_off=", "=1.0",
                                  "cow_anon_thp_off=fast", "a b=1"])
def test_expect_syntax_errors(item) -> None:
    with pytest.raises(KpatchkitError):
        parse_expect([item])


@pytest.mark.parametrize("item, says", [("cow_anon_thp_off=abc", "VALUE"),
                                        ("no_such_scenario=1.0", "no_such_scenario")])
def test_review_expect_bad_input_is_exit_2_with_one_error_line(tmp_path, lore, capsys,
                                                               item, says) -> None:
    code = main(["review", str(lore / "series.mbox"), "--tree", "deb61", "--expect", item,
                 "-o", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("kpatchkit: error:") and says in err[0]
    assert not (tmp_path / "run").exists()  # refused before any stage ran


def test_report_command_rejudges_with_expect(tmp_path, capsys) -> None:
    r = finalize(make_review(reference=False, patched_fpcw=1.0))
    write_reports(r, tmp_path)
    assert main(["report", str(tmp_path), "--expect", "cow_anon_thp_off=1.0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["claim"] == "reproduced" and out["claim_basis"]["kind"] == "expect"


# -- stopping after apply ------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", STOPS_AFTER_APPLY)
def test_each_stop_outcome_is_the_verdict_with_its_evidence(tmp_path, outcome) -> None:
    r = finalize(make_stopped(outcome))
    v = r.verdict
    assert v.status == outcome and v.exit_code == RESULT_EXIT[outcome]
    evidence = r.applied.evidence
    where = next(f"{Path(e.file).name}:{e.function}:{e.line}" for e in evidence
                 if e.function and e.line) if outcome != "not-applicable" else ""
    assert where in v.headline
    assert any("stopped after apply" in x for x in v.reasons)
    paths = write_reports(r, tmp_path)
    summary = paths["summary.txt"].read_text()
    report = html.unescape(paths["report.html"].read_text())
    assert f"VERDICT: {outcome.upper()}" in summary and f"Verdict: {outcome.upper()}" in report
    for e in evidence:
        assert e.text in " ".join(summary.split()), e.text
        assert e.text in report
    assert "Not run: the review stopped after apply" in report
    results = json.loads(paths["results.json"].read_text())
    k = kpatchkit_summary(results)
    assert k["verdict"] == outcome and k["exit_code"] == RESULT_EXIT[outcome]
    assert k["stopped_after_apply"] is True and len(k["apply_evidence"]) == len(evidence)
    assert [c["valid"] for c in results["checkouts"]] == [True, False]
    etree = pytest.importorskip("lxml.etree")
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "junit-10.xsd")))
    doc = etree.fromstring(paths["junit.xml"].read_bytes())
    schema.assertValid(doc)
    apply = next(s for s in doc.iter("testsuite") if s.get("name") == "apply")
    bad = int(apply.get("failures")) + int(apply.get("errors"))
    assert bad == (0 if outcome == "already-applied" else 1)


def test_needs_prereq_names_the_missing_part() -> None:
    v = finalize(make_stopped("needs-prereq")).verdict
    assert "part 1/2 of the series is missing" in v.headline and v.exit_code == 2


def test_not_applicable_because_the_code_is_gone_keeps_the_obsolete_wording(tmp_path) -> None:
    r = finalize(make_stopped("not-applicable", obsolete=True))
    assert r.verdict.status == "not-applicable" and r.verdict.exit_code == 1
    assert "the code it changes is gone" in r.verdict.headline
    assert "kvm_tdp_mmu_set_spte_gfn()" in r.verdict.headline
    assert any("kvm_tdp_mmu_set_spte_gfn() is gone" in x for x in r.verdict.reasons)
    report = write_reports(r, tmp_path)["report.html"].read_text()
    assert "no longer exists in this tree" in report


@pytest.mark.parametrize("old, now", [("obsolete", "not-applicable"), ("failed", "conflict")])
def test_stored_results_with_the_old_names_read_as_the_new_outcomes(old, now) -> None:
    r = make_stopped(now)
    r.applied.result = old
    v = finalize(r).verdict
    assert v.status == now and v.exit_code == 1
    assert "<failure" in render_junit(r)


def test_review_tests_option_takes_only_known_selections(capsys) -> None:
    from kpatchkit.cli import main

    assert main(["review", "x.mbox", "--tree", "deb61", "--tests", "bogus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kpatchkit: error:") and "--tests" in err[0]


def test_review_passes_the_selection_and_cache_choice_to_the_run_stage(monkeypatch,
                                                                        tmp_path) -> None:
    """--tests auto and --no-cache reach run_kernels (upstream='auto', use_cache=False) with
    the review's run id, so a reused base names the review it came from."""
    from kpatchkit.records.results import RunReport
    from kpatchkit.records.review import ReviewRun
    from kpatchkit.review import stages

    seen = {}

    def fake_run_kernels(tree, **kw):
        seen.update(kw)
        return RunReport(tree="deb61", accel="tcg")

    monkeypatch.setattr(stages, "run_kernels", fake_run_kernels)
    applied = make_review().applied
    run = stages.run(object(), applied, [], jobs=2, work_dir=tmp_path, selection="auto",
                     use_cache=False, run_id="r1")
    assert seen["upstream"] == "auto" and seen["use_cache"] is False and seen["run_id"] == "r1"
    assert (seen["base"], seen["patched"]) == ("a" * 40, "d" * 40)
    assert isinstance(run, ReviewRun) and run.engine is None
    stages.run(object(), applied, [], jobs=2, work_dir=tmp_path)
    assert seen["upstream"] is True and seen["use_cache"] is True
