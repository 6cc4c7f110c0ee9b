"""The reference series on Debian's real trees: port to 6.1, not applicable on 6.12, the seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kpatchkit.apply.port import hunk_sides
from kpatchkit.cli import main
from kpatchkit.fetch import load_series
from kpatchkit.kernel import cfunc
from kpatchkit.trees import registry

pytestmark = [pytest.mark.tree, pytest.mark.build]
MMU = "arch/x86/kvm/mmu/tdp_mmu.c"


def _tarball(version: str) -> str:
    path = Path(f"/usr/src/linux-source-{version}.tar.xz")
    if not path.exists():
        pytest.fail(f"{path} missing: apt-get install linux-source-{version}")
    return str(path)


@pytest.fixture
def trees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kernel_src/deb61 and deb612 in a scratch kernel_src (the trees come from the cache)."""
    monkeypatch.setenv("KPATCHKIT_KERNEL_SRC", str(tmp_path / "kernel_src"))
    registry.add_tree("deb61", _tarball("6.1"))
    registry.add_tree("deb612", _tarball("6.12"))


def _run(capsys, *argv: str) -> tuple[int, dict, str]:
    rc = main(["apply", *argv, "--json"])
    cap = capsys.readouterr()
    return rc, json.loads(cap.out), cap.err


def _normalised(text: str) -> list[str]:
    return [" ".join(x.split()) for x in text.splitlines() if x.strip()]


def test_series_ports_to_61_and_compiles(trees, lore: Path, capsys) -> None:
    rc, out, _ = _run(capsys, str(lore / "series.mbox"), "--tree", "deb61")
    assert rc == 0, out
    assert out["result"] == "ported"
    assert out["base"]["found"] is False and out["base"]["method"] == "head"
    assert [b["blob"] for b in out["base"]["blobs"]] == ["6250bd3d20c1"]
    assert {d["id"] for d in out["drift_rules"]} == {"kvm_gfn_range-arg-union",
                                                     "tdp_mmu_iter_set_spte"}
    assert [(c["kind"], c["patch"]) for c in out["commits"]] == [
        ("patch", "1/2"), ("patch", "2/2"), ("port", None)]
    assert out["commits"][0]["author"].startswith("Yan Zhao")
    assert "-\tWARN_ON(pte_huge(range->arg.pte)" in out["port_diff"]
    assert out["compile"]["ok"] is True
    assert out["compile"]["objects"] == ["arch/x86/kvm/mmu/tdp_mmu.o"]
    assert out["missing_symbols"] == []
    worktree = Path(out["worktree"])
    text = (worktree / MMU).read_text()
    assert cfunc.find_function(text, "set_spte_gfn") is None
    # kvm_tdp_mmu_set_spte_gfn() is 2/2's body, in 6.1's spelling: undo the drift and compare
    got = cfunc.find_function(text, "kvm_tdp_mmu_set_spte_gfn").text(text)
    got = got.replace("range->pte", "range->arg.pte").replace("tdp_mmu_set_spte(",
                                                              "tdp_mmu_iter_set_spte(")
    series = load_series(str(lore / "series.mbox"))
    new_side = "\n".join(hunk_sides(series.patches[1].files[0].hunks[0])[1]) + "\n"
    want = cfunc.find_function(new_side, "kvm_tdp_mmu_set_spte_gfn").text(new_side)
    assert _normalised(got) == _normalised(want)
    # the second apply of the same series on the same tree is served from the cache
    rc, again, _ = _run(capsys, str(lore / "series.mbox"), "--tree", "deb61")
    assert rc == 0 and again["cached"] is True and again["patched_commit"] == out["patched_commit"]


def test_seed_alone_is_refused_and_ports_with_its_prerequisite(trees, seed: Path, lore: Path,
                                                              capsys) -> None:
    rc = main(["apply", str(seed), "--tree", "deb61"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "needs 1/2, which is missing" in err and "89a1f222e823" in err
    assert err.strip().splitlines()[-1].startswith("kpatchkit: error: 2/2 needs 1/2")
    rc, out, _ = _run(capsys, str(seed), "--tree", "deb61", "--prereq",
                      str(lore / "0001-remove-dead-code.eml"))
    assert rc == 0 and out["result"] == "ported" and out["compile"]["ok"] is True
    assert [c["patch"] for c in out["commits"]] == ["1/2", "2/2", None]


def test_612_says_the_handler_is_gone(trees, lore: Path, capsys) -> None:
    rc, out, err = _run(capsys, str(lore / "series.mbox"), "--tree", "deb612")
    assert rc == 1 and out["result"] == "not-applicable"
    assert out["obsolete"]["function"] == "kvm_tdp_mmu_set_spte_gfn"
    assert "kvm_tdp_mmu_set_spte_gfn" in err
    # a tarball has no history for git log -S; the known upstream removal is shown instead
    assert out["obsolete"]["removed_by"] is None and "v6.10" in out["obsolete"]["note"]
    assert out["commits"] == [] and out["patched_commit"] is None
    missing = [e for e in out["evidence"] if e["kind"] == "missing-function"]
    assert missing and missing[0]["function"] == "kvm_tdp_mmu_set_spte_gfn"
    assert missing[0]["hunk_text"]  # the hunk as mailed, for the reviewer


def test_compile_errors_map_to_patch_lines(trees, lore: Path, tmp_path: Path, capsys) -> None:
    mbox = (lore / "series.mbox").read_text()
    broken = tmp_path / "broken.mbox"
    broken.write_text(mbox.replace("+\tpfn = pte_pfn(range->arg.pte);",
                                   "+\tpfn = pte_pfn(range->arg.pte) + no_such_var;"))
    rc, out, _ = _run(capsys, str(broken), "--tree", "deb61")
    assert rc == 1 and out["result"] == "ported" and out["compile"]["ok"] is False
    err = next(e for e in out["compile"]["errors"] if "no_such_var" in e["message"])
    assert err["file"] == MMU and err["patch_line"]["patch"] == "2/2"
    assert err["patch_line"]["text"] == "+\tpfn = pte_pfn(range->arg.pte) + no_such_var;"
