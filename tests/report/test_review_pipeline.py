"""`kpatchkit review`: exit codes, report always written, stage store reuse and key checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kpatchkit.cli import main
from kpatchkit.records.gentests import GeneratedTest
from kpatchkit.review.store import StageStore


def test_stage_store_reuses_only_the_same_key(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KPATCHKIT_CACHE", str(tmp_path / "cache"))
    a = StageStore(tmp_path / "run-a")
    a.put("apply", "k1", {"value": {"result": "ported"}})
    assert a.get("apply", "k1") == {"value": {"result": "ported"}}
    assert a.get("apply", "k2") is None
    b = StageStore(tmp_path / "run-b")  # another -o: found through the cache, copied locally
    assert b.get("apply", "k1") == {"value": {"result": "ported"}}
    assert (tmp_path / "run-b" / ".kpatchkit" / "stages" / "apply.json").exists()
    assert StageStore(tmp_path / "run-c", use_cache=False).get("apply", "k1") is None


def test_bad_source_exits_2_and_still_writes_the_report(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code = main(["review", str(tmp_path / "no-such.mbox"), "--tree", "deb61", "-o", str(out),
                 "--json"])
    assert code == 2
    res = json.loads(capsys.readouterr().out)
    assert res["verdict"] == "bad-input" and res["exit_code"] == 2
    for name in ("report.html", "junit.xml", "findings.sarif", "results.json", "summary.txt"):
        assert (out / name).exists(), name
    assert "Verdict: BAD-INPUT" in (out / "report.html").read_text()


def test_unknown_tree_exits_2(tmp_path, lore, capsys) -> None:
    code = main(["review", str(lore / "series.mbox"), "--tree", "no-such-tree-xyz",
                 "-o", str(tmp_path / "run"), "--json"])
    assert code == 2
    res = json.loads(capsys.readouterr().out)
    assert res["verdict"] == "bad-input" and "no-such-tree-xyz" in " ".join(res["reasons"])


def test_jobs_must_be_positive(tmp_path, lore) -> None:
    assert main(["review", str(lore / "series.mbox"), "--tree", "deb61", "-j", "0"]) == 2


def test_reused_generated_tests_are_copied_into_the_run_dir(tmp_path) -> None:
    from kpatchkit.review.pipeline import _localise

    first = tmp_path / "run-a" / "selftests"
    first.mkdir(parents=True)
    (first / "cow_test.c").write_text('#include "cow_util.h"\nint main(void) { return 0; }\n')
    (first / "cow_util.h").write_text("/* helpers */\n")
    tests = [GeneratedTest(name="cow_test", c_path=first / "cow_test.c", scenario="cow",
                           headers=[first / "cow_util.h"])]
    second = tmp_path / "run-b" / "selftests"
    local = _localise(tests, second)
    assert local[0].c_path == second / "cow_test.c"
    assert local[0].headers == [second / "cow_util.h"]
    assert tests[0].c_path == first / "cow_test.c"  # the stored record is left as it was
    assert "int main" in (second / "cow_test.c").read_text()
    assert (second / "cow_util.h").read_text() == "/* helpers */\n"
    (first / "cow_util.h").unlink()
    assert _localise(tests, second) is None  # a test without its header is rendered again
    (first / "cow_util.h").write_text("/* helpers */\n")
    (first / "cow_test.c").unlink()
    # The stored sources are gone: an older file of the same name in run-b is not trusted.
    assert _localise(tests, tmp_path / "run-b" / "selftests") is None


def _tree(name: str, version: str) -> str:
    from kpatchkit.trees.registry import add_tree, resolve_tree

    try:
        resolve_tree(name)
    except Exception:  # noqa: BLE001 - not added on this machine yet (cached once added)
        add_tree(name, f"/usr/src/linux-source-{version}.tar.xz")
    return name


@pytest.mark.tree
def test_seed_alone_needs_its_missing_patch(tmp_path, seed, capsys) -> None:
    code = main(["review", str(seed), "--tree", _tree("deb61", "6.1"), "-o", str(tmp_path),
                 "--json"])
    res = json.loads(capsys.readouterr().out)
    assert code == 2 and res["verdict"] == "needs-prereq" and res["stopped_after_apply"]
    assert "1/2" in res["headline"] and (tmp_path / "report.html").exists()
    stages = json.loads((tmp_path / "review.json").read_text())["stages"]
    assert [s["name"] for s in stages] == ["fetch", "apply", "report"]  # stopped cleanly


@pytest.mark.tree
def test_series_on_612_is_not_applicable_the_code_is_gone(tmp_path, lore, capsys) -> None:
    code = main(["review", str(lore / "series.mbox"), "--tree", _tree("deb612", "6.12"),
                 "-o", str(tmp_path), "--json"])
    res = json.loads(capsys.readouterr().out)
    assert code == 1 and res["verdict"] == "not-applicable"
    assert "the code it changes is gone" in res["headline"]
    assert "kvm_tdp_mmu_set_spte_gfn" in " ".join(res["reasons"])
    assert "no longer exists in this tree" in (tmp_path / "report.html").read_text()
    stages = json.loads((tmp_path / "review.json").read_text())["stages"]
    assert {s["name"]: s["status"] for s in stages}.get("run") is None  # nothing to run


def test_partial_stage_results_are_not_kept() -> None:
    from report_samples import make_review

    from kpatchkit.records.applied import CompileCheck
    from kpatchkit.review.pipeline import _apply_complete, _run_complete

    r = make_review()
    assert _apply_complete(r.applied)  # ported and compiled
    r.applied.compile = CompileCheck(status="skipped", ok=None)
    assert not _apply_complete(r.applied)
    r.applied.compile = None
    assert not _apply_complete(r.applied)
    r.applied.result = "not-applicable"
    assert _apply_complete(r.applied)
    assert _run_complete(r.run)
    r.run.kernels[0].outcome = "hang"
    assert not _run_complete(r.run)


@pytest.mark.tree
def test_already_applied_mail_stops_after_apply_and_exits_0(tmp_path, shared, capsys) -> None:
    mail = shared / "fixtures" / "kvm-mmu-mails" / "05-already-applied-kstrtobool.eml"
    code = main(["review", str(mail), "--tree", _tree("deb61", "6.1"), "-o", str(tmp_path),
                 "--json"])
    res = json.loads(capsys.readouterr().out)
    assert code == 0 and res["verdict"] == "already-applied" and res["stopped_after_apply"]
    assert "set_nx_huge_pages" in res["headline"]
    summary = (tmp_path / "summary.txt").read_text()
    assert "VERDICT: ALREADY-APPLIED" in summary and "hunk-present" in summary
    stages = json.loads((tmp_path / "review.json").read_text())["stages"]
    assert [s["name"] for s in stages] == ["fetch", "apply", "report"]


@pytest.mark.tree
def test_analysis_covers_the_c_files_touched_under_virt_kvm(shared) -> None:
    """Not only tdp_mmu.c: mail 03 changes virt/kvm/eventfd.c, and that is what is analysed."""
    from kpatchkit.apply import apply_series
    from kpatchkit.fetch import load_series
    from kpatchkit.review import stages
    from kpatchkit.trees.registry import resolve_tree

    tree = resolve_tree(_tree("deb61", "6.1"))
    mail = shared / "fixtures" / "kvm-mmu-mails" / "03-applies-ioeventfd-kfree.eml"
    applied = apply_series(load_series(str(mail)), tree, compile=False)
    assert applied.result == "applied"
    analysis = stages.analyze(tree, applied)
    assert analysis.files == ["virt/kvm/eventfd.c"] and not analysis.errors
    assert analysis.counts == {"new": 0, "fixed": 0, "unchanged": 0}
    assert [c.function for c in analysis.added_calls] == ["kvm_assign_ioeventfd_idx"]
    assert [c.lock().mmu_lock for c in analysis.added_calls]  # the context reads as a record


def test_a_stored_result_that_no_longer_reads_is_run_again(tmp_path, monkeypatch, capsys) -> None:
    """The store keeps JSON and the review reads the record of it: a stored result another
    kpatchkit wrote (a key renamed) is said and recomputed, never read as empty fields."""
    from report_samples import make_review

    from kpatchkit.cache import content_hash
    from kpatchkit.records.applied import Applied
    from kpatchkit.review.pipeline import STORE_VERSION, Review, ReviewOptions

    monkeypatch.setenv("KPATCHKIT_CACHE", str(tmp_path / "cache"))
    review = Review(ReviewOptions(source="x.mbox", tree="deb61", out_dir=tmp_path / "run"))
    stored = make_review().applied.to_json()
    stored["outcome"] = stored.pop("result")
    review.store.put("apply", content_hash(STORE_VERSION, "apply", "k"), {"value": stored})
    fresh = make_review().applied
    got = review._stage("apply", ["k"], lambda: fresh, Applied.to_json, Applied.from_json)
    assert got == fresh and review.result.stages[-1].status == "ok"
    assert "apply: the stored result does not read (TypeError" in capsys.readouterr().err

    def not_again() -> Applied:
        raise AssertionError("the stored result was not reused")

    again = review._stage("apply", ["k"], not_again, Applied.to_json, Applied.from_json)
    assert again == fresh and review.result.stages[-1].status == "cached"


def test_the_run_stage_key_covers_every_kernel_and_guest_data_dir(monkeypatch, tmp_path) -> None:
    """A change to a config fragment, the guest's init or lists, the run's data or how images
    are built must not reuse a stored run stage (this store does not see image bytes)."""
    from kpatchkit.kernel import kbuild
    from kpatchkit.review import pipeline

    pkg = Path(pipeline.__file__).resolve().parents[1]
    for stage in ("run", "guest", "kernel"):
        if (pkg / stage / "data").is_dir():
            assert pkg / stage / "data" in pipeline.RUN_KNOWLEDGE
    before = pipeline.run_knowledge_key()
    monkeypatch.setattr(kbuild, "IMAGE_RECIPE", kbuild.IMAGE_RECIPE + "x")
    assert pipeline.run_knowledge_key() != before
    monkeypatch.undo()
    copy = tmp_path / "data"
    shutil.copytree(pkg / "kernel" / "data", copy)
    monkeypatch.setattr(pipeline, "RUN_KNOWLEDGE", (*pipeline.RUN_KNOWLEDGE[:2], copy))
    assert pipeline.run_knowledge_key() == before
    debug = copy / "config" / "debug.config"
    debug.write_text(debug.read_text() + "CONFIG_KASAN=y\n")
    assert pipeline.run_knowledge_key() != before
