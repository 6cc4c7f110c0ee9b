"""kbuild service on the real 6.1.192 tree: object compiles (cached), diagnostics, kbuild's own
compile command reused for preprocessing, and the user's repository left untouched."""

from __future__ import annotations

import subprocess
import time

import pytest
from runtest_git import commit_with_edit

from kpatchkit.kernel import kbuild

pytestmark = [pytest.mark.tree, pytest.mark.build]
OBJ = "arch/x86/kvm/mmu/tdp_mmu.o"


@pytest.fixture(scope="module")
def tree():
    from kpatchkit.trees.registry import resolve_tree

    return resolve_tree("deb61")


def _status(repo) -> str:
    return subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "-uno"],
                          capture_output=True, text=True).stdout


def test_compile_object_cached_and_command(tree, tmp_path):
    before = _status(tree.path)
    first = kbuild.compile_objects(tree.path, tree.head, [OBJ])
    assert first.ok, first.log[-2000:]
    start = time.monotonic()
    again = kbuild.compile_objects(tree.path, tree.head, [OBJ])
    assert again.cached and again.ok and time.monotonic() - start < 5

    build = kbuild.prepared_build(tree.path, tree.head)
    assert build.src != tree.path and str(build.obj).startswith(str(build.root))
    argv = kbuild.object_command(build, OBJ)
    assert argv[0].endswith("gcc") and argv[-1].endswith("arch/x86/kvm/mmu/tdp_mmu.c")
    assert "-D__KERNEL__" in argv and ";" not in argv
    # The analyzer's use: preprocess (a copy of) the file with the tree's own flags.
    out = tmp_path / "tdp_mmu.i"
    i = argv.index("-c")
    cmd = argv[:i] + ["-E", "-o", str(out), argv[-1]]
    subprocess.run(cmd, cwd=build.obj, check=True)
    assert "kvm_tdp_mmu_map" in out.read_text()
    assert _status(tree.path) == before  # kpatchkit's tree repo is only read


def test_compile_error_is_a_result_with_diagnostics(tree):
    bad = commit_with_edit(tree.path, tree.head, "arch/x86/kvm/mmu/tdp_mmu.c",
                           "\trcu_read_lock();\n\n\ttdp_mmu_for_each_pte(iter, mmu, fault->gfn",
                           "\trcu_read_lock();\n\tundeclared_thing = 1;\n"
                           "\ttdp_mmu_for_each_pte(iter, mmu, fault->gfn")
    res = kbuild.compile_objects(tree.path, bad, [OBJ])
    assert not res.ok
    errs = [e for e in res.errors if e.severity == "error"]
    assert errs and errs[0].file == "arch/x86/kvm/mmu/tdp_mmu.c"
    assert "undeclared_thing" in errs[0].message and errs[0].line > 1000
    with pytest.raises(kbuild.BuildFailed) as exc:
        kbuild.build_image(tree.path, bad)
    assert exc.value.exit_code == 1 and "tdp_mmu.c" in str(exc.value)
