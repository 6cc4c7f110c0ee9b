"""The five report files render from a review record, HTML is self-contained and escaped."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from report_samples import make_review

from kpatchkit.records.applied import BlobCheck, CompileCheck, CompileError
from kpatchkit.records.claims import ClaimVerdict
from kpatchkit.records.findings import TraceStep
from kpatchkit.report.html import CSP, render_report
from kpatchkit.report.judge import finalize
from kpatchkit.report.junit import render_junit
from kpatchkit.report.kcidb import kpatchkit_summary
from kpatchkit.report.write import FILES, load_review, write_reports

XSS = "<script>alert(1)</script>"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    return p


def test_all_files_written_and_review_round_trips(tmp_path, review) -> None:
    paths = write_reports(review, tmp_path)
    for name in FILES:
        assert paths[name].stat().st_size > 200, name
    again = load_review(tmp_path)
    assert again.verdict == review.verdict
    assert again.scenarios == review.scenarios


def test_html_has_csp_no_script_no_external_loads(review) -> None:
    page = _parse(render_report(review))
    metas = [a for t, a in page.tags if t == "meta" and a.get("http-equiv")]
    assert metas and metas[0]["content"] == CSP
    assert "script-src" not in CSP and "default-src 'none'" in CSP
    assert not [t for t, _ in page.tags if t in ("script", "iframe", "object", "embed", "link")]
    for tag, attrs in page.tags:
        if tag != "a":  # links are navigation, not loads
            for key in ("src", "href", "srcset", "data"):
                assert key not in attrs, (tag, attrs)


def test_html_sections_verdict_and_chart_first(review) -> None:
    html = render_report(review)
    order = [html.index(f'id="{s}"') for s in
             ("verdict", "effect", "series", "apply", "analysis", "matrix", "splats", "claims",
              "timings", "provenance")]
    assert order == sorted(order)
    text = " ".join(_parse(html).text)
    assert "Verdict: CLEAN" in text and "reproduced" in text
    assert "6250bd3d20c1" in text and "tdp_mmu_set_spte" in text
    assert "pre-existing" in text  # the test failing on both kernels
    assert "<svg" in html and "faults per COW write" in html


def test_hostile_subject_is_text(review) -> None:
    r = finalize(make_review(subject=XSS))
    r.series.patches[0].author = '"><img src=x onerror=alert(2)>'
    html = render_report(r)
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = _parse(html)
    assert not [t for t, _ in page.tags if t in ("script", "img")]
    assert XSS in " ".join(page.text)


def test_results_json_says_claim_and_findings(tmp_path, review) -> None:
    write_reports(review, tmp_path)
    res = json.loads((tmp_path / "results.json").read_text())
    k = kpatchkit_summary(res)
    assert k["claim_reproduced"] is True and k["new_findings"] == 0
    assert k["faults_per_cow_write"]["anon read-then-write, THP off"]["base"] == 2.0
    assert {c["misc"]["kernel"] for c in res["checkouts"]} == {"base", "patched"}
    selftests = [t for t in res["tests"] if t["path"] != "boot"]
    assert len(selftests) == 10 and {t["status"] for t in selftests} == {"PASS", "FAIL"}
    assert [t["misc"]["kernel"] for t in res["tests"] if t["path"] == "boot"] == ["base",
                                                                                  "patched"]
    assert all(t["build_id"] in {b["id"] for b in res["builds"]} for t in res["tests"])


def test_results_json_flags_regression(tmp_path) -> None:
    r = finalize(make_review(patched_fpcw=1.9, new_findings=1))
    write_reports(r, tmp_path)
    k = kpatchkit_summary(json.loads((tmp_path / "results.json").read_text()))
    assert k["claim_reproduced"] is False and k["has_new_findings"] is True
    assert k["exit_code"] == 1


def test_summary_is_a_mail_reply(review) -> None:
    from kpatchkit.report.summary import render_summary

    text = render_summary(review)
    lines = text.splitlines()
    assert lines[0].startswith("Subject: Re: [PATCH 0/2] KVM: x86/mmu:")
    assert "In-Reply-To: <cover@example.org>" in lines
    assert "Hi Yan," in lines
    assert any("VERDICT: CLEAN" in x for x in lines)
    assert "-- " in lines  # signature separator
    assert max(len(x) for x in lines) <= 100


def test_claims_table_renders_issue8_records(review) -> None:
    from kpatchkit.report.summary import render_summary

    review.claims = [ClaimVerdict(
        id="seabios", statement="17000+ TDP faults saved per boot (SeaBIOS)", claimed=17000.0,
        claim_config="8 vCPU, 16 GB", our_config="1 vCPU, 2048 MB", measured=4.0,
        measured_detail="4 ± 2 saved per boot", verdict="not reproduced",
        reason="diskless <boot>")]
    html = render_report(review)
    start = html.index('id="claims"')
    part = html[start:html.index("</section>", start)]
    assert "17000+ TDP faults" in part and "b-not-reproduced" in part
    assert "diskless &lt;boot&gt;" in part and "4 ± 2 saved per boot" in part
    assert "not reproduced - 4 ± 2 saved per boot" in " ".join(render_summary(review).split())


def test_apply_stage_shape_as_committed_renders(tmp_path, review) -> None:
    """apply's record: blobs with their path, compile skipped (ok None), notes."""
    review.applied.base.blobs = [BlobCheck(path="arch/x86/kvm/mmu/tdp_mmu.c",
                                           blob="6250bd3d20c1", patch="1/2")]
    review.applied.compile = CompileCheck(status="skipped", ok=None, note="compile=False")
    review.applied.notes = ["a <note>"]
    finalize(review)
    assert review.verdict.exit_code == 0  # a skipped compile is not a failed one
    write_reports(review, tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "6250bd3d20c1 (arch/x86/kvm/mmu/tdp_mmu.c)" in html and "a &lt;note&gt;" in html
    assert "compile skipped" in (tmp_path / "summary.txt").read_text()
    junit = (tmp_path / "junit.xml").read_text()
    assert 'testsuite name="apply" tests="2" failures="0" errors="0" skipped="1"' in junit


def test_patchset_hash_survives_rerendering(tmp_path, review) -> None:
    review.series.patchset_hash = "ab" * 32
    write_reports(review, tmp_path)  # no diffs given, as 'kpatchkit report' re-renders
    res = json.loads((tmp_path / "results.json").read_text())
    patched = next(c for c in res["checkouts"] if c["misc"]["kernel"] == "patched")
    assert patched["patchset_hash"] == "ab" * 32


def test_compile_failure_is_shown_and_fails_the_review(review) -> None:
    review.applied.compile = CompileCheck(
        status="failed", ok=False, seconds=3.0,
        errors=[CompileError(file="arch/x86/kvm/mmu/tdp_mmu.c", line=1357, col=5,
                             severity="error", message="implicit declaration of <x>")],
        log="make: *** [tdp_mmu.o] Error 1")
    finalize(review)
    assert review.verdict.exit_code == 1 and "does not compile" in " ".join(review.verdict.reasons)
    html = render_report(review)
    assert "tdp_mmu.c:1357: implicit declaration of &lt;x&gt;" in html and "Error 1" in html
    junit = render_junit(review)  # the error as a line, not a record's repr
    assert "arch/x86/kvm/mmu/tdp_mmu.c:1357: implicit declaration of &lt;x&gt;" in junit
    assert "CompileError(" not in junit


def test_links_are_only_http_or_relative(review) -> None:
    from kpatchkit.report.html import safe_href

    review.series.patches[0].link = "javascript:alert(1)"
    review.series.patches[1].link = "https://lore.kernel.org/r/p2@example.org"
    hrefs = [a.get("href") for t, a in _parse(render_report(review)).tags if t == "a"]
    # The reference series' source (data/expectations.toml) is linked where its claim applies.
    assert hrefs == [review.claim_basis.source, "https://lore.kernel.org/r/p2@example.org"]
    assert [safe_href(u) for u in ("data:text/html,x", "//evil.example/x", "run1/report.html",
                                   " JavaScript:x")] == ["", "", "run1/report.html", ""]


def test_the_tests_patch_is_linked_when_the_review_made_one(review) -> None:
    review.tests_patch = "selftests/cow-tests.patch"
    hrefs = [a.get("href") for t, a in _parse(render_report(review)).tags if t == "a"]
    assert "selftests/cow-tests.patch" in hrefs
    review.tests_patch = "javascript:alert(1)"
    hrefs = [a.get("href") for t, a in _parse(render_report(review)).tags if t == "a"]
    assert not [h for h in hrefs if "javascript" in (h or "")]


def test_new_finding_kinds_show_their_evidence(tmp_path) -> None:
    """rcu-address-space / unguarded-write / order-violation carry the annotation, contract or
    rule (with its kernel source) as an 'evidence' trace step: SARIF properties, HTML line."""
    from kpatchkit.report.sarif import build_sarif

    r = make_review(new_findings=1)
    f = r.analysis.findings[0]
    f.check = "unguarded-write"
    f.trace.append(TraceStep(line=0, state="evidence",
                             note="sp->unsync: mmu_lock write, or mmu_unsync_pages_lock "
                                  "(arch/x86/kvm/mmu/mmu.c:2745)"))
    finalize(r)
    log = build_sarif(r)
    res = next(x for x in log["runs"][0]["results"] if x["ruleId"] == "unguarded-write")
    assert "mmu_unsync_pages_lock" in res["properties"]["evidence"][0]
    steps = res["codeFlows"][0]["threadFlows"][0]["locations"]
    assert all("evidence" not in s["location"]["message"]["text"] for s in steps)
    rules = {x["id"] for x in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {"rcu-address-space", "unguarded-write", "order-violation"} <= rules
    write_reports(r, tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "evidence: sp-&gt;unsync: mmu_lock write, or mmu_unsync_pages_lock" in html


def test_reused_base_and_test_selection_are_said(tmp_path) -> None:
    """The run stage's results cache and --tests auto: the report says what did not run here."""
    from kpatchkit.report.summary import render_summary

    r = make_review(reference=False)
    r.run.kernels[0].reused_from = {"run": "run-A", "key": "k1", "date": "2026-12-07T01:01:00Z"}
    r.run.selection = {"mode": "auto", "affected": [{"test": "dirty_log_test", "why": ["w"]}],
                       "rest": ["cpuid_test", "smm_test"]}
    finalize(r)
    write_reports(r, tmp_path)
    html = (tmp_path / "report.html").read_text()
    summary = " ".join(render_summary(r).split())
    for text in (html, summary):
        assert "base: reused from run run-A (2026-12-07 01:01)" in " ".join(text.split())
        assert "--tests auto: 1 test(s) the patch's files affect first (dirty_log_test)" in \
            " ".join(text.split()).replace("&#39;", "'")
    assert "patched: reused" not in summary
