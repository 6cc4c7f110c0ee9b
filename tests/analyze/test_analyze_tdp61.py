"""Acceptance on the real Debian 6.1.192 tree: clean file, injected bugs, the ported series."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from analyze_helpers import (
    BUGS,
    TDP,
    commit_file,
    corpus,
    deb61_repo,
    deb612_repo,
    ported_repo,
)

from kpatchkit.analyze import analyze_diff, analyze_file
from kpatchkit.analyze.checks import CHECKS
from kpatchkit.cli import main

pytestmark = pytest.mark.tree
SARIF_SCHEMA = (Path(__file__).resolve().parents[2] / "kpatchkit" / "report" / "schemas"
                / "sarif-schema-2.1.0.json")


@pytest.fixture(scope="module")
def repo() -> Path:
    return deb61_repo()


@pytest.fixture(scope="module")
def ported(tmp_path_factory: pytest.TempPathFactory):
    return ported_repo(tmp_path_factory.mktemp("ported") / "linux")


@pytest.fixture(scope="module")
def clean_src(repo: Path) -> str:
    from kpatchkit.analyze.api import source_of

    return source_of(repo, TDP, "HEAD")


def test_unchanged_tdp_mmu_has_no_findings(repo: Path) -> None:
    # sparse 0.6.4 gives three false "context imbalance" warnings on this file.
    res = analyze_file(repo, TDP, "HEAD")
    assert res.findings == []
    assert len(res.functions) >= 60
    assert {"kvm_tdp_mmu_map", "tdp_mmu_alloc_sp_for_split", "__tdp_mmu_zap_root",
            "tdp_mmu_unlink_sp"} <= set(res.functions)


def test_6_12_tdp_mmu_and_spte_are_clean_too() -> None:
    # mmu.c: kvm_mmu_free_roots() takes read or write by is_tdp_mmu and mmu_free_root_page()
    # asserts read or write by the root's kind; that once gave three false findings.
    repo612 = deb612_repo()
    for path in (TDP, "arch/x86/kvm/mmu/spte.c", "arch/x86/kvm/mmu/mmu.c"):
        res = analyze_file(repo612, path, "HEAD")
        assert res.findings == [] and res.functions, path


@pytest.mark.parametrize("path,minimum", [("arch/x86/kvm/mmu/mmu.c", 300),
                                          ("arch/x86/kvm/mmu/spte.c", 15)])
def test_mmu_and_spte_parse(repo: Path, path: str, minimum: int) -> None:
    res = analyze_file(repo, path, "HEAD")
    assert len(res.functions) >= minimum
    # Every lock name survived the front end.
    names = {c.call for c in res.calls}
    if path.endswith("mmu.c"):
        assert {"write_lock", "read_lock", "rcu_read_lock", "lockdep_assert_held_write"} <= names


@pytest.mark.parametrize("path", ["arch/x86/kvm/x86.c", "virt/kvm/kvm_main.c",
                                  "arch/x86/kvm/vmx/vmx.c", "arch/x86/kvm/lapic.c",
                                  "arch/x86/kvm/vmx/nested.c", "arch/x86/kvm/svm/svm.c"])
def test_fast_mode_reads_other_kvm_files(repo: Path, path: str) -> None:
    # Stub headers plus the tree's one-line typedef names: no build needed. (svm.c ends with
    # 'module_init(svm_init)' without a semicolon: the stubs must make a whole declaration.)
    res = analyze_file(repo, path, "HEAD")
    assert len(res.functions) > 100 and res.findings == []
    if path.endswith("svm.c"):
        res612 = analyze_file(deb612_repo(), path, "HEAD")
        assert len(res612.functions) > 100 and res612.findings == []


def test_every_check_kind_has_an_injected_bug() -> None:
    # Injected bugs here, real and comment-stated ones in data/real_bugs.toml.
    assert {b.check for b in BUGS} | {b.check for b in corpus()[0]} == set(CHECKS)
    assert len(BUGS) >= 10


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_injected_bug_is_found_with_check_and_line(repo: Path, clean_src: str, bug) -> None:
    text, line = bug.apply(clean_src)
    res = analyze_file(repo, TDP, "HEAD", overlay={TDP: text})
    got = {(f.check, f.line) for f in res.findings}
    assert (bug.check, line) in got, f"{bug.name}: expected {bug.check}@{line}, got {sorted(got)}"
    hit = next(f for f in res.findings if (f.check, f.line) == (bug.check, line))
    assert hit.trace and hit.trace[-1].line == line and hit.id
    # Reported where it is, not again in every caller (at most one related second finding).
    assert len(res.findings) <= 2, [(f.check, f.function, f.line) for f in res.findings]


def test_ported_series_adds_no_findings_and_shows_contexts(ported) -> None:
    diff = analyze_diff(ported.path, ported.base, ported.head, [TDP])
    assert diff.counts == {"new": 0, "fixed": 0, "unchanged": 0}
    calls = {(c.call, c.function): c for c in diff.added_calls}
    for name in ("tdp_mmu_set_spte", "make_spte"):
        ctx = calls[(name, "kvm_tdp_mmu_set_spte_gfn")].context
        assert ctx["mmu_lock"] == "write" and ctx["rcu"] == 1, (name, ctx)
    assert calls[("tdp_mmu_set_spte", "kvm_tdp_mmu_set_spte_gfn")].note == "requirements met"
    returns = sorted((c for c in diff.added_calls if c.call == "return"), key=lambda c: c.line)
    early = returns[0]
    rcu_lock = calls[("rcu_read_lock", "kvm_tdp_mmu_set_spte_gfn")]
    assert early.line < rcu_lock.line
    assert early.context["rcu"] == 0 and early.context["mmu_lock"] == "write"
    assert "harmless" in early.note


def test_a_bug_on_top_of_the_series_is_new(ported) -> None:
    from kpatchkit.analyze.api import source_of

    head_src = source_of(ported.path, TDP, ported.head)
    bugged = head_src.replace("\t\trcu_read_unlock();\n\t}\n\n\treturn flush;",
                              "\t}\n\n\treturn flush;")
    assert bugged != head_src
    bad = commit_file(ported.path, ported.head, TDP, bugged, "drop the unlock")
    diff = analyze_diff(ported.path, ported.base, bad, [TDP])
    new = [f for f in diff.findings if f.status == "new"]
    assert new and all(f.function == "kvm_tdp_mmu_set_spte_gfn" for f in new)
    assert {f.check for f in new} == {"rcu-leak"}


def test_cli_json_sarif_and_exit_codes(ported, tmp_path: Path, capsys) -> None:
    sarif = tmp_path / "out.sarif"
    code = main(["analyze", "--tree", str(ported.path), "--base", ported.base, "--head",
                 ported.head, "--json", "--sarif", str(sarif)])
    out = capsys.readouterr().out
    data = json.loads(out)  # exactly one JSON object
    assert code == 0
    assert {"findings", "added_calls", "counts", "base", "head", "mode"} <= set(data)
    row = next(c for c in data["added_calls"] if c["call"] == "tdp_mmu_set_spte")
    assert {"function", "call", "line", "context", "note"} <= set(row)
    assert {"mmu_lock", "rcu", "spinlocks", "preempt_off", "irqs_off"} <= set(row["context"])
    jsonschema.validate(json.loads(sarif.read_text()), json.loads(SARIF_SCHEMA.read_text()))


def test_cli_exit_1_on_findings_with_sarif_results(repo: Path, ported, clean_src: str,
                                                   tmp_path: Path, capsys) -> None:
    bug = next(b for b in BUGS if b.check == "sleep-in-rcu")
    text, line = bug.apply(clean_src)
    bad = commit_file(ported.path, ported.base, TDP, text, "inject")
    sarif = tmp_path / "bug.sarif"
    code = main(["analyze", "--tree", str(ported.path), "--base", ported.base, "--head", bad,
                 "--json", "--sarif", str(sarif)])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert any(f["status"] == "new" and f["line"] == line for f in data["findings"])
    log = json.loads(sarif.read_text())
    jsonschema.validate(log, json.loads(SARIF_SCHEMA.read_text()))
    res = log["runs"][0]["results"]
    assert any(r["ruleId"] == "sleep-in-rcu" and r["baselineState"] == "new" and
               r["codeFlows"] for r in res)


def test_unknown_file_is_a_usage_error(repo: Path, capsys) -> None:
    assert main(["analyze", "--tree", str(repo), "--file", "arch/x86/kvm/nope.c"]) == 2
    assert "nope.c not found" in capsys.readouterr().err


LOCK_CALLS = {"read_lock", "write_lock", "read_unlock", "write_unlock", "rcu_read_lock",
              "rcu_read_unlock", "lockdep_assert_held_write", "lockdep_assert_held_read",
              "lockdep_assert_held", "spin_lock", "spin_unlock", "local_irq_disable",
              "local_irq_enable", "cond_resched", "cond_resched_rwlock_write",
              "for_each_tdp_mmu_root", "for_each_tdp_mmu_root_yield_safe",
              "tdp_root_for_each_pte", "tdp_mmu_set_spte", "tdp_mmu_iter_cond_resched"}


@pytest.mark.build
@pytest.mark.parametrize("path,minimum", [(TDP, 50), ("arch/x86/kvm/mmu/mmu.c", 50),
                                          ("arch/x86/kvm/mmu/spte.c", 0)])
def test_real_mode_agrees_with_fast_mode(repo: Path, path: str, minimum: int) -> None:
    """The stub headers lose nothing the checks use: same findings, same lock contexts."""
    fast = analyze_file(repo, path, "HEAD", mode="fast")
    real = analyze_file(repo, path, "HEAD", mode="real")
    assert real.mode == "real"
    assert [(f.check, f.line) for f in real.findings] == [(f.check, f.line) for f in fast.findings]
    assert set(fast.functions) <= set(real.functions)

    def table(res):
        return {(c.function, c.call, c.line): (c.context["mmu_lock"], c.context["rcu"],
                                               c.context["irqs_off"])
                for c in res.calls if c.call in LOCK_CALLS}

    assert table(fast) == table(real)
    assert len(table(real)) >= minimum


def test_cli_patch_series_goes_through_apply(repo: Path, lore: Path, capsys) -> None:
    code = main(["analyze", "--tree", "deb61", "--patch", str(lore / "series.mbox"), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["counts"]["new"] == 0
    row = next(c for c in data["added_calls"] if c["call"] == "make_spte")
    assert row["context"]["mmu_lock"] == "write" and row["context"]["rcu"] == 1


def test_diff_skips_files_it_cannot_parse_with_a_reason(ported) -> None:
    head = commit_file(ported.path, ported.head, "arch/x86/kvm/kpk_broken.c",
                       "int f( {\n", "an unparseable new file")
    diff = analyze_diff(ported.path, ported.base, head)
    assert TDP in diff.files and "arch/x86/kvm/kpk_broken.c" in diff.files
    assert [e["file"] for e in diff.errors] == ["arch/x86/kvm/kpk_broken.c"]
    assert "cannot parse" in diff.errors[0]["error"]
    assert diff.counts["new"] == 0 and diff.added_calls
