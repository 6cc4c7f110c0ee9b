"""A real patch that is not the reference series, reviewed through every stage on Debian's 6.1.

../shared/fixtures/kvm-mmu-mails/01 rewrites a comment in kvm_mmu_new_pgd() (mmu.c): it applies
as mailed, compiles, and changes nothing on the COW path. The review builds both kernels and
runs the COW scenarios in QEMU; they are regression checks with no claim, and nothing regresses:
the verdict is clean, exit 0. Slow on a cold cache (a patched kernel build, TCG guests).
"""

from __future__ import annotations

import html
import io
import json
import os
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from kpatchkit.cli import main
from kpatchkit.report.kcidb import kpatchkit_summary

pytestmark = [pytest.mark.tree, pytest.mark.build, pytest.mark.vm, pytest.mark.timeout(5400)]
MAIL = "01-applies-new-pgd-comment.eml"



@pytest.fixture(scope="module")
def review_run(deb61, tmp_path_factory) -> tuple[Path, int, dict]:
    mails = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "kvm-mmu-mails"
    out = Path(os.environ.get("KPATCHKIT_ANY_PATCH_REPORT") or tmp_path_factory.mktemp("any"))
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["review", str(mails / MAIL), "--tree", deb61, "-o", str(out), "--json"])
    return out, code, json.loads(buf.getvalue())


def test_a_clean_non_reference_patch_is_clean(review_run) -> None:
    out, code, js = review_run
    assert code == 0 and js["verdict"] == "clean", js["reasons"]
    assert js["apply_result"] == "applied" and js["stopped_after_apply"] is False
    assert js["claim"] == "no-claim" and js["claim_basis"]["kind"] == "none"
    stages = {s["name"]: s["status"]
              for s in json.loads((out / "review.json").read_text())["stages"]}
    assert all(stages.get(n) in ("ok", "cached") for n in
               ("fetch", "apply", "analyze", "gen-tests", "run", "report")), stages


def test_it_analyses_the_file_the_patch_touches(review_run) -> None:
    out, _, _ = review_run
    analysis = json.loads((out / "review.json").read_text())["analysis"]
    assert analysis["files"] == ["arch/x86/kvm/mmu/mmu.c"] and not analysis["errors"]


def test_the_cow_scenarios_are_regression_checks_with_no_claim(review_run) -> None:
    out, _, _ = review_run
    res = kpatchkit_summary(json.loads((out / "results.json").read_text()))
    fpcw = res["faults_per_cow_write"]
    checks = {k: v for k, v in fpcw.items() if not v["control"]}
    assert len(checks) >= 8, fpcw  # the nine scenarios less the control
    measured = {k: v for k, v in checks.items() if v["base"] is not None}
    assert measured, checks
    for name, v in checks.items():
        assert v["check"] == "regression" and v["claim"] == "no claim", name
        assert v["claim_status"] == "no-claim" and v["outcome"] in ("passed", "skipped"), (name, v)
    for name, v in measured.items():
        # Nothing in this patch touches .change_pte(): base's two faults per write stay.
        assert 1.8 <= v["base"] <= 3.0 and v["patched"] <= v["base"] + v["tolerance"], (name, v)
    report = html.unescape((out / "report.html").read_text())
    assert "regression check" in report and "no claim" in report
    assert 'class="badge b-not-reproduced"' not in report  # no claim to fail
    summary = (out / "summary.txt").read_text()
    assert "VERDICT: CLEAN" in summary and "Claim:     no claim" in summary
