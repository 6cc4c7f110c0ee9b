"""The tree's own selftests layout, read from git: the x86 directory (``x86_64`` up to 6.13,
``x86`` after) and the programs its Makefile(s) list. Fast: synthetic trees."""

from __future__ import annotations

from pathlib import Path

import pytest
from small_repo import small_repo

from kpatchkit.errors import KpatchkitError
from kpatchkit.kernel import selftests
from kpatchkit.kernel.selftests import SELFTESTS, arch_dir, listed_programs, tree_programs

# Shapes of the real files (6.1.192's Makefile; a 6.15-style Makefile.kvm).
MAKEFILE_61 = """\
TEST_GEN_PROGS_x86_64 = x86_64/cpuid_test
TEST_GEN_PROGS_x86_64 += x86_64/smm_test  # a comment
TEST_GEN_PROGS_x86_64 += demand_paging_test
TEST_GEN_PROGS_aarch64 += aarch64/arch_timer
"""
MAKEFILE_614 = """\
ifeq ($(ARCH),x86_64)
\tARCH := x86
endif
include Makefile.kvm
"""
MAKEFILE_KVM = """\
TEST_GEN_PROGS_COMMON = demand_paging_test
TEST_GEN_PROGS_COMMON += dirty_log_test
TEST_GEN_PROGS_x86 = $(TEST_GEN_PROGS_COMMON)
TEST_GEN_PROGS_x86 += x86/cpuid_test
TEST_GEN_PROGS_x86 += x86/smm_test
TEST_GEN_PROGS_arm64 = $(TEST_GEN_PROGS_COMMON)
"""


def _tree(path: Path, files: dict[str, str]) -> tuple[Path, str]:
    return small_repo(path, files, "tree")


def test_listed_programs_in_both_layouts() -> None:
    assert listed_programs(MAKEFILE_61, "x86_64") == ["x86_64/cpuid_test", "x86_64/smm_test",
                                                      "demand_paging_test"]
    assert listed_programs(MAKEFILE_614 + MAKEFILE_KVM, "x86") == [
        "demand_paging_test", "dirty_log_test", "x86/cpuid_test", "x86/smm_test"]
    assert listed_programs(MAKEFILE_61 + "TEST_GEN_PROGS_x86_64 = x86_64/only\n",
                           "x86_64") == ["x86_64/only"]  # '=' starts the list again
    assert listed_programs("TEST_GEN_PROGS_x86 = $(TEST_GEN_PROGS_x86) x86/a\n", "x86") == \
        ["x86/a"]  # a reference to itself is not followed forever


@pytest.mark.parametrize("layout,arch,names", [
    ({"lib/x86_64/processor.c": "", "Makefile": MAKEFILE_61}, "x86_64",
     {"cpuid_test", "smm_test", "demand_paging_test"}),
    ({"lib/x86/processor.c": "", "Makefile": MAKEFILE_614, "Makefile.kvm": MAKEFILE_KVM}, "x86",
     {"cpuid_test", "smm_test", "demand_paging_test", "dirty_log_test"}),
])
def test_the_arch_directory_and_programs_come_from_the_commit(
        tmp_path: Path, layout: dict[str, str], arch: str, names: set[str]) -> None:
    repo, sha = _tree(tmp_path / "t", {f"{SELFTESTS}/{k}": v for k, v in layout.items()})
    assert arch_dir(repo, sha) == arch
    assert tree_programs(repo, sha) == names


def test_a_tree_without_an_x86_library_says_so(tmp_path: Path) -> None:
    repo, sha = _tree(tmp_path / "t", {f"{SELFTESTS}/lib/aarch64/processor.c": "",
                                       f"{SELFTESTS}/Makefile": MAKEFILE_61})
    with pytest.raises(KpatchkitError, match=r"no x86 directory \(x86, x86_64\)"):
        arch_dir(repo, sha)
    repo, sha = _tree(tmp_path / "u", {"README": "no selftests\n"})
    assert tree_programs(repo, sha) == set()


def test_gentests_probe_reads_the_same_arch_names() -> None:
    from kpatchkit.gentests import probe

    assert "arch" not in probe._rules() and selftests.arch_dirs() == ["x86", "x86_64"]

